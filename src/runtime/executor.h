// The fast executor: weights packed once at construction, an activation arena planned
// for max_batch, kernels chosen per ISA, work split over a thread pool with a fixed
// partition so results are bit-identical for every thread count.
#pragma once

#include <memory>

#include "graph/graph.h"

namespace mnv2 {

struct ExecutorOptions {
  int threads = 1;
  Isa isa = Isa::Scalar;  // already resolved (never Auto)
  int max_batch = 1;
};

class Executor {
 public:
  static std::unique_ptr<Executor> create(const Graph& graph, const ExecutorOptions& options);
  virtual ~Executor() = default;
  // input: batch NHWC images. Any output pointer may be null: output = graph.output value,
  // logits = graph.logits value, features = graph.features value.
  virtual void run(const float* input, int batch, float* output, float* logits,
                   float* features) = 0;
};

}  // namespace mnv2
