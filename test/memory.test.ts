/**
 * Memory that is given back: on the Node WebAssembly backend, whose memory can only grow,
 * evaluating, inspecting and sampling 1,000 times each (every call makes its own workspace or
 * sampler and disposes it), or making, using and disposing model after model, leaves the
 * WebAssembly memory exactly as large as after the first round, and the bytes handed out
 * (liveBytes: arenas, scratch, packed weights) exactly as before. Training allocates nothing per
 * step: both are the same at every evaluation of a run after the first.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createNodeWasmBackend } from '../src/backend/platform-node.js';
import type { WasmBackend } from '../src/backend/wasm.js';
import { Attributor } from '../src/classify.js';
import { resolveConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { evaluateText } from '../src/evaluate.js';
import { CharRNN, type ModelConfig } from '../src/model/model.js';
import { Rng } from '../src/rng.js';
import { generate } from '../src/generate.js';
import { Sampler } from '../src/sample.js';
import { Trainer } from '../src/train.js';
import { readText, temperatureSweep } from '../src/viz/inspect.js';
import { textOf } from './helpers.js';

const TEXT = 'The quick brown fox jumps over the lazy dog.\n"Said the fox," said the dog, "is quick."\n'.repeat(3);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const corpus = buildCorpus([{ name: 'text', bytes: enc(TEXT) }]);
const parts = [{ name: 'text', bytes: enc(TEXT.slice(0, 150)) }];
/** Embedded input (the inference workspace folds it), two layers: every kind of buffer and packed weight. */
const CONFIG: ModelConfig = { type: 'lstm', vocabSize: corpus.vocab.size, hidden: 32, layers: 2, embed: 8, dropout: 0 };

let be: WasmBackend;
before(async () => {
  be = await createNodeWasmBackend({ threads: 1 });
});
after(() => be.dispose());

interface Use { memory: number; live: number }
const use = (): Use => ({ memory: be.memoryBytes, live: be.liveBytes });

/** Run `once` `times` times after `warm` warm-up runs; the memory and live bytes before and after. */
async function measure(what: string, once: (i: number) => unknown, times = 1000, warm = 3): Promise<{ before: Use; after: Use }> {
  for (let i = 0; i < warm; i++) await once(i);
  const before = use();
  for (let i = 0; i < times; i++) await once(i);
  const after = use();
  console.log(`# ${what}: WebAssembly memory ${before.memory} -> ${after.memory} bytes, live ${before.live} -> ${after.live} bytes`);
  assert.deepEqual(after, before, `${what}: ${times} runs after ${warm} must leave memory as it was`);
  return { before, after };
}

function newModel(seed = 1): CharRNN {
  const m = new CharRNN(CONFIG, be);
  m.init(new Rng(seed));
  return m;
}

test('1,000 evaluations, inspections and samples keep WebAssembly memory flat', async () => {
  const model = newModel();
  const vocab = corpus.vocab;
  const bpc = (await evaluateText(model, vocab, parts)).bits_per_char;
  await measure('1000 x evaluateText', async () => assert.equal((await evaluateText(model, vocab, parts)).bits_per_char, bpc));
  const reading = readText(model, vocab, TEXT.slice(0, 100));
  await measure('1000 x readText', () => assert.deepEqual(readText(model, vocab, TEXT.slice(0, 100)).loss, reading.loss));
  const text = await textOf({ model, vocab }, { length: 40, seed: 3 });
  await measure('1000 x sample', async (i) => {
    if (i % 2 === 0) {
      const s = new Sampler(model, vocab);
      assert.equal(await textOf(s, { length: 40, seed: 3 }), text);
      s.dispose();
    } else {
      // a stream stopped early: generate() disposes the sampler it made all the same
      let got = '';
      const signal = { aborted: false };
      await generate({ model, vocab }, { length: 40, seed: 3 }, { signal, onChar: (ch) => (signal.aborted = (got += ch).length === 20) });
      assert.equal(got, text.slice(0, 20));
    }
  });
  await measure('100 x temperatureSweep', () => temperatureSweep(model, vocab, [0, 0.5, 1], { length: 20 }), 100);
  const attributor = new Attributor([{ name: 'a', model, vocab }, { name: 'b', model: newModel(2), vocab }]);
  await measure('100 x classify', () => attributor.classify(parts), 100);
});

test('models made, used and disposed one after another give back their arenas and packed weights', async () => {
  const before = use();
  await measure('200 x new model, evaluate, sample, dispose', async (i) => {
    const model = newModel(i);
    await evaluateText(model, corpus.vocab, parts);
    const s = new Sampler(model, corpus.vocab);
    await textOf(s, { length: 10 });
    s.dispose();
    model.dispose();
  }, 200);
  assert.equal(be.liveBytes, before.live, 'nothing of the disposed models stays allocated');
});

test('training allocates nothing per step; a disposed trainer gives everything back', async () => {
  const config = resolveConfig({ model: 'lstm', hidden: 32, layers: 2, embed: 8, batch: 4, seqLen: 16, maxIters: 60, evalEvery: 10, sampleEvery: 10, sampleLength: 20, valFrac: 0.2, testFrac: 0 });
  const ends: Use[] = [];
  for (let run = 0; run < 2; run++) {
    const trainer = new Trainer({ config, corpus, backend: be });
    // from the first sample on (iteration 10: one evaluation done and the run's sampler made),
    // memory and live bytes at every later step, evaluation and sample
    let first: Use | null = null;
    const later: Use[] = [];
    for await (const ev of trainer.run()) {
      if (first) later.push(use());
      else if (ev.type === 'sample') first = use();
    }
    assert.ok(first && later.length >= 50, 'the run went past its first sample');
    console.log(`# training run ${run + 1}: memory ${first.memory} bytes, live ${first.live} bytes from iteration 10 to 60`);
    for (const u of later) assert.deepEqual(u, first, 'memory changed during training');
    trainer.dispose();
    ends.push(use());
  }
  // the first run also grew the backend's own GEMM scratch, which it keeps for the next GEMMs
  assert.deepEqual(ends[1], ends[0], 'a second run on the memory the first gave back');
});
