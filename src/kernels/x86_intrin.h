// The x86 intrinsics of the per-ISA kernel sources: the compiler's <immintrin.h>, or, in
// the test-only emulated build of src/kernels/avx512/ (MNV2_SIMDE defined; see
// tests/CMakeLists.txt), the same intrinsics from SIMDe (kernels/simde_x86.h), so that the
// AVX-512, VNNI and BF16 kernels are tested on every x86-64 machine.
//
// The emulated build compiles each src/kernels/avx512/*.cpp (except the *_peak.cpp probes)
// a second time, with `avx512` defined to `avx512_emu`: everything those sources declare in
// namespace mnv2::kernels::avx512 (vector traits, helpers, template instantiations over
// them) gets distinct symbols, and the two builds share one test binary. Kernel tables
// declared directly in mnv2::kernels take MNV2_X86_NAME(name): kAvx512Table natively,
// kAvx512TableEmulated in the emulated build (declare both in kernels.h / qkernels.h).
#pragma once

#if defined(MNV2_SIMDE)
#include "kernels/simde_x86.h"
#define MNV2_X86_NAME(name) name##Emulated
#else
#include <immintrin.h>
#define MNV2_X86_NAME(name) name
#endif
