// The executor interface and the fp32 executor: weights packed once at construction, the
// shared plan (runtime/plan.h) run by PlanRunner with the kernels of one ISA, an activation
// arena planned for max_batch, work split over a thread pool with a fixed partition so
// results are bit-identical for every thread count.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace mnv2 {

struct Plan;

// Per-step wall time of the executor (what `mnv2 bench --per-layer` and MNV2_PROFILE=1 show).
struct StepProfile {
  std::string name;       // graph node of the step (a fused projection names the conv)
  std::string kind;       // "gemm", "im2col+gemm", "dw3x3", "dw", "add", "avgpool", ...
  int out_h = 0, out_w = 0, out_c = 0;
  int64_t macs = 0;              // per image
  int64_t activation_bytes = 0;  // per image: fp32 inputs (and residual) read + output written
  int64_t weight_bytes = 0;      // per run: packed weights and bias read once
  int band = -1;                 // steps run interleaved band by band share this id, else -1
  double total_ms = 0;           // wall time summed over the profiled runs
  double min_ms_per_image = 0;   // minimum over the profiled runs of ms / batch
};
struct ExecutorProfile {
  int64_t images = 0, runs = 0;
  std::vector<StepProfile> steps;
};

// What an executor holds, in bytes (`mnv2 info` and `mnv2 bench` report it; docs/memory.md).
struct ExecutorMemory {
  int64_t weights = 0;          // packed weights, biases and requantization, as kernels read them
  int64_t arena_per_image = 0;  // activation buffers and chain windows for a batch of one
  int64_t arena = 0;            // every activation arena as planned now (all lanes, windows)
  int batch = 0;                // the batch `arena` is planned for
  int64_t scratch = 0;          // per-thread scratch (im2col rows, bf16 pairs), all threads
  int64_t total() const { return weights + arena + scratch; }
};

struct ExecutorOptions {
  int threads = 1;
  Isa isa = Isa::Scalar;  // already resolved (never Auto)
  int max_batch = 1;
  Int8Rounding int8_rounding = Int8Rounding::Xnnpack;  // int8 executor only
  // GEMM-shaped steps in bf16 (src/kernels/bf16.h): the AVX512_BF16 kernels for Isa::Avx512,
  // their scalar twin (the emulation) for Isa::Scalar; see bf16_supported.
  bool bf16 = false;
  // With bf16: AMX-BF16 tiles instead (opt-in, MNV2_BF16=amx: faster where AMX exists, but
  // not bit-exact with the scalar twin; docs/precision.md).
  bool bf16_amx = false;
};

// Whether ExecutorOptions{isa, bf16 = true} can run on this CPU.
bool bf16_supported(Isa isa, bool amx = false);

class Executor {
 public:
  // Takes the graph over and frees its weights as it packs them: move the graph in when
  // the caller no longer needs them (Model does), or pass a copy.
  static std::unique_ptr<Executor> create(Graph graph, const ExecutorOptions& options);
  virtual ~Executor() = default;
  // input: batch NHWC images. Any output pointer may be null: output = graph.output value,
  // logits = graph.logits value, features = graph.features value.
  virtual void run(const float* input, int batch, float* output, float* logits,
                   float* features) = 0;
  // Profiling: when on, every run adds its per-step wall times to the profile (a clock
  // read per step; off by default unless MNV2_PROFILE=1). reset_profile() clears it.
  // An executor without per-step timing keeps these defaults: an empty profile.
  virtual void set_profiling(bool) {}
  virtual void reset_profile() {}
  virtual ExecutorProfile profile() const { return {}; }
  // The plan this executor runs (runtime/plan.h), for tests and tools; null if it has none.
  virtual const Plan* execution_plan() const { return nullptr; }
  // The executor's memory (zeros for an executor that does not count it).
  virtual ExecutorMemory memory() const { return {}; }
};

}  // namespace mnv2
