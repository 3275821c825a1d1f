/**
 * The playground worker's backends (worker.ts): one that trains, and one on the CPU for what
 * needs a number back every character (sampling, inspect, a loaded file). They are one backend
 * unless training runs on a device (WebGPU), whose numbers are not host memory.
 *
 * What runs is createBackend's rule (src/backend/create.ts); the page only asks, with its URL's
 * query, which main.ts hands to the worker as its name:
 *   ?backend=js     the reference kernels instead of WebAssembly, for training too
 *   ?engine=webgpu  train on WebGPU on any adapter, software ones included (SwiftShader: how the
 *                   tests reach this path). Without it training asks for `auto`, which takes the
 *                   GPU only when it is a hardware one. If WebGPU does not start, the page says
 *                   why in one line and trains on the CPU backend.
 */
import type { ChosenBackend } from '../src/backend/create.js';
import { createBackend } from '../src/backend/platform-web.js';

export interface BackendRequest {
  backend: 'auto' | 'js';
  /** What trains: auto's choice, or WebGPU forced (?engine=webgpu, the page's name for it). */
  train: 'auto' | 'webgpu';
}

/** The request in a page's query string ("?engine=webgpu&backend=js"); anything else is the default. */
export function backendRequest(search: string): BackendRequest {
  const q = new URLSearchParams(search);
  return { backend: q.get('backend') === 'js' ? 'js' : 'auto', train: q.get('engine') === 'webgpu' ? 'webgpu' : 'auto' };
}

export interface Backends {
  training: ChosenBackend;
  cpu: ChosenBackend;
  /** Why ?engine=webgpu trains on the CPU after all (one line). */
  note?: string;
}

export async function startBackends(req: BackendRequest): Promise<Backends> {
  let training: ChosenBackend;
  try {
    training = await createBackend({ kind: req.train === 'webgpu' ? 'webgpu' : req.backend, training: true });
  } catch (e) {
    // only an explicit webgpu request throws ('auto' and 'js' always start something)
    const cpu = await createBackend({ kind: req.backend });
    return { training: cpu, cpu, note: (e instanceof Error ? e.message : String(e)).split('\n')[0] };
  }
  return { training, cpu: training.hostMemory ? training : await createBackend({ kind: req.backend }) };
}
