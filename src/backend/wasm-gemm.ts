/**
 * GEMM planning for the WebAssembly backend: which layout of B to use, the cache of packed
 * weights, and whether (and how) to split over threads. The arithmetic is in asm/gemm.ts.
 *
 * op(B) is consumed in 16-column panels. Weights (B inside a parameter region) are packed once
 * and cached until the parameters change; other B operands are packed per call into scratch, or
 * read in place when A has so few rows that packing would cost more than it saves.
 * The cache of packed weights (which memory holds the parameters, when copies go stale) is
 * weight-cache.ts, shared with the native backend.
 */
import type { KernelExports } from './wasm-abi.js';
import { PANEL } from './wasm-abi.js';
import type { WasmHeap } from './wasm-heap.js';
import type { ThreadModes } from './wasm-modes.js';
import { WeightCache } from './weight-cache.js';
import { GEMM_BY_PANELS, GEMM_CHUNKS, GEMM_M, GEMM_NP, OP_GEMM, type WorkerPool } from './wasm-pool.js';

/** Rows of op(A) up to which a non-packed B is read in place (packing would not pay off). */
const DIRECT_M = 4;
/**
 * Elements of B from which a 1-row GEMM with B in place streams B by rows: ≈ 1.7x faster than
 * reading it by panels once B is out of L2 (measured, 512 x 2048), a little slower below.
 */
const ROWS_MIN = 1 << 18;
/**
 * K from which a transposed A (read one cache line per k and row pair) is transposed into rows
 * first: the weight gradients (K = T·B) ran at 15 GFLOP/s reading it in place, 30+ from rows.
 */
const TRANSPOSE_A_MIN_K = 64;
/** Multiply-adds below which a GEMM stays on the calling thread (≈ 5 µs of work vs ≈ 1 µs handoff). */
const PARALLEL_MIN_MACS = 1 << 18;
export class WasmGemm {
  /** Weights packed once per change (weight-cache.ts), in this memory. */
  private readonly cache: WeightCache;
  private readonly scratchB = { p: 0, bytes: 0 };
  private readonly scratchA = { p: 0, bytes: 0 };
  /** Set to null by the backend's dispose(). */
  pool: WorkerPool | null;

  constructor(private readonly k: KernelExports, private readonly heap: WasmHeap, pool: WorkerPool | null, private readonly modes: ThreadModes) {
    this.pool = pool;
    this.cache = new WeightCache({ alloc: (bytes) => heap.alloc(bytes), free: (p) => heap.free(p) });
  }

  // ---- parameters (weight-cache.ts) ----

  /** Parameters may have changed; [p, p + bytes) if given is (part of) the parameters. */
  paramsChanged(p = -1, bytes = 0): void {
    this.cache.paramsChanged(p, bytes);
  }

  /** A kernel is about to write [p, p + bytes): if that overlaps the parameters, caches go stale. */
  writes(p: number, bytes: number): void {
    this.cache.writes(p, bytes);
  }

  /** [p, p + bytes) was freed: no longer parameters, and packed copies of weights there are freed. */
  released(p: number, bytes: number): void {
    this.cache.released(p, bytes);
  }

  /**
   * Byte pointer to the packed panels of op(B) for a B inside the parameters, packed now if
   * stale (for kernels that read panels themselves, as the fused LSTM steps); -1 if B is not a
   * parameter or there is no memory for the copy.
   */
  packedWeights(b: number, transB: boolean, K: number, N: number, ldb: number): number {
    const e = this.cache.weightEntry(b, transB, K, N, ldb);
    if (!e) return -1;
    if (e.gen !== this.cache.gen) {
      this.k.packB(transB ? 1 : 0, K, N, b, ldb, e.dst, 0, Math.ceil(N / PANEL));
      e.gen = this.cache.gen;
    }
    return e.dst;
  }

  /** Scratch for per-call packing: reused, regrown by doubling (the old block is freed). */
  private scratchFor(s: { p: number; bytes: number }, bytes: number): number {
    if (bytes <= s.bytes) return s.p;
    const size = Math.max(bytes, 2 * s.bytes);
    // freed first, so a scratch block at the top grows in place
    if (s.bytes > 0) this.heap.free(s.p);
    s.bytes = 0;
    const p = this.heap.alloc(size);
    if (p < 0) return -1;
    s.p = p;
    s.bytes = size;
    return p;
  }

  // ---- GEMM ----

  /** Backend.gemm with byte pointers a, b, c (shapes in types.ts). */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    a: number, lda: number, b: number, ldb: number, beta: number, c: number, ldc: number): void {
    if (M <= 0 || N <= 0) return;
    this.writes(c, 4 * ((M - 1) * ldc + N));
    const k = this.k;
    let ta = transA ? 1 : 0;
    if (K <= 0) {
      k.gemmColsNN(ta, 0, a, lda, b, ldb, beta, c, ldc, 0, M, 0, N); // C = beta C
      return;
    }
    if (transA && M > DIRECT_M && K >= TRANSPOSE_A_MIN_K) {
      // A (K, M) -> rows of op(A) (M, K); the sums keep their k order, so results do not change
      const at = this.scratchFor(this.scratchA, 4 * M * K);
      if (at >= 0) {
        k.transpose(K, M, a, lda, at, K);
        a = at;
        lda = K;
        ta = 0;
      }
    }
    const nP = Math.ceil(N / PANEL);
    // Weights: cached panels, repacked (in parallel, by the threads that use them) when stale.
    const e = this.cache.weightEntry(b, transB, K, N, ldb);
    if (e) {
      const gen = this.cache.gen;
      this.panels(ta, M, N, K, a, lda, e.dst, 64, 64 * K, nP, beta, c, ldc, e.gen !== gen, transB, b, ldb);
      e.gen = gen;
      return;
    }
    // Few rows of A: each element of B is used only M times, so read B where it is.
    const bp = M <= DIRECT_M ? -1 : this.scratchFor(this.scratchB, nP * K * 64);
    if (bp >= 0) {
      this.panels(ta, M, N, K, a, lda, bp, 64, 64 * K, nP, beta, c, ldc, true, transB, b, ldb);
    } else if (!transB && M === 1 && K * N >= ROWS_MIN) {
      // one row (batch-1 sampling) with a B beyond L2: stream B's rows, keep the C row in L1
      k.gemmRowsNN(ta, N, K, a, lda, b, ldb, beta, c, ldc, 0, 1);
    } else if (!transB) {
      // whole panels straight from B's rows (panel p at b + 64 p, k rows 4 ldb bytes apart),
      // then the last N % 16 columns
      const full = Math.floor(N / PANEL);
      if (full > 0) this.panels(ta, M, N, K, a, lda, b, 4 * ldb, 4 * PANEL, full, beta, c, ldc, false, false, b, ldb);
      if (full * PANEL < N) k.gemmColsNN(ta, K, a, lda, b, ldb, beta, c, ldc, 0, M, full * PANEL, N);
    } else {
      k.gemmDotNT(ta, K, a, lda, b, ldb, beta, c, ldc, 0, M, 0, N);
    }
  }

  /**
   * C (M, N) from nP panels at bp, panel p at bp + p bps bytes, k rows bks bytes apart
   * (packing them first from B at bsrc if `pack`, which needs the packed layout). Big enough
   * GEMMs are cut into chunks that all threads take from a shared counter: by column panels when
   * there are plenty (each thread then reads, and packs, only the panels of its chunks), else by
   * pairs of rows of C (B packed up front, by the caller).
   */
  private panels(ta: number, M: number, N: number, K: number, a: number, lda: number, bp: number, bks: number,
    bps: number, nP: number, beta: number, c: number, ldc: number, pack: boolean, transB: boolean, bsrc: number, ldb: number): void {
    const k = this.k;
    const tb = transB ? 1 : 0;
    const pool = this.pool;
    const T = pool ? pool.size + 1 : 1;
    const byPanels = nP >= 4 * T || M < 4 * T;
    // about 4 chunks per thread: enough to even out a slow thread, few enough that A (or B)
    // re-read per chunk stays cheap
    const chunks = Math.min(4 * T, byPanels ? nP : Math.ceil(M / 2));
    if (!pool || T < 2 || chunks < 2 || M * N * K < PARALLEL_MIN_MACS) {
      k.gemmTask(ta, N, K, a, lda, bp, bks, bps, beta, c, ldc, 0, M, 0, nP, pack ? 1 : 0, tb, bsrc, ldb);
      return;
    }
    // Threads or not: timed per shape (wasm-modes.ts).
    const m = this.modes.choose(`${M},${N},${K},${ta}${tb}${pack ? 1 : 0}${bks}`);
    if (!m.parallel) {
      k.gemmTask(ta, N, K, a, lda, bp, bks, bps, beta, c, ldc, 0, M, 0, nP, pack ? 1 : 0, tb, bsrc, ldb);
      this.modes.done(m);
      return;
    }
    if (!byPanels && pack) {
      k.packB(tb, K, N, bsrc, ldb, bp, 0, nP);
      pack = false;
    }
    const g = pool.args();
    g[0] = OP_GEMM;
    g[1] = ta; g[2] = N; g[3] = K; g[4] = a; g[5] = lda;
    g[6] = bp; g[7] = bks; g[8] = bps; g[9] = beta; g[10] = c; g[11] = ldc;
    g[12] = 0; g[13] = M; g[14] = 0; g[15] = nP; // per chunk, set by runGemmChunks
    g[16] = pack ? 1 : 0; g[17] = tb; g[18] = bsrc; g[19] = ldb;
    g[GEMM_M] = M; g[GEMM_NP] = nP; g[GEMM_BY_PANELS] = byPanels ? 1 : 0; g[GEMM_CHUNKS] = chunks;
    pool.run(k);
    this.modes.done(m);
  }
}
