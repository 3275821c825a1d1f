/** The --backend and --threads flags: parsed here, checked by the library (createBackend's own rules). */
import { checkBackendOptions } from '../src/backend/create.js';
import type { BackendKind } from '../src/backend/types.js';
import { parseNumber } from './io.js';

/** The flags as the CLI names them and run.json records them; createBackend takes them as { kind: backend, threads }. */
export type BackendFlags = { backend: BackendKind; threads: number };

/**
 * Check the --backend and --threads flags (one-line errors, exit 2). A flag not given takes its
 * value from `fallback` (train --resume: the run's own engine, from run.json), else auto / all cores.
 * `use`: what the command does with it (webgpu serves training and plain sampling only).
 */
export function parseBackendFlags(opts: { backend?: unknown; threads?: unknown }, fallback?: BackendFlags, use: 'training' | 'sampling' | 'other' = 'other'): BackendFlags {
  const { kind, threads } = checkBackendOptions({
    kind: String(opts.backend ?? fallback?.backend ?? 'auto'),
    threads: parseNumber('--threads', String(opts.threads ?? fallback?.threads ?? '0')),
    training: use === 'training',
    sampling: use === 'sampling',
  });
  return { backend: kind, threads };
}
