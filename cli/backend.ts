/** Picking the compute backend for the CLI. */
import { JsBackend } from '../src/backend/js.js';
import type { Backend } from '../src/backend/types.js';

export async function makeBackend(kind: 'auto' | 'wasm' | 'js', threads: number): Promise<Backend> {
  void threads;
  if (kind === 'wasm') throw new Error('the wasm backend is not built yet');
  return new JsBackend();
}
