/**
 * The WebAssembly SIMD backend: the kernels of asm/ (f32x4, register-tiled GEMM, fused cell
 * steps) running on one WebAssembly.Memory that also holds the model's arenas, so a kernel call
 * passes only pointers (`view.byteOffset`) and nothing is copied between JS and WASM.
 * Memory: wasm-heap.ts. GEMM planning (packed-weight cache, threads): wasm-gemm.ts. Threads:
 * wasm-pool.ts. Arrays that are not views on this memory still work: such calls run on the JS
 * reference (counted in jsFallbacks).
 *
 * Platform-neutral: no fs, no worker_threads here. wasm-node.ts (Node) and wasm-web.ts (pages)
 * supply the .wasm bytes and a worker spawner; create.ts picks between this and the reference.
 */
import type { Backend, Block, ClipViews, DType, FloatArray } from './types.js';
import { clipOnHost, hostDevice, writeGradientNorm } from './host.js';
import { fillDropoutMask } from '../rng.js';
import { JsBackend } from './js.js';
import { instantiateKernels, type KernelExports } from './wasm-abi.js';
import { WasmGemm } from './wasm-gemm.js';
import { MAX_PAGES, WasmHeap } from './wasm-heap.js';
import { CELL_B, CELL_CHUNKS, CELL_H, CELL_KERNEL, CELL_KERNELS, CELL_PTRS, CELL_STRIDES, OP_CELL, OP_LSTM_BACK, OP_LSTM_STEP, STEP_CHUNKS, WorkerPool, type CellKernel, type SpawnWorker } from './wasm-pool.js';
import { ThreadModes, type ShapeTiming } from './wasm-modes.js';
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
  /** The compiled modules (build/kernels*.wasm: wasm-node.ts reads them, wasm-web.ts fetches them). */
  wasmBytes: WasmBytes;
  /** Start one worker thread (platform hook, see wasm-node.ts). Without it the backend is single-threaded. */
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

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  readonly dtypes: readonly DType[] = ['float32'];
  // the views are WebAssembly memory, read and written in place: nothing to move (host.ts)
  readonly hostMemory = hostDevice.hostMemory;
  readonly upload = hostDevice.upload;
  readonly download = hostDevice.download;
  readonly flush = hostDevice.flush;
  readonly settle = hostDevice.settle;
  /** Calls that got arrays outside this backend's memory and ran on the JS reference instead. */
  jsFallbacks = 0;
  /** LSTM time steps run fused, split by hidden units over the threads (lstmStep, lstmStepBackward). */
  fusedSteps = 0;
  private readonly heap: WasmHeap;
  private readonly mm: WasmGemm;
  private readonly js = new JsBackend();
  private readonly modes = new ThreadModes();

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
    this.heap = new WasmHeap(memory, shared, memoryBytes);
    this.mm = new WasmGemm(k, this.heap, pool, this.modes);
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

  private f(x: FloatArray): number {
    return this.heap.f32(x);
  }

  private i(x: Int32Array): number {
    return this.heap.i32(x);
  }

  /** A kernel is about to write n floats of x (at p): if they overlap the parameters, cached packed weights are stale. */
  private writes(p: number, x: FloatArray, n = x.length): void {
    this.mm.writes(p, 4 * n);
  }

  /**
   * Parameters changed: cached packed weights are stale. `params` (optional, beyond the Backend
   * interface) marks the region holding the parameters, so GEMMs with B inside it use cached
   * packed panels from the first call on (otherwise the region is learned at the first
   * optimizer step).
   */
  paramsChanged(params?: FloatArray): void {
    const p = params ? this.f(params) : -1;
    this.mm.paramsChanged(p, p >= 0 ? params!.byteLength : 0);
  }

  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: FloatArray, lda: number, B: FloatArray, ldb: number,
    beta: 0 | 1, C: FloatArray, ldc: number,
  ): void {
    const a = this.f(A), b = this.f(B), c = this.f(C);
    if (a < 0 || b < 0 || c < 0) {
      this.jsFallbacks++;
      return this.js.gemm(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);
    }
    this.mm.gemm(transA, transB, M, N, K, a, lda, b, ldb, beta, c, ldc);
  }

  // ---- rows ----

  broadcastRows(M: number, N: number, v: FloatArray, C: FloatArray, accumulate: boolean): void {
    const pv = this.f(v), pc = this.f(C);
    if (pv < 0 || pc < 0) {
      this.jsFallbacks++;
      return this.js.broadcastRows(M, N, v, C, accumulate);
    }
    this.writes(pc, C, M * N);
    this.k.broadcastRows(M, N, pv, pc, accumulate ? 1 : 0);
  }

  colSumAcc(M: number, N: number, A: FloatArray, out: FloatArray): void {
    const pa = this.f(A), po = this.f(out);
    if (pa < 0 || po < 0) {
      this.jsFallbacks++;
      return this.js.colSumAcc(M, N, A, out);
    }
    this.writes(po, out, N);
    this.k.colSumAcc(M, N, pa, po);
  }

  gatherRows(n: number, idx: Int32Array, table: FloatArray, cols: number, out: FloatArray, accumulate: boolean): void {
    const pi = this.i(idx), pt = this.f(table), po = this.f(out);
    if (pi < 0 || pt < 0 || po < 0) {
      this.jsFallbacks++;
      return this.js.gatherRows(n, idx, table, cols, out, accumulate);
    }
    this.writes(po, out, n * cols);
    this.k.gatherRows(n, pi, pt, cols, po, accumulate ? 1 : 0);
  }

  scatterAddRows(n: number, idx: Int32Array, src: FloatArray, cols: number, table: FloatArray): void {
    const pi = this.i(idx), ps = this.f(src), pt = this.f(table);
    if (pi < 0 || ps < 0 || pt < 0) {
      this.jsFallbacks++;
      return this.js.scatterAddRows(n, idx, src, cols, table);
    }
    this.writes(pt, table);
    this.k.scatterAddRows(n, pi, ps, cols, pt);
  }

  // Host loops on the shared memory (views are the memory): cheap, O(B·H) per step.
  fill(n: number, x: FloatArray, v: number): void {
    this.hostWrite(x, n);
    x.fill(v, 0, n);
  }

  copy(n: number, src: FloatArray, dst: FloatArray): void {
    this.hostWrite(dst, n);
    dst.set(n === src.length ? src : src.subarray(0, n));
  }

  dropoutMask(n: number, mask: FloatArray, keep: number, key: number): void {
    this.hostWrite(mask, n);
    fillDropoutMask(n, mask, keep, key);
  }

  /** A host loop is about to write n floats of x: as writes(), for views inside the heap. */
  private hostWrite(x: FloatArray, n: number): void {
    const p = this.f(x);
    if (p >= 0) this.writes(p, x, n);
  }

  mul(n: number, x: FloatArray, m: FloatArray): void {
    const px = this.f(x), pm = this.f(m);
    if (px < 0 || pm < 0) {
      this.jsFallbacks++;
      return this.js.mul(n, x, m);
    }
    this.writes(px, x, n);
    this.k.mul(n, px, pm);
  }

  // ---- recurrent cells ----
  // Each step kernel is elementwise row by row: big batches are split over the threads by rows
  // when that is faster (timed per shape, as GEMMs are), with results independent of the split.

  /** Whether (and how) to time this cell call: null = too small to split, run it here. */
  private cellMode(kernel: CellKernel, B: number, H: number): { t: ShapeTiming; parallel: boolean; t0: number } | null {
    const pool = this.pool;
    if (!pool || pool.size === 0 || B < 2 || B * H < CELL_PARALLEL_MIN) return null;
    return { ...this.modes.choose(`${kernel} ${B} ${H}`), t0: performance.now() };
  }

  /** Run a cell kernel split by batch rows over all threads; ptrs as the kernel takes them, rowBytes per batch row of each. */
  private cellOnThreads(kernel: CellKernel, B: number, H: number, ptrs: number[], rowBytes: number[]): void {
    const pool = this.pool!;
    const g = pool.args();
    g[0] = OP_CELL;
    g[CELL_KERNEL] = CELL_KERNELS.indexOf(kernel);
    g[CELL_B] = B;
    g[CELL_H] = H;
    for (let i = 0; i < 8; i++) {
      g[CELL_PTRS + i] = ptrs[i] ?? 0;
      g[CELL_STRIDES + i] = rowBytes[i] ?? 0;
    }
    g[CELL_CHUNKS] = Math.min(B, 2 * (pool.size + 1));
    pool.run(this.k);
  }

  private cellDone(m: { t: ShapeTiming; parallel: boolean; t0: number } | null): void {
    if (m) this.modes.record(m.t, m.parallel, performance.now() - m.t0);
  }

  rnnForward(B: number, H: number, pre: FloatArray, h: FloatArray): void {
    const pp = this.f(pre), ph = this.f(h);
    if (pp < 0 || ph < 0) {
      this.jsFallbacks++;
      return this.js.rnnForward(B, H, pre, h);
    }
    const m = this.cellMode('rnnForward', B, H);
    if (m?.parallel) this.cellOnThreads('rnnForward', B, H, [pp, ph], [4 * H, 4 * H]);
    else this.k.rnnForward(B, H, pp, ph);
    this.cellDone(m);
  }

  rnnBackward(B: number, H: number, h: FloatArray, dy: FloatArray, dhNext: FloatArray, dpre: FloatArray): void {
    const ph = this.f(h), py = this.f(dy), pn = this.f(dhNext), pd = this.f(dpre);
    if (ph < 0 || py < 0 || pn < 0 || pd < 0) {
      this.jsFallbacks++;
      return this.js.rnnBackward(B, H, h, dy, dhNext, dpre);
    }
    const m = this.cellMode('rnnBackward', B, H);
    if (m?.parallel) this.cellOnThreads('rnnBackward', B, H, [ph, py, pn, pd], [4 * H, 4 * H, 4 * H, 4 * H]);
    else this.k.rnnBackward(B, H, ph, py, pn, pd);
    this.cellDone(m);
  }

  lstmForward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    const pg = this.f(gates), pp = this.f(cPrev), pc = this.f(c), ph = this.f(h);
    if (pg < 0 || pp < 0 || pc < 0 || ph < 0) {
      this.jsFallbacks++;
      return this.js.lstmForward(B, H, gates, cPrev, c, h);
    }
    const m = this.cellMode('lstmForward', B, H);
    if (m?.parallel) this.cellOnThreads('lstmForward', B, H, [pg, pp, pc, ph], [16 * H, 4 * H, 4 * H, 4 * H]);
    else this.k.lstmForward(B, H, pg, pp, pc, ph);
    this.cellDone(m);
  }

  lstmBackward(
    B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    const pg = this.f(gates), pp = this.f(cPrev), pc = this.f(c), py = this.f(dy);
    const pn = this.f(dhNext), pdc = this.f(dc), pdg = this.f(dgates);
    if (pg < 0 || pp < 0 || pc < 0 || py < 0 || pn < 0 || pdc < 0 || pdg < 0) {
      this.jsFallbacks++;
      return this.js.lstmBackward(B, H, gates, cPrev, c, dy, dhNext, dc, dgates);
    }
    const m = this.cellMode('lstmBackward', B, H);
    const r = 4 * H;
    if (m?.parallel) this.cellOnThreads('lstmBackward', B, H, [pg, pp, pc, py, pn, pdc, pdg], [4 * r, r, r, r, r, r, 4 * r]);
    else this.k.lstmBackward(B, H, pg, pp, pc, py, pn, pdc, pdg);
    this.cellDone(m);
  }

  /**
   * The fused step on all threads when the step is big enough, H is whole 16-unit panels and
   * W_hh is a parameter (its packed panels are then read by the kernel); otherwise, or when
   * timing says one thread is faster, the two calls it stands for. Both give the same numbers.
   */
  private stepMode(key: string, B: number, H: number): { t: ShapeTiming; parallel: boolean; t0: number } | null {
    const pool = this.pool;
    // at least two 16-unit blocks to share out
    if (!pool || pool.size === 0 || H % 16 !== 0 || H < 32 || B * H < CELL_PARALLEL_MIN) return null;
    return { ...this.modes.choose(`${key} ${B} ${H}`), t0: performance.now() };
  }

  /**
   * Post an LSTM step job (OP_LSTM_STEP / OP_LSTM_BACK), the kernel's arguments before u0, u1
   * given as numbers (B, H, a packed-weights pointer) or arrays (their pointers; null = 0).
   * False, and nothing run, if an array lies outside this memory.
   */
  private stepOnThreads(op: number, H: number, written: FloatArray, args: Array<number | FloatArray | null>): boolean {
    const pool = this.pool!;
    const g = pool.args();
    for (let i = 0; i < args.length; i++) {
      const x = args[i];
      const v = x === null ? 0 : typeof x === 'number' ? x : this.f(x);
      if (v < 0) return false;
      g[1 + i] = v;
    }
    g[0] = op;
    g[STEP_CHUNKS] = Math.min(H / 16, 4 * (pool.size + 1));
    this.writes(this.f(written), written);
    pool.run(this.k);
    this.fusedSteps++;
    return true;
  }

  lstmStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    const m = this.stepMode('lstmStep', B, H);
    const w = m?.parallel ? this.mm.packedWeights(this.f(whh), false, H, 4 * H, 4 * H) : -1;
    const fused = w >= 0 && this.stepOnThreads(OP_LSTM_STEP, H, gates, [B, H, hPrev, w, gates, cPrev, c, h]);
    // otherwise the reference's definition of the step, on this backend's kernels
    if (!fused) JsBackend.prototype.lstmStep.call(this, B, H, hPrev, whh, gates, cPrev, c, h);
    if (m) this.modes.record(m.t, fused, performance.now() - m.t0);
  }

  lstmStepBackward(
    B: number, H: number, dgatesNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    const m = this.stepMode('lstmStepBackward', B, H);
    const w = m?.parallel ? this.mm.packedWeights(this.f(whh), true, 4 * H, H, 4 * H) : -1;
    const fused = w >= 0 && this.stepOnThreads(OP_LSTM_BACK, H, dgates, [B, H, dgatesNext, w, dh, gates, cPrev, c, dy, dc, dgates]);
    if (!fused) JsBackend.prototype.lstmStepBackward.call(this, B, H, dgatesNext, whh, dh, gates, cPrev, c, dy, dc, dgates);
    if (m) this.modes.record(m.t, fused, performance.now() - m.t0);
  }

  // the reference's definitions of the RNN and GRU steps, on this backend's kernels
  rnnStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, pre: FloatArray, h: FloatArray): void {
    JsBackend.prototype.rnnStep.call(this, B, H, hPrev, whh, pre, h);
  }

  rnnStepBackward(B: number, H: number, dpreNext: FloatArray | null, whh: FloatArray, dh: FloatArray, h: FloatArray, dy: FloatArray, dpre: FloatArray): void {
    JsBackend.prototype.rnnStepBackward.call(this, B, H, dpreNext, whh, dh, h, dy, dpre);
  }

  gruStep(B: number, H: number, gx: FloatArray, hPrev: FloatArray, whh: FloatArray, bhh: FloatArray, gh: FloatArray, act: FloatArray, h: FloatArray): void {
    JsBackend.prototype.gruStep.call(this, B, H, gx, hPrev, whh, bhh, gh, act, h);
  }

  gruStepBackward(B: number, H: number, dghNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dgx: FloatArray, dgh: FloatArray): void {
    JsBackend.prototype.gruStepBackward.call(this, B, H, dghNext, whh, dh, act, gh, hPrev, dy, dgx, dgh);
  }

  gruForward(B: number, H: number, gx: FloatArray, gh: FloatArray, hPrev: FloatArray, act: FloatArray, h: FloatArray): void {
    const px = this.f(gx), pg = this.f(gh), pp = this.f(hPrev), pa = this.f(act), ph = this.f(h);
    if (px < 0 || pg < 0 || pp < 0 || pa < 0 || ph < 0) {
      this.jsFallbacks++;
      return this.js.gruForward(B, H, gx, gh, hPrev, act, h);
    }
    const m = this.cellMode('gruForward', B, H);
    const r = 4 * H;
    if (m?.parallel) this.cellOnThreads('gruForward', B, H, [px, pg, pp, pa, ph], [3 * r, 3 * r, r, 3 * r, r]);
    else this.k.gruForward(B, H, px, pg, pp, pa, ph);
    this.cellDone(m);
  }

  gruBackward(
    B: number, H: number, act: FloatArray, gh: FloatArray, hPrev: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dgx: FloatArray, dgh: FloatArray, dhPrevDirect: FloatArray,
  ): void {
    const pa = this.f(act), pg = this.f(gh), pp = this.f(hPrev), py = this.f(dy), pn = this.f(dhNext);
    const px = this.f(dgx), ph = this.f(dgh), pd = this.f(dhPrevDirect);
    if (pa < 0 || pg < 0 || pp < 0 || py < 0 || pn < 0 || px < 0 || ph < 0 || pd < 0) {
      this.jsFallbacks++;
      return this.js.gruBackward(B, H, act, gh, hPrev, dy, dhNext, dgx, dgh, dhPrevDirect);
    }
    const m = this.cellMode('gruBackward', B, H);
    const r = 4 * H;
    if (m?.parallel) this.cellOnThreads('gruBackward', B, H, [pa, pg, pp, py, pn, px, ph, pd], [3 * r, 3 * r, r, r, r, 3 * r, 3 * r, r]);
    else this.k.gruBackward(B, H, pa, pg, pp, py, pn, px, ph, pd);
    this.cellDone(m);
  }

  softmaxCrossEntropy(N: number, V: number, logits: FloatArray, targets: Int32Array, dlogits: FloatArray | null, scale: number, into: FloatArray): void {
    const pl = this.f(logits), pt = this.i(targets), pd = dlogits ? this.f(dlogits) : 0;
    if (pl < 0 || pt < 0 || pd < 0) {
      this.jsFallbacks++;
      into[0] += this.js.crossEntropy(N, V, logits, targets, dlogits, scale);
    } else into[0] += this.k.softmaxCrossEntropy(N, V, pl, pt, pd, scale);
  }

  /** A character is drawn once per sampled step over V floats: the reference's loop is as fast as a call. */
  sampleNext(V: number, logits: FloatArray, temperature: number, u: FloatArray, k: number, input: Int32Array, ids: Int32Array, logProbs: FloatArray): void {
    this.js.sampleNext(V, logits, temperature, u, k, input, ids, logProbs);
  }

  gradientNorm(n: number, g: FloatArray, clip: number, byNorm: boolean, out: FloatArray, flags: FloatArray): void {
    writeGradientNorm(this.sumSquares(n, g), clip, byNorm, out, flags);
  }

  // ---- optimizer kernels ----

  sumSquares(n: number, x: FloatArray): number {
    const px = this.f(x);
    if (px < 0) {
      this.jsFallbacks++;
      return this.js.sumSquares(n, x);
    }
    return this.k.sumSquares(n, px);
  }

  scale(n: number, x: FloatArray, s: number): void {
    const px = this.f(x);
    if (px < 0) {
      this.jsFallbacks++;
      return this.js.scale(n, x, s);
    }
    this.writes(px, x, n);
    this.k.scale(n, px, s);
  }

  clamp(n: number, x: FloatArray, lo: number, hi: number): void {
    const px = this.f(x);
    if (px < 0) {
      this.jsFallbacks++;
      return this.js.clamp(n, x, lo, hi);
    }
    this.writes(px, x, n);
    this.k.clamp(n, px, lo, hi);
  }

  /** An optimizer step wrote p: that is a parameter region, and its packed copies are now stale. */
  private stepped(pp: number, n: number): void {
    this.mm.paramsChanged(pp, 4 * n);
  }

  adam(n: number, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray,
    lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    const pp = this.f(p), pg = this.f(g), pm = this.f(m), pv = this.f(v);
    if (pp < 0 || pg < 0 || pm < 0 || pv < 0) {
      this.jsFallbacks++;
      return this.js.adam(n, p, g, m, v, lr, b1, b2, eps, bc1, bc2, wd);
    }
    this.k.adam(n, pp, pg, pm, pv, lr, b1, b2, eps, bc1, bc2, wd);
    this.stepped(pp, n);
  }

  rmsprop(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, alpha: number, eps: number, wd: number, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    const pp = this.f(p), pg = this.f(g), pv = this.f(v);
    if (pp < 0 || pg < 0 || pv < 0) {
      this.jsFallbacks++;
      return this.js.rmsprop(n, p, g, v, lr, alpha, eps, wd);
    }
    this.k.rmsprop(n, pp, pg, pv, lr, alpha, eps, wd);
    this.stepped(pp, n);
  }

  adagrad(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, eps: number, wd: number, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    const pp = this.f(p), pg = this.f(g), pv = this.f(v);
    if (pp < 0 || pg < 0 || pv < 0) {
      this.jsFallbacks++;
      return this.js.adagrad(n, p, g, v, lr, eps, wd);
    }
    this.k.adagrad(n, pp, pg, pv, lr, eps, wd);
    this.stepped(pp, n);
  }

  sgd(n: number, p: FloatArray, g: FloatArray, buf: FloatArray, lr: number, momentum: number, wd: number, first: boolean, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    const pp = this.f(p), pg = this.f(g), pb = this.f(buf);
    if (pp < 0 || pg < 0 || pb < 0) {
      this.jsFallbacks++;
      return this.js.sgd(n, p, g, buf, lr, momentum, wd, first);
    }
    this.k.sgd(n, pp, pg, pb, lr, momentum, wd, first ? 1 : 0);
    this.stepped(pp, n);
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
 * Create a WasmBackend. Platform-neutral: the platform entries (wasm-node.ts, wasm-web.ts) pass
 * the .wasm bytes and a worker spawner. Relaxed SIMD must already be enabled in the engine to validate (on
 * Node 20, wasm-node.ts sets the V8 flag); otherwise 'auto' falls back to the plain build.
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
