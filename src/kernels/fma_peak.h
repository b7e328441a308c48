// Dependency-free FMA loops for measuring the machine's floating-point peak (bench/fma_peak).
#pragma once

#include <cstdint>

#include "mnv2/mnv2.h"

namespace mnv2::kernels {

// Each runs `iterations` rounds of independent fused multiply-adds on many accumulator
// chains (more chains than FMA latency x throughput) and returns the number of fp32
// multiply-accumulates performed; `sink` receives a value that depends on every chain.
int64_t fma_peak_avx2(int64_t iterations, float* sink);
int64_t fma_peak_avx512(int64_t iterations, float* sink);
int64_t fma_peak_neon(int64_t iterations, float* sink);
// The peak loop of `isa` in this build (x86 loops exist only in x86 builds), or null for
// the scalar table and ISAs of another architecture. The caller checks cpu_supports.
using FmaPeakLoop = int64_t (*)(int64_t iterations, float* sink);
FmaPeakLoop fma_peak_loop(Isa isa);
// The integer counterparts: vpmaddwd + vpaddd chains (AVX2, AVX-512BW; int16
// multiply-accumulates) and vpdpbusd chains (AVX-512 VNNI; u8 x s8 multiply-accumulates).
int64_t madd_peak_avx2(int64_t iterations, int32_t* sink);
int64_t madd_peak_avx512(int64_t iterations, int32_t* sink);
int64_t vnni_peak_avx512(int64_t iterations, int32_t* sink);
// vdpbf16ps chains (AVX512_BF16); bf16 multiply-accumulates.
int64_t bf16_peak_avx512(int64_t iterations, float* sink);

}  // namespace mnv2::kernels
