#include "runtime/reference.h"

#include <algorithm>
#include <cmath>

namespace mnv2 {

namespace {

double activate(double v, Activation act) {
  switch (act) {
    case Activation::None: return v;
    case Activation::Relu: return v < 0 ? 0 : v;
    case Activation::Relu6: return v < 0 ? 0 : (v > 6 ? 6 : v);
  }
  return v;
}

void conv(const Node& n, const Shape& xs, const std::vector<double>& x, const Shape& ys,
          std::vector<double>& y) {
  const bool dw = n.op == OpType::DepthwiseConv2D;
  for (int b = 0; b < ys.n; ++b)
    for (int oy = 0; oy < ys.h; ++oy)
      for (int ox = 0; ox < ys.w; ++ox)
        for (int oc = 0; oc < ys.c; ++oc) {
          double acc = n.bias.empty() ? 0.0 : double(n.bias[size_t(oc)]);
          for (int ky = 0; ky < n.kernel_h; ++ky) {
            const int iy = oy * n.stride_h - n.pad_top + ky;
            if (iy < 0 || iy >= xs.h) continue;
            for (int kx = 0; kx < n.kernel_w; ++kx) {
              const int ix = ox * n.stride_w - n.pad_left + kx;
              if (ix < 0 || ix >= xs.w) continue;
              const double* px = &x[((size_t(b) * xs.h + iy) * xs.w + ix) * xs.c];
              if (dw) {
                const int ic = oc / n.depth_multiplier;
                acc += px[ic] * n.weights[(size_t(ky) * n.kernel_w + kx) * ys.c + oc];
              } else {
                const float* w =
                    &n.weights[((size_t(oc) * n.kernel_h + ky) * n.kernel_w + kx) * xs.c];
                for (int ic = 0; ic < xs.c; ++ic) acc += px[ic] * double(w[ic]);
              }
            }
          }
          y[((size_t(b) * ys.h + oy) * ys.w + ox) * ys.c + oc] = activate(acc, n.activation);
        }
}

}  // namespace

ReferenceResult reference_run(const Graph& graph, const float* input, int batch,
                              const std::vector<int>& keep) {
  Graph g = graph;
  g.infer_shapes(batch);
  const int count = int(g.nodes.size());
  std::vector<int> last_use(size_t(count), -1);
  for (int id = 0; id < count; ++id)
    for (int in : g.nodes[size_t(id)].inputs) last_use[size_t(in)] = id;

  std::vector<std::vector<double>> values(static_cast<size_t>(count));
  ReferenceResult result;
  for (int id = 0; id < count; ++id) {
    const Node& n = g.nodes[size_t(id)];
    const Shape& ys = n.shape;
    std::vector<double>& y = values[size_t(id)];
    y.assign(size_t(ys.elements()), 0.0);
    auto in = [&](size_t k) -> const std::vector<double>& { return values[size_t(n.inputs[k])]; };
    auto in_shape = [&](size_t k) { return g.nodes[size_t(n.inputs[k])].shape; };
    switch (n.op) {
      MNV2_UNFOLDED_OP_CASES:
        unfolded_op(n);
      case OpType::Input:
        for (size_t i = 0; i < y.size(); ++i) y[i] = input[i];
        break;
      case OpType::Conv2D:
      case OpType::DepthwiseConv2D:
        conv(n, in_shape(0), in(0), ys, y);
        break;
      case OpType::Add:
        for (size_t i = 0; i < y.size(); ++i) y[i] = in(0)[i] + in(1)[i];
        break;
      case OpType::GlobalAvgPool: {
        const Shape xs = in_shape(0);
        const auto& x = in(0);
        for (int b = 0; b < xs.n; ++b)
          for (int c = 0; c < xs.c; ++c) {
            double s = 0;
            for (int p = 0; p < xs.h * xs.w; ++p) s += x[(size_t(b) * xs.h * xs.w + p) * xs.c + c];
            y[size_t(b) * xs.c + c] = s / (xs.h * xs.w);
          }
        break;
      }
      case OpType::FullyConnected: {
        const Shape xs = in_shape(0);
        const int64_t cin = xs.per_image();
        const auto& x = in(0);
        for (int b = 0; b < ys.n; ++b)
          for (int o = 0; o < ys.c; ++o) {
            double acc = n.bias.empty() ? 0.0 : double(n.bias[size_t(o)]);
            for (int64_t i = 0; i < cin; ++i)
              acc += x[size_t(b * cin + i)] * double(n.weights[size_t(o * cin + i)]);
            y[size_t(b) * ys.c + o] = activate(acc, n.activation);
          }
        break;
      }
      case OpType::Softmax: {
        const auto& x = in(0);
        const int64_t rows = ys.elements() / ys.c;
        for (int64_t r = 0; r < rows; ++r) {
          const double* xr = &x[size_t(r * ys.c)];
          double* yr = &y[size_t(r * ys.c)];
          const double m = *std::max_element(xr, xr + ys.c);
          double s = 0;
          for (int c = 0; c < ys.c; ++c) s += (yr[c] = std::exp(xr[c] - m));
          for (int c = 0; c < ys.c; ++c) yr[c] /= s;
        }
        break;
      }
      case OpType::Reshape:
        y = in(0);
        break;
      case OpType::ChannelAffine: {
        const auto& x = in(0);
        for (size_t i = 0; i < y.size(); ++i) {
          const size_t c = i % size_t(ys.c);
          y[i] = x[i] * double(n.weights[c]) + double(n.bias[c]);
        }
        break;
      }
    }
    // free inputs that nobody needs any more
    for (int src : n.inputs)
      if (last_use[size_t(src)] == id && src != g.output &&
          std::find(keep.begin(), keep.end(), src) == keep.end())
        std::vector<double>().swap(values[size_t(src)]);
  }
  result.output = values[size_t(g.output)];
  for (int k : keep) result.kept[k] = values.at(size_t(k));
  return result;
}

}  // namespace mnv2
