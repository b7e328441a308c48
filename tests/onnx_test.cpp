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
    bool affine;
  } cases[] = {{1.4f, 160, 1001, false}, {0.5f, 64, 1000, true}};
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
    save_onnx(g, path);
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
    std::printf("writer %.2f/%d: max |p| diff mnv2-ORT %.3g (largest probability %.3f)\n",
                double(c.width), c.res, d, pmax);
    EXPECT_LE(d, 1e-5);
    EXPECT_GT(pmax, 5.0 / c.classes);
  }
}

}  // namespace
}  // namespace mnv2
