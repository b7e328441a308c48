// The reference executor: plain loops with double accumulation and double storage.
// Slow and obviously correct; tests compare every fast path against it.
#pragma once

#include <map>
#include <vector>

#include "graph/graph.h"

namespace mnv2 {

struct ReferenceResult {
  std::vector<double> output;           // the graph output, batch * per-image elements
  std::map<int, std::vector<double>> kept;  // values of the node ids asked for
};

// Runs `batch` NHWC images through g. `keep` lists node ids whose values to return
// (e.g. g.logits, g.features). Throws mnv2::Error on an invalid graph.
ReferenceResult reference_run(const Graph& g, const float* input, int batch,
                              const std::vector<int>& keep = {});

}  // namespace mnv2
