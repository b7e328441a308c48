#include "runtime/cpu.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace mnv2 {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Auto: return "auto";
    case Precision::Fp32: return "fp32";
    case Precision::Int8: return "int8";
  }
  return "?";
}

const char* int8_rounding_name(Int8Rounding r) {
  switch (r) {
    case Int8Rounding::Tflite: return "tflite";
    case Int8Rounding::Xnnpack: return "xnnpack";
  }
  return "?";
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Auto: return "auto";
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::Auto:
    case Isa::Scalar:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma");
#else
    default:
      return false;
#endif
  }
  return false;
}

bool cpu_has_vnni() {
#if defined(__x86_64__) || defined(__i386__)
  return cpu_supports(Isa::Avx512) && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

Isa detect_isa() {
  if (const char* env = std::getenv("MNV2_ISA"); env && *env) {
    const std::string v = env;
    Isa want;
    if (v == "avx512") want = Isa::Avx512;
    else if (v == "avx2") want = Isa::Avx2;
    else if (v == "scalar") want = Isa::Scalar;
    else throw Error("MNV2_ISA must be avx512, avx2 or scalar, not '" + v + "'");
    if (!cpu_supports(want)) throw Error("MNV2_ISA=" + v + " but this CPU does not support it");
    return want;
  }
  if (cpu_supports(Isa::Avx512)) return Isa::Avx512;
  if (cpu_supports(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

int physical_cores() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

}  // namespace mnv2
