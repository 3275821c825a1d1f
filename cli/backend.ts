/** Picking the compute backend for the CLI: 'auto' is the WebAssembly backend when it loads, else the reference. */
import type { Backend } from '../src/backend/types.js';
import { createBackend } from '../src/backend/select.js';

/** threads: 0 = all cores. */
export async function makeBackend(kind: 'auto' | 'wasm' | 'js', threads: number): Promise<Backend> {
  return createBackend(kind, threads > 0 ? threads : undefined);
}
