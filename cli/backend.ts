/** Picking the compute backend for the CLI: 'auto' is the WebAssembly backend when it loads, else the reference. */
import type { Backend } from '../src/backend/types.js';
import { createBackend } from '../src/backend/select.js';
import { CliError, parseNumber } from './io.js';

/** threads: 0 = all cores. */
export async function makeBackend(kind: 'auto' | 'wasm' | 'js', threads: number): Promise<Backend> {
  return createBackend(kind, threads > 0 ? threads : undefined);
}

export type EngineChoice = { backend: 'auto' | 'wasm' | 'js'; threads: number };

/**
 * Check the --backend and --threads flags (one-line errors, exit 2). A flag not given takes its
 * value from `fallback` (train --resume: the run's own engine, from run.json), else auto / all cores.
 */
export function parseEngineFlags(opts: { backend?: unknown; threads?: unknown }, fallback?: EngineChoice): EngineChoice {
  const backend = String(opts.backend ?? fallback?.backend ?? 'auto');
  if (backend !== 'auto' && backend !== 'wasm' && backend !== 'js') {
    throw new CliError(`--backend must be one of auto, wasm, js (got ${JSON.stringify(backend)})`, 2);
  }
  const threads = parseNumber('--threads', String(opts.threads ?? fallback?.threads ?? '0'));
  if (!Number.isInteger(threads) || threads < 0 || threads > 256) throw new CliError(`--threads must be a whole number ≥ 0 and ≤ 256 (got ${String(opts.threads)})`, 2);
  return { backend, threads };
}
