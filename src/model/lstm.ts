/**
 * LSTM layer, as PyTorch's nn.LSTM (gate order i, f, g, o):
 *
 *   [i f g o] = x_t W_ih + b_ih + h_{t-1} W_hh + b_hh          (B, 4H)
 *   i, f, o = sigmoid(.), g = tanh(.)
 *   c_t = f ⊙ c_{t-1} + i ⊙ g
 *   h_t = o ⊙ tanh(c_t)
 *
 * Backward, per step going back in time (dh = dy_t + dh_{t+1}, dc = carried dL/dc_t):
 *   dc += dh ⊙ o ⊙ (1 - tanh²c_t);  do = dh ⊙ tanh c_t;  di = dc ⊙ g;  dg = dc ⊙ i;
 *   df = dc ⊙ c_{t-1};  dc_{t-1} = dc ⊙ f;  then through each nonlinearity to dpre_t;
 *   dh_{t-1} = dpre_t W_hhᵀ.
 * After the loop: dW_hh += h_{0..T-1}ᵀ dpre (one GEMM over the window), and the input side.
 */
import type { Backend } from '../backend/types.js';
import { inputProjection, inputProjectionBackward, type LayerBuffers, type LayerParams } from './layer.js';

export function lstmForward(be: Backend, p: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  const G = 4 * H;
  inputProjection(be, p, buf, ids, T * B, In, G, true);
  for (let t = 0; t < T; t++) {
    // pre_t (B, 4H) += h_{t-1} W_hh, then the gates and the new c_t, h_t
    be.lstmStep(B, H, buf.hAt[t], p.whh, buf.preAt[t], buf.cAt[t], buf.cAt[t + 1], buf.hAt[t + 1]);
  }
}

export function lstmBackward(be: Backend, p: LayerParams, g: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number): void {
  const G = 4 * H;
  const dh = buf.dh; // (B, H) dL/dh_t carried backwards; zero past the window (truncated BPTT)
  const dc = buf.dc!; // (B, H)
  be.fill(dh.length, dh, 0);
  be.fill(dc.length, dc, 0);
  for (let t = T - 1; t >= 0; t--) {
    // dh_t = dpre_{t+1} W_hhᵀ (zero past the window), then back through the cell at t
    const next = t < T - 1 ? buf.dpreAt[t + 1] : null;
    be.lstmStepBackward(B, H, next, p.whh, dh, buf.preAt[t], buf.cAt[t], buf.cAt[t + 1], buf.dyAt[t], dc, buf.dpreAt[t]);
  }
  be.gemm(false, true, B, H, G, buf.dpreAt[0], G, p.whh, G, 0, dh, H); // dL/dh_0 = dpre_0 W_hhᵀ
  // dW_hh (H, 4H) += [h_0 .. h_{T-1}]ᵀ (H, T·B) @ dpre (T·B, 4H)
  be.gemm(true, false, H, G, T * B, buf.h, H, buf.dpre, G, 1, g.whh, G);
  inputProjectionBackward(be, p, g, buf, ids, T * B, In, G, true);
}
