// Model file loading: detects the format from the file's content and lowers it to the IR.
#pragma once

#include <string>

#include "graph/graph.h"

namespace mnv2 {

enum class ModelFormat { Unknown, TFLite, TFGraphDef, OpenVINOIR, ONNX };

const char* format_name(ModelFormat f);
// Looks at the first bytes (and, for IR, the .xml text); the extension is only a hint.
ModelFormat detect_format(const std::string& path);
// Loads and validates; throws mnv2::Error naming the file and what is wrong.
Graph load_graph(const std::string& path);

}  // namespace mnv2
