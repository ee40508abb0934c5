// `simdnn worker`: takes trial jobs from a BullMQ queue on Redis and runs them
// on worker threads until interrupted. Start any number, on any machines,
// before or after `simdnn search --queue`.
import { runQueueWorker, DEFAULT_QUEUE_NAME } from '../search/queue.js';
import { shownUrl } from '../search/redis-connection.js';
import { interrupted, intValue, UsageError, type Command, type CommandContext, type OptionSpec } from './command.js';
import { connectTimeoutMs, notAnswering, retryReporter, unbroken } from './search.js';

const OPTIONS: readonly OptionSpec[] = [
  { name: 'queue', value: 'url', help: 'the Redis holding the queue (required): redis://[USER:PASSWORD@]HOST:PORT[/DB], rediss:// for TLS' },
  { name: 'queue-name', value: 'name', default: DEFAULT_QUEUE_NAME, help: 'BullMQ queue name (as given to simdnn search)' },
  { name: 'threads', value: 'n', help: 'trials at once, one per worker thread (default: one per core)' },
  { name: 'lock-duration', value: 'ms', default: '30000', help: "a job's lock: if this worker dies, another takes its jobs after about this long; a worker that gets no CPU for about half of it loses its job, which runs again (same bits, stored once)" },
  { name: 'stalled-interval', value: 'ms', default: '30000', help: 'how often this worker looks for jobs whose worker died' },
  { name: 'connect-timeout', value: 's', default: '30', help: 'give up when Redis cannot be reached for this long at the start (later outages are waited out)' },
  { name: 'quiet', help: 'no line per job on stderr' },
];

async function worker({ values, io, signal }: CommandContext): Promise<number> {
  const url = values.queue;
  if (typeof url !== 'string') throw new UsageError('--queue: required (redis://HOST:PORT)');
  const threads = typeof values.threads === 'string' ? intValue('threads', values.threads, 1) : undefined;
  const given = (name: string) => typeof values[name] === 'string' ? values[name] as string : OPTIONS.find((o) => o.name === name)!.default!;
  const num = (name: string) => intValue(name, given(name), 1);
  const connectTimeout = connectTimeoutMs(given('connect-timeout'));
  const quiet = values.quiet === true;
  const stderr = unbroken(io.stderr);
  const log = (text: string) => { if (!quiet) stderr.write(`simdnn worker: ${text}\n`); };
  const retrying = retryReporter(stderr, 'simdnn worker');
  let running;
  try {
    running = await runQueueWorker({
      url,
      name: typeof values['queue-name'] === 'string' ? values['queue-name'] : DEFAULT_QUEUE_NAME,
      threads,
      lockDuration: num('lock-duration'),
      stalledInterval: num('stalled-interval'),
      connectTimeoutMs: connectTimeout,
      signal,
      onError: (e) => { if (!quiet) retrying(e); },
      onForcedStop: () => stderr.write(`simdnn worker: ${notAnswering(url)} (its jobs in progress go back to the queue when their locks expire)\n`),
      onEvent: (e) => log(e.kind === 'started' ? `started ${e.id}`
        : e.kind === 'stalled' ? `stalled ${e.id}: its lock expired, back in the queue (BullMQ stalled-job recovery)`
          : e.kind === 'done' ? `done ${e.id} ${e.result!.status}${e.result!.status === 'ok' ? ` valAcc ${e.result!.history.at(-1)!.valAcc.toFixed(4)}` : ''} ${e.result!.seconds.toFixed(2)} s`
            : `error ${e.id}: ${e.error}`),
    });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`--queue: ${e.message}`);
    if (!signal.aborted) throw e;
    log(`stopped (${String(signal.reason)}) while connecting to ${shownUrl(url)}`);
    return interrupted(signal);
  }
  log(`taking jobs from ${shownUrl(url)} (${running.worker.opts.concurrency} at once)`);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  log('stopping: finishing the jobs in progress');
  await running.close();
  return signal.reason === 'SIGINT' ? 130 : signal.reason === 'SIGTERM' ? 143 : 0;
}

/** `simdnn worker`. */
export const workerCommand: Command = {
  name: 'worker',
  summary: 'run search trials from a BullMQ queue on Redis (simdnn search --queue)',
  description: 'Takes trial jobs from the queue and runs them on worker threads, one trial per thread, until\n' +
    'interrupted. Jobs of a worker that dies are taken over by the others.',
  options: OPTIONS,
  examples: ['simdnn worker --queue redis://10.0.0.5:6379'],
  run: worker,
};
