/**
 * The safetensors file format, by hand (no dependency), pure (no I/O).
 *
 *   [8 bytes: header length N, little-endian u64]
 *   [N bytes: UTF-8 JSON object, padded with trailing spaces so the data starts 8-byte aligned]
 *   [byte buffer: every tensor's raw little-endian bytes, contiguous, no holes]
 *
 * Header: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *          "__metadata__": {"key": "string value", ...}}   (offsets relative to the byte buffer)
 *
 * Decoding treats the input as hostile: every check the spec implies is enforced, and every
 * failure is a one-line CharRnnError('bad-checkpoint', ...). The header is parsed by a small
 * strict JSON parser below (not JSON.parse) because JSON.parse silently keeps the last of
 * duplicate keys, has no nesting/size bounds, and we want parsed keys to stay plain data.
 *
 * Endianness: tensor bytes are copied straight into typed arrays, which use the host's byte
 * order. All platforms we target (x86-64, arm64, wasm) are little-endian, like the format.
 */
import { CharRnnError } from './errors.js';

/** Every dtype the format defines that we recognise when validating a file. */
export type SafeDType =
  | 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

/** Dtypes we can hold in memory (and therefore write or return from decode). */
export type SupportedDType = 'F32' | 'F64' | 'I32' | 'U8';

export interface Tensor {
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

export interface DecodedSafetensors {
  tensors: Map<string, Tensor>;
  /** Null-prototype object, so a key such as "__proto__" is an ordinary entry. */
  metadata: Record<string, string>;
}

/** Bytes per element. A Map, not an object literal, so `DTYPE_SIZE.get('__proto__')` is undefined. */
const DTYPE_SIZE: ReadonlyMap<string, number> = new Map<SafeDType, number>([
  ['F64', 8], ['F32', 4], ['F16', 2], ['BF16', 2], ['F8_E4M3', 1], ['F8_E5M2', 1],
  ['I64', 8], ['I32', 4], ['I16', 2], ['I8', 1],
  ['U64', 8], ['U32', 4], ['U16', 2], ['U8', 1], ['BOOL', 1],
]);

type TypedArrayCtor =
  | Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor;

const ARRAY_CTOR: ReadonlyMap<string, TypedArrayCtor> = new Map<SupportedDType, TypedArrayCtor>([
  ['F32', Float32Array], ['F64', Float64Array], ['I32', Int32Array], ['U8', Uint8Array],
]);

/** Default bound on the header, as in the reference implementation. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
/** No real tensor has more dimensions; bounding rank bounds the work per entry. */
export const MAX_RANK = 8;
const METADATA_KEY = '__metadata__';

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Serialise tensors (in the given order, contiguous) plus optional string metadata.
 * Throws CharRnnError('bad-tensor') if a tensor's dtype, data type or length is inconsistent.
 */
export function encodeSafetensors(
  tensors: Array<[string, Tensor]>,
  metadata?: Record<string, string>,
): Uint8Array {
  // The header is assembled as text with JSON.stringify per key, never as an object whose
  // property names come from the caller (a tensor called "__proto__" would hit the setter).
  const parts: string[] = [];
  if (metadata !== undefined) {
    const fields = Object.keys(metadata).map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') {
        throw new CharRnnError('bad-tensor', `metadata value for ${quote(k)} must be a string, got ${typeof v}; convert it with String() or JSON.stringify()`);
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(',')}}`);
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === METADATA_KEY) {
      throw new CharRnnError('bad-tensor', `"${METADATA_KEY}" is reserved by the safetensors format and cannot be a tensor name; rename the tensor`);
    }
    if (seen.has(name)) {
      throw new CharRnnError('bad-tensor', `tensor name ${quote(name)} is used twice; tensor names must be unique`);
    }
    seen.add(name);
    const nbytes = checkTensorForWriting(name, t);
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] })}`);
    offset += nbytes;
  }
  const header = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padding = (8 - (header.length % 8)) % 8; // so 8 + N is a multiple of 8
  const out = new Uint8Array(8 + header.length + padding + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(header.length + padding), true);
  out.set(header, 8);
  out.fill(0x20, 8 + header.length, 8 + header.length + padding);
  let pos = 8 + header.length + padding;
  for (const [, t] of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Validate a tensor about to be written and return its byte length. */
function checkTensorForWriting(name: string, t: Tensor): number {
  const ctor = ARRAY_CTOR.get(t.dtype);
  if (ctor === undefined) {
    throw new CharRnnError('bad-tensor', `tensor ${quote(name)} has dtype ${quote(String(t.dtype))}, which cannot be written; use F32, F64, I32 or U8`);
  }
  if (!(t.data instanceof ctor)) {
    throw new CharRnnError('bad-tensor', `tensor ${quote(name)} has dtype ${t.dtype} but its data is not a ${ctor.name}; convert the data or fix the dtype`);
  }
  if (!Array.isArray(t.shape) || t.shape.length > MAX_RANK || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CharRnnError('bad-tensor', `tensor ${quote(name)} has an invalid shape; use at most ${MAX_RANK} non-negative integer dimensions`);
  }
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) {
    throw new CharRnnError('bad-tensor', `tensor ${quote(name)} has shape [${t.shape.join(', ')}] (${count} elements) but ${t.data.length} data elements; make them agree`);
  }
  return t.data.byteLength;
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface Entry {
  name: string;
  dtype: SafeDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parse a safetensors file. Returned tensor data are fresh copies (so always correctly
 * aligned, and independent of `bytes`). Any malformed input throws
 * CharRnnError('bad-checkpoint', ...) and nothing else.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  opts: { maxHeaderBytes?: number } = {},
): DecodedSafetensors {
  const maxHeader = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeader) || maxHeader < 0) {
    throw new CharRnnError('bad-option', `maxHeaderBytes must be a non-negative integer, got ${String(maxHeader)}`);
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new CharRnnError('bad-checkpoint', 'checkpoint data must be a Uint8Array of the file bytes');
  }
  if (bytes.length < 8) {
    throw bad(`checkpoint is ${bytes.length} bytes, shorter than the 8-byte header length; the file is truncated or not a safetensors file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Read the u64 as two halves: anything with a non-zero high half is absurdly large anyway.
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (hi !== 0 || headerLen > maxHeader) {
    throw bad(`checkpoint header length is ${headerLen} bytes, over the ${maxHeader}-byte limit; the file is corrupt or not a safetensors file`);
  }
  if (headerLen > bytes.length - 8) {
    throw bad(`checkpoint header length is ${headerLen} bytes but only ${bytes.length - 8} bytes follow; the file is truncated or corrupt`);
  }
  let text: string;
  try {
    // fatal: reject invalid UTF-8 rather than substituting U+FFFD; ignoreBOM: keep a BOM so the
    // JSON parser refuses it, as the reference implementation does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw bad('checkpoint header is not valid UTF-8; the file is corrupt or not a safetensors file');
  }
  const dataStart = 8 + headerLen;
  const bufferLen = bytes.length - dataStart;

  const entries: Entry[] = [];
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  parseTopLevelObject(text, (key, value) => {
    if (key === METADATA_KEY) {
      readMetadata(value, metadata);
    } else {
      entries.push(readEntry(key, value, bufferLen));
    }
  });

  checkCoverage(entries, bufferLen);

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const ctor = ARRAY_CTOR.get(e.dtype);
    if (ctor === undefined) {
      throw bad(`checkpoint tensor ${quote(e.name)} has dtype ${e.dtype}, which is not supported; only F32, F64, I32 and U8 can be loaded`);
    }
    // Copy into a fresh buffer: the source offset may not be a multiple of the element size.
    const data = new ctor((e.end - e.begin) / ctor.BYTES_PER_ELEMENT);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function readMetadata(value: Json, into: Record<string, string>): void {
  if (!(value instanceof Map)) {
    throw bad(`checkpoint "${METADATA_KEY}" must be an object of strings, got ${describe(value)}; the file is corrupt`);
  }
  for (const [k, v] of value) {
    if (typeof v !== 'string') {
      throw bad(`checkpoint metadata ${quote(k)} must be a string, got ${describe(v)}; the file is corrupt`);
    }
    into[k] = v; // `into` has a null prototype, so "__proto__" is stored as plain data
  }
}

function readEntry(name: string, value: Json, bufferLen: number): Entry {
  const what = (): string => `checkpoint tensor ${quote(name)}`; // lazy: only errors need it
  if (!(value instanceof Map)) {
    throw bad(`${what()} must be an object with dtype, shape and data_offsets, got ${describe(value)}; the file is corrupt`);
  }
  for (const k of value.keys()) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') {
      throw bad(`${what()} has unexpected field ${quote(k)}; only dtype, shape and data_offsets are allowed`);
    }
  }
  const dtype = value.get('dtype');
  const shape = value.get('shape');
  const offsets = value.get('data_offsets');
  if (dtype === undefined || shape === undefined || offsets === undefined) {
    throw bad(`${what()} is missing dtype, shape or data_offsets; the file is corrupt`);
  }
  const size = typeof dtype === 'string' ? DTYPE_SIZE.get(dtype) : undefined;
  if (typeof dtype !== 'string' || size === undefined) {
    throw bad(`${what()} has unknown dtype ${describe(dtype)}; the file is corrupt or uses a newer format`);
  }
  if (!Array.isArray(shape)) {
    throw bad(`${what()} shape must be an array, got ${describe(shape)}; the file is corrupt`);
  }
  if (shape.length > MAX_RANK) {
    throw bad(`${what()} has ${shape.length} dimensions, more than the ${MAX_RANK} allowed; the file is corrupt`);
  }
  const dims: number[] = [];
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw bad(`${what()} shape has dimension ${describe(d)}, not a non-negative integer; the file is corrupt`);
    }
    dims.push(d);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw bad(`${what()} data_offsets must be [begin, end], got ${describe(offsets)}; the file is corrupt`);
  }
  const [begin, end] = offsets;
  if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0) {
    throw bad(`${what()} data_offsets must be two non-negative integers; the file is corrupt`);
  }
  if (begin > end) {
    throw bad(`${what()} data_offsets begin ${begin} is after end ${end}; the file is corrupt`);
  }
  if (end > bufferLen) {
    throw bad(`checkpoint header says tensor ${quote(name)} ends at byte ${end} but the file has ${bufferLen} data bytes; the file is truncated or corrupt`);
  }
  const expected = byteSize(dims, size);
  if (expected !== end - begin) {
    const shown = expected === undefined ? 'an impossibly large number of' : String(expected);
    throw bad(`${what()} with dtype ${dtype} and shape [${dims.join(', ')}] needs ${shown} bytes but data_offsets span ${end - begin}; the file is corrupt`);
  }
  return { name, dtype: dtype as SafeDType, shape: dims, begin, end };
}

/** product(shape) × element size, or undefined if it exceeds 2^53 − 1 (no file is that big). */
function byteSize(shape: number[], elementSize: number): number | undefined {
  if (shape.includes(0)) return 0;
  let n = elementSize;
  for (const d of shape) {
    if (n > Number.MAX_SAFE_INTEGER / d) return undefined;
    n *= d;
  }
  return n;
}

/** Tensors must tile the byte buffer exactly: no overlap, no holes, nothing left over. */
function checkCoverage(entries: Entry[], bufferLen: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin < pos) {
      throw bad(`checkpoint tensor ${quote(e.name)} (bytes ${e.begin}-${e.end}) overlaps another tensor; the file is corrupt`);
    }
    if (e.begin > pos) {
      throw bad(`checkpoint data has a hole at bytes ${pos}-${e.begin} before tensor ${quote(e.name)}; the file is corrupt`);
    }
    pos = e.end;
  }
  if (pos !== bufferLen) {
    throw bad(`checkpoint has ${bufferLen - pos} data bytes after the last tensor (at ${pos} of ${bufferLen}) that no tensor uses; the file is corrupt`);
  }
}

// ---------------------------------------------------------------------------------------------
// A small strict JSON parser. Objects become Maps (keys are data, never properties), duplicate
// keys are refused, nesting and array length are bounded (a valid header nests 3 deep and its
// longest array is a shape of rank ≤ 8), so the work and memory are linear in the header size.

type Json = null | boolean | number | string | Json[] | Map<string, Json>;

const MAX_DEPTH = 8;
const MAX_ARRAY_LENGTH = 64;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Parse `text` as one JSON object, calling `onMember` for each top-level member as it is read. */
function parseTopLevelObject(text: string, onMember: (key: string, value: Json) => void): void {
  let i = 0;

  const fail = (what: string): never => {
    throw bad(`checkpoint header is not valid JSON: ${what} at character ${i}; the file is corrupt or not a safetensors file`);
  };
  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const expect = (ch: string): void => {
    skipWs();
    if (text[i] !== ch) fail(`expected '${ch}'`);
    i++;
  };

  /** Find the end of a string token ourselves (for positions in errors), then let the native
   *  JSON.parse decode its escapes: it is exact and linear, where `+=` per escape is not. */
  const parseString = (): string => {
    if (text[i] !== '"') fail('expected a string');
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break; // closing quote
      if (c < 0x20) fail('control character in string');
      i += c === 0x5c ? 2 : 1; // a backslash escapes the next character (checked by JSON.parse)
    }
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      i = start;
      return fail('bad escape in string');
    }
  };

  /** Read `key: value` pairs after a consumed '{'; `isDuplicate` sees each key before `onPair`. */
  const parseMembers = (
    depth: number,
    isDuplicate: (key: string) => boolean,
    onPair: (key: string, value: Json) => void,
  ): void => {
    skipWs();
    if (text[i] === '}') { i++; return; }
    for (;;) {
      skipWs();
      const key = parseString();
      if (isDuplicate(key)) fail(`duplicate key ${quote(key)}`);
      expect(':');
      onPair(key, parseValue(depth + 1));
      skipWs();
      if (text[i] === ',') { i++; continue; }
      if (text[i] === '}') { i++; return; }
      fail("expected ',' or '}'");
    }
  };

  const parseValue = (depth: number): Json => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    skipWs();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map<string, Json>();
      parseMembers(depth, (k) => obj.has(k), (k, v) => { obj.set(k, v); });
      return obj;
    }
    if (c === '[') {
      i++;
      const arr: Json[] = [];
      skipWs();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        if (arr.length >= MAX_ARRAY_LENGTH) fail(`array longer than ${MAX_ARRAY_LENGTH} elements`);
        arr.push(parseValue(depth + 1));
        skipWs();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null) return fail('unexpected character');
    i += m[0].length;
    return Number(m[0]);
  };

  skipWs();
  if (text[i] !== '{') fail('the header must be a JSON object');
  i++;
  const seen = new Set<string>();
  parseMembers(0, (k) => seen.has(k) || (seen.add(k), false), onMember);
  skipWs();
  if (i !== text.length) fail('unexpected text after the header object');
}

// ---------------------------------------------------------------------------------------------
// Messages

function bad(message: string): CharRnnError {
  return new CharRnnError('bad-checkpoint', message);
}

/**
 * A name as a short, quoted string safe to print (names come from untrusted files):
 * JSON.stringify escapes C0 controls and lone surrogates; we also escape DEL, C1 controls
 * (which include terminal escape introducers) and the Unicode line/paragraph separators.
 */
function quote(s: string): string {
  const shown = s.length > 60 ? `${s.slice(0, 60)}…` : s;
  return JSON.stringify(shown).replace(/[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A short description of a parsed JSON value for error messages. */
function describe(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (v instanceof Map) return 'an object';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return quote(v);
  return String(v);
}
