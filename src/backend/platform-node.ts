/**
 * The Node platform of createBackend: the native addon's kernels (native.ts, loaded by
 * native-node.ts), the WebAssembly backend (reads build/kernels*.wasm, enables
 * relaxed SIMD in V8 — Node 20 keeps it behind a flag that can be set at run time, but not via
 * NODE_OPTIONS — and starts worker_threads workers) and WebGPU through Dawn (webgpu/node.ts).
 * `createBackend` here is what `import { createBackend } from 'charrnn'` gives in Node (the
 * package's "node" export, src/index-node.ts).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { pickBackend, type BackendOptions, type ChosenBackend } from './create.js';
import { createWasmBackend, type WasmBackend, type WasmBackendOptions } from './wasm.js';
import { NativeBackend, type NativeBackendOptions } from './native.js';
import { loadNativeAddon } from './native-node.js';
import type { SpawnWorker } from './wasm-pool.js';
import { dawnGpu, probeDawn } from './webgpu/node.js';

/** The first of these URLs that exists. */
const firstExisting = (...urls: URL[]): URL | undefined => urls.find((u) => existsSync(u));

/** Start a worker thread running `script` that serves kernel jobs; resolves once it is ready. Unref'd: it never keeps the process alive. */
const nodeWorkers = (script: URL): SpawnWorker => (init) => new Promise((resolve, reject) => {
  const w = new Worker(script, { workerData: init });
  w.unref();
  const fail = (e: unknown): void => reject(e instanceof Error ? e : new Error(`wasm worker exited (${String(e)})`));
  w.once('error', fail);
  w.once('exit', fail);
  w.once('message', () => {
    w.off('error', fail);
    w.off('exit', fail);
    w.on('error', () => { /* a worker catches kernel errors itself; nothing else is expected */ });
    resolve(w);
  });
});

/**
 * The worker script: compiled, next to this file or, run from source, in dist/ (tsx's loader does
 * not reach worker threads on Node 20); without one the backend runs on one thread.
 */
const workerScript = (): URL | undefined =>
  firstExisting(new URL('./wasm-worker-node.js', import.meta.url), new URL('../../dist/src/backend/wasm-worker-node.js', import.meta.url));

export interface NodeWasmOptions {
  /** Threads including the caller's; default os.availableParallelism(). */
  threads?: number;
  relaxed?: boolean | 'auto';
}

/** The wasm backend itself (tests and benchmarks that pick relaxed SIMD); others use createBackend. */
export async function createNodeWasmBackend(opts: NodeWasmOptions = {}): Promise<WasmBackend> {
  // Must precede compiling: enables relaxed SIMD on Node 20 (a no-op where it is standard).
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  // <package>/build/ from src/backend/ (run from source by tsx); dist/build/ (a copy the build
  // makes) from dist/src/backend/, the same relative URL as in platform-web.ts
  const build = new URL('../../build/kernels.wasm', import.meta.url);
  const worker = workerScript();
  const [plain, relaxed] = await Promise.all([
    readFile(build),
    readFile(new URL('kernels-relaxed.wasm', build)).catch(() => undefined),
  ]);
  const o: WasmBackendOptions = {
    threads: opts.threads ?? os.availableParallelism(), // 1 without workers (createWasmBackend)
    relaxed: opts.relaxed ?? 'auto',
    wasmBytes: { plain, relaxed },
    spawnWorker: worker ? nodeWorkers(worker) : undefined,
  };
  return createWasmBackend(o);
}

/**
 * The native backend itself (tests and benchmarks that pick the code path: `isa: 'avx2'`);
 * others use createBackend. Throws one line where the addon is missing or does not load.
 */
export function createNodeNativeBackend(opts: NativeBackendOptions = {}): NativeBackend {
  const addon = loadNativeAddon();
  if ('error' in addon) throw new Error(`native backend: ${addon.error}`);
  return new NativeBackend(addon, { threads: opts.threads ?? os.availableParallelism(), isa: opts.isa });
}

/** createBackend for Node (create.ts): the native kernels, the wasm kernels on worker_threads, or the reference. */
export function createBackend(opts: BackendOptions = {}): Promise<ChosenBackend> {
  return pickBackend(opts, {
    cores: os.availableParallelism(),
    start: (threads) => createNodeWasmBackend({ threads }),
    native: (threads, isa) => {
      const addon = loadNativeAddon();
      return 'error' in addon ? addon : new NativeBackend(addon, { threads, isa });
    },
    whyOneThread: () => (workerScript() ? undefined : 'no compiled worker script (dist/src/backend/wasm-worker-node.js): run npm run build'),
    gpu: () => dawnGpu(),
    probeGpu: () => probeDawn(),
  });
}
