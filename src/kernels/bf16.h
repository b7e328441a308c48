// bfloat16 GEMM kernels: weights and activations rounded to bf16, products accumulated in
// fp32 by AVX512_BF16's vdpbf16ps, bias / activation / residual in fp32.
//
// Operands are bf16 *pairs*: one uint32_t holds two consecutive k values (low half k even,
// high half k odd), which is what vdpbf16ps multiplies lane by lane. A row of K values is
// kp = ceil(K/2) pairs; an odd K ends with a zero high half.
//
// Rounding contract (the scalar twin below implements it; tests check the SIMD tables
// against it bit for bit, and the twin against the hardware instruction):
//  - fp32 -> bf16 is vcvtne2ps2bf16: round to nearest even, denormals to signed zero,
//    NaN kept quiet;
//  - one pair step is vdpbf16ps as the Intel SDM defines it and as the hardware computes
//    it: acc = fma(a.hi, b.hi, daz(acc)), then acc = fma(a.lo, b.lo, acc) — two fused
//    multiply-adds, the odd product first, each rounded to nearest even, denormal inputs
//    (including the accumulator) read as zero and denormal results flushed to zero, MXCSR
//    neither read nor written.
// Every output element accumulates pairs 0..kp-1 in order starting from its bias, so its
// value does not depend on how the caller tiles the problem (as for GemmTile).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/kernels.h"

namespace mnv2::kernels {

// One register tile of a bf16 GEMM: c[m][n] = act(bias[n] + sum_k a[m][k] * b[k][n])
// (+ residual), a and b in bf16 pairs. `b` is one packed panel [kp][table.nr] pairs with
// zero columns past nr.
struct Bf16Tile {
  int mr = 0;  // rows, 1..table.mr
  int nr = 0;  // real columns, 1..table.nr
  int kp = 0;  // k pairs
  const uint32_t* a = nullptr;
  int64_t lda = 0;  // in pairs
  const uint32_t* b = nullptr;
  const float* bias = nullptr;      // table.nr values (padded)
  const float* residual = nullptr;  // optional, added after the activation
  int64_t ldr = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  Activation act = Activation::None;
};

struct Bf16KernelTable {
  const char* name = "";  // "avx512_bf16", "scalar (emulated)"
  int mr = 1;
  int nr = 1;
  void (*gemm)(const Bf16Tile& t) = nullptr;
  // mr = 1 over four consecutive full panels (panel stride kp*nr pairs), as GemmTile's.
  void (*gemm_row4)(const Bf16Tile& t) = nullptr;
  // k floats -> ceil(k/2) pairs (the odd tail's high half zero).
  void (*to_pairs)(const float* x, int k, uint32_t* y) = nullptr;
  // Tiles take kp as a multiple of this (zero pairs appended to A rows and weight panels).
  int k_align = 1;
};

// The pairs per AMX tile row (64 bytes).
constexpr int kAmxPairs = 16;

// The scalar twin: the exact arithmetic of the contract above, any CPU. It is the emulated
// bf16 path (asked for explicitly) and the yardstick of the SIMD tables.
extern const Bf16KernelTable kBf16ScalarTable;
#if defined(MNV2_X86)
extern const Bf16KernelTable kBf16Avx512Table;  // needs AVX-512 F/BW/DQ/VL + AVX512_BF16
extern const Bf16KernelTable kBf16Avx512TableEmulated;  // tests only: the SIMDe build of it
// AMX-BF16 tiles (opt-in: not bit-exact with the twin; src/kernels/avx512/bf16_amx.cpp).
extern const Bf16KernelTable kBf16AmxTable;
#endif

// The twin's tile for a panel of any width: pair p of column n at b[p * panel_nr + n].
void bf16_gemm_scalar(const Bf16Tile& t, int panel_nr);

// The native table for `isa` on this CPU (Avx512 with AVX512_BF16; with `amx`, the AMX
// table, which also asks Linux for the tile state), or the scalar twin for Isa::Scalar;
// null when the CPU cannot run that.
const Bf16KernelTable* bf16_table(Isa isa, bool amx = false);

// Pairs per row of a K-long row for table t: ceil(k/2) rounded up to t.k_align.
inline int bf16_pairs(int k, const Bf16KernelTable& t) {
  return ((k + 1) / 2 + t.k_align - 1) / t.k_align * t.k_align;
}

// Weights [cout][k] (row-major, as Node::weights of a 1x1 / im2col conv or FC) packed as
// ceil(cout/nr) panels of [kp][nr] pairs, zero-padded columns and pair rows up to kp
// (>= ceil(k/2)); conversion as to_pairs.
std::vector<uint32_t> pack_bf16_panels(const float* w, int cout, int k, int nr, int kp);

// ---- the scalar definitions of the contract (inline: the twin and the packer share them,
// and the emulated vector traits call them lane by lane) ----

inline uint32_t f32_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// vcvtne2ps2bf16 for one value.
inline uint16_t to_bf16(float x) {
  const uint32_t u = f32_bits(x);
  if ((u & 0x7f800000u) == 0) return uint16_t((u >> 16) & 0x8000u);  // zero, denormal
  if ((u & 0x7f800000u) == 0x7f800000u)                              // inf, NaN
    return uint16_t((u >> 16) | ((u & 0x007fffffu) ? 0x40u : 0u));
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float bf16_value(uint16_t h) { return bits_f32(uint32_t(h) << 16); }
inline uint32_t to_bf16_pair(float lo, float hi) {
  return uint32_t(to_bf16(lo)) | (uint32_t(to_bf16(hi)) << 16);
}

// Denormal to signed zero (the instruction's DAZ on inputs and FTZ on results).
inline float bf16_flush(float x) {
  return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.f, x) : x;
}

// One vdpbf16ps lane.
inline float bf16_dot_pair(float acc, uint32_t a, uint32_t b) {
  const float a_lo = bf16_flush(bf16_value(uint16_t(a))), a_hi = bf16_flush(bf16_value(uint16_t(a >> 16)));
  const float b_lo = bf16_flush(bf16_value(uint16_t(b))), b_hi = bf16_flush(bf16_value(uint16_t(b >> 16)));
  acc = bf16_flush(std::fma(a_hi, b_hi, bf16_flush(acc)));
  return bf16_flush(std::fma(a_lo, b_lo, acc));
}

}  // namespace mnv2::kernels
