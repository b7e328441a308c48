#include "runtime/qreference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/qquantize.h"

namespace mnv2 {

namespace {

[[noreturn]] void fail_node(const Graph& g, int id, const std::string& what) {
  const Node& n = g.node(id);
  throw Error("int8: node " + std::to_string(id) + " '" + n.name + "' (" + op_name(n.op) +
              "): " + what);
}

// The reference's own reading of a node's quantization, written from TFLite's and
// XNNPACK's definitions apart from prepare_qparams (the fast executor's), so that the tests
// comparing the two executors do not compare one derivation with itself. Both use the
// fixed-point primitives of kernels/qmath.h, which tests check against exact arithmetic.
struct RefNode {
  int32_t zp_in = 0, zp_out = 0, lo = 0, hi = 255;
  std::vector<q::Multiplier> rq;  // conv / fc, TFLite mode: per output channel
  std::vector<float> fscale;      // conv / fc, XNNPACK mode: per output channel
  q::AddParams add;
  q::XnnAddParams xadd;
  bool xadd_on = false;  // XNNPACK's ADD; TFLite's where the delegate refuses the node
};

RefNode ref_node(const Graph& g, int id, bool xnn) {
  const Node& n = g.node(id);
  RefNode r;
  r.zp_out = n.out_q.zero_point;
  if (!n.inputs.empty()) r.zp_in = g.node(n.inputs[0]).out_q.zero_point;
  // TFLite's CalculateActivationRangeQuantized; no activation leaves the full uint8 range.
  q::activation_range(n.activation, n.out_q.scale, n.out_q.zero_point, &r.lo, &r.hi);
  if (n.op == OpType::Conv2D || n.op == OpType::DepthwiseConv2D ||
      n.op == OpType::FullyConnected) {
    const float in_scale = g.node(n.inputs[0]).out_q.scale, out_scale = n.out_q.scale;
    const bool per_channel = n.qweight_scales.size() > 1;
    if (per_channel && n.qweight_scales.size() != size_t(n.shape.c))
      fail_node(g, id, "bad weight scale count");
    if (n.qweight_scales.empty()) fail_node(g, id, "no weight scales");
    for (int c = 0; c < n.shape.c; ++c) {
      const float w_scale = n.qweight_scales[per_channel ? size_t(c) : 0];
      if (xnn) {
        // XNNPACK's requantization scale: input_scale * kernel_scale / output_scale, float.
        r.fscale.push_back(in_scale * w_scale / out_scale);
      } else if (per_channel) {
        // TFLite's per-channel path: the effective scale in double.
        r.rq.push_back(q::quantize_multiplier(double(in_scale) * double(w_scale) /
                                              double(out_scale)));
      } else {
        // GetQuantizedConvolutionMultipler: input_product_scale = in * w in float, then
        // divided by the output scale in double.
        const float product = in_scale * w_scale;
        r.rq.push_back(q::quantize_multiplier(double(product) / double(out_scale)));
      }
    }
  } else if (n.op == OpType::Add) {
    const QuantParams a = g.node(n.inputs[0]).out_q, b = g.node(n.inputs[1]).out_q;
    // The delegate takes an ADD only with both input-to-output scale ratios in [2^-10, 2^8).
    const float ra = a.scale / n.out_q.scale, rb = b.scale / n.out_q.scale;
    r.xadd_on = xnn && ra >= 1.f / 1024.f && rb >= 1.f / 1024.f && ra < 256.f && rb < 256.f;
    if (r.xadd_on)
      r.xadd = q::make_xnn_add_params(a.scale, a.zero_point, b.scale, b.zero_point,
                                      n.out_q.scale, n.out_q.zero_point, r.lo, r.hi);
    else
      r.add = q::make_add_params(a.scale, a.zero_point, b.scale, b.zero_point, n.out_q.scale,
                                 n.out_q.zero_point, r.lo, r.hi);
  }
  return r;
}

// TFLite's 8-bit softmax (the optimized, non-ARM kernel, which works in float): for each
// element e = expf(-in_scale * (max - q)), the sum of e in channel order, then
// out = int(e / (sum * out_scale) + 0.5) + zp_out, clamped to 0..255.
void ref_softmax(float in_scale, float out_scale, int32_t zp_out, const uint8_t* x, uint8_t* y,
                 int c) {
  const uint8_t mx = *std::max_element(x, x + c);
  auto e = [&](int j) { return std::exp(-in_scale * float(mx - x[j])); };
  float sum = 0.f;
  for (int j = 0; j < c; ++j) sum += e(j);
  const float inv = 1.0f / (sum * out_scale);
  for (int j = 0; j < c; ++j) {
    const float v = std::min(e(j) * inv + 0.5f, 1024.f);  // bounded: degenerate scales
    y[j] = uint8_t(std::clamp(int32_t(v) + zp_out, 0, 255));
  }
}

// TFLite's QuantizedMeanOrSum for int8 tensors over the hw pixels of one image: in the int8
// domain (q - 128), mean = float(sum) / float(hw), then round(mean * (in_scale / out_scale)
// - zp_in * (in_scale / out_scale)) + zp_out, clamped to -128..127, all in float.
void ref_mean(const QuantParams& in_q, const QuantParams& out_q, const uint8_t* x, uint8_t* y,
              int hw, int c) {
  const float scale = in_q.scale / out_q.scale;
  const float bias = -float(in_q.zero_point - 128) * scale;
  for (int ch = 0; ch < c; ++ch) {
    int32_t sum = 0;
    for (int k = 0; k < hw; ++k) sum += int32_t(x[int64_t(k) * c + ch]) - 128;
    const float v = std::round(float(sum) / float(hw) * scale + bias) + float(out_q.zero_point - 128);
    // NaN (degenerate scales) becomes -128, as in qmean_image.
    const float clamped = v > -128.f ? (v < 127.f ? v : 127.f) : -128.f;
    y[ch] = uint8_t(int32_t(clamped) + 128);
  }
}

}  // namespace

std::vector<QNodeParams> prepare_qparams(const Graph& g, QRequantMode mode) {
  const bool xnn = mode == QRequantMode::Xnnpack;
  if (!g.quantized()) throw Error("int8: the graph has no integer (quantized) form");
  std::vector<QNodeParams> ps(g.nodes.size());
  for (size_t id = 0; id < g.nodes.size(); ++id) {
    const Node& n = g.nodes[id];
    QNodeParams& p = ps[id];
    p.zp_out = n.out_q.zero_point;
    p.out_scale = n.out_q.scale;
    const QuantParams in_q = n.inputs.empty() ? QuantParams{} : g.node(n.inputs[0]).out_q;
    p.zp_in = in_q.zero_point;
    switch (n.op) {
      MNV2_UNFOLDED_OP_CASES:
        unfolded_op(n);
      case OpType::Input:
      case OpType::Reshape:
        break;
      case OpType::Conv2D:
      case OpType::DepthwiseConv2D:
      case OpType::FullyConnected: {
        const int channels = n.shape.c;
        const size_t ns = n.qweight_scales.size();
        if (ns != 1 && int(ns) != channels) fail_node(g, int(id), "bad weight scale count");
        if (!n.bias.empty() && n.qbias.size() != size_t(channels))
          fail_node(g, int(id), "bias has no integer form");
        p.mult.resize(size_t(channels));
        p.shift.resize(size_t(channels));
        for (int c = 0; c < channels; ++c) {
          const float ws = n.qweight_scales[ns == 1 ? 0 : size_t(c)];
          const double real = ns > 1 ? double(in_q.scale) * double(ws) / double(n.out_q.scale)
                                     : double(in_q.scale * ws) / double(n.out_q.scale);
          const q::Multiplier m = q::quantize_multiplier(real);
          p.mult[size_t(c)] = m.mult;
          p.shift[size_t(c)] = m.shift;
          // XNNPACK: input_scale * kernel_scale / output_scale, in float.
          if (xnn) p.xnn_scale.push_back(in_q.scale * ws / n.out_q.scale);
        }
        q::activation_range(n.activation, n.out_q.scale, n.out_q.zero_point, &p.lo, &p.hi);
        break;
      }
      case OpType::Add: {
        const QuantParams b_q = g.node(n.inputs[1]).out_q;
        int32_t lo, hi;
        q::activation_range(n.activation, n.out_q.scale, n.out_q.zero_point, &lo, &hi);
        p.add = q::make_add_params(in_q.scale, in_q.zero_point, b_q.scale, b_q.zero_point,
                                   n.out_q.scale, n.out_q.zero_point, lo, hi);
        p.lo = lo, p.hi = hi;
        p.xnn_add_on = xnn && q::xnn_delegates_add(in_q.scale, b_q.scale, n.out_q.scale);
        if (p.xnn_add_on)
          p.xnn_add = q::make_xnn_add_params(in_q.scale, in_q.zero_point, b_q.scale,
                                             b_q.zero_point, n.out_q.scale, n.out_q.zero_point,
                                             lo, hi);
        break;
      }
      case OpType::GlobalAvgPool:
        p.pool_same_q = in_q == n.out_q;
        p.mean_scale = in_q.scale / n.out_q.scale;
        p.mean_bias = -float(in_q.zero_point - 128) * p.mean_scale;
        break;
      case OpType::Softmax: {
        const float s = -in_q.scale;  // beta = 1 (other betas have no integer form)
        for (int d = 0; d < 256; ++d) p.softmax_table[d] = std::exp(s * float(d));
        break;
      }
      case OpType::ChannelAffine:
        fail_node(g, int(id), "has no integer form");
    }
  }
  return ps;
}

// The loops live in kernels/qquantize.h, shared with the kernel tables' vector copies.
MNV2_NO_TRAPPING_MATH void quantize_input(const QuantParams& q, const float* x, uint8_t* out,
                                          int64_t n) {
  kernels::quantize_away(x, out, n, q.scale, q.zero_point);
}

MNV2_NO_TRAPPING_MATH void quantize_input_xnn(const QuantParams& q, const float* x, uint8_t* out,
                                              int64_t n) {
  kernels::quantize_even(x, out, n, q.scale, q.zero_point);
}

void qsoftmax_row(const QNodeParams& p, const uint8_t* x, uint8_t* y, int c) {
  int mx = 0;
  for (int j = 0; j < c; ++j) mx = std::max(mx, int(x[j]));
  float sum = 0.f;
  for (int j = 0; j < c; ++j) sum += p.softmax_table[mx - x[j]];
  const float inv = 1.0f / (sum * p.out_scale);
  for (int j = 0; j < c; ++j) {
    // Bounded before the int conversion so that a degenerate scale (inf/NaN products)
    // cannot make it undefined; every reachable value is far below the bound.
    float v = p.softmax_table[mx - x[j]] * inv + 0.5f;
    v = v < 1024.f ? v : 1024.f;
    y[j] = uint8_t(std::clamp(int32_t(v) + p.zp_out, 0, 255));
  }
}

void qmean_image(const QNodeParams& p, const uint8_t* x, uint8_t* y, int hw, int c) {
  for (int ch = 0; ch < c; ++ch) {
    int32_t sum = 0;
    for (int k = 0; k < hw; ++k) sum += int32_t(x[int64_t(k) * c + ch]) - 128;
    const float mean = float(sum) / float(hw);
    float r = std::round(mean * p.mean_scale + p.mean_bias) + float(p.zp_out - 128);
    r = r > -128.f ? r : -128.f;  // NaN (degenerate scales) becomes -128
    r = r < 127.f ? r : 127.f;
    y[ch] = uint8_t(int32_t(r) + 128);
  }
}

QReferenceResult qreference_run(const Graph& graph, const uint8_t* input, int batch,
                                const std::vector<int>& keep, QRequantMode mode) {
  const bool xnn = mode == QRequantMode::Xnnpack;
  Graph g = graph;
  g.infer_shapes(batch);
  if (!g.quantized()) throw Error("int8: the graph has no integer (quantized) form");
  const int count = int(g.nodes.size());
  std::vector<std::vector<uint8_t>> values(static_cast<size_t>(count));
  for (int id = 0; id < count; ++id) {
    const Node& n = g.nodes[size_t(id)];
    if (n.op == OpType::ChannelAffine) fail_node(g, id, "has no integer form");
    if (!n.bias.empty() && n.qbias.size() != size_t(n.shape.c) &&
        (n.op == OpType::Conv2D || n.op == OpType::DepthwiseConv2D ||
         n.op == OpType::FullyConnected))
      fail_node(g, id, "bias has no integer form");
    const RefNode p = ref_node(g, id, xnn);
    const Shape& ys = n.shape;
    std::vector<uint8_t>& y = values[size_t(id)];
    y.assign(size_t(ys.elements()), 0);
    auto in = [&](size_t k) -> const std::vector<uint8_t>& { return values[size_t(n.inputs[k])]; };
    auto in_shape = [&](size_t k) { return g.nodes[size_t(n.inputs[k])].shape; };
    switch (n.op) {
      MNV2_UNFOLDED_OP_CASES:
        unfolded_op(n);
      case OpType::Input:
        std::copy(input, input + ys.elements(), y.begin());
        break;
      case OpType::Conv2D:
      case OpType::DepthwiseConv2D: {
        const bool dw = n.op == OpType::DepthwiseConv2D;
        const Shape xs = in_shape(0);
        const std::vector<uint8_t>& x = in(0);
        for (int b = 0; b < ys.n; ++b)
          for (int oy = 0; oy < ys.h; ++oy)
            for (int ox = 0; ox < ys.w; ++ox)
              for (int oc = 0; oc < ys.c; ++oc) {
                // 32-bit accumulation wraps on overflow, as the SIMD kernels' adds do (only
                // hostile weights get there; TFLite leaves it undefined).
                int32_t acc = n.qbias.empty() ? 0 : n.qbias[size_t(oc)];
                for (int ky = 0; ky < n.kernel_h; ++ky) {
                  const int iy = oy * n.stride_h - n.pad_top + ky;
                  if (iy < 0 || iy >= xs.h) continue;
                  for (int kx = 0; kx < n.kernel_w; ++kx) {
                    const int ix = ox * n.stride_w - n.pad_left + kx;
                    if (ix < 0 || ix >= xs.w) continue;
                    const uint8_t* px = &x[((size_t(b) * xs.h + iy) * xs.w + ix) * xs.c];
                    if (dw) {
                      const int ic = oc / n.depth_multiplier;
                      acc = q::add_wrap(acc, (int32_t(px[ic]) - p.zp_in) *
                                                 n.qweights[(size_t(ky) * n.kernel_w + kx) * ys.c + oc]);
                    } else {
                      const int16_t* w =
                          &n.qweights[((size_t(oc) * n.kernel_h + ky) * n.kernel_w + kx) * xs.c];
                      for (int ic = 0; ic < xs.c; ++ic)
                        acc = q::add_wrap(acc, (int32_t(px[ic]) - p.zp_in) * int32_t(w[ic]));
                    }
                  }
                }
                y[((size_t(b) * ys.h + oy) * ys.w + ox) * ys.c + oc] =
                    xnn ? q::requantize_float(acc, p.fscale[size_t(oc)], p.zp_out, p.lo, p.hi)
                        : q::requantize(acc, p.rq[size_t(oc)].mult, p.rq[size_t(oc)].shift,
                                        p.zp_out, p.lo, p.hi);
              }
        break;
      }
      case OpType::FullyConnected: {
        const int64_t cin = in_shape(0).per_image();
        const std::vector<uint8_t>& x = in(0);
        for (int b = 0; b < ys.n; ++b)
          for (int o = 0; o < ys.c; ++o) {
            int32_t acc = n.qbias.empty() ? 0 : n.qbias[size_t(o)];
            for (int64_t i = 0; i < cin; ++i)
              acc = q::add_wrap(acc, (int32_t(x[size_t(b * cin + i)]) - p.zp_in) *
                                         int32_t(n.qweights[size_t(o * cin + i)]));
            y[size_t(b) * ys.c + o] =
                xnn ? q::requantize_float(acc, p.fscale[size_t(o)], p.zp_out, p.lo, p.hi)
                    : q::requantize(acc, p.rq[size_t(o)].mult, p.rq[size_t(o)].shift, p.zp_out,
                                    p.lo, p.hi);
          }
        break;
      }
      case OpType::Add:
        for (size_t i = 0; i < y.size(); ++i)
          y[i] = p.xadd_on ? q::xnn_add_one(in(0)[i], in(1)[i], p.xadd)
                     : q::add_one(in(0)[i], in(1)[i], p.add);
        break;
      case OpType::GlobalAvgPool: {
        const Shape xs = in_shape(0);
        const std::vector<uint8_t>& x = in(0);
        const int32_t hw = xs.h * xs.w;
        const QuantParams in_q = g.node(n.inputs[0]).out_q;
        for (int b = 0; b < xs.n; ++b) {
          if (!(in_q == n.out_q)) {  // MEAN
            ref_mean(in_q, n.out_q, &x[size_t(b) * hw * xs.c], &y[size_t(b) * xs.c], hw, xs.c);
            continue;
          }
          for (int c = 0; c < xs.c; ++c) {
            int32_t sum = 0;
            for (int32_t k = 0; k < hw; ++k) sum += x[(size_t(b) * hw + size_t(k)) * xs.c + c];
            y[size_t(b) * xs.c + c] = uint8_t((sum + hw / 2) / hw);
          }
        }
        break;
      }
      case OpType::Softmax: {
        const int64_t rows = ys.elements() / ys.c;
        for (int64_t r = 0; r < rows; ++r)
          ref_softmax(g.node(n.inputs[0]).out_q.scale, n.out_q.scale, n.out_q.zero_point,
                      &in(0)[size_t(r * ys.c)], &y[size_t(r * ys.c)], ys.c);
        break;
      }
      case OpType::Reshape:
        y = in(0);
        break;
      case OpType::ChannelAffine:
        break;  // refused above
    }
  }
  QReferenceResult result;
  result.output = values[size_t(g.output)];
  for (int k : keep) result.kept[k] = values.at(size_t(k));
  return result;
}

}  // namespace mnv2
