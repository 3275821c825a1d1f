/**
 * The kernel checks every CPU backend runs against the JS reference (src/backend/js.ts), on odd
 * and even sizes (wasm-kernels.test.ts, native-kernels.test.ts). Tolerances: GEMM 1e-5 relative
 * to sum |a||b| (float32 sums in another order); exp/tanh approximations 1e-6 absolute.
 */
import assert from 'node:assert/strict';
import { close, rng } from './kernel-check.js';
import { JsBackend } from '../src/backend/js.js';
import type { Backend } from '../src/backend/types.js';

const js = new JsBackend();

/** A CPU backend under test: the Backend kernels plus sumSquares and paramsChanged(params), which wasm and native both have. */
export type KernelBackend = Backend & {
  sumSquares(n: number, x: Float32Array): number;
  paramsChanged(params?: Float32Array): void;
  readonly threads: number;
  /** wasm: LSTM steps run fused over the threads so far. */
  readonly fusedSteps?: number;
};

/** A float32 view of n elements in the backend's memory, filled from `fill` (default 0). */
export function f32(be: Backend, n: number, fill?: (i: number) => number): Float32Array {
  const b = be.alloc(Math.max(4 * n, 4));
  const v = new Float32Array(b.buffer, b.byteOffset, n);
  if (fill) for (let i = 0; i < n; i++) v[i] = fill(i);
  return v;
}

export function i32(be: Backend, vals: number[]): Int32Array {
  const b = be.alloc(Math.max(4 * vals.length, 4));
  const v = new Int32Array(b.buffer, b.byteOffset, vals.length);
  v.set(vals);
  return v;
}

/** Same values in a plain (JS-heap) array, for the reference. */
export const copy = (x: Float32Array): Float32Array => Float32Array.from(x);

/** Absolute 1e-6 plus 1e-6 relative: float32 rounding of values up to a few units, and the exp/tanh approximations. */
const ew = (want: ArrayLike<number>) => (i: number): number => 1e-6 + 1e-6 * Math.abs(want[i]);

// ---- GEMM ----

export function checkGemm(be: KernelBackend, r: () => number, transA: boolean, transB: boolean, M: number, N: number, K: number,
  pad: number, beta: 0 | 1, B0?: Float32Array): void {
  const lda = (transA ? M : K) + pad;
  const ldb = (transB ? K : N) + pad;
  const ldc = N + pad;
  const aRows = transA ? K : M;
  const bRows = transB ? N : K;
  const A = f32(be, Math.max(aRows * lda, 1), () => r() * 2 - 1);
  const B = B0 ?? f32(be, Math.max(bRows * ldb, 1), () => r() * 2 - 1);
  const C = f32(be, M * ldc, () => r() * 2 - 1);
  const want = copy(C);
  js.gemm(transA, transB, M, N, K, copy(A), lda, copy(B), ldb, beta, want, ldc);
  // tolerance: 1e-5 of sum_k |a||b| (+ |C| when accumulating)
  const absA = copy(A).map(Math.abs), absB = copy(B).map(Math.abs);
  const scale = copy(C).map(Math.abs);
  js.gemm(transA, transB, M, N, K, absA, lda, absB, ldb, beta, scale, ldc);
  be.gemm(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);
  close(C, want, (i) => 1e-5 * scale[i] + 1e-30,
    `gemm tA=${transA} tB=${transB} M=${M} N=${N} K=${K} pad=${pad} beta=${beta}`);
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 3], [3, 5, 2], [2, 16, 8], [5, 17, 33], [4, 33, 1], [1, 100, 100], [7, 31, 64],
  [33, 129, 65], [50, 100, 100],
  [3, 40, 5], [1, 47, 9], [1, 96, 7], // odd row over whole triples of panels, the last one partial
  [50, 512, 256], // big enough for the threads, split by column panels
  [201, 20, 300], // few panels, many rows: split by rows
  [3, 520, 200], // few rows: B read in place, its panels split over the threads, tail columns apart
  [1, 1030, 300], // one row, big B: B streamed by rows
  [3, 2, 0], // K = 0: C = beta C
];

export async function gemmTests(be: KernelBackend): Promise<void> {
  const r = rng(1);
  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const beta of [0, 1] as const) {
          checkGemm(be, r, transA, transB, M, N, K, 0, beta);
          checkGemm(be, r, transA, transB, M, N, K, 3, beta); // lda, ldb, ldc > cols
        }
      }
    }
  }
}

/** B inside a declared parameter region: packed once, cached, and repacked after a change. */
export async function weightCacheTests(be: KernelBackend): Promise<void> {
  const r = rng(2);
  for (const [M, N, K] of [[50, 512, 256], [5, 17, 33], [1, 100, 100], [201, 20, 300]] as const) {
    for (const transB of [false, true]) {
      const P = f32(be, N * K + 5, () => r() * 2 - 1); // "all parameters"
      const W = P.subarray(5, 5 + N * K); // a weight matrix inside them, off the 64-byte grid
      be.paramsChanged(P);
      checkGemm(be, r, false, transB, M, N, K, 0, 0, W);
      checkGemm(be, r, true, transB, M, N, K, 0, 1, W); // same weights, now cached
      for (let i = 0; i < W.length; i++) W[i] = r() * 2 - 1; // change them as a test would...
      be.paramsChanged(); // ...and say so
      checkGemm(be, r, false, transB, M, N, K, 0, 0, W);
      // an optimizer step changes them too: no paramsChanged needed for kernel writes
      const g = f32(be, P.length, () => r() - 0.5), m = f32(be, P.length), v = f32(be, P.length);
      be.adam(P.length, P, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0.1, 0.001, 0);
      checkGemm(be, r, false, transB, M, N, K, 0, 1, W);
      be.scale(P.length, P, 0.5);
      checkGemm(be, r, true, transB, M, N, K, 0, 0, W);
    }
  }
}

// ---- elementwise ----

export async function rowTests(be: KernelBackend): Promise<void> {
  const r = rng(3);
  const u = (): number => r() * 2 - 1;
  for (const [M, N] of [[1, 1], [3, 7], [50, 33], [3, 128], [2, 1000]]) {
    for (const acc of [false, true]) {
      const v = f32(be, N, u), C = f32(be, M * N, u);
      const want = copy(C);
      js.broadcastRows(M, N, copy(v), want, acc);
      be.broadcastRows(M, N, v, C, acc);
      close(C, want, () => 0, `broadcastRows ${M}x${N} acc=${acc}`);
    }
    const A = f32(be, M * N, u), out = f32(be, N, u);
    const want = copy(out);
    js.colSumAcc(M, N, copy(A), want);
    be.colSumAcc(M, N, A, out);
    close(out, want, () => 0, `colSumAcc ${M}x${N}`);
  }
  for (const [rows, cols, n] of [[1, 1, 1], [5, 7, 3], [65, 33, 50], [10, 128, 13]]) {
    const idx = Array.from({ length: n }, () => Math.floor(r() * rows));
    if (n > 2) idx[1] = idx[0]; // a repeated index must accumulate twice
    const I = i32(be, idx);
    for (const acc of [false, true]) {
      const table = f32(be, rows * cols, u), out = f32(be, n * cols, u);
      const want = copy(out);
      js.gatherRows(n, Int32Array.from(idx), copy(table), cols, want, acc);
      be.gatherRows(n, I, table, cols, out, acc);
      close(out, want, () => 0, `gatherRows ${rows}x${cols} n=${n} acc=${acc}`);
    }
    const src = f32(be, n * cols, u), table = f32(be, rows * cols, u);
    const want = copy(table);
    js.scatterAddRows(n, Int32Array.from(idx), copy(src), cols, want);
    be.scatterAddRows(n, I, src, cols, table);
    close(table, want, () => 0, `scatterAddRows ${rows}x${cols} n=${n}`);
  }
  for (const n of [1, 2, 7, 33, 128, 1001]) {
    const x = f32(be, n, u), m = f32(be, n, (i) => (i % 3 ? 2 : 0));
    let want = copy(x);
    js.mul(n, want, copy(m));
    be.mul(n, x, m);
    close(x, want, () => 0, `mul n=${n}`);

    const y = f32(be, n, (i) => u() * 10 ** ((i % 7) - 3));
    want = copy(y);
    js.scale(n, want, 0.3);
    be.scale(n, y, 0.3);
    close(y, want, () => 0, `scale n=${n}`);

    const z = f32(be, n, (i) => (i === 3 ? NaN : u() * 3));
    want = copy(z);
    js.clamp(n, want, -1.1, 0.7);
    be.clamp(n, z, -1.1, 0.7);
    close(z, want, () => 0, `clamp n=${n}`);

    const s = f32(be, n, u);
    const ss = js.sumSquares(n, copy(s));
    assert.ok(Math.abs(be.sumSquares(n, s) - ss) <= 1e-12 * ss, `sumSquares n=${n}`);
  }
}

const BS = [1, 3, 50];

/** Every cell kernel at hidden sizes HS and batches 1, 3, 50. */
export async function cellTests(be: KernelBackend, HS = [1, 7, 33, 128]): Promise<void> {
  const r = rng(4);
  const u = (s: number) => (): number => (r() * 2 - 1) * s;
  for (const H of HS) {
    for (const B of BS) {
      const n = B * H;
      const tag = `B=${B} H=${H}`;
      // pre-activations over both branches of the approximations, some saturating
      const pre = (i: number): number => (i % 17 === 0 ? (r() - 0.5) * 200 : (r() * 2 - 1) * 5);

      // RNN
      {
        const p = f32(be, n, pre), h = f32(be, n);
        const hw = new Float32Array(n);
        js.rnnForward(B, H, copy(p), hw);
        be.rnnForward(B, H, p, h);
        close(h, hw, ew(hw), `rnnForward ${tag}`);
        const dy = f32(be, n, u(1)), dn = f32(be, n, u(1)), dp = f32(be, n);
        const dpw = new Float32Array(n);
        js.rnnBackward(B, H, copy(h), copy(dy), copy(dn), dpw);
        be.rnnBackward(B, H, h, dy, dn, dp);
        close(dp, dpw, ew(dpw), `rnnBackward ${tag}`);
      }
      // LSTM
      {
        const gates = f32(be, 4 * n, pre), cPrev = f32(be, n, u(3)), c = f32(be, n), h = f32(be, n);
        const gw = copy(gates), cw = new Float32Array(n), hw = new Float32Array(n);
        js.lstmForward(B, H, gw, copy(cPrev), cw, hw);
        be.lstmForward(B, H, gates, cPrev, c, h);
        close(gates, gw, ew(gw), `lstmForward gates ${tag}`);
        close(c, cw, ew(cw), `lstmForward c ${tag}`);
        close(h, hw, ew(hw), `lstmForward h ${tag}`);
        const dy = f32(be, n, u(1)), dn = f32(be, n, u(1)), dc = f32(be, n, u(1)), dg = f32(be, 4 * n);
        const dcw = copy(dc), dgw = new Float32Array(4 * n);
        js.lstmBackward(B, H, copy(gates), copy(cPrev), copy(c), copy(dy), copy(dn), dcw, dgw);
        be.lstmBackward(B, H, gates, cPrev, c, dy, dn, dc, dg);
        close(dg, dgw, ew(dgw), `lstmBackward dgates ${tag}`);
        close(dc, dcw, ew(dcw), `lstmBackward dc ${tag}`);
      }
      // GRU
      {
        const gx = f32(be, 3 * n, pre), gh = f32(be, 3 * n, pre), hp = f32(be, n, u(1));
        const act = f32(be, 3 * n), h = f32(be, n);
        const aw = new Float32Array(3 * n), hw = new Float32Array(n);
        js.gruForward(B, H, copy(gx), copy(gh), copy(hp), aw, hw);
        be.gruForward(B, H, gx, gh, hp, act, h);
        // n = tanh(gx_n + r gh_n): r's rounding error (a few 1e-8) is amplified by |gh_n|, an
        // input, not the approximation; allow 1e-6 per unit of |gh_n|.
        const ghn = (b: number, j: number): number => Math.abs(gh[b * 3 * H + 2 * H + j]);
        close(act, aw, (i) => ew(aw)(i) * (1 + ghn(Math.floor(i / (3 * H)), i % H)), `gruForward act ${tag}`);
        close(h, hw, (i) => ew(hw)(i) * (1 + ghn(Math.floor(i / H), i % H)), `gruForward h ${tag}`);
        for (const alias of [false, true]) {
          const dy = f32(be, n, u(1)), dn = f32(be, n, u(1));
          const dgx = f32(be, 3 * n), dgh = f32(be, 3 * n), dd = alias ? dn : f32(be, n);
          const dnw = copy(dn), dgxw = new Float32Array(3 * n), dghw = new Float32Array(3 * n);
          const ddw = alias ? dnw : new Float32Array(n);
          js.gruBackward(B, H, copy(act), copy(gh), copy(hp), copy(dy), dnw, dgxw, dghw, ddw);
          be.gruBackward(B, H, act, gh, hp, dy, dn, dgx, dgh, dd);
          close(dgx, dgxw, ew(dgxw), `gruBackward dgx ${tag} alias=${alias}`);
          close(dgh, dghw, ew(dghw), `gruBackward dgh ${tag} alias=${alias}`);
          close(dd, ddw, ew(ddw), `gruBackward dhPrevDirect ${tag} alias=${alias}`);
        }
      }
    }
  }
}

/**
 * Whole LSTM steps (recurrent GEMM + cell, and back): equal to the JS reference, and on every
 * call bit for bit the same, whether they ran as two calls or fused and split by hidden units
 * over the threads (the mode alternates while a shape's timings warm up).
 */
export async function stepTests(be: KernelBackend): Promise<void> {
  const r = rng(6);
  const u = (s: number) => (): number => (r() * 2 - 1) * s;
  const fusedBefore = be.fusedSteps ?? 0;
  for (const [B, H] of [[3, 33], [50, 48], [50, 128]]) {
    const n = B * H, G = 4 * H, tag = `B=${B} H=${H}`;
    const P = f32(be, H * G + 3, u(0.3)); // "the parameters", W_hh inside them
    const whh = P.subarray(3);
    be.paramsChanged(P);
    const hPrev = f32(be, n, u(1)), pre0 = f32(be, B * G, u(2)), cPrev = f32(be, n, u(2));
    const gw = copy(pre0), cw = new Float32Array(n), hw = new Float32Array(n);
    js.lstmStep(B, H, copy(hPrev), copy(whh), gw, copy(cPrev), cw, hw);
    const dgn = f32(be, B * G, u(0.5)), dy = f32(be, n, u(1)), dc0 = f32(be, n, u(1));
    const dhw = new Float32Array(n), dcw = copy(dc0), dgw = new Float32Array(B * G);
    js.lstmStepBackward(B, H, copy(dgn), copy(whh), dhw, copy(gw), copy(cPrev), copy(cw), copy(dy), dcw, dgw);
    let first: Float32Array[] | null = null;
    for (let call = 0; call < 6; call++) {
      const gates = f32(be, B * G), c = f32(be, n), h = f32(be, n);
      gates.set(pre0);
      be.lstmStep(B, H, hPrev, whh, gates, cPrev, c, h);
      const dh = f32(be, n), dc = f32(be, n), dg = f32(be, B * G);
      dc.set(dc0);
      be.lstmStepBackward(B, H, dgn, whh, dh, gates, cPrev, c, dy, dc, dg);
      const out = [gates, c, h, dh, dc, dg];
      if (!first) {
        first = out.map((x) => x.slice());
        // a GEMM's float32 sums (as checkGemm) feed the cell
        const tol = (w: Float32Array) => (i: number): number => 1e-5 * (1 + Math.abs(w[i]));
        close(gates, gw, tol(gw), `lstmStep gates ${tag}`);
        close(c, cw, tol(cw), `lstmStep c ${tag}`);
        close(h, hw, tol(hw), `lstmStep h ${tag}`);
        close(dh, dhw, tol(dhw), `lstmStepBackward dh ${tag}`);
        close(dg, dgw, tol(dgw), `lstmStepBackward dgates ${tag}`);
        close(dc, dcw, tol(dcw), `lstmStepBackward dc ${tag}`);
      } else {
        out.forEach((x, k) => assert.deepEqual(x, first![k], `call ${call} output ${k} ${tag}: same bits every call`));
      }
    }
  }
  if (be.fusedSteps !== undefined && be.threads > 1) assert.ok(be.fusedSteps > fusedBefore, 'the fused, threaded step ran');
}

export async function softmaxTests(be: KernelBackend): Promise<void> {
  const r = rng(5);
  for (const N of [1, 3, 50]) {
    for (const V of [1, 2, 7, 65, 128]) {
      const targets = Array.from({ length: N }, (_, i) => (i % 5 === 4 ? -1 : Math.floor(r() * V)));
      const T = i32(be, targets);
      for (const mode of ['none', 'separate', 'alias'] as const) {
        const logits = f32(be, N * V, (i) => (i % 11 === 0 ? 30 : 0) + (r() * 2 - 1) * 4);
        const lw = copy(logits);
        const dw = mode === 'none' ? null : mode === 'alias' ? lw : new Float32Array(N * V);
        const d = mode === 'none' ? null : mode === 'alias' ? logits : f32(be, N * V, () => 7);
        const scale = 1 / 37;
        const wantSum = new Float64Array(1), gotSum = f32(be, 1); // the loss is added into a view
        js.softmaxCrossEntropy(N, V, lw, Int32Array.from(targets), dw, scale, wantSum);
        be.softmaxCrossEntropy(N, V, logits, T, d, scale, gotSum);
        const want = wantSum[0], got = gotSum[0];
        const tag = `softmaxCrossEntropy N=${N} V=${V} ${mode}`;
        assert.ok(Math.abs(got - want) <= 1e-6 * N + 1e-6 * Math.abs(want), `${tag}: loss ${got} vs ${want}`);
        if (d && dw) close(d, dw, () => 1e-7, tag);
      }
    }
  }
}

export async function optimizerTests(be: KernelBackend): Promise<void> {
  const r = rng(6);
  const rel = (want: ArrayLike<number>) => (i: number): number => 1e-7 * Math.abs(want[i]) + 1e-12;
  for (const n of [1, 2, 7, 33, 1001]) {
    for (const wd of [0, 0.01]) {
      const tag = `n=${n} wd=${wd}`;
      const mk = (s: number): Float32Array => f32(be, n, () => (r() * 2 - 1) * s);
      {
        const p = mk(1), g = mk(0.1), m = mk(0.01), v = f32(be, n, () => r() * 0.01);
        const pw = copy(p), mw = copy(m), vw = copy(v);
        js.adam(n, pw, copy(g), mw, vw, 2e-3, 0.9, 0.999, 1e-8, 1 - 0.9 ** 3, 1 - 0.999 ** 3, wd);
        be.adam(n, p, g, m, v, 2e-3, 0.9, 0.999, 1e-8, 1 - 0.9 ** 3, 1 - 0.999 ** 3, wd);
        close(p, pw, rel(pw), `adam p ${tag}`);
        close(m, mw, rel(mw), `adam m ${tag}`);
        close(v, vw, rel(vw), `adam v ${tag}`);
      }
      {
        const p = mk(1), g = mk(0.1), v = f32(be, n, () => r() * 0.01);
        const pw = copy(p), vw = copy(v);
        js.rmsprop(n, pw, copy(g), vw, 1e-2, 0.99, 1e-8, wd);
        be.rmsprop(n, p, g, v, 1e-2, 0.99, 1e-8, wd);
        close(p, pw, rel(pw), `rmsprop p ${tag}`);
        close(v, vw, rel(vw), `rmsprop v ${tag}`);
      }
      {
        const p = mk(1), g = mk(0.1), v = f32(be, n, () => r() * 0.01);
        const pw = copy(p), vw = copy(v);
        js.adagrad(n, pw, copy(g), vw, 1e-1, 1e-10, wd);
        be.adagrad(n, p, g, v, 1e-1, 1e-10, wd);
        close(p, pw, rel(pw), `adagrad p ${tag}`);
        close(v, vw, rel(vw), `adagrad v ${tag}`);
      }
      for (const first of [true, false]) {
        const p = mk(1), g = mk(0.1), b = mk(0.1);
        const pw = copy(p), bw = copy(b);
        js.sgd(n, pw, copy(g), bw, 0.1, 0.9, wd, first);
        be.sgd(n, p, g, b, 0.1, 0.9, wd, first);
        close(p, pw, rel(pw), `sgd p ${tag} first=${first}`);
        close(b, bw, rel(bw), `sgd buf ${tag} first=${first}`);
      }
    }
    // the weights' moving average: computed in float64 and rounded once, as the reference; a
    // non-finite ‖g‖ in `skip` leaves it as it is
    for (const [decay, norm] of [[0.999, 3], [2 / 11, 0.5], [0.9, NaN], [0.9, Infinity]]) {
      const avg = f32(be, n, () => r() * 2 - 1), x = f32(be, n, () => r() * 2 - 1), skip = f32(be, 2, () => norm);
      const aw = copy(avg);
      js.emaUpdate(n, aw, copy(x), decay, copy(skip));
      be.emaUpdate(n, avg, x, decay, skip);
      close(avg, aw, () => 0, `emaUpdate n=${n} decay=${decay} ‖g‖=${norm}`);
      if (!Number.isFinite(norm)) continue;
      be.emaUpdate(n, avg, x, decay); // no skip view: always applied
      js.emaUpdate(n, aw, copy(x), decay);
      close(avg, aw, () => 0, `emaUpdate n=${n} decay=${decay} without skip`);
    }
  }
  // above the native backend's threading threshold (split over threads, same sums)
  const n = 300_001;
  const avg = f32(be, n, () => r()), x = f32(be, n, () => r()), aw = copy(avg);
  js.emaUpdate(n, aw, copy(x), 0.99);
  be.emaUpdate(n, avg, x, 0.99);
  close(avg, aw, () => 0, `emaUpdate n=${n}`);
}

