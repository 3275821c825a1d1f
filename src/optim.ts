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

export type OptimConfig = Pick<TrainConfig, 'optimizer' | 'weightDecay' | 'beta1' | 'beta2' | 'eps' | 'alpha' | 'momentum'>;

export type ClipConfig = Pick<TrainConfig, 'clip' | 'clipMode'>;

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
  /** Number of updates applied so far (Adam's bias correction uses it). */
  t = 0;
  private readonly arena: Arena;

  constructor(readonly model: CharRNN, readonly cfg: OptimConfig) {
    const plan = new ArenaPlan(model.dtype);
    const sm = plan.floats(model.numParams);
    const sv = plan.floats(model.numParams);
    const arena = (this.arena = plan.allocate(model.backend));
    this.m = arena.floats(sm);
    this.v = arena.floats(sv);
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
    const wd = cfg.weightDecay;
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
    model.paramsChanged('kernel');
  }
}
