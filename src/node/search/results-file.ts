// A study's JSON-lines results file, as `simdnn search` keeps it: one result
// per line, appended as it comes. Opening it takes `<file>.lock` (one
// coordinator per file) and reads the results stored, refusing a file that is
// not a results file, or is damaged, without changing it. The one repair is
// a torn last line (a crash mid-append): the file is truncated to its last
// newline.
import { constants } from 'node:fs';
import { access, appendFile, link, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { resultKey } from '../../search/resume.js';
import type { TrialResult } from '../../search/trial.js';

const METRICS = ['trainLoss', 'trainAcc', 'valLoss', 'valAcc'] as const;

function isResult(v: unknown): v is TrialResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.study === 'string' && Number.isInteger(r.index) && Number.isInteger(r.seed) && Number.isInteger(r.epochs) &&
    typeof r.settings === 'object' && r.settings !== null && (r.status === 'ok' || r.status === 'failed' || r.status === 'timeout') &&
    typeof r.worker === 'string' && typeof r.seconds === 'number' && Array.isArray(r.history) &&
    // JSON writes a NaN metric (a diverging trial) as null
    r.history.every((e: unknown) => typeof e === 'object' && e !== null &&
      METRICS.every((m) => typeof (e as Record<string, unknown>)[m] === 'number' || (e as Record<string, unknown>)[m] === null));
}

/** A result without what differs between two runs of the same job (who ran it, how long it took). */
function bits(r: TrialResult): string {
  const { worker: _w, seconds: _s, ...rest } = r;
  return JSON.stringify(rest);
}

/** Whether the process `holder` ('pid@host') names may still hold the lock. */
function mayBeAlive(holder: string): boolean {
  const m = /^(\d+)@(.*)$/.exec(holder);
  if (!m || m[2] !== hostname()) return true; // another machine's, or not ours to judge
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The locks this process holds (by absolute path). A lock on disk naming this process's own pid@host that is
 * not among them was left by an earlier process that had the same pid: a restarted container, where the
 * search is pid 1 (or another low pid) each time under the same host name.
 */
const held = new Set<string>();

export class ResultsFile {
  private constructor(
    readonly file: string,
    /** The results stored, one per trial and epochs. */
    readonly results: TrialResult[],
    /** What opening it did or found that the user should know (a lock taken over, a torn line dropped, duplicates). */
    readonly notes: string[],
    private readonly lock: string,
    private readonly holder: string,
  ) {}

  /**
   * Takes the file's lock and reads it (a missing file: no results). Throws a
   * RangeError when `file` is not a regular file, is not a results file or is
   * damaged (naming the line; the file is left as it is), and an Error when
   * another live search holds the lock.
   */
  static async open(file: string): Promise<ResultsFile> {
    const st = await stat(file).catch(() => null);
    if (st?.isDirectory()) throw new RangeError(`'${file}' is a directory`);
    if (st && !st.isFile()) throw new RangeError(`'${file}' is not a regular file`);
    if (st) await access(file, constants.W_OK).catch((e: NodeJS.ErrnoException) => { throw new RangeError(`cannot write to '${file}' (${e.code})`); });
    const lock = `${file}.lock`;
    const holder = `${process.pid}@${hostname()}`;
    const notes: string[] = [];
    // claimed in this process first (synchronously: two opens here cannot both pass), then on disk
    const key = path.resolve(lock);
    if (held.has(key)) throw busy(file, lock, holder);
    held.add(key);
    try {
      const stale = await takeLock(file, lock, holder);
      if (stale !== null) notes.push(`took over ${lock} of a search that is gone (${stale})`);
    } catch (e) {
      held.delete(key);
      throw e;
    }
    try {
      const results = await readResults(file, notes);
      return new ResultsFile(file, results, notes, lock, holder);
    } catch (e) {
      held.delete(key);
      await rm(lock, { force: true });
      throw e;
    }
  }

  /** Appends a result as a line (starting `{"study":`, which tells a torn line of ours from other text). */
  append(r: TrialResult): Promise<void> {
    const { study, ...rest } = r;
    return appendFile(this.file, `${JSON.stringify({ study, ...rest })}\n`);
  }

  /** Releases the lock (if it is still this process's). */
  async close(): Promise<void> {
    held.delete(path.resolve(this.lock));
    if ((await readFile(this.lock, 'utf8').catch(() => null)) === this.holder) await rm(this.lock, { force: true });
  }
}

/** The error of a results file another search writes: `holder` is its pid@host. */
function busy(file: string, lock: string, holder: string): Error {
  return new Error(`another simdnn search (pid@host ${holder}) is writing to ${file}: wait for it to end (or remove ${lock} if it is gone)`);
}

/** Creates `lock` holding `holder`; replaces a lock whose process is gone and returns what it held (null if there was none). */
async function takeLock(file: string, lock: string, holder: string): Promise<string | null> {
  // written beside it first, then linked: a lock is never seen empty
  const temp = `${lock}.${process.pid}`;
  try {
    await writeFile(temp, holder);
  } catch (e) {
    throw new RangeError(`cannot create its lock file ${lock} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, lock);
        return null;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RangeError(`cannot create its lock file ${lock} (${(e as NodeJS.ErrnoException).code})`);
      }
      const other = await readFile(lock, 'utf8').catch(() => '');
      // our own pid@host: not a search of this process (open() excludes those), so an earlier process's
      if (attempt > 0 || (other !== holder && mayBeAlive(other))) throw busy(file, lock, other || 'unknown');
      await rm(lock, { force: true });
      await link(temp, lock).catch(() => undefined);
      if ((await readFile(lock, 'utf8').catch(() => '')) === holder) return other;
    }
  } finally {
    await rm(temp, { force: true });
  }
}

/** The results in `file`, one per trial and epochs; drops a torn last line (with a note); throws a RangeError naming a bad line. */
async function readResults(file: string, notes: string[]): Promise<TrialResult[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new RangeError(`cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const end = bytes.lastIndexOf(0x0a) + 1;
  const lines = bytes.subarray(0, end).toString('utf8').split('\n').slice(0, -1);
  const tail = bytes.subarray(end).toString('utf8');
  if (tail.trim() !== '') lines.push(tail);
  const byKey = new Map<string, { r: TrialResult; line: number }>();
  let duplicates = 0;
  let torn = false;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    let value: unknown;
    let parsed = true;
    try { value = JSON.parse(lines[i]); } catch { parsed = false; }
    if (!parsed && i === lines.length - 1 && tail.trim() !== '' && (tail.startsWith('{"study":') || '{"study":'.startsWith(tail))) {
      await truncate(file, end);
      notes.push(`dropped the last line of ${file}, cut short by a crash (${bytes.length - end} bytes): its trial runs again`);
      torn = true;
      break;
    }
    if (!isResult(value)) {
      throw new RangeError(`'${file}' is not a results file of simdnn search, or is damaged: line ${i + 1} is ${parsed ? 'JSON but not a trial result' : 'not JSON'} (the file is left as it is)`);
    }
    const key = resultKey(value);
    const first = byKey.get(key);
    if (!first) byKey.set(key, { r: value, line: i + 1 });
    else if (bits(first.r) === bits(value)) duplicates++;
    else throw new RangeError(`lines ${first.line} and ${i + 1} of '${file}' hold different results of trial ${value.index} (${value.epochs} epochs) (the file is left as it is)`);
  }
  if (tail.trim() !== '' && !torn) await appendFile(file, '\n'); // a whole last line without its newline
  if (duplicates) notes.push(`${duplicates} result${duplicates === 1 ? '' : 's'} stored twice (the same trial, epochs and bits) counted once`);
  return [...byKey.values()].map((v) => v.r);
}
