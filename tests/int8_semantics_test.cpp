// The fixed-point helpers of the integer executor against double-precision formulas, the
// integer ops against real arithmetic, and the precision selection of the public API.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>

#include "graph/mobilenet_v2.h"
#include "kernels/qmath.h"
#include "mnv2/mnv2.h"
#include "quant/calibration.h"
#include "quant/quantize.h"
#include "runtime/cpu.h"
#include "runtime/qexecutor.h"
#include "runtime/qreference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

TEST(Int8Semantics, QuantizeMultiplierRepresentsTheReal) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> e(-30.0, 20.0);
  for (int i = 0; i < 20000; ++i) {
    const double r = std::exp2(e(rng));
    const q::Multiplier m = q::quantize_multiplier(r);
    ASSERT_GE(m.mult, int32_t(1) << 30) << r;
    const double back = std::ldexp(double(m.mult), m.shift - 31);
    // Rounding the mantissa to Q31 costs at most half a unit in 2^-31 relative.
    EXPECT_LE(std::fabs(back - r) / r, std::ldexp(1.0, -31)) << r;
  }
  EXPECT_EQ(q::quantize_multiplier(0.0).mult, 0);
  EXPECT_EQ(q::quantize_multiplier(std::ldexp(1.0, -40)).mult, 0);  // flushed below 2^-31
  const q::Multiplier half = q::quantize_multiplier(0.5);
  EXPECT_EQ(half.mult, int32_t(1) << 30);
  EXPECT_EQ(half.shift, 0);
}

TEST(Int8Semantics, MultiplyByQuantizedMultiplierRoundsLikeTheExactProduct) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> e(-20.0, 6.0);
  std::uniform_int_distribution<int32_t> acc(-(1 << 24), 1 << 24);
  for (int i = 0; i < 50000; ++i) {
    const q::Multiplier m = q::quantize_multiplier(std::exp2(e(rng)));
    const int32_t x = acc(rng);
    const int32_t got = q::mul_by_multiplier(x, m.mult, m.shift);
    // Exact x * mult * 2^(shift-31) in long double (64-bit mantissa holds the product).
    const long double exact = std::ldexp((long double)x * (long double)m.mult, m.shift - 31);
    // One rounding (shift >= 0) is within 1/2; the high-mul then the shift round twice.
    const long double tol = m.shift >= 0 ? 0.5L : 1.0L;
    ASSERT_LE(std::fabs((long double)got - exact), tol) << x << " " << m.mult << " " << m.shift;
  }
  // Ties: the shift rounds them away from zero, the high-mul upwards (floor(ab/2^31 + 1/2)).
  EXPECT_EQ(q::rdbpot(5, 1), 3);
  EXPECT_EQ(q::rdbpot(-5, 1), -3);
  EXPECT_EQ(q::rdbpot(3, 1), 2);
  EXPECT_EQ(q::rdbpot(-3, 1), -2);
  EXPECT_EQ(q::rdbpot(-4, 2), -1);
  EXPECT_EQ(q::srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
  EXPECT_EQ(q::srdhm(1 << 30, 1 << 30), 1 << 29);
  EXPECT_EQ(q::srdhm(3, 1 << 30), 2);    // 1.5 -> 2
  EXPECT_EQ(q::srdhm(-3, 1 << 30), -1);  // -1.5 -> -1
}

TEST(Int8Semantics, QuantizedAddIsTheRealSumRequantized) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> sc(0.01f, 0.5f);
  std::uniform_int_distribution<int> zp(0, 255), v(0, 255);
  for (int t = 0; t < 200; ++t) {
    const float s1 = sc(rng), s2 = sc(rng), so = sc(rng);
    const int z1 = zp(rng), z2 = zp(rng), zo = zp(rng);
    const q::AddParams p = q::make_add_params(s1, z1, s2, z2, so, zo, 0, 255);
    for (int i = 0; i < 200; ++i) {
      const int a = v(rng), b = v(rng);
      const double real = double(s1) * (a - z1) + double(s2) * (b - z2);
      const double want = std::clamp(std::round(real / so) + zo, 0.0, 255.0);
      ASSERT_LE(std::fabs(double(q::add_one(uint8_t(a), uint8_t(b), p)) - want), 1.0)
          << s1 << " " << s2 << " " << so << " " << a << " " << b;
    }
  }
}

TEST(Int8Semantics, ActivationRangeIsTheClampInTheQuantizedDomain) {
  int32_t lo, hi;
  q::activation_range(Activation::Relu6, 6.f / 255.f, 0, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 255);
  q::activation_range(Activation::Relu6, 0.05f, 10, &lo, &hi);  // 6 / 0.05 = 120
  EXPECT_EQ(lo, 10);
  EXPECT_EQ(hi, 130);
  q::activation_range(Activation::Relu, 0.05f, 10, &lo, &hi);
  EXPECT_EQ(lo, 10);
  EXPECT_EQ(hi, 255);
  q::activation_range(Activation::None, 0.05f, 10, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 255);
}

TEST(Int8Semantics, SoftmaxAndMeanAgreeWithRealArithmetic) {
  QNodeParams p;
  const float in_scale = 0.1f;
  for (int d = 0; d < 256; ++d) p.softmax_table[d] = std::exp(-in_scale * float(d));
  p.out_scale = 1.f / 256.f;
  p.zp_out = 0;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> v(0, 255);
  std::vector<uint8_t> x(1001), y(1001);
  for (auto& e : x) e = uint8_t(v(rng));
  x[17] = 255;
  qsoftmax_row(p, x.data(), y.data(), 1001);
  double sum = 0;
  for (int j = 0; j < 1001; ++j) sum += std::exp(in_scale * (double(x[size_t(j)]) - 255));
  for (int j = 0; j < 1001; ++j) {
    const double prob = std::exp(in_scale * (double(x[size_t(j)]) - 255)) / sum;
    EXPECT_LE(std::fabs(double(y[size_t(j)]) - std::min(255.0, prob * 256)), 1.0) << j;
  }

  // MEAN: 49 pixels, requantized from scale 0.02 (zero point 100) to 0.01 (zero point 30).
  QNodeParams m;
  m.zp_out = 30;
  m.mean_scale = 0.02f / 0.01f;
  m.mean_bias = -float(100 - 128) * m.mean_scale;
  std::vector<uint8_t> img(49 * 3);
  for (auto& e : img) e = uint8_t(v(rng) / 2 + 64);
  uint8_t out[3];
  qmean_image(m, img.data(), out, 49, 3);
  for (int c = 0; c < 3; ++c) {
    double s = 0;
    for (int k = 0; k < 49; ++k) s += 0.02 * (img[size_t(k * 3 + c)] - 100);
    const double want = std::clamp(std::round(s / 49 / 0.01) + 30, 0.0, 255.0);
    EXPECT_LE(std::fabs(out[c] - want), 1.0) << c;
  }
}

// Found by fuzz_tflite (UBSan): degenerate scales made float -> int conversions
// undefined; on x86 they produced INT_MIN, i.e. wrong clamps and zero probabilities.
TEST(Int8Semantics, DegenerateScalesSaturateInsteadOfOverflowing) {
  int32_t lo, hi;
  q::activation_range(Activation::Relu6, 1e-38f, 3, &lo, &hi);  // 6 / 1e-38 overflows int
  EXPECT_EQ(lo, 3);
  EXPECT_EQ(hi, 255);
  q::activation_range(Activation::Relu6, 0.f, 3, &lo, &hi);  // 0 / 0 is NaN
  EXPECT_LE(lo, hi);

  QNodeParams p;
  for (int d = 0; d < 256; ++d) p.softmax_table[d] = std::exp(-0.1f * float(d));
  p.out_scale = 1e-38f;  // probabilities of 1e37 levels and more
  std::vector<uint8_t> x = {200, 10, 255}, y(3);
  qsoftmax_row(p, x.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<uint8_t>{255, 255, 255}));

  QNodeParams m;
  m.mean_scale = std::nanf("");
  std::vector<uint8_t> img(4, 9);
  uint8_t out = 77;
  qmean_image(m, img.data(), &out, 4, 1);
  EXPECT_EQ(out, 0);  // NaN saturates to the bottom of the range
}

// Inputs of the input-quantization tests (scale 0.25, zero point 100): ties at +-0.5 and
// +-1.5 levels first, near-ties, out of range, NaN, then 5000 uniform values.
std::vector<float> input_quantization_cases() {
  std::vector<float> x = {0.f, 0.125f, -0.125f, 0.375f, -0.375f, 0.1249f, -0.1251f, 1e30f,
                          -1e30f, std::nanf(""), 31.f, -25.f, -26.f, 38.75f};
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-40.f, 40.f);
  for (int i = 0; i < 5000; ++i) x.push_back(u(rng));
  return x;
}

TEST(Int8Semantics, InputQuantizationRoundsHalfAwayAndClamps) {
  const QuantParams q{0.25f, 100};
  const std::vector<float> x = input_quantization_cases();
  std::vector<uint8_t> out(x.size());
  quantize_input(q, x.data(), out.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const float v = x[i] / q.scale;  // TFLite: round(x / scale) + zero point, clamped
    const double want = std::isnan(v) ? 0.0 : std::clamp(double(std::round(v)) + 100, 0.0, 255.0);
    EXPECT_EQ(double(out[i]), want) << x[i];
  }
}

// XNNPACK's QUANTIZE, what Int8Rounding::Xnnpack runs: x times the float reciprocal of the
// scale, rounded to nearest with ties to even, plus the zero point, clamped.
TEST(Int8Semantics, XnnpackInputQuantizationRoundsHalfEvenAndClamps) {
  const QuantParams q{0.25f, 100};
  const std::vector<float> x = input_quantization_cases();
  std::vector<uint8_t> out(x.size()), away(x.size());
  quantize_input_xnn(q, x.data(), out.data(), int64_t(x.size()));
  quantize_input(q, x.data(), away.data(), int64_t(x.size()));
  const float inv = 1.0f / q.scale;
  for (size_t i = 0; i < x.size(); ++i) {
    const float v = x[i] * inv;
    const double want =
        std::isnan(v) ? 0.0 : std::clamp(double(std::nearbyint(v)) + 100, 0.0, 255.0);
    EXPECT_EQ(double(out[i]), want) << x[i];
  }
  // Ties: 0.5 -> 0 and 1.5 -> 2 (even), where TFLite's rounding gives 1 and 2; -0.5 -> 0.
  EXPECT_EQ(out[1], 100);
  EXPECT_EQ(away[1], 101);
  EXPECT_EQ(out[2], 100);
  EXPECT_EQ(away[2], 99);
  EXPECT_EQ(out[3], 102);
  EXPECT_EQ(out[4], 98);
}

TEST(Int8Semantics, PrecisionSelection) {
  Options o;
  o.threads = 1;
  Model f = Model::synthetic(0.35f, 96, 10, 1, o);  // a float model: Auto -> Fp32
  EXPECT_EQ(f.precision(), Precision::Fp32);
  o.precision = Precision::Int8;
  try {
    Model::synthetic(0.35f, 96, 10, 1, o);
    FAIL() << "int8 on a float model must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int8 precision needs a quantized model"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(build_mobilenet_v2(0.35f, 96, 10, 1).quantized());
}

// The fast int8 executor in both rounding modes (Options::int8_rounding) equals the integer
// reference in the matching QRequantMode exactly, on a synthetic MobileNetV2 quantized by
// mnv2's own quantizer (per-channel convolutions, im2col first conv, 3x3 depthwise with
// strides 1 and 2, residual ADDs, average pool, per-tensor FC, softmax): every ISA this CPU
// runs natively and the emulated AVX-512 / VNNI tables (test_util.h: IsaVariant), 1 and 2
// threads, batch 1 and 3; probabilities, logits and pooled features.
class Int8SemanticsEngines : public ::testing::TestWithParam<test::IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

TEST_P(Int8SemanticsEngines, FastExecutorEqualsReferenceInBothRoundingModes) {
  const test::IsaVariant& variant = GetParam();
  test::IsaScope scope(variant);
  const Graph g0 = build_mobilenet_v2(0.35f, 96, 1001, 5);
  quant::GraphObserver obs(g0);
  const size_t per = size_t(96) * 96 * 3;
  for (uint32_t i = 0; i < 3; ++i) {
    const std::vector<float> x = test::random_input(per, 40 + i);
    obs.observe(x.data(), 1);
  }
  Graph g = g0;
  quant::quantize_graph(g, obs.stats(), {});
  ASSERT_TRUE(g.quantized());
  const int classes = g.node(g.output).shape.c, fdim = g.node(g.features).shape.c;

  constexpr int kImages = 3;
  std::vector<float> x;
  for (uint32_t i = 0; i < kImages; ++i) {
    const std::vector<float> v = test::random_input(per, 90 + i);
    x.insert(x.end(), v.begin(), v.end());
  }
  std::vector<uint8_t> xq(x.size());
  for (QRequantMode mode : {QRequantMode::Tflite, QRequantMode::Xnnpack}) {
    const char* mname = mode == QRequantMode::Xnnpack ? "xnnpack" : "tflite";
    // Each mode quantizes the float input its own way (TFLite's or XNNPACK's QUANTIZE).
    quantize_input(mode, g.node(g.input).out_q, x.data(), xq.data(), int64_t(x.size()));
    const QReferenceResult ref = qreference_run(g, xq.data(), kImages, {g.logits, g.features}, mode);
    int runs = 0;
    for (const test::EngineCase& e : test::engine_cases(variant)) {
      const Isa isa = e.isa;
      const int threads = e.threads, batch = e.batch;
      const std::unique_ptr<Executor> ex = make_int8_executor(
          g, {threads, isa, batch,
              mode == QRequantMode::Xnnpack ? Int8Rounding::Xnnpack : Int8Rounding::Tflite});
      const int first = batch == 1 ? runs % kImages : 0;
      std::vector<float> probs(size_t(batch) * classes), logits(probs.size()),
          feats(size_t(batch) * fdim);
      ex->run(x.data() + size_t(first) * per, batch, probs.data(), logits.data(),
              feats.data());
      int bad = 0;
      auto cmp = [&](const std::vector<float>& got, int id, const std::vector<uint8_t>& want,
                     int width) {
        const QuantParams q = g.node(id).out_q;
        for (int b = 0; b < batch; ++b)
          for (int k = 0; k < width; ++k)
            bad += got[size_t(b) * width + k] !=
                   dequantize(q, want[size_t(first + b) * width + k]);
      };
      cmp(probs, g.output, ref.output, classes);
      cmp(logits, g.logits, ref.kept.at(g.logits), classes);
      cmp(feats, g.features, ref.kept.at(g.features), fdim);
      EXPECT_EQ(bad, 0) << mname << " " << variant.name() << " threads " << threads
                        << " batch " << batch;
      ++runs;
    }
    EXPECT_GE(runs, 4) << mname;
  }
  // The two modes really differ somewhere on this model (otherwise the test proves little),
  // from the same quantized input.
  quantize_input(g.node(g.input).out_q, x.data(), xq.data(), int64_t(x.size()));
  const QReferenceResult t =
      qreference_run(g, xq.data(), kImages, {g.logits}, QRequantMode::Tflite);
  const QReferenceResult xr =
      qreference_run(g, xq.data(), kImages, {g.logits}, QRequantMode::Xnnpack);
  EXPECT_NE(t.kept.at(g.logits), xr.kept.at(g.logits));
}

// Public API: Options::int8_rounding reaches the executor; the names are stable.
TEST(Int8Semantics, Int8RoundingOption) {
  EXPECT_STREQ(int8_rounding_name(Int8Rounding::Tflite), "tflite");
  EXPECT_STREQ(int8_rounding_name(Int8Rounding::Xnnpack), "xnnpack");
  Options o;
  // The default is what TFLite CPU builds run (XNNPACK delegate): equal to TFLite-wasm.
  EXPECT_EQ(o.int8_rounding, Int8Rounding::Xnnpack);
  o.threads = 1;
  o.int8_rounding = Int8Rounding::Tflite;
  Model f = Model::synthetic(0.35f, 96, 10, 1, o);  // fp32: the option is ignored
  EXPECT_EQ(f.precision(), Precision::Fp32);
  EXPECT_EQ(f.int8_rounding(), Int8Rounding::Tflite);
}

INSTANTIATE_TEST_SUITE_P(Isas, Int8SemanticsEngines, ::testing::ValuesIn(test::int8_variants()),
                         test::VariantName());

}  // namespace
}  // namespace mnv2
