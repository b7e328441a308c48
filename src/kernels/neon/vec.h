// NEON (Advanced SIMD) vector traits for simd_impl.h: 4 float lanes. ARMv8.0-A has no
// masked loads or stores, so the channel tails (n < 4 lanes) go through a small stack
// buffer; they are rare (MobileNetV2's channel counts are multiples of 8).
#pragma once

#include <arm_neon.h>

namespace mnv2::kernels::neon {

struct Vec {
  using R = float32x4_t;
  static constexpr int L = 4;
  static R zero() { return vdupq_n_f32(0.f); }
  static R set1(float v) { return vdupq_n_f32(v); }
  static R load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, R v) { vst1q_f32(p, v); }
  static R load_n(const float* p, int n) {
    float t[4] = {0.f, 0.f, 0.f, 0.f};
    for (int i = 0; i < n; ++i) t[i] = p[i];
    return vld1q_f32(t);
  }
  static void store_n(float* p, R v, int n) {
    float t[4];
    vst1q_f32(t, v);
    for (int i = 0; i < n; ++i) p[i] = t[i];
  }
  static R bcast(const float* p) { return vld1q_dup_f32(p); }
  // fmla: fused, one rounding, as vfmadd on x86 and std::fma in the scalar twin's tolerance.
  static R fma(R a, R b, R c) { return vfmaq_f32(c, a, b); }
  static R add(R a, R b) { return vaddq_f32(a, b); }
  static R mul(R a, R b) { return vmulq_f32(a, b); }
  static R max(R a, R b) { return vmaxq_f32(a, b); }
  static R min(R a, R b) { return vminq_f32(a, b); }
};

}  // namespace mnv2::kernels::neon
