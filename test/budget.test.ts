/**
 * Model size for the budget (src/budget.ts): the rule on a fake speed gauge, explicit flags
 * winning, the corpus-size cap, dropout by epochs and size, the speed gauge on a fake clock, and the CLI
 * saying what it chose on its first line and keeping it on resume.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsBackend } from '../src/backend/js.js';
import { CHARS_PER_PARAM, chooseModel, choosesModel, dropoutFor, measureSpeed, MIN_STEPS, paramCount, PARAMS_PER_TRAIN_CHAR, SHAPES, EVAL_SHARE, DROPOUT_EPOCHS, DROPOUT_MAX } from '../src/budget.js';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { newRunConfig, type TrainConfig } from '../src/config.js';
import { runCli } from './run-cli.js';
import { words } from './helpers.js';

const V = 65;
/** A gauge whose speed falls with the parameters, as a real one does: `k` parameter-chars per second. */
const gauge = (k: number, asked: TrainConfig[] = []) => async (c: TrainConfig): Promise<number> => {
  asked.push(c);
  return k / paramCount(c, V);
};

test('under --max-time: the largest shape whose budget gives CHARS_PER_PARAM chars per parameter; the gauge stops at the first too big', async () => {
  const given: Partial<TrainConfig> = { maxTime: 300, batch: 4, seqLen: 10 }; // short windows: the steps are plenty (next test)
  const config = newRunConfig(given);
  // budget chars = k / params · 300 · (1 − EVAL_SHARE) ≥ CHARS_PER_PARAM · params  ⇔  params² ≤ k · 300 · 0.95 / CHARS_PER_PARAM
  const third = paramCount({ ...config, ...SHAPES[2] }, V);
  const k = (third * third * CHARS_PER_PARAM) / (300 * (1 - EVAL_SHARE)) * 1.01; // the third shape just fits
  const asked: TrainConfig[] = [];
  const plan = await chooseModel({ given, config, vocabSize: V, trainChars: 1e7, speed: gauge(k, asked) });
  assert.deepEqual({ layers: plan.config.layers, hidden: plan.config.hidden }, SHAPES[2]);
  assert.deepEqual(asked.map((c) => c.hidden), SHAPES.slice(0, 4).map((s) => s.hidden), 'measured up to the first shape that does not fit');
  assert.ok(plan.choice);
  assert.match(plan.choice.line, new RegExp(`^LSTM ${SHAPES[2].layers}×${SHAPES[2].hidden}.* chosen for 300 s on 10\\.0 M chars`));
  // with a small corpus the parameters are capped by the training characters
  const capped = await chooseModel({ given, config, vocabSize: V, trainChars: paramCount(config, V) / PARAMS_PER_TRAIN_CHAR + 1, speed: gauge(k) });
  assert.equal(capped.config.hidden, SHAPES[0].hidden);
});

test('a shape needs MIN_STEPS optimizer steps too: one with chars per parameter to spare but too few steps is not chosen', async () => {
  const given: Partial<TrainConfig> = { maxTime: 150 };
  const config = newRunConfig(given);
  const window = config.batch * config.seqLen;
  // steps(s) = speed(s) · 150 · 0.95 / window: SHAPES[1] gets 1.2 · MIN_STEPS, SHAPES[2] 0.9 · MIN_STEPS
  const steps = [4, 1.2, 0.9, 0.5].map((f) => f * MIN_STEPS);
  const speedOf = (c: TrainConfig): number => (steps[SHAPES.findIndex((s) => s.hidden === c.hidden && s.layers === c.layers)] * window) / (150 * (1 - EVAL_SHARE));
  const big = 1e9; // chars per parameter never binds (tiny vocabulary aside, the gauge below is what decides)
  const asked: number[] = [];
  const plan = await chooseModel({ given, config, vocabSize: V, trainChars: big, speed: async (c) => (asked.push(c.hidden), speedOf(c)) });
  const cpp = (i: number): number => (steps[i] * window) / paramCount({ ...config, ...SHAPES[i] }, V);
  assert.ok(cpp(2) >= CHARS_PER_PARAM, `SHAPES[2] has ${cpp(2).toFixed(1)} chars per parameter: only its steps rule it out`);
  assert.deepEqual({ layers: plan.config.layers, hidden: plan.config.hidden }, SHAPES[1]);
  assert.deepEqual(asked, SHAPES.slice(0, 3).map((s) => s.hidden));
  // the steps count in this run's windows: shorter ones make the same characters more steps
  const short = await chooseModel({ given: { ...given, seqLen: 25 }, config: { ...config, seqLen: 25 }, vocabSize: V, trainChars: big, speed: async (c) => speedOf(c) });
  assert.deepEqual({ layers: short.config.layers, hidden: short.config.hidden }, SHAPES[2]);
});

test('a slow engine, or a tiny budget, keeps the smallest shape; an iteration or epoch budget needs no gauge', async () => {
  const config = newRunConfig({ maxTime: 10 });
  const slow = await chooseModel({ given: { maxTime: 10 }, config, vocabSize: V, trainChars: 1e6, speed: async () => 100 });
  assert.deepEqual({ layers: slow.config.layers, hidden: slow.config.hidden }, SHAPES[0]);
  assert.equal(slow.config.dropout, 0);
  const byIters = newRunConfig({ maxIters: 40 }); // 40 · 50 · 50 = 100 K chars
  const noGauge = async (): Promise<number> => {
    throw new Error('the gauge was asked');
  };
  const p = await chooseModel({ given: { maxIters: 40 }, config: byIters, vocabSize: V, trainChars: 1e6, speed: noGauge });
  assert.equal(p.config.hidden, SHAPES[0].hidden);
  assert.match(p.choice!.line, /for 40 iterations on 1\.0 M chars \(about 0\.1 epochs/);
  // a huge iteration budget on a big corpus picks a big model, with the dropout its epochs and size call for
  const big = newRunConfig({ maxIters: 400000 });
  const q = await chooseModel({ given: { maxIters: 400000 }, config: big, vocabSize: V, trainChars: 1e8, speed: noGauge });
  assert.deepEqual({ layers: q.config.layers, hidden: q.config.hidden }, SHAPES[SHAPES.length - 1]);
  assert.equal(q.config.dropout, dropoutFor(q.choice!.epochs, paramCount(q.config, V) / 1e8));
});

test('explicit flags win: a given shape is kept (dropout still chosen), a given dropout is kept, all given: nothing chosen', async () => {
  const many = { maxIters: 100000 }; // 250 M chars
  const pick = (given: Partial<TrainConfig>, trainChars = 5e6) => chooseModel({ given, config: newRunConfig(given), vocabSize: V, trainChars, speed: async () => 1e9 });
  const hidden = await pick({ ...many, hidden: 64 });
  assert.equal(hidden.config.hidden, 64);
  assert.equal(hidden.config.layers, 2);
  assert.equal(hidden.choice!.shape, null);
  assert.ok(hidden.config.dropout > 0, 'dropout chosen for 50 epochs');
  assert.match(hidden.choice!.line, /^LSTM 2×64, dropout [\d.]+ kept for/);
  const dropout = await pick({ ...many, dropout: 0.05 });
  assert.equal(dropout.config.dropout, 0.05);
  assert.notEqual(dropout.config.hidden, 128);
  for (const k of ['layers', 'embed', 'model'] as const) assert.equal((await pick({ ...many, [k]: k === 'model' ? 'gru' : 1 })).choice!.shape, null, k);
  const all = await pick({ ...many, hidden: 64, dropout: 0 });
  assert.equal(all.choice, null);
  assert.equal(choosesModel({ hidden: 64, dropout: 0 }), false);
  // one layer: no dropout between layers to choose
  assert.equal((await pick({ ...many, layers: 1 })).choice!.dropout, null);
});

test('dropout by epochs and by parameters per character: none below DROPOUT_EPOCHS, then rising with each, capped', () => {
  assert.equal(dropoutFor(1, 1), 0);
  assert.equal(dropoutFor(DROPOUT_EPOCHS - 0.5, 8), 0, 'too few epochs: no dropout however big the model');
  // a model with fewer parameters than characters gets the epochs' share only; a bigger one more
  assert.equal(dropoutFor(2 * DROPOUT_EPOCHS, 0.25), dropoutFor(2 * DROPOUT_EPOCHS, 1));
  const bySize = [1, 2, 4, 8, 1000].map((r) => dropoutFor(2 * DROPOUT_EPOCHS, r));
  for (let i = 1; i < bySize.length; i++) assert.ok(bySize[i] >= bySize[i - 1], `${bySize}`);
  assert.ok(bySize[2] > bySize[0], `${bySize}`);
  assert.equal(bySize[bySize.length - 1], DROPOUT_MAX);
  const seq = [DROPOUT_EPOCHS, 2 * DROPOUT_EPOCHS, 4 * DROPOUT_EPOCHS, 8 * DROPOUT_EPOCHS, 1000].map((e) => dropoutFor(e, 1));
  for (let i = 1; i < seq.length; i++) assert.ok(seq[i] >= seq[i - 1], `${seq}`);
  assert.ok(seq[0] > 0);
  assert.equal(seq[seq.length - 1], Math.max(...seq));
  assert.ok(seq[seq.length - 1] < 0.5);
});

test('measureSpeed: real training steps, the fastest of its timed rounds (a fake clock)', async () => {
  const backend = new JsBackend();
  const config = newRunConfig({ hidden: 8, layers: 1, embed: 4, batch: 3, seqLen: 5 });
  // every reading of the clock is 1 s after the one before, but the second comes 5 s late (a slow first round)
  const gaps = [1, 5];
  let t = 0;
  let reads = 0;
  const now = (): number => (t += gaps[reads++] ?? 1);
  const ids = Int32Array.from({ length: 40 }, (_, i) => i % 7);
  const cps = await measureSpeed(backend, config, 7, ids, now, 6); // rounds of 6 / 3 = 2 s
  // the warm-up steps read no clock; round 1: t0 = 1, a step, 6 (done), end 7: one step in 6 s;
  // rounds 2 and 3: t0, a step, +1 (1 < 2), a step, +2 (done), end +3: two steps in 3 s, the fastest
  assert.equal(reads, 3 + 4 + 4);
  assert.ok(Math.abs(cps - (2 * 3 * 5) / 3) < 1e-9, `${cps}`);
});

test('the CLI: the chosen model heads the first line, is in the checkpoint, and a resumed run keeps it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-budget-'));
  const data = join(dir, 'corpus.txt');
  writeFileSync(data, words(900, 3));
  const out = join(dir, 'run');
  const a = await runCli(['train', '--data', data, '--out', out, '--batch', '4', '--seq-len', '16', '--max-iters', '1000', '--eval-every', '500', '--sample-every', '0']);
  assert.equal(a.code, 0, a.stderr);
  const first = a.stdout.split('\n')[0];
  assert.match(first, /^LSTM 2×128, dropout [\d.]+ chosen for 1000 iterations on \d+ K chars \(about \d+ epochs; --hidden, --layers, --dropout override\): [\d,]+ parameters/);
  const dropout = Number(/dropout ([\d.]+)/.exec(first)![1]);
  const saved = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors')));
  assert.equal(saved.config.dropout, dropout);
  assert.equal(saved.config.hidden, 128);
  const b = await runCli(['train', '--resume', out, '--max-iters', '310']);
  assert.equal(b.code, 0, b.stderr);
  assert.doesNotMatch(b.stdout, /chosen/);
  assert.equal(decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).config.dropout, dropout);
  // flags win
  const c = await runCli(['train', '--data', data, '--out', join(dir, 'c'), '--batch', '4', '--seq-len', '16', '--max-iters', '3', '--hidden', '16', '--dropout', '0']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout.split('\n')[0], /^[\d,]+ parameters/);
});
