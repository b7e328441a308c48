// Each kernel against the scalar twin or a double reference, on odd channel counts and
// edge spatial sizes, for every ISA this CPU has; and single-op graphs through the whole
// executor (packing, tiling, padding, fusion) against the reference executor.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "runtime/cpu.h"
#include "runtime/executor.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using test::IsaVariant;

// Each kernel test runs once per ISA variant (test_util.h): scalar, AVX2, native AVX-512
// and the AVX-512 sources built against SIMDe; a variant this machine cannot run skips.
class Kernels : public ::testing::TestWithParam<IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

std::vector<float> rnd(size_t n, uint32_t seed) { return test::random_input(n, seed); }

double max_rel(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 1e-3, err = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::fabs(double(got[i]) - want[i]));
  return err / scale;
}

// ---- kernel level -----------------------------------------------------------------------

TEST_P(Kernels, GemmTilesMatchDoubleOnEveryRowAndColumnCount) {
  const IsaVariant& v = GetParam();
  {
    const kernels::KernelTable& kt = v.table();
    const int nr = kt.gemm.nr;
    for (int k : {1, 7, 17, 33}) {
      for (int mr = 1; mr <= kt.gemm.mr; ++mr) {
        for (int ncols : {1, 7, nr / 2, nr / 2 + 1, nr - 1, nr}) {
          if (ncols < 1 || ncols > nr) continue;
          for (int act = 0; act < 3; ++act) {
            for (bool with_res : {false, true}) {
              const int64_t lda = k + 3, ldc = nr + 5;
              auto a = rnd(size_t(mr * lda), 11);
              auto b = rnd(size_t(k * nr), 12);
              auto bias = rnd(size_t(nr), 13);
              auto res = rnd(size_t(mr * ldc), 14);
              for (auto& v : a) v *= 4.f;  // let ReLU6 clip sometimes
              std::vector<float> c(size_t(mr * ldc), -123.f);
              kernels::GemmTile t;
              t.mr = mr;
              t.nr = ncols;
              t.k = k;
              t.a = a.data();
              t.lda = lda;
              t.b = b.data();
              t.bias = bias.data();
              t.residual = with_res ? res.data() : nullptr;
              t.ldr = ldc;
              t.c = c.data();
              t.ldc = ldc;
              t.act = Activation(act);
              kt.gemm.tile(t);
              for (int m = 0; m < mr; ++m)
                for (int n = 0; n < ldc; ++n) {
                  const float got = c[size_t(m * ldc + n)];
                  if (n >= ncols) {
                    ASSERT_EQ(got, -123.f) << "wrote past the tile " << v.name();
                    continue;
                  }
                  double s = bias[size_t(n)];
                  for (int i = 0; i < k; ++i)
                    s += double(a[size_t(m * lda + i)]) * double(b[size_t(i * nr + n)]);
                  if (act == 1) s = std::max(0.0, s);
                  if (act == 2) s = std::min(6.0, std::max(0.0, s));
                  if (with_res) s += res[size_t(m * ldc + n)];
                  ASSERT_NEAR(got, s, 1e-5 * (1 + std::fabs(s)))
                      << v.name() << " k " << k << " mr " << mr << " nr " << ncols;
                }
            }
          }
        }
      }
    }
  }
}

TEST_P(Kernels, GemmRowOverFourPanelsEqualsFourTiles) {
  const IsaVariant& v = GetParam();
  {
    const kernels::KernelTable& kt = v.table();
    for (int k : {1, 17, 1001}) {
      auto a = rnd(size_t(k), 21), b = rnd(size_t(4 * k * kt.gemm.nr), 22),
           bias = rnd(size_t(4 * kt.gemm.nr), 23), res = rnd(size_t(4 * kt.gemm.nr), 24);
      std::vector<float> c4(size_t(4 * kt.gemm.nr)), c1(c4.size());
      kernels::GemmTile t;
      t.mr = 1;
      t.nr = kt.gemm.nr;
      t.k = k;
      t.a = a.data();
      t.lda = k;
      t.b = b.data();
      t.bias = bias.data();
      t.residual = res.data();
      t.c = c4.data();
      t.act = Activation::Relu6;
      kt.gemm.row4(t);
      for (int j = 0; j < 4; ++j) {
        kernels::GemmTile one = t;
        one.b = b.data() + size_t(j) * k * kt.gemm.nr;
        one.bias = bias.data() + j * kt.gemm.nr;
        one.residual = res.data() + j * kt.gemm.nr;
        one.c = c1.data() + j * kt.gemm.nr;
        kt.gemm.tile(one);
      }
      // Same per-element reduction order, so the same bits.
      EXPECT_EQ(c4, c1) << v.name() << " k " << k;
    }
  }
}

struct DwCase {
  int h, w, c, stride, pt, pb, pl, pr;
};

TEST_P(Kernels, DepthwiseRows3x3MatchGenericOnEdgeGeometries) {
  const IsaVariant& v = GetParam();
  const DwCase cases[] = {
      {1, 1, 7, 1, 1, 1, 1, 1},   {2, 2, 17, 1, 1, 1, 1, 1},  {2, 2, 33, 2, 0, 1, 0, 1},
      {9, 7, 1, 1, 1, 1, 1, 1},   {9, 7, 33, 2, 1, 1, 1, 1},  {8, 10, 17, 2, 0, 1, 0, 1},
      {5, 13, 1001, 1, 1, 1, 1, 1}, {6, 6, 24, 1, 0, 2, 2, 0}, {11, 12, 40, 2, 1, 0, 0, 1},
      {3, 3, 8, 1, 0, 0, 0, 0},   {16, 16, 48, 2, 0, 1, 0, 1}, {7, 7, 130, 1, 1, 1, 1, 1}};
  {
    const kernels::KernelTable& kt = v.table();
    for (const DwCase& d : cases) {
      const int oh = (d.h + d.pt + d.pb - 3) / d.stride + 1;
      const int ow = (d.w + d.pl + d.pr - 3) / d.stride + 1;
      auto x = rnd(size_t(d.h * d.w * d.c), 31);
      auto w = rnd(size_t(9 * d.c), 32);
      auto bias = rnd(size_t(d.c), 33);
      for (auto& v : x) v *= 5.f;
      std::vector<float> got(size_t(oh * ow * d.c) + 16, -7.f), want(got.size(), -7.f);
      kernels::DwArgs a;
      a.in = x.data();
      a.ih = d.h;
      a.iw = d.w;
      a.c = d.c;
      a.oh = oh;
      a.ow = ow;
      a.sh = a.sw = d.stride;
      a.pad_top = d.pt;
      a.pad_left = d.pl;
      a.w = w.data();
      a.bias = bias.data();
      a.act = Activation::Relu6;
      for (int oy = 0; oy < oh; ++oy) {
        a.out = got.data();
        kt.dw3x3_row(a, oy);
        a.out = want.data();
        kernels::dw_generic_row(a, oy);
      }
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i])))
            << v.name() << " case " << d.h << "x" << d.w << "x" << d.c << " s" << d.stride
            << " at " << i;
    }
  }
}

TEST_P(Kernels, ElementwisePoolAddAffineMatchDoubleOnOddSizes) {
  const IsaVariant& v = GetParam();
  {
    const kernels::KernelTable& kt = v.table();
    for (int c : {1, 7, 17, 33, 1001}) {
      for (int hw : {1, 4, 49}) {
        auto x = rnd(size_t(hw * c), 41);
        std::vector<float> y(size_t(c) + 8, -1.f);
        kt.global_avg_pool(x.data(), y.data(), hw, c);
        for (int ch = 0; ch < c; ++ch) {
          double s = 0;
          for (int p = 0; p < hw; ++p) s += x[size_t(p * c + ch)];
          ASSERT_NEAR(y[size_t(ch)], s / hw, 1e-6) << v.name();
        }
        ASSERT_EQ(y[size_t(c)], -1.f);
        auto w = rnd(size_t(c), 42), b = rnd(size_t(c), 43), z = rnd(size_t(hw * c), 44);
        std::vector<float> out(size_t(hw * c) + 8, -1.f), sum(out.size(), -1.f);
        kt.channel_affine(x.data(), out.data(), hw, c, w.data(), b.data());
        kt.add(x.data(), z.data(), sum.data(), int64_t(hw) * c);
        for (int p = 0; p < hw; ++p)
          for (int ch = 0; ch < c; ++ch) {
            const size_t i = size_t(p * c + ch);
            ASSERT_NEAR(out[i], double(x[i]) * w[size_t(ch)] + b[size_t(ch)], 1e-6);
            ASSERT_NEAR(sum[i], double(x[i]) + z[i], 1e-6);
          }
        ASSERT_EQ(out[size_t(hw * c)], -1.f);
        ASSERT_EQ(sum[size_t(hw * c)], -1.f);
      }
    }
  }
}

// ---- single-op graphs through the executor ----------------------------------------------

// The variant of the running ExecutorOps test (set by its SetUp).
const IsaVariant* g_variant = nullptr;

class ExecutorOps : public ::testing::TestWithParam<IsaVariant> {
 protected:
  void SetUp() override {
    MNV2_SKIP_UNLESS_RUNS(GetParam());
    g_variant = &GetParam();
  }
  void TearDown() override { g_variant = nullptr; }
};

struct G {
  Graph g;
  int last = -1;
  uint32_t seed = 100;
  G(int h, int w, int c) {
    g.info.height = h;
    g.info.width = w;
    g.info.channels = c;
    Node in;
    in.name = "input";
    in.op = OpType::Input;
    g.input = last = g.add(in);
  }
  Shape shape(int id) {
    g.output = last;
    g.infer_shapes(1);
    return g.node(id).shape;
  }
  int conv(int from, int cout, int kh, int kw, int s, int pt, int pb, int pl, int pr,
           Activation act, bool bias = true) {
    const Shape x = shape(from);
    Node n;
    n.name = "conv" + std::to_string(g.nodes.size());
    n.op = OpType::Conv2D;
    n.inputs = {from};
    n.kernel_h = kh;
    n.kernel_w = kw;
    n.stride_h = n.stride_w = s;
    n.pad_top = pt;
    n.pad_bottom = pb;
    n.pad_left = pl;
    n.pad_right = pr;
    n.out_channels = cout;
    n.activation = act;
    n.weights = rnd(size_t(cout) * kh * kw * x.c, seed++);
    for (auto& v : n.weights) v *= float(1.7 / std::sqrt(double(kh * kw * x.c)));
    if (bias) n.bias = rnd(size_t(cout), seed++);
    return last = g.add(n);
  }
  int dw(int from, int k, int s, int pt, int pb, int pl, int pr, int mult = 1) {
    const Shape x = shape(from);
    Node n;
    n.name = "dw" + std::to_string(g.nodes.size());
    n.op = OpType::DepthwiseConv2D;
    n.inputs = {from};
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = s;
    n.pad_top = pt;
    n.pad_bottom = pb;
    n.pad_left = pl;
    n.pad_right = pr;
    n.depth_multiplier = mult;
    n.activation = Activation::Relu6;
    n.weights = rnd(size_t(k * k * x.c * mult), seed++);
    n.bias = rnd(size_t(x.c * mult), seed++);
    return last = g.add(n);
  }
  int simple(OpType op, std::vector<int> in) {
    Node n;
    n.name = std::string(op_name(op)) + std::to_string(g.nodes.size());
    n.op = op;
    n.inputs = std::move(in);
    return last = g.add(n);
  }
  int fc(int from, int cout) {
    const Shape x = shape(from);
    Node n;
    n.name = "fc";
    n.op = OpType::FullyConnected;
    n.inputs = {from};
    n.out_channels = cout;
    n.weights = rnd(size_t(cout) * size_t(x.per_image()), seed++);
    n.bias = rnd(size_t(cout), seed++);
    return last = g.add(n);
  }
  int affine(int from) {
    const Shape x = shape(from);
    Node n;
    n.name = "affine";
    n.op = OpType::ChannelAffine;
    n.inputs = {from};
    n.weights = rnd(size_t(x.c), seed++);
    n.bias = rnd(size_t(x.c), seed++);
    return last = g.add(n);
  }
  // Runs the graph (output = last node) on the test's ISA variant, 1 and 2 threads, batch 1
  // and 2.
  void check(const std::string& what) {
    const IsaVariant& v = *g_variant;
    test::IsaScope scope(v);
    g.output = last;
    g.finalize();
    const Shape in = shape(g.input);
    const size_t per = size_t(in.per_image());
    auto x = rnd(per * 2, 7);
    const ReferenceResult ref = reference_run(g, x.data(), 2);
    const size_t out_per = size_t(g.node(g.output).shape.per_image());
    for (int threads : {1, 2})
      for (int batch : {2, 1}) {
        auto ex = Executor::create(g, {threads, v.isa, 2});
        std::vector<float> y(out_per * size_t(batch));
        ex->run(x.data(), batch, y.data(), nullptr, nullptr);
        std::vector<double> want(ref.output.begin(), ref.output.begin() + long(y.size()));
        EXPECT_LE(max_rel(y, want), 2e-6)
            << what << " " << v.name() << " threads " << threads << " batch " << batch;
      }
  }
};

TEST_P(ExecutorOps, PointwiseConvOddChannels) {
  for (int cin : {1, 7, 17, 33})
    for (int cout : {1, 7, 17, 33, 1001})
      for (auto [h, w] : {std::pair{1, 1}, {2, 2}, {5, 3}}) {
        G t(h, w, cin);
        t.conv(t.last, cout, 1, 1, 1, 0, 0, 0, 0, Activation::Relu6, cout != 7);
        t.check("1x1 " + std::to_string(cin) + "->" + std::to_string(cout) + " at " +
                std::to_string(h) + "x" + std::to_string(w));
      }
}

TEST_P(ExecutorOps, FirstConvAndGeneralConv) {
  for (auto [h, w] : {std::pair{8, 8}, {9, 7}, {1, 1}, {2, 2}}) {
    G t(h, w, 3);
    int oh, pt, pb, ow, pl, pr;
    same_padding(h, 3, 2, &oh, &pt, &pb);
    same_padding(w, 3, 2, &ow, &pl, &pr);
    t.conv(t.last, 48, 3, 3, 2, pt, pb, pl, pr, Activation::Relu6);
    t.check("3x3/2 rgb " + std::to_string(h) + "x" + std::to_string(w));
  }
  {
    G t(11, 9, 5);  // 5x5 stride 2 with lopsided pads
    t.conv(t.last, 17, 5, 5, 2, 2, 1, 0, 2, Activation::Relu);
    t.check("5x5/2");
  }
  {
    G t(7, 6, 33);  // 1x1 stride 2: a pointwise conv that needs the im2col path
    t.conv(t.last, 7, 1, 1, 2, 0, 0, 0, 0, Activation::None);
    t.check("1x1/2");
  }
  {
    G t(6, 5, 4);  // 3x1 kernel, stride 1, pads on one side
    t.conv(t.last, 9, 3, 1, 1, 2, 0, 0, 0, Activation::None);
    t.check("3x1");
  }
}

TEST_P(ExecutorOps, DepthwiseStridesPadsAndMultipliers) {
  for (int c : {1, 7, 17, 33})
    for (auto [h, w] : {std::pair{1, 1}, {2, 2}, {7, 9}, {8, 8}})
      for (int s : {1, 2}) {
        G t(h, w, c);
        int oh, pt, pb, ow, pl, pr;
        same_padding(h, 3, s, &oh, &pt, &pb);
        same_padding(w, 3, s, &ow, &pl, &pr);
        t.dw(t.last, 3, s, pt, pb, pl, pr);
        t.check("dw c" + std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(w) +
                "/" + std::to_string(s));
      }
  {
    G t(9, 8, 7);
    t.dw(t.last, 3, 2, 0, 1, 1, 0);  // lopsided pads both ways
    t.check("dw lopsided");
  }
  {
    G t(6, 7, 5);
    t.dw(t.last, 3, 1, 1, 1, 1, 1, 2);  // depth multiplier 2
    t.check("dw mult 2");
  }
  {
    G t(9, 9, 17);
    t.dw(t.last, 5, 2, 2, 2, 1, 2);  // 5x5 kernel
    t.check("dw 5x5");
  }
}

TEST_P(ExecutorOps, ResidualAddFusedAndPlain) {
  {
    G t(5, 6, 17);  // projection + residual: the fused path
    const int x = t.last;
    const int e = t.conv(x, 40, 1, 1, 1, 0, 0, 0, 0, Activation::Relu6);
    const int d = t.dw(e, 3, 1, 1, 1, 1, 1);
    const int p = t.conv(d, 17, 1, 1, 1, 0, 0, 0, 0, Activation::None);
    t.simple(OpType::Add, {p, x});
    t.check("fused add");
  }
  {
    G t(4, 4, 33);  // both operands are depthwise outputs: the element-wise kernel
    const int x = t.last;
    const int a = t.dw(x, 3, 1, 1, 1, 1, 1);
    const int b = t.dw(x, 3, 1, 1, 1, 1, 1);
    t.simple(OpType::Add, {a, b});
    t.check("plain add");
  }
  {
    G t(3, 3, 7);  // a conv output read twice must not be fused away
    const int x = t.last;
    const int p = t.conv(x, 7, 1, 1, 1, 0, 0, 0, 0, Activation::None);
    const int s = t.simple(OpType::Add, {p, x});
    t.simple(OpType::Add, {s, p});
    t.check("shared conv output");
  }
}

TEST_P(ExecutorOps, AffinePoolFullyConnectedSoftmax) {
  G t(5, 4, 33);
  t.affine(t.last);
  const int c = t.conv(t.last, 17, 3, 3, 1, 1, 1, 1, 1, Activation::Relu6);
  t.simple(OpType::GlobalAvgPool, {c});
  t.fc(t.last, 1001);
  t.simple(OpType::Softmax, {t.last});
  t.check("affine-conv-pool-fc-softmax");

  G f(2, 3, 7);  // FC straight on a spatial tensor: flattened NHWC
  f.fc(f.last, 9);
  f.check("fc on 2x3x7");
}

INSTANTIATE_TEST_SUITE_P(Isas, Kernels, ::testing::ValuesIn(test::fp32_variants()),
                         test::VariantName());
INSTANTIATE_TEST_SUITE_P(Isas, ExecutorOps, ::testing::ValuesIn(test::fp32_variants()),
                         test::VariantName());

}  // namespace
}  // namespace mnv2
