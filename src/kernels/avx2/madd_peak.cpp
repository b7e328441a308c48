#include <immintrin.h>

#include "kernels/fma_peak.h"

namespace mnv2::kernels {

int64_t madd_peak_avx2(int64_t iterations, int32_t* sink) {
  // The int8 GEMM's instructions without their loads: 12 accumulator chains, each
  // a += vpmaddwd(a, w) (16 int16 multiply-accumulates per vpmaddwd + vpaddd pair). Inline
  // assembly: written with intrinsics over a shared operand, GCC computed the two distinct
  // products once per iteration (2 vpmaddwd counted as 12, a 6x overstatement) and the
  // loop was one serial chain. Checked with objdump -d: 12 vpmaddwd + 12 vpaddd on ymm
  // registers, a counter and a branch.
  __m256i a0 = _mm256_set1_epi32(1), a1 = _mm256_set1_epi32(2), a2 = _mm256_set1_epi32(3),
          a3 = _mm256_set1_epi32(4), a4 = _mm256_set1_epi32(5), a5 = _mm256_set1_epi32(6),
          a6 = _mm256_set1_epi32(7), a7 = _mm256_set1_epi32(8), a8 = _mm256_set1_epi32(9),
          a9 = _mm256_set1_epi32(10), a10 = _mm256_set1_epi32(11), a11 = _mm256_set1_epi32(12);
  const __m256i w = _mm256_set1_epi32(0x0001FFFF);
  __m256i t;
#define MNV2_STEP(a)                                                                           \
  __asm__("vpmaddwd %[w], %[acc], %[t]\n\tvpaddd %[t], %[acc], %[acc]" : [acc] "+x"(a), \
          [t] "=&x"(t) : [w] "x"(w))
  for (int64_t i = 0; i < iterations; ++i) {
    MNV2_STEP(a0);
    MNV2_STEP(a1);
    MNV2_STEP(a2);
    MNV2_STEP(a3);
    MNV2_STEP(a4);
    MNV2_STEP(a5);
    MNV2_STEP(a6);
    MNV2_STEP(a7);
    MNV2_STEP(a8);
    MNV2_STEP(a9);
    MNV2_STEP(a10);
    MNV2_STEP(a11);
  }
#undef MNV2_STEP
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                               _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
  s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));
  *sink = _mm256_cvtsi256_si32(s);
  return iterations * 12 * 16;
}

}  // namespace mnv2::kernels
