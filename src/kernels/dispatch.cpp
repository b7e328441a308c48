#include "kernels/kernels.h"

namespace mnv2::kernels {

const KernelTable& table(Isa isa) {
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return kAvx512Table;
  if (isa == Isa::Avx2) return kAvx2Table;
#endif
  return kScalarTable;
}

}  // namespace mnv2::kernels
