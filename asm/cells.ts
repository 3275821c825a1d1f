// Fused elementwise parts of one recurrent time step, batched over B rows. Gate blocks of a row
// are H floats apart (i, f, g, o for LSTM; r, z, n for GRU). Each kernel is one @inline body
// over 4 lanes (`wide`) or 1 lane (the H % 4 tail), so odd H computes exactly what vectors do.
import { at, ld, st, vsigmoid, vtanh, fmadd } from './math';
import { gemmPanels, PANEL } from './gemm';

// ---- vanilla RNN ----

/** h (B, H) = tanh(pre (B, H)). */
export function rnnForward(B: i32, H: i32, pre: usize, h: usize): void {
  const n = B * H;
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(h, i), vtanh(v128.load(at(pre, i))));
  for (; i < n; i++) st(at(h, i), vtanh(ld(at(pre, i), false)), false);
}

/** dpre (B, H) = (dy + dhNext) (1 - h^2). */
export function rnnBackward(B: i32, H: i32, h: usize, dy: usize, dhNext: usize, dpre: usize): void {
  const n = B * H;
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const hv = v128.load(at(h, i));
    const dh = f32x4.add(v128.load(at(dy, i)), v128.load(at(dhNext, i)));
    v128.store(at(dpre, i), f32x4.mul(dh, f32x4.sub(one, f32x4.mul(hv, hv))));
  }
  for (; i < n; i++) {
    const hv = load<f32>(at(h, i));
    store<f32>(at(dpre, i), (load<f32>(at(dy, i)) + load<f32>(at(dhNext, i))) * (1 - hv * hv));
  }
}

// ---- LSTM ----

// @ts-ignore: decorator
@inline function lstmFwd(pg: usize, hb: usize, pcp: usize, pc: usize, ph: usize, wide: bool): void {
  // pg -> gates[b, j] (i block); hb = H in bytes, the distance between gate blocks
  const i = vsigmoid(ld(pg, wide));
  const f = vsigmoid(ld(pg + hb, wide));
  const g = vtanh(ld(pg + 2 * hb, wide));
  const o = vsigmoid(ld(pg + 3 * hb, wide));
  st(pg, i, wide);
  st(pg + hb, f, wide);
  st(pg + 2 * hb, g, wide);
  st(pg + 3 * hb, o, wide);
  const c = fmadd(f, ld(pcp, wide), f32x4.mul(i, g));
  st(pc, c, wide);
  st(ph, f32x4.mul(o, vtanh(c)), wide);
}

/**
 * gates (B, 4H) pre-activations -> activations in place; c (B, H) = f cPrev + i g;
 * h (B, H) = o tanh(c).
 */
export function lstmForward(B: i32, H: i32, gates: usize, cPrev: usize, c: usize, h: usize): void {
  lstmForwardUnits(B, H, gates, cPrev, c, h, 0, H);
}

/** lstmForward for hidden units [u0, u1) only (each unit's gates and state are its own). */
function lstmForwardUnits(B: i32, H: i32, gates: usize, cPrev: usize, c: usize, h: usize, u0: i32, u1: i32): void {
  const hb: usize = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const g0 = at(gates, b * 4 * H);
    const s0 = b * H;
    let j = u0;
    for (; j + 4 <= u1; j += 4) lstmFwd(at(g0, j), hb, at(cPrev, s0 + j), at(c, s0 + j), at(h, s0 + j), true);
    for (; j < u1; j++) lstmFwd(at(g0, j), hb, at(cPrev, s0 + j), at(c, s0 + j), at(h, s0 + j), false);
  }
}

// @ts-ignore: decorator
@inline function lstmBwd(pg: usize, pdg: usize, hb: usize, pcp: usize, pc: usize, pdy: usize,
  pdn: usize, pdc: usize, wide: bool): void {
  const one = f32x4.splat(1);
  const i = ld(pg, wide);
  const f = ld(pg + hb, wide);
  const g = ld(pg + 2 * hb, wide);
  const o = ld(pg + 3 * hb, wide);
  const tc = vtanh(ld(pc, wide));
  const dh = f32x4.add(ld(pdy, wide), ld(pdn, wide));
  // h = o tanh(c): dL/dc gets dh o tanh'(c) on top of what flows back from step t+1
  const dct = fmadd(f32x4.mul(dh, o), f32x4.sub(one, f32x4.mul(tc, tc)), ld(pdc, wide));
  st(pdg, f32x4.mul(f32x4.mul(f32x4.mul(dct, g), i), f32x4.sub(one, i)), wide);
  st(pdg + hb, f32x4.mul(f32x4.mul(f32x4.mul(dct, ld(pcp, wide)), f), f32x4.sub(one, f)), wide);
  st(pdg + 2 * hb, f32x4.mul(f32x4.mul(dct, i), f32x4.sub(one, f32x4.mul(g, g))), wide);
  st(pdg + 3 * hb, f32x4.mul(f32x4.mul(f32x4.mul(dh, tc), o), f32x4.sub(one, o)), wide);
  st(pdc, f32x4.mul(dct, f), wide);
}

/**
 * Backward of lstmForward. gates (B, 4H) activations, cPrev/c/dy/dhNext (B, H) read;
 * dc (B, H) dL/dc_t in, dL/dc_{t-1} out; dgates (B, 4H) = gradient of the pre-activations.
 */
export function lstmBackward(B: i32, H: i32, gates: usize, cPrev: usize, c: usize,
  dy: usize, dhNext: usize, dc: usize, dgates: usize): void {
  lstmBackwardUnits(B, H, gates, cPrev, c, dy, dhNext, dc, dgates, 0, H);
}

/** lstmBackward for hidden units [u0, u1) only. */
function lstmBackwardUnits(B: i32, H: i32, gates: usize, cPrev: usize, c: usize,
  dy: usize, dhNext: usize, dc: usize, dgates: usize, u0: i32, u1: i32): void {
  const hb: usize = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const g0 = b * 4 * H;
    const s0 = b * H;
    let j = u0;
    for (; j + 4 <= u1; j += 4) {
      lstmBwd(at(gates, g0 + j), at(dgates, g0 + j), hb, at(cPrev, s0 + j), at(c, s0 + j),
        at(dy, s0 + j), at(dhNext, s0 + j), at(dc, s0 + j), true);
    }
    for (; j < u1; j++) {
      lstmBwd(at(gates, g0 + j), at(dgates, g0 + j), hb, at(cPrev, s0 + j), at(c, s0 + j),
        at(dy, s0 + j), at(dhNext, s0 + j), at(dc, s0 + j), false);
    }
  }
}

// ---- LSTM time steps, split by hidden units (what a worker thread runs) ----
//
// A unit's four gate columns and its state depend only on its own columns of h_{t-1} W_hh, so a
// thread that owns units [u0, u1) can do their part of the recurrent GEMM and then their cell,
// with no barrier between the two: one job per time step instead of two. Units come in whole
// panels (H a multiple of 16). The GEMM is gemmPanels over those panels, so every sum is what
// the unsplit GEMM computes.

/**
 * Forward step for units [u0, u1): gates (B, 4H) += hPrev (B, H) @ W_hh at those units' columns
 * of each gate block (W_hh packed as panels of op(B) = W_hh (H, 4H) at whh), then the cell.
 */
export function lstmStepUnits(B: i32, H: i32, hPrev: usize, whh: usize, gates: usize,
  cPrev: usize, c: usize, h: usize, u0: i32, u1: i32): void {
  const G = 4 * H;
  for (let g = 0; g < 4; g++) {
    gemmPanels(0, G, H, hPrev, H, whh, 64, H * 64, 1, gates, G, 0, B, (g * H + u0) / PANEL, (g * H + u1) / PANEL);
  }
  lstmForwardUnits(B, H, gates, cPrev, c, h, u0, u1);
}

/**
 * Backward step for units [u0, u1): if dgatesNext (the step after's gate gradients, (B, 4H)),
 * dh[:, u] = dgatesNext @ W_hhᵀ at those columns (W_hhᵀ packed as panels of op(B) = W_hhᵀ
 * (4H, H) at whhT), then the cell backward, which reads dh as dhNext.
 */
export function lstmStepBackUnits(B: i32, H: i32, dgatesNext: usize, whhT: usize, dh: usize,
  gates: usize, cPrev: usize, c: usize, dy: usize, dc: usize, dgates: usize, u0: i32, u1: i32): void {
  const G = 4 * H;
  if (dgatesNext) gemmPanels(0, H, G, dgatesNext, G, whhT, 64, G * 64, 0, dh, H, 0, B, u0 / PANEL, u1 / PANEL);
  lstmBackwardUnits(B, H, gates, cPrev, c, dy, dh, dc, dgates, u0, u1);
}

// ---- GRU (PyTorch's formulation) ----

// @ts-ignore: decorator
@inline function gruFwd(px: usize, ph: usize, pa: usize, hb: usize, php: usize, pout: usize, wide: bool): void {
  const one = f32x4.splat(1);
  const r = vsigmoid(f32x4.add(ld(px, wide), ld(ph, wide)));
  const z = vsigmoid(f32x4.add(ld(px + hb, wide), ld(ph + hb, wide)));
  const n = vtanh(fmadd(r, ld(ph + 2 * hb, wide), ld(px + 2 * hb, wide)));
  st(pa, r, wide);
  st(pa + hb, z, wide);
  st(pa + 2 * hb, n, wide);
  // (1 - z) n + z hPrev
  st(pout, fmadd(z, ld(php, wide), f32x4.mul(f32x4.sub(one, z), n)), wide);
}

/** gx, gh (B, 3H) -> act (B, 3H) = r, z, n and h (B, H). */
export function gruForward(B: i32, H: i32, gx: usize, gh: usize, hPrev: usize, act: usize, h: usize): void {
  const hb: usize = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const g0 = b * 3 * H;
    const s0 = b * H;
    let j = 0;
    for (; j + 4 <= H; j += 4) gruFwd(at(gx, g0 + j), at(gh, g0 + j), at(act, g0 + j), hb, at(hPrev, s0 + j), at(h, s0 + j), true);
    for (; j < H; j++) gruFwd(at(gx, g0 + j), at(gh, g0 + j), at(act, g0 + j), hb, at(hPrev, s0 + j), at(h, s0 + j), false);
  }
}

// @ts-ignore: decorator
@inline function gruBwd(pa: usize, pgh: usize, hb: usize, php: usize, pdy: usize, pdn: usize,
  pdgx: usize, pdgh: usize, pdd: usize, wide: bool): void {
  const one = f32x4.splat(1);
  const r = ld(pa, wide);
  const z = ld(pa + hb, wide);
  const n = ld(pa + 2 * hb, wide);
  const hp = ld(php, wide);
  const dh = f32x4.add(ld(pdy, wide), ld(pdn, wide));
  const dpn = f32x4.mul(f32x4.mul(dh, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
  const dpz = f32x4.mul(f32x4.mul(f32x4.mul(dh, f32x4.sub(hp, n)), z), f32x4.sub(one, z));
  const dpr = f32x4.mul(f32x4.mul(f32x4.mul(dpn, ld(pgh + 2 * hb, wide)), r), f32x4.sub(one, r));
  st(pdgx, dpr, wide);
  st(pdgx + hb, dpz, wide);
  st(pdgx + 2 * hb, dpn, wide);
  st(pdgh, dpr, wide);
  st(pdgh + hb, dpz, wide);
  st(pdgh + 2 * hb, f32x4.mul(dpn, r), wide);
  // written last: dhPrevDirect may alias dhNext, which was read above
  st(pdd, f32x4.mul(dh, z), wide);
}

/** Backward of gruForward: dgx, dgh (B, 3H); dhPrevDirect (B, H) = dh z (may alias dhNext). */
export function gruBackward(B: i32, H: i32, act: usize, gh: usize, hPrev: usize, dy: usize,
  dhNext: usize, dgx: usize, dgh: usize, dhPrevDirect: usize): void {
  const hb: usize = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const g0 = b * 3 * H;
    const s0 = b * H;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      gruBwd(at(act, g0 + j), at(gh, g0 + j), hb, at(hPrev, s0 + j), at(dy, s0 + j), at(dhNext, s0 + j),
        at(dgx, g0 + j), at(dgh, g0 + j), at(dhPrevDirect, s0 + j), true);
    }
    for (; j < H; j++) {
      gruBwd(at(act, g0 + j), at(gh, g0 + j), hb, at(hPrev, s0 + j), at(dy, s0 + j), at(dhNext, s0 + j),
        at(dgx, g0 + j), at(dgh, g0 + j), at(dhPrevDirect, s0 + j), false);
    }
  }
}
