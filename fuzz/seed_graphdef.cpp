// Writes small GraphDef seeds for fuzz_graphdef with mnv2's own writer: plain (BiasAdd),
// BatchNorm-unfolded (FusedBatchNormV3 and FusedBatchNorm, Mean pooling), nodes in
// reverse order, and a graph with explicit Pad nodes.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "formats/tf_graphdef.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_graphdef_seeds OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  auto save = [&](const std::string& name, const mnv2::Graph& g,
                  const mnv2::GraphDefWriteOptions& o) {
    const std::string bytes = mnv2::graphdef_bytes(g, o);
    std::ofstream(dir + "/" + name, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    std::printf("%s: %zu bytes\n", name.c_str(), bytes.size());
  };
  // A tiny MobileNetV2-shaped network (stride-2 conv, depthwise, linear projection,
  // residual add, 1x1 expansion, global pool, logits, softmax) keeps the seeds, and so the
  // mutations, a few KiB long.
  using mnv2::Node;
  using mnv2::OpType;
  mnv2::Graph g;
  g.info.height = g.info.width = 8;
  uint32_t seed = 1;
  auto fill = [&](std::vector<float>& v, size_t n) {
    v.resize(n);
    for (float& x : v) {
      seed = seed * 1664525u + 1013904223u;
      x = float(seed >> 8) / float(1 << 24) - 0.5f;
    }
  };
  auto conv = [&](const std::string& name, int in, OpType op, int k, int stride, int cout,
                  mnv2::Activation act) {
    g.infer_shapes();
    const mnv2::Shape x = g.node(in).shape;
    Node n;
    n.name = name;
    n.op = op;
    n.inputs = {in};
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    int o;
    mnv2::same_padding(x.h, k, stride, &o, &n.pad_top, &n.pad_bottom);
    mnv2::same_padding(x.w, k, stride, &o, &n.pad_left, &n.pad_right);
    n.activation = act;
    if (op == OpType::Conv2D) {
      n.out_channels = cout;
      fill(n.weights, size_t(cout) * k * k * x.c);
    } else {
      cout = x.c;
      fill(n.weights, size_t(k) * k * x.c);
    }
    fill(n.bias, size_t(cout));
    return g.add(n);
  };
  Node input;
  input.name = "input";
  g.input = g.add(input);
  g.output = g.input;
  const auto relu6 = mnv2::Activation::Relu6, none = mnv2::Activation::None;
  int x = conv("MobilenetV2/Conv", g.input, OpType::Conv2D, 3, 2, 8, relu6);
  int y = conv("MobilenetV2/expanded_conv/depthwise", x, OpType::DepthwiseConv2D, 3, 1, 0, relu6);
  y = conv("MobilenetV2/expanded_conv/project", y, OpType::Conv2D, 1, 1, 8, none);
  x = g.add("MobilenetV2/expanded_conv/add", OpType::Add, {y, x});
  x = conv("MobilenetV2/Conv_1", x, OpType::Conv2D, 1, 1, 16, relu6);
  g.features = g.add("MobilenetV2/Logits/AvgPool", OpType::GlobalAvgPool, {x});
  x = conv("MobilenetV2/Logits/Conv2d_1c_1x1", g.features, OpType::Conv2D, 1, 1, 5, none);
  g.logits = g.add("MobilenetV2/Logits/Squeeze", OpType::Reshape, {x});
  g.output = g.add("MobilenetV2/Predictions/Reshape_1", OpType::Softmax, {g.logits});
  g.finalize();
  mnv2::GraphDefWriteOptions o;
  save("plain.pb", g, o);
  o.unfold_batchnorm = true;
  save("bn_v3.pb", g, o);
  o.batchnorm_v3 = false;
  o.mean_pool = true;
  o.epsilon = 0.01f;
  save("bn_v1_mean.pb", g, o);
  o = {};
  o.reverse_node_order = true;
  save("reversed.pb", g, o);
  for (mnv2::Node& n : g.nodes)
    if (n.stride_h == 2)
      n.pad_top = n.pad_bottom = n.pad_left = n.pad_right = 1;
  g.finalize();
  save("pads.pb", g, {});
  return 0;
}
