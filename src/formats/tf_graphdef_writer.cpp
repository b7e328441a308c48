// TF frozen GraphDef writer: emits the IR as a TF1-style frozen graph in TF-slim's
// dialect (Const weights + /read Identity, Conv2D / DepthwiseConv2dNative with SAME
// padding, BiasAdd or FusedBatchNorm, Relu6, AddV2, AvgPool, Squeeze, the
// Predictions Reshape/Softmax/Shape/Reshape_1 block).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "formats/pb_wire.h"
#include "formats/tf_graphdef.h"

namespace mnv2 {
namespace {

enum : int64_t { kDtFloat = 1, kDtInt32 = 3 };

// splitmix64, for reproducible BatchNorm statistics.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x1234567ull) {}
  double uniform(double lo, double hi) {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * double(z >> 11) / 9007199254740992.0;
  }

 private:
  uint64_t s_;
};

// AttrValue builders (attr_value.proto field numbers).
pb::Writer attr_s(const std::string& s) {
  pb::Writer w;
  w.bytes(2, s);
  return w;
}
pb::Writer attr_f(float v) {
  pb::Writer w;
  w.f32(4, v);
  return w;
}
pb::Writer attr_b(bool v) {
  pb::Writer w;
  w.varint(5, v ? 1 : 0);
  return w;
}
pb::Writer attr_type(int64_t t) {
  pb::Writer w;
  w.varint(6, uint64_t(t));
  return w;
}
pb::Writer attr_ints(const std::vector<int64_t>& v) {
  pb::Writer list;
  if (!v.empty()) list.packed_varints(3, v);
  pb::Writer w;
  w.message(1, list);
  return w;
}
pb::Writer shape_proto(const std::vector<int64_t>& dims) {
  pb::Writer s;
  for (int64_t d : dims) {
    pb::Writer dim;
    dim.sint(1, d);
    s.message(2, dim);
  }
  return s;
}
pb::Writer attr_shape(const std::vector<int64_t>& dims) {
  pb::Writer w;
  w.message(7, shape_proto(dims));
  return w;
}

class GraphDefWriter {
 public:
  GraphDefWriter(const Graph& g, const GraphDefWriteOptions& o) : g_(g), o_(o), rng_(o.seed) {}

  std::string write() {
    if (g_.input < 0 || g_.output < 0) throw Error("save_graphdef: graph has no input/output");
    // The conv that produces the logits keeps a plain BiasAdd, as in TF-slim.
    logits_conv_ = g_.logits;
    while (logits_conv_ >= 0 && g_.node(logits_conv_).op == OpType::Reshape)
      logits_conv_ = g_.node(logits_conv_).inputs.at(0);
    tf_.assign(g_.nodes.size(), "");
    rank_.assign(g_.nodes.size(), 4);
    for (int id = 0; id < int(g_.nodes.size()); ++id) emit(id);
    if (o_.reverse_node_order) std::reverse(nodes_.begin(), nodes_.end());
    for (const pb::Writer& n : nodes_) out_.message(1, n);
    pb::Writer versions;
    versions.varint(1, 134);  // producer
    out_.message(4, versions);
    return out_.str();
  }

 private:
  using Attrs = std::map<std::string, pb::Writer>;

  void node(const std::string& name, const std::string& op, const std::vector<std::string>& in,
            const Attrs& attrs) {
    pb::Writer n;
    n.bytes(1, name);
    n.bytes(2, op);
    for (const std::string& s : in) n.bytes(3, s);
    for (const auto& [k, v] : attrs) {
      pb::Writer e;
      e.bytes(1, k);
      e.message(2, v);
      n.message(5, e);
    }
    nodes_.push_back(std::move(n));
  }

  std::string const_float(const std::string& name, const std::vector<int64_t>& dims,
                          const std::vector<float>& v, bool with_read) {
    pb::Writer t;
    t.varint(1, kDtFloat);
    t.message(2, shape_proto(dims));
    t.bytes(4, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    pb::Writer val;
    val.message(8, t);
    node(name, "Const", {}, {{"dtype", attr_type(kDtFloat)}, {"value", val}});
    if (!with_read) return name;
    // freeze_graph keeps the variables' /read Identity nodes.
    node(name + "/read", "Identity", {name}, {{"T", attr_type(kDtFloat)}, {"_class", colocate(name)}});
    return name + "/read";
  }
  static pb::Writer colocate(const std::string& name) {
    pb::Writer list;
    list.bytes(2, "loc:@" + name);
    pb::Writer w;
    w.message(1, list);
    return w;
  }
  std::string const_int(const std::string& name, const std::vector<int64_t>& dims,
                        const std::vector<int64_t>& v) {
    pb::Writer t;
    t.varint(1, kDtInt32);
    t.message(2, shape_proto(dims));
    std::string raw;
    for (int64_t x : v) {
      const int32_t y = int32_t(x);
      raw.append(reinterpret_cast<const char*>(&y), 4);
    }
    t.bytes(4, raw);
    pb::Writer val;
    val.message(8, t);
    node(name, "Const", {}, {{"dtype", attr_type(kDtInt32)}, {"value", val}});
    return name;
  }

  void emit(int id) {
    const Node& n = g_.node(id);
    const pb::Writer T = attr_type(kDtFloat);
    auto in = [&](size_t k) {
      const int src = n.inputs.at(k);
      if (tf_[size_t(src)].empty()) throw Error("save_graphdef: node '" + n.name + "' input unset");
      return tf_[size_t(src)];
    };
    switch (n.op) {
      MNV2_UNFOLDED_OP_CASES:
        unfolded_op(n);
      case OpType::Input: {
        node(n.name, "Placeholder", {},
             {{"dtype", T},
              {"shape", attr_shape({1, g_.info.height, g_.info.width, g_.info.channels})}});
        tf_[size_t(id)] = n.name;
        return;
      }
      case OpType::Conv2D:
      case OpType::DepthwiseConv2D:
      case OpType::FullyConnected:
        emit_conv(id);
        return;
      case OpType::Add: {
        node(n.name, "AddV2", {in(0), in(1)}, {{"T", T}});
        tf_[size_t(id)] = n.name;
        rank_[size_t(id)] = rank_[size_t(n.inputs[0])];
        return;
      }
      case OpType::GlobalAvgPool: {
        const Shape x = g_.node(n.inputs[0]).shape;
        if (o_.mean_pool) {
          const std::string axes = const_int(n.name + "/reduction_indices", {2}, {1, 2});
          node(n.name, "Mean", {in(0), axes},
               {{"T", T}, {"Tidx", attr_type(kDtInt32)}, {"keep_dims", attr_b(true)}});
        } else {
          node(n.name, "AvgPool", {in(0)},
               {{"T", T},
                {"data_format", attr_s("NHWC")},
                {"ksize", attr_ints({1, x.h, x.w, 1})},
                {"padding", attr_s("VALID")},
                {"strides", attr_ints({1, 2, 2, 1})}});
        }
        tf_[size_t(id)] = n.name;
        return;
      }
      case OpType::Reshape: {
        const Shape x = g_.node(n.inputs[0]).shape;
        const bool flatten = n.reshape_to.h == 0 && n.reshape_to.w == 0 && n.reshape_to.c == 0;
        if (flatten && x.h == 1 && x.w == 1 && rank_[size_t(n.inputs[0])] == 4) {
          node(n.name, "Squeeze", {in(0)}, {{"T", T}, {"squeeze_dims", attr_ints({1, 2})}});
          rank_[size_t(id)] = 2;
          const std::string suffix = "/Squeeze";
          if (id == g_.logits && n.name.size() > suffix.size() &&
              n.name.compare(n.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            // TF-slim names the logits with an Identity: <scope>/Logits/output.
            const std::string named = n.name.substr(0, n.name.size() - suffix.size()) + "/output";
            node(named, "Identity", {n.name}, {{"T", T}});
            tf_[size_t(id)] = named;
            return;
          }
        } else {
          std::vector<int64_t> dims = flatten ? std::vector<int64_t>{-1, x.per_image()}
                                              : std::vector<int64_t>{-1, n.reshape_to.h,
                                                                     n.reshape_to.w, n.reshape_to.c};
          const std::string shape = const_int(n.name + "/shape", {int64_t(dims.size())}, dims);
          node(n.name, "Reshape", {in(0), shape}, {{"T", T}, {"Tshape", attr_type(kDtInt32)}});
          rank_[size_t(id)] = int(dims.size());
        }
        tf_[size_t(id)] = n.name;
        return;
      }
      case OpType::Softmax: {
        const Shape x = g_.node(n.inputs[0]).shape;
        const std::string suffix = "/Reshape_1";
        const bool slim = n.name.size() > suffix.size() &&
                          n.name.compare(n.name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                          rank_[size_t(n.inputs[0])] == 2;
        if (slim) {
          // TF-slim's softmax: reshape to 2-D, softmax, reshape back to the logits' shape.
          const std::string p = n.name.substr(0, n.name.size() - suffix.size());
          const std::string shape = const_int(p + "/Reshape/shape", {2}, {-1, x.c});
          node(p + "/Reshape", "Reshape", {in(0), shape}, {{"T", T}, {"Tshape", attr_type(kDtInt32)}});
          node(p + "/Softmax", "Softmax", {p + "/Reshape"}, {{"T", T}});
          node(p + "/Shape", "Shape", {in(0)}, {{"T", T}, {"out_type", attr_type(kDtInt32)}});
          node(n.name, "Reshape", {p + "/Softmax", p + "/Shape"},
               {{"T", T}, {"Tshape", attr_type(kDtInt32)}});
        } else {
          node(n.name, "Softmax", {in(0)}, {{"T", T}});
        }
        tf_[size_t(id)] = n.name;
        rank_[size_t(id)] = rank_[size_t(n.inputs[0])];
        return;
      }
      case OpType::ChannelAffine: {
        const int c = int(n.weights.size());
        const std::string w = const_float(n.name + "/mul/y", {c}, n.weights, false);
        node(n.name + "/mul", "Mul", {in(0), w}, {{"T", T}});
        const std::string b = const_float(n.name + "/add/y", {c}, n.bias, false);
        node(n.name, "AddV2", {n.name + "/mul", b}, {{"T", T}});
        tf_[size_t(id)] = n.name;
        return;
      }
    }
    throw Error("save_graphdef: cannot express node '" + n.name + "'");
  }

  void emit_conv(int id) {
    const Node& n = g_.node(id);
    const pb::Writer T = attr_type(kDtFloat);
    const int src = n.inputs.at(0);
    const Shape x = g_.node(src).shape;
    if (rank_[size_t(src)] != 4)
      throw Error("save_graphdef: '" + n.name + "' reads a 2-D value; not expressible");
    std::string input = tf_[size_t(src)];
    const bool dw = n.op == OpType::DepthwiseConv2D;
    const bool fc = n.op == OpType::FullyConnected;
    if (fc && (x.h != 1 || x.w != 1))
      throw Error("save_graphdef: fully-connected '" + n.name + "' on a spatial input");
    const int kh = fc ? 1 : n.kernel_h, kw = fc ? 1 : n.kernel_w;
    const int sh = fc ? 1 : n.stride_h, sw = fc ? 1 : n.stride_w;
    const int cin = x.c, cout = n.shape.c;

    // Padding: SAME when the IR's pads are TF's SAME, else an explicit Pad + VALID.
    std::string padding = "VALID";
    if (!fc) {
      int o, a, b, c, d;
      same_padding(x.h, kh, sh, &o, &a, &b);
      same_padding(x.w, kw, sw, &o, &c, &d);
      if (a == n.pad_top && b == n.pad_bottom && c == n.pad_left && d == n.pad_right) {
        padding = "SAME";
      } else if (n.pad_top || n.pad_bottom || n.pad_left || n.pad_right) {
        const std::string pads =
            const_int(n.name + "/Pad/paddings", {4, 2},
                      {0, 0, n.pad_top, n.pad_bottom, n.pad_left, n.pad_right, 0, 0});
        node(n.name + "/Pad", "Pad", {input, pads}, {{"T", T}, {"Tpaddings", attr_type(kDtInt32)}});
        input = n.name + "/Pad";
      }
    }

    // Optional BatchNorm unfolding: conv weights scaled by 1/s per output channel, and
    // BN(x) = s * (x - mean) + beta with s = gamma / sqrt(var + eps), beta = bias + s * mean.
    const bool bn = o_.unfold_batchnorm && id != logits_conv_;
    std::vector<float> weights = n.weights;
    std::vector<float> gamma, beta, mean, var;
    if (bn) {
      gamma.resize(size_t(cout));
      beta.resize(size_t(cout));
      mean.resize(size_t(cout));
      var.resize(size_t(cout));
      std::vector<double> s(static_cast<size_t>(cout));
      for (int c = 0; c < cout; ++c) {
        // Random variance and mean; gamma makes the folded scale s a power of two (1/2, 1
        // or 2, times one float rounding), so that dividing the weights by s here and
        // multiplying them back in a reader loses (almost) nothing, and |s * mean| <= 1
        // keeps beta = bias + s * mean from cancelling bits: round trips stay within 1e-6.
        var[size_t(c)] = float(rng_.uniform(0.02, 3.0));
        mean[size_t(c)] = float(rng_.uniform(-0.5, 0.5));
        const double p2 = std::ldexp(1.0, int(std::floor(rng_.uniform(-1.0, 1.999))));
        gamma[size_t(c)] =
            float(p2 * std::sqrt(double(var[size_t(c)]) + double(o_.epsilon)));
        s[size_t(c)] = double(gamma[size_t(c)]) / std::sqrt(double(var[size_t(c)]) + double(o_.epsilon));
        const double b = n.bias.empty() ? 0.0 : double(n.bias[size_t(c)]);
        beta[size_t(c)] = float(b + s[size_t(c)] * double(mean[size_t(c)]));
      }
      const size_t per = weights.size() / size_t(cout);
      for (size_t k = 0; k < weights.size(); ++k) {
        const size_t c = dw ? k % size_t(cout) : k / per;
        weights[k] = float(double(weights[k]) / s[c]);
      }
    }

    std::string out;
    if (dw) {
      const std::string w = const_float(n.name + "/depthwise_weights",
                                        {kh, kw, cin, n.depth_multiplier}, weights, true);
      out = n.name + "/depthwise";
      node(out, "DepthwiseConv2dNative", {input, w},
           {{"T", T},
            {"data_format", attr_s("NHWC")},
            {"dilations", attr_ints({1, 1, 1, 1})},
            {"padding", attr_s(padding)},
            {"strides", attr_ints({1, sh, sw, 1})}});
    } else {
      // [Cout][KH][KW][Cin] -> HWIO
      std::vector<float> hwio(weights.size());
      for (int o = 0; o < cout; ++o)
        for (int y = 0; y < kh; ++y)
          for (int z = 0; z < kw; ++z)
            for (int i = 0; i < cin; ++i)
              hwio[size_t(((y * kw + z) * cin + i) * cout + o)] =
                  weights[size_t(((o * kh + y) * kw + z) * cin + i)];
      const std::string w = const_float(n.name + "/weights", {kh, kw, cin, cout}, hwio, true);
      out = n.name + "/Conv2D";
      node(out, "Conv2D", {input, w},
           {{"T", T},
            {"data_format", attr_s("NHWC")},
            {"dilations", attr_ints({1, 1, 1, 1})},
            {"explicit_paddings", attr_ints({})},
            {"padding", attr_s(padding)},
            {"strides", attr_ints({1, sh, sw, 1})},
            {"use_cudnn_on_gpu", attr_b(true)}});
    }
    if (bn) {
      const std::string p = n.name + "/BatchNorm/";
      const std::string ga = const_float(p + "gamma", {cout}, gamma, true);
      const std::string be = const_float(p + "beta", {cout}, beta, true);
      const std::string me = const_float(p + "moving_mean", {cout}, mean, true);
      const std::string va = const_float(p + "moving_variance", {cout}, var, true);
      Attrs a = {{"T", T},
                 {"data_format", attr_s("NHWC")},
                 {"epsilon", attr_f(o_.epsilon)},
                 {"is_training", attr_b(false)}};
      std::string op = "FusedBatchNorm";
      if (o_.batchnorm_v3) {
        op = "FusedBatchNormV3";
        a.emplace("U", attr_type(kDtFloat));
        a.emplace("exponential_avg_factor", attr_f(1.f));
      }
      node(p + op, op, {out, ga, be, me, va}, a);
      out = p + op;
    } else if (!n.bias.empty()) {
      const std::string b = const_float(n.name + "/biases", {cout}, n.bias, true);
      node(n.name + "/BiasAdd", "BiasAdd", {out, b}, {{"T", T}, {"data_format", attr_s("NHWC")}});
      out = n.name + "/BiasAdd";
    }
    if (n.activation != Activation::None) {
      const std::string op = n.activation == Activation::Relu6 ? "Relu6" : "Relu";
      node(n.name + "/" + op, op, {out}, {{"T", T}});
      out = n.name + "/" + op;
    }
    tf_[size_t(id)] = out;
  }

  const Graph& g_;
  GraphDefWriteOptions o_;
  Rng rng_;
  pb::Writer out_;
  std::vector<pb::Writer> nodes_;
  std::vector<std::string> tf_;  // TF tensor name of each IR node's value
  std::vector<int> rank_;        // its TF rank
  int logits_conv_ = -1;
};

}  // namespace

std::string graphdef_bytes(const Graph& g, const GraphDefWriteOptions& options) {
  return GraphDefWriter(g, options).write();
}

void save_graphdef(const Graph& g, const std::string& path, const GraphDefWriteOptions& options) {
  const std::string bytes = graphdef_bytes(g, options);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error("cannot create '" + path + "'");
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) throw Error("write error on '" + path + "'");
}

void save_graphdef(const Graph& g, const std::string& path, bool unfold_batchnorm) {
  GraphDefWriteOptions o;
  o.unfold_batchnorm = unfold_batchnorm;
  save_graphdef(g, path, o);
}

}  // namespace mnv2
