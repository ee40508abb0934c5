// The playground page: controls, charts (Vega-Lite through vega-embed, every
// run overlaid), the drawing canvas (digits) or a table run's test metrics (a
// CSV table), and model files. All computing happens in the worker (worker.ts);
// this thread only draws, so the page stays responsive.
import embed, { vega } from 'vega-embed';
import type { View } from 'vega';
import { optimizerNames } from 'simdnn';
import { experiments, type ExperimentName } from 'simdnn/experiments';
import { netUses, scheduleUsesGamma, TABLE_SPLIT_SEED, type FromWorker, type RunConfig, type TestMetrics, type ToWorker } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
// Threads for training: one per core, or ?threads=N (a positive integer; anything else is the default).
const asked = Number(new URLSearchParams(location.search).get('threads'));
const threads = Number.isInteger(asked) && asked >= 1 ? asked : navigator.hardwareConcurrency || 1;
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: String(threads) });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

// ---- controls

const optimizer = $<HTMLSelectElement>('optimizer');
for (const name of optimizerNames) optimizer.add(new Option(name, name, name === 'adam', name === 'adam'));

function readConfig(): RunConfig {
  const value = (id: string) => $<HTMLInputElement>(id).value;
  const num = (id: string) => Number(value(id));
  const init = value('init');
  return {
    net: value('net') as RunConfig['net'],
    hidden: value('hidden').split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0),
    activation: value('activation') as RunConfig['activation'],
    init: init === 'he' || init === 'xavier' ? init : Number(init),
    batchnorm: $<HTMLInputElement>('batchnorm').checked,
    dropout: num('dropout'),
    labelSmoothing: num('labelSmoothing'),
    optimizer: value('optimizer') as RunConfig['optimizer'], // the select lists optimizerNames
    lr: num('lr'),
    schedule: value('schedule') as RunConfig['schedule'],
    gamma: num('gamma'),
    weightDecay: num('weightDecay'),
    batchSize: num('batchSize'),
    epochs: num('epochs'),
    ...(tableMode() ? { table: { label: value('label'), testSplit: num('testSplit') } } : {}),
  };
}

/** A run's label: only the settings the run used (a conv net ignores the MLP's fields, DeepConvNet the init too). */
function describe(c: RunConfig): string {
  const uses = netUses(c.net);
  let net: string = c.net;
  if (uses.hidden) net += ` ${c.hidden.length ? c.hidden.join('-') : 'no hidden layer'}`;
  if (uses.activation) net += ` ${c.activation}`;
  if (uses.batchnorm && c.batchnorm) net += ' +BN';
  if (uses.dropout && c.dropout > 0) net += ` dropout ${c.dropout}`;
  const init = uses.init ? `init ${c.init}` : 'init he (built in)';
  const schedule = c.schedule === 'none' ? '' : ` ${c.schedule}${scheduleUsesGamma(c.schedule) ? ` gamma ${c.gamma}` : ''}`;
  const decay = uses.weightDecay && c.weightDecay ? `, decay ${c.weightDecay}` : '';
  const smoothing = c.labelSmoothing ? `, label smoothing ${c.labelSmoothing}` : '';
  const data = c.table ? `, on ${tableName} (label ${c.table.label}, test share ${c.table.testSplit})` : '';
  return `${net}, ${init}, ${c.optimizer} ${c.lr}${schedule}${decay}${smoothing}, batch ${c.batchSize}${data}`;
}

// ---- data: the bundled digits, or a CSV table (read by the worker with simdnn/csv)

/** The table the worker read (its file's name), '' for none. */
let tableName = '';
/** Whether the page trains on a table (the Data choice). */
const tableMode = () => $<HTMLSelectElement>('data').value === 'csv';
const CONV_NETS = ['simple-conv', 'deep-conv'];

/** Shows the chosen data's fields and panel; on a table, only the MLPs (the conv nets need 28×28 images). */
function syncData(): void {
  const csv = tableMode();
  $('table-fields').hidden = !csv;
  $<HTMLInputElement>('table').disabled = !csv;
  $<HTMLSelectElement>('label').disabled = !csv || tableName === '';
  $<HTMLInputElement>('testSplit').disabled = !csv;
  $('table-panel').hidden = !csv;
  $('digits-panel').hidden = csv;
  const net = $<HTMLSelectElement>('net');
  for (const option of Array.from(net.options)) {
    if (!CONV_NETS.includes(option.value)) continue;
    option.disabled = csv;
    option.title = csv ? 'A table gives rows of features, not 28×28 images: choose an MLP' : '';
  }
  if (csv && CONV_NETS.includes(net.value)) net.value = 'mlp';
  $('data-note').textContent = csv
    ? `The rows are split into training and test rows stratified by class (seed ${TABLE_SPLIT_SEED}, simdnn train's default --seed), ` +
      'the features standardized with the training rows\' statistics: as simdnn train --data table.csv --label … does.'
    : '';
  syncControls();
}

/** The table's columns (its header's names) as the label column's choices, the last one selected: where a table's label often is. */
function showTable(name: string, columns: string[], rows: number): void {
  tableName = name;
  const select = $<HTMLSelectElement>('label');
  select.replaceChildren(...columns.map((c, i) => new Option(c, c, i === columns.length - 1, i === columns.length - 1)));
  syncData();
  $('error').textContent = '';
  $('status').textContent = `Table ${name}: ${rows} rows, ${columns.length} columns. Choose the label column, then Start.`;
}

/** A table run's metrics on its test rows: accuracy, each class's precision, recall and F1, the confusion matrix, by class name. */
function showMetrics(m: TestMetrics, run: string | undefined): void {
  const cell = (tag: 'td' | 'th', text: string, scope?: string) => {
    const el = document.createElement(tag);
    el.textContent = text;
    if (scope) el.scope = scope;
    return el;
  };
  const row = (...cells: HTMLElement[]) => { const tr = document.createElement('tr'); tr.append(...cells); return tr; };
  const table = (id: string, caption: string, head: string[], rows: HTMLTableRowElement[]) => {
    const t = Object.assign(document.createElement('table'), { id, className: 'metrics' });
    t.createCaption().textContent = caption;
    t.createTHead().append(row(...head.map((h) => cell('th', h, 'col'))));
    t.createTBody().append(...rows);
    return t;
  };
  const f = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(3));
  const scores = table('class-metrics', 'Per class', ['class', 'precision', 'recall', 'F1', 'support'],
    m.perClass.map((s, c) => row(cell('th', m.classes[c], 'row'), cell('td', f(s.precision)), cell('td', f(s.recall)), cell('td', f(s.f1)), cell('td', String(s.support)))));
  const confusion = table('confusion', 'Confusion matrix (rows: the true class, columns: the predicted one)', ['', ...m.classes],
    m.confusion.map((counts, c) => row(cell('th', m.classes[c], 'row'), ...counts.map((n) => cell('td', String(n))))));
  $('metrics').replaceChildren(scores, confusion);
  $('metrics').dataset.accuracy = String(m.accuracy);
  $('metrics-status').textContent = `Run ${run ?? ''} on ${m.rows} test rows: accuracy ${m.accuracy.toFixed(4)}.`;
}

$('data').addEventListener('change', syncData);
$<HTMLInputElement>('table').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  tableName = '';
  $<HTMLSelectElement>('label').replaceChildren();
  $('error').textContent = '';
  syncData();
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ type: 'table', bytes, name: file.name }, [bytes.buffer]);
});

/** Disables the fields the chosen net (or schedule) ignores, and says why. */
function syncControls(): void {
  const net = $<HTMLSelectElement>('net').value as RunConfig['net'];
  const uses = netUses(net);
  for (const [id, used] of Object.entries(uses)) $<HTMLInputElement>(id).disabled = !used;
  $<HTMLInputElement>('gamma').disabled = !scheduleUsesGamma($<HTMLSelectElement>('schedule').value as RunConfig['schedule']);
  $('net-note').textContent = net === 'deep-conv'
    ? 'DeepConvNet: ReLU, He initialisation, no weight decay (as in the book).'
    : net === 'simple-conv' ? 'SimpleConvNet: ReLU, no weight decay (as in the book).' : '';
}
$('net').addEventListener('change', syncControls);
$('schedule').addEventListener('change', syncControls);
syncData();

// ---- charts: one dataset per chart, a row per point, colour by run

const lossSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 'container', height: 180,
  data: { name: 'points' }, mark: { type: 'line', clip: true },
  encoding: {
    x: { field: 'iter', type: 'quantitative', title: 'step' },
    y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: true } },
    color: { field: 'run', type: 'nominal', title: 'run' },
  },
};
const accSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 'container', height: 180,
  data: { name: 'points' }, mark: { type: 'line', point: true },
  encoding: {
    x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
    y: { field: 'acc', type: 'quantitative', title: 'accuracy', scale: { zero: false } },
    color: { field: 'run', type: 'nominal', title: 'run' },
    strokeDash: { field: 'set', type: 'nominal', title: 'set' },
  },
};
const options = { actions: false, renderer: 'svg' as const };
const [lossView, accView] = await Promise.all([embed('#loss-chart', lossSpec as never, options), embed('#acc-chart', accSpec as never, options)]).then((r) => r.map((e) => e.view));

// Points are batched and drawn once a second, one chart per task, so each
// drawing stays a short task on the main thread (tested: no task over 50 ms).
const queued = new Map<View, object[]>([[lossView, []], [accView, []]]);
let drawTimer = 0;
function plot(view: View, rows: object[]): void {
  queued.get(view)!.push(...rows);
  drawTimer ||= window.setTimeout(drawQueued, 1000);
}
function drawQueued(): void {
  drawTimer = 0;
  const next = [...queued].find(([, q]) => q.length > 0);
  if (!next) return;
  const [view, q] = next;
  view.change('points', vega.changeset().insert(q.splice(0))).run();
  if ([...queued.values()].some((rest) => rest.length > 0)) drawTimer = window.setTimeout(drawQueued, 0);
}

// ---- runs

let runId = 0;
let running = false;
let paused = false;
const runLabel = new Map<number, string>();
const runItem = new Map<number, HTMLLIElement>();

function setRunning(on: boolean): void {
  running = on;
  $<HTMLButtonElement>('start').disabled = on;
  $<HTMLButtonElement>('pause').disabled = !on;
  $<HTMLButtonElement>('stop').disabled = !on;
  for (const id of ['save', 'save-onnx']) $<HTMLButtonElement>(id).disabled = on || runId === 0 && !modelLoaded;
  $<HTMLInputElement>('load').disabled = on;
  $<HTMLButtonElement>('run-experiment').disabled = on;
  if (!on) { paused = false; $('pause').textContent = 'Pause'; }
}

$<HTMLFormElement>('config').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (running) return;
  if (tableMode() && tableName === '') {
    $('error').textContent = 'Choose a CSV table to train on first (a header row naming its columns, then rows of numbers and a label).';
    return;
  }
  const config = readConfig();
  runId++;
  const label = `#${runId}`;
  runLabel.set(runId, label);
  const li = document.createElement('li');
  li.textContent = `${label}: ${describe(config)}`;
  $('runs').append(li);
  runItem.set(runId, li);
  $('error').textContent = '';
  setRunning(true);
  send({ type: 'start', runId, config });
});
$('pause').addEventListener('click', () => {
  paused = !paused;
  send({ type: paused ? 'pause' : 'resume' });
  $('pause').textContent = paused ? 'Resume' : 'Pause';
});
$('stop').addEventListener('click', () => send({ type: 'stop' }));

// ---- the book's experiments (the same as `simdnn experiment`), one at a time, stopped by Stop

const experimentSelect = $<HTMLSelectElement>('experiment');
for (const e of experiments) experimentSelect.add(new Option(e.title, e.name));
$<HTMLFormElement>('experiments').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (running) return;
  setRunning(true);
  $<HTMLButtonElement>('pause').disabled = true;
  $('experiment-status').textContent = 'Running…';
  $('experiment-conclusion').textContent = '';
  // the select lists the experiments' names
  send({ type: 'experiment', name: experimentSelect.value as ExperimentName, quick: $<HTMLInputElement>('quick').checked });
});

// ---- drawing

const canvas = $<HTMLCanvasElement>('draw');
const pen = canvas.getContext('2d')!;
function clearCanvas(): void {
  pen.fillStyle = '#000';
  pen.fillRect(0, 0, canvas.width, canvas.height);
  $('probs').replaceChildren();
  $('prediction').textContent = 'Draw a digit.';
}
clearCanvas();
let last: { x: number; y: number } | null = null;
const at = (e: PointerEvent) => {
  const r = canvas.getBoundingClientRect();
  return { x: ((e.clientX - r.left) * canvas.width) / r.width, y: ((e.clientY - r.top) * canvas.height) / r.height };
};
canvas.addEventListener('pointerdown', (e) => { canvas.setPointerCapture(e.pointerId); last = at(e); });
canvas.addEventListener('pointermove', (e) => {
  if (!last) return;
  const p = at(e);
  pen.strokeStyle = '#fff';
  pen.lineWidth = 22;
  pen.lineCap = 'round';
  pen.beginPath();
  pen.moveTo(last.x, last.y);
  pen.lineTo(p.x, p.y);
  pen.stroke();
  last = p;
});
canvas.addEventListener('pointerup', () => { last = null; predictDrawing(); });
$('clear').addEventListener('click', clearCanvas);
$('sample').addEventListener('click', () => send({ type: 'sample' }));

/** The drawing as MNIST prepares digits: the ink's box scaled into 20×20, centred by its centre of mass in 28×28. */
function digitPixels(): Float32Array | null {
  const { width: W, height: H } = canvas;
  const src = pen.getImageData(0, 0, W, H).data;
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    if (src[(y * W + x) * 4] > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const scale = 20 / Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const small = new OffscreenCanvas(28, 28).getContext('2d')!;
  const w = (x1 - x0 + 1) * scale, h = (y1 - y0 + 1) * scale;
  small.imageSmoothingQuality = 'high';
  small.drawImage(canvas, x0, y0, x1 - x0 + 1, y1 - y0 + 1, (28 - w) / 2, (28 - h) / 2, w, h);
  const rgba = small.getImageData(0, 0, 28, 28).data; // once: a readback per pixel took ~22 ms
  let pixels = Float32Array.from({ length: 784 }, (_, i) => rgba[i * 4] / 255);
  // shift so the centre of mass sits at the centre
  let m = 0, cx = 0, cy = 0;
  pixels.forEach((v, i) => { m += v; cx += v * (i % 28); cy += v * Math.floor(i / 28); });
  const dx = Math.round(13.5 - cx / m), dy = Math.round(13.5 - cy / m);
  const shifted = new Float32Array(784);
  pixels.forEach((v, i) => {
    const x = (i % 28) + dx, y = Math.floor(i / 28) + dy;
    if (x >= 0 && x < 28 && y >= 0 && y < 28) shifted[y * 28 + x] = v;
  });
  pixels = shifted;
  return pixels;
}

function predictDrawing(): void {
  const pixels = digitPixels();
  if (pixels) send({ type: 'predict', pixels }, [pixels.buffer]);
}

function showPrediction(p: number[]): void {
  const best = p.indexOf(Math.max(...p));
  $('prediction').textContent = `Prediction: ${best} (${(p[best] * 100).toFixed(1)}%)`;
  $('probs').replaceChildren(...p.map((v, d) => {
    const li = document.createElement('li');
    if (d === best) li.className = 'top';
    const meter = Object.assign(document.createElement('meter'), { min: 0, max: 1, value: v });
    meter.setAttribute('aria-label', `probability of ${d}`);
    li.append(String(d), meter, `${(v * 100).toFixed(1)}%`);
    li.dataset.p = String(v);
    return li;
  }));
}

function showSample(pixels: Float32Array, label: number): void {
  const img = new ImageData(28, 28);
  pixels.forEach((v, i) => { img.data.set([v * 255, v * 255, v * 255, 255], i * 4); });
  const small = new OffscreenCanvas(28, 28);
  small.getContext('2d')!.putImageData(img, 0, 0);
  pen.imageSmoothingEnabled = false;
  pen.drawImage(small, 0, 0, canvas.width, canvas.height);
  $('prediction').textContent = `A test digit labelled ${label}.`;
  send({ type: 'predict', pixels }, [pixels.buffer]);
}

// ---- model files

let modelLoaded = false;
$('save').addEventListener('click', () => send({ type: 'save', format: 'safetensors' }));
$('save-onnx').addEventListener('click', () => send({ type: 'save', format: 'onnx' }));
$<HTMLInputElement>('load').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ type: 'load', bytes, name: file.name }, [bytes.buffer]);
});

function download(bytes: Uint8Array, fileName: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: fileName });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- the worker's messages

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'ready':
      $('threads').textContent = m.isolated
        ? `Threads: ${m.threads} (cross-origin isolated; ?threads=N to change)`
        : `Threads: 1 (this page is not cross-origin isolated, so no SharedArrayBuffer)`;
      $('status').textContent = `Ready: ${m.trainRows} training and ${m.testRows} test digits.`;
      document.body.dataset.ready = 'true';
      break;
    case 'steps':
      plot(lossView, m.points.map((p) => ({ run: runLabel.get(m.runId), iter: p.iter, loss: p.loss })));
      break;
    case 'epoch': {
      const { epoch, trainAcc, testAcc } = m.point;
      const run = runLabel.get(m.runId);
      plot(accView, [{ run, epoch, acc: trainAcc, set: 'train' }, { run, epoch, acc: testAcc, set: 'test' }]);
      $('status').textContent = `Run ${run}, epoch ${epoch}: train accuracy ${trainAcc.toFixed(4)}, test accuracy ${testAcc.toFixed(4)}`;
      runItem.get(m.runId)!.dataset.testAcc = String(testAcc);
      break;
    }
    case 'state':
      if (m.state === 'paused') $('status').textContent = `Run ${runLabel.get(m.runId)} paused.`;
      if (m.state === 'done' || m.state === 'stopped' || m.state === 'failed') {
        setRunning(false);
        const li = runItem.get(m.runId)!;
        li.dataset.state = m.state;
        li.append(` — ${m.state}${li.dataset.testAcc ? `, test accuracy ${Number(li.dataset.testAcc).toFixed(4)}` : ''}`);
        if (m.state === 'failed') $('error').textContent = `Run failed: ${m.message}`;
        else {
          $('status').textContent = `Run ${runLabel.get(m.runId)} ${m.state}.`;
          // not after a failure: with no model yet, the worker's "no model yet" would replace why the run failed;
          // nor after a table's run: its model takes no drawn digit (its metrics came just before)
          if (!tableMode()) predictDrawing();
        }
      }
      break;
    case 'prediction': showPrediction(m.probabilities); break;
    case 'sample': showSample(m.pixels, m.label); break;
    case 'saved': download(m.bytes, m.fileName); break;
    case 'loaded':
      modelLoaded = true;
      setRunning(false);
      // a model trained on a table brings the page to table mode (its classes, no table needed), any other to the digits
      $<HTMLSelectElement>('data').value = m.csv ? 'csv' : 'digits';
      syncData();
      $('error').textContent = '';
      $('status').textContent = `Loaded ${m.name}: ${m.summary}`;
      if (m.csv) {
        $('metrics').replaceChildren();
        delete $('metrics').dataset.accuracy;
        $('metrics-status').textContent = `Loaded ${m.name}, trained on a table: label '${m.csv.label}', classes ${m.csv.classes.join(', ')}; ` +
          `features ${m.csv.features.join(', ')}. Save it, or choose a table and train anew.`;
      } else predictDrawing();
      break;
    case 'table': showTable(m.name, m.columns, m.rows); break;
    case 'metrics': showMetrics(m.metrics, runLabel.get(m.runId)); break;
    case 'experimentProgress':
      $('experiment-status').textContent = `${m.phase}: ${m.done} of ${m.total}`;
      break;
    case 'experimentDone':
      setRunning(false);
      $('experiment-status').textContent = m.title;
      $('experiment-conclusion').textContent = m.conclusion;
      void embed('#experiment-chart', m.spec as never, { actions: false, renderer: 'svg' });
      break;
    case 'experimentStopped':
      setRunning(false);
      $('experiment-status').textContent = 'Stopped.';
      break;
    case 'error':
      $('error').textContent = m.message;
      if (m.message.startsWith('experiment ')) { setRunning(false); $('experiment-status').textContent = 'Failed.'; }
      break;
  }
};
worker.onerror = (e) => { $('error').textContent = `The training worker failed: ${e.message}`; };
