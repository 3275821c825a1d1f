/**
 * `charrnn export --format onnx`: ONNX Runtime (onnxruntime-web's WebAssembly build, run in Node)
 * gives our logits within 1e-4 over a 200-character text fed in two calls of 100 with the state
 * carried from the first to the second, two streams at once, for LSTM, GRU and RNN, one-hot and
 * embedding inputs, two layers; the trained models had dropout, which the graph leaves out.
 */
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { JsBackend } from '../src/backend/js.js';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { CharRNN } from '../src/model/model.js';
import { Rng } from '../src/rng.js';
import { Sampler } from '../src/sample.js';
import { Vocabulary } from '../src/vocab.js';
import { exportJs } from '../src/export/js-module.js';
import { exportOnnx } from '../src/export/onnx.js';
import { exportSourceOf } from '../src/export/source.js';
import { CELLS, words } from './helpers.js';
import { runCli, tinyCheckpoint } from './run-cli.js';

ort.env.wasm.numThreads = 1; // no worker threads: the test runner's process stays simple

const TEXT = words(100, 3).slice(0, 200);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Max |ORT − ours| over the logits of TEXT (stream 0) and TEXT shifted by 50 (stream 1), fed as 100 + 100 characters. */
async function gap(onnx: Uint8Array, model: CharRNN, vocab: Vocabulary): Promise<number> {
  const session = await ort.InferenceSession.create(onnx);
  const { layers: L, hidden: H, vocabSize: V, type } = model.config;
  const B = 2;
  const streams = [vocab.encode(TEXT), vocab.encode(TEXT.slice(50) + TEXT.slice(0, 50))];
  const samplers = streams.map(() => new Sampler(model, vocab));
  for (const s of samplers) s.reset();
  let state: Record<string, ort.Tensor> = { h0: new ort.Tensor('float32', new Float32Array(L * B * H), [L, B, H]) };
  if (type === 'lstm') state.c0 = new ort.Tensor('float32', new Float32Array(L * B * H), [L, B, H]);
  let worst = 0;
  for (const from of [0, 100]) {
    const T = 100;
    const ids = new BigInt64Array(T * B); // [T, B]
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) ids[t * B + b] = BigInt(streams[b][from + t]);
    const out = await session.run({ ids: new ort.Tensor('int64', ids, [T, B]), ...state });
    assert.deepEqual(out.logits.dims, [T, B, V]);
    const logits = out.logits.data as Float32Array;
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        samplers[b].feed(streams[b][from + t]);
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[(t * B + b) * V + v] - samplers[b].logits[v]));
      }
    }
    state = { h0: out.hn };
    if (type === 'lstm') state.c0 = out.cn;
    assert.deepEqual(out.hn.dims, [L, B, H]);
  }
  for (const s of samplers) s.dispose();
  await session.release();
  return worst;
}

test('export onnx: ONNX Runtime gives our logits within 1e-4, the state carried across two calls (trained with dropout)', async () => {
  const gaps: string[] = [];
  for (const cell of CELLS) {
    const embed = cell === 'gru' ? '0' : '8';
    const { dir, ckpt } = await tinyCheckpoint(`charrnn-onnx-${cell}-`, undefined, ['--model', cell, '--layers', '2', '--dropout', '0.2', '--embed', embed, '--max-iters', '20', '--eval-every', '20']);
    dirs.push(dir);
    const r = await runCli(['export', ckpt, '--format', 'onnx', '--out', join(dir, 'model.onnx')]);
    assert.equal(r.code, 0, r.stderr);
    const data = decodeCheckpoint(readFileSync(ckpt));
    assert.ok(data.model.dropout > 0);
    const model = new CharRNN(data.model, new JsBackend());
    for (const s of model.specs) model.importParam(s, data.params.get(s.name)!);
    model.paramsChanged();
    const d = await gap(readFileSync(join(dir, 'model.onnx')), model, data.vocab);
    gaps.push(`${cell} ${embed === '0' ? 'one-hot' : 'embedding'}, trained: ${d.toExponential(2)}`);
    assert.ok(d < 1e-4, `${cell}: max |Δlogit| ${d}`);
  }
  console.log(gaps.join('\n'));
});

test('export onnx: the other input of each cell (one-hot or embedding), random weights', async () => {
  const gaps: string[] = [];
  for (const cell of CELLS) {
    const embed = cell === 'gru' ? 8 : 0;
    const symbols = [...new Set(TEXT)].map((c) => c.codePointAt(0)!);
    const vocab = new Vocabulary(symbols);
    const model = new CharRNN({ type: cell, vocabSize: vocab.size, hidden: 24, layers: 2, embed, dropout: 0 }, new JsBackend());
    model.init(new Rng(11));
    const d = await gap(exportOnnx(exportSourceOf(model, vocab)), model, vocab);
    gaps.push(`${cell} ${embed === 0 ? 'one-hot' : 'embedding'}, random: ${d.toExponential(2)}`);
    assert.ok(d < 1e-4, `${cell}: max |Δlogit| ${d}`);
  }
  console.log(gaps.join('\n'));
});

test('export: a source whose weights do not fit its configuration is a one-line error', () => {
  const vocab = new Vocabulary([...'abc'].map((c) => c.codePointAt(0)!));
  const model = new CharRNN({ type: 'lstm', vocabSize: 3, hidden: 4, layers: 1, embed: 0, dropout: 0 }, new JsBackend());
  const src = exportSourceOf(model, vocab);
  src.params.delete('decoder.bias');
  assert.throws(() => exportOnnx(src), /^CharRnnError: cannot export: the weights have no "decoder.bias"$/);
  src.params.set('decoder.bias', new Float32Array(2));
  assert.throws(() => exportJs(src), /cannot export: "decoder.bias" has 2 numbers; the model needs 3 \(\[3\]\)/);
  assert.throws(() => exportOnnx({ ...src, vocab: new Vocabulary([97]) }), /cannot export: the vocabulary has 1 characters but the model 3/);
});
