// AVX2 integer kernels: the Pairs16 GEMM (vpmaddwd on uint16 activation pairs against
// int16 weight pairs, a 6 x 16 register tile), the 3x3 depthwise row, quantized ADD.
// The AVX-512 table reuses the depthwise and ADD kernels (see avx512/qkernels.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/avx2/qvec.h"
#include "kernels/qkernels.h"
#include "kernels/qquantize.h"
#include "kernels/qsimd_impl.h"

namespace mnv2::kernels {

namespace avx2 {

namespace {

using V = QVec;
using Gemm16 = qsimd::Gemm<V, QLayout::Pairs16, 6, 2>;
using GemmQuadsEmu = qsimd::Gemm<V, QLayout::Quads8, 6, 2>;
using GemmQuadsU8Emu = qsimd::Gemm<V, QLayout::QuadsU8, 6, 2>;
// The first convolution on the Pairs16 tiles (16-column panels: 32 and 48 channels fill them).
using Conv16 = qsimd::SmallConv<V, QLayout::Pairs16, 6, 2>;

// Requantizes 16 accumulators (channels 0..7 in r0, 8..15 in r1) and packs them to bytes.
// q[] holds the per-channel mult, lshift, rshift, rmask of both halves.
inline __m128i requant16(__m256i r0, __m256i r1, const __m256i* q, __m256i zp, __m256i lo,
                         __m256i hi, bool float_mode) {
  if (float_mode) {
    r0 = qsimd::requant_float<V>(r0, q[0], zp, lo, hi);
    r1 = qsimd::requant_float<V>(r1, q[4], zp, lo, hi);
  } else {
    r0 = qsimd::requant<V>(r0, q[0], q[1], q[2], q[3], zp, lo, hi);
    r1 = qsimd::requant<V>(r1, q[4], q[5], q[6], q[7], zp, lo, hi);
  }
  const __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(r0, r1), 0xD8);
  return _mm_packus_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

// 16 channels (from c0) of NP output pixels: x[i][t] holds the 16 input bytes of tap t of
// pixel i. The weights and requantization parameters are loaded once for all NP pixels.
template <int NP>
inline void dw_group(const __m128i (*x)[9], const uint8_t* blob, int c, int c0, __m256i zp,
                     __m256i lo, __m256i hi, bool fm, __m128i* out) {
  const int64_t as = int64_t(qdw3x3_cpad(c)) * 4;
  const uint8_t* arrays = blob + qdw3x3_array_offset(c, 0) + 4 * c0;
  __m256i acc0[NP], acc1[NP];
  const __m256i b0 = V::load(arrays), b1 = V::load(arrays + 32);
#pragma GCC unroll 4
  for (int i = 0; i < NP; ++i) {
    acc0[i] = b0;
    acc1[i] = b1;
  }
#pragma GCC unroll 5
  for (int p = 0; p < 5; ++p) {
    const uint8_t* wp = blob + qdw3x3_pair_offset(c, p) + 4 * c0;
    const __m256i w0 = V::load(wp), w1 = V::load(wp + 32);
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) {
      const __m128i x1 = p < 4 ? x[i][2 * p + 1] : _mm_setzero_si128();
      const __m256i l = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(x[i][2 * p], x1));
      const __m256i h = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(x[i][2 * p], x1));
      acc0[i] = _mm256_add_epi32(acc0[i], _mm256_madd_epi16(l, w0));
      acc1[i] = _mm256_add_epi32(acc1[i], _mm256_madd_epi16(h, w1));
    }
  }
  __m256i q[8];
#pragma GCC unroll 4
  for (int a = 0; a < 4; ++a) {
    q[a] = V::load(arrays + (a + 1) * as);
    q[4 + a] = V::load(arrays + (a + 1) * as + 32);
  }
#pragma GCC unroll 4
  for (int i = 0; i < NP; ++i) out[i] = requant16(acc0[i], acc1[i], q, zp, lo, hi, fm);
}

// The nine tap pointers of output pixel (oy, ox); taps in the padding point at pad.
inline void tap_pointers(const QDw& a, int iy0, int ox, const uint8_t* pad, const uint8_t** taps) {
  const int ix0 = ox * a.sw - a.pad_left;
  for (int t = 0; t < 9; ++t) {
    const int iy = iy0 + t / 3, ix = ix0 + t % 3;
    taps[t] = iy >= 0 && iy < a.ih && ix >= 0 && ix < a.iw ? a.in + (int64_t(iy) * a.iw + ix) * a.c
                                                            : pad;
  }
}

// NP pixels whose tap pointers are in taps[NP][9], all channels.
template <int NP>
inline void dw_pixels(const QDw& a, const uint8_t* const (*taps)[9], const uint8_t* blob,
                      __m256i zp, __m256i lo, __m256i hi, bool fm, uint8_t* const* o) {
  const int c = a.c;
  int c0 = 0;
  for (; c0 + 16 <= c; c0 += 16) {
    __m128i x[NP][9], r[NP];
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i)
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t)
        x[i][t] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(taps[i][t] + c0));
    dw_group<NP>(x, blob, c, c0, zp, lo, hi, fm, r);
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(o[i] + c0), r[i]);
  }
  if (c0 < c) {
    const int n = c - c0;
    alignas(16) uint8_t tmp[9][16] = {};
    for (int i = 0; i < NP; ++i) {
      __m128i x[1][9], r[1];
      for (int t = 0; t < 9; ++t) {
        std::memcpy(tmp[t], taps[i][t] + c0, size_t(n));
        x[0][t] = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp[t]));
      }
      dw_group<1>(x, blob, c, c0, zp, lo, hi, fm, r);
      alignas(16) uint8_t res[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(res), r[0]);
      std::memcpy(o[i] + c0, res, size_t(n));
    }
  }
}

// The 16 channels from c0 of the pixels whose top-left taps start at p0 (row 0), p1, p2
// (rows 1, 2; each row's taps at +0, +c, +2c), stepped by s0, s1, s2 bytes per pixel (0 for
// a row in the padding, which then reads the pad row). The 10 weight vectors, bias and
// requantization parameters of the channels are loaded once for all n pixels.
template <bool FM>
inline void dw_run16(const uint8_t* blob, int c, int c0, const uint8_t* p0, const uint8_t* p1,
                     const uint8_t* p2, int64_t s0, int64_t s1, int64_t s2, int n, uint8_t* o,
                     int64_t os, __m256i zp, __m256i lo, __m256i hi) {
  const int64_t as = int64_t(qdw3x3_cpad(c)) * 4;
  const uint8_t* arrays = blob + qdw3x3_array_offset(c, 0) + 4 * c0;
  __m256i w[10];
#pragma GCC unroll 5
  for (int p = 0; p < 5; ++p) {
    const uint8_t* wp = blob + qdw3x3_pair_offset(c, p) + 4 * c0;
    w[2 * p] = V::load(wp);
    w[2 * p + 1] = V::load(wp + 32);
  }
  __m256i q[8];
#pragma GCC unroll 4
  for (int a = 0; a < 4; ++a) {
    q[a] = V::load(arrays + (a + 1) * as);
    q[4 + a] = V::load(arrays + (a + 1) * as + 32);
  }
  const __m256i b0 = V::load(arrays), b1 = V::load(arrays + 32);
  const int64_t c1 = c, c2 = 2 * int64_t(c);
  for (int i = 0; i < n; ++i, p0 += s0, p1 += s1, p2 += s2, o += os) {
    auto ld = [&](const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
    // Taps in pairs (0,1) (2,3) (4,5) (6,7) (8,-), as the blob pairs them.
    const __m128i x[10] = {ld(p0), ld(p0 + c1), ld(p0 + c2), ld(p1), ld(p1 + c1),
                           ld(p1 + c2), ld(p2), ld(p2 + c1), ld(p2 + c2), _mm_setzero_si128()};
    __m256i acc0 = b0, acc1 = b1;
#pragma GCC unroll 5
    for (int p = 0; p < 5; ++p) {
      const __m256i l = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(x[2 * p], x[2 * p + 1]));
      const __m256i h = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(x[2 * p], x[2 * p + 1]));
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(l, w[2 * p]));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(h, w[2 * p + 1]));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + c0),
                     requant16(acc0, acc1, q, zp, lo, hi, FM));
  }
}

// The output row's pixels through tap pointers (taps in the padding point at pad), for
// pixels [x0, x1).
inline void dw_pixels_range(const QDw& a, int oy, int x0, int x1, const uint8_t* blob,
                            const uint8_t* pad, __m256i zp, __m256i lo, __m256i hi, bool fm) {
  const int c = a.c;
  const int iy0 = oy * a.sh - a.pad_top;
  uint8_t* out = a.out + int64_t(oy) * a.ow * c;
  const uint8_t* taps[4][9];
  int ox = x0;
  // Four pixels at a time share the weight and requantization loads.
  for (; ox + 4 <= x1; ox += 4) {
    for (int i = 0; i < 4; ++i) tap_pointers(a, iy0, ox + i, pad, taps[i]);
    uint8_t* o[4] = {out + int64_t(ox) * c, out + int64_t(ox + 1) * c, out + int64_t(ox + 2) * c,
                     out + int64_t(ox + 3) * c};
    dw_pixels<4>(a, taps, blob, zp, lo, hi, fm, o);
  }
  for (; ox < x1; ++ox) {
    tap_pointers(a, iy0, ox, pad, taps[0]);
    uint8_t* o[1] = {out + int64_t(ox) * c};
    dw_pixels<1>(a, taps, blob, zp, lo, hi, fm, o);
  }
}

}  // namespace

// One output row of a 3x3 depthwise conv. Pixels whose window lies within the image's
// columns (all but one or two at each side) address their taps from three row pointers and
// run 16 channels at a time across the whole row, the weights held in registers; rows in
// the padding read a pad row with no step. The side pixels (and rows whose channel count is
// not a multiple of 16) go through per-pixel tap pointers.
void qdw3x3_row(const QDw& a, int oy) {
  const auto* blob = static_cast<const uint8_t*>(a.w);
  int32_t hdr[6];
  std::memcpy(hdr, blob, sizeof hdr);
  const int c = a.c;
  // Three pixels' worth: the fast path reads a padding row at +0, +c and +2c.
  const int64_t pad_bytes = 3 * int64_t(qdw3x3_cpad(c));
  thread_local std::vector<uint8_t> pad_row;
  if (pad_row.size() < size_t(pad_bytes)) pad_row.resize(size_t(pad_bytes));
  std::memset(pad_row.data(), hdr[1], size_t(pad_bytes));
  const uint8_t* pad = pad_row.data();
  const __m256i zp = V::set1(hdr[2]), lo = V::set1(hdr[3]), hi = V::set1(hdr[4]);
  const bool fm = hdr[5] == 1;  // float requantization
  // Interior pixels: ox * sw - pad_left >= 0 and ox * sw - pad_left + 2 < iw.
  const int x0 = std::min(a.ow, (a.pad_left + a.sw - 1) / a.sw);
  const int x1 = a.iw + a.pad_left < 3 ? x0 : std::max(x0, std::min(a.ow, (a.iw - 3 + a.pad_left) / a.sw + 1));
  if (c % 16 != 0 || x1 == x0) {
    dw_pixels_range(a, oy, 0, a.ow, blob, pad, zp, lo, hi, fm);
    return;
  }
  dw_pixels_range(a, oy, 0, x0, blob, pad, zp, lo, hi, fm);
  const int iy0 = oy * a.sh - a.pad_top;
  const uint8_t* rp[3];
  int64_t rstep[3];
  for (int r = 0; r < 3; ++r) {
    const int iy = iy0 + r;
    const bool in = iy >= 0 && iy < a.ih;
    rp[r] = in ? a.in + (int64_t(iy) * a.iw + (int64_t(x0) * a.sw - a.pad_left)) * c : pad;
    rstep[r] = in ? int64_t(a.sw) * c : 0;
  }
  uint8_t* out = a.out + (int64_t(oy) * a.ow + x0) * c;
  for (int c0 = 0; c0 < c; c0 += 16) {
    // (A padding row's reads stay below c0 + 2c + 16 <= 3 * cpad.)
    auto at = [&](int r) { return rp[r] + c0; };
    if (fm)
      dw_run16<true>(blob, c, c0, at(0), at(1), at(2), rstep[0], rstep[1], rstep[2], x1 - x0, out, c,
                     zp, lo, hi);
    else
      dw_run16<false>(blob, c, c0, at(0), at(1), at(2), rstep[0], rstep[1], rstep[2], x1 - x0, out,
                      c, zp, lo, hi);
  }
  dw_pixels_range(a, oy, x1, a.ow, blob, pad, zp, lo, hi, fm);
}

// 8 elements of q::add_one.
inline __m256i add8(__m128i a8, __m128i b8, const q::AddParams& p, const __m256i* k) {
  const __m256i sa = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_cvtepu8_epi32(a8), k[0]), p.left_shift);
  const __m256i sb = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_cvtepu8_epi32(b8), k[1]), p.left_shift);
  const __m256i ra = qsimd::mul_by_multiplier<V>(sa, k[2], k[3], k[4], k[5]);
  const __m256i rb = qsimd::mul_by_multiplier<V>(sb, k[6], k[7], k[8], k[9]);
  return qsimd::requant<V>(_mm256_add_epi32(ra, rb), k[10], k[11], k[12], k[13], k[14], k[15],
                           k[16]);
}

void qadd(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n, const q::AddParams& p) {
  __m256i k[17];
  qsimd::add_vectors<V>(p, k);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i a16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
    const __m128i b16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    const __m256i r0 = add8(a16, b16, p, k);
    const __m256i r1 = add8(_mm_unpackhi_epi64(a16, a16), _mm_unpackhi_epi64(b16, b16), p, k);
    const __m256i pk = _mm256_permute4x64_epi64(_mm256_packs_epi32(r0, r1), 0xD8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm_packus_epi16(_mm256_castsi256_si128(pk), _mm256_extracti128_si256(pk, 1)));
  }
  for (; i < n; i += 8) {
    const int r = n - i < 8 ? int(n - i) : 8;
    alignas(16) uint8_t ta[16] = {}, tb[16] = {};
    std::memcpy(ta, a + i, size_t(r));
    std::memcpy(tb, b + i, size_t(r));
    const __m256i v = add8(_mm_load_si128(reinterpret_cast<const __m128i*>(ta)),
                           _mm_load_si128(reinterpret_cast<const __m128i*>(tb)), p, k);
    V::store_u8_n(y + i, v, r);
  }
}

// 8 elements of q::xnn_add_one (products fit int32: 255 * a 21-bit multiplier).
inline __m256i xnn_add8(__m128i a8, __m128i b8, const __m256i* k, __m128i shift) {
  __m256i acc = _mm256_add_epi32(k[0], _mm256_mullo_epi32(_mm256_cvtepu8_epi32(a8), k[1]));
  acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b8), k[2]));
  const __m256i v = _mm256_add_epi32(_mm256_sra_epi32(acc, shift), k[3]);
  return _mm256_min_epi32(_mm256_max_epi32(v, k[4]), k[5]);
}

void qadd_xnn(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n,
              const q::XnnAddParams& p) {
  const __m256i k[6] = {V::set1(p.bias), V::set1(p.a_mult), V::set1(p.b_mult),
                        V::set1(p.out_zp), V::set1(p.qmin), V::set1(p.qmax)};
  const __m128i shift = _mm_cvtsi32_si128(p.shift);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i a16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
    const __m128i b16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    const __m256i r0 = xnn_add8(a16, b16, k, shift);
    const __m256i r1 = xnn_add8(_mm_unpackhi_epi64(a16, a16), _mm_unpackhi_epi64(b16, b16), k, shift);
    const __m256i pk = _mm256_permute4x64_epi64(_mm256_packs_epi32(r0, r1), 0xD8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm_packus_epi16(_mm256_castsi256_si128(pk), _mm256_extracti128_si256(pk, 1)));
  }
  for (; i < n; i += 8) {
    const int r = n - i < 8 ? int(n - i) : 8;
    alignas(16) uint8_t ta[16] = {}, tb[16] = {};
    std::memcpy(ta, a + i, size_t(r));
    std::memcpy(tb, b + i, size_t(r));
    V::store_u8_n(y + i,
                  xnn_add8(_mm_load_si128(reinterpret_cast<const __m128i*>(ta)),
                           _mm_load_si128(reinterpret_cast<const __m128i*>(tb)), k, shift),
                  r);
  }
}

// The Quads8 layout over emulated vpdpbusd: not in the table (slower than Pairs16 here);
// the tests run it to check the loop structure the AVX-512 VNNI kernel shares.
constinit const QGemmKernel kQuads8Emulated = GemmQuadsEmu::kernel(&GemmQuadsEmu::run);
constinit const QGemmKernel kQuadsU8Emulated = GemmQuadsU8Emu::kernel(&GemmQuadsU8Emu::run);

}  // namespace avx2

namespace {

constexpr QKernelTable make_avx2_qtable() {
  QKernelTable t;
  t.isa = Isa::Avx2;
  t.vnni = false;
  t.gemm16 = avx2::Gemm16::kernel(&avx2::Gemm16::run);
  t.gemm8 = QGemmKernel{QLayout::Quads8, 1, 1, nullptr};
  t.gemm8u = QGemmKernel{QLayout::QuadsU8, 1, 1, nullptr};
  t.conv16 = avx2::Conv16::kernel();
  t.dw3x3_row = &avx2::qdw3x3_row;
  t.add = &avx2::qadd;
  t.pool = &qpool_scalar;
  t.add_xnn = &avx2::qadd_xnn;
  t.quantize = &quantize_u8;  // this file's copy, built for its ISA
  return t;
}

}  // namespace

constinit const QKernelTable kAvx2QTable = make_avx2_qtable();

}  // namespace mnv2::kernels
