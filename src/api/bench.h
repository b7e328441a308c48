// The measurement behind `mnv2 bench` (and mnv2.bench() in Python): first inference,
// warm-up, then timed iterations on deterministic inputs, with latency percentiles,
// throughput and the process's peak resident memory; optionally several concurrent
// streams (one Model each) and a per-layer profile with a roofline estimate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2 {

struct BenchOptions {
  int batch = 1;
  int warmup = 5;       // untimed iterations after the first
  int iterations = 50;  // timed iterations (>= 1), per stream
  // When set, the input (PREFIX.input.bin, NHWC float32) and the first run's probabilities
  // (PREFIX.probs.bin) are written as raw little-endian float32, to check another runtime.
  std::string dump_prefix;
  // Collect the executor's per-step wall times over the timed iterations (single model).
  bool per_layer = false;
};

// Ceilings for the per-layer roofline estimate; 0 = unknown (no "bound" verdict).
// Memory model: a step's activations (its input and output, a few MB at most) move at the
// cache bandwidth (they were just written by the previous step), its weights, used once
// per run, at the DRAM bandwidth.
struct Roofline {
  double peak_gmacs = 0;  // fp32 MACs per second of all threads the model uses, 1e9
  double cache_gbs = 0;   // bandwidth for a working set of a few MiB (L2/L3), 1e9 bytes/s
  double dram_gbs = 0;    // bandwidth for a working set far beyond the L3
};

struct LayerRow {
  std::string name, kind;
  int out_h = 0, out_w = 0, out_c = 0;
  int band = -1;               // steps with the same id run interleaved band by band
  double ms = 0;               // mean wall ms per image over the timed iterations
  double min_ms = 0;           // minimum over the iterations of ms per image
  double percent = 0;          // of the sum of all rows' ms
  double gmacs_per_s = 0;      // at ms
  int64_t macs = 0;            // per image
  int64_t act_bytes = 0;       // per image: fp32 activations read and written
  int64_t weight_bytes = 0;    // per image: weights and bias / batch
  double intensity = 0;        // MACs per byte (activations + weights)
  double compute_ms = 0;       // macs / peak
  double memory_ms = 0;        // act_bytes / cache_gbs + weight_bytes / dram_gbs
  double roofline_ms = 0;      // max(compute_ms, memory_ms); 0 when unknown
  std::string bound;           // "compute", "memory", or "" when unknown / no MACs and bytes
};

struct BenchResult {
  int threads = 0, batch = 0, iterations = 0;
  int streams = 1, threads_per_stream = 0;
  double first_inference_ms = 0;  // first run of the first stream
  double p50 = 0, p90 = 0, p99 = 0, mean = 0, min = 0, max = 0;  // per-request latency, ms
  double throughput_ips = 0;  // images per second over the timed loop (all streams)
  double gmacs_per_s = 0;     // at the p50 latency, one stream
  double peak_rss_mib = 0;    // of the whole process
  std::vector<double> samples_ms;  // every timed latency (streams concatenated)
  std::vector<LayerRow> layers;    // with per_layer
  double layers_sum_ms = 0;        // sum of layers' ms (per image)
};

// Runs the benchmark on `model` (built for at least `opts.batch`). Inputs are
// pseudo-random values in [-1, 1] (0..255 when the model normalises in-graph).
BenchResult run_bench(Model& model, const BenchOptions& opts, const Roofline& roof = {});

// S = models.size() concurrent streams: every model runs on its own thread (its executor
// keeps its own arena and thread pool), all start the timed loop together. Latency
// percentiles pool every request of every stream; throughput = all images / wall time
// from the common start until the last stream finishes. per_layer is not supported here.
BenchResult run_bench_streams(std::vector<Model>& models, const BenchOptions& opts);

// Resident set size of this process now, MiB (from /proc/self/statm; 0 if unreadable).
double current_rss_mib();
// The most this process has had resident so far, MiB (getrusage's ru_maxrss).
double peak_rss_mib();

// The memory budget of a model: what its executor holds (runtime/executor.h,
// ExecutorMemory), with the process's peak resident set when it was taken.
struct MemoryReport {
  int64_t weights_bytes = 0;          // packed weights as the kernels read them
  int64_t arena_bytes_per_image = 0;  // activations for a batch of one
  int64_t arena_bytes = 0;            // activations for the planned batch (arena_batch)
  int arena_batch = 0;
  int64_t scratch_bytes = 0;          // per-thread scratch of all threads
  int64_t budget_bytes = 0;           // weights + arena + scratch
  double peak_rss_mib = 0;
};
MemoryReport memory_report(Model& model);
// {"weights_bytes":..,...,"peak_rss_mib":..} and a one-line summary for people.
std::string memory_json(const MemoryReport& r);
std::string memory_text(const MemoryReport& r);

}  // namespace mnv2
