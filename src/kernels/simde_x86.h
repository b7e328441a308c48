// The x86 intrinsics of the AVX-512 kernel sources, emulated: SIMDe (Debian libsimde-dev,
// header-only) under its native names, for the test-only second build of src/kernels/avx512/
// (see tests/CMakeLists.txt), which runs those kernels on CPUs without AVX-512.
//
// The emulated kernels must give the native kernels' bits, so this header also
//  * defines the intrinsics SIMDe 0.7.4 (Debian 12) lacks: masked float load / store, the
//    int32 <-> float conversions, the int32 -> int8 truncations, the uint8 -> int32
//    widening, srav, reduce_add, the
//    bf16 conversions;
//  * replaces SIMDe's vdpbf16ps, which adds the two products first and rounds differently:
//    the instruction does two fused multiply-adds, the odd pair first, with denormal inputs
//    read as zero and denormal results flushed (measured bit for bit against the hardware);
//  * fixes SIMDe 0.7.4's _mm512_madd_epi16 alias, which takes the masked form's 4 arguments.
// Each definition is per lane in plain C++, checked against the hardware by the test
// EmulatedAvx512.TraitsMatchNativeBitForBit where the CPU has AVX-512.
// The bf16 helpers here (daz, cvt_ps_bf16, the dot product) repeat what kernels/bf16.h's
// scalar twin computes on purpose: the emulated bf16 kernels are tested against that twin,
// so they model the instruction independently rather than through the code under test.
//
// SIMDe runs each 512-bit operation as two native 256-bit ones when compiled with AVX2 and
// FMA; without native FMA it would compute a*b+c with two roundings, so both are required.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__)
#error "the emulated AVX-512 build needs -mavx2 -mfma (SIMDe's exact FMA comes from AVX2 halves)"
#endif

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace mnv2::simde_extra {

// Lane arrays <-> vectors (the vector types are plain GCC vectors, so memcpy is exact).
template <class T, int N>
struct Lanes {
  T v[N];
};
template <class T, int N, class Vec>
inline Lanes<T, N> lanes(const Vec& x) {
  static_assert(sizeof(Vec) == sizeof(T) * N);
  Lanes<T, N> l;
  std::memcpy(l.v, &x, sizeof x);
  return l;
}
template <class Vec, class T, int N>
inline Vec vec(const Lanes<T, N>& l) {
  static_assert(sizeof(Vec) == sizeof(T) * N);
  Vec x;
  std::memcpy(&x, l.v, sizeof x);
  return x;
}

inline float f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t u32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// Denormals read as (signed) zero, as the bf16 instructions do on input and output.
inline float daz(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.f, x) : x; }

// vcvtps2dq: round by the current mode (MXCSR, nearest even by default); NaN and values
// outside int32 give INT32_MIN, the "integer indefinite".
inline int32_t cvt_ps_epi32(float x) {
  if (!(x >= -2147483648.f && x < 2147483648.f)) return INT32_MIN;
  return int32_t(std::nearbyint(x));
}

// fp32 -> bf16 as vcvtne2ps2bf16: nearest even, denormals to signed zero, NaN quieted.
inline uint16_t cvt_ps_bf16(float x) {
  uint32_t u = u32(x);
  if (std::isnan(x)) return uint16_t((u >> 16) | 0x40);
  if (std::fpclassify(x) == FP_SUBNORMAL) u &= 0x80000000u;
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
inline float bf16_ps(uint16_t h) { return f32(uint32_t(h) << 16); }

}  // namespace mnv2::simde_extra

// ---- intrinsics missing from SIMDe 0.7.4 ------------------------------------------------

static inline __m512 mnv2_mm512_maskz_loadu_ps(__mmask16 k, const void* p) {
  mnv2::simde_extra::Lanes<float, 16> r{};
  const auto* f = static_cast<const float*>(p);
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) r.v[i] = f[i];  // masked-off lanes are not read (they may be unmapped)
  return mnv2::simde_extra::vec<__m512>(r);
}
static inline void mnv2_mm512_mask_storeu_ps(void* p, __mmask16 k, __m512 a) {
  const auto l = mnv2::simde_extra::lanes<float, 16>(a);
  auto* f = static_cast<float*>(p);
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) f[i] = l.v[i];
}
static inline __m512 mnv2_mm512_cvtepi32_ps(__m512i a) {
  const auto l = mnv2::simde_extra::lanes<int32_t, 16>(a);
  mnv2::simde_extra::Lanes<float, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = float(l.v[i]);  // current rounding mode, as vcvtdq2ps
  return mnv2::simde_extra::vec<__m512>(r);
}
static inline __m512i mnv2_mm512_cvtps_epi32(__m512 a) {
  const auto l = mnv2::simde_extra::lanes<float, 16>(a);
  mnv2::simde_extra::Lanes<int32_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = mnv2::simde_extra::cvt_ps_epi32(l.v[i]);
  return mnv2::simde_extra::vec<__m512i>(r);
}
static inline __m128i mnv2_mm512_cvtepi32_epi8(__m512i a) {
  const auto l = mnv2::simde_extra::lanes<int32_t, 16>(a);
  mnv2::simde_extra::Lanes<uint8_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = uint8_t(uint32_t(l.v[i]));  // vpmovdb truncates
  return mnv2::simde_extra::vec<__m128i>(r);
}
static inline __m512i mnv2_mm512_cvtepu8_epi32(__m128i a) {
  const auto l = mnv2::simde_extra::lanes<uint8_t, 16>(a);
  mnv2::simde_extra::Lanes<int32_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = l.v[i];  // vpmovzxbd
  return mnv2::simde_extra::vec<__m512i>(r);
}
static inline void mnv2_mm512_mask_cvtepi32_storeu_epi8(void* p, __mmask16 k, __m512i a) {
  const auto l = mnv2::simde_extra::lanes<int32_t, 16>(a);
  auto* d = static_cast<uint8_t*>(p);
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) d[i] = uint8_t(uint32_t(l.v[i]));
}
// Byte-masked load / store: only the selected bytes are read or written, as the
// instructions guarantee (the tail of a channel block may end at the end of a buffer).
static inline __m512i mnv2_mm512_maskz_loadu_epi8(__mmask64 k, const void* p) {
  mnv2::simde_extra::Lanes<uint8_t, 64> r{};
  const auto* s = static_cast<const uint8_t*>(p);
  for (int i = 0; i < 64; ++i)
    if (k >> i & 1) r.v[i] = s[i];
  return mnv2::simde_extra::vec<__m512i>(r);
}
static inline void mnv2_mm512_mask_storeu_epi8(void* p, __mmask64 k, __m512i a) {
  const auto l = mnv2::simde_extra::lanes<uint8_t, 64>(a);
  auto* d = static_cast<uint8_t*>(p);
  for (int i = 0; i < 64; ++i)
    if (k >> i & 1) d[i] = l.v[i];
}
static inline __m512i mnv2_mm512_srav_epi32(__m512i a, __m512i count) {
  const auto l = mnv2::simde_extra::lanes<int32_t, 16>(a);
  const auto c = mnv2::simde_extra::lanes<uint32_t, 16>(count);
  mnv2::simde_extra::Lanes<int32_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = l.v[i] >> (c.v[i] > 31 ? 31 : c.v[i]);  // sign fill
  return mnv2::simde_extra::vec<__m512i>(r);
}
// GCC's order: the 256-bit halves, then the 128-bit halves, then lanes (0,2) and (1,3),
// then those two sums.
static inline float mnv2_mm512_reduce_add_ps(__m512 a) {
  const auto l = mnv2::simde_extra::lanes<float, 16>(a);
  float t8[8], t4[4];
  for (int i = 0; i < 8; ++i) t8[i] = l.v[i + 8] + l.v[i];
  for (int i = 0; i < 4; ++i) t4[i] = t8[i + 4] + t8[i];
  return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}
static inline __m512 mnv2_mm512_undefined_ps() { return _mm512_setzero_ps(); }

// ---- AVX512_BF16 ------------------------------------------------------------------------

// dst[i] = fma(a[2i], b[2i], fma(a[2i+1], b[2i+1], src[i])), each with denormals in as zero
// and out flushed, nearest even whatever MXCSR says.
static inline __m512 mnv2_mm512_dpbf16_ps(__m512 src, __m512bh a, __m512bh b) {
  using namespace mnv2::simde_extra;
  const auto s = lanes<float, 16>(src);
  const auto x = lanes<uint16_t, 32>(a), y = lanes<uint16_t, 32>(b);
  Lanes<float, 16> r;
  const int mode = std::fegetround();
  if (mode != FE_TONEAREST) std::fesetround(FE_TONEAREST);
  for (int i = 0; i < 16; ++i) {
    float acc = daz(s.v[i]);
    for (int p : {2 * i + 1, 2 * i})
      acc = daz(std::fma(daz(bf16_ps(x.v[p])), daz(bf16_ps(y.v[p])), acc));
    r.v[i] = acc;
  }
  if (mode != FE_TONEAREST) std::fesetround(mode);
  return vec<__m512>(r);
}
// Lanes 0..15 from b, 16..31 from a (the instruction's operand order).
static inline __m512bh mnv2_mm512_cvtne2ps_pbh(__m512 a, __m512 b) {
  using namespace mnv2::simde_extra;
  const auto la = lanes<float, 16>(a), lb = lanes<float, 16>(b);
  Lanes<uint16_t, 32> r;
  for (int i = 0; i < 16; ++i) {
    r.v[i] = cvt_ps_bf16(lb.v[i]);
    r.v[16 + i] = cvt_ps_bf16(la.v[i]);
  }
  return vec<__m512bh>(r);
}
static inline __m256bh mnv2_mm512_cvtneps_pbh(__m512 a) {
  using namespace mnv2::simde_extra;
  const auto la = lanes<float, 16>(a);
  Lanes<uint16_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = cvt_ps_bf16(la.v[i]);
  return vec<__m256bh>(r);
}
static inline __m512 mnv2_mm512_cvtpbh_ps(__m256bh a) {
  using namespace mnv2::simde_extra;
  const auto la = lanes<uint16_t, 16>(a);
  Lanes<float, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = bf16_ps(la.v[i]);  // exact: a shift, no DAZ
  return vec<__m512>(r);
}

// The native names now mean the definitions above (whatever SIMDe's aliases said).
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps mnv2_mm512_maskz_loadu_ps
#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps mnv2_mm512_mask_storeu_ps
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps mnv2_mm512_cvtepi32_ps
#undef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32 mnv2_mm512_cvtps_epi32
#undef _mm512_cvtepi32_epi8
#define _mm512_cvtepi32_epi8 mnv2_mm512_cvtepi32_epi8
#undef _mm512_cvtepu8_epi32
#define _mm512_cvtepu8_epi32 mnv2_mm512_cvtepu8_epi32
#undef _mm512_mask_cvtepi32_storeu_epi8
#define _mm512_mask_cvtepi32_storeu_epi8 mnv2_mm512_mask_cvtepi32_storeu_epi8
#undef _mm512_maskz_loadu_epi8
#define _mm512_maskz_loadu_epi8 mnv2_mm512_maskz_loadu_epi8
#undef _mm512_mask_storeu_epi8
#define _mm512_mask_storeu_epi8 mnv2_mm512_mask_storeu_epi8
#undef _mm512_srav_epi32
#define _mm512_srav_epi32 mnv2_mm512_srav_epi32
#undef _mm512_reduce_add_ps
#define _mm512_reduce_add_ps mnv2_mm512_reduce_add_ps
#undef _mm512_undefined_ps
#define _mm512_undefined_ps mnv2_mm512_undefined_ps
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps mnv2_mm512_dpbf16_ps
#undef _mm512_cvtne2ps_pbh
#define _mm512_cvtne2ps_pbh mnv2_mm512_cvtne2ps_pbh
#undef _mm512_cvtneps_pbh
#define _mm512_cvtneps_pbh mnv2_mm512_cvtneps_pbh
#undef _mm512_cvtpbh_ps
#define _mm512_cvtpbh_ps mnv2_mm512_cvtpbh_ps
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
