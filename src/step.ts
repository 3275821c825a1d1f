/**
 * The training step, once, for every backend and every caller (the Trainer, the budget rule's
 * speed gauge):
 *
 *   zero grads → forward (loss += into a view) → backward → ‖g‖ into a view
 *   → optimizer update, clipped from that view and skipped if ‖g‖ is not finite
 *   → carry the hidden state into the next window → flush (a GPU submits the window)
 *
 * Nothing is read back here: the step's numbers (its loss sum, ‖g‖, whether it was finite) stay in
 * the backend's views (StepWords) and are read by `StepWords.read()` where the caller logs them:
 * every step on host memory (js, wasm: a read costs nothing), at evaluations on a GPU, where a read
 * waits for the device. That is nanoGPT's `loss.item()` only at log points, with host memory as a
 * device of zero lag; what lags on a GPU, and by how much, is in docs/reliability.md.
 */
import { ArenaPlan, type Arena } from './arena.js';
import type { Backend, FloatArray } from './backend/types.js';
import { clipViews, normArgs, type ClipConfig, type Optimizer } from './optim.js';
import type { CharRNN, Workspace } from './model/model.js';
import type { Rng } from './rng.js';

/**
 * How a read watches the training loss, for both engines (python/charrnn_torch.py reads these
 * from torch.json): the running average keeps `smoothing` of itself per step; a read whose loss
 * is over `explode`× that average warns once ('loss exploding'), and the warning stays in force
 * until the loss is back under `calm`× the average.
 */
export const LOSS_WATCH = { smoothing: 0.98, explode: 3, calm: 1.5 } as const;

/** What a read brings back: the steps since the last read, together. */
export interface StepNumbers {
  /** Steps and predicted characters since the last read. */
  steps: number;
  chars: number;
  /** Σ of the steps' loss sums (nats), and so their mean loss per character. */
  lossSum: number;
  loss: number;
  /** ‖g‖ of the last step, before clipping. */
  gradNorm: number;
  /** Steps whose ‖g‖ was not finite (their updates were skipped). */
  nonFinite: number;
}

/** The words on the backend that training steps add to between reads, and the host's count of those steps. */
export class StepWords {
  /** (1) Σ of the windows' loss sums since the last read. */
  readonly loss: FloatArray;
  /** (2) gradientNorm's (‖g‖, scale) of the last step: the update kernel clips from it. */
  readonly clip: FloatArray;
  /** (2) steps with a non-finite ‖g‖ since the last read, and the last ‖g‖. */
  readonly flags: FloatArray;
  /** Steps and predicted characters recorded since the last read (host counts: the host wrote the targets). */
  steps = 0;
  chars = 0;
  private readonly arena: Arena;

  constructor(private readonly be: Backend, dtype: 'float32' | 'float64' = 'float32') {
    const plan = new ArenaPlan(dtype);
    const sLoss = plan.floats(1);
    const sClip = plan.floats(2);
    const sFlags = plan.floats(2);
    const arena = (this.arena = plan.allocate(be));
    this.loss = arena.floats(sLoss);
    this.clip = arena.floats(sClip);
    this.flags = arena.floats(sFlags);
  }

  /**
   * Bring the numbers of the steps since the last read back, together with `also` (weights,
   * moments, state: one transfer on a GPU), and start counting again.
   */
  async read(also: readonly FloatArray[] = []): Promise<StepNumbers> {
    await this.be.download([this.loss, this.flags, ...also]);
    const { steps, chars } = this;
    const lossSum = this.loss[0];
    const out: StepNumbers = { steps, chars, lossSum, loss: chars > 0 ? lossSum / chars : NaN, gradNorm: this.flags[1], nonFinite: this.flags[0] };
    this.be.fill(1, this.loss, 0);
    this.be.fill(1, this.flags, 0); // flags[1], the last ‖g‖, is written by every step
    this.steps = 0;
    this.chars = 0;
    return out;
  }

  dispose(): void {
    this.arena.dispose();
  }
}

/** What a step runs on: the model, its window, its optimizer. */
export interface StepParts {
  model: CharRNN;
  ws: Workspace;
  optimizer: Optimizer;
}

/**
 * One training step on the window already in `ws` (a WindowSource filled it), at learning rate
 * `lr`, drawing dropout masks from `rng`; its numbers go to `words` (see the header). Returns
 * the characters it predicted (B·T, less a lines window's padding).
 */
export function trainStep({ model, ws, optimizer }: StepParts, clip: ClipConfig, lr: number, rng: Rng, words: StepWords): number {
  const be = model.backend;
  model.zeroGrad();
  const chars = model.forward(ws, { train: true, rng, into: words.loss });
  model.backward(ws);
  const { clip: bound, byNorm } = normArgs(clip);
  be.gradientNorm(model.numParams, model.grads, bound, byNorm, words.clip, words.flags);
  optimizer.step(lr, clipViews(clip, words.clip));
  ws.carryState();
  be.flush();
  words.steps++;
  words.chars += chars;
  return chars;
}
