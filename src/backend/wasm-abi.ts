/**
 * The exports of build/kernels*.wasm (compiled from asm/). All pointers are byte offsets into
 * the shared WebAssembly memory; booleans are passed as 0/1. Shapes are documented at each
 * kernel in asm/ and in types.ts.
 */
export interface KernelExports {
  /** End of the compiler's static data; the host keeps [0, RESERVED_BYTES) for it. */
  heapBase(): number;

  /** C rows [i0, i1) x panels [p0, p1) of op(A) @ panels(B). bks: bytes per k step in a panel, bps: bytes per panel. */
  gemmPanels(transA: number, N: number, K: number, A: number, lda: number,
    Bp: number, bks: number, bps: number, beta: number, C: number, ldc: number,
    i0: number, i1: number, p0: number, p1: number): void;
  /** gemmPanels, optionally preceded by packing panels [p0, p1) of op(B) into Bp (the worker job). */
  gemmTask(transA: number, N: number, K: number, A: number, lda: number,
    Bp: number, bks: number, bps: number, beta: number, C: number, ldc: number,
    i0: number, i1: number, p0: number, p1: number,
    pack: number, transB: number, Bsrc: number, ldb: number): void;
  /** Pack panels [p0, p1) of op(B) (K, N) into dst: panel p at dst + p K 64, 16 floats per k, zero padded. */
  packB(transB: number, K: number, N: number, B: number, ldb: number, dst: number, p0: number, p1: number): void;
  /** Columns [j0, j1) of C for a non-transposed B read in place (scalar). */
  gemmColsNN(transA: number, K: number, A: number, lda: number, B: number, ldb: number,
    beta: number, C: number, ldc: number, i0: number, i1: number, j0: number, j1: number): void;
  /** C rows [i0, i1) = op(A) B with B (K, N) read in place row by row (for M = 1). */
  gemmRowsNN(transA: number, N: number, K: number, A: number, lda: number, B: number, ldb: number,
    beta: number, C: number, ldc: number, i0: number, i1: number): void;
  /** C = op(A) B^T by dot products, B (N, K) read in place. */
  gemmDotNT(transA: number, K: number, A: number, lda: number, B: number, ldb: number,
    beta: number, C: number, ldc: number, i0: number, i1: number, j0: number, j1: number): void;
  /** dst (cols, rows) = transpose of src (rows, cols); strides in floats. */
  transpose(rows: number, cols: number, src: number, lds: number, dst: number, ldd: number): void;

  broadcastRows(M: number, N: number, v: number, C: number, acc: number): void;
  colSumAcc(M: number, N: number, A: number, out: number): void;
  gatherRows(n: number, idx: number, table: number, cols: number, out: number, acc: number): void;
  scatterAddRows(n: number, idx: number, src: number, cols: number, table: number): void;
  mul(n: number, x: number, m: number): void;
  scale(n: number, x: number, s: number): void;
  clamp(n: number, x: number, lo: number, hi: number): void;
  sumSquares(n: number, x: number): number;

  rnnForward(B: number, H: number, pre: number, h: number): void;
  rnnBackward(B: number, H: number, h: number, dy: number, dhNext: number, dpre: number): void;
  lstmForward(B: number, H: number, gates: number, cPrev: number, c: number, h: number): void;
  lstmBackward(B: number, H: number, gates: number, cPrev: number, c: number,
    dy: number, dhNext: number, dc: number, dgates: number): void;
  /** One LSTM step for hidden units [u0, u1) (multiples of 16): gates += hPrev W_hh (packed panels), then the cell. */
  lstmStepUnits(B: number, H: number, hPrev: number, whh: number, gates: number,
    cPrev: number, c: number, h: number, u0: number, u1: number): void;
  /** Its backward: dh[:, u] = dgatesNext W_hhᵀ (packed panels; skipped if dgatesNext = 0), then the cell backward. */
  lstmStepBackUnits(B: number, H: number, dgatesNext: number, whhT: number, dh: number,
    gates: number, cPrev: number, c: number, dy: number, dc: number, dgates: number, u0: number, u1: number): void;
  gruForward(B: number, H: number, gx: number, gh: number, hPrev: number, act: number, h: number): void;
  gruBackward(B: number, H: number, act: number, gh: number, hPrev: number,
    dy: number, dhNext: number, dgx: number, dgh: number, dhPrevDirect: number): void;

  /** dlogits = 0 means none. */
  softmaxCrossEntropy(N: number, V: number, logits: number, targets: number, dlogits: number, scale: number): number;

  adam(n: number, p: number, g: number, m: number, v: number,
    lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number): void;
  rmsprop(n: number, p: number, g: number, v: number, lr: number, alpha: number, eps: number, wd: number): void;
  adagrad(n: number, p: number, g: number, v: number, lr: number, eps: number, wd: number): void;
  sgd(n: number, p: number, g: number, buf: number, lr: number, momentum: number, wd: number, first: number): void;
  emaUpdate(n: number, avg: number, x: number, decay: number): void;

  logf64(x: number): number;
}

/** Bytes at the bottom of memory never allocated: the compiler's static data, then the token. */
export const RESERVED_BYTES = 65536;
/** The top of the reserved region holds a random token that identifies the memory (wasm.ts ours()). */
export const TOKEN_BYTES = 16;
export const TOKEN_OFFSET = RESERVED_BYTES - 64;
/** Columns per packed panel of B (asm/gemm.ts PANEL). */
export const PANEL = 16;

export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = instance.exports as unknown as KernelExports;
  if (exports.heapBase() > TOKEN_OFFSET) {
    throw new Error(`kernels.wasm static data (${exports.heapBase()} bytes) exceeds the reserved ${TOKEN_OFFSET}`);
  }
  return exports;
}
