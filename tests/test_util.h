#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "graph/graph.h"
#include "kernels/kernels.h"
#include "kernels/qkernels.h"
#include "runtime/cpu.h"

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

// ---- ISA variants --------------------------------------------------------------------------
//
// One way to run an ISA's kernels: natively, or, for AVX-512, the same sources built against
// SIMDe ("emulated", tests/CMakeLists.txt), which any x86-64 CPU with AVX2 and FMA runs. So
// the AVX-512 and VNNI kernels are tested on every machine; where the CPU has them, native
// and emulated run both and must agree bit for bit. `vnni` selects the int8 table with the
// vpdpbusd GEMM (the fp32 variants leave it false). On AArch64 the NEON tables: `neon` (int8:
// the ARMv8.0 smull/sadalp GEMM, which every AArch64 CPU runs) and `neon_dotprod` (the sdot
// GEMM, where the CPU has the dot product); an x86 build lists them too, and they skip.
//
// Tests are parameterized over the variants (one ctest case each); a variant that cannot
// run here skips with the reason (MNV2_SKIP_UNLESS_RUNS). Kernel-level tests call table() /
// qtable(); engine-level tests hold an IsaScope while creating models or executors with
// `isa`, which routes kernel_table(isa) / qkernel_table(isa) to the variant's tables.
struct IsaVariant {
  Isa isa = Isa::Scalar;
  bool emulated = false;
  bool vnni = false;
  bool dotprod = false;      // Neon int8: the sdot table
  std::string name() const;  // "avx2", "avx512", "avx512_vnni_emu", "neon_dotprod", ...
  // Empty when the variant runs here; else why not (the CPU lacks the ISA, MNV2_MAX_ISA
  // hides it, or the emulated objects were not built).
  std::string unavailable() const;
  const kernels::KernelTable& table() const;
  const kernels::QKernelTable& qtable() const;
};
// scalar, avx2, avx512, avx512_emu, neon.
std::vector<IsaVariant> fp32_variants();
// Those with the int8 tables, plus avx512_vnni, avx512_vnni_emu and neon_dotprod.
std::vector<IsaVariant> int8_variants();
// For INSTANTIATE_TEST_SUITE_P's name generator.
struct VariantName {
  std::string operator()(const ::testing::TestParamInfo<IsaVariant>& i) const {
    return i.param.name();
  }
};
#define MNV2_SKIP_UNLESS_RUNS(variant)                                          \
  do {                                                                          \
    if (const std::string why_ = (variant).unavailable(); !why_.empty())        \
      GTEST_SKIP() << (variant).name() << ": " << why_;                         \
  } while (0)

// While alive, creating a model or executor for v.isa uses v's tables (native non-VNNI,
// native VNNI or emulated, NEON with or without sdot, whatever this CPU would pick). Scalar
// and AVX2 need no scope; it does nothing for them. One at a time.
class IsaScope {
 public:
  explicit IsaScope(const IsaVariant& v);
  ~IsaScope();
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;

 private:
  IsaSubstitute sub_;
  bool installed_ = false;
};

// The engine configurations a whole-model test runs for one variant: 1 and 2 threads,
// batch 1 and 3. (SIMDe runs the emulated kernels on AVX2 halves at a fraction of native
// speed, so they take the same cases.)
struct EngineCase {
  Isa isa;
  int threads, batch;
};
std::vector<EngineCase> engine_cases(const IsaVariant& v);

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
