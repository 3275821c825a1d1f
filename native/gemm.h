/*
 * The native backend's matrix multiply: the contract between the GEMM (native/gemm.c) and the
 * rest of the addon (the thread pool splits calls by column ranges; the backend caches packed
 * weights). Row-major float32 throughout.
 *
 *   C (M, N) = op(A) @ op(B) + beta * C        op(A) is (M, K), op(B) is (K, N)
 *   transA: A is stored (K, M) with row stride lda; otherwise (M, K).
 *   transB: B is stored (N, K) with row stride ldb; otherwise (K, N).
 *   beta is 0 (overwrite C) or 1 (accumulate into C).
 *
 * Every function computes only the columns [n0, n1) of C, so a thread pool can give each thread
 * a range. n0 must be a multiple of CRN_PANEL (n1 may be N). Each element of C is computed by
 * the same sequence of operations whatever the range split, so 1 thread and N threads agree bit
 * for bit.
 *
 * isa picks the code path: CRN_ISA_AVX512, CRN_ISA_AVX2 (AVX2 + FMA) or CRN_ISA_PLAIN (portable C).
 * crn_gemm_best_isa() says which the CPU supports (cpuid); a caller may pass a lower one (tests,
 * benchmarks, a user holding the AVX2 path) but never a higher one.
 */
#ifndef CRN_GEMM_H
#define CRN_GEMM_H
#include <stddef.h>

#define CRN_PANEL 16

enum { CRN_ISA_PLAIN = 0, CRN_ISA_AVX2 = 1, CRN_ISA_AVX512 = 2 };

/* The best code path this CPU runs (cpuid, checked once per call; cheap). */
int crn_gemm_best_isa(void);

/* C[:, n0:n1] = op(A) @ op(B)[:, n0:n1] + beta * C[:, n0:n1], B read where it lies. */
void crn_gemm(int isa, int transA, int transB, int M, int N, int K,
              const float *A, int lda, const float *B, int ldb,
              int beta, float *C, int ldc, int n0, int n1);

/* Floats needed to hold op(B) (K, N) packed: ceil(N / CRN_PANEL) panels of K x CRN_PANEL. */
size_t crn_packed_floats(int K, int N);

/* Pack op(B) (K, N) into panels (zero padded on the right). Same layout for every isa. */
void crn_pack_b(int transB, int K, int N, const float *B, int ldb, float *packed);

/* As crn_gemm, with op(B) already packed by crn_pack_b (the weights, packed once per update). */
void crn_gemm_packed(int isa, int transA, int M, int N, int K,
                     const float *A, int lda, const float *packed,
                     int beta, float *C, int ldc, int n0, int n1);

#endif
