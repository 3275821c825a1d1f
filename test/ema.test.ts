/**
 * --ema, the weights' moving average, on the reference kernels: the kernel and the warm-up of its
 * decay against a naive float64 loop; a skipped step (non-finite ‖g‖) leaves it as it was; the
 * trainer evaluates, samples and saves best.safetensors from the average while it trains on the
 * raw weights; latest.safetensors carries it, so a resumed run ends bit-identical to one that
 * never stopped. (Each backend's emaUpdate against this one: test/kernel-suite.ts and
 * webgpu-kernels.test.ts; the torch engine's: torch-engine.test.ts.)
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../src/backend/js.js';
import { createNodeNativeBackend, createNodeWasmBackend } from '../src/backend/platform-node.js';
import type { Backend } from '../src/backend/types.js';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { evaluateIds } from '../src/evaluate.js';
import { CharRNN } from '../src/model/model.js';
import { emaDecay, Optimizer } from '../src/optim.js';
import { Rng } from '../src/rng.js';
import { Trainer, type TrainEvent } from '../src/train.js';

const js = new JsBackend();
const corpus = buildCorpus([{ name: 't', bytes: new TextEncoder().encode('It was the best of times, it was the worst of times, it was the age of wisdom.\n'.repeat(6)) }]);

const config = (over: Partial<TrainConfig> = {}): TrainConfig => resolveConfig({
  model: 'lstm', layers: 2, hidden: 12, batch: 3, seqLen: 8, embed: 4, maxTime: 0, epochs: 0, lr: 0.02,
  evalEvery: 4, sampleEvery: 6, sampleLength: 10, seed: 42, valFrac: 0.1, testFrac: 0.05, lrSchedule: 'step', ema: 0.9, ...over,
});

/** Largest |a − b| / (|b| + 1e-6). */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + 1e-6));
  return m;
}

test('emaUpdate: avg = d avg + (1 − d) x, as a naive float64 loop; a non-finite ‖g‖ in skip leaves avg', () => {
  const r = new Rng(3);
  const n = 37;
  const avg = Float64Array.from({ length: n }, () => r.next() * 2 - 1);
  const x = Float64Array.from({ length: n }, () => r.next() * 2 - 1);
  const want = avg.map((a, i) => 0.75 * a + 0.25 * x[i]);
  js.emaUpdate(n, avg, x, 0.75, Float64Array.of(2, 1));
  assert.deepEqual(Array.from(avg), Array.from(want));
  for (const norm of [NaN, Infinity, -Infinity]) {
    js.emaUpdate(n, avg, x, 0.75, Float64Array.of(norm, 1));
    assert.deepEqual(Array.from(avg), Array.from(want), `‖g‖ = ${norm}: skipped`);
  }
});

test('emaDecay warms up as (1 + t) / (10 + t) and is capped at the knob', () => {
  assert.equal(emaDecay(0.999, 1), 2 / 11);
  assert.equal(emaDecay(0.999, 90), 91 / 100);
  assert.equal(emaDecay(0.9, 90), 0.9);
  assert.equal(emaDecay(0.999, 1e6), 0.999);
});

test('Optimizer with ema: the average after each applied step, by hand; a skipped step moves neither weights nor average', () => {
  const model = new CharRNN({ type: 'gru', vocabSize: 5, hidden: 6, layers: 1, embed: 3, dropout: 0 }, js);
  model.init(new Rng(1));
  const cfg = { ...config(), optimizer: 'adam' as const, ema: 0.5 };
  const opt = new Optimizer(model, cfg);
  opt.startAverage();
  const P = model.numParams;
  const byHand = Float64Array.from(model.params);
  const r = new Rng(2);
  const factor = new Float32Array(2);
  for (let t = 1; t <= 6; t++) {
    for (let i = 0; i < P; i++) model.grads[i] = r.next() - 0.5;
    const skipped = t === 4;
    factor[0] = skipped ? NaN : 1;
    factor[1] = 1;
    const before = Float32Array.from(model.params);
    const avgBefore = Float32Array.from(opt.ema!);
    opt.step(0.01, { factor, hi: 0 });
    if (skipped) {
      assert.deepEqual(Array.from(model.params), Array.from(before), 'a skipped step leaves the weights');
      assert.deepEqual(Array.from(opt.ema!), Array.from(avgBefore), 'and the average');
      continue;
    }
    const d = Math.min(0.5, (1 + t) / (10 + t)); // t counts skipped steps too, as Adam's bias correction
    for (let i = 0; i < P; i++) byHand[i] = d * byHand[i] + (1 - d) * model.params[i];
  }
  assert.ok(maxRel(opt.ema!, byHand) < 1e-6, `average off by ${maxRel(opt.ema!, byHand)}`);
  assert.ok(maxRel(opt.ema!, model.params) > 1e-3, 'the average is not the weights');
});

async function drain(trainer: Trainer): Promise<TrainEvent[]> {
  const events: TrainEvent[] = [];
  for await (const ev of trainer.run()) events.push(ev);
  return events;
}

test('Trainer with ema: trains the raw weights as without it; validation, samples and best.safetensors use the average', async () => {
  const N = 12;
  const plain = new Trainer({ config: config({ ema: 0, maxIters: N }), corpus, backend: new JsBackend() });
  const plainEvents = await drain(plain);
  const trainer = new Trainer({ config: config({ maxIters: N }), corpus, backend: new JsBackend() });
  const P = trainer.model.numParams;
  const byHand = Float64Array.from(trainer.model.params); // starts at the initial weights
  const vals: Array<{ got: number; want: number }> = [];
  let best: Uint8Array | null = null;
  for await (const ev of trainer.run()) {
    if (ev.type === 'step') { // read every step on host memory: the weights after this step
      const d = Math.min(0.9, (1 + ev.iter) / (10 + ev.iter));
      for (let i = 0; i < P; i++) byHand[i] = d * byHand[i] + (1 - d) * trainer.model.params[i];
    }
    if (ev.type === 'eval') {
      const avg = new CharRNN(trainer.model.config, new JsBackend());
      avg.params.set(byHand);
      avg.paramsChanged();
      const { batch: B, seqLen: T } = trainer.config;
      vals.push({ got: ev.metrics.val_loss, want: (await evaluateIds(avg, trainer.split.val, { streams: B, T })).loss });
      if (ev.isBest) best = trainer.bestCheckpoint();
    }
  }
  // the raw weights follow the run without --ema bit for bit (the average never feeds back)
  assert.deepEqual(Array.from(trainer.model.params), Array.from(plain.model.params));
  const losses = (evs: TrainEvent[]): number[] => evs.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
  assert.equal(vals.length, 3);
  for (const { got, want } of vals) assert.ok(Math.abs(got - want) < 1e-5, `validation loss ${got}, of the average by hand ${want}`);
  const plainVals = plainEvents.flatMap((e) => (e.type === 'eval' ? [e.metrics.val_loss] : []));
  assert.notDeepEqual(vals.map((v) => v.got), plainVals, 'the raw weights evaluate differently');
  assert.deepEqual(losses(await drain(new Trainer({ config: config({ maxIters: N }), corpus, backend: new JsBackend() }))), losses(plainEvents));
  assert.ok(maxRel(trainer.optimizer.ema!, byHand) < 1e-5);

  // latest: raw weights plus the ema.* tensors; best: the average as the weights
  const latest = decodeCheckpoint(trainer.checkpoint());
  const saved = modelFromCheckpoint(latest, new JsBackend());
  assert.deepEqual(Array.from(saved.params), Array.from(trainer.model.params));
  const restored = new Optimizer(saved, latest.config);
  for (const s of saved.specs) saved.importParam(s, latest.train!.ema!.get(s.name)!, restored.ema!);
  assert.deepEqual(Array.from(restored.ema!), Array.from(trainer.optimizer.ema!));
  assert.ok(best, 'a best checkpoint was taken');
  const bestModel = modelFromCheckpoint(decodeCheckpoint(best), new JsBackend());
  const { batch: B, seqLen: T } = trainer.config;
  assert.equal((await evaluateIds(bestModel, trainer.split.val, { streams: B, T })).loss, trainer.state.bestValLoss, 'best.safetensors evaluates to the best validation loss');

  // evaluation and samples put the raw weights back exactly, and samples come from the average
  const raw = Array.from(trainer.model.params);
  await trainer.validationLoss();
  const s1 = await trainer.sample(30, 0);
  assert.deepEqual(Array.from(trainer.model.params), raw);
  const fromAverage = new Trainer({ config: config({ ema: 0, maxIters: N }), corpus, backend: new JsBackend() });
  fromAverage.model.params.set(trainer.optimizer.ema!);
  fromAverage.model.paramsChanged();
  assert.equal(s1, await fromAverage.sample(30, 0), 'a greedy sample is the average\'s');
});

test('resume with ema: N + N iterations with a stop in between equal 2N straight, the average included', async () => {
  const N = 9; // not a multiple of evalEvery; crosses an epoch
  const straight = new Trainer({ config: config({ maxIters: 2 * N, ema: 0.95 }), corpus, backend: new JsBackend() });
  await drain(straight);
  const first = new Trainer({ config: config({ maxIters: N, ema: 0.95 }), corpus, backend: new JsBackend() });
  await drain(first);
  const saved = decodeCheckpoint(first.checkpoint());
  assert.ok(saved.train?.ema, 'latest holds the average');
  const resumed = new Trainer({ config: { ...saved.config, maxIters: 2 * N }, corpus, backend: new JsBackend(), resume: saved });
  const events = await drain(resumed);
  assert.deepEqual(Array.from(resumed.model.params), Array.from(straight.model.params));
  assert.deepEqual(Array.from(resumed.optimizer.ema!), Array.from(straight.optimizer.ema!));
  assert.deepEqual(Array.from(resumed.optimizer.m), Array.from(straight.optimizer.m));
  assert.equal(resumed.state.bestValLoss, straight.state.bestValLoss);
  assert.equal(events.at(-1)?.type, 'done');
  assert.deepEqual(await resumed.sample(40), await straight.sample(40));
});

test('wasm and native trainers with ema: the average and its validation losses match the reference', async () => {
  const run = async (backend: Backend): Promise<{ vals: number[]; ema: Float32Array }> => {
    const trainer = new Trainer({ config: config({ maxIters: 8, sampleEvery: 0 }), corpus, backend });
    const events = await drain(trainer);
    return { vals: events.flatMap((e) => (e.type === 'eval' ? [e.metrics.val_loss] : [])), ema: Float32Array.from(trainer.optimizer.ema!) };
  };
  const ref = await run(new JsBackend());
  for (const [name, backend] of [['wasm', await createNodeWasmBackend({ threads: 1 })], ['native', createNodeNativeBackend({ threads: 2 })]] as const) {
    const got = await run(backend);
    backend.dispose();
    assert.equal(got.vals.length, ref.vals.length);
    got.vals.forEach((v, i) => assert.ok(Math.abs(v - ref.vals[i]) < 1e-5, `${name}: validation loss ${v} vs ${ref.vals[i]}`));
    assert.ok(maxRel(got.ema, ref.ema) < 1e-3, `${name}: the average off by ${maxRel(got.ema, ref.ema)}`);
  }
});

test('a checkpoint of an --ema run without its ema.* tensors is a one-line error', async () => {
  const trainer = new Trainer({ config: config({ maxIters: 2 }), corpus, backend: new JsBackend() });
  await drain(trainer);
  const { m, v } = trainer.optimizer;
  const bytes = encodeCheckpoint({
    config: trainer.config, model: trainer.model, vocab: corpus.vocab,
    train: { state: trainer.state, optimizer: { m, v, t: trainer.optimizer.t, ema: null }, carried: trainer.ws.getState() },
  });
  assert.throws(() => decodeCheckpoint(bytes), /checkpoint is missing tensor "ema\.embedding\.weight"/);
});
