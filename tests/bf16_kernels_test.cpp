// The bf16 kernels (src/kernels/bf16.h): the scalar twin against the hardware instructions
// on random and edge operands, the native AVX512_BF16 table and its SIMDe-emulated build
// against the twin bit for bit, and the twin against exact integer sums.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/bf16.h"
#include "runtime/cpu.h"

namespace mnv2 {
namespace {

using kernels::Bf16KernelTable;
using kernels::Bf16Tile;

bool same_bits(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || kernels::f32_bits(a) == kernels::f32_bits(b);
}

// Floats that exercise every branch of the conversion and of the pair step: signed zeros,
// denormals, the smallest and largest normals, values halfway between two bf16 numbers
// (ties to even both ways), values that round up into the next binade or to infinity,
// infinities and NaNs, and plain values of moderate size.
std::vector<float> edge_floats(std::mt19937& g, size_t n) {
  const uint32_t fixed[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x00400000u,
                            0x00800000u, 0x80800000u, 0x00ff8000u, 0x3f808000u, 0x3f818000u,
                            0x3f80ffffu, 0x3fffffffu, 0x7f7fffffu, 0xff7f8000u, 0x7f7f7fffu,
                            0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffc00123u,
                            0x3f800000u, 0xbf800000u, 0x40c00000u, 0x007f8000u, 0x00808000u};
  std::vector<float> v;
  for (uint32_t u : fixed) v.push_back(kernels::bits_f32(u));
  while (v.size() < n) {
    uint32_t u = g();
    switch (g() % 8) {
      case 0: u &= 0x807fffffu; break;                                // denormal / zero
      case 1: u = (u & 0x8001ffffu) | 0x00800000u; break;             // tiny normals
      case 2: u = (u & 0xffff0000u) | 0x8000u; break;                 // exact ties
      case 3: u = (u & 0x807fffffu) | 0x7f000000u; break;             // huge
      default: u = (u & 0x80ffffffu) | (uint32_t(0x38 + g() % 16) << 24); break;  // moderate
    }
    v.push_back(kernels::bits_f32(u));
  }
  return v;
}

std::vector<float> random_floats(std::mt19937& g, size_t n, float scale) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

// The native AVX512_BF16 table where the CPU has it, and its SIMDe-emulated build (the same
// source; kernels/simde_x86.h) wherever that build runs (AVX2 + FMA).
std::vector<const Bf16KernelTable*> simd_tables() {
  std::vector<const Bf16KernelTable*> v;
#if defined(MNV2_X86)
  if (const Bf16KernelTable* t = kernels::bf16_table(Isa::Avx512)) v.push_back(t);
#if defined(MNV2_HAVE_EMULATED)
  if (cpu_supports(Isa::Avx2)) v.push_back(&kernels::kBf16Avx512TableEmulated);
#endif
#endif
  return v;
}

// Conversion: every table's to_pairs against the twin's definition, for every length
// (the SIMD tail paths) and all the edge floats.
TEST(Bf16Kernels, ConversionMatchesTwinBitForBit) {
  const auto tables = simd_tables();
  if (tables.empty()) GTEST_SKIP() << "neither AVX512_BF16 nor the emulated build (AVX2) here";
  std::mt19937 g(7);
  const std::vector<float> x = edge_floats(g, 4096);
  for (const Bf16KernelTable* t : tables) {
    SCOPED_TRACE(t->name);
    for (int k = 1; k <= 70; ++k) {
      for (int off = 0; off + k <= int(x.size()); off += 389) {
        std::vector<uint32_t> got((size_t(k) + 1) / 2 + 3, 0xdeadbeefu), want = got;
        t->to_pairs(x.data() + off, k, got.data());
        kernels::kBf16ScalarTable.to_pairs(x.data() + off, k, want.data());
        ASSERT_EQ(got, want) << "k=" << k << " off=" << off;  // includes the untouched tail
      }
    }
    std::vector<uint32_t> got(x.size() / 2), want(x.size() / 2);
    t->to_pairs(x.data(), int(x.size()), got.data());
    kernels::kBf16ScalarTable.to_pairs(x.data(), int(x.size()), want.data());
    EXPECT_EQ(got, want);
  }
}

// Known conversions (independent of the twin's code): ties to even, overflow to infinity,
// denormals to signed zero, quiet NaN.
TEST(Bf16Kernels, ConversionKnownValues) {
  using kernels::bits_f32;
  using kernels::to_bf16;
  EXPECT_EQ(to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(to_bf16(bits_f32(0x3f808000u)), 0x3f80);  // 1 + 2^-8: tie, to even (down)
  EXPECT_EQ(to_bf16(bits_f32(0x3f818000u)), 0x3f82);  // tie, to even (up)
  EXPECT_EQ(to_bf16(bits_f32(0x3f808001u)), 0x3f81);  // just above the tie
  EXPECT_EQ(to_bf16(bits_f32(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to +inf
  EXPECT_EQ(to_bf16(bits_f32(0x807fffffu)), 0x8000);  // denormal -> -0
  EXPECT_EQ(to_bf16(bits_f32(0x00800000u)), 0x0080);  // smallest normal stays
  EXPECT_EQ(to_bf16(bits_f32(0x7f800001u)), 0x7fc0);  // signalling NaN -> quiet
  EXPECT_EQ(to_bf16(-INFINITY), 0xff80);
}

// The pair step of the twin against vdpbf16ps itself: a 1-row, kp = 1 tile with no
// activation computes exactly c = dp(bias, a, b) in every lane.
TEST(Bf16Kernels, PairStepMatchesInstructionOnEdgeOperands) {
  const auto tables = simd_tables();
  if (tables.empty()) GTEST_SKIP() << "neither AVX512_BF16 nor the emulated build (AVX2) here";
  std::mt19937 g(11);
  const std::vector<float> f = edge_floats(g, 1 << 16);
  std::uniform_int_distribution<size_t> pick(0, f.size() - 1);
  for (const Bf16KernelTable* t : tables) {
    SCOPED_TRACE(t->name);
    int checked = 0;
    for (int rep = 0; rep < 20000; ++rep) {
      uint32_t a, b[32];
      float bias[32], c[32];
      // bf16 operands straight from the edge floats' upper halves (denormal bf16 included).
      a = (kernels::f32_bits(f[pick(g)]) >> 16) | (kernels::f32_bits(f[pick(g)]) & 0xffff0000u);
      for (int n = 0; n < 32; ++n) {
        b[n] = (kernels::f32_bits(f[pick(g)]) >> 16) | (kernels::f32_bits(f[pick(g)]) & 0xffff0000u);
        bias[n] = f[pick(g)];
        // Every third lane: a bias that the first product cancels exactly or nearly.
        if (n % 3 == 0)
          bias[n] = -kernels::bf16_value(uint16_t(a >> 16)) * kernels::bf16_value(uint16_t(b[n] >> 16)) *
                    (rep % 2 ? 1.f : 1.0000001f);
      }
      Bf16Tile tile;
      tile.mr = 1;
      tile.nr = 32;
      tile.kp = 1;
      tile.a = &a;
      tile.lda = 1;
      tile.b = b;
      tile.bias = bias;
      tile.c = c;
      tile.ldc = 32;
      t->gemm(tile);
      for (int n = 0; n < 32; ++n) {
        const float want = kernels::bf16_dot_pair(bias[n], a, b[n]);
        ASSERT_TRUE(same_bits(c[n], want))
            << std::hex << "bias " << kernels::f32_bits(bias[n]) << " a " << a << " b " << b[n]
            << " got " << kernels::f32_bits(c[n]) << " want " << kernels::f32_bits(want);
        ++checked;
      }
    }
    EXPECT_EQ(checked, 20000 * 32);
  }
}

// Whole tiles of every shape the executor issues, with activations and residuals.
TEST(Bf16Kernels, TilesMatchTwinBitForBit) {
  const auto tables = simd_tables();
  if (tables.empty()) GTEST_SKIP() << "neither AVX512_BF16 nor the emulated build (AVX2) here";
  std::mt19937 g(3);
  for (const Bf16KernelTable* t : tables) {
    SCOPED_TRACE(t->name);
    const int nr = t->nr;
    for (int kp : {1, 2, 9, 40}) {
      for (int mr = 1; mr <= t->mr; ++mr) {
        for (int ncols : {1, 15, 16, 17, 31, 32}) {
          for (int act = 0; act < 3; ++act) {
            for (bool res : {false, true}) {
              const int64_t lda = kp + 3, ldc = nr + 5;
              auto af = random_floats(g, size_t(mr * lda * 2), 4.f);
              auto bf = random_floats(g, size_t(kp * nr * 2), 1.f);
              std::vector<uint32_t> a(size_t(mr * lda)), b(size_t(kp * nr));
              kernels::kBf16ScalarTable.to_pairs(af.data(), int(af.size()), a.data());
              kernels::kBf16ScalarTable.to_pairs(bf.data(), int(bf.size()), b.data());
              auto bias = random_floats(g, size_t(nr), 2.f);
              auto resv = random_floats(g, size_t(mr * ldc), 1.f);
              std::vector<float> got(size_t(mr * ldc), -123.f), want = got;
              Bf16Tile tile;
              tile.mr = mr;
              tile.nr = ncols;
              tile.kp = kp;
              tile.a = a.data();
              tile.lda = lda;
              tile.b = b.data();
              tile.bias = bias.data();
              tile.residual = res ? resv.data() : nullptr;
              tile.ldr = ldc;
              tile.ldc = ldc;
              tile.act = Activation(act);
              tile.c = got.data();
              t->gemm(tile);
              tile.c = want.data();
              kernels::bf16_gemm_scalar(tile, nr);
              for (size_t i = 0; i < got.size(); ++i)
                ASSERT_TRUE(same_bits(got[i], want[i]))
                    << "kp=" << kp << " mr=" << mr << " nr=" << ncols << " act=" << act
                    << " res=" << res << " i=" << i;  // -123 outside the tile stays too
            }
          }
        }
      }
    }
    // The one-row, four-panel variant (batch-1 logits).
    for (int kp : {1, 5, 64}) {
      auto af = random_floats(g, size_t(kp * 2), 4.f);
      auto bf = random_floats(g, size_t(4 * kp * nr * 2), 1.f);
      std::vector<uint32_t> a(static_cast<size_t>(kp)), b(size_t(4 * kp * nr));
      kernels::kBf16ScalarTable.to_pairs(af.data(), int(af.size()), a.data());
      kernels::kBf16ScalarTable.to_pairs(bf.data(), int(bf.size()), b.data());
      auto bias = random_floats(g, size_t(4 * nr), 2.f);
      auto resv = random_floats(g, size_t(4 * nr), 1.f);
      for (bool res : {false, true}) {
        std::vector<float> got(size_t(4 * nr)), want(size_t(4 * nr));
        Bf16Tile tile;
        tile.mr = 1;
        tile.nr = nr;
        tile.kp = kp;
        tile.a = a.data();
        tile.lda = kp;
        tile.bias = bias.data();
        tile.residual = res ? resv.data() : nullptr;
        tile.act = Activation::Relu6;
        tile.c = got.data();
        tile.b = b.data();
        t->gemm_row4(tile);
        for (int j = 0; j < 4; ++j) {
          Bf16Tile one = tile;
          one.b = b.data() + size_t(j) * kp * nr;
          one.bias = bias.data() + j * nr;
          one.residual = res ? resv.data() + j * nr : nullptr;
          one.c = want.data() + j * nr;
          kernels::bf16_gemm_scalar(one, nr);
        }
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_TRUE(same_bits(got[i], want[i])) << "row4 kp=" << kp << " i=" << i;
      }
    }
  }
}

// The twin against exact arithmetic: small integers are exact in bf16, and sums of their
// products stay exact in fp32, so every table must return the integer dot product. Also
// the packed layout: panel p, pair row i, column n holds weights (n, 2i) and (n, 2i+1).
const Bf16KernelTable* amx_table() {
  return kernels::bf16_table(Isa::Avx512, /*amx=*/true);
}

TEST(Bf16Kernels, ExactOnSmallIntegersThroughPacking) {
  std::vector<const Bf16KernelTable*> tables = simd_tables();
  tables.push_back(&kernels::kBf16ScalarTable);
  if (const Bf16KernelTable* amx = amx_table()) tables.push_back(amx);
  std::mt19937 g(5);
  std::uniform_int_distribution<int> d(-8, 8);
  for (const Bf16KernelTable* t : tables) {
    SCOPED_TRACE(t->name);
    for (int k : {1, 2, 3, 27, 64, 97}) {
      const int cout = 2 * t->nr + 3, rows = t->mr;
      std::vector<float> w(size_t(cout * k)), x(size_t(rows * k)), bias(static_cast<size_t>(cout));
      for (float& v : w) v = float(d(g));
      for (float& v : x) v = float(d(g));
      for (float& v : bias) v = float(d(g));
      const int kp = kernels::bf16_pairs(k, *t);
      const std::vector<uint32_t> packed = kernels::pack_bf16_panels(w.data(), cout, k, t->nr, kp);
      ASSERT_EQ(packed.size(), size_t(3) * kp * t->nr);
      std::vector<uint32_t> a(size_t((rows + 32) * kp), 0u);  // AMX reads up to 32 rows
      for (int m = 0; m < rows; ++m) t->to_pairs(x.data() + m * k, k, a.data() + m * kp);
      std::vector<float> c(size_t(rows * cout));
      for (int blk = 0; blk < 3; ++blk) {
        std::vector<float> pbias(size_t(t->nr), 0.f);
        for (int n = 0; n < t->nr && blk * t->nr + n < cout; ++n) pbias[size_t(n)] = bias[size_t(blk * t->nr + n)];
        Bf16Tile tile;
        tile.mr = rows;
        tile.nr = std::min(t->nr, cout - blk * t->nr);
        tile.kp = kp;
        tile.a = a.data();
        tile.lda = kp;
        tile.b = packed.data() + size_t(blk) * kp * t->nr;
        tile.bias = pbias.data();
        tile.c = c.data() + blk * t->nr;
        tile.ldc = cout;
        t->gemm(tile);
      }
      for (int m = 0; m < rows; ++m)
        for (int n = 0; n < cout; ++n) {
          int64_t want = int64_t(bias[size_t(n)]);
          for (int i = 0; i < k; ++i) want += int64_t(x[size_t(m * k + i)]) * int64_t(w[size_t(n * k + i)]);
          ASSERT_EQ(c[size_t(m * cout + n)], float(want)) << "k=" << k << " m=" << m << " n=" << n;
        }
    }
  }
}

// The pair step's documented semantics on hand-picked operands (not via the twin's code):
// the odd product is added first, each step rounds, denormals are flushed.
TEST(Bf16Kernels, PairStepSemantics) {
  using kernels::bf16_dot_pair;
  using kernels::bits_f32;
  auto pair = [](float lo, float hi) { return kernels::to_bf16_pair(lo, hi); };
  // 2^24 + 1 + 1: adding the odd 1 first to 2^24 rounds back to 2^24 (ties to even) and so
  // does the even 1: the result stays 2^24, where one exact sum would give 2^24 + 2.
  EXPECT_EQ(bf16_dot_pair(16777216.f, pair(1.f, 1.f), pair(1.f, 1.f)), 16777216.f);
  // Order and rounding per step: acc = 2^24 + 2, products 1 (odd) and 2 (even):
  // + 1 -> 2^24 + 3, a tie, to even 2^24 + 4; + 2 -> 2^24 + 6. Even first would give
  // 2^24 + 4 then + 1 -> tie -> 2^24 + 4, and one exact sum 2^24 + 5 -> 2^24 + 4. Swapped
  // pair: + 2 -> 2^24 + 4, + 1 -> 2^24 + 4.
  EXPECT_EQ(bf16_dot_pair(16777218.f, pair(2.f, 1.f), pair(1.f, 1.f)), 16777222.f);
  EXPECT_EQ(bf16_dot_pair(16777218.f, pair(1.f, 2.f), pair(1.f, 1.f)), 16777220.f);
  // A denormal accumulator reads as zero; a denormal result flushes to zero.
  EXPECT_EQ(kernels::f32_bits(bf16_dot_pair(bits_f32(0x00000123u), pair(0.f, 0.f), pair(0.f, 0.f))),
            0u);
  const float tiny = bits_f32(0x00800000u);  // smallest normal: 2^-126
  EXPECT_EQ(bf16_dot_pair(0.f, pair(0.f, tiny), pair(0.f, 0.5f)), 0.f);
  // Denormal bf16 operands read as zero.
  const uint32_t den = 0x0001u;  // bf16 denormal in the low half
  EXPECT_EQ(bf16_dot_pair(1.f, den, pair(1e38f, 0.f)), 1.f);  // 2^-133 * 1e38 would show
}

// The AMX table rounds differently from vdpbf16ps (see bf16_amx.cpp), so it is held to the
// twin within a bound instead of bit for bit: |amx - twin| <= 2^-17 (|bias| + sum |a b|),
// a few units in the last place of the largest partial sum for these K.
TEST(Bf16Kernels, AmxTilesCloseToTwin) {
  const Bf16KernelTable* t = amx_table();
  if (!t) GTEST_SKIP() << "no AMX-BF16 (or Linux refused the tile state) on this machine";
  std::mt19937 g(17);
  int differ = 0, total = 0;
  for (int kreal : {1, 13, 16, 40, 100}) {
    const int kp = (kreal + 15) / 16 * 16;
    for (int mr : {1, 5, 16, 17, 31, 32})
      for (int ncols : {1, 16, 17, 32})
        for (int act = 0; act < 3; ++act) {
          const bool res = act == 1;
          const int64_t lda = kp + 16, ldc = 40;
          auto af = random_floats(g, size_t(kreal * 2), 4.f);
          std::vector<uint32_t> a(size_t((mr + 32) * lda), 0u), b(size_t(kp * 32), 0u);
          for (int m = 0; m < mr; ++m) {
            auto row = random_floats(g, size_t(kreal * 2), 4.f);
            t->to_pairs(row.data(), kreal * 2, a.data() + m * lda);
          }
          auto bf = random_floats(g, size_t(kreal * 64), 1.f);
          t->to_pairs(bf.data(), kreal * 64, b.data());
          auto bias = random_floats(g, 32, 2.f);
          auto resv = random_floats(g, size_t(mr * ldc), 1.f);
          std::vector<float> got(size_t(mr * ldc), -123.f), want = got;
          Bf16Tile tile;
          tile.mr = mr;
          tile.nr = ncols;
          tile.kp = kp;
          tile.a = a.data();
          tile.lda = lda;
          tile.b = b.data();
          tile.bias = bias.data();
          tile.residual = res ? resv.data() : nullptr;
          tile.ldr = tile.ldc = ldc;
          tile.act = Activation(act);
          tile.c = got.data();
          t->gemm(tile);
          tile.c = want.data();
          kernels::bf16_gemm_scalar(tile, 32);
          for (int m = 0; m < mr; ++m)
            for (int n = 0; n < ldc; ++n) {
              const size_t i = size_t(m * ldc + n);
              if (n >= ncols) {
                ASSERT_EQ(got[i], -123.f) << "stored past nr";
                continue;
              }
              double mag = std::fabs(bias[size_t(n)]) + (res ? std::fabs(resv[i]) : 0.0);
              for (int p = 0; p < kp; ++p) {
                const uint32_t x = a[size_t(m * lda + p)], y = b[size_t(p * 32 + n)];
                mag += std::fabs(double(kernels::bf16_value(uint16_t(x))) * kernels::bf16_value(uint16_t(y))) +
                       std::fabs(double(kernels::bf16_value(uint16_t(x >> 16))) * kernels::bf16_value(uint16_t(y >> 16)));
              }
              ASSERT_LE(std::fabs(double(got[i]) - want[i]), mag * 0x1p-17)
                  << "kreal=" << kreal << " mr=" << mr << " nr=" << ncols << " m=" << m << " n=" << n;
              differ += got[i] != want[i];
              ++total;
            }
        }
  }
  std::printf("  AMX vs twin: %d of %d outputs differ in their bits (all within the bound)\n", differ, total);
}

TEST(Bf16Kernels, TableChoice) {
  EXPECT_EQ(kernels::bf16_table(Isa::Scalar), &kernels::kBf16ScalarTable);
  EXPECT_EQ(kernels::bf16_table(Isa::Avx2), nullptr);
#if defined(MNV2_X86)
  const bool native = cpu_supports(Isa::Avx512) && __builtin_cpu_supports("avx512bf16");
  EXPECT_EQ(kernels::bf16_table(Isa::Avx512) != nullptr, native);
  if (!native) GTEST_SKIP() << "this CPU has no AVX512_BF16: the native table is not run here";
#endif
}

}  // namespace
}  // namespace mnv2
