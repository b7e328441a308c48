// Machine ceilings for roofline estimates: the fp32 FMA peak of one core and the
// streaming memory bandwidth, measured on the spot (mnv2 bench --per-layer, bench/mem_bw).
#pragma once

#include <cstdint>

#include "mnv2/mnv2.h"

namespace mnv2 {

// Multiply-accumulates per second of one core running the FMA loop of `isa` (GMAC/s),
// over the thread's own CPU time (so time-slicing by other processes does not lower it),
// best of `reps` runs of about 25 ms. 0 for Isa::Scalar (no FMA loop).
double measure_fma_peak_gmacs(Isa isa, int reps = 3);

// STREAM-style triad a[i] = b[i] + s * c[i] over three arrays of `array_bytes` each,
// split over `threads` threads; bytes counted as 3 x array_bytes per pass (no write
// allocate), best of `reps` passes after one untimed pass, in GB/s (1e9 bytes). A pass
// is timed by the largest CPU time of its threads, so time-slicing by other processes
// does not read as low bandwidth (with several threads that were not all on a core at
// once, the figure can be optimistic).
double measure_triad_gbs(int64_t array_bytes, int threads, int reps = 5);

}  // namespace mnv2
