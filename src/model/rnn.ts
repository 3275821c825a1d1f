/**
 * Vanilla (Elman) RNN layer, as PyTorch's nn.RNN with tanh, and as min-char-rnn:
 *
 *   h_t = tanh(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)            (B, H)
 *
 * Backward: dpre_t = (dy_t + dh_{t+1}) ⊙ (1 - h_t²);  dh_t-1 = dpre_t W_hhᵀ;
 * dW_hh += Σ_t h_{t-1}ᵀ dpre_t (one GEMM after the loop).
 */
import type { Backend } from '../backend/types.js';
import { inputProjection, inputProjectionBackward, type LayerBuffers, type LayerParams } from './layer.js';

export function rnnForward(be: Backend, p: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  inputProjection(be, p, buf, ids, T * B, In, H, true);
  for (let t = 0; t < T; t++) {
    be.rnnStep(B, H, buf.hAt[t], p.whh, buf.preAt[t], buf.hAt[t + 1]); // pre_t += h_{t-1} W_hh; h_t = tanh(pre_t)
  }
}

export function rnnBackward(be: Backend, p: LayerParams, g: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  const dh = buf.dh; // (B, H)
  be.fill(dh.length, dh, 0);
  for (let t = T - 1; t >= 0; t--) {
    // dh_t = dpre_{t+1} W_hhᵀ (zero past the window), then back through the tanh at t
    be.rnnStepBackward(B, H, t < T - 1 ? buf.dpreAt[t + 1] : null, p.whh, dh, buf.hAt[t + 1], buf.dyAt[t], buf.dpreAt[t]);
  }
  be.gemm(false, true, B, H, H, buf.dpreAt[0], H, p.whh, H, 0, dh, H); // dL/dh_0 = dpre_0 W_hhᵀ
  be.gemm(true, false, H, H, T * B, buf.h, H, buf.dpre, H, 1, g.whh, H);
  inputProjectionBackward(be, p, g, buf, ids, T * B, In, H, true);
}
