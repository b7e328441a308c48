// The fast int8 executor: runs the integer view of a quantized graph (Graph::quantized())
// with the integer kernel table (kernels/qkernels.h) behind the common Executor interface.
// Float input is quantized with the input's QuantParams, outputs are dequantized. Results
// equal qreference_run exactly for every ISA, thread count and batch size, in the
// QRequantMode matching ExecutorOptions::int8_rounding (Tflite or Xnnpack).
#pragma once

#include <memory>

#include "runtime/executor.h"

namespace mnv2 {

// Throws mnv2::Error when the graph has no integer form. Takes the graph over as
// Executor::create does (weights freed once packed).
std::unique_ptr<Executor> make_int8_executor(Graph graph, const ExecutorOptions& options);

}  // namespace mnv2
