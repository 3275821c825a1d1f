/**
 * One way to get a compute backend, the same on every platform:
 *
 *   const backend = await createBackend({ kind: 'auto', threads: 0 });   // from 'charrnn'
 *
 *   'wasm'  the WebAssembly SIMD kernels on `threads` threads (worker_threads in Node, Web
 *           Workers in a page); fails with a one-line CharRnnError if they cannot start
 *   'js'    the TypeScript reference kernels (js.ts, the specification), one thread
 *   'webgpu' the WGSL kernels on the GPU (webgpu/backend.ts), for training and plain sampling: in Node through the
 *           optional package `webgpu` (Dawn), in a page through navigator.gpu; fails with a
 *           one-line CharRnnError when there is no usable adapter. Any adapter, software ones
 *           included (SwiftShader: correct, far slower than wasm; the tests use it).
 *   'auto'  for training (`training: true`), webgpu when there is a hardware adapter; otherwise
 *           wasm if it starts, else js. Never a software GPU.
 *
 * The package's conditional exports give the platform's createBackend (wasm-node.ts in Node,
 * wasm-web.ts in a bundler or browser); both are pickBackend below with their own way of
 * starting the kernels, so the rules and the report are the same everywhere: `backend.choice`
 * says what runs, on how many threads, and why that is less than what was asked (if it is).
 */
import { CharRnnError } from '../errors.js';
import { JsBackend } from './js.js';
import type { Backend, BackendChoice, BackendKind } from './types.js';
import type { WasmBackend } from './wasm.js';
import { openDevice, type DeviceError, type GpuProbe } from './webgpu/device.js';
import { WebGpuBackend } from './webgpu/backend.js';

export const BACKEND_KINDS: readonly BackendKind[] = ['auto', 'wasm', 'js', 'webgpu'];
const MAX_THREADS = 256;

export interface BackendOptions {
  /** Default 'auto'. */
  kind?: BackendKind;
  /** Threads including the caller's; 0 or absent = every core. Only the wasm kernels use more than one. */
  threads?: number;
  /**
   * What the backend is for. Its numbers stay on the device, so webgpu serves only callers that
   * drive a lagging backend: the trainer (`training`), and Sampler.stepsAsync (`sampling`: a plain
   * sample, no top-k, top-p, beams or stops). 'auto' considers the GPU only for training; 'webgpu'
   * for anything else is refused with a one-line error.
   */
  training?: boolean;
  sampling?: boolean;
}

/** A backend from createBackend: it says what it is and why (`choice`). */
export type ChosenBackend = Backend & { readonly choice: BackendChoice };

/** What a platform's build of the wasm backend provides to pickBackend. */
export interface WasmPlatform {
  /** What threads 0 means here: every core. */
  cores: number;
  /** Start the kernels on (at most) `threads` threads. */
  start(threads: number): Promise<WasmBackend>;
  /** Why this platform runs the kernels on one thread, if it must (asked after `start`). */
  whyOneThread(): string | undefined;
  /** The platform's WebGPU entry (navigator.gpu, Dawn), or why there is none. */
  gpu(): Promise<GPU | DeviceError>;
  /** Whether there is a hardware GPU, asked without side effects (auto's question). */
  probeGpu(): Promise<GpuProbe>;
}

/** Check createBackend's options (the CLI's --backend and --threads); throws a one-line CharRnnError naming the flag. */
export function checkBackendOptions(opts: { kind?: unknown; threads?: unknown; training?: boolean; sampling?: boolean }): { kind: BackendKind; threads: number } {
  const kind = opts.kind ?? 'auto';
  if (!BACKEND_KINDS.includes(kind as BackendKind)) {
    throw new CharRnnError('bad-flag', `--backend must be one of ${BACKEND_KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  }
  if (kind === 'webgpu' && !opts.training && !opts.sampling) {
    throw new CharRnnError('bad-flag', '--backend webgpu trains models and draws plain samples; evaluation, serving and the rest run on auto, wasm or js (a checkpoint is the same file whatever trained it)');
  }
  const threads = opts.threads ?? 0;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 0 || threads > MAX_THREADS) {
    throw new CharRnnError('bad-flag', `--threads must be a whole number ≥ 0 and ≤ ${MAX_THREADS}, 0 = every core (got ${JSON.stringify(threads)})`);
  }
  return { kind: kind as BackendKind, threads };
}

const chosen = <B extends Backend>(backend: B, choice: BackendChoice): B & { readonly choice: BackendChoice } =>
  Object.assign(backend, { choice });

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/** createBackend of a platform: check the options, start what was asked, say what ran and why. */
export async function pickBackend(opts: BackendOptions, platform: WasmPlatform): Promise<ChosenBackend> {
  const { kind, threads } = checkBackendOptions(opts);
  let gpuFailed: string | undefined; // a hardware GPU that auto could not start: said in the fallback's reason
  if (kind === 'webgpu' || (kind === 'auto' && opts.training)) {
    const probe = kind === 'auto' ? await platform.probeGpu() : null;
    if (!probe || probe.hardware) {
      const gpu = await startWebGpu(platform);
      if (gpu instanceof WebGpuBackend) {
        const reason = gpu.software ? 'a software adapter: correct, but slower than the wasm backend' : undefined;
        return chosen(gpu, { requested: kind, kind: 'webgpu', threads: 1, adapter: gpu.adapter, reason });
      }
      if (kind === 'webgpu') throw new CharRnnError('no-webgpu', `the WebGPU backend did not start (${gpu.error}); use --backend wasm`);
      gpuFailed = `WebGPU did not start on ${probe!.hardware ? probe!.name : 'the GPU'} (${gpu.error})`;
    }
  }
  if (kind === 'js') {
    const reason = threads > 1 ? 'the reference kernels run on one thread' : undefined;
    return chosen(new JsBackend(), { requested: kind, kind: 'js', threads: 1, reason });
  }
  const want = threads > 0 ? threads : Math.max(1, platform.cores);
  let wasm: WasmBackend;
  try {
    wasm = await platform.start(want);
  } catch (e) {
    if (kind === 'wasm') throw new CharRnnError('no-wasm', `the WebAssembly backend did not start (${firstLine(e)}); use --backend js`);
    return chosen(new JsBackend(), { requested: kind, kind: 'js', threads: 1, reason: `the WebAssembly backend did not start (${firstLine(e)})` });
  }
  const fewer = wasm.threads < want ? platform.whyOneThread() ?? `${wasm.threads} of ${want} threads started` : undefined;
  const reason = [gpuFailed, fewer].filter(Boolean).join('; ') || undefined;
  return chosen(wasm, { requested: kind, kind: 'wasm', threads: wasm.threads, reason });
}

/** The WebGPU backend on the platform's GPU, or why not (one line). */
async function startWebGpu(platform: WasmPlatform): Promise<WebGpuBackend | DeviceError> {
  const gpu = await platform.gpu();
  if ('error' in gpu) return gpu;
  try {
    const opened = await openDevice(gpu);
    if ('error' in opened) return opened;
    return new WebGpuBackend(opened);
  } catch (e) {
    return { error: firstLine(e) };
  }
}

/** One line for people: "wasm backend, 4 threads", "webgpu backend on <adapter>", and, if set, the reason it is less than asked. */
export function describeChoice(c: BackendChoice): string {
  const what = c.kind === 'webgpu' ? `webgpu backend on ${c.adapter ?? 'an unknown adapter'}` : `${c.kind} backend, ${c.threads} thread${c.threads === 1 ? '' : 's'}`;
  return `${what}${c.reason ? ` (${c.reason})` : ''}`;
}
