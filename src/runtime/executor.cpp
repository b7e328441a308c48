// Interim executor over the reference loops; replaced by the packed SIMD executor.
#include "runtime/executor.h"

#include <cstring>

#include "runtime/reference.h"

namespace mnv2 {

namespace {
class InterimExecutor final : public Executor {
 public:
  explicit InterimExecutor(const Graph& g) : g_(g) {}
  void run(const float* input, int batch, float* output, float* logits, float* features) override {
    std::vector<int> keep;
    if (g_.logits >= 0) keep.push_back(g_.logits);
    if (g_.features >= 0) keep.push_back(g_.features);
    ReferenceResult r = reference_run(g_, input, batch, keep);
    auto copy = [](const std::vector<double>& v, float* dst) {
      if (dst) for (size_t i = 0; i < v.size(); ++i) dst[i] = float(v[i]);
    };
    copy(r.output, output);
    if (g_.logits >= 0) copy(r.kept[g_.logits], logits);
    if (g_.features >= 0) copy(r.kept[g_.features], features);
  }
 private:
  Graph g_;
};
}  // namespace

std::unique_ptr<Executor> Executor::create(const Graph& graph, const ExecutorOptions&) {
  return std::make_unique<InterimExecutor>(graph);
}

}  // namespace mnv2
