// The AVX-512 bf16 kernels (contract in src/kernels/bf16.h): vdpbf16ps and vcvtne2ps2bf16
// natively (the TU is compiled with -mavx512bf16), or their per-lane definitions in
// kernels/simde_x86.h in the test-only emulated build (which renames namespace avx512 to
// avx512_emu, so both builds link into one binary).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "kernels/avx512/vec.h"
#include "kernels/bf16.h"
#include "kernels/simd_impl.h"

namespace mnv2::kernels::avx512::bf16 {

using V = avx512::Vec;
using R = __m512;
using I = __m512i;

// acc + the pair products of a and b, lane by lane (vdpbf16ps).
__attribute__((always_inline)) inline R dp(R acc, I a, I b) {
  return _mm512_dpbf16_ps(acc, std::bit_cast<__m512bh>(a), std::bit_cast<__m512bh>(b));
}

// 32 consecutive floats (lo = the first 16, hi = the next 16) as 16 bf16 pairs in order:
// vcvtne2ps2bf16 puts its second operand in the low words.
__attribute__((always_inline)) inline I pairs(R lo, R hi) {
  return std::bit_cast<I>(_mm512_cvtne2ps_pbh(hi, lo));
}

inline void to_pairs(const float* x, int k, uint32_t* y) {
  int i = 0;
  for (; i + 32 <= k; i += 32)
    _mm512_storeu_si512(y + i / 2, pairs(_mm512_loadu_ps(x + i), _mm512_loadu_ps(x + i + 16)));
  if (i < k) {
    const int n = k - i;  // 1..31 floats -> ceil(n/2) pairs
    const R lo = n >= 16 ? _mm512_loadu_ps(x + i) : V::load_n(x + i, n);
    const R hi = n > 16 ? V::load_n(x + i + 16, n - 16) : V::zero();
    alignas(64) uint32_t tail[16];  // (no masked integer store in the SIMDe build)
    _mm512_store_si512(tail, pairs(lo, hi));
    std::memcpy(y + i / 2, tail, sizeof(uint32_t) * size_t((n + 1) / 2));
  }
}

// MR x (NV*16) tile; panel row stride 32 pairs.
template <int MR, int NV>
void gemm_tile(const Bf16Tile& t) {
  constexpr int NR = 32;
  R acc[MR][NV];
#pragma GCC unroll 2
  for (int j = 0; j < NV; ++j) {
    const R b0 = V::load(t.bias + j * 16);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) acc[m][j] = b0;
  }
  const uint32_t* a = t.a;
  const int64_t lda = t.lda;
  const uint32_t* b = t.b;
  const int kp = t.kp;
  for (int p = 0; p < kp; ++p, b += NR) {
    I w[NV];
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) w[j] = _mm512_loadu_si512(b + j * 16);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const I x = _mm512_set1_epi32(int(a[m * lda + p]));
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) acc[m][j] = dp(acc[m][j], x, w[j]);
    }
  }
  const int tail = t.nr - (NV - 1) * 16;
  float* const c = t.c;
  const int64_t ldc = t.ldc, ldr = t.ldr;
  const float* const r = t.residual;
  switch (t.act) {
    case Activation::None:
      return r ? simd::gemm_store<V, MR, NV, Activation::None, true>(acc, c, ldc, r, ldr, tail)
               : simd::gemm_store<V, MR, NV, Activation::None, false>(acc, c, ldc, r, ldr, tail);
    case Activation::Relu:
      return r ? simd::gemm_store<V, MR, NV, Activation::Relu, true>(acc, c, ldc, r, ldr, tail)
               : simd::gemm_store<V, MR, NV, Activation::Relu, false>(acc, c, ldc, r, ldr, tail);
    case Activation::Relu6:
      return r ? simd::gemm_store<V, MR, NV, Activation::Relu6, true>(acc, c, ldc, r, ldr, tail)
               : simd::gemm_store<V, MR, NV, Activation::Relu6, false>(acc, c, ldc, r, ldr, tail);
  }
}

// One row against four consecutive full panels: eight independent vdpbf16ps chains.
inline void gemm_row4(const Bf16Tile& t) {
  constexpr int NR = 32;
  R acc[8];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) acc[j] = V::load(t.bias + (j / 2) * NR + (j % 2) * 16);
  const int64_t ps = int64_t(t.kp) * NR;
  const uint32_t* b = t.b;
  const uint32_t* a = t.a;
  const int kp = t.kp;
  for (int p = 0; p < kp; ++p, b += NR) {
    const I x = _mm512_set1_epi32(int(a[p]));
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      acc[j] = dp(acc[j], x, _mm512_loadu_si512(b + (j / 2) * ps + (j % 2) * 16));
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    const int off = (j / 2) * NR + (j % 2) * 16;
    R v = simd::activate<V>(acc[j], t.act);
    if (t.residual) v = V::add(v, V::load(t.residual + off));
    V::store(t.c + off, v);
  }
}

template <int MR, int M = MR>
inline void gemm_rows(const Bf16Tile& t, int nv) {
  if constexpr (M > 0) {
    if (t.mr == M) return nv == 2 ? gemm_tile<M, 2>(t) : gemm_tile<M, 1>(t);
    return gemm_rows<MR, M - 1>(t, nv);
  }
}

template <int MR>
void gemm(const Bf16Tile& t) {
  gemm_rows<MR>(t, t.nr > 16 ? 2 : 1);
}

template <int MR>
constexpr Bf16KernelTable make_table(const char* name) {
  return Bf16KernelTable{name, MR, 32, &gemm<MR>, &gemm_row4, &to_pairs, 1};
}

}  // namespace mnv2::kernels::avx512::bf16
