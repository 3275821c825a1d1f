/**
 * Every knob of a training run, with its default, in one table (as nanoGPT keeps them in one
 * list): its rule, a label in words, a group and its one-line help beside it. The CLI
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

// ---- the knob table: each knob once (default, rule, label in words, group, one-line help) ----

/** Where a knob sits in the page's Advanced group (and what it is about). */
export const KNOB_GROUPS = {
  model: 'The model',
  data: 'Text, batches and seed',
  optimizer: 'Optimizer',
  schedule: 'Learning-rate schedule',
  stopping: 'When to stop',
  reporting: 'Progress reports',
  faults: 'Faults',
} as const;
export type KnobGroup = keyof typeof KNOB_GROUPS;

/** The range of a number knob: whole or not, and its bounds (inclusive unless said). */
export interface NumberRule { int?: boolean; min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }

interface KnobText<V> {
  default: V;
  group: KnobGroup;
  /** A few words for people who do not read flags ("Units per layer"). */
  label: string;
  /** One line, the CLI's --help text. */
  help: string;
}
export type NumberKnob = KnobText<number> & { kind: 'number'; rule: NumberRule };
export type ChoiceKnob<C extends string = string> = KnobText<C> & { kind: 'choice'; choices: readonly C[] };
export type SwitchKnob = KnobText<boolean> & { kind: 'switch' };
export type Knob = NumberKnob | ChoiceKnob | SwitchKnob;

const num = (group: KnobGroup, def: number, rule: NumberRule, label: string, help: string): NumberKnob => ({ kind: 'number', default: def, rule, group, label, help });
const choice = <const C extends string>(group: KnobGroup, def: NoInfer<C>, choices: readonly C[], label: string, help: string): ChoiceKnob<C> => ({ kind: 'choice', default: def, choices, group, label, help });
const on = (group: KnobGroup, def: boolean, label: string, help: string): SwitchKnob => ({ kind: 'switch', default: def, group, label, help });
const unit = { min: 0, max: 1, maxExclusive: true }; // 0 ≤ p < 1

/**
 * Every knob of a training run. The CLI's flags, help and parsing (cli/main.ts), DEFAULT_CONFIG,
 * the validation in resolveConfig and the playground's Advanced group (web/knobs.ts) are all read
 * from here: a new knob is one line below.
 */
const TABLE = {
  model: choice('model', 'lstm', ['rnn', 'lstm', 'gru'], 'Cell type', 'cell type: rnn, lstm or gru'),
  layers: num('model', 2, { int: true, min: 1, max: 64 }, 'Layers', 'number of stacked recurrent layers'),
  hidden: num('model', 128, { int: true, min: 1, max: 16384 }, 'Units per layer', 'hidden units per layer'),
  embed: num('model', 64, { int: true, min: 0, max: 16384 }, 'Embedding width', 'embedding width; 0 = one-hot input (as min-char-rnn)'),
  dropout: num('model', 0, unit, 'Dropout', 'dropout between layers, 0 ≤ p < 1'),
  embedDropout: num('model', 0, unit, 'Embedding dropout', 'dropout on the embedded input characters when training (needs --embed > 0), 0 ≤ p < 1'),
  weightDrop: num('model', 0, unit, 'Recurrent weight dropout', 'dropout between time steps: each layer\'s recurrent weights W_hh dropped when training (DropConnect, as AWD-LSTM\'s weight drop), one mask a window shared by every step, 0 ≤ p < 1'),
  init: choice('model', 'uniform', ['uniform', 'orthogonal'], 'Recurrent initialisation', 'recurrent (hidden-to-hidden) weights: uniform (PyTorch\'s U(±1/√H)) or orthogonal (each gate\'s H×H block a random orthogonal matrix: lower loss on tiny Shakespeare, higher on Markdown; docs/guide.md)'),
  valFrac: num('data', 0.05, { ...unit, minExclusive: true }, 'Validation share', 'fraction of the text (after the training part) for validation'),
  testFrac: num('data', 0.05, unit, 'Test share', 'fraction of the text (at the end) held out for testing'),
  batch: num('data', 32, { int: true, min: 1, max: 100000 }, 'Streams per batch', 'parallel streams per batch (B)'),
  seqLen: num('data', 50, { int: true, min: 1, max: 100000 }, 'Characters per window', 'characters per window, the truncated-BPTT length (T)'),
  lines: on('data', false, 'One item per line', 'one item per non-empty line (names, titles): items shuffled into the streams, each from the zero state, ending at its newline; split by items'),
  optimizer: choice('optimizer', 'adam', ['adam', 'rmsprop', 'adagrad', 'sgd'], 'Optimizer', 'adam, rmsprop, adagrad or sgd (with momentum)'),
  lr: num('optimizer', 8e-3, { min: 0, minExclusive: true, max: 100 }, 'Learning rate', 'learning rate'),
  lrSchedule: choice('schedule', 'cosine', ['step', 'cosine', 'linear'], 'Schedule', 'step (× --lr-decay each epoch, char-rnn), or cosine / linear: warm up, then decay to --lr-final × --lr at the end of the budget (--max-iters, --epochs, or --max-time estimated from the measured speed)'),
  lrDecay: num('schedule', 0.97, { min: 0, minExclusive: true, max: 1 }, 'Decay per epoch', 'step schedule: multiply the learning rate by this after each epoch ≥ --lr-decay-after'),
  lrDecayAfter: num('schedule', 10, { int: true, min: 0 }, 'Decay from epoch', 'step schedule: epoch after which the learning rate decays'),
  warmup: num('schedule', 100, { int: true, min: 0 }, 'Warm-up iterations', 'cosine/linear schedule: iterations of linear warm-up'),
  lrFinal: num('schedule', 0.01, { min: 0, max: 1 }, 'Final rate (share of the peak)', 'cosine/linear schedule: the final learning rate as a fraction of --lr'),
  weightDecay: num('optimizer', 0, { min: 0 }, 'Weight decay', 'weight decay; how it applies: --weight-decay-mode'),
  weightDecayMode: choice('optimizer', 'l2', ['l2', 'decoupled'], 'Weight decay kind', 'l2 (wd·p added to the gradient, torch.optim.Adam\'s weight_decay) or decoupled (p ← p·(1 − lr·wd) before each update, AdamW\'s)'),
  clip: num('optimizer', 5, { min: 0 }, 'Gradient clipping', 'gradient clipping threshold; 0 = off'),
  clipMode: choice('optimizer', 'norm', ['norm', 'value'], 'Clipping mode', 'norm (rescale the global gradient norm) or value (clamp each to ±clip)'),
  beta1: num('optimizer', 0.9, unit, 'Adam β1', 'Adam β1'),
  beta2: num('optimizer', 0.999, unit, 'Adam β2', 'Adam β2'),
  eps: num('optimizer', 1e-8, { min: 0, minExclusive: true }, 'Optimizer ε', 'ε of Adam, RMSprop and Adagrad'),
  alpha: num('optimizer', 0.95, unit, 'RMSprop smoothing', 'RMSprop smoothing constant'),
  momentum: num('optimizer', 0.9, unit, 'SGD momentum', 'SGD momentum'),
  ema: num('optimizer', 0, unit, 'Weight averaging (EMA decay)', 'decay of an exponential moving average of the weights, used for validation, samples and best.safetensors (training goes on with the raw weights); 0 = off, 0 ≤ d < 1, e.g. 0.999'),
  maxIters: num('stopping', 0, { int: true, min: 0 }, 'Stop after iterations', 'stop after this many iterations; 0 = no limit'),
  epochs: num('stopping', 50, { min: 0 }, 'Stop after epochs', 'stop after this many epochs; 0 = no limit'),
  maxTime: num('stopping', 180, { min: 0 }, 'Stop after seconds', 'stop after this many seconds; 0 = no limit (the default applies when no limit is given at all)'),
  evalEvery: num('reporting', 200, { int: true, min: 1 }, 'Validate every (iterations)', 'iterations between validation passes and checkpoints'),
  evalChars: num('reporting', 0, { int: true, min: 0 }, 'Validate on characters', 'evaluations during training use only the first N characters of the validation split (at least one window); the final evaluation always the whole split; 0 = always the whole split'),
  sampleEvery: num('reporting', 200, { int: true, min: 0 }, 'Sample every (iterations)', 'iterations between samples shown while training; 0 = never'),
  sampleLength: num('reporting', 200, { int: true, min: 0, max: 1e7 }, 'Sample length', 'length of those samples'),
  sampleTemperature: num('reporting', 0.8, { min: 0, max: 100 }, 'Sample temperature', 'temperature of those samples'),
  seed: num('data', 1337, { int: true, min: 0, max: 2 ** 32 - 1 }, 'Random seed', 'random seed (same seed, same run)'),
  onNan: choice('faults', 'stop', ['stop', 'rollback'], 'On a non-finite loss', 'on a non-finite loss or gradient: stop, or rollback (reload the last evaluation\'s state, halve --lr, continue)'),
  maxRollbacks: num('faults', 3, { int: true, min: 0, max: 1000 }, 'Rollbacks allowed', 'with --on-nan rollback: rollbacks allowed before stopping'),
};

/** A run's settings: one value per knob of the table, of the knob's type. */
export type TrainConfig = { -readonly [K in keyof typeof TABLE]: (typeof TABLE)[K]['default'] };
export type OptimizerName = TrainConfig['optimizer'];

/** A knob with its key and flag (lr → --lr, seqLen → --seq-len), in the table's order. */
export type KnobInfo = Knob & { key: keyof TrainConfig; flag: string };
export const KNOBS: readonly KnobInfo[] = Object.freeze((Object.keys(TABLE) as (keyof TrainConfig)[]).map((key) => Object.freeze({ ...(TABLE[key] as Knob), key, flag: flagName(key) })));

export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze(Object.fromEntries(KNOBS.map((k) => [k.key, k.default])) as TrainConfig);

/** lr → --lr, seqLen → --seq-len: how the CLI names a key, used in error messages. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** The knob of a key, or a one-line error naming the flag. */
export function knobOf(key: string): KnobInfo {
  const k = KNOBS.find((x) => x.key === key);
  if (!k) throw new CharRnnError('bad-flag', `unknown setting ${flagName(key)}`);
  return k;
}

/**
 * A number written by a person: a flag, a query parameter, a box of the page. Strict: "12abc",
 * "" and "NaN" are one-line errors naming it (`name`: "--lr", "length"). An empty page box means
 * "the default" — the caller checks for that before asking (knobFromText).
 */
export function parseNumber(name: string, text: string): number {
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(n)) throw new CharRnnError('bad-flag', `${name} must be a number (got ${JSON.stringify(text.slice(0, 40))})`);
  return n;
}

/**
 * A knob's value from text (a flag, a page box): a number by parseNumber, a choice as it is, a
 * switch from yes/no, true/false, on/off or 1/0. Empty text is undefined: the default (or the
 * budget's choice), never 0. The value is checked by resolveConfig, not here.
 */
export function knobFromText(key: keyof TrainConfig, text: string): TrainConfig[typeof key] | undefined {
  const k = knobOf(key);
  const t = text.trim();
  if (t === '') return undefined;
  if (k.kind === 'number') return parseNumber(k.flag, t);
  if (k.kind === 'choice') return t as TrainConfig[typeof key]; // checked against its choices by resolveConfig
  const yes = ['yes', 'true', 'on', '1'].includes(t.toLowerCase());
  if (!yes && !['no', 'false', 'off', '0'].includes(t.toLowerCase())) throw new CharRnnError('bad-flag', `${k.flag} is a switch: yes or no (got ${JSON.stringify(t.slice(0, 40))})`);
  return yes;
}

/** A knob's value as a page box shows it (the inverse of knobFromText). */
export function knobToText(key: keyof TrainConfig, value: string | number | boolean): string {
  return knobOf(key).kind === 'switch' ? (value ? 'yes' : 'no') : String(value);
}

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
    knobOf(key);
    if (value !== undefined) (cfg as unknown as Record<string, unknown>)[key] = value;
  }
  for (const k of KNOBS) checkValue(k, cfg[k.key]);
  if (cfg.valFrac + cfg.testFrac >= 1) {
    throw new CharRnnError('bad-flag', `--val-frac plus --test-frac must be below 1 (got ${cfg.valFrac} + ${cfg.testFrac}); leave some text to train on`);
  }
  if (cfg.embedDropout > 0 && cfg.embed === 0) {
    throw new CharRnnError('bad-flag', `--embed-dropout ${cfg.embedDropout} drops embedded characters, but --embed 0 means one-hot input: give --embed > 0 or --embed-dropout 0`);
  }
  return cfg;
}

function checkValue(knob: KnobInfo, value: unknown): void {
  const { flag } = knob;
  if (knob.kind === 'switch') {
    if (typeof value !== 'boolean') throw new CharRnnError('bad-flag', `${flag} is a switch: true or false (got ${JSON.stringify(value)})`);
    return;
  }
  if (knob.kind === 'choice') {
    if (typeof value !== 'string' || !knob.choices.includes(value)) {
      throw new CharRnnError('bad-flag', `${flag} must be one of ${knob.choices.join(', ')} (got ${JSON.stringify(value)})`);
    }
    return;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new CharRnnError('bad-flag', `${flag} must be a number (got ${JSON.stringify(value)})`);
  }
  const { rule } = knob;
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
  ...LIMIT_KEYS, 'evalEvery', 'evalChars', 'sampleEvery', 'sampleLength', 'sampleTemperature', 'onNan', 'maxRollbacks',
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
    knobOf(key);
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
