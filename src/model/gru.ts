/**
 * GRU layer, as PyTorch's nn.GRU (gate order r, z, n; the reset gate multiplies the hidden
 * projection *after* the matmul, which is what lets h W_hh be one product for all three gates):
 *
 *   gx = x_t W_ih + b_ih,  gh = h_{t-1} W_hh + b_hh                 (B, 3H) each
 *   r = sigmoid(gx_r + gh_r),  z = sigmoid(gx_z + gh_z)
 *   n = tanh(gx_n + r ⊙ gh_n)
 *   h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
 *
 * Backward (dh = dy_t + dh_{t+1}):
 *   dn = dh ⊙ (1 - z),  dz = dh ⊙ (h_{t-1} - n),  dh_{t-1} = dh ⊙ z + dgh W_hhᵀ
 *   dgx_n = dn ⊙ (1 - n²),  dgh_n = dgx_n ⊙ r,  dr = dgx_n ⊙ gh_n
 *   dgx_{r,z} = dgh_{r,z} = dr ⊙ r(1 - r), dz ⊙ z(1 - z)
 */
import type { Backend } from '../backend/types.js';
import { inputProjection, inputProjectionBackward, type LayerBuffers, type LayerParams } from './layer.js';

export function gruForward(be: Backend, p: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  const G = 3 * H;
  inputProjection(be, p, buf, ids, T * B, In, G, false); // pre holds gx
  for (let t = 0; t < T; t++) {
    // gh_t (B, 3H) = b_hh + h_{t-1} W_hh, then the gates and h_t
    be.gruStep(B, H, buf.preAt[t], buf.hAt[t], p.whh, p.bhh, buf.ghAt[t], buf.actAt[t], buf.hAt[t + 1]);
  }
}

export function gruBackward(be: Backend, p: LayerParams, g: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  const G = 3 * H;
  const dh = buf.dh; // (B, H)
  be.fill(dh.length, dh, 0);
  for (let t = T - 1; t >= 0; t--) {
    // dh += dgh_{t+1} W_hhᵀ (the W_hh path from step t+1), then gruBackward writes dgx into
    // dpre, dgh, and dh := (dy + dh) ⊙ z (the direct path into step t-1)
    be.gruStepBackward(B, H, t < T - 1 ? buf.dghAt[t + 1] : null, p.whh, dh, buf.actAt[t], buf.ghAt[t], buf.hAt[t], buf.dyAt[t], buf.dpreAt[t], buf.dghAt[t]);
  }
  be.gemm(false, true, B, H, G, buf.dghAt[0], G, p.whh, G, 1, dh, H); // dL/dh_0 = dh + dgh_0 W_hhᵀ
  be.gemm(true, false, H, G, T * B, buf.h, H, buf.dgh!, G, 1, g.whh, G);
  be.colSumAcc(T * B, G, buf.dgh!, g.bhh);
  inputProjectionBackward(be, p, g, buf, ids, T * B, In, G, false);
}
