// Measures the per-core peaks of this CPU (GMAC/s): fp32 FMA (AVX-512, AVX2 or NEON), the int8
// GEMM's instructions (vpdpbusd with AVX-512 VNNI, vpmaddwd on AVX-512BW and AVX2) and bf16
// (vdpbf16ps), as the CPU allows, at one thread and at two threads: the ceilings against
// which docs/performance.md reports the engine's fraction of peak. `mnv2 info --cpu` shows
// the one-thread figures.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "api/roofline.h"
#include "runtime/cpu.h"

namespace {

using mnv2::PeakProbe;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

struct Rate {
  double wall = 0;     // GMAC/s of all threads over wall-clock time
  double per_cpu = 0;  // GMAC/s per thread over its own CPU time (immune to time sharing)
};

// Best of several timed runs of `threads` threads each running the probe for about
// 0.3 s (sized from the one-thread rate).
Rate measure(PeakProbe p, int threads, double one_thread_gmacs) {
  const int64_t per_iteration = mnv2::run_peak_probe(p, 1);
  const int64_t iters = std::max<int64_t>(1000, int64_t(one_thread_gmacs * 0.3e9) / per_iteration);
  Rate best;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> pool;
    std::vector<int64_t> macs(static_cast<size_t>(threads));
    std::vector<double> cpu(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const double c0 = thread_cpu_seconds();
        macs[size_t(t)] = mnv2::run_peak_probe(p, iters);
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
  const mnv2::CpuInfo& ci = mnv2::cpu_info();
  std::printf("%s (%s, family %d model %d)\n", ci.model_name.c_str(), ci.vendor.c_str(),
              ci.family, ci.model);
  const int cores = mnv2::physical_cores();
  for (PeakProbe p : {PeakProbe::Fp32Avx512, PeakProbe::Fp32Avx2, PeakProbe::Int8Vnni,
                      PeakProbe::Int16Avx512, PeakProbe::Int16Avx2, PeakProbe::Bf16Avx512,
                      PeakProbe::Fp32Neon}) {
    const char* name = mnv2::peak_probe_name(p);
    if (!mnv2::peak_probe_available(p)) {
      std::printf("%-12s not supported by this CPU\n", name);
      continue;
    }
    const double quick = mnv2::measure_peak_gmacs(p, 1);
    const Rate one = measure(p, 1, quick);
    std::printf("%-12s 1 thread : %7.1f GMAC/s wall (%.1f GOP/s); %.1f GMAC/s per core by CPU time\n",
                name, one.wall, 2 * one.wall, one.per_cpu);
    if (cores >= 2) {
      const Rate two = measure(p, 2, quick);
      std::printf("%-12s 2 threads: %7.1f GMAC/s wall (%.1f GOP/s); %.1f GMAC/s per core by CPU time\n",
                  name, two.wall, 2 * two.wall, two.per_cpu);
    }
  }
  return 0;
}
