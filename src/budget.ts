/**
 * Model size for the budget: when a new run is given no shape, choose one from what the run can
 * afford. What a user waits for is the loss at the end of the budget, and a bigger model learns
 * more per character but trains fewer of them, so the best size grows with the budget (as it does
 * for transformers: Hoffmann et al., "Training Compute-Optimal Large Language Models", 2022).
 *
 * For each candidate shape s of SHAPES (smallest first):
 *
 *   C(s) = characters the run will train on:
 *            speed(s) · maxTime · (1 − EVAL_SHARE)      under --max-time, speed(s) measured on
 *                                                       this engine by real steps (about 0.3 s a shape)
 *            min(maxIters · B · T, epochs · trainChars)  under the other limits (whichever is smaller)
 *   affordable(s) ⇔ C(s) ≥ CHARS_PER_PARAM · params(s)          enough text per weight for the time
 *                 ∧ C(s) ≥ MIN_STEPS · B · T                         enough optimizer steps to get anywhere
 *                 ∧ params(s) ≤ PARAMS_PER_TRAIN_CHAR · trainChars   a small corpus cannot feed a big model
 *
 * and the run takes the largest affordable shape (the first when none is). Dropout then follows
 * from how often the model will see each character, E = C / trainChars epochs, and from how many
 * weights it has per character to remember them with, R = params / trainChars:
 *
 *   dropout = 0 for E < DROPOUT_EPOCHS, else
 *             min(DROPOUT_MAX, DROPOUT_BASE + DROPOUT_STEP · log2(E / DROPOUT_EPOCHS) + DROPOUT_PER_R · log2(max(1, R)))
 *
 * Explicit flags always win: given --layers, --hidden, --embed or --model, the rule does not choose a
 * shape (the rest keep their defaults); given --dropout, it does not choose dropout. The chosen
 * values are written into the config like any flag, so the checkpoint holds them and a resumed
 * run keeps them. The constants were measured at fixed wall time (docs/guide.md, "The budget").
 */
import type { Backend } from './backend/types.js';
import { modelConfigOf } from './checkpoint.js';
import { flagName, type TrainConfig } from './config.js';
import { CharRNN, paramSpecs, Workspace } from './model/model.js';
import { Optimizer } from './optim.js';
import { Rng } from './rng.js';
import { StepWords, trainStep } from './step.js';

export interface Shape {
  layers: number;
  hidden: number;
}

/** The candidates, smallest first; the first is char-rnn's default (2×128). */
export const SHAPES: readonly Shape[] = [
  { layers: 2, hidden: 128 },
  { layers: 2, hidden: 192 },
  { layers: 2, hidden: 256 },
  { layers: 2, hidden: 384 },
  { layers: 2, hidden: 512 },
  { layers: 3, hidden: 512 },
];

/**
 * Characters trained per parameter the budget must allow for a shape to be chosen. Measured at
 * fixed wall time on tiny Shakespeare with the native engine (docs/guide.md, "The budget"): at
 * 600 s on two threads 2×512 (2.4 chars per parameter, 4,570 steps) beat 2×384 (7.4) by 0.015
 * nats, where the 3 this was before kept 2×384; at 300 s 2×384 (3.4) beat 2×256 (14) by 0.015.
 * Below 2 nothing was measured with enough steps (at 300 s 2×512 had 1.2 of them and 2,290 steps,
 * and MIN_STEPS rules it out). The 8 of an engine a third as fast came from 2×256 at 4.5 losing
 * to 2×192 at 12, on too few steps.
 */
export const CHARS_PER_PARAM = 2;
/**
 * Optimizer steps (windows of B × T) the budget must allow for a shape to be chosen. In the same
 * grid (orthogonal init) every shape given about 2,300 steps or fewer lost to the one below it:
 * 2×256 at 150 s on one thread (2,200 steps) to 2×192 (3,800), 2×384 at 150 s (2,000) and 2×512
 * at 300 s (2,250) on two to the shape below (3,800 each). Characters per parameter alone cannot
 * see this: 2×256 at 150 s on one thread had 4.2 of them and lost by 0.015 nats, and with the
 * uniform init (4.4 of them, 2,310 steps) by 0.025. (With the uniform init at 300 s, 2×512 on two
 * threads (2,290 steps) and 2×384 on one (2,200) ended 0.007 and 0.005 below the rule's pick:
 * within the 0.01 the rule is held to.)
 */
export const MIN_STEPS = 3000;
/** At most this many parameters per training character. */
export const PARAMS_PER_TRAIN_CHAR = 4;
/**
 * The share of a --max-time budget that evaluations and checkpoints take, with evaluations over
 * the whole validation split. --eval-chars shrinks the real share (intermediate evaluations read
 * only the first N characters); the constant is left as measured for the default.
 */
export const EVAL_SHARE = 0.05;
/** Dropout starts, at DROPOUT_BASE, once the model will see the text this many times (at 6 epochs, 0.2 only slowed learning). */
export const DROPOUT_EPOCHS = 10;
export const DROPOUT_BASE = 0.1;
/** … and rises by this much each time the epochs double, … */
export const DROPOUT_STEP = 0.05;
/**
 * … and by this much each time the parameters per training character double above 1, up to
 * DROPOUT_MAX: a bigger model memorises the same text sooner. Measured at 1,800 s on tiny
 * Shakespeare (docs/guide.md): LSTM 2×512 (3.3 parameters per character) at 21 epochs ended
 * 1.3846 nats/char with the 0.15 the epochs alone gave, and 1.3757 on average (4 runs) with the
 * 0.29–0.3 this term adds up to; while 2×256 (0.87 per character) at 600 s and 23 epochs, given
 * 0.27, ended above its own 300 s run (1.4177 against 1.4146 with 0.1).
 */
export const DROPOUT_PER_R = 0.075;
/**
 * The cap: at that 2×512 run, 0.25 ended 1.3705 on average (3 runs, 1.3679–1.3737), below the
 * 0.29–0.3 of the term (1.3706–1.3815).
 */
export const DROPOUT_MAX = 0.25;

/** The settings the rule may choose. */
const SHAPE_KEYS = ['layers', 'hidden', 'embed', 'model'] as const;

export interface ModelChoice {
  shape: Shape | null; // null: the shape was given
  dropout: number | null; // null: --dropout was given
  /** Characters the budget trains the chosen model on (estimated), and the epochs that makes. */
  chars: number;
  epochs: number;
  /** One line for the user: "LSTM 2×256 chosen for 300 s on 1.1 M chars (…)". */
  line: string;
}

/** A new run's config after the rule, and what it chose (null: nothing, all was given or nothing bounds the run). */
export interface ModelPlan {
  config: TrainConfig;
  choice: ModelChoice | null;
}

/** Whether the rule applies: a new run of our stacked models with no shape or no dropout given. */
export function choosesModel(given: Partial<TrainConfig>): boolean {
  return SHAPE_KEYS.every((k) => given[k] === undefined) || given.dropout === undefined;
}

/** Parameters of a config for a vocabulary of V, as CharRNN lays them out. */
export function paramCount(c: TrainConfig, V: number): number {
  return paramSpecs(modelConfigOf(c, V)).reduce((n, s) => n + s.size, 0);
}

/** The speed gauge's untimed steps and its timed rounds (measureSpeed). */
export const WARMUP_STEPS = 2;
export const ROUNDS = 3;

/**
 * Characters per second of training steps of `config` on `backend` (B × T windows of `ids`), the
 * trainer's own step (src/step.ts): WARMUP_STEPS untimed steps (on a GPU they compile the kernels;
 * on a CPU they touch the fresh workspace's pages), then ROUNDS timings of about `seconds` / ROUNDS
 * each (at least one step), and the fastest of them. Why the fastest: a round can only be slowed
 * (a garbage collection, page faults, another process), never sped up, and one slow step in a
 * single short timing once halved a shape's estimate and made the rule keep a smaller one. Each
 * step is waited for as training waits (settle: a GPU at most a couple of windows ahead), and each
 * round ends with a read, so its clock includes the device's work.
 */
export async function measureSpeed(backend: Backend, config: TrainConfig, V: number, ids: ArrayLike<number>, now: () => number, seconds = 0.3): Promise<number> {
  const model = new CharRNN(modelConfigOf(config, V), backend);
  const optimizer = new Optimizer(model, config);
  const ws = new Workspace(model, config.batch, config.seqLen, { training: true });
  const words = new StepWords(backend);
  const rng = new Rng(2);
  const chars = config.batch * config.seqLen;
  try {
    model.init(new Rng(1), 'uniform'); // only the speed is wanted: the cheapest init (orthogonal blocks take ~1 s a 512-wide layer) runs the same steps
    for (let i = 0; i < chars; i++) {
      ws.inputs[i] = ids[i % ids.length];
      ws.targets[i] = ids[(i + 1) % ids.length];
    }
    const step = (): void => {
      ws.idsWritten(); // as the trainer's window source does every step
      trainStep({ model, ws, optimizer }, config, config.lr, rng, words);
    };
    for (let i = 0; i < WARMUP_STEPS; i++) step();
    await words.read(); // the warm-up, not timed
    let best = 0;
    for (let r = 0; r < ROUNDS; r++) {
      let n = 0;
      const t0 = now();
      while (n < 1 || now() - t0 < seconds / ROUNDS) {
        step();
        await backend.settle();
        n++;
      }
      await words.read();
      best = Math.max(best, (n * chars) / Math.max(1e-9, now() - t0));
    }
    return best;
  } finally {
    words.dispose();
    ws.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

/** What the rule needs to know of the run: its config (defaults filled), the corpus, and a speed gauge. */
export interface BudgetInput {
  given: Partial<TrainConfig>;
  config: TrainConfig;
  vocabSize: number;
  trainChars: number;
  /** Training chars/s of a config on this engine (measureSpeed), asked only under --max-time. */
  speed: (config: TrainConfig) => Promise<number>;
}

/**
 * The budget in characters for a config, and the limit that sets it: under --max-time from its
 * speed, else from the iteration and epoch limits (the smallest wins); null: no limit.
 */
function budgetChars(c: TrainConfig, trainChars: number, speed: number): { chars: number; by: string } | null {
  const limits: Array<{ chars: number; by: string }> = [];
  if (c.maxIters > 0) limits.push({ chars: c.maxIters * c.batch * c.seqLen, by: `${c.maxIters} iterations` });
  if (c.epochs > 0) limits.push({ chars: c.epochs * trainChars, by: `${c.epochs} epochs` });
  if (c.maxTime > 0) limits.push({ chars: speed * c.maxTime * (1 - EVAL_SHARE), by: fmtSeconds(c.maxTime) });
  return limits.length ? limits.reduce((a, b) => (b.chars < a.chars ? b : a)) : null;
}

/** Dropout for a run that sees its text `epochs` times with `paramsPerChar` parameters per training character. */
export function dropoutFor(epochs: number, paramsPerChar: number): number {
  if (epochs < DROPOUT_EPOCHS) return 0;
  const p = DROPOUT_BASE + DROPOUT_STEP * Math.log2(epochs / DROPOUT_EPOCHS) + DROPOUT_PER_R * Math.log2(Math.max(1, paramsPerChar));
  return Math.min(DROPOUT_MAX, Math.round(p * 100) / 100);
}

/**
 * Choose the shape and dropout of a new run (see the header); returns the config with them set
 * and what was chosen, or the config as it is (choice null) when everything was given or the
 * run has no limit to size it by.
 */
export async function chooseModel(input: BudgetInput): Promise<ModelPlan> {
  const { given, config, vocabSize: V, trainChars } = input;
  if (!choosesModel(given)) return { config, choice: null };
  const pickShape = SHAPE_KEYS.every((k) => given[k] === undefined);
  const candidates = pickShape ? SHAPES : [{ layers: config.layers, hidden: config.hidden }];
  let best: { shape: Shape; params: number; chars: number; by: string } | null = null;
  for (const shape of candidates) {
    const c = { ...config, ...shape };
    const budget = budgetChars(c, trainChars, c.maxTime > 0 ? await input.speed(c) : 0); // the gauge runs only under --max-time
    if (budget === null) return { config, choice: null };
    const params = paramCount(c, V);
    const affordable = budget.chars >= CHARS_PER_PARAM * params && budget.chars >= MIN_STEPS * c.batch * c.seqLen && params <= PARAMS_PER_TRAIN_CHAR * trainChars;
    if (!best || affordable) best = { shape, params, ...budget };
    if (!affordable) break; // bigger shapes are slower and larger still
  }
  const { shape, params, chars, by } = best!;
  const epochs = chars / Math.max(1, trainChars);
  const dropout = given.dropout === undefined && shape.layers > 1 ? dropoutFor(epochs, params / Math.max(1, trainChars)) : null;
  const out: TrainConfig = { ...config, ...shape, ...(dropout === null ? {} : { dropout }) };
  const name = `${out.model.toUpperCase()} ${out.layers}×${out.hidden}${dropout ? `, dropout ${dropout}` : ''}`;
  const line = `${name} ${pickShape ? 'chosen' : 'kept'} for ${by} on ${fmtChars(trainChars)} chars (about ${epochs < 10 ? epochs.toFixed(1) : Math.round(epochs)} epochs; ${flagName('hidden')}, ${flagName('layers')}, ${flagName('dropout')} override)`;
  return { config: out, choice: { shape: pickShape ? shape : null, dropout, chars, epochs, line } };
}

function fmtSeconds(s: number): string {
  return s >= 3600 && s % 3600 === 0 ? `${s / 3600} h` : s >= 600 && s % 60 === 0 ? `${s / 60} min` : `${s} s`;
}

/** A count of characters for people: 950, 48 K, 1.2 M. */
export function fmtChars(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${Math.round(n / 1e3)} K` : `${Math.round(n)}`;
}
