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
 *   'auto'  wasm if it starts, else js; for training (`training: true`) on a hardware GPU, the
 *           faster of webgpu and that CPU backend, timed on this run's model by the budget rule's
 *           gauge (`gauge`, default the default model on a synthetic text) for a fraction of a
 *           second each: an integrated GPU can be slower than the WASM workers, and only a
 *           measurement says which. Never a software GPU.
 *
 * The package's conditional exports give the platform's createBackend (platform-node.ts in Node,
 * platform-web.ts in a bundler or browser); both are pickBackend below with their own way of
 * starting the kernels, so the rules and the report are the same everywhere: `backend.choice`
 * says what runs, on how many threads, and why that is less than what was asked (if it is).
 */
import { fmtChars, measureSpeed } from '../budget.js';
import { resolveConfig } from '../config.js';
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
   * What the backend is for. A device's numbers come back only when read, so webgpu serves the
   * trainer (`training`) and plain sampling (`sampling`: no top-k, top-p, beams or stops, which
   * read every character on the host). 'auto' considers the GPU only for training; 'webgpu' for
   * anything else is refused with a one-line error.
   */
  training?: boolean;
  sampling?: boolean;
  /**
   * 'auto' for training on a hardware GPU: training chars/s of this run on a backend (the budget
   * rule's measureSpeed on the run's config). Default: the default model on a synthetic text.
   */
  gauge?: (backend: Backend) => Promise<number>;
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
  if (kind === 'webgpu' || (kind === 'auto' && opts.training)) {
    const probe = kind === 'auto' ? await platform.probeGpu() : null;
    if (!probe || probe.hardware) {
      const gpu = await startWebGpu(platform);
      if (!(gpu instanceof WebGpuBackend)) {
        if (kind === 'webgpu') throw new CharRnnError('no-webgpu', `the WebGPU backend did not start (${gpu.error}); use --backend wasm`);
        return startCpu(kind, threads, platform, `WebGPU did not start on ${probe!.hardware ? probe!.name : 'the GPU'} (${gpu.error})`);
      }
      const reason = gpu.software ? 'a software adapter: correct, but slower than the wasm backend' : undefined;
      const onGpu = chosen(gpu, { requested: kind, kind: 'webgpu', threads: 1, adapter: gpu.adapter, reason });
      return kind === 'webgpu' ? onGpu : faster(onGpu, await startCpu(kind, threads, platform), opts.gauge ?? defaultGauge);
    }
  }
  return startCpu(kind, threads, platform);
}

/**
 * auto on a hardware GPU: time the run on both engines (the GPU first, which also compiles its
 * kernels in its warm-up step) and keep the faster; the other is disposed. Both figures go into
 * the choice, so the engine line says why ("webgpu 410 K chars/s, wasm 48 K: webgpu").
 */
async function faster(gpu: ChosenBackend, cpu: ChosenBackend, gauge: (b: Backend) => Promise<number>): Promise<ChosenBackend> {
  let speeds: number[];
  try {
    speeds = [await gauge(gpu), await gauge(cpu)];
  } catch (e) {
    gpu.dispose?.(); // a GPU that fails a few training steps does not train the run
    return chosen(cpu, { ...cpu.choice, reason: [`WebGPU failed its speed test on ${gpu.choice.adapter} (${firstLine(e)})`, cpu.choice.reason].filter(Boolean).join('; ') });
  }
  const [win, lose] = speeds[0] > speeds[1] ? [gpu, cpu] : [cpu, gpu];
  lose.dispose?.();
  return chosen(win, { ...win.choice, measured: { webgpu: speeds[0], [cpu.choice.kind]: speeds[1] } });
}

/** The default model's training speed on a synthetic text: auto's gauge when the caller has no run to time. */
async function defaultGauge(backend: Backend): Promise<number> {
  const config = resolveConfig({});
  const V = 64;
  const ids = Int32Array.from({ length: config.batch * config.seqLen + 1 }, (_, i) => (i * 7919) % V);
  return measureSpeed(backend, config, V, ids, () => performance.now() / 1000);
}

/** The CPU backend asked for (js, or wasm and else js for auto), with why it is less than asked (a GPU that failed, fewer threads). */
async function startCpu(kind: BackendKind, threads: number, platform: WasmPlatform, gpuFailed?: string): Promise<ChosenBackend> {
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
    return chosen(new JsBackend(), { requested: kind, kind: 'js', threads: 1, reason: [gpuFailed, `the WebAssembly backend did not start (${firstLine(e)})`].filter(Boolean).join('; ') });
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

/**
 * One line for people: "wasm backend, 4 threads", "webgpu backend on <adapter>", with auto's
 * measurement ("webgpu 410 K chars/s, wasm 48 K: webgpu") and, if set, the reason it is less than asked.
 */
export function describeChoice(c: BackendChoice): string {
  const what = c.kind === 'webgpu' ? `webgpu backend on ${c.adapter ?? 'an unknown adapter'}` : `${c.kind} backend, ${c.threads} thread${c.threads === 1 ? '' : 's'}`;
  const why = whyChosen(c);
  return `${what}${why ? ` (${why})` : ''}`;
}

/** What describeChoice says in brackets: auto's measurement, then the reason; '' when neither. */
export function whyChosen(c: BackendChoice): string {
  const m = c.measured ? Object.entries(c.measured) : [];
  const measured = m.length ? `${m.map(([k, v], i) => `${k} ${fmtChars(v)}${i === 0 ? ' chars/s' : ''}`).join(', ')}: ${c.kind}` : '';
  return [measured, c.reason].filter(Boolean).join('; ');
}
