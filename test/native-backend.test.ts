/**
 * The native backend as people get it: createBackend's rules for it ('native' asked for, 'auto'
 * taking it, or timing it against wasm for training and keeping the faster), a forced "no
 * native" (a platform whose addon is missing, and CHARRNN_NATIVE=0 in the environment) falling
 * back to wasm with its reason in one line, and memory that stays flat over 1,000 evaluations
 * and samples. Fails where the addon does not load (CI builds it).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describeChoice, pickBackend, type WasmPlatform } from '../src/backend/create.js';
import { createBackend, createNodeNativeBackend, createNodeWasmBackend } from '../src/backend/platform-node.js';
import type { Backend } from '../src/backend/types.js';
import { buildCorpus } from '../src/data.js';
import { CharRnnError } from '../src/errors.js';
import { evaluateText } from '../src/evaluate.js';
import { CharRNN, type ModelConfig } from '../src/model/model.js';
import { Rng } from '../src/rng.js';
import { Sampler, type SampleOptions } from '../src/sample.js';
import { words } from './helpers.js';

/** The characters Sampler.steps draws, as one string. */
async function sampleText(sampler: Sampler, opts: SampleOptions): Promise<string> {
  let s = '';
  for await (const c of sampler.steps(opts)) s += c.char;
  return s;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const best = createNodeNativeBackend({ threads: 1 });
best.dispose();

/** Node's platform, with its addon replaced (the rules of create.ts, driven as on a machine without it). */
const nodePlatform = (native: WasmPlatform['native']): WasmPlatform => ({
  cores: 2,
  start: (threads) => createNodeWasmBackend({ threads }),
  whyOneThread: () => undefined,
  native,
  gpu: async () => ({ error: 'no WebGPU here' }),
  probeGpu: async () => ({ hardware: false, why: 'no WebGPU here' }),
});

test('createBackend: native runs the threads asked and names its code path; auto takes it for sampling', async () => {
  const native = await createBackend({ kind: 'native', threads: 2 });
  try {
    assert.equal(native.name, 'native');
    assert.deepEqual(native.choice, { requested: 'native', kind: 'native', isa: best.isa, threads: 2, reason: undefined });
    assert.equal(describeChoice(native.choice), `native backend (${best.isa}), 2 threads`);
  } finally {
    native.dispose?.();
  }
  const held = await createBackend({ kind: 'native', threads: 1, isa: 'avx2' === best.isa || best.isa === 'avx512' ? 'avx2' : 'plain' });
  assert.notEqual(held.choice.isa, 'avx512', 'a lower code path may be asked for');
  held.dispose?.();
  const auto = await createBackend({ threads: 1 });
  try {
    assert.deepEqual(auto.choice, { requested: 'auto', kind: 'native', isa: best.isa, threads: 1, reason: undefined });
  } finally {
    auto.dispose?.();
  }
});

test('auto for training times native against wasm and keeps the faster (fake gauges both ways, then the real one)', async () => {
  const fake = (native: number, wasm: number) => async (b: Backend): Promise<number> => (b.name === 'native' ? native : wasm);
  const n = await pickBackend({ kind: 'auto', training: true, threads: 1, gauge: fake(90_000, 40_000) }, nodePlatform((threads, isa) => createNodeNativeBackend({ threads, isa })));
  assert.equal(n.name, 'native');
  assert.deepEqual(n.choice.measured, { native: 90_000, wasm: 40_000 });
  assert.equal(describeChoice(n.choice), `native backend (${best.isa}), 1 thread (native 90 K chars/s, wasm 40 K: native)`);
  n.dispose?.();
  const w = await pickBackend({ kind: 'auto', training: true, threads: 1, gauge: fake(30_000, 40_000) }, nodePlatform((threads, isa) => createNodeNativeBackend({ threads, isa })));
  assert.equal(w.name, 'wasm');
  assert.equal(describeChoice(w.choice), 'wasm backend, 1 thread (native 30 K chars/s, wasm 40 K: wasm)');
  w.dispose?.();
  const real = await createBackend({ kind: 'auto', training: true, threads: 1 });
  try {
    const m = real.choice.measured!;
    assert.ok(m.native! > 0 && m.wasm! > 0, JSON.stringify(m));
    assert.equal(real.choice.kind, m.native! > m.wasm! ? 'native' : 'wasm');
    console.log(`# auto for training here: ${describeChoice(real.choice)}`);
  } finally {
    real.dispose?.();
  }
});

test('no native addon: auto falls back to wasm and says why in one line; native asked for is a one-line error', async () => {
  const missing = nodePlatform(() => ({ error: 'no native addon for linux-x64 (not built)' }));
  for (const training of [false, true]) {
    const auto = await pickBackend({ kind: 'auto', training, threads: 1 }, missing);
    assert.equal(auto.choice.kind, 'wasm');
    assert.equal(auto.choice.reason, 'no native kernels: no native addon for linux-x64 (not built)');
    auto.dispose?.();
  }
  await assert.rejects(pickBackend({ kind: 'native' }, missing), (e: unknown) => e instanceof CharRnnError && e.code === 'no-native' &&
    e.message === 'the native backend is not available (no native addon for linux-x64 (not built)); use --backend wasm');
  // the addon's own refusal (a code path this CPU lacks) is one line too
  const refusing = nodePlatform(() => { throw new Error('native: this CPU has no avx512 (its best is avx2)\nstack'); });
  await assert.rejects(pickBackend({ kind: 'native' }, refusing), /^CharRnnError: the native backend is not available \(native: this CPU has no avx512 \(its best is avx2\)\); use --backend wasm$/);
  // a page has no native platform hook
  const page = { ...missing, native: undefined };
  await assert.rejects(pickBackend({ kind: 'native' }, page), /it runs in Node only/);
  const pageAuto = await pickBackend({ kind: 'auto', threads: 1 }, page);
  assert.deepEqual(pageAuto.choice, { requested: 'auto', kind: 'wasm', threads: 1, reason: undefined }, 'pages never mention native');
  pageAuto.dispose?.();
});

test('CHARRNN_NATIVE=0: the CLI trains on wasm under auto, and --backend native says why in one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-native-'));
  writeFileSync(join(dir, 'text.txt'), words(800, 2));
  const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'charrnn.js'), ...args], { cwd: dir, env: { ...process.env, CHARRNN_NATIVE: '0' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
  const tiny = ['--data', 'text.txt', '--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--max-iters', '4', '--eval-every', '4', '--sample-every', '0', '--threads', '1'];
  const auto = await cli('train', ...tiny, '--out', 'a');
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stdout.split('\n')[0], /wasm backend, 1 thread \(no native kernels: turned off by CHARRNN_NATIVE=0\)$/);
  const native = await cli('train', ...tiny, '--out', 'b', '--backend', 'native');
  assert.notEqual(native.code, 0);
  assert.equal(native.stderr, 'charrnn: the native backend is not available (turned off by CHARRNN_NATIVE=0); use --backend wasm\n');
});

test('1,000 evaluations and samples on native keep its memory flat: blocks handed out and packed weights', async () => {
  const be = createNodeNativeBackend({ threads: 2 });
  try {
    const text = 'The quick brown fox jumps over the lazy dog.\n'.repeat(4);
    const corpus = buildCorpus([{ name: 'text', bytes: new TextEncoder().encode(text) }]);
    const parts = [{ name: 'text', bytes: new TextEncoder().encode(text.slice(0, 120)) }];
    const config: ModelConfig = { type: 'lstm', vocabSize: corpus.vocab.size, hidden: 32, layers: 2, embed: 8, dropout: 0 };
    const model = new CharRNN(config, be);
    model.init(new Rng(1));
    const use = (): [number, number] => [be.liveBytes, be.packedWeights];
    const bpc = (await evaluateText(model, corpus.vocab, parts)).bits_per_char;
    const first = new Sampler(model, corpus.vocab);
    const sample = await sampleText(first, { length: 30, seed: 3 });
    first.dispose();
    const before = use();
    for (let i = 0; i < 1000; i++) {
      assert.equal((await evaluateText(model, corpus.vocab, parts)).bits_per_char, bpc);
      const s = new Sampler(model, corpus.vocab);
      assert.equal(await sampleText(s, { length: 30, seed: 3 }), sample);
      s.dispose();
    }
    console.log(`# native: live ${before[0]} -> ${be.liveBytes} bytes, packed weights ${before[1]} -> ${be.packedWeights}`);
    assert.deepEqual(use(), before);
    model.dispose();
  } finally {
    be.dispose();
  }
});

test('models dropped without dispose(): the collector takes their memory and the packed copies of their weights go too', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const be = createNodeNativeBackend({ threads: 1 });
  try {
    const text = 'the cat sat on the mat. '.repeat(8);
    const corpus = buildCorpus([{ name: 'text', bytes: new TextEncoder().encode(text) }]);
    const config: ModelConfig = { type: 'gru', vocabSize: corpus.vocab.size, hidden: 24, layers: 2, embed: 0, dropout: 0 };
    const use = async (seed: number): Promise<void> => {
      const model = new CharRNN(config, be);
      model.init(new Rng(seed));
      await sampleText(new Sampler(model, corpus.vocab), { length: 5, seed }); // packs the weights
    };
    await use(0);
    const one = be.packedWeights;
    assert.ok(one > 0, 'sampling packed the weights');
    for (let i = 1; i <= 20; i++) await use(i); // no dispose()
    assert.ok(be.packedWeights > one, 'until the collector runs they stay');
    for (let tries = 0; tries < 50 && be.packedWeights > one; tries++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10)); // FinalizationRegistry callbacks run between tasks
    }
    assert.ok(be.packedWeights <= one, `packed copies left: ${be.packedWeights} (one model's: ${one})`);
  } finally {
    be.dispose();
  }
});
