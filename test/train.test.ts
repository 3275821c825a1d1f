/**
 * Training end to end in the library: each cell type memorises a short text; a run stopped and
 * resumed from its checkpoint ends bit-identical to one that never stopped; checkpoints
 * round-trip.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../src/backend/js.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { Trainer, type TrainEvent } from '../src/train.js';
import { CELLS } from './helpers.js';

const enc = new TextEncoder();
const corpusOf = (text: string) => buildCorpus([{ name: 'test', bytes: enc.encode(text) }]);

async function drain(trainer: Trainer): Promise<TrainEvent[]> {
  const events: TrainEvent[] = [];
  for await (const ev of trainer.run()) events.push(ev);
  return events;
}

const TEXT = 'the quick brown fox jumps over the lazy dog. ';

for (const model of CELLS) {
  test(`overfit: a 2-layer ${model} memorises a short text (loss < 0.05 nats/char)`, async () => {
    // 45 distinct characters repeated: a model that learned the text predicts it almost surely.
    const config = resolveConfig({
      model, layers: 2, hidden: 32, batch: 4, seqLen: 20, lr: 1e-2,
      maxIters: 400, maxTime: 0, epochs: 0, evalEvery: 100, sampleEvery: 0, valFrac: 0.1, testFrac: 0, seed: 1,
    });
    const trainer = new Trainer({ config, corpus: corpusOf(TEXT.repeat(12)), backend: new JsBackend() });
    const events = await drain(trainer);
    const evals = events.filter((e) => e.type === 'eval').map((e) => (e.type === 'eval' ? e.metrics : null)!);
    const last = evals[evals.length - 1];
    assert.ok(last.train_loss < 0.05, `${model}: train loss ${last.train_loss}`);
    // (validation starts from the zero state, so its first characters cannot be known: train loss is the measure)
  });
}

const small = (over: Partial<TrainConfig> = {}): TrainConfig => resolveConfig({
  model: 'lstm', layers: 2, hidden: 12, batch: 3, seqLen: 8, embed: 4, dropout: 0.2, maxTime: 0, epochs: 0,
  evalEvery: 5, sampleEvery: 7, sampleLength: 10, seed: 42, valFrac: 0.1, testFrac: 0.05, ...over,
});

for (const model of CELLS) {
  test(`resume: N + N iterations with a stop in between equal 2N straight (${model}, dropout, lr decay across epochs)`, async () => {
    const corpus = corpusOf('It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(6));
    const N = 21; // not a multiple of evalEvery, and crossing epoch boundaries (lr decay after epoch 1)
    const over = { model, lrSchedule: 'step', lrDecayAfter: 1, lrDecay: 0.5 } as const;
    const straight = new Trainer({ config: small({ ...over, maxIters: 2 * N }), corpus, backend: new JsBackend() });
    await drain(straight);

    const first = new Trainer({ config: small({ ...over, maxIters: N }), corpus, backend: new JsBackend() });
    await drain(first);
    const saved = decodeCheckpoint(first.checkpoint());
    const resumed = new Trainer({ config: { ...saved.config, maxIters: 2 * N }, corpus, backend: new JsBackend(), resume: saved });
    await drain(resumed);

    assert.ok(straight.state.epoch >= 2, 'the run should cross epochs');
    assert.deepEqual(Array.from(resumed.model.params), Array.from(straight.model.params));
    assert.deepEqual(Array.from(resumed.optimizer.m), Array.from(straight.optimizer.m));
    assert.equal(resumed.state.lr, straight.state.lr);
    assert.equal(resumed.state.iter, straight.state.iter);
    assert.deepEqual(await resumed.sample(40), await straight.sample(40));
  });
}

test('checkpoint round-trip: same weights, config, vocabulary and predictions', async () => {
  const corpus = corpusOf('héllo wörld 🌍 你好 '.repeat(20));
  const trainer = new Trainer({ config: small({ maxIters: 3, model: 'gru' }), corpus, backend: new JsBackend() });
  await drain(trainer);
  const data = decodeCheckpoint(trainer.checkpoint());
  assert.deepEqual(data.vocab.symbols, corpus.vocab.symbols);
  assert.deepEqual(data.config, trainer.config);
  const model = modelFromCheckpoint(data, new JsBackend());
  assert.deepEqual(Array.from(model.params), Array.from(trainer.model.params));
  assert.equal(data.train?.state.iter, 3);
});

test('a corpus shorter than one window is a clear error naming the minimum', () => {
  assert.throws(
    () => new Trainer({ config: small({ batch: 50, seqLen: 50 }), corpus: corpusOf('short text'), backend: new JsBackend() }),
    /needs at least 2501/,
  );
});
