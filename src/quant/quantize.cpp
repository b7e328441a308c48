#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mnv2::quant {

const char* range_rule_name(RangeRule r) {
  switch (r) {
    case RangeRule::Calibrated: return "calibrated";
    case RangeRule::Relu: return "relu";
    case RangeRule::Relu6: return "relu6";
    case RangeRule::Logits: return "logits-minmax";
    case RangeRule::InputPixels: return "input-pixels";
    case RangeRule::SameAsInput: return "same-as-input";
    case RangeRule::Softmax: return "softmax";
  }
  return "?";
}

QuantParams params_for_range(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  // A tensor that is (nearly) constant zero still needs a positive scale.
  if (hi - lo < 1e-9) hi = lo + 1e-9;
  const double scale = (hi - lo) / 255.0;
  // TFLite's nudging: the zero point is the integer nearest to where real 0 falls.
  const double zp = std::round(-128.0 - lo / scale);
  QuantParams q;
  q.scale = float(scale);
  q.zero_point = int32_t(std::clamp(zp, -128.0, 127.0)) + 128;
  return q;
}

namespace {

// Output channel of weight element i for the node's layout.
struct ChannelMap {
  int channels = 1;
  int64_t inner = 1;   // Conv2D / FC: elements per output channel
  bool depthwise = false;
  int channel(int64_t i) const {
    return depthwise ? int(i % channels) : int(i / inner);
  }
};

ChannelMap channel_map(const Node& n) {
  ChannelMap m;
  switch (n.op) {
    case OpType::Conv2D:
    case OpType::FullyConnected:
      m.channels = n.out_channels;
      m.inner = int64_t(n.weights.size()) / std::max(1, n.out_channels);
      break;
    case OpType::DepthwiseConv2D:
      m.channels = n.shape.c;
      m.depthwise = true;
      break;
    default:
      break;
  }
  return m;
}

// Per-channel symmetric int8 weights (one scale for FullyConnected, which TFLite's int8
// FULLY_CONNECTED takes per tensor), int32 bias; weights/bias become the dequantized values.
void quantize_weights(Node& n, float in_scale, LayerQuantization& rep) {
  const ChannelMap m = channel_map(n);
  const bool per_tensor = n.op == OpType::FullyConnected;
  const int nscales = per_tensor ? 1 : m.channels;
  std::vector<double> absmax(size_t(nscales), 0.0);
  for (size_t i = 0; i < n.weights.size(); ++i) {
    const int c = per_tensor ? 0 : m.channel(int64_t(i));
    absmax[size_t(c)] = std::max(absmax[size_t(c)], std::fabs(double(n.weights[i])));
  }
  // The bias must fit int32 at scale in_scale * w_scale: raise w_scale where it would not.
  constexpr double kBiasLimit = 2147483520.0;  // just under 2^31, exact in float
  std::vector<double> bias_need(size_t(nscales), 0.0);
  for (size_t c = 0; c < n.bias.size(); ++c) {
    const int k = per_tensor ? 0 : int(c);
    bias_need[size_t(k)] = std::max(bias_need[size_t(k)],
                                    std::fabs(double(n.bias[c])) / (double(in_scale) * kBiasLimit));
  }
  n.qweight_scales.assign(size_t(nscales), 0.f);
  for (int c = 0; c < nscales; ++c) {
    double s = std::max(absmax[size_t(c)] / 127.0, bias_need[size_t(c)] * 1.0001);
    if (!(s > 0)) s = 1e-8;  // an all-zero channel
    n.qweight_scales[size_t(c)] = float(s);
  }
  n.qweights.assign(n.weights.size(), 0);
  rep.weights_clipped = 0;
  for (size_t i = 0; i < n.weights.size(); ++i) {
    const int c = per_tensor ? 0 : m.channel(int64_t(i));
    const float s = n.qweight_scales[size_t(c)];
    double q = std::round(double(n.weights[i]) / double(s));
    if (q > 127 || q < -127) ++rep.weights_clipped;
    q = std::clamp(q, -127.0, 127.0);
    n.qweights[i] = int16_t(q);
    n.weights[i] = float(q * double(s));
  }
  n.qbias.clear();
  for (size_t c = 0; c < n.bias.size(); ++c) {
    const double bs = double(in_scale) * double(n.qweight_scales[per_tensor ? 0 : c]);
    const double q = std::clamp(std::round(double(n.bias[c]) / bs), -2147483647.0, 2147483647.0);
    n.qbias.push_back(int32_t(q));
    n.bias[c] = float(q * bs);
  }
  rep.weight_scale_min = *std::min_element(n.qweight_scales.begin(), n.qweight_scales.end());
  rep.weight_scale_max = *std::max_element(n.qweight_scales.begin(), n.qweight_scales.end());
}

}  // namespace

bool fold_input_normalization(Graph& g) {
  int affine = -1, readers = 0;
  for (int id = 0; id < int(g.nodes.size()); ++id)
    for (int in : g.nodes[size_t(id)].inputs)
      if (in == g.input) {
        ++readers;
        if (g.nodes[size_t(id)].op == OpType::ChannelAffine) affine = id;
      }
  if (affine < 0) return false;
  const Node& a = g.node(affine);
  if (readers != 1 || affine == g.output)
    throw Error("quantize: the input normalisation '" + a.name +
                "' is not the only reader of the input; cannot fold it");
  const float w = a.weights.empty() ? 1.f : a.weights[0];
  const float b = a.bias.empty() ? 0.f : a.bias[0];
  for (size_t c = 0; c < a.weights.size(); ++c)
    if (a.weights[c] != w || (c < a.bias.size() && a.bias[c] != b))
      throw Error("quantize: the input normalisation '" + a.name +
                  "' differs per channel; int8 TFLite quantizes the input with one scale");
  if (!(w > 0) || !std::isfinite(w) || !std::isfinite(b))
    throw Error("quantize: the input normalisation '" + a.name + "' has scale " +
                std::to_string(w) + "; a positive scale is needed");
  // Remove the node: its readers read the input, later ids shift down by one.
  auto remap = [&](int id) { return id == affine ? g.input : id > affine ? id - 1 : id; };
  g.nodes.erase(g.nodes.begin() + affine);
  for (Node& n : g.nodes)
    for (int& in : n.inputs) in = remap(in);
  g.input = remap(g.input);
  g.output = remap(g.output);
  if (g.logits >= 0) g.logits = remap(g.logits);
  if (g.features >= 0) g.features = remap(g.features);
  // The graph now takes x = p * w + b = (p - mean) / scale.
  g.info.normalization_in_graph = false;
  g.info.mean = float(-double(b) / double(w));
  g.info.scale = float(1.0 / double(w));
  g.info.layout = Layout::NHWC;  // the IR is NHWC; TFLite files are too
  g.finalize();
  return true;
}

QuantizeReport quantize_graph(Graph& g, const std::vector<TensorStats>& stats,
                              const QuantizeSettings& settings) {
  if (stats.size() != g.nodes.size())
    throw Error("quantize: statistics for " + std::to_string(stats.size()) + " nodes, graph has " +
                std::to_string(g.nodes.size()));
  g.infer_shapes(1);
  // The logits and the reshapes between them and the softmax.
  std::vector<bool> logits(g.nodes.size(), false);
  for (int id = g.logits; id >= 0; id = g.nodes[size_t(id)].inputs.empty() ? -1 : g.nodes[size_t(id)].inputs[0]) {
    logits[size_t(id)] = true;
    if (g.nodes[size_t(id)].op != OpType::Reshape) break;
  }
  QuantizeReport report;
  for (int id = 0; id < int(g.nodes.size()); ++id) {
    Node& n = g.nodes[size_t(id)];
    const TensorStats& s = stats[size_t(id)];
    LayerQuantization rep;
    rep.id = id;
    if (n.op == OpType::ChannelAffine)
      throw Error("quantize: node '" + n.name +
                  "' is a per-channel scale/offset (ChannelAffine, e.g. normalisation inside "
                  "the graph); mnv2 quantize supports Conv2D, DepthwiseConv2D, FullyConnected, "
                  "Add, GlobalAvgPool, Reshape and Softmax graphs");
    if (s.empty() && n.op != OpType::Input)
      throw Error("quantize: no calibration data for node '" + n.name + "'");
    rep.seen_min = s.min(), rep.seen_max = s.max();
    const QuantParams* in_q = n.inputs.empty() ? nullptr : &g.nodes[size_t(n.inputs[0])].out_q;

    switch (n.op) {
      case OpType::Input: {
        const ModelInfo& inf = g.info;
        const double mean = inf.normalization_in_graph ? 0.0 : double(inf.mean);
        const double scale = inf.normalization_in_graph ? 1.0 : double(inf.scale);
        if (settings.input_from_preprocessing && std::fabs(mean - std::round(mean)) < 1e-4 &&
            mean >= 0 && mean <= 255 && scale > 0) {
          n.out_q.scale = float(1.0 / scale);
          n.out_q.zero_point = int32_t(std::round(mean));
          rep.rule = RangeRule::InputPixels;
        } else {
          if (s.empty()) throw Error("quantize: no calibration data for the input");
          const Range r = calibrated_range(s, settings.calibration);
          n.out_q = params_for_range(r.lo, r.hi);
        }
        break;
      }
      case OpType::GlobalAvgPool:
      case OpType::Reshape:
        n.out_q = *in_q;
        rep.rule = RangeRule::SameAsInput;
        break;
      case OpType::Softmax:
        n.out_q.scale = 1.f / 256.f;
        n.out_q.zero_point = 0;  // int8 -128
        rep.rule = RangeRule::Softmax;
        break;
      default: {
        Range r = calibrated_range(s, settings.calibration);
        if (logits[size_t(id)] && n.activation == Activation::None) {
          r.lo = std::min(s.min(), 0.0), r.hi = std::max(s.max(), 0.0);
          rep.rule = RangeRule::Logits;
        } else if (n.activation == Activation::Relu6) {
          r.lo = 0, r.hi = std::min(r.hi, 6.0);
          rep.rule = RangeRule::Relu6;
        } else if (n.activation == Activation::Relu) {
          r.lo = 0;
          rep.rule = RangeRule::Relu;
        }
        n.out_q = params_for_range(r.lo, r.hi);
        break;
      }
    }
    rep.lo = double(n.out_q.scale) * (0 - n.out_q.zero_point);
    rep.hi = double(n.out_q.scale) * (255 - n.out_q.zero_point);
    if (!n.weights.empty()) quantize_weights(n, in_q ? in_q->scale : 1.f, rep);
    report.layers.push_back(rep);
  }
  g.info.quantized = true;
  return report;
}

std::vector<std::string> check_int8_constraints(const Graph& g) {
  std::vector<std::string> bad;
  auto fail = [&](const Node& n, const std::string& what) { bad.push_back("'" + n.name + "': " + what); };
  for (const Node& n : g.nodes) {
    const QuantParams& q = n.out_q;
    if (!(q.scale > 0) || !std::isfinite(q.scale)) fail(n, "output scale is not positive");
    if (q.zero_point < 0 || q.zero_point > 255) fail(n, "zero point outside the int8 range");
    const QuantParams* in = n.inputs.empty() ? nullptr : &g.node(n.inputs[0]).out_q;
    if ((n.op == OpType::GlobalAvgPool || n.op == OpType::Reshape) && in && !(q == *in))
      fail(n, "output quantization differs from its input's");
    if (n.op == OpType::Softmax && !(q.scale == 1.f / 256.f && q.zero_point == 0))
      fail(n, "softmax output is not scale 1/256, int8 zero point -128");
    if (n.activation == Activation::Relu6 || n.activation == Activation::Relu) {
      if (q.zero_point != 0) fail(n, "ReLU output grid does not start at 0 (int8 -128)");
      if (n.activation == Activation::Relu6 && q.scale * 255.0 > 6.0 * (1 + 1e-6))
        fail(n, "ReLU6 output grid reaches beyond 6");
    }
    if (n.weights.empty()) continue;
    if (n.qweights.size() != n.weights.size()) {
      fail(n, "weights are not quantized");
      continue;
    }
    for (int16_t w : n.qweights)
      if (w < -127 || w > 127) {
        fail(n, "weight outside [-127, 127]");
        break;
      }
    for (float s : n.qweight_scales)
      if (!(s > 0) || !std::isfinite(s)) fail(n, "weight scale is not positive");
    if (!n.bias.empty() && in) {
      if (n.qbias.size() != n.bias.size()) {
        fail(n, "bias is not quantized");
        continue;
      }
      for (size_t c = 0; c < n.bias.size(); ++c) {
        const double bs =
            double(in->scale) * double(n.qweight_scales[n.qweight_scales.size() == 1 ? 0 : c]);
        if (std::fabs(double(n.qbias[c]) * bs - double(n.bias[c])) > 1e-6 * std::fabs(n.bias[c]) + 1e-12) {
          fail(n, "bias " + std::to_string(c) + " is not qbias * input_scale * weight_scale");
          break;
        }
      }
    }
  }
  return bad;
}

}  // namespace mnv2::quant
