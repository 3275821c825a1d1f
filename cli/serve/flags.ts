/**
 * The defaults of `charrnn serve`'s flags and per-request limits: a module of its own, without
 * imports, so that cli/main.ts can show them in --help without loading the server.
 */

/** What one request may ask of the server (the `charrnn serve` flags of the same names). */
export interface Limits {
  /** Longest prime, in characters (--max-prime). */
  maxPrime: number;
  /** Most characters generated per sample (--max-length). */
  maxLength: number;
  /** Most samples per request (--max-count). */
  maxCount: number;
  /** Seconds a request may take, queueing included (--deadline). */
  deadline: number;
}

export const DEFAULT_LIMITS: Limits = { maxPrime: 10_000, maxLength: 2_000, maxCount: 16, deadline: 30 };

/** The defaults of the flags, as commander shows them. */
export const SERVE_DEFAULTS = {
  port: '8080',
  host: '127.0.0.1',
  workers: '0',
  queue: '64',
  maxPrime: String(DEFAULT_LIMITS.maxPrime),
  maxLength: String(DEFAULT_LIMITS.maxLength),
  maxCount: String(DEFAULT_LIMITS.maxCount),
  deadline: String(DEFAULT_LIMITS.deadline),
  maxBody: String(1 << 20),
  requestTimeout: '30',
  drain: '10',
  backend: 'auto',
};
