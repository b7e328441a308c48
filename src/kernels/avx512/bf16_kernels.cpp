// AVX512_BF16 instantiation of the bf16 kernels (compiled with -mavx512bf16 on top of the
// AVX-512 flags). A 12x32 tile: 24 accumulators, two weight vectors and one broadcast pair.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/avx512/bf16_impl.h"

namespace mnv2::kernels {

constinit const Bf16KernelTable MNV2_X86_NAME(kBf16Avx512Table) =
    avx512::bf16::make_table<12>("avx512_bf16");

}  // namespace mnv2::kernels
