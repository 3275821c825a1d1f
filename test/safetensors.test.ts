import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CharRnnError } from '../src/errors.js';
import {
  decodeSafetensors, encodeSafetensors, type DecodedSafetensors, type Tensor,
} from '../src/safetensors.js';

/** Runs per property; `npm run fuzz` raises it. */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300) || 300;
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const bytesOf = (t: Tensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Error messages are one printable line: no line breaks, no control characters. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Build a file from raw header text (no validation, no padding) and a data buffer. */
function rawFile(header: string, data: Uint8Array | number = 0): Uint8Array {
  const h = new TextEncoder().encode(header);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

/** Assert decode throws a clean one-line bad-checkpoint error matching `re`. */
function expectBad(bytes: Uint8Array, re: RegExp, opts?: { maxHeaderBytes?: number }): void {
  assert.throws(() => decodeSafetensors(bytes, opts), (err: unknown) => {
    assert.ok(err instanceof CharRnnError, `expected CharRnnError, got ${String(err)}`);
    assert.equal(err.code, 'bad-checkpoint');
    assert.doesNotMatch(err.message, UNPRINTABLE);
    assert.match(err.message, re);
    return true;
  });
}

/** Decode must either succeed with a self-consistent result or throw a clean CharRnnError. */
function decodeOrCleanError(bytes: Uint8Array): void {
  let result: DecodedSafetensors;
  try {
    result = decodeSafetensors(bytes);
  } catch (err) {
    if (!(err instanceof CharRnnError) || err.code !== 'bad-checkpoint' || UNPRINTABLE.test(err.message)) {
      throw new Error(`decode threw something other than a clean CharRnnError: ${String(err)}`);
    }
    return;
  }
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  let total = 0;
  for (const t of result.tensors.values()) {
    assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1));
    assert.equal(t.data.byteOffset % t.data.BYTES_PER_ELEMENT, 0);
    total += t.data.byteLength;
  }
  assert.equal(total, bytes.length - 8 - headerLen, 'tensors must cover the data buffer');
  // Re-encoding what we decoded must give back the same tensors and metadata.
  const again = decodeSafetensors(encodeSafetensors([...result.tensors], { ...result.metadata }));
  assertSameDecoded(again, result);
}

function assertSameDecoded(a: DecodedSafetensors, b: DecodedSafetensors): void {
  assert.deepEqual([...a.tensors.keys()], [...b.tensors.keys()]);
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!;
    assert.equal(t.dtype, u.dtype);
    assert.deepEqual(t.shape, u.shape);
    assert.deepEqual(bytesOf(t), bytesOf(u));
  }
  assert.deepEqual({ ...a.metadata }, { ...b.metadata });
}

// ---- arbitraries ----------------------------------------------------------------------------

/** Names including lone surrogates, control characters and prototype-ish keys. */
const nameArb = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 4 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', ''),
);

const tensorArb: fc.Arbitrary<Tensor> = fc
  .tuple(fc.constantFrom('F32', 'F64', 'I32', 'U8'), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }))
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const len = { minLength: n, maxLength: n };
    const data: fc.Arbitrary<Tensor['data']> =
      dtype === 'F32' ? fc.float32Array(len)
        : dtype === 'F64' ? fc.float64Array(len)
          : dtype === 'I32' ? fc.int32Array(len)
            : fc.uint8Array(len);
    return data.map((d): Tensor => ({ dtype, shape, data: d }));
  });

const fileArb = fc.record({
  tensors: fc.uniqueArray(fc.tuple(nameArb.filter((n) => n !== '__metadata__'), tensorArb), {
    maxLength: 5, selector: ([n]) => n,
  }),
  metadata: fc.option(
    fc.uniqueArray(fc.tuple(nameArb, nameArb), { maxLength: 4, selector: ([k]) => k })
      .map((kv) => Object.fromEntries(kv) as Record<string, string>),
    { nil: undefined },
  ),
});

// ---- round trips ----------------------------------------------------------------------------

test('round-trips several dtypes and shapes, including scalars and zero-size tensors', () => {
  const tensors: Array<[string, Tensor]> = [
    ['w', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, NaN, -0, Infinity]) }],
    ['scalar', { dtype: 'F64', shape: [], data: Float64Array.from([Math.PI]) }],
    ['ids', { dtype: 'I32', shape: [4], data: Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31)]) }],
    ['bytes', { dtype: 'U8', shape: [1, 1, 3], data: Uint8Array.from([0, 128, 255]) }],
    ['empty', { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) }],
    ['empty2', { dtype: 'U8', shape: [0], data: new Uint8Array(0) }],
  ];
  const out = decodeSafetensors(encodeSafetensors(tensors));
  assert.deepEqual([...out.tensors.keys()], tensors.map(([n]) => n));
  for (const [name, t] of tensors) {
    const u = out.tensors.get(name)!;
    assert.equal(u.dtype, t.dtype);
    assert.deepEqual(u.shape, t.shape);
    assert.equal(u.data.constructor, t.data.constructor);
    assert.deepEqual(bytesOf(u), bytesOf(t));
  }
});

test('metadata round-trips, including odd keys', () => {
  const metadata = { format: 'charrnn', vocab: '["a","\\n"]', 'ünï\u2028': 'x\ny', '': '' };
  const out = decodeSafetensors(encodeSafetensors([], metadata));
  assert.deepEqual({ ...out.metadata }, metadata);
  assert.equal(out.tensors.size, 0);
});

test('decoded data is a copy, aligned even when the input view is not', () => {
  const file = encodeSafetensors([
    ['b', { dtype: 'U8', shape: [1], data: Uint8Array.from([7]) }],
    ['f', { dtype: 'F32', shape: [2], data: Float32Array.from([1.5, -2]) }], // starts at data byte 1
  ]);
  const shifted = new Uint8Array(file.length + 3);
  shifted.set(file, 3);
  const view = shifted.subarray(3);
  const f = decodeSafetensors(view).tensors.get('f')!;
  assert.ok(f.data instanceof Float32Array);
  assert.equal(f.data.byteOffset % 4, 0);
  assert.deepEqual([...f.data], [1.5, -2]);
  view.fill(0, 8); // mutating the input must not change the decoded tensor
  assert.deepEqual([...f.data], [1.5, -2]);
});

// ---- exact bytes ----------------------------------------------------------------------------

test('byte-exact known vector: one U8 tensor', () => {
  // Header {"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}} is 5+14+12+20+2 = 53 bytes,
  // padded with 3 spaces to 56 = 0x38 so the data starts at byte 64.
  const expected = Uint8Array.from([
    0x38, 0, 0, 0, 0, 0, 0, 0,
    ...ascii('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}   '),
    1, 2,
  ]);
  const got = encodeSafetensors([['a', { dtype: 'U8', shape: [2], data: Uint8Array.from([1, 2]) }]]);
  assert.deepEqual(got, expected);
  assert.deepEqual([...decodeSafetensors(expected).tensors.get('a')!.data], [1, 2]);
});

test('byte-exact known vector: F32 scalar with metadata', () => {
  // 16 + 10 + 4 + 15 + 11 + 20 + 2 = 78 header bytes, padded to 80 = 0x50. 1.0f = 00 00 80 3f.
  const expected = Uint8Array.from([
    0x50, 0, 0, 0, 0, 0, 0, 0,
    ...ascii('{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}  '),
    0x00, 0x00, 0x80, 0x3f,
  ]);
  const got = encodeSafetensors([['x', { dtype: 'F32', shape: [], data: Float32Array.from([1]) }]], { k: 'v' });
  assert.deepEqual(got, expected);
  const back = decodeSafetensors(expected);
  assert.deepEqual([...back.tensors.get('x')!.data], [1]);
  assert.deepEqual({ ...back.metadata }, { k: 'v' });
});

test('header is space-padded so the data starts 8-byte aligned', () => {
  for (let len = 0; len < 20; len++) {
    const file = encodeSafetensors([['n'.repeat(len), { dtype: 'U8', shape: [1], data: Uint8Array.from([9]) }]]);
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const header = new TextDecoder().decode(file.subarray(8, 8 + n));
    assert.match(header, /^\{.*\} {0,7}$/);
    assert.equal(file[8 + n], 9);
  }
});

// ---- hardening: one targeted malformed file per rule ----------------------------------------

const T = (dtype: string, shape: unknown, offsets: unknown): string =>
  JSON.stringify({ dtype, shape, data_offsets: offsets });

const malformed: Array<[string, Uint8Array, RegExp, { maxHeaderBytes?: number }?]> = [
  ['file shorter than 8 bytes', Uint8Array.from([1, 0, 0]), /3 bytes, shorter than the 8-byte/],
  ['header length over the limit', rawFile('{}'.padEnd(64)), /over the 16-byte limit/, { maxHeaderBytes: 16 }],
  ['header length with high bits set', Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x80, 0x7b, 0x7d]), /over the 100000000-byte limit/],
  ['header length beyond the file', rawFile('{}').subarray(0, 9), /header length is 2 bytes but only 1 bytes follow/],
  ['header not UTF-8', (() => { const f = rawFile('{"\u00e9":1}'); f[11] = 0xff; return f; })(), /not valid UTF-8/],
  ['header with a UTF-8 BOM', rawFile('\ufeff{}'), /not valid JSON: the header must be a JSON object/],
  ['header not JSON', rawFile('{"a":'), /not valid JSON/],
  ['trailing text after the header', rawFile('{} x'), /unexpected text after the header/],
  ['header is an array', rawFile('[]'), /must be a JSON object/],
  ['unterminated string', rawFile('{"abc'), /unterminated string/],
  ['raw control character in a string', rawFile('{"a\u0001":1}'), /control character/],
  ['bad escape', rawFile('{"a\\x":1}'), /bad escape/],
  ['nesting too deep', rawFile(`{"a":${'['.repeat(20)}${']'.repeat(20)}}`), /nested too deeply/],
  ['very long array', rawFile(`{"a":{"dtype":"U8","shape":[${Array(100).fill(1).join(',')}],"data_offsets":[0,1]}}`, 1), /array longer than 64/],
  ['duplicate tensor name', rawFile(`{"a":${T('U8', [1], [0, 1])},"a":${T('U8', [1], [1, 2])}}`, 2), /duplicate key "a"/],
  ['duplicate field in an entry', rawFile('{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1), /duplicate key "dtype"/],
  ['duplicate metadata key', rawFile('{"__metadata__":{"k":"1","k":"2"}}'), /duplicate key "k"/],
  ['duplicate key spelled with an escape', rawFile(`{"a":${T('U8', [1], [0, 1])},"\\u0061":${T('U8', [1], [1, 2])}}`, 2), /duplicate key "a"/],
  ['entry is not an object', rawFile('{"a":[1]}'), /tensor "a" must be an object/],
  ['entry missing data_offsets', rawFile('{"a":{"dtype":"U8","shape":[0]}}'), /missing dtype, shape or data_offsets/],
  ['entry with an extra field', rawFile('{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":1}}'), /unexpected field "x"/],
  ['unknown dtype', rawFile(`{"a":${T('F128', [1], [0, 16])}}`, 16), /unknown dtype "F128"/],
  ['dtype not a string', rawFile('{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}', 4), /unknown dtype 4/],
  ['dtype named like a prototype key', rawFile(`{"a":${T('__proto__', [1], [0, 1])}}`, 1), /unknown dtype "__proto__"/],
  ['shape not an array', rawFile(`{"a":${T('U8', 3, [0, 3])}}`, 3), /shape must be an array/],
  ['negative dimension', rawFile(`{"a":${T('U8', [-1], [0, 0])}}`), /dimension -1, not a non-negative integer/],
  ['fractional dimension', rawFile(`{"a":${T('U8', [1.5], [0, 0])}}`), /dimension 1.5/],
  ['unsafe-integer dimension', rawFile('{"a":{"dtype":"U8","shape":[1e300],"data_offsets":[0,0]}}'), /dimension 1e\+300/],
  ['rank over 8', rawFile(`{"a":${T('U8', Array(9).fill(1), [0, 1])}}`, 1), /9 dimensions, more than the 8/],
  ['data_offsets of the wrong length', rawFile(`{"a":${T('U8', [1], [0, 1, 2])}}`, 1), /data_offsets must be \[begin, end\]/],
  ['non-integer offset', rawFile(`{"a":${T('U8', [1], [0, '1'])}}`, 1), /two non-negative integers/],
  ['negative offset', rawFile(`{"a":${T('U8', [0], [-1, -1])}}`), /two non-negative integers/],
  ['begin after end', rawFile(`{"a":${T('U8', [0], [2, 1])}}`, 2), /begin 2 is after end 1/],
  ['end beyond the data', rawFile(`{"a":${T('U8', [999], [0, 999])}}`, 500), /ends at byte 999 but the file has 500 data bytes/],
  ['size does not match shape', rawFile(`{"a":${T('F32', [2], [0, 4])}}`, 4), /needs 8 bytes but data_offsets span 4/],
  ['size overflows', rawFile(`{"a":${T('F64', [2 ** 30, 2 ** 30, 2 ** 30], [0, 8])}}`, 8), /impossibly large/],
  ['overlapping tensors', rawFile(`{"a":${T('U8', [4], [0, 4])},"b":${T('U8', [4], [2, 6])}}`, 6), /overlaps another tensor/],
  ['hole between tensors', rawFile(`{"a":${T('U8', [2], [0, 2])},"b":${T('U8', [2], [4, 6])}}`, 6), /hole at bytes 2-4/],
  ['first tensor not at 0', rawFile(`{"a":${T('U8', [2], [2, 4])}}`, 4), /hole at bytes 0-2/],
  ['bytes after the last tensor', rawFile(`{"a":${T('U8', [2], [0, 2])}}`, 4), /2 data bytes after the last tensor/],
  ['data but no tensors', rawFile('{}', 3), /3 data bytes after the last tensor/],
  ['metadata not an object', rawFile('{"__metadata__":["a"]}'), /"__metadata__" must be an object of strings/],
  ['metadata null', rawFile('{"__metadata__":null}'), /"__metadata__" must be an object of strings, got null/],
  ['metadata value not a string', rawFile('{"__metadata__":{"n":1}}'), /metadata "n" must be a string, got 1/],
  ['valid but unsupported dtype', rawFile(`{"h":${T('F16', [2], [0, 4])}}`, 4), /dtype F16, which is not supported/],
  ['tensor name with a newline stays one line', rawFile(`{"a\\nb":${T('U8', [2], [0, 1])}}`, 1), /tensor "a\\nb" .* needs 2 bytes but data_offsets span 1/],
  ['tensor name with terminal escapes is escaped', rawFile(`{"\\u001b[31m\u009b\u2028":${T('U8', [2], [0, 1])}}`, 1), /tensor "\\u001b\[31m\\u009b\\u2028"/],
];

for (const [name, bytes, re, opts] of malformed) {
  test(`refuses: ${name}`, () => expectBad(bytes, re, opts));
}

test('all standard dtypes are recognised and sized (refused only as unsupported)', () => {
  const sizes: Record<string, number> = {
    F64: 8, F16: 2, BF16: 2, I64: 8, I16: 2, I8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1,
  };
  for (const [dtype, size] of Object.entries(sizes)) {
    const file = rawFile(`{"t":${T(dtype, [3], [0, 3 * size])}}`, 3 * size);
    if (dtype === 'F64') assert.equal(decodeSafetensors(file).tensors.get('t')!.data.length, 3);
    else expectBad(file, new RegExp(`dtype ${dtype}, which is not supported`));
  }
});

test('accepts a valid file with padding whitespace, escapes and zero-size tensors sharing an offset', () => {
  const header = `  {"z1":${T('F32', [0], [0, 0])}, "\\u0061\\n":${T('U8', [2], [0, 2])},\n"z2":${T('I32', [3, 0], [2, 2])}}   `;
  const out = decodeSafetensors(rawFile(header, Uint8Array.from([5, 6])));
  assert.deepEqual([...out.tensors.keys()], ['z1', 'a\n', 'z2']);
  assert.deepEqual([...out.tensors.get('a\n')!.data], [5, 6]);
});

// ---- prototype pollution --------------------------------------------------------------------

test('prototype-pollution keys are plain data or cleanly refused', () => {
  const attempts: Array<[string, number]> = [
    [`{"__proto__":${T('U8', [1], [0, 1])}}`, 1],
    [`{"constructor":${T('U8', [1], [0, 1])},"prototype":${T('U8', [0], [1, 1])}}`, 1],
    ['{"__metadata__":{"__proto__":"x","polluted":"yes"}}', 0],
    ['{"__metadata__":{"__proto__":{"polluted":"yes"}}}', 0],
    ['{"__proto__":{"polluted":"yes"}}', 0],
    ['{"__proto__":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"polluted":1}}', 0],
    ['{"constructor":{"prototype":{"polluted":"yes"}}}', 0],
    [`{"__metadata__":{"constructor":"c","toString":"t"},"a":${T('U8', [0], [0, 0])}}`, 0],
  ];
  for (const [header, n] of attempts) {
    let out: DecodedSafetensors | undefined;
    try {
      out = decodeSafetensors(rawFile(header, n));
    } catch (err) {
      assert.ok(err instanceof CharRnnError && err.code === 'bad-checkpoint', String(err));
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(Object.prototype.toString.call([]), '[object Array]');
    if (out !== undefined) {
      assert.equal(Object.getPrototypeOf(out.metadata), null);
      for (const v of Object.values(out.metadata)) assert.equal(typeof v, 'string');
    }
  }
  const a = decodeSafetensors(rawFile(`{"__proto__":${T('U8', [1], [0, 1])}}`, Uint8Array.from([42])));
  assert.deepEqual([...a.tensors.get('__proto__')!.data], [42]);
  const m = decodeSafetensors(rawFile('{"__metadata__":{"__proto__":"x"}}'));
  assert.ok(Object.hasOwn(m.metadata, '__proto__'));
  assert.equal(m.metadata['__proto__'], 'x');
  // And the writer round-trips such names without touching prototypes either.
  const meta = Object.fromEntries([['__proto__', 'p']]) as Record<string, string>;
  const back = decodeSafetensors(encodeSafetensors(
    [['__proto__', { dtype: 'U8', shape: [1], data: Uint8Array.from([1]) }]], meta));
  assert.equal(back.tensors.get('__proto__')!.data[0], 1);
  assert.equal(back.metadata['__proto__'], 'p');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

// ---- encoder input checks -------------------------------------------------------------------

test('encode refuses inconsistent tensors with CharRnnError', () => {
  const cases: Array<[Array<[string, Tensor]>, Record<string, string>?]> = [
    [[['a', { dtype: 'F32', shape: [3], data: new Float32Array(2) }]]],
    [[['a', { dtype: 'F32', shape: [2], data: new Float64Array(2) }]]],
    [[['a', { dtype: 'F16', shape: [1], data: new Uint8Array(2) }]]],
    [[['a', { dtype: 'U8', shape: [-1], data: new Uint8Array(0) }]]],
    [[['__metadata__', { dtype: 'U8', shape: [0], data: new Uint8Array(0) }]]],
    [[['a', { dtype: 'U8', shape: [0], data: new Uint8Array(0) }], ['a', { dtype: 'U8', shape: [0], data: new Uint8Array(0) }]]],
    [[], { n: 1 as unknown as string }],
  ];
  for (const [tensors, meta] of cases) {
    assert.throws(() => encodeSafetensors(tensors, meta), (err: unknown) =>
      err instanceof CharRnnError && err.code === 'bad-tensor' && !err.message.includes('\n'));
  }
});

// ---- property-based fuzzing -----------------------------------------------------------------

test(`fuzz: random valid files round-trip (${RUNS} runs)`, () => {
  fc.assert(fc.property(fileArb, ({ tensors, metadata }) => {
    const file = encodeSafetensors(tensors, metadata);
    const out = decodeSafetensors(file);
    assertSameDecoded(out, { tensors: new Map(tensors), metadata: metadata ?? {} });
    decodeOrCleanError(file);
  }), { numRuns: RUNS });
});

test('fuzz: every truncation of a valid file is refused cleanly', () => {
  const file = encodeSafetensors([
    ['emb', { dtype: 'F32', shape: [5, 3], data: new Float32Array(15).fill(0.5) }],
    ['empty', { dtype: 'I32', shape: [0], data: new Int32Array(0) }],
    ['b', { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) }],
  ], { vocab: 'abc' });
  for (let len = 0; len < file.length; len++) {
    assert.throws(() => decodeSafetensors(file.subarray(0, len)), (e: unknown) =>
      e instanceof CharRnnError && e.code === 'bad-checkpoint', `length ${len}`);
  }
});

test(`fuzz: random truncations and extensions are refused cleanly (${RUNS} runs)`, () => {
  fc.assert(fc.property(fileArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.uint8Array({ minLength: 1, maxLength: 8 }),
    ({ tensors, metadata }, frac, extra) => {
      const file = encodeSafetensors(tensors, metadata);
      const len = Math.min(file.length - 1, Math.floor(frac * file.length));
      assert.throws(() => decodeSafetensors(file.subarray(0, len)), CharRnnError);
      const longer = new Uint8Array(file.length + extra.length);
      longer.set(file);
      longer.set(extra, file.length);
      assert.throws(() => decodeSafetensors(longer), CharRnnError);
    }), { numRuns: RUNS });
});

test(`fuzz: random bit flips decode consistently or fail cleanly (${RUNS} runs)`, () => {
  fc.assert(fc.property(fileArb, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), ({ tensors, metadata }, flips) => {
    const file = encodeSafetensors(tensors, metadata);
    for (const f of flips) {
      const bit = f % (file.length * 8);
      file[bit >> 3]! ^= 1 << (bit & 7);
    }
    decodeOrCleanError(file);
  }), { numRuns: RUNS });
});

/** Header objects mixing valid-looking and arbitrary fields, with possibly duplicate keys. */
const junkHeaderArb = fc.array(fc.tuple(
  fc.oneof(nameArb, fc.constant('__metadata__')),
  fc.oneof(
    fc.record({
      dtype: fc.oneof(fc.constantFrom('F32', 'F64', 'I32', 'U8', 'F16', 'BOOL', '__proto__'), fc.jsonValue()),
      shape: fc.oneof(fc.array(fc.oneof(fc.nat(4), fc.integer(), fc.double()), { maxLength: 10 }), fc.jsonValue()),
      data_offsets: fc.oneof(fc.tuple(fc.nat(40), fc.nat(40)), fc.jsonValue()),
      extra: fc.jsonValue(),
    }, { requiredKeys: [] }),
    fc.dictionary(nameArb, fc.oneof(fc.string(), fc.jsonValue())),
    fc.jsonValue(),
  ),
), { maxLength: 4 }).map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`);

test(`fuzz: random header JSON decodes consistently or fails cleanly (${RUNS} runs)`, () => {
  fc.assert(fc.property(
    fc.oneof(junkHeaderArb, fc.json(), fc.string(), fc.string({ unit: 'binary' })),
    fc.uint8Array({ maxLength: 40 }),
    fc.nat(8),
    (header, data, pad) => decodeOrCleanError(rawFile(header + ' '.repeat(pad), data)),
  ), { numRuns: RUNS });
});

test(`fuzz: random bytes fail cleanly (${RUNS} runs)`, () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, plausibleLength) => {
    if (plausibleLength && bytes.length >= 8) {
      // Make the header length fit, so the fuzzer exercises the parser, not just the bounds check.
      new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(0, BigInt((bytes[0]! * 7) % (bytes.length - 7)), true);
    }
    decodeOrCleanError(bytes);
  }), { numRuns: RUNS });
});
