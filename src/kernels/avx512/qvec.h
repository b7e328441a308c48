// AVX-512 int32 vector traits for qsimd_impl.h (16 lanes): a lane-for-lane mirror of
// avx2/qvec.h with the 512-bit forms (F, BW for vpmaddwd, VNNI for vpdpbusd).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/qkernels.h"
#include "kernels/x86_intrin.h"

namespace mnv2::kernels::avx512 {

struct QVec {
  using R = __m512i;
  static constexpr int L = 16;
  static R zero() { return _mm512_setzero_si512(); }
  static R set1(int32_t v) { return _mm512_set1_epi32(v); }
  static R set1_64(int64_t v) { return _mm512_set1_epi64(v); }
  static R load(const void* p) { return _mm512_loadu_si512(p); }
  static R bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static R add(R a, R b) { return _mm512_add_epi32(a, b); }
  static R sub(R a, R b) { return _mm512_sub_epi32(a, b); }
  static R and_(R a, R b) { return _mm512_and_si512(a, b); }
  static R max(R a, R b) { return _mm512_max_epi32(a, b); }
  static R min(R a, R b) { return _mm512_min_epi32(a, b); }
  static R srli(R a, int n) { return _mm512_srli_epi32(a, unsigned(n)); }
  static R sllv(R a, R n) { return _mm512_sllv_epi32(a, n); }
  static R srav(R a, R n) { return _mm512_srav_epi32(a, n); }
  // All-ones lanes where a > b (signed), as the AVX2 compare returns.
  static R cmpgt(R a, R b) { return _mm512_maskz_set1_epi32(_mm512_cmpgt_epi32_mask(a, b), -1); }
  // Signed 32 x 32 -> 64 products of the low dword of each 64-bit lane (vpmuldq).
  static R mul_even(R a, R b) { return _mm512_mul_epi32(a, b); }
  static R add64(R a, R b) { return _mm512_add_epi64(a, b); }
  static R srli64(R a, int n) { return _mm512_srli_epi64(a, unsigned(n)); }
  static R slli64(R a, int n) { return _mm512_slli_epi64(a, unsigned(n)); }
  // Lane i from `odd` where mask bit i is set (the odd lanes), else from `even`.
  static R blend_odd(R even, R odd) { return _mm512_mask_blend_epi32(__mmask16(0xAAAA), even, odd); }

  // Converts with the MXCSR rounding (nearest even by default), as the AVX2 form does.
  static R mul_round(R acc, R s) {
    return _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_castsi512_ps(s)));
  }

  template <QLayout LAYOUT>
  static R dot(R acc, R a, R w) {
    if constexpr (LAYOUT == QLayout::Pairs16) {
      return _mm512_add_epi32(acc, _mm512_madd_epi16(a, w));
    } else if constexpr (LAYOUT == QLayout::Quads8) {
      // vpdpbusd: unsigned bytes of the first source times signed bytes of the second,
      // four per lane, summed into acc without saturation.
      return _mm512_dpbusd_epi32(acc, a, w);
    } else {  // QuadsU8: the weights unsigned, the (shifted) activations signed
      return _mm512_dpbusd_epi32(acc, w, a);
    }
  }

  // The low byte of each lane (values already within 0..255): vpmovdb truncates.
  static void store_u8(uint8_t* p, R v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(v));
  }
  static void store_u8_n(uint8_t* p, R v, int n) {
    _mm512_mask_cvtepi32_storeu_epi8(p, __mmask16((1u << n) - 1u), v);
  }
  // The sum of the 16 bytes at p where m is 0xFF (vpsadbw): the QuadsU8 row sums of the
  // first convolution's patches (qsimd::SmallConv).
  static int32_t sum_u8x16(const uint8_t* p, const uint8_t* m) {
    const __m128i v = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)),
                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(m)));
    const __m128i s = _mm_sad_epu8(v, _mm_setzero_si128());
    return _mm_cvtsi128_si32(_mm_add_epi64(s, _mm_unpackhi_epi64(s, s)));
  }
};

}  // namespace mnv2::kernels::avx512
