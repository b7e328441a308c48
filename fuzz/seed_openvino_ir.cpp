// Writes a seed corpus for fuzz_openvino_ir: small IRs (xml, NUL, bin) in the variants the
// writer produces (FP32 / FP16, plain / OMZ-style input). Usage: seed_openvino_ir DIR
#include <cstdio>
#include <string>

#include "formats/openvino_ir.h"

using namespace mnv2;

static Graph tiny_graph() {
  Graph g;
  g.info.name = "tiny";
  g.info.height = g.info.width = 6;
  auto node = [&](OpType op, const std::string& name, std::vector<int> in) {
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(in);
    return n;
  };
  auto fill = [](std::vector<float>& v, size_t n, float k) {
    v.resize(n);
    for (size_t i = 0; i < n; ++i) v[i] = float((int(i * 37 % 11) - 5)) * k;
  };
  g.input = g.add(node(OpType::Input, "input", {}));
  Node c = node(OpType::Conv2D, "conv", {g.input});
  c.kernel_h = c.kernel_w = 3;
  c.stride_h = c.stride_w = 2;
  c.pad_bottom = c.pad_right = 1;
  c.out_channels = 4;
  c.activation = Activation::Relu6;
  fill(c.weights, 4 * 9 * 3, 0.05f);
  fill(c.bias, 4, 0.1f);
  const int conv = g.add(c);
  Node d = node(OpType::DepthwiseConv2D, "dw", {conv});
  d.kernel_h = d.kernel_w = 3;
  d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
  d.activation = Activation::Relu6;
  fill(d.weights, 9 * 4, 0.1f);
  fill(d.bias, 4, 0.05f);
  const int dw = g.add(d);
  Node p = node(OpType::Conv2D, "project", {dw});
  p.out_channels = 4;
  fill(p.weights, 16, 0.2f);
  const int proj = g.add(p);
  const int add = g.add(node(OpType::Add, "add", {proj, conv}));
  g.features = g.add(node(OpType::GlobalAvgPool, "pool", {add}));
  Node l = node(OpType::Conv2D, "logits", {g.features});
  l.out_channels = 3;
  fill(l.weights, 12, 0.3f);
  fill(l.bias, 3, 0.1f);
  const int logits = g.add(l);
  g.logits = g.add(node(OpType::Reshape, "Squeeze", {logits}));
  g.output = g.add(node(OpType::Softmax, "prob", {g.logits}));
  g.finalize();
  return g;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const Graph g = tiny_graph();
  int k = 0;
  for (bool fp16 : {false, true})
    for (bool omz : {false, true}) {
      const OpenVinoIrFiles f = write_openvino_ir(g, fp16, omz);
      const std::string path = std::string(argv[1]) + "/seed" + std::to_string(k++);
      FILE* out = std::fopen(path.c_str(), "wb");
      if (!out) return 1;
      std::fwrite(f.xml.data(), 1, f.xml.size(), out);
      std::fputc(0, out);
      std::fwrite(f.bin.data(), 1, f.bin.size(), out);
      std::fclose(out);
      // the seed must itself load
      load_openvino_ir_memory(f.xml, f.bin, path);
    }
  std::printf("wrote %d seeds to %s\n", k, argv[1]);
  return 0;
}
