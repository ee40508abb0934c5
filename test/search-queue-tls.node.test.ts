// `simdnn search --queue rediss://` and `simdnn worker` against a real
// redis-server that takes TLS only, with a certificate of a private CA made
// here by openssl (valid for 127.0.0.1 and localhost):
//  - the CA given to Node (NODE_EXTRA_CA_CERTS, read at start: the built bin in
//    child processes) - a study runs through the queue;
//  - the CA not given, or a host name the certificate is not for: both commands
//    stop at the first certificate error with a message saying what to do,
//    where they would otherwise retry for the whole --connect-timeout;
//  - the wrong scheme either way (redis:// at the TLS port, rediss:// at the
//    plain port): the connect timeout's error suggests the other one.
// A retry's TLS socket closed mid-handshake (the commands give up while one is
// in flight) used to end the process with an unhandled 'error' event: every
// certificate case runs several times.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, runCli, startRedis, stopRedis } from './helpers/cli.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'dist', 'node', 'cli.cjs');
const QUICK = ['--hidden', '20', '--rows', '100', '--epochs', '1', '--trials', '3'];

let tmp: string;
let redis: ChildProcess | null = null;
let tlsPort: number;
let plainPort: number;
let ca: string;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: tmp, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-queue-tls-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=simdnn test CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  await writeFile(path.join(tmp, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.cnf']);
  ca = path.join(tmp, 'ca.pem');
  [tlsPort, plainPort] = [await freePort(), await freePort()];
  // 127.0.0.2 as well: an address the certificate is not for
  const conf = path.join(tmp, 'redis.conf');
  await writeFile(conf, [`port ${plainPort}`, `tls-port ${tlsPort}`, 'bind 127.0.0.1 127.0.0.2', `dir ${tmp}`, 'save ""',
    'tls-cert-file server.pem', 'tls-key-file server.key', 'tls-ca-cert-file ca.pem', 'tls-auth-clients no'].join('\n') + '\n');
  redis = await startRedis([conf], tmp);
});

afterAll(async () => {
  await stopRedis(redis);
  await rm(tmp, { recursive: true, force: true });
});

/** The built bin in a child process trusting the test CA; resolves with its exit code and output. */
function child(args: string[]): { proc: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const proc = spawn(process.execPath, [bin, ...args], { cwd: tmp, env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } });
  let stdout = '', stderr = '';
  proc.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  return { proc, done: new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr }))) };
}

describe('search --queue and worker over TLS (rediss://) on a redis-server', () => {
  it('with the CA given to Node, a study runs through the queue', async () => {
    const worker = child(['worker', '--queue', `rediss://localhost:${tlsPort}`, '--threads', '1']);
    const out = path.join(tmp, 'tls.jsonl');
    try {
      const search = await child(['search', '--queue', `rediss://127.0.0.1:${tlsPort}`, '--study', 'tls', '--out', out, ...QUICK]).done;
      expect(search.stderr).toMatch(/queue rediss:\/\/127\.0\.0\.1:\d+/);
      expect(search.code, search.stderr).toBe(0);
      expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(3);
    } finally {
      worker.proc.kill('SIGTERM');
    }
    const w = await worker.done;
    expect(w.stdout + w.stderr).toMatch(/done tls\.t\d\.e1 ok/);
    expect(w.code, w.stderr).toBe(143);
  }, 120_000);

  it('a certificate Node does not trust stops both commands at once, saying what to do (three times each)', async () => {
    const url = `rediss://127.0.0.1:${tlsPort}`;
    for (let i = 0; i < 3; i++) {
      // a 600 s connect timeout: only the certificate error can end these within the test's time
      for (const argv of [['search', '--queue', url, '--out', path.join(tmp, `untrusted${i}.jsonl`), ...QUICK], ['worker', '--queue', url, '--threads', '1']]) {
        const r = await runCli([...argv, '--connect-timeout', '600']);
        expect(r.code, argv[0]).toBe(1);
        expect(r.stderr, argv[0]).toMatch(new RegExp(`simdnn: error: Redis at ${url.replace(/\./g, '\\.')}: its TLS certificate is not accepted \\(self-signed certificate in certificate chain\\): to trust a private CA, start Node with NODE_EXTRA_CA_CERTS=`));
        expect(r.stderr, argv[0]).not.toMatch(/retrying/);
      }
    }
  }, 60_000);

  it('a host name the certificate is not for stops the command at once (the CA trusted)', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await child(['search', '--queue', `rediss://127.0.0.2:${tlsPort}`, '--connect-timeout', '600', '--out', path.join(tmp, `altname${i}.jsonl`), ...QUICK]).done;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/simdnn: error: Redis at rediss:\/\/127\.0\.0\.2:\d+: its TLS certificate is not accepted \(.*127\.0\.0\.2.*\): connect to the name or address its certificate is for/);
      expect(r.stderr).not.toMatch(/Unhandled|retrying/);
    }
  }, 60_000);

  it('the wrong scheme either way: the connect timeout names the other one', async () => {
    const plainAtTls = await runCli(['search', '--queue', `redis://127.0.0.1:${tlsPort}`, '--connect-timeout', '1', '--out', path.join(tmp, 'scheme1.jsonl'), ...QUICK]);
    expect(plainAtTls.code).toBe(1);
    expect(plainAtTls.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ within 1 s \(.*ECONNRESET\); if the server takes TLS only, use rediss:\/\//);
    const tlsAtPlain = await runCli(['worker', '--queue', `rediss://127.0.0.1:${plainPort}`, '--connect-timeout', '1', '--threads', '1']);
    expect(tlsAtPlain.code).toBe(1);
    expect(tlsAtPlain.stderr).toMatch(/cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+ within 1 s; no TLS handshake completed: if the server does not take TLS, use redis:\/\//);
  }, 60_000);
});
