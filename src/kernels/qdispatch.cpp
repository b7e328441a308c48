#include "kernels/qkernels.h"
#include "runtime/cpu.h"

namespace mnv2::kernels {

#if defined(MNV2_X86)
namespace avx2 {
extern const QGemmKernel kQuads8Emulated;
}
#endif

const QKernelTable& qtable(Isa isa) {
  if (const IsaSubstitute* s = isa_substitute(); s && s->isa == isa && s->int8) return *s->int8;
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return cpu_has_vnni() ? kAvx512VnniQTable : kAvx512QTable;
  if (isa == Isa::Avx2) return kAvx2QTable;
#endif
  return kScalarQTable;
}

const QGemmKernel* qgemm_quads8_emulated() {
#if defined(MNV2_X86)
  if (cpu_supports(Isa::Avx2)) return &avx2::kQuads8Emulated;
#endif
  return nullptr;
}

}  // namespace mnv2::kernels
