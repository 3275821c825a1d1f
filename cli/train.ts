/**
 * `charrnn train`: read the corpus, build (or resume) a run, render its events, and write
 *   OUT/latest.safetensors   the run as of the last evaluation (or Ctrl-C)
 *   OUT/best.safetensors     the run at its best validation loss
 *   OUT/metrics.jsonl        one line per evaluation
 *   OUT/run.json             where the data came from, so --resume can find it again
 *   OUT/samples.jsonl        the samples shown during training, with their iteration
 *   OUT/report.html          with --report: the run report, rewritten at every evaluation
 * Checkpoints are written atomically (temp file, fsync, rename): a crash never leaves half a file.
 */
import { readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveConfig, flagName, type TrainConfig } from '../src/config.js';
import { decodeCheckpoint, type CheckpointData } from '../src/checkpoint.js';
import { Trainer } from '../src/train.js';
import { checkWritableDir, writeFileAtomic } from './atomic.js';
import { makeBackend } from './backend.js';
import { BUILTIN_CORPORA, builtinName, loadCorpus } from './corpus.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError, type Proc } from './io.js';
import { ProgressRenderer } from './render.js';
import { writeReport } from './report.js';
import { appendLine, saveEvaluation, tidyRunDir } from './runfiles.js';

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
}

const LIMITS = ['maxIters', 'epochs', 'maxTime'] as const;
/** What may change when resuming: limits, reporting and the engine — never the model or the maths. */
const RESUMABLE = new Set<keyof TrainConfig>([...LIMITS, 'evalEvery', 'sampleEvery', 'sampleLength', 'sampleTemperature', 'backend', 'threads', 'onNan', 'maxRollbacks']);

/**
 * Stopping limits: with none given, a fresh run trains for the defaults (180 s, at most 50
 * epochs); given any, the ones not given are off. A resumed run keeps its limits unless new
 * ones are given.
 */
function applyLimits(base: Partial<TrainConfig>, given: Partial<TrainConfig>): Partial<TrainConfig> {
  if (!LIMITS.some((k) => given[k] !== undefined)) return { ...base, ...given };
  const out = { ...base, ...given };
  for (const k of LIMITS) out[k] = given[k] ?? 0;
  return out;
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
  const say = (s: string): void => renderer?.message(s);

  // ---- the run's configuration ----
  let resume: CheckpointData | undefined;
  let config: TrainConfig;
  let dataPaths = args.data;
  let binary = Boolean(args.binary);
  let out: string;
  if (args.resume) {
    out = args.out ?? args.resume;
    resume = await loadResume(args.resume);
    for (const key of Object.keys(args.config) as (keyof TrainConfig)[]) {
      if (!RESUMABLE.has(key) && args.config[key] !== resume.config[key]) {
        throw new CliError(`${flagName(key)} cannot change when resuming (the run has ${flagName(key)} ${resume.config[key]})`, 2);
      }
    }
    config = resolveConfig(applyLimits(resume.config, args.config));
    const run = await readRunInfo(args.resume);
    dataPaths ??= run.data ?? undefined;
    binary ||= run.binary;
  } else {
    const builtin = builtinName(dataPaths);
    // a built-in corpus of items (names) trains on lines unless told otherwise
    const implied: Partial<TrainConfig> = builtin && BUILTIN_CORPORA[builtin].lines && args.config.lines === undefined ? { lines: true } : {};
    config = resolveConfig(applyLimits(implied, args.config));
  }

  // ---- data ----
  const { corpus, label } = await loadCorpus(dataPaths, { binary });
  if (resume) {
    const a = resume.vocab.symbols;
    const b = corpus.vocab.symbols;
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
      throw new CliError(`the data's characters differ from the run's vocabulary (${b.length} vs ${a.length} symbols); resume with the same --data`);
    }
  }
  out ??= args.out ?? join('runs', label);

  // ---- output directory: check it up front, not after an hour of training ----
  if (!resume && existsSync(join(out, 'latest.safetensors')) && !args.force) {
    throw new CliError(`${out} already holds a run; continue it with --resume ${out}, or pass --force to start over, or choose another --out`);
  }
  await checkWritableDir(out);
  await tidyRunDir(out, resume?.train?.state.iter ?? null, ['metrics.jsonl', 'samples.jsonl']);
  const latest = join(out, 'latest.safetensors');
  const best = join(out, 'best.safetensors');
  const metricsPath = join(out, 'metrics.jsonl');
  const samplesPath = join(out, 'samples.jsonl');
  if (!resume) {
    await rm(metricsPath, { force: true });
    await rm(samplesPath, { force: true });
    await rm(best, { force: true });
    await rm(latest, { force: true }); // --force starts over: a kill before the first save must not resume the old run
    await writeFileAtomic(join(out, 'run.json'), JSON.stringify({ data: dataPaths ? (builtinName(dataPaths) ? dataPaths : dataPaths.map((p) => resolve(p))) : null, binary }, null, 2) + '\n');
  }

  // ---- train ----
  const backend = await makeBackend(config.backend, config.threads);
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) return; // a second Ctrl-C while saving: saving is atomic and quick
    abort.abort();
  };
  proc.on?.('SIGINT', onSigint);
  try {
    const trainer = new Trainer({ config, corpus, backend, resume });
    // a report that cannot be written is worth a warning, not the run
    const report = async (refreshSeconds?: number): Promise<void> => {
      try {
        await writeReport(out, { refreshSeconds });
      } catch (e) {
        say(`warning: could not write ${join(out, 'report.html')}: ${(e as Error).message}`);
      }
    };
    let code = 0;
    for await (const ev of trainer.run(abort.signal)) {
      // a numerical stop is a failure: one line on stderr, even with --quiet (latest is the last good state)
      if (ev.type === 'nan') proc.stderr.write(`charrnn: stopped: ${ev.message}\n`);
      else renderer?.event(ev);
      if (ev.type === 'eval') {
        await saveEvaluation({ metrics: metricsPath, latest, best: ev.isBest ? best : null }, ev.metrics, trainer.checkpoint());
        if (args.report) await report(15);
      } else if (ev.type === 'sample') {
        await appendLine(samplesPath, { iter: ev.iter, text: ev.text });
      } else if (ev.type === 'done') {
        if (ev.reason === 'aborted') {
          await writeFileAtomic(latest, trainer.checkpoint());
          say(`interrupted: saved ${latest} (continue with: npx charrnn train --resume ${out})`);
          code = 130;
        } else if (ev.reason === 'nan') {
          code = 1;
        }
        const ckpt = existsSync(best) ? best : latest;
        if (args.report) await report(); // the finished run: no more reloading
        if (args.json) {
          const s = ev.summary;
          proc.stdout.write(JSON.stringify({
            iters: s.iters, epochs: s.epochs, seconds: s.seconds, train_chars_per_s: s.train_chars_per_s,
            train_loss: s.train_loss, val_loss: s.val_loss, best_val_loss: s.best_val_loss, checkpoint: ckpt,
          }) + '\n');
        }
        if (code === 0) {
          say(`done (${ev.reason}) after ${ev.summary.iters} iterations; best validation loss ${ev.summary.best_val_loss?.toFixed(4) ?? '?'} nats/char`);
          say(`checkpoint: ${ckpt}`);
          say(`sample from it: npx charrnn sample ${ckpt}`);
        }
      }
    }
    return code;
  } finally {
    proc.off?.('SIGINT', onSigint);
    backend.dispose?.();
  }
}

export async function readRunInfo(dir: string): Promise<{ data: string[] | null; binary: boolean }> {
  try {
    const info = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as { data?: unknown; binary?: unknown };
    return { data: Array.isArray(info.data) ? info.data.map(String) : null, binary: info.binary === true };
  } catch {
    return { data: null, binary: false }; // no record: the built-in corpus (or give --data again)
  }
}
