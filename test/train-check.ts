/**
 * What the training-step tests of the CPU backends share (wasm-train.test.ts,
 * native-train.test.ts): a few SGD steps from a fixed start on fixed data, and the comparison
 * per parameter tensor.
 */
import assert from 'node:assert/strict';
import type { Backend, FloatArray } from '../src/backend/types.js';
import { CharRNN, Workspace, type ModelConfig } from '../src/model/model.js';
import { clipGradients, Optimizer } from '../src/optim.js';
import { resolveConfig } from '../src/config.js';
import { Rng } from '../src/rng.js';
import type { TestContext } from 'node:test';
import { JsBackend } from '../src/backend/js.js';
import { CELLS, forwardLoss, randomIds } from './helpers.js';

export interface Run { losses: number[]; grads: Float32Array; params: Float32Array; model: CharRNN }

/**
 * `steps` train steps (forward, backward, SGD) from a fixed init on fixed data. A backend with a
 * packed-weight cache learns where the parameters are at the first update, packs the weights in
 * step 2 and must repack them for step 3.
 */
export async function train(be: Backend, config: ModelConfig, B: number, T: number, steps = 3): Promise<Run> {
  const model = new CharRNN(config, be);
  model.init(new Rng(3));
  const opt = new Optimizer(model, resolveConfig({ optimizer: 'sgd', momentum: 0.9 }));
  const ws = new Workspace(model, B, T, { training: true });
  const data = new Rng(11);
  const losses: number[] = [];
  let grads = new Float32Array(0);
  for (let step = 0; step < steps; step++) {
    ws.inputs.set(randomIds(data, B * T, config.vocabSize));
    ws.targets.set(randomIds(data, B * T, config.vocabSize));
    ws.targets[1] = -1; // a position without a target
    model.zeroGrad();
    const { loss } = forwardLoss(model, ws, { train: true, rng: new Rng(5 + step) });
    model.backward(ws);
    losses.push(loss);
    if (step === 0) grads = Float32Array.from(model.grads);
    await clipGradients(model.backend, model.numParams, model.grads, { clip: 5, clipMode: 'norm' });
    opt.step(0.5);
    ws.carryState();
  }
  return { losses, grads, params: Float32Array.from(model.params), model };
}

/** Per parameter tensor: |got - want| <= rel * max |want| over the tensor (+ a floor for all-zero ones). */
export function closeByTensor(model: CharRNN, got: FloatArray, want: FloatArray, rel: number, what: string): void {
  for (const s of model.specs) {
    let scale = 0;
    for (let i = s.offset; i < s.offset + s.size; i++) scale = Math.max(scale, Math.abs(want[i]));
    const tol = rel * scale + 1e-9;
    for (let i = s.offset; i < s.offset + s.size; i++) {
      const d = Math.abs(got[i] - want[i]);
      if (!(d <= tol)) assert.fail(`${what} ${s.name}[${i - s.offset}]: got ${got[i]}, want ${want[i]} (|diff| ${d} > ${tol})`);
    }
  }
}

export const MODELS: { name: string; c: Omit<ModelConfig, 'type'>; B: number; T: number }[] = [
  // odd sizes everywhere, one-hot input
  { name: '1x33 one-hot', c: { vocabSize: 13, hidden: 33, layers: 1, embed: 0, dropout: 0 }, B: 3, T: 7 },
  // two layers, embedding, dropout; big enough that GEMMs are split over threads
  { name: '2x64 embed dropout', c: { vocabSize: 29, hidden: 64, layers: 2, embed: 16, dropout: 0.25 }, B: 10, T: 20 },
  // weight drop: each step's masked W_hh is packed as a weight, so a stale pack shows in the next step
  { name: '2x40 embed weight drop', c: { vocabSize: 29, hidden: 40, layers: 2, embed: 16, dropout: 0, weightDrop: 0.3 }, B: 6, T: 11 },
];


/** Three training steps of every cell type and MODELS on `be` equal the reference's: losses, gradients, parameters after SGD. */
export async function stepsEqualJs(t: TestContext, be: Backend): Promise<void> {
  for (const type of CELLS) {
    for (const m of MODELS) {
      await t.test(`${type} ${m.name}`, async () => {
        const config: ModelConfig = { type, ...m.c };
        const want = await train(new JsBackend(), config, m.B, m.T);
        const got = await train(be, config, m.B, m.T);
        for (let s = 0; s < 3; s++) {
          const [g, w] = [got.losses[s], want.losses[s]];
          assert.ok(Math.abs(g - w) <= 1e-5 * Math.abs(w), `step ${s} loss ${g} vs ${w}`);
        }
        closeByTensor(got.model, got.grads, want.grads, 1e-4, 'gradient');
        closeByTensor(got.model, got.params, want.params, 1e-5, 'parameter after SGD');
      });
    }
  }
}
