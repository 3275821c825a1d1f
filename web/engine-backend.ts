/**
 * The compute backend inside the engine worker: the WebAssembly SIMD backend, on all cores when
 * the page is cross-origin isolated (SharedArrayBuffer), else on one; the reference TypeScript
 * kernels if WebAssembly SIMD is not available at all.
 */
import { JsBackend } from '../src/backend/js.js';
import type { Backend } from '../src/backend/types.js';
import { createWebWasmBackend } from '../src/backend/wasm-web.js';

export async function makeBackend(kind: 'auto' | 'js' = 'auto'): Promise<{ backend: Backend; threads: number }> {
  if (kind === 'auto') {
    try {
      const backend = await createWebWasmBackend();
      return { backend, threads: backend.threads };
    } catch {
      // no WebAssembly SIMD (a very old browser): fall through to the reference kernels
    }
  }
  return { backend: new JsBackend(), threads: 1 };
}
