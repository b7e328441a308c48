#include "kernels/fma_peak.h"
#include "kernels/kernels.h"
#include "runtime/cpu.h"

namespace mnv2::kernels {

const KernelTable& table(Isa isa) {
  if (const IsaSubstitute* s = isa_substitute(); s && s->isa == isa && s->fp32) return *s->fp32;
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return kAvx512Table;
  if (isa == Isa::Avx2) return kAvx2Table;
#endif
  return kScalarTable;
}

FmaPeakLoop fma_peak_loop(Isa isa) {
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return &fma_peak_avx512;
  if (isa == Isa::Avx2) return &fma_peak_avx2;
#endif
  return nullptr;
}

}  // namespace mnv2::kernels
