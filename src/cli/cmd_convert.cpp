// mnv2 convert: read a model in any supported format (or build a synthetic one) and write
// it in the format the output extension names.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "cli/args.h"
#include "cli/model_args.h"
#include "formats/loader.h"
#include "formats/writer.h"
#include "graph/mobilenet_v2.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 convert (MODEL | --model MODEL | --synthetic WIDTH RES) -o OUT [--fp16] [--float]\n\n"
    "Converts a model to the format named by OUT's extension:\n"
    "  .tflite   TensorFlow Lite flatbuffer, float32 (TF SAME/VALID padding, fused ReLU/ReLU6;\n"
    "            pads SAME/VALID cannot express become an explicit PAD op)\n"
    "  .onnx     ONNX opset 13, float32, NCHW input with a symbolic batch (explicit, possibly\n"
    "            asymmetric Conv pads; ReLU6 as Clip)\n"
    "  .xml      OpenVINO IR v11 (.xml + .bin beside it). Like the Open Model Zoo IR it takes\n"
    "            NCHW BGR raw 0..255 pixels when the source takes normalised RGB: the mean/\n"
    "            scale become Subtract/Multiply ops and the channel swap is folded into the\n"
    "            first convolution; other sources keep their input contract\n"
    "  .pb       TF frozen GraphDef as TF-slim exports it (Conv2D/DepthwiseConv2dNative +\n"
    "            BiasAdd + Relu6, AddV2, AvgPool, Squeeze, Softmax), float32\n"
    "A quantized model (a quantized .tflite) written as .onnx is a QDQ model: uint8\n"
    "activations, QuantizeLinear / DequantizeLinear around every op, int8 (or zero-pointed\n"
    "uint8) weights with per-channel scales, int32 biases; ONNX Runtime fuses it into\n"
    "QLinearConv / QLinearAdd / QGemm. With --float, and in the other formats, quantized\n"
    "models are written dequantized (float). The preprocessing contract (mean, scale,\n"
    "channel order, background class) is stored in the file's metadata so that loading\n"
    "the result gives the same `mnv2 info`.\n";

int run(const Args& a) {
  const std::string out = a.get("output");
  if (out.empty()) throw Error("no output file: use -o OUT (e.g. -o model.tflite)");
  Graph g = load_source_graph(a);
  SaveOptions o;
  o.fp16 = a.has("fp16");
  o.int8 = g.quantized() && !a.has("float") && file_extension(out) == ".onnx";
  save_graph(g, out, o);
  struct stat st {};
  stat(out.c_str(), &st);
  std::printf("wrote %s (%lld bytes, %s weights): %s, %lld params, input [1,%d,%d,%d]\n",
              out.c_str(), (long long)st.st_size,
              o.int8 ? "int8 QDQ" : o.fp16 ? "float16" : "float32",
              g.info.name.c_str(), (long long)g.info.params, g.info.height, g.info.width,
              g.info.channels);
  return 0;
}

RegisterCommand reg({"convert", kConvert, "convert a model to another format (.tflite, .onnx, .pb, .xml)",
                     kUsage, nullptr, nullptr, run});

}  // namespace
}  // namespace mnv2::cli
