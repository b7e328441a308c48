#include "kernels/fma_peak.h"

namespace mnv2::kernels {

FmaPeakLoop fma_peak_loop(Isa isa) {
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return &fma_peak_avx512;
  if (isa == Isa::Avx2) return &fma_peak_avx2;
#elif defined(__aarch64__)
  if (isa == Isa::Neon) return &fma_peak_neon;
#endif
  return nullptr;
}

}  // namespace mnv2::kernels
