// ONNX writer: the IR as a standard opset-13 ModelProto with an NCHW float input.
// Weights go back to ONNX layouts (OHWI -> OIHW, depthwise [KH][KW][C] -> [C,1,KH,KW]);
// pads are explicit and may be asymmetric; ReLU6 is Clip with initializer bounds.
//
// QDQ form (onnx_qdq_model_bytes, a quantized graph): every activation is a uint8 tensor
// (the IR's uint8 domain: an int8 tensor with zero point z is uint8 with z + 128);
// each float op reads DequantizeLinear of its inputs and its result goes through
// QuantizeLinear, the pattern ONNX Runtime fuses into QLinearConv / QLinearAdd /
// QGemm / QLinearGlobalAveragePool. Weights are int8 (zero point 0) when every value of the
// layer fits, else uint8 with a zero point that makes them fit; per-channel scales
// dequantize along axis 0; biases are int32 in units of input scale * weight scale. Shape
// ops (Transpose, Flatten, Reshape) move the uint8 tensors unchanged.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "formats/half.h"
#include "formats/onnx.h"
#include "formats/pb_wire.h"
#include "kernels/qmath.h"

namespace mnv2 {
namespace {

constexpr int64_t kIrVersion = 7;  // the IR version that goes with opset 13
constexpr int64_t kOpset = 13;

struct OnnxOut {
  std::string op, name;
  std::vector<std::string> inputs, outputs;
  pb::Writer attrs;  // serialised AttributeProto entries (field 5 of NodeProto)
};

void attr_int(pb::Writer& w, const std::string& name, int64_t v) {
  pb::Writer a;
  a.bytes(1, name);
  a.varint(20, 2);  // INT
  a.sint(3, v);
  w.message(5, a);
}

void attr_ints(pb::Writer& w, const std::string& name, const std::vector<int64_t>& v) {
  pb::Writer a;
  a.bytes(1, name);
  a.varint(20, 7);  // INTS
  for (int64_t x : v) a.sint(8, x);
  w.message(5, a);
}


// TensorProto data types.
constexpr int kFloat = 1, kUint8 = 2, kInt8 = 3, kInt32 = 6;

class OnnxWriter {
 public:
  OnnxWriter(const Graph& g, bool fp16, bool qdq) : g_(g), fp16_(fp16), qdq_(qdq) {}
  std::string bytes();

 private:
  const Graph& g_;
  bool fp16_;
  bool qdq_;  // value_ names uint8 tensors; ops run between DequantizeLinear / QuantizeLinear
  std::vector<OnnxOut> nodes_;
  pb::Writer inits_;  // serialised initializers (field 5 of GraphProto)
  std::set<std::string> used_;
  std::vector<std::string> value_;  // ONNX value name per IR node
  std::vector<int> rank_;           // 4 (NCHW) or 2 ([N, C]) per IR node
  std::string clip_min_, clip_max_;

  std::string fresh(const std::string& base) {
    std::string name = base.empty() ? "v" : base;
    for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }
  std::string initializer(const std::string& base, const std::vector<int64_t>& dims,
                          const float* data, size_t count) {
    pb::Writer t;
    for (int64_t d : dims) t.sint(1, d);
    if (fp16_ && count > 1) {
      // FLOAT16 storage, widened back to float by a Cast node.
      const std::string half = fresh(base + "/fp16");
      std::string raw(count * 2, '\0');
      for (size_t i = 0; i < count; ++i) {
        const uint16_t h = float_to_half(data[i]);
        std::memcpy(&raw[2 * i], &h, 2);
      }
      t.varint(2, 10);  // FLOAT16
      t.bytes(8, half);
      t.bytes(9, raw);
      inits_.message(5, t);
      const std::string name = fresh(base);
      attr_int(emit("Cast", name, {half}, name).attrs, "to", 1);
      return name;
    }
    const std::string name = fresh(base);
    t.varint(2, 1);  // FLOAT
    t.bytes(8, name);
    t.bytes(9, std::string_view(reinterpret_cast<const char*>(data), count * 4));
    inits_.message(5, t);
    return name;
  }
  // An initializer of data type `type` whose little-endian bytes are `raw`.
  std::string raw_initializer(const std::string& base, const std::vector<int64_t>& dims, int type,
                              std::string_view raw) {
    const std::string name = fresh(base);
    pb::Writer t;
    for (int64_t d : dims) t.sint(1, d);
    t.varint(2, uint64_t(type));
    t.bytes(8, name);
    t.bytes(9, raw);
    inits_.message(5, t);
    return name;
  }
  template <class T>
  std::string typed_initializer(const std::string& base, const std::vector<int64_t>& dims,
                                int type, const std::vector<T>& v) {
    return raw_initializer(base, dims, type,
                           std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
  }
  std::string int64_initializer(const std::string& base, const std::vector<int64_t>& v) {
    const std::string name = fresh(base);
    pb::Writer t;
    t.sint(1, int64_t(v.size()));
    t.varint(2, 7);  // INT64
    t.bytes(8, name);
    t.bytes(9, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * 8));
    inits_.message(5, t);
    return name;
  }
  OnnxOut& emit(const std::string& op, const std::string& name, std::vector<std::string> in,
                const std::string& out) {
    nodes_.push_back(OnnxOut{op, fresh_node(name), std::move(in), {out}, {}});
    return nodes_.back();
  }
  std::set<std::string> node_names_;
  std::string fresh_node(const std::string& base) {
    std::string name = base;
    for (int k = 1; node_names_.count(name); ++k) name = base + "_" + std::to_string(k);
    node_names_.insert(name);
    return name;
  }

  // [N,C,H,W] value of IR node id (reshaping a 2-D one).
  std::string as4d(int id) {
    if (rank_[size_t(id)] == 4) return value_[size_t(id)];
    const std::string shape = int64_initializer(value_[size_t(id)] + "/shape4d", {0, -1, 1, 1});
    const std::string out = fresh(value_[size_t(id)] + "/4d");
    emit("Reshape", out, {value_[size_t(id)], shape}, out);
    return out;
  }
  // [N, H*W*C] value in NHWC element order (the IR's flatten order).
  std::string flat(int id, const std::string& out_name) {
    const Node& n = g_.node(id);
    if (rank_[size_t(id)] == 2) return value_[size_t(id)];
    std::string x = value_[size_t(id)];
    if (n.shape.h * n.shape.w > 1 && n.shape.c > 1) {
      const std::string t = fresh(x + "/nhwc");
      attr_ints(emit("Transpose", t, {x}, t).attrs, "perm", {0, 2, 3, 1});
      x = t;
    }
    const std::string out = out_name.empty() ? fresh(value_[size_t(id)] + "/flat") : out_name;
    attr_int(emit("Flatten", out, {x}, out).attrs, "axis", 1);
    return out;
  }
  void activation(const Node& n, const std::string& pre, const std::string& out) {
    if (n.activation == Activation::Relu) {
      emit("Relu", n.name + "/relu", {pre}, out);
    } else {
      if (clip_min_.empty()) {
        const float lo = 0.f, hi = 6.f;
        clip_min_ = initializer("relu6_min", {}, &lo, 1);
        clip_max_ = initializer("relu6_max", {}, &hi, 1);
      }
      emit("Clip", n.name + "/relu6", {pre, clip_min_, clip_max_}, out);
    }
  }
  void lower(int id);

  // ---- QDQ form ----
  std::vector<std::string> qscale_, qzp_;  // per IR node: its output's scale / zero point
  void quant_params(int id) {
    const QuantParams& q = g_.node(id).out_q;
    if (!q.valid()) throw Error("ONNX writer: node '" + g_.node(id).name + "' is not quantized");
    qscale_[size_t(id)] = initializer(g_.node(id).name + "/scale", {}, &q.scale, 1);
    qzp_[size_t(id)] = typed_initializer(g_.node(id).name + "/zero_point", {}, kUint8,
                                         std::vector<uint8_t>{uint8_t(q.zero_point)});
  }
  // The float value of uint8 tensor `x` carrying node id's quantization.
  std::string dequant(int id, const std::string& x) {
    const std::string out = fresh(x + "/dq");
    emit("DequantizeLinear", out, {x, qscale_[size_t(id)], qzp_[size_t(id)]}, out);
    return out;
  }
  // value_[id] = QuantizeLinear(f) with node id's quantization.
  void quant(int id, std::string f) {  // by value: f is often value_[id] itself
    value_[size_t(id)] = fresh(g_.node(id).name);
    emit("QuantizeLinear", value_[size_t(id)] + "/q", {f, qscale_[size_t(id)], qzp_[size_t(id)]},
         value_[size_t(id)]);
  }
  // The activation of node n when its output quantization does not already clamp to it
  // (ReLU6 onto a [0, 6] grid saturates in QuantizeLinear, so no op is needed).
  bool activation_needed(const Node& n) const {
    if (n.activation == Activation::None) return false;
    if (!qdq_) return true;
    int32_t lo = 0, hi = 255;
    q::activation_range(n.activation, n.out_q.scale, n.out_q.zero_point, &lo, &hi);
    return lo != 0 || hi != 255;
  }
  // DequantizeLinear of node n's weights (w laid out as dims, ONNX order; qw the integer
  // weights minus zero point in the same order) and bias; returns {weights, bias or ""}.
  std::pair<std::string, std::string> qdq_weights(const Node& n, int in_id,
                                                  const std::vector<int64_t>& dims,
                                                  const std::vector<int16_t>& qw);
};

std::pair<std::string, std::string> OnnxWriter::qdq_weights(const Node& n, int in_id,
                                                            const std::vector<int64_t>& dims,
                                                            const std::vector<int16_t>& qw) {
  const int64_t cout = dims[0];
  const int64_t per = int64_t(qw.size()) / cout;
  const bool per_channel = n.qweight_scales.size() > 1;
  if (!per_channel && n.qweight_scales.size() != 1)
    throw Error("ONNX writer: node '" + n.name + "' has no weight scales");
  const int64_t groups = per_channel ? cout : 1;
  // int8 with zero point 0 when every weight fits; else uint8, each group's zero point
  // lifting its smallest weight to 0.
  const bool fit8 = std::all_of(qw.begin(), qw.end(), [](int16_t v) { return v >= -128 && v <= 127; });
  std::vector<uint8_t> zp(size_t(groups), 0);
  std::vector<uint8_t> raw(qw.size());
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t b = per_channel ? gi * per : 0, e = per_channel ? b + per : int64_t(qw.size());
    int lo = 0, hi = 0;
    for (int64_t i = b; i < e; ++i) lo = std::min<int>(lo, qw[size_t(i)]), hi = std::max<int>(hi, qw[size_t(i)]);
    int z = 0;
    if (!fit8) {
      z = -lo;
      if (hi + z > 255)
        throw Error("ONNX writer: weights of node '" + n.name + "' span more than 8 bits");
      zp[size_t(gi)] = uint8_t(z);
    }
    for (int64_t i = b; i < e; ++i) raw[size_t(i)] = uint8_t(qw[size_t(i)] + z);  // int8: two's complement
  }
  const std::vector<int64_t> sdims = per_channel ? std::vector<int64_t>{cout} : std::vector<int64_t>{};
  const std::string ws = initializer(n.name + "/weight_scale", sdims, n.qweight_scales.data(),
                                     n.qweight_scales.size());
  const int wtype = fit8 ? kInt8 : kUint8;
  const std::string wz = typed_initializer(n.name + "/weight_zero_point", sdims, wtype, zp);
  const std::string wq = typed_initializer(n.name + "/weights_q", dims, wtype, raw);
  const std::string wf = fresh(n.name + "/weights");
  OnnxOut& d = emit("DequantizeLinear", wf, {wq, ws, wz}, wf);
  if (per_channel) attr_int(d.attrs, "axis", 0);
  if (n.qbias.empty()) return {wf, ""};
  // Bias: int32 in units of input scale * weight scale (TFLite's convention, and what
  // QLinearConv expects), zero point 0.
  const float in_scale = g_.node(in_id).out_q.scale;
  std::vector<float> bscale(n.qweight_scales.size());
  for (size_t i = 0; i < bscale.size(); ++i) bscale[i] = in_scale * n.qweight_scales[i];
  const std::string bs = initializer(n.name + "/bias_scale", sdims, bscale.data(), bscale.size());
  const std::string bz = typed_initializer(n.name + "/bias_zero_point", sdims, kInt32,
                                           std::vector<int32_t>(bscale.size(), 0));
  const std::string bq = typed_initializer(n.name + "/bias_q", {cout}, kInt32, n.qbias);
  const std::string bf = fresh(n.name + "/bias");
  OnnxOut& db = emit("DequantizeLinear", bf, {bq, bs, bz}, bf);
  if (per_channel) attr_int(db.attrs, "axis", 0);
  return {wf, bf};
}

void OnnxWriter::lower(int id) {
  const Node& n = g_.node(id);
  auto in = [&](size_t k) { return n.inputs.at(k); };
  std::string& out = value_[size_t(id)];
  int& rank = rank_[size_t(id)];
  switch (n.op) {
    case OpType::Input:
      out = g_.info.input_name;
      rank = 4;
      if (qdq_) quant(id, out);
      return;
    case OpType::Conv2D:
    case OpType::DepthwiseConv2D: {
      const std::string x = as4d(in(0));
      const int cin = g_.node(in(0)).shape.c, cout = n.shape.c, kh = n.kernel_h, kw = n.kernel_w;
      // src[i]: the IR index of ONNX weight element i.
      std::vector<size_t> src(n.weights.size());
      int64_t group;
      std::vector<int64_t> wdims;
      if (n.op == OpType::Conv2D) {
        group = 1;
        wdims = {cout, cin, kh, kw};
        for (int o = 0; o < cout; ++o)
          for (int c = 0; c < cin; ++c)
            for (int y = 0; y < kh; ++y)
              for (int xx = 0; xx < kw; ++xx)
                src[((size_t(o) * cin + c) * kh + y) * kw + xx] = ((size_t(o) * kh + y) * kw + xx) * cin + c;
      } else {
        group = cin;
        wdims = {cout, 1, kh, kw};
        for (int o = 0; o < cout; ++o)
          for (int y = 0; y < kh; ++y)
            for (int xx = 0; xx < kw; ++xx)
              src[(size_t(o) * kh + y) * kw + xx] = (size_t(y) * kw + xx) * cout + o;
      }
      std::vector<std::string> inputs;
      if (qdq_) {
        std::vector<int16_t> qw(src.size());
        for (size_t i = 0; i < src.size(); ++i) qw[i] = n.qweights.at(src[i]);
        const auto [wf, bf] = qdq_weights(n, in(0), wdims, qw);
        inputs = {dequant(in(0), x), wf};
        if (!bf.empty()) inputs.push_back(bf);
      } else {
        std::vector<float> w(src.size());
        for (size_t i = 0; i < src.size(); ++i) w[i] = n.weights[src[i]];
        inputs = {x, initializer(n.name + "/weights", wdims, w.data(), w.size())};
        if (!n.bias.empty())
          inputs.push_back(initializer(n.name + "/bias", {cout}, n.bias.data(), n.bias.size()));
      }
      out = fresh(qdq_ ? n.name + "/f" : n.name);
      const bool act = activation_needed(n);
      const std::string pre = act ? fresh(n.name + "/conv") : out;
      OnnxOut& c = emit("Conv", n.name, inputs, pre);
      attr_ints(c.attrs, "kernel_shape", {kh, kw});
      attr_ints(c.attrs, "strides", {n.stride_h, n.stride_w});
      attr_ints(c.attrs, "pads", {n.pad_top, n.pad_left, n.pad_bottom, n.pad_right});
      attr_ints(c.attrs, "dilations", {1, 1});
      attr_int(c.attrs, "group", group);
      if (act) activation(n, pre, out);
      if (qdq_) quant(id, out);
      rank = 4;
      return;
    }
    case OpType::Add: {
      std::string a = value_[size_t(in(0))], b = value_[size_t(in(1))];
      rank = std::max(rank_[size_t(in(0))], rank_[size_t(in(1))]);
      if (rank == 4) {
        a = as4d(in(0));
        b = as4d(in(1));
      }
      if (qdq_) {
        a = dequant(in(0), a);
        b = dequant(in(1), b);
      }
      out = fresh(qdq_ ? n.name + "/f" : n.name);
      emit("Add", n.name, {a, b}, out);
      if (qdq_) quant(id, out);
      return;
    }
    case OpType::GlobalAvgPool: {
      std::string x = as4d(in(0));
      if (qdq_) x = dequant(in(0), x);
      out = fresh(qdq_ ? n.name + "/f" : n.name);
      emit("GlobalAveragePool", n.name, {x}, out);
      if (qdq_) quant(id, out);
      rank = 4;
      return;
    }
    case OpType::FullyConnected: {
      std::string x = flat(in(0), "");
      std::vector<std::string> inputs;
      const std::vector<int64_t> wdims = {n.out_channels, int64_t(n.weights.size()) / n.out_channels};
      if (qdq_) {
        const auto [wf, bf] = qdq_weights(n, in(0), wdims, n.qweights);
        inputs = {dequant(in(0), x), wf};
        if (!bf.empty()) inputs.push_back(bf);
      } else {
        inputs = {x, initializer(n.name + "/weights", wdims, n.weights.data(), n.weights.size())};
        if (!n.bias.empty())
          inputs.push_back(initializer(n.name + "/bias", {n.out_channels}, n.bias.data(), n.bias.size()));
      }
      out = fresh(qdq_ ? n.name + "/f" : n.name);
      const bool act = activation_needed(n);
      const std::string pre = act ? fresh(n.name + "/gemm") : out;
      OnnxOut& gm = emit("Gemm", n.name, inputs, pre);
      attr_int(gm.attrs, "transB", 1);
      if (act) activation(n, pre, out);
      if (qdq_) quant(id, out);
      rank = 2;
      return;
    }
    case OpType::Softmax: {
      std::string x = value_[size_t(in(0))];
      if (qdq_) x = dequant(in(0), x);
      rank = rank_[size_t(in(0))];
      out = fresh(qdq_ ? n.name + "/f" : n.name);
      attr_int(emit("Softmax", n.name, {x}, out).attrs, "axis", 1);
      if (qdq_) quant(id, out);
      return;
    }
    case OpType::Reshape: {
      if (qdq_ && !(n.out_q == g_.node(in(0)).out_q))
        throw Error("ONNX writer: reshape '" + n.name + "' changes the quantization");
      const Shape& t = n.reshape_to;
      if (t.h == 0 && t.w == 0 && t.c == 0) {
        out = flat(in(0), "");
        if (out == value_[size_t(in(0))]) {  // already 2-D: keep a node so names stay distinct
          const std::string o = fresh(n.name);
          emit("Identity", n.name, {out}, o);
          out = o;
        }
        rank = 2;
        return;
      }
      // NHWC memory reinterpretation: to NHWC, reshape, back to NCHW.
      std::string x = value_[size_t(in(0))];
      if (rank_[size_t(in(0))] == 4) {
        const std::string tr = fresh(n.name + "/nhwc");
        attr_ints(emit("Transpose", tr, {x}, tr).attrs, "perm", {0, 2, 3, 1});
        x = tr;
      }
      const std::string shape = int64_initializer(n.name + "/shape", {0, t.h, t.w, t.c});
      const std::string r = fresh(n.name + "/reshaped");
      emit("Reshape", n.name, {x, shape}, r);
      out = fresh(n.name);
      attr_ints(emit("Transpose", out, {r}, out).attrs, "perm", {0, 3, 1, 2});
      rank = 4;
      return;
    }
    case OpType::ChannelAffine: {
      if (qdq_) throw Error("ONNX writer: node '" + n.name + "' (ChannelAffine) has no QDQ form");
      const std::string x = value_[size_t(in(0))];
      rank = rank_[size_t(in(0))];
      const int64_t c = int64_t(n.weights.size());
      const std::vector<int64_t> dims = rank == 4 ? std::vector<int64_t>{1, c, 1, 1} : std::vector<int64_t>{c};
      const std::string s = initializer(n.name + "/scale", dims, n.weights.data(), n.weights.size());
      const std::string b = initializer(n.name + "/offset", dims, n.bias.data(), n.bias.size());
      const std::string mid = fresh(n.name + "/scaled");
      emit("Mul", n.name + "/mul", {x, s}, mid);
      out = fresh(n.name);
      emit("Add", n.name + "/add", {mid, b}, out);
      return;
    }
    MNV2_UNFOLDED_OP_CASES:
      unfolded_op(n);
  }
  throw Error("ONNX writer: node '" + n.name + "' has an op the writer does not know");
}

void value_info(pb::Writer& graph, uint32_t field, const std::string& name,
                const std::vector<int64_t>& dims) {
  pb::Writer shape;
  for (size_t i = 0; i < dims.size(); ++i) {
    pb::Writer d;
    if (i == 0) d.bytes(2, "batch");  // symbolic batch
    else d.sint(1, dims[i]);
    shape.message(1, d);
  }
  pb::Writer tensor;
  tensor.varint(1, 1);  // FLOAT
  tensor.message(2, shape);
  pb::Writer type;
  type.message(1, tensor);
  pb::Writer vi;
  vi.bytes(1, name);
  vi.message(2, type);
  graph.message(field, vi);
}

std::string OnnxWriter::bytes() {
  const ModelInfo& info = g_.info;
  if (g_.input < 0 || g_.output < 0) throw Error("ONNX writer: graph has no input or output");
  if (info.input_name.empty() || info.output_name.empty() || info.input_name == info.output_name)
    throw Error("ONNX writer: input and output need distinct names");
  used_.insert(info.input_name);
  used_.insert(info.output_name);
  value_.assign(g_.nodes.size(), "");
  rank_.assign(g_.nodes.size(), 0);
  if (qdq_) {
    if (!g_.quantized()) throw Error("ONNX writer: a QDQ model needs a quantized graph");
    qscale_.assign(g_.nodes.size(), "");
    qzp_.assign(g_.nodes.size(), "");
    for (int id = 0; id < int(g_.nodes.size()); ++id) quant_params(id);
  }
  for (int id = 0; id < int(g_.nodes.size()); ++id) lower(id);

  // The output: [N, classes] named as the model's output.
  const int out_id = g_.output;
  std::string final_value;
  if (qdq_) {  // the uint8 result, flattened, dequantized into the float output
    const std::string q = rank_[size_t(out_id)] == 4 ? flat(out_id, "") : value_[size_t(out_id)];
    emit("DequantizeLinear", info.output_name + "/dq",
         {q, qscale_[size_t(out_id)], qzp_[size_t(out_id)]}, info.output_name);
    final_value = info.output_name;
  } else if (rank_[size_t(out_id)] == 4) {
    final_value = flat(out_id, info.output_name);
  } else {
    final_value = value_[size_t(out_id)];
    if (final_value == info.input_name) throw Error("ONNX writer: the output is the input");
    for (OnnxOut& n : nodes_) {  // rename the value everywhere
      for (std::string& s : n.inputs)
        if (s == final_value) s = info.output_name;
      for (std::string& s : n.outputs)
        if (s == final_value) s = info.output_name;
    }
  }

  pb::Writer graph;
  for (const OnnxOut& n : nodes_) {
    pb::Writer node;
    for (const std::string& s : n.inputs) node.bytes(1, s);
    for (const std::string& s : n.outputs) node.bytes(2, s);
    node.bytes(3, n.name);
    node.bytes(4, n.op);
    const std::string& a = n.attrs.str();
    std::string buf = node.str() + a;  // attributes are already field-5 entries
    graph.bytes(1, buf);
  }
  graph.bytes(2, info.name.empty() ? "mnv2" : info.name);
  const std::string& init = inits_.str();
  const Node& in = g_.node(g_.input);
  value_info(graph, 11, info.input_name, {1, in.shape.c, in.shape.h, in.shape.w});
  value_info(graph, 12, info.output_name, {1, g_.node(out_id).shape.per_image()});

  pb::Writer model;
  model.sint(1, kIrVersion);
  model.bytes(2, "mnv2");
  model.bytes(3, "0.1");
  pb::Writer opset;
  opset.bytes(1, "");
  opset.sint(2, kOpset);
  model.message(8, opset);
  // Preprocessing facts the ONNX format has no place for (read back by the loader).
  auto meta = [&](const std::string& k, const std::string& v) {
    pb::Writer e;
    e.bytes(1, k);
    e.bytes(2, v);
    model.message(14, e);
  };
  char buf[64];
  meta("mnv2.channel_order", info.channel_order == ChannelOrder::BGR ? "BGR" : "RGB");
  meta("mnv2.normalization_in_graph", info.normalization_in_graph ? "1" : "0");
  std::snprintf(buf, sizeof buf, "%.9g", double(info.mean));
  meta("mnv2.mean", buf);
  std::snprintf(buf, sizeof buf, "%.9g", double(info.scale));
  meta("mnv2.scale", buf);
  if (info.width_multiplier > 0) {
    std::snprintf(buf, sizeof buf, "%.9g", double(info.width_multiplier));
    meta("mnv2.width_multiplier", buf);
  }
  // The graph goes last so that any truncated file lacks part of it (and fails to load).
  std::string out = model.str();
  pb::Writer tail;
  tail.bytes(7, graph.str() + init);  // initializers are already field-5 entries
  return out + tail.str();
}

}  // namespace

std::string onnx_model_bytes(const Graph& graph, bool fp16) {
  Graph g = graph;
  g.infer_shapes(1);
  return OnnxWriter(g, fp16, false).bytes();
}

std::string onnx_qdq_model_bytes(const Graph& graph) {
  Graph g = graph;
  g.infer_shapes(1);
  return OnnxWriter(g, false, true).bytes();
}

void save_onnx(const Graph& g, const std::string& path, bool fp16) {
  const std::string bytes = onnx_model_bytes(g, fp16);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error("cannot write '" + path + "'");
  f.write(bytes.data(), std::streamsize(bytes.size()));
  f.close();
  if (!f) throw Error("error writing '" + path + "'");
}

}  // namespace mnv2
