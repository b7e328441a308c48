// Internal access to a Model's executor, for tools inside the library (the bench's
// per-layer profile). Not part of the public API.
#pragma once

#include "mnv2/mnv2.h"
#include "runtime/executor.h"

namespace mnv2 {

struct ModelAccess {
  static Executor& executor(Model& model);
};

}  // namespace mnv2
