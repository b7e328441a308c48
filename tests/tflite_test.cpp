// TFLite loader / writer tests: real quantized models against golden outputs of two
// independent runtimes, round trips through the writer, and robustness against broken files.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "formats/loader.h"
#include "formats/tflite.h"
#include "graph/mobilenet_v2.h"
#include "mnv2/mnv2.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

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
// `top_tol`: allowed |256 p - reference| on the top class, in output levels. The float path
// ignores the activation quantization of the integer pipelines, which costs more on the
// post-training-quantized model (the two references differ by up to 15 levels there).
void check_golden(const std::string& model_file, const std::string& golden_sub, double top_tol,
                  bool coral_cat_case) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "shared test data not found (set MNV2_TEST_DATA)";
  const std::string coral = data + "/coral/";
  const std::string golden = coral + "golden/" + golden_sub;
  Options o;
  o.max_batch = 13;
  Model m = Model::load(coral + model_file, o);
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
    if (coral_cat_case && std::string(kImages[i]) == "cat.bmp") {
      EXPECT_EQ(top, 286);  // Egyptian cat (libcoral's test case)
      EXPECT_GE(p[top], 0.7f);
    }
    double fsum = 0;
    for (int k = 0; k < 1280; ++k) fsum += feats[size_t(i) * 1280 + size_t(k)];
    EXPECT_GT(fsum, 0.0) << "pooled ReLU6 features must be positive";
  }
}

TEST(TfliteGolden, CoralQuantMatchesReferences) {
  check_golden("mobilenet_v2_1.0_224_quant.tflite", "", 24.0, true);
}

TEST(TfliteGolden, Tf2PtqMatchesReferences) {
  check_golden("tf2_mobilenet_v2_1.0_224_ptq.tflite", "tf2_mobilenet_v2_1.0_224_ptq/", 72.0, false);
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
  }
}

}  // namespace
}  // namespace mnv2
