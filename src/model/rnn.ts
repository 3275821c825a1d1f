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
    const pre = buf.preAt[t]; // (B, H)
    be.gemm(false, false, B, H, H, buf.hAt[t], H, p.whh, H, 1, pre, H);
    be.rnnForward(B, H, pre, buf.hAt[t + 1]);
  }
}

export function rnnBackward(be: Backend, p: LayerParams, g: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  const dh = buf.dh; // (B, H)
  dh.fill(0);
  for (let t = T - 1; t >= 0; t--) {
    be.rnnBackward(B, H, buf.hAt[t + 1], buf.dyAt[t], dh, buf.dpreAt[t]);
    be.gemm(false, true, B, H, H, buf.dpreAt[t], H, p.whh, H, 0, dh, H);
  }
  be.gemm(true, false, H, H, T * B, buf.h, H, buf.dpre, H, 1, g.whh, H);
  inputProjectionBackward(be, p, g, buf, ids, T * B, In, H, true);
}
