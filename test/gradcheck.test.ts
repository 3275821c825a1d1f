/**
 * Float64 centred-difference gradient check of every cell type: with one-hot input, with an
 * embedding looked up per position and with one folded into the first layer, with 1 and 2
 * layers (and dropout between them, on the embedding and on W_hh), on every parameter and on the initial hidden (and cell)
 * state. If the hand-written backward is wrong anywhere, this fails.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/rng.js';
import { Workspace, type CharRNN } from '../src/model/model.js';
import { CELLS, forwardLoss, randomIds, tinyModel } from './helpers.js';

const B = 2;
const T = 3;
const EPS = 1e-5;

function setup(model: CharRNN): { ws: Workspace; loss: () => number } {
  const ws = new Workspace(model, B, T, { training: true });
  const rng = new Rng(3);
  ws.inputs.set(randomIds(rng, B * T, model.config.vocabSize));
  ws.targets.set(randomIds(rng, B * T, model.config.vocabSize));
  // a non-zero initial state, so its gradient is non-trivial
  ws.setState(ws.getState().map((s) => s.map(() => rng.uniform(-0.5, 0.5))));
  const state0 = ws.getState();
  const loss = (): number => {
    ws.setState(state0);
    const { loss, count } = forwardLoss(model, ws, { train: true, rng: new Rng(11) }); // same dropout mask every call
    return loss / count;
  };
  return { ws, loss };
}

function check(model: CharRNN): void {
  const { ws, loss } = setup(model);
  loss();
  model.zeroGrad();
  model.backward(ws);
  const analytic = model.grads.slice();
  const stateGrads = ws.layers.flatMap((L) => (L.dc ? [L.dh.slice(), L.dc.slice()] : [L.dh.slice()]));
  let worst = 0;
  const compare = (a: number, n: number, what: string): void => {
    // relative error, with an absolute floor for the difference quotient's round-off (~1e-11)
    const err = Math.max(0, Math.abs(a - n) - 1e-9) / Math.max(1e-12, Math.abs(a) + Math.abs(n));
    worst = Math.max(worst, err);
    assert.ok(err < 1e-6, `${what}: analytic ${a} vs numeric ${n}`);
  };
  for (const s of model.specs) {
    for (let i = 0; i < s.size; i++) {
      const k = s.offset + i;
      const orig = model.params[k];
      model.params[k] = orig + EPS;
      const lp = loss();
      model.params[k] = orig - EPS;
      const lm = loss();
      model.params[k] = orig;
      compare(analytic[k], (lp - lm) / (2 * EPS), `${s.name}[${i}]`);
    }
  }
  // the initial state: perturb h_0 (and c_0) of every layer
  const state0 = ws.getState();
  for (let j = 0; j < state0.length; j++) {
    for (let i = 0; i < state0[j].length; i++) {
      const orig = state0[j][i];
      const perturbed = (d: number): number => {
        const st = state0.map((x) => x.slice());
        st[j][i] = orig + d;
        ws.setState(st);
        return forwardLoss(model, ws, { train: true, rng: new Rng(11) }).loss / (B * T);
      };
      compare(stateGrads[j][i], (perturbed(EPS) - perturbed(-EPS)) / (2 * EPS), `state ${j}[${i}]`);
    }
  }
  assert.ok(worst < 1e-6);
}

for (const type of CELLS) {
  // embedding with V = 5 < T·B = 6 is folded into layer 0 (model.ts); with V = 8 it is looked up
  const inputs = [
    { name: 'one-hot', embed: 0, vocabSize: 5 },
    { name: 'folded embedding', embed: 3, vocabSize: 5 },
    { name: 'embedding', embed: 3, vocabSize: 8 },
  ];
  for (const { name, embed, vocabSize } of inputs) {
    for (const layers of [1, 2]) {
      test(`gradient check: ${type}, ${layers} layer(s), ${name}`, () => {
        const model = tinyModel(type, { embed, layers, vocabSize });
        assert.equal(new Workspace(model, B, T, { training: true }).fold !== null, name === 'folded embedding');
        check(model);
      });
    }
  }
  test(`gradient check: ${type}, 2 layers with dropout`, () => {
    check(tinyModel(type, { layers: 2, dropout: 0.3, embed: 3 }));
  });
  test(`gradient check: ${type}, embedding dropout (V = 5 would fold: it does not), and dropout between layers`, () => {
    const model = tinyModel(type, { layers: 2, dropout: 0.3, embed: 3, embedDropout: 0.4, vocabSize: 5 });
    const ws = new Workspace(model, B, T, { training: true });
    assert.equal(ws.fold, null, 'a masked input is no row of the folded table');
    assert.ok(ws.mask0);
    check(model);
  });
  for (const embed of [0, 3]) {
    test(`gradient check: ${type}, weight drop on W_hh (${embed ? 'folded embedding' : 'one-hot'}), and dropout between layers`, () => {
      const model = tinyModel(type, { layers: 2, dropout: 0.3, embed, weightDrop: 0.5 });
      const ws = new Workspace(model, B, T, { training: true });
      assert.equal(ws.fold !== null, embed > 0);
      assert.equal(ws.weightDrop?.length, 2);
      check(model);
    });
  }
}
