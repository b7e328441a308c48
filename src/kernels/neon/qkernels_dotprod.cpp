// The NEON int8 table for CPUs with the ARMv8.2 dot product (Cortex-A55/A76 and later,
// Neoverse, Apple): the Quads8 GEMM on sdot, four signed bytes per lane and instruction,
// in a 12 x 8 tile. Built with -march=armv8-a+dotprod (CMakeLists.txt) and reached only
// when getauxval reports ASIMDDP; everything else comes from qkernels.cpp.
#include <arm_neon.h>

#include "kernels/neon/qkernels.h"
#include "kernels/neon/qvec.h"
#include "kernels/qsimd_impl.h"

namespace mnv2::kernels {

namespace {

using GemmDot =
    qsimd::Gemm<neon::QVecT<true>, QLayout::Quads8Signed, neon::kDotRows, neon::kDotVecs>;

}  // namespace

constinit const QKernelTable kNeonDotQTable =
    neon::make_qtable(GemmDot::kernel(&GemmDot::run));

}  // namespace mnv2::kernels
