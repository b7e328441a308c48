// CPU feature detection, kept apart so that dispatch lives in one place.
#pragma once

#include "mnv2/mnv2.h"

namespace mnv2 {

bool cpu_supports(Isa isa);
int physical_cores();

}  // namespace mnv2
