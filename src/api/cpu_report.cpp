#include "api/cpu_report.h"

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace mnv2 {
namespace {

struct Flag {
  const char* name;
  bool CpuInfo::*member;
};
// The flags of this build's architecture (the others' are always false here).
constexpr Flag kFlags[] = {
#if defined(__aarch64__)
    {"asimd", &CpuInfo::asimd}, {"asimddp", &CpuInfo::asimd_dotprod},
    {"i8mm", &CpuInfo::i8mm},   {"bf16", &CpuInfo::bf16},
#else
    {"avx2", &CpuInfo::avx2},           {"fma", &CpuInfo::fma},
    {"avx512f", &CpuInfo::avx512f},     {"avx512bw", &CpuInfo::avx512bw},
    {"avx512dq", &CpuInfo::avx512dq},   {"avx512vl", &CpuInfo::avx512vl},
    {"avx512_vnni", &CpuInfo::avx512_vnni}, {"avx_vnni", &CpuInfo::avx_vnni},
    {"avx512_bf16", &CpuInfo::avx512_bf16}, {"amx_tile", &CpuInfo::amx_tile},
    {"amx_int8", &CpuInfo::amx_int8},   {"amx_bf16", &CpuInfo::amx_bf16},
#endif
};

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o + "\"";
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

CpuReport cpu_report(bool measure, int reps) {
  CpuReport r;
  r.cpu = cpu_info();
  const unsigned hc = std::thread::hardware_concurrency();
  r.logical_cores = hc == 0 ? 1 : int(hc);
  if (const char* e = std::getenv("MNV2_MAX_ISA"); e && *e) r.max_isa_env = e;
  r.fp32_isa = detect_isa();
  r.int8_isa = r.fp32_isa;
  switch (r.fp32_isa) {
    case Isa::Avx512: r.fp32_kernels = "avx512: 512-bit FMA, 12x32 GEMM tile"; break;
    case Isa::Avx2: r.fp32_kernels = "avx2: 256-bit FMA, 6x16 GEMM tile"; break;
    case Isa::Neon: r.fp32_kernels = "neon: 128-bit fmla, 8x8 GEMM tile"; break;
    default: r.fp32_kernels = "scalar: portable C++"; break;
  }
  switch (r.int8_isa) {
    case Isa::Avx512:
      r.int8_kernels = cpu_has_vnni()
                           ? "avx512 + VNNI: vpdpbusd GEMM (int8 weights, or uint8 per-tensor "
                             "weights with the roles swapped), else vpmaddwd; AVX2 depthwise and ADD"
                           : "avx512: vpmaddwd GEMM; AVX2 depthwise and ADD";
      break;
    case Isa::Avx2: r.int8_kernels = "avx2: vpmaddwd GEMM, depthwise and ADD"; break;
    case Isa::Neon:
      r.int8_kernels = cpu_has_dotprod()
                           ? "neon + dot product: sdot GEMM (int8 weights), else smlal; NEON "
                             "depthwise and ADD"
                           : "neon: smull + sadalp GEMM (int8 weights), else smlal; NEON "
                             "depthwise and ADD";
      break;
    default: r.int8_kernels = "scalar: portable C++"; break;
  }
  if (measure) {
    for (PeakProbe p : {PeakProbe::Fp32Avx512, PeakProbe::Fp32Avx2, PeakProbe::Int8Vnni,
                        PeakProbe::Int16Avx512, PeakProbe::Int16Avx2, PeakProbe::Bf16Avx512,
                        PeakProbe::Fp32Neon})
      if (peak_probe_available(p)) r.peaks.push_back({p, measure_peak_gmacs(p, reps)});
    r.mem_gbs_1t = measure_triad_gbs(int64_t(64) << 20, 1, reps);
    r.mem_gbs_all = r.logical_cores > 1
                        ? measure_triad_gbs(int64_t(64) << 20, r.logical_cores, reps)
                        : r.mem_gbs_1t;
  }
  return r;
}

std::string cpu_report_text(const CpuReport& r) {
  const CpuInfo& c = r.cpu;
  std::string o = "cpu:           " + (c.model_name.empty() ? "(no brand string)" : c.model_name) +
                  "\n";
  o += "vendor:        " + c.vendor + ", family " + std::to_string(c.family) + " model " +
       std::to_string(c.model) + " stepping " + std::to_string(c.stepping) + ", " +
       std::to_string(r.logical_cores) + " logical cores\n";
  std::string has, lacks;
  for (const Flag& f : kFlags) (c.*f.member ? has : lacks) += std::string(" ") + f.name;
  o += "isa flags:    " + (has.empty() ? std::string(" none") : has) + "\n";
  if (!lacks.empty()) o += "absent:       " + lacks + "\n";
  if (!r.max_isa_env.empty()) o += "MNV2_MAX_ISA:  " + r.max_isa_env + "\n";
  o += "fp32 kernels:  " + r.fp32_kernels + "\n";
  o += "int8 kernels:  " + r.int8_kernels + "\n";
  if (!r.peaks.empty()) {
    o += "peaks, 1 core (GMAC/s):";
    for (const CpuReport::Peak& p : r.peaks)
      o += std::string(" ") + peak_probe_name(p.probe) + " " + fmt("%.1f", p.gmacs);
    o += "\n";
  }
  if (r.mem_gbs_1t > 0)
    o += "memory (triad, 3 x 64 MiB): " + fmt("%.1f", r.mem_gbs_1t) + " GB/s at 1 thread, " +
         fmt("%.1f", r.mem_gbs_all) + " GB/s at " + std::to_string(r.logical_cores) +
         " threads\n";
  return o;
}

std::string cpu_report_json(const CpuReport& r) {
  const CpuInfo& c = r.cpu;
  std::string o = "{\"vendor\":" + json_string(c.vendor) + ",\"model_name\":" +
                  json_string(c.model_name) + ",\"family\":" + std::to_string(c.family) +
                  ",\"model\":" + std::to_string(c.model) + ",\"stepping\":" +
                  std::to_string(c.stepping) + ",\"logical_cores\":" +
                  std::to_string(r.logical_cores) + ",\"flags\":{";
  bool first = true;
  for (const Flag& f : kFlags) {
    o += std::string(first ? "" : ",") + "\"" + f.name + "\":" + (c.*f.member ? "true" : "false");
    first = false;
  }
  o += "},\"max_isa_env\":" + (r.max_isa_env.empty() ? std::string("null") : json_string(r.max_isa_env));
  o += ",\"fp32\":{\"isa\":\"" + std::string(isa_name(r.fp32_isa)) + "\",\"kernels\":" +
       json_string(r.fp32_kernels) + "}";
  o += ",\"int8\":{\"isa\":\"" + std::string(isa_name(r.int8_isa)) + "\",\"vnni\":" +
       (r.int8_isa == Isa::Avx512 && cpu_has_vnni() ? "true" : "false") + ",\"kernels\":" +
       json_string(r.int8_kernels) + "}";
  o += ",\"peak_gmacs_per_core\":{";
  first = true;
  for (const CpuReport::Peak& p : r.peaks) {
    o += std::string(first ? "" : ",") + "\"" + peak_probe_name(p.probe) + "\":" +
         fmt("%.2f", p.gmacs);
    first = false;
  }
  o += "}";
  if (r.mem_gbs_1t > 0)
    o += ",\"mem_gbs\":{\"triad_mib\":64,\"threads_1\":" + fmt("%.2f", r.mem_gbs_1t) +
         ",\"threads_all\":" + fmt("%.2f", r.mem_gbs_all) + "}";
  return o + "}";
}

}  // namespace mnv2
