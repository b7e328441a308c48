// TensorFlow frozen GraphDef (.pb): reader and writer.
//
// The reader (tf_graphdef_parse.cpp, tf_graphdef.cpp) translates the inference graph
// TF-slim exports (Placeholder, Const, Identity, Conv2D, DepthwiseConv2dNative,
// FusedBatchNorm*, BiasAdd, Relu6/Relu, Add/AddV2, AvgPool/Mean, Squeeze, Reshape/Shape,
// Softmax, Pad, and Mul/Sub/Add by constants) into the IR; the graph passes fold batch
// norms, biases and activations into the convolutions. The writer
// emits the same dialect, optionally with BatchNorm left unfolded, so that the reader can
// be checked against independent TF-graph consumers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "formats/loader.h"
#include "graph/graph.h"

namespace mnv2 {

// Parses a GraphDef held in memory. `source` names it in error messages (the file path).
Graph load_graphdef_bytes(std::string_view bytes, const std::string& source);
Graph load_graphdef(const std::string& path);
// The translation alone (formats/loader.h), before the passes.
Translation translate_graphdef_bytes(std::string_view bytes, const std::string& source);
Translation translate_graphdef(const std::string& path);

// True when `head` (the first bytes of a file) starts like a serialised GraphDef: a
// length-delimited field 1 (NodeDef) whose own first fields are a name and an op string.
bool looks_like_graphdef(std::string_view head);

struct GraphDefWriteOptions {
  // Emit every conv (except the logits conv) as Conv2D + FusedBatchNorm with random
  // non-trivial statistics that are mathematically equal to the IR's bias.
  bool unfold_batchnorm = false;
  bool batchnorm_v3 = true;      // FusedBatchNormV3 (TF >= 1.15), else FusedBatchNorm
  float epsilon = 0.001f;        // the BatchNorm epsilon written into the nodes
  bool mean_pool = false;        // global pooling as Mean over axes 1,2 instead of AvgPool
  uint64_t seed = 1;             // picks the BatchNorm statistics
  bool reverse_node_order = false;  // consumers before producers (readers must sort)
};

std::string graphdef_bytes(const Graph& g, const GraphDefWriteOptions& options);
void save_graphdef(const Graph& g, const std::string& path, const GraphDefWriteOptions& options);
void save_graphdef(const Graph& g, const std::string& path, bool unfold_batchnorm);

}  // namespace mnv2
