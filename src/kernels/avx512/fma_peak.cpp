// GCC 12 reports the unused merge operand of _mm512_reduce_add_ps as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels/fma_peak.h"

#include <immintrin.h>

namespace mnv2::kernels {

int64_t fma_peak_avx512(int64_t iterations, float* sink) {
  // 16 chains: enough for two 512-bit FMA ports at 4-cycle latency.
  // Distinct start values and an empty asm over every accumulator keep 16 real chains
  // (with equal starts GCC may merge identical chains into one; see the AVX2 loop).
  __m512 a[16];
  for (int j = 0; j < 16; ++j) a[j] = _mm512_set1_ps(0.1f + 0.01f * float(j));
  const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t i = 0; i < iterations; ++i) {
    __asm__("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]),
            "+v"(a[6]), "+v"(a[7]));
    __asm__("" : "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]), "+v"(a[12]), "+v"(a[13]),
            "+v"(a[14]), "+v"(a[15]));
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) a[j] = _mm512_fmadd_ps(a[j], b, c);
  }
  __m512 s = a[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, a[j]);
  *sink = _mm512_reduce_add_ps(s);
  return iterations * 16 * 16;
}

}  // namespace mnv2::kernels
