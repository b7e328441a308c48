// Compute kernels behind one function-pointer table per instruction set.
//
// Every kernel is a small pure function over raw pointers; the executor owns all
// planning (tiling, buffers, threads). Each SIMD kernel has a scalar twin with the same
// contract so tests can compare them directly. Activations are plain NHWC float32.
#pragma once

#include <cstdint>

#include "graph/graph.h"

namespace mnv2::kernels {

// One register tile of a GEMM: c[m][n] = act(bias[n] + sum_k a[m][k] * b[k][n]) (+ residual).
// `b` is one packed weight panel, [k][nr_max] with zero padding past the real columns, where
// nr_max is the table's nr. Every output element accumulates k = 0..K-1 in order starting
// from the bias, so its value does not depend on how the caller tiles the problem.
struct GemmTile {
  int mr = 0;  // rows, 1..table.mr
  int nr = 0;  // real columns, 1..table.nr
  int k = 0;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  const float* bias = nullptr;  // table.nr values (padded)
  const float* residual = nullptr;  // optional, added after the activation
  int64_t ldr = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  Activation act = Activation::None;
};

// One image of a depthwise convolution (weights [KH][KW][C*mult], bias C*mult values).
struct DwArgs {
  const float* in = nullptr;
  int ih = 0, iw = 0, c = 0;  // input channels
  float* out = nullptr;
  int oh = 0, ow = 0;
  int kh = 3, kw = 3, sh = 1, sw = 1, pad_top = 0, pad_left = 0;
  int mult = 1;
  const float* w = nullptr;
  const float* bias = nullptr;
  Activation act = Activation::None;
};

struct KernelTable {
  Isa isa = Isa::Scalar;
  int mr = 1;  // rows of a GEMM register tile
  int nr = 1;  // columns of a packed weight panel
  void (*gemm)(const GemmTile& t) = nullptr;
  // mr = 1 over four consecutive full panels (b, bias, c, residual span 4*nr columns).
  void (*gemm_row4)(const GemmTile& t) = nullptr;
  // One output row `oy` of a 3x3 depthwise conv with multiplier 1, any stride and pads.
  void (*dw3x3_row)(const DwArgs& a, int oy) = nullptr;
  // y[c] = mean over hw pixels of x[p][c], one image.
  void (*global_avg_pool)(const float* x, float* y, int hw, int c) = nullptr;
  void (*add)(const float* a, const float* b, float* y, int64_t n) = nullptr;
  // y[p][c] = x[p][c] * w[c] + bias[c]
  void (*channel_affine)(const float* x, float* y, int64_t pixels, int c, const float* w,
                         const float* bias) = nullptr;
};

// The table for `isa` (which must be supported by the CPU; see cpu_supports).
const KernelTable& table(Isa isa);

extern const KernelTable kScalarTable;
#if defined(MNV2_X86)
extern const KernelTable kAvx2Table;
extern const KernelTable kAvx512Table;
// The same AVX-512 sources built against SIMDe (kernels/x86_intrin.h): defined only in the
// test-only emulated objects, which run on any CPU with AVX2 and FMA.
extern const KernelTable kAvx512TableEmulated;
#endif

// ISA-independent helpers (scalar; they are either cheap or rare).

// Any depthwise geometry and multiplier, one output row.
void dw_generic_row(const DwArgs& a, int oy);
// The patches of output row `oy` of image `x` ([ih][iw][cin]) for a KHxKW conv, laid out
// [ow][kh][kw][cin] with zeros for padding; the rows of a GEMM with K = kh*kw*cin.
void im2col_row(const float* x, int ih, int iw, int cin, int kh, int kw, int sh, int sw,
                int pad_top, int pad_left, int ow, int oy, float* out);
// Softmax over one row of c values (max-subtracted, sum in double).
void softmax_row(const float* x, float* y, int c);

// Activation helpers shared by the scalar kernels.
inline float activate(float v, Activation act) {
  switch (act) {
    case Activation::None: return v;
    case Activation::Relu: return v < 0.f ? 0.f : v;
    case Activation::Relu6: return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
  }
  return v;
}

}  // namespace mnv2::kernels
