// Integer (quantized) compute kernels behind one function-pointer table per instruction
// set, the 8-bit counterpart of kernels.h. Semantics are TFLite's integer kernels:
// activations are uint8 (an int8 tensor is the uint8 tensor with zero point + 128, see
// QuantParams in graph/graph.h), weights are int16 "weight minus its zero point", int32
// accumulation, per-output-channel requantization (q::requantize in kernels/qmath.h).
//
// Optionally (QRequant::scale, q::XnnAddParams) the output stage and ADD follow XNNPACK's
// formulas instead, which is what TFLite-wasm and default TFLite builds run.
//
// Every kernel is exact integer arithmetic (the XNNPACK output stage: one IEEE float
// multiply and a round-to-nearest-even conversion, identical in scalar and SIMD), so each
// SIMD kernel equals its scalar twin bit for bit, and every output element depends only on
// its own inputs: how a caller splits the work into blocks (rows, panels, output rows,
// channel ranges) never changes a value.
//
// Weights, bias and requantization parameters are packed once per layer by the `*_pack`
// functions below into blobs whose layout belongs to the kernel (`QGemmKernel` describes
// it); the input zero point is folded into the packed bias there (bias - a_zp * sum w), so
// the kernels multiply raw uint8 activations and padding must read as the zero point.
#pragma once

#include <cstdint>

#include "graph/graph.h"
#include "kernels/qmath.h"

namespace mnv2::kernels {

// Per-output-channel requantization parameters (TFLite convention, see qmath.h) and the
// output stage. With per_channel false, mult[0] / shift[0] (or scale[0]) apply to every
// channel. With `scale` set, the kernels requantize as XNNPACK does instead
// (q::requantize_float: lrintf(acc * scale[n]) + out_zp, clamped) and mult / shift are
// not read.
struct QRequant {
  const int32_t* mult = nullptr;
  const int32_t* shift = nullptr;
  bool per_channel = true;
  int32_t out_zp = 0;            // uint8 domain
  int32_t qmin = 0, qmax = 255;  // activation clamp, uint8 domain
  const float* scale = nullptr;  // XNNPACK float requantization when set
};

// ---- GEMM (1x1 convolution, fully connected, im2col'd convolution) -----------------------
//
// c[m][n] = requant_n(bias[n] + sum_k a[m][k] * w[n][k] - a_zp * sum_k w[n][k]) for an
// M x N block, where the weights come from a packed blob of panels of `nr` columns.
//
// Weight layouts. Pairs16: int16 weights in pairs of consecutive k (vpmaddwd), any int16
// value. Quads8: int8 weights in groups of four consecutive k (vpdpbusd, u8 x s8), only
// for layers whose weights all lie in [-128, 127] (qweights_fit_int8). QuadsU8: the same
// groups of four, for weights that span at most 256 values per panel (uint8 per-tensor
// models, whose weight minus zero point lies in [-255, 255]): the panel stores w + o as
// uint8 (o = the panel's offset, minus its smallest weight) and vpdpbusd runs with the
// roles swapped, the weights unsigned and the activations shifted to int8 (a - 128):
//   sum a*w = sum (a-128)*(w+o) + 128 * sum (w+o) - o * sum a,
// the middle term folded into the packed bias, the last one from the row sums of A that the
// kernel takes while packing its rows (qgemm_fits). Quads8Signed: the Quads8 weights for
// kernels that multiply signed bytes by signed bytes (NEON sdot, smull): the activations
// shifted to int8 as for QuadsU8, sum a*w = sum (a-128)*w + 128 * sum w, the second term
// in the packed bias (o = 0, no row sums).
enum class QLayout : uint8_t { Pairs16, Quads8, QuadsU8, Quads8Signed };

struct QGemm {
  int m = 0, n = 0, k = 0;  // rows, columns (n <= panels * nr), depth
  const uint8_t* a = nullptr;  // row r at a + r * lda, k bytes
  int64_t lda = 0;
  // Packed panels for columns [0, n): panel j (columns j*nr ..) at b + j * panel_bytes(k).
  // A block starting at column n0 (a multiple of nr) passes b + (n0 / nr) * panel_bytes(k).
  const void* b = nullptr;
  uint8_t* c = nullptr;  // row r at c + r * ldc, n bytes written
  int64_t ldc = 0;
};

struct QGemmKernel {
  QLayout layout = QLayout::Pairs16;
  int mr = 1;  // rows of a register tile (the kernel loops over rows itself)
  int nr = 1;  // columns of a packed panel
  // Computes the whole block (its rows packed once into per-thread scratch of m * k * 2
  // bytes at most, then every panel against every group of mr rows; callers keep m to a
  // band of a few hundred rows). Null when this table lacks the layout.
  void (*run)(const QGemm& g) = nullptr;

  bool available() const { return run != nullptr; }
  int kgroup() const { return layout == QLayout::Pairs16 ? 2 : 4; }
  // Bytes of one packed row of A (k groups as dwords; QuadsU8 adds the row sum).
  int64_t a_row_bytes(int k) const { return kpad(k) / kgroup() * 4 + (layout == QLayout::QuadsU8 ? 4 : 0); }
  int64_t kpad(int k) const { return (int64_t(k) + kgroup() - 1) / kgroup() * kgroup(); }
  // What the kernel subtracts from each activation before the multiply (the layouts with
  // signed activations); qgemm_pack adds a_offset() times the sum of the packed weights
  // to the bias, so the result is the same sum.
  int32_t a_offset() const {
    return layout == QLayout::QuadsU8 || layout == QLayout::Quads8Signed ? 128 : 0;
  }
  // Bytes of one packed panel (a multiple of 64): int32 arrays of nr values bias (input
  // zero point folded in), mult, lshift (max(shift, 0)), rshift (max(-shift, 0)), rmask
  // ((1 << rshift) - 1), then the int32 line out_zp, qmin, qmax, mode (0 TFLite, 1 float:
  // then the mult array holds the float scales' bits and the shift arrays are 0), o (the
  // QuadsU8 weight offset, else 0); then from weights_offset() (64-aligned) the weights: for
  // each k group g, for each column j of the panel, kgroup() consecutive-k values (int16 for
  // Pairs16, int8 for Quads8 and Quads8Signed, uint8 w + o for QuadsU8), zero past k and
  // past the real columns. One group of one column is 4 bytes in every layout.
  static constexpr int kPanelArrays = 5;
  static constexpr int kHeaderInts = 5;
  int64_t weights_offset() const {
    return (kPanelArrays * 4 * int64_t(nr) + 4 * kHeaderInts + 63) / 64 * 64;
  }
  int64_t panel_bytes(int k) const {
    const int64_t elem = layout == QLayout::Pairs16 ? 2 : 1;
    return (weights_offset() + kpad(k) * nr * elem + 63) / 64 * 64;
  }
  int64_t packed_bytes(int n, int k) const { return (int64_t(n) + nr - 1) / nr * panel_bytes(k); }
};

// Packs all ceil(n/nr) panels of weights w (column j's k values at w + j * ldw: the graph's
// [Cout][..Cin] layout), the optional bias (n values, TFLite int32 units), the input zero
// point and the requantization into dst (packed_bytes(n, k) bytes, 64-byte aligned for
// speed). Throws mnv2::Error when the layout cannot hold the weights (!qgemm_fits), or
// when a multiplier is negative or a shift outside -31..30.
void qgemm_pack(const QGemmKernel& kern, const int16_t* w, int64_t ldw, int n, int k,
                const int32_t* bias, int32_t a_zp, const QRequant& rq, void* dst);

bool qweights_fit_int8(const int16_t* w, int64_t count);
// Whether kern's layout holds the n x k weights (column j at w + j * ldw): Pairs16 always,
// Quads8 and Quads8Signed when every weight fits int8, QuadsU8 when each panel's weights
// span <= 256 values.
bool qgemm_fits(const QGemmKernel& kern, const int16_t* w, int64_t ldw, int n, int k);

// ---- Convolutions with short kernel rows, straight from the image -------------------------
//
// One output row of a KHxKW convolution whose kernel rows are short (kw * cin <= 16 bytes,
// QConvKernel::applies: the 3x3 convolution over the RGB image). The kernel builds each
// output pixel's patch ([ky][kx][cin], k = kh * kw * cin) directly in the packed-row
// layout of its GEMM, a 16-byte copy per kernel row, instead of an im2col copy that the GEMM
// then packs a second time; then it runs the GEMM's register tiles over them. The weights
// are packed by qgemm_pack for `gemm` (its nr may differ from the table's 1x1 GEMMs: panels
// sized so that 32 and 48 output channels leave no lane empty). Same results as
// im2col_row_u8 + any GEMM; kernel rows longer than 16 bytes take that path.
struct QConvRow {
  const uint8_t* in = nullptr;  // [ih][iw][cin]
  int ih = 0, iw = 0, cin = 0;
  int kh = 3, kw = 3, sh = 1, sw = 1, pad_top = 0, pad_left = 0;  // pads read as in_zp
  int ow = 0, cout = 0;
  uint8_t in_zp = 0;
  const void* b = nullptr;  // qgemm_pack blob of the kernel's `gemm`, k = kh * kw * cin
  uint8_t* out = nullptr;   // output row oy: [ow][cout]
};

struct QConvKernel {
  QGemmKernel gemm;  // the packed weights' layout (its run is an ordinary GEMM over them)
  void (*row)(const QConvRow& a, int oy) = nullptr;

  static constexpr int kMaxSpan = 16;
  bool available() const { return row != nullptr; }
  // Where the direct patch building pays (any geometry gives the right results).
  static bool applies(int kw, int cin) { return kw * cin <= kMaxSpan; }
};

// ---- 3x3 depthwise convolution (multiplier 1) ---------------------------------------------
//
// Packed per layer by qdw3x3_pack (the same blob for every table): a 64-byte header of
// int32 c, in_zp, out_zp, qmin, qmax, mode (as in a GEMM panel); the nine taps (index
// ky*3+kx) paired (0,1) (2,3) (4,5) (6,7) (8,-) and interleaved per channel as int16
// [cpad][2]; then int32 arrays of cpad values bias (zero point folded), mult, lshift,
// rshift, rmask (as in a GEMM panel); cpad = c rounded up to 16, padding zero.
int64_t qdw3x3_packed_bytes(int c);
inline int qdw3x3_cpad(int c) { return (c + 15) / 16 * 16; }
inline int64_t qdw3x3_pair_offset(int c, int p) { return 64 + int64_t(p) * qdw3x3_cpad(c) * 4; }
// Array a (0 bias, 1 mult, 2 lshift, 3 rshift, 4 rmask).
inline int64_t qdw3x3_array_offset(int c, int a) {
  return qdw3x3_pair_offset(c, 5) + int64_t(a) * qdw3x3_cpad(c) * 4;
}
void qdw3x3_pack(const int16_t* w /* [3][3][c] */, int c, const int32_t* bias, int32_t in_zp,
                 const QRequant& rq, void* dst);

// The VNNI layout of the same convolution (QKernelTable::dw3x3q_row, vpdpbusd on uint8
// activations x int8 weights, one window column per int32 lane). Taps are grouped by
// column of the window, (0, 3, 6), (1, 4, 7), (2, 5, 8), so that an input column's
// interleaved vectors serve the three output pixels that cover it; for each block of 64
// channels and each group, four 64-byte vectors q = 0..3 whose 128-bit lane L holds, in
// dword i, the column's three tap weights (int8, then a zero byte) of channel
// 64 * block + 16 L + 4 q + i: the order that interleaving the taps' channel
// vectors byte- then word-wise within 128-bit lanes gives, and that the saturating packs
// of the four int32 results undo. Weights w - zero point of uint8 models span up to
// [-255, 255]: with `terms` = 2 each is stored as two int8 halves (w >> 1, w - (w >> 1)),
// summed by two vpdpbusd. Blob: a 64-byte header of int32 c, in_zp, out_zp, qmin, qmax,
// mode, terms, blocks; the weights (terms x blocks x 3 groups x 4 vectors x 64 bytes); then
// int32 arrays of blocks * 64 values bias (zero point folded), mult (or the float scales'
// bits), lshift, rshift, rmask, each block's 64 values in the vectors' dword order
// (index 16 q + 4 L + i).
inline int qdw3x3q_blocks(int c) { return (c + 63) / 64; }
inline int64_t qdw3x3q_weight_offset(int blocks, int term, int block, int group, int q) {
  return 64 + ((int64_t(term) * blocks + block) * 3 + group) * 256 + int64_t(q) * 64;
}
// Array a (0 bias, 1 mult, 2 lshift, 3 rshift, 4 rmask).
inline int64_t qdw3x3q_array_offset(int blocks, int terms, int a) {
  return qdw3x3q_weight_offset(blocks, terms, 0, 0, 0) + int64_t(a) * blocks * 256;
}
int64_t qdw3x3q_packed_bytes(int c, int terms);
// 1 when every weight fits int8, 2 when each lies in [-255, 254], else 0 (no VNNI form).
int qdw3x3q_terms(const int16_t* w /* [3][3][c] */, int c);
void qdw3x3q_pack(const int16_t* w, int c, const int32_t* bias, int32_t in_zp, const QRequant& rq,
                  int terms, void* dst);

struct QDw {
  const uint8_t* in = nullptr;  // one image [ih][iw][c]
  int ih = 0, iw = 0, c = 0;
  uint8_t* out = nullptr;  // [oh][ow][c]
  int oh = 0, ow = 0;
  int sh = 1, sw = 1, pad_top = 0, pad_left = 0;  // any strides; pads read as in_zp
  const void* w = nullptr;  // qdw3x3_pack blob for this c (qdw3x3q_pack for dw3x3q_row)
};
// The scalar twin of dw3x3q_row: reads the qdw3x3q_pack blob, the tests' yardstick.
void qdw3x3q_row_scalar(const QDw& a, int oy);

// Any depthwise geometry (kernel size, multiplier), unpacked weights; scalar, used where the
// 3x3 row kernel does not apply and as its reference.
struct QDwGeneric {
  const uint8_t* in = nullptr;  // [ih][iw][c]
  int ih = 0, iw = 0, c = 0;    // input channels
  uint8_t* out = nullptr;       // [oh][ow][c * depth_mult]
  int oh = 0, ow = 0;
  int kh = 3, kw = 3, sh = 1, sw = 1, pad_top = 0, pad_left = 0;
  int depth_mult = 1;
  const int16_t* w = nullptr;      // [kh][kw][c * depth_mult]
  const int32_t* bias = nullptr;   // c * depth_mult values or null
  int32_t in_zp = 0;
  QRequant rq;                     // per output channel
};
void qdw_generic_row(const QDwGeneric& a, int oy);

// ---- Pooling ------------------------------------------------------------------------------
//
// y[ch] over the hw pixels of one image x[hw][c]: acc = sum_p (x[p][ch] + in_offset), then
//  divide = true  (AVERAGE_POOL_2D over the whole image): v = acc / hw rounded half away from
//                 zero (TFLite's (acc +- hw/2) / hw);
//  divide = false (MEAN): v = q::mul_by_multiplier(acc, mult, shift) + bias;
// then clamped to [qmin, qmax] and stored as v + out_offset. For uint8 tensors in_offset =
// out_offset = 0 and the clamp is 0..255; to reproduce TFLite's int8 arithmetic pass
// in_offset = -128, clamp -128..127, out_offset = 128 (zero points then in the int8 domain).
struct QPool {
  int32_t in_offset = 0;
  bool divide = true;
  int32_t mult = 0;
  int32_t shift = 0;
  int32_t bias = 0;
  int32_t qmin = 0, qmax = 255;
  int32_t out_offset = 0;
};

// ---- The table ----------------------------------------------------------------------------
struct QKernelTable {
  Isa isa = Isa::Scalar;
  bool vnni = false;  // gemm8 uses vpdpbusd
  QGemmKernel gemm16;  // Pairs16: always available
  QGemmKernel gemm8;   // Quads8 (x86: vpdpbusd) or Quads8Signed (NEON: sdot, smull), where
                       // the ISA has a fast 8-bit product
  QGemmKernel gemm8u;  // QuadsU8: vpdpbusd only (uint8 per-tensor weights)
  // The first convolution (QConvRow) in the layouts of gemm16, gemm8, gemm8u; unavailable
  // where the table has no such kernel (callers then use im2col_row_u8 and the GEMM).
  QConvKernel conv16, conv8, conv8u;
  // One output row `oy` of a 3x3 depthwise conv, multiplier 1, any stride and pads.
  void (*dw3x3_row)(const QDw& a, int oy) = nullptr;
  // The same over the qdw3x3q_pack layout (VNNI tables only, else null).
  void (*dw3x3q_row)(const QDw& a, int oy) = nullptr;
  // Quantized ADD of n elements (q::add_one for each).
  void (*add)(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n,
              const q::AddParams& p) = nullptr;
  void (*pool)(const uint8_t* x, uint8_t* y, int hw, int c, const QPool& p) = nullptr;
  // XNNPACK's quantized ADD of n elements (q::xnn_add_one for each).
  void (*add_xnn)(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n,
                  const q::XnnAddParams& p) = nullptr;
  // The float graph input to uint8 (kernels/qquantize.h): XNNPACK's QUANTIZE when
  // round_even, else TFLite's AffineQuantize. Null where the table has none (callers then
  // run the reference's loop, runtime/qreference.h).
  void (*quantize)(const float* x, uint8_t* y, int64_t n, float scale, int32_t zp,
                   bool round_even) = nullptr;
};

// The tables, one per ISA; which one runs on this CPU is runtime/dispatch.h's choice
// (qkernel_table): kernels/ never looks at the CPU.
extern const QKernelTable kScalarQTable;
// The Quads8Signed layout of the NEON tables in scalar code (in no table: the scalar table
// has Quads8): the tests check its packing on every machine.
extern const QGemmKernel kScalarQuads8Signed;
#if defined(MNV2_X86)
extern const QKernelTable kAvx2QTable;
extern const QKernelTable kAvx512QTable;      // gemm8 unavailable
extern const QKernelTable kAvx512VnniQTable;  // gemm8 = vpdpbusd
// Both built against SIMDe: test-only, see kAvx512TableEmulated in kernels.h.
extern const QKernelTable kAvx512QTableEmulated;
extern const QKernelTable kAvx512VnniQTableEmulated;

// Kernels of one ISA that another ISA's table reuses or the tests run directly, declared
// here once (AVX-512 CPUs run the AVX2 depthwise and ADD kernels).
namespace avx2 {
void qdw3x3_row(const QDw& a, int oy);
void qadd(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n, const q::AddParams& p);
void qadd_xnn(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n,
              const q::XnnAddParams& p);
// The Quads8 layout over an exact AVX2 emulation of vpdpbusd (slower than Pairs16, so in
// no table): the tests run the loop structure of the VNNI kernel with it on any CPU with
// AVX2.
extern const QGemmKernel kQuads8Emulated;
extern const QGemmKernel kQuadsU8Emulated;
}  // namespace avx2
#elif defined(__aarch64__)
extern const QKernelTable kNeonQTable;     // gemm8 = smull + sadalp (ARMv8.0)
extern const QKernelTable kNeonDotQTable;  // gemm8 = sdot (ARMv8.2 dot product)
#endif

// ISA-independent helpers (scalar).

// The pool kernel of every table (it is a small share of the work).
void qpool_scalar(const uint8_t* x, uint8_t* y, int hw, int c, const QPool& p);

// Output row oy of a QConvRow convolution the plain way: its patches by im2col_row_u8 into
// per-thread scratch, then `gemm` (a GEMM run over the layout of a.b) on them. The scalar
// twin of the QConvKernels, and their path for kernel rows longer than 16 bytes.
void qconv_row_im2col(const QConvRow& a, int oy, void (*gemm)(const QGemm&));

// The patches of output row `oy` of a uint8 image x ([ih][iw][cin]) for a KHxKW conv, laid
// out [ow][kh][kw][cin] (rows of a GEMM with k = kh*kw*cin, row stride k), padding filled
// with pad_value (the input zero point).
void im2col_row_u8(const uint8_t* x, int ih, int iw, int cin, int kh, int kw, int sh, int sw,
                   int pad_top, int pad_left, int ow, int oy, uint8_t pad_value, uint8_t* out);

}  // namespace mnv2::kernels
