// `npm run bench:edge`: the edge worker under load in workerd on 127.0.0.1.
//   cold start: a new workerd process (a new isolate) per sample; the first request includes instantiating
//               the wasm, creating the runtime and loading the weights; median of 5
//   load:       autocannon, POST /predict with one real digit, concurrency 1, 8 and 64, 10 s each
// Reports requests/s, p50/p99 latency, errors (non-2xx, 5xx, connection errors, timeouts) and memory: the
// isolate's (V8 heap from workerd's inspector, Runtime.getHeapUsage, plus the wasm memory; the bar: within a
// 128 MB isolate limit) and the whole workerd process's resident set. Prints a Markdown table.
// Needs Node's WebSocket client (Node 20: --experimental-websocket, as the npm script passes).
// Loopback only; every process it starts is stopped, and each phase has a time bound.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const WORKERD = path.join(path.dirname(require.resolve('workerd/package.json')), 'bin', 'workerd');
const DURATION_S = 10;
const CONCURRENCY = [1, 8, 64];
const COLD_SAMPLES = 5;

const out = await mkdtemp(path.join(tmpdir(), 'simdnn-edge-bench-'));
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

function sh(cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'inherit' });
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`${cmd} timed out`)); }, timeoutMs);
    c.on('exit', (code) => { clearTimeout(t); code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`)); });
  });
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Resolves once the port accepts a TCP connection (no HTTP request: that would be the isolate's first). */
async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`workerd did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startWorkerd({ inspector = false } = {}) {
  const port = await freePort();
  const inspectorPort = inspector ? await freePort() : 0;
  const started = performance.now();
  const args = ['serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`, ...(inspector ? ['--inspector-addr', `127.0.0.1:${inspectorPort}`] : [])];
  const child = spawn(WORKERD, args, { cwd: out, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => { child.kill('SIGKILL'); await exited; children.delete(child); };
  try {
    await waitForPort(port, 30_000);
  } catch (e) { await stop(); throw e; }
  return { url: `http://127.0.0.1:${port}`, inspectorPort, pid: child.pid, started, stop };
}

/** The isolate's V8 heap through workerd's inspector: `sample()` resolves to { used, total } in bytes. */
async function heapProbe(inspectorPort) {
  const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`, { signal: AbortSignal.timeout(10_000) })).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const waiting = new Map();
  let id = 0;
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    waiting.get(msg.id)?.(msg.result);
    waiting.delete(msg.id);
  };
  return {
    sample: () => new Promise((resolve) => {
      waiting.set(++id, (r) => resolve({ used: r.usedSize, total: r.totalSize }));
      ws.send(JSON.stringify({ id, method: 'Runtime.getHeapUsage' }));
    }),
    close: () => ws.close(),
  };
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
function memoryMB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const digit = JSON.parse(readFileSync(require.resolve('mnist/src/digits/7.json'), 'utf8')).data.slice(0, 784);
const body = JSON.stringify({ input: digit });
const post = (url) => fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) });

try {
  await sh(process.execPath, [path.join(here, 'build.mjs'), '--out', out], 180_000);

  // cold start
  const cold = [], warm = [], spawnToFirst = [], idleMB = [];
  for (let i = 0; i < COLD_SAMPLES; i++) {
    const w = await startWorkerd();
    try {
      idleMB.push(memoryMB(w.pid).rss);
      let t = performance.now();
      const first = await post(w.url);
      if (first.status !== 200) throw new Error(`first request: HTTP ${first.status} ${await first.text()}`);
      cold.push(performance.now() - t);
      spawnToFirst.push(performance.now() - w.started);
      t = performance.now();
      await (await post(w.url)).arrayBuffer();
      warm.push(performance.now() - t);
    } finally {
      await w.stop();
    }
  }

  // load
  const w = await startWorkerd({ inspector: true });
  const rows = [];
  try {
    await (await post(w.url)).arrayBuffer(); // the isolate is made by this request, not inside the measurement
    const heap = await heapProbe(w.inspectorPort);
    const wasmBytes = (await (await fetch(`${w.url}/`)).json()).wasmMemoryBytes;
    for (const connections of CONCURRENCY) {
      let peakRss = 0, peakHeap = 0;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, memoryMB(w.pid).rss);
        heap.sample().then((h) => { peakHeap = Math.max(peakHeap, h.total); });
      }, 200);
      const run = autocannon({
        url: `${w.url}/predict`, method: 'POST', headers: { 'content-type': 'application/json' }, body,
        connections, duration: DURATION_S, timeout: 10,
      });
      const bound = setTimeout(() => run.stop(), (DURATION_S + 20) * 1000); // hard bound beside autocannon's own
      const r = await run;
      clearTimeout(bound);
      clearInterval(sampler);
      rows.push({
        connections, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total,
        non2xx: r.non2xx, s5xx: r['5xx'], errors: r.errors, timeouts: r.timeouts, peakRss, peakIsolate: (peakHeap + wasmBytes) / 2 ** 20,
      });
    }
    heap.close();
    const info = await (await fetch(`${w.url}/`)).json();
    const mem = memoryMB(w.pid);
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const family = readFileSync('/proc/cpuinfo', 'utf8').match(/^cpu family\s*:\s*(\d+)/m)?.[1];
    const model = readFileSync('/proc/cpuinfo', 'utf8').match(/^model\s*:\s*(\d+)/m)?.[1];
    const f = (x, d = 1) => x.toFixed(d);
    console.log(`\n### Edge worker (workerd ${readFileSync(require.resolve('workerd/package.json'), 'utf8').match(/"version":\s*"([^"]+)"/)[1]}, 127.0.0.1)\n`);
    console.log(`${cpu} (family ${family}, model ${model}), ${cpus().length} cores; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}.`);
    console.log(`POST /predict with one digit (784-64-10 MLP, one thread), ${DURATION_S} s per row, autocannon.\n`);
    console.log('| connections | requests/s | p50 ms | p99 ms | requests | non-2xx | 5xx | connection errors | timeouts | isolate peak MB (heap + wasm) | workerd process peak RSS MB |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.connections} | ${f(r.rps, 0)} | ${r.p50} | ${r.p99} | ${r.requests} | ${r.non2xx} | ${r.s5xx} | ${r.errors} | ${r.timeouts} | ${f(r.peakIsolate)} | ${f(r.peakRss)} |`);
    console.log(`\nworkerd process: idle (before the first request) ${f(median(idleMB))} MB resident, peak over the run ${f(mem.peak)} MB; the isolate's wasm memory ${f(info.wasmMemoryBytes / 2 ** 20)} MB.`);
    console.log(`Cold start (median of ${COLD_SAMPLES} new processes): first request ${f(median(cold))} ms (isolate, runtime, weights), the next ${f(median(warm))} ms; spawn to first answer ${f(median(spawnToFirst))} ms.`);
    const bad = rows.filter((r) => r.s5xx > 0 || r.errors > 0 || r.timeouts > 0 || r.non2xx > 0);
    const over = rows.some((r) => r.peakIsolate > 128);
    if (bad.length || over) {
      console.log(`\nBAR MISSED: ${bad.length ? `errors at ${bad.map((r) => r.connections).join(', ')} connections` : ''}${over ? ' isolate memory over 128 MB' : ''}`);
      process.exitCode = 1;
    }
  } finally {
    await w.stop();
  }
} finally {
  await rm(out, { recursive: true, force: true });
}
