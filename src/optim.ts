/**
 * Optimizers over the model's flat parameter arena. The moment buffers have exactly the layout of
 * `params` and `grads`, so each update is one kernel call over all P numbers.
 *
 * Clipping, by global norm (rescale all gradients so ‖g‖ ≤ clip, char-rnn / torch-rnn) or by
 * value (clamp each to ±clip, min-char-rnn), happens on the way into the update, on every
 * backend the same way: gradientNorm leaves (‖g‖, scale) in a view, and the update kernel reads
 * that pair (ClipViews), scales or clamps, and skips the update when ‖g‖ is not finite. Nothing
 * is read back, so a GPU keeps going; the trainer reads ‖g‖ where it logs it (src/step.ts).
 */
import { ArenaPlan, type Arena } from './arena.js';
import type { Backend, ClipViews, FloatArray } from './backend/types.js';
import type { TrainConfig } from './config.js';
import type { CharRNN } from './model/model.js';

export type OptimConfig = Pick<TrainConfig, 'optimizer' | 'weightDecay' | 'weightDecayMode' | 'beta1' | 'beta2' | 'eps' | 'alpha' | 'momentum' | 'ema'>;

export type ClipConfig = Pick<TrainConfig, 'clip' | 'clipMode'>;

/**
 * The decay of the weights' moving average at optimizer step t (1 at the first step): the knob
 * `ema`, held lower early on (the usual warm-up, TensorFlow's num_updates rule) so that the
 * first evaluations are not dominated by the random initialisation. python/charrnn_torch.py
 * computes the same.
 */
export function emaDecay(ema: number, t: number): number {
  return Math.min(ema, (1 + t) / (10 + t));
}

/** What clipGradients did: the global norm ‖g‖ before clipping, and how the gradient was changed. */
export interface Clipped {
  norm: number;
  /** 'none': within bounds, clipping off, or a non-finite norm (the gradient must then not be applied). */
  action: 'none' | 'scaled' | 'clamped';
}

/** gradientNorm's arguments for a clip config: the bound, and whether it bounds the norm. */
export function normArgs(cfg: ClipConfig): { clip: number; byNorm: boolean } {
  return { clip: cfg.clip, byNorm: cfg.clipMode === 'norm' };
}

/** What the update kernel clips by, given gradientNorm's (‖g‖, scale) pair in `factor`: by value, the clamp bound (0: none). */
export function clipViews(cfg: ClipConfig, factor: FloatArray): ClipViews {
  return { factor, hi: cfg.clipMode === 'value' && cfg.clip > 0 ? cfg.clip : 0 };
}

/**
 * Clip the gradient g (P) in place, on its own (the trainer clips inside the update instead):
 *   norm:  g ← g · clip / ‖g‖   when ‖g‖ > clip        (the direction is kept)
 *   value: g_i ← max(−clip, min(clip, g_i))           (each element on its own)
 * Reads ‖g‖ back once, so it works on any backend.
 */
export async function clipGradients(be: Backend, P: number, g: FloatArray, cfg: ClipConfig): Promise<Clipped> {
  const plan = new ArenaPlan(g instanceof Float64Array ? 'float64' : 'float32');
  const sOut = plan.floats(2);
  const sFlags = plan.floats(2);
  const arena = plan.allocate(be);
  try {
    const out = arena.floats(sOut);
    const { clip, byNorm } = normArgs(cfg);
    be.gradientNorm(P, g, clip, byNorm, out, arena.floats(sFlags));
    await be.download([out]);
    const norm = out[0];
    if (!Number.isFinite(norm) || cfg.clip <= 0) return { norm, action: 'none' };
    if (byNorm) {
      if (norm <= cfg.clip) return { norm, action: 'none' };
      be.scale(P, g, out[1]);
      return { norm, action: 'scaled' };
    }
    be.clamp(P, g, -cfg.clip, cfg.clip);
    return { norm, action: 'clamped' };
  } finally {
    arena.dispose();
  }
}

export class Optimizer {
  /** First moment (adam) or momentum buffer (sgd); same layout as params. (P) */
  readonly m: FloatArray;
  /** Second moment (adam, rmsprop) or sum of squares (adagrad). (P) */
  readonly v: FloatArray;
  /**
   * With --ema (cfg.ema > 0): the moving average of the parameters, same layout as params, moved
   * after each applied update; else null. (P)
   */
  readonly ema: FloatArray | null;
  /** With --ema: where the raw parameters wait while the average stands in for them (withAverage). (P) */
  private readonly raw: FloatArray | null;
  /** Number of updates applied so far (Adam's bias correction uses it). */
  t = 0;
  private readonly arena: Arena;

  constructor(readonly model: CharRNN, readonly cfg: OptimConfig) {
    const plan = new ArenaPlan(model.dtype);
    const sm = plan.floats(model.numParams);
    const sv = plan.floats(model.numParams);
    const averaging = cfg.ema > 0;
    const sEma = averaging ? plan.floats(model.numParams) : null;
    const sRaw = averaging ? plan.floats(model.numParams) : null;
    const arena = (this.arena = plan.allocate(model.backend));
    this.m = arena.floats(sm);
    this.v = arena.floats(sv);
    this.ema = sEma ? arena.floats(sEma) : null;
    this.raw = sRaw ? arena.floats(sRaw) : null;
  }

  /** Start the moving average (if any) at the parameters as they are now: a new run's initial weights. */
  startAverage(): void {
    if (this.ema) this.model.backend.copy(this.model.numParams, this.model.params, this.ema);
  }

  /**
   * Run `fn` with the moving average standing in for the parameters (evaluation, samples), and
   * the raw parameters back afterwards; without --ema, just `fn`. On a device the host copy of
   * the parameters is fetched again at the end, as `fn` may have downloaded the average into it
   * and a checkpoint reads the raw weights from there.
   */
  async withAverage<T>(fn: () => Promise<T>): Promise<T> {
    const { ema, raw, model } = this;
    if (!ema || !raw) return fn();
    const be = model.backend;
    const P = model.numParams;
    be.copy(P, model.params, raw);
    be.copy(P, ema, model.params);
    model.paramsChanged('kernel');
    try {
      return await fn();
    } finally {
      be.copy(P, raw, model.params);
      model.paramsChanged('kernel');
      if (!be.hostMemory) await be.download([model.params]);
    }
  }

  /** Give the moment buffers' memory back to the backend; unusable afterwards. */
  dispose(): void {
    this.arena.dispose();
  }

  /**
   * Update the parameters from the gradients with learning rate lr, clipped on the way in by
   * `clip` (gradientNorm's views; see the header), or used as they are.
   */
  step(lr: number, clip?: ClipViews): void {
    const { model, cfg } = this;
    const k = model.backend;
    const P = model.numParams;
    const g = model.grads;
    const p = model.params;
    this.t++;
    // Decoupled decay (AdamW, Loshchilov & Hutter) shrinks the weights before the update and keeps
    // wd out of the gradient, so Adam's per-weight scaling does not weaken it where gradients are
    // large. It is a plain scale, not gated on a non-finite ‖g‖: such a step stops the run or rolls
    // it back (--on-nan), so the weights it leaves are never trained on. The torch engine does the same.
    const decoupled = cfg.weightDecayMode === 'decoupled';
    if (decoupled && cfg.weightDecay > 0) k.scale(P, p, 1 - lr * cfg.weightDecay);
    const wd = decoupled ? 0 : cfg.weightDecay;
    switch (cfg.optimizer) {
      case 'adam':
        k.adam(P, p, g, this.m, this.v, lr, cfg.beta1, cfg.beta2, cfg.eps, 1 - cfg.beta1 ** this.t, 1 - cfg.beta2 ** this.t, wd, clip);
        break;
      case 'rmsprop':
        k.rmsprop(P, p, g, this.v, lr, cfg.alpha, cfg.eps, wd, clip);
        break;
      case 'adagrad':
        k.adagrad(P, p, g, this.v, lr, cfg.eps, wd, clip);
        break;
      case 'sgd':
        k.sgd(P, p, g, this.m, lr, cfg.momentum, wd, this.t === 1, clip);
        break;
    }
    if (this.ema) k.emaUpdate(P, this.ema, p, emaDecay(cfg.ema, this.t), clip?.factor); // skipped with the update
    model.paramsChanged('kernel');
  }
}
