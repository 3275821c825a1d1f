/**
 * The interface of the native addon (native/addon.c): the op numbers and argument layouts of
 * native/ops.h, mirrored. A call writes the op and its arguments into the Float64Array `args`
 * the addon holds and calls run() with no arguments (pointers as numbers); results come back in
 * args[1].
 */

/** What the compiled addon (build/Release/charrnn_native.node) exports. */
export interface NativeAddon {
  /** A backend context over `args` (Float64Array(32+)), on `threads` threads (the caller's included), running `isa`'s code. */
  create(args: Float64Array, threads: number, isa: number): () => void;
  /** Where an ArrayBuffer's bytes are (a byte address). */
  address(buffer: ArrayBuffer): number;
  /** The best code path this CPU runs: ISA below. */
  bestIsa(): number;
}

/** gemm.h's CRN_ISA_*: the code paths, by name. */
export const ISA = { plain: 0, avx2: 1, avx512: 2 } as const;
export type IsaName = keyof typeof ISA;
export const ISA_NAMES = Object.keys(ISA) as IsaName[];

/** Length of the args array (the longest op takes 14 arguments after its number). */
export const ARGS = 32;

// ops.h, in its order
export const OP_GEMM = 1;
export const OP_BROADCAST_ROWS = 2;
export const OP_COLSUM_ACC = 3;
export const OP_GATHER_ROWS = 4;
export const OP_SCATTER_ADD_ROWS = 5;
export const OP_MUL = 6;
export const OP_DROPOUT_MASK = 7;
export const OP_RNN_FORWARD = 8;
export const OP_RNN_BACKWARD = 9;
export const OP_LSTM_FORWARD = 10;
export const OP_LSTM_BACKWARD = 11;
export const OP_GRU_FORWARD = 12;
export const OP_GRU_BACKWARD = 13;
export const OP_LSTM_STEP = 14;
export const OP_LSTM_STEP_BACKWARD = 15;
export const OP_RNN_STEP = 16;
export const OP_RNN_STEP_BACKWARD = 17;
export const OP_GRU_STEP = 18;
export const OP_GRU_STEP_BACKWARD = 19;
export const OP_SOFTMAX_XENT = 20;
export const OP_SUM_SQUARES = 21;
export const OP_SCALE = 22;
export const OP_CLAMP = 23;
export const OP_ADAM = 24;
export const OP_RMSPROP = 25;
export const OP_ADAGRAD = 26;
export const OP_SGD = 27;
export const OP_PACK = 28;
export const OP_STOP_THREADS = 29;
export const OP_STATS = 30;
export const OP_EMA = 31;
