/**
 * The native backend (Node only): the kernels of types.ts in C (native/: GEMM in packed 16-column
 * panels, fused cell steps, softmax, optimizers), compiled for AVX-512, AVX2 + FMA and plain C in
 * one binary and picked by cpuid, on a pthreads pool, over ordinary ArrayBuffers: the views the
 * model uses are the memory the C code reads and writes (native-memory.ts), so a call passes
 * pointers and nothing is copied. A call writes its op and arguments into one Float64Array and
 * makes one argument-less N-API call (native-abi.ts): tens of nanoseconds, which is what keeps
 * batch-1 sampling fast.
 *
 * Determinism: 1 thread and N threads give the same bits. GEMMs are split by whole column
 * panels, each element of C computed by the same operations whatever the split (native/gemm.h);
 * cells and elementwise kernels by rows or element ranges; the two reductions (the loss,
 * ‖g‖²) are summed from fixed pieces in a fixed order. Different code paths (isa) may differ in
 * the last bits, as the WASM plain and relaxed builds do.
 *
 * As on wasm, every view must come from this backend's alloc: an array from anywhere else is an
 * error, never read through a stale pointer. platform-node.ts loads the addon (native-node.ts).
 */
import type { Backend, Block, ClipViews, DType, FloatArray } from './types.js';
import { clipOnHost } from './host.js';
import { PointerBackend } from './pointers.js';
import { keepThreshold } from '../rng.js';
import * as A from './native-abi.js';
import { NativeMemory } from './native-memory.js';
import { WeightCache } from './weight-cache.js';
import { ThreadModes } from './wasm-modes.js';

export interface NativeBackendOptions {
  /** Threads including the caller's (default 1). */
  threads?: number;
  /** The code path (default: the best this CPU runs). Asking for one the CPU lacks throws. */
  isa?: A.IsaName;
}

/**
 * Work from which a call may be split over the threads (multiply-adds for GEMMs and steps,
 * elements for the rest): native/ops.c's own thresholds, below which it never splits. Above
 * them, whether to is timed per shape (wasm-modes.ts), as on wasm: threads pay off on a quiet
 * machine and lose on a busy one (other processes, vCPUs that share a core).
 */
const PAR_MACS = 1 << 17;
const PAR_CELL = 4096;
const PAR_ELEMS = 1 << 15;
/** Where a call's thread limit goes in the args (native/ops.h). */
const THREADS_ARG = 31;

const FOREIGN = "native: a view that is not from this backend's memory; allocate it with this backend's alloc/arena";

export class NativeBackend extends PointerBackend implements Backend {
  readonly name = 'native';
  readonly dtypes: readonly DType[] = ['float32'];
  /** The code path the kernels run. */
  readonly isa: A.IsaName;
  /** Threads the kernels run on, the caller's included (1 after dispose()). */
  threads: number;
  /** The arguments of the next call (native-abi.ts). */
  private readonly a = new Float64Array(A.ARGS);
  private readonly run: () => void;
  private readonly modes = new ThreadModes();
  // the views are ArrayBuffers the kernels read in place (native-memory.ts, pointers.ts)
  protected readonly memory: NativeMemory;
  protected readonly tracker: WeightCache;
  /** The blocks holding packed weights, by address. */
  private readonly panels = new Map<number, Block>();

  constructor(addon: A.NativeAddon, opts: NativeBackendOptions = {}) {
    super(FOREIGN);
    const best = A.ISA_NAMES[addon.bestIsa()];
    const isa = opts.isa ?? best;
    if (!(isa in A.ISA)) throw new Error(`native: isa must be one of ${A.ISA_NAMES.join(', ')} (got ${JSON.stringify(isa)})`);
    if (A.ISA[isa] > A.ISA[best]) throw new Error(`native: this CPU has no ${isa} (its best is ${best})`);
    this.isa = isa;
    this.run = addon.create(this.a, Math.max(1, Math.floor(opts.threads ?? 1)), A.ISA[isa]);
    this.threads = this.a[1];
    this.tracker = new WeightCache({
      alloc: (bytes) => {
        const b = this.memory.block(bytes);
        const p = this.memory.pointer(b.buffer, b.byteOffset);
        this.panels.set(p, b);
        return p;
      },
      free: (p) => {
        this.memory.free(this.panels.get(p)!);
        this.panels.delete(p);
      },
    });
    this.memory = new NativeMemory((b) => addon.address(b), (p, bytes) => this.tracker.released(p, bytes));
  }

  alloc(bytes: number): Block {
    return this.memory.block(bytes);
  }

  /**
   * Run the op in the args: on the calling thread, or (`key` given: the call is big enough to
   * split) on the threads if timing says that is faster for this shape.
   */
  private exec(key: string | null): void {
    const a = this.a;
    if (key === null || this.threads === 1) {
      a[THREADS_ARG] = 1;
      this.run();
      return;
    }
    const m = this.modes.choose(key);
    a[THREADS_ARG] = m.parallel ? this.threads : 1;
    this.run();
    this.modes.done(m);
  }

  /** Backend.free: the block goes back to the garbage collector, cached packed weights in it are freed. */
  free(block: Block): void {
    this.tracker.released(this.memory.free(block), block.byteLength);
  }

  /** Bytes handed out and not freed (arenas, packed weights): what the memory test watches. */
  get liveBytes(): number {
    return this.memory.liveBytes;
  }

  /** Calls split over the threads so far (the rest ran on the calling thread alone). */
  get splitCalls(): number {
    this.a[0] = A.OP_STATS;
    this.run();
    return this.a[1];
  }

  /** Packed copies of weights held. */
  get packedWeights(): number {
    return this.tracker.entries;
  }

  /**
   * Write the packed-weights pair at a[k], a[k + 1] for op(B) at b: the panels' address (0: none,
   * B is not a parameter) and whether to pack them first (stale).
   */
  private weights(k: number, b: number, transB: boolean, K: number, N: number, ldb: number): void {
    const e = this.tracker.weightEntry(b, transB, K, N, ldb);
    const a = this.a;
    a[k] = e ? e.dst : 0;
    a[k + 1] = e && e.gen !== this.tracker.gen ? 1 : 0;
    if (e) e.gen = this.tracker.gen;
  }

  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A_: FloatArray, lda: number, B: FloatArray, ldb: number,
    beta: 0 | 1, C: FloatArray, ldc: number,
  ): void {
    if (M <= 0 || N <= 0) return;
    const a = this.a, pa = this.f(A_), pb = this.f(B), pc = this.out(C, (M - 1) * ldc + N);
    a[0] = A.OP_GEMM; a[1] = transA ? 1 : 0; a[2] = transB ? 1 : 0; a[3] = M; a[4] = N; a[5] = K;
    a[6] = pa; a[7] = lda; a[8] = pb; a[9] = ldb; a[10] = beta; a[11] = pc; a[12] = ldc;
    if (K > 0) this.weights(13, pb, transB, K, N, ldb);
    else a[13] = a[14] = 0;
    this.exec(M * N * K >= PAR_MACS ? `gemm ${M} ${N} ${K} ${a[1]}${a[2]}${a[14]}` : null);
  }

  // ---- rows ----

  broadcastRows(M: number, N: number, v: FloatArray, C: FloatArray, accumulate: boolean): void {
    const a = this.a, pv = this.f(v), pc = this.out(C, M * N);
    a[0] = A.OP_BROADCAST_ROWS; a[1] = M; a[2] = N; a[3] = pv; a[4] = pc; a[5] = accumulate ? 1 : 0;
    this.exec(M * N >= PAR_ELEMS ? `broadcastRows ${M} ${N}` : null);
  }

  colSumAcc(M: number, N: number, A_: FloatArray, out: FloatArray): void {
    const a = this.a, pa = this.f(A_), po = this.out(out, N);
    a[0] = A.OP_COLSUM_ACC; a[1] = M; a[2] = N; a[3] = pa; a[4] = po;
    this.exec(null); // one thread: sums in the reference's order
  }

  gatherRows(n: number, idx: Int32Array, table: FloatArray, cols: number, out: FloatArray, accumulate: boolean): void {
    const a = this.a, pi = this.i(idx), pt = this.f(table), po = this.out(out, n * cols);
    a[0] = A.OP_GATHER_ROWS; a[1] = n; a[2] = pi; a[3] = pt; a[4] = cols; a[5] = po; a[6] = accumulate ? 1 : 0;
    this.exec(null); // one thread: sums in the reference's order
  }

  scatterAddRows(n: number, idx: Int32Array, src: FloatArray, cols: number, table: FloatArray): void {
    const a = this.a, pi = this.i(idx), ps = this.f(src), pt = this.out(table, table.length);
    a[0] = A.OP_SCATTER_ADD_ROWS; a[1] = n; a[2] = pi; a[3] = ps; a[4] = cols; a[5] = pt;
    this.exec(null); // one thread: sums in the reference's order
  }

  mul(n: number, x: FloatArray, m: FloatArray): void {
    const a = this.a, px = this.out(x, n), pm = this.f(m);
    a[0] = A.OP_MUL; a[1] = n; a[2] = px; a[3] = pm;
    this.exec(n >= PAR_ELEMS ? `mul ${n}` : null);
  }

  dropoutMask(n: number, mask: FloatArray, keep: number, key: number): void {
    const a = this.a, pm = this.out(mask, n);
    a[0] = A.OP_DROPOUT_MASK; a[1] = n; a[2] = pm; a[3] = key >>> 0; a[4] = keepThreshold(keep); a[5] = 1 / keep;
    this.exec(n >= PAR_ELEMS ? `dropoutMask ${n}` : null);
  }

  // ---- recurrent cells ----

  /** A cell op: B, H and its pointers (at most 8). */
  private cell(op: number, B: number, H: number, p0: number, p1: number, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0): void {
    const a = this.a;
    a[0] = op; a[1] = B; a[2] = H; a[3] = p0; a[4] = p1; a[5] = p2; a[6] = p3; a[7] = p4; a[8] = p5; a[9] = p6; a[10] = p7;
    this.exec(B * H >= PAR_CELL ? `${op} ${B} ${H}` : null);
  }

  rnnForward(B: number, H: number, pre: FloatArray, h: FloatArray): void {
    this.cell(A.OP_RNN_FORWARD, B, H, this.f(pre), this.f(h));
  }

  rnnBackward(B: number, H: number, h: FloatArray, dy: FloatArray, dhNext: FloatArray, dpre: FloatArray): void {
    this.cell(A.OP_RNN_BACKWARD, B, H, this.f(h), this.f(dy), this.f(dhNext), this.f(dpre));
  }

  lstmForward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    this.cell(A.OP_LSTM_FORWARD, B, H, this.f(gates), this.f(cPrev), this.f(c), this.f(h));
  }

  lstmBackward(
    B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    this.cell(A.OP_LSTM_BACKWARD, B, H, this.f(gates), this.f(cPrev), this.f(c), this.f(dy), this.f(dhNext), this.f(dc), this.f(dgates));
  }

  gruForward(B: number, H: number, gx: FloatArray, gh: FloatArray, hPrev: FloatArray, act: FloatArray, h: FloatArray): void {
    this.cell(A.OP_GRU_FORWARD, B, H, this.f(gx), this.f(gh), this.f(hPrev), this.f(act), this.f(h));
  }

  gruBackward(
    B: number, H: number, act: FloatArray, gh: FloatArray, hPrev: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dgx: FloatArray, dgh: FloatArray, dhPrevDirect: FloatArray,
  ): void {
    this.cell(A.OP_GRU_BACKWARD, B, H, this.f(act), this.f(gh), this.f(hPrev), this.f(dy), this.f(dhNext), this.f(dgx), this.f(dgh), this.f(dhPrevDirect));
  }

  // The whole steps run as one call each: the recurrent GEMM (on W_hh's packed panels when it
  // is a parameter) then the cell, exactly the calls of compose.ts.

  /** a[1..6] of a step op: B, H, the carried operand (0 for none), W_hh, and its panels for op(W_hh) (K, N). */
  private step(op: number, B: number, H: number, x: FloatArray | null, whh: FloatArray, transB: boolean, K: number, N: number): void {
    const a = this.a, pw = this.f(whh);
    a[0] = op; a[1] = B; a[2] = H; a[3] = x ? this.f(x) : 0; a[4] = pw;
    // no carried operand, no GEMM: the panels are neither used nor packed (so not marked fresh)
    if (x) this.weights(5, pw, transB, K, N, transB ? K : N);
    else a[5] = a[6] = 0;
  }

  lstmStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    const pg = this.f(gates), pcp = this.f(cPrev), pc = this.f(c), ph = this.f(h);
    this.step(A.OP_LSTM_STEP, B, H, hPrev, whh, false, H, 4 * H);
    const a = this.a;
    a[7] = pg; a[8] = pcp; a[9] = pc; a[10] = ph;
    this.exec(B * H * H >= PAR_MACS / 4 || B * H >= PAR_CELL ? `${this.a[0]} ${B} ${H} ${this.a[3] ? 1 : 0}` : null);
  }

  lstmStepBackward(
    B: number, H: number, dgatesNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    const p = [this.f(dh), this.f(gates), this.f(cPrev), this.f(c), this.f(dy), this.f(dc), this.f(dgates)];
    this.step(A.OP_LSTM_STEP_BACKWARD, B, H, dgatesNext, whh, true, 4 * H, H);
    this.a.set(p, 7);
    this.exec(B * H * H >= PAR_MACS / 4 || B * H >= PAR_CELL ? `${this.a[0]} ${B} ${H} ${this.a[3] ? 1 : 0}` : null);
  }

  rnnStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, pre: FloatArray, h: FloatArray): void {
    const pp = this.f(pre), ph = this.f(h);
    this.step(A.OP_RNN_STEP, B, H, hPrev, whh, false, H, H);
    this.a[7] = pp; this.a[8] = ph;
    this.exec(B * H * H >= PAR_MACS / 4 || B * H >= PAR_CELL ? `${this.a[0]} ${B} ${H} ${this.a[3] ? 1 : 0}` : null);
  }

  rnnStepBackward(B: number, H: number, dpreNext: FloatArray | null, whh: FloatArray, dh: FloatArray, h: FloatArray, dy: FloatArray, dpre: FloatArray): void {
    const p = [this.f(dh), this.f(h), this.f(dy), this.f(dpre)];
    this.step(A.OP_RNN_STEP_BACKWARD, B, H, dpreNext, whh, true, H, H);
    this.a.set(p, 7);
    this.exec(B * H * H >= PAR_MACS / 4 || B * H >= PAR_CELL ? `${this.a[0]} ${B} ${H} ${this.a[3] ? 1 : 0}` : null);
  }

  gruStep(B: number, H: number, gx: FloatArray, hPrev: FloatArray, whh: FloatArray, bhh: FloatArray, gh: FloatArray, act: FloatArray, h: FloatArray): void {
    const p = [this.f(bhh), this.f(gh), this.f(act), this.f(h)];
    const pgx = this.f(gx);
    this.step(A.OP_GRU_STEP, B, H, hPrev, whh, false, H, 3 * H);
    // this op's layout: gx, hPrev, whh, packed, pack, bhh, gh, act, h from a[3]
    const a = this.a;
    a[7] = a[6]; a[6] = a[5]; a[5] = a[4]; a[4] = a[3]; a[3] = pgx;
    a.set(p, 8);
    this.exec(B * H * H >= PAR_MACS / 4 || B * H >= PAR_CELL ? `${this.a[0]} ${B} ${H} ${this.a[3] ? 1 : 0}` : null);
  }

  gruStepBackward(B: number, H: number, dghNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dgx: FloatArray, dgh: FloatArray): void {
    const p = [this.f(dh), this.f(act), this.f(gh), this.f(hPrev), this.f(dy), this.f(dgx), this.f(dgh)];
    this.step(A.OP_GRU_STEP_BACKWARD, B, H, dghNext, whh, true, 3 * H, H);
    this.a.set(p, 7);
    this.exec(B * H * H >= PAR_MACS / 4 || B * H >= PAR_CELL ? `${this.a[0]} ${B} ${H} ${this.a[3] ? 1 : 0}` : null);
  }

  softmaxCrossEntropy(N: number, V: number, logits: FloatArray, targets: Int32Array, dlogits: FloatArray | null, scale: number, into: FloatArray): void {
    this.f(into); // added to on the host, but a view of this memory as on a device
    const a = this.a, pl = this.f(logits), pt = this.i(targets), pd = dlogits ? this.out(dlogits, N * V) : 0;
    a[0] = A.OP_SOFTMAX_XENT; a[1] = N; a[2] = V; a[3] = pl; a[4] = pt; a[5] = pd; a[6] = scale;
    this.exec(N * V >= PAR_ELEMS ? `softmax ${N} ${V}` : null);
    into[0] += a[1];
  }

  // ---- optimizer kernels ----

  /** sum_i x[i]^2 for i < n, in float64 (gradientNorm's; not a Backend kernel). */
  sumSquares(n: number, x: FloatArray): number {
    const a = this.a, px = this.f(x);
    a[0] = A.OP_SUM_SQUARES; a[1] = n; a[2] = px;
    this.exec(n >= PAR_ELEMS ? `sumSquares ${n}` : null);
    return a[1];
  }

  scale(n: number, x: FloatArray, s: number): void {
    const a = this.a, px = this.out(x, n);
    a[0] = A.OP_SCALE; a[1] = n; a[2] = px; a[3] = s;
    this.exec(n >= PAR_ELEMS ? `scale ${n}` : null);
  }

  clamp(n: number, x: FloatArray, lo: number, hi: number): void {
    const a = this.a, px = this.out(x, n);
    a[0] = A.OP_CLAMP; a[1] = n; a[2] = px; a[3] = lo; a[4] = hi;
    this.exec(n >= PAR_ELEMS ? `clamp ${n}` : null);
  }

  emaUpdate(n: number, avg: FloatArray, x: FloatArray, decay: number, skip?: FloatArray): void {
    if (skip && !Number.isFinite(skip[0])) return;
    const a = this.a, pa = this.out(avg, n), px = this.f(x);
    a[0] = A.OP_EMA; a[1] = n; a[2] = pa; a[3] = px; a[4] = decay;
    this.exec(n >= PAR_ELEMS ? `ema ${n}` : null);
  }

  /** An optimizer op: n, its four pointers, then its hyperparameters from a[6] (a[5] for three pointers). */
  private optim(op: number, n: number, ptrs: number[], hyper: number[]): void {
    const a = this.a;
    a[0] = op; a[1] = n;
    a.set(ptrs, 2);
    a.set(hyper, 2 + ptrs.length);
    this.exec(n >= PAR_ELEMS ? `${op} ${n}` : null);
  }

  adam(n: number, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray,
    lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.optim(A.OP_ADAM, n, [this.param(p, n), this.f(g), this.f(m), this.f(v)], [lr, b1, b2, eps, bc1, bc2, wd]);
  }

  rmsprop(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, alpha: number, eps: number, wd: number, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.optim(A.OP_RMSPROP, n, [this.param(p, n), this.f(g), this.f(v)], [lr, alpha, eps, wd]);
  }

  adagrad(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, eps: number, wd: number, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.optim(A.OP_ADAGRAD, n, [this.param(p, n), this.f(g), this.f(v)], [lr, eps, wd]);
  }

  sgd(n: number, p: FloatArray, g: FloatArray, buf: FloatArray, lr: number, momentum: number, wd: number, first: boolean, clip?: ClipViews): void {
    if (clipOnHost(this, n, g, clip)) this.optim(A.OP_SGD, n, [this.param(p, n), this.f(g), this.f(buf)], [lr, momentum, wd, first ? 1 : 0]);
  }

  // ---- lifecycle ----

  /** Stop the worker threads. Kernels keep working, on the calling thread. */
  dispose(): void {
    this.a[0] = A.OP_STOP_THREADS;
    this.run();
    this.threads = 1;
  }
}
