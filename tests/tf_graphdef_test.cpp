// TF frozen GraphDef reader/writer: round trips against the IR, agreement with an
// independent TF-graph consumer (OpenCV's DNN importer), hand-written graphs in the
// forms TF-slim and other exporters produce, and malformed files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "formats/loader.h"
#include "formats/pb_wire.h"
#include "formats/tf_graphdef.h"
#include "graph/mobilenet_v2.h"
#include "mnv2/mnv2.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  static const fs::path d = test::make_scratch_dir("mnv2_tfpb_test_");  // one per program
  return d;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const fs::path& p, std::string_view data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), std::streamsize(data.size()));
}

// Runs both graphs through the reference executor; relative L2 error of the output,
// the logits and the features of `b` against `a`.
struct Diff {
  double out = 0, logits = 0, features = 0;
};
Diff compare(const Graph& a, const Graph& b, const std::vector<float>& input) {
  ReferenceResult ra = reference_run(a, input.data(), 1, {a.logits, a.features});
  ReferenceResult rb = reference_run(b, input.data(), 1, {b.logits, b.features});
  auto rel = [](const std::vector<double>& x, const std::vector<double>& y) {
    EXPECT_EQ(x.size(), y.size());
    std::vector<float> xf(x.begin(), x.end());
    // rel_l2 takes float data; measure in double here instead.
    double num = 0, den = 0;
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      num += (x[i] - y[i]) * (x[i] - y[i]);
      den += y[i] * y[i];
    }
    return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
  };
  Diff d;
  d.out = rel(rb.output, ra.output);
  d.logits = rel(rb.kept[b.logits], ra.kept[a.logits]);
  d.features = rel(rb.kept[b.features], ra.kept[a.features]);
  return d;
}

// ------------------------------------------------------------------ round trips

TEST(TfGraphDef, RoundTripPlainIsExact) {
  Graph g = build_mobilenet_v2(1.0f, 160, 1001, 11);
  const fs::path p = temp_dir() / "plain.pb";
  save_graphdef(g, p.string(), false);
  EXPECT_EQ(detect_format(p.string()), ModelFormat::TFGraphDef);
  Graph h = load_graph(p.string());
  EXPECT_EQ(h.info.format, "tf-graphdef");
  EXPECT_EQ(h.info.input_name, "input");
  EXPECT_EQ(h.info.output_name, "MobilenetV2/Predictions/Reshape_1");
  EXPECT_EQ(h.info.layout, Layout::NHWC);
  EXPECT_EQ(h.info.channel_order, ChannelOrder::RGB);
  EXPECT_FALSE(h.info.normalization_in_graph);
  EXPECT_EQ(h.info.mean, 127.5f);
  EXPECT_EQ(h.info.scale, 127.5f);
  EXPECT_EQ(h.info.height, 160);
  EXPECT_EQ(h.info.num_classes, 1001);
  EXPECT_TRUE(h.info.has_background);
  EXPECT_TRUE(h.info.output_is_softmax);
  EXPECT_EQ(h.info.feature_dim, 1280);
  EXPECT_EQ(h.total_params(), g.total_params());
  EXPECT_EQ(h.total_macs(), g.total_macs());
  EXPECT_EQ(h.node(h.features).op, OpType::GlobalAvgPool);
  EXPECT_EQ(h.node(h.features).name, "MobilenetV2/Logits/AvgPool");
  // Every conv of the synthetic graph comes back with its bias and activation folded in,
  // under the same layer name.
  int convs = 0;
  for (const Node& n : g.nodes) {
    if (n.op != OpType::Conv2D && n.op != OpType::DepthwiseConv2D) continue;
    ++convs;
    auto it = std::find_if(h.nodes.begin(), h.nodes.end(),
                           [&](const Node& m) { return m.name == n.name; });
    ASSERT_NE(it, h.nodes.end()) << n.name;
    EXPECT_EQ(it->activation, n.activation) << n.name;
    EXPECT_EQ(it->weights, n.weights) << n.name;
    EXPECT_EQ(it->bias, n.bias) << n.name;
    EXPECT_EQ(it->pad_top, n.pad_top) << n.name;
    EXPECT_EQ(it->pad_bottom, n.pad_bottom) << n.name;
  }
  EXPECT_EQ(convs, 53);
  const Diff d = compare(g, h, test::random_input(160 * 160 * 3, 5));
  EXPECT_EQ(d.out, 0.0);
  EXPECT_EQ(d.logits, 0.0);
  EXPECT_EQ(d.features, 0.0);
}

TEST(TfGraphDef, RoundTripUnfoldedBatchNorm) {
  Graph g = build_mobilenet_v2(1.0f, 160, 1001, 12);
  const fs::path p = temp_dir() / "bn.pb";
  save_graphdef(g, p.string(), true);
  const std::string bytes = read_file(p);
  EXPECT_NE(bytes.find("FusedBatchNormV3"), std::string::npos);
  EXPECT_NE(bytes.find("MobilenetV2/Conv/BatchNorm/moving_variance"), std::string::npos);
  EXPECT_NE(bytes.find("MobilenetV2/Logits/output"), std::string::npos);
  EXPECT_NE(bytes.find("MobilenetV2/Predictions/Shape"), std::string::npos);
  Graph h = load_graph(p.string());
  EXPECT_EQ(h.total_params(), g.total_params());
  const Diff d = compare(g, h, test::random_input(160 * 160 * 3, 6));
  std::printf("BN-unfolded round trip rel L2: probs %.3g logits %.3g features %.3g\n", d.out,
              d.logits, d.features);
  EXPECT_LE(d.out, 1e-6);
  EXPECT_LE(d.logits, 1e-6);
  EXPECT_LE(d.features, 1e-6);
  EXPECT_GT(d.logits, 0.0);  // the weights really were rescaled and folded back
}

// Finds the float of the "epsilon" attr (key, then AttrValue{f}) and overwrites it.
size_t patch_epsilon(std::string& bytes, float from, float to) {
  std::string pat = std::string("\x0a\x07" "epsilon\x12\x05\x25", 12);
  std::string old = pat, now = pat;
  old.append(reinterpret_cast<const char*>(&from), 4);
  now.append(reinterpret_cast<const char*>(&to), 4);
  size_t count = 0;
  for (size_t pos = bytes.find(old); pos != std::string::npos; pos = bytes.find(old, pos + 1)) {
    bytes.replace(pos, old.size(), now);
    ++count;
  }
  return count;
}

TEST(TfGraphDef, EpsilonIsReadFromTheNode) {
  Graph g = build_mobilenet_v2(0.5f, 96, 1001, 13);
  GraphDefWriteOptions o;
  o.unfold_batchnorm = true;
  o.batchnorm_v3 = false;  // FusedBatchNorm as in graphs exported before TF 1.15
  o.epsilon = 0.5f;
  o.mean_pool = true;
  std::string bytes = graphdef_bytes(g, o);
  EXPECT_NE(bytes.find("FusedBatchNorm"), std::string::npos);
  EXPECT_EQ(bytes.find("FusedBatchNormV3"), std::string::npos);
  const auto input = test::random_input(96 * 96 * 3, 7);
  Graph h = load_graphdef_bytes(bytes, "eps0.5.pb");
  EXPECT_EQ(h.node(h.features).name, "MobilenetV2/Logits/AvgPool");
  const Diff d = compare(g, h, input);
  EXPECT_LE(d.out, 1e-6);
  EXPECT_LE(d.logits, 1e-6);
  // The same file with the epsilon attrs rewritten to TF-slim's usual 0.001 must give a
  // different network: the reader takes epsilon from the node.
  EXPECT_EQ(patch_epsilon(bytes, 0.5f, 0.001f), 52u);
  Graph k = load_graphdef_bytes(bytes, "eps0.001.pb");
  const Diff e = compare(g, k, input);
  EXPECT_GT(e.logits, 1e-2);
}

TEST(TfGraphDef, AnyNodeOrderAndExplicitPadNodes) {
  // Symmetric padding at stride 2 is not TF SAME: the writer must emit Pad + VALID, and
  // the reader must merge the Pad back into the conv.
  Graph g = build_mobilenet_v2(0.5f, 96, 10, 14);
  int changed = 0;
  for (Node& n : g.nodes)
    if (n.op == OpType::DepthwiseConv2D && n.stride_h == 2) {
      n.pad_top = n.pad_bottom = n.pad_left = n.pad_right = 1;
      ++changed;
    }
  g.finalize();
  ASSERT_EQ(changed, 4);
  GraphDefWriteOptions o;
  o.reverse_node_order = true;
  o.unfold_batchnorm = true;
  const std::string bytes = graphdef_bytes(g, o);
  EXPECT_NE(bytes.find("expanded_conv_1/depthwise/Pad"), std::string::npos);
  Graph h = load_graphdef_bytes(bytes, "reversed.pb");
  EXPECT_EQ(h.info.num_classes, 10);
  EXPECT_FALSE(h.info.has_background);
  for (const Node& n : h.nodes)
    if (n.op == OpType::DepthwiseConv2D && n.stride_h == 2) {
      EXPECT_EQ(n.pad_top, 1) << n.name;
      EXPECT_EQ(n.pad_left, 1) << n.name;
    }
  const Diff d = compare(g, h, test::random_input(96 * 96 * 3, 8));
  EXPECT_LE(d.out, 1e-6);
  EXPECT_LE(d.logits, 1e-6);
}

TEST(TfGraphDef, ModelApiLoadsAndRuns) {
  Graph g = build_mobilenet_v2(0.35f, 64, 1001, 15);
  const fs::path p = temp_dir() / "api.pb";
  save_graphdef(g, p.string(), true);
  Options opt;
  opt.threads = 1;
  Model m = Model::load(p.string(), opt);
  EXPECT_EQ(m.info().format, "tf-graphdef");
  EXPECT_EQ(m.info().name, "api");
  const auto input = test::random_input(64 * 64 * 3, 9);
  std::vector<float> probs(1001), logits(1001), feats(size_t(m.info().feature_dim));
  m.run(input.data(), 1, probs.data(), logits.data(), feats.data());
  // The fast fp32 executor against the double-precision reference of the original graph:
  // the engine-wide tolerances (logits rel. L2 <= 1e-4, probabilities <= 1e-5 absolute).
  ReferenceResult r = reference_run(g, input.data(), 1, {g.logits, g.features});
  EXPECT_LE(test::max_abs_diff(probs.data(), r.output.data(), probs.size()), 1e-5);
  EXPECT_LE(test::rel_l2(logits.data(), r.kept[g.logits].data(), logits.size()), 1e-4);
  EXPECT_LE(test::rel_l2(feats.data(), r.kept[g.features].data(), feats.size()), 1e-4);
}

TEST(TfGraphDef, CliConvertsToAndFromPb) {
  const fs::path dir = temp_dir();
  const std::string pb = (dir / "cli.pb").string(), tfl = (dir / "cli.tflite").string();
  std::string out;
  ASSERT_EQ(test::run_command(test::cli_path() + " convert --synthetic 0.35 64 --seed 3 -o " + pb, &out), 0) << out;
  ASSERT_EQ(test::run_command(test::cli_path() + " info --json " + pb, &out), 0) << out;
  EXPECT_NE(out.find("\"format\":\"tf-graphdef\""), std::string::npos) << out;
  EXPECT_NE(out.find("MobilenetV2/Predictions/Reshape_1"), std::string::npos) << out;
  // .pb -> .tflite: both files give the synthetic model's outputs.
  ASSERT_EQ(test::run_command(test::cli_path() + " convert " + pb + " -o " + tfl, &out), 0) << out;
  Graph g = build_mobilenet_v2(0.35f, 64, 1001, 3);
  const auto input = test::random_input(64 * 64 * 3, 4);
  EXPECT_LE(compare(g, load_graph(pb), input).out, 1e-6);
  EXPECT_LE(compare(g, load_graph(tfl), input).out, 1e-6);
}

// ------------------------------------------------------------------ OpenCV agreement

std::string python_with_cv2(std::string* why) {
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("MNV2_PYTHON"); e && *e) candidates.push_back(e);
  candidates.push_back("/usr/bin/python3");  // Debian's python3-opencv lives here
  candidates.push_back("python3");
  for (const std::string& c : candidates) {
    std::string out;
    if (test::run_command(c + " -c 'import cv2, numpy'", &out) == 0) return c;
    *why += c + ": " + out.substr(0, 200) + "; ";
  }
  return "";
}

std::string opencv_script() {
  return (fs::path(__FILE__).parent_path() / "ref" / "opencv_tf_run.py").string();
}

// Writes g as .pb, runs it with OpenCV and with mnv2 (reading the .pb back); returns the
// max abs difference of the probabilities.
void expect_opencv_agrees(const Graph& g, const GraphDefWriteOptions& o, const std::string& tag) {
  std::string why;
  const std::string py = python_with_cv2(&why);
  if (py.empty()) GTEST_SKIP() << "no python with cv2 (python3-opencv) and numpy: " << why;
  const fs::path dir = temp_dir();
  const fs::path pb = dir / (tag + ".pb"), in = dir / (tag + ".in.f32"),
                 out = dir / (tag + ".out.f32");
  save_graphdef(g, pb.string(), o);
  const int res = g.info.height;
  const auto input = test::random_input(size_t(res) * res * 3, 21);
  write_file(in, std::string_view(reinterpret_cast<const char*>(input.data()), input.size() * 4));
  std::string log;
  const int rc = test::run_command(py + " " + opencv_script() + " " + pb.string() + " " +
                                       in.string() + " 1 " + std::to_string(res) + " " +
                                       std::to_string(res) + " 3 " + out.string(),
                                   &log);
  ASSERT_EQ(rc, 0) << log;
  const std::string raw = read_file(out);
  const int classes = g.info.num_classes;
  ASSERT_EQ(raw.size(), size_t(classes) * 4) << log;
  std::vector<float> cv(static_cast<size_t>(classes));
  std::memcpy(cv.data(), raw.data(), raw.size());

  Options opt;
  opt.threads = 1;
  Model m = Model::load(pb.string(), opt);
  std::vector<float> probs(static_cast<size_t>(classes));
  m.run(input.data(), 1, probs.data());
  double max_diff = 0, sum = 0;
  for (int k = 0; k < classes; ++k) {
    max_diff = std::max(max_diff, std::fabs(double(probs[size_t(k)]) - cv[size_t(k)]));
    sum += cv[size_t(k)];
  }
  const auto top = [](const std::vector<float>& v) {
    return int(std::max_element(v.begin(), v.end()) - v.begin());
  };
  std::printf("[%s] OpenCV %s vs mnv2: max abs diff of probabilities %.3g (top-1 %d / %d, "
              "p=%.4f)\n",
              tag.c_str(), log.substr(0, log.find('\n')).c_str(), max_diff, top(cv), top(probs),
              double(probs[size_t(top(probs))]));
  EXPECT_NEAR(sum, 1.0, 1e-4);
  EXPECT_LE(max_diff, 1e-5);
  EXPECT_EQ(top(cv), top(probs));
  // And both agree with the IR the file was written from.
  ReferenceResult r = reference_run(g, input.data(), 1);
  EXPECT_LE(test::max_abs_diff(probs.data(), r.output.data(), probs.size()), 1e-6);
}

TEST(TfGraphDef, OpenCvAgreesPlainBiasAdd) {
  // 160 is even at every stride-2 layer (160, 80, 40, 20, 10): all of them pad 0 before
  // and 1 after, which symmetric padding would get wrong.
  Graph g = build_mobilenet_v2(1.0f, 160, 1001, 31);
  expect_opencv_agrees(g, GraphDefWriteOptions{}, "plain_1.0_160");
}

TEST(TfGraphDef, OpenCvAgreesUnfoldedBatchNorm) {
  Graph g = build_mobilenet_v2(1.0f, 160, 1001, 32);
  GraphDefWriteOptions o;
  o.unfold_batchnorm = true;
  expect_opencv_agrees(g, o, "bn_1.0_160");
}

TEST(TfGraphDef, OpenCvAgreesFlagshipGeometry) {
  Graph g = build_mobilenet_v2(1.4f, 224, 1001, 33);
  GraphDefWriteOptions o;
  o.unfold_batchnorm = true;
  expect_opencv_agrees(g, o, "bn_1.4_224");
}

TEST(TfGraphDef, OpenCvAgreesPadNodesMeanAndOldBatchNorm) {
  Graph g = build_mobilenet_v2(0.5f, 97, 1001, 34);  // odd input: symmetric SAME pads
  for (Node& n : g.nodes)
    if (n.op == OpType::DepthwiseConv2D && n.stride_h == 2 && n.pad_top == 1) {
      n.pad_top = 0;  // a non-SAME geometry: written as Pad + VALID
      n.pad_left = 2;
    }
  g.finalize();
  GraphDefWriteOptions o;
  o.unfold_batchnorm = true;
  o.batchnorm_v3 = false;
  o.epsilon = 0.01f;
  o.mean_pool = true;
  expect_opencv_agrees(g, o, "pad_mean_0.5_97");
}

// ------------------------------------------------------------------ hand-written graphs

pb::Writer a_type(int64_t t) {
  pb::Writer w;
  w.varint(6, uint64_t(t));
  return w;
}
pb::Writer a_str(const std::string& s) {
  pb::Writer w;
  w.bytes(2, s);
  return w;
}
pb::Writer a_bool(bool b) {
  pb::Writer w;
  w.varint(5, b);
  return w;
}
pb::Writer a_float(float f) {
  pb::Writer w;
  w.f32(4, f);
  return w;
}
pb::Writer a_ints(const std::vector<int64_t>& v) {
  pb::Writer l, w;
  l.packed_varints(3, v);
  w.message(1, l);
  return w;
}
pb::Writer shape(const std::vector<int64_t>& dims) {
  pb::Writer s;
  for (int64_t d : dims) {
    pb::Writer dim;
    dim.sint(1, d);
    s.message(2, dim);
  }
  return s;
}
pb::Writer a_shape(const std::vector<int64_t>& dims) {
  pb::Writer w;
  w.message(7, shape(dims));
  return w;
}
// Float tensor: raw content, or float_val entries (one value = the splat form).
pb::Writer a_floats(const std::vector<int64_t>& dims, const std::vector<float>& v, bool as_vals) {
  pb::Writer t, w;
  t.varint(1, 1);
  t.message(2, shape(dims));
  if (as_vals)
    t.packed_floats(5, v.data(), v.size());
  else
    t.bytes(4, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  w.message(8, t);
  return w;
}
pb::Writer a_int32s(const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
  pb::Writer t, w;
  t.varint(1, 3);
  t.message(2, shape(dims));
  t.packed_varints(7, v);
  w.message(8, t);
  return w;
}

struct Nd {
  std::string name, op;
  std::vector<std::string> in;
  std::map<std::string, pb::Writer> attrs;
};

std::string graph_of(const std::vector<Nd>& nodes) {
  pb::Writer g;
  for (const Nd& n : nodes) {
    pb::Writer w;
    w.bytes(1, n.name);
    w.bytes(2, n.op);
    for (const std::string& s : n.in) w.bytes(3, s);
    for (const auto& [k, v] : n.attrs) {
      pb::Writer e;
      e.bytes(1, k);
      e.message(2, v);
      w.message(5, e);
    }
    g.message(1, w);
  }
  pb::Writer versions;  // VersionDef { producer: 27 }, as TensorFlow writes it
  versions.varint(1, 27);
  g.message(4, versions);
  return g.str();
}

Nd const_f(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v,
           bool as_vals = false) {
  return {name, "Const", {}, {{"dtype", a_type(1)}, {"value", a_floats(dims, v, as_vals)}}};
}
Nd const_i(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
  return {name, "Const", {}, {{"dtype", a_type(3)}, {"value", a_int32s(dims, v)}}};
}

std::vector<float> seq(size_t n, float scale, float offset) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = offset + scale * float((i * 37 + 11) % 23) / 23.f;
  return v;
}

// A graph in forms other exporters produce: normalisation inside the graph (Sub, Mul),
// a Pad in front of a VALID stride-2 conv, an EXPLICIT-padded conv, the bias as Add with
// a splat constant, Relu, Mean without keep_dims, name:0 and ^control inputs, nodes in
// no particular order.
TEST(TfGraphDef, HandWrittenForms) {
  const std::vector<float> w1 = seq(3 * 3 * 2 * 4, 0.8f, -0.4f), w2 = seq(2 * 2 * 4 * 6, 0.6f, -0.3f);
  const std::vector<float> scale = {1 / 127.5f, 1 / 64.f};
  std::vector<Nd> nodes = {
      {"out", "Softmax", {"mean:0", "^pool_axes"}, {{"T", a_type(1)}}},
      {"mean", "Mean", {"relu2", "pool_axes"}, {{"T", a_type(1)}, {"keep_dims", a_bool(false)}}},
      const_i("pool_axes", {2}, {2, 1}),
      {"relu2", "Relu", {"conv2/BiasAdd"}, {{"T", a_type(1)}}},
      {"conv2/BiasAdd", "BiasAdd", {"conv2/Conv2D", "b2"}, {{"T", a_type(1)}}},
      const_f("b2", {6}, {0.1f, -0.2f, 0.3f, 0.05f, -0.1f, 0.2f}, true),
      {"conv2/Conv2D",
       "Conv2D",
       {"relu1", "w2/read"},
       {{"T", a_type(1)},
        {"strides", a_ints({1, 1, 1, 1})},
        {"padding", a_str("EXPLICIT")},
        {"explicit_paddings", a_ints({0, 0, 1, 0, 0, 1, 0, 0})}}},
      {"w2/read", "Identity", {"w2"}, {{"T", a_type(1)}}},
      const_f("w2", {2, 2, 4, 6}, w2),
      {"relu1", "Relu", {"add1"}, {{"T", a_type(1)}}},
      {"add1", "AddV2", {"bias1", "conv1"}, {{"T", a_type(1)}}},
      const_f("bias1", {4}, {0.25f}, true),  // splat: one value fills [4]
      {"conv1",
       "Conv2D",
       {"pad", "w1"},
       {{"T", a_type(1)}, {"strides", a_ints({1, 2, 2, 1})}, {"padding", a_str("VALID")}}},
      {"pad", "Pad", {"norm/mul", "paddings"}, {{"T", a_type(1)}}},
      const_i("paddings", {4, 2}, {0, 0, 1, 0, 0, 1, 0, 0}),
      const_f("w1", {3, 3, 2, 4}, w1),
      {"norm/mul", "Mul", {"norm/sub", "norm/scale"}, {{"T", a_type(1)}}},
      const_f("norm/scale", {2}, scale),
      {"norm/sub", "Sub", {"image", "norm/mean"}, {{"T", a_type(1)}}},
      const_f("norm/mean", {}, {127.5f}, true),
      {"image", "Placeholder", {}, {{"dtype", a_type(1)}, {"shape", a_shape({-1, 8, 8, 2})}}},
  };
  Graph h = load_graphdef_bytes(graph_of(nodes), "hand.pb");
  EXPECT_EQ(h.info.input_name, "image");
  EXPECT_EQ(h.info.output_name, "out");
  EXPECT_TRUE(h.info.normalization_in_graph);
  EXPECT_EQ(h.info.num_classes, 6);
  EXPECT_FALSE(h.info.has_background);
  EXPECT_EQ(h.info.feature_dim, 6);

  // The same network built directly in the IR.
  Graph g;
  g.info.height = g.info.width = 8;
  g.info.channels = 2;
  Node in;
  in.name = "image";
  g.input = g.add(in);
  Node aff;
  aff.op = OpType::ChannelAffine;
  aff.inputs = {g.input};
  aff.weights = scale;
  aff.bias = {-127.5f * scale[0], -127.5f * scale[1]};
  const int a = g.add(aff);
  auto oihw = [](const std::vector<float>& w, int kh, int kw, int ci, int co) {
    std::vector<float> o(w.size());
    for (int y = 0; y < kh; ++y)
      for (int x = 0; x < kw; ++x)
        for (int i = 0; i < ci; ++i)
          for (int c = 0; c < co; ++c)
            o[size_t(((c * kh + y) * kw + x) * ci + i)] = w[size_t(((y * kw + x) * ci + i) * co + c)];
    return o;
  };
  Node c1;
  c1.op = OpType::Conv2D;
  c1.inputs = {a};
  c1.kernel_h = c1.kernel_w = 3;
  c1.stride_h = c1.stride_w = 2;
  c1.pad_top = 1, c1.pad_bottom = 0, c1.pad_left = 0, c1.pad_right = 1;
  c1.out_channels = 4;
  c1.weights = oihw(w1, 3, 3, 2, 4);
  c1.bias = {0.25f, 0.25f, 0.25f, 0.25f};
  c1.activation = Activation::Relu;
  const int k1 = g.add(c1);
  Node c2;
  c2.op = OpType::Conv2D;
  c2.inputs = {k1};
  c2.kernel_h = c2.kernel_w = 2;
  c2.pad_top = 1, c2.pad_right = 1;
  c2.out_channels = 6;
  c2.weights = oihw(w2, 2, 2, 4, 6);
  c2.bias = {0.1f, -0.2f, 0.3f, 0.05f, -0.1f, 0.2f};
  c2.activation = Activation::Relu;
  const int k2 = g.add(c2);
  Node pool;
  pool.op = OpType::GlobalAvgPool;
  pool.inputs = {k2};
  g.features = g.add(pool);
  g.logits = g.features;
  Node sm;
  sm.op = OpType::Softmax;
  sm.inputs = {g.features};
  g.output = g.add(sm);
  g.finalize();

  std::vector<float> pixels(8 * 8 * 2);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = float((i * 97) % 256);
  ReferenceResult want = reference_run(g, pixels.data(), 1, {g.logits});
  ReferenceResult got = reference_run(h, pixels.data(), 1, {h.logits});
  ASSERT_EQ(got.output.size(), 6u);
  for (size_t k = 0; k < 6; ++k) {
    EXPECT_NEAR(got.output[k], want.output[k], 1e-6 * std::fabs(want.output[k]) + 1e-7) << k;
    EXPECT_NEAR(got.kept[h.logits][k], want.kept[g.logits][k], 1e-5) << k;
  }
}

// A small valid graph the error tests below mutate.
std::vector<Nd> tiny_graph() {
  return {
      {"input", "Placeholder", {}, {{"dtype", a_type(1)}, {"shape", a_shape({1, 4, 4, 2})}}},
      const_f("w", {1, 1, 2, 3}, seq(6, 1.f, -0.5f)),
      {"conv", "Conv2D", {"input", "w"}, {{"T", a_type(1)}, {"strides", a_ints({1, 1, 1, 1})}, {"padding", a_str("SAME")}}},
      {"act", "Relu6", {"conv"}, {{"T", a_type(1)}}},
      {"pool", "AvgPool", {"act"}, {{"T", a_type(1)}, {"ksize", a_ints({1, 4, 4, 1})}, {"strides", a_ints({1, 2, 2, 1})}, {"padding", a_str("VALID")}}},
      {"out", "Softmax", {"pool"}, {{"T", a_type(1)}}},
  };
}

std::string load_error(const std::vector<Nd>& nodes) {
  try {
    load_graphdef_bytes(graph_of(nodes), "bad.pb");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TfGraphDef, TinyGraphLoads) {
  EXPECT_EQ(load_error(tiny_graph()), "");
  Graph g = load_graphdef_bytes(graph_of(tiny_graph()), "tiny.pb");
  EXPECT_EQ(g.nodes.size(), 4u);  // input, conv (+relu6), pool, softmax
  EXPECT_EQ(g.node(1).activation, Activation::Relu6);
}

TEST(TfGraphDef, UnsupportedOpIsNamed) {
  auto n = tiny_graph();
  n[3].op = "LSTMBlockCell";
  const std::string e = load_error(n);
  EXPECT_NE(e.find("LSTMBlockCell"), std::string::npos) << e;
  EXPECT_NE(e.find("'act'"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.pb"), std::string::npos) << e;
}

TEST(TfGraphDef, CycleIsReported) {
  auto n = tiny_graph();
  n[2].in = {"loop_b", "w"};
  n.push_back({"loop_a", "Identity", {"conv"}, {}});
  n.push_back({"loop_b", "Identity", {"loop_a:0"}, {}});
  const std::string e = load_error(n);
  EXPECT_NE(e.find("cycle"), std::string::npos) << e;
  EXPECT_NE(e.find("loop_a"), std::string::npos) << e;
}

TEST(TfGraphDef, DanglingInputIsReported) {
  auto n = tiny_graph();
  n[3].in = {"no_such_node"};
  const std::string e = load_error(n);
  EXPECT_NE(e.find("no_such_node"), std::string::npos) << e;
  EXPECT_NE(e.find("'act'"), std::string::npos) << e;
}

TEST(TfGraphDef, AbsurdConstShapesAreRejected) {
  for (const std::vector<int64_t>& dims :
       std::vector<std::vector<int64_t>>{{100000, 100000, 100000, 3}, {int64_t(1) << 40, 1, 2, 3},
                                         {1, -1, 2, 3}, {1, 1, 2, 3, 1, 1, 1, 1, 1}}) {
    auto n = tiny_graph();
    n[1] = const_f("w", dims, {0.5f}, true);  // a splat that would fill the whole shape
    const std::string e = load_error(n);
    EXPECT_NE(e.find("'w'"), std::string::npos) << e;
  }
  {
    // A splat of 6 M elements from a file of a few hundred bytes is refused before it is
    // materialised.
    auto n = tiny_graph();
    n[1] = const_f("w", {1000, 1000, 2, 3}, {0.5f}, true);
    const std::string e = load_error(n);
    EXPECT_NE(e.find("plausibly"), std::string::npos) << e;
  }
  auto n = tiny_graph();
  n[1] = const_f("w", {1, 1, 2, 3}, {1.f, 2.f});  // 8 bytes of content for 6 floats
  EXPECT_NE(load_error(n).find("tensor_content"), std::string::npos);
}

TEST(TfGraphDef, OtherMistakesAreReported) {
  {
    auto n = tiny_graph();
    n[2].attrs["padding"] = a_str("REFLECT");
    EXPECT_NE(load_error(n).find("REFLECT"), std::string::npos);
  }
  {
    auto n = tiny_graph();
    n[2].attrs["data_format"] = a_str("NCHW");
    EXPECT_NE(load_error(n).find("NCHW"), std::string::npos);
  }
  {
    auto n = tiny_graph();
    n[2].attrs["dilations"] = a_ints({1, 2, 2, 1});
    EXPECT_NE(load_error(n).find("dilat"), std::string::npos);
  }
  {
    auto n = tiny_graph();  // batch norm left in training mode (TF's default)
    n.push_back(const_f("g", {3}, {1.f}, true));
    n.push_back({"bn", "FusedBatchNormV3", {"conv", "g", "g", "g", "g"}, {{"epsilon", a_float(0.001f)}}});
    n[3].in = {"bn"};
    EXPECT_NE(load_error(n).find("is_training"), std::string::npos);
  }
  {
    auto n = tiny_graph();
    n[3].in = {"conv:1"};
    EXPECT_NE(load_error(n).find("output 1"), std::string::npos);
  }
  {
    auto n = tiny_graph();
    n[4].attrs["ksize"] = a_ints({1, 2, 2, 1});
    EXPECT_NE(load_error(n).find("global"), std::string::npos);
  }
  {
    auto n = tiny_graph();
    n.push_back(n[0]);
    EXPECT_NE(load_error(n).find("two nodes"), std::string::npos);
  }
  {
    auto n = tiny_graph();
    n[0].attrs["shape"] = a_shape({1, -1, -1, 2});
    EXPECT_NE(load_error(n).find("input shape"), std::string::npos);
  }
  for (int64_t batch : {int64_t(1) << 62, int64_t(4097), int64_t(0)}) {
    // A fixed batch beyond what one call can take must not load (and run as batch 1).
    auto n = tiny_graph();
    n[0].attrs["shape"] = a_shape({batch, 4, 4, 2});
    EXPECT_NE(load_error(n).find("invalid batch dimension"), std::string::npos) << batch;
  }
  {
    auto n = tiny_graph();  // a fixed batch the engine can run is fine
    n[0].attrs["shape"] = a_shape({8, 4, 4, 2});
    EXPECT_EQ(load_error(n), "");
  }
  {
    auto n = tiny_graph();
    n[2].in = {"input", "input"};  // filter not a constant
    EXPECT_NE(load_error(n).find("constant"), std::string::npos);
  }
  EXPECT_NE(load_error({}).find("no nodes"), std::string::npos);
}

TEST(TfGraphDef, DetectFormatTellsGraphDefFromOnnx) {
  const fs::path dir = temp_dir();
  write_file(dir / "tiny.pb", graph_of(tiny_graph()));
  EXPECT_EQ(detect_format((dir / "tiny.pb").string()), ModelFormat::TFGraphDef);
  // A first node whose name runs past the 64 bytes detect_format looks at.
  auto long_first = tiny_graph();
  std::rotate(long_first.begin(), long_first.begin() + 1, long_first.end());
  long_first.insert(long_first.begin(), const_f(std::string(100, 'n'), {1}, {1.f}));
  write_file(dir / "long.pb", graph_of(long_first));
  EXPECT_EQ(detect_format((dir / "long.pb").string()), ModelFormat::TFGraphDef);
  EXPECT_EQ(load_graph((dir / "long.pb").string()).info.output_name, "out");
  // An ONNX ModelProto starts with ir_version (field 1 varint).
  write_file(dir / "m.onnx", std::string("\x08\x07\x12\x07pytorch", 11));
  EXPECT_NE(detect_format((dir / "m.onnx").string()), ModelFormat::TFGraphDef);
  // 0x0a followed by something that is not a NodeDef.
  write_file(dir / "junk.bin", std::string("\x0a\x05\xff\xfe\x00\x01\x02\x03\x04", 9));
  EXPECT_EQ(detect_format((dir / "junk.bin").string()), ModelFormat::Unknown);
  EXPECT_THROW(load_graph((dir / "junk.bin").string()), Error);
}

// ------------------------------------------------------------------ malformed files

std::string small_pb(bool reverse) {
  Graph g = build_mobilenet_v2(0.35f, 32, 10, 41);
  GraphDefWriteOptions o;
  o.unfold_batchnorm = true;
  o.reverse_node_order = reverse;
  return graphdef_bytes(g, o);
}

// Byte ranges of the tensor_content payloads (GraphDef.node -> NodeDef.attr -> AttrValue
// .tensor -> TensorProto.tensor_content): bulk float data, where every cut point takes the
// same path through the reader.
std::vector<std::pair<size_t, size_t>> payloads(const std::string& bytes) {
  std::vector<std::pair<size_t, size_t>> out;
  pb::Reader g(bytes);
  pb::Field f, a, e, v, t;
  while (g.next(f)) {
    if (f.number != 1) continue;
    pb::Reader node = g.sub(f);
    while (node.next(a)) {
      if (a.number != 5) continue;
      pb::Reader entry = node.sub(a);
      while (entry.next(e)) {
        if (e.number != 2) continue;
        pb::Reader value = entry.sub(e);
        while (value.next(v)) {
          if (v.number != 8) continue;
          pb::Reader tensor = value.sub(v);
          while (tensor.next(t))
            if (t.number == 4) out.emplace_back(tensor.absolute(t), tensor.absolute(t) + t.data.size());
        }
      }
    }
  }
  return out;
}

// Every cut point, except that inside tensor_content payloads only every 61st byte and
// the 16 bytes at each end are cut (the structure around them is cut everywhere).
std::vector<size_t> cut_points(const std::string& bytes) {
  std::vector<char> bulk(bytes.size() + 1, 0);
  for (auto [b, e] : payloads(bytes))
    for (size_t k = b + 16; k + 16 < e; ++k) bulk[k] = 1;
  std::vector<size_t> cuts;
  for (size_t len = 0; len < bytes.size(); ++len)
    if (!bulk[len] || len % 61 == 0) cuts.push_back(len);
  return cuts;
}

TEST(TfGraphDef, EveryTruncationIsAnError) {
  // Every proper prefix fails: one that cuts a node leaves a half field, one that drops
  // whole nodes or the trailing versions field lacks the versions field TensorFlow always
  // writes last. Both node orders are checked.
  for (bool consumers_first : {true, false}) {
    const std::string bytes = small_pb(consumers_first);
    ASSERT_EQ(bytes[bytes.size() - 5], '\x22');  // versions: 0x22 len 0x08 producer
    size_t errors = 0;
    const std::vector<size_t> cuts = cut_points(bytes);
    EXPECT_GT(cuts.size(), 40000u);
    for (size_t len : cuts) {
      try {
        load_graphdef_bytes(std::string_view(bytes.data(), len), "cut.pb");
        ADD_FAILURE() << "a truncated file of " << len << " of " << bytes.size()
                      << " bytes loaded";
        break;
      } catch (const Error&) {
        ++errors;
      }
    }
    EXPECT_EQ(errors, cuts.size());
  }
}

TEST(TfGraphDef, TinyGraphEveryPrefixIsAnError) {
  const std::string bytes = graph_of(tiny_graph());
  for (size_t len = 0; len < bytes.size(); ++len)
    EXPECT_THROW(load_graphdef_bytes(std::string_view(bytes.data(), len), "cut.pb"), Error)
        << "prefix of " << len << " bytes";
  EXPECT_NO_THROW(load_graphdef_bytes(bytes, "whole.pb"));
}

TEST(TfGraphDef, RandomCorruptionNeverCrashes) {
  const std::string good = small_pb(false);
  std::mt19937 rng(20261125);
  size_t errors = 0, loads = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes = good;
    const int flips = 1 + int(rng() % 8);
    for (int k = 0; k < flips; ++k) {
      // Half the hits land in the first 4 KiB, where the structure (not weights) is dense.
      const size_t pos = (rng() & 1) ? rng() % std::min<size_t>(4096, bytes.size())
                                     : rng() % bytes.size();
      bytes[pos] = char(rng() & 0xff);
    }
    try {
      Graph g = load_graphdef_bytes(bytes, "corrupt.pb");
      ++loads;
      EXPECT_LE(g.total_params(), int64_t(1) << 24);
    } catch (const Error&) {
      ++errors;
    }
  }
  std::printf("2000 corrupted files: %zu errors, %zu valid loads\n", errors, loads);
  EXPECT_GT(errors, 200u);
}

}  // namespace
}  // namespace mnv2
