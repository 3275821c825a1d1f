/*
 * The elementwise kernels of the native backend (everything but the GEMM): one table of
 * functions per code path. kernels.inc holds the bodies once; kernels_plain.c, kernels_avx2.c
 * and kernels_avx512.c compile them for their target (GCC vectorizes the loops for it), and
 * crn_kernels_for() gives the table of an isa (gemm.h's CRN_ISA_*).
 *
 * Every kernel works on a range of rows [r0, r1) (cells, softmax) or elements [i0, i1) (the
 * rest), so the thread pool can split a call; each output element depends only on its own
 * inputs, so the result is the same bits however the range is split.
 */
#ifndef CRN_KERNELS_H
#define CRN_KERNELS_H
#include <stddef.h>
#include <stdint.h>

typedef struct crn_kernels {
  /* h = tanh(pre), elements [i0, i1) */
  void (*rnn_forward)(const float *pre, float *h, size_t i0, size_t i1);
  /* dpre = (dy + dhNext) (1 - h^2) */
  void (*rnn_backward)(const float *h, const float *dy, const float *dhNext, float *dpre, size_t i0, size_t i1);
  /* rows [r0, r1): gates (B, 4H) activated in place, c, h (B, H) */
  void (*lstm_forward)(int H, float *gates, const float *cPrev, float *c, float *h, int r0, int r1);
  void (*lstm_backward)(int H, const float *gates, const float *cPrev, const float *c, const float *dy,
                        const float *dhNext, float *dc, float *dgates, int r0, int r1);
  void (*gru_forward)(int H, const float *gx, const float *gh, const float *hPrev, float *act, float *h, int r0, int r1);
  void (*gru_backward)(int H, const float *act, const float *gh, const float *hPrev, const float *dy,
                       const float *dhNext, float *dgx, float *dgh, float *dhPrevDirect, int r0, int r1);
  /* rows [r0, r1) of V logits: loss[r] (float64) per row (0 for a skipped row), dlogits if not NULL */
  void (*softmax_xent)(int V, const float *logits, const int32_t *targets, float *dlogits, double scale,
                       double *loss, int r0, int r1);
  /* sum of x[i]^2 over [i0, i1) in float64, in a fixed order (8 lanes) */
  double (*sum_squares)(const float *x, size_t i0, size_t i1);
  void (*scale)(float *x, double s, size_t i0, size_t i1);
  void (*clamp)(float *x, double lo, double hi, size_t i0, size_t i1);
  void (*mul)(float *x, const float *m, size_t i0, size_t i1);
  /* mask[i] = s where lowbias32(lowbias32(i) ^ key) < thr, else 0 (src/rng.ts) */
  void (*dropout_mask)(float *mask, uint32_t key, uint32_t thr, float s, size_t i0, size_t i1);
  /* C rows [r0, r1) (N wide) = v or += v */
  void (*broadcast_rows)(int N, const float *v, float *C, int acc, int r0, int r1);
  void (*adam)(float *p, const float *g, float *m, float *v, const double *h, size_t i0, size_t i1);
  void (*rmsprop)(float *p, const float *g, float *v, const double *h, size_t i0, size_t i1);
  void (*adagrad)(float *p, const float *g, float *v, const double *h, size_t i0, size_t i1);
  void (*sgd)(float *p, const float *g, float *buf, const double *h, size_t i0, size_t i1);
  /* avg = decay avg + (1 - decay) x (--ema) */
  void (*ema)(float *avg, const float *x, double decay, size_t i0, size_t i1);
} crn_kernels;

/* The table of an isa (CRN_ISA_*); the plain one for an isa this build has no code for. */
const crn_kernels *crn_kernels_for(int isa);

#endif
