// The QDQ ONNX export of quantized models (`mnv2 convert QUANTIZED.tflite -o m.onnx`):
// ONNX Runtime (onnxruntime-node from npm, tests/ref/ort_run.js) must fuse every
// convolution and add into its integer operators, and its results on the golden photos
// must agree with mnv2's native int8 execution of the .tflite.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "formats/loader.h"
#include "formats/onnx.h"
#include "formats/pb_wire.h"
#include "formats/writer.h"
#include "mnv2/mnv2.h"
#include "test_util.h"

namespace mnv2 {
namespace {

namespace fs = std::filesystem;

std::string ref_scripts() { return (fs::path(__FILE__).parent_path() / "ref").string(); }
std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  const size_t p = s.rfind('\n');
  return p == std::string::npos ? s : s.substr(p + 1);
}

// onnxruntime-node's node_modules folder, or "" with the reason in *why.
std::string ort_modules(std::string* why) {
  static std::string path, reason;
  static bool done = false;
  if (!done) {
    done = true;
    std::string out;
    const std::string dir = (fs::path(test::cli_path()).parent_path() / "onnx_ref" / "ort").string();
    if (test::run_command(quote(ref_scripts() + "/setup_onnx_ref.sh") + " ort " + quote(dir), &out) == 0)
      path = last_line(out);
    else
      reason = "ONNX Runtime unavailable: " + last_line(out);
  }
  *why = reason;
  return path;
}

// Operator counts ("domain:op" for non-default domains) of an ONNX model's main graph.
std::map<std::string, int> op_counts(const std::string& onnx_path) {
  const std::vector<uint8_t> bytes = test::read_file(onnx_path);
  const std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::map<std::string, int> ops;
  pb::Reader model(all);
  pb::Field f;
  while (model.next(f)) {
    if (f.number != 7) continue;  // ModelProto.graph
    pb::Reader graph = model.sub(f);
    pb::Field gf;
    while (graph.next(gf)) {
      if (gf.number != 1) continue;  // GraphProto.node
      pb::Reader node = graph.sub(gf);
      pb::Field nf;
      std::string op, domain;
      while (node.next(nf)) {
        if (nf.number == 4) op = std::string(nf.data);      // op_type
        if (nf.number == 7) domain = std::string(nf.data);  // domain
      }
      ++ops[domain.empty() || domain == "ai.onnx" ? op : domain + ":" + op];
    }
  }
  return ops;
}

const char* const kImages[] = {"bird.bmp",     "bird.rgb",      "cat.bmp",         "cat_720p.jpg",
                               "dragonfly.bmp", "grace_hopper.bmp", "hot_dog.jpg",  "owl.jpg",
                               "parrot.jpg",   "pets.jpg",      "resized_cat.bmp", "sunflower.bmp",
                               "sunflower.rgb"};
constexpr int kCount = int(std::size(kImages));
constexpr int kHW = 224, kC = 3;

// Both Coral models: their QDQ export runs in ONNX Runtime as QLinearConv (every one of the
// 53 convolutions, no float Conv or Gemm left), QLinearAdd, QLinearGlobalAveragePool and
// QLinearSoftmax, and ORT's probabilities on the 13 golden inputs have mnv2 int8's top-1
// (a tie for the top in either 8-bit output counts) and lie within 16 output levels (16/256)
// of them: ORT requantizes in float, mnv2 with TFLite's fixed point, and docs/int8.md
// measures up to 15 levels between two real TFLite references on these inputs.
TEST(OnnxQdq, CoralModelsFuseInOnnxRuntimeAndAgreeWithMnv2Int8) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "../shared/data not found (set MNV2_TEST_DATA)";
  std::string why;
  const std::string ort = ort_modules(&why);
  if (ort.empty()) GTEST_SKIP() << why;
  const std::string dir = test::make_scratch_dir("mnv2-qdq");
  for (const char* file : {"mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite"}) {
    SCOPED_TRACE(file);
    const std::string tflite = data + "/coral/" + file;
    const Graph g = load_graph(tflite);
    ASSERT_TRUE(g.quantized());
    int convs = 0, adds = 0;
    for (const Node& n : g.nodes) {
      convs += n.op == OpType::Conv2D || n.op == OpType::DepthwiseConv2D || n.op == OpType::FullyConnected;
      adds += n.op == OpType::Add;
    }
    // Through the CLI, as a user writes it.
    const std::string onnx = dir + "/" + file + ".onnx";
    std::string log;
    ASSERT_EQ(test::run_command(quote(test::cli_path()) + " convert " + quote(tflite) + " -o " + quote(onnx), &log), 0)
        << log;
    EXPECT_NE(log.find("int8 QDQ"), std::string::npos) << log;

    // mnv2 int8 on the golden inputs (float inputs that its input quantization maps back to
    // the golden uint8 tensors exactly).
    Options o;
    o.precision = Precision::Int8;
    o.threads = 1;
    Model m = Model::load(tflite, o);
    const ModelInfo& info = m.info();
    std::vector<float> nhwc, nchw(size_t(kCount) * kHW * kHW * kC);
    for (const char* img : kImages) {
      const std::vector<uint8_t> q = test::read_file(data + "/coral/golden/" + img + ".input.u8");
      ASSERT_EQ(q.size(), size_t(kHW * kHW * kC)) << img;
      for (uint8_t v : q) nhwc.push_back((float(v) - info.mean) / info.scale);
    }
    for (int b = 0; b < kCount; ++b)
      for (int y = 0; y < kHW; ++y)
        for (int x = 0; x < kHW; ++x)
          for (int c = 0; c < kC; ++c)
            nchw[((size_t(b) * kC + c) * kHW + y) * kHW + x] = nhwc[((size_t(b) * kHW + y) * kHW + x) * kC + c];
    const int classes = info.num_classes;
    std::vector<float> mine(size_t(kCount) * classes);
    m.run(nhwc.data(), kCount, mine.data());

    const std::string in = dir + "/" + file + ".in.f32", out = dir + "/" + file + ".ort.f32",
                      opt = dir + "/" + file + ".ort_optimized.onnx";
    test::write_floats(in, nchw.data(), nchw.size());
    ASSERT_EQ(test::run_command("NODE_PATH=" + quote(ort) + " node " + quote(ref_scripts() + "/ort_run.js") +
                                    " " + quote(onnx) + " " + quote(in) + " " + std::to_string(kCount) +
                                    ",3,224,224 " + quote(out) + " " + quote(opt),
                                &log),
              0)
        << log;

    // ORT's graph after its rewrites: integer operators only, no float compute left.
    std::map<std::string, int> ops = op_counts(opt);
    std::string listing;
    for (const auto& [op, n] : ops) listing += op + " x" + std::to_string(n) + ", ";
    std::printf("%s in ONNX Runtime: %s\n", file, listing.c_str());
    EXPECT_EQ(ops["QLinearConv"], convs) << listing;
    EXPECT_EQ(ops["com.microsoft:QLinearAdd"], adds) << listing;
    for (const char* float_op : {"Conv", "Gemm", "MatMul", "Add", "GlobalAveragePool", "Softmax"})
      EXPECT_EQ(ops.count(float_op), 0u) << float_op << " left in float: " << listing;
    EXPECT_EQ(ops["QuantizeLinear"], 1) << "only the input is quantized: " << listing;
    EXPECT_EQ(ops["DequantizeLinear"], 1) << "only the output is dequantized: " << listing;

    const std::vector<float> theirs = test::read_floats(out);
    ASSERT_EQ(theirs.size(), mine.size());
    double worst = 0;
    for (int b = 0; b < kCount; ++b) {
      const float* a = mine.data() + size_t(b) * classes;
      const float* t = theirs.data() + size_t(b) * classes;
      const int ta = int(std::max_element(a, a + classes) - a), tt = int(std::max_element(t, t + classes) - t);
      double d = 0;
      for (int k = 0; k < classes; ++k) d = std::max(d, double(std::fabs(a[k] - t[k])));
      worst = std::max(worst, d);
      std::printf("  %-17s mnv2 top-1 %4d (%.4f)  ORT top-1 %4d (%.4f)  max |diff| %.4f (%d levels)\n",
                  kImages[b], ta, a[ta], tt, t[tt], d, int(std::lround(d * 256)));
      EXPECT_TRUE(ta == tt || a[tt] == a[ta] || t[ta] == t[tt]) << kImages[b];
      EXPECT_LE(d, 16.0 / 256 + 1e-6) << kImages[b];
    }
    std::printf("%s: max |mnv2 int8 - ORT QDQ| = %.4f over %d images\n", file, worst, kCount);
  }
}

// The export's contract without ONNX Runtime: a float graph has no QDQ form, `--float`
// keeps the dequantized float export (which mnv2 reads back), and a QDQ file carries
// its integers (int8 weights for per-channel models, uint8 with a zero point for the
// uint8 per-tensor one, int32 biases).
TEST(OnnxQdq, ExportContract) {
  Graph f = test::all_ops_graph(false);
  EXPECT_THROW(onnx_qdq_model_bytes(f), Error);
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "../shared/data not found (set MNV2_TEST_DATA)";
  const std::string dir = test::make_scratch_dir("mnv2-qdq");
  for (const char* file : {"mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite"}) {
    SCOPED_TRACE(file);
    const std::string tflite = data + "/coral/" + file;
    const Graph g = load_graph(tflite);
    const std::string bytes = onnx_qdq_model_bytes(g);
    // Data types of the integer initializers (TensorProto field 2) by name suffix.
    std::map<std::string, std::map<uint64_t, int>> types;
    pb::Reader model(bytes);
    pb::Field fld;
    while (model.next(fld)) {
      if (fld.number != 7) continue;
      pb::Reader graph = model.sub(fld);
      pb::Field gf;
      while (graph.next(gf)) {
        if (gf.number != 5) continue;  // initializer
        pb::Reader t = graph.sub(gf);
        pb::Field tf;
        uint64_t type = 0;
        std::string name;
        while (t.next(tf)) {
          if (tf.number == 2) type = tf.value;
          if (tf.number == 8) name = std::string(tf.data);
        }
        for (const char* suffix : {"/weights_q", "/bias_q"})
          if (name.size() > std::strlen(suffix) && name.ends_with(suffix)) ++types[suffix][type];
      }
    }
    // 2 = UINT8, 3 = INT8, 6 = INT32. The uint8 per-tensor model's weights minus their
    // zero point span up to 256 values: most layers need uint8 (3 happen to fit int8).
    std::map<uint64_t, int>& wt = types["/weights_q"];
    if (std::string(file).starts_with("mobilenet_v2")) {
      EXPECT_GE(wt[2], 40);
      EXPECT_EQ(wt[2] + wt[3], 53);
    } else {
      EXPECT_EQ(wt[3], 53);
    }
    EXPECT_EQ(types["/bias_q"][6], 53);
    const std::string flt = dir + "/float.onnx";
    std::string log;
    ASSERT_EQ(test::run_command(quote(test::cli_path()) + " convert " + quote(tflite) + " --float -o " + quote(flt), &log), 0)
        << log;
    EXPECT_NE(log.find("float32"), std::string::npos) << log;
    const Graph back = load_graph(flt);
    EXPECT_EQ(back.total_macs(), g.total_macs());
    EXPECT_FALSE(back.quantized());
  }
}

}  // namespace
}  // namespace mnv2
