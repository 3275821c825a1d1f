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
    const gh = buf.ghAt[t]; // (B, 3H)
    be.broadcastRows(B, G, p.bhh, gh, false);
    be.gemm(false, false, B, G, H, buf.hAt[t], H, p.whh, G, 1, gh, G);
    be.gruForward(B, H, buf.preAt[t], gh, buf.hAt[t], buf.actAt[t], buf.hAt[t + 1]);
  }
}

export function gruBackward(be: Backend, p: LayerParams, g: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  const G = 3 * H;
  const dh = buf.dh; // (B, H)
  dh.fill(0);
  for (let t = T - 1; t >= 0; t--) {
    // writes dgx into dpre, dgh, and dh := dh ⊙ z (the direct path); then add the W_hh path
    be.gruBackward(B, H, buf.actAt[t], buf.ghAt[t], buf.hAt[t], buf.dyAt[t], dh, buf.dpreAt[t], buf.dghAt[t], dh);
    be.gemm(false, true, B, H, G, buf.dghAt[t], G, p.whh, G, 1, dh, H);
  }
  be.gemm(true, false, H, G, T * B, buf.h, H, buf.dgh!, G, 1, g.whh, G);
  be.colSumAcc(T * B, G, buf.dgh!, g.bhh);
  inputProjectionBackward(be, p, g, buf, ids, T * B, In, G, false);
}
