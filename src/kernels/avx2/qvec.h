// AVX2 int32 vector traits for qsimd_impl.h (8 lanes).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/qkernels.h"

namespace mnv2::kernels::avx2 {

struct QVec {
  using R = __m256i;
  static constexpr int L = 8;
  static R zero() { return _mm256_setzero_si256(); }
  static R set1(int32_t v) { return _mm256_set1_epi32(v); }
  static R set1_64(int64_t v) { return _mm256_set1_epi64x(v); }
  static R load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  // vbroadcastss: a pure load on AMD and Intel (vpbroadcastd from memory can cost a
  // shuffle uop); the bits are the same.
  static R bcast32(const void* p) {
    return _mm256_castps_si256(_mm256_broadcast_ss(static_cast<const float*>(p)));
  }
  static R add(R a, R b) { return _mm256_add_epi32(a, b); }
  static R sub(R a, R b) { return _mm256_sub_epi32(a, b); }
  static R and_(R a, R b) { return _mm256_and_si256(a, b); }
  static R max(R a, R b) { return _mm256_max_epi32(a, b); }
  static R min(R a, R b) { return _mm256_min_epi32(a, b); }
  static R srli(R a, int n) { return _mm256_srli_epi32(a, n); }
  static R sllv(R a, R n) { return _mm256_sllv_epi32(a, n); }
  static R srav(R a, R n) { return _mm256_srav_epi32(a, n); }
  static R cmpgt(R a, R b) { return _mm256_cmpgt_epi32(a, b); }
  static R mul_even(R a, R b) { return _mm256_mul_epi32(a, b); }
  static R add64(R a, R b) { return _mm256_add_epi64(a, b); }
  static R srli64(R a, int n) { return _mm256_srli_epi64(a, n); }
  static R slli64(R a, int n) { return _mm256_slli_epi64(a, n); }
  static R blend_odd(R even, R odd) { return _mm256_blend_epi32(even, odd, 0xAA); }

  // acc + dot products of a (broadcast activations) and w (packed weights), per lane.
  static R mul_round(R acc, R s) {
    return _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_castsi256_ps(s)));
  }

  template <QLayout LAYOUT>
  static R dot(R acc, R a, R w) {
    if constexpr (LAYOUT == QLayout::Pairs16) {
      return _mm256_add_epi32(acc, _mm256_madd_epi16(a, w));
    } else {
      // vpdpbusd emulated exactly: u8 x s8 in groups of four, split into the even and odd
      // bytes of each 16-bit half, widened to int16 (zero- / sign-extended), two vpmaddwd.
      // QuadsU8 swaps the roles: the weights unsigned, the (shifted) activations signed.
      const __m256i u = LAYOUT == QLayout::Quads8 ? a : w, s = LAYOUT == QLayout::Quads8 ? w : a;
      const __m256i ue = _mm256_and_si256(u, _mm256_set1_epi16(0x00FF));
      const __m256i uo = _mm256_srli_epi16(u, 8);
      const __m256i se = _mm256_srai_epi16(_mm256_slli_epi16(s, 8), 8);
      const __m256i so = _mm256_srai_epi16(s, 8);
      return _mm256_add_epi32(
          acc, _mm256_add_epi32(_mm256_madd_epi16(ue, se), _mm256_madd_epi16(uo, so)));
    }
  }

  // The low byte of each lane (values already within 0..255) to 8 bytes.
  static __m128i bytes(R v) {
    const __m256i sh = _mm256_shuffle_epi8(
        v, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8,
                            12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(sh), _mm256_extracti128_si256(sh, 1));
  }
  // Two rows of a 16-column tile at once: row m's int32 lanes in a0 (columns 0..7) and a1
  // (8..15), row m + 1's in b0, b1, each clamped to [lo, hi] (within 0..255, broadcast as
  // bytes) and stored as 16 bytes to pm and pn (pn null: row m alone). The saturating packs
  // keep every value's order against 0 and 255, so clamping the bytes afterwards gives the
  // int32 clamp's results; 4 shuffles per 32 outputs where store_u8 takes 3 per 8.
  static void store_u8_2x16(uint8_t* pm, uint8_t* pn, R a0, R a1, R b0, R b1, __m256i lo8,
                            __m256i hi8) {
    // Dwords of u: a0[0..3] a1[0..3] b0[0..3] b1[0..3] | a0[4..7] a1[4..7] b0[4..7] b1[4..7].
    const __m256i u = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(b0, b1));
    __m256i v = _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    v = _mm256_min_epu8(_mm256_max_epu8(v, lo8), hi8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(pm), _mm256_castsi256_si128(v));
    if (pn) _mm_storeu_si128(reinterpret_cast<__m128i*>(pn), _mm256_extracti128_si256(v, 1));
  }
  static __m256i bytes_of(int32_t v) { return _mm256_set1_epi8(char(v)); }
  static void store_u8(uint8_t* p, R v) { _mm_storel_epi64(reinterpret_cast<__m128i*>(p), bytes(v)); }
  static void store_u8_n(uint8_t* p, R v, int n) {
    alignas(16) uint8_t t[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), bytes(v));
    std::memcpy(p, t, size_t(n));
  }
};

}  // namespace mnv2::kernels::avx2
