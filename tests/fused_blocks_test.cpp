// Banded (fused) expand -> depthwise -> project chains against the same graph run layer by
// layer and against the double-precision reference. MNV2_BAND_BYTES forces tiny bands, so
// small graphs go through many bands: band windows that slide, strides 1 and 2, odd sizes,
// lopsided pads, 5x5 and multiplier-2 depthwise layers, an im2col producer, a fused
// residual, split and pooled threads, batch 1 and 3.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/cpu.h"
#include "runtime/executor.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using test::ScopedEnv;

struct Chain {
  int h, w, cin, cexp, k, stride, pt, pb, pl, pr, mult, cout;
  bool rgb_producer;  // producer is a 3x3/2 convolution (im2col) instead of a 1x1
  bool residual;      // add the block input to the projection (needs equal shapes)
};

Graph build(const Chain& c) {
  Graph g;
  g.info.height = c.h;
  g.info.width = c.w;
  g.info.channels = c.cin;
  uint32_t seed = 50;
  auto weights = [&](size_t n, double fan_in) {
    auto v = test::random_input(n, seed++);
    for (auto& x : v) x *= float(1.7 / std::sqrt(fan_in));
    return v;
  };
  Node in;
  in.name = "input";
  in.op = OpType::Input;
  const int x = g.input = g.add(in);
  Node e;
  e.name = "expand";
  e.op = OpType::Conv2D;
  e.inputs = {x};
  e.out_channels = c.cexp;
  e.activation = Activation::Relu6;
  if (c.rgb_producer) {
    e.kernel_h = e.kernel_w = 3;
    e.stride_h = e.stride_w = 2;
    e.pad_top = e.pad_left = 0;
    e.pad_bottom = e.pad_right = 1;
  }
  e.weights = weights(size_t(c.cexp) * e.kernel_h * e.kernel_w * c.cin,
                      double(e.kernel_h * e.kernel_w * c.cin));
  e.bias = test::random_input(size_t(c.cexp), seed++);
  const int ei = g.add(e);
  Node d;
  d.name = "depthwise";
  d.op = OpType::DepthwiseConv2D;
  d.inputs = {ei};
  d.kernel_h = d.kernel_w = c.k;
  d.stride_h = d.stride_w = c.stride;
  d.pad_top = c.pt;
  d.pad_bottom = c.pb;
  d.pad_left = c.pl;
  d.pad_right = c.pr;
  d.depth_multiplier = c.mult;
  d.activation = Activation::Relu6;
  d.weights = weights(size_t(c.k) * c.k * c.cexp * c.mult, double(c.k * c.k));
  d.bias = test::random_input(size_t(c.cexp) * c.mult, seed++);
  const int di = g.add(d);
  Node p;
  p.name = "project";
  p.op = OpType::Conv2D;
  p.inputs = {di};
  p.out_channels = c.cout;
  p.weights = weights(size_t(c.cout) * c.cexp * c.mult, double(c.cexp * c.mult));
  p.bias = test::random_input(size_t(c.cout), seed++);
  int out = g.add(p);
  if (c.residual) {
    Node a;
    a.name = "add";
    a.op = OpType::Add;
    a.inputs = {out, x};
    out = g.add(a);
  }
  g.output = out;
  g.finalize();
  return g;
}

class FusedBlocks : public ::testing::TestWithParam<test::IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

TEST_P(FusedBlocks, TinyBandsEqualLayerByLayerBitsAndMatchReference) {
  const test::IsaVariant& v = GetParam();
  test::IsaScope scope(v);
  const Chain chains[] = {
      {13, 11, 5, 24, 3, 1, 1, 1, 1, 1, 1, 5, false, true},    // stride 1, residual
      {13, 11, 5, 24, 3, 2, 0, 1, 1, 1, 1, 9, false, false},   // stride 2, odd height
      {12, 9, 7, 17, 3, 2, 1, 0, 0, 1, 1, 8, false, false},    // lopsided pads
      {11, 10, 6, 16, 5, 2, 2, 2, 1, 2, 1, 7, false, false},   // 5x5: generic depthwise
      {10, 9, 4, 12, 3, 1, 1, 1, 1, 1, 2, 6, false, false},    // multiplier 2
      {25, 19, 3, 16, 3, 1, 1, 1, 1, 1, 1, 8, true, false},    // im2col producer
      {40, 6, 8, 48, 3, 2, 0, 1, 0, 1, 1, 16, false, false},   // many bands
  };
  for (const Chain& c : chains) {
    const Graph g = build(c);
    SCOPED_TRACE("chain " + std::to_string(c.h) + "x" + std::to_string(c.w) + " k" +
                 std::to_string(c.k) + " s" + std::to_string(c.stride) + " mult " +
                 std::to_string(c.mult));
    const size_t per_in = size_t(c.h) * c.w * c.cin;
    const size_t per_out = size_t(g.node(g.output).shape.per_image());
    const auto x = test::random_input(per_in * 3, 9);
    const ReferenceResult ref = reference_run(g, x.data(), 3);
    {
      const Isa isa = v.isa;
      for (int threads : {1, 2, 3}) {
        for (int batch : {3, 1}) {
          SCOPED_TRACE(v.name() + " threads " + std::to_string(threads) +
                       " batch " + std::to_string(batch));
          std::vector<float> whole(per_out * size_t(batch));
          {
            ScopedEnv env("MNV2_BAND_BYTES", "0");  // layer by layer
            Executor::create(g, {threads, isa, 3})
                ->run(x.data(), batch, whole.data(), nullptr, nullptr);
          }
          double scale = 1e-3, err = 0;
          for (size_t i = 0; i < whole.size(); ++i)
            scale = std::max(scale, std::fabs(ref.output[i]));
          for (size_t i = 0; i < whole.size(); ++i)
            err = std::max(err, std::fabs(double(whole[i]) - ref.output[i]));
          EXPECT_LE(err / scale, 2e-6);
          for (const char* band : {"1", "3000", "20000"}) {
            ScopedEnv env("MNV2_BAND_BYTES", band);  // 1 byte: two depthwise rows per band
            // Chains split by rows over the threads (each thread its own window, shared
            // producer rows computed twice) and chains whose bands all threads share.
            for (const char* split : {"1", "100000"}) {
              ScopedEnv split_env("MNV2_SPLIT_MIN_ROWS", split);
              std::vector<float> banded(whole.size(), -1.f);
              Executor::create(g, {threads, isa, 3})
                  ->run(x.data(), batch, banded.data(), nullptr, nullptr);
              EXPECT_EQ(0,
                        std::memcmp(banded.data(), whole.data(), whole.size() * sizeof(float)))
                  << "band bytes " << band << ", split from " << split << " rows";
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, FusedBlocks, ::testing::ValuesIn(test::fp32_variants()),
                         test::VariantName());

}  // namespace
}  // namespace mnv2
