#include "runtime/cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace mnv2 {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Auto: return "auto";
    case Precision::Fp32: return "fp32";
    case Precision::Int8: return "int8";
    case Precision::Bf16: return "bf16";
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
    case Isa::Neon: return "neon";
  }
  return "?";
}

namespace {

std::atomic<const IsaSubstitute*> g_substitute{nullptr};

#if defined(__x86_64__) || defined(__i386__)
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};
Regs cpuid(unsigned leaf, unsigned sub = 0) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) return {};
  return r;
}
bool bit(unsigned v, int b) { return (v >> b & 1u) != 0; }
#endif

CpuInfo read_cpu_info() {
  CpuInfo ci;
#if defined(__x86_64__) || defined(__i386__)
  const Regs r0 = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor, &r0.b, 4);
  std::memcpy(vendor + 4, &r0.d, 4);
  std::memcpy(vendor + 8, &r0.c, 4);
  ci.vendor = vendor;
  const Regs r1 = r0.a >= 1 ? cpuid(1) : Regs{};
  const unsigned base_family = r1.a >> 8 & 0xF, base_model = r1.a >> 4 & 0xF;
  ci.family = int(base_family == 0xF ? base_family + (r1.a >> 20 & 0xFF) : base_family);
  ci.model = int(base_family == 0x6 || base_family == 0xF ? base_model + ((r1.a >> 16 & 0xF) << 4)
                                                          : base_model);
  ci.stepping = int(r1.a & 0xF);
  // The OS must save the wider registers (XCR0) for the instructions to be usable.
  unsigned long long xcr0 = 0;
  if (bit(r1.c, 27)) {  // OSXSAVE
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool os_avx = (xcr0 & 0x6) == 0x6;             // XMM, YMM
  const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;      // XTILECFG, XTILEDATA
  const bool avx = bit(r1.c, 28) && os_avx;
  ci.fma = avx && bit(r1.c, 12);
  const Regs r7 = r0.a >= 7 ? cpuid(7, 0) : Regs{};
  const Regs r71 = r0.a >= 7 && r7.a >= 1 ? cpuid(7, 1) : Regs{};
  ci.avx2 = avx && bit(r7.b, 5);
  ci.avx512f = os_avx512 && bit(r7.b, 16);
  ci.avx512dq = ci.avx512f && bit(r7.b, 17);
  ci.avx512bw = ci.avx512f && bit(r7.b, 30);
  ci.avx512vl = ci.avx512f && bit(r7.b, 31);
  ci.avx512_vnni = ci.avx512f && bit(r7.c, 11);
  ci.avx_vnni = avx && bit(r71.a, 4);
  ci.avx512_bf16 = ci.avx512f && bit(r71.a, 5);
  ci.amx_tile = os_amx && bit(r7.d, 24);
  ci.amx_int8 = ci.amx_tile && bit(r7.d, 25);
  ci.amx_bf16 = ci.amx_tile && bit(r7.d, 22);
  if (cpuid(0x80000000).a >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    std::string b = brand;
    const size_t first = b.find_first_not_of(' '), last = b.find_last_not_of(' ');
    ci.model_name = first == std::string::npos ? "" : b.substr(first, last - first + 1);
  }
#elif defined(__aarch64__)
  // Bit numbers of the Linux arm64 ABI (asm/hwcap.h), spelled out so that older kernel
  // headers build too.
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  ci.asimd = (hw >> 1 & 1) != 0;           // HWCAP_ASIMD
  ci.asimd_dotprod = (hw >> 20 & 1) != 0;  // HWCAP_ASIMDDP
  ci.i8mm = (hw2 >> 13 & 1) != 0;          // HWCAP2_I8MM
  ci.bf16 = (hw2 >> 14 & 1) != 0;          // HWCAP2_BF16
#endif
  return ci;
}

}  // namespace

bool cpu_hardware_supports(Isa isa) {
  const CpuInfo& c = cpu_info();
  switch (isa) {
    case Isa::Auto:
    case Isa::Scalar: return true;
    case Isa::Avx2: return c.avx2 && c.fma;
    case Isa::Avx512:
      return c.avx512f && c.avx512bw && c.avx512dq && c.avx512vl && c.avx2 && c.fma;
    case Isa::Neon: return c.asimd;
  }
  return false;
}

namespace {

int isa_rank(Isa isa) {
  switch (isa) {
    case Isa::Auto:
    case Isa::Scalar: return 0;
    case Isa::Avx2: return 1;
    case Isa::Avx512: return 2;
    case Isa::Neon: return 1;  // the widest on its architecture, like AVX-512 on x86
  }
  return 0;
}

// MNV2_MAX_ISA: the widest ISA mnv2 may use (read on every call, like MNV2_ISA). The ranks
// compare within an architecture: neon allows NEON (and scalar), avx2 AVX2.
Isa max_isa() {
  const char* env = std::getenv("MNV2_MAX_ISA");
  if (!env || !*env) return Isa::Avx512;
  const std::string v = env;
  if (v == "avx512") return Isa::Avx512;
  if (v == "avx2") return Isa::Avx2;
  if (v == "neon") return Isa::Neon;
  if (v == "scalar") return Isa::Scalar;
  throw Error("MNV2_MAX_ISA must be avx512, avx2, neon or scalar, not '" + v + "'");
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo info = read_cpu_info();
  return info;
}

void set_isa_substitute(const IsaSubstitute* s) { g_substitute.store(s); }
const IsaSubstitute* isa_substitute() { return g_substitute.load(); }

bool cpu_runs_natively(Isa isa) {
  return cpu_hardware_supports(isa) && isa_rank(isa) <= isa_rank(max_isa());
}

bool cpu_supports(Isa isa) {
  if (const IsaSubstitute* s = isa_substitute(); s && s->isa == isa) return true;
  return cpu_runs_natively(isa);
}

bool cpu_has_vnni() {
  if (const IsaSubstitute* s = isa_substitute(); s && s->isa == Isa::Avx512) return s->vnni;
  return cpu_supports(Isa::Avx512) && cpu_info().avx512_vnni;
}

bool cpu_has_dotprod() {
  if (const IsaSubstitute* s = isa_substitute(); s && s->isa == Isa::Neon) return s->dotprod;
  return cpu_supports(Isa::Neon) && cpu_info().asimd_dotprod;
}

Isa detect_isa() {
  if (const char* env = std::getenv("MNV2_ISA"); env && *env) {
    const std::string v = env;
    Isa want;
    if (v == "avx512") want = Isa::Avx512;
    else if (v == "avx2") want = Isa::Avx2;
    else if (v == "neon") want = Isa::Neon;
    else if (v == "scalar") want = Isa::Scalar;
    else throw Error("MNV2_ISA must be avx512, avx2, neon or scalar, not '" + v + "'");
    if (!cpu_supports(want))
      throw Error("MNV2_ISA=" + v + " but this CPU does not support it" +
                  (cpu_hardware_supports(want) ? " (MNV2_MAX_ISA excludes it)" : ""));
    return want;
  }
  if (cpu_supports(Isa::Avx512)) return Isa::Avx512;
  if (cpu_supports(Isa::Avx2)) return Isa::Avx2;
  if (cpu_supports(Isa::Neon)) return Isa::Neon;
  return Isa::Scalar;
}

int physical_cores() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

}  // namespace mnv2
