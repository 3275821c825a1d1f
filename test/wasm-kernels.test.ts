/**
 * Every kernel of the WebAssembly backend against the JS reference (src/backend/js.ts), on odd
 * and even sizes, with 1 and 2 threads, plain and relaxed (FMA) builds: the checks of
 * kernel-suite.ts, and what only wasm has (its memory, non-shared memory).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { rng } from './kernel-check.js';
import { cellTests, checkGemm, f32, gemmTests, optimizerTests, rowTests, softmaxTests, stepTests, weightCacheTests } from './kernel-suite.js';
import { createNodeWasmBackend } from '../src/backend/platform-node.js';
import type { WasmBackend } from '../src/backend/wasm.js';

interface Config { name: string; threads: number; relaxed: boolean }

async function configs(): Promise<Config[]> {
  const out: Config[] = [];
  let relaxedOk = true;
  try {
    (await createNodeWasmBackend({ threads: 1, relaxed: true })).dispose();
  } catch {
    relaxedOk = false;
  }
  for (const relaxed of relaxedOk ? [false, true] : [false]) {
    for (const threads of [1, 2]) out.push({ name: `${relaxed ? 'relaxed' : 'simd'} x${threads}`, threads, relaxed });
  }
  return out;
}

for (const cfg of await configs()) {
  test(`wasm kernels equal the JS reference (${cfg.name})`, async (t) => {
    const be = await createNodeWasmBackend({ threads: cfg.threads, relaxed: cfg.relaxed });
    try {
      assert.equal(be.threads, cfg.threads);
      assert.equal(be.relaxed, cfg.relaxed);
      await t.test('gemm: all transposes, strides, beta', () => gemmTests(be));
      await t.test('gemm: cached packed weights follow every change', () => weightCacheTests(be));
      await t.test('rows: broadcast, colSum, gather, scatter, mul, scale, clamp, sumSquares', () => rowTests(be));
      await t.test('cells: rnn, lstm, gru forward and backward', () => cellTests(be));
      await t.test('whole LSTM steps, fused over threads or not', () => stepTests(be));
      await t.test('softmax cross-entropy', () => softmaxTests(be));
      await t.test('optimizers', () => optimizerTests(be));
    } finally {
      be.dispose();
    }
  });
}

test('wasm backend: an array outside its memory is an error, as on a GPU', async () => {
  const be = await createNodeWasmBackend({ threads: 1 });
  const foreign = /wasm: a view that is not from this backend's memory/;
  try {
    const A = Float32Array.from([1, 2, 3, 4]), B = Float32Array.from([1, 0, 0, 1]), C = new Float32Array(4);
    assert.throws(() => be.gemm(false, false, 2, 2, 2, A, 2, B, 2, 0, C, 2), foreign);
    assert.deepEqual([...C], [0, 0, 0, 0], 'nothing ran');
    // one foreign operand among views of this memory is enough
    const Av = f32(be, 4, (i) => A[i]), Cv = f32(be, 4);
    assert.throws(() => be.gemm(false, false, 2, 2, 2, Av, 2, B, 2, 0, Cv, 2), foreign);
    // a SharedArrayBuffer, even another wasm backend's memory, is not this memory; nor is a
    // Float64Array on it (the kernels are float32)
    const other = await createNodeWasmBackend({ threads: 1 });
    try {
      const big = 1 << 20;
      const block = be.alloc(16);
      for (const x of [new Float32Array(new SharedArrayBuffer(4 * big)), f32(other, big), new Float64Array(block.buffer, block.byteOffset, 2)]) {
        x.fill(1);
        assert.throws(() => be.scale(x.length, x, 3), foreign);
        assert.equal(x[x.length - 1], 1);
      }
      assert.throws(() => be.fill(4, C, 0), foreign, 'host loops too');
      assert.throws(() => be.scatterAddRows(1, Int32Array.of(0), Av, 4, Cv), foreign, 'an index array too');
    } finally {
      other.dispose();
    }
    // views stay valid while the memory grows
    const first = f32(be, 16, (i) => i);
    f32(be, 8 << 20); // 32 MiB more
    assert.equal(first[15], 15);
    be.scale(16, first, 2);
    assert.equal(first[15], 30);
  } finally {
    be.dispose();
  }
});

test('wasm backend without SharedArrayBuffer: non-shared memory, one thread, still right', async () => {
  const { readFile } = await import('node:fs/promises');
  const { createWasmBackend } = await import('../src/backend/wasm.js');
  const plain = await readFile(new URL('../../build/kernels.wasm', import.meta.url));
  const saved = globalThis.SharedArrayBuffer;
  let be: WasmBackend;
  try {
    // what a page that is not cross-origin isolated looks like
    (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer = undefined;
    be = await createWasmBackend({ wasmBytes: { plain }, threads: 2, relaxed: false, spawnWorker: () => Promise.reject(new Error('no workers')) });
  } finally {
    globalThis.SharedArrayBuffer = saved;
  }
  try {
    assert.equal(be.shared, false);
    assert.equal(be.threads, 1);
    const r = rng(7);
    const P = f32(be, 300 * 70, () => r() - 0.5); // the first allocation reserves room for what follows
    be.paramsChanged(P);
    checkGemm(be, r, false, false, 50, 70, 300, 0, 0, P); // cached packed weights
    checkGemm(be, r, true, true, 33, 65, 17, 3, 1); // per-call packing
    assert.throws(() => be.alloc(1 << 30), RangeError); // cannot grow under existing views
    assert.equal(P.length, 300 * 70); // ... which are still attached
  } finally {
    be.dispose();
  }
});
