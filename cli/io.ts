/**
 * The small slice of `process` the CLI uses, so tests can run main() with fakes and read what
 * it printed.
 */
export interface Proc {
  argv: string[];
  env: Record<string, string | undefined>;
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number; rows?: number };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Keys, for `charrnn write` (absent in tests that drive main() in-process). */
  stdin?: {
    isTTY?: boolean;
    setRawMode?(raw: boolean): unknown;
    setEncoding(enc: 'utf8'): unknown;
    on(event: 'data', fn: (s: string) => void): unknown;
    off(event: 'data', fn: (s: string) => void): unknown;
    resume(): unknown;
    pause(): unknown;
  };
  /** Subscribe to Ctrl-C (SIGINT) or SIGTERM. Absent in tests that don't need it. */
  on?(event: 'SIGINT' | 'SIGTERM', fn: () => void): unknown;
  off?(event: 'SIGINT' | 'SIGTERM', fn: () => void): unknown;
}

/** A failure the CLI reports as one line (no stack) with this exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Parse a numeric flag strictly ("12abc", "" and "NaN" are errors naming the flag, exit 2): the library's one number parser. */
export { parseNumber } from '../src/config.js';
