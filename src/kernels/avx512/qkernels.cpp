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
#include "kernels/qquantize.h"
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

using V = avx512::QVec;

// ---- 3x3 depthwise over the qdw3x3q_pack layout (vpdpbusd, one window column per lane) ---
//
// A group of the layout is one column of the window (its three rows' taps and a zero byte),
// so the interleaved vectors of an input column serve every output pixel whose window
// covers that column: along a row the kernel sweeps each 64-channel block and interleaves
// each input column once (stride 1: one new column per pixel, 8 shuffles for 12 vpdpbusd).

// The pieces of a block's sweep pass vectors through arrays: unless they are inlined the
// vectors go through memory (GCC kept load_column out of line).
#define MNV2_DWQ_INLINE inline __attribute__((always_inline))

// The four vectors of input column x: rows r0, r1, r2 (64 channels each) and a zero byte
// interleaved so that dword i of 128-bit lane L of vector q holds the three rows' bytes of
// channel 16 L + 4 q + i.
MNV2_DWQ_INLINE void column_quads(__m512i r0, __m512i r1, __m512i r2, __m512i* v) {
  const __m512i z = _mm512_setzero_si512();
  const __m512i ab_lo = _mm512_unpacklo_epi8(r0, r1), ab_hi = _mm512_unpackhi_epi8(r0, r1);
  const __m512i cz_lo = _mm512_unpacklo_epi8(r2, z), cz_hi = _mm512_unpackhi_epi8(r2, z);
  v[0] = _mm512_unpacklo_epi16(ab_lo, cz_lo);
  v[1] = _mm512_unpackhi_epi16(ab_lo, cz_lo);
  v[2] = _mm512_unpacklo_epi16(ab_hi, cz_hi);
  v[3] = _mm512_unpackhi_epi16(ab_hi, cz_hi);
}

struct DwqRow {
  const uint8_t* blob;
  const uint8_t* arrays;  // the bias array; the others follow every `as` bytes
  int64_t as;
  int blocks;
  int32_t in_zp;
  bool float_mode;
  __m512i zp, lo8, hi8;  // zp per int32 lane; qmin, qmax per byte
};

// The three rows of the window (null outside the image) and the padding value.
struct DwqRows {
  const uint8_t* row[3];
  bool inside[3];
  alignas(64) uint8_t pad[64];  // in_zp: what a tap outside the image reads
  int iw, c;
};

// Interleaved vectors of input column x for the channels at c0 (mask m when not full).
MNV2_DWQ_INLINE void load_column(const DwqRows& w, int x, int c0, bool full, __mmask64 m, __m512i* v) {
  __m512i r[3];
  const bool xin = x >= 0 && x < w.iw;
#pragma GCC unroll 3
  for (int k = 0; k < 3; ++k) {
    const uint8_t* p = xin && w.inside[k] ? w.row[k] + int64_t(x) * w.c + c0 : w.pad;
    r[k] = full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(m, p);
  }
  column_quads(r[0], r[1], r[2], v);
}

// Requantizes the four accumulators of a block and stores its n (<= 64) bytes.
MNV2_DWQ_INLINE void dwq_store(const DwqRow& r, const uint8_t* arr, const __m512i* acc, bool full,
                      __mmask64 m, uint8_t* out) {
  __m512i res[4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const uint8_t* a = arr + 64 * q;
    __m512i y;
    if (r.float_mode) {
      y = V::mul_round(acc[q], _mm512_loadu_si512(a + r.as));
    } else {
      y = qsimd::mul_by_multiplier<V>(acc[q], _mm512_loadu_si512(a + r.as),
                                      _mm512_loadu_si512(a + 2 * r.as),
                                      _mm512_loadu_si512(a + 3 * r.as),
                                      _mm512_loadu_si512(a + 4 * r.as));
    }
    res[q] = _mm512_add_epi32(y, r.zp);
  }
  // The saturating packs clamp to 0..255 (then to qmin..qmax) and, working within 128-bit
  // lanes as the interleave did, put the channels back in order.
  const __m512i p01 = _mm512_packs_epi32(res[0], res[1]), p23 = _mm512_packs_epi32(res[2], res[3]);
  __m512i y8 = _mm512_packus_epi16(p01, p23);
  y8 = _mm512_min_epu8(_mm512_max_epu8(y8, r.lo8), r.hi8);
  if (full)
    _mm512_storeu_si512(out, y8);
  else
    _mm512_mask_storeu_epi8(out, m, y8);
}

// acc[q] += the window column's vectors v times column j's weights (both terms).
template <int TERMS>
MNV2_DWQ_INLINE void dwq_column(const uint8_t* w, int64_t term_bytes, int j, const __m512i* v, __m512i* acc) {
#pragma GCC unroll 2
  for (int term = 0; term < TERMS; ++term)
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q)
      acc[q] = _mm512_dpbusd_epi32(acc[q], v[q],
                                   _mm512_loadu_si512(w + term * term_bytes + 256 * j + 64 * q));
}

// One 64-channel block (the first n real) of output row `out`, every pixel.
template <int TERMS, int STRIDE>
MNV2_DWQ_INLINE void dwq_block_row(const QDw& a, const DwqRow& r, const DwqRows& rows, int b, uint8_t* out) {
  const int c = a.c, c0 = 64 * b, n = c - c0;
  const bool full = n >= 64;
  const __mmask64 m = full ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
  const uint8_t* arr = r.arrays + int64_t(b) * 256;
  const uint8_t* w = r.blob + qdw3x3q_weight_offset(r.blocks, 0, b, 0, 0);
  const int64_t term_bytes = int64_t(r.blocks) * 3 * 256;
  // col[k]: the vectors of window column k of the current pixel.
  __m512i col[3][4];
  // STRIDE 0: any stride, every column loaded for every pixel.
  const int step = STRIDE == 0 ? a.sw : STRIDE;
  int x = -a.pad_left;
  if (STRIDE != 0) load_column(rows, x, c0, full, m, col[0]);
  if (STRIDE == 1) load_column(rows, x + 1, c0, full, m, col[1]);
  for (int ox = 0; ox < a.ow; ++ox, x += step) {
    if (STRIDE == 0) load_column(rows, x, c0, full, m, col[0]);
    if (STRIDE != 1) load_column(rows, x + 1, c0, full, m, col[1]);
    load_column(rows, x + 2, c0, full, m, col[2]);
    __m512i acc[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) acc[q] = _mm512_loadu_si512(arr + 64 * q);
    dwq_column<TERMS>(w, term_bytes, 0, col[0], acc);
    dwq_column<TERMS>(w, term_bytes, 1, col[1], acc);
    dwq_column<TERMS>(w, term_bytes, 2, col[2], acc);
    dwq_store(r, arr, acc, full, m, out + int64_t(ox) * c + c0);
    // The next window starts STRIDE columns on.
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      if (STRIDE == 1) {
        col[0][q] = col[1][q];
        col[1][q] = col[2][q];
      } else if (STRIDE == 2) {
        col[0][q] = col[2][q];
      }
    }
  }
}

template <int TERMS>
void dwq_row(const QDw& a, int oy, const DwqRow& r) {
  DwqRows rows;
  std::memset(rows.pad, r.in_zp, sizeof rows.pad);
  rows.iw = a.iw;
  rows.c = a.c;
  const int iy0 = oy * a.sh - a.pad_top;
  for (int k = 0; k < 3; ++k) {
    const int iy = iy0 + k;
    rows.inside[k] = iy >= 0 && iy < a.ih;
    rows.row[k] = rows.inside[k] ? a.in + int64_t(iy) * a.iw * a.c : nullptr;
  }
  uint8_t* out = a.out + int64_t(oy) * a.ow * a.c;
  for (int b = 0; b * 64 < a.c; ++b) {
    if (a.sw == 1)
      dwq_block_row<TERMS, 1>(a, r, rows, b, out);
    else if (a.sw == 2)
      dwq_block_row<TERMS, 2>(a, r, rows, b, out);
    else
      dwq_block_row<TERMS, 0>(a, r, rows, b, out);
  }
}

void dw3x3q_row(const QDw& a, int oy) {
  const auto* blob = static_cast<const uint8_t*>(a.w);
  int32_t hdr[8];
  std::memcpy(hdr, blob, sizeof hdr);
  DwqRow r;
  r.blob = blob;
  r.blocks = hdr[7];
  r.in_zp = hdr[1];
  r.arrays = blob + qdw3x3q_array_offset(hdr[7], hdr[6], 0);
  r.as = int64_t(hdr[7]) * 256;
  r.float_mode = hdr[5] == 1;
  r.zp = _mm512_set1_epi32(hdr[2]);
  r.lo8 = _mm512_set1_epi8(char(hdr[3]));
  r.hi8 = _mm512_set1_epi8(char(hdr[4]));
  if (hdr[6] == 2)
    dwq_row<2>(a, oy, r);
  else
    dwq_row<1>(a, oy, r);
}

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
  t.dw3x3q_row = vnni ? &dw3x3q_row : nullptr;
  t.add = &avx2::qadd;
  t.pool = &qpool_scalar;
  t.add_xnn = &avx2::qadd_xnn;
  t.quantize = &quantize_u8;  // this file's copy, built for its ISA
  return t;
}

}  // namespace

constinit const QKernelTable MNV2_X86_NAME(kAvx512QTable) = make_avx512_qtable(false);
constinit const QKernelTable MNV2_X86_NAME(kAvx512VnniQTable) = make_avx512_qtable(true);

}  // namespace mnv2::kernels
