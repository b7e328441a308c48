// AVX-512 instantiation of the shared SIMD kernels. A 12x32 GEMM tile: 24 accumulators,
// two weight vectors and one broadcast out of the 32 zmm registers.
// GCC 12's _mm512_max_ps/_mm512_min_ps pass _mm512_undefined_ps() as the unused merge
// source, which -Wmaybe-uninitialized misreports once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/avx512/vec.h"
#include "kernels/simd_impl.h"

namespace mnv2::kernels {

constinit const KernelTable MNV2_X86_NAME(kAvx512Table) =
    simd::make_table<avx512::Vec, 12, 2>(Isa::Avx512);

}  // namespace mnv2::kernels
