/**
 * Every WGSL kernel (src/backend/webgpu/) against the JS reference (src/backend/js.ts), on odd
 * and even sizes (H = 1, 7, 33, 128; B = 1, 3, 50; V = 65), in Node through Dawn. Without a GPU
 * this runs on SwiftShader's Vulkan driver (Debian's chromium package ships it; libvulkan1 loads
 * it): VK_ICD_FILENAMES is pointed at it when unset. Under CI=true no adapter is a failure; on a
 * developer machine without one the tests are skipped with the one-line reason.
 *
 * Tolerances (float32 on the device, other summation orders, the driver's exp):
 * - GEMM: 1e-5 × Σ_k |a||b| (+ |C| when accumulating), as the WASM kernels' test.
 * - elementwise and cells: 1e-5 absolute + 1e-5 relative per step; cell windows of T = 3
 *   steps (errors carried through the recurrence): 1e-4 absolute + 1e-4 relative.
 * - sums (loss, ‖g‖²): 1e-5 relative (float32 tree sums against float64).
 * - broadcastRows, gather, scatter-add, fill, mul, clamp: exact (the same float32 operations in
 *   the same order).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { close, rng } from './kernel-check.js';
import { existsSync } from 'node:fs';
import { JsBackend } from '../src/backend/js.js';
import { clipGradients } from '../src/optim.js';
import { requestWebGpuDevice } from '../src/backend/webgpu/node.js';
import { isSoftwareAdapter, openDevice } from '../src/backend/webgpu/device.js';
import { TestGpuContext } from './gpu-context.js';
import { gemm } from '../src/backend/webgpu/gemm.js';
import * as ew from '../src/backend/webgpu/elementwise.js';
import * as cells from '../src/backend/webgpu/cells.js';
import { clipFactor, reduce, reduceScratch, softmaxCrossEntropy, sumSquares } from '../src/backend/webgpu/loss.js';
import * as opt from '../src/backend/webgpu/optim.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

const opened = await requestWebGpuDevice();
const noDevice = 'error' in opened ? opened.error : null;
const ctx = 'error' in opened ? null : new TestGpuContext(opened, { heapBytes: 64 << 20 });
const skip = noDevice && process.env.CI !== 'true' ? `no WebGPU: ${noDevice}` : false;

test.after(() => {
  ctx?.destroy();
  if (!('error' in opened)) opened.device.destroy();
});

/** A test that needs the device; under CI a missing device fails it with the reason. */
function gpuTest(name: string, fn: (g: TestGpuContext) => Promise<void>): void {
  test(name, { skip }, async () => {
    if (!ctx) assert.fail(`no WebGPU device: ${noDevice}`);
    ctx.reset();
    ctx.errors.length = 0;
    await fn(ctx);
    assert.deepEqual(ctx.errors, [], 'device errors');
  });
}

test('the adapter is found and named; software adapters are marked', { skip }, () => {
  if ('error' in opened) assert.fail(opened.error);
  assert.ok(opened.adapterInfo.name.length > 0);
  if (/swiftshader/i.test(opened.adapterInfo.name)) assert.equal(opened.software, true);
});

test('no WebGPU, no adapter, a failing adapter: one-line reasons, no exception', async () => {
  const none = await openDevice(undefined);
  assert.ok('error' in none && /not available/.test(none.error), JSON.stringify(none));
  // A GPU object as a browser without a usable driver hands it out: no adapter, or a rejection.
  const noAdapter = await openDevice({ requestAdapter: async () => null } as unknown as GPU);
  assert.ok('error' in noAdapter && /no adapter/.test(noAdapter.error), JSON.stringify(noAdapter));
  const failing = await openDevice({ requestAdapter: async () => { throw new Error('driver lost\nsecond line'); } } as unknown as GPU);
  assert.deepEqual(failing, { error: 'WebGPU adapter request failed: driver lost' });
});

test('software adapters are recognised by name or by the fallback flag', () => {
  const info = (o: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>> & { isFallbackAdapter?: boolean }) =>
    ({ vendor: '', architecture: '', device: '', description: '', ...o }) as unknown as GPUAdapterInfo;
  assert.equal(isSoftwareAdapter(info({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' })), true);
  assert.equal(isSoftwareAdapter(info({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })), true);
  assert.equal(isSoftwareAdapter(info({ vendor: 'nvidia', architecture: 'hopper', isFallbackAdapter: true })), true);
  assert.equal(isSoftwareAdapter(info({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })), false);
  assert.equal(isSoftwareAdapter(info({ vendor: 'apple', architecture: 'metal-3' })), false);
});

const js = new JsBackend();

const randoms = (r: () => number, n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());

/** Put host data in the heap; returns its offset. */
function up(g: TestGpuContext, data: Float32Array | Int32Array): number {
  const off = g.alloc(data.length);
  if (data.length) g.write(off, data);
  return off;
}

const rel = (a: number, r: number, want: ArrayLike<number>) => (i: number): number => a + r * Math.abs(want[i]);
const exact = (): number => 0;

const HS = [1, 7, 33, 128];
const BS = [1, 3, 50];
const V = 65;

// ---- the recorder ----

gpuTest('recorder: a full uniform ring submits on its own; a host write comes after the work recorded before it', async (g) => {
  if (!('device' in opened)) return;
  const small = new TestGpuContext(opened, { heapBytes: 1 << 16, slots: 4 });
  try {
    const x = up(small, Float32Array.of(1, 2, 3));
    const before = small.counters.submits;
    for (let i = 0; i < 10; i++) ew.scale(small, 3, x, 2); // 10 dispatches through 4 slots
    close(await small.read(x, 3), [1024, 2048, 3072], exact, 'scaled 10 times');
    assert.equal(small.counters.submits - before, 3, 'submits: 4 + 4 + the last 2 with the readback');
    ew.scale(small, 3, x, 2); // recorded, not submitted
    small.write(x, Float32Array.of(5, 6, 7)); // must land after the scale, not before it
    close(await small.read(x, 3), [5, 6, 7], exact, 'write after recorded work');
    const buffers = small.counters.buffersCreated;
    await small.readMany([[x, 1], [x + 2, 1]]);
    await small.read(x, 3);
    assert.equal(small.counters.buffersCreated, buffers, 'readbacks reuse their staging buffers');
    assert.deepEqual(small.errors, []);
  } finally {
    small.destroy();
  }
});

// ---- GEMM ----

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 2], [17, 65, 17], [5, 17, 33], [33, 129, 65], [50, 128, 33], [150, 7, 50], [3, 2, 0],
];

gpuTest('gemm: all four transposes, beta 0 and 1, odd sizes, padded leading dimensions', async (g) => {
  const r = rng(1);
  const pending: { C: number; want: Float32Array; scale: Float32Array; what: string }[] = [];
  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const beta of [0, 1] as const) {
          const pad = (M + N + K + (beta ? 3 : 0)) % 2 ? 3 : 0; // half the shapes with lda, ldb, ldc > cols
          const lda = (transA ? M : K) + pad;
          const ldb = (transB ? K : N) + pad;
          const ldc = N + pad;
          const A = randoms(r, Math.max((transA ? K : M) * lda, 1));
          const B = randoms(r, Math.max((transB ? N : K) * ldb, 1));
          const C = randoms(r, M * ldc);
          const want = Float32Array.from(C);
          js.gemm(transA, transB, M, N, K, A, lda, B, ldb, beta, want, ldc);
          const scale = C.map(Math.abs);
          js.gemm(transA, transB, M, N, K, A.map(Math.abs), lda, B.map(Math.abs), ldb, beta, scale, ldc);
          const c = up(g, C);
          gemm(g, transA, transB, M, N, K, up(g, A), lda, up(g, B), ldb, beta, c, ldc);
          pending.push({ C: c, want, scale, what: `gemm tA=${transA} tB=${transB} M=${M} N=${N} K=${K} pad=${pad} beta=${beta}` });
        }
      }
    }
  }
  const got = await g.readMany(pending.map((p) => [p.C, p.want.length] as const));
  pending.forEach((p, i) => close(got[i], p.want, (j) => 1e-5 * p.scale[j] + 1e-30, p.what));
});

// ---- rows and elements ----

gpuTest('broadcastRows, colSumAcc, mul, scale, clamp, fill', async (g) => {
  const r = rng(2);
  for (const M of [1, 3, 50, 150]) {
    for (const N of HS) {
      const v = randoms(r, N);
      const C0 = randoms(r, M * N);
      for (const acc of [false, true]) {
        const want = Float32Array.from(C0);
        js.broadcastRows(M, N, v, want, acc);
        const c = up(g, C0);
        ew.broadcastRows(g, M, N, up(g, v), c, acc);
        close(await g.read(c, M * N), want, exact, `broadcastRows M=${M} N=${N} acc=${acc}`);
      }
      const out0 = randoms(r, N);
      const want = Float32Array.from(out0);
      js.colSumAcc(M, N, C0, want);
      const out = up(g, out0);
      ew.colSumAcc(g, M, N, up(g, C0), out);
      close(await g.read(out, N), want, rel(1e-5, 1e-5, want), `colSumAcc M=${M} N=${N}`);
    }
  }
  for (const n of [1, 7, 4097]) {
    const x0 = randoms(r, n, -3, 3);
    const m = randoms(r, n, 0, 2);
    const wm = Float32Array.from(x0); js.mul(n, wm, m);
    const ws = Float32Array.from(x0); js.scale(n, ws, 0.37);
    const wc = Float32Array.from(x0); js.clamp(n, wc, -1.5, 1.25);
    const xm = up(g, x0), xs = up(g, x0), xc = up(g, x0), xf = up(g, x0);
    ew.mul(g, n, xm, up(g, m));
    ew.scale(g, n, xs, 0.37);
    ew.clamp(g, n, xc, -1.5, 1.25);
    ew.fill(g, n, xf, 0);
    close(await g.read(xm, n), wm, exact, `mul n=${n}`);
    close(await g.read(xs, n), ws, rel(0, 2e-7, ws), `scale n=${n}`); // the factor is rounded to float32 first
    close(await g.read(xc, n), wc, exact, `clamp n=${n}`);
    close(await g.read(xf, n), new Float32Array(n), exact, `fill n=${n}`);
  }
});

gpuTest('emaUpdate: the moving average, skipped when the clip pair says ‖g‖ is not finite', async (g) => {
  const r = rng(12);
  for (const n of [1, 7, 4097]) {
    for (const [decay, norm] of [[0.999, 3], [2 / 11, 0.5], [0.9, NaN], [0.9, Infinity]]) {
      const a0 = randoms(r, n), x = randoms(r, n);
      const want = Float32Array.from(a0);
      js.emaUpdate(n, want, x, decay, Float32Array.of(norm, 1));
      const ga = up(g, a0), gn = up(g, a0);
      const factor = up(g, Float32Array.of(norm, 1));
      opt.emaUpdate(g, n, ga, up(g, x), decay, factor);
      opt.emaUpdate(g, n, gn, up(g, x), decay, -1); // no skip test: always applied
      const what = `emaUpdate n=${n} decay=${decay} ‖g‖=${norm}`;
      close(await g.read(ga, n), want, rel(1e-7, 2e-7, want), what); // float32 arithmetic on the device
      const always = Float32Array.from(a0);
      js.emaUpdate(n, always, x, decay);
      close(await g.read(gn, n), always, rel(1e-7, 2e-7, always), `${what} without skip`);
    }
  }
});

gpuTest('gatherRows and scatterAddRows (repeated ids: exact, in the reference order)', async (g) => {
  const r = rng(3);
  for (const n of [1, 3, 150]) {
    const idx = Int32Array.from({ length: n }, () => Math.floor(r() * V));
    if (n > 2) idx[n - 1] = idx[0]; // a repeated id for sure
    for (const cols of HS) {
      const table = randoms(r, V * cols);
      const out0 = randoms(r, n * cols);
      const ids = up(g, idx);
      for (const acc of [false, true]) {
        const want = Float32Array.from(out0);
        js.gatherRows(n, idx, table, cols, want, acc);
        const out = up(g, out0);
        ew.gatherRows(g, n, ids, up(g, table), cols, out, acc);
        close(await g.read(out, n * cols), want, exact, `gatherRows n=${n} cols=${cols} acc=${acc}`);
      }
      const want = Float32Array.from(table);
      js.scatterAddRows(n, idx, out0, cols, want);
      const t = up(g, table);
      ew.scatterAddRows(g, n, ids, up(g, out0), cols, t);
      close(await g.read(t, V * cols), want, exact, `scatterAddRows n=${n} cols=${cols}`);
    }
  }
});

// ---- cell epilogues, one step ----

gpuTest('cell epilogues: rnn, lstm, gru forward and backward, one step', async (g) => {
  const r = rng(4);
  for (const B of BS) {
    for (const H of HS) {
      const tol = (w: Float32Array) => rel(1e-5, 1e-5, w);
      const what = `B=${B} H=${H}`;
      // RNN
      const pre = randoms(r, B * H, -3, 3), dy = randoms(r, B * H), dhn = randoms(r, B * H);
      const wh = new Float32Array(B * H);
      js.rnnForward(B, H, pre, wh);
      const wdp = new Float32Array(B * H);
      js.rnnBackward(B, H, wh, dy, dhn, wdp);
      const gh = g.alloc(B * H), gdp = g.alloc(B * H);
      cells.rnnForward(g, B, H, up(g, pre), gh);
      cells.rnnBackward(g, B, H, up(g, wh), up(g, dy), up(g, dhn), gdp);
      close(await g.read(gh, B * H), wh, tol(wh), `rnnForward ${what}`);
      close(await g.read(gdp, B * H), wdp, tol(wdp), `rnnBackward ${what}`);
      // LSTM
      const gates0 = randoms(r, B * 4 * H, -3, 3), cPrev = randoms(r, B * H), dc0 = randoms(r, B * H);
      const wg = Float32Array.from(gates0), wc = new Float32Array(B * H), wh2 = new Float32Array(B * H);
      js.lstmForward(B, H, wg, cPrev, wc, wh2);
      const wdc = Float32Array.from(dc0), wdg = new Float32Array(B * 4 * H);
      js.lstmBackward(B, H, wg, cPrev, wc, dy, dhn, wdc, wdg);
      const ga = up(g, gates0), gc = g.alloc(B * H), gh2 = g.alloc(B * H), cp = up(g, cPrev);
      cells.lstmForward(g, B, H, ga, cp, gc, gh2);
      const gdc = up(g, dc0), gdg = g.alloc(B * 4 * H);
      cells.lstmBackward(g, B, H, ga, cp, gc, up(g, dy), up(g, dhn), gdc, gdg);
      close(await g.read(ga, B * 4 * H), wg, tol(wg), `lstmForward gates ${what}`);
      close(await g.read(gc, B * H), wc, tol(wc), `lstmForward c ${what}`);
      close(await g.read(gh2, B * H), wh2, tol(wh2), `lstmForward h ${what}`);
      close(await g.read(gdc, B * H), wdc, tol(wdc), `lstmBackward dc ${what}`);
      close(await g.read(gdg, B * 4 * H), wdg, tol(wdg), `lstmBackward dgates ${what}`);
      // GRU (dhPrevDirect aliasing dhNext, as the model calls it)
      const gx = randoms(r, B * 3 * H, -2, 2), ghh = randoms(r, B * 3 * H, -2, 2), hPrev = randoms(r, B * H);
      const wact = new Float32Array(B * 3 * H), wh3 = new Float32Array(B * H);
      js.gruForward(B, H, gx, ghh, hPrev, wact, wh3);
      const wdgx = new Float32Array(B * 3 * H), wdgh = new Float32Array(B * 3 * H), wdh = Float32Array.from(dhn);
      js.gruBackward(B, H, wact, ghh, hPrev, dy, wdh, wdgx, wdgh, wdh);
      const gact = g.alloc(B * 3 * H), gh3 = g.alloc(B * H), ghp = up(g, hPrev), gghh = up(g, ghh);
      cells.gruForward(g, B, H, up(g, gx), gghh, ghp, gact, gh3);
      const gdgx = g.alloc(B * 3 * H), gdgh = g.alloc(B * 3 * H), gdh = up(g, dhn);
      cells.gruBackward(g, B, H, gact, gghh, ghp, up(g, dy), gdh, gdgx, gdgh, gdh);
      close(await g.read(gact, B * 3 * H), wact, tol(wact), `gruForward act ${what}`);
      close(await g.read(gh3, B * H), wh3, tol(wh3), `gruForward h ${what}`);
      close(await g.read(gdgx, B * 3 * H), wdgx, tol(wdgx), `gruBackward dgx ${what}`);
      close(await g.read(gdgh, B * 3 * H), wdgh, tol(wdgh), `gruBackward dgh ${what}`);
      close(await g.read(gdh, B * H), wdh, tol(wdh), `gruBackward dhPrevDirect ${what}`);
    }
  }
});

// ---- fused steps over a window: forward T steps, backward T steps, dh_0 and dW_hh ----

type Cell = 'rnn' | 'lstm' | 'gru';
const GATES: Record<Cell, number> = { rnn: 1, lstm: 4, gru: 3 };
const T = 3;
/** (B, H) pairs: every B and every H, the smallest and the largest together (a cross product would double the time on SwiftShader). */
const PAIRS: [number, number][] = [[1, 1], [1, 128], [3, 7], [3, 33], [50, 1], [50, 33], [50, 128]];

/** The window's buffers: h, c ((T+1)·B, H); pre, gh, act, dpre, dgh (T·B, G); dy (T·B, H); dh, dc (B, H); whh (H, G); bhh (G). */
interface Win { h: Float32Array; c: Float32Array; pre: Float32Array; gh: Float32Array; act: Float32Array; dpre: Float32Array; dgh: Float32Array; dy: Float32Array; dh: Float32Array; dc: Float32Array; whh: Float32Array; bhh: Float32Array; gwhh: Float32Array }
const NAMES = ['h', 'c', 'pre', 'gh', 'act', 'dpre', 'dgh', 'dh', 'dc', 'gwhh'] as const;

function window(r: () => number, cell: Cell, B: number, H: number): Win {
  const G = GATES[cell] * H;
  const h = new Float32Array((T + 1) * B * H);
  h.set(randoms(r, B * H)); // the state carried in
  const c = new Float32Array((T + 1) * B * H);
  c.set(randoms(r, B * H));
  const s = 1 / Math.sqrt(H);
  return {
    h, c, pre: randoms(r, T * B * G), gh: new Float32Array(T * B * G), act: new Float32Array(T * B * G),
    dpre: new Float32Array(T * B * G), dgh: new Float32Array(T * B * G), dy: randoms(r, T * B * H),
    dh: new Float32Array(B * H), dc: new Float32Array(B * H), whh: randoms(r, H * G, -s, s), bhh: randoms(r, G), gwhh: randoms(r, H * G),
  };
}

/** The model's loops of lstm.ts / gru.ts / rnn.ts (without the input side), on the JS reference. */
function jsWindow(cell: Cell, w: Win, B: number, H: number): void {
  const G = GATES[cell] * H;
  const at = (x: Float32Array, t: number, n: number) => x.subarray(t * n, (t + 1) * n);
  const hA = (t: number) => at(w.h, t, B * H), cA = (t: number) => at(w.c, t, B * H), gA = (x: Float32Array, t: number) => at(x, t, B * G);
  for (let t = 0; t < T; t++) {
    if (cell === 'lstm') js.lstmStep(B, H, hA(t), w.whh, gA(w.pre, t), cA(t), cA(t + 1), hA(t + 1));
    else if (cell === 'rnn') {
      js.gemm(false, false, B, H, H, hA(t), H, w.whh, H, 1, gA(w.pre, t), H);
      js.rnnForward(B, H, gA(w.pre, t), hA(t + 1));
    } else {
      js.broadcastRows(B, G, w.bhh, gA(w.gh, t), false);
      js.gemm(false, false, B, G, H, hA(t), H, w.whh, G, 1, gA(w.gh, t), G);
      js.gruForward(B, H, gA(w.pre, t), gA(w.gh, t), hA(t), gA(w.act, t), hA(t + 1));
    }
  }
  w.dh.fill(0);
  w.dc.fill(0);
  const dyA = (t: number) => at(w.dy, t, B * H);
  for (let t = T - 1; t >= 0; t--) {
    if (cell === 'lstm') js.lstmStepBackward(B, H, t < T - 1 ? gA(w.dpre, t + 1) : null, w.whh, w.dh, gA(w.pre, t), cA(t), cA(t + 1), dyA(t), w.dc, gA(w.dpre, t));
    else if (cell === 'rnn') {
      js.rnnBackward(B, H, hA(t + 1), dyA(t), w.dh, gA(w.dpre, t));
      js.gemm(false, true, B, H, H, gA(w.dpre, t), H, w.whh, H, 0, w.dh, H);
    } else {
      js.gruBackward(B, H, gA(w.act, t), gA(w.gh, t), hA(t), dyA(t), w.dh, gA(w.dpre, t), gA(w.dgh, t), w.dh);
      js.gemm(false, true, B, H, G, gA(w.dgh, t), G, w.whh, G, 1, w.dh, H);
    }
  }
  if (cell === 'lstm') js.gemm(false, true, B, H, G, gA(w.dpre, 0), G, w.whh, G, 0, w.dh, H);
  const dW = cell === 'gru' ? w.dgh : w.dpre;
  js.gemm(true, false, H, G, T * B, w.h, H, dW, G, 1, w.gwhh, G);
}

/** The same window with the fused step kernels: one dispatch per step each way. */
function gpuWindow(g: TestGpuContext, cell: Cell, w: Record<keyof Win, number>, B: number, H: number): void {
  const G = GATES[cell] * H;
  const hA = (t: number) => w.h + t * B * H, cA = (t: number) => w.c + t * B * H, gA = (x: number, t: number) => x + t * B * G;
  for (let t = 0; t < T; t++) {
    if (cell === 'lstm') cells.lstmStep(g, B, H, hA(t), w.whh, gA(w.pre, t), cA(t), cA(t + 1), hA(t + 1));
    else if (cell === 'rnn') cells.rnnStep(g, B, H, hA(t), w.whh, gA(w.pre, t), hA(t + 1));
    else cells.gruStep(g, B, H, gA(w.pre, t), hA(t), w.whh, w.bhh, gA(w.gh, t), gA(w.act, t), hA(t + 1));
  }
  ew.fill(g, B * H, w.dh, 0);
  ew.fill(g, B * H, w.dc, 0);
  const dyA = (t: number) => w.dy + t * B * H;
  for (let t = T - 1; t >= 0; t--) {
    const next = (x: number) => (t < T - 1 ? gA(x, t + 1) : -1);
    if (cell === 'lstm') cells.lstmStepBackward(g, B, H, next(w.dpre), w.whh, w.dh, gA(w.pre, t), cA(t), cA(t + 1), dyA(t), w.dc, gA(w.dpre, t));
    else if (cell === 'rnn') cells.rnnStepBackward(g, B, H, next(w.dpre), w.whh, w.dh, hA(t + 1), dyA(t), gA(w.dpre, t));
    else cells.gruStepBackward(g, B, H, next(w.dgh), w.whh, w.dh, gA(w.act, t), gA(w.gh, t), hA(t), dyA(t), gA(w.dpre, t), gA(w.dgh, t));
  }
  if (cell === 'gru') gemm(g, false, true, B, H, G, gA(w.dgh, 0), G, w.whh, G, 1, w.dh, H);
  else gemm(g, false, true, B, H, G, gA(w.dpre, 0), G, w.whh, G, 0, w.dh, H);
  gemm(g, true, false, H, G, T * B, w.h, H, cell === 'gru' ? w.dgh : w.dpre, G, 1, w.gwhh, G);
}

for (const cell of ['rnn', 'lstm', 'gru'] as const) {
  gpuTest(`fused ${cell} steps over a window of ${T}: states, gates, gradients, dh_0, dW_hh; one submit, 2T + 4 dispatches`, async (g) => {
    const r = rng(5 + GATES[cell]);
    for (const [B, H] of PAIRS) {
      {
        const w = window(r, cell, B, H);
        const offs = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, up(g, v)])) as Record<keyof Win, number>;
        jsWindow(cell, w, B, H);
        const before = { ...g.counters };
        gpuWindow(g, cell, offs, B, H);
        const dispatches = g.counters.dispatches - before.dispatches;
        const got = await g.readMany(NAMES.map((k) => [offs[k], w[k].length] as const));
        // T forward steps, 2 fills, T backward steps, dh_0, dW_hh, submitted with the readback at once
        assert.equal(dispatches, 2 * T + 4, 'dispatches per window');
        assert.equal(g.counters.submits - before.submits, 1, 'one submit for the window and its readback');
        NAMES.forEach((k, i) => close(got[i], w[k], rel(1e-4, 1e-4, w[k]), `${cell} ${k} B=${B} H=${H}`));
      }
    }
  });
}

// ---- softmax cross-entropy and sums ----

gpuTest('softmaxCrossEntropy: row losses, loss sum on the device, dlogits (also in place), skipped rows', async (g) => {
  const r = rng(9);
  for (const N of [1, 3, 50, 150]) {
    const logits = randoms(r, N * V, -4, 4);
    const targets = Int32Array.from({ length: N }, (_, i) => (i % 7 === 3 ? -1 : Math.floor(r() * V)));
    const scale = 1 / N;
    const wd = new Float32Array(N * V);
    const into = new Float64Array(1); // the reference's loss sum, in full precision
    js.softmaxCrossEntropy(N, V, logits, targets, wd, scale, into);
    const want = into[0];
    const lg = up(g, logits), tg = up(g, targets);
    const scratch = g.alloc(reduceScratch(N)), rows = g.alloc(N), loss = g.alloc(1), loss2 = up(g, Float32Array.of(0.5));
    const d = g.alloc(N * V);
    softmaxCrossEntropy(g, N, V, lg, tg, d, scale, rows, loss, scratch);
    softmaxCrossEntropy(g, N, V, lg, tg, -1, scale, rows, loss2, scratch, true); // no gradient, accumulate
    softmaxCrossEntropy(g, N, V, lg, tg, lg, scale, rows, loss, scratch); // dlogits = logits, as training calls it
    const [l1] = await g.read(loss, 1);
    const [l2] = await g.read(loss2, 1);
    assert.ok(Math.abs(l1 - want) <= 1e-5 * want, `loss N=${N}: got ${l1}, want ${want}`);
    assert.ok(Math.abs(l2 - 0.5 - want) <= 1e-5 * want, `accumulated loss N=${N}: got ${l2}, want ${want} + 0.5`);
    close(await g.read(d, N * V), wd, rel(1e-7, 1e-5, wd), `dlogits N=${N}`);
    close(await g.read(lg, N * V), wd, rel(1e-7, 1e-5, wd), `dlogits in place N=${N}`);
  }
});

gpuTest('sumSquares and reduce: one and two passes, sizes around the chunk', async (g) => {
  const r = rng(10);
  for (const n of [1, 7, 4096, 4097, 70001]) {
    const x = randoms(r, n);
    const want = js.sumSquares(n, x);
    let plain = 0;
    for (let i = 0; i < n; i++) plain += x[i];
    const xo = up(g, x), out = g.alloc(1), sum = up(g, Float32Array.of(2)), scratch = g.alloc(reduceScratch(n));
    sumSquares(g, n, xo, out, scratch);
    reduce(g, n, xo, sum, scratch, { accumulate: true });
    const [ss] = await g.read(out, 1);
    const [s] = await g.read(sum, 1);
    assert.ok(Math.abs(ss - want) <= 1e-5 * want, `sumSquares n=${n}: got ${ss}, want ${want}`);
    const sumAbs = x.reduce((a, v) => a + Math.abs(v), 0);
    assert.ok(Math.abs(s - 2 - plain) <= 1e-6 * sumAbs + 1e-6, `reduce n=${n}: got ${s}, want 2 + ${plain}`);
  }
});

// ---- clipping and the optimizers ----

type Optim = 'adam' | 'rmsprop' | 'adagrad' | 'sgd';
const HYPER = { lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, alpha: 0.95, momentum: 0.9 };

/** One reference update, exactly as Optimizer.step calls the kernels (t counts from 1). */
function jsStep(o: Optim, n: number, p: Float32Array, gr: Float32Array, m: Float32Array, v: Float32Array, t: number, wd: number): void {
  const { lr, b1, b2, eps, alpha, momentum } = HYPER;
  if (o === 'adam') js.adam(n, p, gr, m, v, lr, b1, b2, eps, 1 - b1 ** t, 1 - b2 ** t, wd);
  else if (o === 'rmsprop') js.rmsprop(n, p, gr, v, lr, alpha, eps, wd);
  else if (o === 'adagrad') js.adagrad(n, p, gr, v, lr, eps, wd);
  else js.sgd(n, p, gr, m, lr, momentum, wd, t === 1);
}

function gpuStep(g: TestGpuContext, o: Optim, n: number, p: number, gr: number, m: number, v: number, t: number, wd: number, clip: opt.DeviceClip): void {
  const { lr, b1, b2, eps, alpha, momentum } = HYPER;
  if (o === 'adam') opt.adam(g, n, p, gr, m, v, lr, b1, b2, eps, 1 - b1 ** t, 1 - b2 ** t, wd, clip);
  else if (o === 'rmsprop') opt.rmsprop(g, n, p, gr, v, lr, alpha, eps, wd, clip);
  else if (o === 'adagrad') opt.adagrad(g, n, p, gr, v, lr, eps, wd, clip);
  else opt.sgd(g, n, p, gr, m, lr, momentum, wd, t === 1, clip);
}

gpuTest('optimizers with clipping on the device (none, norm, value, non-finite norm skips), 3 steps each', async (g) => {
  const r = rng(11);
  const n = 1003;
  for (const o of ['adam', 'rmsprop', 'adagrad', 'sgd'] as const) {
    for (const mode of ['off', 'norm', 'value', 'nan'] as const) {
      const wd = mode === 'norm' ? 0.01 : 0;
      const p = randoms(r, n), m = new Float32Array(n), v = new Float32Array(n);
      const gp = up(g, p), gm = up(g, m), gv = up(g, v);
      const gg = g.alloc(n), ss = g.alloc(1), factor = g.alloc(2), scratch = g.alloc(reduceScratch(n));
      const clip = mode === 'norm' ? 5 : mode === 'value' ? 0.5 : 0;
      for (let t = 1; t <= 3; t++) {
        const grad = randoms(r, n, -1.5, 1.5); // ‖g‖ ≈ 27: clipping by norm 5 rescales
        if (mode === 'nan') grad[17] = NaN;
        g.write(gg, grad);
        const clipped = await clipGradients(js, n, grad, { clip, clipMode: mode === 'value' ? 'value' : 'norm' });
        const applied = Number.isFinite(clipped.norm);
        if (applied) jsStep(o, n, p, grad, m, v, t, wd);
        sumSquares(g, n, gg, ss, scratch);
        clipFactor(g, ss, factor, clip, mode !== 'value');
        gpuStep(g, o, n, gp, gg, gm, gv, t, wd, { factor, hi: mode === 'value' ? clip : 0 });
        const [norm, scale] = await g.read(factor, 2);
        if (applied) {
          assert.ok(Math.abs(norm - clipped.norm) <= 1e-5 * clipped.norm, `${o} ${mode} norm: got ${norm}, want ${clipped.norm}`);
          assert.equal(scale === 1, clipped.action !== 'scaled', `${o} ${mode}: scale ${scale}, reference ${clipped.action}`);
        } else assert.ok(!Number.isFinite(norm), `${o} ${mode}: a NaN gradient gives a non-finite norm`);
      }
      const what = `${o} clip=${mode}`;
      close(await g.read(gp, n), p, rel(1e-6, 1e-5, p), `${what} p`);
      if (o === 'adam' || o === 'sgd') close(await g.read(gm, n), m, rel(1e-6, 1e-5, m), `${what} m`);
      if (o !== 'sgd') close(await g.read(gv, n), v, rel(1e-7, 1e-5, v), `${what} v`);
    }
  }
});
