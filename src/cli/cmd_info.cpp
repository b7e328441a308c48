// mnv2 info: what a model is — its I/O contract, per-layer table and totals.
#include <cstdio>

#include "cli/args.h"
#include "cli/model_args.h"

namespace mnv2::cli {
namespace {

const char* kHelp =
    "usage: mnv2 info MODEL | --model MODEL | --synthetic WIDTH RES [--json]\n\n"
    "Prints the model's input/output contract (names, layout, channel order, whether the\n"
    "normalisation is inside the graph, class count and background class), a per-layer\n"
    "table (name, op, output shape, params, MACs) and the totals.\n\n"
    "options:\n"
    "  --model PATH          model file (.tflite, .pb, .xml, .onnx); also accepted positionally\n"
    "  --synthetic W R       synthetic MobileNetV2, width multiplier W, resolution R\n"
    "  --classes N           class count of the synthetic model (default 1001)\n"
    "  --json                machine-readable output (metadata and totals)\n";

int run(int argc, char** argv) {
  Args a(argc, argv, {"json", "help"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  a.reject_unknown({"json", "help", "model", "synthetic", "classes", "seed"});
  Model m = open_model(a, 1, true);
  const ModelInfo& i = m.info();
  if (a.has("json")) {
    std::printf(
        "{\"name\":\"%s\",\"format\":\"%s\",\"input\":{\"name\":\"%s\",\"layout\":\"%s\","
        "\"shape\":[1,%d,%d,%d],\"channel_order\":\"%s\",\"normalization_in_graph\":%s,"
        "\"mean\":%g,\"scale\":%g},\"output\":{\"name\":\"%s\",\"classes\":%d,"
        "\"has_background\":%s,\"softmax\":%s},\"feature_dim\":%d,\"quantized\":%s,"
        "\"params\":%lld,\"macs\":%lld}\n",
        json_escape(i.name).c_str(), i.format.c_str(), json_escape(i.input_name).c_str(),
        i.layout == Layout::NHWC ? "NHWC" : "NCHW", i.height, i.width, i.channels,
        i.channel_order == ChannelOrder::RGB ? "RGB" : "BGR",
        i.normalization_in_graph ? "true" : "false", double(i.mean), double(i.scale),
        json_escape(i.output_name).c_str(), i.num_classes, i.has_background ? "true" : "false",
        i.output_is_softmax ? "true" : "false", i.feature_dim, i.quantized ? "true" : "false",
        (long long)i.params, (long long)i.macs);
    return 0;
  }
  std::printf("model:        %s (%s)\n", i.name.c_str(), i.format.c_str());
  std::printf("input:        '%s' %s [1,%d,%d,%d] %s, %s\n", i.input_name.c_str(),
              i.layout == Layout::NHWC ? "NHWC" : "NCHW", i.height, i.width, i.channels,
              i.channel_order == ChannelOrder::RGB ? "RGB" : "BGR",
              i.normalization_in_graph
                  ? "raw 0..255 pixels (mean/scale inside the graph)"
                  : ("(pixel - " + std::to_string(i.mean) + ") / " + std::to_string(i.scale))
                        .c_str());
  std::printf("output:       '%s' [1,%d]%s%s\n", i.output_name.c_str(), i.num_classes,
              i.output_is_softmax ? " softmax" : "",
              i.has_background ? ", class 0 = background" : "");
  std::printf("features:     %d\n", i.feature_dim);
  std::printf("weights:      %s\n\n", i.quantized ? "quantized" : "float");
  std::fputs(m.summary().c_str(), stdout);
  return 0;
}

RegisterCommand reg("info", "print a model's I/O contract, layer table and totals", run);

}  // namespace
}  // namespace mnv2::cli
