// AVX-512 integer kernels: the GEMM over 512-bit vectors, an 8 x 32 register tile (16
// accumulators, two weight vectors, one broadcast), as vpmaddwd on int16 pairs (AVX-512BW)
// or vpdpbusd on u8 x s8 quads (AVX-512 VNNI, for layers whose weights fit int8, and with
// the roles swapped for uint8 per-tensor weights: QLayout::QuadsU8). The loop
// structure is the shared qsimd_impl.h, which the AVX2 build runs in both layouts on every
// x86-64 test machine. The 3x3 depthwise row and ADD use the AVX2 kernels (AVX-512 CPUs run
// AVX2): a 16-channel vpdpwssd depthwise row was measured slower than the AVX2 one on the
// 1.4/224 int8 model (8.30 vs 7.83 ms at 1 thread, Xeon family 6 model 167).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/avx512/qvec.h"
#include "kernels/qkernels.h"
#include "kernels/qsimd_impl.h"

namespace mnv2::kernels {


namespace {

using Gemm16 = qsimd::Gemm<avx512::QVec, QLayout::Pairs16, 8, 2>;
using Gemm8 = qsimd::Gemm<avx512::QVec, QLayout::Quads8, 8, 2>;
using Gemm8u = qsimd::Gemm<avx512::QVec, QLayout::QuadsU8, 8, 2>;
// The first convolution: one-vector (16-column) panels, so that its 32 or 48 output
// channels fill every lane, and 16 pixels per tile to keep 16 accumulators in flight.
using Conv16 = qsimd::SmallConv<avx512::QVec, QLayout::Pairs16, 16, 1>;
using Conv8 = qsimd::SmallConv<avx512::QVec, QLayout::Quads8, 16, 1>;
using Conv8u = qsimd::SmallConv<avx512::QVec, QLayout::QuadsU8, 16, 1>;

constexpr QKernelTable make_avx512_qtable(bool vnni) {
  QKernelTable t;
  t.isa = Isa::Avx512;
  t.vnni = vnni;
  t.gemm16 = Gemm16::kernel(&Gemm16::run);
  t.gemm8 = vnni ? Gemm8::kernel(&Gemm8::run) : QGemmKernel{QLayout::Quads8, 1, 1, nullptr};
  t.gemm8u = vnni ? Gemm8u::kernel(&Gemm8u::run) : QGemmKernel{QLayout::QuadsU8, 1, 1, nullptr};
  t.conv16 = Conv16::kernel();
  if (vnni) {
    t.conv8 = Conv8::kernel();
    t.conv8u = Conv8u::kernel();
  }
  t.dw3x3_row = &avx2::qdw3x3_row;
  t.add = &avx2::qadd;
  t.pool = &qpool_scalar;
  t.add_xnn = &avx2::qadd_xnn;
  return t;
}

}  // namespace

constinit const QKernelTable MNV2_X86_NAME(kAvx512QTable) = make_avx512_qtable(false);
constinit const QKernelTable MNV2_X86_NAME(kAvx512VnniQTable) = make_avx512_qtable(true);

}  // namespace mnv2::kernels
