// Every proper prefix of a small model file is an mnv2::Error, for every format whose
// reader takes bytes directly (the larger synthetic models are swept, sampled, in each
// format's own test file).
#include <gtest/gtest.h>

#include "formats/onnx.h"
#include "formats/openvino_ir.h"
#include "graph/graph.h"

namespace mnv2 {
namespace {

// Input 9x9x3 -> 3x3/2 conv (ReLU6) -> 3x3 depthwise -> 1x1 conv -> pool -> FC 5 -> softmax.
Graph tiny() {
  Graph g;
  g.info.height = g.info.width = 9;
  g.info.num_classes = 5;
  g.info.has_background = false;
  g.input = g.add("input", OpType::Input);
  auto ramp = [](size_t n, float scale) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = scale * float(int(i % 7) - 3);
    return v;
  };
  Node c;
  c.name = "conv";
  c.op = OpType::Conv2D;
  c.inputs = {g.input};
  c.kernel_h = c.kernel_w = 3;
  c.stride_h = c.stride_w = 2;
  c.pad_bottom = c.pad_right = 1;
  c.out_channels = 4;
  c.activation = Activation::Relu6;
  c.weights = ramp(4 * 9 * 3, 0.1f);
  c.bias = ramp(4, 0.05f);
  int x = g.add(c);
  Node d;
  d.name = "dw";
  d.op = OpType::DepthwiseConv2D;
  d.inputs = {x};
  d.kernel_h = d.kernel_w = 3;
  d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
  d.activation = Activation::Relu6;
  d.weights = ramp(9 * 4, 0.2f);
  d.bias = ramp(4, 0.1f);
  x = g.add(d);
  g.features = g.add("pool", OpType::GlobalAvgPool, {x});
  Node fc;
  fc.name = "fc";
  fc.op = OpType::FullyConnected;
  fc.inputs = {g.features};
  fc.out_channels = 5;
  fc.weights = ramp(5 * 4, 0.3f);
  fc.bias = ramp(5, 0.1f);
  g.logits = g.add(fc);
  g.output = g.add("prob", OpType::Softmax, {g.logits});
  g.finalize();
  return g;
}

TEST(Truncation, OnnxEveryPrefixOfTinyModel) {
  const std::string bytes = onnx_model_bytes(tiny());
  ASSERT_NO_THROW(load_onnx_bytes(bytes, "whole.onnx"));
  for (size_t len = 0; len < bytes.size(); ++len)
    EXPECT_THROW(load_onnx_bytes(std::string_view(bytes.data(), len), "cut.onnx"), Error)
        << "prefix of " << len << " of " << bytes.size() << " bytes";
}

TEST(Truncation, OpenVinoIrEveryPrefixOfTinyModel) {
  const OpenVinoIrFiles files = write_openvino_ir(tiny(), false, false);
  ASSERT_NO_THROW(load_openvino_ir_memory(files.xml, files.bin, "whole.xml"));
  // Only the trailing newline after </net> may go: that is the same document.
  const size_t end = files.xml.rfind("</net>") + 6;
  for (size_t len = 0; len < end; ++len)
    EXPECT_THROW(load_openvino_ir_memory(files.xml.substr(0, len), files.bin, "cut.xml"), Error)
        << "xml prefix of " << len << " bytes";
  for (size_t len = 0; len < files.bin.size(); ++len)
    EXPECT_THROW(load_openvino_ir_memory(files.xml,
                                         std::vector<uint8_t>(files.bin.begin(),
                                                              files.bin.begin() + long(len)),
                                         "cut.xml"),
                 Error)
        << "bin prefix of " << len << " bytes";
}

}  // namespace
}  // namespace mnv2
