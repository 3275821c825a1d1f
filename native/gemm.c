/*
 * native/gemm.c: the GEMM of the native backend; the contract is native/gemm.h.
 *
 * One binary for every x86-64: the AVX-512 and AVX2 kernels are compiled with GCC/clang target
 * pragmas (no -march flag), picked by the caller's isa, which is clamped to what cpuid allows so a
 * wrong isa never dies with SIGILL. Other compilers and CPUs get the portable C path.
 *
 * Structure (the same driver for every isa; only the register kernel differs):
 *   for each block of MC rows                       their A (MC x KC) and C rows stay in L2
 *     for each block of KC of the K dimension
 *       for each tile of NP panels (16 columns each) in [n0, n1)
 *         B tile (KC x 16*NP): the packed weights where they lie (crn_gemm_packed), or op(B)
 *         packed by this call (crn_gemm), so the kernel always reads 16-float rows (no cache set
 *         conflicts on power-of-two strides); it is reused by all the row tiles below
 *         for each tile of MR rows: C tile (+)= A tile @ B tile in registers
 *   (crn_gemm with more than a few rows swaps the first two loops: see drive().)
 * A is read where it lies (one broadcast per row and k) except transposed A, packed per block.
 *
 * Determinism: every element of C is one accumulator lane that starts at 0 (beta 0) or at C
 * (beta 1) and receives a[i][k] * b[k][j] for k = 0, 1, ... K-1 in order, with one fused
 * multiply-add per k (AVX2, AVX-512) or a multiply then an add (plain C). K blocks store the lane
 * to C and load it back, which is exact in float32. Tile shapes, range splits and packing choices
 * only change which lanes run together, never this sequence, so any [n0, n1) split and packed or
 * unpacked B give the same bits within one isa.
 *
 * Calling it well (figures: bench/native-gemm.c on a 2-core AMD EPYC Zen 5, noisy):
 * - pack each weight matrix once per update, in both orientations the cells use (op(B) = W for
 *   forward, W^T for the backward data product); crn_gemm on unpacked weights repacks per call;
 * - the weight gradient dW += X^T @ dG is best as one crn_gemm over the whole window (K = T * B),
 *   not one per time step: it packs op(B) once per 512 of K and A^T per block;
 * - split column ranges at multiples of 32 (the AVX-512 tile; 16 leaves a half-width tile), and
 *   only when each range has a few MFLOP of work (2 * M * K * (n1 - n0)); a 1 x 100 x 100 call
 *   (20 KFLOP, under a microsecond) is cheaper than waking a thread.
 */
#include "gemm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* CRN_GEMM_NO_SIMD builds only the portable path (as on other CPUs), to check it on x86. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(CRN_GEMM_NO_SIMD)
#define CRN_X86 1
#include <immintrin.h>
#else
#define CRN_X86 0
#endif

/* Blocking, chosen by measurement (bench/native-gemm.c); -D overrides exist for that bench. */
#ifndef CRN_KC
#define CRN_KC 512 /* K block: the whole K of the forward 2x512 shapes (no C round trip); 256 measured slower */
#endif
#ifndef CRN_MC
#define CRN_MC 240 /* row block: its A (MC x KC = 480 KiB) stays in L2; a multiple of every MR */
#endif
#define P CRN_PANEL
/* The widest tile crn_gemm packs per call (panels): bounds its stack buffer to KC * 32 floats. */
#define UNPACKED_NP 2

static int imin(int a, int b) { return a < b ? a : b; }

/*
 * A register kernel: C[0:mr, 0:16*np] (+)= A[0:mr, 0:kc] @ Bt[0:kc, 0:16*np].
 *   a: A(i, k) = a[i * lda + k], or a[k * lda + i] when the kernel is for transposed A
 *   b: panel p row k at b[p * bps + k * 16]
 *   nlast: valid columns of the last panel (1..16); load: start from C (else from 0)
 */
typedef void (*ukernel)(int kc, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t bps,
                        float *c, ptrdiff_t ldc, int nlast, int load);

/* What the driver needs from an isa: its kernels by [transA][rows][panels] and its tile. */
typedef struct {
  ukernel (*get)(int ta, int mr, int np); /* NULL when not instantiated */
  int mr, np;                             /* the main tile */
  int small_m, small_np[4];               /* M <= small_m: one row tile of M rows, small_np[M] panels */
} isa_kernels;

/* ---------- packing (shared by every isa) ---------- */

/* dst panels of kc x 16 (panel stride ps): op(B)(k, j) for j < n, zeros up to the panel edge. */
static void pack_block(int transB, int kc, int n, const float *B, ptrdiff_t ldb, float *dst,
                       ptrdiff_t ps) {
  for (int p = 0; p * P < n; p++) {
    float *d = dst + p * ps;
    int w = imin(P, n - p * P);
    if (!transB) {
      const float *s = B + (ptrdiff_t)p * P;
      if (w == P) /* a constant-size memcpy is inlined as vector moves */
        for (int k = 0; k < kc; k++) memcpy(d + k * P, s + k * ldb, sizeof(float) * P);
      else
        for (int k = 0; k < kc; k++)
          for (int j = 0; j < P; j++) d[k * P + j] = j < w ? s[k * ldb + j] : 0.0f;
    } else {
      /* op(B)(k, j) = B[j * ldb + k]: walk each source row once */
      for (int j = 0; j < w; j++) {
        const float *s = B + (ptrdiff_t)(p * P + j) * ldb;
        for (int k = 0; k < kc; k++) d[k * P + j] = s[k];
      }
      for (int j = w; j < P; j++)
        for (int k = 0; k < kc; k++) d[k * P + j] = 0.0f;
    }
  }
}

size_t crn_packed_floats(int K, int N) {
  if (K <= 0 || N <= 0) return 0;
  return (size_t)((N + P - 1) / P) * (size_t)K * P;
}

void crn_pack_b(int transB, int K, int N, const float *B, int ldb, float *packed) {
  if (K <= 0 || N <= 0) return;
  pack_block(transB, K, N, B, ldb, packed, (ptrdiff_t)K * P);
}

/* ---------- the driver (shared by every isa) ---------- */

/* One call's operands and choices, shared by its blocks. */
typedef struct {
  const isa_kernels *ks;
  int ta, mr, np, K;
  const float *A;
  int lda;
  const float *packed;   /* op(B) packed by crn_pack_b, or NULL */
  int transB;            /* B unpacked: as stored */
  const float *B;
  int ldb;
  const float *bblock;   /* B unpacked: this K block of op(B)[:, n0:n1] packed, or NULL */
  float *ablock;         /* transA: this block of A packed by row tile, or NULL */
  float *C;
  int ldc, beta, n0, n1;
} call;

/* C[m0:m1, n0:n1] (+)= A[m0:m1, k0:k0+kc] @ op(B)[k0:k0+kc, n0:n1]. */
static void block(const call *q, int m0, int m1, int k0, int kc) {
  _Alignas(64) float buf[CRN_KC * P * UNPACKED_NP]; /* op(B) tile when nothing packed it */
  const isa_kernels *ks = q->ks;
  int ta = q->ta, mr = q->mr, load = q->beta || k0 > 0;
  if (q->ablock) /* A^T rows [k0, k0+kc) x [i0, i0+r) per row tile, as (kc, r) */
    for (int i0 = m0; i0 < m1; i0 += mr) {
      int r = imin(mr, m1 - i0);
      float *d = q->ablock + (ptrdiff_t)(i0 - m0) * kc;
      for (int k = 0; k < kc; k++)
        for (int i = 0; i < r; i++) d[k * r + i] = q->A[(ptrdiff_t)(k0 + k) * q->lda + i0 + i];
    }
  for (int j0 = q->n0, tp; j0 < q->n1; j0 += tp * P) {
    /* the widest instantiated tile that fits what is left */
    tp = imin(q->np, (q->n1 - j0 + P - 1) / P);
    while (!ks->get(ta, mr, tp)) tp--;
    int w = imin(tp * P, q->n1 - j0), nlast = w - (tp - 1) * P;
    const float *b;
    ptrdiff_t bps = (ptrdiff_t)kc * P;
    if (q->packed) {
      b = q->packed + (ptrdiff_t)(j0 / P) * q->K * P + (ptrdiff_t)k0 * P;
      bps = (ptrdiff_t)q->K * P;
    } else if (q->bblock) {
      b = q->bblock + (ptrdiff_t)((j0 - q->n0) / P) * kc * P;
    } else {
      const float *src = q->transB ? q->B + (ptrdiff_t)j0 * q->ldb + k0 : q->B + (ptrdiff_t)k0 * q->ldb + j0;
      pack_block(q->transB, kc, w, src, q->ldb, buf, bps);
      b = buf;
    }
    for (int i0 = m0; i0 < m1; i0 += mr) {
      int r = imin(mr, m1 - i0);
      const float *a = ta ? q->A + (ptrdiff_t)k0 * q->lda + i0 : q->A + (ptrdiff_t)i0 * q->lda + k0;
      ptrdiff_t lda = q->lda;
      if (q->ablock) a = q->ablock + (ptrdiff_t)(i0 - m0) * kc, lda = r; /* (kc, r) */
      ks->get(ta, r, tp)(kc, a, lda, b, bps, q->C + (ptrdiff_t)i0 * q->ldc + j0, q->ldc, nlast, load);
    }
  }
}

/*
 * Loop order. Packed B: row blocks of MC (their C block stays in L2 across the K blocks), then K
 * blocks. Unpacked B with more than a few rows (the weight gradient, M = H): each K block of
 * op(B)[:, n0:n1] is packed once into a malloc'd block (megabytes, too big for a worker's stack;
 * a GEMM this size runs for milliseconds) and serves every row; packing per tile on the stack
 * instead repacked B once per row block, with a call per 16 floats, and ran at 50-55% of peak.
 * If malloc fails, the per-tile stack path runs: same bits, slower.
 */
static void drive(const isa_kernels *ks, int ta, int M, int N, int K, const float *A, int lda,
                  const float *packed, int transB, const float *B, int ldb, int beta, float *C,
                  int ldc, int n0, int n1) {
  if (n1 > N) n1 = N;
  if (M <= 0 || n1 <= n0) return;
  if (K <= 0) {
    if (!beta)
      for (int i = 0; i < M; i++) memset(C + (ptrdiff_t)i * ldc + n0, 0, (size_t)(n1 - n0) * sizeof(float));
    return;
  }
  call q = {ks, ta, ks->mr, ks->np, K, A, lda, packed, transB, B, ldb, NULL, NULL, C, ldc, beta, n0, n1};
  if (M <= ks->small_m) q.mr = M, q.np = ks->small_np[M];
  if (!packed && q.np > UNPACKED_NP) q.np = UNPACKED_NP;
  int mc = CRN_MC - CRN_MC % q.mr;
  float *bblock = NULL;
  /* transposed A, packed when enough column tiles reuse it (one copy per 2 (n1 - n0) flops);
   * the weight gradient's rows of A^T lie M floats apart, which as pages and L1 sets cost more
   * than the copy (dW of 2x512: 72% of peak packed, 58-64% read in place) */
  if (ta && M > ks->small_m && n1 - n0 >= 8 * P)
    q.ablock = malloc(sizeof(float) * (size_t)imin(mc, M) * (size_t)imin(CRN_KC, K));
  if (!packed && M > ks->small_m)
    bblock = malloc(sizeof(float) * (size_t)crn_packed_floats(imin(CRN_KC, K), n1 - n0));
  if (bblock) {
    q.bblock = bblock;
    for (int k0 = 0; k0 < K; k0 += CRN_KC) {
      int kc = imin(CRN_KC, K - k0);
      pack_block(transB, kc, n1 - n0, transB ? B + (ptrdiff_t)n0 * ldb + k0 : B + (ptrdiff_t)k0 * ldb + n0,
                 ldb, bblock, (ptrdiff_t)kc * P);
      for (int m0 = 0; m0 < M; m0 += mc) block(&q, m0, imin(M, m0 + mc), k0, kc);
    }
  } else {
    for (int m0 = 0; m0 < M; m0 += mc)
      for (int k0 = 0; k0 < K; k0 += CRN_KC) block(&q, m0, imin(M, m0 + mc), k0, imin(CRN_KC, K - k0));
  }
  free(bblock);
  free(q.ablock);
}

/* Instantiates kernel NAME##_MR_NP for one (rows, panels) from the always-inline body NAME. */
#define KDEF(NAME, TA, MR, NP)                                                                 \
  static void NAME##_##TA##_##MR##_##NP(int kc, const float *a, ptrdiff_t lda, const float *b, \
                                        ptrdiff_t bps, float *c, ptrdiff_t ldc, int nlast,      \
                                        int load) {                                             \
    NAME(TA, MR, NP, kc, a, lda, b, bps, c, ldc, nlast, load);                                  \
  }
#define KDEF_TA(NAME, MR, NP) KDEF(NAME, 0, MR, NP) KDEF(NAME, 1, MR, NP)
#define KCASE(NAME, MR, NP) \
  case MR * 16 + NP: return ta ? NAME##_1_##MR##_##NP : NAME##_0_##MR##_##NP;

/* ---------- plain C ---------- */

/* 4 rows x 1 panel; the 16-lane inner loops have no remainder, so each lane runs the same code. */
static void plain_kernel(int ta, int mr, int kc, const float *a, ptrdiff_t lda, const float *b,
                         float *c, ptrdiff_t ldc, int nlast, int load) {
  float acc[4][P];
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < P; j++) acc[i][j] = load && j < nlast ? c[i * ldc + j] : 0.0f;
  for (int k = 0; k < kc; k++) {
    const float *bk = b + k * P;
    for (int i = 0; i < mr; i++) {
      float av = ta ? a[k * lda + i] : a[i * lda + k];
      for (int j = 0; j < P; j++) acc[i][j] = acc[i][j] + av * bk[j];
    }
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nlast; j++) c[i * ldc + j] = acc[i][j];
}

#define PLAIN_K(TA, MR)                                                                        \
  static void plain_##TA##_##MR(int kc, const float *a, ptrdiff_t lda, const float *b,         \
                                ptrdiff_t bps, float *c, ptrdiff_t ldc, int nlast, int load) { \
    (void)bps;                                                                                 \
    plain_kernel(TA, MR, kc, a, lda, b, c, ldc, nlast, load);                                 \
  }
PLAIN_K(0, 1) PLAIN_K(0, 2) PLAIN_K(0, 3) PLAIN_K(0, 4)
PLAIN_K(1, 1) PLAIN_K(1, 2) PLAIN_K(1, 3) PLAIN_K(1, 4)

static ukernel plain_get(int ta, int mr, int np) {
  static const ukernel t[2][5] = {{0, plain_0_1, plain_0_2, plain_0_3, plain_0_4},
                                  {0, plain_1_1, plain_1_2, plain_1_3, plain_1_4}};
  return np == 1 && mr >= 1 && mr <= 4 ? t[ta][mr] : 0;
}
static const isa_kernels plain_kernels = {plain_get, 4, 1, 0, {0}};

#if CRN_X86

/* Compile the functions between TARGET_BEGIN and TARGET_END for an instruction set beyond the
 * build's baseline (no -march flag: they only run when cpuid says so). */
#define PRAGMA(x) _Pragma(#x)
#ifdef __clang__
#define TARGET_BEGIN(t) PRAGMA(clang attribute push(__attribute__((target(t))), apply_to = function))
#define TARGET_END PRAGMA(clang attribute pop)
#else
#define TARGET_BEGIN(t) PRAGMA(GCC push_options) PRAGMA(GCC target(t))
#define TARGET_END PRAGMA(GCC pop_options)
#endif

/* ---------- AVX2 + FMA: 16 ymm registers ---------- */
TARGET_BEGIN("avx2,fma")

#ifndef CRN_AVX2_MR
#define CRN_AVX2_MR 6 /* 6 x 16: 12 accumulators + 2 B + 1 broadcast of 16 ymm */
#endif

static inline __attribute__((always_inline)) void avx2_body(
    const int TA, const int MR, const int NP, int kc, const float *a, ptrdiff_t lda,
    const float *b, ptrdiff_t bps, float *c, ptrdiff_t ldc, int nlast, int load) {
  __m256 acc[8][8]; /* [row][half-panel], MR <= 8, NP <= 4 */
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nlast), lane);
  const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nlast - 8), lane);
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
      float *cp = c + i * ldc + p * P;
      if (!load) {
        acc[i][2 * p] = acc[i][2 * p + 1] = _mm256_setzero_ps();
      } else if (p < NP - 1) {
        acc[i][2 * p] = _mm256_loadu_ps(cp);
        acc[i][2 * p + 1] = _mm256_loadu_ps(cp + 8);
      } else {
        acc[i][2 * p] = _mm256_maskload_ps(cp, m0);
        acc[i][2 * p + 1] = _mm256_maskload_ps(cp + 8, m1);
      }
    }
  }
  for (int k = 0; k < kc; k++) {
    __m256 bv[8];
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
      bv[2 * p] = _mm256_loadu_ps(b + p * bps + k * P);
      bv[2 * p + 1] = _mm256_loadu_ps(b + p * bps + k * P + 8);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      __m256 av = _mm256_broadcast_ss(TA ? a + k * lda + i : a + i * lda + k);
#pragma GCC unroll 8
      for (int h = 0; h < 2 * NP; h++) acc[i][h] = _mm256_fmadd_ps(av, bv[h], acc[i][h]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
      float *cp = c + i * ldc + p * P;
      if (p < NP - 1 || nlast == P) {
        _mm256_storeu_ps(cp, acc[i][2 * p]);
        _mm256_storeu_ps(cp + 8, acc[i][2 * p + 1]);
      } else {
        _mm256_maskstore_ps(cp, m0, acc[i][2 * p]);
        _mm256_maskstore_ps(cp + 8, m1, acc[i][2 * p + 1]);
      }
    }
  }
}

#define AVX2_ROWS(NP) \
  KDEF_TA(avx2_body, 1, NP) KDEF_TA(avx2_body, 2, NP) KDEF_TA(avx2_body, 3, NP) \
  KDEF_TA(avx2_body, 4, NP) KDEF_TA(avx2_body, 5, NP) KDEF_TA(avx2_body, 6, NP)
AVX2_ROWS(1)
KDEF_TA(avx2_body, 1, 2) KDEF_TA(avx2_body, 2, 2) KDEF_TA(avx2_body, 3, 2)
KDEF_TA(avx2_body, 1, 4)

static ukernel avx2_get(int ta, int mr, int np) {
  switch (mr * 16 + np) {
    KCASE(avx2_body, 1, 1) KCASE(avx2_body, 2, 1) KCASE(avx2_body, 3, 1)
    KCASE(avx2_body, 4, 1) KCASE(avx2_body, 5, 1) KCASE(avx2_body, 6, 1)
    KCASE(avx2_body, 1, 2) KCASE(avx2_body, 2, 2) KCASE(avx2_body, 3, 2)
    KCASE(avx2_body, 1, 4)
  }
  return 0;
}

TARGET_END

/* M <= 2: one row tile of 4 or 2 panels (8 accumulators hide the FMA latency). */
#ifndef CRN_AVX2_NP
#define CRN_AVX2_NP 1
#endif
static const isa_kernels avx2_kernels = {avx2_get, CRN_AVX2_MR, CRN_AVX2_NP, 2, {0, 4, 2}};

/* ---------- AVX-512 (F + VL) + FMA: 32 zmm registers ---------- */
TARGET_BEGIN("avx512f,avx512vl,fma")

#ifndef CRN_AVX512_MR
#define CRN_AVX512_MR 10 /* 10 x 32: 20 accumulators; B = 50 rows split in 5 tiles */
#endif

static inline __attribute__((always_inline)) void avx512_body(
    const int TA, const int MR, const int NP, int kc, const float *a, ptrdiff_t lda,
    const float *b, ptrdiff_t bps, float *c, ptrdiff_t ldc, int nlast, int load) {
  __m512 acc[14][8]; /* MR <= 14, NP <= 8, MR * NP <= 28 */
  const __mmask16 ml = (__mmask16)((1u << nlast) - 1u);
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) {
      float *cp = c + i * ldc + p * P;
      acc[i][p] = !load ? _mm512_setzero_ps()
                  : p < NP - 1 ? _mm512_loadu_ps(cp)
                               : _mm512_maskz_loadu_ps(ml, cp);
    }
  }
  for (int k = 0; k < kc; k++) {
    __m512 bv[8];
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) bv[p] = _mm512_loadu_ps(b + p * bps + k * P);
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
      __m512 av = _mm512_set1_ps(TA ? a[k * lda + i] : a[i * lda + k]);
#pragma GCC unroll 8
      for (int p = 0; p < NP; p++) acc[i][p] = _mm512_fmadd_ps(av, bv[p], acc[i][p]);
    }
  }
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) {
      float *cp = c + i * ldc + p * P;
      if (p < NP - 1) _mm512_storeu_ps(cp, acc[i][p]);
      else _mm512_mask_storeu_ps(cp, ml, acc[i][p]);
    }
  }
}

#define AVX512_ROWS(NP)                                                                        \
  KDEF_TA(avx512_body, 1, NP) KDEF_TA(avx512_body, 2, NP) KDEF_TA(avx512_body, 3, NP)          \
  KDEF_TA(avx512_body, 4, NP) KDEF_TA(avx512_body, 5, NP) KDEF_TA(avx512_body, 6, NP)          \
  KDEF_TA(avx512_body, 7, NP) KDEF_TA(avx512_body, 8, NP) KDEF_TA(avx512_body, 9, NP)          \
  KDEF_TA(avx512_body, 10, NP) KDEF_TA(avx512_body, 11, NP) KDEF_TA(avx512_body, 12, NP)       \
  KDEF_TA(avx512_body, 13, NP) KDEF_TA(avx512_body, 14, NP)
#define AVX512_CASES(NP)                                                                       \
  KCASE(avx512_body, 1, NP) KCASE(avx512_body, 2, NP) KCASE(avx512_body, 3, NP)                \
  KCASE(avx512_body, 4, NP) KCASE(avx512_body, 5, NP) KCASE(avx512_body, 6, NP)                \
  KCASE(avx512_body, 7, NP) KCASE(avx512_body, 8, NP) KCASE(avx512_body, 9, NP)                \
  KCASE(avx512_body, 10, NP) KCASE(avx512_body, 11, NP) KCASE(avx512_body, 12, NP)             \
  KCASE(avx512_body, 13, NP) KCASE(avx512_body, 14, NP)
AVX512_ROWS(1)
AVX512_ROWS(2)
KDEF_TA(avx512_body, 1, 4) KDEF_TA(avx512_body, 2, 4) KDEF_TA(avx512_body, 3, 4)
KDEF_TA(avx512_body, 1, 8) KDEF_TA(avx512_body, 2, 8) KDEF_TA(avx512_body, 3, 8)

static ukernel avx512_get(int ta, int mr, int np) {
  switch (mr * 16 + np) {
    AVX512_CASES(1)
    AVX512_CASES(2)
    KCASE(avx512_body, 1, 4) KCASE(avx512_body, 2, 4) KCASE(avx512_body, 3, 4)
    KCASE(avx512_body, 1, 8) KCASE(avx512_body, 2, 8) KCASE(avx512_body, 3, 8)
  }
  return 0;
}

TARGET_END

/* M <= 3: one row tile, 8 panels (8 to 24 accumulators; matrix-vector streams 8 B panels). */
static const isa_kernels avx512_kernels = {avx512_get, CRN_AVX512_MR, 2, 3, {0, 8, 8, 8}};

int crn_gemm_best_isa(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return CRN_ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CRN_ISA_AVX2;
  return CRN_ISA_PLAIN;
}

#else /* not x86 with GCC/clang */

int crn_gemm_best_isa(void) { return CRN_ISA_PLAIN; }

#endif

/* The kernels for isa, never above what the CPU runs. */
static const isa_kernels *kernels_for(int isa) {
#if CRN_X86
  int best = crn_gemm_best_isa();
  if (isa > best) isa = best;
  if (isa == CRN_ISA_AVX512) return &avx512_kernels;
  if (isa == CRN_ISA_AVX2) return &avx2_kernels;
#else
  (void)isa;
#endif
  return &plain_kernels;
}

void crn_gemm(int isa, int transA, int transB, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, int beta, float *C, int ldc, int n0, int n1) {
  drive(kernels_for(isa), transA != 0, M, N, K, A, lda, NULL, transB != 0, B, ldb, beta, C, ldc,
        n0, n1);
}

void crn_gemm_packed(int isa, int transA, int M, int N, int K, const float *A, int lda,
                     const float *packed, int beta, float *C, int ldc, int n0, int n1) {
  drive(kernels_for(isa), transA != 0, M, N, K, A, lda, packed, 0, NULL, 0, beta, C, ldc, n0, n1);
}
