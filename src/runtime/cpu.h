// CPU feature detection, kept apart so that dispatch lives in one place.
#pragma once

#include <string>

#include "mnv2/mnv2.h"

namespace mnv2 {

namespace kernels {
struct KernelTable;
struct QKernelTable;
}  // namespace kernels

// What CPUID (and the OS, through XCR0) says about this CPU, or on AArch64 the kernel's
// hardware capabilities (getauxval AT_HWCAP / AT_HWCAP2); the flags are the ones mnv2 has
// or may have kernels for. Read once. MNV2_MAX_ISA does not change these (it changes what
// cpu_supports answers).
struct CpuInfo {
  std::string vendor;      // "GenuineIntel", "AuthenticAMD", ...
  std::string model_name;  // the brand string, e.g. "Intel(R) Xeon(R) Processor"
  int family = 0, model = 0, stepping = 0;  // display family / model (extended fields added)
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_vnni = false, avx_vnni = false, avx512_bf16 = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
  // AArch64: Advanced SIMD (every ARMv8-A core), the ARMv8.2 dot product (sdot; the int8
  // GEMM uses it), I8MM and BF16 (reported; no kernel uses them yet).
  bool asimd = false, asimd_dotprod = false, i8mm = false, bf16 = false;
};
const CpuInfo& cpu_info();

// Whether mnv2 may run `isa`'s kernels here: the CPU (and OS) have it, it is not above
// MNV2_MAX_ISA=avx512|avx2|scalar (to try the narrower paths, or to see what a machine
// without AVX-512 runs), or a test installed an IsaSubstitute for it.
bool cpu_supports(Isa isa);
// AVX-512 VNNI (vpdpbusd), on top of cpu_supports(Isa::Avx512).
bool cpu_has_vnni();
// The AArch64 dot product (sdot), on top of cpu_supports(Isa::Neon).
bool cpu_has_dotprod();
// Whether the hardware (and OS) runs `isa`'s instructions, whatever MNV2_MAX_ISA or a test's
// IsaSubstitute say: for code that executes them itself (the peak probes).
bool cpu_hardware_supports(Isa isa);
// cpu_supports without a test's IsaSubstitute: the hardware has it and MNV2_MAX_ISA allows it.
bool cpu_runs_natively(Isa isa);
int physical_cores();

// Test hook: kernels for `isa` from tables other than the native ones. The test suite runs
// the AVX-512 kernels built against SIMDe this way on CPUs without AVX-512, and the native
// non-VNNI int8 table on CPUs with VNNI (and the ARMv8.0 NEON int8 table on AArch64 CPUs
// with the dot product). While one is installed, cpu_supports(isa) is true, cpu_has_vnni()
// / cpu_has_dotprod() say `vnni` / `dotprod`, and kernel_table(isa) / qkernel_table(isa)
// return `fp32` / `int8`. Executors read their tables when they are created, so an executor
// keeps the tables it started with. Not for use while other threads create executors.
struct IsaSubstitute {
  Isa isa = Isa::Avx512;
  bool vnni = false;
  bool dotprod = false;
  const kernels::KernelTable* fp32 = nullptr;
  const kernels::QKernelTable* int8 = nullptr;
};
void set_isa_substitute(const IsaSubstitute* s);  // nullptr restores the CPU's own tables
const IsaSubstitute* isa_substitute();

}  // namespace mnv2
