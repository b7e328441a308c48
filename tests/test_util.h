#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace mnv2::test {

// ../shared/data (or $MNV2_TEST_DATA); empty when absent, so tests can GTEST_SKIP.
std::string data_dir();
std::string cli_path();
// Deterministic inputs in [-1, 1].
std::vector<float> random_input(size_t count, uint32_t seed);
// Relative L2 error of a against b.
double rel_l2(const float* a, const double* b, size_t n);
double max_abs_diff(const float* a, const double* b, size_t n);
// Whole-file helpers: read_file gives {} for a missing file; the floats are raw
// little-endian float32 (the format of `mnv2 bench --dump` and the reference scripts).
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_file(const std::string& path);
void write_floats(const std::string& path, const float* v, size_t n);
std::vector<float> read_floats(const std::string& path);

// A fresh directory $TMPDIR/PREFIXxxxxxx (default /tmp), removed with its contents when the
// test program exits, so test runs leave nothing behind in the temp folder.
std::string make_scratch_dir(const std::string& prefix);
// Runs a shell command, returns exit status and captures stdout+stderr.
int run_command(const std::string& cmd, std::string* output);

// A small graph (8x8x3 input) that exercises every op and writer path: input normalisation
// in the graph when `affine` (ChannelAffine -> MUL + ADD), SAME stride-2 conv, depthwise,
// residual add, symmetric pads that need an explicit PAD, depth multiplier 2 without bias,
// global pool, FC, flatten, softmax. Weights drawn from random_input(.., seed, seed+1, ...).
Graph all_ops_graph(bool affine, uint32_t seed = 11);

// The execution paths a kernel-level test should cover: every ISA this CPU runs (the
// others are announced once as skipped), 1 and 2 threads, batch 1 and 3.
struct EngineCase {
  Isa isa;
  int threads, batch;
};
std::vector<EngineCase> engine_cases();

// Sets an environment variable (an executor tuning knob, an ISA override) for its lifetime
// and restores the old value, or its absence, afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

}  // namespace mnv2::test
