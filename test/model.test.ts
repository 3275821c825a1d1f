/**
 * The batched forward equals a naive one written gate by gate from PyTorch's equations and
 * PyTorch-layout weights; and feeding a text in two chunks with carried state equals feeding it
 * whole.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/rng.js';
import { Workspace, type CharRNN } from '../src/model/model.js';
import { CELLS, forwardLoss, randomIds, tinyModel } from './helpers.js';

const sig = (x: number): number => 1 / (1 + Math.exp(-x));

/** Parameters by PyTorch name, in PyTorch layout, as nested arrays: W[row][col]. */
function torchWeights(model: CharRNN): Map<string, number[][]> {
  const out = new Map<string, number[][]>();
  for (const s of model.specs) {
    const flat = Array.from(model.exportParam(s));
    const cols = s.shape.length === 2 ? s.shape[1] : s.shape[0];
    const rows = s.shape.length === 2 ? s.shape[0] : 1;
    out.set(s.name, Array.from({ length: rows }, (_, r) => flat.slice(r * cols, (r + 1) * cols)));
  }
  return out;
}

/** W x + b for a PyTorch (out, in) weight. */
const affine = (W: number[][], x: number[], b: number[]): number[] => W.map((row, i) => row.reduce((s, w, j) => s + w * x[j], b[i]));

/** Naive per-sequence forward; returns the logits of every step of one stream. */
function naiveForward(model: CharRNN, ids: number[]): number[][] {
  const c = model.config;
  const w = torchWeights(model);
  const H = c.hidden;
  const h = Array.from({ length: c.layers }, () => new Array(H).fill(0));
  const cs = Array.from({ length: c.layers }, () => new Array(H).fill(0));
  const logits: number[][] = [];
  for (const id of ids) {
    let x = c.embed > 0 ? w.get('embedding.weight')![id] : Array.from({ length: c.vocabSize }, (_, v) => (v === id ? 1 : 0));
    for (let l = 0; l < c.layers; l++) {
      const gi = affine(w.get(`rnn.weight_ih_l${l}`)!, x, w.get(`rnn.bias_ih_l${l}`)![0]);
      const gh = affine(w.get(`rnn.weight_hh_l${l}`)!, h[l], w.get(`rnn.bias_hh_l${l}`)![0]);
      const next = new Array(H);
      for (let j = 0; j < H; j++) {
        if (c.type === 'rnn') next[j] = Math.tanh(gi[j] + gh[j]);
        else if (c.type === 'lstm') {
          const i = sig(gi[j] + gh[j]);
          const f = sig(gi[H + j] + gh[H + j]);
          const g = Math.tanh(gi[2 * H + j] + gh[2 * H + j]);
          const o = sig(gi[3 * H + j] + gh[3 * H + j]);
          cs[l][j] = f * cs[l][j] + i * g;
          next[j] = o * Math.tanh(cs[l][j]);
        } else {
          const r = sig(gi[j] + gh[j]);
          const z = sig(gi[H + j] + gh[H + j]);
          const n = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]);
          next[j] = (1 - z) * n + z * h[l][j];
        }
      }
      h[l] = next;
      x = next;
    }
    logits.push(affine(w.get('decoder.weight')!, x, w.get('decoder.bias')![0]));
  }
  return logits;
}

for (const type of CELLS) {
  for (const embed of [0, 3]) {
    test(`batched forward equals the naive per-gate forward: ${type}, 2 layers, ${embed ? 'embedding' : 'one-hot'}`, () => {
      const model = tinyModel(type, { layers: 2, embed, hidden: 5, vocabSize: 6 });
      const B = 3;
      const T = 4;
      const rng = new Rng(5);
      const streams = Array.from({ length: B }, () => randomIds(rng, T, 6));
      const ws = new Workspace(model, B, T, { training: false });
      for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) ws.inputs[t * B + b] = streams[b][t];
      ws.targets.fill(-1);
      model.forward(ws);
      for (let b = 0; b < B; b++) {
        const naive = naiveForward(model, streams[b]);
        for (let t = 0; t < T; t++) {
          for (let v = 0; v < 6; v++) {
            const got = ws.logits[(t * B + b) * 6 + v];
            assert.ok(Math.abs(got - naive[t][v]) < 1e-12, `${type} b${b} t${t} v${v}: ${got} vs ${naive[t][v]}`);
          }
        }
      }
    });
  }

  test(`two chunks with carried state equal one whole window: ${type}`, () => {
    const model = tinyModel(type, { layers: 2, hidden: 6, vocabSize: 7 });
    const B = 2;
    const T = 6;
    const rng = new Rng(9);
    const inputs = randomIds(rng, T * B, 7);
    const targets = randomIds(rng, T * B, 7);
    const whole = new Workspace(model, B, T, { training: false });
    whole.inputs.set(inputs);
    whole.targets.set(targets);
    const full = forwardLoss(model, whole).loss;
    const logitsWhole = whole.logits.slice();
    const half = new Workspace(model, B, T / 2, { training: false });
    let chunked = 0;
    const logitsChunked: number[] = [];
    for (let k = 0; k < 2; k++) {
      const span = (T / 2) * B;
      half.inputs.set(inputs.slice(k * span, (k + 1) * span));
      half.targets.set(targets.slice(k * span, (k + 1) * span));
      chunked += forwardLoss(model, half).loss;
      logitsChunked.push(...half.logits);
      half.carryState();
    }
    assert.ok(Math.abs(full - chunked) < 1e-12, `${full} vs ${chunked}`);
    logitsChunked.forEach((v, i) => assert.ok(Math.abs(v - logitsWhole[i]) < 1e-12));
  });
}

test('the forget-gate bias starts at 1 and PyTorch names and shapes are used', () => {
  const model = tinyModel('lstm', { layers: 2, embed: 3, hidden: 4, vocabSize: 5 });
  const names = model.specs.map((s) => `${s.name}:${s.shape.join('x')}`);
  assert.deepEqual(names, [
    'embedding.weight:5x3',
    'rnn.weight_ih_l0:16x3', 'rnn.weight_hh_l0:16x4', 'rnn.bias_ih_l0:16', 'rnn.bias_hh_l0:16',
    'rnn.weight_ih_l1:16x4', 'rnn.weight_hh_l1:16x4', 'rnn.bias_ih_l1:16', 'rnn.bias_hh_l1:16',
    'decoder.weight:5x4', 'decoder.bias:5',
  ]);
  const bih = model.exportParam(model.specs.find((s) => s.name === 'rnn.bias_ih_l0')!);
  const bhh = model.exportParam(model.specs.find((s) => s.name === 'rnn.bias_hh_l0')!);
  for (let j = 4; j < 8; j++) assert.equal(bih[j] + bhh[j], 1);
});

test('an inference workspace keeps its folded embedding only until paramsChanged', () => {
  const model = tinyModel('lstm', { embed: 3, hidden: 4, vocabSize: 6 });
  const ws = new Workspace(model, 1, 1, { training: false });
  assert.ok(ws.fold, 'inference workspaces fold the embedding');
  const run = (w: Workspace): number[] => {
    w.resetState();
    w.inputs[0] = 2;
    model.logits(w);
    return Array.from(w.logits);
  };
  const before = run(ws);
  for (let i = 0; i < model.emb!.length; i++) model.emb![i] *= -1.5; // new embedding...
  model.paramsChanged(); // ...announced
  const after = run(ws);
  assert.notDeepEqual(after, before);
  assert.deepEqual(after, run(new Workspace(model, 1, 1, { training: false })));
});
