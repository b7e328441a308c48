// ONNX loader and writer tests.
//
// References: models exported by PyTorch (tests/ref/onnx_export_mnv2.py, Debian
// python3-torch) and ONNX Runtime (onnxruntime-node from npm, run by tests/ref/ort_run.js).
// tests/ref/setup_onnx_ref.sh prepares both once under <build>/onnx_ref; when a reference
// cannot be prepared the tests that need it skip and say why.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "formats/loader.h"
#include "formats/onnx.h"
#include "formats/pb_wire.h"
#include "graph/mobilenet_v2.h"
#include "mnv2/mnv2.h"
#include "test_util.h"

namespace mnv2 {
namespace {

namespace fs = std::filesystem;

std::string ref_scripts() { return (fs::path(__FILE__).parent_path() / "ref").string(); }
std::string ref_dir() { return (fs::path(test::cli_path()).parent_path() / "onnx_ref").string(); }

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  const size_t p = t.rfind('\n');
  return p == std::string::npos ? t : t.substr(p + 1);
}

struct RefSetup {
  bool ok = false;
  std::string why;   // when !ok
  std::string path;  // node_modules for ORT
};

const RefSetup& ort_setup() {
  static const RefSetup s = [] {
    RefSetup r;
    std::string out;
    const int rc = test::run_command(
        quote(ref_scripts() + "/setup_onnx_ref.sh") + " ort " + quote(ref_dir() + "/ort"), &out);
    if (rc != 0) {
      r.why = "ONNX Runtime unavailable: " + last_line(out);
      return r;
    }
    r.ok = true;
    r.path = last_line(out);
    return r;
  }();
  return s;
}

const RefSetup& torch_setup() {
  static const RefSetup s = [] {
    RefSetup r;
    std::string out;
    const std::string dir = ref_dir() + "/models";
    const int rc = test::run_command(
        quote(ref_scripts() + "/setup_onnx_ref.sh") + " models " + quote(dir), &out);
    if (rc != 0) {
      r.why = "PyTorch reference models unavailable: " + last_line(out);
      return r;
    }
    r.ok = true;
    r.path = dir;
    return r;
  }();
  return s;
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

void write_floats(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * 4));
}

std::vector<float> nchw_to_nhwc(const std::vector<float>& x, int n, int c, int h, int w) {
  std::vector<float> y(x.size());
  for (int b = 0; b < n; ++b)
    for (int k = 0; k < c; ++k)
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j)
          y[((size_t(b) * h + i) * w + j) * c + k] = x[((size_t(b) * c + k) * h + i) * w + j];
  return y;
}

std::vector<float> nhwc_to_nchw(const std::vector<float>& x, int n, int c, int h, int w) {
  std::vector<float> y(x.size());
  for (int b = 0; b < n; ++b)
    for (int k = 0; k < c; ++k)
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j)
          y[((size_t(b) * c + k) * h + i) * w + j] = x[((size_t(b) * h + i) * w + j) * c + k];
  return y;
}

// Runs `model` in ONNX Runtime on an NCHW input; returns the first output.
std::vector<float> run_ort(const std::string& model, const std::vector<float>& nchw,
                           const std::vector<int>& dims, const std::string& tag) {
  const RefSetup& s = ort_setup();
  const std::string dir = ref_dir() + "/runs";
  fs::create_directories(dir);
  const std::string in = dir + "/" + tag + ".in.bin", out = dir + "/" + tag + ".ort.bin";
  write_floats(in, nchw);
  std::string d;
  for (size_t i = 0; i < dims.size(); ++i) d += (i ? "," : "") + std::to_string(dims[i]);
  std::string log;
  const int rc = test::run_command("NODE_PATH=" + quote(s.path) + " node " +
                                       quote(ref_scripts() + "/ort_run.js") + " " + quote(model) +
                                       " " + quote(in) + " " + d + " " + quote(out),
                                   &log);
  if (rc != 0) throw std::runtime_error("ONNX Runtime failed on " + model + ": " + log);
  return read_floats(out);
}

std::vector<double> softmax_rows(const std::vector<float>& x, int rows) {
  const size_t n = x.size() / size_t(rows);
  std::vector<double> p(x.size());
  for (int r = 0; r < rows; ++r) {
    const float* a = x.data() + size_t(r) * n;
    double m = a[0], s = 0;
    for (size_t i = 0; i < n; ++i) m = std::max(m, double(a[i]));
    for (size_t i = 0; i < n; ++i) s += std::exp(double(a[i]) - m);
    for (size_t i = 0; i < n; ++i) p[size_t(r) * n + i] = std::exp(double(a[i]) - m) / s;
  }
  return p;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// ---- PyTorch exports vs mnv2 vs ONNX Runtime ----------------------------------------------

struct RefModel {
  std::string name;
  int batch, c, h, w, classes;
  bool softmax;
};

std::vector<RefModel> manifest(const std::string& dir) {
  std::ifstream f(dir + "/manifest.txt");
  std::vector<RefModel> out;
  RefModel m;
  int sm;
  while (f >> m.name >> m.batch >> m.c >> m.h >> m.w >> m.classes >> sm) {
    m.softmax = sm != 0;
    out.push_back(m);
  }
  return out;
}

void check_torch_export(const std::string& stem) {
  const RefSetup& ts = torch_setup();
  if (!ts.ok) GTEST_SKIP() << ts.why;
  const RefSetup& os = ort_setup();
  if (!os.ok) GTEST_SKIP() << os.why;
  RefModel ref{};
  for (const RefModel& m : manifest(ts.path))
    if (m.name == stem) ref = m;
  ASSERT_EQ(ref.name, stem) << "missing from manifest";
  const std::string path = ts.path + "/" + stem + ".onnx";

  Model model = Model::load(path, Options{.threads = 2, .max_batch = ref.batch});
  const ModelInfo& info = model.info();
  EXPECT_EQ(info.format, "onnx");
  EXPECT_EQ(info.input_name, "input");
  EXPECT_EQ(info.layout, Layout::NCHW);
  EXPECT_EQ(info.channel_order, ChannelOrder::RGB);
  EXPECT_FALSE(info.normalization_in_graph);
  EXPECT_EQ(info.height, ref.h);
  EXPECT_EQ(info.width, ref.w);
  EXPECT_EQ(info.num_classes, ref.classes);
  EXPECT_EQ(info.has_background, ref.classes == 1001);
  EXPECT_EQ(info.output_is_softmax, ref.softmax);

  const std::vector<float> x = read_floats(ts.path + "/" + stem + ".input.bin");
  const std::vector<float> torch_out = read_floats(ts.path + "/" + stem + ".torch.bin");
  ASSERT_EQ(x.size(), size_t(ref.batch) * ref.c * ref.h * ref.w);
  ASSERT_EQ(torch_out.size(), size_t(ref.batch) * ref.classes);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> ours(torch_out.size());
  model.run(nchw_to_nhwc(x, ref.batch, ref.c, ref.h, ref.w).data(), ref.batch, ours.data());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<float> ort = run_ort(path, x, {ref.batch, ref.c, ref.h, ref.w}, stem);
  ASSERT_EQ(ort.size(), ours.size());

  // Probabilities: the output itself, or softmax of logits-only models.
  const std::vector<double> p_ours = ref.softmax ? to_double(ours) : softmax_rows(ours, ref.batch);
  const std::vector<double> p_ort = ref.softmax ? to_double(ort) : softmax_rows(ort, ref.batch);
  const std::vector<double> p_torch =
      ref.softmax ? to_double(torch_out) : softmax_rows(torch_out, ref.batch);
  double d_ort = 0, d_torch = 0, d_ref = 0, pmax = 0;
  for (size_t i = 0; i < p_ours.size(); ++i) {
    d_ort = std::max(d_ort, std::fabs(p_ours[i] - p_ort[i]));
    d_torch = std::max(d_torch, std::fabs(p_ours[i] - p_torch[i]));
    d_ref = std::max(d_ref, std::fabs(p_ort[i] - p_torch[i]));
    pmax = std::max(pmax, p_ort[i]);
  }
  std::printf("%s: mnv2 %.2f s; max |p| diff mnv2-ORT %.3g, mnv2-torch %.3g, ORT-torch %.3g; "
              "largest probability %.3f\n",
              stem.c_str(), secs, d_ort, d_torch, d_ref, pmax);
  EXPECT_LE(d_ort, 1e-5);
  EXPECT_LE(d_torch, 1e-5);
  // The random network must not be trivially flat, or the comparison would prove little.
  EXPECT_GT(pmax, 5.0 / ref.classes);
  if (!ref.softmax) {
    const double e = test::rel_l2(ours.data(), to_double(ort).data(), ours.size());
    std::printf("%s: logits rel L2 vs ORT %.3g\n", stem.c_str(), e);
    EXPECT_LE(e, 1e-5);
  }
  for (int b = 0; b < ref.batch; ++b) {
    const size_t n = size_t(ref.classes);
    auto top = [&](const std::vector<double>& p) {
      return std::max_element(p.begin() + b * n, p.begin() + (b + 1) * n) - p.begin();
    };
    EXPECT_EQ(top(p_ours), top(p_ort)) << "image " << b;
  }
}

TEST(OnnxTorchExport, MobileNetV2_14_224_Opset13) {
  check_torch_export("mnv2_1.4_224_opset13");
  if (HasFatalFailure() || IsSkipped()) return;
  // The file is the flagship topology: totals match the model card, and the stem conv has
  // TF SAME padding (0 before, 1 after) made from torch's explicit Pad.
  Graph g = load_graph(torch_setup().path + "/mnv2_1.4_224_opset13.onnx");
  EXPECT_EQ(g.total_params(), 6086601);
  EXPECT_EQ(g.total_macs(), 582197616);
  EXPECT_EQ(g.info.feature_dim, 1792);
  const Node& stem = g.node(1);
  EXPECT_EQ(stem.op, OpType::Conv2D);
  EXPECT_EQ(stem.activation, Activation::Relu6);
  EXPECT_EQ(stem.pad_top, 0);
  EXPECT_EQ(stem.pad_bottom, 1);
  EXPECT_EQ(stem.pad_left, 0);
  EXPECT_EQ(stem.pad_right, 1);
  int dw = 0, adds = 0;
  for (const Node& n : g.nodes) {
    dw += n.op == OpType::DepthwiseConv2D;
    adds += n.op == OpType::Add;
  }
  EXPECT_EQ(dw, 17);
  EXPECT_EQ(adds, 10);
  EXPECT_EQ(g.node(g.features).op, OpType::GlobalAvgPool);
  EXPECT_EQ(g.node(g.output).op, OpType::Softmax);
}

TEST(OnnxTorchExport, MobileNetV2_10_128_Opset11_GemmLogits) {
  check_torch_export("mnv2_1.0_128_opset11");
}

TEST(OnnxTorchExport, MobileNetV2_035_96_Opset9) { check_torch_export("mnv2_0.35_96_opset9"); }

// ---- writer: round trips -----------------------------------------------------------------

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::path(test::cli_path()).parent_path() / "onnx_test_tmp";
  fs::create_directories(dir);
  return (dir / name).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

struct Outputs {
  std::vector<float> probs, logits, features;
};

Outputs run_model(Model& m, const std::vector<float>& x, int batch) {
  Outputs o;
  o.probs.resize(size_t(batch) * m.info().num_classes);
  o.logits.resize(o.probs.size());
  o.features.resize(size_t(batch) * m.info().feature_dim);
  m.run(x.data(), batch, o.probs.data(), o.logits.data(), o.features.data());
  return o;
}

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  return test::rel_l2(a.data(), to_double(b).data(), a.size());
}

TEST(OnnxRoundTrip, SyntheticModelsReloadWithIdenticalOutputs) {
  struct Case {
    float width;
    int res, classes;
  } cases[] = {{0.35f, 32, 10}, {1.4f, 96, 1001}};
  for (const Case& c : cases) {
    SCOPED_TRACE("width " + std::to_string(c.width) + " res " + std::to_string(c.res));
    Graph g = build_mobilenet_v2(c.width, c.res, c.classes, 11);
    const std::string path = temp_path("roundtrip.onnx");
    save_onnx(g, path);
    EXPECT_EQ(detect_format(path), ModelFormat::ONNX);
    Graph h = load_graph(path);
    EXPECT_EQ(h.total_params(), g.total_params());
    EXPECT_EQ(h.total_macs(), g.total_macs());
    EXPECT_EQ(h.info.format, "onnx");
    EXPECT_EQ(h.info.layout, Layout::NCHW);
    EXPECT_EQ(h.info.num_classes, c.classes);
    EXPECT_EQ(h.info.feature_dim, g.info.feature_dim);
    EXPECT_EQ(h.info.has_background, c.classes == 1001);
    EXPECT_TRUE(h.info.output_is_softmax);
    EXPECT_FLOAT_EQ(h.info.width_multiplier, c.width);
    // The weights come back bit for bit, in IR layout.
    int convs = 0;
    for (const Node& n : g.nodes) {
      if (n.op != OpType::Conv2D && n.op != OpType::DepthwiseConv2D) continue;
      for (const Node& m : h.nodes)
        if (m.name == n.name) {
          ++convs;
          EXPECT_EQ(m.op, n.op) << n.name;
          EXPECT_EQ(m.weights, n.weights) << n.name;
          EXPECT_EQ(m.bias, n.bias) << n.name;
          EXPECT_EQ(m.activation, n.activation) << n.name;
          EXPECT_EQ(std::vector<int>({m.pad_top, m.pad_bottom, m.pad_left, m.pad_right}),
                    std::vector<int>({n.pad_top, n.pad_bottom, n.pad_left, n.pad_right}))
              << n.name;
        }
    }
    EXPECT_EQ(convs, 53);

    Model a = Model::synthetic(c.width, c.res, c.classes, 11, Options{.threads = 2, .max_batch = 2});
    Model b = Model::load(path, Options{.threads = 2, .max_batch = 2});
    const std::vector<float> x = test::random_input(size_t(2) * c.res * c.res * 3, 5);
    const Outputs oa = run_model(a, x, 2), ob = run_model(b, x, 2);
    EXPECT_LE(rel(ob.probs, oa.probs), 1e-6);
    EXPECT_LE(rel(ob.logits, oa.logits), 1e-6);
    EXPECT_LE(rel(ob.features, oa.features), 1e-6);
  }
}

TEST(OnnxRoundTrip, Float16WeightsRoundToHalfPrecision) {
  Graph g = build_mobilenet_v2(0.5f, 64, 1001, 13);
  const std::string f32 = onnx_model_bytes(g), f16 = onnx_model_bytes(g, true);
  EXPECT_LT(double(f16.size()), 0.55 * double(f32.size()));
  Graph h = load_onnx_bytes(f16, "half.onnx");
  size_t checked = 0, changed = 0;
  for (const Node& n : g.nodes)
    for (const Node& m : h.nodes) {
      if (m.name != n.name || n.weights.empty()) continue;
      ASSERT_EQ(m.weights.size(), n.weights.size());
      for (size_t i = 0; i < n.weights.size(); ++i) {
        const double a = n.weights[i], b = m.weights[i];
        // float16: 11 significant bits (relative 2^-11 after rounding), subnormals below 2^-14
        EXPECT_LE(std::fabs(a - b), std::max(std::fabs(a) * std::ldexp(1.0, -11), std::ldexp(1.0, -25)))
            << n.name << "[" << i << "]";
        ++checked;
        changed += a != b;
      }
    }
  EXPECT_GT(checked, size_t(1900000));
  EXPECT_GT(changed, checked / 2);  // really rounded, not stored as float32
  Model a = Model::synthetic(0.5f, 64, 1001, 13, Options{.threads = 1});
  const std::string path = temp_path("half.onnx");
  write_bytes(path, f16);
  Model b = Model::load(path, Options{.threads = 1});
  const std::vector<float> x = test::random_input(size_t(64) * 64 * 3, 4);
  const Outputs oa = run_model(a, x, 1), ob = run_model(b, x, 1);
  const double e = rel(ob.logits, oa.logits);
  std::printf("fp16 weights: logits rel L2 vs float32 %.3g\n", e);
  EXPECT_LE(e, 1e-2);
  EXPECT_GT(e, 0.0);
}

TEST(OnnxRoundTrip, CliConvertWritesOnnx) {
  const std::string path = temp_path("cli_convert.onnx");
  fs::remove(path);
  std::string out;
  ASSERT_EQ(test::run_command(quote(test::cli_path()) + " convert --synthetic 0.35 32 --classes 10 "
                                  "--seed 3 -o " + quote(path),
                              &out),
            0)
      << out;
  Model a = Model::synthetic(0.35f, 32, 10, 3, Options{.threads = 1});
  Model b = Model::load(path, Options{.threads = 1});
  EXPECT_EQ(b.info().format, "onnx");
  const std::vector<float> x = test::random_input(size_t(32) * 32 * 3, 8);
  const Outputs oa = run_model(a, x, 1), ob = run_model(b, x, 1);
  EXPECT_LE(rel(ob.probs, oa.probs), 1e-6);
  // Not a model format at all: a clear error, not a crash.
  write_bytes(temp_path("text.onnx"), "hello, this is not a model\n");
  EXPECT_NE(test::run_command(quote(test::cli_path()) + " info " + quote(temp_path("text.onnx")), &out), 0);
  EXPECT_NE(out.find("error"), std::string::npos) << out;
}

// Inserts y = x * s[c] + b[c] right after the input (the normalisation an OpenVINO IR bakes in).
Graph with_input_affine(Graph g, const std::vector<float>& s, const std::vector<float>& b) {
  Node aff;
  aff.name = "input_normalize";
  aff.op = OpType::ChannelAffine;
  aff.inputs = {g.input};
  aff.weights = s;
  aff.bias = b;
  std::vector<Node> nodes;
  nodes.push_back(g.nodes[0]);
  nodes.push_back(aff);
  for (size_t i = 1; i < g.nodes.size(); ++i) {
    Node n = g.nodes[i];
    for (int& in : n.inputs) in = in == 0 ? 1 : in + 1;
    nodes.push_back(n);
  }
  g.nodes = nodes;
  g.output += 1;
  g.logits += 1;
  g.features += 1;
  g.finalize();
  return g;
}

TEST(OnnxRoundTrip, WriterOutputRunsInOnnxRuntime) {
  const RefSetup& os = ort_setup();
  if (!os.ok) GTEST_SKIP() << os.why;
  struct Case {
    float width;
    int res, classes;
    bool affine, fp16;
  } cases[] = {{1.4f, 160, 1001, false, false}, {0.5f, 64, 1000, true, false},
               {1.0f, 96, 1001, false, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE("width " + std::to_string(c.width) + " res " + std::to_string(c.res));
    Graph g = build_mobilenet_v2(c.width, c.res, c.classes, 21);
    if (c.affine) {
      // BGR, raw 0..255 pixels: scale/offset per channel inside the graph.
      g = with_input_affine(g, {1 / 127.5f, 1 / 127.f, 1 / 128.f}, {-1.f, -0.99f, -1.01f});
      g.info.channel_order = ChannelOrder::BGR;
      g.info.normalization_in_graph = true;
    }
    const std::string path = temp_path("writer_ort.onnx");
    save_onnx(g, path, c.fp16);
    Model m = Model::load(path, Options{.threads = 2, .max_batch = 2});
    EXPECT_EQ(m.info().channel_order, c.affine ? ChannelOrder::BGR : ChannelOrder::RGB);
    EXPECT_EQ(m.info().normalization_in_graph, c.affine);
    const int batch = 2, n = c.res;
    std::vector<float> x = test::random_input(size_t(batch) * n * n * 3, 9);
    if (c.affine)
      for (float& v : x) v = (v + 1.f) * 127.5f;
    std::vector<float> ours(size_t(batch) * c.classes);
    m.run(x.data(), batch, ours.data());
    const std::vector<float> ort = run_ort(path, nhwc_to_nchw(x, batch, 3, n, n), {batch, 3, n, n},
                                           "writer_" + std::to_string(c.res));
    ASSERT_EQ(ort.size(), ours.size());
    const double d = test::max_abs_diff(ours.data(), to_double(ort).data(), ours.size());
    double pmax = 0;
    for (float p : ort) pmax = std::max(pmax, double(p));
    std::printf("writer %.2f/%d%s: max |p| diff mnv2-ORT %.3g (largest probability %.3f)\n",
                double(c.width), c.res, c.fp16 ? " fp16" : "", d, pmax);
    EXPECT_LE(d, 1e-5);
    EXPECT_GT(pmax, 5.0 / c.classes);
  }
}

// ---- hand-built models ---------------------------------------------------------------------

// A small ModelProto builder for tests (field numbers of onnx.proto).
struct Tiny {
  int opset = 13;
  std::vector<int64_t> input_dims = {1, 3, 8, 8};
  std::string input_name = "x";
  std::vector<std::string> outputs = {"y"};
  pb::Writer graph;

  struct Attr {
    std::string name;
    int type;  // 1 float, 2 int, 3 string, 7 ints, 6 floats
    double f = 0;
    int64_t i = 0;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<float> floats;
  };
  static Attr I(const std::string& n, int64_t v) { return {n, 2, 0, v, "", {}, {}}; }
  static Attr F(const std::string& n, double v) { return {n, 1, v, 0, "", {}, {}}; }
  static Attr S(const std::string& n, const std::string& v) { return {n, 3, 0, 0, v, {}, {}}; }
  static Attr Is(const std::string& n, std::vector<int64_t> v) { return {n, 7, 0, 0, "", v, {}}; }

  void node(const std::string& op, const std::string& name, std::vector<std::string> in,
            std::vector<std::string> out, std::vector<Attr> attrs = {}) {
    pb::Writer n;
    for (auto& s : in) n.bytes(1, s);
    for (auto& s : out) n.bytes(2, s);
    n.bytes(3, name);
    n.bytes(4, op);
    for (const Attr& a : attrs) {
      pb::Writer w;
      w.bytes(1, a.name);
      w.varint(20, uint64_t(a.type));
      if (a.type == 1) w.f32(2, float(a.f));
      if (a.type == 2) w.sint(3, a.i);
      if (a.type == 3) w.bytes(4, a.s);
      for (int64_t v : a.ints) w.sint(8, v);
      for (float v : a.floats) w.f32(7, v);
      n.message(5, w);
    }
    graph.message(1, n);
  }
  // Float initializer (raw_data) or, with dtype/raw given, anything.
  void init(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
    init_raw(name, dims, 1, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  }
  void init_i64(const std::string& name, std::vector<int64_t> dims, const std::vector<int64_t>& v) {
    init_raw(name, dims, 7, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8));
  }
  void init_raw(const std::string& name, std::vector<int64_t> dims, int dtype,
                const std::string& raw, bool external = false) {
    pb::Writer t;
    for (int64_t d : dims) t.sint(1, d);
    t.varint(2, uint64_t(dtype));
    t.bytes(8, name);
    if (external) {
      pb::Writer kv;
      kv.bytes(1, "location");
      kv.bytes(2, "weights.bin");
      t.message(13, kv);
      t.varint(14, 1);
    } else {
      t.bytes(9, raw);
    }
    graph.message(5, t);
  }
  static void value_info(pb::Writer& g, uint32_t field, const std::string& name,
                         const std::vector<int64_t>& dims, bool with_shape = true) {
    pb::Writer shape;
    for (int64_t d : dims) {
      pb::Writer dim;
      if (d < 0) dim.bytes(2, "N");
      else dim.sint(1, d);
      shape.message(1, dim);
    }
    pb::Writer tt;
    tt.varint(1, 1);
    if (with_shape) tt.message(2, shape);
    pb::Writer type;
    type.message(1, tt);
    pb::Writer vi;
    vi.bytes(1, name);
    vi.message(2, type);
    g.message(field, vi);
  }
  void init_f16(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
    std::string raw;
    for (float f : v) {  // exact for the values used (multiples of 1/16 in a small range)
      uint32_t b;
      std::memcpy(&b, &f, 4);
      const uint32_t sign = (b >> 16) & 0x8000;
      const int exp = int((b >> 23) & 0xff) - 127 + 15;
      uint16_t h = f == 0.f ? uint16_t(sign) : uint16_t(sign | (uint32_t(exp) << 10) | ((b >> 13) & 0x3ff));
      raw.append(reinterpret_cast<const char*>(&h), 2);
    }
    init_raw(name, dims, 10, raw);
  }
  std::string bytes() const {
    pb::Writer g = graph;
    value_info(g, 11, input_name, input_dims);
    for (auto& o : outputs) value_info(g, 12, o, {}, false);
    pb::Writer m;
    m.sint(1, opset >= 21 ? 10 : opset >= 19 ? 9 : 8);
    pb::Writer op;
    op.bytes(1, "");
    op.sint(2, opset);
    m.message(8, op);
    m.message(7, g);
    return m.str();
  }
};

// The error message of loading `bytes`, or "" when it loads.
std::string load_error(const std::string& bytes) {
  try {
    load_onnx_bytes(bytes, "tiny.onnx");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<float> ramp(size_t n, float scale = 0.1f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * float(int(i % 7) - 3);
  return v;
}

// A 3x3 conv (3 -> 4 channels) on an 8x8 input, then global pool, flatten, softmax.
Tiny conv_classifier() {
  Tiny t;
  t.init("w", {4, 3, 3, 3}, ramp(108));
  t.node("Conv", "conv", {"x", "w"}, {"c"}, {Tiny::Is("pads", {1, 1, 1, 1})});
  t.node("GlobalAveragePool", "pool", {"c"}, {"p"});
  t.node("Flatten", "flat", {"p"}, {"f"});
  t.node("Softmax", "sm", {"f"}, {"y"}, {Tiny::I("axis", 1)});
  return t;
}

TEST(OnnxBadFiles, TinyClassifierLoads) {
  // The base every negative test below perturbs must itself be valid.
  EXPECT_EQ(load_error(conv_classifier().bytes()), "");
}

TEST(OnnxBadFiles, UnsupportedOperatorIsNamed) {
  Tiny t;
  t.init("W", {1, 32, 3}, ramp(96));
  t.init("R", {1, 32, 8}, ramp(256));
  t.node("LSTM", "encoder/lstm_1", {"x", "W", "R"}, {"y"}, {Tiny::I("hidden_size", 8)});
  const std::string e = load_error(t.bytes());
  EXPECT_NE(e.find("LSTM"), std::string::npos) << e;
  EXPECT_NE(e.find("encoder/lstm_1"), std::string::npos) << e;
  EXPECT_NE(e.find("tiny.onnx"), std::string::npos) << e;

  Tiny c = conv_classifier();
  c.node("Custom", "mine", {"y"}, {"z"});
  c.outputs = {"z"};
  pb::Writer dummy;
  (void)dummy;
  EXPECT_NE(load_error(c.bytes()).find("Custom"), std::string::npos);
}

TEST(OnnxBadFiles, ExternalDataIsAClearError) {
  Tiny t;
  t.init_raw("w", {4, 3, 3, 3}, 1, "", /*external=*/true);
  t.node("Conv", "conv", {"x", "w"}, {"c"});
  t.node("GlobalAveragePool", "pool", {"c"}, {"y"});
  const std::string e = load_error(t.bytes());
  EXPECT_NE(e.find("external"), std::string::npos) << e;
  EXPECT_NE(e.find("'w'"), std::string::npos) << e;
}

TEST(OnnxBadFiles, UnsupportedAttributesAreErrors) {
  struct Case {
    const char* what;
    std::vector<Tiny::Attr> attrs;
    const char* expect;
  } cases[] = {
      {"dilation", {Tiny::Is("dilations", {2, 2})}, "dilations"},
      {"negative pad", {Tiny::Is("pads", {-1, 0, 0, 0})}, "pads"},
      {"auto_pad", {Tiny::S("auto_pad", "WRAP")}, "auto_pad"},
      {"group", {Tiny::I("group", 3)}, "group=3"},
      {"kernel_shape", {Tiny::Is("kernel_shape", {5, 5})}, "kernel_shape"},
  };
  for (const Case& c : cases) {
    Tiny t;
    t.init("w", {4, 3, 3, 3}, ramp(108));
    t.node("Conv", "conv", {"x", "w"}, {"c"}, c.attrs);
    t.node("GlobalAveragePool", "pool", {"c"}, {"y"});
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.what << ": " << e;
    EXPECT_NE(e.find("'conv'"), std::string::npos) << c.what << ": " << e;
  }
  // Clip that is neither ReLU nor ReLU6, non-global average pool, opsets out of range.
  {
    Tiny t = conv_classifier();
    t.init("lo", {}, {-1.f});
    t.init("hi", {}, {1.f});
    t.node("Clip", "clip", {"f", "lo", "hi"}, {"z"});
    t.outputs = {"z"};
    EXPECT_NE(load_error(t.bytes()).find("Clip(min=-1"), std::string::npos);
  }
  {
    Tiny t;
    t.node("AveragePool", "ap", {"x"}, {"y"}, {Tiny::Is("kernel_shape", {3, 3})});
    EXPECT_NE(load_error(t.bytes()).find("not a global average"), std::string::npos);
  }
  for (int opset : {8, 22}) {
    Tiny t = conv_classifier();
    t.opset = opset;
    EXPECT_NE(load_error(t.bytes()).find("opset " + std::to_string(opset)), std::string::npos);
  }
}

TEST(OnnxBadFiles, AbsurdDimensionsFailWithoutAllocating) {
  const auto t0 = std::chrono::steady_clock::now();
  {  // a weight claiming 2^40 elements with 432 bytes of data
    Tiny u;
    u.init_raw("w", {int64_t(1) << 20, int64_t(1) << 20, 3, 3}, 1, std::string(432, '\0'));
    u.node("Conv", "conv", {"x", "w"}, {"c"});
    u.node("GlobalAveragePool", "pool", {"c"}, {"y"});
    const std::string e = load_error(u.bytes());
    EXPECT_NE(e.find("implausible weight shape"), std::string::npos) << e;
  }
  {  // the same claim on a tensor that is not a conv weight
    Tiny u = conv_classifier();
    u.init_raw("b", {int64_t(1) << 20, int64_t(1) << 20}, 1, std::string(16, '\0'));
    u.node("Add", "add", {"y", "b"}, {"z"});
    u.outputs = {"z"};
    const std::string e = load_error(u.bytes());
    EXPECT_NE(e.find("'b'"), std::string::npos) << e;
  }
  {  // weight dims that do not match the data size
    Tiny u;
    u.init_raw("w", {4, 3, 3, 3}, 1, std::string(100, '\0'));
    u.node("Conv", "conv", {"x", "w"}, {"c"});
    u.node("GlobalAveragePool", "pool", {"c"}, {"y"});
    const std::string e = load_error(u.bytes());
    EXPECT_NE(e.find("holds 100 raw bytes, expected 432"), std::string::npos) << e;
  }
  {  // a huge input image
    Tiny t = conv_classifier();
    t.input_dims = {1, 3, 1 << 20, 1 << 20};
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find("implausibly large"), std::string::npos) << e;
  }
  {  // dynamic spatial size
    Tiny t = conv_classifier();
    t.input_dims = {-1, 3, -1, -1};
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find("dynamic"), std::string::npos) << e;
  }
  for (int64_t batch : {int64_t(1) << 62, int64_t(4097), int64_t(0)}) {
    // A fixed batch beyond what one call can take must not load (and run as batch 1).
    Tiny t = conv_classifier();
    t.input_dims = {batch, 3, 8, 8};
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find("fixed batch of " + std::to_string(batch)), std::string::npos) << e;
  }
  {  // a fixed batch the engine can run loads
    Tiny t = conv_classifier();
    t.input_dims = {8, 3, 8, 8};
    EXPECT_EQ(load_error(t.bytes()), "");
  }
  {  // ConstantOfShape asked for 2^60 elements
    Tiny t = conv_classifier();
    t.init_i64("big", {2}, {int64_t(1) << 30, int64_t(1) << 30});
    t.node("ConstantOfShape", "cos", {"big"}, {"k"});
    t.node("Add", "add", {"y", "k"}, {"z"});
    t.outputs = {"z"};
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find("too large"), std::string::npos) << e;
  }
  {  // a Reshape to an absurd shape
    Tiny t = conv_classifier();
    t.init_i64("shape", {2}, {1, int64_t(1) << 40});
    t.node("Reshape", "rs", {"y", "shape"}, {"z"});
    t.outputs = {"z"};
    EXPECT_NE(load_error(t.bytes()), "");
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
}

TEST(OnnxBadFiles, HostileGraphsAreBoundedInTimeAndMemory) {
  const auto t0 = std::chrono::steady_clock::now();
  {  // 30000 residual adds: far more layers than any classifier (MobileNetV2: ~70)
    Tiny t;
    std::string prev = "x";
    for (int i = 0; i < 30000; ++i) {
      const std::string out = "a" + std::to_string(i);
      t.node("Add", out, {prev, prev}, {out});
      prev = out;
    }
    t.node("GlobalAveragePool", "gap", {prev}, {"y"});
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find("more than 2048 layers"), std::string::npos) << e;
  }
  {  // one 4 MB weight shared by 300 convs: would be 1.2 GB of copies
    Tiny t;
    const int m = (1 << 20) / 27;
    t.init("w", {m, 3, 3, 3}, std::vector<float>(size_t(m) * 27, 0.01f));
    for (int i = 0; i < 300; ++i) t.node("Conv", "c" + std::to_string(i), {"x", "w"}, {"c" + std::to_string(i)});
    t.node("GlobalAveragePool", "gap", {"c0"}, {"y"});
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find("exceed the data held by the file"), std::string::npos) << e;
  }
  {  // 1000 constants of a million elements each, made from nothing
    Tiny t = conv_classifier();
    t.init_i64("n", {1}, {1 << 20});
    for (int i = 0; i < 1000; ++i) t.node("ConstantOfShape", "k" + std::to_string(i), {"n"}, {"k" + std::to_string(i)});
    const std::string e = load_error(t.bytes());
    EXPECT_NE(e.find("constant folding exceeds"), std::string::npos) << e;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("hostile graphs rejected in %.2f s\n", secs);
  EXPECT_LT(secs, 20.0);
}

std::string small_model_bytes() {
  return onnx_model_bytes(build_mobilenet_v2(0.35f, 32, 10, 4));
}

// Offsets of the graph field's payload within a model written by onnx_model_bytes, and of
// every initializer's raw_data (weights: corrupting those gives a valid model).
struct FileLayout {
  size_t graph_begin = 0, graph_end = 0;
  std::vector<std::pair<size_t, size_t>> raw;
};

FileLayout layout_of(const std::string& bytes) {
  FileLayout l;
  pb::Reader r(bytes);
  pb::Field f;
  while (r.next(f)) {
    if (f.number != 7) continue;
    l.graph_begin = r.absolute(f);
    l.graph_end = l.graph_begin + f.data.size();
    pb::Reader g = r.sub(f);
    pb::Field gf;
    while (g.next(gf)) {
      if (gf.number != 5) continue;
      pb::Reader t = g.sub(gf);
      pb::Field tf;
      while (t.next(tf))
        if (tf.number == 9) l.raw.emplace_back(t.absolute(tf), t.absolute(tf) + tf.data.size());
    }
  }
  return l;
}

TEST(OnnxBadFiles, TruncationsFail) {
  // Strict prefixes of the file must all be rejected. The graph is written last, so every
  // prefix past the short header ends inside it and fails on the same outer length check;
  // each still costs an exception (~10 us), so by default the test takes every prefix of
  // the first 64 KiB, every prefix within 3 bytes of a weight tensor's start or end, and
  // every 97th beyond. MNV2_ONNX_FULL_SWEEP=1 takes all 1.6 M prefixes.
  const std::string full = small_model_bytes();
  ASSERT_EQ(load_error(full), "");
  const char* env = std::getenv("MNV2_ONNX_FULL_SWEEP");
  const bool all = env && std::string(env) == "1";
  std::vector<char> take(full.size(), 0);
  for (size_t len = 0; len < full.size(); ++len)
    take[len] = all || len < 65536 || len % 97 == 0;
  for (const auto& [b, e] : layout_of(full).raw)
    for (size_t edge : {b, e})
      for (size_t p = edge - 3; p <= edge + 3; ++p)
        if (p < full.size()) take[p] = 1;
  size_t tried = 0, failures = 0;
  for (size_t len = 0; len < full.size(); ++len) {
    if (!take[len]) continue;
    ++tried;
    try {
      load_onnx_bytes(std::string_view(full.data(), len), "cut.onnx");
    } catch (const Error&) {
      ++failures;
      continue;
    }
    ADD_FAILURE() << "a prefix of " << len << " of " << full.size() << " bytes loaded";
    break;
  }
  EXPECT_EQ(failures, tried);
  std::printf("%zu prefixes of a %zu-byte model rejected\n", failures, full.size());
}

TEST(OnnxBadFiles, TruncatedGraphInsideAValidEnvelopeFails) {
  // Truncating the graph message itself (re-wrapped with a correct length) exercises the
  // nested parsers and the lowering of partial graphs, not only the outermost length check.
  const std::string full = small_model_bytes();
  const FileLayout l = layout_of(full);
  ASSERT_GT(l.graph_end, l.graph_begin);
  const std::string head = full.substr(0, l.graph_begin - 1 - 3);  // tag (1) + length varint (3)
  {  // sanity: the envelope arithmetic reproduces the file
    pb::Writer w;
    w.bytes(7, std::string_view(full).substr(l.graph_begin));
    ASSERT_EQ(head + w.str(), full);
  }
  const std::string_view graph = std::string_view(full).substr(l.graph_begin);
  std::vector<size_t> cuts;
  const size_t dense = std::min<size_t>(graph.size(), 20000);
  for (size_t k = 0; k < dense; ++k) cuts.push_back(k);
  for (size_t k = 0; k < 3000; ++k) cuts.push_back(dense + (graph.size() - dense) * k / 3000);
  for (const auto& [b, e] : l.raw)  // around every weight tensor boundary
    for (size_t p : {b - 1, b, b + 1, e - 1, e, e + 1})
      if (p - l.graph_begin < graph.size()) cuts.push_back(p - l.graph_begin);
  size_t errors = 0;
  for (size_t cut : cuts) {
    pb::Writer w;
    w.bytes(7, graph.substr(0, cut));
    const std::string bytes = head + w.str();
    const std::string e = load_error(bytes);
    if (e.empty()) {
      ADD_FAILURE() << "graph cut at " << cut << " of " << graph.size() << " loaded";
      break;
    }
    ++errors;
  }
  std::printf("%zu truncated graphs rejected\n", errors);
}

long max_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(OnnxBadFiles, RandomCorruptionsNeverCrash) {
  const std::string full = small_model_bytes();
  const FileLayout l = layout_of(full);
  // Structural bytes: everything except the weight payloads.
  std::vector<char> is_weight(full.size(), 0);
  for (const auto& [b, e] : l.raw) std::fill(is_weight.begin() + long(b), is_weight.begin() + long(e), 1);
  std::vector<size_t> structural;
  for (size_t i = 0; i < full.size(); ++i)
    if (!is_weight[i]) structural.push_back(i);
  std::mt19937 rng(20261125);
  const long rss0 = max_rss_kb();
  const auto t0 = std::chrono::steady_clock::now();
  int loaded = 0, rejected = 0;
  const int kTrials = 3000;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::string bytes = full;
    const int edits = 1 + int(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const size_t pos = rng() % 10 < 9 ? structural[rng() % structural.size()] : rng() % bytes.size();
      switch (rng() % 4) {
        case 0: bytes[pos] = char(rng()); break;
        case 1: bytes[pos] = char(bytes[pos] ^ (1 << (rng() % 8))); break;
        case 2: bytes[pos] = char(0xff); break;
        default: bytes[pos] = char(bytes[pos] + 1); break;
      }
    }
    const std::string e = load_error(bytes);
    e.empty() ? ++loaded : ++rejected;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long grown_mb = (max_rss_kb() - rss0) / 1024;
  std::printf("%d corruptions: %d loaded, %d rejected in %.1f s; peak RSS grew %ld MB\n", kTrials,
              loaded, rejected, secs, grown_mb);
  EXPECT_GT(rejected, kTrials / 4);
  EXPECT_LT(grown_mb, 256);
}

// ---- operator semantics vs ONNX Runtime ------------------------------------------------------
// Hand-built models, one per lowering path, run in mnv2 and ONNX Runtime on the same input.

struct SemCase {
  std::string name;
  Tiny model;
};

std::vector<SemCase> semantic_cases() {
  using T = Tiny;
  std::vector<SemCase> cases;
  auto conv_w = [](int cout, int cin, int k, float sc = 0.3f) { return ramp(size_t(cout) * cin * k * k, sc); };
  auto bias = [](int n) {
    std::vector<float> b(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) b[size_t(i)] = 0.05f * float(i % 5) - 0.1f;
    return b;
  };
  auto head = [&](T& t, const std::string& x) {  // GAP -> Flatten -> Softmax
    t.node("GlobalAveragePool", "gap", {x}, {"gap"});
    t.node("Flatten", "flatten", {"gap"}, {"flat"});
    t.node("Softmax", "softmax", {"flat"}, {"y"}, {T::I("axis", 1)});
  };
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    T t;
    t.init("w", {6, 3, 3, 3}, conv_w(6, 3, 3));
    t.init("b", {6}, bias(6));
    t.node("Conv", "conv", {"x", "w", "b"}, {"c"},
           {T::S("auto_pad", mode), T::Is("strides", {2, 2}), T::Is("kernel_shape", {3, 3})});
    t.node("Relu", "relu", {"c"}, {"r"});
    head(t, "r");
    cases.push_back({std::string("auto_pad_") + mode, t});
  }
  {  // Pad (input form) merged into a stride-2 conv, Clip bounds from Constant nodes
    T t;
    t.init_i64("pads", {8}, {0, 0, 0, 0, 0, 0, 1, 1});
    t.init("w", {5, 3, 3, 3}, conv_w(5, 3, 3));
    t.node("Pad", "pad", {"x", "pads"}, {"p"}, {T::S("mode", "constant")});
    t.node("Conv", "conv", {"p", "w"}, {"c"}, {T::Is("strides", {2, 2})});
    pb::Writer lo, hi;
    t.node("Constant", "lo", {}, {"lo"}, {T::F("value_float", 0.0)});
    t.node("Constant", "hi", {}, {"hi"}, {T::F("value_float", 6.0)});
    t.node("Clip", "relu6", {"c", "lo", "hi"}, {"r"});
    head(t, "r");
    cases.push_back({"pad_input_form_clip_constants", t});
  }
  {  // opset 9: Pad and Clip as attributes, torch-style pad chain is not needed
    T t;
    t.opset = 9;
    t.init("w", {5, 3, 3, 3}, conv_w(5, 3, 3));
    t.node("Pad", "pad", {"x"}, {"p"}, {T::Is("pads", {0, 0, 1, 0, 0, 0, 2, 1})});
    t.node("Conv", "conv", {"p", "w"}, {"c"}, {T::Is("strides", {2, 2}), T::Is("pads", {0, 1, 0, 0})});
    t.node("Clip", "relu6", {"c"}, {"r"}, {T::F("min", 0.0), T::F("max", 6.0)});
    head(t, "r");
    cases.push_back({"opset9_pad_clip_attributes", t});
  }
  {  // NHWC input with Transposes at both ends; reshape target computed from Shape
    T t;
    t.input_dims = {1, 8, 8, 3};
    t.init("w", {4, 3, 3, 3}, conv_w(4, 3, 3));
    t.init_i64("zero", {}, {0});
    t.init_i64("minus1", {1}, {-1});
    t.node("Transpose", "to_nchw", {"x"}, {"xt"}, {T::Is("perm", {0, 3, 1, 2})});
    t.node("Conv", "conv", {"xt", "w"}, {"c"}, {T::Is("pads", {1, 1, 1, 1})});
    t.node("GlobalAveragePool", "gap", {"c"}, {"g"});
    t.node("Transpose", "to_nhwc", {"g"}, {"gt"}, {T::Is("perm", {0, 2, 3, 1})});
    t.node("Shape", "shape", {"gt"}, {"s"});
    t.node("Gather", "batch", {"s", "zero"}, {"n"}, {T::I("axis", 0)});
    t.node("Unsqueeze", "n1", {"n", "zero"}, {"n1"});
    t.node("Concat", "target", {"n1", "minus1"}, {"tgt"}, {T::I("axis", 0)});
    t.node("Reshape", "flat", {"gt", "tgt"}, {"f"});
    t.node("Softmax", "softmax", {"f"}, {"y"}, {T::I("axis", -1)});
    cases.push_back({"nhwc_input_transposes_shape_reshape", t});
  }
  {  // depthwise with multiplier 2 + BN folding, 1x1 conv + BN, Squeeze, Gemm transB=0
    T t;
    t.init("dw", {6, 1, 3, 3}, ramp(54, 0.4f));
    t.init("s1", {6}, {0.9f, 1.1f, 1.3f, 0.7f, 1.0f, 1.2f});
    t.init("b1", {6}, bias(6));
    t.init("m1", {6}, {0.1f, -0.2f, 0.05f, 0.0f, 0.3f, -0.1f});
    t.init("v1", {6}, {0.5f, 1.5f, 0.8f, 1.2f, 2.0f, 0.9f});
    t.init("pw", {4, 6, 1, 1}, conv_w(4, 6, 1, 0.5f));
    t.init("s2", {4}, {1.2f, 0.8f, 1.0f, 1.1f});
    t.init("b2", {4}, bias(4));
    t.init("m2", {4}, {0.0f, 0.1f, -0.1f, 0.2f});
    t.init("v2", {4}, {1.0f, 0.6f, 1.4f, 0.9f});
    t.init_i64("axes", {2}, {2, 3});
    t.init("gw", {4, 7}, ramp(28, 0.5f));
    t.init("gc", {7}, bias(7));
    t.node("Conv", "dw", {"x", "dw"}, {"d"}, {T::I("group", 3), T::Is("pads", {1, 1, 1, 1})});
    t.node("BatchNormalization", "bn1", {"d", "s1", "b1", "m1", "v1"}, {"d1"}, {T::F("epsilon", 1e-3)});
    t.node("Relu", "relu", {"d1"}, {"r"});
    t.node("Conv", "pw", {"r", "pw"}, {"p"});
    t.node("BatchNormalization", "bn2", {"p", "s2", "b2", "m2", "v2"}, {"p1"}, {T::F("epsilon", 1e-5)});
    t.node("GlobalAveragePool", "gap", {"p1"}, {"g"});
    t.node("Squeeze", "squeeze", {"g", "axes"}, {"sq"});
    t.node("Gemm", "fc", {"sq", "gw", "gc"}, {"l"}, {T::F("alpha", 0.5), T::F("beta", 2.0)});
    t.node("Softmax", "softmax", {"l"}, {"y"});
    cases.push_back({"depthwise_x2_bn_fold_squeeze_gemm", t});
  }
  {  // normalisation in the graph (Sub/Div), standalone BN, ReduceMean, MatMul + Add, opset 11
    T t;
    t.opset = 11;
    t.init("mean", {1, 3, 1, 1}, {0.1f, -0.2f, 0.3f});
    t.init("std", {1, 3, 1, 1}, {0.5f, 0.25f, 2.0f});
    t.init("s", {3}, {1.5f, 0.5f, 1.0f});
    t.init("b", {3}, {0.1f, 0.0f, -0.1f});
    t.init("m", {3}, {0.2f, 0.1f, 0.0f});
    t.init("v", {3}, {1.0f, 2.0f, 0.5f});
    t.init("w", {8, 3, 3, 3}, conv_w(8, 3, 3));
    t.init("mw", {8, 5}, ramp(40, 0.4f));
    t.init("mb", {5}, bias(5));
    t.node("Sub", "sub", {"x", "mean"}, {"x1"});
    t.node("Div", "div", {"x1", "std"}, {"x2"});
    t.node("BatchNormalization", "bn", {"x2", "s", "b", "m", "v"}, {"x3"});
    t.node("Conv", "conv", {"x3", "w"}, {"c"}, {T::Is("pads", {1, 1, 1, 1}), T::Is("strides", {2, 2})});
    t.node("ReduceMean", "mean_hw", {"c"}, {"g"}, {T::Is("axes", {2, 3}), T::I("keepdims", 0)});
    t.node("MatMul", "fc", {"g", "mw"}, {"l0"});
    t.node("Add", "fc_bias", {"l0", "mb"}, {"l"});
    t.node("Softmax", "softmax", {"l"}, {"y"});
    cases.push_back({"opset11_sub_div_bn_reducemean_matmul", t});
  }
  {  // float16 initializers through Cast, global AveragePool, Unsqueeze + 1x1 conv logits
    T t;
    t.init_f16("w16", {4, 3, 3, 3}, ramp(108, 0.25f));
    t.init_f16("lw16", {6, 4, 1, 1}, ramp(24, 0.5f));
    t.init_i64("axes", {2}, {2, 3});
    t.node("Cast", "cast_w", {"w16"}, {"w"}, {T::I("to", 1)});
    t.node("Cast", "cast_lw", {"lw16"}, {"lw"}, {T::I("to", 1)});
    t.node("Conv", "conv", {"x", "w"}, {"c"}, {T::Is("pads", {1, 1, 1, 1})});
    t.node("Relu", "relu", {"c"}, {"r"});
    t.node("AveragePool", "pool", {"r"}, {"g"}, {T::Is("kernel_shape", {8, 8})});
    t.node("Flatten", "flatten", {"g"}, {"f"});
    t.node("Unsqueeze", "unsq", {"f", "axes"}, {"u"});
    t.node("Conv", "logits", {"u", "lw"}, {"l4"});
    t.node("Flatten", "flatten2", {"l4"}, {"l"});
    t.node("Softmax", "softmax", {"l"}, {"y"});
    cases.push_back({"float16_cast_avgpool_unsqueeze_conv_logits", t});
  }
  {  // residual Add, Identity/Dropout pass-through, Pad with axes (opset 21)
    T t;
    t.opset = 21;
    t.init("w1", {3, 3, 3, 3}, conv_w(3, 3, 3));
    t.init("w2", {3, 3, 1, 1}, conv_w(3, 3, 1));
    t.init_i64("pads", {4}, {0, 0, 1, 1});
    t.init_i64("axes", {2}, {2, 3});
    t.init("w3", {4, 3, 3, 3}, conv_w(4, 3, 3));
    t.node("Conv", "c1", {"x", "w1"}, {"a0"}, {T::Is("pads", {1, 1, 1, 1})});
    t.node("Relu", "r1", {"a0"}, {"a"});
    t.node("Conv", "c2", {"a", "w2"}, {"b"});
    t.node("Add", "residual", {"a", "b"}, {"s"});
    t.node("Identity", "id", {"s"}, {"s1"});
    t.node("Pad", "pad", {"s1", "pads", "", "axes"}, {"p"});
    t.node("Conv", "c3", {"p", "w3"}, {"c"}, {T::Is("strides", {2, 2})});
    t.node("Dropout", "drop", {"c"}, {"d"});
    head(t, "d");
    cases.push_back({"opset21_residual_identity_pad_axes", t});
  }
  return cases;
}

TEST(OnnxSemantics, HandBuiltModelsMatchOnnxRuntime) {
  const RefSetup& os = ort_setup();
  if (!os.ok) GTEST_SKIP() << os.why;
  const std::vector<SemCase> cases = semantic_cases();
  const std::string dir = ref_dir() + "/semantics";
  fs::create_directories(dir);
  std::string jobs;
  std::vector<std::vector<float>> inputs;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Tiny& t = cases[i].model;
    const std::string base = dir + "/" + cases[i].name;
    write_bytes(base + ".onnx", t.bytes());
    size_t count = 1;
    std::string dims;
    for (size_t k = 0; k < t.input_dims.size(); ++k) {
      count *= size_t(t.input_dims[k]);
      dims += (k ? "," : "") + std::to_string(t.input_dims[k]);
    }
    inputs.push_back(test::random_input(count, uint32_t(100 + i)));
    for (float& v : inputs.back()) v *= 2.f;
    write_floats(base + ".in.bin", inputs.back());
    fs::remove(base + ".ort.bin");
    fs::remove(base + ".ort.bin.err");
    jobs += base + ".onnx " + base + ".in.bin " + dims + " " + base + ".ort.bin\n";
  }
  std::ofstream(dir + "/jobs.txt") << jobs;
  std::string log;
  ASSERT_EQ(test::run_command("NODE_PATH=" + quote(os.path) + " node " +
                                  quote(ref_scripts() + "/ort_run.js") + " --jobs " +
                                  quote(dir + "/jobs.txt"),
                              &log),
            0)
      << log;
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const std::string base = dir + "/" + cases[i].name;
    if (fs::exists(base + ".ort.bin.err")) {
      std::ifstream f(base + ".ort.bin.err");
      std::string e((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      ADD_FAILURE() << "ONNX Runtime rejected the model: " << e;
      continue;
    }
    const std::vector<float> ort = read_floats(base + ".ort.bin");
    Model m = [&] {
      try {
        return Model::load(base + ".onnx", Options{.threads = 1});
      } catch (const Error& e) {
        ADD_FAILURE() << e.what();
        throw;
      }
    }();
    const Tiny& t = cases[i].model;
    std::vector<float> x = inputs[i];
    if (m.info().layout == mnv2::Layout::NCHW)
      x = nchw_to_nhwc(x, 1, int(t.input_dims[1]), int(t.input_dims[2]), int(t.input_dims[3]));
    std::vector<float> ours(size_t(m.info().num_classes));
    ASSERT_EQ(ours.size(), ort.size());
    m.run(x.data(), 1, ours.data());
    const double d = test::max_abs_diff(ours.data(), to_double(ort).data(), ours.size());
    std::printf("%-46s max |p| diff %.3g\n", cases[i].name.c_str(), d);
    EXPECT_LE(d, 1e-6) << "max |p| diff " << d;
    double spread = 0;
    for (float p : ort) spread = std::max(spread, std::fabs(double(p) - 1.0 / double(ort.size())));
    EXPECT_GT(spread, 1e-3) << "the case's output is too flat to prove anything";
  }
}

}  // namespace
}  // namespace mnv2
