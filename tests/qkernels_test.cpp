// The integer kernels: TFLite fixed-point helpers against exact / real-valued references,
// and every table's kernels against independent direct loops and against each other, on
// odd sizes, for every ISA this CPU runs (SIMD must equal scalar exactly).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/qkernels.h"
#include "runtime/cpu.h"
#include "runtime/qreference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using kernels::QGemmKernel;
using kernels::QKernelTable;

constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

// The table of one ISA variant (test_util.h: native where the CPU has it, the SIMDe-built
// AVX-512 tables everywhere, with and without VNNI), with a printable name. Each table test
// runs once per variant; a variant this machine cannot run skips with the reason.
struct NamedTable {
  std::string name;
  const QKernelTable* t;
};
std::vector<NamedTable> tables(const test::IsaVariant& v) { return {{v.name(), &v.qtable()}}; }

class QKernels : public ::testing::TestWithParam<test::IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

std::vector<uint8_t> rnd_u8(size_t n, uint32_t seed, int lo = 0, int hi = 255) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = uint8_t(d(g));
  return v;
}
std::vector<int16_t> rnd_w(size_t n, uint32_t seed, int lim) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(-lim, lim);
  std::vector<int16_t> v(n);
  for (auto& x : v) x = int16_t(d(g));
  return v;
}
std::vector<int32_t> rnd_i32(size_t n, uint32_t seed, int32_t lo, int32_t hi) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Per-channel requantization drawn like real layers (multipliers around 2^-8 .. 2^-14 of
// the accumulator range), with some extreme channels: the largest Q31 multiplier, the
// smallest normalised one, zero, and shifts at both ends of the range.
struct Rq {
  std::vector<int32_t> mult, shift;
  std::vector<float> scale;  // XNNPACK-mode scales
  bool use_float = false;
  kernels::QRequant view(int32_t zp, int32_t lo, int32_t hi) const {
    return {mult.data(), shift.data(), true, zp, lo, hi, use_float ? scale.data() : nullptr};
  }
  uint8_t apply(int32_t acc, size_t ch, int32_t zp, int32_t lo, int32_t hi) const {
    return use_float ? q::requantize_float(acc, scale[ch], zp, lo, hi)
                     : q::requantize(acc, mult[ch], shift[ch], zp, lo, hi);
  }
};
Rq rnd_rq(int n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> e(-16.0, -6.0);
  Rq r;
  for (int i = 0; i < n; ++i) {
    q::Multiplier m = q::quantize_multiplier(std::exp2(e(g)));
    switch (i % 11) {
      case 3: m = {kMax, -10}; break;
      case 5: m = {1 << 30, -1}; break;
      case 7: m = {0, 0}; break;
      case 9: m = {1518500250, -31}; break;
      case 10: m = {1073741824 + 12345, 2}; break;
      default: break;
    }
    r.mult.push_back(m.mult);
    r.shift.push_back(m.shift);
    // Float scales: typical ones, ties-prone powers of two, zero, and one large enough to
    // push big accumulators past the int32 range.
    float f = float(std::exp2(e(g)));
    if (i % 7 == 2) f = 0.5f;
    if (i % 7 == 4) f = 0.f;
    if (i % 13 == 6) f = 300.f;
    r.scale.push_back(f);
  }
  return r;
}
Rq rnd_rq_float(int n, uint32_t seed) {
  Rq r = rnd_rq(n, seed);
  r.use_float = true;
  return r;
}

// ---- fixed-point helpers ------------------------------------------------------------------

// floor(a * b / 2^31 + 1/2) exactly, saturated: the value TFLite's nudged truncating
// division computes.
int32_t srdhm_ref(int32_t a, int32_t b) {
  const __int128 ab = __int128(a) * b + (__int128(1) << 30);
  __int128 q = ab / (__int128(1) << 31);
  if (q * (__int128(1) << 31) > ab) --q;  // floor
  if (q > kMax) return kMax;
  return int32_t(q);
}

TEST(QMath, SrdhmMatchesExactRoundingIncludingSaturation) {
  std::mt19937 g(1);
  std::uniform_int_distribution<int32_t> d(kMin, kMax);
  const int32_t edge[] = {kMin, kMin + 1, -1, 0, 1, kMax, kMax - 1, 1 << 30, -(1 << 30)};
  for (int32_t a : edge)
    for (int32_t b : edge) EXPECT_EQ(q::srdhm(a, b), srdhm_ref(a, b)) << a << " " << b;
  EXPECT_EQ(q::srdhm(kMin, kMin), kMax);
  for (int i = 0; i < 200000; ++i) {
    const int32_t a = d(g), b = i % 2 ? d(g) : (d(g) >> (i % 29));
    ASSERT_EQ(q::srdhm(a, b), srdhm_ref(a, b)) << a << " " << b;
  }
  // Ties: +0.5 -> 1 and -0.5 -> 0 (the nudge rounds half up).
  EXPECT_EQ(q::srdhm(1 << 30, 1), 1);
  EXPECT_EQ(q::srdhm(-(1 << 30), 1), 0);
  EXPECT_EQ(q::srdhm(-(3 << 29), 2), -1);
}

TEST(QMath, RoundingDivideByPotRoundsHalfAwayFromZero) {
  std::mt19937 g(2);
  std::uniform_int_distribution<int32_t> d(kMin, kMax);
  for (int i = 0; i < 200000; ++i) {
    const int32_t x = i < 64 ? int32_t(i) - 32 : d(g);
    const int e = i % 32;
    const double want = std::round(double(x) / std::ldexp(1.0, e));  // exact in double
    ASSERT_EQ(q::rdbpot(x, e), int32_t(want)) << x << " / 2^" << e;
  }
  EXPECT_EQ(q::rdbpot(kMin, 31), -1);
  EXPECT_EQ(q::rdbpot(kMax, 31), 1);
  EXPECT_EQ(q::rdbpot(-3, 1), -2);
  EXPECT_EQ(q::rdbpot(3, 1), 2);
}

TEST(QMath, QuantizeMultiplierIsTheNearestQ31Value) {
  EXPECT_EQ(q::quantize_multiplier(0.0), (q::Multiplier{0, 0}));
  EXPECT_EQ(q::quantize_multiplier(0.5), (q::Multiplier{1 << 30, 0}));
  EXPECT_EQ(q::quantize_multiplier(1.0), (q::Multiplier{1 << 30, 1}));
  EXPECT_EQ(q::quantize_multiplier(0.75), (q::Multiplier{3 << 29, 0}));
  // Rounds up to 2^31: renormalised to 2^30 with the shift one higher.
  EXPECT_EQ(q::quantize_multiplier(1.0 - std::ldexp(1.0, -34)), (q::Multiplier{1 << 30, 1}));
  // Below about 2^-32 the shift would pass -31: TFLite maps that to zero.
  EXPECT_EQ(q::quantize_multiplier(std::ldexp(1.0, -33)), (q::Multiplier{0, 0}));
  EXPECT_EQ(q::quantize_multiplier(std::ldexp(1.0, -32)), (q::Multiplier{1 << 30, -31}));
  EXPECT_THROW(q::quantize_multiplier(std::ldexp(1.0, 31)), Error);
  EXPECT_THROW(q::quantize_multiplier(std::nan("")), Error);
  std::mt19937 g(3);
  std::uniform_real_distribution<double> e(-31.5, 29.5);
  for (int i = 0; i < 100000; ++i) {
    const double r = std::exp2(e(g));
    const q::Multiplier m = q::quantize_multiplier(r);
    ASSERT_GE(m.mult, 1 << 30);
    ASSERT_LE(m.shift, 30);
    ASSERT_GE(m.shift, -31);
    const double ulp = std::ldexp(1.0, m.shift - 31);
    ASSERT_LE(std::fabs(double(m.mult) * ulp - r), 0.5 * ulp * (1 + 1e-12)) << r;
  }
}

TEST(QMath, MultiplyByMultiplierTracksTheRealProduct) {
  std::mt19937 g(4);
  std::uniform_real_distribution<double> e(-20.0, 8.0);
  std::uniform_int_distribution<int32_t> xs(-(1 << 22), 1 << 22);
  for (int i = 0; i < 100000; ++i) {
    const double r = std::exp2(e(g));
    const q::Multiplier m = q::quantize_multiplier(r);
    const int32_t x = xs(g);
    const double exact = double(x) * double(m.mult) * std::ldexp(1.0, m.shift - 31);
    // Two roundings (high-mul, then the shift): within one unit of the exact product.
    ASSERT_LE(std::fabs(q::mul_by_multiplier(x, m.mult, m.shift) - exact), 1.0) << x << " " << r;
  }
  // Exact small cases. Without a right shift the high-mul rounds ties up (-1.5 -> -1);
  // the right shift rounds ties away from zero (-3 * 0.25 = -0.75 -> -1, -2 * 0.25 -> -1).
  EXPECT_EQ(q::mul_by_multiplier(10, 1 << 30, 0), 5);
  EXPECT_EQ(q::mul_by_multiplier(3, 1 << 30, 0), 2);
  EXPECT_EQ(q::mul_by_multiplier(-3, 1 << 30, 0), -1);
  EXPECT_EQ(q::mul_by_multiplier(-3, 1 << 30, -1), -1);
  EXPECT_EQ(q::mul_by_multiplier(-2, 1 << 30, -1), -1);
  EXPECT_EQ(q::mul_by_multiplier(-6, 1 << 30, -1), -2);
  EXPECT_EQ(q::mul_by_multiplier(100, 1 << 30, 3), 400);
  // The left shift wraps like TFLite's int32 arithmetic on two's complement machines.
  EXPECT_EQ(q::mul_by_multiplier(1 << 20, 1 << 30, 11), -(1 << 30));
  EXPECT_EQ(q::mul_by_multiplier(1 << 20, 1 << 30, 12), 0);
}

TEST(QMath, RequantizeAddsZeroPointAndClamps) {
  EXPECT_EQ(q::requantize(1000, 1 << 30, -3, 10, 0, 255), 10 + 63);  // 1000/16 = 62.5 -> 63
  EXPECT_EQ(q::requantize(-1000, 1 << 30, -3, 10, 0, 255), 0);
  EXPECT_EQ(q::requantize(1 << 24, 1 << 30, 0, 10, 5, 200), 200);
  EXPECT_EQ(q::requantize(-12, 1 << 30, 0, 10, 5, 200), 5);
  int32_t lo, hi;
  q::activation_range(Activation::Relu6, 6.f / 255.f, 0, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 255);
  q::activation_range(Activation::Relu6, 0.05f, 20, &lo, &hi);
  EXPECT_EQ(lo, 20);
  EXPECT_EQ(hi, 140);
  q::activation_range(Activation::None, 0.05f, 20, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 255);
}

TEST(QMath, FloatRequantizeRoundsToNearestEven) {
  EXPECT_EQ(q::requantize_float(5, 0.5f, 10, 0, 255), 12);   // 2.5 -> 2
  EXPECT_EQ(q::requantize_float(7, 0.5f, 10, 0, 255), 14);   // 3.5 -> 4
  EXPECT_EQ(q::requantize_float(-5, 0.5f, 10, 0, 255), 8);   // -2.5 -> -2
  EXPECT_EQ(q::requantize_float(-7, 0.5f, 10, 0, 255), 6);   // -3.5 -> -4
  EXPECT_EQ(q::requantize_float(1000, 0.01f, 0, 0, 255), 10);
  EXPECT_EQ(q::requantize_float(100000, 0.01f, 0, 5, 200), 200);
  // Past the int32 range the product reads as INT32_MIN: clamped to the bottom.
  EXPECT_EQ(q::requantize_float(kMax, 4.f, 100, 3, 255), 3);
  std::mt19937 g(6);
  std::uniform_int_distribution<int32_t> xs(-(1 << 24), 1 << 24);
  for (int i = 0; i < 100000; ++i) {
    const int32_t x = xs(g);
    const float s = std::ldexp(1.f, -int(i % 20));
    const double want = std::clamp(std::nearbyint(double(x) * s) + 7, 0.0, 255.0);  // exact
    ASSERT_EQ(q::requantize_float(x, s, 7, 0, 255), uint8_t(want)) << x << " " << s;
  }
}

// ---- GEMM ---------------------------------------------------------------------------------

// TFLite's formula, directly: requant(bias + sum (a - a_zp) * w).
std::vector<uint8_t> gemm_ref(int m, int n, int k, const std::vector<uint8_t>& a, int64_t lda,
                              const std::vector<int16_t>& w, const std::vector<int32_t>& bias,
                              int32_t a_zp, const Rq& rq, int32_t zp, int32_t lo, int32_t hi) {
  std::vector<uint8_t> c(size_t(m) * n);
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) {
      int64_t acc = bias[size_t(j)];
      for (int i = 0; i < k; ++i)
        acc += int64_t(int32_t(a[size_t(r * lda + i)]) - a_zp) * w[size_t(j) * k + size_t(i)];
      c[size_t(r) * n + size_t(j)] = rq.apply(int32_t(acc), size_t(j), zp, lo, hi);
    }
  return c;
}

struct PackedGemm {
  std::vector<uint8_t> buf;
  void* aligned(int64_t bytes) {
    buf.assign(size_t(bytes + 64), 0);
    auto p = reinterpret_cast<uintptr_t>(buf.data());
    return reinterpret_cast<void*>((p + 63) / 64 * 64);
  }
};

const char* layout_name(kernels::QLayout l) {
  switch (l) {
    case kernels::QLayout::Pairs16: return "pairs16";
    case kernels::QLayout::Quads8: return "quads8";
    case kernels::QLayout::QuadsU8: return "quadsu8";
    case kernels::QLayout::Quads8Signed: return "quads8signed";
  }
  return "?";
}

// Weights in [-wlim, wlim] + wshift.
void check_gemm(const std::string& name, const QGemmKernel& kern, int m, int n, int k,
                uint32_t seed, int wlim, bool float_mode = false, int wshift = 0) {
  SCOPED_TRACE(name + (float_mode ? " float-requant" : "") + " m=" + std::to_string(m) +
               " n=" + std::to_string(n) + " k=" + std::to_string(k) +
               " wshift=" + std::to_string(wshift) + " layout=" + layout_name(kern.layout));
  const int64_t lda = k + 5, ldc = n + 3;
  const auto a = rnd_u8(size_t(m * lda), seed);
  auto w = rnd_w(size_t(n) * k, seed + 1, wlim);
  for (auto& v : w) v = int16_t(v + wshift);
  const auto bias = rnd_i32(size_t(n), seed + 2, -20000, 20000);
  const Rq rq = float_mode ? rnd_rq_float(n, seed + 3) : rnd_rq(n, seed + 3);
  const int32_t a_zp = int32_t(seed * 37 % 256), zp = int32_t(seed * 11 % 256);
  const int32_t lo = int32_t(seed % 3 == 0 ? zp : 0), hi = std::max(lo, seed % 2 ? 255 : 200);
  const auto want = gemm_ref(m, n, k, a, lda, w, bias, a_zp, rq, zp, lo, hi);
  PackedGemm pk;
  void* packed = pk.aligned(kern.packed_bytes(n, k));
  kernels::qgemm_pack(kern, w.data(), k, n, k, bias.data(), a_zp, rq.view(zp, lo, hi), packed);
  std::vector<uint8_t> c(size_t(m * ldc), 0xA5);
  kernels::QGemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a.data();
  g.lda = lda;
  g.b = packed;
  g.c = c.data();
  g.ldc = ldc;
  kern.run(g);
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < ldc; ++j) {
      const uint8_t got = c[size_t(r * ldc + j)];
      if (j >= n) {
        ASSERT_EQ(got, 0xA5) << "wrote past column n at row " << r;
        continue;
      }
      ASSERT_EQ(int(got), int(want[size_t(r) * n + size_t(j)])) << "row " << r << " col " << j;
    }
  // Split into row blocks and panel-aligned column blocks: the same bytes.
  if (m > 1 && n > kern.nr) {
    std::vector<uint8_t> c2(size_t(m * ldc), 0xA5);
    const int m1 = m / 2 + 1;
    for (int r0 : {0, m1}) {
      for (int n0 : {0, kern.nr}) {
        kernels::QGemm part = g;
        part.m = r0 == 0 ? m1 : m - m1;
        part.n = n0 == 0 ? kern.nr : n - kern.nr;
        part.a = a.data() + r0 * lda;
        part.b = static_cast<const uint8_t*>(packed) + (n0 / kern.nr) * kern.panel_bytes(k);
        part.c = c2.data() + r0 * ldc + n0;
        if (part.m > 0) kern.run(part);
      }
    }
    ASSERT_EQ(c, c2) << "tiling changed the result";
  }
}

TEST_P(QKernels, GemmEveryTableMatchesTfliteFormulaOnOddSizes) {
  for (const auto& nt : tables(GetParam())) {
    for (const QGemmKernel* kern : {&nt.t->gemm16, &nt.t->gemm8, &nt.t->gemm8u}) {
      if (!kern->available()) continue;
      const int wlim = kern->layout == kernels::QLayout::Pairs16 ? 255 : 127;
      // QuadsU8: weights anywhere in [-255, 255] as long as a panel spans <= 256 values.
      const bool shifted = kern->layout == kernels::QLayout::QuadsU8;
      uint32_t seed = 100;
      for (int k : {1, 2, 3, 4, 5, 8, 27, 33, 64, 97, 144}) {
        for (int m : {1, 2, kern->mr - 1, kern->mr, kern->mr + 1, 2 * kern->mr + 3}) {
          if (m < 1) continue;
          for (int n : {1, 7, kern->nr - 1, kern->nr, kern->nr + 1, 33, 2 * kern->nr + 5}) {
            if (n < 1) continue;
            ++seed;
            check_gemm(nt.name, *kern, m, n, k, seed, wlim, seed % 2 == 0,
                       shifted ? int(seed % 3) * 128 - 128 : 0);
            if (HasFatalFailure()) return;
          }
        }
      }
      // A MobileNetV2-sized layer and the 1001-class classifier row.
      check_gemm(nt.name, *kern, 37, 144, 24, 7, wlim);
      check_gemm(nt.name, *kern, 1, 1001, 1280, 8, wlim);
      check_gemm(nt.name, *kern, 37, 144, 24, 7, wlim, true);
      check_gemm(nt.name, *kern, 1, 1001, 1280, 8, wlim, true);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(QKernelGemm, EmulatedVnniLayoutMatchesTfliteFormula) {
  // The loop structure of the AVX-512 VNNI kernel, over exact AVX2 arithmetic.
#if defined(MNV2_X86)
  if (!cpu_hardware_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  const QGemmKernel* kern = &kernels::avx2::kQuads8Emulated;
#else
  GTEST_SKIP() << "no AVX2 kernels in this build";
  const QGemmKernel* kern = nullptr;
#endif
  uint32_t seed = 900;
  for (int k : {1, 3, 4, 5, 9, 27, 64, 99})
    for (int m : {1, kern->mr - 1, kern->mr, kern->mr + 2})
      for (int n : {1, kern->nr - 1, kern->nr + 1, 3 * kern->nr}) {
        check_gemm("avx2-emulated-vnni", *kern, m, n, k, ++seed, 127, seed % 2 == 0);
        if (HasFatalFailure()) return;
      }
  // Weights at both int8 extremes against 255 activations.
  check_gemm("avx2-emulated-vnni", *kern, 7, 40, 300, 3, 128 - 1);
}

TEST(QKernelGemm, SignedActivationLayoutPacksToTheTfliteFormula) {
  // Quads8Signed (the NEON tables' gemm8: activations read as a - 128, 128 * sum w in the
  // packed bias) through its scalar twin, so that x86 builds check the packing too; the
  // aarch64 builds also run the NEON kernels on it (GemmEveryTable...). Weights at both
  // int8 extremes against 255 activations last.
  const QGemmKernel& kern = kernels::kScalarQuads8Signed;
  uint32_t seed = 1700;
  for (int k : {1, 3, 4, 5, 9, 27, 64, 99})
    for (int m : {1, 3, 5})
      for (int n : {1, kern.nr - 1, kern.nr + 1, 3 * kern.nr}) {
        ++seed;
        check_gemm("scalar-quads8signed", kern, m, n, k, seed, 127, seed % 2 == 0);
        if (HasFatalFailure()) return;
      }
  check_gemm("scalar-quads8signed", kern, 7, 40, 300, 3, 128 - 1);
}

TEST(QKernelGemm, EmulatedVnniUint8LayoutMatchesTfliteFormula) {
  // The AVX-512 VNNI kernel for uint8 per-tensor weights (operands' roles swapped), over
  // exact AVX2 arithmetic, with weight ranges at both ends of [-255, 255].
#if defined(MNV2_X86)
  if (!cpu_hardware_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  const QGemmKernel* kern = &kernels::avx2::kQuadsU8Emulated;
#else
  GTEST_SKIP() << "no AVX2 kernels in this build";
  const QGemmKernel* kern = nullptr;
#endif
  uint32_t seed = 950;
  for (int k : {1, 3, 4, 5, 9, 27, 64, 99})
    for (int m : {1, kern->mr - 1, kern->mr, kern->mr + 2})
      for (int n : {1, kern->nr - 1, kern->nr + 1, 3 * kern->nr})
        for (int shift : {-128, 0, 128}) {
          ++seed;
          check_gemm("avx2-emulated-vnni-u8", *kern, m, n, k, seed, 127, seed % 2 == 0, shift);
          if (HasFatalFailure()) return;
        }
}

TEST_P(QKernels, Uint8LayoutTakesFullSpanPanelsExactly) {
  // Each panel's weights span exactly 256 values ([-255, 0] and [0, 255]) against all-255
  // and all-0 activations, k large.
  for (const auto& nt : tables(GetParam())) {
    const QGemmKernel& kern = nt.t->gemm8u;
    if (!kern.available()) continue;
    const int m = kern.mr + 1, n = 2 * kern.nr + 3, k = 1280;
    for (int a_value : {0, 255, -1}) {
      std::vector<uint8_t> a(size_t(m) * k);
      for (size_t i = 0; i < a.size(); ++i) a[i] = a_value >= 0 ? uint8_t(a_value) : uint8_t(i * 7);
      std::vector<int16_t> w(size_t(n) * k);
      for (size_t i = 0; i < w.size(); ++i)
        w[i] = int16_t((i / k) / kern.nr % 2 ? int(i % 256) : int(i % 256) - 255);
      std::vector<int32_t> bias = rnd_i32(size_t(n), 4, -20000, 20000);
      Rq rq = rnd_rq(n, 6);
      ASSERT_TRUE(kernels::qgemm_fits(kern, w.data(), k, n, k));
      PackedGemm pk;
      void* packed = pk.aligned(kern.packed_bytes(n, k));
      kernels::qgemm_pack(kern, w.data(), k, n, k, bias.data(), 17, rq.view(128, 0, 255), packed);
      std::vector<uint8_t> c(size_t(m) * n);
      kernels::QGemm g{m, n, k, a.data(), k, packed, c.data(), n};
      kern.run(g);
      EXPECT_EQ(c, gemm_ref(m, n, k, a, k, w, bias, 17, rq, 128, 0, 255)) << nt.name << " a " << a_value;
    }
  }
}

TEST_P(QKernels, GemmExtremeOperandsStayExact) {
  // All-255 activations against +-255 weights, k large: the accumulators reach ~1e8.
  for (const auto& nt : tables(GetParam())) {
    const QGemmKernel& kern = nt.t->gemm16;
    const int m = kern.mr + 1, n = kern.nr + 3, k = 1792;
    std::vector<uint8_t> a(size_t(m) * k, 255);
    std::vector<int16_t> w(size_t(n) * k);
    for (size_t i = 0; i < w.size(); ++i) w[i] = (i / k) % 2 ? 255 : -255;
    std::vector<int32_t> bias(size_t(n), 0);
    Rq rq = rnd_rq(n, 5);
    PackedGemm pk;
    void* packed = pk.aligned(kern.packed_bytes(n, k));
    kernels::qgemm_pack(kern, w.data(), k, n, k, bias.data(), 0, rq.view(128, 0, 255), packed);
    std::vector<uint8_t> c(size_t(m) * n);
    kernels::QGemm g{m, n, k, a.data(), k, packed, c.data(), n};
    kern.run(g);
    EXPECT_EQ(c, gemm_ref(m, n, k, a, k, w, bias, 0, rq, 128, 0, 255)) << nt.name;
  }
}

TEST(QKernelGemm, PackingRefusesWhatTheLayoutCannotHold) {
  const QGemmKernel& k8 = kernels::kScalarQTable.gemm8;
  std::vector<int16_t> w(16 * 8, 3);
  w[5 * 8 + 2] = 128;
  Rq rq = rnd_rq(16, 1);
  std::vector<uint8_t> buf(size_t(k8.packed_bytes(16, 8)));
  EXPECT_THROW(kernels::qgemm_pack(k8, w.data(), 8, 16, 8, nullptr, 0, rq.view(0, 0, 255),
                                   buf.data()),
               Error);
  w[5 * 8 + 2] = -128;
  EXPECT_NO_THROW(kernels::qgemm_pack(k8, w.data(), 8, 16, 8, nullptr, 0, rq.view(0, 0, 255),
                                      buf.data()));
  rq.shift[3] = 31;
  EXPECT_THROW(kernels::qgemm_pack(k8, w.data(), 8, 16, 8, nullptr, 0, rq.view(0, 0, 255),
                                   buf.data()),
               Error);
  rq.shift[3] = -3;
  rq.mult[4] = -5;
  EXPECT_THROW(kernels::qgemm_pack(k8, w.data(), 8, 16, 8, nullptr, 0, rq.view(0, 0, 255),
                                   buf.data()),
               Error);
  rq.mult[4] = 5;
  EXPECT_THROW(kernels::qgemm_pack(k8, w.data(), 8, 16, 8, nullptr, 0, rq.view(0, 10, 9),
                                   buf.data()),
               Error);
  rq.use_float = true;
  rq.scale[2] = std::nanf("");
  EXPECT_THROW(kernels::qgemm_pack(k8, w.data(), 8, 16, 8, nullptr, 0, rq.view(0, 0, 255),
                                   buf.data()),
               Error);
  // A panel of QuadsU8 holds 256 consecutive values, not 257.
  const QGemmKernel& ku = kernels::kScalarQTable.gemm8u;
  Rq rqu = rnd_rq(16, 1);
  std::vector<int16_t> wu(16 * 8, -255);
  wu[3] = 0;
  EXPECT_TRUE(kernels::qgemm_fits(ku, wu.data(), 8, 16, 8));
  EXPECT_NO_THROW(kernels::qgemm_pack(ku, wu.data(), 8, 16, 8, nullptr, 0, rqu.view(0, 0, 255),
                                      buf.data()));
  wu[3] = 1;
  EXPECT_FALSE(kernels::qgemm_fits(ku, wu.data(), 8, 16, 8));
  EXPECT_THROW(kernels::qgemm_pack(ku, wu.data(), 8, 16, 8, nullptr, 0, rqu.view(0, 0, 255),
                                   buf.data()),
               Error);
  EXPECT_FALSE(kernels::qweights_fit_int8(std::vector<int16_t>{0, -129}.data(), 2));
  EXPECT_TRUE(kernels::qweights_fit_int8(std::vector<int16_t>{127, -128}.data(), 2));
}

TEST_P(QKernels, GemmPerTensorRequantizationEqualsRepeatedPerChannel) {
  for (const auto& nt : tables(GetParam())) {
    const QGemmKernel& kern = nt.t->gemm16;
    const int m = 5, n = 21, k = 19;
    const auto a = rnd_u8(size_t(m * k), 61);
    const auto w = rnd_w(size_t(n * k), 62, 255);
    const int32_t mult1 = 1234567890, shift1 = -9;
    const float scale1 = 0.0021f;
    for (bool fl : {false, true}) {
      std::vector<int32_t> mults(size_t(n), mult1), shifts(size_t(n), shift1);
      std::vector<float> scales(size_t(n), scale1);
      kernels::QRequant per_t{&mult1, &shift1, false, 9, 0, 255, fl ? &scale1 : nullptr};
      kernels::QRequant per_c{mults.data(), shifts.data(), true, 9, 0, 255,
                              fl ? scales.data() : nullptr};
      std::vector<uint8_t> out[2];
      int i = 0;
      for (const auto* rq : {&per_t, &per_c}) {
        PackedGemm pk;
        void* packed = pk.aligned(kern.packed_bytes(n, k));
        kernels::qgemm_pack(kern, w.data(), k, n, k, nullptr, 30, *rq, packed);
        out[i].assign(size_t(m * n), 0);
        kern.run(kernels::QGemm{m, n, k, a.data(), k, packed, out[i].data(), n});
        ++i;
      }
      EXPECT_EQ(out[0], out[1]) << nt.name << (fl ? " float" : "");
    }
  }
}

// ---- depthwise ----------------------------------------------------------------------------

// Direct loops: TFLite's depthwise conv (padding contributes nothing).
std::vector<uint8_t> dw_ref(const std::vector<uint8_t>& in, int ih, int iw, int c, int kh, int kw,
                            int dm, int sh, int sw, int pt, int pl, int oh, int ow,
                            const std::vector<int16_t>& w, const std::vector<int32_t>& bias,
                            int32_t in_zp, const Rq& rq, int32_t zp, int32_t lo, int32_t hi) {
  const int oc = c * dm;
  std::vector<uint8_t> out(size_t(oh) * ow * oc);
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int o = 0; o < oc; ++o) {
        int64_t acc = bias[size_t(o)];
        for (int ky = 0; ky < kh; ++ky)
          for (int kx = 0; kx < kw; ++kx) {
            const int iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
            if (iy < 0 || ix < 0 || iy >= ih || ix >= iw) continue;
            acc += int64_t(int32_t(in[size_t((iy * iw + ix) * c + o / dm)]) - in_zp) *
                   w[size_t((ky * kw + kx) * oc + o)];
          }
        out[size_t((oy * ow + ox) * oc + o)] = rq.apply(int32_t(acc), size_t(o), zp, lo, hi);
      }
  return out;
}

TEST(QKernelDw, GenericRowMatchesDirectLoops) {
  uint32_t seed = 300;
  for (int dm : {1, 2})
    for (int kh : {1, 3, 5})
      for (int s : {1, 2}) {
        const int c = 7, ih = 6, iw = 5, kw = kh == 5 ? 3 : kh, pt = kh / 2, pl = kw / 2 + 1;
        const int oh = (ih + 2 * pt - kh) / s + 1, ow = (iw + pl - kw) / s + 1;
        const auto in = rnd_u8(size_t(ih * iw * c), ++seed);
        const auto w = rnd_w(size_t(kh * kw * c * dm), ++seed, 255);
        const auto bias = rnd_i32(size_t(c * dm), ++seed, -5000, 5000);
        const Rq rq = dm == 2 && s == 1 ? rnd_rq_float(c * dm, ++seed) : rnd_rq(c * dm, ++seed);
        const int32_t in_zp = 77, zp = 3, lo = 0, hi = 250;
        std::vector<uint8_t> out(size_t(oh * ow * c * dm));
        kernels::QDwGeneric a;
        a.in = in.data();
        a.ih = ih;
        a.iw = iw;
        a.c = c;
        a.out = out.data();
        a.oh = oh;
        a.ow = ow;
        a.kh = kh;
        a.kw = kw;
        a.sh = a.sw = s;
        a.pad_top = pt;
        a.pad_left = pl;
        a.depth_mult = dm;
        a.w = w.data();
        a.bias = bias.data();
        a.in_zp = in_zp;
        a.rq = rq.view(zp, lo, hi);
        for (int oy = 0; oy < oh; ++oy) kernels::qdw_generic_row(a, oy);
        EXPECT_EQ(out, dw_ref(in, ih, iw, c, kh, kw, dm, s, s, pt, pl, oh, ow, w, bias, in_zp, rq,
                              zp, lo, hi))
            << "dm " << dm << " k " << kh << " s " << s;
      }
}

// The arguments of a 3x3 depthwise row over image `in` into `out` with packed weights `blob`.
kernels::QDw dw_args(const std::vector<uint8_t>& in, int ih, int iw, int c,
                     std::vector<uint8_t>& out, int oh, int ow, int stride, int pad_top,
                     int pad_left, const std::vector<uint8_t>& blob) {
  kernels::QDw a;
  a.in = in.data();
  a.ih = ih;
  a.iw = iw;
  a.c = c;
  a.out = out.data();
  a.oh = oh;
  a.ow = ow;
  a.sh = a.sw = stride;
  a.pad_top = pad_top;
  a.pad_left = pad_left;
  a.w = blob.data();
  return a;
}

TEST_P(QKernels, Dw3x3RowsMatchDirectLoopsOnEveryTable) {
  struct Geo {
    int ih, iw, s, pt, pb, pl, pr;
  };
  const Geo geos[] = {{1, 1, 1, 1, 1, 1, 1}, {2, 3, 1, 1, 1, 1, 1}, {5, 5, 1, 0, 0, 0, 0},
                      {7, 9, 1, 1, 1, 1, 1}, {7, 9, 2, 0, 1, 0, 1}, {8, 8, 2, 1, 1, 1, 1},
                      {6, 13, 2, 1, 0, 0, 2}, {4, 21, 1, 2, 0, 0, 2}, {3, 17, 2, 0, 0, 1, 0},
                      {1, 40, 1, 1, 1, 1, 1}};
  uint32_t seed = 500;
  for (const auto& nt : tables(GetParam())) {
    for (int c : {1, 7, 8, 16, 17, 24, 33, 48}) {
      for (const Geo& g : geos) {
        SCOPED_TRACE(nt.name + " c=" + std::to_string(c) + " in " + std::to_string(g.ih) + "x" +
                     std::to_string(g.iw) + " s" + std::to_string(g.s) + " pads " +
                     std::to_string(g.pt) + std::to_string(g.pb) + std::to_string(g.pl) +
                     std::to_string(g.pr));
        const int oh = (g.ih + g.pt + g.pb - 3) / g.s + 1, ow = (g.iw + g.pl + g.pr - 3) / g.s + 1;
        if (oh < 1 || ow < 1) continue;
        const auto in = rnd_u8(size_t(g.ih * g.iw * c), ++seed);
        const auto w = rnd_w(size_t(9 * c), ++seed, 255);
        const auto bias = rnd_i32(size_t(c), ++seed, -30000, 30000);
        const Rq rq = seed % 4 < 2 ? rnd_rq_float(c, ++seed) : rnd_rq(c, ++seed);
        const int32_t in_zp = int32_t(seed * 7 % 256), zp = int32_t(seed * 13 % 256);
        const int32_t lo = seed % 2 ? zp : 0, hi = seed % 3 ? 255 : 240;
        const auto want = dw_ref(in, g.ih, g.iw, c, 3, 3, 1, g.s, g.s, g.pt, g.pl, oh, ow, w, bias,
                                 in_zp, rq, zp, lo, std::max(lo, hi));
        std::vector<uint8_t> blob(size_t(kernels::qdw3x3_packed_bytes(c)));
        kernels::qdw3x3_pack(w.data(), c, bias.data(), in_zp, rq.view(zp, lo, std::max(lo, hi)),
                             blob.data());
        // One guard byte past the output catches overruns.
        std::vector<uint8_t> out(size_t(oh * ow * c) + 1, 0x5A);
        const kernels::QDw a = dw_args(in, g.ih, g.iw, c, out, oh, ow, g.s, g.pt, g.pl, blob);
        // Rows in reverse order: each row stands alone.
        for (int oy = oh - 1; oy >= 0; --oy) nt.t->dw3x3_row(a, oy);
        ASSERT_EQ(out.back(), 0x5A) << "wrote past the output";
        out.pop_back();
        ASSERT_EQ(out, want);
      }
    }
  }
}

TEST(QDwQuads, TermsAndPackCheckTheWeightRange) {
  const int c = 5;
  std::vector<int16_t> w(9 * c, 3);
  EXPECT_EQ(kernels::qdw3x3q_terms(w.data(), c), 1);
  w[7] = -128;
  w[8] = 127;
  EXPECT_EQ(kernels::qdw3x3q_terms(w.data(), c), 1);
  w[9] = 128;
  EXPECT_EQ(kernels::qdw3x3q_terms(w.data(), c), 2);
  w[10] = -255;
  w[11] = 254;
  EXPECT_EQ(kernels::qdw3x3q_terms(w.data(), c), 2);
  w[12] = 255;
  EXPECT_EQ(kernels::qdw3x3q_terms(w.data(), c), 0);
  w[12] = -256;
  EXPECT_EQ(kernels::qdw3x3q_terms(w.data(), c), 0);
  const std::vector<int32_t> mult(c, 1 << 30), shift(c, -8);
  const kernels::QRequant rq{mult.data(), shift.data(), true, 0, 0, 255, nullptr};
  std::vector<uint8_t> blob(size_t(kernels::qdw3x3q_packed_bytes(c, 2)));
  EXPECT_THROW(kernels::qdw3x3q_pack(w.data(), c, nullptr, 0, rq, 2, blob.data()), Error);
  w[12] = 0;
  EXPECT_THROW(kernels::qdw3x3q_pack(w.data(), c, nullptr, 0, rq, 1, blob.data()), Error);
  EXPECT_NO_THROW(kernels::qdw3x3q_pack(w.data(), c, nullptr, 0, rq, 2, blob.data()));
}

// The VNNI depthwise layout: the table's row (where it has one: AVX-512 VNNI, native or
// emulated) and the scalar twin both equal the direct loops, for one and two weight terms,
// channel counts around the 64-channel blocks and the 16-channel lanes, every padding.
TEST_P(QKernels, Dw3x3QuadsRowsMatchDirectLoopsAndScalarTwin) {
  struct Geo {
    int ih, iw, s, pt, pb, pl, pr;
  };
  const Geo geos[] = {{1, 1, 1, 1, 1, 1, 1}, {5, 5, 1, 0, 0, 0, 0}, {7, 9, 1, 1, 1, 1, 1},
                      {7, 9, 2, 0, 1, 0, 1}, {8, 8, 2, 1, 1, 1, 1}, {6, 13, 2, 1, 0, 0, 2},
                      {4, 21, 1, 2, 0, 0, 2}, {3, 6, 1, 0, 2, 2, 0}};
  uint32_t seed = 900;
  for (const auto& nt : tables(GetParam())) {
    for (int terms : {1, 2}) {
      for (int c : {1, 4, 15, 16, 17, 48, 63, 64, 65, 100, 144, 200}) {
        for (const Geo& g : geos) {
          SCOPED_TRACE(nt.name + " terms " + std::to_string(terms) + " c=" + std::to_string(c) +
                       " in " + std::to_string(g.ih) + "x" + std::to_string(g.iw) + " s" +
                       std::to_string(g.s) + " pads " + std::to_string(g.pt) +
                       std::to_string(g.pb) + std::to_string(g.pl) + std::to_string(g.pr));
          const int oh = (g.ih + g.pt + g.pb - 3) / g.s + 1;
          const int ow = (g.iw + g.pl + g.pr - 3) / g.s + 1;
          const auto in = rnd_u8(size_t(g.ih * g.iw * c), ++seed);
          auto w = rnd_w(size_t(9 * c), ++seed, terms == 1 ? 128 : 255);
          // The extremes of each range, then everything clipped into it.
          w[0] = terms == 1 ? -128 : -255;
          w[size_t(9 * c - 1)] = terms == 1 ? 127 : 254;
          for (auto& v : w) v = std::clamp<int16_t>(v, terms == 1 ? -128 : -255, terms == 1 ? 127 : 254);
          if (terms == 2) w[size_t(4 * c) / 2] = 200;  // at least one weight needs two terms
          ASSERT_EQ(kernels::qdw3x3q_terms(w.data(), c), terms);
          const auto bias = rnd_i32(size_t(c), ++seed, -30000, 30000);
          const Rq rq = seed % 4 < 2 ? rnd_rq_float(c, ++seed) : rnd_rq(c, ++seed);
          const int32_t in_zp = int32_t(seed * 7 % 256), zp = int32_t(seed * 13 % 256);
          const int32_t lo = seed % 2 ? zp : 0, hi = std::max(lo, seed % 3 ? 255 : 240);
          const auto want = dw_ref(in, g.ih, g.iw, c, 3, 3, 1, g.s, g.s, g.pt, g.pl, oh, ow, w,
                                   bias, in_zp, rq, zp, lo, hi);
          std::vector<uint8_t> blob(size_t(kernels::qdw3x3q_packed_bytes(c, terms)));
          kernels::qdw3x3q_pack(w.data(), c, bias.data(), in_zp, rq.view(zp, lo, hi), terms,
                                blob.data());
          for (int kernel = 0; kernel < 2; ++kernel) {
            auto row = kernel == 0 ? &kernels::qdw3x3q_row_scalar : nt.t->dw3x3q_row;
            if (!row) continue;
            std::vector<uint8_t> out(size_t(oh * ow * c) + 1, 0x5A);
            const kernels::QDw a =
                dw_args(in, g.ih, g.iw, c, out, oh, ow, g.s, g.pt, g.pl, blob);
            for (int oy = oh - 1; oy >= 0; --oy) row(a, oy);
            ASSERT_EQ(out.back(), 0x5A) << "wrote past the output";
            out.pop_back();
            ASSERT_EQ(out, want) << (kernel == 0 ? "scalar twin" : "table row");
          }
        }
      }
    }
  }
  if (!GetParam().qtable().dw3x3q_row) std::cout << "  (" << GetParam().name()
                                                  << ": no VNNI depthwise; the scalar twin ran)\n";
}

// ---- element-wise -------------------------------------------------------------------------

TEST_P(QKernels, AddMatchesTfliteFormulaAndRealSum) {
  std::mt19937 g(9);
  std::uniform_real_distribution<float> sc(0.005f, 0.2f);
  for (const auto& nt : tables(GetParam())) {
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t n = trial % 5 == 0 ? 1 : 1 + trial * 37;
      const float sa = sc(g), sb = sc(g), so = sc(g) * 1.5f;
      const int32_t za = int32_t(g() % 256), zb = int32_t(g() % 256), zo = int32_t(g() % 256);
      const int32_t lo = trial % 3 == 0 ? zo : 0, hi = 255;
      const q::AddParams p = q::make_add_params(sa, za, sb, zb, so, zo, lo, hi);
      const auto a = rnd_u8(size_t(n), uint32_t(trial * 2 + 1));
      const auto b = rnd_u8(size_t(n), uint32_t(trial * 2 + 2));
      std::vector<uint8_t> y(size_t(n) + 1, 0x33);
      nt.t->add(a.data(), b.data(), y.data(), n, p);
      ASSERT_EQ(y.back(), 0x33) << nt.name;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(y[size_t(i)], q::add_one(a[size_t(i)], b[size_t(i)], p)) << nt.name << " " << i;
        const double real = sa * (int(a[size_t(i)]) - za) + sb * (int(b[size_t(i)]) - zb);
        const double want = std::clamp(std::round(real / so) + zo, double(lo), double(hi));
        ASSERT_LE(std::fabs(double(y[size_t(i)]) - want), 1.0) << nt.name << " " << i;
      }
    }
  }
}

TEST_P(QKernels, AddXnnpackFormulaMatchesScalarAndRealSum) {
  std::mt19937 g(19);
  std::uniform_real_distribution<float> sc(0.005f, 0.2f);
  for (const auto& nt : tables(GetParam())) {
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t n = trial % 5 == 0 ? 3 : 1 + trial * 41;
      const float sa = sc(g), sb = sc(g), so = sc(g) * 1.5f;
      const int32_t za = int32_t(g() % 256), zb = int32_t(g() % 256), zo = int32_t(g() % 256);
      const int32_t lo = trial % 3 == 0 ? zo : 0, hi = 255;
      const q::XnnAddParams p = q::make_xnn_add_params(sa, za, sb, zb, so, zo, lo, hi);
      EXPECT_GE(std::max(p.a_mult, p.b_mult), 1 << 20);
      EXPECT_LE(std::max(p.a_mult, p.b_mult), 1 << 21);
      const auto a = rnd_u8(size_t(n), uint32_t(trial * 2 + 101));
      const auto b = rnd_u8(size_t(n), uint32_t(trial * 2 + 102));
      std::vector<uint8_t> y(size_t(n) + 1, 0x33);
      nt.t->add_xnn(a.data(), b.data(), y.data(), n, p);
      ASSERT_EQ(y.back(), 0x33) << nt.name;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(y[size_t(i)], q::xnn_add_one(a[size_t(i)], b[size_t(i)], p)) << nt.name << " " << i;
        const double real = sa * (int(a[size_t(i)]) - za) + sb * (int(b[size_t(i)]) - zb);
        const double want = std::clamp(std::round(real / so) + zo, double(lo), double(hi));
        ASSERT_LE(std::fabs(double(y[size_t(i)]) - want), 1.0) << nt.name << " " << i;
      }
    }
  }
  EXPECT_THROW(q::make_xnn_add_params(1.f, 0, 1.f, 0, 1e6f, 0, 0, 255), Error);
}

TEST_P(QKernels, PoolAverageAndMeanMatchRealValues) {
  for (const auto& nt : tables(GetParam())) {
    for (int hw : {1, 3, 49, 50}) {
      for (int c : {1, 7, 33, 1001}) {
        const auto x = rnd_u8(size_t(hw * c), uint32_t(hw * 1000 + c));
        std::vector<uint8_t> y(size_t(c) + 1, 0x11);
        // AVERAGE_POOL_2D, uint8: the rounded mean.
        kernels::QPool p;
        nt.t->pool(x.data(), y.data(), hw, c, p);
        ASSERT_EQ(y.back(), 0x11);
        for (int ch = 0; ch < c; ++ch) {
          int64_t s = 0;
          for (int i = 0; i < hw; ++i) s += x[size_t(i * c + ch)];
          ASSERT_EQ(y[size_t(ch)], (s + hw / 2) / hw) << nt.name;
        }
        // The same in the int8 domain: ties of negative sums round away from zero.
        p.in_offset = -128;
        p.qmin = -128;
        p.qmax = 127;
        p.out_offset = 128;
        nt.t->pool(x.data(), y.data(), hw, c, p);
        for (int ch = 0; ch < c; ++ch) {
          int64_t s = 0;
          for (int i = 0; i < hw; ++i) s += int(x[size_t(i * c + ch)]) - 128;
          const double want = std::round(double(s) / hw);  // half away from zero
          ASSERT_EQ(int(y[size_t(ch)]) - 128, int(want)) << nt.name << " s=" << s;
        }
        // MEAN with a rescale: out = in_scale / out_scale * mean + bias.
        const double ratio = 0.8;
        const q::Multiplier m = q::quantize_multiplier(ratio / hw);
        kernels::QPool mp;
        mp.divide = false;
        mp.mult = m.mult;
        mp.shift = m.shift;
        mp.bias = 9;
        nt.t->pool(x.data(), y.data(), hw, c, mp);
        for (int ch = 0; ch < c; ++ch) {
          int64_t s = 0;
          for (int i = 0; i < hw; ++i) s += x[size_t(i * c + ch)];
          const double want = std::clamp(double(s) * ratio / hw + 9, 0.0, 255.0);
          ASSERT_LE(std::fabs(y[size_t(ch)] - want), 1.0) << nt.name;
          ASSERT_EQ(y[size_t(ch)],
                    std::clamp(q::mul_by_multiplier(int32_t(s), m.mult, m.shift) + 9, 0, 255));
        }
      }
    }
  }
}

// The first convolution's kernels (patches packed straight from the image) against im2col
// + TFLite's formula: odd sizes, VALID and SAME (even and odd) pads, strides 1 and 2, the
// channel counts of the real models (32, 48) and odd ones, kernel rows up to 16 bytes and a
// longer one (the im2col path inside the kernel), every layout the table has.
TEST_P(QKernels, ConvRowsMatchIm2colAndTfliteFormula) {
  struct Geo {
    int ih, iw, cin, kh, kw, s, pt, pl, oh, ow;
  };
  const Geo geos[] = {{9, 11, 3, 3, 3, 2, 1, 1, 5, 6},    // SAME, odd size
                      {8, 8, 3, 3, 3, 2, 0, 0, 4, 4},     // SAME, even size: pad bottom/right
                      {7, 9, 3, 3, 3, 2, 0, 0, 3, 4},     // VALID
                      {6, 37, 3, 3, 3, 2, 0, 0, 3, 19},   // more pixels than a tile, last bytes
                      {5, 17, 3, 3, 3, 1, 1, 1, 5, 17},   // stride 1
                      {1, 1, 3, 3, 3, 2, 1, 1, 1, 1},     // all padding but one pixel
                      {6, 5, 4, 3, 3, 1, 1, 1, 6, 5},     // 12-byte kernel rows
                      {7, 7, 1, 3, 3, 2, 1, 1, 4, 4},     // one channel
                      {4, 6, 5, 2, 3, 1, 0, 1, 3, 6},     // 2x3 kernel, 15-byte rows
                      {5, 6, 8, 3, 3, 1, 1, 1, 5, 6}};    // 24-byte rows: im2col inside
  uint32_t seed = 900;
  for (const auto& nt : tables(GetParam())) {
    for (const kernels::QConvKernel* ck : {&nt.t->conv16, &nt.t->conv8, &nt.t->conv8u}) {
      if (!ck->available()) continue;
      const QGemmKernel& kern = ck->gemm;
      for (const Geo& g : geos)
        for (int cout : {1, 7, 16, 32, 33, 48}) {
          ++seed;
          SCOPED_TRACE(nt.name + " layout=" + layout_name(kern.layout) + " in " +
                       std::to_string(g.ih) + "x" + std::to_string(g.iw) + "x" +
                       std::to_string(g.cin) + " k" + std::to_string(g.kh) +
                       std::to_string(g.kw) + " s" + std::to_string(g.s) + " pads " +
                       std::to_string(g.pt) + std::to_string(g.pl) +
                       " cout=" + std::to_string(cout));
          const int k = g.kh * g.kw * g.cin;
          const auto x = rnd_u8(size_t(g.ih * g.iw * g.cin), seed);
          const int wlim = kern.layout == kernels::QLayout::Pairs16 ? 255 : 127;
          auto w = rnd_w(size_t(cout) * k, seed + 1, wlim);
          // QuadsU8 (uint8 per-tensor weights): shifted to all-negative or all-positive.
          if (kern.layout == kernels::QLayout::QuadsU8)
            for (auto& v : w) v = int16_t(v + int(seed % 3) * 128 - 128);
          ASSERT_TRUE(kernels::qgemm_fits(kern, w.data(), k, cout, k));
          const auto bias = rnd_i32(size_t(cout), seed + 2, -20000, 20000);
          const Rq rq = seed % 2 ? rnd_rq_float(cout, seed + 3) : rnd_rq(cout, seed + 3);
          const int32_t in_zp = int32_t(seed * 37 % 256), zp = int32_t(seed * 11 % 256);
          const int32_t lo = seed % 3 == 0 ? zp : 0, hi = std::max(lo, seed % 2 ? 255 : 200);
          PackedGemm pk;
          void* packed = pk.aligned(kern.packed_bytes(cout, k));
          kernels::qgemm_pack(kern, w.data(), k, cout, k, bias.data(), in_zp,
                              rq.view(zp, lo, hi), packed);
          // One guard byte past the output catches overruns; rows in reverse order.
          std::vector<uint8_t> out(size_t(g.oh * g.ow * cout) + 1, 0x5A);
          kernels::QConvRow a;
          a.in = x.data();
          a.ih = g.ih, a.iw = g.iw, a.cin = g.cin;
          a.kh = g.kh, a.kw = g.kw, a.sh = a.sw = g.s, a.pad_top = g.pt, a.pad_left = g.pl;
          a.ow = g.ow, a.cout = cout;
          a.in_zp = uint8_t(in_zp);
          a.b = packed;
          for (int oy = g.oh - 1; oy >= 0; --oy) {
            a.out = out.data() + int64_t(oy) * g.ow * cout;
            ck->row(a, oy);
          }
          ASSERT_EQ(out.back(), 0x5A) << "wrote past the output";
          for (int oy = 0; oy < g.oh; ++oy) {
            std::vector<uint8_t> col(size_t(g.ow * k));
            kernels::im2col_row_u8(x.data(), g.ih, g.iw, g.cin, g.kh, g.kw, g.s, g.s, g.pt, g.pl,
                                   g.ow, oy, uint8_t(in_zp), col.data());
            const auto want = gemm_ref(g.ow, cout, k, col, k, w, bias, in_zp, rq, zp, lo, hi);
            ASSERT_TRUE(std::equal(want.begin(), want.end(),
                                   out.begin() + int64_t(oy) * g.ow * cout))
                << "output row " << oy;
          }
        }
    }
  }
}

// The table's input quantization is the reference's loop compiled for the table's ISA:
// the same bytes on ordinary values, exact ties of both roundings, values past the clamp,
// infinities, NaN and denormals, at lengths that leave every vector remainder.
TEST_P(QKernels, QuantizeMatchesTheReferenceLoops) {
  for (const auto& nt : tables(GetParam())) {
    if (!nt.t->quantize) continue;
    std::mt19937 g(31);
    std::uniform_real_distribution<float> u(-3.f, 3.f);
    for (float scale : {0.0078125f, 0.01865f, 0.5f, 3.1f})
      for (int32_t zp : {0, 1, 128, 255}) {
        QuantParams q;
        q.scale = scale;
        q.zero_point = zp;
        for (int64_t n : {int64_t(1), int64_t(7), int64_t(33), int64_t(1000)}) {
          std::vector<float> x(static_cast<size_t>(n));
          for (size_t i = 0; i < x.size(); ++i) {
            switch (g() % 6) {
              case 0: x[i] = scale * (float(int(g() % 600) - 300) + 0.5f); break;  // ties
              case 1: x[i] = std::numeric_limits<float>::quiet_NaN(); break;
              case 2: x[i] = (g() % 2 ? 1.f : -1.f) * std::numeric_limits<float>::infinity(); break;
              case 3: x[i] = (g() % 2 ? 1e30f : -1e-40f); break;
              default: x[i] = u(g); break;
            }
          }
          for (bool even : {false, true}) {
            std::vector<uint8_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n) + 1, 0x5A);
            if (even)
              quantize_input_xnn(q, x.data(), want.data(), n);
            else
              quantize_input(q, x.data(), want.data(), n);
            nt.t->quantize(x.data(), got.data(), n, scale, zp, even);
            ASSERT_EQ(got.back(), 0x5A) << "wrote past n";
            got.pop_back();
            ASSERT_EQ(got, want) << nt.name << " scale " << scale << " zp " << zp << " n " << n
                                 << (even ? " ties to even" : " ties away");
          }
        }
      }
  }
}

TEST(QKernelIm2col, PadsWithTheZeroPoint) {
  struct Geo {
    int ih, iw, cin, kh, kw, s, pt, pl, oh, ow;
  };
  const Geo geos[] = {{5, 4, 3, 3, 3, 2, 1, 0, 3, 2},
                      {9, 11, 3, 3, 3, 2, 0, 1, 4, 6},
                      {6, 7, 5, 3, 3, 1, 1, 1, 6, 7},
                      {4, 40, 17, 2, 3, 1, 0, 2, 3, 41}};
  for (const Geo& g : geos) {
    const auto x = rnd_u8(size_t(g.ih * g.iw * g.cin), 77);
    const int k = g.kh * g.kw * g.cin;
    for (int oy = 0; oy < g.oh; ++oy) {
      std::vector<uint8_t> out(size_t(g.ow * k));
      kernels::im2col_row_u8(x.data(), g.ih, g.iw, g.cin, g.kh, g.kw, g.s, g.s, g.pt, g.pl, g.ow,
                             oy, 201, out.data());
      for (int ox = 0; ox < g.ow; ++ox)
        for (int ky = 0; ky < g.kh; ++ky)
          for (int kx = 0; kx < g.kw; ++kx)
            for (int ci = 0; ci < g.cin; ++ci) {
              const int iy = oy * g.s - g.pt + ky, ix = ox * g.s - g.pl + kx;
              const bool in = iy >= 0 && iy < g.ih && ix >= 0 && ix < g.iw;
              ASSERT_EQ(out[size_t(ox * k + (ky * g.kw + kx) * g.cin + ci)],
                        in ? x[size_t((iy * g.iw + ix) * g.cin + ci)] : 201)
                  << "geometry " << g.ih << "x" << g.iw << "x" << g.cin << " oy " << oy;
            }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, QKernels, ::testing::ValuesIn(test::int8_variants()),
                         test::VariantName());

}  // namespace
}  // namespace mnv2
