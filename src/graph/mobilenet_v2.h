// Builder for the TF-slim MobileNetV2 topology with deterministic synthetic weights.
#pragma once

#include <cstdint>

#include "graph/graph.h"

namespace mnv2 {

// TF-slim's channel rounding: nearest multiple of `divisor`, at least `min_value`,
// and never more than 10 % below v.
int make_divisible(double v, int divisor = 8, int min_value = 8);

// The exact TF-slim MobileNetV2 graph (BatchNorm folded into biases, TF SAME padding,
// ReLU6, linear bottlenecks, residual adds) for any width multiplier and square input
// resolution, with random weights at a realistic scale. Same seed = same weights.
Graph build_mobilenet_v2(float width_multiplier, int resolution, int num_classes = 1001,
                         uint64_t seed = 1);

}  // namespace mnv2
