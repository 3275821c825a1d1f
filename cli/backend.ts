/** The --backend and --threads flags: parsed here, checked by the library (createBackend's own rules). */
import { checkBackendOptions, type BackendOptions } from '../src/backend/create.js';
import { parseNumber } from './io.js';

/** Check the --backend and --threads flags of sample, eval and classify (one-line errors, exit 2); threads 0 = every core. */
export function parseEngineFlags(opts: { backend?: unknown; threads?: unknown }): Required<BackendOptions> {
  return checkBackendOptions({ kind: String(opts.backend ?? 'auto'), threads: parseNumber('--threads', String(opts.threads ?? '0')) });
}
