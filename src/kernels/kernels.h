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
// `b` is one packed weight panel in the format of the GemmKernel that runs the tile (fp32:
// [k][nr] floats with zero padding past the real columns). Every output element
// accumulates k = 0..K-1 in order starting from the bias, so its value does not depend on
// how the caller tiles the problem.
struct GemmTile {
  int mr = 0;  // rows, 1..kernel mr
  int nr = 0;  // real columns, 1..kernel nr
  int k = 0;
  const float* a = nullptr;
  int64_t lda = 0;
  const void* b = nullptr;
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

// The GEMM kernel of the float executor: the seam where a precision that computes GEMMs
// differently plugs in (bf16: the same executor, plan and fp32 depthwise / elementwise
// kernels, with weights packed as bf16 pairs and a dot-product tile). Activations, bias,
// residual and output stay fp32 for every such kernel; only the weight panels and the
// arithmetic of `tile` / `row4` belong to the kernel. The executor packs each GEMM layer
// once with `pack`, panel j (columns j*nr ..) at j * panel_bytes(k), and calls the tiles
// with GemmTile::b pointing at a panel.
struct GemmKernel {
  const char* name = "fp32";
  int mr = 1;          // rows of a register tile
  int nr = 1;          // columns of a packed panel
  int kgroup = 1;      // consecutive k values packed together (k is padded to a multiple)
  int elem_bytes = 4;  // bytes of one packed weight
  // One panel: columns [0, cols) (cols <= nr) of weights w, column j's k values at
  // w + j * ldw (the graph's [Cout][..] layout), into panel_bytes(k) bytes at `panel`, zero
  // past cols and past k.
  void (*pack)(const float* w, int64_t ldw, int cols, int k, int nr, void* panel) = nullptr;
  void (*tile)(const GemmTile& t) = nullptr;
  // mr = 1 over four consecutive full panels (b, bias, c, residual span 4*nr columns).
  void (*row4)(const GemmTile& t) = nullptr;
  int64_t panel_bytes(int k) const {
    return (int64_t(k) + kgroup - 1) / kgroup * kgroup * nr * elem_bytes;
  }
};

struct KernelTable {
  Isa isa = Isa::Scalar;
  GemmKernel gemm;  // fp32
  // One output row `oy` of a 3x3 depthwise conv with multiplier 1, any stride and pads.
  void (*dw3x3_row)(const DwArgs& a, int oy) = nullptr;
  // y[c] = mean over hw pixels of x[p][c], one image.
  void (*global_avg_pool)(const float* x, float* y, int hw, int c) = nullptr;
  void (*add)(const float* a, const float* b, float* y, int64_t n) = nullptr;
  // y[p][c] = x[p][c] * w[c] + bias[c]
  void (*channel_affine)(const float* x, float* y, int64_t pixels, int c, const float* w,
                         const float* bias) = nullptr;
};

// The tables, one per ISA; which one runs on this CPU is runtime/dispatch.h's choice
// (kernel_table): kernels/ never looks at the CPU.
extern const KernelTable kScalarTable;
#if defined(MNV2_X86)
extern const KernelTable kAvx2Table;
extern const KernelTable kAvx512Table;
// The same AVX-512 sources built against SIMDe (kernels/x86_intrin.h): defined only in the
// test-only emulated objects, which run on any CPU with AVX2 and FMA.
extern const KernelTable kAvx512TableEmulated;
#elif defined(__aarch64__)
extern const KernelTable kNeonTable;
#endif

// ISA-independent helpers (scalar; they are either cheap or rare).

// GemmKernel::pack of every fp32 table: panel [k][nr] floats.
void pack_panel_f32(const float* w, int64_t ldw, int cols, int k, int nr, void* panel);

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
