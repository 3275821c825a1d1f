/**
 * A sampling request as the server takes it — a JSON body (POST /v1/sample) or a query string
 * (GET /v1/sample/stream, GET /generate) — checked into the library's GenerateRequest.
 *
 * Two layers of checks, both answered with 400 and one line: the server's own (types, unknown
 * fields, its caps on prime, length, count and stop sequences, which keep one request from
 * holding a worker for long), then the library's (checkGenerateRequest: the same rules and
 * messages as `charrnn sample`, with the flag names turned into field names).
 */
import { checkGenerateRequest, type GenerateRequest } from '../../src/generate.js';
import { GENERATION_DEFAULTS, parseStop } from '../../src/generate-options.js';
import { CharRnnError } from '../../src/errors.js';
import { parseNumber } from '../../src/config.js';
import type { Limits } from './flags.js';

/** Stop sequences per request, and characters per stop sequence. */
const MAX_STOPS = 16;
const MAX_STOP_CHARS = 100;

/** A request the client got wrong: answered with this HTTP status and a one-line message. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const bad = (msg: string): never => {
  throw new HttpError(400, msg);
};

export interface ParsedRequest {
  /** The model's name; undefined = the first model served. */
  model: string | undefined;
  req: GenerateRequest;
}

/** JSON field → GenerateRequest key, with the type the field must have. */
const FIELDS = {
  model: ['model', 'string'],
  prime: ['prime', 'string'],
  length: ['length', 'number'],
  temperature: ['temperature', 'number'],
  top_k: ['topK', 'number'],
  top_p: ['topP', 'number'],
  beam: ['beam', 'number'],
  stop: ['stop', 'stop'],
  count: ['count', 'number'],
  unique: ['unique', 'boolean'],
  seed: ['seed', 'number'],
  lines: ['lines', 'boolean'],
} as const;

type Field = keyof typeof FIELDS;

/** Check a JSON body (already parsed) against the fields above and the limits. */
export function parseSampleBody(body: unknown, limits: Limits): ParsedRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('the body must be a JSON object, e.g. {"prime": "The ", "length": 200}');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (!Object.hasOwn(FIELDS, key)) bad(`unknown field ${JSON.stringify(key)}; the fields are ${Object.keys(FIELDS).join(', ')}`);
    if (value === null) continue;
    const [name, type] = FIELDS[key as Field];
    if (type === 'stop') {
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) bad('stop must be a string or a list of strings');
      out[name] = list;
    } else {
      if (typeof value !== type) bad(`${key} must be a ${type} (got ${JSON.stringify(value)?.slice(0, 40)})`);
      out[name] = value;
    }
  }
  return finish(out, limits);
}

/** Check query-string parameters (GET): the same fields, numbers and booleans written out, stop sequences as typed (parseStop: \n is a newline). */
export function parseSampleQuery(query: URLSearchParams, limits: Limits): ParsedRequest {
  const out: Record<string, unknown> = {};
  for (const key of new Set(query.keys())) {
    if (!Object.hasOwn(FIELDS, key)) bad(`unknown parameter ${JSON.stringify(key)}; the parameters are ${Object.keys(FIELDS).join(', ')}`);
    const [name, type] = FIELDS[key as Field];
    const values = query.getAll(key);
    if (type === 'stop') {
      out[name] = values.map(parseStop);
      continue;
    }
    if (values.length > 1) bad(`${key} is given ${values.length} times`);
    const v = values[0];
    if (type === 'string') out[name] = v;
    else if (type === 'boolean') {
      if (v !== 'true' && v !== 'false' && v !== '1' && v !== '0' && v !== '') bad(`${key} must be true or false (got ${JSON.stringify(v.slice(0, 40))})`);
      out[name] = v === 'true' || v === '1' || v === '';
    } else out[name] = queryNumber(key, v);
  }
  return finish(out, limits);
}

/** A number written in a query string: the library's one number parser ("12abc", "" and "NaN" are 400s naming the parameter). */
export function queryNumber(key: string, v: string): number {
  try {
    return parseNumber(key, v);
  } catch (e) {
    return bad((e as Error).message);
  }
}

/**
 * The server's defaults (GENERATION_DEFAULTS.server) and caps, then the library's own checks
 * (its messages, with field names). A seed left out is made by generate() and answered.
 */
function finish(fields: Record<string, unknown>, limits: Limits): ParsedRequest {
  const { model, ...rest } = fields;
  const req = { ...GENERATION_DEFAULTS.server, ...rest } as GenerateRequest;
  const prime = req.prime ?? '';
  // the prime is counted in code points, as the model reads it; the string length bounds that count
  if (prime.length > limits.maxPrime && [...prime].length > limits.maxPrime) bad(`prime is ${[...prime].length} characters; this server takes at most ${limits.maxPrime} (--max-prime)`);
  if (typeof req.length === 'number' && req.length > limits.maxLength) bad(`length must be ≤ ${limits.maxLength} on this server (--max-length); got ${req.length}`);
  if (typeof req.count === 'number' && req.count > limits.maxCount) bad(`count must be ≤ ${limits.maxCount} on this server (--max-count); got ${req.count}`);
  if (typeof req.beam === 'number' && req.beam > limits.maxCount) bad(`beam must be ≤ ${limits.maxCount} on this server (--max-count); got ${req.beam}`);
  if (req.stop) {
    if (req.stop.length > MAX_STOPS) bad(`at most ${MAX_STOPS} stop sequences (got ${req.stop.length})`);
    if (req.stop.some((s) => s.length > MAX_STOP_CHARS)) bad(`a stop sequence may have at most ${MAX_STOP_CHARS} characters`);
  }
  // unknown prime characters are skipped and reported, never an error (torch-rnn-server #14)
  req.skipUnknown = true;
  try {
    checkGenerateRequest(req);
  } catch (e) {
    if (e instanceof CharRnnError) bad(fieldNames(e.message));
    throw e;
  }
  return { model: model as string | undefined, req };
}

/** The library names CLI flags (--top-k); the API's fields are top_k. */
export function fieldNames(message: string): string {
  return message.replace(/--([a-z][a-z-]*)/g, (_, flag: string) => flag.replace(/-/g, '_'));
}
