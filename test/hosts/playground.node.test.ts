// The browser playground (web/) as `npm run build:web` makes it, served with
// COOP/COEP on 127.0.0.1 and driven in headless Chromium: it loads with no
// console error and no failed request, says it trains on threads, every control
// is labelled and reachable by keyboard, a run started from the UI passes 0.90
// test accuracy with no main-thread task over 50 ms while it trains, a drawn
// digit gets class probabilities, a saved model loads back (after another
// run changed the model) and predicts the same, and a book experiment charts. Stop ends a run where it
// is (also at an epoch's end, during its evaluation) and a book experiment as "Stopped.", not as failed;
// pause and resume hold and continue a run; a run's label names only the settings its net used; a run the
// net refuses says why on the page, also with a digit drawn before any model existed; a one-cycle run steps
// with OneCycleLR's rates over its steps, and its label smoothing reaches the saved model. "Download ONNX" gives
// the model as ONNX, which importOnnx reads back in Node to the same probabilities the page shows (an MLP and a
// SimpleConvNet).
// SIMDNN_SCREENSHOTS=1 also writes docs/playground.png.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { StaticServer } from './serve.js';
import { root, startPlayground, unlabelledControls, unreachedByTab, type Playground } from '../helpers/playground.js';
import viteConfig from '../../web/vite.config.js';
import { Affine, MultiLayerNet, OneCycleLR, Sequential, inspectModel, softmax } from '../../src/index.js';
import { exportOnnx, importOnnx, inspectOnnx } from '../../src/io/onnx/index.js';
import { createRuntime } from '../../src/node/runtime.js';

let playground: Playground;
let out = '';
let server: StaticServer;
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  playground = await startPlayground();
  ({ out, server, browser } = playground);
  page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page: ${e}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`); });
  await page.goto(`${server.url}/index.html`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
}, 300_000);

afterAll(async () => {
  await playground?.close();
});

interface TraceEvent { name: string; ph: string; pid: number; tid: number; dur?: number; tdur?: number; args?: { name?: string } }

/** The renderer main thread's tasks in a Chromium trace: wall and CPU (thread) time of each, in ms. */
function mainThreadTasks(events: TraceEvent[]): Array<{ wallMs: number; cpuMs: number }> {
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  if (!main) throw new Error('the trace names no CrRendererMain thread');
  return events
    .filter((e) => e.name === 'RunTask' && e.ph === 'X' && e.pid === main.pid && e.tid === main.tid)
    .map((e) => ({ wallMs: (e.dur ?? 0) / 1000, cpuMs: (e.tdur ?? 0) / 1000 }));
}

/** The probabilities the page shows, from the list's data. */
const shownProbabilities = (p: Page = page) => p.$$eval('#probs li', (lis) => lis.map((li) => Number((li as HTMLElement).dataset.p)));

/** Waits for run `n` to end; returns its state and last test accuracy. */
async function runEnd(n: number) {
  const li = page.locator(`#runs li:nth-child(${n})[data-state]`);
  await li.waitFor({ timeout: 180_000 });
  return { state: await li.getAttribute('data-state'), testAcc: Number(await li.getAttribute('data-test-acc')) };
}

async function drawOne(p: Page = page): Promise<number[]> {
  await p.click('#clear');
  const box = (await p.locator('#draw').boundingBox())!;
  await p.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
  await p.mouse.down();
  await p.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.5, { steps: 8 });
  await p.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.8, { steps: 8 });
  await p.mouse.up();
  await p.waitForFunction(() => document.querySelectorAll('#probs li').length === 10, null, { timeout: 30_000 });
  return shownProbabilities(p);
}

describe('the playground in Chromium', { timeout: 240_000 }, () => {
  it('loads cross-origin isolated and trains on one thread per core', async () => {
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(cores).toBeGreaterThan(1);
    expect(await page.textContent('#threads')).toBe(`Threads: ${cores} (cross-origin isolated; ?threads=N to change)`);
  });

  it('builds with a _headers file (Netlify, Cloudflare Pages) sending the dev server\'s isolation headers to every path', async () => {
    // a _headers put in web/dist by hand was emptied away by the next build (emptyOutDir): it comes from web/public
    const lines = (await readFile(path.join(out, '_headers'), 'utf8')).trimEnd().split('\n');
    expect(lines[0]).toBe('/*');
    const sent = Object.fromEntries(lines.slice(1).map((l) => { expect(l).toMatch(/^ {2}\S/); return l.trim().split(/:\s*/, 2); }));
    expect(sent).toEqual(viteConfig.server?.headers);
  });

  it('labels every control and reaches each by keyboard', async () => {
    expect(await unlabelledControls(page, '#config :is(input, select, button), section :is(input, button), #draw')).toEqual([]);
    // the fields the chosen net ignores (batch norm and dropout for the plain MLP, gamma for a constant rate) are disabled
    const controls = await page.$$eval('#config :is(input, select, button):not([disabled]), section :is(input, select, button):not([disabled]), #draw', (els) => els.map((el) => el.id));
    expect(controls.length).toBeGreaterThan(15);
    expect(await unreachedByTab(page, controls)).toEqual([]);
  });

  it('trains from the UI past 0.90 test accuracy with no main-thread task over 50 ms', async () => {
    // Long tasks by the browser's own measure (wall time), and the main thread's CPU time per task from a
    // trace: on a loaded machine the scheduler can stretch a short task past 50 ms, which is not the page's doing.
    await page.evaluate(() => {
      const w = window as unknown as { longTasks: Array<{ start: number; duration: number }> };
      w.longTasks = [];
      new PerformanceObserver((list) => { for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, duration: e.duration }); }).observe({ type: 'longtask' });
    });
    await browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline'] });
    // 2 epochs of the defaults (MLP 100-100, Adam 0.001) reach ~0.93; started from the keyboard
    await page.fill('#epochs', '2');
    await page.focus('#start');
    await page.keyboard.press('Enter');
    const end = await runEnd(1);
    const trace = JSON.parse((await browser.stopTracing()).toString('utf8')) as { traceEvents: TraceEvent[] };
    expect(end.state).toBe('done');
    expect(end.testAcc).toBeGreaterThan(0.9);
    const longTasks = await page.evaluate(() => (window as unknown as { longTasks: Array<{ start: number; duration: number }> }).longTasks);
    const main = mainThreadTasks(trace.traceEvents);
    expect(main.length, 'main-thread tasks in the trace').toBeGreaterThan(10);
    const cpuHeavy = main.filter((t) => t.cpuMs > 50);
    console.log(`playground: ${longTasks.length} long task(s) by wall time while training (${longTasks.map((t) => Math.round(t.duration)).join(', ') || 'none'} ms); ` +
      `the longest main-thread task took ${Math.max(...main.map((t) => t.cpuMs)).toFixed(1)} ms of CPU`);
    expect(cpuHeavy.map((t) => `${t.wallMs.toFixed(0)} ms wall, ${t.cpuMs.toFixed(0)} ms CPU`), 'main-thread tasks over 50 ms of CPU while training').toEqual([]);
    // the charts drew the run
    expect(await page.locator('#loss-chart svg path').count()).toBeGreaterThan(0);
  });

  it('predicts a drawn digit, and a saved model loads back and predicts the same', async () => {
    const before = await drawOne();
    expect(before.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click('#save')]);
    const file = await download.path();
    expect(download.suggestedFilename()).toBe('simdnn-model.safetensors');
    // another run (1 epoch, plain SGD) replaces the model, overlaid on the charts
    await page.selectOption('#optimizer', 'sgd');
    await page.fill('#lr', '0.05');
    await page.fill('#epochs', '1');
    await page.click('#start');
    expect((await runEnd(2)).state).toBe('done');
    const other = await drawOne();
    expect(other).not.toEqual(before);
    await page.setInputFiles('#load', file);
    await page.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Loaded'), null, { timeout: 30_000 });
    expect(await drawOne()).toEqual(before);
    if (process.env.SIMDNN_SCREENSHOTS) await page.screenshot({ path: path.join(root, 'docs/playground.png'), fullPage: true });
  });

  it('runs one of the book\'s experiments and charts it', async () => {
    await page.selectOption('#experiment', 'optimizer-naive');
    await page.click('#run-experiment');
    await page.waitForFunction(() => document.querySelector('#experiment-conclusion')!.textContent!.length > 0, null, { timeout: 120_000 });
    expect(await page.textContent('#error')).toBe('');
    await page.locator('#experiment-chart svg').waitFor({ timeout: 30_000 });
    expect(await page.locator('#experiment-chart svg path').count()).toBeGreaterThan(3);
  });

  it('had no console error and no failed request', () => {
    expect(problems).toEqual([]);
    expect(server.missing).toEqual([]);
  });
});

describe('the playground started early, or given settings the net refuses', { timeout: 240_000 }, () => {
  it('a Start clicked while the worker still loads runs once it is ready (the message was dropped and the page stuck); a net the library refuses fails the run visibly', async () => {
    const early = await browser.newPage();
    const errors: string[] = [];
    early.on('pageerror', (e) => errors.push(String(e)));
    // the digits held back: the click lands before the worker's runtime and data are in, on any machine
    await early.route('**/*.gz', async (route) => { await new Promise((resolve) => setTimeout(resolve, 1500)); await route.continue(); });
    await early.goto(`${server.url}/index.html`, { waitUntil: 'domcontentloaded' });
    await early.fill('#hidden', '20, 10'); // spaces after commas, as people type lists
    await early.fill('#epochs', '1');
    expect(await early.$('body[data-ready=true]'), 'clicked before the worker was ready').toBeNull();
    await early.click('#start');
    const first = early.locator('#runs li:nth-child(1)[data-state]');
    await first.waitFor({ timeout: 180_000 });
    expect(await first.getAttribute('data-state')).toBe('done');
    expect(await first.textContent()).toContain('mlp 20-10 ');
    // what the field takes: positive sizes, spaces around commas, or nothing (no hidden layer)
    const valid = (v: string) => early.$eval('#hidden', (el, value) => { const input = el as HTMLInputElement; input.value = value; return input.checkValidity(); }, v);
    for (const v of ['100', '100,100', ' 100 , 50 ', '']) expect(await valid(v), JSON.stringify(v)).toBe(true);
    for (const v of ['100,', '100,abc', '0', '100,0', '1.5', '-3']) expect(await valid(v), JSON.stringify(v)).toBe(false);
    // 784 × 2,000,000 floats: the net's constructor refuses it; the run must end as failed, saying why
    await early.fill('#hidden', '2000000');
    await early.click('#start');
    const second = early.locator('#runs li:nth-child(2)[data-state]');
    await second.waitFor({ timeout: 60_000 });
    expect(await second.getAttribute('data-state')).toBe('failed');
    expect(await early.textContent('#error')).toMatch(/^Run failed: .*2000000/);
    expect(await early.isEnabled('#start'), 'the page takes a new run').toBe(true);
    expect(errors).toEqual([]);
    await early.close();
  });

  it('a refused first run, with a digit drawn and no model yet, keeps saying why it failed', async () => {
    const fresh = await browser.newPage();
    await recordWorkerMessages(fresh);
    await fresh.goto(`${server.url}/index.html`);
    await fresh.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
    const box = (await fresh.locator('#draw').boundingBox())!;
    await fresh.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
    await fresh.mouse.down();
    await fresh.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.8, { steps: 8 });
    await fresh.mouse.up();
    await fresh.waitForFunction(() => document.querySelector('#error')!.textContent!.startsWith('no model yet'), null, { timeout: 30_000 });
    await fresh.fill('#hidden', '2000000');
    await fresh.click('#start');
    await fresh.locator('#runs li:nth-child(1)[data-state=failed]').waitFor({ timeout: 60_000 });
    // The page used to predict the drawing after any run, and the worker's "no model yet" replaced the reason.
    // The worker answers in order: when the sample comes, any answer to that prediction came before it.
    await fresh.click('#sample');
    await fresh.waitForFunction(() => (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages.some((m) => m.type === 'sample'), null, { timeout: 30_000 });
    const log = await fresh.evaluate(() => (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages);
    expect(log.find((m) => m.type === 'sample')!.errorShown).toMatch(/^Run failed: .*2000000/);
    await fresh.close();
  });
});

/** What the page's worker said, in order, with the page's time and its error line as the message came (recorded by an init script on `p`). */
interface WorkerMessage { t: number; type: string; state?: string; iter?: number; epoch?: number; message?: string; errorShown?: string; lrs?: number[] }
const recordWorkerMessages = (p: Page) => p.addInitScript(() => {
  const w = window as unknown as { workerMessages: WorkerMessage[] };
  w.workerMessages = [];
  const Base = window.Worker;
  window.Worker = class extends Base {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      this.addEventListener('message', (ev: MessageEvent) => w.workerMessages.push({
        t: performance.now(), type: ev.data.type, state: ev.data.state, iter: ev.data.points?.at(-1)?.iter, epoch: ev.data.point?.epoch, message: ev.data.message,
        lrs: ev.data.points?.map((pt: { lr: number }) => pt.lr),
        errorShown: document.querySelector('#error')?.textContent ?? undefined, // before the page handles this message
      }));
    }
  };
});

describe('the playground stopped, paused and labelled', { timeout: 240_000 }, () => {
  let p: Page;
  const errors: string[] = [];
  const messages = () => p.evaluate(() => (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages);
  const waitMessage = (predicate: string, timeout = 180_000) => p.waitForFunction(`window.workerMessages.some(${predicate})`, null, { timeout, polling: 10 });
  const runText = (n: number) => p.textContent(`#runs li:nth-child(${n})`);
  /** Waits for run `n` to end (a run that did not stop would outlast the timeout: its epochs take hours). */
  const ended = async (n: number) => {
    const li = p.locator(`#runs li:nth-child(${n})[data-state]`);
    await li.waitFor({ timeout: 120_000 });
    return li.getAttribute('data-state');
  };

  beforeAll(async () => {
    p = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    p.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    p.on('pageerror', (e) => errors.push(`page: ${e}`));
    await recordWorkerMessages(p);
    await p.goto(`${server.url}/index.html`);
    await p.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
  }, 120_000);
  afterAll(async () => { await p?.close(); });

  it('Stop that comes as an epoch ends (its last step done, its evaluation running) stops the run there: no further step, no one-step epoch after it', async () => {
    // DeepConvNet, batch 1000: 8 steps an epoch, then an evaluation of 10,000 images that takes seconds.
    // It used to stop only at the next step's end, then evaluate and record that one step as epoch 2.
    await p.selectOption('#net', 'deep-conv');
    await p.fill('#batchSize', '1000');
    await p.fill('#epochs', '100');
    await p.click('#start');
    await waitMessage(`(m) => m.type === 'steps' && m.iter >= 8`);
    const before = (await messages()).length;
    await p.click('#stop');
    expect(await ended(1)).toBe('stopped');
    const all = await messages();
    const after = all.slice(before);
    expect(after.filter((m) => m.type === 'epoch').map((m) => m.epoch), 'epochs recorded after Stop').toEqual([]);
    expect(Math.max(...all.filter((m) => m.type === 'steps').map((m) => m.iter!)), 'the last step').toBe(8);
    expect(after.filter((m) => m.type === 'state').map((m) => m.state)).toEqual(['stopped']);
    expect(await p.textContent('#status')).toBe('Run #1 stopped.');
    expect(await p.textContent('#error')).toBe('');
    expect(await p.isEnabled('#start')).toBe(true);
  });

  it('Pause holds a run, Resume continues it, and Stop while paused stops it', async () => {
    await p.selectOption('#net', 'mlp');
    await p.fill('#batchSize', '100');
    await p.fill('#epochs', '100');
    await p.evaluate(() => { (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages.length = 0; });
    await p.click('#start');
    await waitMessage(`(m) => m.type === 'steps' && m.iter >= 20`);
    await p.click('#pause');
    await waitMessage(`(m) => m.state === 'paused'`, 30_000);
    expect(await p.textContent('#status')).toBe('Run #2 paused.');
    const lastIter = async () => Math.max(...(await messages()).filter((m) => m.type === 'steps').map((m) => m.iter!));
    const held = await lastIter();
    // the worker posts steps at least every 150 ms while it trains: nothing comes while paused
    await p.waitForTimeout(1000);
    expect(await lastIter(), 'steps while paused').toBe(held);
    await p.click('#pause'); // Resume
    await waitMessage(`(m) => m.type === 'steps' && m.iter > ${held + 20}`, 60_000);
    await p.click('#pause');
    await p.waitForFunction(() => (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages.filter((m) => m.state === 'paused').length === 2, null, { timeout: 30_000 });
    await p.click('#stop');
    expect(await ended(2)).toBe('stopped');
    expect(await p.textContent('#status')).toBe('Run #2 stopped.');
    expect(await p.textContent('#error')).toBe('');
    expect(await p.textContent('#pause')).toBe('Pause');
  });

  it('labels a run with the settings its net used: no weight decay for the conv nets, no chosen init for DeepConvNet; and disables the fields they ignore', async () => {
    const stopSoon = async (n: number) => {
      await waitMessage(`(m) => m.type === 'state' && m.state === 'running'`, 60_000);
      await p.click('#stop');
      expect(await ended(n)).toBe('stopped');
      await p.evaluate(() => { (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages.length = 0; });
    };
    await p.evaluate(() => { (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages.length = 0; });
    // the MLP takes both: they are in its label
    await p.selectOption('#net', 'mlp');
    await p.fill('#weightDecay', '0.1');
    await p.selectOption('#init', 'xavier');
    await p.click('#start');
    await stopSoon(3);
    expect(await runText(3)).toMatch(/^#3: mlp 100-100 relu, init xavier, adam 0\.001, decay 0\.1, batch 100/);
    // SimpleConvNet takes the init, not the weight decay (nor the MLP's activation)
    await p.selectOption('#init', '0.01');
    await p.selectOption('#net', 'simple-conv');
    await p.click('#start');
    await stopSoon(4);
    const simple = (await runText(4))!;
    expect(simple).toMatch(/^#4: simple-conv, init 0\.01, adam 0\.001, batch 100/);
    expect(simple).not.toMatch(/decay/);
    expect(await p.isDisabled('#weightDecay'), 'weight decay for SimpleConvNet').toBe(true);
    expect(await p.isDisabled('#activation'), 'activation for SimpleConvNet').toBe(true);
    expect(await p.isEnabled('#init'), 'init for SimpleConvNet').toBe(true);
    // DeepConvNet takes neither (always He)
    await p.selectOption('#net', 'mlp');
    await p.selectOption('#init', 'xavier');
    await p.selectOption('#net', 'deep-conv');
    await p.click('#start');
    await stopSoon(5);
    const deep = (await runText(5))!;
    expect(deep).not.toMatch(/xavier|decay/);
    expect(deep).toMatch(/^#5: deep-conv, init he \(built in\), adam 0\.001, batch 100/);
    expect(await p.isDisabled('#init'), 'init for DeepConvNet').toBe(true);
    expect(await p.isDisabled('#weightDecay'), 'weight decay for DeepConvNet').toBe(true);
    // back to the MLP: its fields are enabled again
    await p.selectOption('#net', 'mlp');
    expect(await p.isEnabled('#weightDecay')).toBe(true);
    expect(await p.isEnabled('#init')).toBe(true);
    expect(await p.isDisabled('#batchnorm'), 'batch norm for the plain MLP').toBe(true);
    await p.fill('#weightDecay', '0');
  });

  it('a one-cycle run with label smoothing: its label says so, each step\'s rate is OneCycleLR\'s over the run\'s steps, the saved model records the smoothing', async () => {
    await p.evaluate(() => { (window as unknown as { workerMessages: WorkerMessage[] }).workerMessages.length = 0; });
    const before = await p.locator('#runs li').count();
    await p.selectOption('#net', 'mlp');
    await p.fill('#hidden', '20');
    await p.selectOption('#optimizer', 'adam');
    await p.fill('#lr', '0.01');
    await p.selectOption('#schedule', 'onecycle');
    await p.fill('#labelSmoothing', '0.1');
    await p.fill('#batchSize', '1000');
    await p.fill('#epochs', '2');
    await p.click('#start');
    const n = before + 1;
    expect(await ended(n)).toBe('done');
    expect(await runText(n)).toMatch(new RegExp(`^#${n}: mlp 20 relu, init \\S+, adam 0\\.01 onecycle, label smoothing 0\\.1, batch 1000`));
    // 8,000 training digits in batches of 1,000: 16 steps, the cycle's totalSteps (up to 0.01 at 30%, down to 0.01 / 25 / 1e4)
    const lrs = (await messages()).filter((m) => m.type === 'steps').flatMap((m) => m.lrs!);
    const cycle = new OneCycleLR({ maxLr: 0.01, totalSteps: 16 });
    expect(lrs).toEqual(Array.from({ length: 16 }, (_, k) => cycle.lrAt(k)));
    expect(Math.max(...lrs)).toBeCloseTo(0.01, 4);
    const [download] = await Promise.all([p.waitForEvent('download', { timeout: 30_000 }), p.click('#save')]);
    const info = inspectModel(await readFile((await download.path())!));
    expect(info.spec).toMatchObject({ kind: 'mlp', options: { labelSmoothing: 0.1 } });
    await p.selectOption('#schedule', 'none');
    await p.fill('#labelSmoothing', '0');
    await p.fill('#hidden', '100,100');
    await p.fill('#batchSize', '100');
  });

  it('Stop during a book experiment says "Stopped.", with no error', async () => {
    // optimizer-mnist with the book's settings (2,000 steps for each of four optimizers): a run that did not stop would time out
    await p.uncheck('#quick');
    await p.selectOption('#experiment', 'optimizer-mnist');
    await p.click('#run-experiment');
    await p.waitForFunction(() => document.querySelector('#experiment-status')!.textContent!.includes(' of '), null, { timeout: 60_000 });
    await p.click('#stop');
    await p.waitForFunction(() => !(document.querySelector('#start') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    expect(await p.textContent('#experiment-status')).toBe('Stopped.');
    expect(await p.textContent('#error')).toBe('');
    expect(await p.textContent('#experiment-conclusion')).toBe('');
    await p.check('#quick');
  });

  it('had no console error', () => {
    expect(errors).toEqual([]);
  });
});

describe('the playground\'s Download ONNX, and ONNX models loaded', { timeout: 240_000 }, () => {
  it('gives the model as ONNX (an MLP\'s and a SimpleConvNet\'s), which importOnnx reads back to the probabilities the page shows; an ONNX file loads back and predicts the same', async () => {
    const p = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(`page: ${e}`));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    // the pixels of each digit the page sends its worker to predict (copied: the page transfers their buffer)
    await p.addInitScript(() => {
      const w = window as unknown as { sentPixels: number[][] };
      w.sentPixels = [];
      const post = Worker.prototype.postMessage;
      Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
        const m = message as { type?: string; pixels?: Float32Array };
        if (m?.type === 'predict' && m.pixels) w.sentPixels.push(Array.from(m.pixels));
        return (post as (...a: unknown[]) => void).call(this, message, ...rest);
      } as typeof Worker.prototype.postMessage;
    });
    await p.goto(`${server.url}/index.html`);
    await p.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
    expect(await p.isDisabled('#save-onnx'), 'with no model yet').toBe(true);
    const rt = await createRuntime({ seed: 1 });
    const downloaded = new Map<string, { file: string; shown: number[] }>();
    try {
      for (const [net, stop] of [['mlp', false], ['simple-conv', true]] as const) {
        await p.selectOption('#net', net);
        if (net === 'mlp') await p.fill('#hidden', '20'); // the conv nets disable the field
        await p.fill('#batchSize', '1000');
        await p.fill('#epochs', '1');
        const n = await p.locator('#runs li').count() + 1;
        await p.click('#start');
        if (stop) {
          // a few steps are enough: the model is what the run had when it stopped
          await p.waitForFunction(() => (document.querySelector('#loss-chart svg path') !== null), null, { timeout: 60_000 });
          await p.click('#stop');
        }
        await p.locator(`#runs li:nth-child(${n})[data-state]`).waitFor({ timeout: 180_000 });
        const shown = await drawOne(p);
        const pixels = (await p.evaluate(() => (window as unknown as { sentPixels: number[][] }).sentPixels)).at(-1)!;
        expect(pixels).toHaveLength(784);
        const [download] = await Promise.all([p.waitForEvent('download', { timeout: 30_000 }), p.click('#save-onnx')]);
        expect(download.suggestedFilename()).toBe('simdnn-model.onnx');
        const file = (await download.path())!;
        downloaded.set(net, { file, shown });
        const imported = importOnnx(rt, await readFile(file));
        try {
          expect(imported.inputShape, net).toEqual(net === 'mlp' ? [784] : [1, 28, 28]);
          expect(imported.layers[0], net).toBe(net === 'mlp' ? 'Affine' : 'Convolution');
          const x = rt.tensor([1, ...imported.inputShape], Float32Array.from(pixels));
          const y = imported.net.predict(x);
          // the same kernels on the same bits in Node as in the page's worker (any thread count): the same probabilities
          expect(Array.from(softmax(y, { out: y }).toArray()), net).toEqual(shown);
          x.dispose();
          y.dispose();
        } finally {
          imported.net.dispose();
        }
      }
      // the MLP's ONNX file loads back in place of the conv net (told by its bytes: the download's name has no
      // extension) and predicts what the MLP did; simdnn's export carries the net's spec, so it imports as the
      // MultiLayerNet it was and saves as .safetensors as well as ONNX
      const mlp = downloaded.get('mlp')!;
      await p.setInputFiles('#load', mlp.file);
      await p.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Loaded'), null, { timeout: 30_000 });
      expect(await p.textContent('#status')).toMatch(/^Loaded \S+: ONNX from simdnn, Affine Relu Affine, 15910 parameters$/);
      expect(await drawOne(p)).toEqual(mlp.shown);
      const [saved] = await Promise.all([p.waitForEvent('download', { timeout: 30_000 }), p.click('#save')]);
      expect(inspectModel(await readFile((await saved.path())!)).spec?.kind).toBe('mlp');
      const [again] = await Promise.all([p.waitForEvent('download', { timeout: 30_000 }), p.click('#save-onnx')]);
      const first = inspectOnnx(await readFile(mlp.file)), second = inspectOnnx(await readFile((await again.path())!));
      expect({ ...second, metadata: {} }).toEqual({ ...first, metadata: {} }); // the spec the first recorded is the trained net's, which an import has not
      // a model of other inputs, or one importOnnx refuses, says why and leaves the model as it was
      const narrowNet = new MultiLayerNet(rt, { inputSize: 10, hiddenSizeList: [4], outputSize: 3 });
      const narrow = path.join(out, 'narrow.onnx');
      await writeFile(narrow, exportOnnx(narrowNet));
      narrowNet.dispose();
      // an ONNX model of no simdnn architecture (here a Sequential's: no spec) predicts, and saves as ONNX only
      const W = rt.tensor([784, 10], Float32Array.from({ length: 7840 }, (_, i) => Math.sin(i) / 10)), b = rt.tensor([10]);
      const plainNet = new Sequential(rt, [new Affine(W, b)]);
      const plain = path.join(out, 'plain.onnx');
      await writeFile(plain, exportOnnx(plainNet));
      plainNet.dispose(); W.dispose(); b.dispose();
      await p.setInputFiles('#load', plain);
      const loaded = (name: string) => p.waitForFunction((n) => document.querySelector('#status')!.textContent!.startsWith(`Loaded ${n}:`), name, { timeout: 30_000 });
      await loaded('plain.onnx');
      await p.click('#save');
      await p.waitForFunction(() => document.querySelector('#error')!.textContent !== '', null, { timeout: 30_000 });
      expect(await p.textContent('#error')).toBe('this model came from an ONNX file: it has no simdnn architecture to save as .safetensors; download it as ONNX');
      await p.setInputFiles('#load', mlp.file);
      await loaded(path.basename(mlp.file));
      const refused = path.join(out, 'refused.onnx');
      const bytes = Uint8Array.from(await readFile(mlp.file));
      const relu = bytes.findIndex((_, i) => String.fromCharCode(...bytes.subarray(i, i + 4)) === 'Relu');
      bytes.set([...'Selu'].map((c) => c.charCodeAt(0)), relu);
      await writeFile(refused, bytes);
      for (const [file, message] of [[narrow, /^narrow\.onnx takes inputs of shape \[10\]; the playground's digits are 28×28/], [refused, /^onnx: node '.*' \(Selu\) /]] as const) {
        await p.evaluate(() => { document.querySelector('#error')!.textContent = ''; });
        await p.setInputFiles('#load', file);
        await p.waitForFunction(() => document.querySelector('#error')!.textContent !== '', null, { timeout: 30_000 });
        expect(await p.textContent('#error')).toMatch(message);
        expect(await drawOne(p)).toEqual(mlp.shown);
      }
    } finally {
      await rt.dispose();
    }
    expect(errors).toEqual([]);
    await p.close();
  });
});
