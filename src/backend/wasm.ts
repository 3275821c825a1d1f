/**
 * The WebAssembly SIMD backend: the kernels of asm/ (f32x4, register-tiled GEMM, fused cell
 * steps) running on one WebAssembly.Memory that also holds the model's arenas, so a kernel call
 * passes only pointers (`view.byteOffset`) and nothing is copied between JS and WASM.
 * Memory: wasm-heap.ts. GEMM planning (packed-weight cache, threads): wasm-gemm.ts. Threads:
 * wasm-pool.ts, and when to use them: wasm-modes.ts. Every view must be one of this memory, as
 * on a GPU: an array from anywhere else is an error, never silently run elsewhere.
 *
 * Platform-neutral: no fs, no worker_threads here. platform-node.ts (Node) and platform-web.ts (pages)
 * supply the .wasm bytes and a worker spawner; create.ts picks between this and the reference.
 */
import type { Backend, Block, ClipViews, DType, FloatArray } from './types.js';
import * as compose from './compose.js';
import { clipOnHost } from './host.js';
import { PointerBackend } from './pointers.js';
import { fillDropoutMask } from '../rng.js';
import { instantiateKernels, type KernelExports } from './wasm-abi.js';
import { WasmGemm } from './wasm-gemm.js';
import { MAX_PAGES, WasmHeap } from './wasm-heap.js';
import { runCell, WorkerPool, type CellKernel, type SpawnWorker } from './wasm-pool.js';
import { ThreadModes, type TimedCall } from './wasm-modes.js';
import { unshareMemoryImport } from './wasm-unshare.js';

export interface WasmBytes {
  /** kernels.wasm: SIMD. */
  plain: BufferSource;
  /** kernels-relaxed.wasm: relaxed SIMD (FMA). */
  relaxed?: BufferSource;
}

export interface WasmBackendOptions {
  /** Threads including the caller's (default: navigator.hardwareConcurrency, else 1). Needs spawnWorker and SharedArrayBuffer. */
  threads?: number;
  /** Use the relaxed-SIMD (FMA) build: true = must, false = never, 'auto' (default) = if it validates. */
  relaxed?: boolean | 'auto';
  /** The compiled modules (build/kernels*.wasm: platform-node.ts reads them, platform-web.ts fetches them). */
  wasmBytes: WasmBytes;
  /** Start one worker thread (platform hook, see platform-node.ts). Without it the backend is single-threaded. */
  spawnWorker?: SpawnWorker;
  /**
   * Only without SharedArrayBuffer (e.g. a page that is not cross-origin isolated), where growing
   * the memory would detach every view: bytes to reserve at the first allocation (default: twice
   * that allocation + 16 MiB, room for packed weights). Allocations beyond it throw.
   */
  memoryBytes?: number;
}

/** Elements (B·H) from which a cell step may be split over threads (≈ 15 µs of work for an LSTM step). */
const CELL_PARALLEL_MIN = 2048;
/** What f() and i() throw for an array that is not a view of this memory (the heap finds no pointer for it). */
const FOREIGN = "wasm: a view that is not from this backend's memory (or was freed); allocate it with this backend's alloc/arena";

export class WasmBackend extends PointerBackend implements Backend {
  readonly name = 'wasm';
  readonly dtypes: readonly DType[] = ['float32'];
  /** LSTM time steps run fused, split by hidden units over the threads (lstmStep, lstmStepBackward). */
  fusedSteps = 0;
  private readonly heap: WasmHeap;
  private readonly mm: WasmGemm;
  private readonly modes = new ThreadModes();
  // the views are WebAssembly memory, read and written in place (pointers.ts)
  protected readonly memory: WasmHeap;
  protected readonly tracker: WasmGemm;

  constructor(
    private readonly k: KernelExports,
    memory: WebAssembly.Memory,
    /** Shared memory: it can grow without detaching views, and threads can use it. */
    readonly shared: boolean,
    private pool: WorkerPool | null,
    /** Running the relaxed-SIMD (FMA) build. */
    readonly relaxed: boolean,
    memoryBytes = 0,
  ) {
    super(FOREIGN);
    this.heap = this.memory = new WasmHeap(memory, shared, memoryBytes);
    this.mm = this.tracker = new WasmGemm(k, this.heap, pool, this.modes);
  }

  /** GEMMs run on several threads, and how often a worker actually joined one. */
  get poolStats(): { jobs: number; helped: number } {
    return this.pool?.stats ?? { jobs: 0, helped: 0 };
  }

  /** Threads that run GEMMs, the caller included. */
  get threads(): number {
    return 1 + (this.pool?.size ?? 0);
  }

  alloc(bytes: number): Block {
    return this.heap.block(bytes);
  }

  /** Backend.free: the block's memory is reused, and cached packed copies of weights in it are freed. */
  free(block: Block): void {
    this.heap.free(block.byteOffset); // first: it throws on a block that is not live
    this.mm.released(block.byteOffset, block.byteLength);
  }

  /** Bytes of WebAssembly memory: it never shrinks, and stops growing once freed blocks are reused. */
  get memoryBytes(): number {
    return this.heap.memoryBytes;
  }

  /** Bytes handed out and not freed (arenas, scratch, packed weights). */
  get liveBytes(): number {
    return this.heap.liveBytes;
  }

  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: FloatArray, lda: number, B: FloatArray, ldb: number,
    beta: 0 | 1, C: FloatArray, ldc: number,
  ): void {
    this.mm.gemm(transA, transB, M, N, K, this.f(A), lda, this.f(B), ldb, beta, this.f(C), ldc);
  }

  // ---- rows ----

  broadcastRows(M: number, N: number, v: FloatArray, C: FloatArray, accumulate: boolean): void {
    this.k.broadcastRows(M, N, this.f(v), this.out(C, M * N), accumulate ? 1 : 0);
  }

  colSumAcc(M: number, N: number, A: FloatArray, out: FloatArray): void {
    this.k.colSumAcc(M, N, this.f(A), this.out(out, N));
  }

  gatherRows(n: number, idx: Int32Array, table: FloatArray, cols: number, out: FloatArray, accumulate: boolean): void {
    this.k.gatherRows(n, this.i(idx), this.f(table), cols, this.out(out, n * cols), accumulate ? 1 : 0);
  }

  scatterAddRows(n: number, idx: Int32Array, src: FloatArray, cols: number, table: FloatArray): void {
    this.k.scatterAddRows(n, this.i(idx), this.f(src), cols, this.out(table, table.length));
  }

  mul(n: number, x: FloatArray, m: FloatArray): void {
    this.k.mul(n, this.out(x, n), this.f(m));
  }

  dropoutMask(n: number, mask: FloatArray, keep: number, key: number): void {
    this.out(mask, n);
    fillDropoutMask(n, mask, keep, key);
  }

  // ---- recurrent cells ----

  /**
   * A cell kernel (pointers as it takes them after B, H). Each is elementwise row by row: a big
   * batch is split over the threads by rows when timing says that is faster (as GEMMs are), with
   * results independent of the split.
   */
  private cell(kernel: CellKernel, B: number, H: number, p0: number, p1: number, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0): void {
    const pool = this.pool;
    const m = pool && pool.size > 0 && B >= 2 && B * H >= CELL_PARALLEL_MIN ? this.modes.choose(`${kernel} ${B} ${H}`) : null;
    if (m?.parallel) pool!.runCells(this.k, kernel, B, H, [p0, p1, p2, p3, p4, p5, p6, p7]);
    else runCell(this.k, kernel, B, H, p0, p1, p2, p3, p4, p5, p6, p7);
    if (m) this.modes.done(m);
  }

  rnnForward(B: number, H: number, pre: FloatArray, h: FloatArray): void {
    this.cell('rnnForward', B, H, this.f(pre), this.f(h));
  }

  rnnBackward(B: number, H: number, h: FloatArray, dy: FloatArray, dhNext: FloatArray, dpre: FloatArray): void {
    this.cell('rnnBackward', B, H, this.f(h), this.f(dy), this.f(dhNext), this.f(dpre));
  }

  lstmForward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    this.cell('lstmForward', B, H, this.f(gates), this.f(cPrev), this.f(c), this.f(h));
  }

  lstmBackward(
    B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    this.cell('lstmBackward', B, H, this.f(gates), this.f(cPrev), this.f(c), this.f(dy), this.f(dhNext), this.f(dc), this.f(dgates));
  }

  gruForward(B: number, H: number, gx: FloatArray, gh: FloatArray, hPrev: FloatArray, act: FloatArray, h: FloatArray): void {
    this.cell('gruForward', B, H, this.f(gx), this.f(gh), this.f(hPrev), this.f(act), this.f(h));
  }

  gruBackward(
    B: number, H: number, act: FloatArray, gh: FloatArray, hPrev: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dgx: FloatArray, dgh: FloatArray, dhPrevDirect: FloatArray,
  ): void {
    this.cell('gruBackward', B, H, this.f(act), this.f(gh), this.f(hPrev), this.f(dy), this.f(dhNext), this.f(dgx), this.f(dgh), this.f(dhPrevDirect));
  }

  /**
   * An LSTM step is run fused on all threads when it is big enough, H is whole 16-unit panels
   * (at least two to share out) and W_hh is a parameter (the kernel reads its packed panels);
   * otherwise, or when timing says one thread is faster, as the two calls it stands for
   * (compose.ts). Both give the same numbers. Null: too small to time, run unfused.
   */
  private stepMode(key: string, B: number, H: number): TimedCall | null {
    const pool = this.pool;
    if (!pool || pool.size === 0 || H % 16 !== 0 || H < 32 || B * H < CELL_PARALLEL_MIN) return null;
    return this.modes.choose(`${key} ${B} ${H}`);
  }

  lstmStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    const m = this.stepMode('lstmStep', B, H);
    const w = m?.parallel ? this.mm.packedWeights(this.f(whh), false, H, 4 * H, 4 * H) : -1;
    if (w >= 0) {
      this.pool!.runLstmStep(this.k, false, [B, H, this.f(hPrev), w, this.out(gates, gates.length), this.f(cPrev), this.f(c), this.f(h)]);
      this.fusedSteps++;
    } else compose.lstmStep(this, B, H, hPrev, whh, gates, cPrev, c, h);
    if (m) this.modes.done(m, w >= 0);
  }

  lstmStepBackward(
    B: number, H: number, dgatesNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    const m = this.stepMode('lstmStepBackward', B, H);
    const w = m?.parallel ? this.mm.packedWeights(this.f(whh), true, 4 * H, H, 4 * H) : -1;
    if (w >= 0) {
      this.pool!.runLstmStep(this.k, true, [B, H, dgatesNext ? this.f(dgatesNext) : 0, w, this.f(dh), this.f(gates),
        this.f(cPrev), this.f(c), this.f(dy), this.f(dc), this.out(dgates, dgates.length)]);
      this.fusedSteps++;
    } else compose.lstmStepBackward(this, B, H, dgatesNext, whh, dh, gates, cPrev, c, dy, dc, dgates);
    if (m) this.modes.done(m, w >= 0);
  }

  // the RNN and GRU steps are not fused: the calls they stand for, on these kernels
  rnnStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, pre: FloatArray, h: FloatArray): void {
    compose.rnnStep(this, B, H, hPrev, whh, pre, h);
  }

  rnnStepBackward(B: number, H: number, dpreNext: FloatArray | null, whh: FloatArray, dh: FloatArray, h: FloatArray, dy: FloatArray, dpre: FloatArray): void {
    compose.rnnStepBackward(this, B, H, dpreNext, whh, dh, h, dy, dpre);
  }

  gruStep(B: number, H: number, gx: FloatArray, hPrev: FloatArray, whh: FloatArray, bhh: FloatArray, gh: FloatArray, act: FloatArray, h: FloatArray): void {
    compose.gruStep(this, B, H, gx, hPrev, whh, bhh, gh, act, h);
  }

  gruStepBackward(B: number, H: number, dghNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dgx: FloatArray, dgh: FloatArray): void {
    compose.gruStepBackward(this, B, H, dghNext, whh, dh, act, gh, hPrev, dy, dgx, dgh);
  }

  softmaxCrossEntropy(N: number, V: number, logits: FloatArray, targets: Int32Array, dlogits: FloatArray | null, scale: number, into: FloatArray): void {
    this.f(into); // added to on the host, but a view of this memory as on a device
    into[0] += this.k.softmaxCrossEntropy(N, V, this.f(logits), this.i(targets), dlogits ? this.f(dlogits) : 0, scale);
  }

  // ---- optimizer kernels ----

  /** sum_i x[i]^2 for i < n, in float64 (gradientNorm's; not a Backend kernel). */
  sumSquares(n: number, x: FloatArray): number {
    return this.k.sumSquares(n, this.f(x));
  }

  scale(n: number, x: FloatArray, s: number): void {
    this.k.scale(n, this.out(x, n), s);
  }

  clamp(n: number, x: FloatArray, lo: number, hi: number): void {
    this.k.clamp(n, this.out(x, n), lo, hi);
  }

  emaUpdate(n: number, avg: FloatArray, x: FloatArray, decay: number, skip?: FloatArray): void {
    if (!skip || Number.isFinite(skip[0])) this.k.emaUpdate(n, this.out(avg, n), this.f(x), decay);
  }

  adam(n: number, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray,
    lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.k.adam(n, this.param(p, n), this.f(g), this.f(m), this.f(v), lr, b1, b2, eps, bc1, bc2, wd);
  }

  rmsprop(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, alpha: number, eps: number, wd: number, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.k.rmsprop(n, this.param(p, n), this.f(g), this.f(v), lr, alpha, eps, wd);
  }

  adagrad(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, eps: number, wd: number, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.k.adagrad(n, this.param(p, n), this.f(g), this.f(v), lr, eps, wd);
  }

  sgd(n: number, p: FloatArray, g: FloatArray, buf: FloatArray, lr: number, momentum: number, wd: number, first: boolean, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.k.sgd(n, this.param(p, n), this.f(g), this.f(buf), lr, momentum, wd, first ? 1 : 0);
  }

  // ---- lifecycle ----

  /** Stop the worker threads. Kernels keep working, single-threaded. */
  dispose(): void {
    this.pool?.close();
    this.pool = null;
    this.mm.pool = null;
  }
}

/** Whether shared WebAssembly memory can be created here (needs SharedArrayBuffer). */
function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Create a WasmBackend. Platform-neutral: the platform entries (platform-node.ts, platform-web.ts) pass
 * the .wasm bytes and a worker spawner. Relaxed SIMD must already be enabled in the engine to validate (on
 * Node 20, platform-node.ts sets the V8 flag); otherwise 'auto' falls back to the plain build.
 */
export async function createWasmBackend(opts: WasmBackendOptions): Promise<WasmBackend> {
  const bytes = opts.wasmBytes;
  const wantRelaxed = opts.relaxed ?? 'auto';
  const relaxedOk = bytes.relaxed !== undefined && WebAssembly.validate(bytes.relaxed);
  if (wantRelaxed === true && !relaxedOk) throw new Error('relaxed SIMD is not supported by this WebAssembly engine');
  const relaxed = wantRelaxed !== false && relaxedOk;
  let src: BufferSource = relaxed ? bytes.relaxed! : bytes.plain;
  const shared = sharedMemoryAvailable();
  if (!shared) src = unshareMemoryImport(src);
  const module = await WebAssembly.compile(src);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared });
  const kernels = await instantiateKernels(module, memory);
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const threads = shared && opts.spawnWorker ? Math.max(1, Math.floor(opts.threads ?? nav?.hardwareConcurrency ?? 1)) : 1;
  const pool = threads > 1 ? await WorkerPool.start(threads - 1, opts.spawnWorker!, module, memory) : null;
  return new WasmBackend(kernels, memory, shared, pool, relaxed, opts.memoryBytes);
}
