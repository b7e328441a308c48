// Fixed-point arithmetic of TFLite's integer kernels, scalar and header-only so that the
// integer reference executor, the packing code and the kernels' scalar twins share one
// definition. Every function is total: int32 overflow wraps (two's complement) instead of
// being undefined, so SIMD kernels that wrap in the same places agree bit for bit.
//
// Conventions (TFLite): a real multiplier r is represented as a Q31 `mult` in [2^30, 2^31)
// (or 0) and a `shift` with r = mult * 2^(shift - 31); shift > 0 is a left shift.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "mnv2/mnv2.h"

namespace mnv2::q {

struct Multiplier {
  int32_t mult = 0;
  int shift = 0;  // positive = left shift
  bool operator==(const Multiplier&) const = default;
};

// TFLite's QuantizeMultiplier: frexp, round half away from zero to Q31, renormalise when the
// rounding reaches 2^31, and map multipliers below about 2^-31 to zero. Multipliers whose
// shift would exceed 30 (r >= 2^30) are refused: no sane model has them and they would
// shift every value out of range.
inline Multiplier quantize_multiplier(double r) {
  if (!(std::isfinite(r))) throw Error("quantized multiplier is not finite");
  if (r == 0.0) return {};
  int shift = 0;
  const double frac = std::frexp(r, &shift);  // r = frac * 2^shift, |frac| in [0.5, 1)
  int64_t fixed = static_cast<int64_t>(std::round(frac * double(int64_t(1) << 31)));
  if (fixed == (int64_t(1) << 31)) {
    fixed /= 2;
    ++shift;
  }
  if (shift < -31) return {};
  if (shift > 30)
    throw Error("quantized multiplier " + std::to_string(r) + " is too large (>= 2^30)");
  return {static_cast<int32_t>(fixed), shift};
}

// (a * b + 2^30) / 2^31 rounded as TFLite's SaturatingRoundingDoublingHighMul: the truncating
// division of the nudged product equals floor((a*b + 2^30) / 2^31) for both signs, and the
// only overflow (a == b == INT32_MIN) saturates to INT32_MAX.
inline int32_t srdhm(int32_t a, int32_t b) {
  if (a == std::numeric_limits<int32_t>::min() && b == std::numeric_limits<int32_t>::min())
    return std::numeric_limits<int32_t>::max();
  const int64_t ab = int64_t(a) * int64_t(b);
  const int64_t nudge = ab >= 0 ? (int64_t(1) << 30) : (1 - (int64_t(1) << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t(1) << 31));
}

// x / 2^e rounded to nearest, ties away from zero (TFLite's RoundingDivideByPOT), e in 0..31.
inline int32_t rdbpot(int32_t x, int e) {
  const int32_t mask = static_cast<int32_t>((uint32_t(1) << e) - 1u);
  const int32_t rem = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

// x * 2^s with two's complement wrap-around (s in 0..31).
inline int32_t shl_wrap(int32_t x, int s) { return static_cast<int32_t>(uint32_t(x) << s); }
inline int32_t add_wrap(int32_t a, int32_t b) {
  return static_cast<int32_t>(uint32_t(a) + uint32_t(b));
}

// TFLite's MultiplyByQuantizedMultiplier (the double-rounding form): shift in -31..30.
inline int32_t mul_by_multiplier(int32_t x, int32_t mult, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return rdbpot(srdhm(shl_wrap(x, left), mult), right);
}

// The output stage of every quantized conv / FC: requantize an int32 accumulator, add the
// output zero point, clamp to the activation range [qmin, qmax] (within 0..255).
inline uint8_t requantize(int32_t acc, int32_t mult, int shift, int32_t out_zp, int32_t qmin,
                          int32_t qmax) {
  int32_t v = add_wrap(mul_by_multiplier(acc, mult, shift), out_zp);
  v = v < qmin ? qmin : v;
  v = v > qmax ? qmax : v;
  return static_cast<uint8_t>(v);
}

// XNNPACK's float requantization (what TFLite-wasm and the default TFLite builds run for
// conv / FC through the XNNPACK delegate): lrintf(float(acc) * scale) in the default
// round-to-nearest-even mode, + zero point, clamped. A product outside the int32 range
// reads as INT32_MIN, as the SIMD conversion gives (no real layer comes near it).
inline uint8_t requantize_float(int32_t acc, float scale, int32_t out_zp, int32_t qmin,
                                int32_t qmax) {
  const float f = float(acc) * scale;
  int32_t v = std::numeric_limits<int32_t>::min();
  if (f >= -2147483648.f && f < 2147483648.f) v = static_cast<int32_t>(std::lrintf(f));
  v = add_wrap(v, out_zp);
  v = v < qmin ? qmin : v;
  v = v > qmax ? qmax : v;
  return static_cast<uint8_t>(v);
}

// The clamp range [qmin, qmax] in the uint8 domain of a fused activation for an output with
// quantization (scale, zero_point) (TFLite's CalculateActivationRangeQuantized).
inline void activation_range(Activation act, float scale, int32_t zero_point, int32_t* qmin,
                             int32_t* qmax) {
  auto quant = [&](float v) {
    // Bounded before the int conversion: a tiny or zero scale must not make it undefined.
    float r = std::round(v / scale);
    r = r > -65536.f ? r : -65536.f;
    r = r < 65536.f ? r : 65536.f;
    return zero_point + static_cast<int32_t>(r);
  };
  int32_t lo = 0, hi = 255;
  if (act == Activation::Relu || act == Activation::Relu6) lo = std::max<int32_t>(lo, quant(0.f));
  if (act == Activation::Relu6) hi = std::min<int32_t>(hi, quant(6.f));
  *qmin = lo;
  *qmax = hi;
}

// Quantized element-wise ADD, TFLite's formulation: both inputs are shifted left by
// `left_shift` (20 for 8-bit), rescaled to a common scale of twice the larger input scale,
// summed, rescaled to the output and clamped.
struct AddParams {
  int32_t a_zp = 0, b_zp = 0;  // uint8 domain
  int left_shift = 20;
  int32_t a_mult = 0, b_mult = 0, out_mult = 0;
  int a_shift = 0, b_shift = 0, out_shift = 0;
  int32_t out_zp = 0;
  int32_t qmin = 0, qmax = 255;
};

inline AddParams make_add_params(float a_scale, int32_t a_zp, float b_scale, int32_t b_zp,
                                 float out_scale, int32_t out_zp, int32_t qmin, int32_t qmax) {
  AddParams p;
  p.a_zp = a_zp;
  p.b_zp = b_zp;
  p.out_zp = out_zp;
  p.qmin = qmin;
  p.qmax = qmax;
  const double twice_max = 2.0 * std::max(double(a_scale), double(b_scale));
  const Multiplier ma = quantize_multiplier(double(a_scale) / twice_max);
  const Multiplier mb = quantize_multiplier(double(b_scale) / twice_max);
  const Multiplier mo =
      quantize_multiplier(twice_max / (double(int64_t(1) << p.left_shift) * double(out_scale)));
  p.a_mult = ma.mult;
  p.a_shift = ma.shift;
  p.b_mult = mb.mult;
  p.b_shift = mb.shift;
  p.out_mult = mo.mult;
  p.out_shift = mo.shift;
  return p;
}

inline uint8_t add_one(uint8_t a, uint8_t b, const AddParams& p) {
  const int32_t sa = shl_wrap(int32_t(a) - p.a_zp, p.left_shift);
  const int32_t sb = shl_wrap(int32_t(b) - p.b_zp, p.left_shift);
  const int32_t sum =
      add_wrap(mul_by_multiplier(sa, p.a_mult, p.a_shift), mul_by_multiplier(sb, p.b_mult, p.b_shift));
  return requantize(sum, p.out_mult, p.out_shift, p.out_zp, p.qmin, p.qmax);
}

// XNNPACK's quantized ADD (the delegate's formula, not TFLite's): both input scales
// relative to the output's, the larger one's exponent fixing a common shift so that its
// multiplier has 20 significant bits; y = clamp((bias + a * a_mult + b * b_mult) >> shift
// + out_zp), with the rounding half folded into bias.
struct XnnAddParams {
  int32_t bias = 0, a_mult = 0, b_mult = 0;
  int shift = 1;
  int32_t out_zp = 0;
  int32_t qmin = 0, qmax = 255;
};

inline XnnAddParams make_xnn_add_params(float a_scale, int32_t a_zp, float b_scale, int32_t b_zp,
                                        float out_scale, int32_t out_zp, int32_t qmin,
                                        int32_t qmax) {
  const float ra = a_scale / out_scale, rb = b_scale / out_scale;
  const float mx = std::max(ra, rb);
  if (!(mx > 0.f) || !std::isfinite(mx)) throw Error("quantized ADD: invalid input/output scales");
  int e = 0;
  std::frexp(mx, &e);  // mx = f * 2^e, f in [0.5, 1): the IEEE exponent is e - 1
  const int shift = 20 - (e - 1);
  if (shift < 1 || shift > 31)
    throw Error("quantized ADD: input/output scale ratio " + std::to_string(mx) +
                " is outside the range XNNPACK accepts");
  auto mult = [&](float r) { return static_cast<int32_t>(std::lrintf(std::ldexp(r, shift))); };
  XnnAddParams p;
  p.a_mult = mult(ra);
  p.b_mult = mult(rb);
  p.shift = shift;
  p.bias = static_cast<int32_t>((int64_t(1) << (shift - 1)) - int64_t(p.a_mult) * a_zp -
                                int64_t(p.b_mult) * b_zp);
  p.out_zp = out_zp;
  p.qmin = qmin;
  p.qmax = qmax;
  return p;
}

// Whether TFLite's XNNPACK delegate takes a quantized ADD: each input-to-output scale ratio
// in [2^-10, 2^8) (its CheckTensorsInputOutputScale). Outside, the delegate leaves the node
// to TFLite's builtin ADD, so a TFLite CPU build runs make_add_params / add_one there.
inline bool xnn_delegates_add(float a_scale, float b_scale, float out_scale) {
  const float ra = a_scale / out_scale, rb = b_scale / out_scale;
  return ra >= 0x1p-10f && ra < 0x1p8f && rb >= 0x1p-10f && rb < 0x1p8f;
}

inline uint8_t xnn_add_one(uint8_t a, uint8_t b, const XnnAddParams& p) {
  const uint32_t acc = uint32_t(p.bias) + uint32_t(int32_t(a) * p.a_mult) +
                       uint32_t(int32_t(b) * p.b_mult);
  int32_t v = add_wrap(int32_t(acc) >> p.shift, p.out_zp);
  v = v < p.qmin ? p.qmin : v;
  v = v > p.qmax ? p.qmax : v;
  return static_cast<uint8_t>(v);
}

}  // namespace mnv2::q
