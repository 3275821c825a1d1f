/**
 * Every knob of a training run, with its default, in one list (as nanoGPT keeps them). The CLI
 * flags are these names in kebab-case (seqLen → --seq-len). The whole config is stored inside
 * every checkpoint, so a model always knows how it was made. Where the engine runs (--backend,
 * --threads) is not a knob of the run: it is chosen each time the model is run.
 *
 * Defaults follow char-rnn / torch-rnn where nothing better was measured: an LSTM, windows of 50
 * characters, Adam, gradients clipped to global norm 5, and torch-rnn's 64-wide
 * character embedding (on tiny Shakespeare it reaches 1.77 nats/char after 3 epochs where one-hot
 * input, char-rnn's and min-char-rnn's, --embed 0, is at 1.98: a learned dense input gives every
 * gate a strong signal from the first step). Three defaults are the budget's (docs/guide.md, "The
 * budget", has the measurements): 32 streams a batch, not 50 (more steps in the same time); the
 * learning rate warms up to 8e-3 and decays by a cosine to
 * a hundredth of it at the end of the run (src/schedule.ts; char-rnn's per-epoch decay at 2e-3 is
 * --lr-schedule step --lr 2e-3), and the shape below (2×128, no dropout) is what a new run
 * given no --layers/--hidden/--embed/--model gets only when its budget affords nothing bigger:
 * src/budget.ts chooses the layers, hidden size and dropout from the time, the measured speed
 * and the corpus size.
 */
import type { CheckpointData } from './checkpoint.js';
import type { Corpus } from './data.js';
import { CharRnnError } from './errors.js';
import { describeChars } from './vocab.js';
import type { CellType } from './model/layer.js';

export type OptimizerName = 'adam' | 'rmsprop' | 'adagrad' | 'sgd';

export interface TrainConfig {
  // ---- model ----
  model: CellType; // rnn | lstm | gru
  layers: number;
  hidden: number;
  embed: number; // 0 = one-hot input (min-char-rnn), as a row lookup
  dropout: number; // between layers, 0 ≤ p < 1
  // ---- data ----
  valFrac: number; // contiguous split: train, then validation, then test
  testFrac: number;
  batch: number; // B parallel streams
  seqLen: number; // T characters per window (truncated BPTT length)
  lines: boolean; // one item per non-empty line: shuffled into the streams, each from the zero state (src/lines.ts)
  // ---- optimizer ----
  optimizer: OptimizerName;
  lr: number;
  lrSchedule: 'step' | 'cosine' | 'linear'; // step: char-rnn's per-epoch decay below; cosine, linear: src/schedule.ts
  lrDecay: number; // step: multiply lr by this at the end of every epoch ≥ lrDecayAfter (char-rnn)
  lrDecayAfter: number;
  warmup: number; // cosine, linear: iterations of linear warm-up from 0
  lrFinal: number; // cosine, linear: the last iteration's lr, as a fraction of --lr
  weightDecay: number; // L2 added to the gradient (PyTorch's weight_decay)
  clip: number; // 0 = no clipping
  clipMode: 'norm' | 'value'; // global-norm rescale, or clamp each element to ±clip (min-char-rnn)
  beta1: number; // adam
  beta2: number; // adam
  eps: number; // adam, rmsprop, adagrad
  alpha: number; // rmsprop smoothing (char-rnn's decay_rate)
  momentum: number; // sgd
  // ---- loop ----
  maxIters: number; // 0 = no limit
  epochs: number; // 0 = no limit
  maxTime: number; // seconds, 0 = no limit
  evalEvery: number; // iterations between validation passes (and checkpoints)
  sampleEvery: number; // iterations between samples shown while training, 0 = never
  sampleLength: number;
  sampleTemperature: number;
  seed: number;
  // ---- faults ----
  onNan: 'stop' | 'rollback'; // on a non-finite loss or gradient: stop, or reload the last good state with half the lr
  maxRollbacks: number; // rollbacks allowed per session before stopping
}

export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({
  model: 'lstm',
  layers: 2,
  hidden: 128,
  embed: 64,
  dropout: 0,
  valFrac: 0.05,
  testFrac: 0.05,
  batch: 32,
  seqLen: 50,
  lines: false,
  optimizer: 'adam',
  lr: 8e-3,
  lrSchedule: 'cosine',
  lrDecay: 0.97,
  lrDecayAfter: 10,
  warmup: 100,
  lrFinal: 0.01,
  weightDecay: 0,
  clip: 5,
  clipMode: 'norm',
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  alpha: 0.95,
  momentum: 0.9,
  maxIters: 0,
  epochs: 50,
  maxTime: 180,
  evalEvery: 200,
  sampleEvery: 200,
  sampleLength: 200,
  sampleTemperature: 0.8,
  seed: 1337,
  onNan: 'stop',
  maxRollbacks: 3,
} satisfies TrainConfig);

/** lr → --lr, seqLen → --seq-len: how the CLI names a key, used in error messages. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

type Rule = { bool?: boolean; int?: boolean; min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean; oneOf?: readonly string[] };

const RULES: { [K in keyof TrainConfig]: Rule } = {
  model: { oneOf: ['rnn', 'lstm', 'gru'] },
  layers: { int: true, min: 1, max: 64 },
  hidden: { int: true, min: 1, max: 16384 },
  embed: { int: true, min: 0, max: 16384 },
  dropout: { min: 0, max: 1, maxExclusive: true },
  valFrac: { min: 0, max: 1, maxExclusive: true, minExclusive: true },
  testFrac: { min: 0, max: 1, maxExclusive: true },
  batch: { int: true, min: 1, max: 100000 },
  seqLen: { int: true, min: 1, max: 100000 },
  lines: { bool: true },
  optimizer: { oneOf: ['adam', 'rmsprop', 'adagrad', 'sgd'] },
  lr: { min: 0, minExclusive: true, max: 100 },
  lrSchedule: { oneOf: ['step', 'cosine', 'linear'] },
  lrDecay: { min: 0, minExclusive: true, max: 1 },
  lrDecayAfter: { int: true, min: 0 },
  warmup: { int: true, min: 0 },
  lrFinal: { min: 0, max: 1 },
  weightDecay: { min: 0 },
  clip: { min: 0 },
  clipMode: { oneOf: ['norm', 'value'] },
  beta1: { min: 0, max: 1, maxExclusive: true },
  beta2: { min: 0, max: 1, maxExclusive: true },
  eps: { min: 0, minExclusive: true },
  alpha: { min: 0, max: 1, maxExclusive: true },
  momentum: { min: 0, max: 1, maxExclusive: true },
  maxIters: { int: true, min: 0 },
  epochs: { min: 0 },
  maxTime: { min: 0 },
  evalEvery: { int: true, min: 1 },
  sampleEvery: { int: true, min: 0 },
  sampleLength: { int: true, min: 0, max: 1e7 },
  sampleTemperature: { min: 0, max: 100 },
  seed: { int: true, min: 0, max: 2 ** 32 - 1 },
  onNan: { oneOf: ['stop', 'rollback'] },
  maxRollbacks: { int: true, min: 0, max: 1000 },
};

/**
 * Keys that older checkpoints stored in their config but that are not part of a run's recipe:
 * the engine (`backend`, `threads`) is chosen by whoever runs the model, each time (see
 * createBackend). They are dropped when a checkpoint is read, so old files keep loading.
 */
export const RETIRED_KEYS: readonly string[] = ['backend', 'threads'];

/**
 * Fill in defaults and check every value; throws a one-line CharRnnError naming the flag. The
 * stopping limits follow the one rule (withLimits): given none, the defaults' (180 s, at most 50
 * epochs); given any, only those. So `resolveConfig({ maxIters: 40 })` runs 40 iterations and
 * nothing else bounds it: a default time budget beside it would fix a cosine schedule's span from
 * the clock (src/schedule.ts), and the same seed would train differently on a slower machine.
 */
export function resolveConfig(partial: Partial<TrainConfig> = {}): TrainConfig {
  const cfg = { ...DEFAULT_CONFIG } as TrainConfig;
  for (const [key, value] of Object.entries(withLimits({}, partial))) {
    if (!(key in RULES)) throw new CharRnnError('bad-flag', `unknown setting ${flagName(key)}`);
    if (value !== undefined) (cfg as unknown as Record<string, unknown>)[key] = value;
  }
  for (const key of Object.keys(RULES) as (keyof TrainConfig)[]) checkValue(key, cfg[key], RULES[key]);
  if (cfg.valFrac + cfg.testFrac >= 1) {
    throw new CharRnnError('bad-flag', `--val-frac plus --test-frac must be below 1 (got ${cfg.valFrac} + ${cfg.testFrac}); leave some text to train on`);
  }
  return cfg;
}

function checkValue(key: keyof TrainConfig, value: unknown, rule: Rule): void {
  const flag = flagName(key);
  if (rule.bool) {
    if (typeof value !== 'boolean') throw new CharRnnError('bad-flag', `${flag} is a switch: true or false (got ${JSON.stringify(value)})`);
    return;
  }
  if (rule.oneOf) {
    if (typeof value !== 'string' || !rule.oneOf.includes(value)) {
      throw new CharRnnError('bad-flag', `${flag} must be one of ${rule.oneOf.join(', ')} (got ${JSON.stringify(value)})`);
    }
    return;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new CharRnnError('bad-flag', `${flag} must be a number (got ${JSON.stringify(value)})`);
  }
  if (rule.int && !Number.isInteger(value)) throw new CharRnnError('bad-flag', `${flag} must be a whole number (got ${value})`);
  const lo = rule.min;
  const hi = rule.max;
  const tooLow = lo !== undefined && (rule.minExclusive ? value <= lo : value < lo);
  const tooHigh = hi !== undefined && (rule.maxExclusive ? value >= hi : value > hi);
  if (tooLow || tooHigh) {
    const range = `${lo === undefined ? '' : (rule.minExclusive ? '> ' : '≥ ') + lo}${lo !== undefined && hi !== undefined ? ' and ' : ''}${hi === undefined ? '' : (rule.maxExclusive ? '< ' : '≤ ') + hi}`;
    throw new CharRnnError('bad-flag', `${flag} must be ${range} (got ${value})`);
  }
}

// ---- starting and resuming a run: the rules the CLI and the playground share ----

/** The stopping limits. */
export const LIMIT_KEYS = ['maxIters', 'epochs', 'maxTime'] as const;

/**
 * What may change when a run is resumed: its stopping limits, its reporting and what to do on a
 * fault. Never the model, the data split, the batch or the maths: those would make the
 * checkpoint's weights, optimizer moments, carried state or data cursor mean something else.
 */
export const RESUMABLE_KEYS: ReadonlySet<keyof TrainConfig> = new Set<keyof TrainConfig>([
  ...LIMIT_KEYS, 'evalEvery', 'sampleEvery', 'sampleLength', 'sampleTemperature', 'onNan', 'maxRollbacks',
]);

/**
 * Stopping limits: given none, a run keeps `base`'s (the defaults, 180 s and at most 50 epochs,
 * for a new run; its own for a resumed one); given any, the ones not given are off.
 */
function withLimits(base: Partial<TrainConfig>, given: Partial<TrainConfig>): Partial<TrainConfig> {
  const out = { ...base, ...given };
  if (LIMIT_KEYS.some((k) => given[k] !== undefined)) for (const k of LIMIT_KEYS) out[k] = given[k] ?? 0;
  return out;
}

/** The configuration of a new run from the settings given (the CLI's flags, the page's knobs): resolveConfig's. */
export function newRunConfig(given: Partial<TrainConfig> = {}): TrainConfig {
  return resolveConfig(given);
}

/**
 * The configuration of a resumed run: the saved one, with the settings given applied where they
 * may change (RESUMABLE_KEYS). A setting that may not change and differs is a one-line
 * CharRnnError naming its flag; one equal to the saved value is accepted (the page sends every
 * knob it shows).
 */
export function resumeConfig(saved: TrainConfig, given: Partial<TrainConfig> = {}): TrainConfig {
  checkResumable(saved, given);
  return resolveConfig(withLimits(saved, given));
}

/** Throw if `given` changes a setting of `saved` that may not change on resume. */
export function checkResumable(saved: TrainConfig, given: Partial<TrainConfig>): void {
  for (const key of Object.keys(given) as (keyof TrainConfig)[]) {
    if (given[key] === undefined || RESUMABLE_KEYS.has(key) || given[key] === saved[key]) continue;
    if (!(key in RULES)) throw new CharRnnError('bad-flag', `unknown setting ${flagName(key)}`);
    throw new CharRnnError('bad-flag', `${flagName(key)} cannot change when resuming: the run has ${flagName(key)} ${String(saved[key])} (got ${String(given[key])}); start a new run to change it`);
  }
}

/**
 * Can `resume` continue on this corpus with this config? The corpus must have exactly the run's
 * vocabulary (ids index the embedding and the decoder), and the config may differ only where
 * resumeConfig allows (the batch, say, is the shape of the carried state and the data cursor).
 * Throws a one-line CharRnnError; the Trainer calls it, and a CLI may call it before touching files.
 */
export function checkResume(resume: CheckpointData, config: TrainConfig, corpus: Pick<Corpus, 'vocab'>): void {
  checkResumable(resume.config, config);
  const a = resume.vocab.symbols;
  const b = corpus.vocab.symbols;
  if (a.length === b.length && a.every((x, i) => x === b[i])) return;
  const had = new Set(a);
  const now = new Set(b);
  const added = b.filter((x) => !had.has(x)).map((x) => String.fromCodePoint(x));
  const gone = a.filter((x) => !now.has(x)).map((x) => String.fromCodePoint(x));
  const diff = added.length > 0 ? `; ${describeChars(added)} new` : gone.length > 0 ? `; ${describeChars(gone)} missing` : '';
  throw new CharRnnError('cannot-resume', `the text's characters differ from the run's vocabulary (${b.length} vs ${a.length} symbols${diff}); resume with the run's own text, or start a new run`);
}

/** Items shown per sample while training a lines model. */
