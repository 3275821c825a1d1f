/**
 * The core's model checks on the WebAssembly backend (float32 only):
 *  - gradient check: wasm's float32 gradients of every parameter and of the initial state equal
 *    the float64 JS gradients of the very same weights (the JS ones are themselves checked
 *    against finite differences in gradcheck.test.ts), to float32 accuracy;
 *  - overfit: each cell type memorises a short text when trained on wasm (2 threads).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../src/backend/js.js';
import type { FloatArray } from '../src/backend/types.js';
import { createNodeWasmBackend } from '../src/backend/platform-node.js';
import type { WasmBackend } from '../src/backend/wasm.js';
import { resolveConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { Workspace, type CharRNN, type ModelConfig } from '../src/model/model.js';
import { Rng } from '../src/rng.js';
import { Trainer } from '../src/train.js';
import { CELLS, forwardLoss, randomIds, tinyModel } from './helpers.js';

const B = 3;
const T = 5;
/**
 * Per tensor: |wasm - f64| <= REL · max|f64| over the tensor. Float32 rounding of ~1e-7 per
 * operation grows through T steps and the sums over B·T, so 1e-4 leaves a wide margin while a
 * wrong formula (errors of order 1) cannot pass.
 */
const REL = 1e-4;

interface Grads { loss: number; params: FloatArray; state: FloatArray[] }

/** Loss, parameter gradients and initial-state gradients of one training forward/backward. */
function gradients(model: CharRNN, state0: FloatArray[], data: { inputs: number[]; targets: number[] }): Grads {
  const ws = new Workspace(model, B, T, { training: true });
  ws.inputs.set(data.inputs);
  ws.targets.set(data.targets);
  ws.setState(state0);
  model.zeroGrad();
  const { loss } = forwardLoss(model, ws, { train: true, rng: new Rng(11) }); // same dropout mask on both
  model.backward(ws);
  const state = ws.layers.flatMap((L) => (L.dc ? [L.dh.slice(), L.dc.slice()] : [L.dh.slice()]));
  return { loss, params: model.grads.slice(), state };
}

function closeByTensor(name: string, got: ArrayLike<number>, want: ArrayLike<number>, from = 0, to = want.length): void {
  let scale = 0;
  for (let i = from; i < to; i++) scale = Math.max(scale, Math.abs(want[i]));
  const tol = REL * scale + 1e-12;
  for (let i = from; i < to; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol)) assert.fail(`${name}[${i - from}]: wasm ${got[i]} vs float64 ${want[i]} (|diff| ${d} > ${tol})`);
  }
}

function check(be: WasmBackend, type: ModelConfig['type'], opts: Partial<ModelConfig>): void {
  const shape: Partial<ModelConfig> = { vocabSize: 11, hidden: 7, ...opts };
  const ref = tinyModel(type, shape, 'float64', new JsBackend());
  const got = tinyModel(type, shape, 'float32', be);
  got.params.set(ref.params);
  ref.params.set(got.params); // both on the float32-rounded weights
  got.paramsChanged();
  ref.paramsChanged();
  const rng = new Rng(3);
  const data = { inputs: randomIds(rng, B * T, shape.vocabSize!), targets: randomIds(rng, B * T, shape.vocabSize!) };
  data.targets[2] = -1; // a position without a target
  // a non-zero initial state, so its gradient is non-trivial (float32-exact values)
  const state0 = new Workspace(ref, B, T, { training: true }).getState().map((s) => s.map(() => Math.fround(rng.uniform(-0.5, 0.5))));
  const want = gradients(ref, state0, data);
  const have = gradients(got, state0, data);
  assert.ok(Math.abs(have.loss - want.loss) <= 1e-5 * Math.abs(want.loss), `loss ${have.loss} vs ${want.loss}`);
  for (const s of ref.specs) closeByTensor(s.name, have.params, want.params, s.offset, s.offset + s.size);
  want.state.forEach((w, j) => closeByTensor(`initial state ${j}`, have.state[j], w));
}

test('gradient check on wasm: float32 gradients equal float64 JS gradients of the same weights', async (t) => {
  const be = await createNodeWasmBackend({ threads: 1 });
  try {
    for (const type of CELLS) {
      for (const embed of [0, 3]) {
        for (const layers of [1, 2]) {
          await t.test(`${type}, ${layers} layer(s), ${embed ? 'embedding' : 'one-hot'}`, () => check(be, type, { embed, layers }));
        }
      }
      await t.test(`${type}, 2 layers with dropout`, () => check(be, type, { layers: 2, dropout: 0.3, embed: 3 }));
      await t.test(`${type}, 2 layers with weight drop`, () => check(be, type, { layers: 2, weightDrop: 0.4, embed: 3 }));
    }
  } finally {
    be.dispose();
  }
});

const TEXT = 'the quick brown fox jumps over the lazy dog. ';

test('overfit on wasm (2 threads): a 2-layer rnn, lstm and gru each memorise a short text (loss < 0.05 nats/char)', async (t) => {
  const be = await createNodeWasmBackend({ threads: 2 });
  try {
    for (const model of CELLS) {
      await t.test(model, async () => {
        // the same run as train.test.ts's overfit on the JS reference
        const config = resolveConfig({
          model, layers: 2, hidden: 32, batch: 4, seqLen: 20, lr: 1e-2,
          maxIters: 400, maxTime: 0, epochs: 0, evalEvery: 100, sampleEvery: 0, valFrac: 0.1, testFrac: 0, seed: 1,
        });
        const corpus = buildCorpus([{ name: 'test', bytes: new TextEncoder().encode(TEXT.repeat(12)) }]);
        const trainer = new Trainer({ config, corpus, backend: be });
        let last = Infinity;
        for await (const ev of trainer.run()) if (ev.type === 'eval') last = ev.metrics.train_loss;
        assert.ok(last < 0.05, `${model}: train loss ${last}`);
      });
    }
  } finally {
    be.dispose();
  }
});

test('wasm cell steps split over threads by batch rows give bit-identical training steps (1 vs 2 threads)', async () => {
  const one = await createNodeWasmBackend({ threads: 1 });
  const two = await createNodeWasmBackend({ threads: 2 });
  try {
    for (const type of CELLS) {
      // B·H = 2560: big enough that the fused cell kernels are split over threads (odd H: tails)
      const shape: Partial<ModelConfig> = { vocabSize: 11, hidden: 163, layers: 2, embed: 5 };
      const run = (be: WasmBackend): Grads[] => {
        const model = tinyModel(type, shape, 'float32', be);
        const rng = new Rng(4);
        const ws = new Workspace(model, 16, 6, { training: true });
        const out: Grads[] = [];
        for (let step = 0; step < 3; step++) { // the backend alternates threaded and serial runs while it times them
          ws.inputs.set(randomIds(rng, ws.inputs.length, 11));
          ws.targets.set(randomIds(rng, ws.targets.length, 11));
          model.zeroGrad();
          const { loss } = forwardLoss(model, ws, { train: true });
          model.backward(ws);
          out.push({ loss, params: model.grads.slice(), state: ws.layers.map((L) => L.dh.slice()) });
          ws.carryState();
        }
        return out;
      };
      const a = run(one);
      const b = run(two);
      assert.deepEqual(b, a, `${type}: 2 threads differ from 1`);
    }
    assert.ok(two.poolStats.jobs > 0);
  } finally {
    one.dispose();
    two.dispose();
  }
});
