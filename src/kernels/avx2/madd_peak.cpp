#include <immintrin.h>

#include "kernels/fma_peak.h"

namespace mnv2::kernels {

int64_t madd_peak_avx2(int64_t iterations, int32_t* sink) {
  // The int8 GEMM's inner-loop shape without its loads: 12 accumulators, each
  // acc += vpmaddwd(x, w) (16 multiply-accumulates per pair of instructions).
  __m256i a0 = _mm256_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
          a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  __m256i x = _mm256_set1_epi32(0x00030002), w0 = _mm256_set1_epi32(0x00050007),
          w1 = _mm256_set1_epi32(0x0001FFFF);
  for (int64_t i = 0; i < iterations; ++i) {
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x, w0));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x, w1));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(x, w0));
    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(x, w1));
    a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(x, w0));
    a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(x, w1));
    a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(x, w0));
    a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(x, w1));
    a8 = _mm256_add_epi32(a8, _mm256_madd_epi16(x, w0));
    a9 = _mm256_add_epi32(a9, _mm256_madd_epi16(x, w1));
    a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(x, w0));
    a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(x, w1));
    x = _mm256_xor_si256(x, a0);  // keeps the compiler from hoisting the products
  }
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                               _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
  s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));
  *sink = _mm256_cvtsi256_si32(s);
  return iterations * 12 * 16;
}

}  // namespace mnv2::kernels
