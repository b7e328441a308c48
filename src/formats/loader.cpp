#include "formats/loader.h"

#include <cstring>
#include <fstream>

#include "formats/onnx.h"
#include "formats/openvino_ir.h"
#include "formats/tf_graphdef.h"
#include "formats/tflite.h"

namespace mnv2 {

const char* format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::Unknown: return "unknown";
    case ModelFormat::TFLite: return "tflite";
    case ModelFormat::TFGraphDef: return "tf-graphdef";
    case ModelFormat::OpenVINOIR: return "openvino-ir";
    case ModelFormat::ONNX: return "onnx";
  }
  return "?";
}

ModelFormat detect_format(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open model file '" + path + "'");
  char head[64] = {};
  f.read(head, sizeof head);
  const std::streamsize got = f.gcount();
  // TFLite: flatbuffer with file identifier "TFL3" at offset 4.
  if (got >= 8 && std::memcmp(head + 4, "TFL3", 4) == 0) return ModelFormat::TFLite;
  // OpenVINO IR: XML text whose root is <net ...>.
  std::string text(head, size_t(got));
  if (text.find("<?xml") != std::string::npos || text.find("<net") != std::string::npos)
    return ModelFormat::OpenVINOIR;
  // ONNX and GraphDef are both protobuf; ONNX ModelProto starts with ir_version (field 1,
  // varint: 0x08) or another ModelProto field, a GraphDef with its first NodeDef (field 1,
  // length-delimited: 0x0a).
  if (got >= 2 && looks_like_onnx(std::string_view(head, size_t(got)))) return ModelFormat::ONNX;
  if (got >= 2 && looks_like_graphdef(std::string_view(head, size_t(got))))
    return ModelFormat::TFGraphDef;
  return ModelFormat::Unknown;
}

Graph load_graph(const std::string& path) {
  const ModelFormat f = detect_format(path);
  switch (f) {
    case ModelFormat::OpenVINOIR:
      return load_openvino_ir(path);
    case ModelFormat::TFLite:
      return load_tflite(path);
    case ModelFormat::TFGraphDef:
      return load_graphdef(path);
    case ModelFormat::Unknown:
      throw Error("'" + path + "': not a model format mnv2 recognises (TFLite, TF GraphDef, "
                  "OpenVINO IR .xml, ONNX)");
    case ModelFormat::ONNX:
      return load_onnx(path);
    default:
      throw Error("'" + path + "': " + format_name(f) +
                  " models cannot be loaded by this build of mnv2 yet");
  }
}

}  // namespace mnv2
