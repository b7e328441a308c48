// The int8 TFLite writer and `mnv2 quantize`: the written file obeys TFLite's int8 rules,
// the real TFLite runtime (compiled to WebAssembly) runs it with the fp32 model's top-1,
// mnv2 reads it back, and the command's arguments fail cleanly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "formats/flatbuf.h"
#include "formats/loader.h"
#include "formats/tflite.h"
#include "formats/tflite_schema.h"
#include "formats/writer.h"
#include "graph/mobilenet_v2.h"
#include "image_fixtures.h"
#include "quant/calibration.h"
#include "quant/quantize.h"
#include "runtime/cpu.h"
#include "runtime/qexecutor.h"
#include "runtime/qreference.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using test::read_file;
using test::write_floats;
using test::read_floats;

namespace fs = std::filesystem;

std::string tmp_dir() {
  const fs::path d = fs::path(test::cli_path()).parent_path() / "quantize_test_tmp" /
                     std::to_string(getpid());
  fs::create_directories(d);
  return d.string();
}

int argmax(const float* p, int n) { return int(std::max_element(p, p + n) - p); }

// The @tensorflow/tfjs-tflite package folder, or "" (with the reason in *why).
std::string tflite_wasm_package(std::string* why) {
  std::string out;
  if (test::run_command("node --version", &out) != 0) {
    *why = "node is not installed";
    return "";
  }
  const std::string ref_src = fs::path(__FILE__).parent_path().string() + "/ref";
  const std::string ref_build = fs::path(test::cli_path()).parent_path().string() + "/ref";
  if (test::run_command("bash " + ref_src + "/setup_tflite_wasm.sh " + ref_build, &out) != 0) {
    *why = "@tensorflow/tfjs-tflite (the TFLite wasm reference) is not installed: " + out;
    return "";
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  const size_t nl = out.find_last_of('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

// Runs `model` in TFLite-wasm on float inputs; returns the float outputs.
std::vector<std::vector<float>> run_wasm(const std::string& pkg, const std::string& model,
                                         const std::vector<std::vector<float>>& inputs) {
  const std::string ref_src = fs::path(__FILE__).parent_path().string() + "/ref";
  const std::string dir = tmp_dir();
  std::string args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string in = dir + "/in" + std::to_string(i) + ".f32";
    write_floats(in, inputs[i].data(), inputs[i].size());
    args += " " + in + " " + dir + "/out" + std::to_string(i) + ".f32";
  }
  std::string out;
  const int rc = test::run_command(
      "node " + ref_src + "/run_tflite_wasm.js " + pkg + " " + model + args, &out);
  EXPECT_EQ(rc, 0) << out;
  std::vector<std::vector<float>> r;
  for (size_t i = 0; i < inputs.size(); ++i) {
    r.push_back(read_floats(dir + "/out" + std::to_string(i) + ".f32"));
    std::remove((dir + "/in" + std::to_string(i) + ".f32").c_str());
    std::remove((dir + "/out" + std::to_string(i) + ".f32").c_str());
  }
  return r;
}

// What the file says about one tensor.
struct FileTensor {
  std::string name;
  int type = 0;
  std::vector<int32_t> shape;
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int qdim = 0;
  bool constant = false;
};
struct FileOp {
  int code = 0, version = 0;
  std::vector<int> in, out;
};
struct FileModel {
  std::vector<FileTensor> tensors;
  std::vector<FileOp> ops;
  int input = -1, output = -1;
};

FileModel parse_tflite(const std::vector<uint8_t>& bytes) {
  using namespace tfl;
  fb::Buffer buf(bytes.data(), bytes.size(), "test");
  const fb::Table model = fb::root(buf, "TFL3");
  const fb::Vector codes = model.vector(kModelOperatorCodes, 4, "codes");
  std::vector<std::pair<int, int>> code_of;
  for (uint32_t i = 0; i < codes.size(); ++i) {
    const fb::Table c = codes.table(i, "code");
    code_of.push_back({std::max<int>(c.scalar<int8_t>(kOpCodeDeprecatedBuiltin, 0),
                                     c.scalar<int32_t>(kOpCodeBuiltin, 0)),
                       c.scalar<int32_t>(kOpCodeVersion, 1)});
  }
  const fb::Vector buffers = model.vector(kModelBuffers, 4, "buffers");
  const fb::Table sg = model.vector(kModelSubgraphs, 4, "sg").table(0, "sg");
  FileModel m;
  const fb::Vector ts = sg.vector(kSubGraphTensors, 4, "tensors");
  for (uint32_t i = 0; i < ts.size(); ++i) {
    const fb::Table t = ts.table(i, "tensor");
    FileTensor ft;
    ft.name = t.string(kTensorName, 1000);
    ft.type = t.scalar<int8_t>(kTensorType, 0);
    const fb::Vector sh = t.vector(kTensorShape, 4, "shape");
    for (uint32_t k = 0; k < sh.size(); ++k) ft.shape.push_back(sh.at<int32_t>(k));
    const uint32_t b = t.scalar<uint32_t>(kTensorBuffer, 0);
    ft.constant = b > 0 && buffers.table(b, "buf").vector(kBufferData, 1, "data").size() > 0;
    const fb::Table q = t.table(kTensorQuantization, "q");
    if (q.valid()) {
      const fb::Vector sc = q.vector(kQuantScale, 4, "scale");
      const fb::Vector zp = q.vector(kQuantZeroPoint, 8, "zp");
      for (uint32_t k = 0; k < sc.size(); ++k) ft.scale.push_back(sc.at<float>(k));
      for (uint32_t k = 0; k < zp.size(); ++k) ft.zero_point.push_back(zp.at<int64_t>(k));
      ft.qdim = q.scalar<int32_t>(kQuantDimension, 0);
    }
    m.tensors.push_back(ft);
  }
  const fb::Vector ops = sg.vector(kSubGraphOperators, 4, "ops");
  for (uint32_t i = 0; i < ops.size(); ++i) {
    const fb::Table o = ops.table(i, "op");
    FileOp fo;
    const auto c = code_of.at(o.scalar<uint32_t>(kOperatorOpcodeIndex, 0));
    fo.code = c.first, fo.version = c.second;
    const fb::Vector in = o.vector(kOperatorInputs, 4, "in"), out = o.vector(kOperatorOutputs, 4, "out");
    for (uint32_t k = 0; k < in.size(); ++k) fo.in.push_back(in.at<int32_t>(k));
    for (uint32_t k = 0; k < out.size(); ++k) fo.out.push_back(out.at<int32_t>(k));
    m.ops.push_back(fo);
  }
  m.input = sg.vector(kSubGraphInputs, 4, "in").at<int32_t>(0);
  m.output = sg.vector(kSubGraphOutputs, 4, "out").at<int32_t>(0);
  return m;
}

// TFLite's int8 rules (the quantization specification), checked on the file itself.
void check_int8_file(const FileModel& m) {
  using namespace tfl;
  EXPECT_EQ(m.tensors[size_t(m.input)].type, kFloat32);
  EXPECT_EQ(m.tensors[size_t(m.output)].type, kFloat32);
  EXPECT_EQ(m.ops.front().code, kOpQuantize);
  EXPECT_EQ(m.ops.back().code, kOpDequantize);
  auto same_q = [&](int a, int b) {
    return m.tensors[size_t(a)].scale == m.tensors[size_t(b)].scale &&
           m.tensors[size_t(a)].zero_point == m.tensors[size_t(b)].zero_point;
  };
  for (const FileOp& op : m.ops) {
    for (int t : op.out) {
      const FileTensor& y = m.tensors[size_t(t)];
      if (op.code == kOpDequantize) continue;
      EXPECT_EQ(y.type, kInt8) << y.name;
      ASSERT_EQ(y.scale.size(), 1u) << y.name;
      ASSERT_EQ(y.zero_point.size(), 1u) << y.name;
      EXPECT_GT(y.scale[0], 0.f) << y.name;
      EXPECT_GE(y.zero_point[0], -128) << y.name;
      EXPECT_LE(y.zero_point[0], 127) << y.name;
    }
    const FileTensor& x = m.tensors[size_t(op.in[0])];
    const FileTensor& y = m.tensors[size_t(op.out[0])];
    switch (op.code) {
      case kOpAveragePool2D:
      case kOpReshape:
        EXPECT_TRUE(same_q(op.in[0], op.out[0])) << y.name << ": output quantization != input";
        break;
      case kOpSoftmax:
        EXPECT_EQ(y.scale[0], 1.f / 256.f) << y.name;
        EXPECT_EQ(y.zero_point[0], -128) << y.name;
        break;
      case kOpConv2D:
      case kOpDepthwiseConv2D:
      case kOpFullyConnected: {
        EXPECT_EQ(op.version, op.code == kOpFullyConnected ? 4 : 3);
        const FileTensor& w = m.tensors[size_t(op.in[1])];
        EXPECT_TRUE(w.constant);
        EXPECT_EQ(w.type, kInt8) << w.name;
        const int qdim = op.code == kOpDepthwiseConv2D ? 3 : 0;
        if (w.scale.size() > 1) {
          EXPECT_EQ(w.qdim, qdim) << w.name;
          EXPECT_EQ(int64_t(w.scale.size()), w.shape[size_t(qdim)]) << w.name;
        }
        for (int64_t z : w.zero_point) EXPECT_EQ(z, 0) << w.name;
        if (op.in.size() > 2) {
          const FileTensor& b = m.tensors[size_t(op.in[2])];
          EXPECT_EQ(b.type, kInt32) << b.name;
          ASSERT_EQ(b.scale.size(), w.scale.size()) << b.name;
          for (size_t c = 0; c < b.scale.size(); ++c) {
            EXPECT_NEAR(b.scale[c], x.scale[0] * w.scale[c], 1e-6 * b.scale[c]) << b.name;
            EXPECT_EQ(b.zero_point[c], 0) << b.name;
          }
        }
        break;
      }
      default:
        break;
    }
  }
}

// Calibrates g on random inputs and returns the quantized copy.
Graph quantize_random(const Graph& g, quant::CalibrationMethod method, int images) {
  quant::GraphObserver obs(g);
  const size_t per = size_t(g.info.height) * g.info.width * 3;
  for (int i = 0; i < images; ++i) {
    const std::vector<float> x = test::random_input(per, uint32_t(500 + i));
    obs.observe(x.data(), 1);
  }
  Graph q = g;
  quant::QuantizeSettings qs;
  qs.calibration.method = method;
  quant::quantize_graph(q, obs.stats(), qs);
  return q;
}

TEST(QuantizeTflite, Int8FileFollowsTheSpecAndReadsBack) {
  const Graph g = build_mobilenet_v2(0.35f, 96, 1001, 11);
  const Graph q = quantize_random(g, quant::CalibrationMethod::MinMax, 2);
  TfliteWriteOptions o;
  o.int8 = true;
  const std::vector<uint8_t> bytes = write_tflite(q, o);
  const FileModel m = parse_tflite(bytes);
  check_int8_file(m);
  // Every node's value tensor carries the node's parameters (int8 zp = uint8 zp - 128).
  std::map<std::string, const FileTensor*> by_name;
  for (const FileTensor& t : m.tensors) by_name[t.name] = &t;
  int matched = 0;
  for (const Node& n : q.nodes) {
    std::string name = n.name;
    if (&n == &q.node(q.input)) name = q.info.input_name + "_int8";
    if (&n == &q.node(q.output)) name = q.info.output_name + "_int8";
    auto it = by_name.find(name);
    if (it == by_name.end()) continue;
    ++matched;
    EXPECT_EQ(it->second->scale, std::vector<float>{n.out_q.scale}) << name;
    EXPECT_EQ(it->second->zero_point, std::vector<int64_t>{n.out_q.zero_point - 128}) << name;
  }
  EXPECT_EQ(matched, int(q.nodes.size()));

  // mnv2's loader reads the file back: same topology, the dequantized weights bit for bit,
  // biases to float rounding, and the same preprocessing contract.
  const Graph r = load_tflite_bytes(bytes.data(), bytes.size(), "int8.tflite");
  EXPECT_TRUE(r.info.quantized);
  EXPECT_EQ(r.info.mean, q.info.mean);
  EXPECT_EQ(r.info.scale, q.info.scale);
  size_t wi = 0;
  std::vector<const Node*> qw, rw;
  for (const Node& n : q.nodes)
    if (!n.weights.empty()) qw.push_back(&n);
  for (const Node& n : r.nodes)
    if (!n.weights.empty()) rw.push_back(&n);
  ASSERT_EQ(qw.size(), rw.size());
  for (; wi < qw.size(); ++wi) {
    ASSERT_EQ(qw[wi]->weights, rw[wi]->weights) << qw[wi]->name;
    ASSERT_EQ(qw[wi]->bias.size(), rw[wi]->bias.size());
    for (size_t c = 0; c < qw[wi]->bias.size(); ++c)
      ASSERT_NEAR(qw[wi]->bias[c], rw[wi]->bias[c], 1e-6 * std::fabs(qw[wi]->bias[c]) + 1e-9);
  }

  // A graph without the integer view cannot be written as int8.
  try {
    write_tflite(g, o);
    FAIL() << "float graph written as int8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mnv2 quantize"), std::string::npos) << e.what();
  }
}

// Found by fuzz_tflite: a finite but huge quantization scale made a dequantized bias
// infinite; the loader accepted it and the graph could not be written back. Such files are
// refused at load, naming the tensor.
TEST(QuantizeTflite, HugeScaleThatOverflowsFloatIsRefused) {
  const Graph g = build_mobilenet_v2(0.35f, 96, 1001, 11);
  const Graph q = quantize_random(g, quant::CalibrationMethod::MinMax, 1);
  TfliteWriteOptions o;
  o.int8 = true;
  std::vector<uint8_t> bytes = write_tflite(q, o);
  // The first int32 bias tensor's scale, located by its bytes and replaced by 3e38.
  const FileModel m = parse_tflite(bytes);
  float scale = 0;
  for (const FileTensor& t : m.tensors)
    if (t.type == tfl::kInt32 && t.scale.size() > 1) {
      scale = t.scale[1];
      break;
    }
  ASSERT_GT(scale, 0.f);
  uint8_t pattern[4], huge[4];
  const float big = 3e38f;
  std::memcpy(pattern, &scale, 4);
  std::memcpy(huge, &big, 4);
  auto at = std::search(bytes.begin(), bytes.end(), pattern, pattern + 4);
  ASSERT_NE(at, bytes.end());
  std::copy(huge, huge + 4, at);
  try {
    load_tflite_bytes(bytes.data(), bytes.size(), "huge_scale.tflite");
    FAIL() << "a bias that dequantizes to infinity was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("huge_scale.tflite"), std::string::npos) << e.what();
  }
}

TEST(QuantizeTflite, TfliteWasmRunsTheInt8FileWithTheFloatTop1) {
  std::string why;
  const std::string pkg = tflite_wasm_package(&why);
  if (pkg.empty()) GTEST_SKIP() << why;
  struct Case {
    float width;
    int res;
    uint32_t seed;
    quant::CalibrationMethod method;
  };
  const Case cases[] = {{0.35f, 96, 11, quant::CalibrationMethod::MinMax},
                        {1.0f, 96, 12, quant::CalibrationMethod::Entropy},
                        {0.35f, 96, 13, quant::CalibrationMethod::Percentile}};
  for (const Case& c : cases) {
    const Graph g = build_mobilenet_v2(c.width, c.res, 1001, c.seed);
    const Graph q = quantize_random(g, c.method, 6);
    const std::string path = tmp_dir() + "/wasm_" + std::to_string(c.seed) + ".tflite";
    SaveOptions so;
    so.int8 = true;
    save_graph(q, path, so);
    std::vector<std::vector<float>> inputs;
    const size_t per = size_t(c.res) * c.res * 3;
    for (uint32_t i = 0; i < 4; ++i) inputs.push_back(test::random_input(per, 900 + i));
    const auto outs = run_wasm(pkg, path, inputs);
    double worst = 0;
    int clear = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      ASSERT_EQ(outs[i].size(), 1001u);
      const ReferenceResult ref = reference_run(g, inputs[i].data(), 1);
      std::vector<float> fp(ref.output.begin(), ref.output.end());
      // The int8 softmax output is on the 1/256 grid.
      for (float p : outs[i]) ASSERT_EQ(p * 256.f, std::round(p * 256.f));
      std::vector<float> sorted = fp;
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      std::printf("    input %zu: fp32 top-1 %d (p %.3f, margin %.3f), int8 top-1 %d (p %.3f)\n", i,
                  argmax(fp.data(), 1001), double(sorted[0]), double(sorted[0] - sorted[1]),
                  argmax(outs[i].data(), 1001), double(outs[i][size_t(argmax(outs[i].data(), 1001))]));
      // Random weights on noise inputs give some near-ties; where the fp32 winner leads by
      // less than int8 noise (0.02), the int8 winner must be the fp32 runner-up.
      const int top = argmax(outs[i].data(), 1001);
      if (sorted[0] - sorted[1] >= 0.02f) {
        EXPECT_EQ(top, argmax(fp.data(), 1001)) << c.width << "/" << c.res << " input " << i;
        ++clear;
      } else {
        EXPECT_TRUE(fp[size_t(top)] == sorted[0] || fp[size_t(top)] == sorted[1])
            << c.width << "/" << c.res << " input " << i;
      }
      for (size_t k = 0; k < fp.size(); ++k)
        worst = std::max(worst, std::fabs(double(outs[i][k]) - fp[k]));
    }
    std::printf("  synthetic %.2f/%d %-10s TFLite-wasm int8 vs fp32: top-1 equal on %d of %zu "
                "inputs with a clear winner, max |dp| %.4f\n",
                double(c.width), c.res, quant::calibration_method_name(c.method), clear,
                inputs.size(), worst);
    EXPECT_GE(clear, 3);
    // Min/max keeps every tail; percentile and entropy clip tails for resolution, which on
    // noise inputs and random weights costs visibly more confidence (0.41 -> 0.23 seen).
    EXPECT_LT(worst, c.method == quant::CalibrationMethod::MinMax ? 0.05 : 0.25);
    std::remove(path.c_str());
  }
}

// --- the command -------------------------------------------------------------------

std::string calib_dir() {
  const std::string d = tmp_dir() + "/calib";
  fs::create_directories(d + "/sub");
  for (int i = 0; i < 5; ++i) {
    const image::Image img = test::pattern_image(120 + 7 * i, 100 + 5 * i, uint32_t(i + 1));
    const test::Bytes b = i % 2 ? test::encode_bmp(img, 24, false) : test::encode_ppm(img);
    const std::string name = d + (i == 4 ? "/sub/" : "/") + "img" + std::to_string(i) +
                             (i % 2 ? ".bmp" : ".ppm");
    std::ofstream(name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                std::streamsize(b.size()));
  }
  std::ofstream(d + "/notes.txt") << "hello, not a picture";  // 20 bytes: not raw RGB either
  return d;
}

TEST(QuantizeCli, WritesAnInt8ModelAndReportsLayers) {
  const std::string dir = calib_dir();
  const std::string out = tmp_dir() + "/cli.tflite";
  std::string o;
  ASSERT_EQ(test::run_command(test::cli_path() + " quantize --synthetic 0.35 96 --calib " + dir +
                                  " -o " + out + " --method percentile --percentile 99.9 --json",
                              &o),
            0)
      << o;
  EXPECT_NE(o.find("\"method\":\"percentile\""), std::string::npos) << o;
  EXPECT_NE(o.find("\"percentile\":99.9"), std::string::npos) << o;
  EXPECT_NE(o.find("\"images\":5"), std::string::npos) << o;  // the .txt is not an image
  EXPECT_NE(o.find("\"rule\":\"softmax\""), std::string::npos) << o;
  EXPECT_NE(o.find("\"weight_scale_min\""), std::string::npos) << o;
  const FileModel m = parse_tflite(read_file(out));
  check_int8_file(m);
  // mnv2 loads and runs what it wrote.
  Model model = Model::load(out);
  EXPECT_TRUE(model.info().quantized);
  EXPECT_EQ(model.precision(), Precision::Int8);  // a quantized file runs in int8 by default
  std::vector<float> x = test::random_input(96 * 96 * 3, 3), p(1001);
  model.run(x.data(), 1, p.data());
  double sum = 0;
  for (float v : p) {
    EXPECT_EQ(v * 256.f, std::round(v * 256.f));  // int8 softmax levels of 1/256
    sum += v;
  }
  // 1001 outputs each rounded to 1/256: the sum is near 1, not exactly 1.
  EXPECT_NEAR(sum, 1.0, 0.1);

  // Human-readable summary with the per-layer table; --max-images limits the images.
  ASSERT_EQ(test::run_command(test::cli_path() + " quantize --synthetic 0.35 96 --calib " + dir +
                                  " -o " + out + " --layers --max-images 2 --method entropy",
                              &o),
            0)
      << o;
  EXPECT_NE(o.find("entropy over 2 images"), std::string::npos) << o;
  EXPECT_NE(o.find("MobilenetV2/Logits/Conv2d_1c_1x1"), std::string::npos) << o;
  EXPECT_NE(o.find("relu6"), std::string::npos) << o;
  std::remove(out.c_str());
}

TEST(QuantizeCli, BadArgumentsFailCleanly) {
  const std::string dir = calib_dir();
  const std::string out = tmp_dir() + "/bad.tflite";
  const std::string cli = test::cli_path() + " quantize ";
  struct Bad {
    std::string args, message;
  };
  const Bad bad[] = {
      {"--synthetic 0.35 96 -o " + out, "--calib"},
      {"--synthetic 0.35 96 --calib " + dir, "-o OUT"},
      {"--synthetic 0.35 96 --calib " + dir + " -o " + tmp_dir() + "/x.onnx", ".tflite"},
      {"--synthetic 0.35 96 --calib " + dir + " -o " + out + " --method kl", "unknown calibration method"},
      {"--synthetic 0.35 96 --calib " + dir + " -o " + out + " --percentile 99", "--method percentile"},
      {"--synthetic 0.35 96 --calib " + dir + " -o " + out + " --method percentile --percentile 120",
       "--percentile"},
      {"--synthetic 0.35 96 --calib " + dir + "/nope -o " + out, "does not exist"},
      {"--synthetic 0.35 96 --calib " + dir + "/notes.txt -o " + out, "none of the 1 calibration"},
      {"--calib " + dir + " -o " + out, "no model given"},
      {tmp_dir() + "/missing.tflite --calib " + dir + " -o " + out, "missing.tflite"},
      {"--synthetic 0.35 96 --calib " + dir + " -o " + out + " --bogus 1", "unknown option --bogus"},
      {"--synthetic 0.35 96 --calib " + dir + " -o " + out + " --max-images 0", "--max-images"},
  };
  for (const Bad& b : bad) {
    std::string o;
    EXPECT_EQ(test::run_command(cli + b.args + " 2>&1", &o), 1) << b.args << "\n" << o;
    EXPECT_NE(o.find("mnv2 quantize: error:"), std::string::npos) << b.args << "\n" << o;
    EXPECT_NE(o.find(b.message), std::string::npos) << b.args << "\n" << o;
  }
  EXPECT_FALSE(fs::exists(out));
  std::string o;
  ASSERT_EQ(test::run_command(cli + "--help", &o), 0);
  EXPECT_NE(o.find("--method"), std::string::npos);
}

}  // namespace
}  // namespace mnv2

// --- mnv2 running the written int8 file natively ---------------------------------------

namespace mnv2 {
namespace {

TEST(QuantizeNative, Mnv2ReadsTheIntegerViewBackAndRunsItLikeTfliteWasm) {
  const Graph g = build_mobilenet_v2(0.35f, 96, 1001, 11);
  const Graph q = quantize_random(g, quant::CalibrationMethod::MinMax, 3);
  const std::string path = tmp_dir() + "/native.tflite";
  SaveOptions so;
  so.int8 = true;
  save_graph(q, path, so);

  // The loader rebuilds exactly the integer view the quantizer made.
  const Graph r = load_graph(path);
  ASSERT_TRUE(r.quantized());
  ASSERT_EQ(r.nodes.size(), q.nodes.size());
  for (size_t i = 0; i < q.nodes.size(); ++i) {
    const Node& a = q.nodes[i];
    const Node& b = r.nodes[i];
    ASSERT_EQ(a.op, b.op) << a.name;
    EXPECT_EQ(a.out_q, b.out_q) << a.name;
    EXPECT_EQ(a.qweights, b.qweights) << a.name;
    EXPECT_EQ(a.qweight_scales, b.qweight_scales) << a.name;
    EXPECT_EQ(a.qbias, b.qbias) << a.name;
  }

  std::string why;
  const std::string pkg = tflite_wasm_package(&why);
  if (pkg.empty()) GTEST_SKIP() << why;
  std::vector<std::vector<float>> inputs;
  const size_t per = size_t(96) * 96 * 3;
  for (uint32_t i = 0; i < 4; ++i) inputs.push_back(test::random_input(per, 700 + i));
  const auto wasm = run_wasm(pkg, path, inputs);
  // TFLite-wasm runs QUANTIZE, the int8 convolutions and ADD through XNNPACK. The default
  // rounding (Int8Rounding::Xnnpack) and the integer reference in that mode, fed the input
  // quantized XNNPACK's way, reproduce it exactly: 0 levels (measured 0; with TFLite's input
  // rounding instead, 2 exact ties among the 4 x 27648 inputs moved the outputs by up to 8
  // levels). TFLite's rounding (its fixed-point requantization and input rounding, ties away
  // from zero) lands within 8 levels (measured 5) with the same top-1.
  Options o;
  o.precision = Precision::Int8;
  o.threads = 1;
  Model dflt = Model::load(path, o);
  ASSERT_EQ(dflt.precision(), Precision::Int8);
  ASSERT_EQ(dflt.int8_rounding(), Int8Rounding::Xnnpack);
  o.int8_rounding = Int8Rounding::Tflite;
  Model tfl = Model::load(path, o);
  int worst_default = 0, worst_tflite = 0, worst_xnn = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(wasm[i].size(), 1001u);
    std::vector<uint8_t> xq(per);
    quantize_input_xnn(r.node(r.input).out_q, inputs[i].data(), xq.data(), int64_t(per));
    const QReferenceResult xr = qreference_run(r, xq.data(), 1, {}, QRequantMode::Xnnpack);
    std::vector<float> pd(1001), pt(1001);
    dflt.run(inputs[i].data(), 1, pd.data());
    tfl.run(inputs[i].data(), 1, pt.data());
    for (int k = 0; k < 1001; ++k) {
      const int w = int(std::lround(wasm[i][size_t(k)] * 256.f));
      worst_xnn = std::max(worst_xnn, std::abs(int(xr.output[size_t(k)]) - w));
      worst_default =
          std::max(worst_default, std::abs(int(std::lround(pd[size_t(k)] * 256.f)) - w));
      worst_tflite = std::max(worst_tflite, std::abs(int(std::lround(pt[size_t(k)] * 256.f)) - w));
    }
    EXPECT_EQ(argmax(pd.data(), 1001), argmax(wasm[i].data(), 1001)) << "input " << i;
    EXPECT_EQ(argmax(pt.data(), 1001), argmax(wasm[i].data(), 1001)) << "input " << i;
  }
  std::printf("  int8 file, 4 inputs, max levels from TFLite-wasm: mnv2 integer reference "
              "(XNNPACK mode) %d; int8 executor, default (xnnpack) rounding %d, tflite "
              "rounding %d\n", worst_xnn, worst_default, worst_tflite);
  EXPECT_EQ(worst_xnn, 0);
  EXPECT_EQ(worst_default, 0);
  EXPECT_LE(worst_tflite, 8);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mnv2

namespace mnv2 {
namespace {


TEST(QuantizeTflite, EveryOpPathRunsInTfliteWasmAndMnv2) {
  const Graph g = test::all_ops_graph(false, 31);
  const Graph q = quantize_random(g, quant::CalibrationMethod::MinMax, 8);
  EXPECT_TRUE(quant::check_int8_constraints(q).empty());
  EXPECT_EQ(q.node(g.logits - 1).qweight_scales.size(), 1u);  // FC: per-tensor weights
  const std::string path = tmp_dir() + "/paths.tflite";
  SaveOptions so;
  so.int8 = true;
  save_graph(q, path, so);
  const FileModel m = parse_tflite(read_file(path));
  check_int8_file(m);
  int pads = 0;
  for (const FileOp& op : m.ops) pads += op.code == tfl::kOpPad;
  EXPECT_EQ(pads, 1);
  std::string why;
  const std::string pkg = tflite_wasm_package(&why);
  if (pkg.empty()) GTEST_SKIP() << why;
  std::vector<std::vector<float>> inputs;
  for (uint32_t i = 0; i < 6; ++i) inputs.push_back(test::random_input(8 * 8 * 3, 300 + i));
  const auto wasm = run_wasm(pkg, path, inputs);
  Options o;
  o.precision = Precision::Int8;
  Model native = Model::load(path, o);
  int clear = 0, worst = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(wasm[i].size(), 10u);
    const ReferenceResult ref = reference_run(g, inputs[i].data(), 1);
    std::vector<float> fp(ref.output.begin(), ref.output.end()), pn(10);
    native.run(inputs[i].data(), 1, pn.data());
    std::vector<float> sorted = fp;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    const int top = argmax(wasm[i].data(), 10);
    if (sorted[0] - sorted[1] >= 0.02f) {
      EXPECT_EQ(top, argmax(fp.data(), 10)) << "input " << i;
      ++clear;
    }
    EXPECT_EQ(argmax(pn.data(), 10), top) << "input " << i << ": mnv2 int8 vs TFLite-wasm";
    for (int k = 0; k < 10; ++k) {
      worst = std::max(worst, std::abs(int(std::lround(pn[size_t(k)] * 256.f)) -
                                       int(std::lround(wasm[i][size_t(k)] * 256.f))));
      EXPECT_NEAR(wasm[i][size_t(k)], fp[size_t(k)], 0.06) << "input " << i;
    }
  }
  std::printf("  all-paths graph: TFLite-wasm int8 top-1 = fp32 on %d clear inputs of 6; mnv2 "
              "int8 vs TFLite-wasm max %d levels\n", clear, worst);
  EXPECT_GE(clear, 4);
  EXPECT_LE(worst, 8);
  std::remove(path.c_str());
}

// Every op path of the int8 executor (im2col conv with asymmetric padding, 3x3 depthwise,
// generic depthwise with multiplier 2, 1x1 conv, ADD, MEAN / average pool, per-tensor FC,
// softmax) in both rounding modes equals the integer reference in the matching mode
// exactly, node by node (each node made the graph output in turn), for every ISA variant
// (test_util.h), 1 and 2 threads, batch 1 and 3. A second copy re-quantizes the ADD so that half
// the sums are exact ties (equal input scales, output scale twice that): TFLite rounds
// them away from zero, XNNPACK upwards, so the two modes must differ there and a wrong ADD
// kernel for the mode is caught. A third copy shrinks the second ADD input's scale until
// TFLite's XNNPACK delegate refuses the ADD (input-to-output scale ratio 2^-12 < 2^-10):
// TFLite then runs its builtin ADD there, and so must the Xnnpack mode.
class QuantizeNativeEngines : public ::testing::TestWithParam<test::IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

TEST_P(QuantizeNativeEngines, Int8RoundingModesEqualTheReferenceOnEveryOpPath) {
  const test::IsaVariant& variant = GetParam();
  test::IsaScope scope(variant);
  const Graph q = quantize_random(test::all_ops_graph(false, 31), quant::CalibrationMethod::MinMax, 8);
  ASSERT_TRUE(q.quantized());
  int add = -1;
  for (int id = 0; id < int(q.nodes.size()); ++id)
    if (q.node(id).op == OpType::Add) add = id;
  ASSERT_GE(add, 0);
  Graph ties = q;
  {
    Node& a = ties.nodes[size_t(ties.node(add).inputs[0])];
    const Node& b = ties.node(ties.node(add).inputs[1]);
    ASSERT_NE(b.activation, Activation::None);  // c1 (ReLU6) takes p1's (signed) grid
    ties.nodes[size_t(ties.node(add).inputs[1])].out_q = a.out_q;
    ties.nodes[size_t(add)].out_q = QuantParams{2.f * a.out_q.scale, 128};
  }
  Graph refused = ties;
  const int add_a = ties.node(add).inputs[0], add_b = ties.node(add).inputs[1];
  refused.nodes[size_t(add_b)].out_q.scale = ties.node(add_a).out_q.scale / 2048.f;
  ASSERT_FALSE(q::xnn_delegates_add(refused.node(add_a).out_q.scale,
                                    refused.node(add_b).out_q.scale,
                                    refused.node(add).out_q.scale));
  const size_t per = 8 * 8 * 3;
  std::vector<float> x;
  for (uint32_t i = 0; i < 3; ++i) {
    const std::vector<float> v = test::random_input(per, 300 + i);
    x.insert(x.end(), v.begin(), v.end());
  }
  {
    // The refused ADD in Xnnpack mode: TFLite's ADD of its inputs, which XNNPACK's formula
    // would round differently somewhere.
    std::vector<uint8_t> xq(x.size());
    quantize_input(QRequantMode::Xnnpack, refused.node(refused.input).out_q, x.data(),
                   xq.data(), int64_t(x.size()));
    const QReferenceResult r =
        qreference_run(refused, xq.data(), 3, {add_a, add_b, add}, QRequantMode::Xnnpack);
    const QuantParams qa = refused.node(add_a).out_q, qb = refused.node(add_b).out_q,
                      qo = refused.node(add).out_q;
    int32_t lo, hi;
    q::activation_range(refused.node(add).activation, qo.scale, qo.zero_point, &lo, &hi);
    const q::AddParams tp = q::make_add_params(qa.scale, qa.zero_point, qb.scale,
                                               qb.zero_point, qo.scale, qo.zero_point, lo, hi);
    const q::XnnAddParams xp = q::make_xnn_add_params(
        qa.scale, qa.zero_point, qb.scale, qb.zero_point, qo.scale, qo.zero_point, lo, hi);
    const std::vector<uint8_t>& a = r.kept.at(add_a);
    const std::vector<uint8_t>& b = r.kept.at(add_b);
    const std::vector<uint8_t>& y = r.kept.at(add);
    ASSERT_EQ(a.size(), y.size());
    int not_tflite = 0, not_xnn = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      not_tflite += y[i] != q::add_one(a[i], b[i], tp);
      not_xnn += y[i] != q::xnn_add_one(a[i], b[i], xp);
    }
    EXPECT_EQ(not_tflite, 0);
    EXPECT_GT(not_xnn, 0) << "the refused ADD must be one where the two formulas differ";
  }
  for (const Graph* gp : std::initializer_list<const Graph*>{&q, &ties, &refused}) {
    std::vector<uint8_t> xq(x.size());
    int differing_nodes = 0;
    for (int id = 1; id < int(gp->nodes.size()); ++id) {
      Graph t = *gp;
      t.output = id;
      t.logits = t.features = -1;
      const QuantParams oq = t.node(id).out_q;
      std::vector<uint8_t> by_mode[2];
      for (QRequantMode mode : {QRequantMode::Tflite, QRequantMode::Xnnpack}) {
        const bool xnn = mode == QRequantMode::Xnnpack;
        quantize_input(mode, gp->node(gp->input).out_q, x.data(), xq.data(), int64_t(x.size()));
        const std::vector<uint8_t> ref = qreference_run(t, xq.data(), 3, {}, mode).output;
        by_mode[xnn] = ref;
        const size_t n = ref.size() / 3;
        for (const test::EngineCase& e : test::engine_cases(variant)) {
          const Isa isa = e.isa;
          const int threads = e.threads, batch = e.batch;
          const std::unique_ptr<Executor> ex = make_int8_executor(
              t, {threads, isa, batch, xnn ? Int8Rounding::Xnnpack : Int8Rounding::Tflite});
          std::vector<float> y(n * size_t(batch));
          ex->run(x.data(), batch, y.data(), nullptr, nullptr);
          int bad = 0;
          for (size_t k = 0; k < y.size(); ++k) bad += y[k] != dequantize(oq, ref[k]);
          EXPECT_EQ(bad, 0) << (gp == &ties ? "ties graph, " : "") << "node "
                            << t.node(id).name << ", " << (xnn ? "xnnpack " : "tflite ")
                            << variant.name() << " threads " << threads << " batch " << batch;
        }
      }
      differing_nodes += by_mode[0] != by_mode[1];
      if (gp == &ties && id == add)
        EXPECT_NE(by_mode[0], by_mode[1]) << "the tie-forcing ADD must round differently";
    }
    // The refused ADD runs TFLite's formula in both modes, and nothing upstream of it rounds
    // differently on these inputs: there the modes may agree everywhere.
    if (gp != &refused) EXPECT_GT(differing_nodes, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, QuantizeNativeEngines, ::testing::ValuesIn(test::int8_variants()),
                         test::VariantName());

}  // namespace
}  // namespace mnv2
