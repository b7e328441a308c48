#include <arm_neon.h>

#include "kernels/fma_peak.h"

namespace mnv2::kernels {

int64_t fma_peak_neon(int64_t iterations, float* sink) {
  // 16 chains: FMA latency 4 cycles x 2 pipes (Cortex-A76, Neoverse-N1) needs 8 in flight,
  // and 16 also fill the 4 pipes of Neoverse-V1/V2. Distinct start values and the empty asm
  // keep the compiler from merging chains (see avx2/fma_peak.cpp).
  float32x4_t a[16];
  for (int i = 0; i < 16; ++i) a[i] = vdupq_n_f32(0.10f + 0.01f * float(i));
  const float32x4_t b = vdupq_n_f32(0.9999f), c = vdupq_n_f32(1e-4f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      __asm__("" : "+w"(a[i]));
      a[i] = vfmaq_f32(c, a[i], b);
    }
  }
  float32x4_t s = a[0];
  for (int i = 1; i < 16; ++i) s = vaddq_f32(s, a[i]);
  *sink = vgetq_lane_f32(s, 0);
  return iterations * 16 * 4;
}

}  // namespace mnv2::kernels
