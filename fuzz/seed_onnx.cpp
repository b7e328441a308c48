// Writes a seed corpus for fuzz_onnx: small models covering the loader's paths, written by
// mnv2's own ONNX writer (IR graphs) and by hand (BatchNormalization, torch-style Pad
// chains, opset-9 attributes, NHWC transposes, float16 + Cast, Gemm/MatMul).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "formats/onnx.h"
#include "formats/pb_wire.h"

using namespace mnv2;

namespace {

std::vector<float> ramp(size_t n, float scale = 0.1f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * float(int(i % 7) - 3);
  return v;
}

// ---- IR graphs through the writer ----

Graph ir_graph(bool affine, bool fc_head, int res) {
  Graph g;
  g.info.name = "seed";
  g.info.height = g.info.width = res;
  g.input = g.add("input", OpType::Input);
  int x = g.input;
  if (affine) {
    Node a;
    a.name = "norm";
    a.op = OpType::ChannelAffine;
    a.inputs = {x};
    a.weights = {0.01f, 0.02f, 0.03f};
    a.bias = {-1.f, -1.f, -1.f};
    x = g.add(a);
  }
  auto conv = [&](int src, int cin, int cout, int k, int st, bool dw, Activation act) {
    Node n;
    n.name = "conv" + std::to_string(g.nodes.size());
    n.op = dw ? OpType::DepthwiseConv2D : OpType::Conv2D;
    n.inputs = {src};
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = st;
    n.pad_top = n.pad_left = k / 2 - (st == 2 ? 1 : 0);
    n.pad_bottom = n.pad_right = k / 2;
    if (n.pad_top < 0) n.pad_top = n.pad_left = 0;
    n.out_channels = dw ? 0 : cout;
    n.activation = act;
    n.weights = ramp(dw ? size_t(k * k * cin) : size_t(cout * k * k * cin));
    n.bias = ramp(size_t(dw ? cin : cout), 0.01f);
    return g.add(n);
  };
  x = conv(x, 3, 8, 3, 2, false, Activation::Relu6);
  int y = conv(x, 8, 8, 3, 1, true, Activation::Relu);
  y = conv(y, 8, 8, 1, 1, false, Activation::None);
  x = g.add("add", OpType::Add, {x, y});
  g.features = x = g.add("pool", OpType::GlobalAvgPool, {x});
  if (fc_head) {
    Node fc;
    fc.name = "fc";
    fc.op = OpType::FullyConnected;
    fc.inputs = {x};
    fc.out_channels = 5;
    fc.weights = ramp(40);
    fc.bias = ramp(5, 0.01f);
    x = g.add(fc);
  } else {
    x = conv(x, 8, 5, 1, 1, false, Activation::None);
    x = g.add("squeeze", OpType::Reshape, {x});
  }
  g.logits = x;
  g.output = g.add("softmax", OpType::Softmax, {x});
  g.finalize();
  return g;
}

// ---- hand-built ModelProtos ----

struct Tiny {
  int opset = 13;
  std::vector<int64_t> input_dims = {1, 3, 8, 8};
  pb::Writer graph;
  void node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
            const std::vector<std::pair<std::string, std::vector<int64_t>>>& ints = {},
            const std::vector<std::pair<std::string, float>>& floats = {}) {
    pb::Writer n;
    for (auto& s : in) n.bytes(1, s);
    for (auto& s : out) n.bytes(2, s);
    n.bytes(3, op + "_" + out[0]);
    n.bytes(4, op);
    for (auto& [name, v] : ints) {
      pb::Writer a;
      a.bytes(1, name);
      a.varint(20, v.size() == 1 && name != "pads" && name != "perm" && name != "axes" ? 2 : 7);
      if (v.size() == 1 && name != "pads" && name != "perm" && name != "axes") a.sint(3, v[0]);
      else for (int64_t x : v) a.sint(8, x);
      n.message(5, a);
    }
    for (auto& [name, v] : floats) {
      pb::Writer a;
      a.bytes(1, name);
      a.varint(20, 1);
      a.f32(2, v);
      n.message(5, a);
    }
    graph.message(1, n);
  }
  void init(const std::string& name, std::vector<int64_t> dims, int dtype, const std::string& raw) {
    pb::Writer t;
    for (int64_t d : dims) t.sint(1, d);
    t.varint(2, uint64_t(dtype));
    t.bytes(8, name);
    t.bytes(9, raw);
    graph.message(5, t);
  }
  void f32(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
    init(name, dims, 1, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  }
  void i64(const std::string& name, std::vector<int64_t> dims, const std::vector<int64_t>& v) {
    init(name, dims, 7, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8));
  }
  std::string bytes(const std::string& output) const {
    pb::Writer g = graph;
    auto vi = [&](uint32_t field, const std::string& name, const std::vector<int64_t>* dims) {
      pb::Writer shape;
      if (dims)
        for (int64_t d : *dims) {
          pb::Writer dim;
          dim.sint(1, d);
          shape.message(1, dim);
        }
      pb::Writer tt;
      tt.varint(1, 1);
      if (dims) tt.message(2, shape);
      pb::Writer type;
      type.message(1, tt);
      pb::Writer v;
      v.bytes(1, name);
      v.message(2, type);
      g.message(field, v);
    };
    vi(11, "x", &input_dims);
    vi(12, output, nullptr);
    pb::Writer m;
    m.sint(1, 8);
    pb::Writer op;
    op.bytes(1, "");
    op.sint(2, opset);
    m.message(8, op);
    m.message(7, g);
    return m.str();
  }
};

void head(Tiny& t, const std::string& x) {
  t.node("GlobalAveragePool", {x}, {"gap"});
  t.node("Flatten", {"gap"}, {"flat"});
  t.node("Softmax", {"flat"}, {"y"}, {{"axis", {1}}});
}

std::string torch_style() {  // Pad built from a constant chain, Conv, BN, Clip with constants
  Tiny t;
  t.i64("c1", {1}, {4});
  t.i64("c2", {4}, {0, 1, 0, 1});
  t.i64("shape", {2}, {-1, 2});
  t.i64("starts", {1}, {-1});
  t.i64("ends", {1}, {INT64_MIN + 1});
  t.i64("axes", {1}, {0});
  t.i64("steps", {1}, {-1});
  t.node("ConstantOfShape", {"c1"}, {"zeros"}, {}, {});
  t.node("Cast", {"zeros"}, {"zi"}, {{"to", {7}}});
  t.node("Concat", {"c2", "zi"}, {"cat"}, {{"axis", {0}}});
  t.node("Reshape", {"cat", "shape"}, {"r"});
  t.node("Slice", {"r", "starts", "ends", "axes", "steps"}, {"sl"});
  t.node("Transpose", {"sl"}, {"tr"}, {{"perm", {1, 0}}});
  t.i64("minus1", {1}, {-1});
  t.node("Reshape", {"tr", "minus1"}, {"pads"});
  t.node("Pad", {"x", "pads"}, {"p"});
  t.f32("w", {6, 3, 3, 3}, ramp(162));
  t.node("Conv", {"p", "w"}, {"c"}, {{"strides", {2, 2}}, {"kernel_shape", {3, 3}}});
  t.f32("s", {6}, ramp(6, 0.2f));
  t.f32("b", {6}, ramp(6, 0.05f));
  t.f32("m", {6}, ramp(6, 0.01f));
  t.f32("v", {6}, {1, 2, 0.5f, 1, 1.5f, 0.7f});
  t.node("BatchNormalization", {"c", "s", "b", "m", "v"}, {"bn"}, {}, {{"epsilon", 1e-3f}});
  t.f32("lo", {}, {0.f});
  t.f32("hi", {}, {6.f});
  t.node("Clip", {"bn", "lo", "hi"}, {"r6"});
  head(t, "r6");
  return t.bytes("y");
}

std::string opset9() {
  Tiny t;
  t.opset = 9;
  t.f32("w", {6, 1, 3, 3}, ramp(54));
  t.node("Pad", {"x"}, {"p"}, {{"pads", {0, 0, 1, 1, 0, 0, 1, 1}}});
  t.node("Conv", {"p", "w"}, {"c"}, {{"group", {3}}});
  t.node("Clip", {"c"}, {"r"}, {}, {{"min", 0.f}, {"max", 6.f}});
  t.f32("gw", {6, 4}, ramp(24));
  t.node("GlobalAveragePool", {"r"}, {"g"});
  t.node("Flatten", {"g"}, {"f"});
  t.node("MatMul", {"f", "gw"}, {"l0"});
  t.f32("gb", {4}, ramp(4, 0.02f));
  t.node("Add", {"l0", "gb"}, {"l"});
  t.node("Softmax", {"l"}, {"y"});
  return t.bytes("y");
}

std::string nhwc_fp16() {
  Tiny t;
  t.input_dims = {1, 8, 8, 3};
  t.node("Transpose", {"x"}, {"xt"}, {{"perm", {0, 3, 1, 2}}});
  std::string raw;
  for (int i = 0; i < 4 * 3 * 3 * 3; ++i) {
    const uint16_t h = uint16_t(0x3000 + (i % 5) * 0x100);  // small positive halves
    raw.append(reinterpret_cast<const char*>(&h), 2);
  }
  t.init("w16", {4, 3, 3, 3}, 10, raw);
  t.node("Cast", {"w16"}, {"w"}, {{"to", {1}}});
  t.node("Conv", {"xt", "w"}, {"c"}, {{"pads", {1, 1, 1, 1}}});
  t.node("Relu", {"c"}, {"r"});
  t.node("ReduceMean", {"r"}, {"g"}, {{"axes", {2, 3}}, {"keepdims", {1}}});
  t.i64("sq", {2}, {2, 3});
  t.node("Squeeze", {"g", "sq"}, {"s"});
  t.f32("gw", {5, 4}, ramp(20));
  t.node("Gemm", {"s", "gw"}, {"y"}, {{"transB", {1}}}, {{"alpha", 0.5f}});
  return t.bytes("y");
}

void write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  std::printf("%s/%s (%zu bytes)\n", dir.c_str(), name.c_str(), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_onnx_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    write(dir, "ir_conv_head.onnx", onnx_model_bytes(ir_graph(false, false, 16)));
    write(dir, "ir_fc_affine.onnx", onnx_model_bytes(ir_graph(true, true, 12)));
    write(dir, "ir_fp16.onnx", onnx_model_bytes(ir_graph(false, true, 10), true));
    write(dir, "torch_style.onnx", torch_style());
    write(dir, "opset9.onnx", opset9());
    write(dir, "nhwc_fp16.onnx", nhwc_fp16());
    for (const char* f : {"ir_conv_head.onnx", "ir_fc_affine.onnx", "ir_fp16.onnx", "torch_style.onnx",
                          "opset9.onnx", "nhwc_fp16.onnx"})
      load_onnx(dir + "/" + f);  // every seed must load
  } catch (const Error& e) {
    std::fprintf(stderr, "make_onnx_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
