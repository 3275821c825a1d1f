/**
 * The native backend trains as the JS reference does: a whole training step (loss, every
 * gradient, the parameters after SGD, the next step's loss, which checks that packed weights were
 * refreshed) for RNN, LSTM and GRU; 20 trainer steps with Adam, and 8 with each other optimizer
 * and their clipping; the same bits on 1 and 2 threads; and a run checkpointed on native resumes
 * on wasm, and back, as it would have gone on.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { close } from './kernel-check.js';
import { CELLS, words } from './helpers.js';
import { MODELS, stepsEqualJs, train } from './train-check.js';
import { JsBackend } from '../src/backend/js.js';
import { createNodeNativeBackend, createNodeWasmBackend } from '../src/backend/platform-node.js';
import type { Backend } from '../src/backend/types.js';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { newRunConfig, type TrainConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import type { ModelConfig } from '../src/model/model.js';
import { Trainer, type TrainEvent } from '../src/train.js';

for (const threads of [1, 2]) {
  test(`a training step on native (${threads} thread${threads > 1 ? 's' : ''}) equals the JS reference`, async (t) => {
    const be = createNodeNativeBackend({ threads });
    try {
      await stepsEqualJs(t, be);
    } finally {
      be.dispose();
    }
  });
}

const corpus = buildCorpus([{ name: 'words', bytes: new TextEncoder().encode(words(3000, 4)) }]);
const small = (o: Partial<TrainConfig>): TrainConfig =>
  newRunConfig({ model: 'lstm', layers: 2, hidden: 24, embed: 8, batch: 4, seqLen: 16, maxIters: 20, evalEvery: 10, sampleEvery: 0, lr: 3e-3, lrSchedule: 'step', ...o });
const tol = (want: ArrayLike<number>, abs: number, rel: number) => (i: number): number => abs + rel * Math.abs(want[i]);

async function evals(t: Trainer): Promise<Extract<TrainEvent, { type: 'eval' }>['metrics'][]> {
  const out = [];
  for await (const ev of t.run()) if (ev.type === 'eval') out.push(ev.metrics);
  return out;
}

test('trainer steps on native equal js: every optimizer and clipping', async () => {
  const be = createNodeNativeBackend({ threads: 2 });
  try {
    for (const [optimizer, clipMode, clip, steps] of [['adam', 'norm', 0.5, 20], ['rmsprop', 'value', 0.01, 8], ['sgd', 'norm', 0, 8], ['adagrad', 'value', 0.001, 8]] as const) {
      const config = small({ optimizer, clipMode, clip, dropout: 0.1, embedDropout: optimizer === 'adam' ? 0.2 : 0, weightDrop: optimizer === 'rmsprop' ? 0.3 : 0, momentum: 0.9, lr: optimizer === 'sgd' ? 0.05 : 3e-3, maxIters: steps, evalEvery: steps / 2 });
      const ref = new Trainer({ config, corpus, backend: new JsBackend() });
      const dev = new Trainer({ config, corpus, backend: be });
      const [a, b] = [await evals(ref), await evals(dev)];
      assert.equal(b.length, 2);
      a.forEach((m, i) => close([b[i].train_loss, b[i].val_loss, b[i].grad_norm], [m.train_loss, m.val_loss, m.grad_norm],
        (j) => 2e-4 * Math.abs([m.train_loss, m.val_loss, m.grad_norm][j]), `${optimizer} evaluation ${i}`));
      close(dev.model.params, ref.model.params, tol(ref.model.params, 1e-4, 1e-3), `${optimizer}: weights after ${steps} steps`);
      dev.dispose();
      ref.dispose();
    }
  } finally {
    be.dispose();
  }
});

test('native results do not depend on the thread count (bit for bit)', async () => {
  const one = createNodeNativeBackend({ threads: 1 });
  const two = createNodeNativeBackend({ threads: 2 });
  try {
    // big enough that every kind of call is split over the threads (GEMMs by panels, cells by rows)
    const big = { name: '2x128 B50', c: { vocabSize: 41, hidden: 128, layers: 2, embed: 16, dropout: 0.25 }, B: 50, T: 8 };
    for (const m of [MODELS[1], big]) {
      for (const type of CELLS) {
        const config: ModelConfig = { type, ...m.c };
        const a = await train(one, config, m.B, m.T);
        const b = await train(two, config, m.B, m.T);
        assert.deepEqual(b.losses, a.losses, `${type} ${m.name} losses`);
        assert.deepEqual(b.grads, a.grads, `${type} ${m.name} gradients`);
        assert.deepEqual(b.params, a.params, `${type} ${m.name} parameters`);
      }
    }
    assert.ok(two.splitCalls > 0, 'some calls ran split over the two threads');
    assert.equal(one.splitCalls, 0);
  } finally {
    one.dispose();
    two.dispose();
  }
});

test('resume: a run checkpointed on native continues on wasm, and back on native, as it would have gone on', async () => {
  const native = createNodeNativeBackend({ threads: 1 });
  const wasm = await createNodeWasmBackend({ threads: 1 });
  const engines: Record<'native' | 'wasm', Backend> = { native, wasm };
  try {
    const run = async (backend: Backend, config: TrainConfig, resume?: Uint8Array): Promise<[number, Uint8Array]> => {
      const t = new Trainer({ config, corpus, backend, resume: resume && decodeCheckpoint(resume) });
      const last = (await evals(t)).at(-1)!;
      const bytes = t.checkpoint();
      t.dispose();
      return [last.val_loss, bytes];
    };
    const config = small({ maxIters: 6, evalEvery: 3, dropout: 0.2 });
    const [, at6] = await run(native, config);
    // 6 -> 9 on wasm, then 9 -> 12 on native; against 6 -> 9 -> 12 on native alone
    const [viaWasm9, wasm9] = await run(engines.wasm, { ...config, maxIters: 9 }, at6);
    const [native9, alone9] = await run(native, { ...config, maxIters: 9 }, at6);
    close([viaWasm9], [native9], () => 1e-4 * Math.abs(native9), 'validation loss at 9: wasm vs native');
    const [back12] = await run(native, { ...config, maxIters: 12 }, wasm9);
    const [alone12] = await run(native, { ...config, maxIters: 12 }, alone9);
    close([back12], [alone12], () => 1e-4 * Math.abs(alone12), 'validation loss at 12: native after wasm vs native throughout');
    assert.equal(decodeCheckpoint(wasm9).train!.state.iter, 9);
  } finally {
    native.dispose();
    wasm.dispose();
  }
});
