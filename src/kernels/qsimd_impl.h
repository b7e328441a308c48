// The integer GEMM and requantization written once over a vector-traits type V of int32
// lanes, instantiated by the AVX2 and AVX-512 translation units with their own V
// (src/kernels/avx2/qvec.h, avx512/qvec.h). The AVX2 build also instantiates the Quads8
// layout over an exact emulation of vpdpbusd, so the loop structure the AVX-512 VNNI kernel
// uses runs in the tests on every x86-64 machine. No intrinsics here: V supplies them.
//
// V provides: type R, L (int32 lanes); zero, set1, load (unaligned), bcast32 (one dword
// from memory to every lane); add, sub, and_, max, min, srli (by an immediate), sllv, srav
// (per-lane counts), cmpgt (all-ones lanes); mul_even (signed 32x32->64 of the even lanes,
// as vpmuldq), add64, srli64, slli64, blend_odd (even lanes of a, odd lanes of b);
// dot<Layout>(acc, a, w) = acc + the pair (vpmaddwd) or quad (vpdpbusd: a unsigned, w
// signed; QuadsU8 the other way round) dot products;
// store_u8(p, v) / store_u8_n(p, v, n): the low byte of each of the first L / n lanes;
// mul_round(acc, s): float(acc) * (float bits s), rounded to nearest even, as int32.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/qkernels.h"

namespace mnv2::kernels::qsimd {

// TFLite's MultiplyByQuantizedMultiplier (q::mul_by_multiplier) of L values, with the
// per-lane parameters as packed: mult, lshift, rshift, rmask = (1 << rshift) - 1. The
// multiplier is never INT32_MIN (packing rejects negative ones), so the one saturating
// case of the doubling high-mul cannot occur.
template <class V>
inline typename V::R mul_by_multiplier(typename V::R acc, typename V::R mult, typename V::R lsh,
                                       typename V::R rsh, typename V::R rmask) {
  using R = typename V::R;
  const R x = V::sllv(acc, lsh);
  // floor((x * mult + 2^30) / 2^31): bits 31..62 of the nudged 64-bit products. The even
  // lanes shift right into the low dword, the odd lanes shift left into the high dword.
  const R nudge = V::set1_64(int64_t(1) << 30);
  const R pe = V::add64(V::mul_even(x, mult), nudge);
  const R po = V::add64(V::mul_even(V::srli64(x, 32), V::srli64(mult, 32)), nudge);
  const R h = V::blend_odd(V::srli64(pe, 31), V::slli64(po, 1));
  // Divide by 2^rshift rounding half away from zero.
  const R rem = V::and_(h, rmask);
  const R thr = V::add(V::srli(rmask, 1), V::srli(h, 31));
  return V::sub(V::srav(h, rsh), V::cmpgt(rem, thr));
}

// q::requantize: the above, plus the output zero point, clamped to [lo, hi].
template <class V>
inline typename V::R requant(typename V::R acc, typename V::R mult, typename V::R lsh,
                             typename V::R rsh, typename V::R rmask, typename V::R zp,
                             typename V::R lo, typename V::R hi) {
  const typename V::R r = mul_by_multiplier<V>(acc, mult, lsh, rsh, rmask);
  return V::min(V::max(V::add(r, zp), lo), hi);
}

// q::requantize_float: round(float(acc) * scale) to nearest even (V::mul_round), + zero
// point, clamped; `scale` holds the floats' bits.
template <class V>
inline typename V::R requant_float(typename V::R acc, typename V::R scale, typename V::R zp,
                                   typename V::R lo, typename V::R hi) {
  return V::min(V::max(V::add(V::mul_round(acc, scale), zp), lo), hi);
}

template <class V, QLayout LAYOUT, int MR, int NV>
struct Gemm {
  using R = typename V::R;
  static constexpr int L = V::L;
  static constexpr int NR = NV * L;
  static constexpr int G = LAYOUT == QLayout::Pairs16 ? 2 : 4;

  static constexpr QGemmKernel kernel(void (*run)(const QGemm&)) {
    return QGemmKernel{LAYOUT, MR, NR, run};
  }

  // Rows of A in the layout the broadcasts read: each k group of a row is one dword (two
  // uint16 for Pairs16, four uint8 for Quads8, four int8 a - 128 for QuadsU8, then the
  // row's sum of a as int32), zero past k; row stride rs bytes.
  static void pack_a(const uint8_t* a, int64_t lda, int rows, int k, int kg, uint8_t* dst,
                     int64_t rs) {
    for (int r = 0; r < rows; ++r) {
      const uint8_t* src = a + r * lda;
      uint8_t* d = dst + r * rs;
      if constexpr (LAYOUT == QLayout::Pairs16) {
        auto* d16 = reinterpret_cast<uint16_t*>(d);
        for (int i = 0; i < k; ++i) d16[i] = src[i];
        for (int i = k; i < kg * G; ++i) d16[i] = 0;
      } else if constexpr (LAYOUT == QLayout::QuadsU8) {
        int32_t sum = 0;
        for (int i = 0; i < k; ++i) {
          d[i] = uint8_t(src[i] ^ 0x80);
          sum += src[i];
        }
        std::memset(d + k, 0, size_t(kg * G - k));
        std::memcpy(d + kg * G, &sum, 4);
      } else {
        std::memcpy(d, src, size_t(k));
        std::memset(d + k, 0, size_t(kg * G - k));
      }
    }
  }

  // M rows against one panel; ncols real columns (1..NR).
  template <int M>
  static void tile(const uint8_t* pa, int64_t rs, int kg, const uint8_t* panel, int64_t woff,
                   uint8_t* c, int64_t ldc, int ncols) {
    int32_t hdr[QGemmKernel::kHeaderInts];
    std::memcpy(hdr, panel + QGemmKernel::kPanelArrays * 4 * NR, sizeof hdr);
    R acc[M][NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const R b = V::load(panel + 4 * j * L);
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        if constexpr (LAYOUT == QLayout::QuadsU8) {  // - o * (row sum), wrapping
          int32_t sum;
          std::memcpy(&sum, pa + m * rs + 4 * kg, 4);
          acc[m][j] = V::sub(b, V::set1(int32_t(uint32_t(hdr[4]) * uint32_t(sum))));
        } else {
          acc[m][j] = b;
        }
      }
    }
    const uint8_t* w = panel + woff;
    for (int g = 0; g < kg; ++g, w += 4 * NR) {
      R wv[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) wv[j] = V::load(w + 4 * j * L);
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        const R x = V::bcast32(pa + m * rs + 4 * g);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) acc[m][j] = V::template dot<LAYOUT>(acc[m][j], x, wv[j]);
      }
    }
    const R zp = V::set1(hdr[0]), lo = V::set1(hdr[1]), hi = V::set1(hdr[2]);
    if (hdr[3] == 1) {  // float requantization
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) {
        const R scale = V::load(panel + 4 * j * L + 4 * NR);
        const int n = ncols - j * L;
        if (n <= 0) break;
#pragma GCC unroll 16
        for (int m = 0; m < M; ++m) {
          const R v = requant_float<V>(acc[m][j], scale, zp, lo, hi);
          if (n >= L)
            V::store_u8(c + m * ldc + j * L, v);
          else
            V::store_u8_n(c + m * ldc + j * L, v, n);
        }
      }
      return;
    }
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const uint8_t* arr = panel + 4 * j * L;
      const R mult = V::load(arr + 4 * NR), lsh = V::load(arr + 8 * NR),
              rsh = V::load(arr + 12 * NR), rmask = V::load(arr + 16 * NR);
      const int n = ncols - j * L;
      if (n <= 0) break;
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        const R v = requant<V>(acc[m][j], mult, lsh, rsh, rmask, zp, lo, hi);
        if (n >= L)
          V::store_u8(c + m * ldc + j * L, v);
        else
          V::store_u8_n(c + m * ldc + j * L, v, n);
      }
    }
  }

  template <int M = MR>
  static void tile_rows(int rows, const uint8_t* pa, int64_t rs, int kg, const uint8_t* panel,
                        int64_t woff, uint8_t* c, int64_t ldc, int ncols) {
    if constexpr (M > 0) {
      if (rows == M) return tile<M>(pa, rs, kg, panel, woff, c, ldc, ncols);
      return tile_rows<M - 1>(rows, pa, rs, kg, panel, woff, c, ldc, ncols);
    }
  }

  static void run(const QGemm& g) {
    constexpr QGemmKernel kern{LAYOUT, MR, NR, nullptr};
    const int kg = (g.k + G - 1) / G;
    const int64_t rs = kern.a_row_bytes(g.k);
    const int64_t pb = kern.panel_bytes(g.k);
    const int64_t woff = kern.weights_offset();
    // All rows of the block are packed first; then each panel (which stays in L1 while the
    // packed rows stream past it) meets every group of MR rows.
    thread_local std::vector<uint8_t> scratch;
    if (scratch.size() < size_t(g.m * rs)) scratch.resize(size_t(g.m * rs));
    uint8_t* pa = scratch.data();
    pack_a(g.a, g.lda, g.m, g.k, kg, pa, rs);
    const auto* b = static_cast<const uint8_t*>(g.b);
    for (int n0 = 0; n0 < g.n; n0 += NR) {
      const uint8_t* panel = b + (n0 / NR) * pb;
      const int ncols = std::min(NR, g.n - n0);
      for (int r0 = 0; r0 < g.m; r0 += MR)
        tile_rows(std::min(MR, g.m - r0), pa + r0 * rs, rs, kg, panel, woff, g.c + r0 * g.ldc + n0,
                  g.ldc, ncols);
    }
  }
};

}  // namespace mnv2::kernels::qsimd
