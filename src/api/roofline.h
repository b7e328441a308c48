// Machine ceilings for roofline estimates: the fp32 FMA peak of one core and the
// streaming memory bandwidth, measured on the spot (mnv2 bench --per-layer, bench/mem_bw).
#pragma once

#include <cstdint>

#include "mnv2/mnv2.h"

namespace mnv2 {

// The peak probes (kernels/fma_peak.h): dependency-free loops of one instruction kind.
enum class PeakProbe {
  Fp32Avx2,    // vfmadd ymm: fp32 multiply-accumulates
  Fp32Avx512,  // vfmadd zmm
  Int16Avx2,   // vpmaddwd + vpaddd ymm: int16 pair multiply-accumulates (the int8 GEMM
               // without VNNI)
  Int16Avx512,  // the same on zmm (AVX-512BW)
  Int8Vnni,    // vpdpbusd zmm: u8 x s8 multiply-accumulates (AVX-512 VNNI)
  Bf16Avx512,  // vdpbf16ps zmm: bf16 multiply-accumulates (AVX512_BF16)
  Fp32Neon,    // fmla v.4s (AArch64): fp32 multiply-accumulates
};
const char* peak_probe_name(PeakProbe p);  // "fp32_avx2", ..., "bf16_avx512", "fp32_neon"
// Whether this CPU runs the probe's instructions (the hardware, whatever MNV2_MAX_ISA says).
bool peak_probe_available(PeakProbe p);
// Runs the probe's loop `iterations` times on the calling thread and returns the
// multiply-accumulates done (the CPU must have its instructions: peak_probe_available).
int64_t run_peak_probe(PeakProbe p, int64_t iterations);
// Multiply-accumulates per second of one core running the probe (GMAC/s), over the
// thread's own CPU time (so time-slicing by other processes does not lower it), best of
// `reps` runs of about 25 ms. 0 where the CPU lacks the instructions.
double measure_peak_gmacs(PeakProbe p, int reps = 3);

// The fp32 FMA probe of `isa` (measure_peak_gmacs of Fp32Avx2 / Fp32Avx512 / Fp32Neon); 0
// for Scalar.
double measure_fma_peak_gmacs(Isa isa, int reps = 3);
// The probe of the instruction the int8 GEMM of `isa` uses on this CPU: vpdpbusd with
// AVX-512 VNNI, else vpmaddwd (AVX-512BW or AVX2). Scalar and NEON have none here (callers
// skip them).
PeakProbe int8_peak_probe(Isa isa);

// STREAM-style triad a[i] = b[i] + s * c[i] over three arrays of `array_bytes` each,
// split over `threads` threads; bytes counted as 3 x array_bytes per pass (no write
// allocate), best of `reps` passes after one untimed pass, in GB/s (1e9 bytes). A pass
// is timed by the largest CPU time of its threads, so time-slicing by other processes
// does not read as low bandwidth (with several threads that were not all on a core at
// once, the figure can be optimistic).
double measure_triad_gbs(int64_t array_bytes, int threads, int reps = 5);

}  // namespace mnv2
