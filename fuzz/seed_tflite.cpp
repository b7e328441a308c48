// Writes a seed corpus for fuzz_tflite: small models covering every op the loader knows
// (float32 and float16 weights, and full-integer int8 files from mnv2's quantizer), made
// with mnv2's own writer.
#include <cstdio>
#include <fstream>
#include <string>

#include "formats/tflite.h"
#include "graph/mobilenet_v2.h"
#include "quant/calibration.h"
#include "quant/quantize.h"

using namespace mnv2;

namespace {

Graph small_graph(bool affine, int res, int classes, bool symmetric_pads) {
  Graph g;
  uint64_t s = 1;
  auto rnd = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      x = float(int((s >> 33) % 2001) - 1000) / 1500.f;
    }
    return v;
  };
  g.info.name = "seed";
  g.info.height = g.info.width = res;
  g.info.channels = 3;
  g.info.has_background = false;
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
    g.info.normalization_in_graph = true;
  }
  auto conv = [&](int src, int cin, int cout, int k, int st, int pb, int pa, bool dw, int mult,
                  Activation act) {
    Node n;
    n.name = "conv" + std::to_string(g.nodes.size());
    n.op = dw ? OpType::DepthwiseConv2D : OpType::Conv2D;
    n.inputs = {src};
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = st;
    n.pad_top = n.pad_left = pb;
    n.pad_bottom = n.pad_right = pa;
    n.depth_multiplier = mult;
    n.out_channels = dw ? 0 : cout;
    n.activation = act;
    n.weights = rnd(dw ? size_t(k * k * cin * mult) : size_t(cout * k * k * cin));
    n.bias = rnd(size_t(dw ? cin * mult : cout));
    return g.add(n);
  };
  int c1 = conv(x, 3, 4, 3, 2, symmetric_pads ? 1 : 0, 1, false, 1, Activation::Relu6);
  int d1 = conv(c1, 4, 4, 3, 1, 1, 1, true, 1, Activation::Relu6);
  int p1 = conv(d1, 4, 4, 1, 1, 0, 0, false, 1, Activation::None);
  int a1 = g.add("add", OpType::Add, {p1, c1});
  int d2 = conv(a1, 4, 8, 3, 2, 0, 1, true, 2, Activation::Relu);
  g.features = g.add("pool", OpType::GlobalAvgPool, {d2});
  Node fc;
  fc.name = "fc";
  fc.op = OpType::FullyConnected;
  fc.inputs = {g.features};
  fc.out_channels = classes;
  fc.weights = rnd(size_t(8 * classes));
  fc.bias = rnd(size_t(classes));
  int f = g.add(fc);
  g.logits = g.add("logits", OpType::Reshape, {f});
  g.output = g.add("probs", OpType::Softmax, {g.logits});
  g.finalize();
  return g;
}

void save(const std::string& dir, const std::string& name, const Graph& g, bool fp16) {
  TfliteWriteOptions o;
  o.fp16 = fp16;
  const std::vector<uint8_t> b = write_tflite(g, o);
  std::ofstream f(dir + "/" + name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  std::printf("%s/%s: %zu bytes\n", dir.c_str(), name.c_str(), b.size());
}

// The quantizer's int8 file of g, calibrated by min/max on a few deterministic inputs.
void save_int8(const std::string& dir, const std::string& name, const Graph& g) {
  quant::GraphObserver obs(g);
  std::vector<float> x(size_t(g.info.height) * size_t(g.info.width) * 3);
  uint32_t s = 7;
  for (int image = 0; image < 3; ++image) {
    for (float& v : x) {
      s = s * 1664525u + 1013904223u;
      v = float(s >> 8) / float(1u << 24) * 2.f - 1.f;
    }
    obs.observe(x.data(), 1);
  }
  Graph q = g;
  quant::quantize_graph(q, obs.stats(), {});
  TfliteWriteOptions o;
  o.int8 = true;
  const std::vector<uint8_t> b = write_tflite(q, o);
  std::ofstream f(dir + "/" + name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  std::printf("%s/%s: %zu bytes\n", dir.c_str(), name.c_str(), b.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    save(dir, "plain.tflite", small_graph(false, 8, 5, false), false);
    save(dir, "plain_fp16.tflite", small_graph(false, 8, 5, false), true);
    save(dir, "affine_pad.tflite", small_graph(true, 9, 3, true), false);
    save(dir, "affine_pad_fp16.tflite", small_graph(true, 9, 3, true), true);
    save_int8(dir, "plain_int8.tflite", small_graph(false, 8, 5, false));
    save_int8(dir, "pad_int8.tflite", small_graph(false, 9, 3, true));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
