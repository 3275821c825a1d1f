/**
 * The whole-step kernels of types.ts as the calls they stand for ("exactly those calls"): the
 * recurrent GEMM and the cell kernel, on whichever backend is given. The reference backend's
 * steps are these; the WASM backend runs them where it does not fuse a step (RNN, GRU, and an
 * LSTM step that is too small or not on whole 16-unit panels), so both compute the same sums.
 */
import type { Backend, FloatArray } from './types.js';

/** gates += hPrev W_hh, then lstmForward. */
export function lstmStep(be: Backend, B: number, H: number, hPrev: FloatArray, whh: FloatArray, gates: FloatArray,
  cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
  be.gemm(false, false, B, 4 * H, H, hPrev, H, whh, 4 * H, 1, gates, 4 * H);
  be.lstmForward(B, H, gates, cPrev, c, h);
}

/** dh = dgatesNext W_hhᵀ (when given), then lstmBackward with dh carried from t+1. */
export function lstmStepBackward(be: Backend, B: number, H: number, dgatesNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
  gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dc: FloatArray, dgates: FloatArray): void {
  if (dgatesNext) be.gemm(false, true, B, H, 4 * H, dgatesNext, 4 * H, whh, 4 * H, 0, dh, H);
  be.lstmBackward(B, H, gates, cPrev, c, dy, dh, dc, dgates);
}

/** pre += hPrev W_hh, then rnnForward. */
export function rnnStep(be: Backend, B: number, H: number, hPrev: FloatArray, whh: FloatArray, pre: FloatArray, h: FloatArray): void {
  be.gemm(false, false, B, H, H, hPrev, H, whh, H, 1, pre, H);
  be.rnnForward(B, H, pre, h);
}

/** dh = dpreNext W_hhᵀ (when given), then rnnBackward with dh carried from t+1. */
export function rnnStepBackward(be: Backend, B: number, H: number, dpreNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
  h: FloatArray, dy: FloatArray, dpre: FloatArray): void {
  if (dpreNext) be.gemm(false, true, B, H, H, dpreNext, H, whh, H, 0, dh, H);
  be.rnnBackward(B, H, h, dy, dh, dpre);
}

/** gh = b_hh, gh += hPrev W_hh, then gruForward. */
export function gruStep(be: Backend, B: number, H: number, gx: FloatArray, hPrev: FloatArray, whh: FloatArray, bhh: FloatArray,
  gh: FloatArray, act: FloatArray, h: FloatArray): void {
  const G = 3 * H;
  be.broadcastRows(B, G, bhh, gh, false);
  be.gemm(false, false, B, G, H, hPrev, H, whh, G, 1, gh, G);
  be.gruForward(B, H, gx, gh, hPrev, act, h);
}

/** dh += dghNext W_hhᵀ (when given), then gruBackward, which leaves dh := (dy + dh) ⊙ z. */
export function gruStepBackward(be: Backend, B: number, H: number, dghNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
  act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dgx: FloatArray, dgh: FloatArray): void {
  if (dghNext) be.gemm(false, true, B, H, 3 * H, dghNext, 3 * H, whh, 3 * H, 1, dh, H);
  be.gruBackward(B, H, act, gh, hPrev, dy, dh, dgx, dgh, dh);
}
