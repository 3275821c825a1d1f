/* The kernels for AVX-512 CPUs, 512-bit vectors (x86-64 only; chosen at run time by cpuid). */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")
#define KN(name) name##_avx512
#include "kernels.inc"
#endif
