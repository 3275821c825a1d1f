/**
 * The recurrent cells in WGSL: each cell's epilogue (the elementwise maths of one time step,
 * exactly the Backend methods rnnForward/rnnBackward, lstmForward/lstmBackward,
 * gruForward/gruBackward of js.ts) as its own kernel, and fused step kernels that do the
 * recurrent GEMM and the epilogue in ONE dispatch per layer and time step.
 *
 * Forward step (thread (b, j) owns batch row b and hidden unit j, for all NG gates of j):
 *   acc_g = Σ_k hPrev[b, k] · W_hh[k, g·H + j]          g < NG (RNN 1, LSTM 4, GRU 3)
 *   then the cell's epilogue with acc added to the pre-activations
 * Because a thread holds every gate of its unit, the cell needs nothing from other threads.
 * Tiles: a workgroup is 16 units × 16 batch rows; K (= H) is walked in tiles of 16, with
 * hPrev (16 rows, 16 k) and W_hh (16 k, NG·16 columns) in workgroup memory.
 *
 * Backward step: the GEMM that carries the gradient back in time comes first, from the step
 * after (t+1), so the epilogue of step t can follow it in the same dispatch:
 *   dh_t[b, j] = Σ_k dNext[b, k] · W_hh[j, k]             k < G, dNext = dpre_{t+1}
 * (dNext absent at the last step of the window: no GEMM). Then:
 *   LSTM  lstmStepBackward exactly (types.ts): dh := dNext W_hhᵀ, then lstmBackward.
 *   RNN   rnnStepBackward: dh := dNext W_hhᵀ when dNext, then dpre = (dy + dh)(1 - h²);
 *         the model's loop "rnnBackward; dh = dpre W_hhᵀ" reordered, same numbers.
 *   GRU   gruStepBackward: dh holds the direct part dh_{t+1} ⊙ z_{t+1}; dh' = dh + dNext W_hhᵀ
 *         (dNext = dgh_{t+1}), then gruBackward with dhNext = dh', writing dh := (dy + dh') ⊙ z;
 *         the model's loop "gruBackward; dh += dgh W_hhᵀ" reordered.
 * After the loop the model still needs dh_0 = dpre_0 W_hhᵀ (LSTM, RNN: gemm beta 0) or
 * dh_0 = dh + dgh_0 W_hhᵀ (GRU: gemm beta 1), one plain GEMM.
 * Tiles: 16 units × 16 rows; dNext (16 rows, 16 k) and W_hh (16 units, 16 k, padded to 17
 * against bank conflicts) in workgroup memory.
 *
 * All offsets are heap words; (B, H) states are row-major with row stride H, gates with G.
 */
import { grid1d, type GpuContext } from './context.js';
import { ENTRY_1D, MATH } from './wgsl.js';

export type Cell = 'rnn' | 'lstm' | 'gru';
const NG: Record<Cell, number> = { rnn: 1, lstm: 4, gru: 3 };

// ---- epilogues, as WGSL functions shared by the elementwise and the fused kernels ----
// b, j: batch row and unit; acc: what the recurrent GEMM adds to each gate (zero when unfused).

const LSTM_FWD = /* wgsl */ `
fn lstm_fwd(b: u32, j: u32, acc: vec4<f32>) {
  let H = p.H;
  let g0 = p.gates + b * 4u * H + j;
  let s = b * H + j;
  let ig = sigm(h[g0] + acc.x);
  let fg = sigm(h[g0 + H] + acc.y);
  let gg = tanh_(h[g0 + 2u * H] + acc.z);
  let og = sigm(h[g0 + 3u * H] + acc.w);
  h[g0] = ig;
  h[g0 + H] = fg;
  h[g0 + 2u * H] = gg;
  h[g0 + 3u * H] = og;
  let ct = fg * h[p.cPrev + s] + ig * gg;
  h[p.c + s] = ct;
  h[p.h + s] = og * tanh_(ct);
}`;
const LSTM_FWD_PARAMS = 'B H gates cPrev c h';

const LSTM_BWD = /* wgsl */ `
fn lstm_bwd(b: u32, j: u32, dhNext: f32) {
  let H = p.H;
  let o0 = b * 4u * H + j;
  let g0 = p.gates + o0;
  let d0 = p.dgates + o0;
  let s = b * H + j;
  let ig = h[g0];
  let fg = h[g0 + H];
  let gg = h[g0 + 2u * H];
  let og = h[g0 + 3u * H];
  let tc = tanh_(h[p.c + s]);
  let dh = h[p.dy + s] + dhNext;
  let dct = h[p.dc + s] + dh * og * (1.0 - tc * tc);
  h[d0] = dct * gg * ig * (1.0 - ig);
  h[d0 + H] = dct * h[p.cPrev + s] * fg * (1.0 - fg);
  h[d0 + 2u * H] = dct * ig * (1.0 - gg * gg);
  h[d0 + 3u * H] = dh * tc * og * (1.0 - og);
  h[p.dc + s] = dct * fg;
}`;
const LSTM_BWD_PARAMS = 'B H gates cPrev c dy dc dgates';

const GRU_FWD = /* wgsl */ `
fn gru_fwd(b: u32, j: u32, ghr: f32, ghz: f32, ghn: f32) {
  let H = p.H;
  let g0 = b * 3u * H + j;
  let s = b * H + j;
  let r = sigm(h[p.gx + g0] + ghr);
  let z = sigm(h[p.gx + g0 + H] + ghz);
  let n = tanh_(h[p.gx + g0 + 2u * H] + r * ghn);
  h[p.act + g0] = r;
  h[p.act + g0 + H] = z;
  h[p.act + g0 + 2u * H] = n;
  h[p.h + s] = (1.0 - z) * n + z * h[p.hPrev + s];
}`;
const GRU_FWD_PARAMS = 'B H gx gh hPrev act h';

const GRU_BWD = /* wgsl */ `
fn gru_bwd(b: u32, j: u32, dhNext: f32) {
  let H = p.H;
  let g0 = b * 3u * H + j;
  let s = b * H + j;
  let r = h[p.act + g0];
  let z = h[p.act + g0 + H];
  let n = h[p.act + g0 + 2u * H];
  let hp = h[p.hPrev + s];
  let dh = h[p.dy + s] + dhNext;
  let dpn = dh * (1.0 - z) * (1.0 - n * n);
  let dpz = dh * (hp - n) * z * (1.0 - z);
  let dpr = dpn * h[p.gh + g0 + 2u * H] * r * (1.0 - r);
  h[p.dgx + g0] = dpr;
  h[p.dgx + g0 + H] = dpz;
  h[p.dgx + g0 + 2u * H] = dpn;
  h[p.dgh + g0] = dpr;
  h[p.dgh + g0 + H] = dpz;
  h[p.dgh + g0 + 2u * H] = dpn * r;
  h[p.dhPrevDirect + s] = dh * z;
}`;
const GRU_BWD_PARAMS = 'B H act gh hPrev dy dgx dgh dhPrevDirect';

const RNN_FWD = /* wgsl */ `
fn rnn_fwd(b: u32, j: u32, acc: f32) {
  let s = b * p.H + j;
  let x = h[p.pre + s] + acc;
  h[p.pre + s] = x;
  h[p.h + s] = tanh_(x);
}`;
const RNN_FWD_PARAMS = 'B H pre h';

const RNN_BWD = /* wgsl */ `
fn rnn_bwd(b: u32, j: u32, dhNext: f32) {
  let s = b * p.H + j;
  let y = h[p.h + s];
  h[p.dpre + s] = (h[p.dy + s] + dhNext) * (1.0 - y * y);
}`;
const RNN_BWD_PARAMS = 'B H h dy dpre';

/** Entry of an unfused epilogue: thread per (b, j) of (B, H). */
const epilogue = (fn: string, call: string): string => `${MATH}${fn}${ENTRY_1D}
  if (i >= p.B * p.H) { return; }
  let b = i / p.H;
  let j = i % p.H;
  ${call}
}`;

const cells1d = (B: number, H: number): [number, number] => grid1d(B * H);

export function rnnForward(ctx: GpuContext, B: number, H: number, pre: number, h: number): void {
  const k = ctx.kernel('rnnForward', RNN_FWD_PARAMS, () => epilogue(RNN_FWD, 'rnn_fwd(b, j, 0.0);'));
  ctx.dispatch(k, { B, H, pre, h }, cells1d(B, H));
}

export function rnnBackward(ctx: GpuContext, B: number, H: number, h: number, dy: number, dhNext: number, dpre: number): void {
  const k = ctx.kernel('rnnBackward', RNN_BWD_PARAMS + ' dhNext', () => epilogue(RNN_BWD, 'rnn_bwd(b, j, h[p.dhNext + i]);'));
  ctx.dispatch(k, { B, H, h, dy, dhNext, dpre }, cells1d(B, H));
}

export function lstmForward(ctx: GpuContext, B: number, H: number, gates: number, cPrev: number, c: number, h: number): void {
  const k = ctx.kernel('lstmForward', LSTM_FWD_PARAMS, () => epilogue(LSTM_FWD, 'lstm_fwd(b, j, vec4<f32>(0.0));'));
  ctx.dispatch(k, { B, H, gates, cPrev, c, h }, cells1d(B, H));
}

export function lstmBackward(
  ctx: GpuContext, B: number, H: number, gates: number, cPrev: number, c: number,
  dy: number, dhNext: number, dc: number, dgates: number,
): void {
  const k = ctx.kernel('lstmBackward', LSTM_BWD_PARAMS + ' dhNext', () => epilogue(LSTM_BWD, 'lstm_bwd(b, j, h[p.dhNext + i]);'));
  ctx.dispatch(k, { B, H, gates, cPrev, c, dy, dhNext, dc, dgates }, cells1d(B, H));
}

export function gruForward(ctx: GpuContext, B: number, H: number, gx: number, gh: number, hPrev: number, act: number, h: number): void {
  const k = ctx.kernel('gruForward', GRU_FWD_PARAMS, () => epilogue(GRU_FWD,
    'let g0 = p.gh + b * 3u * p.H + j; gru_fwd(b, j, h[g0], h[g0 + p.H], h[g0 + 2u * p.H]);'));
  ctx.dispatch(k, { B, H, gx, gh, hPrev, act, h }, cells1d(B, H));
}

export function gruBackward(
  ctx: GpuContext, B: number, H: number, act: number, gh: number, hPrev: number,
  dy: number, dhNext: number, dgx: number, dgh: number, dhPrevDirect: number,
): void {
  // dhPrevDirect may alias dhNext: each thread reads its element before writing it.
  const k = ctx.kernel('gruBackward', GRU_BWD_PARAMS + ' dhNext', () => epilogue(GRU_BWD, 'gru_bwd(b, j, h[p.dhNext + i]);'));
  ctx.dispatch(k, { B, H, act, gh, hPrev, dy, dhNext, dgx, dgh, dhPrevDirect }, cells1d(B, H));
}

// ---- fused steps ----

const T16 = 16;

/** Forward step kernel source: recurrent GEMM over H with NG gate accumulators, then `call`. */
function stepForwardSource(cell: Cell, fn: string, call: string): string {
  const ng = NG[cell];
  return `${MATH}${fn}
var<workgroup> hs: array<f32, 256>;          // (16 rows, 16 k)
var<workgroup> ws: array<f32, ${16 * 16 * ng}>; // (16 k, NG·16 columns)
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let H = p.H;
  let G = ${ng}u * H;
  let j = wg.x * 16u + lid.x;
  let b = wg.y * 16u + lid.y;
  var acc: array<f32, ${ng}>;
  for (var g = 0u; g < ${ng}u; g++) { acc[g] = 0.0; }
  for (var k0 = 0u; k0 < H; k0 += 16u) {
    let kx = k0 + lid.x;
    var v = 0.0;
    if (b < p.B && kx < H) { v = h[p.hPrev + b * H + kx]; }
    hs[lid.y * 16u + lid.x] = v;
    let ky = k0 + lid.y;
    for (var g = 0u; g < ${ng}u; g++) {
      var w = 0.0;
      if (ky < H && j < H) { w = h[p.whh + ky * G + g * H + j]; }
      ws[lid.y * ${16 * ng}u + g * 16u + lid.x] = w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let a = hs[lid.y * 16u + kk];
      for (var g = 0u; g < ${ng}u; g++) { acc[g] += a * ws[kk * ${16 * ng}u + g * 16u + lid.x]; }
    }
    workgroupBarrier();
  }
  if (b < p.B && j < H) {
    ${call}
  }
}`;
}

/** Backward step kernel source: dh = dNext W_hhᵀ (when p.hasNext), then `call` with it in `dn`. */
function stepBackwardSource(cell: Cell, fn: string, call: string): string {
  const ng = NG[cell];
  return `${MATH}${fn}
var<workgroup> ds: array<f32, 256>; // (16 rows, 16 k)
var<workgroup> wt: array<f32, 272>; // (16 units, 17): padded row stride
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let H = p.H;
  let G = ${ng}u * H;
  let j = wg.x * 16u + lid.x;
  let b = wg.y * 16u + lid.y;
  let jy = wg.x * 16u + lid.y;
  var acc = 0.0;
  let K = select(0u, G, p.hasNext != 0u);
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    let kx = k0 + lid.x;
    var v = 0.0;
    if (b < p.B && kx < G) { v = h[p.dNext + b * G + kx]; }
    ds[lid.y * 16u + lid.x] = v;
    var w = 0.0;
    if (jy < H && kx < G) { w = h[p.whh + jy * G + kx]; }
    wt[lid.y * 17u + lid.x] = w;
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) { acc += ds[lid.y * 16u + kk] * wt[lid.x * 17u + kk]; }
    workgroupBarrier();
  }
  if (b < p.B && j < H) {
    let s = b * H + j;
    ${call}
  }
}`;
}

const stepGroups = (B: number, H: number): [number, number] => [Math.ceil(H / T16), Math.ceil(B / T16)];

/** lstmStep of types.ts: gates += hPrev W_hh, then lstmForward; one dispatch. */
export function lstmStep(ctx: GpuContext, B: number, H: number, hPrev: number, whh: number, gates: number, cPrev: number, c: number, h: number): void {
  const k = ctx.kernel('lstmStep', LSTM_FWD_PARAMS + ' hPrev whh', () => stepForwardSource('lstm', LSTM_FWD,
    'lstm_fwd(b, j, vec4<f32>(acc[0], acc[1], acc[2], acc[3]));'));
  ctx.dispatch(k, { B, H, gates, cPrev, c, h, hPrev, whh }, stepGroups(B, H));
}

/** lstmStepBackward of types.ts (dgatesNext = -1 for none): dh = dgatesNext W_hhᵀ, then lstmBackward; one dispatch. */
export function lstmStepBackward(
  ctx: GpuContext, B: number, H: number, dgatesNext: number, whh: number, dh: number,
  gates: number, cPrev: number, c: number, dy: number, dc: number, dgates: number,
): void {
  const k = ctx.kernel('lstmStepBackward', LSTM_BWD_PARAMS + ' dNext hasNext whh dh', () => stepBackwardSource('lstm', LSTM_BWD, `
    var dn = h[p.dh + s];
    if (p.hasNext != 0u) { dn = acc; h[p.dh + s] = acc; }
    lstm_bwd(b, j, dn);`));
  const hasNext = dgatesNext >= 0 ? 1 : 0;
  ctx.dispatch(k, { B, H, gates, cPrev, c, dy, dc, dgates, dNext: hasNext ? dgatesNext : 0, hasNext, whh, dh }, stepGroups(B, H));
}

/** RNN forward step: pre (B, H) += hPrev W_hh, h = tanh(pre); one dispatch. */
export function rnnStep(ctx: GpuContext, B: number, H: number, hPrev: number, whh: number, pre: number, h: number): void {
  const k = ctx.kernel('rnnStep', RNN_FWD_PARAMS + ' hPrev whh', () => stepForwardSource('rnn', RNN_FWD, 'rnn_fwd(b, j, acc[0]);'));
  ctx.dispatch(k, { B, H, pre, h, hPrev, whh }, stepGroups(B, H));
}

/** RNN backward step (header): dh = dpreNext W_hhᵀ when dpreNext ≥ 0, then dpre = (dy + dh)(1 - h²). */
export function rnnStepBackward(ctx: GpuContext, B: number, H: number, dpreNext: number, whh: number, dh: number, h: number, dy: number, dpre: number): void {
  const k = ctx.kernel('rnnStepBackward', RNN_BWD_PARAMS + ' dNext hasNext whh dh', () => stepBackwardSource('rnn', RNN_BWD, `
    var dn = h[p.dh + s];
    if (p.hasNext != 0u) { dn = acc; h[p.dh + s] = acc; }
    rnn_bwd(b, j, dn);`));
  const hasNext = dpreNext >= 0 ? 1 : 0;
  ctx.dispatch(k, { B, H, h, dy, dpre, dNext: hasNext ? dpreNext : 0, hasNext, whh, dh }, stepGroups(B, H));
}

/** GRU forward step: gh (B, 3H) = b_hh + hPrev W_hh, then gruForward; one dispatch. */
export function gruStep(ctx: GpuContext, B: number, H: number, gx: number, hPrev: number, whh: number, bhh: number, gh: number, act: number, h: number): void {
  const k = ctx.kernel('gruStep', GRU_FWD_PARAMS + ' whh bhh', () => stepForwardSource('gru', GRU_FWD, `
    let g0 = p.gh + b * 3u * H + j;
    let ghr = h[p.bhh + j] + acc[0];
    let ghz = h[p.bhh + H + j] + acc[1];
    let ghn = h[p.bhh + 2u * H + j] + acc[2];
    h[g0] = ghr;
    h[g0 + H] = ghz;
    h[g0 + 2u * H] = ghn;
    gru_fwd(b, j, ghr, ghz, ghn);`));
  ctx.dispatch(k, { B, H, gx, gh, hPrev, act, h, whh, bhh }, stepGroups(B, H));
}

/**
 * GRU backward step (header): dh' = dh + dghNext W_hhᵀ (dghNext ≥ 0), then gruBackward with
 * dhNext = dh', writing dgx, dgh and dh := (dy + dh') ⊙ z; one dispatch.
 */
export function gruStepBackward(
  ctx: GpuContext, B: number, H: number, dghNext: number, whh: number, dh: number,
  act: number, gh: number, hPrev: number, dy: number, dgx: number, dgh: number,
): void {
  const k = ctx.kernel('gruStepBackward', GRU_BWD_PARAMS + ' dNext hasNext whh', () => stepBackwardSource('gru', GRU_BWD, `
    gru_bwd(b, j, h[p.dhPrevDirect + s] + acc);`));
  const hasNext = dghNext >= 0 ? 1 : 0;
  ctx.dispatch(k, { B, H, act, gh, hPrev, dy, dgx, dgh, dhPrevDirect: dh, dNext: hasNext ? dghNext : 0, hasNext, whh }, stepGroups(B, H));
}
