#include <gtest/gtest.h>

#include <cmath>

#include "graph/graph.h"
#include "graph/mobilenet_v2.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

TEST(MakeDivisible, MatchesTfSlimRule) {
  EXPECT_EQ(make_divisible(32 * 1.4), 48);
  EXPECT_EQ(make_divisible(16 * 1.4), 24);
  EXPECT_EQ(make_divisible(320 * 1.4), 448);
  EXPECT_EQ(make_divisible(1280 * 1.4), 1792);
  EXPECT_EQ(make_divisible(32 * 0.35), 16);  // 8 would be < 90 % of 11.2
  EXPECT_EQ(make_divisible(3.0), 8);         // minimum
  EXPECT_EQ(make_divisible(88 * 6.0), 528);
}

TEST(SamePadding, AsymmetricAtStrideTwo) {
  int out, before, after;
  same_padding(224, 3, 2, &out, &before, &after);
  EXPECT_EQ(out, 112);
  EXPECT_EQ(before, 0);
  EXPECT_EQ(after, 1);
  same_padding(161, 3, 2, &out, &before, &after);
  EXPECT_EQ(out, 81);
  EXPECT_EQ(before, 1);
  EXPECT_EQ(after, 1);
  same_padding(56, 3, 1, &out, &before, &after);
  EXPECT_EQ(out, 56);
  EXPECT_EQ(before, 1);
  EXPECT_EQ(after, 1);
}

TEST(MobileNetV2, Totals14_224MatchTheModelCard) {
  Graph g = build_mobilenet_v2(1.4f, 224);
  EXPECT_EQ(g.total_params(), 6086601);
  EXPECT_EQ(g.total_macs(), 582197616);
  EXPECT_EQ(g.info.feature_dim, 1792);
  EXPECT_EQ(g.info.num_classes, 1001);
  EXPECT_EQ(g.node(g.output).shape, (Shape{1, 1, 1, 1001}));
}

TEST(MobileNetV2, Totals10_224MatchTheTfliteModel) {
  Graph g = build_mobilenet_v2(1.0f, 224);
  EXPECT_EQ(g.total_params(), 3489097);  // OMZ mobilenet-v2-1.0-224: 3.489 MParams
  EXPECT_EQ(g.info.feature_dim, 1280);
}

TEST(MobileNetV2, ChannelTable14) {
  Graph g = build_mobilenet_v2(1.4f, 224);
  auto find = [&](const std::string& name) -> const Node& {
    for (const Node& n : g.nodes)
      if (n.name == name) return n;
    throw std::runtime_error("missing " + name);
  };
  EXPECT_EQ(find("MobilenetV2/Conv").shape, (Shape{1, 112, 112, 48}));
  EXPECT_EQ(find("MobilenetV2/Conv").pad_top, 0);
  EXPECT_EQ(find("MobilenetV2/Conv").pad_bottom, 1);
  EXPECT_EQ(find("MobilenetV2/expanded_conv/project").shape.c, 24);
  EXPECT_EQ(find("MobilenetV2/expanded_conv_1/expand").shape.c, 144);
  EXPECT_EQ(find("MobilenetV2/expanded_conv_1/depthwise").shape, (Shape{1, 56, 56, 144}));
  EXPECT_EQ(find("MobilenetV2/expanded_conv_6/project").shape, (Shape{1, 14, 14, 88}));
  EXPECT_EQ(find("MobilenetV2/expanded_conv_13/depthwise").shape, (Shape{1, 7, 7, 816}));
  EXPECT_EQ(find("MobilenetV2/expanded_conv_16/project").shape.c, 448);
  EXPECT_EQ(find("MobilenetV2/Conv_1").shape, (Shape{1, 7, 7, 1792}));
  int adds = 0;
  for (const Node& n : g.nodes) adds += n.op == OpType::Add;
  EXPECT_EQ(adds, 10);
}

TEST(MobileNetV2, DeterministicBySeed) {
  Graph a = build_mobilenet_v2(0.5f, 96, 1001, 7), b = build_mobilenet_v2(0.5f, 96, 1001, 7),
        c = build_mobilenet_v2(0.5f, 96, 1001, 8);
  EXPECT_EQ(a.nodes[1].weights, b.nodes[1].weights);
  EXPECT_NE(a.nodes[1].weights, c.nodes[1].weights);
}

TEST(MobileNetV2, RejectsAbsurdArguments) {
  EXPECT_THROW(build_mobilenet_v2(0.f, 224), Error);
  EXPECT_THROW(build_mobilenet_v2(1.f, 8), Error);
  EXPECT_THROW(build_mobilenet_v2(1.f, 224, 0), Error);
}

// The synthetic weights must keep activations in a natural range: nothing explodes or
// vanishes, and ReLU6 really clips part of its inputs (otherwise a kernel that ignored the
// upper clamp would still pass the tests).
TEST(MobileNetV2, ActivationsAreRealistic) {
  Graph g = build_mobilenet_v2(1.0f, 128);
  std::vector<int> keep;
  for (int id = 0; id < int(g.nodes.size()); ++id) keep.push_back(id);
  auto input = test::random_input(size_t(128) * 128 * 3, 1);
  ReferenceResult r = reference_run(g, input.data(), 1, keep);
  int64_t relu6_values = 0, clipped = 0;
  for (int id = 0; id < int(g.nodes.size()); ++id) {
    const Node& n = g.nodes[size_t(id)];
    const auto& v = r.kept[id];
    double sq = 0;
    for (double x : v) sq += x * x;
    const double rms = std::sqrt(sq / double(v.size()));
    if (n.op != OpType::Softmax) {
      EXPECT_GT(rms, 0.05) << n.name;
      EXPECT_LT(rms, 50.0) << n.name;
    }
    if (n.activation == Activation::Relu6) {
      relu6_values += int64_t(v.size());
      for (double x : v) clipped += x == 6.0;
    }
  }
  const double frac = double(clipped) / double(relu6_values);
  EXPECT_GT(frac, 0.005);
  EXPECT_LT(frac, 0.25);
  // The output is a proper distribution and not uniform.
  double sum = 0, top = 0;
  for (double p : r.output) sum += p, top = std::max(top, p);
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_GT(top, 5.0 / 1001);
}

TEST(Graph, ShapeErrorsNameTheNode) {
  Graph g = build_mobilenet_v2(0.35f, 96);
  g.nodes[3].weights.pop_back();
  try {
    g.infer_shapes(1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(g.nodes[3].name), std::string::npos) << e.what();
  }
  Graph h = build_mobilenet_v2(0.35f, 96);
  h.nodes[2].inputs = {5};  // forward reference = cycle
  EXPECT_THROW(h.infer_shapes(1), Error);
}

}  // namespace
}  // namespace mnv2
