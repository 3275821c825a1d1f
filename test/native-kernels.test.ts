/**
 * Every kernel of the native backend against the JS reference (src/backend/js.ts): the checks of
 * kernel-suite.ts (H up to 512, B = 1, 3, 50) for every code path this CPU runs (plain C always,
 * AVX2 and AVX-512 where cpuid says so), on 1 and 2 threads; the fused RNN and GRU steps; the
 * dropout hash bit for bit. Where the addon does not load these tests fail (CI builds it): they
 * never skip.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { close, rng } from './kernel-check.js';
import { cellTests, copy, f32, gemmTests, optimizerTests, rowTests, softmaxTests, stepTests, weightCacheTests } from './kernel-suite.js';
import { JsBackend } from '../src/backend/js.js';
import { ISA, ISA_NAMES } from '../src/backend/native-abi.js';
import type { NativeBackend } from '../src/backend/native.js';
import { createNodeNativeBackend } from '../src/backend/platform-node.js';

const js = new JsBackend();
const best = createNodeNativeBackend({ threads: 1 });
const isas = ISA_NAMES.filter((i) => ISA[i] <= ISA[best.isa]);

/** rnnStep, gruStep and their backwards (one call each here) against the reference's two or three calls, W_hh a parameter. */
async function rnnGruStepTests(be: NativeBackend): Promise<void> {
  const r = rng(8);
  const u = (s: number) => (): number => (r() * 2 - 1) * s;
  const tol = (w: Float32Array) => (i: number): number => 1e-5 * (1 + Math.abs(w[i]));
  for (const [B, H] of [[1, 7], [3, 33], [50, 128]]) {
    const n = B * H, tag = `B=${B} H=${H}`;
    for (const G of [H, 3 * H]) {
      const P = f32(be, H * G + 5, u(0.3));
      const whh = P.subarray(5);
      be.paramsChanged(P);
      const hPrev = f32(be, n, u(1)), dy = f32(be, n, u(1)), next = f32(be, B * G, u(0.5));
      const dhw = new Float32Array(n);
      const dh = f32(be, n);
      if (G === H) {
        const pre = f32(be, n, u(2)), h = f32(be, n), prew = copy(pre), hw = new Float32Array(n);
        js.rnnStep(B, H, copy(hPrev), copy(whh), prew, hw);
        be.rnnStep(B, H, hPrev, whh, pre, h);
        close(h, hw, tol(hw), `rnnStep h ${tag}`);
        const dpre = f32(be, n), dprew = new Float32Array(n);
        be.rnnStepBackward(B, H, null, whh, dh, h, dy, dpre); // the loop's last step first: no GEMM, nothing packed
        js.rnnStepBackward(B, H, copy(next), copy(whh), dhw, hw, copy(dy), dprew);
        be.rnnStepBackward(B, H, next, whh, dh, h, dy, dpre);
        close(dpre, dprew, tol(dprew), `rnnStepBackward dpre ${tag}`);
      } else {
        const gx = f32(be, B * G, u(2)), bhh = f32(be, G, u(1)), gh = f32(be, B * G), act = f32(be, B * G), h = f32(be, n);
        const ghw = new Float32Array(B * G), actw = new Float32Array(B * G), hw = new Float32Array(n);
        js.gruStep(B, H, copy(gx), copy(hPrev), copy(whh), copy(bhh), ghw, actw, hw);
        be.gruStep(B, H, gx, hPrev, whh, bhh, gh, act, h);
        close(h, hw, tol(hw), `gruStep h ${tag}`);
        const dgx = f32(be, B * G), dgh = f32(be, B * G), dgxw = new Float32Array(B * G), dghw = new Float32Array(B * G);
        be.gruStepBackward(B, H, null, whh, dh, act, gh, hPrev, dy, dgx, dgh); // the loop's last step first
        dh.fill(0.25); dhw.fill(0.25);
        js.gruStepBackward(B, H, copy(next), copy(whh), dhw, actw, ghw, copy(hPrev), copy(dy), dgxw, dghw);
        be.gruStepBackward(B, H, next, whh, dh, act, gh, hPrev, dy, dgx, dgh);
        close(dgx, dgxw, tol(dgxw), `gruStepBackward dgx ${tag}`);
        close(dh, dhw, tol(dhw), `gruStepBackward dh ${tag}`);
      }
    }
  }
}

function dropoutTests(be: NativeBackend): void {
  for (const n of [1, 7, 1001, 40_000]) {
    for (const keep of [0.5, 0.8, 1]) {
      const m = f32(be, n), want = new Float32Array(n);
      js.dropoutMask(n, want, keep, 0x9e3779b9 ^ n);
      be.dropoutMask(n, m, keep, 0x9e3779b9 ^ n);
      assert.deepEqual(m, want, `dropoutMask n=${n} keep=${keep}`);
    }
  }
}

for (const isa of isas) {
  for (const threads of [1, 2]) {
    test(`native kernels equal the JS reference (${isa}, ${threads} thread${threads > 1 ? 's' : ''})`, async (t) => {
      const be = createNodeNativeBackend({ threads, isa });
      try {
        assert.equal(be.isa, isa);
        assert.equal(be.threads, threads);
        await t.test('gemm: all transposes, strides, beta', () => gemmTests(be));
        await t.test('gemm: cached packed weights follow every change', () => weightCacheTests(be));
        await t.test('rows: broadcast, colSum, gather, scatter, mul, scale, clamp, sumSquares', () => rowTests(be));
        await t.test('dropout masks: the same hash, bit for bit', () => dropoutTests(be));
        await t.test('cells: rnn, lstm, gru forward and backward, H up to 512', () => cellTests(be, [1, 7, 33, 128, 512]));
        await t.test('whole LSTM steps, one call each', () => stepTests(be));
        await t.test('whole RNN and GRU steps, one call each', () => rnnGruStepTests(be));
        await t.test('softmax cross-entropy', () => softmaxTests(be));
        await t.test('optimizers', () => optimizerTests(be));
      } finally {
        be.dispose();
      }
    });
  }
}

test('native backend: an array outside its memory is an error; a code path the CPU lacks is refused', () => {
  const be = createNodeNativeBackend({ threads: 1 });
  const foreign = /native: a view that is not from this backend's memory/;
  const A = Float32Array.from([1, 2, 3, 4]), C = new Float32Array(4);
  assert.throws(() => be.gemm(false, false, 2, 2, 2, A, 2, A, 2, 0, C, 2), foreign);
  const other = createNodeNativeBackend({ threads: 1 });
  const x = f32(other, 8, () => 1);
  assert.throws(() => be.scale(8, x, 3), foreign, "another native backend's view");
  assert.throws(() => be.scatterAddRows(1, Int32Array.of(0), f32(be, 4), 4, f32(be, 4)), foreign, 'an index array too');
  const block = be.alloc(16);
  assert.throws(() => be.scale(2, new Float64Array(block.buffer, block.byteOffset, 2), 3), foreign, 'float64 views');
  assert.deepEqual([...x], [1, 1, 1, 1, 1, 1, 1, 1]);
  be.free(block);
  assert.throws(() => be.free(block), /freed twice/);
  assert.equal(block.byteOffset % 1, 0);
  assert.throws(() => createNodeNativeBackend({ isa: 'sse' as 'plain' }), /native: isa must be one of plain, avx2, avx512/);
  if (best.isa !== 'avx512') assert.throws(() => createNodeNativeBackend({ isa: 'avx512' }), /native: this CPU has no avx512/);
  be.dispose();
  other.dispose();
  best.dispose();
});
