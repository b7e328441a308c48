// The measurement hooks the peer harness (bench/peers/run.sh) relies on: `mnv2 bench
// --dump` must write exactly the input it ran and the probabilities that input gives, and
// `--samples` must list every timed latency.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mnv2/mnv2.h"
#include "test_util.h"

namespace {

std::vector<float> read_floats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

TEST(BenchTools, DumpWritesTheInputAndItsProbabilities) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mnv2_bench_dump_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string prefix = (dir / "x").string();
  std::string out;
  ASSERT_EQ(mnv2::test::run_command(mnv2::test::cli_path() +
                                        " bench --synthetic 0.35 96 --batch 2 --threads 2 "
                                        "--warmup 0 --iterations 4 --json --samples --dump " +
                                        prefix,
                                    &out),
            0)
      << out;
  // Four timed latencies, all positive.
  const size_t at = out.find("\"samples_ms\":[");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string list = out.substr(at + 14, out.find(']', at) - at - 14);
  int count = 0;
  for (size_t p = 0; p < list.size();) {
    const size_t e = list.find(',', p);
    EXPECT_GT(std::stod(list.substr(p, e - p)), 0.0) << list;
    ++count;
    if (e == std::string::npos) break;
    p = e + 1;
  }
  EXPECT_EQ(count, 4) << list;

  const auto input = read_floats(prefix + ".input.bin");
  const auto probs = read_floats(prefix + ".probs.bin");
  ASSERT_EQ(input.size(), size_t(2 * 96 * 96 * 3));
  ASSERT_EQ(probs.size(), size_t(2 * 1001));
  // Rerun the dumped input in-process (one thread, the CLI ran on every core): the same
  // bits, as the executor promises for every thread count.
  mnv2::Options o;
  o.threads = 1;
  o.max_batch = 2;
  mnv2::Model m = mnv2::Model::synthetic(0.35f, 96, 1001, 1, o);
  std::vector<float> again(probs.size());
  m.run(input.data(), 2, again.data());
  EXPECT_EQ(std::memcmp(probs.data(), again.data(), probs.size() * sizeof(float)), 0);
  double sum = 0;
  for (size_t i = 0; i < 1001; ++i) sum += probs[i];
  EXPECT_NEAR(sum, 1.0, 1e-4);
  std::filesystem::remove_all(dir);
}

TEST(BenchTools, DumpToUnwritablePathFailsClearly) {
  std::string out;
  EXPECT_EQ(mnv2::test::run_command(mnv2::test::cli_path() +
                                        " bench --synthetic 0.35 96 --warmup 0 --iterations 1 "
                                        "--dump /nonexistent-dir/x",
                                    &out),
            1);
  EXPECT_NE(out.find("/nonexistent-dir/x.input.bin"), std::string::npos) << out;
}

}  // namespace
