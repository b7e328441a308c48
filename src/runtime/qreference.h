// The integer reference executor: plain loops with TFLite's integer semantics over the
// integer view of a quantized graph (Graph::quantized()). Slow and obviously correct; the
// fast int8 executor must equal it exactly.
//
// Semantics (activations are uint8-domain values q with real = scale * (q - zero_point)):
//  * Conv2D / DepthwiseConv2D / FullyConnected: acc = qbias[c] + sum (x - zp_in) * qweight
//    in int32 (padding contributes nothing); out = clamp(M_c(acc) + zp_out, lo, hi) where
//    M_c(x) is TFLite's MultiplyByQuantizedMultiplier with QuantizeMultiplier(in_scale *
//    w_scale[c] / out_scale): per-tensor weights form in_scale * w_scale in float (TFLite's
//    GetQuantizedConvolutionMultipler), per-channel weights in double (its per-channel
//    path); lo/hi are the activation range (ReLU6/ReLU as clamps, q::activation_range).
//  * Add: TFLite's 8-bit ADD (left shift 20, per-input multipliers, output multiplier).
//  * GlobalAvgPool: when input and output quantization are equal (TFLite AVERAGE_POOL_2D,
//    which requires that), out = (sum of raw q + n/2) / n (TFLite's uint8 rounding); else
//    MEAN with requantization as TFLite's builtin QuantizedMeanOrSum for int8 tensors (the
//    version in the TFLite-wasm runtime of the golden outputs, which it matches exactly):
//    in the int8 domain (s = q - 128), scale = in_scale / out_scale (float),
//    bias = -zp_in_s * scale, mean = float(sum s) / float(n),
//    out_s = clamp(round(mean * scale + bias) + zp_out_s, -128, 127), all in float.
//  * Softmax: TFLite's default (optimized, non-ARM) 8-bit kernel, which works in float:
//    e[d] = expf(-in_scale * d) for d = max - q, sum of e in float in channel order,
//    inv = 1 / (sum * out_scale), out = clamp(int(e * inv + 0.5f) + zp_out, 0, 255).
//  * Reshape: the identity.
#pragma once

#include <map>
#include <vector>

#include "graph/graph.h"
#include "kernels/qmath.h"

namespace mnv2 {

// Requantization of Conv2D/DepthwiseConv2D/FullyConnected and Add.
//  Tflite:  TFLite's builtin integer kernels (fixed point, above), what TFLite runs without
//           the XNNPACK delegate; Int8Rounding::Tflite.
//  Xnnpack: XNNPACK's (the TFLite delegate that TFLite-wasm and default TFLite builds run for
//           CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / ADD): convolutions requantize in
//           float, out = lrintf(float(acc) * (in_scale * w_scale / out_scale)) + zp_out, clamped;
//           ADD uses XNNPACK's 20-bit fixed-point formula (multipliers from the float scale
//           ratios, one arithmetic shift with a half-up rounding bias) where the delegate
//           takes the ADD (scale ratios in [2^-10, 2^8)), TFLite's ADD elsewhere. The int8
//           executor runs it with Options::int8_rounding = Int8Rounding::Xnnpack, the
//           default; it reproduces the TFLite-wasm golden outputs.
enum class QRequantMode { Tflite, Xnnpack };

// The requantisation parameters of one node as the fast int8 executor derives them, once
// per graph. The reference executor (qreference_run) derives its own from the graph, apart
// from this code, so that comparing the two executors checks this derivation too.
struct QNodeParams {
  std::vector<int32_t> mult, shift;  // per output channel (conv/fc); one for MEAN
  int32_t zp_in = 0, zp_out = 0;
  int32_t lo = 0, hi = 255;          // activation clamp in the uint8 domain
  q::AddParams add;                  // Add only
  // QRequantMode::Xnnpack only (empty / default otherwise):
  std::vector<float> xnn_scale;      // conv/fc per output channel: in_scale * w_scale / out_scale
  q::XnnAddParams xnn_add;           // Add, when xnn_add_on
  bool xnn_add_on = false;           // Add: XNNPACK's ADD (else TFLite's, q::xnn_delegates_add)
  bool pool_same_q = false;          // GlobalAvgPool: input and output quantization equal
  float softmax_table[256] = {};    // Softmax: expf(-in_scale * d)
  float out_scale = 0.f;
  float mean_scale = 0.f, mean_bias = 0.f;  // MEAN: in_scale / out_scale, -zp_in_s * scale
};

// One entry per node; throws mnv2::Error when g is not quantized() or a node has no
// integer form. In Xnnpack mode an ADD whose scales the XNNPACK delegate refuses
// (q::xnn_delegates_add) keeps TFLite's ADD, as TFLite then runs its builtin kernel.
std::vector<QNodeParams> prepare_qparams(const Graph& g,
                                         QRequantMode mode = QRequantMode::Xnnpack);

// TFLite's AffineQuantize of the float graph input: q = clamp(round(x / scale) + zp), ties
// away from zero. What Int8Rounding::Tflite runs.
void quantize_input(const QuantParams& q, const float* x, uint8_t* out, int64_t n);
// XNNPACK's QUANTIZE (its float -> 8-bit convert, which the TFLite delegate runs):
// q = clamp(rint(x * (1 / scale)) + zp), the reciprocal in float and ties to even. It differs
// from quantize_input on exact ties and where x * (1 / scale) and x / scale round apart.
// What Int8Rounding::Xnnpack runs.
void quantize_input_xnn(const QuantParams& q, const float* x, uint8_t* out, int64_t n);
// The one of the two that `mode` runs.
inline void quantize_input(QRequantMode mode, const QuantParams& q, const float* x,
                           uint8_t* out, int64_t n) {
  if (mode == QRequantMode::Xnnpack)
    quantize_input_xnn(q, x, out, n);
  else
    quantize_input(q, x, out, n);
}
inline float dequantize(const QuantParams& q, uint8_t v) {
  return q.scale * float(int32_t(v) - q.zero_point);
}

// The fast executor's softmax row in the integer domain (the reference has its own).
void qsoftmax_row(const QNodeParams& p, const uint8_t* x, uint8_t* y, int c);
// The fast executor's MEAN over the hw pixels of one image x[hw][c] (the reference has its
// own); p of a GlobalAvgPool whose input and output quantization differ.
void qmean_image(const QNodeParams& p, const uint8_t* x, uint8_t* y, int hw, int c);


struct QReferenceResult {
  std::vector<uint8_t> output;               // graph output, batch * per-image elements
  std::map<int, std::vector<uint8_t>> kept;  // values of the node ids asked for
};

// Runs `batch` already-quantized NHWC images through g.
QReferenceResult qreference_run(const Graph& g, const uint8_t* input, int batch,
                                const std::vector<int>& keep = {},
                                QRequantMode mode = QRequantMode::Xnnpack);

}  // namespace mnv2
