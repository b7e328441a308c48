// ONNX translation of the compute ops (onnx_lower.h): each node becomes the IR node it
// states; batch norms, bias / scale constants and activations stay nodes of their own for
// the graph passes to fold.
#include "formats/onnx_lower.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "formats/onnx.h"

namespace mnv2 {
namespace onnx {

std::vector<float> Lowering::channel_const(const Tensor& t, const Value& v) const {
  std::vector<float> data = to_floats(t);
  if (data.size() == 1) return data;
  if (t.dims.size() > v.dims.size())
    throw Error("constant '" + t.name + "' " + dims_str(t.dims) + " has a higher rank than " +
                dims_str(v.dims));
  // Align right: exactly one axis > 1, and it must be the channel axis.
  const size_t off = v.dims.size() - t.dims.size();
  int chan_axis = -1;
  for (size_t j = 0; j < t.dims.size(); ++j) {
    if (t.dims[j] == 1) continue;
    if (chan_axis >= 0 || t.dims[j] != v.dims[off + j] || v.axes[off + j] != 3)
      throw Error("constant '" + t.name + "' " + dims_str(t.dims) +
                  " is not a per-channel broadcast against " + dims_str(v.dims));
    chan_axis = int(off + j);
  }
  return data;
}

void Lowering::set_input() {
  std::set<std::string> init_names;
  for (const Tensor& t : m_.initializers) init_names.insert(t.name);
  std::vector<const ValueInfo*> ins;
  for (const ValueInfo& v : m_.inputs)
    if (!init_names.count(v.name)) ins.push_back(&v);
  if (ins.size() != 1) {
    std::string names;
    for (auto* v : ins) names += (names.empty() ? "" : ", ") + v->name;
    throw Error(ctx_ + ": the graph has " + std::to_string(ins.size()) + " inputs (" + names +
                "); mnv2 handles single-input image classifiers");
  }
  const ValueInfo& in = *ins[0];
  if (in.elem_type != kFloat)
    throw Error(ctx_ + ": input '" + in.name + "' has element type " + dtype_name(in.elem_type) +
                "; expected FLOAT");
  if (!in.has_shape || in.dims.size() != 4)
    throw Error(ctx_ + ": input '" + in.name + "' must be a 4-D image tensor, got " +
                (in.has_shape ? dims_str(in.dims) : std::string("no shape")));
  const auto& d = in.dims;
  // NCHW when the second axis looks like colour channels, NHWC when the last does.
  const bool nhwc = d[3] >= 1 && d[3] <= 4 && !(d[1] >= 1 && d[1] <= 4);
  const int64_t c = nhwc ? d[3] : d[1], h = nhwc ? d[1] : d[2], w = nhwc ? d[2] : d[3];
  if (h <= 0 || w <= 0 || c <= 0)
    throw Error(ctx_ + ": input '" + in.name + "' " + dims_str(d) +
                " has a dynamic or invalid size; mnv2 needs fixed height, width and channels");
  if (h > kMaxInputSide || w > kMaxInputSide || c > 16)
    throw Error(ctx_ + ": input '" + in.name + "' " + dims_str(d) + " is implausibly large");
  // The network is batch-independent and runs any batch; a fixed batch beyond what one
  // call can take (Options::max_batch) is a broken file, not something to ignore.
  if (d[0] != -1 && (d[0] < 1 || d[0] > 4096))
    throw Error(ctx_ + ": input '" + in.name + "' " + dims_str(d) + " has a fixed batch of " +
                std::to_string(d[0]) + "; mnv2 needs a dynamic batch or one of 1..4096");
  g_.info.input_name = in.name;
  g_.info.layout = nhwc ? Layout::NHWC : Layout::NCHW;
  g_.info.height = int(h);
  g_.info.width = int(w);
  g_.info.channels = int(c);
  Node node;
  node.name = in.name;
  node.op = OpType::Input;
  const int id = g_.add(std::move(node));
  g_.input = id;
  g_.output = id;
  g_.infer_shapes(1);
  Value v{id, {1, d[1], d[2], d[3]}, nhwc ? std::vector<int>{0, 1, 2, 3} : kNchwAxes};
  values_[in.name] = v;
}

Translation Lowering::run(const std::string& name) {
  if (m_.opset < 0)
    throw Error(ctx_ + ": no opset_import for the default ONNX domain");
  if (m_.opset < kMinOpset || m_.opset > kMaxOpset)
    throw Error(ctx_ + ": opset " + std::to_string(m_.opset) + " is not supported (mnv2 reads " +
                std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
  opset_ = int(m_.opset);
  if (m_.nodes.empty()) throw Error(ctx_ + ": the graph has no nodes");
  if (m_.outputs.empty()) throw Error(ctx_ + ": the graph has no outputs");

  for (const Tensor& t : m_.initializers) {
    if (t.external)
      throw Error(ctx_ + ": initializer '" + t.name +
                  "' stores its data in an external file (data_location = EXTERNAL); mnv2 "
                  "loads self-contained .onnx files only (re-save the model with "
                  "onnx.save_model(model, path, save_as_external_data=False))");
    consts_[t.name] = &t;
  }
  for (const OnnxNode& n : m_.nodes)
    for (const std::string& in : n.inputs)
      if (!in.empty()) ++uses_[in];
  for (const ValueInfo& o : m_.outputs) ++uses_[o.name];

  set_input();

  for (const OnnxNode& n : m_.nodes) {
    try {
      lower(n);
    } catch (const Error& e) {
      throw Error(ctx_ + ": node '" + n.name + "' (" + n.op_type + "): " + e.what());
    }
  }

  const std::string& out_name = m_.outputs[0].name;
  auto it = values_.find(out_name);
  if (it == values_.end())
    throw Error(ctx_ + ": graph output '" + out_name + "' is not produced by any node");
  const Value& out = it->second;
  const Shape& os = ir_shape(out.id);
  if (os.h != 1 || os.w != 1)
    throw Error(ctx_ + ": graph output '" + out_name + "' has spatial size " +
                std::to_string(os.h) + "x" + std::to_string(os.w) +
                "; mnv2 handles classifiers with a [N, classes] output");
  g_.output = out.id;
  const Node& on = g_.node(out.id);
  g_.logits = on.op == OpType::Softmax ? on.inputs[0] : out.id;
  g_.features = -1;
  for (int id = 0; id < int(g_.nodes.size()); ++id)
    if (g_.nodes[size_t(id)].op == OpType::GlobalAvgPool) g_.features = id;

  ModelInfo& info = g_.info;
  info.name = name;
  info.format = "onnx";
  info.output_name = out_name;
  info.channel_order = ChannelOrder::RGB;
  info.normalization_in_graph = false;
  info.mean = 127.5f;
  info.scale = 127.5f;
  // Files written by mnv2 record the preprocessing they expect.
  auto meta = [&](const char* k) -> const std::string* {
    auto mi = m_.metadata.find(k);
    return mi == m_.metadata.end() ? nullptr : &mi->second;
  };
  if (auto* v = meta("mnv2.channel_order")) info.channel_order = *v == "BGR" ? ChannelOrder::BGR : ChannelOrder::RGB;
  if (auto* v = meta("mnv2.normalization_in_graph")) info.normalization_in_graph = *v == "1";
  auto meta_float = [&](const char* k, float& dst) {
    if (auto* v = meta(k)) {
      char* end = nullptr;
      const float x = std::strtof(v->c_str(), &end);
      if (end && *end == 0 && std::isfinite(x) && x > -1e6f && x < 1e6f) dst = x;
    }
  };
  meta_float("mnv2.mean", info.mean);
  meta_float("mnv2.scale", info.scale);
  if (!(info.scale != 0.f)) info.scale = 127.5f;
  meta_float("mnv2.width_multiplier", info.width_multiplier);
  if (!(info.width_multiplier >= 0.f && info.width_multiplier <= 8.f)) info.width_multiplier = 0;

  Translation t{std::move(g_), ctx_, nullptr};
  t.finish = [ctx = ctx_, out_name](Graph& g) {
    // Checked after the passes: an Identity chain may lead back to the input.
    if (g.node(g.output).op == OpType::Input)
      throw Error(ctx + ": graph output '" + out_name + "' is the input itself");
    try {
      g.finalize();
    } catch (const Error& e) {
      throw Error(ctx + ": " + e.what());
    }
    g.info.has_background = g.info.num_classes == 1001;
  };
  return t;
}

void Lowering::lower(const OnnxNode& n) {
  if (!n.domain.empty() && n.domain != "ai.onnx")
    throw Error("operator from domain '" + n.domain + "' is not supported");
  if (n.outputs.empty()) throw Error("node has no outputs");
  const std::string& op = n.op_type;
  if (fold(n)) return;  // ops on constants only (shape and pad arithmetic)
  if (op == "Conv") return conv(n);
  if (op == "BatchNormalization") return batch_norm(n);
  if (op == "Relu") return activation(n, Activation::Relu);
  if (op == "Clip") return clip(n);
  if (op == "Add") return add(n);
  if (op == "Mul" || op == "Sub" || op == "Div") return affine(n);
  if (op == "GlobalAveragePool") return global_pool(n);
  if (op == "AveragePool") return average_pool(n);
  if (op == "ReduceMean") return reduce_mean(n);
  if (op == "Flatten") return flatten(n);
  if (op == "Reshape") return reshape(n);
  if (op == "Squeeze") return squeeze(n, false);
  if (op == "Unsqueeze") return squeeze(n, true);
  if (op == "Transpose") return transpose(n);
  if (op == "Pad") return pad(n);
  if (op == "Gemm") return gemm(n, false);
  if (op == "MatMul") return gemm(n, true);
  if (op == "Softmax") return softmax(n);
  if (op == "Constant") return constant(n);
  if (op == "Identity" || op == "Dropout") return identity(n);
  if (op == "Shape") return shape_of(n);
  throw Error("unsupported operator " + op +
              " (mnv2 reads MobileNet-style classifiers: Conv, BatchNormalization, Relu, Clip, "
              "Add, GlobalAveragePool, Flatten/Reshape/Squeeze, Gemm/MatMul, Softmax, Pad, "
              "Transpose, Constant, Identity)");
}

void Lowering::conv(const OnnxNode& n) {
  only_first_output(n);
  const Value x = need_value(n, 0);
  need_nchw(x, "Conv");
  const Tensor& wt = need_const(n, 1, "weight");
  if (wt.dims.size() != 4)
    throw Error("weight '" + wt.name + "' must be 4-D (2-D convolution), got " + dims_str(wt.dims));
  const Shape xs = ir_shape(x.id);
  const int64_t M = wt.dims[0], CperG = wt.dims[1], KH = wt.dims[2], KW = wt.dims[3];
  const int64_t group = n.attr_i("group", 1);
  const int C = xs.c;
  if (M <= 0 || KH <= 0 || KW <= 0 || KH > 64 || KW > 64 || M > 65536)
    throw Error("implausible weight shape " + dims_str(wt.dims));
  const auto ks = n.attr_ints("kernel_shape", {KH, KW});
  if (ks.size() != 2 || ks[0] != KH || ks[1] != KW)
    throw Error("kernel_shape " + dims_str(ks) + " disagrees with weight " + dims_str(wt.dims));
  const auto strides = n.attr_ints("strides", {1, 1});
  const auto dil = n.attr_ints("dilations", {1, 1});
  if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1 || strides[0] > 64 || strides[1] > 64)
    throw Error("invalid strides " + dims_str(strides));
  if (dil.size() != 2 || dil[0] != 1 || dil[1] != 1)
    throw Error("dilations " + dims_str(dil) + " are not supported (only 1)");

  Node node;
  node.name = node_name(n);
  node.inputs = {x.id};
  node.kernel_h = int(KH);
  node.kernel_w = int(KW);
  node.stride_h = int(strides[0]);
  node.stride_w = int(strides[1]);

  // Padding: explicit pads [top, left, bottom, right] or auto_pad (on the padded input when
  // a Pad precedes; fold-pad adds its amounts).
  const int in_h = xs.h, in_w = xs.w;
  const std::string auto_pad = n.attr_s("auto_pad", "NOTSET");
  int pt = 0, pb_ = 0, pl = 0, pr = 0;
  if (auto_pad == "NOTSET") {
    const auto pads = n.attr_ints("pads", {0, 0, 0, 0});
    if (pads.size() != 4) throw Error("pads " + dims_str(pads) + " must have 4 values");
    for (int64_t p : pads)
      if (p < 0 || p > 64) throw Error("invalid pads " + dims_str(pads));
    pt = int(pads[0]);
    pl = int(pads[1]);
    pb_ = int(pads[2]);
    pr = int(pads[3]);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    auto same = [&](int in, int k, int s, int* before, int* after) {
      const int out = (in + s - 1) / s;
      const int total = std::max(0, (out - 1) * s + k - in);
      const int small = total / 2, big = total - small;
      *before = auto_pad == "SAME_UPPER" ? small : big;
      *after = auto_pad == "SAME_UPPER" ? big : small;
    };
    same(in_h, int(KH), int(strides[0]), &pt, &pb_);
    same(in_w, int(KW), int(strides[1]), &pl, &pr);
  } else if (auto_pad != "VALID") {
    throw Error("auto_pad '" + auto_pad + "' is not supported");
  }
  node.pad_top = pt;
  node.pad_bottom = pb_;
  node.pad_left = pl;
  node.pad_right = pr;

  // As ONNX stores it, [Cout][Cin/group][KH][KW]; normalise-layout reorders.
  node.weights = to_floats(wt);
  node.layout = WeightLayout::OIHW;
  if (group == 1) {
    if (CperG != C)
      throw Error("weight '" + wt.name + "' " + dims_str(wt.dims) + " expects " +
                  std::to_string(CperG) + " input channels, the input has " + std::to_string(C));
    node.op = OpType::Conv2D;
    node.out_channels = int(M);
  } else if (group == C && CperG == 1 && M % C == 0) {
    node.op = OpType::DepthwiseConv2D;
    node.depth_multiplier = int(M / C);  // output channel o reads input o / multiplier
  } else {
    throw Error("group=" + std::to_string(group) + " with " + std::to_string(C) +
                " input channels and weight " + dims_str(wt.dims) +
                " is not supported (only group 1 or depthwise group = channels)");
  }
  if (!n.input(2).empty()) {
    const Tensor& bt = need_const(n, 2, "bias");
    node.bias = to_floats(bt);
    if (int64_t(node.bias.size()) != M)
      throw Error("bias '" + bt.name + "' has " + std::to_string(node.bias.size()) +
                  " values, expected " + std::to_string(M));
  }
  const int id = add_node(std::move(node));
  define(n, nchw_value(id));
}

void Lowering::batch_norm(const OnnxNode& n) {
  only_first_output(n);
  if (n.attr_i("training_mode", 0) != 0) throw Error("training_mode=1 is not supported");
  const Value x = need_value(n, 0);
  if (x.dims.size() < 2) throw Error("input must have a channel axis");
  if (!(x.axes[1] == 3 || (x.dims[1] == 1 && ir_shape(x.id).c == 1)))
    throw Error("channel axis of " + dims_str(x.dims) + " is not the tensor's channel axis");
  const int C = ir_shape(x.id).c;
  const char* names[4] = {"scale", "B", "mean", "var"};
  std::vector<float> p[4];
  for (int k = 0; k < 4; ++k) {
    p[k] = to_floats(need_const(n, size_t(k + 1), names[k]));
    if (int(p[k].size()) != C)
      throw Error(std::string(names[k]) + " has " + std::to_string(p[k].size()) +
                  " values, expected " + std::to_string(C));
  }
  const float eps = n.attr_f("epsilon", 1e-5f);
  if (!(eps >= 0)) throw Error("invalid epsilon");
  Node node;
  node.name = node_name(n);
  node.op = OpType::BatchNorm;
  node.weights = std::move(p[0]);
  node.bias = std::move(p[1]);
  node.bn_mean = std::move(p[2]);
  node.bn_var = std::move(p[3]);
  node.bn_epsilon = eps;
  define_unary(n, x, std::move(node));
}

void Lowering::activation(const OnnxNode& n, Activation act) {
  const Value x = need_value(n, 0);
  Node node;
  node.name = node_name(n);
  node.op = OpType::Activation;
  node.activation = act;
  define_unary(n, x, std::move(node));
}

void Lowering::define_unary(const OnnxNode& n, const Value& x, Node node) {
  node.inputs = {x.id};
  Value v = x;
  v.id = add_node(std::move(node));
  define(n, v);
}

void Lowering::clip(const OnnxNode& n) {
  float lo = -std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::max();
  if (opset_ < 11) {
    lo = n.attr_f("min", lo);
    hi = n.attr_f("max", hi);
  } else {
    auto scalar = [&](size_t k, float& dst) {
      if (n.input(k).empty()) return;
      const std::vector<float> v = to_floats(need_const(n, k, k == 1 ? "min" : "max"));
      if (v.size() != 1) throw Error("Clip bound must be a scalar");
      dst = v[0];
    };
    scalar(1, lo);
    scalar(2, hi);
  }
  Activation act;
  if (lo == 0.f && hi == 6.f)
    act = Activation::Relu6;
  else if (lo == 0.f && hi >= std::numeric_limits<float>::max())
    act = Activation::Relu;
  else
    throw Error("Clip(min=" + std::to_string(lo) + ", max=" + std::to_string(hi) +
                ") is not supported (only ReLU: min 0, and ReLU6: min 0, max 6)");
  activation(n, act);
}

void Lowering::add(const OnnxNode& n) {
  if (n.inputs.size() != 2) throw Error("Add needs two inputs");
  const bool a_act = values_.count(n.inputs[0]) > 0, b_act = values_.count(n.inputs[1]) > 0;
  if (a_act && b_act) {
    const Value a = need_value(n, 0), b = need_value(n, 1);
    if (a.dims != b.dims)
      throw Error("operands " + dims_str(a.dims) + " and " + dims_str(b.dims) +
                  " differ (broadcasting between activations is not supported)");
    for (size_t i = 0; i < a.dims.size(); ++i)
      if (a.dims[i] > 1 && a.axes[i] != b.axes[i])
        throw Error("operands have different memory layouts");
    Node node;
    node.name = node_name(n);
    node.op = OpType::Add;
    node.inputs = {a.id, b.id};
    Value v = a;
    v.id = add_node(std::move(node));
    define(n, v);
    return;
  }
  if (!a_act && !b_act) {
    // Both constant: not part of any supported pattern.
    if (!find_const(n.inputs[0]) && !find_const(n.inputs[1]))
      throw Error("inputs are not defined");
    throw Error("adding two constants is not supported");
  }
  affine(n);
}

// Add/Sub/Mul/Div with one per-channel constant operand: a ConstArith node (fold-affine
// folds it into what produces x, or makes it a ChannelAffine).
void Lowering::affine(const OnnxNode& n) {
  if (n.inputs.size() != 2) throw Error(n.op_type + " needs two inputs");
  const bool x_first = values_.count(n.inputs[0]) > 0;
  const size_t xi = x_first ? 0 : 1, ki = 1 - xi;
  if (!values_.count(n.inputs[xi])) {
    if (find_const(n.inputs[0]) && find_const(n.inputs[1]))
      throw Error("constant-only " + n.op_type + " is not supported");
    throw Error("input '" + n.inputs[find_const(n.inputs[0]) ? 1 : 0] + "' is not defined");
  }
  const Value x = need_value(n, xi);
  const Tensor& kt = need_const(n, ki, "operand");
  std::vector<float> k = channel_const(kt, x);
  const int C = ir_shape(x.id).c;
  if (k.size() != 1 && int(k.size()) != C) throw Error("per-channel constant size mismatch");
  const std::string& op = n.op_type;
  Node node;
  node.name = node_name(n);
  node.op = OpType::ConstArith;
  if (op == "Add") {
    node.arith = Arith::Add;
  } else if (op == "Sub") {
    node.arith = x_first ? Arith::Sub : Arith::SubFrom;
  } else if (op == "Mul") {
    node.arith = Arith::Mul;
  } else {  // Div
    if (!x_first) throw Error("dividing a constant by an activation is not supported");
    for (float v : k)
      if (v == 0) throw Error("division by zero");
    node.arith = Arith::Div;
  }
  node.weights = std::move(k);
  define_unary(n, x, std::move(node));
}

void Lowering::global_pool(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  need_nchw(x, n.op_type.c_str());
  Node node;
  node.name = node_name(n);
  node.op = OpType::GlobalAvgPool;
  node.inputs = {x.id};
  define(n, nchw_value(add_node(std::move(node))));
}

void Lowering::average_pool(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  need_nchw(x, "AveragePool");
  const Shape xs = ir_shape(x.id);
  const auto ks = n.attr_ints("kernel_shape", {});
  const auto pads = n.attr_ints("pads", {0, 0, 0, 0});
  const std::string auto_pad = n.attr_s("auto_pad", "NOTSET");
  const bool zero_pads = std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
  if (ks.size() != 2 || ks[0] != xs.h || ks[1] != xs.w || !zero_pads ||
      !(auto_pad == "NOTSET" || auto_pad == "VALID"))
    throw Error("AveragePool with kernel " + dims_str(ks) + " over a " + std::to_string(xs.h) +
                "x" + std::to_string(xs.w) +
                " input is not a global average; only global average pooling is supported");
  global_pool(n);
}

void Lowering::reduce_mean(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  need_nchw(x, "ReduceMean");
  std::vector<int64_t> axes;
  if (opset_ >= 18) {
    if (!n.input(1).empty()) axes = to_ints(need_const(n, 1, "axes"));
  } else {
    axes = n.attr_ints("axes", {});
  }
  std::set<int> ax;
  for (int64_t a : axes) ax.insert(norm_axis(a, 4));
  if (ax != std::set<int>{2, 3})
    throw Error("ReduceMean over axes " + dims_str(axes) +
                " is not supported (only the spatial axes [2,3])");
  const bool keep = n.attr_i("keepdims", 1) != 0;
  Node node;
  node.name = node_name(n);
  node.op = OpType::GlobalAvgPool;
  node.inputs = {x.id};
  const int id = add_node(std::move(node));
  Value v = nchw_value(id);
  if (!keep) v = Value{id, {1, ir_shape(id).c}, {0, 3}};
  define(n, v);
}

// Reshape as a view: fine when at most one non-batch axis is larger than 1 on either side,
// or when the input's large axes already run in NHWC memory order (then an IR flatten).
void Lowering::gemm(const OnnxNode& n, bool matmul) {
  const Value a = need_value(n, 0);
  if (a.dims.size() != 2)
    throw Error("input A must be 2-D [N, K], got " + dims_str(a.dims));
  const int64_t K = a.dims[1];
  const Tensor& bt = need_const(n, 1, "B");
  if (bt.dims.size() != 2) throw Error("B must be 2-D, got " + dims_str(bt.dims));
  bool trans_b = false;
  float alpha = 1, beta = 1;
  if (!matmul) {
    if (n.attr_i("transA", 0) != 0) throw Error("transA=1 is not supported");
    trans_b = n.attr_i("transB", 0) != 0;
    alpha = n.attr_f("alpha", 1.f);
    beta = n.attr_f("beta", 1.f);
  }
  const int64_t Kb = trans_b ? bt.dims[1] : bt.dims[0], N = trans_b ? bt.dims[0] : bt.dims[1];
  if (Kb != K) throw Error("B " + dims_str(bt.dims) + " does not match input width " + std::to_string(K));
  if (N <= 0 || N > 65536) throw Error("implausible output width " + std::to_string(N));
  Node node;
  node.name = node_name(n);
  node.op = OpType::FullyConnected;
  node.inputs = {a.id};
  node.out_channels = int(N);
  node.weights = to_floats(bt);
  for (float& v : node.weights) v = alpha * v;
  // B as stored: [N][K] with transB, else [K][N] (normalise-layout reorders).
  node.layout = trans_b ? WeightLayout::Canonical : WeightLayout::InOut;
  if (!matmul && !n.input(2).empty()) {
    const Tensor& ct = need_const(n, 2, "C");
    const std::vector<float> c = to_floats(ct);
    if (c.size() != 1 && int64_t(c.size()) != N)
      throw Error("C " + dims_str(ct.dims) + " is not a bias of " + std::to_string(N) + " values");
    for (int64_t d : ct.dims)
      if (d != 1 && d != N) throw Error("C " + dims_str(ct.dims) + " is not a row bias");
    node.bias.resize(size_t(N));
    for (int64_t o = 0; o < N; ++o) node.bias[size_t(o)] = beta * c[c.size() == 1 ? 0 : size_t(o)];
  }
  const int id = add_node(std::move(node));
  define(n, Value{id, {1, N}, {0, 3}});
}

void Lowering::softmax(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  const int axis = norm_axis(n.attr_i("axis", opset_ < 13 ? 1 : -1), x.dims.size());
  const Shape xs = ir_shape(x.id);
  bool ok;
  if (opset_ < 13) {
    // Softmax over the flattened axes [axis, rank): all of one image, channels only.
    ok = axis == 1 && xs.h == 1 && xs.w == 1;
  } else {
    ok = x.axes[size_t(axis)] == 3 && x.dims[size_t(axis)] > 1;
  }
  if (!ok)
    throw Error("Softmax over axis " + std::to_string(axis) + " of " + dims_str(x.dims) +
                " is not a softmax over classes");
  Node node;
  node.name = node_name(n);
  node.op = OpType::Softmax;
  node.inputs = {x.id};
  Value v = x;
  v.id = add_node(std::move(node));
  define(n, v);
}

void Lowering::constant(const OnnxNode& n) {
  if (n.outputs.size() != 1 || n.outputs[0].empty()) throw Error("Constant needs one output");
  Tensor t;
  const Attr* a = nullptr;
  if ((a = n.attr("value")) && a->has_t) {
    t = *a->t;
  } else if ((a = n.attr("value_float")) && a->has_f) {
    t.dtype = kFloat;
    t.floats = {a->f};
  } else if ((a = n.attr("value_floats"))) {
    t.dtype = kFloat;
    t.floats = a->floats;
    t.dims = {int64_t(a->floats.size())};
  } else if ((a = n.attr("value_int")) && a->has_i) {
    t.dtype = kInt64;
    t.ints = {a->i};
  } else if ((a = n.attr("value_ints"))) {
    t.dtype = kInt64;
    t.ints = a->ints;
    t.dims = {int64_t(a->ints.size())};
  } else {
    throw Error("Constant without a supported value attribute");
  }
  if (t.external) throw Error("Constant keeps its data in an external file");
  t.name = n.outputs[0];
  if (values_.count(t.name) || consts_.count(t.name))
    throw Error("output '" + t.name + "' is defined twice");
  owned_.push_back(std::move(t));
  consts_[n.outputs[0]] = &owned_.back();
}

void Lowering::identity(const OnnxNode& n) {
  only_first_output(n);
  const std::string in = n.input(0);
  if (const Tensor* t = find_const(in)) {
    if (values_.count(n.outputs[0]) || consts_.count(n.outputs[0]))
      throw Error("output '" + n.outputs[0] + "' is defined twice");
    consts_[n.outputs[0]] = t;
    return;
  }
  const Value x = need_value(n, 0);
  Node node;
  node.name = node_name(n);
  node.op = OpType::Identity;
  define_unary(n, x, std::move(node));
}

}  // namespace onnx

Translation translate_onnx_bytes(std::string_view bytes, const std::string& name) {
  const std::string ctx = "'" + name + "' (ONNX)";
  onnx::ParsedModel m = onnx::parse_model(bytes, ctx);
  std::string stem = std::filesystem::path(name).stem().string();
  if (stem.empty()) stem = name;
  return onnx::Lowering(m, ctx, bytes.size()).run(stem);
}

Translation translate_onnx(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open model file '" + path + "'");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) throw Error("cannot read '" + path + "'");
  if (size > (std::streamoff(1) << 31))
    throw Error("'" + path + "' is larger than 2 GiB; ONNX protobufs cannot be");
  f.seekg(0);
  std::string bytes(size_t(size), '\0');
  f.read(bytes.data(), size);
  if (f.gcount() != size) throw Error("cannot read '" + path + "'");
  return translate_onnx_bytes(bytes, path);
}

}  // namespace mnv2
