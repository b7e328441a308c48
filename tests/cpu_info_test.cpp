// What mnv2 reports about the CPU (runtime/cpu.h, `mnv2 info --cpu`, the "cpu" object of
// `mnv2 bench --json`) against the kernel's own view in /proc/cpuinfo, and MNV2_MAX_ISA.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "mnv2/mnv2.h"
#include "runtime/cpu.h"
#include "test_util.h"

namespace mnv2 {
namespace {

// The first processor's "key : value" lines of /proc/cpuinfo; empty where there is none.
std::string proc_field(const std::string& key) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon);
    while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.pop_back();
    if (k == key) return colon + 2 <= line.size() ? line.substr(colon + 2) : "";
  }
  return "";
}

TEST(CpuInfo, IdentityAndFlagsMatchProcCpuinfo) {
  const std::string vendor = proc_field("vendor_id");
  if (vendor.empty()) GTEST_SKIP() << "no /proc/cpuinfo with x86 fields on this system";
  const CpuInfo& c = cpu_info();
  EXPECT_EQ(c.vendor, vendor);
  EXPECT_EQ(std::to_string(c.family), proc_field("cpu family"));
  EXPECT_EQ(std::to_string(c.model), proc_field("model"));
  EXPECT_EQ(std::to_string(c.stepping), proc_field("stepping"));
  std::string name = proc_field("model name");
  while (!name.empty() && name.back() == ' ') name.pop_back();
  EXPECT_EQ(c.model_name, name);
  std::set<std::string> flags;
  std::istringstream in(proc_field("flags"));
  for (std::string f; in >> f;) flags.insert(f);
  const std::pair<const char*, bool> mine[] = {
      {"avx2", c.avx2},         {"fma", c.fma},
      {"avx512f", c.avx512f},   {"avx512bw", c.avx512bw},
      {"avx512dq", c.avx512dq}, {"avx512vl", c.avx512vl},
      {"avx512_vnni", c.avx512_vnni}, {"avx_vnni", c.avx_vnni},
      {"avx512_bf16", c.avx512_bf16}, {"amx_tile", c.amx_tile},
      {"amx_int8", c.amx_int8}, {"amx_bf16", c.amx_bf16}};
  for (const auto& [flag, has] : mine) EXPECT_EQ(flags.count(flag) == 1, has) << flag;
  EXPECT_EQ(cpu_hardware_supports(Isa::Avx2), c.avx2 && c.fma);
  EXPECT_EQ(cpu_hardware_supports(Isa::Avx512),
            c.avx512f && c.avx512bw && c.avx512dq && c.avx512vl && c.avx2 && c.fma);
}

TEST(CpuInfo, MaxIsaHidesTheWiderKernels) {
  {
    test::ScopedEnv env("MNV2_MAX_ISA", "scalar");
    EXPECT_EQ(detect_isa(), Isa::Scalar);
    EXPECT_FALSE(cpu_supports(Isa::Avx2));
    EXPECT_FALSE(cpu_has_vnni());
    EXPECT_TRUE(cpu_supports(Isa::Scalar));
    test::ScopedEnv isa("MNV2_ISA", "avx2");
    if (cpu_hardware_supports(Isa::Avx2)) {
      try {
        detect_isa();
        ADD_FAILURE() << "MNV2_ISA=avx2 under MNV2_MAX_ISA=scalar must be refused";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("MNV2_MAX_ISA"), std::string::npos) << e.what();
      }
    }
  }
  {
    test::ScopedEnv env("MNV2_MAX_ISA", "avx2");
    EXPECT_FALSE(cpu_supports(Isa::Avx512));
    EXPECT_EQ(cpu_supports(Isa::Avx2), cpu_hardware_supports(Isa::Avx2));
    EXPECT_EQ(detect_isa(), cpu_hardware_supports(Isa::Avx2) ? Isa::Avx2 : Isa::Scalar);
  }
  {
    test::ScopedEnv env("MNV2_MAX_ISA", "avx1024");
    EXPECT_THROW(cpu_supports(Isa::Avx2), Error);
  }
  EXPECT_EQ(cpu_supports(Isa::Avx512), cpu_hardware_supports(Isa::Avx512));
}

// Parses `json` with Python and evaluates `expr` on it (bound to j); returns the output.
std::string py_eval(const std::string& json, const std::string& expr) {
  const std::string dir = test::make_scratch_dir("mnv2_cpu_");
  const std::string path = dir + "/out.json";
  const std::string script = "import json, sys\nj = json.load(open(sys.argv[1]))\nprint(" +
                             expr + ")\n";
  test::write_file(path, std::vector<uint8_t>(json.begin(), json.end()));
  test::write_file(dir + "/eval.py", std::vector<uint8_t>(script.begin(), script.end()));
  std::string out;
  const int rc = test::run_command("/usr/bin/python3 " + dir + "/eval.py " + path, &out);
  if (rc != 0) return "python failed: " + out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The "cpu" object (at j[key], or j itself when key is empty) names this machine, the
// kernels and the measured peaks.
void check_cpu_json(const std::string& json, const std::string& at) {
  const CpuInfo& c = cpu_info();
  EXPECT_EQ(py_eval(json, at + "['vendor']"), c.vendor) << json;
  EXPECT_EQ(py_eval(json, at + "['model_name']"), c.model_name);
  EXPECT_EQ(py_eval(json, at + "['family']"), std::to_string(c.family));
  EXPECT_EQ(py_eval(json, at + "['model']"), std::to_string(c.model));
  EXPECT_EQ(py_eval(json, at + "['flags']['avx512f']"), c.avx512f ? "True" : "False");
  EXPECT_EQ(py_eval(json, at + "['flags']['avx512_bf16']"), c.avx512_bf16 ? "True" : "False");
  EXPECT_EQ(py_eval(json, at + "['flags']['amx_int8']"), c.amx_int8 ? "True" : "False");
  EXPECT_EQ(py_eval(json, at + "['fp32']['isa']"), isa_name(detect_isa()));
  EXPECT_EQ(py_eval(json, at + "['int8']['vnni']"), cpu_has_vnni() ? "True" : "False");
  if (cpu_hardware_supports(Isa::Avx2)) {
    EXPECT_EQ(py_eval(json, at + "['peak_gmacs_per_core']['fp32_avx2'] > 1"), "True");
    EXPECT_EQ(py_eval(json, at + "['peak_gmacs_per_core']['int16_avx2'] > 1"), "True");
  }
  EXPECT_EQ(py_eval(json, at + "['peak_gmacs_per_core'].get('fp32_avx512', 0) > 1"),
            cpu_hardware_supports(Isa::Avx512) ? "True" : "False");
  EXPECT_EQ(py_eval(json, at + "['peak_gmacs_per_core'].get('int8_vnni', 0) > 1"),
            c.avx512_vnni ? "True" : "False");
  EXPECT_EQ(py_eval(json, at + "['peak_gmacs_per_core'].get('bf16_avx512', 0) > 1"),
            c.avx512_bf16 ? "True" : "False");
  EXPECT_EQ(py_eval(json, at + "['mem_gbs']['threads_1'] > 0.1"), "True");
}

TEST(CliInfoCpu, TextAndJsonDescribeThisMachine) {
  std::string out;
  ASSERT_EQ(test::run_command(test::cli_path() + " info --cpu", &out), 0) << out;
  const CpuInfo& c = cpu_info();
  EXPECT_NE(out.find(c.model_name), std::string::npos) << out;
  EXPECT_NE(out.find("family " + std::to_string(c.family) + " model " + std::to_string(c.model)),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("fp32 kernels:  " + std::string(isa_name(detect_isa()))), std::string::npos)
      << out;
  EXPECT_NE(out.find("peaks, 1 core"), std::string::npos) << out;
  EXPECT_NE(out.find("memory (triad"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(test::cli_path() + " info --cpu --json", &out), 0) << out;
  check_cpu_json(out, "j");
  EXPECT_EQ(test::run_command(test::cli_path() + " info --cpu --synthetic 1.0 224", &out), 1);
  EXPECT_NE(out.find("unknown option"), std::string::npos) << out;
}

TEST(CliInfoCpu, BenchJsonNamesItsCpu) {
  std::string out;
  ASSERT_EQ(test::run_command(test::cli_path() +
                                  " bench --synthetic 0.35 96 --iterations 2 --warmup 0 "
                                  "--threads 1 --json 2>/dev/null",
                              &out),
            0)
      << out;
  check_cpu_json(out, "j['cpu']");
}

}  // namespace
}  // namespace mnv2
