// Model file loading: detects the format from the file's content, translates the file into
// the graph IR as the file states it (formats/*), then runs the graph passes
// (graph/passes.h) once, whatever the format, to make the graph executable.
#pragma once

#include <functional>
#include <string>

#include "graph/graph.h"
#include "graph/passes.h"

namespace mnv2 {

enum class ModelFormat { Unknown, TFLite, TFGraphDef, OpenVINOIR, ONNX };

const char* format_name(ModelFormat f);
// Looks at the first bytes (and, for IR, the .xml text); the extension is only a hint.
ModelFormat detect_format(const std::string& path);

struct LoadOptions {
  // false: a quantized file whose integer view is complete (Graph::quantized()) keeps its
  // weights only there, as Node::qweights, never dequantized into Node::weights: what the
  // int8 executor runs, at half the memory (docs/memory.md). Such a graph cannot run in
  // float. Files without that view load as with true. Only TFLite files honour it so far.
  bool float_weights = true;
};

// A file translated into the IR: ops as the file states them (unfolded ops, weights in the
// file's layout), not yet executable.
struct Translation {
  Graph graph;
  // Names the file in errors from the passes, e.g. "'model.onnx' (ONNX)".
  std::string label;
  // Completes graph.info from the rewritten graph (what depends on the folded structure,
  // such as normalisation inside the graph) and finalizes it. Null: just finalize().
  std::function<void(Graph&)> finish;
  // false when quantized weights were left out of Node::weights (LoadOptions).
  bool float_weights = true;
};

// Detects the format and translates; throws mnv2::Error naming the file and what is wrong.
Translation translate_model(const std::string& path, const LoadOptions& options = {});
// Runs the passes on t.graph (logging them into *log if given), then t.finish.
Graph rewrite_model(Translation t, PassLog* log = nullptr);
// translate_model + rewrite_model. Without float weights, a graph whose integer view does
// not survive the passes is loaded again with them.
Graph load_graph(const std::string& path, const LoadOptions& options = {});

}  // namespace mnv2
