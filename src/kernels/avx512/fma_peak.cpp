// The AVX-512 peak probes (kernels/fma_peak.h). Not part of the emulated test build (the
// *_peak.cpp files are excluded there): they measure the hardware.
//
// Each loop runs 16 independent accumulator chains: with a 4-6 cycle latency at up to two
// instructions per cycle, 8-12 must be in flight. The loop bodies are inline assembly, one
// statement per chain with the accumulator as a register operand: written with intrinsics
// over an array, GCC 12 kept the 16 accumulators on the stack and reloaded and stored them
// around every FMA (half the peak), and over named variables it still shuffled registers
// and spilled in the integer loops. Checked with objdump -d: each loop body is the 16
// instructions (32 for vpmaddwd + vpaddd) on zmm registers, a counter and a branch.
// GCC 12's AVX-512 casts pass _mm_undefined_ps() as an unused merge source, which
// -Wuninitialized misreports once inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "kernels/fma_peak.h"

// X(i) for the 16 chains a0..a15.
#define MNV2_CHAINS(X) \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
// s = the sum of the chains (after the loop; any order will do for a sink).
#define MNV2_ADD_CHAIN(i) s = MNV2_ADD(s, a##i);

namespace mnv2::kernels {

int64_t fma_peak_avx512(int64_t iterations, float* sink) {
  // a = a * 0.9999 + 1e-4 converges to 1 from distinct starts: no denormals.
#define MNV2_INIT(i) __m512 a##i = _mm512_set1_ps(0.10f + 0.01f * float(i));
  MNV2_CHAINS(MNV2_INIT)
#undef MNV2_INIT
  const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t i = 0; i < iterations; ++i) {
#define MNV2_STEP(i) __asm__("vfmadd132ps %[b], %[c], %[a]" : [a] "+v"(a##i) : [b] "v"(b), [c] "v"(c));
    MNV2_CHAINS(MNV2_STEP)
#undef MNV2_STEP
  }
  __m512 s = _mm512_setzero_ps();
#define MNV2_ADD _mm512_add_ps
  MNV2_CHAINS(MNV2_ADD_CHAIN)
#undef MNV2_ADD
  *sink = _mm_cvtss_f32(_mm512_castps512_ps128(s));
  return iterations * 16 * 16;
}

// a += vpdpbusd(x, w): 64 u8 x s8 multiply-accumulates per instruction.
int64_t vnni_peak_avx512(int64_t iterations, int32_t* sink) {
#define MNV2_INIT(i) __m512i a##i = _mm512_set1_epi32(i);
  MNV2_CHAINS(MNV2_INIT)
#undef MNV2_INIT
  const __m512i x = _mm512_set1_epi32(0x01020304), w = _mm512_set1_epi32(0x7F80FF01);
  for (int64_t i = 0; i < iterations; ++i) {
#define MNV2_STEP(i) __asm__("vpdpbusd %[w], %[x], %[a]" : [a] "+v"(a##i) : [x] "v"(x), [w] "v"(w));
    MNV2_CHAINS(MNV2_STEP)
#undef MNV2_STEP
  }
  __m512i s = _mm512_setzero_si512();
#define MNV2_ADD _mm512_add_epi32
  MNV2_CHAINS(MNV2_ADD_CHAIN)
#undef MNV2_ADD
  *sink = _mm_cvtsi128_si32(_mm512_castsi512_si128(s));
  return iterations * 16 * 64;
}

// a += vpmaddwd(a, w) (AVX-512BW; the int8 GEMM's instructions without VNNI): 32 int16
// multiply-accumulates per vpmaddwd + vpaddd pair.
int64_t madd_peak_avx512(int64_t iterations, int32_t* sink) {
#define MNV2_INIT(i) __m512i a##i = _mm512_set1_epi32(i);
  MNV2_CHAINS(MNV2_INIT)
#undef MNV2_INIT
  const __m512i w = _mm512_set1_epi32(0x0001FFFF);
  __m512i t;
  for (int64_t i = 0; i < iterations; ++i) {
#define MNV2_STEP(i)                                                                   \
  __asm__("vpmaddwd %[w], %[a], %[t]\n\tvpaddd %[t], %[a], %[a]" : [a] "+v"(a##i), \
          [t] "=&v"(t) : [w] "v"(w));
    MNV2_CHAINS(MNV2_STEP)
#undef MNV2_STEP
  }
  __m512i s = _mm512_setzero_si512();
#define MNV2_ADD _mm512_add_epi32
  MNV2_CHAINS(MNV2_ADD_CHAIN)
#undef MNV2_ADD
  *sink = _mm_cvtsi128_si32(_mm512_castsi512_si128(s));
  return iterations * 16 * 32;
}

// a += vdpbf16ps(x, w): 32 bf16 multiply-accumulates per instruction. x * w = 2^-20 per
// pair keeps the sums normal and far from overflow.
int64_t bf16_peak_avx512(int64_t iterations, float* sink) {
#define MNV2_INIT(i) __m512 a##i = _mm512_set1_ps(1.f + float(i));
  MNV2_CHAINS(MNV2_INIT)
#undef MNV2_INIT
  const __m512i x = _mm512_set1_epi16(0x3B80);  // 2^-8 in bf16
  const __m512i w = _mm512_set1_epi16(0x3D80);  // 2^-12
  for (int64_t i = 0; i < iterations; ++i) {
#define MNV2_STEP(i) __asm__("vdpbf16ps %[w], %[x], %[a]" : [a] "+v"(a##i) : [x] "v"(x), [w] "v"(w));
    MNV2_CHAINS(MNV2_STEP)
#undef MNV2_STEP
  }
  __m512 s = _mm512_setzero_ps();
#define MNV2_ADD _mm512_add_ps
  MNV2_CHAINS(MNV2_ADD_CHAIN)
#undef MNV2_ADD
  *sink = _mm_cvtss_f32(_mm512_castps512_ps128(s));
  return iterations * 16 * 32;
}

}  // namespace mnv2::kernels
