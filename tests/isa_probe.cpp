// See isa_probe.h. Raw arrays only: std templates instantiated here would be compiled for
// AVX-512 and might be the copy the linker keeps for the rest of the test binary.
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as unused merge sources, which
// -Wuninitialized misreports once inlined (as in src/kernels/avx512/).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "isa_probe.h"

#include <cstring>

#include "kernels/avx512/qvec.h"
#include "kernels/avx512/vec.h"

namespace mnv2::kernels::avx512 {

namespace {

template <class R>
R vload(const uint32_t* p) {
  R r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
template <class R>
int put(uint32_t* out, int at, R r) {
  std::memcpy(out + at, &r, sizeof r);
  return at + int(sizeof r / 4);
}
// The same for a float arithmetic result (see nan_any in isa_probe.h).
template <class R>
int put_arith(uint32_t* out, bool* nan_any, int at, R r) {
  static_assert(sizeof r == 64);
  nan_any[at / 16] = true;
  return put(out, at, r);
}

}  // namespace

int probe_traits(const uint32_t* in, uint32_t* out, bool* nan_any) {
  using F = Vec;
  using I = QVec;
  int at = 0;
  const float* fin = reinterpret_cast<const float*>(in);
  const F::R a = F::load(fin), b = F::load(fin + 16), c = F::load(fin + 32);
  at = put_arith(out, nan_any, at, F::fma(a, b, c));
  at = put_arith(out, nan_any, at, F::add(a, b));
  at = put_arith(out, nan_any, at, F::mul(a, b));
  at = put(out, at, F::max(a, b));
  at = put(out, at, F::min(a, b));
  at = put(out, at, F::max(a, F::zero()));
  at = put(out, at, F::min(F::set1(6.f), a));
  at = put(out, at, F::bcast(fin + 5));
  for (int n = 0; n <= 16; n += 3) {
    at = put(out, at, F::load_n(fin + 16, n));
    float st[16];
    for (float& s : st) s = -7.f;
    F::store_n(st, c, n);
    at = put(out, at, F::load(st));
  }
  const I::R x = I::load(in + 48), y = I::load(in + 64), z = I::load(in + 80);
  // Shift counts of 0..40 (srav saturates past 31), small left shifts as the kernels use.
  const I::R cnt = I::and_(I::load(in + 96), I::set1(63)), lcnt = I::and_(y, I::set1(7));
  at = put(out, at, I::add(x, y));
  at = put(out, at, I::sub(x, y));
  at = put(out, at, I::max(x, y));
  at = put(out, at, I::min(x, y));
  at = put(out, at, I::srli(x, 7));
  at = put(out, at, I::sllv(x, lcnt));
  at = put(out, at, I::srav(x, cnt));
  at = put(out, at, I::cmpgt(x, y));
  at = put(out, at, I::mul_even(x, y));
  at = put(out, at, I::add64(x, y));
  at = put(out, at, I::srli64(x, 31));
  at = put(out, at, I::slli64(x, 1));
  at = put(out, at, I::blend_odd(x, y));
  at = put(out, at, I::set1_64(int64_t(1) << 30));
  at = put(out, at, I::bcast32(in + 50));
  // float(acc) * scale rounded by MXCSR: z holds float bits (some huge, some NaN).
  at = put(out, at, I::mul_round(x, z));
  at = put(out, at, I::template dot<QLayout::Pairs16>(z, x, y));
  uint8_t bytes[16];
  std::memset(bytes, 0xEE, sizeof bytes);
  I::store_u8(bytes, x);
  at = put(out, at, vload<__m128i>(reinterpret_cast<const uint32_t*>(bytes)));
  for (int n = 1; n < 16; n += 4) {
    std::memset(bytes, 0xEE, sizeof bytes);
    I::store_u8_n(bytes, y, n);
    at = put(out, at, vload<__m128i>(reinterpret_cast<const uint32_t*>(bytes)));
  }
  return at;
}

int probe_vnni(const uint32_t* in, uint32_t* out, bool*) {
  int at = 0;
  for (int v = 0; v < 6; ++v) {
    const QVec::R acc = QVec::load(in + 16 * v), a = QVec::load(in + 16 * ((v + 1) % 8)),
                  w = QVec::load(in + 16 * ((v + 2) % 8));
    at = put(out, at, QVec::template dot<QLayout::Quads8>(acc, a, w));
  }
  return at;
}

int probe_bf16(const uint32_t* in, uint32_t* out, bool* nan_any) {
  int at = 0;
  const float* fin = reinterpret_cast<const float*>(in);
  for (int v = 0; v < 5; ++v) {
    const __m512 acc = _mm512_loadu_ps(fin + 16 * v);
    const __m512bh a = vload<__m512bh>(in + 16 * (v + 1)), b = vload<__m512bh>(in + 16 * (v + 2));
    at = put_arith(out, nan_any, at, _mm512_dpbf16_ps(acc, a, b));
    at = put(out, at, _mm512_cvtne2ps_pbh(acc, _mm512_loadu_ps(fin + 16 * (v + 3))));
    at = put(out, at, _mm512_cvtneps_pbh(acc));
    at = put(out, at, _mm512_cvtpbh_ps(vload<__m256bh>(in + 16 * v)));
  }
  return at;
}

}  // namespace mnv2::kernels::avx512
