// The graph passes (graph/passes.h): each pass on hand-built unfolded graphs, and every
// loader's unfolded translation of a writer-made file folded into the graph the loaders
// produced before the passes existed (same structure, same bits: the expectation is
// computed here independently, by walking each layer's chain of folded ops in file order).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "formats/loader.h"
#include "formats/onnx.h"
#include "formats/openvino_ir.h"
#include "formats/tf_graphdef.h"
#include "formats/tflite.h"
#include "graph/const_eval.h"
#include "graph/mobilenet_v2.h"
#include "graph/passes.h"
#include "test_util.h"

namespace mnv2 {
namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

// The first field in which two graphs differ, or "" when they are identical.
std::string graph_diff(const Graph& a, const Graph& b) {
  if (a.nodes.size() != b.nodes.size())
    return std::to_string(a.nodes.size()) + " vs " + std::to_string(b.nodes.size()) + " nodes";
  if (a.input != b.input || a.output != b.output || a.logits != b.logits ||
      a.features != b.features)
    return "input/output/logits/features differ";
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node& x = a.nodes[i];
    const Node& y = b.nodes[i];
    const std::string at = "node " + std::to_string(i) + " '" + x.name + "': ";
    if (x.name != y.name) return at + "name vs '" + y.name + "'";
    if (x.op != y.op || x.inputs != y.inputs) return at + "op or inputs";
    if (x.kernel_h != y.kernel_h || x.kernel_w != y.kernel_w || x.stride_h != y.stride_h ||
        x.stride_w != y.stride_w || x.pad_top != y.pad_top || x.pad_bottom != y.pad_bottom ||
        x.pad_left != y.pad_left || x.pad_right != y.pad_right ||
        x.depth_multiplier != y.depth_multiplier || x.out_channels != y.out_channels ||
        !(x.reshape_to == y.reshape_to) || x.layout != y.layout)
      return at + "geometry";
    if (x.activation != y.activation) return at + "activation";
    if (!same_bits(x.weights, y.weights)) return at + "weights";
    if (!same_bits(x.bias, y.bias)) return at + "bias";
    if (!(x.shape == y.shape)) return at + "shape";
    if (!(x.out_q == y.out_q) || x.qweights != y.qweights || x.qbias != y.qbias ||
        !same_bits(x.qweight_scales, y.qweight_scales))
      return at + "integer view";
  }
  return "";
}

// ---- an independent model of the fold rules -------------------------------------------

// Canonical weights of a raw weighted node, index by index as graph.h defines the layouts.
std::vector<float> canonical(const Node& n, int cin) {
  const std::vector<float>& w = n.weights;
  std::vector<float> out(w.size());
  const int kh = n.kernel_h, kw = n.kernel_w;
  switch (n.layout) {
    case WeightLayout::Canonical:
      return w;
    case WeightLayout::OIHW:
      if (n.op == OpType::DepthwiseConv2D) {
        const int c = int(w.size()) / (kh * kw);
        for (int o = 0; o < c; ++o)
          for (int y = 0; y < kh; ++y)
            for (int x = 0; x < kw; ++x) out[size_t((y * kw + x) * c + o)] = w[size_t((o * kh + y) * kw + x)];
      } else {
        for (int o = 0; o < n.out_channels; ++o)
          for (int i = 0; i < cin; ++i)
            for (int y = 0; y < kh; ++y)
              for (int x = 0; x < kw; ++x)
                out[size_t(((o * kh + y) * kw + x) * cin + i)] = w[size_t(((o * cin + i) * kh + y) * kw + x)];
      }
      return out;
    case WeightLayout::HWIO:
      for (int y = 0; y < kh; ++y)
        for (int x = 0; x < kw; ++x)
          for (int i = 0; i < cin; ++i)
            for (int o = 0; o < n.out_channels; ++o)
              out[size_t(((o * kh + y) * kw + x) * cin + i)] = w[size_t(((y * kw + x) * cin + i) * n.out_channels + o)];
      return out;
    case WeightLayout::InOut: {
      const int co = n.out_channels, ci = int(w.size()) / co;
      for (int i = 0; i < ci; ++i)
        for (int o = 0; o < co; ++o) out[size_t(o * ci + i)] = w[size_t(i * co + o)];
      return out;
    }
  }
  return out;
}

// y = x * s + b of one BatchNorm / ConstArith node, in double.
void affine_of(const Node& n, int c, std::vector<double>* s, std::vector<double>* b) {
  s->assign(size_t(c), 1.0);
  b->assign(size_t(c), 0.0);
  for (int k = 0; k < c; ++k) {
    if (n.op == OpType::BatchNorm) {
      (*s)[size_t(k)] = double(n.weights[size_t(k)]) / std::sqrt(double(n.bn_var[size_t(k)]) + double(n.bn_epsilon));
      (*b)[size_t(k)] = double(n.bias[size_t(k)]) - double(n.bn_mean[size_t(k)]) * (*s)[size_t(k)];
      continue;
    }
    const double v = n.weights[n.weights.size() == 1 ? 0 : size_t(k)];
    if (n.arith == Arith::Add) (*b)[size_t(k)] = v;
    if (n.arith == Arith::Sub) (*b)[size_t(k)] = -v;
    if (n.arith == Arith::SubFrom) (*s)[size_t(k)] = -1, (*b)[size_t(k)] = v;
    if (n.arith == Arith::Mul) (*s)[size_t(k)] = v;
    if (n.arith == Arith::Div) (*s)[size_t(k)] = 1.0 / v;
  }
}

struct Expected {
  std::vector<float> weights, bias;
  Activation act = Activation::None;
};

// What the loaders made of raw weighted node `id`: canonical weights, then every op that
// was its only reader (through pass-through nodes), folded in file order.
Expected expected_layer(const Graph& raw, int id) {
  std::vector<int> readers(raw.nodes.size(), 0), reader(raw.nodes.size(), -1);
  for (int k = 0; k < int(raw.nodes.size()); ++k)
    for (int in : raw.nodes[size_t(k)].inputs) ++readers[size_t(in)], reader[size_t(in)] = k;
  ++readers[size_t(raw.output)];
  const Node& n = raw.node(id);
  Expected e{canonical(n, raw.node(n.inputs[0]).shape.c), n.bias, n.activation};
  const size_t c = size_t(n.shape.c);
  for (int cur = id; readers[size_t(cur)] == 1 && reader[size_t(cur)] >= 0;) {
    const Node& r = raw.node(reader[size_t(cur)]);
    if (r.op == OpType::BatchNorm || r.op == OpType::ConstArith) {
      if (e.act != Activation::None) break;
      std::vector<double> s, b;
      affine_of(r, int(c), &s, &b);
      const size_t per = e.weights.size() / c;
      for (size_t i = 0; i < e.weights.size(); ++i) {
        const size_t ch = n.op == OpType::DepthwiseConv2D ? i % c : i / per;
        e.weights[i] = float(double(e.weights[i]) * s[ch]);
      }
      if (e.bias.empty()) e.bias.assign(c, 0.f);
      for (size_t o = 0; o < c; ++o) e.bias[o] = float(double(e.bias[o]) * s[o] + b[o]);
    } else if (r.op == OpType::Activation) {
      e.act = e.act == Activation::Relu6 || r.activation == Activation::Relu6 ? Activation::Relu6
                                                                              : Activation::Relu;
    } else if (r.op != OpType::Identity) {
      break;
    }
    cur = reader[size_t(cur)];
  }
  return e;
}

int count_op(const Graph& g, OpType op) {
  int k = 0;
  for (const Node& n : g.nodes) k += n.op == op;
  return k;
}

int count_layout(const Graph& g, WeightLayout l) {
  int k = 0;
  for (const Node& n : g.nodes) k += n.layout == l && !n.weights.empty();
  return k;
}

// The translation folds, layer by layer, into what expected_layer says; the rest of the
// graph has the structure of `source` (the graph the file was written from).
void check_folds_to_todays_graph(Translation t, const Graph& source, const char* what) {
  SCOPED_TRACE(what);
  Graph raw = t.graph;
  raw.infer_shapes(1);
  PassLog log;
  const Graph folded = rewrite_model(std::move(t), &log);
  EXPECT_FALSE(log.entries.empty());
  for (const Node& n : folded.nodes) {
    EXPECT_FALSE(is_unfolded(n.op)) << n.name;
    EXPECT_EQ(n.layout, WeightLayout::Canonical) << n.name;
  }
  // The op sequence and layers of the source graph. What writers and readers may change:
  // reshapes that only relabel [N,1,1,C] are views; a fully-connected layer may come back
  // as the 1x1 convolution a writer expressed it as; TFLite's MUL + ADD of a per-channel
  // affine stay two ChannelAffine nodes.
  auto kind = [](OpType op) { return op == OpType::FullyConnected ? OpType::Conv2D : op; };
  auto ops = [&](const Graph& g) {
    std::vector<OpType> v;
    for (const Node& n : g.nodes)
      if (n.op != OpType::Reshape &&
          !(n.op == OpType::ChannelAffine && !v.empty() && v.back() == OpType::ChannelAffine))
        v.push_back(kind(n.op));
    return v;
  };
  EXPECT_EQ(ops(folded), ops(source));
  auto weighted = [](const Graph& g) {
    std::vector<const Node*> v;
    for (const Node& n : g.nodes)
      if (!n.weights.empty() && n.op != OpType::ChannelAffine) v.push_back(&n);
    return v;
  };
  const std::vector<const Node*> fw = weighted(folded), sw = weighted(source);
  ASSERT_EQ(fw.size(), sw.size());
  for (size_t i = 0; i < fw.size(); ++i) {
    const Node& f = *fw[i];
    const Node& s = *sw[i];
    SCOPED_TRACE(f.name);
    EXPECT_EQ(kind(f.op), kind(s.op));
    EXPECT_EQ(f.activation, s.activation);
    EXPECT_EQ(f.shape.per_image(), s.shape.per_image());
    EXPECT_EQ(f.kernel_h * 100 + f.stride_h * 10 + f.pad_top, s.kernel_h * 100 + s.stride_h * 10 + s.pad_top);
    // The file's weights reproduce the source's (the TF writer's batch norm statistics
    // only approximately).
    ASSERT_EQ(f.weights.size(), s.weights.size());
    for (size_t k = 0; k < f.weights.size(); ++k)
      ASSERT_NEAR(f.weights[k], s.weights[k], 1e-5 + 1e-5 * std::fabs(s.weights[k])) << k;
  }
  EXPECT_EQ(folded.node(folded.output).op, source.node(source.output).op);
  EXPECT_EQ(folded.node(folded.logits).name.empty(), false);
  EXPECT_EQ(folded.node(folded.features).op, OpType::GlobalAvgPool);
  // Each weighted layer: bit for bit what the fold rules give from the raw file values.
  int layers = 0;
  for (const Node& f : folded.nodes) {
    if (f.op != OpType::Conv2D && f.op != OpType::DepthwiseConv2D &&
        f.op != OpType::FullyConnected)
      continue;
    int id = -1;
    for (int k = 0; k < int(raw.nodes.size()); ++k)
      if (raw.nodes[size_t(k)].name == f.name && raw.nodes[size_t(k)].op == f.op) id = k;
    ASSERT_GE(id, 0) << "no raw node named " << f.name;
    const Expected e = expected_layer(raw, id);
    EXPECT_TRUE(same_bits(f.weights, e.weights)) << f.name;
    EXPECT_TRUE(same_bits(f.bias, e.bias)) << f.name;
    EXPECT_EQ(f.activation, e.act) << f.name;
    ++layers;
  }
  EXPECT_GT(layers, 0);
}

// ---- each pass on hand-built graphs ------------------------------------------------------

Graph input_graph(int h, int w, int c) {
  Graph g;
  g.info.height = h;
  g.info.width = w;
  g.info.channels = c;
  g.input = g.add("in", OpType::Input);
  g.output = g.input;
  return g;
}

std::vector<float> ramp(size_t n, float scale, float offset = 0.f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = offset + scale * float(int(i % 7) - 3) + 0.01f * float(i);
  return v;
}

int add_conv(Graph& g, const std::string& name, int src, int cout, int k, WeightLayout layout,
             bool dw = false) {
  Node n;
  n.name = name;
  n.op = dw ? OpType::DepthwiseConv2D : OpType::Conv2D;
  n.inputs = {src};
  n.kernel_h = n.kernel_w = k;
  n.pad_top = n.pad_bottom = n.pad_left = n.pad_right = k / 2;
  n.out_channels = dw ? 0 : cout;
  g.infer_shapes(1);
  const int cin = g.node(src).shape.c;
  n.weights = ramp(size_t(dw ? k * k * cin : cout * k * k * cin), 0.25f);
  n.layout = layout;
  const int id = g.add(std::move(n));
  g.output = id;
  return id;
}

int add_unary(Graph& g, const std::string& name, int src, OpType op) {
  Node n;
  n.name = name;
  n.op = op;
  n.inputs = {src};
  const int id = g.add(std::move(n));
  g.output = id;
  return id;
}

int add_bn(Graph& g, const std::string& name, int src, int c) {
  const int id = add_unary(g, name, src, OpType::BatchNorm);
  Node& n = g.node(id);
  n.weights = ramp(size_t(c), 0.2f, 1.f);
  n.bias = ramp(size_t(c), 0.1f);
  n.bn_mean = ramp(size_t(c), 0.05f, 0.1f);
  n.bn_var = ramp(size_t(c), 0.1f, 1.f);
  n.bn_epsilon = 1e-3f;
  return id;
}

int add_arith(Graph& g, const std::string& name, int src, Arith a, std::vector<float> k) {
  const int id = add_unary(g, name, src, OpType::ConstArith);
  g.node(id).arith = a;
  g.node(id).weights = std::move(k);
  return id;
}

int add_act(Graph& g, const std::string& name, int src, Activation a) {
  const int id = add_unary(g, name, src, OpType::Activation);
  g.node(id).activation = a;
  return id;
}

TEST(GraphPasses, WeightsMoveToTheCanonicalLayout) {
  for (WeightLayout l : {WeightLayout::OIHW, WeightLayout::HWIO}) {
    Graph g = input_graph(4, 4, 3);
    const int c = add_conv(g, "conv", g.input, 5, 3, l);
    g.node(c).qweights.resize(g.node(c).weights.size());
    for (size_t i = 0; i < g.node(c).qweights.size(); ++i) g.node(c).qweights[i] = int16_t(i);
    g.infer_shapes(1);
    const std::vector<float> want = canonical(g.node(c), 3);
    std::vector<float> moved(g.node(c).weights.size());
    for (size_t i = 0; i < moved.size(); ++i) moved[i] = float(i);
    Node probe = g.node(c);
    probe.weights = moved;
    const std::vector<float> index = canonical(probe, 3);  // where each element lands
    run_passes(g);
    EXPECT_EQ(g.node(c).layout, WeightLayout::Canonical);
    EXPECT_TRUE(same_bits(g.node(c).weights, want)) << layout_name(l);
    for (size_t i = 0; i < index.size(); ++i)
      ASSERT_EQ(g.node(c).qweights[i], int16_t(index[i])) << "the integer view moves along";
  }
  {  // depthwise [C][1][KH][KW] and a fully-connected [Cin][Cout]
    Graph g = input_graph(4, 4, 6);
    const int d = add_conv(g, "dw", g.input, 0, 3, WeightLayout::OIHW, true);
    const int p = add_unary(g, "pool", d, OpType::GlobalAvgPool);
    Node fc;
    fc.name = "fc";
    fc.op = OpType::FullyConnected;
    fc.inputs = {p};
    fc.out_channels = 4;
    fc.weights = ramp(24, 0.5f);
    fc.layout = WeightLayout::InOut;
    g.output = g.add(fc);
    g.infer_shapes(1);
    const std::vector<float> want_dw = canonical(g.node(d), 6);
    const std::vector<float> want_fc = canonical(g.node(g.output), 6);
    EXPECT_EQ(want_fc[1], fc.weights[4]);  // [o=0][i=1] was [i=1][o=0]
    PassLog log;
    run_passes(g, &log);
    EXPECT_TRUE(same_bits(g.node(d).weights, want_dw));
    EXPECT_TRUE(same_bits(g.node(g.output).weights, want_fc));
    ASSERT_EQ(log.entries.size(), 2u);
    EXPECT_EQ(log.entries[0].pass, "normalise-layout");
  }
}

int add_pad(Graph& g, const std::string& name, int src, int t, int b, int l, int r) {
  const int id = add_unary(g, name, src, OpType::Pad);
  Node& n = g.node(id);
  n.pad_top = t, n.pad_bottom = b, n.pad_left = l, n.pad_right = r;
  return id;
}

TEST(GraphPasses, PadsMergeIntoTheConvolutionsThatReadThem) {
  Graph g = input_graph(6, 6, 3);
  const int p1 = add_pad(g, "pad1", g.input, 0, 1, 0, 1);
  const int p2 = add_pad(g, "pad2", p1, 1, 0, 2, 0);  // a pad of a pad adds up
  const int a = add_conv(g, "a", p2, 3, 3, WeightLayout::Canonical);
  const int b = add_conv(g, "b", p2, 4, 3, WeightLayout::Canonical, true);
  const int sum = add_unary(g, "sum", a, OpType::Add);
  g.node(sum).inputs = {a, b};
  g.infer_shapes(1);
  const Shape a_shape = g.node(a).shape;
  run_passes(g);
  ASSERT_EQ(g.nodes.size(), 4u);
  for (int id : {1, 2}) {
    const Node& c = g.node(id);
    EXPECT_EQ(c.inputs, std::vector<int>{0});
    EXPECT_EQ(c.pad_top, 1 + 1);
    EXPECT_EQ(c.pad_bottom, 1 + 1);
    EXPECT_EQ(c.pad_left, 1 + 2);
    EXPECT_EQ(c.pad_right, 1 + 1);
  }
  EXPECT_EQ(g.node(1).shape, a_shape);

  Graph h = input_graph(6, 6, 3);
  const int p = add_pad(h, "lonely_pad", h.input, 1, 1, 1, 1);
  add_unary(h, "pool", p, OpType::GlobalAvgPool);
  try {
    run_passes(h);
    FAIL() << "a Pad before a pool must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'lonely_pad' (Pad): zero padding is supported only"),
              std::string::npos)
        << e.what();
  }
  Graph big = input_graph(6, 6, 3);
  add_conv(big, "conv", add_pad(big, "pad", big.input, 64, 0, 0, 0), 2, 3, WeightLayout::Canonical);
  EXPECT_THROW(run_passes(big), Error) << "64 + 1 rows of padding";
}

TEST(GraphPasses, BatchNormThenBiasFoldIntoTheLayerInFileOrder) {
  for (bool dw : {false, true}) {
    Graph g = input_graph(5, 5, 4);
    const int c = add_conv(g, "conv", g.input, dw ? 0 : 6, 3, WeightLayout::Canonical, dw);
    const int channels = dw ? 4 : 6;
    const int bn = add_bn(g, "bn", c, channels);
    const int add = add_arith(g, "bias", bn, Arith::Add, ramp(size_t(channels), 0.3f));
    const int relu = add_act(g, "relu6", add, Activation::Relu6);
    g.infer_shapes(1);
    Graph want_raw = g;
    const Expected e = expected_layer(want_raw, c);
    // The arithmetic spelled out for one channel: two roundings, BN first.
    {
      const Node& b = g.node(bn);
      const double s = double(b.weights[1]) / std::sqrt(double(b.bn_var[1]) + double(b.bn_epsilon));
      const float after_bn = float(0.0 * s + (double(b.bias[1]) - double(b.bn_mean[1]) * s));
      EXPECT_EQ(e.bias[1], float(double(after_bn) + double(g.node(add).weights[1])));
    }
    PassLog log;
    run_passes(g, &log);
    ASSERT_EQ(g.nodes.size(), 2u) << "bn, bias and relu6 fold away";
    EXPECT_EQ(g.output, 1);
    EXPECT_TRUE(same_bits(g.node(1).weights, e.weights));
    EXPECT_TRUE(same_bits(g.node(1).bias, e.bias));
    EXPECT_EQ(g.node(1).activation, Activation::Relu6);
    ASSERT_EQ(log.entries.size(), 3u);
    EXPECT_EQ(log.entries[2].pass, "fold-activation");
    (void)relu;
  }
}

TEST(GraphPasses, AffinesThatCannotFoldBecomeOneChannelAffine) {
  // Normalisation on the input: x - mean, / std, then a batch norm: one ChannelAffine with
  // the per-op roundings of merging them in order.
  Graph g = input_graph(4, 4, 3);
  const int sub = add_arith(g, "sub", g.input, Arith::Sub, {0.1f, -0.2f, 0.3f});
  const int div = add_arith(g, "div", sub, Arith::Div, {0.5f, 0.25f, 3.f});
  const int bn = add_bn(g, "bn", div, 3);
  const int conv = add_conv(g, "conv", bn, 4, 3, WeightLayout::Canonical);
  g.infer_shapes(1);
  std::vector<float> w(3, 1.f), b(3, 0.f);
  bool first = true;
  for (int id : {sub, div, bn}) {
    std::vector<double> s, t;
    affine_of(g.node(id), 3, &s, &t);
    for (size_t k = 0; k < 3; ++k) {
      if (first) {
        w[k] = float(s[k]);
        b[k] = float(t[k]);
      } else {
        w[k] = float(double(w[k]) * s[k]);
        b[k] = float(double(b[k]) * s[k] + t[k]);
      }
    }
    first = false;
  }
  run_passes(g);
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(g.node(1).op, OpType::ChannelAffine);
  EXPECT_EQ(g.node(1).name, "sub");
  EXPECT_TRUE(same_bits(g.node(1).weights, w));
  EXPECT_TRUE(same_bits(g.node(1).bias, b));
  EXPECT_EQ(g.node(2).inputs, std::vector<int>{1});
  EXPECT_EQ(g.output, 2);
  (void)conv;

  // After a layer with an activation, or one read twice: a ChannelAffine of its own.
  Graph h = input_graph(4, 4, 3);
  const int c1 = add_conv(h, "c1", h.input, 3, 1, WeightLayout::Canonical);
  h.node(c1).activation = Activation::Relu;
  const int b1 = add_bn(h, "b1", c1, 3);
  const int c2 = add_conv(h, "c2", b1, 3, 1, WeightLayout::Canonical);
  const int b2 = add_arith(h, "b2", c2, Arith::Mul, {2.f});
  const int sum = add_unary(h, "sum", c2, OpType::Add);
  h.node(sum).inputs = {c2, b2};
  run_passes(h);
  ASSERT_EQ(h.nodes.size(), 6u);
  EXPECT_EQ(h.node(2).op, OpType::ChannelAffine);
  EXPECT_EQ(h.node(4).op, OpType::ChannelAffine);
  EXPECT_EQ(h.node(4).weights, std::vector<float>(3, 2.f));
}

TEST(GraphPasses, ActivationsFuseOrAreRefused) {
  Graph g = input_graph(4, 4, 3);
  const int c = add_conv(g, "conv", g.input, 3, 1, WeightLayout::Canonical);
  add_act(g, "relu6", add_act(g, "relu", c, Activation::Relu), Activation::Relu6);
  run_passes(g);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.node(1).activation, Activation::Relu6);

  // A ReLU after an element-wise add has no layer to fuse into.
  Graph h = input_graph(4, 4, 3);
  const int a = add_conv(h, "a", h.input, 3, 1, WeightLayout::Canonical);
  const int sum = add_unary(h, "sum", a, OpType::Add);
  h.node(sum).inputs = {a, h.input};
  add_act(h, "late_relu", sum, Activation::Relu6);
  try {
    run_passes(h);
    FAIL() << "a stand-alone ReLU6 after Add must be refused";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'late_relu'"), std::string::npos) << m;
    EXPECT_NE(m.find("stand-alone RELU6"), std::string::npos) << m;
    EXPECT_NE(m.find("'sum' (Add)"), std::string::npos) << m;
  }
}

TEST(GraphPasses, IdentitiesVanishAndReferencesFollow) {
  Graph g = input_graph(4, 4, 3);
  const int i1 = add_unary(g, "id1", g.input, OpType::Identity);
  const int c = add_conv(g, "conv", i1, 4, 3, WeightLayout::Canonical);
  const int i2 = add_unary(g, "id2", c, OpType::Identity);
  const int pool = add_unary(g, "pool", i2, OpType::GlobalAvgPool);
  const int i3 = add_unary(g, "id3", pool, OpType::Identity);
  const int sm = add_unary(g, "softmax", i3, OpType::Softmax);
  g.output = add_unary(g, "id4", sm, OpType::Identity);
  g.logits = i3;
  g.features = pool;
  run_passes(g);
  ASSERT_EQ(g.nodes.size(), 4u);
  EXPECT_EQ(g.node(g.output).name, "softmax");
  EXPECT_EQ(g.node(g.logits).name, "pool");
  EXPECT_EQ(g.node(g.features).name, "pool");
  EXPECT_EQ(g.node(1).inputs, std::vector<int>{0});
  EXPECT_EQ(g.node(3).inputs, std::vector<int>{2});
}

TEST(GraphPasses, FoldingKeepsTheIntegerViewOnlyWhenItStillHolds) {
  auto quantized = [](float relu_scale) {
    Graph g = input_graph(2, 2, 2);
    const int c = add_conv(g, "conv", g.input, 2, 1, WeightLayout::Canonical);
    add_act(g, "relu", c, Activation::Relu);
    for (Node& n : g.nodes) n.out_q = {0.5f, 3};
    g.node(c).qweights.assign(g.node(c).weights.size(), 1);
    g.node(c).qweight_scales = {0.1f};
    g.node(2).out_q.scale = relu_scale;
    return g;
  };
  Graph same = quantized(0.5f);
  run_passes(same);
  EXPECT_TRUE(same.quantized());
  Graph differ = quantized(0.25f);
  PassLog log;
  run_passes(differ, &log);
  EXPECT_FALSE(differ.quantized());
  EXPECT_TRUE(differ.node(1).qweights.empty());
  EXPECT_NE(log.entries.back().text.find("integer view dropped"), std::string::npos);
}

TEST(GraphPasses, ExecutableGraphsAreAFixedPointAndUnfoldedOnesDoNotFinalize) {
  const Graph g = build_mobilenet_v2(0.35f, 96, 11, 3);
  Graph copy = g;
  PassLog log;
  run_passes(copy, &log);
  EXPECT_TRUE(log.entries.empty());
  EXPECT_EQ(graph_diff(copy, g), "");

  Graph raw = input_graph(4, 4, 3);
  add_act(raw, "relu", add_conv(raw, "conv", raw.input, 2, 1, WeightLayout::Canonical), Activation::Relu);
  try {
    raw.finalize();
    FAIL() << "finalize must refuse an unfolded graph";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("passes"), std::string::npos) << e.what();
  }
}

TEST(ConstEval, ShapeArithmeticAsExportersChainIt) {
  using namespace const_eval;
  Tensor x;
  x.dims = {2, 3};
  x.iv = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(transpose(x, {}).iv, (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(slice(x, {-1}, {-100}, {1}, {-1}).iv, (std::vector<int64_t>{2, 1, 0, 5, 4, 3}));
  // A step that is never taken may be anything a file says (the fuzzer's overflow).
  const int64_t huge = int64_t(1) << 62;
  EXPECT_EQ(slice(x, {1}, {2}, {1}, {huge}).iv, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(slice(x, {2}, {-100}, {1}, {-huge}).iv, (std::vector<int64_t>{2, 5}));
  Tensor idx;
  idx.dims = {2};
  idx.iv = {-1, 0};
  EXPECT_EQ(gather(x, idx, 1).iv, (std::vector<int64_t>{2, 0, 5, 3}));
  const Tensor cat = concat({x, x}, 0);
  EXPECT_EQ(cat.dims, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(reshape(cat, {-1, 0}, false).dims, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(unsqueeze(squeeze(reshape(x, {1, 6}, false), {}), {0, 2}).dims,
            (std::vector<int64_t>{1, 6, 1}));
  Tensor shape;
  shape.dims = {2};
  shape.iv = {1 << 11, 1 << 11};  // 4 M elements: more than folding materialises
  EXPECT_THROW(constant_of_shape(shape, nullptr), Error);
  shape.iv = {3, 0};
  EXPECT_EQ(cast(constant_of_shape(shape, nullptr), true).iv.size(), 0u) << "a [3,0] tensor is empty";
  shape.iv = {-1, 2};
  EXPECT_THROW(constant_of_shape(shape, nullptr), Error);
}

// ---- every loader's unfolded translation -------------------------------------------------

TEST(LoaderPasses, GraphDefWithBatchNormsFoldsToTodaysGraph) {
  const Graph src = build_mobilenet_v2(0.35f, 64, 11, 5);
  GraphDefWriteOptions o;
  o.unfold_batchnorm = true;
  o.mean_pool = true;
  const std::string bytes = graphdef_bytes(src, o);
  Translation t = translate_graphdef_bytes(bytes, "bn.pb");
  EXPECT_GT(count_op(t.graph, OpType::BatchNorm), 30);
  EXPECT_GT(count_op(t.graph, OpType::Activation), 20);
  EXPECT_GT(count_op(t.graph, OpType::Identity), 0);
  EXPECT_GT(count_layout(t.graph, WeightLayout::HWIO), 20);
  check_folds_to_todays_graph(std::move(t), src, "graphdef, unfolded batch norm");
  // The loader's own entry point gives the same graph.
  Graph direct = load_graphdef_bytes(bytes, "bn.pb");
  EXPECT_EQ(graph_diff(direct, rewrite_model(translate_graphdef_bytes(bytes, "bn.pb"))), "");
}

TEST(LoaderPasses, OnnxFoldsToTodaysGraph) {
  const Graph src = test::all_ops_graph(true);
  Translation t = translate_onnx_bytes(onnx_model_bytes(src), "all_ops.onnx");
  EXPECT_GT(count_layout(t.graph, WeightLayout::OIHW), 4);
  EXPECT_GT(count_op(t.graph, OpType::Activation), 3);
  EXPECT_EQ(count_op(t.graph, OpType::ConstArith), 2);  // the input's Mul and Add
  check_folds_to_todays_graph(std::move(t), src, "onnx");
}

TEST(LoaderPasses, OpenVinoIrFoldsToTodaysGraph) {
  const Graph src = test::all_ops_graph(true);
  const OpenVinoIrFiles f = write_openvino_ir(src, false, false);
  Translation t = translate_openvino_ir_memory(f.xml, f.bin, "all_ops.xml");
  EXPECT_GT(count_layout(t.graph, WeightLayout::OIHW), 4);
  EXPECT_GT(count_op(t.graph, OpType::ConstArith), 4);  // bias adds and the input's affine
  EXPECT_GT(count_op(t.graph, OpType::Activation), 3);
  check_folds_to_todays_graph(std::move(t), src, "openvino ir");

  // Open Model Zoo style: Subtract / Multiply on the raw input merge into one ChannelAffine
  // that the loader reads the preprocessing from.
  const Graph mnv2 = build_mobilenet_v2(0.35f, 64, 11, 5);
  const OpenVinoIrFiles omz = write_openvino_ir(mnv2, false, true);
  Translation u = translate_openvino_ir_memory(omz.xml, omz.bin, "omz.xml");
  EXPECT_EQ(u.graph.node(1).op, OpType::ConstArith);
  const Graph g = rewrite_model(std::move(u));
  EXPECT_EQ(g.node(1).op, OpType::ChannelAffine);
  EXPECT_EQ(count_op(g, OpType::ChannelAffine), 1);
  EXPECT_TRUE(g.info.normalization_in_graph);
  EXPECT_NEAR(g.info.mean, mnv2.info.mean, 1e-4);
  EXPECT_NEAR(g.info.scale, mnv2.info.scale, 1e-4);
}

TEST(LoaderPasses, TfliteFoldsToTodaysGraphAndCoralPassesThroughUnchanged) {
  // TFLite files store folded, canonical layers; pads SAME/VALID cannot express are PADs.
  const Graph src = test::all_ops_graph(true);
  const std::vector<uint8_t> bytes = write_tflite(src, TfliteWriteOptions{});
  Translation t = translate_tflite_bytes(bytes.data(), bytes.size(), "all_ops.tflite");
  EXPECT_EQ(count_op(t.graph, OpType::Pad), 1);
  check_folds_to_todays_graph(std::move(t), src, "tflite");

  if (test::data_dir().empty()) GTEST_SKIP() << "no test data (set MNV2_TEST_DATA)";
  const std::string coral = test::data_dir() + "/coral/mobilenet_v2_1.0_224_quant.tflite";
  Translation c = translate_model(coral);
  Graph craw = c.graph;
  const Graph q = rewrite_model(std::move(c));
  craw.finalize();
  EXPECT_TRUE(q.quantized());
  EXPECT_EQ(graph_diff(q, craw), "");
}

TEST(LoaderPasses, InfoShowsTheGraphBeforeAndAfterThePasses) {
  const std::string dir = test::make_scratch_dir("mnv2_passes");
  GraphDefWriteOptions o;
  o.unfold_batchnorm = true;
  save_graphdef(test::all_ops_graph(false), dir + "/bn.pb", o);
  std::string out;
  ASSERT_EQ(test::run_command(test::cli_path() + " info --passes " + dir + "/bn.pb", &out), 0) << out;
  const size_t before = out.find("before the passes"), after = out.find("after the passes");
  ASSERT_NE(before, std::string::npos) << out;
  ASSERT_NE(after, std::string::npos) << out;
  const std::string raw = out.substr(before, after - before), folded = out.substr(after);
  EXPECT_NE(raw.find("BatchNorm"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Conv2D 3x3/2 HWIO"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Activation"), std::string::npos) << raw;
  EXPECT_NE(raw.find("fold-affine"), std::string::npos) << raw;
  EXPECT_NE(raw.find("(BatchNorm) folded into 'c1' (Conv2D)"), std::string::npos) << raw;
  EXPECT_EQ(folded.find("BatchNorm"), std::string::npos) << folded;
  EXPECT_EQ(folded.find("HWIO"), std::string::npos) << folded;
  EXPECT_NE(folded.find("relu6"), std::string::npos) << folded;

  EXPECT_EQ(test::run_command(test::cli_path() + " info --passes --synthetic 0.35 96", &out), 1);
  EXPECT_NE(out.find("--passes needs a model file"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(test::cli_path() + " info --passes --json " + dir + "/bn.pb", &out), 1);
  EXPECT_NE(out.find("--passes has no --json form"), std::string::npos) << out;
}

}  // namespace
}  // namespace mnv2
