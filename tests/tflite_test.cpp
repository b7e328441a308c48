// TFLite loader / writer tests: real quantized models against golden outputs of two
// independent runtimes, round trips through the writer, and robustness against broken files.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <csignal>
#include <functional>
#include <fstream>
#include <random>

#include "formats/loader.h"
#include "formats/tflite.h"
#include "formats/writer.h"
#include "formats/flatbuf.h"
#include "formats/tflite_schema.h"
#include "graph/mobilenet_v2.h"
#include "mnv2/mnv2.h"
#include "runtime/qreference.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using test::read_file;
using test::write_floats;
using test::read_floats;

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::string temp_path(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/mnv2_tflite_test_" +
         std::to_string(getpid()) + "_" + name;
}

int argmax(const float* p, int n) { return int(std::max_element(p, p + n) - p); }
int argmax(const std::vector<uint8_t>& v) {
  return int(std::max_element(v.begin(), v.end()) - v.begin());
}

const char* const kImages[] = {"bird.bmp",     "bird.rgb",      "cat.bmp",         "cat_720p.jpg",
                               "dragonfly.bmp", "grace_hopper.bmp", "hot_dog.jpg",  "owl.jpg",
                               "parrot.jpg",   "pets.jpg",      "resized_cat.bmp", "sunflower.bmp",
                               "sunflower.rgb"};

// Runs every golden input through the model and checks it against both references.
// `top_tol`: allowed |256 p - reference| on any class (the top class among them), in output
// levels; `mean_tol`: allowed mean over the 1001 classes, per image. The float path ignores
// the activation quantization of the integer pipelines, which costs more on the
// post-training-quantized model (the two references differ by up to 15 levels there).
void check_golden(const std::string& model_file, const std::string& golden_sub, double top_tol,
                  double mean_tol, bool coral_cat_case) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "shared test data not found (set MNV2_TEST_DATA)";
  const std::string coral = data + "/coral/";
  const std::string golden = coral + "golden/" + golden_sub;
  Options o;
  o.max_batch = 13;
  o.precision = Precision::Fp32;  // the dequantized float path (int8: int8_golden_test.cpp)
  Model m = Model::load(coral + model_file, o);
  ASSERT_EQ(m.precision(), Precision::Fp32);
  const ModelInfo& info = m.info();
  ASSERT_EQ(info.format, "tflite");
  ASSERT_EQ(info.num_classes, 1001);
  ASSERT_TRUE(info.has_background);
  ASSERT_TRUE(info.quantized);
  ASSERT_EQ(info.height, 224);
  ASSERT_EQ(info.feature_dim, 1280);

  const int n = int(std::size(kImages));
  const size_t per = 224 * 224 * 3;
  std::vector<float> x(per * size_t(n));
  for (int i = 0; i < n; ++i) {
    const std::vector<uint8_t> q = read_file(coral + "golden/" + kImages[i] + ".input.u8");
    ASSERT_EQ(q.size(), per) << kImages[i];
    for (size_t k = 0; k < per; ++k)
      x[size_t(i) * per + k] = (float(q[k]) - info.mean) / info.scale;
  }
  std::vector<float> probs(size_t(n) * 1001), feats(size_t(n) * 1280);
  m.run(x.data(), n, probs.data(), nullptr, feats.data());
  for (int i = 0; i < n; ++i) {
    const std::vector<uint8_t> armnn = read_file(golden + kImages[i] + ".u8");
    const std::vector<uint8_t> wasm = read_file(golden + kImages[i] + ".tflite_wasm.u8");
    ASSERT_EQ(armnn.size(), 1001u);
    ASSERT_EQ(wasm.size(), 1001u);
    const float* p = &probs[size_t(i) * 1001];
    const int top = argmax(p, 1001);
    EXPECT_EQ(top, argmax(armnn)) << kImages[i] << " vs Arm NN";
    EXPECT_EQ(top, argmax(wasm)) << kImages[i] << " vs TFLite-wasm";
    double max_a = 0, mean_a = 0, max_w = 0, mean_w = 0;
    for (int k = 0; k < 1001; ++k) {
      const double a = std::fabs(256.0 * p[k] - armnn[size_t(k)]);
      const double w = std::fabs(256.0 * p[k] - wasm[size_t(k)]);
      max_a = std::max(max_a, a), mean_a += a / 1001;
      max_w = std::max(max_w, w), mean_w += w / 1001;
    }
    std::printf("  %-18s top1 %4d p=%.4f  |256p - armnn| max %5.2f mean %.3f   "
                "|256p - wasm| max %5.2f mean %.3f\n",
                kImages[i], top, p[top], max_a, mean_a, max_w, mean_w);
    EXPECT_LE(std::fabs(256.0 * p[top] - armnn[size_t(top)]), top_tol) << kImages[i];
    EXPECT_LE(std::fabs(256.0 * p[top] - wasm[size_t(top)]), top_tol) << kImages[i];
    // The whole probability vector, not only its top class.
    EXPECT_LE(max_a, top_tol) << kImages[i] << ": max over the classes vs Arm NN";
    EXPECT_LE(max_w, top_tol) << kImages[i] << ": max over the classes vs TFLite-wasm";
    EXPECT_LE(mean_a, mean_tol) << kImages[i] << ": mean over the classes vs Arm NN";
    EXPECT_LE(mean_w, mean_tol) << kImages[i] << ": mean over the classes vs TFLite-wasm";
    if (coral_cat_case && std::string(kImages[i]) == "cat.bmp") {
      EXPECT_EQ(top, 286);  // Egyptian cat (libcoral's test case)
      EXPECT_GE(p[top], 0.7f);
    }
    double fsum = 0;
    for (int k = 0; k < 1280; ++k) fsum += feats[size_t(i) * 1280 + size_t(k)];
    EXPECT_GT(fsum, 0.0) << "pooled ReLU6 features must be positive";
  }
}

// Measured (fp32 executor, AVX-512, 2026-12-07): max over all classes 15.2 levels (pets.jpg),
// mean at most 0.032 levels per image.
TEST(TfliteGolden, CoralQuantMatchesReferences) {
  check_golden("mobilenet_v2_1.0_224_quant.tflite", "", 24.0, 0.05, true);
}

// Measured: max 64.1 levels (pets.jpg vs TFLite-wasm), mean at most 0.128 levels per image.
TEST(TfliteGolden, Tf2PtqMatchesReferences) {
  check_golden("tf2_mobilenet_v2_1.0_224_ptq.tflite", "tf2_mobilenet_v2_1.0_224_ptq/", 72.0,
               0.2, false);
}

TEST(TfliteGolden, InputQuantizationGivesPreprocessing) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "shared test data not found";
  Graph a = load_graph(data + "/coral/mobilenet_v2_1.0_224_quant.tflite");
  EXPECT_FLOAT_EQ(a.info.mean, 128.f);  // scale 1/128, zero point 128
  EXPECT_FLOAT_EQ(a.info.scale, 128.f);
  EXPECT_EQ(a.info.channel_order, ChannelOrder::RGB);
  EXPECT_EQ(a.info.layout, Layout::NHWC);
  EXPECT_EQ(a.info.input_name, "input");
  EXPECT_EQ(a.info.output_name, "MobilenetV2/Predictions/Softmax");
  EXPECT_EQ(a.node(a.features).op, OpType::GlobalAvgPool);
  EXPECT_NE(a.logits, -1);
  EXPECT_EQ(a.node(a.output).op, OpType::Softmax);
  EXPECT_EQ(a.node(a.output).inputs[0], a.logits);
  // TF SAME at stride 2 on an even input: nothing before, one row/column after.
  const Node& first = a.node(1);
  EXPECT_EQ(first.op, OpType::Conv2D);
  EXPECT_EQ(first.stride_h, 2);
  EXPECT_EQ(first.pad_top, 0);
  EXPECT_EQ(first.pad_bottom, 1);
  EXPECT_EQ(first.pad_left, 0);
  EXPECT_EQ(first.pad_right, 1);
  EXPECT_EQ(a.total_params(), 3489097);  // same topology as the synthetic 1.0 builder

  Graph b = load_graph(data + "/coral/tf2_mobilenet_v2_1.0_224_ptq.tflite");
  EXPECT_FLOAT_EQ(b.info.mean, 127.f);  // scale 1/127.5, zero point 127
  EXPECT_NEAR(b.info.scale, 127.5f, 1e-3f);
  EXPECT_EQ(b.node(b.features).op, OpType::GlobalAvgPool);  // from MEAN
  EXPECT_EQ(b.total_params(), 3489097);
}

TEST(TfliteGolden, CliInfoOnRealModels) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "shared test data not found";
  for (const char* f : {"mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite"}) {
    std::string out;
    const int rc = test::run_command(test::cli_path() + " info " + data + "/coral/" + f, &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("(tflite)"), std::string::npos) << out;
    EXPECT_NE(out.find("[1,1001] softmax, class 0 = background"), std::string::npos) << out;
    EXPECT_NE(out.find("3,489,097 params"), std::string::npos) << out;
    const int rc2 = test::run_command(test::cli_path() + " info --json " + data + "/coral/" + f, &out);
    EXPECT_EQ(rc2, 0) << out;
    EXPECT_NE(out.find("\"quantized\":true"), std::string::npos) << out;
    EXPECT_NE(out.find("\"precision\":\"int8\""), std::string::npos) << out;
  }
}

// ---------------------------------------------------------------------------------------
// Round trips through the writer.


double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> bd(b.begin(), b.end());
  return test::rel_l2(a.data(), bd.data(), a.size());
}

void expect_same_info(const ModelInfo& a, const ModelInfo& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.input_name, b.input_name);
  EXPECT_EQ(a.output_name, b.output_name);
  EXPECT_EQ(a.channel_order, b.channel_order);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.normalization_in_graph, b.normalization_in_graph);
  EXPECT_FLOAT_EQ(a.mean, b.mean);
  EXPECT_FLOAT_EQ(a.scale, b.scale);
  EXPECT_EQ(a.num_classes, b.num_classes);
  EXPECT_EQ(a.has_background, b.has_background);
  EXPECT_EQ(a.output_is_softmax, b.output_is_softmax);
  EXPECT_EQ(a.feature_dim, b.feature_dim);
  EXPECT_FLOAT_EQ(a.width_multiplier, b.width_multiplier);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.macs, b.macs);
}

TEST(TfliteRoundTrip, SyntheticFp32IsExact) {
  const Graph src = build_mobilenet_v2(0.5f, 64, 1001, 3);
  const std::string path = temp_path("synthetic.tflite");
  save_graph(src, path);
  const Graph back = load_graph(path);
  ASSERT_EQ(back.nodes.size(), src.nodes.size());
  for (size_t i = 0; i < src.nodes.size(); ++i) {
    const Node& a = src.nodes[i];
    const Node& b = back.nodes[i];
    EXPECT_EQ(a.op, b.op) << a.name;
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.pad_top, b.pad_top) << a.name;
    EXPECT_EQ(a.pad_bottom, b.pad_bottom) << a.name;
    EXPECT_EQ(a.pad_left, b.pad_left) << a.name;
    EXPECT_EQ(a.pad_right, b.pad_right) << a.name;
    EXPECT_EQ(a.activation, b.activation) << a.name;
    EXPECT_EQ(a.shape, b.shape) << a.name;
    EXPECT_TRUE(a.weights == b.weights) << a.name;  // float32 is stored bit-exactly
    EXPECT_TRUE(a.bias == b.bias) << a.name;
  }
  EXPECT_EQ(back.features, src.features);
  EXPECT_EQ(back.logits, src.logits);
  EXPECT_EQ(back.info.format, "tflite");
  expect_same_info(back.info, src.info);

  Options o;
  o.max_batch = 2;
  Model ms = Model::synthetic(0.5f, 64, 1001, 3, o);
  Model ml = Model::load(path, o);
  const std::vector<float> x = test::random_input(2 * 64 * 64 * 3, 5);
  std::vector<float> ps(2 * 1001), pl(2 * 1001), ls(2 * 1001), ll(2 * 1001), fs(2 * 1280),
      fl(2 * 1280);
  ms.run(x.data(), 2, ps.data(), ls.data(), fs.data());
  ml.run(x.data(), 2, pl.data(), ll.data(), fl.data());
  EXPECT_LE(rel_err(pl, ps), 1e-6);
  EXPECT_LE(rel_err(ll, ls), 1e-6);
  EXPECT_LE(rel_err(fl, fs), 1e-6);
  std::remove(path.c_str());
}

TEST(TfliteRoundTrip, Fp16KeepsTop1AndProbabilities) {
  const Graph src = build_mobilenet_v2(0.5f, 64, 1001, 3);
  const std::vector<uint8_t> f32 = write_tflite(src, {});
  TfliteWriteOptions half;
  half.fp16 = true;
  const std::vector<uint8_t> f16 = write_tflite(src, half);
  EXPECT_LT(double(f16.size()), 0.55 * double(f32.size()));
  const Graph g32 = load_tflite_bytes(f32.data(), f32.size(), "f32");
  const Graph g16 = load_tflite_bytes(f16.data(), f16.size(), "f16");
  EXPECT_EQ(g16.info.params, src.info.params);
  const std::vector<float> x = test::random_input(4 * 64 * 64 * 3, 9);
  const ReferenceResult r32 = reference_run(g32, x.data(), 4);
  const ReferenceResult r16 = reference_run(g16, x.data(), 4);
  double max_diff = 0;
  for (int b = 0; b < 4; ++b) {
    const double* p = &r32.output[size_t(b) * 1001];
    const double* q = &r16.output[size_t(b) * 1001];
    EXPECT_EQ(std::max_element(p, p + 1001) - p, std::max_element(q, q + 1001) - q);
    for (int k = 0; k < 1001; ++k) max_diff = std::max(max_diff, std::fabs(p[k] - q[k]));
  }
  std::printf("  fp16 vs fp32: max |dp| = %.2e, file %zu vs %zu bytes\n", max_diff, f16.size(),
              f32.size());
  EXPECT_LE(max_diff, 1e-3);
  EXPECT_GT(max_diff, 0.0);  // the weights really were rounded
}

TEST(TfliteRoundTrip, TinyGraphEveryWriterPath) {
  const Graph src = test::all_ops_graph(true);
  for (bool fp16 : {false, true}) {
    TfliteWriteOptions o;
    o.fp16 = fp16;
    const std::vector<uint8_t> bytes = write_tflite(src, o);
    const Graph back = load_tflite_bytes(bytes.data(), bytes.size(), "tiny.tflite");
    expect_same_info(back.info, src.info);
    EXPECT_TRUE(back.info.normalization_in_graph);
    EXPECT_EQ(back.info.channel_order, ChannelOrder::BGR);
    EXPECT_EQ(back.node(back.features).op, OpType::GlobalAvgPool);
    // The symmetric pads went through an explicit PAD and came back folded.
    bool found = false;
    for (const Node& n : back.nodes)
      if (n.name == "c2_symmetric") {
        found = true;
        EXPECT_EQ(n.pad_top, 1);
        EXPECT_EQ(n.pad_bottom, 1);
        EXPECT_EQ(n.pad_left, 1);
        EXPECT_EQ(n.pad_right, 1);
        EXPECT_EQ(n.activation, Activation::Relu);
      }
    EXPECT_TRUE(found);
    const std::vector<float> x = test::random_input(3 * 8 * 8 * 3, 3);
    std::vector<float> xs(x);
    for (float& v : xs) v = 127.5f + 127.5f * v;  // raw pixels: normalisation is in the graph
    const ReferenceResult a = reference_run(src, xs.data(), 3, {src.logits});
    const ReferenceResult b = reference_run(back, xs.data(), 3, {back.logits});
    std::vector<float> bo(b.output.begin(), b.output.end());
    const double e = test::rel_l2(bo.data(), a.output.data(), bo.size());
    EXPECT_LE(e, fp16 ? 2e-3 : 1e-6) << (fp16 ? "fp16" : "fp32");
    std::vector<float> bl(b.kept.at(back.logits).begin(), b.kept.at(back.logits).end());
    EXPECT_LE(test::rel_l2(bl.data(), a.kept.at(src.logits).data(), bl.size()),
              fp16 ? 2e-3 : 1e-6);
  }
}

TEST(TfliteRoundTrip, RealQuantizedModelToFloat) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "shared test data not found";
  const Graph q = load_graph(data + "/coral/mobilenet_v2_1.0_224_quant.tflite");
  const std::vector<uint8_t> bytes = write_tflite(q, {});
  const Graph f = load_tflite_bytes(bytes.data(), bytes.size(), "coral_float.tflite");
  EXPECT_FALSE(f.info.quantized);
  EXPECT_FLOAT_EQ(f.info.mean, 128.f);
  EXPECT_FLOAT_EQ(f.info.scale, 128.f);
  ASSERT_EQ(f.nodes.size(), q.nodes.size());
  for (size_t i = 0; i < q.nodes.size(); ++i) EXPECT_TRUE(q.nodes[i].weights == f.nodes[i].weights);
}

TEST(TfliteCli, ConvertSyntheticThenInfo) {
  const std::string out = temp_path("cli.tflite");
  const std::string cli = test::cli_path();
  std::string text;
  ASSERT_EQ(test::run_command(cli + " convert --synthetic 0.35 32 --classes 10 --seed 4 -o " + out,
                              &text), 0) << text;
  EXPECT_NE(text.find("wrote"), std::string::npos) << text;
  std::string a, b;
  ASSERT_EQ(test::run_command(cli + " info --json " + out, &a), 0) << a;
  ASSERT_EQ(test::run_command(cli + " info --json --synthetic 0.35 32 --classes 10", &b), 0) << b;
  const std::string fa = "\"format\":\"tflite\"", fb = "\"format\":\"synthetic\"";
  ASSERT_NE(a.find(fa), std::string::npos) << a;
  a.replace(a.find(fa), fa.size(), fb);
  // The peak resident set is measured, not a property of the model: left out.
  for (std::string* s : {&a, &b}) {
    const size_t p = s->find("\"peak_rss_mib\":");
    ASSERT_NE(p, std::string::npos) << *s;
    s->erase(p, s->find('}', p) - p);
  }
  EXPECT_EQ(a, b);
  // fp16 output is about half the size.
  const std::string out16 = temp_path("cli16.tflite");
  ASSERT_EQ(test::run_command(cli + " convert " + out + " --fp16 -o " + out16, &text), 0) << text;
  struct stat s32 {}, s16 {};
  stat(out.c_str(), &s32);
  stat(out16.c_str(), &s16);
  EXPECT_LT(double(s16.st_size), 0.6 * double(s32.st_size));
  // Errors: unknown extension, missing output, help.
  EXPECT_EQ(test::run_command(cli + " convert " + out + " -o x.unknownext", &text), 1);
  EXPECT_NE(text.find("unknown output extension"), std::string::npos) << text;
  EXPECT_EQ(test::run_command(cli + " convert " + out, &text), 1);
  EXPECT_NE(text.find("-o OUT"), std::string::npos) << text;
  EXPECT_EQ(test::run_command(cli + " convert --help", &text), 0);
  EXPECT_NE(text.find("usage: mnv2 convert"), std::string::npos) << text;
  std::remove(out.c_str());
  std::remove(out16.c_str());
}

// ---------------------------------------------------------------------------------------
// Independent runtime: the real TensorFlow Lite (compiled to WebAssembly, npm package
// @tensorflow/tfjs-tflite) runs the files mnv2 writes; both must agree.

std::string dir_of(const std::string& p) {
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? "." : p.substr(0, s);
}

TEST(TfliteWasm, RealTfliteRuntimeAgreesWithMnv2) {
  std::string out;
  if (test::run_command("node --version", &out) != 0) GTEST_SKIP() << "node is not installed";
  const std::string ref_src = dir_of(__FILE__) + "/ref";
  const std::string ref_build = dir_of(test::cli_path()) + "/ref";
  if (test::run_command("bash " + ref_src + "/setup_tflite_wasm.sh " + ref_build, &out) != 0)
    GTEST_SKIP() << "could not install @tensorflow/tfjs-tflite (the TFLite wasm reference): "
                 << out;
  // The package folder is the last line the setup script prints.
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  const std::string pkg = out.substr(out.find_last_of('\n') == std::string::npos
                                         ? 0
                                         : out.find_last_of('\n') + 1);

  struct Case {
    std::string name;
    Graph graph;
    bool fp16;
    float lo, hi;  // input value range
    std::vector<std::vector<float>> fixed;  // inputs to use instead of random ones
  };
  std::vector<Case> cases;
  cases.push_back({"synthetic_0.5_96", build_mobilenet_v2(0.5f, 96, 1001, 21), false, -1.f, 1.f});
  cases.push_back({"synthetic_0.5_96_fp16", build_mobilenet_v2(0.5f, 96, 1001, 21), true, -1.f, 1.f});
  cases.push_back({"tiny_all_paths", test::all_ops_graph(true), false, 0.f, 255.f});
  cases.push_back({"tiny_all_paths_fp16", test::all_ops_graph(true), true, 0.f, 255.f});
  // The real Coral model, dequantized to float by mnv2, on a real photo.
  if (const std::string data = test::data_dir(); !data.empty()) {
    Graph g = load_graph(data + "/coral/mobilenet_v2_1.0_224_quant.tflite");
    const std::vector<uint8_t> q = read_file(data + "/coral/golden/cat.bmp.input.u8");
    std::vector<float> x(q.size());
    for (size_t k = 0; k < q.size(); ++k) x[k] = (float(q[k]) - g.info.mean) / g.info.scale;
    cases.push_back({"coral_as_float_cat", std::move(g), false, 0.f, 0.f, {x}});
  }
  for (const Case& c : cases) {
    const std::string model = temp_path(c.name + ".tflite");
    SaveOptions so;
    so.fp16 = c.fp16;
    save_graph(c.graph, model, so);
    Model m = Model::load(model);
    const ModelInfo& info = m.info();
    const size_t per = size_t(info.height) * size_t(info.width) * size_t(info.channels);
    const int n = c.fixed.empty() ? 3 : int(c.fixed.size());
    std::string args;
    std::vector<std::vector<float>> inputs;
    for (int i = 0; i < n; ++i) {
      std::vector<float> x = test::random_input(per, uint32_t(100 + i));
      for (float& v : x) v = c.lo + (v + 1.f) * 0.5f * (c.hi - c.lo);
      if (!c.fixed.empty()) x = c.fixed[size_t(i)];
      const std::string in = temp_path(c.name + std::to_string(i) + ".in.f32");
      write_floats(in, x.data(), x.size());
      args += " " + in + " " + temp_path(c.name + std::to_string(i) + ".out.f32");
      inputs.push_back(std::move(x));
    }
    ASSERT_EQ(test::run_command("node " + ref_src + "/run_tflite_wasm.js " + pkg + " " + model + args,
                                &out), 0) << c.name << ": " << out;
    double worst = 0;
    for (int i = 0; i < n; ++i) {
      const std::vector<float> ref = read_floats(temp_path(c.name + std::to_string(i) + ".out.f32"));
      ASSERT_EQ(ref.size(), size_t(info.num_classes)) << c.name;
      std::vector<float> p(ref.size());
      m.run(inputs[size_t(i)].data(), 1, p.data());
      std::vector<double> rd(ref.begin(), ref.end());
      const double d = test::max_abs_diff(p.data(), rd.data(), p.size());
      worst = std::max(worst, d);
      EXPECT_EQ(argmax(p.data(), int(p.size())), argmax(ref.data(), int(ref.size()))) << c.name;
      EXPECT_LE(d, 1e-5) << c.name << " input " << i;
      std::remove(temp_path(c.name + std::to_string(i) + ".in.f32").c_str());
      std::remove(temp_path(c.name + std::to_string(i) + ".out.f32").c_str());
    }
    std::printf("  %-22s TFLite-wasm vs mnv2: max |dp| = %.2e over %d inputs\n", c.name.c_str(),
                worst, n);
    std::remove(model.c_str());
  }
}

// ---------------------------------------------------------------------------------------
// Hand-made models for single operators and their refusals.

struct CraftTensor {
  std::vector<int32_t> shape;
  std::vector<uint8_t> data;  // empty: an activation
  int type = tfl::kFloat32;
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
};
struct CraftOp {
  int code;
  std::vector<int32_t> in, out;
  int opt_type = 0;
  std::function<void(fb::Builder&)> fields;  // adds the option table's fields
};

CraftTensor floats(std::vector<int32_t> shape, const std::vector<float>& v) {
  CraftTensor t{std::move(shape), std::vector<uint8_t>(v.size() * 4)};
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}
CraftTensor ints(std::vector<int32_t> shape, const std::vector<int32_t>& v) {
  CraftTensor t{std::move(shape), std::vector<uint8_t>(v.size() * 4), tfl::kInt32};
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}
CraftTensor act(std::vector<int32_t> shape) { return CraftTensor{std::move(shape)}; }

std::vector<uint8_t> craft(const std::vector<CraftTensor>& tensors, const std::vector<CraftOp>& ops,
                           int input, int output) {
  using namespace tfl;
  fb::Builder b;
  std::vector<fb::Builder::Ref> bufs;
  b.start_table();
  bufs.push_back(b.end_table());
  std::vector<uint32_t> buffer_of;
  for (const CraftTensor& t : tensors) {
    if (t.data.empty()) {
      buffer_of.push_back(0);
      continue;
    }
    const auto d = b.create_bytes(t.data.data(), t.data.size(), 1, 16);
    b.start_table();
    b.add_ref(kBufferData, d);
    bufs.push_back(b.end_table());
    buffer_of.push_back(uint32_t(bufs.size() - 1));
  }
  std::vector<fb::Builder::Ref> trefs;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const CraftTensor& t = tensors[i];
    fb::Builder::Ref q = 0;
    if (!t.scale.empty()) {
      const auto sc = b.create_vector(t.scale);
      const auto zp = b.create_vector(t.zero_point, 8);
      b.start_table();
      b.add_ref(kQuantScale, sc);
      b.add_ref(kQuantZeroPoint, zp);
      q = b.end_table();
    }
    const auto s = b.create_vector(t.shape);
    const auto n = b.create_string("t" + std::to_string(i));
    b.start_table();
    b.add_ref(kTensorShape, s);
    b.add_ref(kTensorName, n);
    if (q) b.add_ref(kTensorQuantization, q);
    b.add_scalar<uint32_t>(kTensorBuffer, buffer_of[i]);
    b.add_scalar<int8_t>(kTensorType, int8_t(t.type));
    trefs.push_back(b.end_table());
  }
  std::vector<int> codes;
  std::vector<fb::Builder::Ref> orefs;
  for (const CraftOp& op : ops) {
    int idx = int(std::find(codes.begin(), codes.end(), op.code) - codes.begin());
    if (idx == int(codes.size())) codes.push_back(op.code);
    const auto ins = b.create_vector(op.in);
    const auto outs = b.create_vector(op.out);
    fb::Builder::Ref opt = 0;
    if (op.opt_type) {
      b.start_table();
      if (op.fields) op.fields(b);
      opt = b.end_table();
    }
    b.start_table();
    b.add_scalar<uint32_t>(kOperatorOpcodeIndex, uint32_t(idx));
    b.add_ref(kOperatorInputs, ins);
    b.add_ref(kOperatorOutputs, outs);
    if (op.opt_type) {
      b.add_ref(kOperatorBuiltinOptions, opt);
      b.add_scalar<uint8_t>(kOperatorBuiltinOptionsType, uint8_t(op.opt_type));
    }
    orefs.push_back(b.end_table());
  }
  const auto tv = b.create_ref_vector(trefs);
  const auto sin = b.create_vector(std::vector<int32_t>{input});
  const auto sout = b.create_vector(std::vector<int32_t>{output});
  const auto ov = b.create_ref_vector(orefs);
  b.start_table();
  b.add_ref(kSubGraphTensors, tv);
  b.add_ref(kSubGraphInputs, sin);
  b.add_ref(kSubGraphOutputs, sout);
  b.add_ref(kSubGraphOperators, ov);
  const auto sg = b.end_table();
  std::vector<fb::Builder::Ref> crefs;
  for (int c : codes) {
    b.start_table();
    b.add_scalar<int32_t>(kOpCodeBuiltin, c);
    b.add_scalar<int8_t>(kOpCodeDeprecatedBuiltin, int8_t(std::min(c, 127)));
    crefs.push_back(b.end_table());
  }
  const auto cv = b.create_ref_vector(crefs);
  const auto sgs = b.create_ref_vector({sg});
  const auto bv = b.create_ref_vector(bufs);
  b.start_table();
  b.add_scalar<uint32_t>(kModelVersion, 3);
  b.add_ref(kModelOperatorCodes, cv);
  b.add_ref(kModelSubgraphs, sgs);
  b.add_ref(kModelBuffers, bv);
  return b.finish(b.end_table(), "TFL3");
}

std::string load_error(const std::vector<uint8_t>& bytes) {
  try {
    load_tflite_bytes(bytes.data(), bytes.size(), "crafted.tflite");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Conv options: padding, stride 1, activation, dilation.
std::function<void(fb::Builder&)> conv_opts(int act, int dilation = 1) {
  return [=](fb::Builder& b) {
    b.add_scalar<int8_t>(0, tfl::kPaddingSame);
    b.add_scalar<int32_t>(1, 1);
    b.add_scalar<int32_t>(2, 1);
    b.add_scalar<int8_t>(3, int8_t(act));
    b.add_scalar<int32_t>(4, dilation);
    b.add_scalar<int32_t>(5, dilation);
  };
}

TEST(TfliteOps, SoftmaxBetaScalesTheLogits) {
  using namespace tfl;
  const auto bytes = craft({act({1, 1, 1, 4}), act({1, 1, 1, 4})},
                           {{kOpSoftmax, {0}, {1}, kOptSoftmax,
                             [](fb::Builder& b) { b.add_scalar<float>(0, 2.5f); }}},
                           0, 1);
  const Graph g = load_tflite_bytes(bytes.data(), bytes.size(), "beta");
  const float x[4] = {0.1f, -0.4f, 0.7f, 0.2f};
  const ReferenceResult r = reference_run(g, x, 1, {g.logits});
  double den = 0;
  for (float v : x) den += std::exp(2.5 * v);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(r.output[size_t(k)], std::exp(2.5 * x[k]) / den, 1e-12);
  EXPECT_EQ(g.logits, g.input);  // logits are what softmax reads, before the beta scaling
}

TEST(TfliteOps, StandaloneRelu6FoldsIntoConvolution) {
  using namespace tfl;
  const std::vector<float> w{2.f, -3.f, 1.f, 4.f, 0.5f, -1.f};  // 2 outputs x 3 inputs
  const auto bytes = craft(
      {act({1, 2, 2, 3}), floats({2, 1, 1, 3}, w), act({1, 2, 2, 2}), act({1, 2, 2, 2})},
      {{kOpConv2D, {0, 1}, {2}, kOptConv2D, conv_opts(kActNone)}, {kOpRelu6, {2}, {3}}}, 0, 3);
  const Graph g = load_tflite_bytes(bytes.data(), bytes.size(), "relu6");
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.node(1).activation, Activation::Relu6);
  EXPECT_TRUE(g.node(1).bias.empty());
  const std::vector<float> x = test::random_input(12, 4);
  std::vector<float> xs(x);
  for (float& v : xs) v *= 4.f;
  const ReferenceResult r = reference_run(g, xs.data(), 1);
  for (int p = 0; p < 4; ++p)
    for (int o = 0; o < 2; ++o) {
      double acc = 0;
      for (int c = 0; c < 3; ++c) acc += double(xs[size_t(p * 3 + c)]) * w[size_t(o * 3 + c)];
      EXPECT_NEAR(r.output[size_t(p * 2 + o)], std::min(6.0, std::max(0.0, acc)), 1e-6);
    }
  // A RELU6 whose input is also read elsewhere cannot be fused.
  const auto shared = craft({act({1, 2, 2, 3}), floats({2, 1, 1, 3}, w), act({1, 2, 2, 2}),
                             act({1, 2, 2, 2}), act({1, 2, 2, 2})},
                            {{kOpConv2D, {0, 1}, {2}, kOptConv2D, conv_opts(kActNone)},
                             {kOpRelu6, {2}, {3}},
                             {kOpAdd, {2, 3}, {4}, kOptAdd, nullptr}},
                            0, 4);
  EXPECT_NE(load_error(shared).find("stand-alone RELU6"), std::string::npos) << load_error(shared);
}

TEST(TfliteOps, MeanSqueezeAndQuantizedBiasFromScales) {
  using namespace tfl;
  // uint8 weights (per-tensor), int32 bias without its own scale: scale = in * w.
  CraftTensor in = act({1, 3, 3, 2});
  in.type = kUInt8;
  in.scale = {0.5f};
  in.zero_point = {10};
  CraftTensor w{{2, 1, 1, 2}, {12, 8, 20, 10}, kUInt8, {0.25f}, {10}};  // (q-10)*0.25
  CraftTensor bias = ints({2}, {8, -4});                                 // * 0.5 * 0.25
  CraftTensor conv_out = act({1, 3, 3, 2});
  conv_out.type = kUInt8;
  conv_out.scale = {0.1f};
  conv_out.zero_point = {0};
  const auto bytes =
      craft({in, w, bias, conv_out, ints({2}, {1, 2}), act({1, 2}), act({1, 2})},
            {{kOpConv2D, {0, 1, 2}, {3}, kOptConv2D, conv_opts(kActNone)},
             {kOpMean, {3, 4}, {5}, kOptReducer, nullptr},
             {kOpSqueeze, {5}, {6}, kOptSqueeze, nullptr}},
            0, 6);
  const Graph g = load_tflite_bytes(bytes.data(), bytes.size(), "mean");
  EXPECT_FLOAT_EQ(g.info.mean, 10.f);
  EXPECT_FLOAT_EQ(g.info.scale, 2.f);
  EXPECT_TRUE(g.info.quantized);
  const Node& c = g.node(1);
  EXPECT_EQ(c.weights, (std::vector<float>{0.5f, -0.5f, 2.5f, 0.f}));
  EXPECT_EQ(c.bias, (std::vector<float>{1.f, -0.5f}));
  EXPECT_EQ(g.node(g.features).op, OpType::GlobalAvgPool);
  EXPECT_EQ(g.node(g.output).shape, (Shape{1, 1, 1, 2}));
  // MEAN over the channels is refused.
  const auto bad = craft({act({1, 3, 3, 2}), ints({1}, {3}), act({1, 3, 3, 1})},
                         {{kOpMean, {0, 1}, {2}, kOptReducer, nullptr}}, 0, 2);
  EXPECT_NE(load_error(bad).find("only over height and width"), std::string::npos)
      << load_error(bad);
}

// The integer view: filled for a fully quantized file (uint8 and int8 activations in the
// uint8 domain, weights minus their zero point, raw int32 biases), absent as soon as one
// tensor is float or a reshape changes the quantization (those files then run in fp32).
TEST(TfliteOps, IntegerViewOnlyForFullyQuantizedFiles) {
  using namespace tfl;
  auto q8 = [](std::vector<int32_t> shape, int type, float s, int64_t z) {
    CraftTensor t = act(std::move(shape));
    t.type = type;
    t.scale = {s};
    t.zero_point = {z};
    return t;
  };
  auto model = [&](int act_type, float squeeze_scale, bool float_mean) {
    const int64_t off = act_type == kInt8 ? -128 : 0;
    CraftTensor w{{2, 1, 1, 2}, {12, 8, 20, 10}, kUInt8, {0.25f}, {10}};  // (q-10)*0.25
    return craft({q8({1, 3, 3, 2}, act_type, 0.5f, 10 + off), w, ints({2}, {8, -4}),
                  q8({1, 3, 3, 2}, act_type, 0.1f, off), ints({2}, {1, 2}),
                  float_mean ? act({1, 2}) : q8({1, 2}, act_type, 0.2f, 3 + off),
                  float_mean ? act({1, 2}) : q8({1, 2}, act_type, squeeze_scale, 3 + off)},
                 {{kOpConv2D, {0, 1, 2}, {3}, kOptConv2D, conv_opts(kActRelu6)},
                  {kOpMean, {3, 4}, {5}, kOptReducer, nullptr},
                  {kOpSqueeze, {5}, {6}, kOptSqueeze, nullptr}},
                 0, 6);
  };
  for (int type : {int(kUInt8), int(kInt8)}) {
    const auto bytes = model(type, 0.2f, false);
    const Graph g = load_tflite_bytes(bytes.data(), bytes.size(), "q.tflite");
    ASSERT_TRUE(g.quantized()) << type;
    EXPECT_EQ(g.node(g.input).out_q, (QuantParams{0.5f, 10}));  // uint8 domain either way
    const Node& c = g.node(1);
    EXPECT_EQ(c.qweights, (std::vector<int16_t>{2, -2, 10, 0}));
    EXPECT_EQ(c.qweight_scales, (std::vector<float>{0.25f}));
    EXPECT_EQ(c.qbias, (std::vector<int32_t>{8, -4}));
    EXPECT_EQ(c.out_q, (QuantParams{0.1f, 0}));
    EXPECT_EQ(g.node(g.output).out_q, (QuantParams{0.2f, 3}));
    // The integer reference against real arithmetic on the dequantized values.
    const std::vector<uint8_t> x = {10, 12, 30, 5, 200, 17, 10, 10, 64, 90,
                                    11, 13, 250, 0, 33, 77, 100, 101};
    const QReferenceResult r = qreference_run(g, x.data(), 1, {1});
    std::vector<float> xf(x.size());
    for (size_t i = 0; i < x.size(); ++i) xf[i] = 0.5f * (float(x[i]) - 10.f);
    const ReferenceResult f = reference_run(g, xf.data(), 1, {1});
    for (size_t i = 0; i < 18; ++i)  // the ReLU6 conv, one output level
      EXPECT_NEAR(0.1 * r.kept.at(1)[i], f.kept.at(1)[i], 0.1 * 0.5 + 1e-6) << i;
    for (size_t i = 0; i < 2; ++i)  // the mean of the quantized conv output, one more level
      EXPECT_NEAR(0.2 * (r.output[i] - 3), f.output[i], 0.2 * 0.5 + 0.05 + 1e-6) << i;
  }
  // A reshape that changes the quantization, or a float operator: no integer view.
  for (const auto& bytes : {model(kUInt8, 0.3f, false), model(kUInt8, 0.2f, true)}) {
    const Graph g = load_tflite_bytes(bytes.data(), bytes.size(), "mixed.tflite");
    EXPECT_FALSE(g.quantized());
    EXPECT_TRUE(g.info.quantized);  // still a file with quantized weights, run in fp32
    for (const Node& n : g.nodes) EXPECT_TRUE(n.qweights.empty() && !n.out_q.valid());
  }
}

TEST(TfliteOps, RefusalsNameTheProblem) {
  using namespace tfl;
  const std::vector<float> w(2 * 3 * 3 * 3, 0.1f);
  auto pool = [](int f, int s) {
    return [=](fb::Builder& b) {
      b.add_scalar<int8_t>(0, kPaddingValid);
      b.add_scalar<int32_t>(1, s);
      b.add_scalar<int32_t>(2, s);
      b.add_scalar<int32_t>(3, f);
      b.add_scalar<int32_t>(4, f);
    };
  };
  struct Case {
    std::vector<uint8_t> bytes;
    std::string expect;
  };
  const Case cases[] = {
      {craft({act({1, 4, 4, 3}), act({1, 2, 2, 3})},
             {{kOpAveragePool2D, {0}, {1}, kOptPool2D, pool(2, 2)}}, 0, 1),
       "not a global pool"},
      {craft({act({1, 8, 8, 3}), floats({2, 3, 3, 3}, w), act({1, 8, 8, 2})},
             {{kOpConv2D, {0, 1}, {2}, kOptConv2D, conv_opts(kActNone, 2)}}, 0, 2),
       "dilation 2x2"},
      {craft({act({1, 8, 8, 3}), floats({2, 3, 3, 3}, w), act({1, 8, 8, 2})},
             {{kOpConv2D, {0, 1}, {2}, kOptConv2D, conv_opts(kActTanh)}}, 0, 2),
       "fused activation TANH"},
      {craft({act({1, 8, 8, 3}), act({1, 8, 8, 3})}, {{17, {0}, {1}}}, 0, 1), "MAX_POOL_2D"},
      {craft({act({1, 8, 8, 3}), act({1, 8, 8, 3})}, {{kOpRelu6, {0}, {5}}}, 0, 1),
       "tensor index 5 out of range"},
      {craft({act({1, 8, 8, 3}), act({1, 8, 8, 3}), act({1, 8, 8, 3})},
             {{kOpAdd, {0, 2}, {1}, kOptAdd, nullptr}}, 0, 1),
       "read before any operator produces it"},
      // An optional-input marker (-1) where a real input is needed (found by the fuzzer).
      {craft({act({1, 8, 8, 3}), act({1, 8, 8, 3})}, {{kOpQuantize, {-1}, {1}}}, 0, 1),
       "tensor index -1 out of range"},
      {craft({act({1, 8, 8, 3}), act({1, 8, 8, 3})}, {{kOpAdd, {0, -1}, {1}, kOptAdd, nullptr}},
             0, 1),
       "tensor index -1 out of range"},
      {craft({act({1, 8, 8, 3}), CraftTensor{{2, 3, 3, 3}, std::vector<uint8_t>(54, 1), kUInt8},
              act({1, 8, 8, 2})},
             {{kOpConv2D, {0, 1}, {2}, kOptConv2D, conv_opts(kActNone)}}, 0, 2),
       "no quantization scale"},
      {craft({act({1, 8, 8, 3}), floats({2, 3, 3, 3}, w), act({1, 8, 8, 2})},
             {{kOpConv2D, {0, 1}, {2}, kOptPool2D, pool(2, 2)}}, 0, 2),
       "builtin options of type 5"},
  };
  for (const Case& c : cases) {
    const std::string e = load_error(c.bytes);
    EXPECT_NE(e.find(c.expect), std::string::npos) << "expected '" << c.expect << "', got: " << e;
    EXPECT_NE(e.find("crafted.tflite"), std::string::npos) << e;
  }
}

// ---------------------------------------------------------------------------------------
// Robustness: broken files must give mnv2::Error, never a crash, hang or huge allocation.

// Runs body in a forked child whose address space may grow by at most `extra` bytes and
// which is killed after `seconds`; returns "" on success, else what went wrong.
std::string run_isolated(const std::function<std::string()>& body, size_t extra, int seconds) {
  std::fflush(stdout);
  std::fflush(stderr);
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(fds[0]);
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    const rlim_t lim = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + extra;
    rlimit r{lim, lim};
    setrlimit(RLIMIT_AS, &r);
    alarm(unsigned(seconds));
    std::string msg;
    try {
      msg = body();
    } catch (const std::bad_alloc&) {
      msg = "allocation beyond the memory limit (std::bad_alloc)";
    } catch (const std::exception& e) {
      msg = std::string("unexpected exception: ") + e.what();
    }
    std::fflush(stdout);
    if (!msg.empty() && write(fds[1], msg.data(), msg.size()) < 0) msg = "write failed";
    _exit(msg.empty() ? 0 : 1);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return "child killed by signal " + std::to_string(WTERMSIG(status)) +
           (WTERMSIG(status) == SIGALRM ? " (time limit)" : "") + (msg.empty() ? "" : ": " + msg);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return msg.empty() ? "child failed" : msg;
  return "";
}

constexpr size_t kMemLimit = size_t(1) << 31;  // 2 GiB more than the process already has

TEST(TfliteRobustness, EveryPrefixOfTinyModelThrows) {
  for (bool fp16 : {false, true}) {
    TfliteWriteOptions o;
    o.fp16 = fp16;
    const std::vector<uint8_t> bytes = write_tflite(test::all_ops_graph(true), o);
    const std::string err = run_isolated([&]() -> std::string {
      for (size_t len = 0; len < bytes.size(); ++len) {
        try {
          load_tflite_bytes(bytes.data(), len, "prefix");
          return "prefix of " + std::to_string(len) + " bytes loaded";
        } catch (const Error&) {
        }
      }
      return "";
    }, kMemLimit, 120);
    EXPECT_EQ(err, "") << (fp16 ? "fp16" : "fp32") << " model of " << bytes.size() << " bytes";
  }
}

TEST(TfliteRobustness, PrefixesOfSyntheticModelThrow) {
  // width 0.35, 32x32, 10 classes: every prefix in the first 64 KiB (all tables), then
  // every 127th length through the weight data, and the last 64 lengths.
  const std::vector<uint8_t> bytes = write_tflite(build_mobilenet_v2(0.35f, 32, 10, 2), {});
  const std::string err = run_isolated([&]() -> std::string {
    size_t tried = 0;
    for (size_t len = 0; len < bytes.size();
         len += (len < 65536 || len + 64 >= bytes.size()) ? 1 : 127) {
      ++tried;
      try {
        load_tflite_bytes(bytes.data(), len, "prefix");
        return "prefix of " + std::to_string(len) + " bytes loaded";
      } catch (const Error&) {
      }
    }
    std::printf("  %zu prefixes of a %zu-byte model, all rejected\n", tried, bytes.size());
    return "";
  }, kMemLimit, 200);
  EXPECT_EQ(err, "");
  // And the whole file loads.
  EXPECT_NO_THROW(load_tflite_bytes(bytes.data(), bytes.size(), "whole"));
}

TEST(TfliteRobustness, RandomCorruptionNeverCrashes) {
  const std::vector<uint8_t> f32 = write_tflite(test::all_ops_graph(true), {});
  TfliteWriteOptions half;
  half.fp16 = true;
  const std::vector<uint8_t> f16 = write_tflite(test::all_ops_graph(false), half);
  const std::string err = run_isolated([&]() -> std::string {
    std::mt19937 rng(20261125);
    int errors = 0, loads = 0;
    const uint32_t specials[] = {0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0xfffffffcu,
                                 0x10000u, 0x7ffffff0u};
    for (int it = 0; it < 4000; ++it) {
      std::vector<uint8_t> b = (it & 1) ? f16 : f32;
      const int k = 1 + int(rng() % 8);
      for (int m = 0; m < k; ++m) {
        const size_t pos = rng() % b.size();
        switch (rng() % 3) {
          case 0: b[pos] = uint8_t(rng()); break;
          case 1: b[pos] ^= uint8_t(1u << (rng() % 8)); break;
          default: {
            const uint32_t v = specials[rng() % 8];
            const size_t p4 = pos & ~size_t(3);
            if (p4 + 4 <= b.size()) std::memcpy(&b[p4], &v, 4);
          }
        }
      }
      try {
        const Graph g = load_tflite_bytes(b.data(), b.size(), "mutant");
        ++loads;
        // A graph that loads must also run.
        const std::vector<float> x = test::random_input(size_t(g.info.height) * size_t(g.info.width) *
                                                            size_t(g.info.channels), 1);
        reference_run(g, x.data(), 1);
      } catch (const Error&) {
        ++errors;
      }
    }
    std::printf("  4000 mutants: %d rejected with mnv2::Error, %d loaded and ran\n", errors, loads);
    return "";
  }, kMemLimit, 300);
  EXPECT_EQ(err, "");
}

TEST(TfliteRobustness, WrongMagic) {
  std::vector<uint8_t> bytes = write_tflite(test::all_ops_graph(false), {});
  std::memcpy(&bytes[4], "TFL2", 4);
  try {
    load_tflite_bytes(bytes.data(), bytes.size(), "magic.tflite");
    FAIL() << "loaded a file with the wrong identifier";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("identifier"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("magic.tflite"), std::string::npos) << e.what();
  }
  const std::string path = temp_path("magic.tflite");
  write_file(path, bytes);
  EXPECT_THROW(load_graph(path), Error);
  std::remove(path.c_str());
  EXPECT_THROW(load_tflite_bytes(bytes.data(), 0, "empty"), Error);
}

// A hand-made one-convolution model with arbitrary (possibly absurd) shapes.
std::vector<uint8_t> craft_conv_model(const std::vector<int32_t>& input_shape,
                                      const std::vector<int32_t>& weight_shape,
                                      size_t weight_bytes,
                                      const std::vector<int32_t>& output_shape) {
  using namespace tfl;
  fb::Builder b;
  std::vector<fb::Builder::Ref> bufs;
  b.start_table();
  bufs.push_back(b.end_table());
  const std::vector<uint8_t> w(weight_bytes, 0x3c);
  const auto wd = b.create_bytes(w.data(), w.size(), 1, 16);
  b.start_table();
  b.add_ref(kBufferData, wd);
  bufs.push_back(b.end_table());
  std::vector<fb::Builder::Ref> tensors;
  auto tensor = [&](const std::vector<int32_t>& shape, uint32_t buffer, const char* name) {
    const auto s = b.create_vector(shape);
    const auto n = b.create_string(name);
    b.start_table();
    b.add_ref(kTensorShape, s);
    b.add_ref(kTensorName, n);
    b.add_scalar<uint32_t>(kTensorBuffer, buffer);
    b.add_scalar<int8_t>(kTensorType, kFloat32);
    tensors.push_back(b.end_table());
  };
  tensor(input_shape, 0, "in");
  tensor(weight_shape, 1, "w");
  tensor(output_shape, 0, "out");
  const auto ins = b.create_vector(std::vector<int32_t>{0, 1});
  const auto outs = b.create_vector(std::vector<int32_t>{2});
  b.start_table();
  b.add_scalar<int8_t>(0, kPaddingSame);
  b.add_scalar<int32_t>(1, 1);
  b.add_scalar<int32_t>(2, 1);
  const auto opt = b.end_table();
  b.start_table();
  b.add_ref(kOperatorInputs, ins);
  b.add_ref(kOperatorOutputs, outs);
  b.add_ref(kOperatorBuiltinOptions, opt);
  b.add_scalar<uint8_t>(kOperatorBuiltinOptionsType, kOptConv2D);
  const auto op = b.end_table();
  const auto tv = b.create_ref_vector(tensors);
  const auto sin = b.create_vector(std::vector<int32_t>{0});
  const auto sout = b.create_vector(std::vector<int32_t>{2});
  const auto ov = b.create_ref_vector({op});
  b.start_table();
  b.add_ref(kSubGraphTensors, tv);
  b.add_ref(kSubGraphInputs, sin);
  b.add_ref(kSubGraphOutputs, sout);
  b.add_ref(kSubGraphOperators, ov);
  const auto sg = b.end_table();
  b.start_table();
  b.add_scalar<int32_t>(kOpCodeBuiltin, kOpConv2D);
  b.add_scalar<int8_t>(kOpCodeDeprecatedBuiltin, kOpConv2D);
  const auto code = b.end_table();
  const auto codes = b.create_ref_vector({code});
  const auto sgs = b.create_ref_vector({sg});
  const auto bv = b.create_ref_vector(bufs);
  b.start_table();
  b.add_scalar<uint32_t>(kModelVersion, 3);
  b.add_ref(kModelOperatorCodes, codes);
  b.add_ref(kModelSubgraphs, sgs);
  b.add_ref(kModelBuffers, bv);
  return b.finish(b.end_table(), "TFL3");
}

TEST(TfliteRobustness, AbsurdDimensionsAreRejectedWithoutAllocating) {
  // The crafting helper itself makes loadable models.
  const std::vector<uint8_t> ok = craft_conv_model({1, 8, 8, 3}, {4, 1, 1, 3}, 48, {1, 8, 8, 4});
  const Graph g = load_tflite_bytes(ok.data(), ok.size(), "ok");
  EXPECT_EQ(g.node(g.output).shape, (Shape{1, 8, 8, 4}));
  struct Case {
    std::vector<uint8_t> bytes;
    const char* expect;
  };
  std::vector<Case> cases;
  cases.push_back({craft_conv_model({1, 100000, 100000, 3}, {4, 1, 1, 3}, 48, {1, 100000, 100000, 4}),
                   "unsupported shape"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {1 << 20, 3, 3, 3}, 48, {1, 8, 8, 1 << 20}),
                   "invalid output channel"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {4, 1000, 1000, 3}, 48, {1, 8, 8, 4}),
                   "kernel 1000x1000"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {1 << 16, 1, 1, 3}, 48, {1, 8, 8, 1 << 16}),
                   "needs"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {4, 1, 1, 3}, 48, {1, 8, 8, 5}),
                   "declares"});
  cases.push_back({craft_conv_model({1, 4096, 4096, 3}, {64, 1, 1, 3}, 768, {1, 4096, 4096, 64}),
                   "2^26"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {-4, 1, 1, 3}, 48, {1, 8, 8, 4}),
                   "invalid output channel"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {4, 1, 1, 3}, 47, {1, 8, 8, 4}), "needs 48"});
  // Declared shapes whose element count overflows 64 bits (found by the fuzzer).
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {4, 1, 1, 3}, 48,
                                    {1, 1 << 30, 1 << 30, 1 << 30, 12}),
                   "declares"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {1 << 30, 1 << 30, 1 << 30, 3}, 48,
                                    {1, 8, 8, 4}),
                   "kernel 1073741824x1073741824"});
  cases.push_back({craft_conv_model({1, 8, 8, 3}, {4, 1, 1, 3, 1, 1, 1, 1, 1}, 48, {1, 8, 8, 4}),
                   "rank"});
  const std::string err = run_isolated([&]() -> std::string {
    for (size_t i = 0; i < cases.size(); ++i) {
      try {
        load_tflite_bytes(cases[i].bytes.data(), cases[i].bytes.size(), "absurd.tflite");
        return "case " + std::to_string(i) + " loaded";
      } catch (const Error& e) {
        const std::string m = e.what();
        if (m.find(cases[i].expect) == std::string::npos || m.find("absurd.tflite") == std::string::npos)
          return "case " + std::to_string(i) + ": message lacks '" + cases[i].expect + "': " + m;
        std::printf("  case %zu: %s\n", i, m.c_str());
      }
    }
    return "";
  }, size_t(1) << 28, 60);  // 256 MiB headroom: nothing big may be allocated
  EXPECT_EQ(err, "");
}

TEST(TfliteRobustness, UnsupportedOperatorsAreNamed) {
  // A 1-op model whose only op is turned into MAX_POOL_2D (17) and a dilated convolution.
  std::vector<uint8_t> bytes = craft_conv_model({1, 8, 8, 3}, {4, 1, 1, 3}, 48, {1, 8, 8, 4});
  // Patch both op-code fields (builtin_code int32 and deprecated byte) by re-crafting.
  fb::Buffer buf(bytes.data(), bytes.size(), "x");
  const fb::Table model = fb::root(buf, "TFL3");
  const fb::Table code = model.vector(tfl::kModelOperatorCodes, 4, "codes").table(0, "code");
  // Locate the two scalar fields inside the code table and overwrite them.
  for (size_t p = code.pos(); p + 4 <= bytes.size() && p < code.pos() + 16; ++p) {
    int32_t v;
    std::memcpy(&v, &bytes[p], 4);
    if (v == tfl::kOpConv2D) {
      const int32_t mp = 17;
      std::memcpy(&bytes[p], &mp, 4);
    }
  }
  for (size_t p = code.pos(); p < bytes.size() && p < code.pos() + 16; ++p)
    if (bytes[p] == tfl::kOpConv2D) bytes[p] = 17;
  try {
    load_tflite_bytes(bytes.data(), bytes.size(), "maxpool.tflite");
    FAIL() << "MAX_POOL_2D accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MAX_POOL_2D"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("operator 0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mnv2
