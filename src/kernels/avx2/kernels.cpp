// AVX2 + FMA instantiation of the shared SIMD kernels. A 6x16 GEMM tile: 12 accumulators,
// two weight vectors and one broadcast fill 15 of the 16 ymm registers.
#include "kernels/avx2/vec.h"
#include "kernels/simd_impl.h"

namespace mnv2::kernels {

constinit const KernelTable kAvx2Table = simd::make_table<avx2::Vec, 6, 2>(Isa::Avx2);

}  // namespace mnv2::kernels
