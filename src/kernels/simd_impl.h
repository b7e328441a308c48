// The SIMD kernels written once over a vector-traits type V, instantiated by the AVX2 and
// AVX-512 translation units with their own V (src/kernels/avx2/vec.h, avx512/vec.h).
// Sharing one body means the AVX2 instantiation, which every x86-64 test machine can run,
// exercises the same logic as the AVX-512 one. No intrinsics here: V supplies them.
//
// V provides: type R, L (lanes), zero, set1, load, store, load_n/store_n (first n lanes,
// the rest zero / untouched), bcast (from memory), fma(a, b, c) = a*b+c, add, mul, max, min.
#pragma once

#include <cstdint>

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
  const float* a = t.a;
  const int64_t lda = t.lda;
  const float* b = t.b;
  for (int k = 0; k < t.k; ++k, b += NR) {
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
  const int tail = t.nr - (NV - 1) * L;  // lanes used in the last vector, 1..L
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    float* c = t.c + m * t.ldc;
    const float* r = t.residual ? t.residual + m * t.ldr : nullptr;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      R v = activate<V>(acc[m][j], t.act);
      if (j < NV - 1 || tail == L) {
        if (r) v = V::add(v, V::load(r + j * L));
        V::store(c + j * L, v);
      } else {
        if (r) v = V::add(v, V::load_n(r + j * L, tail));
        V::store_n(c + j * L, v, tail);
      }
    }
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

// One output pixel of a 3x3 depthwise conv at the image border: taps outside the input
// are skipped, weights come from memory.
template <class V, bool Tail>
inline typename V::R dw_border_pixel(const DwArgs& a, int oy, int ox, int c0, int n,
                                     typename V::R bias) {
  using R = typename V::R;
  R acc = bias;
  for (int ky = 0; ky < 3; ++ky) {
    const int iy = oy * a.sh - a.pad_top + ky;
    if (iy < 0 || iy >= a.ih) continue;
    for (int kx = 0; kx < 3; ++kx) {
      const int ix = ox * a.sw - a.pad_left + kx;
      if (ix < 0 || ix >= a.iw) continue;
      const float* x = a.in + (int64_t(iy) * a.iw + ix) * a.c + c0;
      const float* w = a.w + (ky * 3 + kx) * a.c + c0;
      if constexpr (Tail)
        acc = V::fma(V::load_n(x, n), V::load_n(w, n), acc);
      else
        acc = V::fma(V::load(x), V::load(w), acc);
    }
  }
  return acc;
}

template <class V, bool Tail>
inline void dw3x3_block(const DwArgs& a, int oy, bool rows_inside, int ox0, int ox1, int ox_lo,
                        int ox_hi, int c0, int n) {
  using R = typename V::R;
  const int64_t cs = a.c;
  R w[9];
  R bias;
  if constexpr (Tail) {
    for (int i = 0; i < 9; ++i) w[i] = V::load_n(a.w + i * cs + c0, n);
    bias = V::load_n(a.bias + c0, n);
  } else {
#pragma GCC unroll 9
    for (int i = 0; i < 9; ++i) w[i] = V::load(a.w + i * cs + c0);
    bias = V::load(a.bias + c0);
  }
  float* out = a.out + int64_t(oy) * a.ow * cs + c0;
  const int iy0 = oy * a.sh - a.pad_top;
  const float* r0 = rows_inside ? a.in + int64_t(iy0) * a.iw * cs + c0 : a.in;
  const int64_t rs = int64_t(a.iw) * cs;
  for (int ox = ox0; ox < ox1; ++ox) {
    R acc;
    if (rows_inside && ox >= ox_lo && ox < ox_hi) {
      const float* x = r0 + int64_t(ox * a.sw - a.pad_left) * cs;
      acc = bias;
#pragma GCC unroll 3
      for (int ky = 0; ky < 3; ++ky) {
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; ++kx) {
          const float* p = x + ky * rs + kx * cs;
          if constexpr (Tail)
            acc = V::fma(V::load_n(p, n), w[ky * 3 + kx], acc);
          else
            acc = V::fma(V::load(p), w[ky * 3 + kx], acc);
        }
      }
    } else {
      acc = dw_border_pixel<V, Tail>(a, oy, ox, c0, n, bias);
    }
    acc = activate<V>(acc, a.act);
    if constexpr (Tail)
      V::store_n(out + int64_t(ox) * cs, acc, n);
    else
      V::store(out + int64_t(ox) * cs, acc);
  }
}

template <class V>
void dw3x3_row(const DwArgs& a, int oy) {
  constexpr int L = V::L;
  const int iy0 = oy * a.sh - a.pad_top;
  const bool rows_inside = iy0 >= 0 && iy0 + 2 < a.ih;
  // Columns whose three taps all fall inside the input.
  int ox_lo = (a.pad_left + a.sw - 1) / a.sw;
  int ox_hi = a.iw - 3 + a.pad_left >= 0 ? (a.iw - 3 + a.pad_left) / a.sw + 1 : 0;
  if (ox_hi > a.ow) ox_hi = a.ow;
  if (ox_lo > ox_hi) ox_lo = ox_hi;
  // Chunks of output columns keep the three input rows' working set in L1 while every
  // channel vector of the chunk is computed.
  constexpr int kChunk = 8;
  for (int ox0 = 0; ox0 < a.ow; ox0 += kChunk) {
    const int ox1 = ox0 + kChunk < a.ow ? ox0 + kChunk : a.ow;
    int c0 = 0;
    for (; c0 + L <= a.c; c0 += L)
      dw3x3_block<V, false>(a, oy, rows_inside, ox0, ox1, ox_lo, ox_hi, c0, L);
    if (c0 < a.c) dw3x3_block<V, true>(a, oy, rows_inside, ox0, ox1, ox_lo, ox_hi, c0, a.c - c0);
  }
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
  t.mr = MR;
  t.nr = NRV * V::L;
  t.gemm = &gemm<V, MR, NRV>;
  t.dw3x3_row = &dw3x3_row<V>;
  t.global_avg_pool = &global_avg_pool<V>;
  t.add = &add<V>;
  t.channel_affine = &channel_affine<V>;
  return t;
}

}  // namespace mnv2::kernels::simd
