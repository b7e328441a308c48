// Quantization of the float graph input to uint8: the loops shared by the reference
// (runtime/qreference.cpp, baseline ISA) and the kernel tables (QKernelTable::quantize,
// compiled with the table's vector ISA), one source so that every copy computes the same
// bytes. They are static: each translation unit keeps its own copy, built for its ISA (the
// one linked copy of an inline function could be the one built for a wider ISA).
//
// GCC if-converts the float selects below, and so vectorizes the loops, only when
// comparisons may not trap; no code here reads the floating-point exception flags, and the
// values do not change. Callers carry MNV2_NO_TRAPPING_MATH too, so that these inline.
#pragma once

#include <cstdint>

#if defined(__GNUC__) && !defined(__clang__)
#define MNV2_NO_TRAPPING_MATH __attribute__((optimize("no-trapping-math")))
#else
#define MNV2_NO_TRAPPING_MATH
#endif

namespace mnv2::kernels {

// TFLite's AffineQuantize: clamp(round(x / scale) + zp) to 0..255, ties away from zero.
MNV2_NO_TRAPPING_MATH static inline void quantize_away(const float* __restrict x,
                                                       uint8_t* __restrict out, int64_t n,
                                                       float scale, int32_t zp) {
  for (int64_t i = 0; i < n; ++i) {
    // Branch-free so that it vectorizes. Clamping first keeps the int conversion defined
    // (NaN compares false: it becomes -1024, i.e. 0 after the final clamp); v - trunc(v)
    // is exact in float.
    float v = x[i] / scale;
    v = v > -1024.f ? v : -1024.f;
    v = v < 1024.f ? v : 1024.f;
    int32_t r = int32_t(v);  // truncation
    const float d = v - float(r);
    r += d >= 0.5f ? 1 : 0;
    r -= d <= -0.5f ? 1 : 0;
    r += zp;
    r = r > 0 ? r : 0;
    out[i] = uint8_t(r < 255 ? r : 255);
  }
}

// XNNPACK's QUANTIZE: clamp(rint(x * (1 / scale)) + zp), the reciprocal in float, ties to
// even.
MNV2_NO_TRAPPING_MATH static inline void quantize_even(const float* __restrict x,
                                                       uint8_t* __restrict out, int64_t n,
                                                       float scale, int32_t zp) {
  const float inv = 1.0f / scale;
  // Adding and subtracting 1.5 * 2^23 rounds |v| <= 1024 to an integer, ties to even (the
  // default rounding mode), as XNNPACK's magic-bias conversion does; branch-free.
  const float magic = 12582912.f;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i] * inv;
    v = v > -1024.f ? v : -1024.f;  // NaN compares false: -1024, i.e. 0 after the clamp
    v = v < 1024.f ? v : 1024.f;
    int32_t r = int32_t((v + magic) - magic) + zp;
    r = r > 0 ? r : 0;
    out[i] = uint8_t(r < 255 ? r : 255);
  }
}

// QKernelTable::quantize: each table takes the address of its own translation unit's copy.
MNV2_NO_TRAPPING_MATH static inline void quantize_u8(const float* x, uint8_t* y, int64_t n,
                                                     float scale, int32_t zp, bool round_even) {
  if (round_even)
    quantize_even(x, y, n, scale, zp);
  else
    quantize_away(x, y, n, scale, zp);
}

}  // namespace mnv2::kernels
