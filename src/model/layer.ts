/**
 * What every recurrent layer shares: its four parameter tensors (named and shaped as PyTorch's
 * nn.RNN / nn.LSTM / nn.GRU name them) and the input side of the computation.
 *
 * Why a whole window's input projection is one GEMM: x_t W_ih does not depend on the recurrence,
 * so for all T steps at once it is a single (T·B, In) @ (In, G) product, far faster than T small
 * ones. Only h_{t-1} W_hh has to be done step by step. The same holds in backward for dW_ih,
 * dW_hh (summed over time) and dx.
 *
 * Storage: weights are kept transposed with respect to PyTorch, W_ih as (In, G) and W_hh as
 * (H, G), so that x @ W is a plain row-major product and a one-hot input is a row lookup of W_ih
 * (min-char-rnn's one-hot times a matrix, without the multiplications by zero). The checkpoint
 * writes them in PyTorch's (G, In) / (G, H) layout.
 */
import type { Backend, FloatArray } from '../backend/types.js';
import type { ArenaPlan, Arena, Slot } from '../arena.js';

export type CellType = 'rnn' | 'lstm' | 'gru';

/** Gate width G per cell type: the number of pre-activations per hidden unit. */
export const GATES: Record<CellType, number> = { rnn: 1, lstm: 4, gru: 3 };

export interface LayerParams {
  wih: FloatArray; // (In, G)   PyTorch weight_ih_l{k} transposed
  whh: FloatArray; // (H, G)    PyTorch weight_hh_l{k} transposed
  bih: FloatArray; // (G)
  bhh: FloatArray; // (G)
}

/** Per-window activations and gradients of one layer; views are per time step where needed. */
export interface LayerBuffers {
  /** Input rows (T·B, In), or null when the input is one-hot (token ids are used instead). */
  x: FloatArray | null;
  /** Hidden states ((T+1)·B, H); rows 0..B-1 are the state carried in from the previous window. */
  h: FloatArray;
  hAt: FloatArray[]; // hAt[t] = h_t (B, H), t = 0..T
  /** LSTM cell states ((T+1)·B, H), same layout as h. */
  c: FloatArray | null;
  cAt: FloatArray[];
  /** Pre-activations: LSTM gate activations after forward, RNN pre-tanh, GRU gx. (T·B, G) */
  pre: FloatArray;
  preAt: FloatArray[];
  /** GRU only: gh = h W_hh + b_hh (T·B, 3H) and activations r, z, n (T·B, 3H). */
  gh: FloatArray | null;
  ghAt: FloatArray[];
  act: FloatArray | null;
  actAt: FloatArray[];
  /** Gradient of pre (T·B, G); GRU: of gx. */
  dpre: FloatArray;
  dpreAt: FloatArray[];
  /** GRU only: gradient of gh (T·B, 3H). */
  dgh: FloatArray | null;
  dghAt: FloatArray[];
  /** Running dL/dh_{t} while going back in time; after backward, dL/dh_0 (B, H). */
  dh: FloatArray;
  /** LSTM: running dL/dc_t; after backward, dL/dc_0 (B, H). */
  dc: FloatArray | null;
  /** Output seen by the layer above: h_1..h_T (T·B, H), or a dropped-out copy. */
  y: FloatArray;
  /** Dropout mask (T·B, H) holding 0 or 1/(1-p), or null without dropout. */
  mask: FloatArray | null;
  /** Gradient w.r.t. y (T·B, H), written by the layer above or the decoder. */
  dy: FloatArray;
  dyAt: FloatArray[];
  /** Gradient w.r.t. x (T·B, In) (it is the dy of the layer below), or null if nobody needs it. */
  dx: FloatArray | null;
}

/** Slots of a layer's buffers, planned before the arena exists. */
export interface LayerSlots {
  [name: string]: Slot | null;
}

export function planLayerBuffers(plan: ArenaPlan, cell: CellType, B: number, T: number, In: number, H: number, hasX: boolean, dropout: boolean): LayerSlots {
  const G = GATES[cell] * H;
  const TB = T * B;
  return {
    x: hasX ? plan.floats(TB * In) : null,
    h: plan.floats((T + 1) * B * H),
    c: cell === 'lstm' ? plan.floats((T + 1) * B * H) : null,
    pre: plan.floats(TB * G),
    gh: cell === 'gru' ? plan.floats(TB * G) : null,
    act: cell === 'gru' ? plan.floats(TB * G) : null,
    dpre: plan.floats(TB * G),
    dgh: cell === 'gru' ? plan.floats(TB * G) : null,
    dh: plan.floats(B * H),
    dc: cell === 'lstm' ? plan.floats(B * H) : null,
    y: dropout ? plan.floats(TB * H) : null,
    mask: dropout ? plan.floats(TB * H) : null,
    dy: plan.floats(TB * H),
  };
}

/** Cut a (steps·rows, cols) buffer into per-step views, made once so a step allocates nothing. */
export function steps(buf: FloatArray | null, count: number, stepSize: number): FloatArray[] {
  if (!buf) return [];
  const out: FloatArray[] = [];
  for (let t = 0; t < count; t++) out.push(buf.subarray(t * stepSize, (t + 1) * stepSize));
  return out;
}

export function makeLayerBuffers(arena: Arena, s: LayerSlots, cell: CellType, B: number, T: number, H: number, x: FloatArray | null): LayerBuffers {
  const G = GATES[cell] * H;
  const f = (slot: Slot | null): FloatArray | null => (slot ? arena.floats(slot) : null);
  const h = f(s.h)!;
  const c = f(s.c);
  const pre = f(s.pre)!;
  const gh = f(s.gh);
  const act = f(s.act);
  const dpre = f(s.dpre)!;
  const dgh = f(s.dgh);
  const dy = f(s.dy)!;
  return {
    x: s.x ? f(s.x) : x,
    h, hAt: steps(h, T + 1, B * H),
    c, cAt: steps(c, T + 1, B * H),
    pre, preAt: steps(pre, T, B * G),
    gh, ghAt: steps(gh, T, B * G),
    act, actAt: steps(act, T, B * G),
    dpre, dpreAt: steps(dpre, T, B * G),
    dgh, dghAt: steps(dgh, T, B * G),
    dh: f(s.dh)!,
    dc: f(s.dc),
    y: f(s.y) ?? h.subarray(B * H),
    mask: f(s.mask),
    dy, dyAt: steps(dy, T, B * H),
    dx: null,
  };
}

/**
 * The input side, forward: pre (T·B, G) = x W_ih + b_ih [+ b_hh]. LSTM and RNN add b_hh here
 * too (it is just a second bias on the same sum); the GRU keeps b_hh inside r * (h W_hn + b_hn).
 */
export function inputProjection(be: Backend, p: LayerParams, buf: LayerBuffers, ids: Int32Array, TB: number, In: number, G: number, addHiddenBias: boolean): void {
  be.broadcastRows(TB, G, p.bih, buf.pre, false);
  if (addHiddenBias) be.broadcastRows(TB, G, p.bhh, buf.pre, true);
  if (buf.x) be.gemm(false, false, TB, G, In, buf.x, In, p.wih, G, 1, buf.pre, G);
  else be.gatherRows(TB, ids, p.wih, G, buf.pre, true); // one-hot: row lookup
}

/**
 * The input side, backward, from dpre (T·B, G): dW_ih += xᵀ dpre, db_ih += Σ dpre [and db_hh],
 * and dx = dpre W_ihᵀ when the layer below needs it.
 */
export function inputProjectionBackward(be: Backend, p: LayerParams, g: LayerParams, buf: LayerBuffers, ids: Int32Array, TB: number, In: number, G: number, addHiddenBias: boolean): void {
  be.colSumAcc(TB, G, buf.dpre, g.bih);
  if (addHiddenBias) be.colSumAcc(TB, G, buf.dpre, g.bhh);
  if (buf.x) be.gemm(true, false, In, G, TB, buf.x, In, buf.dpre, G, 1, g.wih, G);
  else be.scatterAddRows(TB, ids, buf.dpre, G, g.wih);
  if (buf.dx) be.gemm(false, true, TB, In, G, buf.dpre, G, p.wih, G, 0, buf.dx, In);
}
