/*
 * The calls of the native backend: JavaScript writes an op and its arguments into a Float64Array
 * the addon holds (pointers as numbers: user-space addresses fit a double exactly) and makes one
 * argument-less N-API call, which keeps a call's overhead to the JS -> C transition. Results
 * (float64) come back in args[1]. src/backend/native-abi.ts mirrors these numbers and layouts.
 */
#ifndef CRN_OPS_H
#define CRN_OPS_H
#include "kernels.h"
#include "pool.h"

enum {
  OP_GEMM = 1,          /* tA, tB, M, N, K, A, lda, B, ldb, beta, C, ldc, packed, pack */
  OP_BROADCAST_ROWS,    /* M, N, v, C, acc */
  OP_COLSUM_ACC,        /* M, N, A, out */
  OP_GATHER_ROWS,       /* n, idx, table, cols, out, acc */
  OP_SCATTER_ADD_ROWS,  /* n, idx, src, cols, table */
  OP_MUL,               /* n, x, m */
  OP_DROPOUT_MASK,      /* n, mask, key, thr, s */
  OP_RNN_FORWARD,       /* B, H, pre, h */
  OP_RNN_BACKWARD,      /* B, H, h, dy, dhNext, dpre */
  OP_LSTM_FORWARD,      /* B, H, gates, cPrev, c, h */
  OP_LSTM_BACKWARD,     /* B, H, gates, cPrev, c, dy, dhNext, dc, dgates */
  OP_GRU_FORWARD,       /* B, H, gx, gh, hPrev, act, h */
  OP_GRU_BACKWARD,      /* B, H, act, gh, hPrev, dy, dhNext, dgx, dgh, dhPrevDirect */
  OP_LSTM_STEP,         /* B, H, hPrev, whh, packed, pack, gates, cPrev, c, h */
  OP_LSTM_STEP_BACKWARD,/* B, H, dgatesNext|0, whh, packed, pack, dh, gates, cPrev, c, dy, dc, dgates */
  OP_RNN_STEP,          /* B, H, hPrev, whh, packed, pack, pre, h */
  OP_RNN_STEP_BACKWARD, /* B, H, dpreNext|0, whh, packed, pack, dh, h, dy, dpre */
  OP_GRU_STEP,          /* B, H, gx, hPrev, whh, packed, pack, bhh, gh, act, h */
  OP_GRU_STEP_BACKWARD, /* B, H, dghNext|0, whh, packed, pack, dh, act, gh, hPrev, dy, dgx, dgh */
  OP_SOFTMAX_XENT,      /* N, V, logits, targets, dlogits|0, scale -> loss */
  OP_SUM_SQUARES,       /* n, x -> sum */
  OP_SCALE,             /* n, x, s */
  OP_CLAMP,             /* n, x, lo, hi */
  OP_ADAM,              /* n, p, g, m, v, lr, b1, b2, eps, bc1, bc2, wd */
  OP_RMSPROP,           /* n, p, g, v, lr, alpha, eps, wd */
  OP_ADAGRAD,           /* n, p, g, v, lr, eps, wd */
  OP_SGD,               /* n, p, g, buf, lr, momentum, wd, first */
  OP_PACK,              /* transB, K, N, B, ldb, packed */
  OP_STOP_THREADS,      /* stop the pool: kernels go on, on the calling thread */
  OP_STATS,             /* -> calls split over the threads so far */
  OP_EMA,               /* n, avg, x, decay */
};

/* args[CRN_THREADS_ARG]: the threads the op may use (1: the calling thread alone). */
#define CRN_THREADS_ARG 31

typedef struct crn_ctx {
  int isa;
  const crn_kernels *k;
  crn_pool *pool;
  /* the arguments (JavaScript's Float64Array) */
  double *args;
  /* per-part scratch of the reductions (softmax's per-row losses, sumSquares' chunk sums), grown on demand */
  double *red;
  size_t red_n;
  /* calls split over the threads so far (OP_STATS) */
  double split_calls;
} crn_ctx;

/* Run the op in ctx->args. Returns 0, or -1 when scratch memory could not be had. */
int crn_run(crn_ctx *ctx);

#endif
