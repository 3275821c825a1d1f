/*
 * The ops of ops.h: decode the arguments, then run the kernel on the calling thread or split
 * over the pool. GEMMs split by column ranges (whole 16-column panels, gemm.h), cells and
 * softmax by rows, the rest by element ranges; every output element is computed by the same
 * operations whatever the split, and the two reductions (softmax's loss, sumSquares) are summed
 * from fixed pieces in a fixed order, so 1 thread and N threads give the same bits.
 */
#include "ops.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"

/* Work (multiply-adds, or elements) below which a call stays on the calling thread (a few µs);
   above it, args[CRN_THREADS_ARG] says how many threads it may use (native.ts times that per shape). */
#define PAR_MACS (1L << 17)
#define PAR_CELL 4096L
#define PAR_ELEMS (1L << 15)
/* sumSquares' fixed pieces: summed apart, then in order, whatever the threads. */
#define SQ_CHUNK 65536L

typedef struct job job;
typedef void (*range_fn)(const job *j, size_t lo, size_t hi);

/* One call's decoded arguments and what to run on a range [lo, hi) of its units. */
struct job {
  crn_ctx *c;
  range_fn fn;
  size_t units, grain;
  /* elements, where units are something else (sumSquares' chunks) */
  size_t n;
  float *p[12];
  int i[10];
  double d[8];
};

static void task(void *arg, int part, int parts) {
  const job *j = arg;
  size_t chunks = (j->units + j->grain - 1) / j->grain;
  size_t lo = chunks * (size_t)part / (size_t)parts * j->grain;
  size_t hi = chunks * (size_t)(part + 1) / (size_t)parts * j->grain;
  if (hi > j->units) hi = j->units;
  if (lo < hi) j->fn(j, lo, hi);
}

/* Run j over its units: split when the work is worth it, else on this thread. */
static void run(job *j, long work, long min_work) {
  int threads = crn_pool_threads(j->c->pool);
  int limit = (int)j->c->args[CRN_THREADS_ARG];
  if (limit < threads) threads = limit < 1 ? 1 : limit;
  size_t chunks = (j->units + j->grain - 1) / j->grain;
  int parts = work >= min_work && threads > 1 ? (chunks < (size_t)threads ? (int)chunks : threads) : 1;
  if (parts <= 1) {
    if (j->units > 0) j->fn(j, 0, j->units);
    return;
  }
  j->c->split_calls++;
  crn_pool_run(j->c->pool, task, j, parts);
}

#define F(x) ((float *)(uintptr_t)(x))
#define I32(x) ((int32_t *)(uintptr_t)(x))

/* ---- GEMM ---- */

/* i: tA, tB, M, N, K, lda, ldb, beta, ldc; p: A, B, C, packed */
static void gemm_cols(const job *j, size_t n0, size_t n1) {
  const int *i = j->i;
  if (j->p[3]) crn_gemm_packed(j->c->isa, i[0], i[2], i[3], i[4], j->p[0], i[5], j->p[3], i[7], j->p[2], i[8], (int)n0, (int)n1);
  else crn_gemm(j->c->isa, i[0], i[1], i[2], i[3], i[4], j->p[0], i[5], j->p[1], i[6], i[7], j->p[2], i[8], (int)n0, (int)n1);
}

/* i: tB, K, N, ldb; p: B, packed — panels [n0, n1) packed where they go */
static void pack_cols(const job *j, size_t n0, size_t n1) {
  int tB = j->i[0], K = j->i[1], ldb = j->i[3];
  const float *b = tB ? j->p[0] + n0 * (size_t)ldb : j->p[0] + n0;
  crn_pack_b(tB, K, (int)(n1 - n0), b, ldb, j->p[1] + n0 * (size_t)K);
}

static void pack(crn_ctx *c, int tB, int K, int N, const float *B, int ldb, float *packed) {
  job j = { .c = c, .fn = pack_cols, .units = (size_t)N, .grain = CRN_PANEL };
  j.i[0] = tB; j.i[1] = K; j.i[2] = N; j.i[3] = ldb;
  j.p[0] = (float *)B; j.p[1] = packed;
  run(&j, (long)K * N, PAR_ELEMS);
}

/* C = op(A) op(B) + beta C; op(B) from `packed` when given (packed now if `fresh` says so). */
static void gemm(crn_ctx *c, int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 int beta, float *C, int ldc, float *packed, int repack) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) { /* an empty sum: C = beta C (gemm.h's kernels need not handle K = 0) */
    if (!beta) for (int r = 0; r < M; r++) memset(C + (size_t)r * ldc, 0, sizeof(float) * (size_t)N);
    return;
  }
  if (packed && repack) pack(c, tB, K, N, B, ldb, packed);
  job j = { .c = c, .fn = gemm_cols, .units = (size_t)N, .grain = CRN_PANEL };
  int *i = j.i;
  i[0] = tA; i[1] = tB; i[2] = M; i[3] = N; i[4] = K; i[5] = lda; i[6] = ldb; i[7] = beta; i[8] = ldc;
  j.p[0] = (float *)A; j.p[1] = (float *)B; j.p[2] = C; j.p[3] = packed;
  run(&j, (long)M * N * (K > 0 ? K : 1), PAR_MACS);
}

/* ---- cells, by rows ---- */

static void rnn_fwd(const job *j, size_t lo, size_t hi) { j->c->k->rnn_forward(j->p[0], j->p[1], lo, hi); }
static void rnn_bwd(const job *j, size_t lo, size_t hi) { j->c->k->rnn_backward(j->p[0], j->p[1], j->p[2], j->p[3], lo, hi); }
static void lstm_fwd(const job *j, size_t lo, size_t hi) {
  j->c->k->lstm_forward(j->i[0], j->p[0], j->p[1], j->p[2], j->p[3], (int)lo, (int)hi);
}
static void lstm_bwd(const job *j, size_t lo, size_t hi) {
  j->c->k->lstm_backward(j->i[0], j->p[0], j->p[1], j->p[2], j->p[3], j->p[4], j->p[5], j->p[6], (int)lo, (int)hi);
}
static void gru_fwd(const job *j, size_t lo, size_t hi) {
  j->c->k->gru_forward(j->i[0], j->p[0], j->p[1], j->p[2], j->p[3], j->p[4], (int)lo, (int)hi);
}
static void gru_bwd(const job *j, size_t lo, size_t hi) {
  j->c->k->gru_backward(j->i[0], j->p[0], j->p[1], j->p[2], j->p[3], j->p[4], j->p[5], j->p[6], j->p[7], (int)lo, (int)hi);
}

/* A cell kernel over B rows of H units (p: its pointers in kernels.h order). */
static void cell(crn_ctx *c, range_fn fn, int B, int H, int nptr, float *const *p) {
  int elementwise = fn == rnn_fwd || fn == rnn_bwd;
  job j = { .c = c, .fn = fn, .units = elementwise ? (size_t)B * H : (size_t)B, .grain = elementwise ? (size_t)H : 1 };
  j.i[0] = H;
  memcpy(j.p, p, sizeof(float *) * (size_t)nptr);
  run(&j, (long)B * H, PAR_CELL);
}

/* ---- softmax, reductions, elementwise ---- */

static int reserve(crn_ctx *c, size_t n) {
  if (n <= c->red_n) return 0;
  double *r = realloc(c->red, sizeof(double) * n);
  if (!r) return -1;
  c->red = r;
  c->red_n = n;
  return 0;
}

/* i: V; p: logits, targets, dlogits; d: scale */
static void xent_rows(const job *j, size_t lo, size_t hi) {
  j->c->k->softmax_xent(j->i[0], j->p[0], (const int32_t *)j->p[1], j->p[2], j->d[0], j->c->red, (int)lo, (int)hi);
}

/* red[k] = sum of squares of chunk k, for chunks [lo, hi) */
static void sq_chunks(const job *j, size_t lo, size_t hi) {
  for (size_t k = lo; k < hi; k++) {
    size_t e = (k + 1) * SQ_CHUNK < j->n ? (k + 1) * SQ_CHUNK : j->n;
    j->c->red[k] = j->c->k->sum_squares(j->p[0], k * SQ_CHUNK, e);
  }
}

static void scale_r(const job *j, size_t lo, size_t hi) { j->c->k->scale(j->p[0], j->d[0], lo, hi); }
static void clamp_r(const job *j, size_t lo, size_t hi) { j->c->k->clamp(j->p[0], j->d[0], j->d[1], lo, hi); }
static void mul_r(const job *j, size_t lo, size_t hi) { j->c->k->mul(j->p[0], j->p[1], lo, hi); }
static void dropout_r(const job *j, size_t lo, size_t hi) {
  j->c->k->dropout_mask(j->p[0], (uint32_t)j->d[0], (uint32_t)j->d[1], (float)j->d[2], lo, hi);
}
static void adam_r(const job *j, size_t lo, size_t hi) { j->c->k->adam(j->p[0], j->p[1], j->p[2], j->p[3], j->d, lo, hi); }
static void rmsprop_r(const job *j, size_t lo, size_t hi) { j->c->k->rmsprop(j->p[0], j->p[1], j->p[2], j->d, lo, hi); }
static void adagrad_r(const job *j, size_t lo, size_t hi) { j->c->k->adagrad(j->p[0], j->p[1], j->p[2], j->d, lo, hi); }
static void sgd_r(const job *j, size_t lo, size_t hi) { j->c->k->sgd(j->p[0], j->p[1], j->p[2], j->d, lo, hi); }
static void ema_r(const job *j, size_t lo, size_t hi) { j->c->k->ema(j->p[0], j->p[1], j->d[0], lo, hi); }
static void bcast_r(const job *j, size_t lo, size_t hi) { j->c->k->broadcast_rows(j->i[0], j->p[0], j->p[1], j->i[1], (int)lo, (int)hi); }

/* An elementwise op over n elements: p pointers, d float64 parameters. */
static void elementwise(crn_ctx *c, range_fn fn, size_t n, int np, float *const *p, int nd, const double *d) {
  job j = { .c = c, .fn = fn, .units = n, .grain = 16 };
  memcpy(j.p, p, sizeof(float *) * (size_t)np);
  memcpy(j.d, d, sizeof(double) * (size_t)nd);
  run(&j, (long)n, PAR_ELEMS);
}

/* ---- rows (single-threaded: sums in the reference's order, duplicates in idx included) ---- */

static void colsum_acc(int M, int N, const float *A, float *out) {
  for (int i = 0; i < M; i++) {
    const float *a = A + (size_t)i * N;
    for (int j = 0; j < N; j++) out[j] += a[j];
  }
}

static void gather_rows(int n, const int32_t *idx, const float *table, int cols, float *out, int acc) {
  for (int i = 0; i < n; i++) {
    const float *s = table + (size_t)idx[i] * cols;
    float *d = out + (size_t)i * cols;
    if (acc) for (int j = 0; j < cols; j++) d[j] += s[j];
    else memcpy(d, s, sizeof(float) * (size_t)cols);
  }
}

static void scatter_add_rows(int n, const int32_t *idx, const float *src, int cols, float *table) {
  for (int i = 0; i < n; i++) {
    float *d = table + (size_t)idx[i] * cols;
    const float *s = src + (size_t)i * cols;
    for (int j = 0; j < cols; j++) d[j] += s[j];
  }
}

/* ---- the dispatcher ---- */

#define A(k) (a[k])
#define N_(k) ((int)a[k])
#define P(k) F(a[k])

int crn_run(crn_ctx *c) {
  const double *a = c->args;
  switch ((int)a[0]) {
    case OP_GEMM:
      gemm(c, N_(1), N_(2), N_(3), N_(4), N_(5), P(6), N_(7), P(8), N_(9), N_(10), P(11), N_(12), P(13), N_(14));
      return 0;
    case OP_PACK:
      pack(c, N_(1), N_(2), N_(3), P(4), N_(5), P(6));
      return 0;
    case OP_BROADCAST_ROWS: {
      job j = { .c = c, .fn = bcast_r, .units = (size_t)N_(1), .grain = 1 };
      j.i[0] = N_(2); j.i[1] = N_(5); j.p[0] = P(3); j.p[1] = P(4);
      run(&j, (long)N_(1) * N_(2), PAR_ELEMS);
      return 0;
    }
    case OP_COLSUM_ACC: colsum_acc(N_(1), N_(2), P(3), P(4)); return 0;
    case OP_GATHER_ROWS: gather_rows(N_(1), I32(a[2]), P(3), N_(4), P(5), N_(6)); return 0;
    case OP_SCATTER_ADD_ROWS: scatter_add_rows(N_(1), I32(a[2]), P(3), N_(4), P(5)); return 0;
    case OP_MUL: { float *p[] = { P(2), P(3) }; elementwise(c, mul_r, (size_t)A(1), 2, p, 0, NULL); return 0; }
    case OP_DROPOUT_MASK: { float *p[] = { P(2) }; elementwise(c, dropout_r, (size_t)A(1), 1, p, 3, a + 3); return 0; }
    case OP_SCALE: { float *p[] = { P(2) }; elementwise(c, scale_r, (size_t)A(1), 1, p, 1, a + 3); return 0; }
    case OP_CLAMP: { float *p[] = { P(2) }; elementwise(c, clamp_r, (size_t)A(1), 1, p, 2, a + 3); return 0; }
    case OP_ADAM: { float *p[] = { P(2), P(3), P(4), P(5) }; elementwise(c, adam_r, (size_t)A(1), 4, p, 7, a + 6); return 0; }
    case OP_RMSPROP: { float *p[] = { P(2), P(3), P(4) }; elementwise(c, rmsprop_r, (size_t)A(1), 3, p, 4, a + 5); return 0; }
    case OP_ADAGRAD: { float *p[] = { P(2), P(3), P(4) }; elementwise(c, adagrad_r, (size_t)A(1), 3, p, 3, a + 5); return 0; }
    case OP_EMA: { float *p[] = { P(2), P(3) }; elementwise(c, ema_r, (size_t)A(1), 2, p, 1, a + 4); return 0; }
    case OP_SGD: { float *p[] = { P(2), P(3), P(4) }; elementwise(c, sgd_r, (size_t)A(1), 3, p, 4, a + 5); return 0; }
    case OP_RNN_FORWARD: { float *p[] = { P(3), P(4) }; cell(c, rnn_fwd, N_(1), N_(2), 2, p); return 0; }
    case OP_RNN_BACKWARD: { float *p[] = { P(3), P(4), P(5), P(6) }; cell(c, rnn_bwd, N_(1), N_(2), 4, p); return 0; }
    case OP_LSTM_FORWARD: { float *p[] = { P(3), P(4), P(5), P(6) }; cell(c, lstm_fwd, N_(1), N_(2), 4, p); return 0; }
    case OP_LSTM_BACKWARD: {
      float *p[] = { P(3), P(4), P(5), P(6), P(7), P(8), P(9) };
      cell(c, lstm_bwd, N_(1), N_(2), 7, p);
      return 0;
    }
    case OP_GRU_FORWARD: { float *p[] = { P(3), P(4), P(5), P(6), P(7) }; cell(c, gru_fwd, N_(1), N_(2), 5, p); return 0; }
    case OP_GRU_BACKWARD: {
      float *p[] = { P(3), P(4), P(5), P(6), P(7), P(8), P(9), P(10) };
      cell(c, gru_bwd, N_(1), N_(2), 8, p);
      return 0;
    }
    /* the whole steps: exactly the calls they stand for (src/backend/compose.ts), in one call */
    case OP_LSTM_STEP: {
      int B = N_(1), H = N_(2);
      gemm(c, 0, 0, B, 4 * H, H, P(3), H, P(4), 4 * H, 1, P(7), 4 * H, P(5), N_(6));
      float *p[] = { P(7), P(8), P(9), P(10) };
      cell(c, lstm_fwd, B, H, 4, p);
      return 0;
    }
    case OP_LSTM_STEP_BACKWARD: {
      int B = N_(1), H = N_(2);
      if (a[3] != 0) gemm(c, 0, 1, B, H, 4 * H, P(3), 4 * H, P(4), 4 * H, 0, P(7), H, P(5), N_(6));
      float *p[] = { P(8), P(9), P(10), P(11), P(7), P(12), P(13) };
      cell(c, lstm_bwd, B, H, 7, p);
      return 0;
    }
    case OP_RNN_STEP: {
      int B = N_(1), H = N_(2);
      gemm(c, 0, 0, B, H, H, P(3), H, P(4), H, 1, P(7), H, P(5), N_(6));
      float *p[] = { P(7), P(8) };
      cell(c, rnn_fwd, B, H, 2, p);
      return 0;
    }
    case OP_RNN_STEP_BACKWARD: {
      int B = N_(1), H = N_(2);
      if (a[3] != 0) gemm(c, 0, 1, B, H, H, P(3), H, P(4), H, 0, P(7), H, P(5), N_(6));
      float *p[] = { P(8), P(9), P(7), P(10) };
      cell(c, rnn_bwd, B, H, 4, p);
      return 0;
    }
    case OP_GRU_STEP: {
      int B = N_(1), H = N_(2);
      job j = { .c = c, .fn = bcast_r, .units = (size_t)B, .grain = 1 };
      j.i[0] = 3 * H; j.i[1] = 0; j.p[0] = P(8); j.p[1] = P(9);
      run(&j, (long)B * 3 * H, PAR_ELEMS);
      gemm(c, 0, 0, B, 3 * H, H, P(4), H, P(5), 3 * H, 1, P(9), 3 * H, P(6), N_(7));
      float *p[] = { P(3), P(9), P(4), P(10), P(11) };
      cell(c, gru_fwd, B, H, 5, p);
      return 0;
    }
    case OP_GRU_STEP_BACKWARD: {
      int B = N_(1), H = N_(2);
      if (a[3] != 0) gemm(c, 0, 1, B, H, 3 * H, P(3), 3 * H, P(4), 3 * H, 1, P(7), H, P(5), N_(6));
      float *p[] = { P(8), P(9), P(10), P(11), P(7), P(12), P(13), P(7) };
      cell(c, gru_bwd, B, H, 8, p);
      return 0;
    }
    case OP_SOFTMAX_XENT: {
      int N = N_(1), V = N_(2);
      if (reserve(c, (size_t)(N > 0 ? N : 1)) < 0) return -1;
      job j = { .c = c, .fn = xent_rows, .units = (size_t)N, .grain = 1 };
      j.i[0] = V; j.p[0] = P(3); j.p[1] = P(4); j.p[2] = a[5] != 0 ? P(5) : NULL; j.d[0] = A(6);
      run(&j, (long)N * V, PAR_ELEMS);
      double loss = 0;
      for (int r = 0; r < N; r++) loss += c->red[r];
      c->args[1] = loss;
      return 0;
    }
    case OP_SUM_SQUARES: {
      size_t n = (size_t)A(1);
      size_t chunks = (n + SQ_CHUNK - 1) / SQ_CHUNK;
      if (reserve(c, chunks > 0 ? chunks : 1) < 0) return -1;
      job j = { .c = c, .fn = sq_chunks, .units = chunks, .grain = 1, .n = n };
      j.p[0] = P(2);
      run(&j, (long)n, PAR_ELEMS);
      double s = 0;
      for (size_t k = 0; k < chunks; k++) s += c->red[k];
      c->args[1] = s;
      return 0;
    }
    case OP_STATS:
      c->args[1] = c->split_calls;
      return 0;
    case OP_STOP_THREADS:
      crn_pool_stop(c->pool);
      c->pool = NULL;
      return 0;
    default:
      return -2;
  }
}
