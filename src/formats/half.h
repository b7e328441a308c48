// IEEE 754 binary16 conversions (float16 weights in TFLite, ONNX and OpenVINO IR files).
#pragma once

#include <cstdint>

namespace mnv2 {

// Round to nearest even; values that round above 65504 become infinity, NaN stays NaN.
uint16_t float_to_half(float f);
// Exact (every half is a float).
float half_to_float(uint16_t h);

}  // namespace mnv2
