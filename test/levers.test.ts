/**
 * Knobs of the levers of issue 24: --weight-decay-mode decoupled (AdamW's decay), --embed-dropout,
 * --weight-drop (dropout between time steps: DropConnect on each layer's W_hh),
 * --init orthogonal (each gate's H×H block of every recurrent
 * weight a random orthogonal matrix) and --eval-chars N (evaluations during training over the
 * first N characters of the validation split, the last one over all of it).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsBackend } from '../src/backend/js.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { CharRnnError } from '../src/errors.js';
import { evalPrefix, evaluateIds } from '../src/evaluate.js';
import { CharRNN, Workspace, type ModelConfig } from '../src/model/model.js';
import { Optimizer } from '../src/optim.js';
import { Rng } from '../src/rng.js';
import { Trainer, type Metrics, type TrainEvent } from '../src/train.js';
import { torchStartCheckpoint } from '../src/torch-run.js';
import { CELLS, words } from './helpers.js';
import { runCli } from './run-cli.js';

const GATES = { rnn: 1, lstm: 4, gru: 3 } as const;

function initModel(config: ModelConfig, seed: number, init: TrainConfig['init'] = 'uniform', dtype: 'float32' | 'float64' = 'float64'): CharRNN {
  const model = new CharRNN(config, new JsBackend(), dtype);
  model.init(new Rng(seed), init);
  return model;
}

/** The largest |QᵀQ − I| over the H×H gate blocks of a (G·H, H) PyTorch-layout weight. */
function orthogonalityError(w: ArrayLike<number>, gates: number, H: number): number {
  let worst = 0;
  for (let g = 0; g < gates; g++) {
    const q = (i: number, j: number): number => w[(g * H + i) * H + j];
    for (let a = 0; a < H; a++) {
      for (let b = 0; b < H; b++) {
        let dot = 0;
        for (let i = 0; i < H; i++) dot += q(i, a) * q(i, b);
        worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
      }
    }
  }
  return worst;
}

const shape = (type: ModelConfig['type']): ModelConfig => ({ type, vocabSize: 11, hidden: 12, layers: 2, embed: 5, dropout: 0 });

for (const type of CELLS) {
  test(`--init orthogonal (${type}): every gate block of every weight_hh is orthogonal (float64, within 1e-6); the weights before it are the uniform init's`, () => {
    const model = initModel(shape(type), 42, 'orthogonal');
    const uniform = initModel(shape(type), 42);
    const H = model.config.hidden;
    for (const s of model.specs.filter((x) => x.name.startsWith('rnn.weight_hh_l'))) {
      const err = orthogonalityError(model.exportParam(s), GATES[type], H);
      assert.ok(err < 1e-6, `${s.name}: |QᵀQ − I| up to ${err}`);
    }
    // drawn in spec order: everything before the first recurrent weight is drawn as before
    const first = model.specs.find((x) => x.name === 'rnn.weight_hh_l0')!;
    assert.deepEqual(Array.from(model.params.subarray(0, first.offset)), Array.from(uniform.params.subarray(0, first.offset)));
    // and the rest keeps the uniform init's bounds (the LSTM's forget bias its constant)
    for (const s of model.specs.filter((x) => x.init.kind === 'uniform' && !x.name.startsWith('rnn.weight_hh_l'))) {
      const bound = s.init.kind === 'uniform' ? s.init.bound : 0;
      assert.ok(model.exportParam(s).every((x) => Math.abs(x) <= bound), `${s.name} within ±${bound}`);
    }
  });
}

test('--init orthogonal is deterministic per seed; another seed draws other matrices', () => {
  const a = initModel(shape('lstm'), 3, 'orthogonal');
  const b = initModel(shape('lstm'), 3, 'orthogonal');
  const c = initModel(shape('lstm'), 4, 'orthogonal');
  assert.deepEqual(Array.from(a.params), Array.from(b.params));
  assert.notDeepEqual(Array.from(a.params), Array.from(c.params));
});

test('--init uniform is bit-identical to the init before --init existed (hashes taken from the old code); it is the default', () => {
  assert.equal(resolveConfig({}).init, 'uniform');
  // sha256 of the float32 parameters, seed 42, computed with commit c73bbba (before the knob)
  const before = {
    rnn: 'b27c635231cec971e27bee118ab5e561c6174dbb317c605e1e3312c33b261fb7',
    lstm: '78544344c2b49c3773c5aa4e5ad975ffb7cd62441b1eb26b7b8f0da6f24e03fc',
    gru: '5e54f73acb29d4473aa7fea55f0c6ed36deef1929472098cf05689dfebe0913d',
  };
  for (const type of CELLS) {
    for (const model of [initModel(shape(type), 42, 'uniform', 'float32')]) {
      const p = model.params;
      assert.equal(createHash('sha256').update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)).digest('hex'), before[type], type);
    }
  }
});

const enc = new TextEncoder();
const corpus = buildCorpus([{ name: 'test', bytes: enc.encode(words(1500, 3)) }]);

test('a run and the PyTorch engine\'s first checkpoint start from the same orthogonal weights (float32, blocks orthogonal within 1e-5)', () => {
  const config = resolveConfig({ model: 'gru', layers: 2, hidden: 16, embed: 8, batch: 4, seqLen: 10, maxIters: 5, seed: 9, init: 'orthogonal' });
  const trainer = new Trainer({ config, corpus, backend: new JsBackend() });
  const start = decodeCheckpoint(torchStartCheckpoint(config, corpus.vocab, corpus.ids.length));
  assert.equal(start.config.init, 'orthogonal');
  assert.deepEqual(Array.from(modelFromCheckpoint(start, new JsBackend()).params), Array.from(trainer.model.params));
  const s = trainer.model.specs.find((x) => x.name === 'rnn.weight_hh_l1')!;
  assert.ok(orthogonalityError(trainer.model.exportParam(s), 3, 16) < 1e-5);
  const uniform = new Trainer({ config: { ...config, init: 'uniform' }, corpus, backend: new JsBackend() });
  assert.notDeepEqual(Array.from(uniform.model.params), Array.from(trainer.model.params));
});

test('--init and --eval-chars validate: a bad value is a one-line error naming the flag (library and CLI)', async () => {
  const one = (f: () => unknown, flag: string): void => assert.throws(f, (e: unknown) => e instanceof CharRnnError && e.message.includes(flag) && !e.message.includes('\n'));
  one(() => resolveConfig({ init: 'xavier' as TrainConfig['init'] }), '--init');
  one(() => resolveConfig({ evalChars: -1 }), '--eval-chars');
  one(() => resolveConfig({ evalChars: 2.5 }), '--eval-chars');
  const data = join(mkdtempSync(join(tmpdir(), 'charrnn-levers-')), 'corpus.txt');
  writeFileSync(data, words(300, 1));
  const r = await runCli(['train', '--data', data, '--init', 'xavier']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr.trim(), /^[^\n]*--init must be one of uniform, orthogonal[^\n]*$/);
});

async function evalsOf(config: TrainConfig, check?: (m: Metrics, t: Trainer) => Promise<void>): Promise<{ trainer: Trainer; evals: Metrics[] }> {
  const trainer = new Trainer({ config, corpus, backend: new JsBackend() });
  const evals: Metrics[] = [];
  for await (const ev of trainer.run() as AsyncGenerator<TrainEvent>) {
    if (ev.type !== 'eval') continue;
    evals.push(ev.metrics);
    await check?.(ev.metrics, trainer); // the loop is paused: the model is as evaluated
  }
  return { trainer, evals };
}

const run = (over: Partial<TrainConfig> = {}): TrainConfig => resolveConfig({
  model: 'lstm', layers: 1, hidden: 16, embed: 8, batch: 4, seqLen: 10, maxIters: 12, evalEvery: 5, sampleEvery: 0, seed: 5, ...over,
});

test('--eval-chars N: evaluations during training are those of the first N characters by hand; the last one reads the whole split', async () => {
  const N = 137;
  const { trainer, evals } = await evalsOf(run({ evalChars: N }), async (m, t) => {
    const whole = m.iter === 12;
    const ids = whole ? t.split.val : t.split.val.subarray(0, N);
    const byHand = await evaluateIds(t.model, ids, { streams: 4, T: 10 });
    assert.equal(m.val_loss, byHand.loss, `iteration ${m.iter}`);
    assert.equal(m.val_chars, byHand.chars, `iteration ${m.iter}`);
  });
  assert.deepEqual(evals.map((m) => m.iter), [5, 10, 12]);
  const wholeChars = (await evaluateIds(trainer.model, trainer.split.val, { streams: 4, T: 10 })).chars;
  assert.ok(evals[0].val_chars < N && evals[2].val_chars === wholeChars && wholeChars > 2 * N, `${evals.map((m) => m.val_chars)} of ${wholeChars}`);
  // without the knob every evaluation reads the whole split, as before
  const plain = await evalsOf(run());
  assert.ok(plain.evals.every((m) => m.val_chars === wholeChars));
  assert.deepEqual(plain.evals.map((m) => m.iter), [5, 10, 12]);
  assert.deepEqual(Array.from(plain.trainer.model.params), Array.from(trainer.model.params), 'evaluating less changes nothing of the training');
});

test('--eval-chars: a run that stops on an evaluation\'s iteration evaluates again over the whole split; tiny N reads at least one window', async () => {
  const { evals } = await evalsOf(run({ evalChars: 3, maxIters: 10 }));
  assert.deepEqual(evals.map((m) => m.iter), [5, 10, 10]);
  assert.equal(evals[0].val_chars, 10, 'one window of T = 10 predictions: evalPrefix keeps T + 1 characters');
  assert.equal(evalPrefix(new Uint16Array(50), 3, 10).length, 11);
  assert.equal(evalPrefix(new Uint16Array(50), 0, 10).length, 50);
  assert.equal(evalPrefix(new Uint16Array(50), 500, 10).length, 50);
  assert.ok(evals[2].val_chars > evals[1].val_chars);
});

test('--eval-chars: resume is unaffected (N + N iterations with a stop between equal 2N straight), and it may change on resume', async () => {
  // the step schedule: a cosine one's span is fixed by the first session's limit
  const straight = await evalsOf(run({ evalChars: 60, maxIters: 16, lrSchedule: 'step' }));
  const first = await evalsOf(run({ evalChars: 60, maxIters: 8, lrSchedule: 'step' }));
  const saved = decodeCheckpoint(first.trainer.checkpoint());
  const resumed = new Trainer({ config: { ...saved.config, maxIters: 16, evalChars: 90 }, corpus, backend: new JsBackend(), resume: saved });
  for await (const _ of resumed.run()) { /* drain */ }
  assert.deepEqual(Array.from(resumed.model.params), Array.from(straight.trainer.model.params));
  assert.deepEqual(Array.from(resumed.optimizer.m), Array.from(straight.trainer.optimizer.m));
  assert.equal(resumed.state.lastValLoss, straight.trainer.state.lastValLoss, 'both end with an evaluation over the whole split');
});

test('--weight-decay-mode decoupled is AdamW by hand (float64, 6 steps, a cosine-like lr): p ← p(1 − lr wd), then Adam on the raw gradient; l2 differs', () => {
  const model = new CharRNN({ type: 'lstm', vocabSize: 5, hidden: 6, layers: 1, embed: 3, dropout: 0 }, new JsBackend(), 'float64');
  model.init(new Rng(3));
  const cfg = { ...run(), optimizer: 'adam' as const, weightDecay: 0.5, weightDecayMode: 'decoupled' as const };
  const opt = new Optimizer(model, cfg);
  const P = model.numParams;
  const p = Float64Array.from(model.params);
  const m = new Float64Array(P);
  const v = new Float64Array(P);
  const l2 = new CharRNN(model.config, new JsBackend(), 'float64');
  l2.params.set(model.params);
  const optL2 = new Optimizer(l2, { ...cfg, weightDecayMode: 'l2' });
  const r = new Rng(4);
  for (let t = 1; t <= 6; t++) {
    const lr = 0.05 / t;
    for (let i = 0; i < P; i++) l2.grads[i] = model.grads[i] = r.next() - 0.5;
    for (let i = 0; i < P; i++) {
      const g = model.grads[i];
      p[i] *= 1 - lr * cfg.weightDecay;
      m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * g;
      v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * g * g;
      p[i] -= lr * (m[i] / (1 - cfg.beta1 ** t)) / (Math.sqrt(v[i] / (1 - cfg.beta2 ** t)) + cfg.eps);
    }
    opt.step(lr);
    optL2.step(lr);
  }
  let worst = 0;
  let apart = 0;
  for (let i = 0; i < P; i++) {
    worst = Math.max(worst, Math.abs(model.params[i] - p[i]));
    apart = Math.max(apart, Math.abs(l2.params[i] - p[i]));
  }
  assert.ok(worst < 1e-12, `decoupled decay off by ${worst}`);
  assert.ok(apart > 1e-3, 'L2 decay (in the gradient) is another update');
  assert.equal(resolveConfig({}).weightDecayMode, 'l2', 'l2 is the default');
  assert.throws(() => resolveConfig({ weightDecayMode: 'adamw' as TrainConfig['weightDecayMode'] }), (e: unknown) => e instanceof CharRnnError && e.message.includes('--weight-decay-mode'));
});

/** The summed loss of `m` on the window of a training workspace `ws`, in an inference workspace (no dropout of any kind). */
function evalLoss(m: CharRNN, ws: Workspace): number {
  const w = new Workspace(m, ws.B, ws.T, { training: false });
  w.inputs.set(ws.inputs);
  w.targets.set(ws.targets);
  m.forward(w);
  return w.lossSum[0];
}

test('--embed-dropout p: in training each embedded number is 0 or E[id]/(1 − p), about p of them 0; evaluation and sampling use E as it is; --embed 0 is a one-line error', () => {
  const model = new CharRNN({ type: 'lstm', vocabSize: 7, hidden: 5, layers: 1, embed: 6, dropout: 0, embedDropout: 0.4 }, new JsBackend(), 'float64');
  model.init(new Rng(2));
  const B = 20;
  const T = 30;
  const ws = new Workspace(model, B, T, { training: true });
  const ids = new Rng(3);
  for (let i = 0; i < B * T; i++) {
    ws.inputs[i] = Math.floor(ids.next() * 7);
    ws.targets[i] = Math.floor(ids.next() * 7);
  }
  model.forward(ws, { train: true, rng: new Rng(4) });
  const emb = model.params.subarray(model.specs[0].offset, model.specs[0].offset + 7 * 6);
  let dropped = 0;
  for (let i = 0; i < B * T; i++) {
    for (let e = 0; e < 6; e++) {
      const x = ws.x0![i * 6 + e];
      const full = emb[ws.inputs[i] * 6 + e];
      if (x === 0) dropped++;
      else assert.ok(Math.abs(x - full / 0.6) < 1e-12, 'a kept number is scaled by 1/keep');
    }
  }
  assert.ok(Math.abs(dropped / (B * T * 6) - 0.4) < 0.03, `dropped share ${dropped / (B * T * 6)}`);
  const plain = new CharRNN({ ...model.config, embedDropout: undefined }, new JsBackend(), 'float64');
  plain.params.set(model.params);
  assert.equal(evalLoss(model, ws), evalLoss(plain, ws), 'no dropout outside training');
  assert.throws(() => resolveConfig({ embed: 0, embedDropout: 0.1 }), (e: unknown) => e instanceof CharRnnError && /--embed-dropout.*--embed/.test(e.message) && !e.message.includes('\n'));
  assert.equal(resolveConfig({}).embedDropout, 0, 'off by default');
});

test('--weight-drop p: a training forward runs each cell on W_hh ⊙ M (M 0 or 1/(1 − p), about p of it 0), the same as a model whose W_hh is that product; dW_hh is masked and added (+=); evaluation uses W_hh as it is', () => {
  for (const type of CELLS) {
    const config: ModelConfig = { type, vocabSize: 7, hidden: 12, layers: 2, embed: 6, dropout: 0 };
    const model = new CharRNN({ ...config, weightDrop: 0.4 }, new JsBackend(), 'float64');
    model.init(new Rng(2));
    const B = 4;
    const T = 9;
    const ws = new Workspace(model, B, T, { training: true });
    assert.ok(ws.fold, 'T·B = 36 > V: layer 0 folded, and weight drop works on it');
    const ids = new Rng(3);
    for (let i = 0; i < B * T; i++) {
      ws.inputs[i] = Math.floor(ids.next() * 7);
      ws.targets[i] = Math.floor(ids.next() * 7);
    }
    model.zeroGrad();
    model.forward(ws, { train: true, rng: new Rng(4) });
    model.backward(ws);
    const G = model.layerParams[0].whh.length;
    // the naive model: no weight drop, its W_hh overwritten by the masked product the cells saw
    const naive = new CharRNN(config, new JsBackend(), 'float64');
    naive.params.set(model.params);
    let dropped = 0;
    for (let l = 0; l < config.layers; l++) {
      const { mask } = ws.weightDrop![l];
      for (let i = 0; i < G; i++) {
        assert.ok(mask[i] === 0 || Math.abs(mask[i] - 1 / 0.6) < 1e-12, `mask ${mask[i]}`);
        if (mask[i] === 0) dropped++;
        naive.layerParams[l].whh[i] *= mask[i];
      }
    }
    assert.ok(Math.abs(dropped / (2 * G) - 0.4) < 0.06, `${type}: dropped share ${dropped / (2 * G)}`);
    assert.notDeepEqual(Array.from(ws.weightDrop![0].mask), Array.from(ws.weightDrop![1].mask), 'a mask per layer');
    const wsN = new Workspace(naive, B, T, { training: true });
    wsN.inputs.set(ws.inputs);
    wsN.targets.set(ws.targets);
    naive.zeroGrad();
    naive.forward(wsN, { train: true, rng: new Rng(4) });
    naive.backward(wsN);
    assert.equal(ws.lossSum[0], wsN.lossSum[0], `${type}: the loss of the masked weights`);
    for (const s of model.specs) {
      const l = /^rnn\.weight_hh_l(\d)$/.exec(s.name);
      for (let i = 0; i < s.size; i++) {
        const want = naive.grads[s.offset + i] * (l ? ws.weightDrop![Number(l[1])].mask[i] : 1);
        assert.ok(Math.abs(model.grads[s.offset + i] - want) <= 1e-12 * (1 + Math.abs(want)), `${type} ${s.name}[${i}]: ${model.grads[s.offset + i]} vs ${want}`);
      }
    }
    // += like every gradient: a second backward of the same window doubles dW_hh
    const once = model.grads.slice();
    model.backward(ws);
    for (let i = 0; i < once.length; i++) assert.ok(Math.abs(model.grads[i] - 2 * once[i]) <= 1e-12 * (1 + Math.abs(once[i])), `${type}: grad ${i} after two backwards`);
    // outside training the cells use W_hh itself
    const plain = new CharRNN(config, new JsBackend(), 'float64');
    plain.params.set(model.params);
    assert.equal(evalLoss(model, ws), evalLoss(plain, ws), 'no weight drop outside training');
    assert.equal(new Workspace(model, B, T, { training: false }).weightDrop, null);
  }
  assert.equal(resolveConfig({}).weightDrop, 0, 'off by default');
  assert.throws(() => resolveConfig({ weightDrop: 1 }), (e: unknown) => e instanceof CharRnnError && /--weight-drop/.test(e.message) && !e.message.includes('\n'));
});
