// The SIMD kernels written once over a vector-traits type V, instantiated by the AVX2 and
// AVX-512 translation units with their own V (src/kernels/avx2/vec.h, avx512/vec.h).
// Sharing one body means the AVX2 instantiation, which every x86-64 test machine can run,
// exercises the same logic as the AVX-512 one. No intrinsics here: V supplies them.
//
// V provides: type R, L (lanes), zero, set1, load, store, load_n/store_n (first n lanes,
// the rest zero / untouched), bcast (from memory), fma(a, b, c) = a*b+c, add, mul, max, min.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/kernels.h"

namespace mnv2::kernels::simd {

template <class V>
inline typename V::R activate(typename V::R v, Activation act) {
  switch (act) {
    case Activation::None: return v;
    case Activation::Relu: return V::max(v, V::zero());
    case Activation::Relu6: return V::min(V::max(v, V::zero()), V::set1(6.f));
  }
  return v;
}

// Writes an MR x NV register tile: activation, then the residual (if any), then the store;
// the last vector of each row keeps `tail` lanes (1..L).
template <class V, int MR, int NV, Activation A, bool Res>
__attribute__((always_inline)) inline void gemm_store(typename V::R (&acc)[MR][NV], float* c,
                                                      int64_t ldc, const float* r, int64_t ldr,
                                                      int tail) {
  using R = typename V::R;
  constexpr int L = V::L;
  const R zero = V::zero(), six = V::set1(6.f);
  auto act = [&](R v) {
    if constexpr (A == Activation::Relu) v = V::max(v, zero);
    if constexpr (A == Activation::Relu6) v = V::min(V::max(v, zero), six);
    return v;
  };
  if (tail == L) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) {
        R v = act(acc[m][j]);
        if constexpr (Res) v = V::add(v, V::load(r + m * ldr + j * L));
        V::store(c + m * ldc + j * L, v);
      }
    return;
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      R v = act(acc[m][j]);
      if (j < NV - 1) {
        if constexpr (Res) v = V::add(v, V::load(r + m * ldr + j * L));
        V::store(c + m * ldc + j * L, v);
      } else {
        if constexpr (Res) v = V::add(v, V::load_n(r + m * ldr + j * L, tail));
        V::store_n(c + m * ldc + j * L, v, tail);
      }
    }
  }
}

// MR x (NV*L) register tile; the packed panel row stride is NR = NRV*L.
template <class V, int MR, int NV, int NRV>
void gemm_tile(const GemmTile& t) {
  using R = typename V::R;
  constexpr int L = V::L;
  constexpr int NR = NRV * L;
  R acc[MR][NV];
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) {
    const R b0 = V::load(t.bias + j * L);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) acc[m][j] = b0;
  }
  // Locals, not t's fields: read through the reference, the loop bound would be reloaded
  // from memory every step, one more load competing with the operand loads.
  const float* a = t.a;
  const int64_t lda = t.lda;
  const float* b = static_cast<const float*>(t.b);
  const int kk = t.k;
  for (int k = 0; k < kk; ++k, b += NR) {
    R w[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) w[j] = V::load(b + j * L);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const R x = V::bcast(a + m * lda + k);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[m][j] = V::fma(x, w[j], acc[m][j]);
    }
  }
  // The epilogue reads t's fields into locals first: read through the reference after a
  // store to c, they would be reloaded for every vector (c might alias t), and the
  // activation switch would run once per vector instead of once per tile.
  const int tail = t.nr - (NV - 1) * L;  // lanes used in the last vector, 1..L
  float* const c = t.c;
  const int64_t ldc = t.ldc, ldr = t.ldr;
  const float* const r = t.residual;
  switch (t.act) {
    case Activation::None:
      return r ? gemm_store<V, MR, NV, Activation::None, true>(acc, c, ldc, r, ldr, tail)
               : gemm_store<V, MR, NV, Activation::None, false>(acc, c, ldc, r, ldr, tail);
    case Activation::Relu:
      return r ? gemm_store<V, MR, NV, Activation::Relu, true>(acc, c, ldc, r, ldr, tail)
               : gemm_store<V, MR, NV, Activation::Relu, false>(acc, c, ldc, r, ldr, tail);
    case Activation::Relu6:
      return r ? gemm_store<V, MR, NV, Activation::Relu6, true>(acc, c, ldc, r, ldr, tail)
               : gemm_store<V, MR, NV, Activation::Relu6, false>(acc, c, ldc, r, ldr, tail);
  }
}

// One row against four consecutive full panels (panel stride k*NR): a single row leaves
// a plain tile latency-bound on its one or two FMA chains, eight chains are not. Same
// per-element order as gemm_tile.
template <class V, int NRV>
void gemm_row4(const GemmTile& t) {
  using R = typename V::R;
  constexpr int L = V::L;
  constexpr int NR = NRV * L;
  constexpr int NV = 4 * NRV;
  R acc[NV];
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) acc[j] = V::load(t.bias + (j / NRV) * NR + (j % NRV) * L);
  const int64_t ps = int64_t(t.k) * NR;
  const float* b = static_cast<const float*>(t.b);
  const float* a = t.a;
  const int kk = t.k;
  for (int k = 0; k < kk; ++k, b += NR) {
    const R x = V::bcast(a + k);
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j)
      acc[j] = V::fma(x, V::load(b + (j / NRV) * ps + (j % NRV) * L), acc[j]);
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) {
    const int off = (j / NRV) * NR + (j % NRV) * L;
    R v = activate<V>(acc[j], t.act);
    if (t.residual) v = V::add(v, V::load(t.residual + off));
    V::store(t.c + off, v);
  }
}

template <class V, int MR, int NRV, int M = MR>
inline void gemm_dispatch_rows(const GemmTile& t, int nv) {
  if constexpr (M > 0) {
    if (t.mr == M) {
      if constexpr (NRV == 2) {
        if (nv == 2) return gemm_tile<V, M, 2, NRV>(t);
      }
      return gemm_tile<V, M, 1, NRV>(t);
    }
    return gemm_dispatch_rows<V, MR, NRV, M - 1>(t, nv);
  }
}

template <class V, int MR, int NRV>
void gemm(const GemmTile& t) {
  const int nv = (t.nr + V::L - 1) / V::L;
  gemm_dispatch_rows<V, MR, NRV>(t, nv);
}

// NP consecutive interior output pixels starting at input pointer x (first tap, channel
// c0 applied by the caller), one channel vector. NP independent FMA chains hide the FMA
// latency; the channel loop sits outside so the few input pixels involved stay in L1.
// `rows` kernel rows (3, or fewer on the first/last output rows, with x and w pointing
// at the first kernel row that falls inside the input).
template <class V, bool Tail, int NP, int S>
inline void dw3x3_pixels(const float* x, const float* w, const float* bias, float* o,
                         int64_t cs, int64_t rs, int64_t ps, int n, Activation act, int rows) {
  using R = typename V::R;
  R acc[NP];
  const R b = Tail ? V::load_n(bias, n) : V::load(bias);
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) acc[p] = b;
  // The row loop stays rolled: unrolled, the compiler keeps 3*3*NP input addresses live
  // and spills them.
#pragma GCC unroll 1
  for (int ky = 0; ky < rows; ++ky) {
    const float* xr = x + ky * rs;
    const float* wr = w + ky * 3 * cs;
    if constexpr (S > 0) {
      // Known stride: load each input column once and feed every pixel whose window
      // covers it (taps still accumulate in kx order per pixel).
      R wk[3];
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; ++kx)
        wk[kx] = Tail ? V::load_n(wr + kx * cs, n) : V::load(wr + kx * cs);
#pragma GCC unroll 24
      for (int j = 0; j < (NP - 1) * S + 3; ++j) {
        const float* q = xr + j * cs;
        const R xv = Tail ? V::load_n(q, n) : V::load(q);
#pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const int kx = j - p * S;
          if (kx >= 0 && kx < 3) acc[p] = V::fma(xv, wk[kx], acc[p]);
        }
      }
      continue;
    }
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; ++kx) {
      const R wv = Tail ? V::load_n(wr + kx * cs, n) : V::load(wr + kx * cs);
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const float* q = xr + kx * cs + p * ps;
        acc[p] = V::fma(Tail ? V::load_n(q, n) : V::load(q), wv, acc[p]);
      }
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    const R v = activate<V>(acc[p], act);
    if constexpr (Tail)
      V::store_n(o + p * cs, v, n);
    else
      V::store(o + p * cs, v);
  }
}

// S: the stride when known at compile time (1 or 2), else 0.
// x: the first kernel row inside the input (kernel row ky0), `rows` kernel rows from there.
template <class V, int NP, int S>
inline void dw3x3_group(const DwArgs& a, const float* x, float* o, int64_t rs, int64_t ps,
                        int ky0, int rows) {
  constexpr int L = V::L;
  const int64_t cs = a.c;
  const float* w = a.w + ky0 * 3 * cs;
  int c0 = 0;
  for (; c0 + L <= a.c; c0 += L)
    dw3x3_pixels<V, false, NP, S>(x + c0, w + c0, a.bias + c0, o + c0, cs, rs, ps, L, a.act,
                                  rows);
  if (c0 < a.c)
    dw3x3_pixels<V, true, NP, S>(x + c0, w + c0, a.bias + c0, o + c0, cs, rs, ps, a.c - c0,
                                 a.act, rows);
}

// DP: interior output pixels per register block (template parameter so that benchmarks
// can compare block sizes in one binary).
template <class V, int DP = (V::L == 16 ? 8 : 6)>
void dw3x3_row(const DwArgs& a, int oy) {
  using R = typename V::R;
  constexpr int L = V::L;
  const int64_t cs = a.c;
  const int iy0 = oy * a.sh - a.pad_top;
  // Kernel rows inside the input: all three except on the first and last output rows,
  // whose columns still go through the register blocks with the rows that remain.
  const int kr0 = iy0 < 0 ? -iy0 : 0, kr1 = a.ih - iy0 < 3 ? a.ih - iy0 : 3;
  const bool rows_inside = kr1 > kr0;
  // Columns whose three taps all fall inside the input.
  int lo = (a.pad_left + a.sw - 1) / a.sw;
  int hi = a.iw - 3 + a.pad_left >= 0 ? (a.iw - 3 + a.pad_left) / a.sw + 1 : 0;
  if (hi > a.ow) hi = a.ow;
  if (lo > hi) lo = hi;
  if (!rows_inside) lo = hi = a.ow;
  float* out = a.out + int64_t(oy) * a.ow * cs;
  // Border pixels: clip the tap window once per pixel, then sweep the channels.
  auto border = [&](int ox) {
    const int ix0 = ox * a.sw - a.pad_left;
    const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a.ih - iy0 < 3 ? a.ih - iy0 : 3;
    const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a.iw - ix0 < 3 ? a.iw - ix0 : 3;
    // Offsets, not a pointer: the window origin may lie before the image.
    const int64_t origin = (int64_t(iy0) * a.iw + ix0) * cs;
    float* o = out + ox * cs;
    int c0 = 0;
    // Four channel vectors at a time: four independent FMA chains instead of one, which
    // was latency-bound (border pixels are half of a 7x7 layer). Each element still
    // accumulates its taps in (ky, kx) order, so the bits do not change.
    for (; c0 + 4 * L <= a.c; c0 += 4 * L) {
      R acc0 = V::load(a.bias + c0), acc1 = V::load(a.bias + c0 + L);
      R acc2 = V::load(a.bias + c0 + 2 * L), acc3 = V::load(a.bias + c0 + 3 * L);
      for (int ky = ky0; ky < ky1; ++ky)
        for (int kx = kx0; kx < kx1; ++kx) {
          const float* xi = a.in + (origin + (int64_t(ky) * a.iw + kx) * cs + c0);
          const float* wi = a.w + (ky * 3 + kx) * cs + c0;
          acc0 = V::fma(V::load(xi), V::load(wi), acc0);
          acc1 = V::fma(V::load(xi + L), V::load(wi + L), acc1);
          acc2 = V::fma(V::load(xi + 2 * L), V::load(wi + 2 * L), acc2);
          acc3 = V::fma(V::load(xi + 3 * L), V::load(wi + 3 * L), acc3);
        }
      V::store(o + c0, activate<V>(acc0, a.act));
      V::store(o + c0 + L, activate<V>(acc1, a.act));
      V::store(o + c0 + 2 * L, activate<V>(acc2, a.act));
      V::store(o + c0 + 3 * L, activate<V>(acc3, a.act));
    }
    // Full vectors with plain loads and stores: masked stores are slow on some CPUs
    // (microcoded on AMD Zen), and most border pixels of the wide layers are full vectors.
    for (; c0 + L <= a.c; c0 += L) {
      R acc = V::load(a.bias + c0);
      for (int ky = ky0; ky < ky1; ++ky)
        for (int kx = kx0; kx < kx1; ++kx)
          acc = V::fma(V::load(a.in + (origin + (int64_t(ky) * a.iw + kx) * cs + c0)),
                       V::load(a.w + (ky * 3 + kx) * cs + c0), acc);
      V::store(o + c0, activate<V>(acc, a.act));
    }
    if (c0 < a.c) {
      const int n = a.c - c0;
      R acc = V::load_n(a.bias + c0, n);
      for (int ky = ky0; ky < ky1; ++ky)
        for (int kx = kx0; kx < kx1; ++kx)
          acc = V::fma(V::load_n(a.in + (origin + (int64_t(ky) * a.iw + kx) * cs + c0), n),
                       V::load_n(a.w + (ky * 3 + kx) * cs + c0, n), acc);
      V::store_n(o + c0, activate<V>(acc, a.act), n);
    }
  };
  for (int ox = 0; ox < lo; ++ox) border(ox);
  if (lo < hi) {
    const int64_t rs = int64_t(a.iw) * cs;
    const int64_t ps = int64_t(a.sw) * cs;
    const float* row = a.in + int64_t(iy0 + kr0) * rs;  // kernel row kr0
    const int nrows = kr1 - kr0;
    int ox = lo;
    // Blocks of DP pixels, then the rest in halving blocks (a lone pixel is latency-bound
    // on one FMA chain and, without a known stride, reloads every input column).
    auto block = [&]<int NP>(std::integral_constant<int, NP>) {
      for (; ox + NP <= hi; ox += NP) {
        const float* x = row + int64_t(ox * a.sw - a.pad_left) * cs;
        if (a.sw == 1)
          dw3x3_group<V, NP, 1>(a, x, out + ox * cs, rs, ps, kr0, nrows);
        else if (a.sw == 2)
          dw3x3_group<V, NP, 2>(a, x, out + ox * cs, rs, ps, kr0, nrows);
        else
          dw3x3_group<V, NP, 0>(a, x, out + ox * cs, rs, ps, kr0, nrows);
      }
    };
    block(std::integral_constant<int, DP>());
    if constexpr (DP > 4) block(std::integral_constant<int, 4>());
    if constexpr (DP > 2) block(std::integral_constant<int, 2>());
    block(std::integral_constant<int, 1>());
  }
  for (int ox = hi; ox < a.ow; ++ox) border(ox);
}

template <class V>
void global_avg_pool(const float* x, float* y, int hw, int c) {
  using R = typename V::R;
  constexpr int L = V::L;
  const R inv = V::set1(1.f / float(hw));
  int c0 = 0;
  for (; c0 + 4 * L <= c; c0 += 4 * L) {
    R s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
    for (int p = 0; p < hw; ++p) {
      const float* px = x + int64_t(p) * c + c0;
      s0 = V::add(s0, V::load(px));
      s1 = V::add(s1, V::load(px + L));
      s2 = V::add(s2, V::load(px + 2 * L));
      s3 = V::add(s3, V::load(px + 3 * L));
    }
    V::store(y + c0, V::mul(s0, inv));
    V::store(y + c0 + L, V::mul(s1, inv));
    V::store(y + c0 + 2 * L, V::mul(s2, inv));
    V::store(y + c0 + 3 * L, V::mul(s3, inv));
  }
  for (; c0 < c; c0 += L) {
    const int n = c - c0 < L ? c - c0 : L;
    R s = V::zero();
    for (int p = 0; p < hw; ++p) s = V::add(s, V::load_n(x + int64_t(p) * c + c0, n));
    V::store_n(y + c0, V::mul(s, inv), n);
  }
}

template <class V>
void add(const float* a, const float* b, float* y, int64_t n) {
  constexpr int L = V::L;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::store(y + i, V::add(V::load(a + i), V::load(b + i)));
  if (i < n) {
    const int r = int(n - i);
    V::store_n(y + i, V::add(V::load_n(a + i, r), V::load_n(b + i, r)), r);
  }
}

template <class V>
void channel_affine(const float* x, float* y, int64_t pixels, int c, const float* w,
                    const float* bias) {
  constexpr int L = V::L;
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * c;
    float* yp = y + p * c;
    int c0 = 0;
    for (; c0 + L <= c; c0 += L)
      V::store(yp + c0, V::fma(V::load(xp + c0), V::load(w + c0), V::load(bias + c0)));
    if (c0 < c) {
      const int n = c - c0;
      V::store_n(yp + c0,
                 V::fma(V::load_n(xp + c0, n), V::load_n(w + c0, n), V::load_n(bias + c0, n)), n);
    }
  }
}

template <class V, int MR, int NRV>
constexpr KernelTable make_table(Isa isa) {
  KernelTable t;
  t.isa = isa;
  t.gemm = GemmKernel{"fp32", MR, NRV * V::L, 1, 4, &pack_panel_f32, &gemm<V, MR, NRV>,
                      &gemm_row4<V, NRV>};
  t.dw3x3_row = &dw3x3_row<V>;
  t.global_avg_pool = &global_avg_pool<V>;
  t.add = &add<V>;
  t.channel_affine = &channel_affine<V>;
  return t;
}

}  // namespace mnv2::kernels::simd
