// Post-training quantization of an fp32 graph into the IR's integer view (TFLite int8
// conventions): per-channel symmetric int8 weights, int32 biases, asymmetric int8
// activations from calibration statistics, with the parameter ties TFLite's int8 kernels
// require.
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/calibration.h"

namespace mnv2::quant {

struct QuantizeSettings {
  CalibrationSettings calibration;
  // Quantize the graph input on the pixel grid its preprocessing implies when the model's
  // mean is a whole number in [0, 255] (real = (p - mean) / scale, so scale 1/scale and
  // zero point mean represent every 8-bit pixel exactly); else calibrate it like any tensor.
  bool input_from_preprocessing = true;
};

// How a node's output quantization was chosen.
enum class RangeRule {
  Calibrated,    // the calibration method's range
  Relu,          // calibrated, lower end 0 (fused ReLU)
  Relu6,         // calibrated, clipped to [0, 6] (fused ReLU6)
  Logits,        // min/max whatever the method: clipping the largest logit would flatten
                 // the very prediction the model makes
  InputPixels,   // the input's pixel grid (see input_from_preprocessing)
  SameAsInput,   // AVERAGE_POOL_2D / RESHAPE: TFLite requires the input's parameters
  Softmax,       // TFLite int8 softmax: scale 1/256, zero point -128
};
const char* range_rule_name(RangeRule r);

struct LayerQuantization {
  int id = -1;
  double seen_min = 0, seen_max = 0;  // observed over the calibration images
  double lo = 0, hi = 0;              // the range the int8 grid covers
  RangeRule rule = RangeRule::Calibrated;
  float weight_scale_min = 0, weight_scale_max = 0;  // 0 when the node has no weights
  int weights_clipped = 0;  // weights whose rounding hit +-127 limits (should stay 0)
};

struct QuantizeReport {
  std::vector<LayerQuantization> layers;  // one per node, in node order
};

// A graph whose input normalisation is inside it (a ChannelAffine right after the input with
// the same scale and offset on every channel, as in the Open Model Zoo OpenVINO IR) is
// rewritten to take the normalised input instead: the node is removed and ModelInfo's
// mean/scale describe it (normalization_in_graph = false), so that the input can be
// quantized on its pixel grid. Returns false when there is no such node; throws when the
// normalisation differs per channel (TFLite's QUANTIZE has one scale per tensor).
bool fold_input_normalization(Graph& g);

// The int8 parameters (as QuantParams: uint8-domain zero point = int8 zero point + 128)
// covering [lo, hi] widened to include 0.
QuantParams params_for_range(double lo, double hi);

// Fills g's integer view from the per-node statistics (`stats[id]` for node id, as
// GraphObserver collects them) and replaces weights/bias by their dequantized values, so
// that g.quantized() holds and the fp32 executors run exactly what the integers mean.
// Throws mnv2::Error for nodes it cannot quantize (ChannelAffine) or missing statistics.
QuantizeReport quantize_graph(Graph& g, const std::vector<TensorStats>& stats,
                              const QuantizeSettings& settings);

// The TFLite int8 constraints the quantizer guarantees; returns one message per
// violation (empty = all hold): zero points in range, weights in [-127, 127] with
// positive scales, softmax output 1/256 and -128, pool/reshape output == input, ReLU6
// outputs inside [0, 6], biases consistent with input_scale * weight_scale.
std::vector<std::string> check_int8_constraints(const Graph& g);

}  // namespace mnv2::quant
