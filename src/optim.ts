/**
 * Optimizers over the model's flat parameter arena. The moment buffers have exactly the layout of
 * `params` and `grads`, so each update is one kernel call over all P numbers.
 *
 * Clipping happens first: by global norm (rescale all gradients so ‖g‖ ≤ clip, char-rnn /
 * torch-rnn) or by value (clamp each to ±clip, min-char-rnn). A gradient that is not finite is
 * never applied: step() returns NaN and leaves the parameters untouched.
 */
import { ArenaPlan, type Arena } from './arena.js';
import type { FloatArray } from './backend/types.js';
import type { TrainConfig } from './config.js';
import type { CharRNN } from './model/model.js';

export type OptimConfig = Pick<TrainConfig, 'optimizer' | 'weightDecay' | 'clip' | 'clipMode' | 'beta1' | 'beta2' | 'eps' | 'alpha' | 'momentum'>;

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

  /** Clip, then update the parameters with learning rate lr. Returns the gradient norm before clipping. */
  step(lr: number): number {
    const { model, cfg } = this;
    const be = model.backend;
    const P = model.numParams;
    const g = model.grads;
    const p = model.params;
    const norm = Math.sqrt(be.sumSquares(P, g));
    if (!Number.isFinite(norm)) return NaN;
    if (cfg.clip > 0) {
      if (cfg.clipMode === 'norm' && norm > cfg.clip) be.scale(P, g, cfg.clip / norm);
      else if (cfg.clipMode === 'value') be.clamp(P, g, -cfg.clip, cfg.clip);
    }
    this.t++;
    const wd = cfg.weightDecay;
    switch (cfg.optimizer) {
      case 'adam':
        be.adam(P, p, g, this.m, this.v, lr, cfg.beta1, cfg.beta2, cfg.eps, 1 - cfg.beta1 ** this.t, 1 - cfg.beta2 ** this.t, wd);
        break;
      case 'rmsprop':
        be.rmsprop(P, p, g, this.v, lr, cfg.alpha, cfg.eps, wd);
        break;
      case 'adagrad':
        be.adagrad(P, p, g, this.v, lr, cfg.eps, wd);
        break;
      case 'sgd':
        be.sgd(P, p, g, this.m, lr, cfg.momentum, wd, this.t === 1);
        break;
    }
    model.paramsChanged();
    return norm;
  }
}
