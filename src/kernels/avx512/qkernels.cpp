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
#include <vector>

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

// ---- 3x3 depthwise over the qdw3x3q_pack layout (vpdpbusd, four taps per lane) ----------

// The four vectors of a tap group: taps a, b, c, d (64 channels each) interleaved so that
// dword i of 128-bit lane L of vector q holds the four taps' bytes of channel 16 L + 4 q + i.
inline void interleave4(__m512i a, __m512i b, __m512i c, __m512i d, __m512i* v) {
  const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
  const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
  v[0] = _mm512_unpacklo_epi16(ab_lo, cd_lo);
  v[1] = _mm512_unpackhi_epi16(ab_lo, cd_lo);
  v[2] = _mm512_unpacklo_epi16(ab_hi, cd_hi);
  v[3] = _mm512_unpackhi_epi16(ab_hi, cd_hi);
}

struct DwqRow {
  const uint8_t* blob;
  const uint8_t* arrays;  // the bias array; the others follow every `as` bytes
  int64_t as;
  int blocks;
  int32_t in_zp;
  bool float_mode;
  __m512i zp, lo8, hi8;  // zp per int32 lane; qmin, qmax per byte
  __m512i tap8[4];       // vpshufb indices: tap 8's byte of vector q's channels, zero above
};

// 64 channels (block b, the first n of them real) of one output pixel; tap(t, mask) loads
// the pixel's tap t at the block's channels (all 64 bytes, or the masked ones).
template <int TERMS, class Tap>
inline void dwq_block(const DwqRow& r, Tap&& tap, int b, int n, uint8_t* out) {
  const bool full = n >= 64;
  const __mmask64 m = full ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
  __m512i t[9];
#pragma GCC unroll 9
  for (int i = 0; i < 9; ++i) t[i] = full ? _mm512_loadu_si512(tap(i)) : _mm512_maskz_loadu_epi8(m, tap(i));
  const uint8_t* arr = r.arrays + int64_t(b) * 256;
  __m512i acc[4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) acc[q] = _mm512_loadu_si512(arr + 64 * q);
  __m512i v[3][4];
  interleave4(t[0], t[1], t[2], t[3], v[0]);
  interleave4(t[4], t[5], t[6], t[7], v[1]);
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) v[2][q] = _mm512_shuffle_epi8(t[8], r.tap8[q]);
#pragma GCC unroll 2
  for (int term = 0; term < TERMS; ++term) {
    const uint8_t* w = r.blob + qdw3x3q_weight_offset(r.blocks, term, b, 0, 0);
#pragma GCC unroll 3
    for (int g = 0; g < 3; ++g)
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q)
        acc[q] = _mm512_dpbusd_epi32(acc[q], v[g][q], _mm512_loadu_si512(w + 256 * g + 64 * q));
  }
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

// This thread's 3 * c + 64 bytes of in_zp: a whole input row of padding for the three
// columns of a window, so rows above and below the image read like real ones.
inline const uint8_t* dwq_pad(int c, int32_t in_zp) {
  thread_local std::vector<uint8_t> pad;
  const size_t n = size_t(3) * size_t(c) + 64;
  if (pad.size() < n) pad.resize(n);
  std::memset(pad.data(), in_zp, n);
  return pad.data();
}

template <int TERMS>
void dwq_row(const QDw& a, int oy, const DwqRow& r) {
  const int c = a.c;
  const uint8_t* pad = dwq_pad(c, r.in_zp);
  const int iy0 = oy * a.sh - a.pad_top;
  // The window's three input rows; a row in the padding reads the pad row.
  const uint8_t* rows[3];
  for (int k = 0; k < 3; ++k) {
    const int iy = iy0 + k;
    rows[k] = iy >= 0 && iy < a.ih ? a.in + int64_t(iy) * a.iw * c : nullptr;
  }
  uint8_t* out = a.out + int64_t(oy) * a.ow * c;
  const int64_t c1 = c, c2 = 2 * int64_t(c);
  for (int ox = 0; ox < a.ow; ++ox) {
    const int ix0 = ox * a.sw - a.pad_left;
    uint8_t* o = out + int64_t(ox) * c;
    if (ix0 >= 0 && ix0 + 2 < a.iw) {
      // Inside the row: taps at three row bases plus 0, c, 2c (the pad row where a row is
      // missing), few enough registers for the compiler to keep them.
      const int64_t off = int64_t(ix0) * c;
      const uint8_t* b0 = rows[0] ? rows[0] + off : pad;
      const uint8_t* b1 = rows[1] ? rows[1] + off : pad;
      const uint8_t* b2 = rows[2] ? rows[2] + off : pad;
      for (int c0 = 0; c0 < c; c0 += 64) {
        auto tap = [&](int t) {
          const uint8_t* base = t < 3 ? b0 : t < 6 ? b1 : b2;
          const int col = t % 3;
          return base + (col == 0 ? 0 : col == 1 ? c1 : c2) + c0;
        };
        dwq_block<TERMS>(r, tap, c0 / 64, c - c0, o + c0);
      }
    } else {
      const uint8_t* p[9];
      for (int t = 0; t < 9; ++t) {
        const int ix = ix0 + t % 3;
        const uint8_t* row = rows[t / 3];
        p[t] = row && ix >= 0 && ix < a.iw ? row + int64_t(ix) * c : pad;
      }
      for (int c0 = 0; c0 < c; c0 += 64)
        dwq_block<TERMS>(r, [&](int t) { return p[t] + c0; }, c0 / 64, c - c0, o + c0);
    }
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
  for (int q = 0; q < 4; ++q) {
    alignas(64) int8_t idx[64];
    for (int k = 0; k < 64; ++k) idx[k] = k % 4 == 0 ? int8_t(4 * q + k % 16 / 4) : int8_t(-128);
    r.tap8[q] = _mm512_load_si512(idx);
  }
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
