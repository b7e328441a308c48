// NEON integer kernels for every AArch64 CPU (ARMv8.0-A): the Pairs16 GEMM on smlal, the
// Quads8 GEMM on smull + sadalp (the shared qsimd_impl.h loops over the traits of qvec.h),
// the 3x3 depthwise row and the quantized ADDs. The table for CPUs with the dot product
// (qkernels_dotprod.cpp) swaps in the sdot GEMM and keeps the rest.
#include "kernels/neon/qkernels.h"

#include <arm_neon.h>

#include <cstring>

#include "kernels/neon/qvec.h"
#include "kernels/qsimd_impl.h"

namespace mnv2::kernels {

namespace neon {

namespace {

using V = QVec;
using R = V::R;
using Gemm16 = qsimd::Gemm<V, QLayout::Pairs16, kPairRows, kWideVecs>;
using Gemm8 = qsimd::Gemm<V, QLayout::Quads8Signed, kQuadRows, kWideVecs>;

// make_qtable spells out the Pairs16 kernel's shape; it must be this one's.
static_assert(Gemm16::kernel(nullptr).mr == kPairRows &&
              Gemm16::kernel(nullptr).nr == kWideVecs * 4);

// Four int32 vectors (values within 0..255) to 16 bytes.
inline uint8x16_t pack16(R r0, R r1, R r2, R r3) {
  const int16x8_t lo = vcombine_s16(vmovn_s32(r0), vmovn_s32(r1));
  const int16x8_t hi = vcombine_s16(vmovn_s32(r2), vmovn_s32(r3));
  return vcombine_u8(vqmovun_s16(lo), vqmovun_s16(hi));
}

// The 16 bytes as four int32 vectors.
inline void widen16(uint8x16_t x, R* out) {
  const uint16x8_t lo = vmovl_u8(vget_low_u8(x)), hi = vmovl_high_u8(x);
  out[0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(lo)));
  out[1] = vreinterpretq_s32_u32(vmovl_high_u16(lo));
  out[2] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(hi)));
  out[3] = vreinterpretq_s32_u32(vmovl_high_u16(hi));
}

// 16 channels (from c0) of NP output pixels: x[i][t] holds the 16 input bytes of tap t of
// pixel i. The blob's tap pairs load deinterleaved (ld2): one vector per tap, eight
// channels each, so every tap is a plain widening multiply-accumulate (smlal) per channel.
template <int NP, bool FM>
inline void dw_group(const uint8x16_t (*x)[9], const uint8_t* blob, int c, int c0, R zp, R lo,
                     R hi, uint8x16_t* out) {
  const int64_t as = int64_t(qdw3x3_cpad(c)) * 4;
  const uint8_t* arrays = blob + qdw3x3_array_offset(c, 0) + 4 * c0;
  R acc[NP][4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const R b = V::load(arrays + 16 * q);
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) acc[i][q] = b;
  }
#pragma GCC unroll 5
  for (int p = 0; p < 5; ++p) {
    const auto* wp = reinterpret_cast<const int16_t*>(blob + qdw3x3_pair_offset(c, p)) + 2 * c0;
    const int16x8x2_t w0 = vld2q_s16(wp), w1 = vld2q_s16(wp + 16);  // channels 0-7, 8-15
    for (int h = 0; h < (p < 4 ? 2 : 1); ++h) {  // tap 2p, then 2p+1 (tap 9 does not exist)
#pragma GCC unroll 4
      for (int i = 0; i < NP; ++i) {
        const uint8x16_t xt = x[i][2 * p + h];
        const int16x8_t xl = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(xt)));
        const int16x8_t xh = vreinterpretq_s16_u16(vmovl_high_u8(xt));
        acc[i][0] = vmlal_s16(acc[i][0], vget_low_s16(xl), vget_low_s16(w0.val[h]));
        acc[i][1] = vmlal_high_s16(acc[i][1], xl, w0.val[h]);
        acc[i][2] = vmlal_s16(acc[i][2], vget_low_s16(xh), vget_low_s16(w1.val[h]));
        acc[i][3] = vmlal_high_s16(acc[i][3], xh, w1.val[h]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < NP; ++i) {
    R r[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const uint8_t* aq = arrays + 16 * q;
      r[q] = FM ? qsimd::requant_float<V>(acc[i][q], V::load(aq + as), zp, lo, hi)
                : qsimd::requant<V>(acc[i][q], V::load(aq + as), V::load(aq + 2 * as),
                                    V::load(aq + 3 * as), V::load(aq + 4 * as), zp, lo, hi);
    }
    out[i] = pack16(r[0], r[1], r[2], r[3]);
  }
}

// NP pixels whose tap pointers are in taps[NP][9], all channels. FM: float requantization.
template <int NP, bool FM>
inline void dw_pixels(const QDw& a, const uint8_t* const (*taps)[9], const uint8_t* blob, R zp,
                      R lo, R hi, uint8_t* const* o) {
  const int c = a.c;
  int c0 = 0;
  for (; c0 + 16 <= c; c0 += 16) {
    uint8x16_t x[NP][9], r[NP];
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i)
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) x[i][t] = vld1q_u8(taps[i][t] + c0);
    dw_group<NP, FM>(x, blob, c, c0, zp, lo, hi, r);
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) vst1q_u8(o[i] + c0, r[i]);
  }
  if (c0 < c) {
    const int n = c - c0;
    uint8_t tmp[9][16] = {};
    for (int i = 0; i < NP; ++i) {
      uint8x16_t x[1][9], r[1];
      for (int t = 0; t < 9; ++t) {
        std::memcpy(tmp[t], taps[i][t] + c0, size_t(n));
        x[0][t] = vld1q_u8(tmp[t]);
      }
      dw_group<1, FM>(x, blob, c, c0, zp, lo, hi, r);
      uint8_t res[16];
      vst1q_u8(res, r[0]);
      std::memcpy(o[i] + c0, res, size_t(n));
    }
  }
}

// q::add_one of four lanes.
inline R add4(R a, R b, const R* k) {
  const R sa = vshlq_s32(vsubq_s32(a, k[0]), k[17]);
  const R sb = vshlq_s32(vsubq_s32(b, k[1]), k[17]);
  const R ra = qsimd::mul_by_multiplier<V>(sa, k[2], k[3], k[4], k[5]);
  const R rb = qsimd::mul_by_multiplier<V>(sb, k[6], k[7], k[8], k[9]);
  return qsimd::requant<V>(vaddq_s32(ra, rb), k[10], k[11], k[12], k[13], k[14], k[15], k[16]);
}

// q::xnn_add_one of four lanes (products fit int32: 255 * a 21-bit multiplier).
inline R xnn_add4(R a, R b, const R* k) {
  const R acc = vmlaq_s32(vmlaq_s32(k[0], a, k[1]), b, k[2]);
  return vminq_s32(vmaxq_s32(vaddq_s32(vshlq_s32(acc, k[6]), k[3]), k[4]), k[5]);
}

// n elements of an element-wise op on 16 lanes at a time (the tail through a buffer).
template <class Op>
inline void binary16(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n, Op op) {
  auto run16 = [&](uint8x16_t a16, uint8x16_t b16) {
    R wa[4], wb[4];
    widen16(a16, wa);
    widen16(b16, wb);
    return pack16(op(wa[0], wb[0]), op(wa[1], wb[1]), op(wa[2], wb[2]), op(wa[3], wb[3]));
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) vst1q_u8(y + i, run16(vld1q_u8(a + i), vld1q_u8(b + i)));
  if (i < n) {
    const size_t r = size_t(n - i);
    uint8_t ta[16] = {}, tb[16] = {}, ty[16];
    std::memcpy(ta, a + i, r);
    std::memcpy(tb, b + i, r);
    vst1q_u8(ty, run16(vld1q_u8(ta), vld1q_u8(tb)));
    std::memcpy(y + i, ty, r);
  }
}

}  // namespace

void qgemm16(const QGemm& g) { Gemm16::run(g); }

namespace {

// One output row; FM: float requantization. Out of line: one call per row, and each mode's
// loop stays a function of its own in profiles and in scripts/arm64-mca.py.
template <bool FM>
__attribute__((noinline)) void dw_row(const QDw& a, int oy, const uint8_t* blob, const uint8_t* pad, R zp, R lo, R hi) {
  qsimd::dw3x3_row_pixels(a, oy, pad, [&]<int NP>(const uint8_t* const (*taps)[9],
                                                   uint8_t* const* o) {
    dw_pixels<NP, FM>(a, taps, blob, zp, lo, hi, o);
  });
}

}  // namespace

// One output row of a 3x3 depthwise conv. Each pixel reads its nine taps through
// pointers; taps in the padding point at a row of zero-point bytes.
void qdw3x3_row(const QDw& a, int oy) {
  const auto* blob = static_cast<const uint8_t*>(a.w);
  int32_t hdr[6];
  std::memcpy(hdr, blob, sizeof hdr);
  const uint8_t* pad = qsimd::dw3x3_pad_row(a.c, hdr[1]);
  const R zp = V::set1(hdr[2]), lo = V::set1(hdr[3]), hi = V::set1(hdr[4]);
  if (hdr[5] == 1)  // float requantization
    dw_row<true>(a, oy, blob, pad, zp, lo, hi);
  else
    dw_row<false>(a, oy, blob, pad, zp, lo, hi);
}

void qadd(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n, const q::AddParams& p) {
  R k[18];
  qsimd::add_vectors<V>(p, k);
  k[17] = V::set1(p.left_shift);
  binary16(a, b, y, n, [&](R va, R vb) { return add4(va, vb, k); });
}

void qadd_xnn(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n,
              const q::XnnAddParams& p) {
  const R k[7] = {V::set1(p.bias), V::set1(p.a_mult), V::set1(p.b_mult), V::set1(p.out_zp),
                  V::set1(p.qmin), V::set1(p.qmax),  V::set1(-p.shift)};
  binary16(a, b, y, n, [&](R va, R vb) { return xnn_add4(va, vb, k); });
}

}  // namespace neon

// ARMv8.0-A: Quads8 on smull + sadalp.
constinit const QKernelTable kNeonQTable =
    neon::make_qtable(neon::Gemm8::kernel(&neon::Gemm8::run));

}  // namespace mnv2::kernels
