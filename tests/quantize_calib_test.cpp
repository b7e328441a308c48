// Calibration statistics and the graph quantizer (src/quant/).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "formats/loader.h"
#include "formats/writer.h"
#include "graph/mobilenet_v2.h"
#include "quant/calibration.h"
#include "quant/quantize.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using quant::TensorStats;

TEST(QuantizeCalib, StatsTrackExactExtremesAndGrowExactly) {
  // Values arrive in growing magnitude, so the histogram range doubles several times; the
  // bin counts must still add up and the extremes be exact.
  TensorStats s;
  std::vector<double> a{0.001, -0.002, 0.0005};
  std::vector<double> b{3.0, -7.5, 0.25};
  std::vector<double> c{100.0, 0.0};
  s.add(a.data(), a.size());
  s.add(b.data(), b.size());
  s.add(c.data(), c.size());
  EXPECT_EQ(s.min(), -7.5);
  EXPECT_EQ(s.max(), 100.0);
  EXPECT_EQ(s.count(), 8);
  int64_t total = 0;
  for (int64_t v : s.pos()) total += v;
  for (int64_t v : s.neg()) total += v;
  EXPECT_EQ(s.zeros(), 1);  // exact zeros are counted apart from the histogram
  EXPECT_EQ(total + s.zeros(), 8);
  EXPECT_GT(s.range(), 100.0);
  EXPECT_LT(s.range(), 400.0);
  // The same values in another order give the same histogram, bin for bin.
  TensorStats r;
  r.add(c.data(), c.size());
  r.add(a.data(), a.size());
  r.add(b.data(), b.size());
  EXPECT_EQ(r.range(), s.range());
  EXPECT_EQ(r.pos(), s.pos());
  EXPECT_EQ(r.neg(), s.neg());
  EXPECT_EQ(r.range(), 128.0);  // powers of two: the smallest above 100
  // Negative values are counted in the negative histogram only.
  int64_t neg = 0;
  for (int64_t v : s.neg()) neg += v;
  EXPECT_EQ(neg, 2);
}

TEST(QuantizeCalib, PercentileOfUniformData) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 3.0);
  std::vector<double> x(200000);
  for (double& v : x) v = u(rng);
  TensorStats s;
  s.add(x.data(), x.size());
  // Quantiles of U(-1, 3): q(f) = -1 + 4 f, to within a couple of bins (range / 2048).
  const double tol = 3 * s.range() / TensorStats::kBins + 0.01;
  for (double f : {0.01, 0.25, 0.5, 0.9, 0.999})
    EXPECT_NEAR(quant::stats_quantile(s, f), -1.0 + 4.0 * f, tol) << f;
  quant::CalibrationSettings c;
  c.method = quant::CalibrationMethod::Percentile;
  c.percentile = 99.0;
  const quant::Range r = quant::calibrated_range(s, c);
  EXPECT_NEAR(r.lo, -1.0 + 0.04, tol);
  EXPECT_NEAR(r.hi, 3.0 - 0.04, tol);
  c.method = quant::CalibrationMethod::MinMax;
  const quant::Range m = quant::calibrated_range(s, c);
  EXPECT_EQ(m.lo, s.min());
  EXPECT_EQ(m.hi, s.max());
}

TEST(QuantizeCalib, EntropyClipsRareOutliersButNotDenseData) {
  std::mt19937 rng(3);
  std::normal_distribution<double> n(0.0, 1.0);
  std::vector<double> x(200000);
  for (double& v : x) v = std::fabs(n(rng));  // half-normal, like a ReLU output
  x[0] = 40.0;  // a handful of far outliers
  x[1] = 35.0;
  TensorStats s;
  s.add(x.data(), x.size());
  quant::CalibrationSettings c;
  c.method = quant::CalibrationMethod::Entropy;
  const quant::Range r = quant::calibrated_range(s, c);
  EXPECT_EQ(r.lo, 0.0);
  // The threshold lands in the bulk's tail (a few sigma), far below the outliers.
  EXPECT_GT(r.hi, 2.5);
  EXPECT_LT(r.hi, 10.0);
  // Uniform data has no tail worth clipping: the threshold stays near the maximum.
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (double& v : x) v = u(rng);
  TensorStats s2;
  s2.add(x.data(), x.size());
  const quant::Range r2 = quant::calibrated_range(s2, c);
  EXPECT_GT(r2.hi, 0.9);
  EXPECT_LE(r2.hi, 1.0);
}

TEST(QuantizeCalib, ParamsForRangeIncludeZeroExactly) {
  const QuantParams a = quant::params_for_range(-1.0, 127.0 / 128.0);
  EXPECT_FLOAT_EQ(a.scale, 1.f / 128.f);
  EXPECT_EQ(a.zero_point, 128);  // int8 zero point 0
  const QuantParams b = quant::params_for_range(0.5, 6.0);  // widened to [0, 6]
  EXPECT_FLOAT_EQ(b.scale, 6.f / 255.f);
  EXPECT_EQ(b.zero_point, 0);  // int8 -128
  const QuantParams c = quant::params_for_range(-4.0, -1.0);  // widened to [-4, 0]
  EXPECT_EQ(c.zero_point, 255);
  const QuantParams z = quant::params_for_range(0.0, 0.0);
  EXPECT_GT(z.scale, 0.f);
  // Real zero is exactly representable: scale * (q - zp) == 0 for q == zp, and the grid
  // covers the requested range to within half a step.
  const QuantParams d = quant::params_for_range(-0.37, 2.9);
  EXPECT_LE(d.scale * (0 - d.zero_point), -0.37 + d.scale);
  EXPECT_GE(d.scale * (255 - d.zero_point), 2.9 - d.scale);
}

// Calibrates a small synthetic MobileNetV2 on random inputs and checks the integer view.
TEST(QuantizeCalib, SyntheticGraphGetsAValidIntegerView) {
  const Graph g0 = build_mobilenet_v2(0.35f, 96, 1001, 5);
  Graph g = g0;
  quant::GraphObserver obs(g0);
  const size_t per = size_t(96) * 96 * 3;
  for (uint32_t i = 0; i < 3; ++i) {
    const std::vector<float> x = test::random_input(per, 40 + i);
    obs.observe(x.data(), 1);
  }
  EXPECT_EQ(obs.images(), 3);
  for (auto method : {quant::CalibrationMethod::MinMax, quant::CalibrationMethod::Percentile,
                      quant::CalibrationMethod::Entropy}) {
    Graph q = g0;
    quant::QuantizeSettings qs;
    qs.calibration.method = method;
    const quant::QuantizeReport rep = quant::quantize_graph(q, obs.stats(), qs);
    ASSERT_TRUE(q.quantized()) << quant::calibration_method_name(method);
    EXPECT_TRUE(q.info.quantized);
    const std::vector<std::string> bad = quant::check_int8_constraints(q);
    EXPECT_TRUE(bad.empty()) << bad.front();
    ASSERT_EQ(rep.layers.size(), q.nodes.size());
    for (const Node& n : q.nodes) {
      if (n.weights.empty()) continue;
      // Per-channel symmetric: each channel's largest weight maps to +-127.
      const bool dw = n.op == OpType::DepthwiseConv2D;
      const int ch = int(n.qweight_scales.size());
      ASSERT_EQ(ch, n.shape.c) << n.name;
      std::vector<int> peak(size_t(ch), 0);
      const size_t inner = n.weights.size() / size_t(ch);
      for (size_t i = 0; i < n.qweights.size(); ++i) {
        const size_t c = dw ? i % size_t(ch) : i / inner;
        peak[c] = std::max(peak[c], std::abs(int(n.qweights[i])));
        // The float weights are the dequantized integers.
        EXPECT_EQ(n.weights[i], float(double(n.qweights[i]) * double(n.qweight_scales[c])));
      }
      for (int c = 0; c < ch; ++c) EXPECT_EQ(peak[size_t(c)], 127) << n.name << " channel " << c;
      // Dequantized weights stay within half a step of the originals.
      const Node& o = g0.nodes[size_t(&n - q.nodes.data())];
      for (size_t i = 0; i < n.weights.size(); ++i) {
        const size_t c = dw ? i % size_t(ch) : i / inner;
        ASSERT_LE(std::fabs(n.weights[i] - o.weights[i]), 0.5001 * n.qweight_scales[c]) << n.name;
      }
    }
    // Minmax never clips what it saw; the grid covers the observed range.
    if (method == quant::CalibrationMethod::MinMax)
      for (const auto& l : rep.layers) {
        const Node& n = q.node(l.id);
        if (l.rule != quant::RangeRule::Calibrated) continue;
        EXPECT_LE(l.lo, l.seen_min + n.out_q.scale) << n.name;
        EXPECT_GE(l.hi, l.seen_max - n.out_q.scale) << n.name;
      }
  }
  (void)g;
}

TEST(QuantizeCalib, InputUsesThePixelGridOfItsPreprocessing) {
  Graph g = build_mobilenet_v2(0.35f, 96, 1001, 5);
  g.info.mean = 128.f;  // (p - 128) / 128, as the Coral model's input
  g.info.scale = 128.f;
  quant::GraphObserver obs(g);
  const std::vector<float> x = test::random_input(size_t(96) * 96 * 3, 9);
  obs.observe(x.data(), 1);
  Graph q = g;
  quant::quantize_graph(q, obs.stats(), {});
  EXPECT_FLOAT_EQ(q.node(q.input).out_q.scale, 1.f / 128.f);
  EXPECT_EQ(q.node(q.input).out_q.zero_point, 128);
  quant::QuantizeSettings qs;
  qs.input_from_preprocessing = false;
  Graph c = g;
  quant::quantize_graph(c, obs.stats(), qs);
  // Calibrated instead: random inputs lie in [-1, 1].
  EXPECT_NEAR(c.node(c.input).out_q.scale, 2.0 / 255.0, 0.01);
}

TEST(QuantizeCalib, RefusesWhatItCannotQuantize) {
  Graph g = build_mobilenet_v2(0.35f, 96, 1001, 5);
  quant::GraphObserver obs(g);
  std::vector<quant::TensorStats> none(g.nodes.size());
  Graph q = g;
  try {
    quant::quantize_graph(q, none, {});
    FAIL() << "quantized without calibration data";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no calibration data"), std::string::npos) << e.what();
  }
  std::vector<quant::TensorStats> wrong(3);
  EXPECT_THROW(quant::quantize_graph(q, wrong, {}), Error);
  EXPECT_THROW(quant::parse_calibration_method("kl"), Error);
}

}  // namespace
}  // namespace mnv2

namespace mnv2 {
namespace {

// An OpenVINO IR as the Open Model Zoo ships it (BGR raw pixels, mean/scale in the graph)
// is folded back to a graph taking normalised input, with identical outputs.
TEST(QuantizeCalib, FoldsInGraphInputNormalisation) {
  const Graph g0 = build_mobilenet_v2(0.35f, 96, 1001, 5);
  const std::string dir = std::filesystem::path(test::cli_path()).parent_path().string() +
                          "/quantize_test_tmp/fold_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  save_graph(g0, dir + "/m.xml");
  const Graph ir = load_graph(dir + "/m.xml");
  ASSERT_TRUE(ir.info.normalization_in_graph);
  Graph f = ir;
  ASSERT_TRUE(quant::fold_input_normalization(f));
  EXPECT_FALSE(f.info.normalization_in_graph);
  EXPECT_EQ(f.nodes.size() + 1, ir.nodes.size());
  EXPECT_NEAR(f.info.mean, 127.5, 1e-4);
  EXPECT_NEAR(f.info.scale, 127.5, 1e-4);
  EXPECT_EQ(f.info.channel_order, ir.info.channel_order);
  EXPECT_EQ(f.node(f.output).op, OpType::Softmax);
  EXPECT_EQ(f.node(f.logits).op, ir.node(ir.logits).op);
  // Raw pixels into the IR graph == normalised pixels into the folded one.
  std::vector<float> raw = test::random_input(size_t(96) * 96 * 3, 77), norm(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    raw[i] = std::round((raw[i] + 1.f) * 127.5f);
    norm[i] = (raw[i] - f.info.mean) / f.info.scale;
  }
  const ReferenceResult a = reference_run(ir, raw.data(), 1);
  const ReferenceResult b = reference_run(f, norm.data(), 1);
  ASSERT_EQ(a.output.size(), b.output.size());
  for (size_t k = 0; k < a.output.size(); ++k) ASSERT_NEAR(a.output[k], b.output[k], 1e-6);
  Graph plain = g0;
  EXPECT_FALSE(quant::fold_input_normalization(plain));
  // Per-channel normalisation cannot become one input scale.
  Graph pc = ir;
  for (Node& n : pc.nodes)
    if (n.op == OpType::ChannelAffine) n.weights[1] *= 2.f;
  EXPECT_THROW(quant::fold_input_normalization(pc), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mnv2
