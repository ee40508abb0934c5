// The command line run in this process with its output captured, and a free
// loopback port for the servers (redis-server) the tests start.
import { createServer } from 'node:net';
import { main, type Output } from '../../src/node/cli/index.js';

/** An Output that keeps what is written; a TTY `columns` wide when asked (progress redraws then). */
export class Capture implements Output {
  text = '';
  constructor(readonly isTTY = false, readonly columns?: number) {}
  write(s: string): void { this.text += s; }
}

/** `simdnn <argv>` in this process: its exit code and what it wrote (stderr a 60-column TTY with `tty`). */
export async function runCli(argv: string[], options: { signal?: AbortSignal; tty?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture(), stderr = new Capture(options.tty ?? false, 60);
  const code = await main(argv, { stdout, stderr }, { signal: options.signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A loopback port nothing listens on (as the kernel picked it a moment ago). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
