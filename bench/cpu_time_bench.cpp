// Latency of Model::run on the synthetic MobileNetV2 in thread CPU time and wall time.
// On a shared machine wall-clock figures mostly measure the scheduler; the calling
// thread's CPU time (CLOCK_THREAD_CPUTIME_ID) counts only the time it ran, so at one
// thread it is the engine's own cost. With more threads the wall figures are the
// relevant ones (the caller's CPU time excludes the workers).
//
// Usage: cpu_time_bench [width res threads batch iterations]   (default 1.4 224 1 1 50)
// Prints one line: min / median of the calling thread's CPU ms, of the whole process's CPU
// ms (all threads, spinning included) and of wall ms per run.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mnv2/mnv2.h"

namespace {
double cpu_ms(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) * 1e-6;
}
}  // namespace

int main(int argc, char** argv) {
  const float width = argc > 1 ? float(std::atof(argv[1])) : 1.4f;
  const int res = argc > 2 ? std::atoi(argv[2]) : 224;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  const int batch = argc > 4 ? std::atoi(argv[4]) : 1;
  const int iters = argc > 5 ? std::atoi(argv[5]) : 50;
  mnv2::Options o;
  o.threads = threads;
  o.max_batch = batch;
  mnv2::Model m = mnv2::Model::synthetic(width, res, 1001, 1, o);
  std::vector<float> x(size_t(batch) * res * res * 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 2654435761u) % 1000) / 500.f - 1.f;
  std::vector<float> probs(size_t(batch) * m.info().num_classes);
  for (int i = 0; i < 5; ++i) m.run(x.data(), batch, probs.data());
  std::vector<double> cpu, wall, proc;
  for (int i = 0; i < iters; ++i) {
    const double c0 = cpu_ms(CLOCK_THREAD_CPUTIME_ID), p0 = cpu_ms(CLOCK_PROCESS_CPUTIME_ID);
    const auto w0 = std::chrono::steady_clock::now();
    m.run(x.data(), batch, probs.data());
    wall.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count());
    cpu.push_back(cpu_ms(CLOCK_THREAD_CPUTIME_ID) - c0);
    proc.push_back(cpu_ms(CLOCK_PROCESS_CPUTIME_ID) - p0);
  }
  std::sort(proc.begin(), proc.end());
  std::sort(cpu.begin(), cpu.end());
  std::sort(wall.begin(), wall.end());
  std::printf(
      "w%.2f r%d threads %d batch %d: thread cpu min %.2f med %.2f ms, process cpu min %.2f "
      "med %.2f ms, wall min %.2f med %.2f ms\n",
      double(width), res, threads, batch, cpu[0], cpu[cpu.size() / 2], proc[0],
      proc[proc.size() / 2], wall[0], wall[wall.size() / 2]);
  return 0;
}
