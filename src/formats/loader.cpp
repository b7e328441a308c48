#include "formats/loader.h"

#include <sys/stat.h>

#include <cerrno>
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

namespace {

// Model files are read whole, so anything but a regular file is refused before it is
// opened: opening a FIFO blocks until a writer appears (forever, for a mistyped path), and
// a directory opens as an empty stream whose size reads as a huge number.
void require_regular_file(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;  // the loaders say "cannot open" / "missing" themselves
    throw Error("cannot open " + std::string(what) + " '" + path + "': " + std::strerror(errno));
  }
  if (S_ISREG(st.st_mode)) return;
  const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                                            : "not a regular file";
  throw Error(std::string(what) + " '" + path + "' is " + kind + ", not a regular file");
}

}  // namespace

ModelFormat detect_format(const std::string& path) {
  require_regular_file(path, "model file");
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

Translation translate_model(const std::string& path, const LoadOptions& options) {
  const ModelFormat f = detect_format(path);
  switch (f) {
    case ModelFormat::OpenVINOIR:
      require_regular_file(openvino_bin_path(path), "the OpenVINO IR weights file");
      return translate_openvino_ir(path);
    case ModelFormat::TFLite:
      return translate_tflite(path, options);
    case ModelFormat::TFGraphDef:
      return translate_graphdef(path);
    case ModelFormat::Unknown:
      throw Error("'" + path + "': not a model format mnv2 recognises (TFLite, TF GraphDef, "
                  "OpenVINO IR .xml, ONNX)");
    case ModelFormat::ONNX:
      return translate_onnx(path);
    default:
      throw Error("'" + path + "': " + format_name(f) +
                  " models cannot be loaded by this build of mnv2 yet");
  }
}

Graph rewrite_model(Translation t, PassLog* log) {
  try {
    run_passes(t.graph, log);
  } catch (const Error& e) {
    throw Error(t.label + ": " + e.what());
  }
  if (t.finish) {
    t.finish(t.graph);
  } else {
    try {
      t.graph.finalize();
    } catch (const Error& e) {
      throw Error(t.label + ": " + e.what());
    }
  }
  return std::move(t.graph);
}

Graph load_graph(const std::string& path, const LoadOptions& options) {
  if (!options.float_weights) {
    try {
      Translation t = translate_model(path, options);
      const bool floats = t.float_weights;
      Graph g = rewrite_model(std::move(t));
      if (floats || g.quantized()) return g;
    } catch (const Error&) {
      // Without float weights a pass that drops the integer view leaves nodes without
      // weights; the load with them below succeeds, or reports what is wrong with the file.
    }
  }
  return rewrite_model(translate_model(path));
}

// The per-format entry points: translation, then the same passes as load_graph.
Graph load_onnx_bytes(std::string_view bytes, const std::string& name) {
  return rewrite_model(translate_onnx_bytes(bytes, name));
}
Graph load_onnx(const std::string& path) { return rewrite_model(translate_onnx(path)); }
Graph load_graphdef_bytes(std::string_view bytes, const std::string& source) {
  return rewrite_model(translate_graphdef_bytes(bytes, source));
}
Graph load_graphdef(const std::string& path) { return rewrite_model(translate_graphdef(path)); }
Graph load_openvino_ir_memory(const std::string& xml_text, const std::vector<uint8_t>& bin,
                              const std::string& label) {
  return rewrite_model(translate_openvino_ir_memory(xml_text, bin, label));
}
Graph load_openvino_ir(const std::string& xml_path) {
  return rewrite_model(translate_openvino_ir(xml_path));
}
Graph load_tflite_bytes(const uint8_t* data, size_t size, const std::string& name) {
  return rewrite_model(translate_tflite_bytes(data, size, name));
}
Graph load_tflite(const std::string& path) { return rewrite_model(translate_tflite(path)); }

}  // namespace mnv2
