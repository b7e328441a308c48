// TFLite writer: serialises the IR as a float32 TFLite model (schema version 3), optionally
// with float16 weights each followed by a DEQUANTIZE op (TFLite's fp16 quantization scheme),
// or, for a graph carrying the integer view, as a full-integer int8 model: float32 input ->
// QUANTIZE -> int8 operators (per-channel int8 weights, int32 biases) -> DEQUANTIZE ->
// float32 output, as TFLite's post-training integer quantization lays it out.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "formats/half.h"
#include "formats/flatbuf.h"
#include "formats/tflite.h"
#include "formats/tflite_schema.h"

namespace mnv2 {
namespace {

using namespace tfl;

// float16 storage for a weight; refuses values that do not fit instead of storing infinity.
uint16_t to_half_checked(float f, const std::string& what) {
  if (!(std::fabs(f) < 65520.f))  // rounds above 65504 (the largest half), or NaN
    throw Error("cannot store " + what + " as float16: value " + std::to_string(f) +
                " is outside the float16 range");
  return float_to_half(f);
}

struct TensorDef {
  std::vector<int32_t> shape;
  int type = kFloat32;
  uint32_t buffer = 0;
  std::string name;
  // QuantizationParameters (written when scale is non-empty).
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int qdim = 0;
};

struct Options {
  int type = 0;  // BuiltinOptions union type, 0 = none
  int padding = kPaddingSame, stride_w = 1, stride_h = 1, act = kActNone;
  int depth_multiplier = 1, filter_w = 0, filter_h = 0;
  float beta = 1.f;
  std::vector<int32_t> new_shape;
};

struct OpDef {
  int code = 0;
  std::vector<int32_t> inputs, outputs;
  Options opt;
};

class Writer {
 public:
  Writer(const Graph& g, const TfliteWriteOptions& o) : g_(g), o_(o) {
    buffers_.emplace_back();  // buffer 0: the empty sentinel
  }
  std::vector<uint8_t> run();

 private:
  int add_tensor(std::vector<int32_t> shape, const std::string& name, int type = kFloat32,
                 uint32_t buffer = 0) {
    TensorDef t;
    t.shape = std::move(shape);
    t.type = type;
    t.buffer = buffer;
    t.name = name;
    tensors_.push_back(std::move(t));
    return int(tensors_.size()) - 1;
  }
  // A float constant; with fp16 a float16 tensor plus a DEQUANTIZE into a float32 one.
  int add_const(const std::vector<float>& v, std::vector<int32_t> shape, const std::string& name);
  int add_int_const(const std::vector<int32_t>& v, std::vector<int32_t> shape,
                    const std::string& name);
  // int8 mode: the activation tensor of node n (int8 with n.out_q), or float32 otherwise.
  int value_tensor(std::vector<int32_t> shape, const std::string& name, const Node& n) {
    const int t = add_tensor(std::move(shape), name, o_.int8 ? kInt8 : kFloat32);
    if (o_.int8) set_quant(t, n.out_q);
    return t;
  }
  // A tensor like t (same type and quantization) with another shape and name.
  int like_tensor(int t, std::vector<int32_t> shape, const std::string& name) {
    TensorDef d = tensors_[size_t(t)];
    d.shape = std::move(shape);
    d.name = name;
    d.buffer = 0;
    tensors_.push_back(std::move(d));
    return int(tensors_.size()) - 1;
  }
  void set_quant(int t, const QuantParams& q) {
    tensors_[size_t(t)].scale = {q.scale};
    tensors_[size_t(t)].zero_point = {int64_t(q.zero_point) - 128};
  }
  // int8 weights of n with their per-channel (or per-tensor) scales along `qdim`.
  int add_q8_weights(const Node& n, std::vector<int32_t> shape, int qdim, const std::string& name);
  // int32 bias of n in units of input_scale * weight_scale[c].
  int add_q32_bias(const Node& n, float input_scale, const std::string& name);
  // Ensures tensor t is rank 4 (a [1,C] value feeding a 4-D op is reshaped to [1,1,1,C]).
  int rank4(int t, const Shape& s, const std::string& name);
  int op_version(int code) const;
  void add_op(int code, std::vector<int32_t> in, std::vector<int32_t> out, Options opt = {}) {
    ops_.push_back({code, std::move(in), std::move(out), std::move(opt)});
  }
  static int act_code(Activation a) {
    switch (a) {
      case Activation::None: return kActNone;
      case Activation::Relu: return kActRelu;
      case Activation::Relu6: return kActRelu6;
    }
    return kActNone;
  }
  std::vector<int32_t> out_shape(const Node& n, int rank) const {
    if (rank == 2) return {1, n.shape.c * n.shape.h * n.shape.w};
    return {1, n.shape.h, n.shape.w, n.shape.c};
  }
  std::string info_text() const;
  std::vector<uint8_t> serialize();

  const Graph& g_;
  TfliteWriteOptions o_;
  std::vector<TensorDef> tensors_;
  std::vector<std::vector<uint8_t>> buffers_;
  std::vector<OpDef> ops_;
  std::vector<int> tensor_of_, rank_of_;
  int input_tensor_ = -1, output_tensor_ = -1;
};

int Writer::add_const(const std::vector<float>& v, std::vector<int32_t> shape,
                      const std::string& name) {
  std::vector<uint8_t> bytes;
  if (o_.fp16) {
    bytes.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t h = to_half_checked(v[i], "'" + name + "'");
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  } else {
    bytes.resize(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
  }
  buffers_.push_back(std::move(bytes));
  const uint32_t b = uint32_t(buffers_.size() - 1);
  if (!o_.fp16) return add_tensor(std::move(shape), name, kFloat32, b);
  const int h = add_tensor(shape, name, kFloat16, b);
  const int f = add_tensor(std::move(shape), name + "_dequantize", kFloat32, 0);
  add_op(kOpDequantize, {h}, {f});
  return f;
}

int Writer::add_int_const(const std::vector<int32_t>& v, std::vector<int32_t> shape,
                          const std::string& name) {
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  buffers_.push_back(std::move(bytes));
  return add_tensor(std::move(shape), name, kInt32, uint32_t(buffers_.size() - 1));
}

int Writer::add_q8_weights(const Node& n, std::vector<int32_t> shape, int qdim,
                           const std::string& name) {
  if (n.qweights.size() != n.weights.size() || n.qweight_scales.empty())
    throw Error("cannot write node '" + n.name + "' as int8: its weights are not quantized");
  std::vector<uint8_t> bytes(n.qweights.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int16_t q = n.qweights[i];
    if (q < -127 || q > 127)
      throw Error("cannot write node '" + n.name + "' as int8: weight " + std::to_string(i) +
                  " = " + std::to_string(q) + " is outside [-127, 127] (not symmetric int8)");
    bytes[i] = uint8_t(int8_t(q));
  }
  buffers_.push_back(std::move(bytes));
  const int t = add_tensor(std::move(shape), name, kInt8, uint32_t(buffers_.size() - 1));
  TensorDef& d = tensors_[size_t(t)];
  d.scale = n.qweight_scales;
  d.zero_point.assign(d.scale.size(), 0);
  if (d.scale.size() > 1) {
    if (int64_t(d.scale.size()) != d.shape[size_t(qdim)])
      throw Error("cannot write node '" + n.name + "' as int8: " +
                  std::to_string(d.scale.size()) + " weight scales for " +
                  std::to_string(d.shape[size_t(qdim)]) + " channels");
    d.qdim = qdim;
  }
  return t;
}

int Writer::add_q32_bias(const Node& n, float input_scale, const std::string& name) {
  if (n.qbias.size() != n.bias.size())
    throw Error("cannot write node '" + n.name + "' as int8: its bias is not quantized");
  const int t = add_int_const(n.qbias, {int32_t(n.qbias.size())}, name);
  TensorDef& d = tensors_[size_t(t)];
  for (size_t c = 0; c < n.qbias.size(); ++c)
    d.scale.push_back(input_scale * n.qweight_scales[n.qweight_scales.size() == 1 ? 0 : c]);
  d.zero_point.assign(d.scale.size(), 0);
  if (n.qweight_scales.size() == 1) {  // per-tensor weights: one bias scale
    d.scale.resize(1);
    d.zero_point.resize(1);
  }
  return t;
}

// Operator versions TFLite's builtin resolver registers for the tensor types written.
int Writer::op_version(int code) const {
  if (!o_.int8) return code == kOpDequantize && o_.fp16 ? 3 : 1;
  switch (code) {
    case kOpConv2D: case kOpDepthwiseConv2D: return 3;
    case kOpFullyConnected: return 4;
    case kOpAdd: case kOpAveragePool2D: case kOpSoftmax: case kOpPad: case kOpQuantize:
    case kOpDequantize: return 2;
    default: return 1;
  }
}

int Writer::rank4(int t, const Shape& s, const std::string& name) {
  if (tensors_[size_t(t)].shape.size() == 4) return t;
  const std::vector<int32_t> shape{1, s.h, s.w, s.c};
  const int sh = add_int_const(shape, {4}, name + "/to4d_shape");
  const int r = like_tensor(t, shape, name + "/to4d");
  Options opt;
  opt.type = kOptReshape;
  opt.new_shape = shape;
  add_op(kOpReshape, {t, sh}, {r}, opt);
  return r;
}

std::string Writer::info_text() const {
  const ModelInfo& i = g_.info;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "mean=%.9g\nscale=%.9g\nchannel_order=%s\nnormalization_in_graph=%d\n"
                "has_background=%d\nwidth_multiplier=%.9g\n",
                double(i.mean), double(i.scale), i.channel_order == ChannelOrder::RGB ? "RGB" : "BGR",
                int(i.normalization_in_graph), int(i.has_background), double(i.width_multiplier));
  std::string name = i.name;
  for (char& c : name)
    if (c == '\n' || c == '\r') c = ' ';
  return "format=mnv2-tflite-1\nname=" + name + "\n" + buf + (o_.int8 ? "quantized=1\n" : "");
}

std::vector<uint8_t> Writer::run() {
  Graph g = g_;  // shapes for batch 1 (the caller's graph may have been used with a batch)
  g.infer_shapes(1);
  if (g.input < 0 || g.output < 0) throw Error("cannot write a graph without input/output");
  if (o_.int8 && o_.fp16) throw Error("cannot write a model as both int8 and float16");
  if (o_.int8 && !g.quantized())
    throw Error("cannot write an int8 TFLite model from a graph without quantization parameters "
                "(run `mnv2 quantize` to make one)");
  tensor_of_.assign(g.nodes.size(), -1);
  rank_of_.assign(g.nodes.size(), 4);
  for (int id = 0; id < int(g.nodes.size()); ++id) {
    const Node& n = g.nodes[size_t(id)];
    const std::string name = id == g.output ? g.info.output_name
                             : id == g.input ? g.info.input_name
                                             : n.name;
    auto in = [&](size_t k) { return tensor_of_[size_t(n.inputs[k])]; };
    auto in_shape = [&](size_t k) { return g.node(n.inputs[k]).shape; };
    auto in_q = [&](size_t k) { return g.node(n.inputs[k]).out_q; };
    int t = -1;
    switch (n.op) {
      MNV2_UNFOLDED_OP_CASES:
        unfolded_op(n);
      case OpType::Input:
        t = add_tensor({1, n.shape.h, n.shape.w, n.shape.c}, name);
        input_tensor_ = t;
        if (o_.int8) {  // float32 in, QUANTIZE to the int8 input grid
          t = value_tensor({1, n.shape.h, n.shape.w, n.shape.c}, name + "_int8", n);
          add_op(kOpQuantize, {input_tensor_}, {t});
        }
        break;
      case OpType::Conv2D:
      case OpType::DepthwiseConv2D: {
        const bool dw = n.op == OpType::DepthwiseConv2D;
        const Shape xs = in_shape(0);
        int x = rank4(in(0), xs, name);
        Options opt;
        opt.type = dw ? kOptDepthwiseConv2D : kOptConv2D;
        opt.stride_h = n.stride_h, opt.stride_w = n.stride_w;
        opt.act = act_code(n.activation);
        opt.depth_multiplier = n.depth_multiplier;
        int oh, ow, st, sb, sl, sr;
        same_padding(xs.h, n.kernel_h, n.stride_h, &oh, &st, &sb);
        same_padding(xs.w, n.kernel_w, n.stride_w, &ow, &sl, &sr);
        if (n.pad_top == st && n.pad_bottom == sb && n.pad_left == sl && n.pad_right == sr) {
          opt.padding = kPaddingSame;
        } else if (!n.pad_top && !n.pad_bottom && !n.pad_left && !n.pad_right) {
          opt.padding = kPaddingValid;
        } else {
          // Not expressible as SAME/VALID (e.g. symmetric pads from ONNX): explicit PAD.
          const std::vector<int32_t> p{0, 0, n.pad_top, n.pad_bottom, n.pad_left, n.pad_right,
                                       0, 0};
          const int pt = add_int_const(p, {4, 2}, name + "/paddings");
          const int padded = like_tensor(x, {1, xs.h + n.pad_top + n.pad_bottom,
                                             xs.w + n.pad_left + n.pad_right, xs.c},
                                         name + "/pad");
          Options po;
          po.type = kOptPad;
          add_op(kOpPad, {x, pt}, {padded}, po);
          x = padded;
          opt.padding = kPaddingValid;
        }
        const int cout = n.shape.c;
        const std::vector<int32_t> wshape =
            dw ? std::vector<int32_t>{1, n.kernel_h, n.kernel_w, cout}
               : std::vector<int32_t>{cout, n.kernel_h, n.kernel_w, xs.c};
        const int w = o_.int8 ? add_q8_weights(n, wshape, dw ? 3 : 0, name + "/weights")
                              : add_const(n.weights, wshape, name + "/weights");
        std::vector<int32_t> ins{x, w};
        if (!n.bias.empty())
          ins.push_back(o_.int8 ? add_q32_bias(n, in_q(0).scale, name + "/bias")
                                : add_const(n.bias, {cout}, name + "/bias"));
        t = value_tensor(out_shape(n, 4), name, n);
        add_op(dw ? kOpDepthwiseConv2D : kOpConv2D, ins, {t}, opt);
        break;
      }
      case OpType::FullyConnected: {
        const Shape xs = in_shape(0);
        Options opt;
        opt.type = kOptFullyConnected;
        opt.act = act_code(n.activation);
        const std::vector<int32_t> wshape{n.out_channels, int32_t(xs.per_image())};
        const int w = o_.int8 ? add_q8_weights(n, wshape, 0, name + "/weights")
                              : add_const(n.weights, wshape, name + "/weights");
        std::vector<int32_t> ins{in(0), w};
        if (!n.bias.empty())
          ins.push_back(o_.int8 ? add_q32_bias(n, in_q(0).scale, name + "/bias")
                                : add_const(n.bias, {n.out_channels}, name + "/bias"));
        t = value_tensor(out_shape(n, 2), name, n);
        rank_of_[size_t(id)] = 2;
        add_op(kOpFullyConnected, ins, {t}, opt);
        break;
      }
      case OpType::Add: {
        if (n.activation != Activation::None)
          throw Error("cannot write node '" + n.name + "': Add with a fused activation");
        int a = in(0), b = in(1);
        if (tensors_[size_t(a)].shape.size() != tensors_[size_t(b)].shape.size()) {
          a = rank4(a, in_shape(0), name + "/a");
          b = rank4(b, in_shape(1), name + "/b");
        }
        Options opt;
        opt.type = kOptAdd;
        t = value_tensor(tensors_[size_t(a)].shape, name, n);
        rank_of_[size_t(id)] = int(tensors_[size_t(a)].shape.size());
        add_op(kOpAdd, {a, b}, {t}, opt);
        break;
      }
      case OpType::GlobalAvgPool: {
        const Shape xs = in_shape(0);
        const int x = rank4(in(0), xs, name);
        Options opt;
        opt.type = kOptPool2D;
        opt.padding = kPaddingValid;
        opt.filter_h = xs.h, opt.filter_w = xs.w;
        t = value_tensor(out_shape(n, 4), name, n);
        add_op(kOpAveragePool2D, {x}, {t}, opt);
        break;
      }
      case OpType::Softmax: {
        Options opt;
        opt.type = kOptSoftmax;
        opt.beta = 1.f;
        t = value_tensor(tensors_[size_t(in(0))].shape, name, n);
        rank_of_[size_t(id)] = rank_of_[size_t(n.inputs[0])];
        add_op(kOpSoftmax, {in(0)}, {t}, opt);
        break;
      }
      case OpType::Reshape: {
        const bool flat = n.reshape_to.h == 0 && n.reshape_to.w == 0 && n.reshape_to.c == 0;
        const std::vector<int32_t> shape = out_shape(n, flat ? 2 : 4);
        const int sh = add_int_const(shape, {int32_t(shape.size())}, name + "/shape");
        Options opt;
        opt.type = kOptReshape;
        opt.new_shape = shape;
        t = value_tensor(shape, name, n);
        rank_of_[size_t(id)] = int(shape.size());
        add_op(kOpReshape, {in(0), sh}, {t}, opt);
        break;
      }
      case OpType::ChannelAffine: {
        if (o_.int8)
          throw Error("cannot write node '" + n.name +
                      "' as int8: per-channel scale/offset (ChannelAffine) is not supported");
        // y = x * w + b as MUL and ADD with per-channel constants (broadcast on the last dim).
        const int c = n.shape.c;
        const int rank = rank_of_[size_t(n.inputs[0])];
        const std::vector<int32_t> shape = tensors_[size_t(in(0))].shape;
        int x = in(0);
        const int wt = add_const(n.weights, {c}, name + "/scale");
        const int mid = add_tensor(shape, name + "/mul");
        Options mo;
        mo.type = kOptMul;
        add_op(kOpMul, {x, wt}, {mid}, mo);
        const int bt = add_const(n.bias, {c}, name + "/offset");
        t = add_tensor(shape, name);
        Options ao;
        ao.type = kOptAdd;
        add_op(kOpAdd, {mid, bt}, {t}, ao);
        rank_of_[size_t(id)] = rank;
        break;
      }
    }
    tensor_of_[size_t(id)] = t;
  }
  output_tensor_ = tensor_of_[size_t(g.output)];
  if (o_.int8) {  // DEQUANTIZE to a float32 output that keeps the output name
    TensorDef& q = tensors_[size_t(output_tensor_)];
    const std::vector<int32_t> shape = q.shape;
    q.name += "_int8";
    const int f = add_tensor(shape, g.info.output_name);
    add_op(kOpDequantize, {output_tensor_}, {f});
    output_tensor_ = f;
  }
  return serialize();
}

std::vector<uint8_t> Writer::serialize() {
  fb::Builder b;
  // Buffers (data aligned to 16 bytes, as the schema asks), then the metadata buffer.
  const std::string text = info_text();
  buffers_.emplace_back(text.begin(), text.end());
  const uint32_t info_buffer = uint32_t(buffers_.size() - 1);
  std::vector<fb::Builder::Ref> buffer_refs;
  for (const auto& data : buffers_) {
    fb::Builder::Ref d = 0;
    if (!data.empty()) d = b.create_bytes(data.data(), data.size(), 1, 16);
    b.start_table();
    if (!data.empty()) b.add_ref(kBufferData, d);
    buffer_refs.push_back(b.end_table());
  }
  // Tensors.
  std::vector<fb::Builder::Ref> tensor_refs;
  for (const TensorDef& t : tensors_) {
    fb::Builder::Ref quant = 0;
    if (!t.scale.empty()) {
      const auto sc = b.create_vector(t.scale);
      const auto zp = b.create_vector(t.zero_point);
      b.start_table();
      b.add_ref(kQuantScale, sc);
      b.add_ref(kQuantZeroPoint, zp);
      if (t.qdim) b.add_scalar<int32_t>(kQuantDimension, t.qdim);
      quant = b.end_table();
    }
    const auto shape = b.create_vector(t.shape);
    const auto name = b.create_string(t.name);
    b.start_table();
    if (quant) b.add_ref(kTensorQuantization, quant);
    b.add_ref(kTensorShape, shape);
    b.add_ref(kTensorName, name);
    b.add_scalar<uint32_t>(kTensorBuffer, t.buffer);
    b.add_scalar<int8_t>(kTensorType, int8_t(t.type));
    tensor_refs.push_back(b.end_table());
  }
  // Operator codes in first-use order.
  std::map<int, int> code_index;
  std::vector<int> codes;
  for (const OpDef& op : ops_)
    if (!code_index.count(op.code)) {
      code_index[op.code] = int(codes.size());
      codes.push_back(op.code);
    }
  // Operators with their options.
  std::vector<fb::Builder::Ref> op_refs;
  for (const OpDef& op : ops_) {
    const auto ins = b.create_vector(op.inputs);
    const auto outs = b.create_vector(op.outputs);
    const Options& o = op.opt;
    fb::Builder::Ref opt = 0;
    if (o.type) {
      fb::Builder::Ref new_shape = 0;
      if (o.type == kOptReshape) new_shape = b.create_vector(o.new_shape);
      b.start_table();
      switch (o.type) {
        case kOptConv2D:
          b.add_scalar<int8_t>(0, int8_t(o.padding));
          b.add_scalar<int32_t>(1, o.stride_w);
          b.add_scalar<int32_t>(2, o.stride_h);
          b.add_scalar<int8_t>(3, int8_t(o.act));
          break;
        case kOptDepthwiseConv2D:
          b.add_scalar<int8_t>(0, int8_t(o.padding));
          b.add_scalar<int32_t>(1, o.stride_w);
          b.add_scalar<int32_t>(2, o.stride_h);
          b.add_scalar<int32_t>(3, o.depth_multiplier);
          b.add_scalar<int8_t>(4, int8_t(o.act));
          break;
        case kOptPool2D:
          b.add_scalar<int8_t>(0, int8_t(o.padding));
          b.add_scalar<int32_t>(1, o.stride_w);
          b.add_scalar<int32_t>(2, o.stride_h);
          b.add_scalar<int32_t>(3, o.filter_w);
          b.add_scalar<int32_t>(4, o.filter_h);
          b.add_scalar<int8_t>(5, int8_t(o.act));
          break;
        case kOptFullyConnected:
        case kOptAdd:
        case kOptMul:
          b.add_scalar<int8_t>(0, int8_t(o.act));
          break;
        case kOptSoftmax:
          b.add_scalar<float>(0, o.beta);
          break;
        case kOptReshape:
          b.add_ref(0, new_shape);
          break;
        default:  // PadOptions: no fields
          break;
      }
      opt = b.end_table();
    }
    b.start_table();
    b.add_scalar<uint32_t>(kOperatorOpcodeIndex, uint32_t(code_index[op.code]));
    b.add_ref(kOperatorInputs, ins);
    b.add_ref(kOperatorOutputs, outs);
    if (o.type) {
      b.add_ref(kOperatorBuiltinOptions, opt);
      b.add_scalar<uint8_t>(kOperatorBuiltinOptionsType, uint8_t(o.type));
    }
    op_refs.push_back(b.end_table());
  }
  // Subgraph.
  const auto tensors = b.create_ref_vector(tensor_refs);
  const auto sg_in = b.create_vector(std::vector<int32_t>{input_tensor_});
  const auto sg_out = b.create_vector(std::vector<int32_t>{output_tensor_});
  const auto operators = b.create_ref_vector(op_refs);
  const auto sg_name = b.create_string("main");
  b.start_table();
  b.add_ref(kSubGraphTensors, tensors);
  b.add_ref(kSubGraphInputs, sg_in);
  b.add_ref(kSubGraphOutputs, sg_out);
  b.add_ref(kSubGraphOperators, operators);
  b.add_ref(kSubGraphName, sg_name);
  const auto subgraph = b.end_table();
  // Operator codes: the old byte field and the extended int field, both set.
  std::vector<fb::Builder::Ref> code_refs;
  for (int c : codes) {
    b.start_table();
    b.add_scalar<int32_t>(kOpCodeBuiltin, c);
    b.add_scalar<int32_t>(kOpCodeVersion, op_version(c));
    b.add_scalar<int8_t>(kOpCodeDeprecatedBuiltin, int8_t(c < 127 ? c : 127));
    code_refs.push_back(b.end_table());
  }
  // Metadata entry carrying ModelInfo.
  const auto md_name = b.create_string(kTfliteInfoMetadata);
  b.start_table();
  b.add_ref(kMetadataName, md_name);
  b.add_scalar<uint32_t>(kMetadataBuffer, info_buffer);
  const auto md = b.end_table();

  const auto op_codes = b.create_ref_vector(code_refs);
  const auto subgraphs = b.create_ref_vector({subgraph});
  const auto buffers = b.create_ref_vector(buffer_refs);
  const auto metadata = b.create_ref_vector({md});
  const auto description = b.create_string("written by mnv2");
  b.start_table();
  b.add_scalar<uint32_t>(kModelVersion, 3);
  b.add_ref(kModelOperatorCodes, op_codes);
  b.add_ref(kModelSubgraphs, subgraphs);
  b.add_ref(kModelDescription, description);
  b.add_ref(kModelBuffers, buffers);
  b.add_ref(kModelMetadata, metadata);
  const auto model = b.end_table();
  return b.finish(model, "TFL3");
}

}  // namespace

std::vector<uint8_t> write_tflite(const Graph& g, const TfliteWriteOptions& options) {
  Writer w(g, options);
  return w.run();
}

}  // namespace mnv2
