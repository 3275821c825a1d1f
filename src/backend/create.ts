/**
 * One way to get a compute backend, the same on every platform:
 *
 *   const backend = await createBackend({ kind: 'auto', threads: 0 });   // from 'charrnn'
 *
 *   'native' the C kernels of the native addon (native.ts: AVX-512 / AVX2 / plain C, pthreads),
 *           Node only; fails with a one-line CharRnnError where the addon is not built or does
 *           not load (another platform, no compiler at install): use wasm there
 *   'wasm'  the WebAssembly SIMD kernels on `threads` threads (worker_threads in Node, Web
 *           Workers in a page); fails with a one-line CharRnnError if they cannot start
 *   'js'    the TypeScript reference kernels (js.ts, the specification), one thread
 *   'webgpu' the WGSL kernels on the GPU (webgpu/backend.ts), for training and plain sampling: in Node through the
 *           optional package `webgpu` (Dawn), in a page through navigator.gpu; fails with a
 *           one-line CharRnnError when there is no usable adapter. Any adapter, software ones
 *           included (SwiftShader: correct, far slower than wasm; the tests use it).
 *   'auto'  native where the addon loads, else wasm if it starts, else js. For training
 *           (`training: true`) it measures instead of assuming: native against wasm, and on a
 *           hardware GPU webgpu against the faster of those, each timed on this run's model by
 *           the budget rule's gauge (`gauge`, default the default model on a synthetic text)
 *           for a fraction of a second: an integrated GPU can be slower than the CPU, and only
 *           a measurement says which. Never a software GPU. Sampling and evaluation take native
 *           without timing (a call costs it less than wasm, the one thing batch 1 pays for).
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
import type { IsaName } from './native-abi.js';
import type { NativeBackend } from './native.js';
import { openDevice, type DeviceError, type GpuProbe } from './webgpu/device.js';
import { WebGpuBackend } from './webgpu/backend.js';

export const BACKEND_KINDS: readonly BackendKind[] = ['auto', 'native', 'wasm', 'js', 'webgpu'];
const MAX_THREADS = 256;

export interface BackendOptions {
  /** Default 'auto'. */
  kind?: BackendKind;
  /** Threads including the caller's; 0 or absent = every core. Only the wasm and native kernels use more than one. */
  threads?: number;
  /** The native kernels' code path (default: the best this CPU runs); for benchmarks and tests that hold AVX2. */
  isa?: IsaName;
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
  /** The native kernels on `threads` threads (Node: native-node.ts), or why there are none (one line); absent where there never are (pages). */
  native?(threads: number, isa?: IsaName): NativeBackend | { error: string };
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
    throw new CharRnnError('bad-flag', '--backend webgpu trains models and draws plain samples; evaluation, serving and the rest run on auto, native, wasm or js (a checkpoint is the same file whatever trained it)');
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
  if (kind === 'native') {
    const native = startNative(threads, platform, opts.isa);
    if ('error' in native) throw new CharRnnError('no-native', `the native backend is not available (${native.error}); use --backend wasm`);
    return native;
  }
  if (kind === 'webgpu' || (kind === 'auto' && opts.training)) {
    const probe = kind === 'auto' ? await platform.probeGpu() : null;
    if (!probe || probe.hardware) {
      const gpu = await startWebGpu(platform);
      if (!(gpu instanceof WebGpuBackend)) {
        if (kind === 'webgpu') throw new CharRnnError('no-webgpu', `the WebGPU backend did not start (${gpu.error}); use --backend wasm`);
        return startCpu(kind, threads, platform, opts, `WebGPU did not start on ${probe!.hardware ? probe!.name : 'the GPU'} (${gpu.error})`);
      }
      const reason = gpu.software ? 'a software adapter: correct, but slower than the wasm backend' : undefined;
      const onGpu = chosen(gpu, { requested: kind, kind: 'webgpu', threads: 1, adapter: gpu.adapter, reason });
      return kind === 'webgpu' ? onGpu : faster(onGpu, await startCpu(kind, threads, platform, opts), opts.gauge ?? defaultGauge);
    }
  }
  return startCpu(kind, threads, platform, opts);
}

/**
 * auto training with two engines to choose from (a hardware GPU, or native and wasm): time the
 * run on both (the first, which may compile its kernels in its warm-up steps, first) and keep the
 * faster; the other is disposed. A first engine that fails its steps is dropped and the second
 * kept, with why. Every figure goes into the choice, so the engine line says why ("webgpu 410 K
 * chars/s, wasm 48 K: webgpu"); a CPU engine already timed against the other CPU one keeps its figures.
 */
async function faster(first: ChosenBackend, second: ChosenBackend, gauge: (b: Backend) => Promise<number>): Promise<ChosenBackend> {
  let speeds: number[];
  try {
    speeds = [await gauge(first), second.choice.measured?.[second.choice.kind] ?? await gauge(second)];
  } catch (e) {
    first.dispose?.(); // an engine that fails a few training steps does not train the run
    const who = first.choice.kind === 'webgpu' ? `WebGPU failed its speed test on ${first.choice.adapter}` : `the ${first.choice.kind} backend failed its speed test`;
    return chosen(second, { ...second.choice, reason: [`${who} (${firstLine(e)})`, second.choice.reason].filter(Boolean).join('; ') });
  }
  const [win, lose] = speeds[0] > speeds[1] ? [first, second] : [second, first];
  lose.dispose?.();
  const measured = { [first.choice.kind]: speeds[0], ...second.choice.measured, [second.choice.kind]: speeds[1] };
  // the figures say why; a reason that was about the loser (fewer threads) no longer applies
  return chosen(win, { ...win.choice, measured, reason: win === first ? first.choice.reason : second.choice.reason });
}

/** The default model's training speed on a synthetic text: auto's gauge when the caller has no run to time. */
async function defaultGauge(backend: Backend): Promise<number> {
  const config = resolveConfig({});
  const V = 64;
  const ids = Int32Array.from({ length: config.batch * config.seqLen + 1 }, (_, i) => (i * 7919) % V);
  return measureSpeed(backend, config, V, ids, () => performance.now() / 1000);
}

/** The native backend on the platform, or why not (one line). */
function startNative(threads: number, platform: WasmPlatform, isa?: IsaName, requested: BackendKind = 'native'): ChosenBackend | { error: string } {
  const want = threads > 0 ? threads : Math.max(1, platform.cores);
  if (!platform.native) return { error: 'it runs in Node only (a C addon): pages use wasm' };
  let native: NativeBackend | { error: string };
  try {
    native = platform.native(want, isa);
  } catch (e) {
    return { error: firstLine(e) };
  }
  if ('error' in native) return native;
  const reason = native.threads < want ? `${native.threads} of ${want} threads started` : undefined;
  return chosen(native, { requested, kind: 'native', isa: native.isa, threads: native.threads, reason });
}

/**
 * The CPU backend asked for (js; wasm; for auto native, else wasm, else js, and for training the
 * faster of native and wasm), with why it is less than asked (a GPU that failed, no native
 * addon, fewer threads).
 */
async function startCpu(kind: BackendKind, threads: number, platform: WasmPlatform, opts: BackendOptions, gpuFailed?: string): Promise<ChosenBackend> {
  if (kind === 'js') {
    const reason = threads > 1 ? 'the reference kernels run on one thread' : undefined;
    return chosen(new JsBackend(), { requested: kind, kind: 'js', threads: 1, reason });
  }
  let noNative: string | undefined;
  if (kind === 'auto' && platform.native) {
    const native = startNative(threads, platform, opts.isa, 'auto');
    if (!('error' in native)) {
      const withGpu = (c: ChosenBackend): ChosenBackend => chosen(c, { ...c.choice, reason: [gpuFailed, c.choice.reason].filter(Boolean).join('; ') || undefined });
      if (!opts.training) return withGpu(native);
      const wasm = await startCpu('wasm', threads, platform, opts).catch(() => null);
      if (!wasm) return withGpu(native);
      return withGpu(await faster(native, chosen(wasm, { ...wasm.choice, requested: 'auto' }), opts.gauge ?? defaultGauge));
    }
    noNative = `no native kernels: ${native.error}`;
  }
  const want = threads > 0 ? threads : Math.max(1, platform.cores);
  let wasm: WasmBackend;
  try {
    wasm = await platform.start(want);
  } catch (e) {
    if (kind === 'wasm') throw new CharRnnError('no-wasm', `the WebAssembly backend did not start (${firstLine(e)}); use --backend js`);
    return chosen(new JsBackend(), { requested: kind, kind: 'js', threads: 1, reason: [gpuFailed, noNative, `the WebAssembly backend did not start (${firstLine(e)})`].filter(Boolean).join('; ') });
  }
  const fewer = wasm.threads < want ? platform.whyOneThread() ?? `${wasm.threads} of ${want} threads started` : undefined;
  const reason = [gpuFailed, noNative, fewer].filter(Boolean).join('; ') || undefined;
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
 * The native backend names its code path there too ("native backend (avx512), 2 threads").
 */
export function describeChoice(c: BackendChoice): string {
  const what = c.kind === 'webgpu' ? `webgpu backend on ${c.adapter ?? 'an unknown adapter'}` : `${c.kind} backend${c.isa ? ` (${c.isa})` : ''}, ${c.threads} thread${c.threads === 1 ? '' : 's'}`;
  const why = whyChosen(c);
  return `${what}${why ? ` (${why})` : ''}`;
}

/** What describeChoice says in brackets: auto's measurement, then the reason; '' when neither. */
export function whyChosen(c: BackendChoice): string {
  const m = c.measured ? Object.entries(c.measured) : [];
  const measured = m.length ? `${m.map(([k, v], i) => `${k} ${fmtChars(v)}${i === 0 ? ' chars/s' : ''}`).join(', ')}: ${c.kind}` : '';
  return [measured, c.reason].filter(Boolean).join('; ');
}
