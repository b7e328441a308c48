#include "api/roofline.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "kernels/fma_peak.h"
#include "runtime/arena.h"
#include "runtime/cpu.h"

namespace mnv2 {
namespace {

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

__attribute__((noinline)) void triad(float* a, const float* b, const float* c, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace

const char* peak_probe_name(PeakProbe p) {
  switch (p) {
    case PeakProbe::Fp32Avx2: return "fp32_avx2";
    case PeakProbe::Fp32Avx512: return "fp32_avx512";
    case PeakProbe::Int16Avx2: return "int16_avx2";
    case PeakProbe::Int16Avx512: return "int16_avx512";
    case PeakProbe::Int8Vnni: return "int8_vnni";
    case PeakProbe::Bf16Avx512: return "bf16_avx512";
    case PeakProbe::Fp32Neon: return "fp32_neon";
  }
  return "?";
}

bool peak_probe_available(PeakProbe p) {
#if defined(__aarch64__)
  return p == PeakProbe::Fp32Neon && cpu_hardware_supports(Isa::Neon);
#elif !defined(MNV2_X86)
  (void)p;
  return false;
#endif
  switch (p) {
    case PeakProbe::Fp32Avx2:
    case PeakProbe::Int16Avx2: return cpu_hardware_supports(Isa::Avx2);
    case PeakProbe::Fp32Avx512:
    case PeakProbe::Int16Avx512: return cpu_hardware_supports(Isa::Avx512);
    case PeakProbe::Int8Vnni: return cpu_hardware_supports(Isa::Avx512) && cpu_info().avx512_vnni;
    case PeakProbe::Bf16Avx512: return cpu_hardware_supports(Isa::Avx512) && cpu_info().avx512_bf16;
    case PeakProbe::Fp32Neon: return false;  // AArch64 returned above
  }
  return false;
}

int64_t run_peak_probe(PeakProbe p, int64_t iterations) {
#if defined(MNV2_X86)  // the x86 loops exist only in x86 builds
  float f = 0;
  int32_t i = 0;
  switch (p) {
    case PeakProbe::Fp32Avx2: return kernels::fma_peak_avx2(iterations, &f);
    case PeakProbe::Fp32Avx512: return kernels::fma_peak_avx512(iterations, &f);
    case PeakProbe::Int16Avx2: return kernels::madd_peak_avx2(iterations, &i);
    case PeakProbe::Int16Avx512: return kernels::madd_peak_avx512(iterations, &i);
    case PeakProbe::Int8Vnni: return kernels::vnni_peak_avx512(iterations, &i);
    case PeakProbe::Bf16Avx512: return kernels::bf16_peak_avx512(iterations, &f);
    case PeakProbe::Fp32Neon: break;
  }
#elif defined(__aarch64__)
  float f = 0;
  if (p == PeakProbe::Fp32Neon) return kernels::fma_peak_neon(iterations, &f);
#else
  (void)p;
  (void)iterations;
#endif
  return 0;
}

double measure_peak_gmacs(PeakProbe p, int reps) {
  // The hardware, not cpu_supports: a test's emulated AVX-512 tables do not make the
  // probe's instructions run.
  if (!peak_probe_available(p)) return 0.0;
  auto run = [p](int64_t iterations) { return run_peak_probe(p, iterations); };
  // A first run wakes the core up and sizes the timed runs to about 25 ms each.
  int64_t iterations = 1'000'000;
  const double c0 = thread_cpu_seconds();
  run(iterations);
  const double first = thread_cpu_seconds() - c0;
  if (first > 0) iterations = std::clamp<int64_t>(int64_t(double(iterations) * 0.025 / first),
                                                  1000, int64_t(1) << 32);
  double best = 0;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const double c0 = thread_cpu_seconds();
    const int64_t macs = run(iterations);
    const double s = thread_cpu_seconds() - c0;
    if (s > 0) best = std::max(best, double(macs) / s / 1e9);
  }
  return best;
}

double measure_fma_peak_gmacs(Isa isa, int reps) {
  if (isa == Isa::Avx2) return measure_peak_gmacs(PeakProbe::Fp32Avx2, reps);
  if (isa == Isa::Avx512) return measure_peak_gmacs(PeakProbe::Fp32Avx512, reps);
  if (isa == Isa::Neon) return measure_peak_gmacs(PeakProbe::Fp32Neon, reps);
  return 0.0;
}

PeakProbe int8_peak_probe(Isa isa) {
  if (isa == Isa::Avx512)
    return cpu_info().avx512_vnni ? PeakProbe::Int8Vnni : PeakProbe::Int16Avx512;
  return PeakProbe::Int16Avx2;
}

double measure_triad_gbs(int64_t array_bytes, int threads, int reps) {
  if (array_bytes < 4096 || array_bytes > (int64_t(1) << 32))
    throw Error("triad: array size must be in [4 KiB, 4 GiB]");
  threads = std::clamp(threads, 1, 256);
  const int64_t n = array_bytes / int64_t(sizeof(float));
  const size_t count = size_t(n);
  AlignedBuffer a(count), b(count), c(count);
  std::fill(a.data(), a.data() + n, 0.f);
  std::fill(b.data(), b.data() + n, 1.f);
  std::fill(c.data(), c.data() + n, 2.f);
  // Each pass: every thread runs its slice `inner` times (more for arrays in cache, so
  // that one pass lasts long enough to time).
  const int inner = int(std::clamp<int64_t>((int64_t(64) << 20) / (3 * array_bytes), 1, 4096));
  // A pass lasts as long as its slowest thread's CPU time (not wall time, so that other
  // processes taking the core away do not count as lost bandwidth).
  std::vector<double> cpu(count > 0 ? size_t(threads) : 1);
  auto pass = [&]() {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
        const double c0 = thread_cpu_seconds();
        for (int k = 0; k < inner; ++k)
          triad(a.data() + lo, b.data() + lo, c.data() + lo, hi - lo, 0.5f + float(k & 1));
        cpu[size_t(t)] = thread_cpu_seconds() - c0;
      });
    for (auto& th : pool) th.join();
    return *std::max_element(cpu.begin(), cpu.end());
  };
  pass();
  double best = 1e300;
  for (int r = 0; r < std::max(1, reps); ++r) best = std::min(best, pass());
  volatile float keep = a.data()[n / 2];
  (void)keep;
  return 3.0 * double(array_bytes) * inner / best / 1e9;
}

}  // namespace mnv2
