/**
 * `charrnn train`: read the corpus, build (or resume) a run, render its events, and write
 *   OUT/latest.safetensors   the run as of the last evaluation (or Ctrl-C)
 *   OUT/best.safetensors     the run at its best validation loss
 *   OUT/metrics.jsonl        one line per evaluation
 *   OUT/run.json             where the data came from and the engine, so --resume finds them again
 *   OUT/samples.jsonl        the samples shown during training, with their iteration
 *   OUT/report.html          with --report: the run report, rewritten at every evaluation
 * Checkpoints are written atomically (temp file, fsync, rename): a crash never leaves half a file.
 */
import { readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkResume, newRunConfig, resumeConfig, type TrainConfig } from '../src/config.js';
import { decodeCheckpoint, type CheckpointData } from '../src/checkpoint.js';
import { Trainer } from '../src/train.js';
import { chooseModel, choosesModel, measureSpeed, type ModelPlan } from '../src/budget.js';
import { splitLengths } from '../src/data.js';
import { splitFor } from '../src/lines.js';
import { torchUnsupported } from '../src/torch-run.js';
import type { IdArray } from '../src/vocab.js';
import type { Backend } from '../src/backend/types.js';
import { checkWritableDir, tempPathFor, writeFileAtomic } from './atomic.js';
import { BACKEND_KINDS } from '../src/backend/create.js';
import type { BackendKind } from '../src/backend/types.js';
import { createBackend } from '../src/backend/platform-node.js';
import { parseBackendFlags, type BackendFlags } from './backend.js';
import { BUILTIN_CORPORA, builtinName, corpusSource, loadCorpus, scanCorpus } from './corpus.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError, type Proc } from './io.js';
import { ProgressRenderer } from './render.js';
import { appendLine, saveEvaluation, tidyRunDir } from './runfiles.js';
import { streamIds, type TorchData } from './torch-data.js';
import { cudaHint, findTorch, nvidiaPresent, planTorch, runTorch, torchGauge, type EngineSettings } from './torch-engine.js';
import { trainLoop, type TrainView } from './train-output.js';

export interface TrainArgs {
  data?: string[];
  out?: string;
  resume?: string;
  force: boolean;
  quiet: boolean;
  json: boolean;
  /** Rewrite OUT/report.html at every evaluation. */
  report?: boolean;
  /** Train on bytes (each byte 0–255 one symbol), not UTF-8 text. */
  binary?: boolean;
  config: Partial<TrainConfig>;
  /** --backend and --threads as given: where our engine runs it. Not part of the model's config; recorded in run.json, so a resumed run keeps its backend unless told otherwise. */
  backend: { backend?: unknown; threads?: unknown };
  /** Which engine trains it: ours, or PyTorch (cli/torch-engine.ts). */
  engine?: EngineSettings;
  /** --engine was on the command line (not the default): then no hint about the torch engine. */
  engineGiven?: boolean;
}

async function loadResume(dir: string): Promise<CheckpointData> {
  const path = join(dir, 'latest.safetensors');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CliError(`cannot resume from ${dir}: ${path}: ${fsErrorReason(e, 'read')}`);
  }
  const data = decodeCheckpoint(bytes);
  if (!data.train) throw new CliError(`${path} has no training state to resume from`);
  return data;
}

export async function trainCommand(proc: Proc, args: TrainArgs): Promise<number> {
  const human = args.quiet ? null : args.json ? proc.stderr : proc.stdout;
  const renderer = human ? new ProgressRenderer(human) : null;

  // ---- the run's configuration ----
  let resume: CheckpointData | undefined;
  let config: TrainConfig;
  let dataPaths = args.data;
  let binary = Boolean(args.binary);
  let engine: BackendFlags;
  let recorded: RunInfo | null = null; // the resumed run's run.json
  let out: string | undefined;
  if (args.resume) {
    out = args.out ?? args.resume;
    resume = await loadResume(args.resume);
    config = resumeConfig(resume.config, args.config);
    recorded = await readRunInfo(args.resume);
    dataPaths ??= recorded.data ?? undefined;
    binary ||= recorded.binary;
    engine = parseBackendFlags(args.backend, recorded.engine ?? undefined, 'training');
  } else {
    const builtin = builtinName(dataPaths);
    // a built-in corpus of items (names) trains on lines unless told otherwise
    const implied: Partial<TrainConfig> = builtin && BUILTIN_CORPORA[builtin].lines && args.config.lines === undefined ? { lines: true } : {};
    config = newRunConfig({ ...implied, ...args.config });
    engine = parseBackendFlags(args.backend, undefined, 'training');
  }

  // the CUDA hint's probe runs beside loading the data and starting the engine (it imports torch: seconds)
  const hint = human ? cudaHint({ engineGiven: Boolean(args.engineGiven) || args.engine?.engine === 'torch', gpuDevice: nvidiaPresent() }) : null;
  const view: TrainView = { renderer, json: args.json, report: Boolean(args.report) };
  if (args.engine?.engine === 'torch') return trainOnTorch(args.engine);

  // ---- data: our engine holds every id (a corpus too big for that is refused before it is read) ----
  const { corpus, label } = await loadCorpus(dataPaths, { binary, ourEngine: true });
  if (resume) checkResume(resume, config, corpus); // before any file is touched (the Trainer checks it again)
  // ---- engine: auto on a hardware GPU times this run's model on the GPU and the CPU and keeps the faster (create.ts) ----
  const modelAsGiven = config;
  const backend = await createBackend({ kind: engine.backend, threads: engine.threads, training: true, gauge: (b) => measureSpeed(b, modelAsGiven, corpus.vocab.size, corpus.ids, now) });
  try {
    const shape = { vocabSize: corpus.vocab.size, trainChars: splitFor(corpus.ids, corpus.vocab, config).train.length, ids: corpus.ids };
    await chooseShape(shape, backend);
    const line = await hint;
    if (line) renderer?.message(line);
    return await trainOnOurs();
  } finally {
    backend.dispose?.();
  }

  /** A new run given no shape: the model its budget affords (src/budget.ts), the speed measured on the engine that trains. */
  async function chooseShape(shape: CorpusShape, backend: Backend | null, torch?: { settings: EngineSettings; data: TorchData }): Promise<void> {
    if (resume || !choosesModel(args.config)) return;
    const chosen = await chooseForBudget(args.config, config, shape, engine, backend, torch);
    config = chosen.config;
    // the choice prefixes the run's first line; a run only prepared has none, so it is said now
    if (chosen.choice) args.engine?.prepareOnly ? renderer?.message(chosen.choice.line) : renderer?.announce(chosen.choice.line);
  }

  /** The output directory, checked up front, not after an hour of training. */
  async function checkOut(label: string): Promise<string> {
    out ??= args.out ?? join('runs', label);
    if (!resume && existsSync(join(out, 'latest.safetensors')) && !args.force) {
      throw new CliError(`${out} already holds a run; continue it with --resume ${out}, or pass --force to start over, or choose another --out`);
    }
    await checkWritableDir(out);
    return out;
  }

  /** Once nothing can fail any more: tidy the directory, start over or continue its logs, record run.json. */
  async function openRunDir(out: string): Promise<{ latest: string; best: string; metricsPath: string; samplesPath: string }> {
    await tidyRunDir(out, resume?.train?.state.iter ?? null, ['metrics.jsonl', 'samples.jsonl']);
    const files = { latest: join(out, 'latest.safetensors'), best: join(out, 'best.safetensors'), metricsPath: join(out, 'metrics.jsonl'), samplesPath: join(out, 'samples.jsonl') };
    const runInfo: RunInfo = { data: dataPaths ? (builtinName(dataPaths) ? dataPaths : dataPaths.map((p) => resolve(p))) : null, binary, engine };
    if (!resume) {
      await rm(files.metricsPath, { force: true });
      await rm(files.samplesPath, { force: true });
      await rm(files.best, { force: true });
      await rm(files.latest, { force: true }); // --force starts over: a kill before the first save must not resume the old run
    }
    // a new run, a resumed one written elsewhere (--out), or one whose data or engine changed
    if (!recorded || out !== args.resume || JSON.stringify(runInfo) !== JSON.stringify(recorded)) await writeFileAtomic(join(out, 'run.json'), JSON.stringify(runInfo, null, 2) + '\n');
    return files;
  }

  /**
   * --engine torch: the corpus is never held (cli/torch-data.ts). Pass 1 gives the vocabulary and
   * length; pass 2 streams the ids into a temp file in OUT, which the speed gauge reads and the
   * prepared directory takes as its ids.bin. What can fail cheaply fails before the passes.
   */
  async function trainOnTorch(settings: EngineSettings): Promise<number> {
    const unsupported = torchUnsupported(config);
    if (unsupported) throw new CliError(unsupported, 2);
    const found = settings.prepareOnly ? undefined : findTorch(settings.python);
    const src = await corpusSource(dataPaths, { binary });
    const scan = await scanCorpus(src);
    if (resume) checkResume(resume, config, scan);
    out ??= args.out ?? join('runs', src.label);
    const staged = tempPathFor(join(out, 'ids.bin'));
    const data = (head: IdArray): TorchData => ({ vocab: scan.vocab, length: scan.count, ids: { file: staged }, head });
    // the plan's checks before the long pass and before any write (the budget below changes only the model's shape)
    const early = planTorch(settings, config, data(new Uint8Array(0)), resume, found);
    const dir = await checkOut(src.label);
    try {
      const head = await streamIds(src, scan, staged);
      await chooseShape({ vocabSize: scan.vocab.size, trainChars: splitLengths(scan.count, config.valFrac, config.testFrac).nTrain, ids: head }, null, { settings, data: data(head) });
      const plan = config === early.config ? early : planTorch(settings, config, data(head), resume, found);
      await openRunDir(dir);
      return await runTorch(proc, plan, dir, view);
    } finally {
      await rm(staged, { force: true }); // moved into the run directory, unless something failed
    }
  }

  /** Our engine, in this process: its events rendered, its run files written by the CLI. */
  async function trainOnOurs(): Promise<number> {
    const dir = await checkOut(label);
    const { latest, best, metricsPath, samplesPath } = await openRunDir(dir);
    // a GPU run keeps a host copy of its weights for its samples (Trainer.hostModel): on wasm, not the reference kernels
    const host = backend.hostMemory ? undefined : await createBackend({ kind: 'auto', threads: 1 });
    try {
      const trainer = new Trainer({ config, corpus, backend, resume, hostBackend: host });
      return await trainLoop(proc, {
        out: dir,
        events: (signal) => trainer.run(signal),
        // our engine's run files are the CLI's to write: each evaluation metrics-first (cli/runfiles.ts), latest at Ctrl-C
        record: async (ev) => {
          if (ev.type === 'eval') await saveEvaluation({ metrics: metricsPath, latest, best: ev.isBest ? best : null }, ev.metrics, trainer.checkpoint(), ev.isBest ? trainer.bestCheckpoint() : undefined);
          else if (ev.type === 'sample') await appendLine(samplesPath, { iter: ev.iter, text: ev.text });
          else if (ev.type === 'done' && ev.reason === 'aborted') await writeFileAtomic(latest, trainer.checkpoint());
        },
      }, view);
    } finally {
      host?.dispose?.();
    }
  }
}

const now = (): number => performance.now() / 1000;

/** What the budget rule needs of a corpus: its vocabulary's size, its training characters, some of its ids to time steps on. */
interface CorpusShape {
  vocabSize: number;
  trainChars: number;
  ids: IdArray;
}

/**
 * chooseModel with a speed gauge on the engine that trains: `backend` for ours; under --engine
 * torch the torch engine itself (torchGauge), on its device, over the run's one ids file, so the
 * shape fits PyTorch's speed there, not ours. The gauge runs only under --max-time (the rule asks
 * for no speed otherwise).
 */
async function chooseForBudget(given: Partial<TrainConfig>, config: TrainConfig, shape: CorpusShape, engine: BackendFlags, backend: Backend | null, torch?: { settings: EngineSettings; data: TorchData }): Promise<ModelPlan> {
  const input = { given, config, vocabSize: shape.vocabSize, trainChars: shape.trainChars };
  const ours = (b: Backend) => (c: TrainConfig): Promise<number> => measureSpeed(b, c, shape.vocabSize, shape.ids, now);
  if (backend) return chooseModel({ ...input, speed: ours(backend) });
  if (config.maxTime <= 0) return chooseModel({ ...input, speed: () => Promise.reject(new Error('no speed is asked without --max-time')) });
  const gauge = torch ? await torchGauge(torch.settings, torch.data) : null;
  let own: Backend | null = null;
  try {
    // no torch here under --prepare-only (the run trains elsewhere): our engine's speed is the only gauge left
    own = gauge ? null : await createBackend({ kind: engine.backend, threads: engine.threads, training: true });
    return await chooseModel({ ...input, speed: gauge ? gauge.speed : ours(own!) });
  } finally {
    own?.dispose?.();
    await gauge?.close();
  }
}

/** OUT/run.json: what the run directory's checkpoints do not hold (where the text came from, the engine). */
export interface RunInfo {
  /** The text files (absolute), or null: the built-in corpus. */
  data: string[] | null;
  binary: boolean;
  /** The engine the run last trained on (absent in runs written before it was recorded). */
  engine?: BackendFlags | null;
}

export async function readRunInfo(dir: string): Promise<RunInfo> {
  try {
    const info = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as { data?: unknown; binary?: unknown; engine?: { backend?: unknown; threads?: unknown } };
    const e = info.engine;
    const engine = e && typeof e === 'object' && BACKEND_KINDS.includes(e.backend as BackendKind) && Number.isInteger(e.threads)
      ? { backend: e.backend as BackendKind, threads: e.threads as number } : null;
    return { data: Array.isArray(info.data) ? info.data.map(String) : null, binary: info.binary === true, engine };
  } catch {
    return { data: null, binary: false, engine: null }; // no record: the built-in corpus (or give --data again)
  }
}
