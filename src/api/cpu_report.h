// What mnv2 knows about the CPU it runs on, for `mnv2 info --cpu` and the "cpu" object of
// `mnv2 bench --json`, so that every recorded figure names its machine: identity, the ISA
// flags mnv2 has (or may get) kernels for, the kernels each precision will use, and the
// measured per-core peaks and memory bandwidth.
#pragma once

#include <string>
#include <vector>

#include "api/roofline.h"
#include "runtime/cpu.h"

namespace mnv2 {

struct CpuReport {
  CpuInfo cpu;
  int logical_cores = 1;
  std::string max_isa_env;  // MNV2_MAX_ISA when set
  Isa fp32_isa = Isa::Scalar;
  std::string fp32_kernels;  // e.g. "avx512 (AVX-512F FMA, 12x32 GEMM tile)"
  Isa int8_isa = Isa::Scalar;
  std::string int8_kernels;  // e.g. "avx512 + VNNI: vpdpbusd GEMM where weights fit int8"
  struct Peak {
    PeakProbe probe;
    double gmacs;  // one core
  };
  std::vector<Peak> peaks;        // measured, the available probes (empty if not measured)
  double mem_gbs_1t = 0;          // triad over 3 x 64 MiB, one thread
  double mem_gbs_all = 0;         // the same on every logical core
};

// `measure`: run the peak probes (reps runs each) and the memory triad; else only the
// static part. Takes about 1 s with reps = 3.
CpuReport cpu_report(bool measure, int reps = 3);
std::string cpu_report_text(const CpuReport& r);
// One JSON object (no trailing newline).
std::string cpu_report_json(const CpuReport& r);

}  // namespace mnv2
