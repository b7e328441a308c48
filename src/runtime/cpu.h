// CPU feature detection, kept apart so that dispatch lives in one place.
#pragma once

#include "mnv2/mnv2.h"

namespace mnv2 {

bool cpu_supports(Isa isa);
// AVX-512 VNNI (vpdpbusd), on top of cpu_supports(Isa::Avx512).
bool cpu_has_vnni();
int physical_cores();

}  // namespace mnv2
