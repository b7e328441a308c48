#include "formats/writer.h"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <vector>

#include "formats/onnx.h"
#include "formats/openvino_ir.h"
#include "formats/tf_graphdef.h"
#include "formats/tflite.h"

namespace mnv2 {

std::string file_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

namespace {

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = path + ".partial";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot create '" + tmp + "'");
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw Error("write error on '" + tmp + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

}  // namespace

void save_graph(const Graph& g, const std::string& path, const SaveOptions& options) {
  const std::string ext = file_extension(path);
  if (ext == ".tflite") {
    TfliteWriteOptions o;
    o.fp16 = options.fp16;
    o.int8 = options.int8;
    write_bytes(path, write_tflite(g, o));
    return;
  }
  if (options.int8 && ext == ".onnx") {
    if (options.fp16) throw Error("cannot write '" + path + "': --fp16 with an int8 (QDQ) ONNX model");
    const std::string bytes = onnx_qdq_model_bytes(g);
    write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    return;
  }
  if (options.int8)
    throw Error("cannot write '" + path + "': int8 models are written as .tflite or .onnx (QDQ) only");
  if (ext == ".xml") {
    // OpenVINO IR (.xml + .bin beside it). Like the Open Model Zoo IR, it takes BGR raw
    // pixels whenever the source takes normalised RGB (mean/scale and the channel swap go
    // into the graph); otherwise the input contract is kept as it is.
    save_openvino_ir(g, path, options.fp16, openvino_ir_omz_input_possible(g));
    return;
  }
  if (ext == ".onnx" || ext == ".pb") {
    if (options.fp16 && ext == ".pb")
      throw Error("cannot write '" + path + "': --fp16 is supported for .tflite, .xml and .onnx only");
    const std::string bytes = ext == ".onnx" ? onnx_model_bytes(g, options.fp16)
                                             : graphdef_bytes(g, GraphDefWriteOptions{});
    write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    return;
  }
  throw Error("cannot write '" + path + "': unknown output extension '" + ext +
              "' (supported: .tflite, .onnx, .pb, .xml)");
}

}  // namespace mnv2
