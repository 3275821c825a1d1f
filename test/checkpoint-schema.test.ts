/**
 * The checkpoint layer above safetensors (src/checkpoint.ts): every schema violation of a
 * well-formed safetensors file is a one-line 'bad-checkpoint' error saying what is wrong, and
 * random damage to a real checkpoint either decodes to finite weights or fails that way.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsBackend } from '../src/backend/js.js';
import { decodeCheckpoint, FORMAT_VERSION } from '../src/checkpoint.js';
import { resolveConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { CharRnnError } from '../src/errors.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../src/safetensors.js';
import { Trainer } from '../src/train.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

const corpus = buildCorpus([{ name: 't', bytes: new TextEncoder().encode('abcabd abdc cab. '.repeat(20)) }]);
const config = resolveConfig({ model: 'lstm', layers: 1, hidden: 4, embed: 0, batch: 2, seqLen: 5, maxIters: 2, maxTime: 0, epochs: 0, sampleEvery: 0 });
const good = new Trainer({ config, corpus, backend: new JsBackend() }).checkpoint();

/** The checkpoint with its metadata and tensors changed by `edit`, re-encoded. */
function edited(edit: (meta: Record<string, string>, tensors: Map<string, Tensor>) => void): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(good);
  const meta = { ...metadata };
  edit(meta, tensors);
  return encodeSafetensors([...tensors], meta);
}

function refused(bytes: Uint8Array, re: RegExp): void {
  assert.throws(() => decodeCheckpoint(bytes), (e: unknown) => {
    assert.ok(e instanceof CharRnnError && e.code === 'bad-checkpoint', String(e));
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, re);
    return true;
  });
}

const json = (meta: Record<string, string>, key: string, f: (v: Record<string, unknown>) => unknown): void => {
  meta[key] = JSON.stringify(f(JSON.parse(meta[key]) as Record<string, unknown>));
};

test('schema violations are one-line errors naming the problem', () => {
  assert.equal(decodeCheckpoint(good).train?.state.iter, 0);
  refused(edited((m) => (m.format = 'other')), /not a charrnn checkpoint/);
  refused(edited((m) => (m.format_version = String(FORMAT_VERSION + 1))), new RegExp(`format version ${FORMAT_VERSION + 1}, newer than this charrnn understands \\(${FORMAT_VERSION}\\); upgrade`));
  refused(edited((m) => (m.format_version = 'x')), /invalid format_version/);
  refused(edited((m) => delete m.config), /no "config" metadata/);
  refused(edited((m) => (m.config = '{oops')), /"config" is not valid JSON/);
  refused(edited((m) => json(m, 'config', (c) => ({ ...c, hidden: -1 }))), /config is invalid: --hidden must be ≥ 1/);
  refused(edited((m) => json(m, 'config', (c) => ({ ...c, __proto__: { polluted: true }, surprise: 1 }))), /unknown setting --surprise/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  refused(edited((m) => (m.vocab = '[98, 97]')), /vocabulary entry 1 \(97\) is not a code point in ascending order/);
  refused(edited((m) => (m.vocab = '[]')), /vocabulary is missing or empty/);
  refused(edited((m) => (m.vocab = '[97, 1114112]')), /vocabulary entry 1/);
  refused(edited((m) => json(m, 'model', (x) => ({ ...x, hidden: 5 }))), /model\.hidden = 5 disagrees/);
  refused(edited((_m, t) => t.delete('decoder.bias')), /missing tensor "decoder\.bias"/);
  refused(edited((_m, t) => t.set('decoder.bias', { dtype: 'F32', shape: [2], data: new Float32Array(2) })), /"decoder\.bias" has shape \[2\] but the config needs \[\d+\]/);
  refused(edited((_m, t) => t.set('decoder.bias', { ...t.get('decoder.bias')!, dtype: 'F64', data: new Float64Array(t.get('decoder.bias')!.data.length) })), /is F64; expected F32/);
  refused(edited((_m, t) => ((t.get('decoder.weight')!.data as Float32Array)[0] = NaN)), /"decoder\.weight" contains NaN or infinite values/);
  refused(edited((_m, t) => ((t.get('optimizer.v.decoder.weight')!.data as Float32Array)[3] = Infinity)), /contains NaN or infinite/);
  refused(edited((m) => json(m, 'train_state', (s) => ({ ...s, iter: -3 }))), /train_state\.iter is -3/);
  refused(edited((m) => json(m, 'train_state', (s) => ({ ...s, rng: [1, 2] }))), /train_state\.rng is not a generator state/);
  refused(edited((m) => (m.train_state = '[]')), /train_state is not an object/);
});

test(`fuzz: a real checkpoint with random bytes changed decodes to finite weights or fails cleanly (${RUNS} runs)`, () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
      const bytes = good.slice();
      for (const [i, v] of flips) bytes[i % bytes.length] = v;
      try {
        const data = decodeCheckpoint(bytes);
        for (const t of data.params.values()) for (const x of t) assert.ok(Number.isFinite(x));
      } catch (e) {
        if (!(e instanceof CharRnnError) || /\n/.test(e.message)) throw new Error(`not a clean CharRnnError: ${String(e)}`);
      }
    }),
    { numRuns: RUNS },
  );
});
