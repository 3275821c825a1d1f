/**
 * The browser platform of createBackend: WebGPU through navigator.gpu, and the WebAssembly
 * backend, which fetches build/kernels*.wasm and runs the worker pool
 * on Web Workers (wasm-worker-web.ts), so training uses every core of a cross-origin-isolated
 * page (COOP: same-origin + COEP: require-corp, which is what makes SharedArrayBuffer available).
 *
 * - Threads: navigator.hardwareConcurrency by default; 1 when the page (or the worker this runs
 *   in) is not cross-origin isolated. The memory is then not shared either (wasm.ts falls back
 *   to an unshared copy of the module), so everything still runs, on one thread.
 * - Relaxed SIMD (FMA): a browser's flags cannot be set from a page, so the relaxed build is used
 *   only where WebAssembly.validate accepts it (Chrome ≥ 114, Firefox ≥ 120), else plain SIMD.
 * - Works from the page's main thread and from inside a worker (nested workers); the calling
 *   thread spins instead of blocking where Atomics.wait is not allowed (a page's main thread).
 *
 * Bundlers: `new Worker(new URL('./wasm-worker-web.js', import.meta.url), { type: 'module' })`
 * and `new URL('../../build/kernels.wasm', import.meta.url)` below are the patterns Vite and
 * webpack recognise: the worker is bundled and the .wasm files become assets (checked with Vite 7,
 * from the source tree, where the URL is <package>/build/, and from the installed package, where
 * it is dist/build/, a copy the build makes: test/package.test.ts). One literal URL, no fallbacks:
 * a bundler copies only what it can see.
 *
 * `createBackend` here is what `import { createBackend } from 'charrnn'` gives in a bundler or a
 * browser (the package's "browser"/"default" export, src/index.ts).
 */
import { pickBackend, type BackendOptions, type ChosenBackend } from './create.js';
import { createWasmBackend, type WasmBackend } from './wasm.js';
import type { SpawnWorker, WorkerHandle } from './wasm-pool.js';
import { probeGpu } from './webgpu/device.js';

export interface WebWasmOptions {
  /** Threads including the caller's; default navigator.hardwareConcurrency (1 when not cross-origin isolated). */
  threads?: number;
  relaxed?: boolean | 'auto';
  /** Where to fetch the kernels from; default the package's build/ folder. */
  wasmUrls?: { plain: string | URL; relaxed?: string | URL };
  /** Start one kernel worker; default a module Web Worker running wasm-worker-web.js. */
  createWorker?: () => Worker;
}

async function fetchBytes(url: string | URL): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${String(url)}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

/** Start a Web Worker, hand it the pool's init and resolve once it serves jobs. */
function webSpawner(create: () => Worker): SpawnWorker {
  return (init) => new Promise<WorkerHandle>((resolve, reject) => {
    const w = create();
    w.onerror = (e) => {
      w.terminate();
      reject(new Error(`wasm worker failed to start: ${e.message ?? 'error'}`));
    };
    w.onmessage = (e: MessageEvent<unknown>) => {
      w.onmessage = null;
      w.onerror = null;
      const data = e.data as { error?: string } | string;
      if (data === 'ready') resolve(w);
      else {
        w.terminate();
        reject(new Error(`wasm worker failed to start: ${typeof data === 'object' ? data.error : String(data)}`));
      }
    };
    w.postMessage(init);
  });
}

const isolated = (): boolean => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
const cores = (): number => (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;

/** The wasm backend itself (tests, or an app with its own wasmUrls/createWorker); others use createBackend. */
export async function createWebWasmBackend(opts: WebWasmOptions = {}): Promise<WasmBackend> {
  // src/backend/ -> <package>/build/; dist/src/backend/ -> dist/build/ (see the header)
  const urls = opts.wasmUrls ?? { plain: new URL('../../build/kernels.wasm', import.meta.url), relaxed: new URL('../../build/kernels-relaxed.wasm', import.meta.url) };
  const [plain, relaxed] = await Promise.all([
    fetchBytes(urls.plain),
    urls.relaxed ? fetchBytes(urls.relaxed).catch(() => undefined) : undefined,
  ]);
  const threads = isolated() && typeof Worker !== 'undefined' ? Math.max(1, Math.floor(opts.threads ?? cores())) : 1;
  const create = opts.createWorker ?? (() => new Worker(new URL('./wasm-worker-web.js', import.meta.url), { type: 'module' }));
  return createWasmBackend({
    threads,
    relaxed: opts.relaxed ?? 'auto',
    wasmBytes: { plain, relaxed },
    spawnWorker: threads > 1 ? webSpawner(create) : undefined,
  });
}

/** createBackend for pages and bundlers (create.ts): the wasm kernels on Web Workers, or the reference. */
export function createBackend(opts: BackendOptions = {}): Promise<ChosenBackend> {
  return pickBackend(opts, {
    cores: cores(),
    start: (threads) => createWebWasmBackend({ threads }),
    whyOneThread: () => !isolated()
      ? 'the page is not cross-origin isolated: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp'
      : typeof Worker === 'undefined' ? 'no Web Workers here' : undefined,
    gpu: async () => (typeof navigator !== 'undefined' && navigator.gpu ? navigator.gpu : { error: 'WebGPU is not available here (no navigator.gpu)' }),
    probeGpu: () => probeGpu(typeof navigator !== 'undefined' ? navigator.gpu : undefined),
  });
}
