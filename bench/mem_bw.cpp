// Memory bandwidth of this machine: a STREAM-style triad (a = b + s * c, bytes counted as
// three arrays per pass) over working sets from L1-sized to far beyond the L3, at one
// thread and at every thread count up to the core count. The DRAM row is the bandwidth
// `mnv2 bench --per-layer` measures for its roofline (3 x 64 MiB arrays).
//
//   build/bench/mem_bw [--json]
#include <cstdio>
#include <cstring>
#include <thread>

#include "api/roofline.h"
#include "runtime/cpu.h"

int main(int argc, char** argv) {
  const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  int cores = int(std::thread::hardware_concurrency());
  if (cores < 1) cores = 1;
  const long long kib[] = {8, 64, 256, 2048, 8192, 65536, 262144};
  if (json) std::printf("{\"unit\":\"GB/s\",\"triad\":[");
  bool first = true;
  for (int t = 1; t <= cores; ++t) {
    for (long long k : kib) {
      const double gbs = mnv2::measure_triad_gbs(k * 1024, t);
      if (json) {
        std::printf("%s{\"threads\":%d,\"array_kib\":%lld,\"working_set_kib\":%lld,\"gbs\":%.2f}",
                    first ? "" : ",", t, k, 3 * k, gbs);
      } else {
        std::printf("threads %d  3 x %8lld KiB  triad %7.2f GB/s\n", t, k, gbs);
      }
      first = false;
    }
  }
  if (json) std::printf("]}\n");
  return 0;
}
