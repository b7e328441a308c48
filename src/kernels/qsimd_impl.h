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
// signed; QuadsU8 the other way round; Quads8Signed both signed, NEON only) dot products;
// store_u8(p, v) / store_u8_n(p, v, n): the low byte of each of the first L / n lanes;
// mul_round(acc, s): float(acc) * (float bits s), rounded to nearest even, as int32.
//
// V may also provide (the NEON traits do; the x86 ones get the forms written here):
//  mul_by_multiplier(acc, mult, lsh, rsh, rmask): its own exact TFLite multiply (NEON's
//    sqrdmulh is SaturatingRoundingDoublingHighMul itself); mul_even..blend_odd then unused;
//  acc_begin<LAYOUT>(bias) / acc_end<LAYOUT>(acc): the GEMM accumulators in another form
//    during the k loop, which dot<LAYOUT> takes and returns (NEON without sdot: pairwise
//    partial sums in two vectors, added once at the end);
//  sum_u8x16(p, mask): the sum of the 16 bytes at p under a 0x00/0xFF mask (AVX-512:
//    vpsadbw), for SmallConv's QuadsU8 row sums; else a plain loop.
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
  if constexpr (requires { V::mul_by_multiplier(acc, mult, lsh, rsh, rmask); }) {
    return V::mul_by_multiplier(acc, mult, lsh, rsh, rmask);
  } else {
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
  // Accumulators in V's own form (acc_begin / acc_end), else plain R. Written out at each
  // use rather than through helper functions, so that the x86 instantiations compile to
  // the code they had before the hook existed (the helpers changed GCC's inlining there).
  static constexpr bool kAccForm = requires(R r) { V::template acc_begin<LAYOUT>(r); };

  static constexpr QGemmKernel kernel(void (*run)(const QGemm&)) {
    return QGemmKernel{LAYOUT, MR, NR, run};
  }

  // Rows of A in the layout the broadcasts read: each k group of a row is one dword (two
  // uint16 for Pairs16, four uint8 for Quads8, four int8 a - 128 for QuadsU8, then the
  // row's sum of a as int32, and for Quads8Signed without the sum), zero past k; row
  // stride rs bytes.
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
      } else if constexpr (LAYOUT == QLayout::Quads8Signed) {
        for (int i = 0; i < k; ++i) d[i] = uint8_t(src[i] ^ 0x80);
        std::memset(d + k, 0, size_t(kg * G - k));
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
    using A = decltype([] {
      if constexpr (kAccForm)
        return V::template acc_begin<LAYOUT>(R{});
      else
        return R{};
    }());
    static_assert(!(kAccForm && LAYOUT == QLayout::QuadsU8), "QuadsU8 takes plain accumulators");
    A acc[M][NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      A b;
      if constexpr (kAccForm)
        b = V::template acc_begin<LAYOUT>(V::load(panel + 4 * j * L));
      else
        b = V::load(panel + 4 * j * L);
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
    // Full two-vector panels on a V that stores two rows' bytes at once (AVX2): the int32
    // results go unclamped (float mode) or clamped (integer mode) to V::store_u8_2x16.
    if constexpr (!kAccForm && NV == 2 &&
                  requires(uint8_t* p, R r) { V::store_u8_2x16(p, p, r, r, r, r, r, r); }) {
      if (ncols == NR) {
        const R lo8 = V::bytes_of(hdr[1]), hi8 = V::bytes_of(hdr[2]);
        R out[M][2];
        if (hdr[3] == 1) {
          const R s0 = V::load(panel + 4 * NR), s1 = V::load(panel + 4 * L + 4 * NR);
#pragma GCC unroll 16
          for (int m = 0; m < M; ++m) {
            // The zero point added wrapping, as q::requantize_float does.
            out[m][0] = V::add(V::mul_round(acc[m][0], s0), zp);
            out[m][1] = V::add(V::mul_round(acc[m][1], s1), zp);
          }
        } else {
#pragma GCC unroll 2
          for (int j = 0; j < 2; ++j) {
            const uint8_t* arr = panel + 4 * j * L;
            const R mult = V::load(arr + 4 * NR), lsh = V::load(arr + 8 * NR),
                    rsh = V::load(arr + 12 * NR), rmask = V::load(arr + 16 * NR);
#pragma GCC unroll 16
            for (int m = 0; m < M; ++m)
              out[m][j] = requant<V>(acc[m][j], mult, lsh, rsh, rmask, zp, lo, hi);
          }
        }
#pragma GCC unroll 8
        for (int m = 0; m < M; m += 2) {
          if (m + 1 < M)
            V::store_u8_2x16(c + m * ldc, c + (m + 1) * ldc, out[m][0], out[m][1], out[m + 1][0],
                             out[m + 1][1], lo8, hi8);
          else
            V::store_u8_2x16(c + m * ldc, nullptr, out[m][0], out[m][1], out[m][0], out[m][1],
                             lo8, hi8);
        }
        return;
      }
    }
    if (hdr[3] == 1) {  // float requantization
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) {
        const R scale = V::load(panel + 4 * j * L + 4 * NR);
        const int n = ncols - j * L;
        if (n <= 0) break;
#pragma GCC unroll 16
        for (int m = 0; m < M; ++m) {
          R a;
          if constexpr (kAccForm)
            a = V::template acc_end<LAYOUT>(acc[m][j]);
          else
            a = acc[m][j];
          const R v = requant_float<V>(a, scale, zp, lo, hi);
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
        R a;
        if constexpr (kAccForm)
          a = V::template acc_end<LAYOUT>(acc[m][j]);
        else
          a = acc[m][j];
        const R v = requant<V>(a, mult, lsh, rsh, rmask, zp, lo, hi);
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

// ---- QConvKernel: the first convolution, patches packed straight from the image ----------

template <class V, QLayout LAYOUT, int MR, int NV>
struct SmallConv {
  using Tiles = Gemm<V, LAYOUT, MR, NV>;
  static constexpr int NR = Tiles::NR;
  static constexpr bool kSigned = LAYOUT == QLayout::QuadsU8 || LAYOUT == QLayout::Quads8Signed;

  static constexpr QConvKernel kernel() {
    return QConvKernel{QGemmKernel{LAYOUT, MR, NR, &Tiles::run}, &row};
  }

  // 16 activations from src into the packed row d from element i0 on, in the layout's form
  // (uint16 for Pairs16, a - 128 for the signed layouts). Only the first span of them
  // belong there: the rest land on later elements of the row (rewritten next), on the
  // padding of the last k group (which meets zero weights), on the QuadsU8 row sum (written
  // after the row) or on the next row (written after this one).
  static void put16(uint8_t* d, int i0, const uint8_t* src) {
    if constexpr (LAYOUT == QLayout::Pairs16) {
      uint16_t t[16];
      for (int i = 0; i < 16; ++i) t[i] = src[i];
      std::memcpy(d + 2 * i0, t, sizeof t);
    } else if constexpr (kSigned) {
      uint8_t t[16];
      for (int i = 0; i < 16; ++i) t[i] = uint8_t(src[i] ^ 0x80);
      std::memcpy(d + i0, t, sizeof t);
    } else {
      std::memcpy(d + i0, src, 16);
    }
  }

  // The sum of the first span bytes of a kernel row (mask: 0xFF there), for QuadsU8.
  static int32_t row_sum(const uint8_t* src, const uint8_t* mask) {
    if constexpr (requires { V::sum_u8x16(src, mask); }) {
      return V::sum_u8x16(src, mask);
    } else {
      int32_t sum = 0;
      for (int i = 0; i < 16; ++i) sum += src[i] & mask[i];
      return sum;
    }
  }

  // Pixel ox of output row oy anywhere (at the sides, in padding rows, at the image's last
  // bytes): kernel rows that a 16-byte read would take past the image are assembled in t.
  static void pack_pixel(const QConvRow& a, int oy, int ox, uint8_t* d, int64_t rs,
                         const uint8_t* pad, const uint8_t* mask) {
    const int span = a.kw * a.cin;
    const int64_t rowb = int64_t(a.iw) * a.cin;
    const uint8_t* const end = a.in + a.ih * rowb;
    const int ix0 = ox * a.sw - a.pad_left;
    const bool inside = ix0 >= 0 && ix0 + a.kw <= a.iw;
    int32_t sum = 0;
    for (int ky = 0; ky < a.kh; ++ky) {
      const int iy = oy * a.sh - a.pad_top + ky;
      alignas(16) uint8_t t[16];
      const uint8_t* src = pad;
      if (iy >= 0 && iy < a.ih) {
        const uint8_t* p = a.in + iy * rowb;
        if (inside && p + int64_t(ix0) * a.cin + 16 <= end) {
          src = p + int64_t(ix0) * a.cin;
        } else {
          std::memcpy(t, pad, 16);
          for (int kx = 0; kx < a.kw; ++kx) {
            const int ix = ix0 + kx;
            if (ix >= 0 && ix < a.iw)
              std::memcpy(t + kx * a.cin, p + int64_t(ix) * a.cin, size_t(a.cin));
          }
          src = t;
        }
      }
      put16(d, ky * span, src);
      if constexpr (LAYOUT == QLayout::QuadsU8) sum += row_sum(src, mask);
    }
    if constexpr (LAYOUT == QLayout::QuadsU8) std::memcpy(d + rs - 4, &sum, 4);
  }

  // n pixels whose kernel rows all read 16 bytes inside their image row (or the padding
  // row): kernel row ky from src[ky], advancing by step[ky] per pixel. KH: kh known at
  // compile time (0: kh).
  template <int KH>
  static void pack_inner(const uint8_t** src, const int64_t* step, int kh, int span, int n,
                         uint8_t* d, int64_t rs, const uint8_t* mask) {
    const int rows = KH > 0 ? KH : kh;
    for (int i = 0; i < n; ++i, d += rs) {
      int32_t sum = 0;
#pragma GCC unroll 4
      for (int ky = 0; ky < rows; ++ky) {
        put16(d, ky * span, src[ky]);
        if constexpr (LAYOUT == QLayout::QuadsU8) sum += row_sum(src[ky], mask);
        src[ky] += step[ky];
      }
      if constexpr (LAYOUT == QLayout::QuadsU8) std::memcpy(d + rs - 4, &sum, 4);
    }
  }

  // The packed rows of output row oy's ow patches (kernel rows of span <= 16 bytes), row
  // stride rs, in increasing order (put16 relies on it); 64 bytes of slack past the last.
  static void pack(const QConvRow& a, int oy, uint8_t* dst, int64_t rs) {
    constexpr int kMaxKh = 16;
    const int span = a.kw * a.cin;
    const int64_t rowb = int64_t(a.iw) * a.cin;
    alignas(16) uint8_t mask[16], pad[16];
    for (int i = 0; i < 16; ++i) {
      mask[i] = i < span ? 0xFF : 0;
      pad[i] = a.in_zp;
    }
    // Pixels [lo, hi): every kernel row inside the image's columns with 16 bytes to read.
    const int lim = int(std::min<int64_t>(a.iw - a.kw, (rowb - 16) / a.cin));
    int lo = (a.pad_left + a.sw - 1) / a.sw, hi = 0;
    if (rowb >= 16 && lim >= 0 && a.kh <= kMaxKh) hi = std::min(a.ow, (lim + a.pad_left) / a.sw + 1);
    lo = std::min(lo, a.ow);
    if (hi < lo) hi = lo;
    for (int ox = 0; ox < lo; ++ox) pack_pixel(a, oy, ox, dst + ox * rs, rs, pad, mask);
    if (hi > lo) {
      const uint8_t* src[kMaxKh];
      int64_t step[kMaxKh];
      for (int ky = 0; ky < a.kh; ++ky) {
        const int iy = oy * a.sh - a.pad_top + ky;
        const bool in = iy >= 0 && iy < a.ih;
        src[ky] = in ? a.in + iy * rowb + int64_t(lo * a.sw - a.pad_left) * a.cin : pad;
        step[ky] = in ? int64_t(a.sw) * a.cin : 0;
      }
      uint8_t* d = dst + lo * rs;
      if (a.kh == 3)
        pack_inner<3>(src, step, 3, span, hi - lo, d, rs, mask);
      else
        pack_inner<0>(src, step, a.kh, span, hi - lo, d, rs, mask);
    }
    for (int ox = hi; ox < a.ow; ++ox) pack_pixel(a, oy, ox, dst + ox * rs, rs, pad, mask);
  }

  static void row(const QConvRow& a, int oy) {
    constexpr QGemmKernel kern{LAYOUT, MR, NR, nullptr};
    const int k = a.kh * a.kw * a.cin;
    if (!QConvKernel::applies(a.kw, a.cin))  // long kernel rows: im2col, then the GEMM
      return qconv_row_im2col(a, oy, &Tiles::run);
    thread_local std::vector<uint8_t> scratch;
    const int kg = int(kern.kpad(k) / kern.kgroup());
    const int64_t rs = kern.a_row_bytes(k);
    if (scratch.size() < size_t(a.ow * rs + 64)) scratch.resize(size_t(a.ow * rs + 64));
    uint8_t* pa = scratch.data();
    pack(a, oy, pa, rs);
    const int64_t pb = kern.panel_bytes(k), woff = kern.weights_offset();
    const auto* b = static_cast<const uint8_t*>(a.b);
    for (int n0 = 0; n0 < a.cout; n0 += NR) {
      const uint8_t* panel = b + (n0 / NR) * pb;
      const int ncols = std::min(NR, a.cout - n0);
      for (int r0 = 0; r0 < a.ow; r0 += MR)
        Tiles::tile_rows(std::min(MR, a.ow - r0), pa + r0 * rs, rs, kg, panel, woff,
                     a.out + int64_t(r0) * a.cout + n0, a.cout, ncols);
    }
  }
};

// ---- Pieces of the depthwise and ADD kernels that do not depend on V -----------------------
// (The NEON kernels use them; the AVX2 file still has its own copies, left as they are so
// that the x86 code stays the same instructions.)

// The nine tap pointers of output pixel ox of a 3x3 depthwise conv whose window starts at
// input row iy0; taps in the padding point at pad (a row of zero-point bytes).
inline void dw3x3_taps(const QDw& a, int iy0, int ox, const uint8_t* pad, const uint8_t** taps) {
  const int ix0 = ox * a.sw - a.pad_left;
  for (int t = 0; t < 9; ++t) {
    const int iy = iy0 + t / 3, ix = ix0 + t % 3;
    taps[t] = iy >= 0 && iy < a.ih && ix >= 0 && ix < a.iw ? a.in + (int64_t(iy) * a.iw + ix) * a.c
                                                            : pad;
  }
}

// This thread's row of qdw3x3_cpad(c) bytes of in_zp, which the padding taps read.
inline const uint8_t* dw3x3_pad_row(int c, int32_t in_zp) {
  thread_local std::vector<uint8_t> pad_row;
  const size_t cpad = size_t(qdw3x3_cpad(c));
  if (pad_row.size() < cpad) pad_row.resize(cpad);
  std::memset(pad_row.data(), in_zp, cpad);
  return pad_row.data();
}

// Output row oy of a 3x3 depthwise conv, all channels: four pixels at a time (they share
// the weight and requantization loads), then one at a time, through
// pixels.template operator()<NP>(taps[NP][9], out[NP]).
template <class Pixels>
inline void dw3x3_row_pixels(const QDw& a, int oy, const uint8_t* pad, Pixels&& pixels) {
  const int c = a.c;
  const int iy0 = oy * a.sh - a.pad_top;
  uint8_t* out = a.out + int64_t(oy) * a.ow * c;
  const uint8_t* taps[4][9];
  int ox = 0;
  for (; ox + 4 <= a.ow; ox += 4) {
    for (int i = 0; i < 4; ++i) dw3x3_taps(a, iy0, ox + i, pad, taps[i]);
    uint8_t* o[4] = {out + int64_t(ox) * c, out + int64_t(ox + 1) * c, out + int64_t(ox + 2) * c,
                     out + int64_t(ox + 3) * c};
    pixels.template operator()<4>(taps, o);
  }
  for (; ox < a.ow; ++ox) {
    dw3x3_taps(a, iy0, ox, pad, taps[0]);
    uint8_t* o[1] = {out + int64_t(ox) * c};
    pixels.template operator()<1>(taps, o);
  }
}

// q::add_one's parameters as 17 vectors: a_zp, b_zp, then mult, lshift, rshift, rmask of
// a, of b and of the output (as mul_by_multiplier takes them), out_zp, qmin, qmax.
template <class V>
inline void add_vectors(const q::AddParams& p, typename V::R* k) {
  auto split = [](int32_t mult, int shift, typename V::R* out) {
    const int32_t l = shift > 0 ? shift : 0, r = shift > 0 ? 0 : -shift;
    out[0] = V::set1(mult);
    out[1] = V::set1(l);
    out[2] = V::set1(r);
    out[3] = V::set1(int32_t((uint32_t(1) << r) - 1u));
  };
  k[0] = V::set1(p.a_zp);
  k[1] = V::set1(p.b_zp);
  split(p.a_mult, p.a_shift, k + 2);
  split(p.b_mult, p.b_shift, k + 6);
  split(p.out_mult, p.out_shift, k + 10);
  k[14] = V::set1(p.out_zp);
  k[15] = V::set1(p.qmin);
  k[16] = V::set1(p.qmax);
}

}  // namespace mnv2::kernels::qsimd
