#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnv2::test {

// ../shared/data (or $MNV2_TEST_DATA); empty when absent, so tests can GTEST_SKIP.
std::string data_dir();
std::string cli_path();
// Deterministic inputs in [-1, 1].
std::vector<float> random_input(size_t count, uint32_t seed);
// Relative L2 error of a against b.
double rel_l2(const float* a, const double* b, size_t n);
double max_abs_diff(const float* a, const double* b, size_t n);
// Runs a shell command, returns exit status and captures stdout+stderr.
int run_command(const std::string& cmd, std::string* output);

}  // namespace mnv2::test
