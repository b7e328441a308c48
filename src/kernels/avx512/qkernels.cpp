// AVX-512 integer kernels: the GEMM over 512-bit vectors, an 8 x 32 register tile (16
// accumulators, two weight vectors, one broadcast), as vpmaddwd on int16 pairs (AVX-512BW)
// or vpdpbusd on u8 x s8 quads (AVX-512 VNNI, for layers whose weights fit int8, and with
// the roles swapped for uint8 per-tensor weights: QLayout::QuadsU8). The loop
// structure is the shared qsimd_impl.h, which the AVX2 build runs in both layouts on every
// x86-64 test machine. The 3x3 depthwise row is its own (below); ADD uses the AVX2 kernels
// (AVX-512 CPUs run AVX2).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/avx512/qvec.h"
#include "kernels/qkernels.h"
#include "kernels/qsimd_impl.h"

namespace mnv2::kernels {

namespace avx512 {
namespace {

using V = QVec;

// The 3x3 depthwise row, 16 channels per vector, one int32 lane per channel. Pixels are
// zero-extended to int32 (vpmovzxbd), and two horizontally adjacent ones form an int16 pair
// (x[ix] | x[ix+1] << 16) for vpmaddwd / vpdpwssd against the blob's row pairs (w[ky][0],
// w[ky][1]) and (w[ky][2], 0): six dot products per pixel and no byte shuffles beyond the
// widening, which a pixel column shares with its neighbours (kept in registers while the
// row is walked). Exact integer sums, so the same bits as the scalar twin.
template <bool VNNI>
inline __m512i dot2(__m512i acc, __m512i a, __m512i w) {
  if constexpr (VNNI)
    return _mm512_dpwssd_epi32(acc, a, w);
  else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, w));
}

template <bool VNNI>
void qdw3x3_row_t(const QDw& a, int oy) {
  const auto* blob = static_cast<const uint8_t*>(a.w);
  int32_t hdr[6];
  std::memcpy(hdr, blob, sizeof hdr);
  const int c = a.c;
  const int64_t as = int64_t(qdw3x3_cpad(c)) * 4;
  const __m512i zp = V::set1(hdr[2]), lo = V::set1(hdr[3]), hi = V::set1(hdr[4]);
  const __m512i in_zp = V::set1(hdr[1]);
  const bool fm = hdr[5] == 1;  // float requantization
  const int iy0 = oy * a.sh - a.pad_top;
  const uint8_t* rows[3];
  for (int r = 0; r < 3; ++r) {
    const int iy = iy0 + r;
    rows[r] = iy >= 0 && iy < a.ih ? a.in + int64_t(iy) * a.iw * c : nullptr;
  }
  uint8_t* out = a.out + int64_t(oy) * a.ow * c;
  for (int c0 = 0; c0 < c; c0 += 16) {
    const int n = std::min(16, c - c0);
    // Pixel (row r, column ix) of these channels as int32 lanes; the zero point outside.
    auto col = [&](int r, int ix) -> __m512i {
      if (!rows[r] || ix < 0 || ix >= a.iw) return in_zp;
      const uint8_t* p = rows[r] + int64_t(ix) * c + c0;
      __m128i x;
      if (n == 16) {
        x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      } else {
        alignas(16) uint8_t t[16] = {};
        std::memcpy(t, p, size_t(n));
        x = _mm_load_si128(reinterpret_cast<const __m128i*>(t));
      }
      return _mm512_cvtepu8_epi32(x);
    };
    __m512i wa[3], wb[3];
    for (int r = 0; r < 3; ++r) {
      wa[r] = V::load(blob + qdw3x3_row_pair_offset(c, 2 * r) + 4 * c0);
      wb[r] = V::load(blob + qdw3x3_row_pair_offset(c, 2 * r + 1) + 4 * c0);
    }
    const uint8_t* arrays = blob + qdw3x3_array_offset(c, 0) + 4 * c0;
    const __m512i bias = V::load(arrays), mult = V::load(arrays + as),
                  lsh = V::load(arrays + 2 * as), rsh = V::load(arrays + 3 * as),
                  rmask = V::load(arrays + 4 * as);
    // Columns ix0, ix0 + 1, ix0 + 2 of the three rows for the current output pixel.
    __m512i x0[3], x1[3], x2[3];
    int have = INT32_MIN;  // the ix0 that x0..x2 hold
    for (int ox = 0; ox < a.ow; ++ox) {
      const int ix0 = ox * a.sw - a.pad_left;
      for (int r = 0; r < 3; ++r) {
        if (ix0 == have + 1) {
          x0[r] = x1[r], x1[r] = x2[r], x2[r] = col(r, ix0 + 2);
        } else if (ix0 == have + 2) {
          x0[r] = x2[r], x1[r] = col(r, ix0 + 1), x2[r] = col(r, ix0 + 2);
        } else {
          x0[r] = col(r, ix0), x1[r] = col(r, ix0 + 1), x2[r] = col(r, ix0 + 2);
        }
      }
      have = ix0;
      // Three short chains (one per kernel row) rather than one of six.
      __m512i acc[3];
      for (int r = 0; r < 3; ++r) {
        const __m512i pair = _mm512_or_si512(x0[r], _mm512_slli_epi32(x1[r], 16));
        acc[r] = dot2<VNNI>(r == 0 ? bias : _mm512_setzero_si512(), pair, wa[r]);
        acc[r] = dot2<VNNI>(acc[r], x2[r], wb[r]);
      }
      const __m512i sum = _mm512_add_epi32(acc[0], _mm512_add_epi32(acc[1], acc[2]));
      const __m512i v = fm ? qsimd::requant_float<V>(sum, mult, zp, lo, hi)
                           : qsimd::requant<V>(sum, mult, lsh, rsh, rmask, zp, lo, hi);
      uint8_t* o = out + int64_t(ox) * c + c0;
      if (n == 16)
        V::store_u8(o, v);
      else
        V::store_u8_n(o, v, n);
    }
  }
}

}  // namespace
}  // namespace avx512

namespace {

using Gemm16 = qsimd::Gemm<avx512::QVec, QLayout::Pairs16, 8, 2>;
using Gemm8 = qsimd::Gemm<avx512::QVec, QLayout::Quads8, 8, 2>;
using Gemm8u = qsimd::Gemm<avx512::QVec, QLayout::QuadsU8, 8, 2>;

constexpr QKernelTable make_avx512_qtable(bool vnni) {
  QKernelTable t;
  t.isa = Isa::Avx512;
  t.vnni = vnni;
  t.gemm16 = Gemm16::kernel(&Gemm16::run);
  t.gemm8 = vnni ? Gemm8::kernel(&Gemm8::run) : QGemmKernel{QLayout::Quads8, 1, 1, nullptr};
  t.gemm8u = vnni ? Gemm8u::kernel(&Gemm8u::run) : QGemmKernel{QLayout::QuadsU8, 1, 1, nullptr};
  t.dw3x3_row = vnni ? &avx512::qdw3x3_row_t<true> : &avx512::qdw3x3_row_t<false>;
  t.add = &avx2::qadd;
  t.pool = &qpool_scalar;
  t.add_xnn = &avx2::qadd_xnn;
  return t;
}

}  // namespace

constinit const QKernelTable MNV2_X86_NAME(kAvx512QTable) = make_avx512_qtable(false);
constinit const QKernelTable MNV2_X86_NAME(kAvx512VnniQTable) = make_avx512_qtable(true);

}  // namespace mnv2::kernels
