/* The kernels for AVX2 + FMA CPUs (x86-64 only; chosen at run time by cpuid). */
#if defined(__x86_64__)
#pragma GCC target("avx2,fma")
#define KN(name) name##_avx2
#include "kernels.inc"
#endif
