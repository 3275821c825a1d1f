/** --lines: items never straddle streams, each starts from the zero state, the split is by items, resume is exact; a names model overfits 50 names and then samples only them. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../src/backend/js.js';
import type { Backend } from '../src/backend/types.js';
import { createNodeWasmBackend } from '../src/backend/platform-node.js';
import { resolveConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { evaluateText } from '../src/evaluate.js';
import { generate } from '../src/generate.js';
import { itemsOf, LinesBatcher, splitLines } from '../src/lines.js';
import { Workspace } from '../src/model/model.js';
import { NoveltyIndex } from '../src/novelty.js';
import { Sampler } from '../src/sample.js';
import { Trainer } from '../src/train.js';
import { tinyModel } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Items of lengths 1..9 (plus an empty line and a CRLF line, which must not count). */
const TEXT = 'a\nbb\nccc\n\ndddd\neeeee\r\nffffff\nggggggg\nhhhhhhhh\niiiiiiiii\n';

test('items are the non-empty lines; the split is by item count, cut at line ends', () => {
  const { vocab, ids } = buildCorpus([{ name: 't', bytes: enc(TEXT) }]);
  const items = itemsOf(ids, vocab.id(10), vocab.id(13));
  assert.deepEqual([...items.start].map((s, k) => vocab.decode(ids.subarray(s, items.end[k]))), ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff', 'ggggggg', 'hhhhhhhh', 'iiiiiiiii']);
  const split = splitLines(ids, vocab.id(10), 0.2, 0.2); // 9 items: ⌊1.8⌋ = 1 validation, 1 test, 7 train
  assert.equal(vocab.decode(split.train), 'a\nbb\nccc\n\ndddd\neeeee\r\nffffff\nggggggg\n');
  assert.equal(vocab.decode(split.val), 'hhhhhhhh\n');
  assert.equal(vocab.decode(split.test), 'iiiiiiiii\n');
});

test('items never straddle streams: each is whole, in consecutive windows of one stream, once per epoch', () => {
  const { vocab, ids } = buildCorpus([{ name: 't', bytes: enc(TEXT) }]);
  const nl = vocab.id(10);
  const items = itemsOf(ids, nl, vocab.id(13));
  const B = 3;
  const T = 4;
  const batcher = new LinesBatcher(items, B, T, nl, 42);
  const orders: string[] = [];
  for (let epoch = 0; epoch < 4; epoch++) {
    batcher.plan(epoch);
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const seen: string[] = [];
    const open: Array<{ inp: number[]; tgt: number[] } | null> = new Array(B).fill(null);
    for (let w = 0; w < batcher.windows; w++) {
      batcher.fillIds(w, inputs, targets);
      for (let b = 0; b < B; b++) {
        if (batcher.starts[b]) assert.equal(open[b], null, 'a row is reset only between items');
        for (let t = 0; t < T; t++) {
          const i = t * B + b;
          if (targets[i] < 0) {
            assert.equal(open[b], null, 'padding only after an item ended');
            continue;
          }
          if (t === 0 && !batcher.starts[b]) assert.ok(open[b], 'a row that is not reset continues an item');
          const cur = (open[b] ??= { inp: [], tgt: [] });
          cur.inp.push(inputs[i]);
          cur.tgt.push(targets[i]);
          if (targets[i] === nl) {
            // inputs \n c1..cn, targets c1..cn \n
            assert.equal(cur.inp[0], nl);
            assert.deepEqual(cur.inp.slice(1), cur.tgt.slice(0, -1));
            seen.push(vocab.decode(cur.tgt.slice(0, -1)));
            open[b] = null;
          }
        }
      }
    }
    assert.ok(open.every((o) => o === null), 'no item is cut off at the end of the epoch');
    assert.deepEqual([...seen].sort(), ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff', 'ggggggg', 'hhhhhhhh', 'iiiiiiiii']);
    orders.push(seen.join(','));
  }
  assert.ok(new Set(orders).size > 1, 'shuffled anew each epoch');
  const again = new LinesBatcher(items, B, T, nl, 42);
  again.plan(2);
  batcher.plan(2);
  const [a, b] = [new Int32Array(B * T), new Int32Array(B * T)];
  again.fillIds(1, a, new Int32Array(B * T));
  batcher.fillIds(1, b, new Int32Array(B * T));
  assert.deepEqual(a, b, 'an epoch\'s order is a function of the seed and the epoch');
});

test('each item starts from the zero state: batched logits equal the item read alone', () => {
  const { vocab, ids } = buildCorpus([{ name: 't', bytes: enc(TEXT) }]);
  const nl = vocab.id(10);
  const items = itemsOf(ids, nl, vocab.id(13));
  const model = tinyModel('lstm', { vocabSize: vocab.size, hidden: 6, layers: 2 }, 'float64');
  const B = 2;
  const T = 3;
  const batcher = new LinesBatcher(items, B, T, nl, 7);
  const ws = new Workspace(model, B, T, { training: false });
  const V = vocab.size;
  ws.resetState();
  // the reference: each item alone through the sampler (reset, feed \n, feed its characters)
  const ref = new Map<string, number[][]>();
  const s = new Sampler(model, vocab);
  for (let k = 0; k < items.start.length; k++) {
    const seq = [nl, ...items.ids.subarray(items.start[k], items.end[k])];
    s.reset();
    const rows: number[][] = [];
    for (const id of seq) {
      s.feed(id);
      rows.push(Array.from(s.logits));
    }
    ref.set(seq.join(','), rows);
  }
  const cur: number[][] = Array.from({ length: B }, () => []);
  const got: number[][][] = Array.from({ length: B }, () => []);
  let checked = 0;
  for (let w = 0; w < batcher.windows; w++) {
    batcher.fill(w, ws);
    model.logits(ws);
    ws.carryState();
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const i = t * B + b;
        if (ws.targets[i] < 0) continue;
        cur[b].push(ws.inputs[i]);
        got[b].push(Array.from(ws.logits.subarray(i * V, (i + 1) * V)));
        if (ws.targets[i] === nl) {
          const want = ref.get(cur[b].join(','))!;
          assert.ok(want, 'a whole item');
          want.forEach((row, p) => row.forEach((z, j) => assert.ok(Math.abs(z - got[b][p][j]) < 1e-12)));
          checked++;
          cur[b] = [];
          got[b] = [];
        }
      }
    }
  }
  assert.equal(checked, items.start.length);
});

const NAMES = ('Emma Olivia Ava Isabella Sophia Mia Amelia Harper Evelyn Abigail Emily Ella Elizabeth Camila Luna Sofia Avery Mila Aria ' +
  'Scarlett Penelope Layla Chloe Victoria Madison Eleanor Grace Nora Riley Zoey Hannah Hazel Lily Ellie Violet Lillian Zoe Stella ' +
  'Aurora Natalie Emilia Everly Leah Aubrey Willow Addison Lucy Audrey Bella Nova').split(' ');

function namesTrainer(extra: Record<string, number | boolean | string>, backend: Backend = new JsBackend()): Trainer {
  const corpus = buildCorpus([{ name: 'names', bytes: enc(NAMES.join('\n') + '\n') }]);
  const config = resolveConfig({ lines: true, model: 'lstm', layers: 1, hidden: 64, embed: 16, batch: 16, seqLen: 10, lr: 1e-2, evalEvery: 100, sampleEvery: 0, valFrac: 0.04, testFrac: 0.04, maxTime: 0, epochs: 0, seed: 3, ...extra });
  return new Trainer({ config, corpus, backend });
}

async function drain(t: Trainer): Promise<void> {
  for await (const ev of t.run()) void ev;
}

test('a resumed lines run continues bit for bit (the epoch order comes back from the checkpoint)', async () => {
  // step schedule: a cosine span would be fixed by the first part's limit
  const whole = namesTrainer({ maxIters: 12, lrSchedule: 'step' });
  await drain(whole);
  const first = namesTrainer({ maxIters: 5, lrSchedule: 'step' });
  await drain(first);
  const { decodeCheckpoint } = await import('../src/checkpoint.js');
  const data = decodeCheckpoint(first.checkpoint());
  const resumed = new Trainer({ config: { ...data.config, maxIters: 12 }, corpus: first.corpus, backend: new JsBackend(), resume: data });
  await drain(resumed);
  assert.ok(whole.source.windows < 12, 'the runs cross an epoch boundary');
  assert.deepEqual(Array.from(resumed.model.params), Array.from(new Float32Array(whole.model.params)));
});

test('a names model overfits 50 names and then samples only them (novelty 0%); an early one makes new names', async () => {
  // 46 training names in 46 streams: one window is an epoch; the learning rate decays to let it settle
  const be = await createNodeWasmBackend({ threads: 1 });
  const fit = { batch: 46, lr: 2e-2, lrDecay: 0.993, lrDecayAfter: 0 };
  const t = namesTrainer({ ...fit, maxIters: 600 }, be);
  await drain(t);
  const index = new NoveltyIndex(t.corpus.vocab, t.split, true);
  assert.equal(t.model.config.lines, true, 'the model knows it makes items');
  const late = (await generate({ model: t.model, vocab: t.corpus.vocab }, { length: 30, count: 40, seed: 1, temperature: 0.5 })).samples.map((g) => g.text);
  const r = index.measure(late);
  assert.equal(r.shares.new, 0, `new names from an overfit model: ${late.filter((x, i) => r.marks[i] === 'new')}`);
  assert.ok(late.every((x) => NAMES.includes(x)));
  assert.deepEqual(r.ngrams, [], 'no n-gram novelty for items');
  const early = namesTrainer({ ...fit, maxIters: 15 }, be);
  await drain(early);
  const rough = (await generate({ model: early.model, vocab: early.corpus.vocab }, { length: 30, count: 40, seed: 1, temperature: 1 })).samples.map((g) => g.text);
  assert.ok(index.measure(rough).shares.new > 0.3, 'an undertrained model makes up names');
  be.dispose();
});

test('evaluateText on a lines model reads each line as an item: the mean of -ln p over every item read alone, its newline included', async () => {
  const { vocab } = buildCorpus([{ name: 't', bytes: enc(TEXT) }]);
  const nl = vocab.id(10);
  const model = tinyModel('gru', { vocabSize: vocab.size, hidden: 5, layers: 1, lines: true }, 'float64');
  const text = 'ccc\nab\r\n\nbbbb\n';
  const r = await evaluateText(model, vocab, [{ name: 'x', bytes: enc(text) }], 3);
  const s = new Sampler(model, vocab);
  let total = 0;
  let chars = 0;
  for (const item of ['ccc', 'ab', 'bbbb']) {
    s.reset();
    s.feed(nl);
    for (const ch of [...item, '\n']) {
      const id = vocab.id(ch.codePointAt(0)!);
      total -= s.logProb(id);
      chars++;
      s.feed(id);
    }
  }
  assert.equal(r.chars, chars);
  assert.ok(Math.abs(r.nats_per_char - total / chars) < 1e-9, `${r.nats_per_char} vs ${total / chars}`);
  await assert.rejects(() => evaluateText(model, vocab, [{ name: 'empty.txt', bytes: enc('\n\n') }]), /empty\.txt has no non-empty line/);
});
