// OpenVINO IR loader: evaluates the layers in topological order and translates them into
// the graph IR (see openvino_ir.h for the rules; bias adds, scales and activations stay
// nodes of their own for the graph passes to fold). Parsing: openvino_ir_parse.cpp.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "formats/half.h"
#include "formats/openvino_ir.h"
#include "formats/openvino_ir_loader.h"

namespace mnv2 {
namespace ovir {

void Loader::lower_conv(int li, bool group) {
  const Layer& l = layers_[size_t(li)];
  want_inputs(l, 2);
  want_outputs(l, 1);
  const Value& x = act_in(l, 0);
  const Value& w = const_in(l, 1);
  if (w.is_int) fail(l, "integer weights are not supported");
  if (x.dims.size() != 4) fail(l, "input must be 4-D NCHW, is " + dims_str(x.dims));
  const int64_t cin = x.dims[1], ih = x.dims[2], iw = x.dims[3];
  int64_t cout, kh, kw, groups = 1, per_group_out = 0;
  if (!group) {
    if (w.dims.size() != 4) fail(l, "weights must be [O,I,KH,KW], are " + dims_str(w.dims));
    cout = w.dims[0];
    kh = w.dims[2];
    kw = w.dims[3];
    if (w.dims[1] != cin)
      fail(l, "weights " + dims_str(w.dims) + " expect " + std::to_string(w.dims[1]) +
                  " input channels, the input has " + std::to_string(cin));
  } else {
    if (w.dims.size() != 5)
      fail(l, "weights must be [G,O/G,I/G,KH,KW], are " + dims_str(w.dims));
    groups = w.dims[0];
    per_group_out = w.dims[1];
    kh = w.dims[3];
    kw = w.dims[4];
    cout = groups * per_group_out;
    if (groups * w.dims[2] != cin)
      fail(l, "weights " + dims_str(w.dims) + " do not match " + std::to_string(cin) +
                  " input channels");
    if (groups != 1 && (w.dims[2] != 1 || groups != cin))
      fail(l, "only depthwise group convolution (groups = channels) is supported");
  }
  if (cout < 1 || cout > kMaxDim || kh < 1 || kh > 64 || kw < 1 || kw > 64)
    fail(l, "weights " + dims_str(w.dims) + " are out of the supported range");
  const std::vector<int64_t> ones = {1, 1}, zeros = {0, 0};
  const auto strides = int_list(l, "strides", 2, 1, 64);
  const auto dil = int_list(l, "dilations", 2, 1, 64, &ones);
  if (dil[0] != 1 || dil[1] != 1) fail(l, "dilations other than 1 are not supported");
  std::string auto_pad = attr(l, "auto_pad", "explicit");
  std::transform(auto_pad.begin(), auto_pad.end(), auto_pad.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  int64_t pt, pl, pb, pr;
  auto same = [&](int64_t in, int64_t k, int64_t s, bool upper, int64_t* b, int64_t* a) {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + k - in);
    *b = upper ? total / 2 : total - total / 2;
    *a = total - *b;
  };
  if (auto_pad == "explicit" || auto_pad == "notset" || auto_pad.empty()) {
    const auto pbeg = int_list(l, "pads_begin", 2, 0, 64, &zeros);
    const auto pend = int_list(l, "pads_end", 2, 0, 64, &zeros);
    pt = pbeg[0];
    pl = pbeg[1];
    pb = pend[0];
    pr = pend[1];
  } else if (auto_pad == "same_upper" || auto_pad == "same_lower") {
    const bool upper = auto_pad == "same_upper";
    same(ih, kh, strides[0], upper, &pt, &pb);
    same(iw, kw, strides[1], upper, &pl, &pr);
  } else if (auto_pad == "valid") {
    pt = pl = pb = pr = 0;
  } else {
    fail(l, "auto_pad \"" + auto_pad + "\" is not one of explicit, same_upper, same_lower, valid");
  }
  if (pt > 64 || pb > 64 || pl > 64 || pr > 64) fail(l, "padding out of range");
  const int64_t oh_span = ih + pt + pb - kh, ow_span = iw + pl + pr - kw;
  if (oh_span < 0 || ow_span < 0) fail(l, "kernel is larger than the padded input");
  const int64_t oh = oh_span / strides[0] + 1, ow = ow_span / strides[1] + 1;

  Node n;
  n.name = l.name;
  n.inputs = {x.node};
  n.kernel_h = int(kh);
  n.kernel_w = int(kw);
  n.stride_h = int(strides[0]);
  n.stride_w = int(strides[1]);
  n.pad_top = int(pt);
  n.pad_bottom = int(pb);
  n.pad_left = int(pl);
  n.pad_right = int(pr);
  // As the IR stores it, [Cout][Cin/groups][KH][KW] (a group convolution's [G][M][1][KH][KW]
  // is the same order); normalise-layout reorders.
  n.weights = *w.f;
  n.layout = WeightLayout::OIHW;
  if (!group || groups == 1) {
    n.op = OpType::Conv2D;
    n.out_channels = int(cout);
  } else {
    n.op = OpType::DepthwiseConv2D;
    n.depth_multiplier = int(per_group_out);
    if (per_group_out > 64) fail(l, "depth multiplier too large");
  }
  Value v;
  v.kind = Value::Act;
  v.dims = {x.dims[0], cout, oh, ow};
  if (oh > kMaxDim || ow > kMaxDim) fail(l, "output too large");
  v.node = new_node(std::move(n));
  set_out(li, std::move(v));
}

void Loader::lower(int li) {
  const Layer& l = layers_[size_t(li)];
  const std::string& t = l.type;
  auto act_value = [&](int node, std::vector<int64_t> dims) {
    Value v;
    v.kind = Value::Act;
    v.node = node;
    v.dims = std::move(dims);
    return v;
  };
  if (t == "Const") {
    lower_const(li);
  } else if (t == "Parameter") {
    want_inputs(l, 0);
    want_outputs(l, 1);
    if (g_.input >= 0) fail(l, "a second Parameter; only single-input models are supported");
    const std::string et = attr(l, "element_type", "f32");
    if (et != "f32" && et != "f16")
      fail(l, "input element_type '" + et + "' is not supported (f32, f16 are)");
    std::vector<int64_t> dims;
    const pugi::xml_attribute sa = l.data ? l.data.attribute("shape") : pugi::xml_attribute();
    if (sa) {
      for (const std::string& p : split_list(sa.value())) {
        int64_t d;
        if (p == "?" || p == "-1") d = -1;
        else if (!parse_int_text(p.c_str(), &d) || d < 0) fail(l, "invalid shape \"" + std::string(sa.value()) + "\"");
        dims.push_back(d);
        if (dims.size() > 8) fail(l, "invalid shape");
      }
    } else {
      dims = l.outputs[0].dims;
    }
    if (dims.size() != 4) fail(l, "input must be 4-D NCHW, is " + dims_str(dims));
    if (dims[0] == -1) dims[0] = 1;
    if (dims[0] != 1) fail(l, "batch must be 1 or dynamic, is " + std::to_string(dims[0]));
    if (dims[1] < 1 || dims[1] > 16) fail(l, "unsupported channel count " + std::to_string(dims[1]));
    if (dims[2] < 1 || dims[2] > 8192 || dims[3] < 1 || dims[3] > 8192)
      fail(l, "unsupported spatial size " + dims_str(dims));
    Node n;
    n.name = l.name;
    n.op = OpType::Input;
    g_.info.channels = int(dims[1]);
    g_.info.height = int(dims[2]);
    g_.info.width = int(dims[3]);
    g_.info.input_name = l.name;
    g_.input = new_node(std::move(n));
    set_out(li, act_value(g_.input, dims));
  } else if (t == "Convert") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const std::string dt = attr(l, "destination_type");
    const Value& x = in(l, 0);
    if (x.kind == Value::Const) {
      Value v = x;
      if (dt == "f32" || dt == "f16") {
        if (x.is_int) fail(l, "converting integers to floats is not supported");
        if (dt == "f16") {
          auto f = std::make_shared<std::vector<float>>(*x.f);
          for (float& q : *f) q = half_to_float(float_to_half(q));
          v.f = f;
        }
      } else if (dt == "i64" || dt == "i32") {
        if (!x.is_int) fail(l, "converting floats to integers is not supported");
      } else {
        fail(l, "destination_type '" + dt + "' is not supported");
      }
      set_out(li, std::move(v));
    } else {
      if (dt != "f32" && dt != "f16") fail(l, "destination_type '" + dt + "' is not supported");
      Node id;
      id.op = OpType::Identity;
      unary(li, x, std::move(id));
    }
  } else if (t == "Convolution") {
    lower_conv(li, false);
  } else if (t == "GroupConvolution") {
    lower_conv(li, true);
  } else if (t == "Add" || t == "Multiply" || t == "Subtract" || t == "Divide") {
    want_inputs(l, 2);
    want_outputs(l, 1);
    const std::string ab = attr(l, "auto_broadcast", "numpy");
    if (ab != "numpy" && ab != "none") fail(l, "auto_broadcast \"" + ab + "\" is not supported");
    const Value& a = in(l, 0);
    const Value& b = in(l, 1);
    if (a.kind == Value::Act && b.kind == Value::Act) {
      if (t != "Add") fail(l, "element-wise " + t + " of two computed tensors is not supported");
      if (a.dims != b.dims)
        fail(l, "operand shapes differ: " + dims_str(a.dims) + " vs " + dims_str(b.dims));
      const Value va = a, vb = b;
      Node n;
      n.name = l.name;
      n.op = OpType::Add;
      n.inputs = {va.node, vb.node};
      set_out(li, act_value(new_node(std::move(n)), va.dims));
    } else if (a.kind == Value::Act || b.kind == Value::Act) {
      const bool act_first = a.kind == Value::Act;
      const Value x = act_first ? a : b;
      const Value& k = act_first ? b : a;
      if (ab == "none" && k.dims != x.dims) fail(l, "auto_broadcast none needs equal shapes");
      Node n;
      n.op = OpType::ConstArith;
      n.weights = channel_vector(l, k, x);
      if (t == "Add") {
        n.arith = Arith::Add;
      } else if (t == "Multiply") {
        n.arith = Arith::Mul;
      } else if (t == "Subtract") {
        n.arith = act_first ? Arith::Sub : Arith::SubFrom;
      } else {
        if (!act_first) fail(l, "dividing a constant by a tensor is not supported");
        for (float q : n.weights)
          if (q == 0) fail(l, "division by zero");
        n.arith = Arith::Div;
      }
      unary(li, x, std::move(n));
    } else {
      fail(l, "arithmetic on two constants is not supported (fold it in the converter)");
    }
  } else if (t == "Clamp" || t == "ReLU") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    Activation act = Activation::Relu;
    if (t == "Clamp") {
      const double lo = float_attr(l, "min"), hi = float_attr(l, "max");
      if (lo != 0) fail(l, "only Clamp(min=0, max=6) (ReLU6) or max=inf (ReLU) is supported");
      if (hi == 6) act = Activation::Relu6;
      else if (hi >= 3.0e38) act = Activation::Relu;
      else fail(l, "only Clamp(min=0, max=6) (ReLU6) or max=inf (ReLU) is supported");
    }
    Node n;
    n.op = OpType::Activation;
    n.activation = act;
    unary(li, x, std::move(n));
  } else if (t == "ReduceMean") {
    want_inputs(l, 2);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    if (x.dims.size() != 4) fail(l, "input must be 4-D");
    std::vector<int64_t> axes = int_values(l, in(l, 1));
    for (int64_t& a : axes) {
      if (a < -4 || a > 3) fail(l, "axis out of range");
      if (a < 0) a += 4;
    }
    std::sort(axes.begin(), axes.end());
    if (axes != std::vector<int64_t>{2, 3}) fail(l, "only the mean over H and W (axes 2,3) is supported");
    const bool keep = is_true(attr(l, "keep_dims", "false"));
    Node n;
    n.name = l.name;
    n.op = OpType::GlobalAvgPool;
    n.inputs = {x.node};
    const int id = new_node(std::move(n));
    g_.features = id;
    set_out(li, act_value(id, keep ? std::vector<int64_t>{x.dims[0], x.dims[1], 1, 1}
                                   : std::vector<int64_t>{x.dims[0], x.dims[1]}));
  } else if (t == "AvgPool") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    if (x.dims.size() != 4) fail(l, "input must be 4-D");
    const std::vector<int64_t> zeros = {0, 0};
    const auto kernel = int_list(l, "kernel", 2, 1, kMaxDim);
    const auto strides = int_list(l, "strides", 2, 1, kMaxDim);
    std::string auto_pad = attr(l, "auto_pad", "explicit");
    std::transform(auto_pad.begin(), auto_pad.end(), auto_pad.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    std::vector<int64_t> pb = zeros, pe = zeros;
    if (auto_pad == "explicit" || auto_pad == "notset" || auto_pad.empty()) {
      pb = int_list(l, "pads_begin", 2, 0, 64, &zeros);
      pe = int_list(l, "pads_end", 2, 0, 64, &zeros);
    } else if (auto_pad == "same_upper" || auto_pad == "same_lower") {
      for (int a = 0; a < 2; ++a) {
        const int64_t in = x.dims[size_t(2 + a)];
        const int64_t out = (in + strides[size_t(a)] - 1) / strides[size_t(a)];
        const int64_t total = std::max<int64_t>(0, (out - 1) * strides[size_t(a)] + kernel[size_t(a)] - in);
        pb[size_t(a)] = auto_pad == "same_upper" ? total / 2 : total - total / 2;
        pe[size_t(a)] = total - pb[size_t(a)];
      }
    } else if (auto_pad != "valid") {
      fail(l, "auto_pad \"" + auto_pad + "\" is not one of explicit, same_upper, same_lower, valid");
    }
    if (kernel[0] != x.dims[2] || kernel[1] != x.dims[3] || pb != zeros || pe != zeros)
      fail(l, "only global average pooling (kernel = input size " +
                  std::to_string(x.dims[2]) + "x" + std::to_string(x.dims[3]) +
                  ", no padding) is supported");
    Node n;
    n.name = l.name;
    n.op = OpType::GlobalAvgPool;
    n.inputs = {x.node};
    const int id = new_node(std::move(n));
    g_.features = id;
    set_out(li, act_value(id, {x.dims[0], x.dims[1], 1, 1}));
  } else if (t == "Reshape" || t == "Squeeze" || t == "Unsqueeze") {
    want_outputs(l, 1);
    if (l.inputs.empty() || l.inputs.size() > 2) fail(l, "expects 1 or 2 inputs");
    if (t != "Squeeze") want_inputs(l, 2);
    const Value x = act_in(l, 0);
    const int64_t total = x.count();
    std::vector<int64_t> out;
    if (t == "Reshape") {
      std::vector<int64_t> shape = int_values(l, in(l, 1));
      const bool special_zero = is_true(attr(l, "special_zero", "false"));
      int minus = -1;
      int64_t known = 1;
      for (size_t k = 0; k < shape.size(); ++k) {
        int64_t d = shape[k];
        if (d == 0 && special_zero) {
          if (k >= x.dims.size()) fail(l, "special zero beyond the input rank");
          d = x.dims[k];
        }
        if (d == -1) {
          if (minus >= 0) fail(l, "more than one -1 in the target shape");
          minus = int(k);
          out.push_back(-1);
          continue;
        }
        if (d < 0 || d > kMaxConstElements) fail(l, "invalid target shape " + dims_str(shape));
        known *= d;
        if (known > kMaxConstElements) fail(l, "invalid target shape " + dims_str(shape));
        out.push_back(d);
      }
      if (minus >= 0) {
        if (known == 0 || total % known) fail(l, "cannot infer -1 in " + dims_str(shape));
        out[size_t(minus)] = total / known;
      }
    } else {
      std::vector<int64_t> axes;
      if (l.inputs.size() == 2) axes = int_values(l, in(l, 1));
      const int64_t r = int64_t(t == "Squeeze" ? x.dims.size() : x.dims.size() + axes.size());
      for (int64_t& a : axes) {
        if (a < -r || a >= r) fail(l, "axis out of range");
        if (a < 0) a += r;
      }
      if (t == "Squeeze") {
        for (size_t k = 0; k < x.dims.size(); ++k) {
          const bool listed = std::find(axes.begin(), axes.end(), int64_t(k)) != axes.end();
          // Without axes every unit dim except the batch goes.
          const bool drop = axes.empty() ? (k > 0 && x.dims[k] == 1) : listed;
          if (drop && x.dims[k] != 1) fail(l, "cannot squeeze a dimension of size " + std::to_string(x.dims[k]));
          if (!drop) out.push_back(x.dims[k]);
        }
      } else {
        size_t src = 0;
        for (int64_t k = 0; k < r; ++k) {
          if (std::find(axes.begin(), axes.end(), k) != axes.end()) out.push_back(1);
          else out.push_back(x.dims[src++]);
        }
      }
    }
    int64_t prod = 1;
    for (int64_t d : out) prod *= d;
    if (prod != total) fail(l, "reshape from " + dims_str(x.dims) + " to " + dims_str(out) + " changes the element count");
    if (out == x.dims) {
      Node id;
      id.op = OpType::Identity;
      unary(li, x, std::move(id));
      return;
    }
    // NCHW and NHWC agree on the order of the elements only when H = W = 1.
    const bool x_flat = x.dims.size() == 2 || (x.dims.size() == 4 && x.dims[2] == 1 && x.dims[3] == 1);
    const bool o_ok = (out.size() == 2 && out[0] == x.dims[0]) ||
                      (out.size() == 4 && out[0] == x.dims[0] && out[2] == 1 && out[3] == 1);
    if (!x_flat || !o_ok)
      fail(l, "reshape from " + dims_str(x.dims) + " to " + dims_str(out) +
                  " is not supported (only [N,C,1,1] <-> [N,C])");
    Node n;
    n.name = l.name;
    n.op = OpType::Reshape;
    n.inputs = {x.node};
    set_out(li, act_value(new_node(std::move(n)), out));
  } else if (t == "ShapeOf") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = in(l, 0);
    Value v;
    v.kind = Value::Const;
    v.is_int = true;
    v.dims = {int64_t(x.dims.size())};
    v.i = std::make_shared<std::vector<int64_t>>(x.dims);
    set_out(li, std::move(v));
  } else if (t == "SoftMax") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    int64_t axis = 1;
    const std::string as = attr(l, "axis", "1");
    if (!parse_int_text(as.c_str(), &axis)) fail(l, "invalid axis \"" + as + "\"");
    const int64_t r = int64_t(x.dims.size());
    if (axis < -r || axis >= r) fail(l, "axis out of range");
    if (axis < 0) axis += r;
    if (axis != 1) fail(l, "only softmax over the channel axis (1) is supported");
    Node n;
    n.name = l.name;
    n.op = OpType::Softmax;
    n.inputs = {x.node};
    set_out(li, act_value(new_node(std::move(n)), x.dims));
  } else if (t == "MatMul") {
    want_inputs(l, 2);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    const Value& w = const_in(l, 1);
    if (w.is_int) fail(l, "integer weights are not supported");
    if (is_true(attr(l, "transpose_a", "false"))) fail(l, "transpose_a is not supported");
    const bool tb = is_true(attr(l, "transpose_b", "false"));
    if (x.dims.size() != 2) fail(l, "input must be 2-D [N,K]");
    if (w.dims.size() != 2) fail(l, "weights must be 2-D");
    const int64_t k = x.dims[1];
    const int64_t m = tb ? w.dims[0] : w.dims[1];
    if ((tb ? w.dims[1] : w.dims[0]) != k) fail(l, "weights " + dims_str(w.dims) + " do not match K=" + std::to_string(k));
    if (m < 1 || m > kMaxDim) fail(l, "output width out of range");
    Node n;
    n.name = l.name;
    n.op = OpType::FullyConnected;
    n.inputs = {x.node};
    n.out_channels = int(m);
    n.weights.resize(size_t(m * k));
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < k; ++i)
        n.weights[size_t(o * k + i)] = (*w.f)[size_t(tb ? o * k + i : i * m + o)];
    set_out(li, act_value(new_node(std::move(n)), {x.dims[0], m}));
  } else if (t == "Result") {
    want_inputs(l, 1);
    const Value x = act_in(l, 0);
    if (result_layer_ >= 0) fail(l, "a second Result; only single-output models are supported");
    result_layer_ = li;
    g_.output = x.node;
  } else {
    fail(l, "operation type '" + t + "' (version " + (l.version.empty() ? "?" : l.version) +
                ") is not supported");
  }
}

Translation Loader::run() {
  parse();
  connect();
  const std::vector<int> order = topo_order();
  values_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) values_[i].resize(layers_[i].outputs.size());
  for (int li : order) {
    const Layer& l = layers_[size_t(li)];
    for (size_t k = 0; k < l.inputs.size(); ++k) {
      const Value& v = in(l, k);
      if (v.kind == Value::Unset)
        fail(l, "input " + std::to_string(k) + " reads an output its producer does not compute");
      // Declared input dims must agree with what arrives.
      const Port& p = l.inputs[k];
      if (!p.dims.empty()) {
        bool ok = p.dims.size() == v.dims.size();
        for (size_t d = 0; ok && d < p.dims.size(); ++d)
          ok = p.dims[d] == v.dims[d] || (p.dims[d] == -1 && d == 0);
        if (!ok)
          fail(l, "input port " + std::to_string(p.id) + " declares dims " + dims_str(p.dims) +
                      " but receives " + dims_str(v.dims));
      }
    }
    lower(li);
  }
  if (g_.input < 0) fail("the model has no Parameter (input) layer");
  if (result_layer_ < 0) fail("the model has no Result (output) layer");

  // Names and metadata.
  ModelInfo& info = g_.info;
  info.format = "openvino-ir";
  info.layout = Layout::NCHW;
  const pugi::xml_node net = doc_.child("net");
  info.name = net.attribute("name").value();
  if (info.name.empty()) {
    std::string stem = label_;
    const size_t slash = stem.find_last_of('/');
    if (slash != std::string::npos) stem = stem.substr(slash + 1);
    const size_t dot = stem.find_last_of('.');
    if (dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
    info.name = stem;
  }
  {
    const Layer& rl = layers_[size_t(result_layer_)];
    const Layer& feed = layers_[size_t(rl.src[0].first)];
    // The tensor's name (the first listed without a ":port" suffix), else the layer's.
    std::string chosen;
    for (const std::string& nm : split_list(feed.outputs[size_t(rl.src[0].second)].names))
      if (!nm.empty() && nm.find(':') == std::string::npos) {
        chosen = nm;
        break;
      }
    info.output_name = chosen.empty() ? feed.name : chosen;
  }
  // Width multiplier from names like mobilenet_v2_1.4_224 / mobilenet-v2-1.4-224.
  {
    const std::string& nm = info.name;
    size_t at = nm.find("v2");
    if (at != std::string::npos && at + 3 < nm.size() && (nm[at + 2] == '_' || nm[at + 2] == '-')) {
      const char* s = nm.c_str() + at + 3;
      char* end = nullptr;
      const double wm = std::strtod(s, &end);
      if (end != s && wm > 0 && wm <= 8 && (*end == '_' || *end == '-')) info.width_multiplier = float(wm);
    }
  }

  // Converter metadata: reverse_input_channels, mean_values, scale_values.
  std::string reverse, mean_v, scale_v, mi_mean, mi_scale;
  auto read_params = [&](pugi::xml_node p) {
    if (!p) return;
    if (auto a = p.child("reverse_input_channels").attribute("value")) reverse = a.value();
    if (auto a = p.child("mean_values").attribute("value")) mean_v = a.value();
    if (auto a = p.child("scale_values").attribute("value")) scale_v = a.value();
  };
  read_params(net.child("meta_data").child("cli_parameters"));
  read_params(net.child("rt_info").child("conversion_parameters"));
  if (auto a = net.child("rt_info").child("model_info").child("mean_values").attribute("value")) mi_mean = a.value();
  if (auto a = net.child("rt_info").child("model_info").child("scale_values").attribute("value")) mi_scale = a.value();

  info.channel_order = is_false(reverse) ? ChannelOrder::RGB : ChannelOrder::BGR;
  Translation t{std::move(g_), "'" + label_ + "': OpenVINO IR", nullptr};
  t.finish = [label = label_, means = bracket_numbers(mean_v), scales = bracket_numbers(scale_v),
              mi_mean, mi_scale](Graph& g) {
    auto fail = [&](const std::string& what) { throw Error("'" + label + "': OpenVINO IR: " + what); };
    ModelInfo& info = g.info;
    // Normalisation inside the graph: an affine op on the input, or converter metadata.
    int affine_node = -1;
    for (int id = 0; id < int(g.nodes.size()); ++id) {
      const Node& n = g.nodes[size_t(id)];
      if (n.op == OpType::ChannelAffine && n.inputs.size() == 1 && n.inputs[0] == g.input)
        affine_node = id;
    }
    info.normalization_in_graph = affine_node >= 0 || !means.empty() || !scales.empty();
    info.mean = 127.5f;
    info.scale = 127.5f;
    if (!means.empty() || !scales.empty()) {
      info.mean = means.empty() ? 0.f : float(means[0]);
      info.scale = scales.empty() ? 1.f : float(scales[0]);
    } else if (affine_node >= 0) {
      const Node& a = g.node(affine_node);
      if (a.weights[0] != 0) {
        info.scale = float(1.0 / double(a.weights[0]));
        info.mean = float(-double(a.bias[0]) / double(a.weights[0]));
      }
    } else {
      double m, s;
      if (parse_float_text(split_list(mi_mean)[0].substr(0, split_list(mi_mean)[0].find(' ')), &m)) info.mean = float(m);
      if (parse_float_text(split_list(mi_scale)[0].substr(0, split_list(mi_scale)[0].find(' ')), &s) && s != 0) info.scale = float(s);
    }

    // logits: what the softmax reads; features: the (last) global pool.
    for (int id = 0; id < int(g.nodes.size()); ++id)
      if (g.nodes[size_t(id)].op == OpType::Softmax) g.logits = g.nodes[size_t(id)].inputs[0];
    try {
      g.finalize();
    } catch (const Error& e) {
      fail(e.what());
    }
    info.has_background = info.num_classes == 1001;
    // Refuse models whose activations alone would need gigabytes.
    for (const Node& n : g.nodes)
      if (n.shape.per_image() > (int64_t(1) << 28))
        fail("node '" + n.name + "' has an activation of " + n.shape.str() +
             ", more than 2^28 values per image");
  };
  return t;
}

}  // namespace ovir

Translation translate_openvino_ir_memory(const std::string& xml_text,
                                         const std::vector<uint8_t>& bin,
                                         const std::string& label) {
  ovir::Loader loader(xml_text, bin, label);
  return loader.run();
}

}  // namespace mnv2
