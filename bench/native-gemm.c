/*
 * bench/native-gemm.c: correctness and speed of native/gemm.c, outside Node.
 * Built and run by scripts/native-gemm-check.mjs (gcc -O2 -std=c11, no -march):
 *   node scripts/native-gemm-check.mjs            check every isa the CPU has, then time the shapes
 *   node scripts/native-gemm-check.mjs check      only the check (exit 1 on any mismatch)
 *   node scripts/native-gemm-check.mjs bench      only the timings
 *   node scripts/native-gemm-check.mjs bench -DCRN_AVX512_MR=8 ...   timings of another tile
 *
 * check: every path (plain, AVX2, AVX-512 where present) against a float64 reference on odd and even
 * sizes, both transposes, beta 0/1, packed and unpacked B, column ranges and padded strides; the
 * bound is the float32 summation bound 2 K eps sum|a||b|. Within one isa it also demands the same
 * bits whatever the [n0, n1) split and whether B was packed, and untouched memory outside the range.
 * bench: GFLOP/s of the LSTM/RNN shapes per isa and the percentage of a peak measured here by an
 * FMA throughput loop (printed with how it was obtained).
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../native/gemm.h"

static const char *ISA_NAME[] = {"plain", "avx2", "avx512"};

/* xorshift: the same data every run */
static uint64_t rng = 88172645463325252ull;
static double urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}
static int irand(int n) { return (int)(urand() * n); }
static float *randv(size_t n) {
  float *v = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) v[i] = (float)(urand() * 2 - 1);
  return v;
}
/* CPU time of this thread: the machine is shared, and time spent descheduled is not ours */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---------- check ---------- */

typedef struct {
  int ta, tb, M, N, K, lda, ldb, ldc, beta;
  float *A, *B, *C0; /* C0: C before the call, (M, ldc) */
} problem;

static void make(problem *p, int ta, int tb, int M, int N, int K, int beta, int pad) {
  p->ta = ta, p->tb = tb, p->M = M, p->N = N, p->K = K, p->beta = beta;
  p->lda = (ta ? M : K) + (pad ? irand(5) : 0);
  p->ldb = (tb ? K : N) + (pad ? irand(5) : 0);
  p->ldc = N + (pad ? irand(5) : 0);
  p->A = randv((size_t)(ta ? K : M) * p->lda);
  p->B = randv((size_t)(tb ? N : K) * p->ldb);
  p->C0 = randv((size_t)M * p->ldc);
}
static void unmake(problem *p) { free(p->A), free(p->B), free(p->C0); }

static float at(const float *X, int ld, int t, int r, int c) { return t ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c]; }

static int failures = 0;

/* C (after a call on [n0, n1)) against float64; elements outside the range must be C0's. */
static void verify(const problem *p, const float *C, int n0, int n1, const char *what) {
  size_t work = (size_t)p->M * p->N * (p->K + 1);
  int sample = work > (1u << 24); /* big shapes: 4000 random elements */
  int count = sample ? 4000 : p->M * p->ldc;
  for (int e = 0; e < count; e++) {
    int i = sample ? irand(p->M) : e / p->ldc, j = sample ? irand(p->ldc) : e % p->ldc;
    float got = C[(size_t)i * p->ldc + j], c0 = p->C0[(size_t)i * p->ldc + j];
    if (j < n0 || j >= n1) {
      if (memcmp(&got, &c0, sizeof got) != 0) {
        if (failures++ < 20) printf("FAIL %s: C[%d][%d] outside [%d,%d) changed\n", what, i, j, n0, n1);
        return;
      }
      continue;
    }
    double ref = p->beta ? c0 : 0, mag = fabs(ref);
    for (int k = 0; k < p->K; k++) {
      double t = (double)at(p->A, p->lda, p->ta, i, k) * at(p->B, p->ldb, p->tb, k, j);
      ref += t, mag += fabs(t);
    }
    double tol = 2.0 * (p->K + 1) * 5.96e-8 * mag + 1e-30;
    if (!(fabs(got - ref) <= tol)) {
      if (failures++ < 20) printf("FAIL %s: C[%d][%d] = %.9g, float64 %.9g (tol %.3g)\n", what, i, j, got, ref, tol);
      return;
    }
  }
}

/* One problem through one isa: unpacked, packed, split ranges; all checked, then compared bitwise. */
static void check_one(int isa, const problem *p) {
  char what[160];
  snprintf(what, sizeof what, "%s ta%d tb%d M%d N%d K%d beta%d lda%d ldb%d ldc%d", ISA_NAME[isa], p->ta,
           p->tb, p->M, p->N, p->K, p->beta, p->lda, p->ldb, p->ldc);
  size_t csz = (size_t)p->M * p->ldc;
  float *C1 = malloc(csz * 4 + 4), *C2 = malloc(csz * 4 + 4), *C3 = malloc(csz * 4 + 4);
  memcpy(C1, p->C0, csz * 4), memcpy(C2, p->C0, csz * 4), memcpy(C3, p->C0, csz * 4);

  crn_gemm(isa, p->ta, p->tb, p->M, p->N, p->K, p->A, p->lda, p->B, p->ldb, p->beta, C1, p->ldc, 0, p->N);
  verify(p, C1, 0, p->N, what);

  size_t pf = crn_packed_floats(p->K, p->N);
  float *pk = malloc((pf ? pf : 1) * 4);
  crn_pack_b(p->tb, p->K, p->N, p->B, p->ldb, pk);
  /* packed, in random 16-aligned ranges (as a thread pool would cut it) */
  for (int n0 = 0; n0 < p->N;) {
    int n1 = n0 + CRN_PANEL * (1 + irand(4));
    if (n1 > p->N) n1 = p->N;
    crn_gemm_packed(isa, p->ta, p->M, p->N, p->K, p->A, p->lda, pk, p->beta, C2, p->ldc, n0, n1);
    n0 = n1;
  }
  /* one inner range alone, unpacked: everything outside must stay */
  int panels = (p->N + CRN_PANEL - 1) / CRN_PANEL;
  int r0 = irand(panels) * CRN_PANEL, r1 = r0 + CRN_PANEL * (1 + irand(panels));
  if (r1 > p->N) r1 = p->N;
  crn_gemm(isa, p->ta, p->tb, p->M, p->N, p->K, p->A, p->lda, p->B, p->ldb, p->beta, C3, p->ldc, r0, r1);
  verify(p, C3, r0, r1, what);

  for (int i = 0; i < p->M; i++)
    for (int j = 0; j < p->N; j++) {
      size_t x = (size_t)i * p->ldc + j;
      if (memcmp(&C1[x], &C2[x], 4) || (j >= r0 && j < r1 && memcmp(&C1[x], &C3[x], 4))) {
        if (failures++ < 20) printf("FAIL %s: C[%d][%d] differs between splits/packing\n", what, i, j);
        i = p->M;
        break;
      }
    }
  free(C1), free(C2), free(C3), free(pk);
}

static int check(int best) {
  static const int small[] = {1, 3, 7, 16, 17, 33, 50, 65};
  static const int big[] = {128, 512, 2048, 2500};
  int runs = 0;
  double t0 = now();
  for (int isa = 0; isa <= best; isa++) {
    problem p;
    /* every small (M, N, K), cycling transposes, beta and padding */
    for (int a = 0; a < 8; a++)
      for (int b = 0; b < 8; b++)
        for (int c = 0; c < 8; c++) {
          int v = a * 64 + b * 8 + c;
          make(&p, v & 1, (v >> 1) & 1, small[a], small[b], small[c], (v >> 2) & 1, (v >> 3) & 1);
          check_one(isa, &p), unmake(&p), runs++;
        }
    /* each big size in each place, with small or mid-sized others, every transpose and beta */
    for (int s = 0; s < 4; s++)
      for (int place = 0; place < 3; place++)
        for (int v = 0; v < 8; v++) {
          int d[3] = {small[irand(8)], small[irand(8)], small[irand(8)]};
          d[place] = big[s];
          make(&p, v & 1, (v >> 1) & 1, d[0], d[1], d[2], (v >> 2) & 1, 1);
          check_one(isa, &p), unmake(&p), runs++;
        }
    /* the LSTM shapes themselves (sampled reference) */
    static const int lstm[][6] = {/* ta, tb, M, N, K, beta */
                                  {0, 0, 50, 2048, 512, 1},   {0, 0, 2500, 2048, 512, 0},
                                  {0, 1, 2500, 512, 2048, 0}, {1, 0, 512, 2048, 2500, 1},
                                  {0, 0, 2500, 65, 512, 0},   {1, 0, 512, 65, 2500, 1},
                                  {0, 0, 1, 2048, 512, 0},    {0, 0, 1, 100, 100, 1}};
    for (int s = 0; s < 8; s++) {
      make(&p, lstm[s][0], lstm[s][1], lstm[s][2], lstm[s][3], lstm[s][4], lstm[s][5], 1);
      check_one(isa, &p), unmake(&p), runs++;
    }
    /* K = 0 and M = 0 (beta 0 zeroes the range, beta 1 leaves it) */
    for (int beta = 0; beta < 2; beta++) {
      make(&p, 0, 0, 5, 40, 0, beta, 1), check_one(isa, &p), unmake(&p), runs++;
      make(&p, 0, 0, 0, 40, 9, beta, 1), check_one(isa, &p), unmake(&p), runs++;
    }
  }
  printf("check: %d problems x %d isa(s) (%s up), %s, %.1f s\n", runs / (best + 1), best + 1,
         ISA_NAME[best], failures ? "FAILED" : "all match", now() - t0);
  return failures != 0;
}

/* ---------- peak ---------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* 12 independent FMA chains (> latency x pipes) on a register: throughput, no memory. */
__attribute__((target("avx512f,fma"), noinline)) static float fma512(long n) {
  __m512 x[12], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) x[i] = _mm512_set1_ps((float)i);
  for (long r = 0; r < n; r++)
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) x[i] = _mm512_fmadd_ps(x[i], m, a);
  for (int i = 1; i < 12; i++) x[0] = _mm512_add_ps(x[0], x[i]);
  return _mm512_reduce_add_ps(x[0]);
}
__attribute__((target("avx2,fma"), noinline)) static float fma256(long n) {
  __m256 x[12], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) x[i] = _mm256_set1_ps((float)i);
  for (long r = 0; r < n; r++)
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) x[i] = _mm256_fmadd_ps(x[i], m, a);
  for (int i = 1; i < 12; i++) x[0] = _mm256_add_ps(x[0], x[i]);
  float o[8];
  _mm256_storeu_ps(o, x[0]);
  return o[0];
}
#endif

/* GFLOP/s of one core's FMA units at this isa's width, best of 5 short runs. */
static double peak(int isa) {
  if (isa == CRN_ISA_PLAIN) return 0;
  double best = 0;
  volatile float sink = 0;
  long n = 2000000;
  for (int r = 0; r < 5; r++) {
    double t = now();
#if defined(__x86_64__) && defined(__GNUC__)
    sink += isa == CRN_ISA_AVX512 ? fma512(n) : fma256(n);
#endif
    t = now() - t;
    double g = n * 12.0 * (isa == CRN_ISA_AVX512 ? 16 : 8) * 2 / t / 1e9;
    if (g > best) best = g;
  }
  (void)sink;
  return best;
}

static double cpu_mhz(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[256];
  double mhz = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "cpu MHz", 7) && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1) break;
  if (f) fclose(f);
  return mhz;
}

/* ---------- bench ---------- */

typedef struct {
  const char *name;
  int packed, ta, tb, M, N, K, beta;
} shape;

static const shape SHAPES[] = {
    {"in-cache tile", 1, 0, 0, 120, 64, 256, 1}, /* the register kernel's own speed (L1/L2) */
    {"2x512 step   h@Whh", 1, 0, 0, 50, 2048, 512, 1},
    {"2x512 proj   X@Wih", 1, 0, 0, 2500, 2048, 512, 0},
    {"2x512 dX     dG@W^T", 1, 0, 1, 2500, 512, 2048, 0},
    {"2x512 dh     dG@W^T", 1, 0, 1, 50, 512, 2048, 1},
    {"2x512 dW     X^T@dG", 0, 1, 0, 512, 2048, 2500, 1},
    {"2x512 dW (B packed)", 1, 1, 0, 512, 2048, 2500, 1}, /* what packing dG per call costs */
    {"2x512 dec    H@Wd", 1, 0, 0, 2500, 65, 512, 0},
    {"2x512 dec dX dL@Wd^T", 1, 0, 1, 2500, 512, 65, 0},
    {"2x512 dec dW H^T@dL", 0, 1, 0, 512, 65, 2500, 1},
    {"2x512 sample B=1", 1, 0, 0, 1, 2048, 512, 0},
    {"2x128 step", 1, 0, 0, 50, 512, 128, 1},
    {"2x128 proj", 1, 0, 0, 2500, 512, 128, 0},
    {"2x128 dX", 1, 0, 1, 2500, 128, 512, 0},
    {"2x128 dW", 0, 1, 0, 128, 512, 2500, 1},
    {"rnn100 step B=1", 1, 0, 0, 1, 100, 100, 1},
    {"rnn100 proj T=25", 1, 0, 0, 25, 100, 65, 0},
    {"rnn100 dW T=25", 0, 1, 0, 100, 100, 25, 1},
};

static void bench(int best, double budget, const char *only) {
  double mhz = cpu_mhz();
  printf("peak: an FMA throughput loop (12 independent register chains), best of 5; times are this thread's CPU time; /proc/cpuinfo says %.0f MHz\n", mhz);
  double pk[3] = {0, 0, 0};
  for (int isa = 1; isa <= best; isa++) {
    pk[isa] = peak(isa);
    printf("  %-6s %6.1f GFLOP/s per core = %.1f flop/cycle at %.0f MHz\n", ISA_NAME[isa], pk[isa],
           mhz > 0 ? pk[isa] * 1e3 / mhz : 0, mhz);
  }
  printf("%-22s %5s %5s %5s", "shape", "M", "N", "K");
  for (int isa = 0; isa <= best; isa++) printf(" | %6s GF/s %%pk", ISA_NAME[isa]);
  printf("\n");
  for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
    const shape *h = &SHAPES[s];
    if (only && !strstr(h->name, only)) continue;
    problem p;
    make(&p, h->ta, h->tb, h->M, h->N, h->K, h->beta, 0);
    float *pkd = malloc(crn_packed_floats(h->K, h->N) * 4);
    crn_pack_b(h->tb, h->K, h->N, p.B, p.ldb, pkd);
    float *C = malloc((size_t)h->M * p.ldc * 4);
    memcpy(C, p.C0, (size_t)h->M * p.ldc * 4);
    double flops = 2.0 * h->M * h->N * h->K;
    printf("%-22s %5d %5d %5d", h->name, h->M, h->N, h->K);
    for (int isa = 0; isa <= best; isa++) {
      double bestt = 1e30;
      long reps = 1;
      for (int round = 0; round < 4; round++) {
        double t = now();
        for (long r = 0; r < reps; r++) {
          if (h->packed)
            crn_gemm_packed(isa, h->ta, h->M, h->N, h->K, p.A, p.lda, pkd, h->beta, C, p.ldc, 0, h->N);
          else
            crn_gemm(isa, h->ta, h->tb, h->M, h->N, h->K, p.A, p.lda, p.B, p.ldb, h->beta, C, p.ldc, 0, h->N);
        }
        t = (now() - t) / reps;
        if (t < bestt) bestt = t;
        if (round == 0) reps = (long)(budget / 3 / t) + 1; /* later rounds: ~budget/3 s each */
      }
      double g = flops / bestt / 1e9;
      if (isa) printf(" | %11.1f %3.0f%%", g, 100 * g / pk[isa]);
      else printf(" | %11.1f    ", g);
    }
    printf("\n");
    fflush(stdout);
    free(pkd), free(C), unmake(&p);
  }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "all";
  int best = crn_gemm_best_isa();
  if (argc > 2) best = atoi(argv[2]) < best ? atoi(argv[2]) : best; /* hold to a lower isa */
  double budget = argc > 3 ? atof(argv[3]) : 0.15;
  printf("best isa on this CPU: %s\n", ISA_NAME[crn_gemm_best_isa()]);
  int rc = 0;
  if (strcmp(mode, "bench")) rc = check(best);
  if (strcmp(mode, "check")) bench(best, budget, argc > 4 ? argv[4] : NULL);
  return rc;
}
