// Matrix multiply C (M, N) = op(A) (M, K) @ op(B) (K, N) + beta C.
//
// op(B) is consumed in column panels of 16 floats: panel p holds op(B)[k, 16p .. 16p+16) for
// k = 0..K-1, `bks` bytes apart. Packed panels (packB) are contiguous, bks = 64, zero padded on
// the right; a non-transposed B can also be read in place (bks = 4 ldb) for whole panels, which
// avoids the copy when few rows of A would reuse it (M <= 4, e.g. sampling with batch 1).
//
// Register tile: 2 rows x 16 columns = 8 f32x4 accumulators. V8 gives WebAssembly 15 vector
// registers on x64; 2x16 and 4x8 run at full speed, bigger tiles spill (measured here: 5x8,
// 6x8, 4x12 and 3x16 tiles fell from about 40 to 20-27 GFLOP/s). A is read in place with
// load32_splat, so transA only changes two strides.
import { fmadd, at } from './math';

export const PANEL: i32 = 16;

/** Store (beta = 0) or add (beta = 1) the first w lanes of v at p (w >= 4 means all four). */
// @ts-ignore: decorator
@inline function storeLanes(p: usize, v: v128, w: i32, beta: i32): void {
  if (w >= 4) {
    v128.store(p, beta ? f32x4.add(v128.load(p), v) : v);
    return;
  }
  const x0 = f32x4.extract_lane(v, 0);
  store<f32>(p, beta ? load<f32>(p) + x0 : x0);
  if (w > 1) {
    const x1 = f32x4.extract_lane(v, 1);
    store<f32>(p, beta ? load<f32>(p, 4) + x1 : x1, 4);
  }
  if (w > 2) {
    const x2 = f32x4.extract_lane(v, 2);
    store<f32>(p, beta ? load<f32>(p, 8) + x2 : x2, 8);
  }
}

/** Write a 16-wide accumulator row (4 vectors) to C, only the first w columns. */
// @ts-ignore: decorator
@inline function storeRow(pc: usize, v0: v128, v1: v128, v2: v128, v3: v128, w: i32, beta: i32): void {
  if (w == 16) {
    if (beta) {
      v128.store(pc, f32x4.add(v128.load(pc), v0));
      v128.store(pc, f32x4.add(v128.load(pc, 16), v1), 16);
      v128.store(pc, f32x4.add(v128.load(pc, 32), v2), 32);
      v128.store(pc, f32x4.add(v128.load(pc, 48), v3), 48);
    } else {
      v128.store(pc, v0);
      v128.store(pc, v1, 16);
      v128.store(pc, v2, 32);
      v128.store(pc, v3, 48);
    }
    return;
  }
  storeLanes(pc, v0, w, beta);
  if (w > 4) storeLanes(pc + 16, v1, w - 4, beta);
  if (w > 8) storeLanes(pc + 32, v2, w - 8, beta);
  if (w > 12) storeLanes(pc + 48, v3, w - 12, beta);
}

/**
 * 4x4 transpose through registers: the 4 floats at each of a, b, c, d (4 source rows) become
 * 4 rows of the destination, `ld` bytes apart, so every read and write is a whole vector.
 * Used by panel packing of a transposed B and by the standalone transpose.
 */
@inline function transpose4x4(a: usize, b: usize, c: usize, d: usize, dst: usize, ld: usize): void {
  const x0 = v128.load(a), x1 = v128.load(b);
  const x2 = v128.load(c), x3 = v128.load(d);
  // t0 = (x0[0], x1[0], x0[1], x1[1]) ...
  const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  v128.store(dst, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(dst + ld, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(dst + 2 * ld, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(dst + 3 * ld, i64x2.shuffle(t2, t3, 1, 3));
}

/** The scalar tail of transpose4x4: one float from each of 4 source rows into 4 consecutive floats. */
@inline function column4(a: usize, b: usize, c: usize, d: usize, dst: usize): void {
  store<f32>(dst, load<f32>(a));
  store<f32>(dst, load<f32>(b), 4);
  store<f32>(dst, load<f32>(c), 8);
  store<f32>(dst, load<f32>(d), 12);
}

/**
 * Two rows of C (at pc and pc + cRow) times one panel. pa points at op(A)[i, 0]; aRow is the
 * byte step to row i+1, aK the byte step in k. w = valid columns in this panel.
 */
function tile2(pa: usize, aRow: usize, aK: usize, pb: usize, bks: usize, K: i32,
  pc: usize, cRow: usize, w: i32, beta: i32): void {
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c03 = c00;
  let c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  let pa1 = pa + aRow;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    const b2 = v128.load(pb, 32);
    const b3 = v128.load(pb, 48);
    const a0 = v128.load32_splat(pa);
    const a1 = v128.load32_splat(pa1);
    c00 = fmadd(a0, b0, c00);
    c01 = fmadd(a0, b1, c01);
    c02 = fmadd(a0, b2, c02);
    c03 = fmadd(a0, b3, c03);
    c10 = fmadd(a1, b0, c10);
    c11 = fmadd(a1, b1, c11);
    c12 = fmadd(a1, b2, c12);
    c13 = fmadd(a1, b3, c13);
    pa += aK;
    pa1 += aK;
    pb += bks;
  }
  storeRow(pc, c00, c01, c02, c03, w, beta);
  storeRow(pc + cRow, c10, c11, c12, c13, w, beta);
}

/** One row of C times one panel (odd M, and M = 1). */
function tile1(pa: usize, aK: usize, pb: usize, bks: usize, K: i32, pc: usize, w: i32, beta: i32): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  for (let k = 0; k < K; k++) {
    const a = v128.load32_splat(pa);
    c0 = fmadd(a, v128.load(pb), c0);
    c1 = fmadd(a, v128.load(pb, 16), c1);
    c2 = fmadd(a, v128.load(pb, 32), c2);
    c3 = fmadd(a, v128.load(pb, 48), c3);
    pa += aK;
    pb += bks;
  }
  storeRow(pc, c0, c1, c2, c3, w, beta);
}

/**
 * One row of C, six accumulators: 16 columns from the panel stream at pf (written at cf, first
 * wf valid) and 8 columns from the stream at pt (at ct, first wt valid). Why: a 1x16 tile has
 * only four accumulators, so each k waits for the previous k's multiply-add (latency-bound at
 * 60-70% of the load rate), and eight need eight loads in flight, which V8 spills (measured:
 * 2x slower). Six fit in V8's 15 vector registers. Every sum still runs in k order, so each C
 * element is exactly what tile1 gives.
 */
function tile1x6(pa: usize, aK: usize, pf: usize, pt: usize, bks: usize, K: i32,
  cf: usize, wf: i32, ct: usize, wt: i32, beta: i32): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, d0 = c0, d1 = c0;
  for (let k = 0; k < K; k++) {
    const a = v128.load32_splat(pa);
    c0 = fmadd(a, v128.load(pf), c0);
    c1 = fmadd(a, v128.load(pf, 16), c1);
    c2 = fmadd(a, v128.load(pf, 32), c2);
    c3 = fmadd(a, v128.load(pf, 48), c3);
    d0 = fmadd(a, v128.load(pt), d0);
    d1 = fmadd(a, v128.load(pt, 16), d1);
    pa += aK;
    pf += bks;
    pt += bks;
  }
  storeRow(cf, c0, c1, c2, c3, wf, beta);
  storeLanes(ct, d0, wt, beta);
  if (wt > 4) storeLanes(ct + 16, d1, wt - 4, beta);
}

/**
 * One row of C times three panels (48 columns) at pb, pb + bps, pb + 2 bps, in two passes of
 * tile1x6: panel 0 with the left half of panel 1, then the right half of panel 1 with panel 2.
 * Only panel 2 can be partial (w2 valid columns); C row at pc.
 */
function tile1x3(pa: usize, aK: usize, pb: usize, bps: usize, bks: usize, K: i32, pc: usize, w2: i32, beta: i32): void {
  const pb1 = pb + bps;
  tile1x6(pa, aK, pb, pb1, bks, K, pc, PANEL, pc + 64, 8, beta);
  tile1x6(pa, aK, pb1 + bps, pb1 + 32, bks, K, pc + 128, w2, pc + 96, 8, beta);
}

/**
 * The unit of work (also what a worker thread runs): rows [i0, i1) of C times panels [p0, p1).
 * Bp points at panel 0; panel p starts at Bp + p * bps bytes. Loops panel-outer so one panel
 * (K x 64 bytes) stays in L1/L2 while the rows of A stream past it.
 */
export function gemmPanels(transA: i32, N: i32, K: i32, A: usize, lda: i32,
  Bp: usize, bks: i32, bps: i32, beta: i32, C: usize, ldc: i32,
  i0: i32, i1: i32, p0: i32, p1: i32): void {
  // op(A)[i, k] is A[i lda + k] or, transposed, A[k lda + i]
  const aRow: usize = transA ? 4 : <usize>lda << 2;
  const aK: usize = transA ? <usize>lda << 2 : 4;
  const cRow: usize = <usize>ldc << 2;
  const odd = (i1 - i0) & 1;
  const iLast = i1 - 1;
  for (let p = p0; p < p1; p++) {
    const pb = Bp + <usize>p * <usize>bps;
    const j0 = p * PANEL;
    const w = min(PANEL, N - j0);
    for (let i = i0; i + 2 <= i1; i += 2) {
      tile2(A + <usize>i * aRow, aRow, aK, pb, <usize>bks, K, C + <usize>i * cRow + (<usize>j0 << 2), cRow, w, beta);
    }
    if (!odd) continue;
    // the odd row: three panels at a time (this one and the next two), the last one or two
    // panels one by one
    const q = (p - p0) % 3;
    const pcRow = C + <usize>iLast * cRow + (<usize>j0 << 2);
    const paRow = A + <usize>iLast * aRow;
    if (q == 0 && p + 2 < p1) tile1x3(paRow, aK, pb, <usize>bps, <usize>bks, K, pcRow, min(PANEL, N - j0 - 2 * PANEL), beta);
    else if (p - q + 2 >= p1) tile1(paRow, aK, pb, <usize>bks, K, pcRow, w, beta);
  }
}

/**
 * Pack panels [p0, p1) of op(B) (K, N) into dst (panel p at dst + p K 64 bytes), zero padding
 * the last panel to 16 columns so tiles can always read full vectors.
 */
export function packB(transB: i32, K: i32, N: i32, B: usize, ldb: i32, dst: usize, p0: i32, p1: i32): void {
  const ldbB: usize = <usize>ldb << 2;
  for (let p = p0; p < p1; p++) {
    const j0 = p * PANEL;
    const w = min(PANEL, N - j0);
    const d0 = dst + <usize>p * <usize>K * 64;
    if (!transB) {
      // op(B)[k, j] = B[k ldb + j]: copy 16 contiguous floats per k
      let src = B + (<usize>j0 << 2);
      if (w == PANEL) {
        for (let k = 0; k < K; k++) {
          const d = d0 + (<usize>k << 6);
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
          v128.store(d, v128.load(src, 32), 32);
          v128.store(d, v128.load(src, 48), 48);
          src += ldbB;
        }
      } else {
        memory.fill(d0, 0, <usize>K << 6);
        for (let k = 0; k < K; k++) {
          const d = d0 + (<usize>k << 6);
          for (let jj = 0; jj < w; jj++) store<f32>(at(d, jj), load<f32>(at(src, jj)));
          src += ldbB;
        }
      }
    } else {
      // op(B)[k, j] = B[j ldb + k]: a transpose. 4x4 blocks via shuffles when 4 rows of B are
      // available, so each read and write is a whole vector.
      if (w < PANEL) memory.fill(d0, 0, <usize>K << 6);
      let jj = 0;
      for (; jj + 4 <= w; jj += 4) {
        const r0 = B + <usize>(j0 + jj) * ldbB;
        const r1 = r0 + ldbB, r2 = r1 + ldbB, r3 = r2 + ldbB;
        let k = 0;
        for (; k + 4 <= K; k += 4) {
          const kb: usize = <usize>k << 2;
          transpose4x4(r0 + kb, r1 + kb, r2 + kb, r3 + kb, d0 + (<usize>k << 6) + (<usize>jj << 2), 64);
        }
        for (; k < K; k++) {
          const kb: usize = <usize>k << 2;
          column4(r0 + kb, r1 + kb, r2 + kb, r3 + kb, d0 + (<usize>k << 6) + (<usize>jj << 2));
        }
      }
      for (; jj < w; jj++) {
        const r = B + <usize>(j0 + jj) * ldbB;
        for (let k = 0; k < K; k++) store<f32>(d0 + (<usize>k << 6) + (<usize>jj << 2), load<f32>(at(r, k)));
      }
    }
  }
}

/** A worker's job: optionally pack its own panels (per-call packing), then multiply them. */
export function gemmTask(transA: i32, N: i32, K: i32, A: usize, lda: i32,
  Bp: usize, bks: i32, bps: i32, beta: i32, C: usize, ldc: i32,
  i0: i32, i1: i32, p0: i32, p1: i32,
  pack: i32, transB: i32, Bsrc: usize, ldb: i32): void {
  if (pack) packB(transB, K, N, Bsrc, ldb, Bp, p0, p1);
  gemmPanels(transA, N, K, A, lda, Bp, bks, bps, beta, C, ldc, i0, i1, p0, p1);
}

/**
 * Scalar fallback for columns [j0, j1) of a non-transposed B read in place (the < 16 columns
 * left after the whole panels, when B is not packed).
 */
export function gemmColsNN(transA: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32,
  beta: i32, C: usize, ldc: i32, i0: i32, i1: i32, j0: i32, j1: i32): void {
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) {
      let s: f32 = 0;
      for (let k = 0; k < K; k++) {
        const a = load<f32>(at(A, transA ? k * lda + i : i * lda + k));
        s += a * load<f32>(at(B, k * ldb + j));
      }
      const pc = at(C, i * ldc + j);
      store<f32>(pc, beta ? load<f32>(pc) + s : s);
    }
  }
}

/**
 * C = op(A) B^T with B (N, K) read in place: one dot product per element, vectorised over k
 * when A's rows are contiguous. Used when B cannot be packed (no room in memory) or is tiny.
 */
export function gemmDotNT(transA: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32,
  beta: i32, C: usize, ldc: i32, i0: i32, i1: i32, j0: i32, j1: i32): void {
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) {
      const pb = at(B, j * ldb);
      let s: f32 = 0;
      if (!transA) {
        const pa = at(A, i * lda);
        let acc = f32x4.splat(0);
        let k = 0;
        for (; k + 4 <= K; k += 4) acc = fmadd(v128.load(at(pa, k)), v128.load(at(pb, k)), acc);
        s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
        for (; k < K; k++) s += load<f32>(at(pa, k)) * load<f32>(at(pb, k));
      } else {
        for (let k = 0; k < K; k++) s += load<f32>(at(A, k * lda + i)) * load<f32>(at(pb, k));
      }
      const pc = at(C, i * ldc + j);
      store<f32>(pc, beta ? load<f32>(pc) + s : s);
    }
  }
}

/**
 * C rows [i0, i1) of op(A) @ B for a non-transposed B read in place, streaming B row by row
 * (contiguous, so the prefetcher keeps up) and keeping the C row in L1: the fast way to read an
 * unpacked B once, for the few rows of a batch-1 step. Each C element still sums in k order.
 */
export function gemmRowsNN(transA: i32, N: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32,
  beta: i32, C: usize, ldc: i32, i0: i32, i1: i32): void {
  const aK: usize = transA ? <usize>lda << 2 : 4;
  const aRow: usize = transA ? 4 : <usize>lda << 2;
  const N16 = N & ~15;
  for (let i = i0; i < i1; i++) {
    const pc = at(C, i * ldc);
    if (!beta) memory.fill(pc, 0, <usize>N << 2);
    let pa = A + <usize>i * aRow;
    let pb = B;
    for (let k = 0; k < K; k++) {
      const s = load<f32>(pa);
      if (s != 0) { // one-hot-like inputs: skip, as the reference does
        const a = f32x4.splat(s);
        let j = 0;
        for (; j < N16; j += 16) {
          const q = at(pc, j), r = at(pb, j);
          v128.store(q, fmadd(a, v128.load(r), v128.load(q)));
          v128.store(q, fmadd(a, v128.load(r, 16), v128.load(q, 16)), 16);
          v128.store(q, fmadd(a, v128.load(r, 32), v128.load(q, 32)), 32);
          v128.store(q, fmadd(a, v128.load(r, 48), v128.load(q, 48)), 48);
        }
        for (; j < N; j++) store<f32>(at(pc, j), load<f32>(at(pc, j)) + s * load<f32>(at(pb, j)));
      }
      pa += aK;
      pb += <usize>ldb << 2;
    }
  }
}

/**
 * dst (cols, rows) = transpose of src (rows, cols), row strides lds and ldd in floats. Used to
 * turn a transposed A with a long K into rows: tiles then read A contiguously instead of one
 * cache line per k (15 -> 30+ GFLOP/s for the weight gradients, K = T·B). 4x4 blocks through
 * shuffles, so reads and writes are whole vectors.
 */
export function transpose(rows: i32, cols: i32, src: usize, lds: i32, dst: usize, ldd: i32): void {
  const ls: usize = <usize>lds << 2;
  const ld: usize = <usize>ldd << 2;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const s0 = src + <usize>r * ls, s1 = s0 + ls, s2 = s1 + ls, s3 = s2 + ls;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const cb: usize = <usize>c << 2;
      transpose4x4(s0 + cb, s1 + cb, s2 + cb, s3 + cb, dst + <usize>c * ld + (<usize>r << 2), ld);
    }
    for (; c < cols; c++) {
      const cb: usize = <usize>c << 2;
      column4(s0 + cb, s1 + cb, s2 + cb, s3 + cb, dst + <usize>c * ld + (<usize>r << 2));
    }
  }
  for (; r < rows; r++) {
    const s = src + <usize>r * ls;
    for (let c = 0; c < cols; c++) store<f32>(dst + <usize>c * ld + (<usize>r << 2), load<f32>(s + (<usize>c << 2)));
  }
}
