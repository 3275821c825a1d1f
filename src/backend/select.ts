/**
 * Backend selection for Node (the CLI): 'wasm' = the WebAssembly SIMD backend (threads, relaxed
 * SIMD when available), 'js' = the reference, 'auto' = wasm if it loads, else js.
 */
import { JsBackend } from './js.js';
import type { Backend } from './types.js';
import { createNodeWasmBackend } from './wasm-node.js';

export type BackendKind = 'auto' | 'wasm' | 'js';

/** threads: including the caller's; default os.availableParallelism(). Call dispose() when done. */
export async function createBackend(kind: BackendKind, threads?: number): Promise<Backend> {
  if (kind === 'js') return new JsBackend();
  if (kind === 'wasm') return createNodeWasmBackend({ threads });
  try {
    return await createNodeWasmBackend({ threads });
  } catch {
    return new JsBackend();
  }
}
