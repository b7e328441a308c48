// The int8 dot-product peak (bench/fma_peak): vpdpbusd chains with no loads.
#include <immintrin.h>

#include "kernels/fma_peak.h"

namespace mnv2::kernels {

int64_t vnni_peak_avx512(int64_t iterations, int32_t* sink) {
  // 16 chains: vpdpbusd has a 5-cycle latency and up to two issue ports. Named variables
  // (an array of __m512i is kept on the stack by GCC 12, one store per chain and step) with
  // distinct starts; the empty asm keeps the compiler from merging or hoisting the chains.
  __m512i a0 = _mm512_set1_epi32(0), a1 = _mm512_set1_epi32(1), a2 = _mm512_set1_epi32(2),
          a3 = _mm512_set1_epi32(3), a4 = _mm512_set1_epi32(4), a5 = _mm512_set1_epi32(5),
          a6 = _mm512_set1_epi32(6), a7 = _mm512_set1_epi32(7), a8 = _mm512_set1_epi32(8),
          a9 = _mm512_set1_epi32(9), a10 = _mm512_set1_epi32(10), a11 = _mm512_set1_epi32(11),
          a12 = _mm512_set1_epi32(12), a13 = _mm512_set1_epi32(13), a14 = _mm512_set1_epi32(14),
          a15 = _mm512_set1_epi32(15);
  const __m512i x = _mm512_set1_epi32(0x01020304), w = _mm512_set1_epi32(0x7F80FF01);
  for (int64_t i = 0; i < iterations; ++i) {
    __asm__("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7));
    __asm__("" : "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11), "+v"(a12), "+v"(a13), "+v"(a14),
            "+v"(a15));
    a0 = _mm512_dpbusd_epi32(a0, x, w);
    a1 = _mm512_dpbusd_epi32(a1, x, w);
    a2 = _mm512_dpbusd_epi32(a2, x, w);
    a3 = _mm512_dpbusd_epi32(a3, x, w);
    a4 = _mm512_dpbusd_epi32(a4, x, w);
    a5 = _mm512_dpbusd_epi32(a5, x, w);
    a6 = _mm512_dpbusd_epi32(a6, x, w);
    a7 = _mm512_dpbusd_epi32(a7, x, w);
    a8 = _mm512_dpbusd_epi32(a8, x, w);
    a9 = _mm512_dpbusd_epi32(a9, x, w);
    a10 = _mm512_dpbusd_epi32(a10, x, w);
    a11 = _mm512_dpbusd_epi32(a11, x, w);
    a12 = _mm512_dpbusd_epi32(a12, x, w);
    a13 = _mm512_dpbusd_epi32(a13, x, w);
    a14 = _mm512_dpbusd_epi32(a14, x, w);
    a15 = _mm512_dpbusd_epi32(a15, x, w);
  }
  const __m512i s0 = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
  const __m512i s1 = _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7));
  const __m512i s2 = _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11));
  const __m512i s3 = _mm512_add_epi32(_mm512_add_epi32(a12, a13), _mm512_add_epi32(a14, a15));
  const __m512i s = _mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3));
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, s);
  int32_t t = 0;
  for (int32_t v : lanes) t += v;
  *sink = t;
  return iterations * 16 * 64;
}

}  // namespace mnv2::kernels
