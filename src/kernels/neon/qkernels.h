// The NEON int8 kernels shared by the two NEON tables (ARMv8.0 and dot product): the table
// with the dot-product GEMM is defined in qkernels_dotprod.cpp, the only file built with
// +dotprod, and takes everything else from qkernels.cpp through these declarations.
#pragma once

#include "kernels/qkernels.h"

namespace mnv2::kernels::neon {

// GEMM register tiles, rows x 4-column vectors. The widening-multiply kernels keep each
// accumulator as two vectors (qvec.h): 6 x 8 (Pairs16, smlal) holds 24 of the 32 registers;
// the smull + sadalp one also needs two product registers per row in flight and spilled
// four accumulators at 6 rows, so it takes 4. The sdot kernel keeps one register per
// accumulator and one per row (8 x 8: 16 + 8 + 2 weight vectors; 12 rows spilled).
inline constexpr int kPairRows = 6, kQuadRows = 4, kWideVecs = 2;
inline constexpr int kDotRows = 8, kDotVecs = 2;

void qgemm16(const QGemm& g);  // Pairs16 on smlal (every table)
void qdw3x3_row(const QDw& a, int oy);
void qadd(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n, const q::AddParams& p);
void qadd_xnn(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n,
              const q::XnnAddParams& p);

// A NEON table around the given Quads8Signed kernel. No QuadsU8 kernel: its unsigned
// weights times signed activations would need usdot (I8MM, not in this build); the
// executor runs such layers on gemm8 where their weights fit int8, else on gemm16.
constexpr QKernelTable make_qtable(const QGemmKernel& gemm8) {
  QKernelTable t;
  t.isa = Isa::Neon;
  t.gemm16 = QGemmKernel{QLayout::Pairs16, kPairRows, kWideVecs * 4, &qgemm16};
  t.gemm8 = gemm8;
  t.gemm8u = QGemmKernel{QLayout::QuadsU8, 1, 1, nullptr};
  t.dw3x3_row = &qdw3x3_row;
  t.add = &qadd;
  t.pool = &qpool_scalar;
  t.add_xnn = &qadd_xnn;
  return t;
}

}  // namespace mnv2::kernels::neon
