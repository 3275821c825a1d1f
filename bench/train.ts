/**
 * `npm run bench`: the training loop stripped down to what is timed. For each standard config
 * (char-rnn's), train chars/s and sampling chars/s on every available backend, as ratios to the
 * reference backend and to PyTorch measured in the same run (this machine is shared and noisy:
 * compare within one run). PyTorch runs when a python3 with torch is importable (see
 * bench/pytorch.ts); otherwise the ratios are to figures measured earlier, marked with *. When
 * that torch sees a CUDA GPU, PyTorch on CUDA is timed too, on the same configs.
 *
 *   node dist/bench/train.js [--seconds 8] [--rounds 1] [--json] [--only lstm128,lstm512,rnn100] [--backend js,wasm,native,webgpu] [--isa avx2]
 *                            [--no-pytorch] [--pytorch-keep-coretype] [--engine torch [--device cpu|cuda|auto] [--nproc-per-node N] [--python PATH[,PATH]]]
 *
 * --backend picks the backends timed (default js,wasm,native; a comma list). native (the C addon,
 * createBackend's 'native') runs on 1 thread and on every core, on its best code path or the one
 * --isa names (avx2: what most laptops have; plain); where the addon does not load one line says
 * why and its rows are left out. webgpu (the GPU through
 * Dawn, createBackend's 'webgpu') is timed beside wasm, which it brings along for its ratio: per
 * config its train chars/s, the ratio to our fastest wasm row and to PyTorch on CUDA, the
 * dispatches and submits of one training window, and the adapter (a software one, SwiftShader,
 * runs correctly but its figures mean nothing). Its sampling is Sampler.steps: every
 * character drawn on the device, the ids read back once per sample. If it does not start, one
 * line says why and its row is left out. bench/gpu-check.sh runs this on a GPU machine.
 *
 * --engine torch times instead our PyTorch engine (charrnn train --engine torch) against a bare
 * nn.LSTM loop of the same PyTorch, per PyTorch found (bench/torch-engine.ts; --python PATH[,PATH],
 * else $CHARRNN_TORCH_VENV's python, python3 and /usr/bin/python3): engine chars/s, bare chars/s
 * and engine ÷ bare, start-up apart. Our backends are not timed then (the plain bench does that);
 * the configs are the LSTM ones unless --only names others.
 *
 * --rounds N repeats every measurement N times, alternating PyTorch and ours, and keeps the best
 * of each (the machine's load comes and goes; the best is what each system can do).
 *
 * Data: tiny Shakespeare from ../shared/data when present, else the built-in Moby Dick.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import { buildCorpus, splitCorpus } from '../src/data.js';
import { measureSpeed } from '../src/budget.js';
import { CharRNN } from '../src/model/model.js';
import { Rng } from '../src/rng.js';
import { Sampler } from '../src/sample.js';
import { modelConfigOf } from '../src/checkpoint.js';
import { GATES } from '../src/model/layer.js';
import type { Backend } from '../src/backend/types.js';
import { createBackend } from '../src/backend/platform-node.js';
import type { IsaName } from '../src/backend/native-abi.js';
import { WebGpuBackend } from '../src/backend/webgpu/backend.js';
import { defaultCorpusPath } from '../cli/corpus.js';
import { runPytorch, type PytorchRun } from './pytorch.js';
import { torchBench, torchPythons } from './torch-engine.js';
import type { Device } from '../cli/torch-engine.js';

/** pytorch: train chars/s of PyTorch 1.13 CPU + OpenBLAS measured earlier on the 2-core development machine, shown when torch is not importable. */
interface BenchConfig { id: string; name: string; config: Partial<TrainConfig>; pytorch: number; sample: boolean }

const CONFIGS: BenchConfig[] = [
  { id: 'lstm128', name: 'LSTM 2×128 B50 S50', config: { model: 'lstm', layers: 2, hidden: 128, batch: 50, seqLen: 50 }, pytorch: 40000, sample: true },
  { id: 'lstm512', name: 'LSTM 2×512 B50 S50', config: { model: 'lstm', layers: 2, hidden: 512, batch: 50, seqLen: 50 }, pytorch: 5050, sample: true },
  { id: 'rnn100', name: 'RNN 1×100 B1 S25', config: { model: 'rnn', layers: 1, hidden: 100, embed: 0, batch: 1, seqLen: 25, optimizer: 'adagrad', lr: 0.1, clipMode: 'value' }, pytorch: 19600, sample: false },
];

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const SECONDS = Number(arg('--seconds') ?? 8);
const JSON_OUT = args.includes('--json');
const ONLY = arg('--only')?.split(',');
const PYTORCH = !args.includes('--no-pytorch');
const ROUNDS = Math.max(1, Number(arg('--rounds') ?? 1));
const TORCH_ENGINE = arg('--engine') === 'torch';
const TORCH_DEVICE = (arg('--device') ?? 'auto') as Device;
const TORCH_NPROC = arg('--nproc-per-node') === undefined ? undefined : Number(arg('--nproc-per-node'));
const KINDS = (arg('--backend') ?? 'js,wasm,native').split(',');
if (KINDS.some((k) => !['js', 'wasm', 'native', 'webgpu'].includes(k))) {
  console.error(`--backend takes a comma list of js, wasm, native, webgpu (got ${JSON.stringify(arg('--backend'))})`);
  process.exit(2);
}
const ISA = arg('--isa') as IsaName | undefined;
if (KINDS.includes('webgpu') && !KINDS.includes('wasm')) KINDS.push('wasm'); // webgpu's ratio is to wasm

const shakespeare = new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url);
const dataPath = existsSync(shakespeare) ? shakespeare : defaultCorpusPath();
const corpus = buildCorpus([{ name: String(dataPath), bytes: readFileSync(dataPath) }]);

/**
 * Useful work per trained character, in FLOPs, counted as the issue counts it: the matrix
 * products of a forward pass (input and recurrent projections of every layer, with a one-hot
 * input as a lookup, and the decoder), times 3 for backward's two products per forward one.
 * The same count for every system, whatever shortcuts it takes (ours folds the embedding).
 */
function flopsPerChar(cfg: TrainConfig, V: number): number {
  const G = GATES[cfg.model] * cfg.hidden;
  let fwd = 2 * cfg.hidden * V;
  for (let l = 0; l < cfg.layers; l++) fwd += 2 * G * ((l === 0 ? cfg.embed : cfg.hidden) + cfg.hidden);
  return 3 * fwd;
}

/** What the device recorded for one training window (webgpu). */
interface WindowCount { dispatches: number; submits: number }

/**
 * Train steps for about SECONDS (at least 2 after one warm-up step); returns chars/s. The same
 * gauge the budget rule uses (on a GPU it waits for the device). On webgpu, also the counters of
 * one timed window: the last one, between the flushes that end it and the window before.
 */
async function trainSpeed(backend: Backend, cfg: TrainConfig): Promise<{ train: number; window?: WindowCount }> {
  const ids = splitCorpus(corpus.ids, cfg.valFrac, cfg.testFrac).train;
  const measure = (): Promise<number> => measureSpeed(backend, cfg, corpus.vocab.size, ids, () => performance.now() / 1000, SECONDS);
  if (!(backend instanceof WebGpuBackend)) return { train: await measure() };
  const counters = backend.ctx.counters;
  const ends: WindowCount[] = [];
  const flush = backend.flush.bind(backend);
  backend.flush = () => {
    flush();
    ends.push({ dispatches: counters.dispatches, submits: counters.submits });
  };
  const train = await measure();
  const [before, last] = ends.slice(-2);
  return { train, window: { dispatches: last.dispatches - before.dispatches, submits: last.submits - before.submits } };
}

/** Batch-1 generation speed, characters per second (on a GPU: samples of 512 drawn on the device). */
async function sampleSpeed(backend: Backend, cfg: TrainConfig): Promise<number> {
  const model = new CharRNN(modelConfigOf(cfg, corpus.vocab.size), backend);
  model.init(new Rng(1));
  const sampler = new Sampler(model, corpus.vocab);
  const seconds = Math.min(3, SECONDS / 2);
  if (!backend.hostMemory) {
    const draw = async (length: number, seed: number): Promise<number> => {
      let k = 0;
      for await (const _ of sampler.steps({ length, seed })) k++;
      return k;
    };
    try {
      await draw(64, 1); // compiles the kernels: not timed
      let n = 0;
      const t0 = performance.now();
      while (n < 512 || (performance.now() - t0) / 1000 < seconds) n += await draw(512, n);
      return n / ((performance.now() - t0) / 1000);
    } finally {
      sampler.dispose();
      model.dispose();
    }
  }
  const rng = new Rng(2);
  sampler.feed(0);
  let n = 0;
  const t0 = performance.now();
  while (n < 100 || (performance.now() - t0) / 1000 < seconds) {
    sampler.feed(sampler.pick(rng, 1));
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

/** The webgpu backend's adapter, or why it did not start; null when not asked for. */
type GpuInfo = { adapter: string; software: boolean } | { error: string };
let gpu = null as GpuInfo | null; // (the cast: set inside backends(), so not narrowed to null here)

async function backends(): Promise<Array<{ name: string; make: () => Promise<Backend> }>> {
  const list: Array<{ name: string; make: () => Promise<Backend> }> = [];
  if (KINDS.includes('js')) list.push({ name: 'js', make: () => createBackend({ kind: 'js' }) });
  if (KINDS.includes('wasm')) {
    try {
      const probe = await createBackend({ kind: 'wasm', threads: 1 });
      probe.dispose?.();
      list.push({ name: 'wasm ×1', make: () => createBackend({ kind: 'wasm', threads: 1 }) });
      const cores = availableParallelism();
      if (cores > 1) list.push({ name: `wasm ×${cores}`, make: () => createBackend({ kind: 'wasm', threads: cores }) });
    } catch (e) {
      if (!JSON_OUT) console.log(`(wasm backend unavailable: ${(e as Error).message})`);
    }
  }
  if (KINDS.includes('native')) {
    try {
      const probe = await createBackend({ kind: 'native', threads: 1, isa: ISA });
      const isa = probe.choice.isa;
      probe.dispose?.();
      if (!JSON_OUT) console.log(`native code path: ${isa}`);
      list.push({ name: `native ×1`, make: () => createBackend({ kind: 'native', threads: 1, isa: ISA }) });
      const cores = availableParallelism();
      if (cores > 1) list.push({ name: `native ×${cores}`, make: () => createBackend({ kind: 'native', threads: cores, isa: ISA }) });
    } catch (e) {
      if (!JSON_OUT) console.log(`(native backend unavailable: ${(e as Error).message})`);
    }
  }
  if (KINDS.includes('webgpu')) {
    try {
      const probe = await createBackend({ kind: 'webgpu', training: true });
      gpu = { adapter: probe.choice.adapter ?? 'unknown adapter', software: probe instanceof WebGpuBackend && probe.software };
      probe.dispose?.();
      list.push({ name: 'webgpu', make: () => createBackend({ kind: 'webgpu', training: true }) });
    } catch (e) {
      gpu = { error: (e as Error).message };
    }
    if (!JSON_OUT) {
      console.log('error' in gpu ? `(webgpu backend unavailable: ${gpu.error})`
        : `webgpu adapter: ${gpu.adapter}${gpu.software ? ' (software: it runs, but its figures mean nothing)' : ''}`);
    }
  }
  return list;
}

if (TORCH_ENGINE) {
  const configs = CONFIGS.filter((c) => (ONLY ? ONLY.includes(c.id) : c.config.model === 'lstm'));
  if (!JSON_OUT) console.log(`data: ${String(dataPath)} (${corpus.ids.length.toLocaleString('en-US')} chars), ~${SECONDS} s per measurement, best of ${ROUNDS} round(s)\n`);
  const rows = await torchBench({
    configs, corpus, dataPath: String(dataPath instanceof URL ? dataPath.pathname : dataPath), seconds: SECONDS, rounds: ROUNDS,
    device: TORCH_DEVICE, nproc: TORCH_NPROC, pythons: arg('--python')?.split(','), keepCoretype: args.includes('--pytorch-keep-coretype'), json: JSON_OUT,
  });
  if (JSON_OUT) console.log(JSON.stringify({ rounds: ROUNDS, seconds: SECONDS, results: rows }));
  process.exit(0);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(9);
const ratio = (a: number, b: number | undefined): string => (b ? `${(a / b).toFixed(2)}×` : '—').padStart(8);
const NAME = 12; // 'PyTorch CUDA'
const chosen = CONFIGS.filter((c) => !ONLY || ONLY.includes(c.id));
if (!JSON_OUT) console.log(`data: ${String(dataPath)} (${corpus.ids.length.toLocaleString('en-US')} chars), ~${SECONDS} s per measurement, best of ${ROUNDS} round(s)\n`);

// Each round measures PyTorch, then every backend; the best of the rounds is kept for each, so a
// burst of load from another process on this shared machine costs a round, not the comparison.
type Speeds = { train: number; sample: number | null; window?: WindowCount };
const best = (into: Map<string, Speeds>, key: string, s: Speeds): void => {
  const b = into.get(key);
  into.set(key, { ...s, train: Math.max(s.train, b?.train ?? 0), sample: s.sample === null ? null : Math.max(s.sample, b?.sample ?? 0) });
};
// PyTorch: every one found (pip's 2.x in $CHARRNN_TORCH_VENV, python3, Debian's 1.13), each at
// its best thread setting: 1 torch thread (with OpenBLAS on every core, 1.13's fastest here) and
// torch's own default (one per core, MKL/oneDNN's fastest), the faster kept per config.
const THREADS: Array<number | null> = [1, null];
const pythons = PYTORCH ? torchPythons(arg('--python')?.split(',')) : [];
type PeerSpeeds = Speeds & { threads: number };
const peers = new Map<string, PeerSpeeds>(); // `${python} ${config}`
const cudaPeers = new Map<string, Speeds>(); // PyTorch on CUDA (the first torch that sees one)
const ours = new Map<string, Speeds>();
const torchRuns = new Map<string, PytorchRun>(); // python -> its first run's description
const backendList = await backends();
for (let round = 0; round < ROUNDS; round++) {
  for (const { python } of pythons) {
    for (const threads of THREADS) {
      const run = runPytorch(String(dataPath instanceof URL ? dataPath.pathname : dataPath), SECONDS,
        chosen.map((bc) => ({ id: bc.id, config: resolveConfig(bc.config), sample: bc.sample })), args.includes('--pytorch-keep-coretype'),
        { python, threads, cuda: threads === 1 && ![...torchRuns.values()].some((r) => r.ok && r.cuda.ok) });
      if (run.ok) {
        for (const r of run.results) {
          const key = `${python} ${r.id}`;
          const b = peers.get(key);
          if (!b || r.train_chars_per_s > b.train) peers.set(key, { train: r.train_chars_per_s, sample: Math.max(r.sample_chars_per_s ?? 0, b?.sample ?? 0), threads: run.threads });
          else b.sample = Math.max(r.sample_chars_per_s ?? 0, b.sample ?? 0);
        }
        if (run.cuda.ok) for (const r of run.cuda.results) best(cudaPeers, r.id, { train: r.train_chars_per_s, sample: r.sample_chars_per_s ?? 0 });
      }
      if (!torchRuns.get(python)?.ok) torchRuns.set(python, run);
    }
  }
  for (const bc of chosen) {
    const cfg = resolveConfig(bc.config);
    for (const b of backendList) {
      const backend = await b.make();
      try {
        const { train, window } = await trainSpeed(backend, cfg);
        best(ours, `${bc.id} ${b.name}`, { train, sample: await sampleSpeed(backend, cfg), window });
      } finally {
        backend.dispose?.();
      }
    }
  }
  if (!JSON_OUT && ROUNDS > 1) process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
const okRuns = [...torchRuns.entries()].filter((e): e is [string, Extract<PytorchRun, { ok: true }>] => e[1].ok);
const cudaRun = okRuns.find(([, r]) => r.cuda.ok)?.[1];
if (!JSON_OUT) {
  if (PYTORCH && !pythons.length) console.log('(PyTorch not run: no python with torch and numpy found; set CHARRNN_TORCH_VENV to a venv with pip install torch numpy, or apt-get install python3-torch)\n');
  for (const [python, run] of torchRuns) console.log(run.ok ? `PyTorch ${run.version} (${python}), ${run.blasName}; best of 1 torch thread and its default, per config` : `(PyTorch at ${python} not run: ${run.reason})`);
  if (torchRuns.size) console.log('');
  if (cudaRun?.cuda.ok) console.log(`PyTorch CUDA: torch ${cudaRun.version} on ${cudaRun.cuda.device}\n`);
  else if (okRuns.length && KINDS.includes('webgpu')) console.log(`(PyTorch CUDA not run: ${okRuns.map(([, r]) => (r.cuda.ok ? '' : r.cuda.reason)).join('; ')})\n`);
}

const results: Array<Record<string, unknown>> = [];
for (const bc of chosen) {
  // each PyTorch found, and the fastest of them: the one "vs PyTorch" is against
  const peerRows = okRuns.flatMap(([python, run]) => {
    const sp = peers.get(`${python} ${bc.id}`);
    return sp ? [{ label: `PyTorch ${run.version.split('+')[0]}`, python, version: run.version, ...sp }] : [];
  });
  const peer = peerRows.reduce<(typeof peerRows)[number] | undefined>((a, b) => (a && a.train >= b.train ? a : b), undefined);
  const cuda = cudaPeers.get(bc.id);
  const peerTrain = peer?.train ?? bc.pytorch;
  const perChar = flopsPerChar(resolveConfig(bc.config), corpus.vocab.size);
  const gflops = (charsPerS: number): string => `${((charsPerS * perChar) / 1e9).toFixed(0)} GFLOP/s`;
  const peerSample = peer?.sample || undefined;
  const cudaSample = cuda?.sample || undefined;
  const mark = peer ? ' ' : '*';
  if (!JSON_OUT) {
    console.log(`${bc.name}`);
    for (const p of peerRows) {
      console.log(`  ${p.label.padEnd(NAME)} ${fmt(p.train)}${' '.repeat(29)}${p.sample ? fmt(p.sample) : ''}   (≈ ${gflops(p.train)} of useful work; ${p.threads} torch thread${p.threads === 1 ? '' : 's'})`);
    }
    if (cuda) console.log(`  ${'PyTorch CUDA'.padEnd(NAME)} ${fmt(cuda.train)}${' '.repeat(29)}${cudaSample ? fmt(cudaSample) : ''}   (≈ ${gflops(cuda.train)})`);
    console.log(`  backend       train chars/s   vs js   vs PyTorch${mark}   sample chars/s   vs PyTorch`);
  }
  const row = (name: string): Speeds => ours.get(`${bc.id} ${name}`)!;
  const jsSpeed = ours.get(`${bc.id} js`)?.train;
  // webgpu's ratio is to our fastest wasm row in this run
  const wasm = backendList.filter((b) => b.name.startsWith('wasm')).map((b) => ({ name: b.name, train: row(b.name).train, sample: row(b.name).sample ?? 0 }))
    .reduce<{ name: string; train: number; sample: number } | undefined>((a, b) => (a && a.train >= b.train ? a : b), undefined);
  for (const b of backendList) {
    const { train, sample, window } = row(b.name);
    results.push({
      config: bc.id, backend: b.name, train_chars_per_s: train, sample_chars_per_s: sample,
      ...(jsSpeed ? { vs_js: train / jsSpeed } : {}),
      useful_gflops: (train * perChar) / 1e9,
      ...(peer
        ? { pytorch_version: peer.version, pytorch_threads: peer.threads, pytorch_train_chars_per_s: peer.train, vs_pytorch: train / peer.train,
            pytorch_all: peerRows.map((p) => ({ version: p.version, threads: p.threads, train_chars_per_s: p.train, sample_chars_per_s: p.sample, vs: train / p.train })),
            pytorch_sample_chars_per_s: peerSample, sample_vs_pytorch: sample !== null && peerSample ? sample / peerSample : undefined }
        : { vs_pytorch_reference: train / bc.pytorch }),
      ...(cuda
        ? { pytorch_cuda_train_chars_per_s: cuda.train, vs_pytorch_cuda: train / cuda.train,
            pytorch_cuda_sample_chars_per_s: cudaSample, sample_vs_pytorch_cuda: sample !== null && cudaSample ? sample / cudaSample : undefined }
        : {}),
      ...(window && gpu && 'adapter' in gpu
        ? { adapter: gpu.adapter, software: gpu.software, dispatches_per_window: window.dispatches, submits_per_window: window.submits,
            ...(wasm ? { vs_wasm: train / wasm.train, wasm_backend: wasm.name, wasm_train_chars_per_s: wasm.train,
              wasm_sample_chars_per_s: wasm.sample, sample_vs_wasm: sample && wasm.sample ? sample / wasm.sample : undefined } : {}) }
        : {}),
    });
    if (!JSON_OUT) {
      const vsJs = jsSpeed ? `${(train / jsSpeed).toFixed(1).padStart(6)}×` : '—'.padStart(7);
      const sampled = sample === null ? ' '.repeat(23) : `      ${fmt(sample)}   ${ratio(sample, peerSample)}`;
      const gpuNotes = window
        ? `; ${[wasm && `${ratio(train, wasm.train).trim()} ${wasm.name}`, wasm && sample && `sampling ${ratio(sample, wasm.sample).trim()} ${wasm.name}`, cuda && `${ratio(train, cuda.train).trim()} PyTorch CUDA`].filter(Boolean).join(', ')}` +
          `${wasm || cuda ? '; ' : ''}${window.dispatches} dispatches, ${window.submits} submit${window.submits === 1 ? '' : 's'} per window`
        : '';
      console.log(`  ${b.name.padEnd(NAME)} ${fmt(train)}   ${vsJs}   ${ratio(train, peerTrain)}${sampled}   (≈ ${gflops(train)}${gpuNotes})`);
    }
  }
  if (!JSON_OUT) console.log('');
}
if (JSON_OUT) {
  const pytorch = { pytorch: [...torchRuns.entries()].map(([python, r]) => (r.ok
    ? { python, version: r.version, blas: r.blas, cuda: r.cuda.ok ? { device: r.cuda.device } : { error: r.cuda.reason } }
    : { python, error: r.reason })) };
  console.log(JSON.stringify({ ...pytorch, ...(gpu ? { webgpu: gpu } : {}), rounds: ROUNDS, seconds: SECONDS, results }));
} else if (okRuns.length === 0) {
  console.log('* PyTorch 1.13 CPU + OpenBLAS figures measured earlier on the 2-core development machine (not in this run): 40,000 / 5,050 / 19,600 chars/s.');
}
