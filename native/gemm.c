/*
 * A simple, portable implementation of gemm.h: plain C loops, the same for every isa (the
 * optimized AVX-512 / AVX2 kernels replace this file). Each element of C is one float sum over
 * k in order, started from 0 and then added to beta * C, whatever the column range or the
 * layout of B, so any split of the columns (and packed or in place) gives the same bits.
 */
#include "gemm.h"
#include <string.h>

int crn_gemm_best_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
    return CRN_ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CRN_ISA_AVX2;
#endif
  return CRN_ISA_PLAIN;
}

size_t crn_packed_floats(int K, int N) {
  return (size_t)((N + CRN_PANEL - 1) / CRN_PANEL) * (size_t)K * CRN_PANEL;
}

/* Element (k, j) of op(B). */
static inline float b_at(int transB, const float *B, int ldb, int k, int j) {
  return transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
}

void crn_pack_b(int transB, int K, int N, const float *B, int ldb, float *packed) {
  int nP = (N + CRN_PANEL - 1) / CRN_PANEL;
  for (int p = 0; p < nP; p++) {
    float *dst = packed + (size_t)p * K * CRN_PANEL;
    for (int k = 0; k < K; k++) {
      for (int jj = 0; jj < CRN_PANEL; jj++) {
        int j = p * CRN_PANEL + jj;
        dst[(size_t)k * CRN_PANEL + jj] = j < N ? b_at(transB, B, ldb, k, j) : 0.0f;
      }
    }
  }
}

/* Element (i, k) of op(A). */
static inline float a_at(int transA, const float *A, int lda, int i, int k) {
  return transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
}

/* One panel's columns [j0, j0 + w) of row i: acc[jj] = sum_k a_ik op(B)[k, j0 + jj], then C. */
static void finish(int beta, float *c, const float *acc, int w) {
  for (int jj = 0; jj < w; jj++) c[jj] = beta ? c[jj] + acc[jj] : acc[jj];
}

void crn_gemm(int isa, int transA, int transB, int M, int N, int K,
              const float *A, int lda, const float *B, int ldb,
              int beta, float *C, int ldc, int n0, int n1) {
  (void)isa;
  (void)N;
  float acc[CRN_PANEL];
  for (int i = 0; i < M; i++) {
    for (int j0 = n0; j0 < n1; j0 += CRN_PANEL) {
      int w = n1 - j0 < CRN_PANEL ? n1 - j0 : CRN_PANEL;
      memset(acc, 0, sizeof acc);
      for (int k = 0; k < K; k++) {
        float a = a_at(transA, A, lda, i, k);
        for (int jj = 0; jj < w; jj++) acc[jj] += a * b_at(transB, B, ldb, k, j0 + jj);
      }
      finish(beta, C + (size_t)i * ldc + j0, acc, w);
    }
  }
}

void crn_gemm_packed(int isa, int transA, int M, int N, int K,
                     const float *A, int lda, const float *packed,
                     int beta, float *C, int ldc, int n0, int n1) {
  (void)isa;
  (void)N;
  float acc[CRN_PANEL];
  for (int i = 0; i < M; i++) {
    for (int j0 = n0; j0 < n1; j0 += CRN_PANEL) {
      int w = n1 - j0 < CRN_PANEL ? n1 - j0 : CRN_PANEL;
      const float *panel = packed + (size_t)(j0 / CRN_PANEL) * K * CRN_PANEL;
      memset(acc, 0, sizeof acc);
      for (int k = 0; k < K; k++) {
        float a = a_at(transA, A, lda, i, k);
        for (int jj = 0; jj < CRN_PANEL; jj++) acc[jj] += a * panel[(size_t)k * CRN_PANEL + jj];
      }
      finish(beta, C + (size_t)i * ldc + j0, acc, w);
    }
  }
}
