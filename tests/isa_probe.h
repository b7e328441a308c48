// Every operation of the AVX-512 vector traits (src/kernels/avx512/vec.h, qvec.h) and the
// AVX512_BF16 intrinsics, run on given lanes. Built twice (tests/CMakeLists.txt): natively
// (namespace avx512, needs the CPU features) and against SIMDe (namespace avx512_emu, runs
// on any x86-64 with AVX2), so a test can compare the emulation with the hardware lane by
// lane, including the edge values the kernels rarely meet (NaN, overflow, shift counts).
#pragma once

#include <cstdint>

namespace mnv2::kernels {

constexpr int kProbeIn = 16 * 8;     // 8 vectors of 16 words
constexpr int kProbeOut = 16 * 160;  // room for every result lane

// Each returns the number of words written to out. nan_any[v] is set for the output vectors
// v (16 words each) of float arithmetic, where which NaN comes out depends on the operand
// order the compiler picked (x86 returns the first operand's NaN), so any NaN equals any NaN.
#define MNV2_ISA_PROBE_DECLS                                                    \
  /* F/BW/DQ/VL */                                                              \
  int probe_traits(const uint32_t* in, uint32_t* out, bool* nan_any);           \
  /* vpdpbusd through QVec::dot<Quads8>. */                                      \
  int probe_vnni(const uint32_t* in, uint32_t* out, bool* nan_any);             \
  /* vdpbf16ps, vcvtne2ps2bf16, vcvtneps2bf16, bf16 -> fp32. */                  \
  int probe_bf16(const uint32_t* in, uint32_t* out, bool* nan_any);

namespace avx512 {
MNV2_ISA_PROBE_DECLS
}
namespace avx512_emu {
MNV2_ISA_PROBE_DECLS
}
#undef MNV2_ISA_PROBE_DECLS

}  // namespace mnv2::kernels
