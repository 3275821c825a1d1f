/**
 * Optimizers over the model's flat parameter arena. The moment buffers have exactly the layout of
 * `params` and `grads`, so each update is one kernel call over all P numbers.
 *
 * Clipping is its own step, before the update (clipGradients): by global norm (rescale all
 * gradients so ‖g‖ ≤ clip, char-rnn / torch-rnn) or by value (clamp each to ±clip,
 * min-char-rnn). It reports the norm before clipping and what it did; a gradient whose norm is
 * not finite is left as it is, and the trainer then never applies it.
 *
 * On a lagging backend (webgpu) the norm never comes back to the host: gradientNorm leaves
 * (‖g‖, scale) on the device and step(lr, clip) hands that pair to the update kernel, which
 * scales or clamps on the way in and skips the update when ‖g‖ is not finite (types.ts).
 */
import { ArenaPlan, type Arena } from './arena.js';
import { isLagging, type Backend, type ClipViews, type FloatArray, type LaggingBackend } from './backend/types.js';
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

/**
 * Clip the gradient g (P) in place:
 *   norm:  g ← g · clip / ‖g‖   when ‖g‖ > clip        (the direction is kept)
 *   value: g_i ← max(−clip, min(clip, g_i))           (each element on its own)
 */
export function clipGradients(be: Backend, P: number, g: FloatArray, cfg: ClipConfig): Clipped {
  const norm = Math.sqrt(be.sumSquares(P, g));
  if (!Number.isFinite(norm) || cfg.clip <= 0) return { norm, action: 'none' };
  if (cfg.clipMode === 'norm') {
    if (norm <= cfg.clip) return { norm, action: 'none' };
    be.scale(P, g, cfg.clip / norm);
    return { norm, action: 'scaled' };
  }
  be.clamp(P, g, -cfg.clip, cfg.clip);
  return { norm, action: 'clamped' };
}

/**
 * clipGradients for a lagging backend, where ‖g‖ stays on the device: what the update kernel
 * needs, given gradientNorm's (‖g‖, scale) pair in `factor` (norm clipping is in the scale; by
 * value, the clamp bound; clip 0: neither).
 */
export function deviceClip(cfg: ClipConfig, factor: FloatArray): ClipViews {
  return { factor, hi: cfg.clipMode === 'value' && cfg.clip > 0 ? cfg.clip : 0 };
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
   * Update the parameters from the gradients with learning rate lr: already clipped by
   * clipGradients, or (a lagging backend) clipped inside the update by `clip`.
   */
  step(lr: number, clip?: ClipViews): void {
    const { model, cfg } = this;
    const be = model.backend;
    if (clip && !isLagging(be)) throw new Error('clipping inside the update needs a lagging backend; use clipGradients');
    const k = be as LaggingBackend; // the kernels' trailing `clip` is undefined unless lagging
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
    model.paramsUpdated();
  }
}
