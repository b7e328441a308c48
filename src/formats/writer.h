// Writing models: `save_graph` picks the format from the output file's extension.
#pragma once

#include <string>

#include "graph/graph.h"

namespace mnv2 {

struct SaveOptions {
  bool fp16 = false;  // store weights as float16 where the format allows it
  // The graph must be quantized. .tflite: full-integer int8 model; .onnx: QDQ model
  // (onnx_qdq_model_bytes); other formats refuse it.
  bool int8 = false;
};

// Writes g to `path`; the extension chooses the format (.tflite, .onnx, .pb, .xml =
// OpenVINO IR with its .bin beside it). Throws mnv2::Error for an
// unknown extension, a graph the format cannot express, or an I/O failure. The file is
// written to a temporary name first and renamed, so a failed save leaves no partial file.
void save_graph(const Graph& g, const std::string& path, const SaveOptions& options = {});

// The lower-case extension of path including the dot (".tflite"), or "" if none.
std::string file_extension(const std::string& path);

}  // namespace mnv2
