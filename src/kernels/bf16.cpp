// bf16 weight packing and the choice of bf16 table (CPU-feature dispatch for bf16 lives here).
#include "kernels/bf16.h"

#if defined(MNV2_X86)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace mnv2::kernels {

std::vector<uint32_t> pack_bf16_panels(const float* w, int cout, int k, int nr, int kp) {
  const int blocks = (cout + nr - 1) / nr;
  std::vector<uint32_t> p(size_t(blocks) * size_t(kp) * size_t(nr), 0u);
  for (int o = 0; o < cout; ++o) {
    uint32_t* dst = p.data() + size_t(o / nr) * size_t(kp) * size_t(nr) + size_t(o % nr);
    const float* src = w + size_t(o) * size_t(k);
    for (int i = 0; i < (k + 1) / 2; ++i)
      dst[size_t(i) * size_t(nr)] = to_bf16_pair(src[2 * i], 2 * i + 1 < k ? src[2 * i + 1] : 0.f);
  }
  return p;
}

#if defined(MNV2_X86)
namespace {
// Linux hands out the AMX tile state only on request (ARCH_REQ_XCOMP_PERM for XTILEDATA),
// once per process.
bool amx_granted() {
  static const bool ok = __builtin_cpu_supports("amx-tile") &&
                         __builtin_cpu_supports("amx-bf16") &&
                         syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  return ok;
}
}  // namespace
#endif

const Bf16KernelTable* bf16_table(Isa isa, bool amx) {
  if (isa == Isa::Scalar && !amx) return &kBf16ScalarTable;
#if defined(MNV2_X86)
  if (isa == Isa::Avx512 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bf16"))
    return amx ? (amx_granted() ? &kBf16AmxTable : nullptr) : &kBf16Avx512Table;
#endif
  return nullptr;
}

}  // namespace mnv2::kernels
