// NEON int32 vector traits for qsimd_impl.h (4 lanes), in two flavours:
//  QVecT<false>: ARMv8.0-A. Pairs16 and Quads8 GEMMs by widening multiplies (smull /
//    smlal into int16 or int32), whose products of one column land in neighbouring lanes:
//    the accumulators stay as two vectors of pairwise partial sums during the k loop
//    (acc_begin / acc_end) and are added pairwise once per tile.
//  QVecT<true>: the ARMv8.2 dot product. Quads8 as sdot, four signed bytes per lane into one
//    accumulator; only code built with +dotprod may instantiate it (qkernels_dotprod.cpp).
// Both multiply signed bytes, so they take the Quads8Signed layout: the activations are
// packed as a - 128 and the bias carries the difference. The TFLite multiply is sqrdmulh
// plus a rounding shift (gemmlowp's form), equal to q::mul_by_multiplier bit for bit.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/qkernels.h"

namespace mnv2::kernels::neon {

template <bool DOTPROD>
struct QVecT {
  using R = int32x4_t;
  using Wide = int32x4x2_t;  // pairwise partial sums: columns 0,1 then 2,3
  static constexpr int L = 4;

  static R zero() { return vdupq_n_s32(0); }
  static R set1(int32_t v) { return vdupq_n_s32(v); }
  static R load(const void* p) { return vld1q_s32(static_cast<const int32_t*>(p)); }
  // One k group of a row for dot(): in every lane, except for the sdot kernel, whose dot
  // reads lane 0 only (sdot by element): built this way GCC loads it with one ldr, where a
  // broadcast cost a dup per row and group on the vector pipes that sdot needs.
  static R bcast32(const void* p) {
    if constexpr (DOTPROD) {
      uint32_t v;
      std::memcpy(&v, p, 4);
      const int32x2_t d = vreinterpret_s32_u64(vcreate_u64(v));
      return vcombine_s32(d, d);
    } else {
      return vld1q_dup_s32(static_cast<const int32_t*>(p));
    }
  }
  static R add(R a, R b) { return vaddq_s32(a, b); }
  static R sub(R a, R b) { return vsubq_s32(a, b); }
  static R and_(R a, R b) { return vandq_s32(a, b); }
  static R max(R a, R b) { return vmaxq_s32(a, b); }
  static R min(R a, R b) { return vminq_s32(a, b); }
  static R srli(R a, int n) {
    return vreinterpretq_s32_u32(vshlq_u32(vreinterpretq_u32_s32(a), vdupq_n_s32(-n)));
  }
  static R sllv(R a, R n) { return vshlq_s32(a, n); }
  static R srav(R a, R n) { return vshlq_s32(a, vnegq_s32(n)); }
  static R cmpgt(R a, R b) { return vreinterpretq_s32_u32(vcgtq_s32(a, b)); }

  // q::mul_by_multiplier: the left shift wraps (sshl), sqrdmulh is srdhm including its one
  // saturating case, and the right shift rounds half away from zero: srshl rounds half up,
  // so negative values first lose one (saturating: only INT32_MIN is affected, and it
  // gives the same quotient). With rsh = 0 the fix-up is 0 (the and with -0).
  static R mul_by_multiplier(R acc, R mult, R lsh, R rsh, R /*rmask*/) {
    const R h = vqrdmulhq_s32(vshlq_s32(acc, lsh), mult);
    const R neg = vnegq_s32(rsh);
    const R fix = vshrq_n_s32(vandq_s32(h, neg), 31);
    return vrshlq_s32(vqaddq_s32(h, fix), neg);
  }

  // q::requantize_float's rounding: fcvtns rounds to nearest even like lrintf, but
  // saturates; products at or above 2^31 must read as INT32_MIN as in the scalar twin
  // (INT32_MAX + 1 wraps there).
  static R mul_round(R acc, R s) {
    const float32x4_t f = vmulq_f32(vcvtq_f32_s32(acc), vreinterpretq_f32_s32(s));
    const R r = vcvtnq_s32_f32(f);
    return vsubq_s32(r, vreinterpretq_s32_u32(vcgeq_f32(f, vdupq_n_f32(2147483648.f))));
  }

  template <QLayout LAYOUT>
  static constexpr bool kWide = !(DOTPROD && LAYOUT == QLayout::Quads8Signed);

  // The bias as pairwise partial sums: (b0, 0, b1, 0), (b2, 0, b3, 0).
  template <QLayout LAYOUT>
  static auto acc_begin(R b) {
    if constexpr (kWide<LAYOUT>)
      return Wide{{vzip1q_s32(b, vdupq_n_s32(0)), vzip2q_s32(b, vdupq_n_s32(0))}};
    else
      return b;
  }
  template <QLayout LAYOUT, class A>
  static R acc_end(const A& a) {
    if constexpr (kWide<LAYOUT>)
      return vpaddq_s32(a.val[0], a.val[1]);
    else
      return a;
  }

  // a: the broadcast k group of one row; w: one group of the packed panel (4 columns).
  template <QLayout LAYOUT, class A>
  static A dot(A acc, R a, R w) {
    static_assert(!(DOTPROD && LAYOUT == QLayout::Pairs16), "Pairs16 runs on QVecT<false>");
    if constexpr (LAYOUT == QLayout::Pairs16) {
      // a = (a0, a1) x 4 as int16 (activations are at most 255), w = column-major pairs.
      const int16x8_t a16 = vreinterpretq_s16_s32(a), w16 = vreinterpretq_s16_s32(w);
      acc.val[0] = vmlal_s16(acc.val[0], vget_low_s16(a16), vget_low_s16(w16));
      acc.val[1] = vmlal_high_s16(acc.val[1], a16, w16);
      return acc;
    } else if constexpr (DOTPROD) {
      return vdotq_lane_s32(acc, vreinterpretq_s8_s32(w), vreinterpret_s8_s32(vget_low_s32(a)), 0);
    } else {
      // Products of two signed bytes fit int16 (at most 128 * 128); sadalp widens pairs
      // of them into the int32 partial sums.
      const int8x16_t a8 = vreinterpretq_s8_s32(a), w8 = vreinterpretq_s8_s32(w);
      acc.val[0] = vpadalq_s16(acc.val[0], vmull_s8(vget_low_s8(a8), vget_low_s8(w8)));
      acc.val[1] = vpadalq_s16(acc.val[1], vmull_high_s8(a8, w8));
      return acc;
    }
  }

  // The low byte of each lane (values already within 0..255).
  static uint8x8_t bytes(R v) {
    const uint16x4_t h = vmovn_u32(vreinterpretq_u32_s32(v));
    return vmovn_u16(vcombine_u16(h, h));
  }
  static void store_u8(uint8_t* p, R v) {
    const uint32_t w = vget_lane_u32(vreinterpret_u32_u8(bytes(v)), 0);
    std::memcpy(p, &w, 4);
  }
  static void store_u8_n(uint8_t* p, R v, int n) {
    uint8_t t[8];
    vst1_u8(t, bytes(v));
    std::memcpy(p, t, size_t(n));
  }
};

using QVec = QVecT<false>;

}  // namespace mnv2::kernels::neon
