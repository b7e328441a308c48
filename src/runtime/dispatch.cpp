#include "runtime/dispatch.h"

#include "kernels/kernels.h"
#include "kernels/qkernels.h"
#include "runtime/cpu.h"

namespace mnv2 {

const kernels::KernelTable& kernel_table(Isa isa) {
  if (const IsaSubstitute* s = isa_substitute(); s && s->isa == isa && s->fp32) return *s->fp32;
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return kernels::kAvx512Table;
  if (isa == Isa::Avx2) return kernels::kAvx2Table;
#elif defined(__aarch64__)
  if (isa == Isa::Neon) return kernels::kNeonTable;
#endif
  return kernels::kScalarTable;
}

const kernels::QKernelTable& qkernel_table(Isa isa) {
  if (const IsaSubstitute* s = isa_substitute(); s && s->isa == isa && s->int8) return *s->int8;
#if defined(MNV2_X86)
  if (isa == Isa::Avx512)
    return cpu_has_vnni() ? kernels::kAvx512VnniQTable : kernels::kAvx512QTable;
  if (isa == Isa::Avx2) return kernels::kAvx2QTable;
#elif defined(__aarch64__)
  if (isa == Isa::Neon) return cpu_has_dotprod() ? kernels::kNeonDotQTable : kernels::kNeonQTable;
#endif
  return kernels::kScalarQTable;
}

}  // namespace mnv2
