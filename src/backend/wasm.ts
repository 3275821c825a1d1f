/**
 * The WebAssembly SIMD backend: the kernels of asm/ (f32x4, register-tiled GEMM, fused cell
 * steps) running on one WebAssembly.Memory that also holds the model's arenas, so a kernel call
 * passes only pointers (`view.byteOffset`) and nothing is copied between JS and WASM.
 *
 * Memory: a bump allocator over a shared memory. Shared memory grows in place, so views made
 * earlier stay valid (a non-shared ArrayBuffer would be detached by grow()). The first 64 KiB
 * are left to the compiler's static data. Nothing is ever freed: a backend holds one model's
 * arenas plus its own scratch and packed-weight buffers.
 *
 * GEMM: op(B) is consumed in 16-column panels (see asm/gemm.ts). Weights (B inside a parameter
 * region) are packed once and cached until the parameters change; other B operands are packed
 * per call, or read in place when A has so few rows that packing would cost more than it saves.
 * Big GEMMs are split over worker threads (wasm-pool.ts) by column panels or by rows of C.
 *
 * Platform-neutral: no fs, no worker_threads here. wasm-node.ts supplies the .wasm bytes and a
 * worker spawner for Node.
 */
import type { Backend, Block, DType, FloatArray } from './types.js';
import { JsBackend } from './js.js';
import { instantiateKernels, PANEL, RESERVED_BYTES, TOKEN_BYTES, TOKEN_OFFSET, type KernelExports } from './wasm-abi.js';
import { GEMM_BY_PANELS, GEMM_CHUNKS, GEMM_M, GEMM_NP, OP_GEMM, WorkerPool, type SpawnWorker } from './wasm-pool.js';
import { unshareMemoryImport } from './wasm-unshare.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, as the modules declare
/** Rows of op(A) up to which a non-packed B is read in place (packing would not pay off). */
const DIRECT_M = 4;
/** Multiply-adds below which a GEMM stays on the calling thread (≈ 5 µs of work vs ≈ 1 µs handoff). */
const PARALLEL_MIN_MACS = 1 << 18;
/** A shape runs the mode that currently looks slower once every EXPLORE_EVERY calls (a power of 2). */
const EXPLORE_EVERY = 32;
/** Timings of each mode (the first one dropped) before a shape's mode is chosen by speed. */
const WARM = 3;
/** Weight of a new timing in the smoothed per-shape times. */
const EMA = 0.25;

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
  /** The compiled modules; default: fetched from build/ next to this package (browsers/bundlers). */
  wasmBytes?: WasmBytes;
  /** Start one worker thread (platform hook, see wasm-node.ts). Without it the backend is single-threaded. */
  spawnWorker?: SpawnWorker;
  /**
   * Only without SharedArrayBuffer (e.g. a page that is not cross-origin isolated), where growing
   * the memory would detach every view: bytes to reserve at the first allocation (default: twice
   * that allocation + 16 MiB, room for packed weights). Allocations beyond it throw.
   */
  memoryBytes?: number;
}

/** A cached packed copy of a weight matrix op(B) (K, N): ceil(N / 16) panels of K x 16 floats. */
interface PackedB {
  transB: boolean;
  K: number;
  N: number;
  ldb: number;
  dst: number;
  /** Value of WasmBackend.gen when packed; stale when different. */
  gen: number;
}

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  readonly dtypes: readonly DType[] = ['float32'];
  /** Calls that got arrays outside this backend's memory and ran on the JS reference instead. */
  jsFallbacks = 0;

  /**
   * Buffer objects known to be this memory. V8 hands out a new SharedArrayBuffer object for the
   * same memory after grow() and at other times too, so identity alone cannot tell ours from
   * foreign: an unknown buffer is ours if it carries this backend's random token (see ours()).
   */
  private readonly known = new WeakSet<ArrayBufferLike>();
  private lastBuffer: ArrayBufferLike;
  private readonly token: Uint32Array;
  private top = RESERVED_BYTES;
  private handedOut = false;
  private reserved: number;
  /** Parameter regions [start, end) in bytes, flat pairs: learned from weightsChanged(params) and the optimizers. */
  private readonly params: number[] = [];
  /** Bumped whenever parameters may have changed; packed copies from older generations are stale. */
  private gen = 0;
  private readonly packed = new Map<number, PackedB[]>();
  private scratch = 0;
  private scratchBytes = 0;
  private readonly js = new JsBackend();
  /** Per GEMM shape: smoothed ms per call on one thread and on all, to pick the faster. */
  private readonly tuning = new Map<string, { serial: number; parallel: number; ns: number; np: number; calls: number }>();

  constructor(
    private readonly k: KernelExports,
    private readonly memory: WebAssembly.Memory,
    /** Shared memory: it can grow without detaching views, and threads can use it. */
    readonly shared: boolean,
    private pool: WorkerPool | null,
    /** Running the relaxed-SIMD (FMA) build. */
    readonly relaxed: boolean,
    memoryBytes = 0,
  ) {
    this.lastBuffer = memory.buffer;
    this.known.add(this.lastBuffer);
    this.token = Uint32Array.from({ length: TOKEN_BYTES / 4 }, () => Math.floor(Math.random() * 2 ** 32));
    new Uint32Array(memory.buffer, TOKEN_OFFSET, TOKEN_BYTES / 4).set(this.token);
    this.reserved = memoryBytes;
  }

  /** GEMMs run on several threads, and how often a worker actually joined one. */
  get poolStats(): { jobs: number; helped: number } {
    return this.pool?.stats ?? { jobs: 0, helped: 0 };
  }

  /** Threads that run GEMMs, the caller included. */
  get threads(): number {
    return 1 + (this.pool?.size ?? 0);
  }

  // ---- memory ----

  alloc(bytes: number): Block {
    const p = this.bump(bytes, true);
    if (p < 0) {
      throw new RangeError(`wasm backend: out of memory for ${bytes} bytes (without SharedArrayBuffer the memory ` +
        'cannot grow once views exist; pass a larger memoryBytes)');
    }
    this.handedOut = true;
    const buffer = this.memory.buffer;
    this.known.add(buffer);
    this.lastBuffer = buffer;
    return { buffer, byteOffset: p, byteLength: Math.ceil(bytes / 64) * 64 };
  }

  /** 64-byte aligned bump allocation; -1 if the memory may not grow (non-shared, views exist). */
  private bump(bytes: number, forUser: boolean): number {
    const size = Math.max(64, Math.ceil(bytes / 64) * 64);
    const p = this.top;
    const end = p + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      let want = end;
      if (!this.shared) {
        if (this.handedOut) return -1;
        // The only growth this memory gets: leave room for what comes after the first arena.
        if (forUser) want = Math.max(end, this.reserved, 2 * end + (16 << 20));
      }
      // Grow in steps of at least 1 MiB: each grow() makes a new buffer object to track.
      const pages = Math.max(Math.ceil((want - have) / PAGE), 16);
      if (have / PAGE + pages > MAX_PAGES) {
        if (end / PAGE > MAX_PAGES) return -1;
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } else {
        this.memory.grow(pages);
      }
    }
    this.top = end;
    return p;
  }

  /** Scratch for per-call packing: reused, regrown by doubling (the old block is not reclaimed). */
  private scratchFor(bytes: number): number {
    if (bytes <= this.scratchBytes) return this.scratch;
    const size = Math.max(bytes, 2 * this.scratchBytes);
    const p = this.bump(size, false);
    if (p < 0) return -1;
    this.scratch = p;
    this.scratchBytes = size;
    return p;
  }

  /** Byte pointer of a float32 view on this memory, or -1 (then the call runs on the JS reference). */
  private f(x: FloatArray): number {
    return x instanceof Float32Array && this.ours(x.buffer) ? x.byteOffset : -1;
  }

  private i(x: Int32Array): number {
    return this.ours(x.buffer) ? x.byteOffset : -1;
  }

  /** Is b (an object for) this backend's memory? Cheap for buffers seen before. */
  private ours(b: ArrayBufferLike): boolean {
    if (b === this.lastBuffer) return true;
    if (!this.known.has(b)) {
      // Same memory iff the token is there: a foreign buffer holds our 128 random bits by chance
      // with probability 2^-128. Only the first sight of each buffer object costs this.
      if (b.byteLength < TOKEN_OFFSET + TOKEN_BYTES) return false;
      const t = new Uint32Array(b, TOKEN_OFFSET, TOKEN_BYTES / 4);
      for (let j = 0; j < t.length; j++) if (t[j] !== this.token[j]) return false;
      this.known.add(b);
    }
    this.lastBuffer = b;
    return true;
  }

  // ---- parameters and the packed-weight cache ----

  /**
   * Parameters changed: packed copies are stale. `params` (optional, beyond the Backend
   * interface) marks the region holding the parameters, so GEMMs with B inside it use cached
   * packed panels from the first call on (otherwise learned at the first optimizer step).
   */
  weightsChanged(params?: FloatArray): void {
    this.gen++;
    if (params) {
      const p = this.f(params);
      if (p >= 0) this.addParams(p, params.byteLength);
    }
  }

  private addParams(start: number, bytes: number): void {
    const end = start + bytes;
    const r = this.params;
    for (let i = 0; i < r.length; i += 2) {
      if (start >= r[i] && end <= r[i + 1]) return;
      if (start <= r[i + 1] && end >= r[i]) {
        // overlapping or adjacent: merge and re-add
        const s = Math.min(start, r[i]);
        const e = Math.max(end, r[i + 1]);
        r.splice(i, 2);
        this.addParams(s, e - s);
        return;
      }
    }
    r.push(start, end);
  }

  private inParams(start: number, bytes: number): boolean {
    const r = this.params;
    for (let i = 0; i < r.length; i += 2) if (start >= r[i] && start + bytes <= r[i + 1]) return true;
    return false;
  }

  /** A kernel is about to write [p, p + bytes): if that overlaps the parameters, caches go stale. */
  private writes(p: number, bytes: number): void {
    const r = this.params;
    for (let i = 0; i < r.length; i += 2) {
      if (p < r[i + 1] && p + bytes > r[i]) {
        this.gen++;
        return;
      }
    }
  }

  private packedFor(b: number, transB: boolean, K: number, N: number, ldb: number): PackedB | null {
    let list = this.packed.get(b);
    if (!list) this.packed.set(b, (list = []));
    for (const e of list) if (e.transB === transB && e.K === K && e.N === N && e.ldb === ldb) return e;
    const dst = this.bump(Math.ceil(N / PANEL) * K * 64, false);
    if (dst < 0) return null;
    const e: PackedB = { transB, K, N, ldb, dst, gen: this.gen - 1 };
    list.push(e);
    return e;
  }

  // ---- GEMM ----

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
    if (M <= 0 || N <= 0) return;
    this.writes(c, C.byteLength);
    const k = this.k;
    const ta = transA ? 1 : 0;
    if (K <= 0) {
      if (beta === 0) for (let i = 0; i < M; i++) C.fill(0, i * ldc, i * ldc + N);
      return;
    }
    const nP = Math.ceil(N / PANEL);
    // Weights: cached panels, repacked (in parallel, by the threads that use them) when stale.
    const bBytes = 4 * (transB ? (N - 1) * ldb + K : (K - 1) * ldb + N);
    if (this.params.length && this.inParams(b, bBytes)) {
      const e = this.packedFor(b, transB, K, N, ldb);
      if (e) {
        const gen = this.gen;
        this.panels(ta, M, N, K, a, lda, e.dst, beta, c, ldc, nP, e.gen !== gen, transB, b, ldb);
        e.gen = gen;
        return;
      }
    }
    if (M <= DIRECT_M) {
      // Few rows of A: read B where it is; each element of B is used M times only.
      if (!transB) {
        const full = Math.floor(N / PANEL);
        if (full > 0) k.gemmPanels(ta, N, K, a, lda, b, 4 * ldb, 4 * PANEL, beta, c, ldc, 0, M, 0, full);
        if (full * PANEL < N) k.gemmColsNN(ta, K, a, lda, b, ldb, beta, c, ldc, 0, M, full * PANEL, N);
      } else {
        k.gemmDotNT(ta, K, a, lda, b, ldb, beta, c, ldc, 0, M, 0, N);
      }
      return;
    }
    const bp = this.scratchFor(nP * K * 64);
    if (bp >= 0) {
      this.panels(ta, M, N, K, a, lda, bp, beta, c, ldc, nP, true, transB, b, ldb);
    } else if (!transB) {
      // no room to pack (non-shared memory): in place, slower but correct
      const full = Math.floor(N / PANEL);
      if (full > 0) k.gemmPanels(ta, N, K, a, lda, b, 4 * ldb, 4 * PANEL, beta, c, ldc, 0, M, 0, full);
      if (full * PANEL < N) k.gemmColsNN(ta, K, a, lda, b, ldb, beta, c, ldc, 0, M, full * PANEL, N);
    } else {
      k.gemmDotNT(ta, K, a, lda, b, ldb, beta, c, ldc, 0, M, 0, N);
    }
  }

  /**
   * C (M, N) from nP panels at bp (packing them first from B at bsrc if `pack`). Big enough
   * GEMMs are cut into chunks that all threads take from a shared counter: by column panels when
   * there are plenty (each thread then reads, and packs, only the panels of its chunks), else by
   * pairs of rows of C (B packed up front, by the caller).
   */
  private panels(ta: number, M: number, N: number, K: number, a: number, lda: number, bp: number,
    beta: number, c: number, ldc: number, nP: number, pack: boolean, transB: boolean, bsrc: number, ldb: number): void {
    const k = this.k;
    const tb = transB ? 1 : 0;
    const bps = K * 64;
    const pool = this.pool;
    const T = pool ? pool.size + 1 : 1;
    const byPanels = nP >= 4 * T || M < 4 * T;
    // about 4 chunks per thread: enough to even out a slow thread, few enough that A (or B)
    // re-read per chunk stays cheap
    const chunks = Math.min(4 * T, byPanels ? nP : Math.ceil(M / 2));
    if (!pool || T < 2 || chunks < 2 || M * N * K < PARALLEL_MIN_MACS) {
      k.gemmTask(ta, N, K, a, lda, bp, 64, bps, beta, c, ldc, 0, M, 0, nP, pack ? 1 : 0, tb, bsrc, ldb);
      return;
    }
    // Threads pay off on a quiet machine (≈ 1.85x with 2) but lose on an oversubscribed one
    // (other processes, or vCPUs that share a physical core): time both, per shape, and use
    // the faster, re-trying the other now and then because the machine's load changes.
    const key = `${M},${N},${K},${ta}${tb}${pack ? 1 : 0}`;
    let tune = this.tuning.get(key);
    if (!tune) this.tuning.set(key, (tune = { serial: 0, parallel: 0, ns: 0, np: 0, calls: 0 }));
    const calls = tune.calls++;
    const parallel = tune.ns < WARM || tune.np < WARM
      ? (calls & 1) === 1 // alternate until both have a few timings
      : (tune.parallel < tune.serial) !== ((calls & (EXPLORE_EVERY - 1)) === 0);
    const t0 = performance.now();
    if (!parallel) {
      k.gemmTask(ta, N, K, a, lda, bp, 64, bps, beta, c, ldc, 0, M, 0, nP, pack ? 1 : 0, tb, bsrc, ldb);
      const dt = performance.now() - t0;
      // the first timing (tier-up, first touch) is not kept
      tune.serial = tune.ns++ <= 1 ? dt : tune.serial + EMA * (dt - tune.serial);
      return;
    }
    if (!byPanels && pack) {
      k.packB(tb, K, N, bsrc, ldb, bp, 0, nP);
      pack = false;
    }
    const g = pool.args();
    g[0] = OP_GEMM;
    g[1] = ta; g[2] = N; g[3] = K; g[4] = a; g[5] = lda;
    g[6] = bp; g[7] = 64; g[8] = bps; g[9] = beta; g[10] = c; g[11] = ldc;
    g[12] = 0; g[13] = M; g[14] = 0; g[15] = nP; // per chunk, set by runGemmChunks
    g[16] = pack ? 1 : 0; g[17] = tb; g[18] = bsrc; g[19] = ldb;
    g[GEMM_M] = M; g[GEMM_NP] = nP; g[GEMM_BY_PANELS] = byPanels ? 1 : 0; g[GEMM_CHUNKS] = chunks;
    pool.run(k);
    const dt = performance.now() - t0;
    tune.parallel = tune.np++ <= 1 ? dt : tune.parallel + EMA * (dt - tune.parallel);
  }

  // ---- rows ----

  broadcastRows(M: number, N: number, v: FloatArray, C: FloatArray, accumulate: boolean): void {
    const pv = this.f(v), pc = this.f(C);
    if (pv < 0 || pc < 0) {
      this.jsFallbacks++;
      return this.js.broadcastRows(M, N, v, C, accumulate);
    }
    this.writes(pc, C.byteLength);
    this.k.broadcastRows(M, N, pv, pc, accumulate ? 1 : 0);
  }

  colSumAcc(M: number, N: number, A: FloatArray, out: FloatArray): void {
    const pa = this.f(A), po = this.f(out);
    if (pa < 0 || po < 0) {
      this.jsFallbacks++;
      return this.js.colSumAcc(M, N, A, out);
    }
    this.writes(po, out.byteLength);
    this.k.colSumAcc(M, N, pa, po);
  }

  gatherRows(n: number, idx: Int32Array, table: FloatArray, cols: number, out: FloatArray, accumulate: boolean): void {
    const pi = this.i(idx), pt = this.f(table), po = this.f(out);
    if (pi < 0 || pt < 0 || po < 0) {
      this.jsFallbacks++;
      return this.js.gatherRows(n, idx, table, cols, out, accumulate);
    }
    this.writes(po, out.byteLength);
    this.k.gatherRows(n, pi, pt, cols, po, accumulate ? 1 : 0);
  }

  scatterAddRows(n: number, idx: Int32Array, src: FloatArray, cols: number, table: FloatArray): void {
    const pi = this.i(idx), ps = this.f(src), pt = this.f(table);
    if (pi < 0 || ps < 0 || pt < 0) {
      this.jsFallbacks++;
      return this.js.scatterAddRows(n, idx, src, cols, table);
    }
    this.writes(pt, table.byteLength);
    this.k.scatterAddRows(n, pi, ps, cols, pt);
  }

  mul(n: number, x: FloatArray, m: FloatArray): void {
    const px = this.f(x), pm = this.f(m);
    if (px < 0 || pm < 0) {
      this.jsFallbacks++;
      return this.js.mul(n, x, m);
    }
    this.writes(px, x.byteLength);
    this.k.mul(n, px, pm);
  }

  // ---- recurrent cells ----

  rnnForward(B: number, H: number, pre: FloatArray, h: FloatArray): void {
    const pp = this.f(pre), ph = this.f(h);
    if (pp < 0 || ph < 0) {
      this.jsFallbacks++;
      return this.js.rnnForward(B, H, pre, h);
    }
    this.k.rnnForward(B, H, pp, ph);
  }

  rnnBackward(B: number, H: number, h: FloatArray, dy: FloatArray, dhNext: FloatArray, dpre: FloatArray): void {
    const ph = this.f(h), py = this.f(dy), pn = this.f(dhNext), pd = this.f(dpre);
    if (ph < 0 || py < 0 || pn < 0 || pd < 0) {
      this.jsFallbacks++;
      return this.js.rnnBackward(B, H, h, dy, dhNext, dpre);
    }
    this.k.rnnBackward(B, H, ph, py, pn, pd);
  }

  lstmForward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    const pg = this.f(gates), pp = this.f(cPrev), pc = this.f(c), ph = this.f(h);
    if (pg < 0 || pp < 0 || pc < 0 || ph < 0) {
      this.jsFallbacks++;
      return this.js.lstmForward(B, H, gates, cPrev, c, h);
    }
    this.k.lstmForward(B, H, pg, pp, pc, ph);
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
    this.k.lstmBackward(B, H, pg, pp, pc, py, pn, pdc, pdg);
  }

  gruForward(B: number, H: number, gx: FloatArray, gh: FloatArray, hPrev: FloatArray, act: FloatArray, h: FloatArray): void {
    const px = this.f(gx), pg = this.f(gh), pp = this.f(hPrev), pa = this.f(act), ph = this.f(h);
    if (px < 0 || pg < 0 || pp < 0 || pa < 0 || ph < 0) {
      this.jsFallbacks++;
      return this.js.gruForward(B, H, gx, gh, hPrev, act, h);
    }
    this.k.gruForward(B, H, px, pg, pp, pa, ph);
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
    this.k.gruBackward(B, H, pa, pg, pp, py, pn, px, ph, pd);
  }

  softmaxCrossEntropy(N: number, V: number, logits: FloatArray, targets: Int32Array, dlogits: FloatArray | null, scale: number): number {
    const pl = this.f(logits), pt = this.i(targets), pd = dlogits ? this.f(dlogits) : 0;
    if (pl < 0 || pt < 0 || pd < 0) {
      this.jsFallbacks++;
      return this.js.softmaxCrossEntropy(N, V, logits, targets, dlogits, scale);
    }
    return this.k.softmaxCrossEntropy(N, V, pl, pt, pd, scale);
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
    this.writes(px, 4 * n);
    this.k.scale(n, px, s);
  }

  clamp(n: number, x: FloatArray, lo: number, hi: number): void {
    const px = this.f(x);
    if (px < 0) {
      this.jsFallbacks++;
      return this.js.clamp(n, x, lo, hi);
    }
    this.writes(px, 4 * n);
    this.k.clamp(n, px, lo, hi);
  }

  /** An optimizer step writes p: that is a parameter region, and its packed copies are now stale. */
  private stepped(pp: number, n: number): void {
    this.addParams(pp, 4 * n);
    this.gen++;
  }

  adam(n: number, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray,
    lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number): void {
    const pp = this.f(p), pg = this.f(g), pm = this.f(m), pv = this.f(v);
    if (pp < 0 || pg < 0 || pm < 0 || pv < 0) {
      this.jsFallbacks++;
      return this.js.adam(n, p, g, m, v, lr, b1, b2, eps, bc1, bc2, wd);
    }
    this.k.adam(n, pp, pg, pm, pv, lr, b1, b2, eps, bc1, bc2, wd);
    this.stepped(pp, n);
  }

  rmsprop(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, alpha: number, eps: number, wd: number): void {
    const pp = this.f(p), pg = this.f(g), pv = this.f(v);
    if (pp < 0 || pg < 0 || pv < 0) {
      this.jsFallbacks++;
      return this.js.rmsprop(n, p, g, v, lr, alpha, eps, wd);
    }
    this.k.rmsprop(n, pp, pg, pv, lr, alpha, eps, wd);
    this.stepped(pp, n);
  }

  adagrad(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, eps: number, wd: number): void {
    const pp = this.f(p), pg = this.f(g), pv = this.f(v);
    if (pp < 0 || pg < 0 || pv < 0) {
      this.jsFallbacks++;
      return this.js.adagrad(n, p, g, v, lr, eps, wd);
    }
    this.k.adagrad(n, pp, pg, pv, lr, eps, wd);
    this.stepped(pp, n);
  }

  sgd(n: number, p: FloatArray, g: FloatArray, buf: FloatArray, lr: number, momentum: number, wd: number, first: boolean): void {
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

async function defaultWasmBytes(): Promise<WasmBytes> {
  // compiled file: dist/src/backend/wasm.js -> <package>/build/
  const load = async (name: string): Promise<ArrayBuffer> => {
    const res = await fetch(new URL(`../../../build/${name}`, import.meta.url));
    if (!res.ok) throw new Error(`cannot load ${name}: HTTP ${res.status}`);
    return res.arrayBuffer();
  };
  const [plain, relaxed] = await Promise.all([load('kernels.wasm'), load('kernels-relaxed.wasm').catch(() => undefined)]);
  return { plain, relaxed };
}

/**
 * Create a WasmBackend. Platform-neutral: the Node entry (wasm-node.ts) passes the .wasm bytes
 * and a worker spawner. Relaxed SIMD must already be enabled in the engine to validate (on
 * Node 20, wasm-node.ts sets the V8 flag); otherwise 'auto' falls back to the plain build.
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const bytes = opts.wasmBytes ?? (await defaultWasmBytes());
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
