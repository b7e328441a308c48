// Measures the fp32 FMA peak in GMAC/s per core (AVX-512 and AVX2, as the CPU allows) at
// one thread and at two threads, the ceiling against which docs/performance.md reports
// the engine's fraction of peak.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "kernels/fma_peak.h"
#include "runtime/cpu.h"

namespace {

using Loop = int64_t (*)(int64_t, float*);

// Best of several timed runs of `threads` threads each running the loop; GMAC/s total.
double measure(Loop loop, int threads) {
  const int64_t iters = 50'000'000;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> pool;
    std::vector<float> sinks(static_cast<size_t>(threads));
    std::vector<int64_t> macs(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { macs[size_t(t)] = loop(iters, &sinks[size_t(t)]); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t total = 0;
    for (int64_t m : macs) total += m;
    best = std::max(best, double(total) / s / 1e9);
  }
  return best;
}

}  // namespace

int main() {
  struct {
    const char* name;
    mnv2::Isa isa;
    Loop loop;
  } kinds[] = {{"avx512", mnv2::Isa::Avx512, mnv2::kernels::fma_peak_avx512},
               {"avx2", mnv2::Isa::Avx2, mnv2::kernels::fma_peak_avx2}};
  const int cores = mnv2::physical_cores();
  for (const auto& k : kinds) {
    if (!mnv2::cpu_supports(k.isa)) {
      std::printf("%-7s not supported by this CPU\n", k.name);
      continue;
    }
    const double one = measure(k.loop, 1);
    std::printf("%-7s 1 thread : %7.1f GMAC/s (%.1f GFLOP/s)\n", k.name, one, 2 * one);
    if (cores >= 2) {
      const double two = measure(k.loop, 2);
      std::printf("%-7s 2 threads: %7.1f GMAC/s (%.1f GFLOP/s, %.1f per core)\n", k.name, two,
                  2 * two, two / 2);
    }
  }
  return 0;
}
