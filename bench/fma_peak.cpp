// Measures the fp32 FMA peak in GMAC/s per core (AVX-512 and AVX2, as the CPU allows) at
// one thread and at two threads, the ceiling against which docs/performance.md reports
// the engine's fraction of peak; then the int8 peaks the same way: vpdpbusd (AVX-512 VNNI,
// the int8 GEMM's instruction; docs/int8.md) and vpmaddwd + vpaddd (AVX2), in 8-bit
// multiply-accumulates per second.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "kernels/fma_peak.h"
#include "runtime/cpu.h"

namespace {


double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

struct Rate {
  double wall = 0;     // GMAC/s of all threads over wall-clock time
  double per_cpu = 0;  // GMAC/s per thread over its own CPU time (immune to time sharing)
};

// Best of several timed runs of `threads` threads each running the loop.
template <class Sink>
Rate measure(int64_t (*loop)(int64_t, Sink*), int threads) {
  const int64_t iters = 50'000'000;
  Rate best;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> pool;
    std::vector<Sink> sinks(static_cast<size_t>(threads));
    std::vector<int64_t> macs(static_cast<size_t>(threads));
    std::vector<double> cpu(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const double c0 = thread_cpu_seconds();
        macs[size_t(t)] = loop(iters, &sinks[size_t(t)]);
        cpu[size_t(t)] = thread_cpu_seconds() - c0;
      });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t total = 0;
    double per_cpu = 0;
    for (int t = 0; t < threads; ++t) {
      total += macs[size_t(t)];
      per_cpu += double(macs[size_t(t)]) / cpu[size_t(t)] / 1e9 / threads;
    }
    best.wall = std::max(best.wall, double(total) / s / 1e9);
    best.per_cpu = std::max(best.per_cpu, per_cpu);
  }
  return best;
}

}  // namespace

int main() {
  const int cores = mnv2::physical_cores();
  for (mnv2::Isa isa : {mnv2::Isa::Avx512, mnv2::Isa::Avx2}) {
    const char* name = mnv2::isa_name(isa);
    const auto loop = mnv2::kernels::fma_peak_loop(isa);
    if (!loop || !mnv2::cpu_supports(isa)) {
      std::printf("%-7s not supported by this CPU\n", name);
      continue;
    }
    const Rate one = measure(loop, 1);
    std::printf("%-7s 1 thread : %7.1f GMAC/s wall (%.1f GFLOP/s); %.1f GMAC/s per core by CPU time\n",
                name, one.wall, 2 * one.wall, one.per_cpu);
    if (cores >= 2) {
      const Rate two = measure(loop, 2);
      std::printf("%-7s 2 threads: %7.1f GMAC/s wall (%.1f GFLOP/s); %.1f GMAC/s per core by CPU time\n",
                  name, two.wall, 2 * two.wall, two.per_cpu);
    }
  }
#if defined(__x86_64__)
  struct {
    const char* name;
    bool supported;
    int64_t (*loop)(int64_t, int32_t*);
  } ints[] = {{"vpdpbusd (avx512 vnni)", mnv2::cpu_has_vnni(), mnv2::kernels::vnni_peak_avx512},
              {"vpmaddwd (avx2)", mnv2::cpu_supports(mnv2::Isa::Avx2), mnv2::kernels::madd_peak_avx2}};
  for (const auto& k : ints) {
    if (!k.supported) {
      std::printf("%-22s not supported by this CPU\n", k.name);
      continue;
    }
    for (int t = 1; t <= std::min(cores, 2); ++t) {
      const Rate r = measure(k.loop, t);
      std::printf("%-22s %d thread%s: %7.1f GMAC/s wall; %.1f GMAC/s per core by CPU time\n", k.name, t,
                  t == 1 ? " " : "s", r.wall, r.per_cpu);
    }
  }
#endif
  return 0;
}
