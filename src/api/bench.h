// The measurement behind `mnv2 bench` (and mnv2.bench() in Python): first inference,
// warm-up, then timed iterations on deterministic inputs, with latency percentiles,
// throughput and the process's peak resident memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2 {

struct BenchOptions {
  int batch = 1;
  int warmup = 5;       // untimed iterations after the first
  int iterations = 50;  // timed iterations (>= 1)
  // When set, the input (PREFIX.input.bin, NHWC float32) and the first run's probabilities
  // (PREFIX.probs.bin) are written as raw little-endian float32, to check another runtime.
  std::string dump_prefix;
};

struct BenchResult {
  int threads = 0, batch = 0, iterations = 0;
  double first_inference_ms = 0;
  double p50 = 0, p90 = 0, p99 = 0, mean = 0, min = 0, max = 0;  // latency, ms
  double throughput_ips = 0;  // images per second over the timed loop
  double gmacs_per_s = 0;     // at the p50 latency
  double peak_rss_mib = 0;    // of the whole process
  std::vector<double> samples_ms;  // every timed latency, in order
};

// Runs the benchmark on `model` (built for at least `opts.batch`). Inputs are
// pseudo-random values in [-1, 1] (0..255 when the model normalises in-graph).
BenchResult run_bench(Model& model, const BenchOptions& opts);

}  // namespace mnv2
