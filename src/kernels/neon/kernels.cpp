// NEON instantiation of the shared SIMD kernels. An 8x8 GEMM tile: 16 accumulators, two
// weight vectors and eight row values out of the 32 vector registers of AArch64 (GCC turns
// the broadcasts into scalar loads and fmla by element, one register per row); 12x8 needed
// 38 and spilled five accumulators to the stack in the k loop.
#include "kernels/neon/vec.h"
#include "kernels/simd_impl.h"

namespace mnv2::kernels {

constinit const KernelTable kNeonTable = simd::make_table<neon::Vec, 8, 2>(Isa::Neon);

}  // namespace mnv2::kernels
