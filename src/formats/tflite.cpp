// TFLite loader: a hand-written reader of the TFLite FlatBuffers schema (field ids from the
// public schema.fbs) that translates subgraph 0 into the IR; tensors and constants:
// tflite_tensors.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "formats/tflite.h"
#include "formats/tflite_loader.h"

namespace mnv2 {
namespace tflr {

void Loader::lower_conv(const std::string& ctx, int code, const std::vector<int>& in,
                        const std::vector<int>& out, const fb::Table& opt) {
  const bool dw = code == kOpDepthwiseConv2D;
  if (in.size() < 2 || in.size() > 3 || out.size() != 1)
    fail(ctx, "expects 2 or 3 inputs and 1 output, has " + std::to_string(in.size()) + " and " +
                  std::to_string(out.size()));
  if (!opt.valid()) fail(ctx, "missing options");
  // Conv2DOptions: padding 0, stride_w 1, stride_h 2, act 3, dilation_w 4, dilation_h 5.
  // DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3, act 4,
  // dilation_w 5, dilation_h 6.
  const int padding = opt.scalar<int8_t>(0, 0);
  const int stride_w = opt.scalar<int32_t>(1, 0), stride_h = opt.scalar<int32_t>(2, 0);
  const int act = opt.scalar<int8_t>(dw ? 4 : 3, 0);
  const int dil_w = opt.scalar<int32_t>(dw ? 5 : 4, 1), dil_h = opt.scalar<int32_t>(dw ? 6 : 5, 1);
  const int opt_mult = dw ? opt.scalar<int32_t>(3, 0) : 1;
  if (dil_w != 1 || dil_h != 1)
    fail(ctx, "dilation " + std::to_string(dil_h) + "x" + std::to_string(dil_w) +
                  " is not supported (only 1)");
  if (stride_w < 1 || stride_h < 1 || stride_w > 64 || stride_h > 64)
    fail(ctx, "invalid stride " + std::to_string(stride_h) + "x" + std::to_string(stride_w));
  if (padding != kPaddingSame && padding != kPaddingValid)
    fail(ctx, "unknown padding type " + std::to_string(padding));

  const int x = node_of(in[0], ctx);  // a PAD before is a Pad node fold-pad merges
  int pt = 0, pb = 0, pl = 0, pr = 0;
  const Shape xs = g_.node(x).shape;

  const TensorInfo& wt = tensor(in[1], ctx);
  if (wt.shape.size() != 4)
    fail(ctx, "weights " + tdesc(in[1]) + " have shape " + shape_str(wt.shape) +
                  ", expected 4-D");
  const int64_t kh = wt.shape[1], kw = wt.shape[2];
  if (kh < 1 || kw < 1 || kh > 64 || kw > 64)
    fail(ctx, "kernel " + std::to_string(kh) + "x" + std::to_string(kw) + " is not supported");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = dw ? OpType::DepthwiseConv2D : OpType::Conv2D;
  n.inputs = {x};
  n.kernel_h = int(kh), n.kernel_w = int(kw);
  n.stride_h = stride_h, n.stride_w = stride_w;
  int channels;
  if (dw) {
    if (wt.shape[0] != 1)
      fail(ctx, "depthwise weights " + tdesc(in[1]) + " have shape " + shape_str(wt.shape) +
                    ", expected [1,KH,KW,C*multiplier]");
    const int64_t cm = wt.shape[3];
    if (cm < 1 || cm % xs.c != 0)
      fail(ctx, "depthwise weights have " + std::to_string(cm) +
                    " channels, not a multiple of the input's " + std::to_string(xs.c));
    n.depth_multiplier = int(cm / xs.c);
    if (opt_mult > 0 && opt_mult != n.depth_multiplier)
      fail(ctx, "depth_multiplier " + std::to_string(opt_mult) + " disagrees with the weights (" +
                    std::to_string(cm) + " channels for " + std::to_string(xs.c) + " inputs)");
    if (n.depth_multiplier > 64) fail(ctx, "depth multiplier above 64");
    channels = int(cm);
  } else {
    if (wt.shape[3] != xs.c) {
      if (wt.shape[3] > 0 && xs.c % wt.shape[3] == 0)
        fail(ctx, "grouped convolution (weights take " + std::to_string(wt.shape[3]) +
                      " of the input's " + std::to_string(xs.c) + " channels) is not supported");
      fail(ctx, "weights " + tdesc(in[1]) + " shape " + shape_str(wt.shape) +
                    " do not match the input's " + std::to_string(xs.c) + " channels");
    }
    if (wt.shape[0] < 1 || wt.shape[0] > kMaxDim) fail(ctx, "invalid output channel count");
    channels = int(wt.shape[0]);
    n.out_channels = channels;
  }
  n.activation = activation(act, ctx);

  // Padding from the actual shapes (TF SAME is asymmetric: the extra row goes after).
  int oh, ow, a, b;
  if (padding == kPaddingSame) {
    same_padding(xs.h, n.kernel_h, stride_h, &oh, &a, &b);
    pt += a, pb += b;
    same_padding(xs.w, n.kernel_w, stride_w, &ow, &a, &b);
    pl += a, pr += b;
  }
  n.pad_top = pt, n.pad_bottom = pb, n.pad_left = pl, n.pad_right = pr;
  if (pt > 64 || pb > 64 || pl > 64 || pr > 64) fail(ctx, "padding above 64 is not supported");
  const int span_h = xs.h + pt + pb - n.kernel_h, span_w = xs.w + pl + pr - n.kernel_w;
  if (span_h < 0 || span_w < 0)
    fail(ctx, "kernel " + std::to_string(kh) + "x" + std::to_string(kw) +
                  " is larger than the padded input " + xs.str());
  n.shape = {xs.n, span_h / stride_h + 1, span_w / stride_w + 1, channels};

  if (!int_only_weights(in[1], ctx)) n.weights = take_const(in[1], ctx, nullptr);
  if (in.size() == 3 && in[2] >= 0) {
    const TensorInfo& bt = tensor(in[2], ctx);
    std::vector<float> computed;
    if (bt.type == kInt32 && bt.scale.empty()) computed = bias_scale_for(in[0], in[1], channels, ctx);
    const auto bv = const_values(in[2], ctx, computed.empty() ? nullptr : &computed);
    if (int64_t(bv->size()) != channels)
      fail(ctx, "bias " + tdesc(in[2]) + " has " + std::to_string(bv->size()) +
                    " values for " + std::to_string(channels) + " channels");
    n.bias = take(*bv, ctx);
  }
  int_weights(n, in[1], in.size() == 3 ? in[2] : -1, channels, dw ? 3 : 0, ctx);
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_fully_connected(const std::string& ctx, const std::vector<int>& in,
                                   const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() < 2 || in.size() > 3 || out.size() != 1)
    fail(ctx, "expects 2 or 3 inputs and 1 output");
  // FullyConnectedOptions: act 0, weights_format 1, keep_num_dims 2.
  const int act = opt.valid() ? opt.scalar<int8_t>(0, 0) : 0;
  const int format = opt.valid() ? opt.scalar<int8_t>(1, 0) : 0;
  if (format != 0) fail(ctx, "shuffled weights format is not supported");
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  const TensorInfo& wt = tensor(in[1], ctx);
  if (wt.shape.size() != 2 || wt.shape[1] != xs.per_image() || wt.shape[0] < 1 ||
      wt.shape[0] > kMaxDim)
    fail(ctx, "weights " + tdesc(in[1]) + " shape " + shape_str(wt.shape) +
                  " do not fit the input " + xs.str());
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::FullyConnected;
  n.inputs = {x};
  n.out_channels = int(wt.shape[0]);
  n.activation = activation(act, ctx);
  n.shape = {xs.n, 1, 1, n.out_channels};
  if (!int_only_weights(in[1], ctx)) n.weights = take_const(in[1], ctx, nullptr);
  if (in.size() == 3 && in[2] >= 0) {
    const TensorInfo& bt = tensor(in[2], ctx);
    std::vector<float> computed;
    if (bt.type == kInt32 && bt.scale.empty())
      computed = bias_scale_for(in[0], in[1], n.out_channels, ctx);
    const auto bv = const_values(in[2], ctx, computed.empty() ? nullptr : &computed);
    if (int64_t(bv->size()) != n.out_channels)
      fail(ctx, "bias " + tdesc(in[2]) + " has " + std::to_string(bv->size()) + " values for " +
                    std::to_string(n.out_channels) + " outputs");
    n.bias = take(*bv, ctx);
  }
  int_weights(n, in[1], in.size() == 3 ? in[2] : -1, n.out_channels, 0, ctx);
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

// ADD of two activations; ADD / MUL with a per-channel constant become a ChannelAffine.
void Loader::lower_binary(const std::string& ctx, int code, const std::vector<int>& in,
                          const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() != 2 || out.size() != 1) fail(ctx, "expects 2 inputs and 1 output");
  const int act = opt.valid() ? opt.scalar<int8_t>(0, 0) : 0;
  if (act != kActNone)
    fail(ctx, std::string("fused activation ") + activation_type_name(act) + " on " +
                  op_code_name(code) + " is not supported");
  const bool c0 = is_const(in[0], ctx), c1 = is_const(in[1], ctx);
  if (!c0 && !c1) {
    if (code != kOpAdd) fail(ctx, "MUL of two activations is not supported");
    const int a = node_of(in[0], ctx), b = node_of(in[1], ctx);
    if (!(g_.node(a).shape == g_.node(b).shape))
      fail(ctx, "operand shapes differ (" + g_.node(a).shape.str() + " vs " +
                    g_.node(b).shape.str() + "); broadcasting ADD is not supported");
    Node n;
    n.name = tensor(out[0], ctx).name;
    n.op = OpType::Add;
    n.inputs = {a, b};
    n.shape = g_.node(a).shape;
    check_declared(out[0], n.shape, ctx);
    bind_node(out[0], add_node(std::move(n), ctx), ctx);
    return;
  }
  if (c0 && c1) fail(ctx, "both operands are constants");
  const int xt = c0 ? in[1] : in[0], ct = c0 ? in[0] : in[1];
  const int x = node_of(xt, ctx);
  const Shape xs = g_.node(x).shape;
  const auto cv = const_values(ct, ctx, nullptr);
  const std::vector<int64_t>& cs = tensor(ct, ctx).shape;
  bool per_channel = !cs.empty() && cs.back() == xs.c;
  for (size_t i = 0; i + 1 < cs.size(); ++i) per_channel = per_channel && cs[i] == 1;
  const bool scalar = cv->size() == 1;
  if (!per_channel && !scalar)
    fail(ctx, "constant operand " + tdesc(ct) + " of shape " + shape_str(cs) +
                  " is not per-channel for input " + xs.str());
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::ChannelAffine;
  n.inputs = {x};
  n.shape = xs;
  charge(2 * int64_t(xs.c), ctx);
  n.weights.assign(size_t(xs.c), 1.f);
  n.bias.assign(size_t(xs.c), 0.f);
  for (int c = 0; c < xs.c; ++c) {
    const float v = (*cv)[scalar ? 0 : size_t(c)];
    (code == kOpMul ? n.weights : n.bias)[size_t(c)] = v;
  }
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_pool(const std::string& ctx, const std::vector<int>& in,
                        const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
  if (!opt.valid()) fail(ctx, "missing options");
  // Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_w 3, filter_h 4, act 5.
  const int padding = opt.scalar<int8_t>(0, 0);
  const int sw = opt.scalar<int32_t>(1, 0), sh = opt.scalar<int32_t>(2, 0);
  const int fw = opt.scalar<int32_t>(3, 0), fh = opt.scalar<int32_t>(4, 0);
  const int act = opt.scalar<int8_t>(5, 0);
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  if (sw < 1 || sh < 1 || fw < 1 || fh < 1)
    fail(ctx, "invalid stride/filter " + std::to_string(sh) + "x" + std::to_string(sw) + "/" +
                  std::to_string(fh) + "x" + std::to_string(fw));
  if (act != kActNone)
    fail(ctx, std::string("fused activation ") + activation_type_name(act) +
                  " on AVERAGE_POOL_2D is not supported");
  int64_t oh, ow;
  if (padding == kPaddingSame) {
    oh = (int64_t(xs.h) + sh - 1) / sh, ow = (int64_t(xs.w) + sw - 1) / sw;
  } else if (padding == kPaddingValid) {
    oh = xs.h >= fh ? (xs.h - fh) / sh + 1 : 0;
    ow = xs.w >= fw ? (xs.w - fw) / sw + 1 : 0;
  } else {
    fail(ctx, "unknown padding type " + std::to_string(padding));
  }
  if (!(oh == 1 && ow == 1 && fh >= xs.h && fw >= xs.w))
    fail(ctx, "a " + std::to_string(fh) + "x" + std::to_string(fw) + " average pool (stride " +
                  std::to_string(sh) + ") on a " + std::to_string(xs.h) + "x" +
                  std::to_string(xs.w) +
                  " map is not a global pool; only global average pooling is supported");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::GlobalAvgPool;
  n.inputs = {x};
  n.shape = {xs.n, 1, 1, xs.c};
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_mean(const std::string& ctx, const std::vector<int>& in,
                        const std::vector<int>& out) {
  if (in.size() != 2 || out.size() != 1) fail(ctx, "expects 2 inputs and 1 output");
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  std::vector<int64_t> axes = const_ints(in[1], ctx);
  for (int64_t& a : axes) {
    if (a < -4 || a > 3) fail(ctx, "axis " + std::to_string(a) + " out of range");
    if (a < 0) a += 4;
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (axes != std::vector<int64_t>{1, 2})
    fail(ctx, "MEAN over axes " + shape_str(axes) +
                  " is not supported (only over height and width, axes [1,2])");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::GlobalAvgPool;
  n.inputs = {x};
  n.shape = {xs.n, 1, 1, xs.c};
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_reshape(const std::string& ctx, const std::vector<int>& in,
                           const std::vector<int>& out) {
  if (in.empty() || in.size() > 2 || out.size() != 1) fail(ctx, "expects 1-2 inputs, 1 output");
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  const std::vector<int64_t>& d = tensor(out[0], ctx).shape;
  if (d.empty() || d.size() > 4)
    fail(ctx, "output " + tdesc(out[0]) + " has shape " + shape_str(d) + " (rank 1-4 supported)");
  for (int64_t v : d)
    if (v <= 0 || v > (int64_t(1) << 30))
      fail(ctx, "output " + tdesc(out[0]) + " has unusable shape " + shape_str(d));
  // The leading dimension is the batch unless the tensor is 1-D.
  std::vector<int64_t> per(d.size() == 1 ? d.begin() : d.begin() + 1, d.end());
  if (d.size() > 1 && d[0] != 1)
    fail(ctx, "output " + tdesc(out[0]) + " shape " + shape_str(d) + " folds the batch");
  int64_t count = 1;
  for (int64_t v : per) count = sat_mul(count, v);
  if (count != xs.per_image())
    fail(ctx, "reshape of " + xs.str() + " to " + shape_str(d) + " changes the element count");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::Reshape;
  n.inputs = {x};
  if (per.size() <= 1) {
    n.reshape_to = {0, 0, 0, 0};  // flatten
    n.shape = {xs.n, 1, 1, int(count)};
  } else {
    while (per.size() < 3) per.insert(per.begin(), 1);
    if (per[0] > kMaxDim || per[1] > kMaxDim || per[2] > kMaxDim)
      fail(ctx, "reshape target " + shape_str(d) + " too large");
    n.reshape_to = {0, int(per[0]), int(per[1]), int(per[2])};
    n.shape = {xs.n, int(per[0]), int(per[1]), int(per[2])};
  }
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_softmax(const std::string& ctx, const std::vector<int>& in,
                           const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
  const float beta = opt.valid() ? opt.scalar<float>(0, 0.f) : 0.f;
  if (!std::isfinite(beta)) fail(ctx, "beta is not finite");
  int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  if (beta != 1.f) {  // softmax(beta * x): scale first
    Node a;
    a.name = tensor(out[0], ctx).name + "/beta";
    a.op = OpType::ChannelAffine;
    a.inputs = {x};
    a.shape = xs;
    charge(2 * int64_t(xs.c), ctx);
    a.weights.assign(size_t(xs.c), beta);
    a.bias.assign(size_t(xs.c), 0.f);
    x = add_node(std::move(a), ctx);
    softmax_beta_nodes_.insert(x);
  }
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::Softmax;
  n.inputs = {x};
  n.shape = xs;
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_pad(const std::string& ctx, const std::vector<int>& in,
                       const std::vector<int>& out) {
  if (in.size() != 2 || out.size() != 1) fail(ctx, "expects 2 inputs and 1 output");
  const int x = node_of(in[0], ctx);
  const std::vector<int64_t> p = const_ints(in[1], ctx);
  if (p.size() != 8) fail(ctx, "paddings must be a [4,2] tensor");
  if (p[0] || p[1] || p[6] || p[7])
    fail(ctx, "padding of the batch or channel dimension is not supported");
  for (int64_t v : p)
    if (v < 0 || v > 64) fail(ctx, "padding " + std::to_string(v) + " outside [0, 64]");
  // A Pad node (fold-pad merges it into the convolutions that read it; a quantized PAD fills
  // with its zero point, real 0, as the integer convolution pads, so it must keep the
  // quantization of its input).
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::Pad;
  n.inputs = {x};
  n.pad_top = int(p[2]), n.pad_bottom = int(p[3]), n.pad_left = int(p[4]), n.pad_right = int(p[5]);
  const Shape xs = g_.node(x).shape;
  n.shape = {xs.n, xs.h + n.pad_top + n.pad_bottom, xs.w + n.pad_left + n.pad_right, xs.c};
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

// A stand-alone RELU/RELU6 (fold-activation fuses it into the layer before it).
void Loader::lower_activation(const std::string& ctx, int code, const std::vector<int>& in,
                              const std::vector<int>& out) {
  if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
  const int x = node_of(in[0], ctx);
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::Activation;
  n.activation = code == kOpRelu6 ? Activation::Relu6 : Activation::Relu;
  n.inputs = {x};
  n.shape = g_.node(x).shape;
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower(int index, int code, const fb::Table& op) {
  const std::string ctx =
      "operator " + std::to_string(index) + " (" + op_code_name(code) + ")";
  auto ints = [&](int field, const char* what) {
    const fb::Vector v = op.vector(field, 4, what);
    if (v.size() > 16) fail(ctx, std::string(what) + ": " + std::to_string(v.size()) +
                                     " entries (at most 16 expected)");
    std::vector<int> r;
    for (uint32_t i = 0; i < v.size(); ++i) r.push_back(v.at<int32_t>(i));
    return r;
  };
  const std::vector<int> in = ints(kOperatorInputs, "operator inputs");
  const std::vector<int> out = ints(kOperatorOutputs, "operator outputs");
  for (int t : out) tensor(t, ctx);
  for (int t : in)
    if (t != -1) tensor(t, ctx);
  const int opt_type = op.scalar<uint8_t>(kOperatorBuiltinOptionsType, 0);
  fb::Table opt;
  auto options = [&](int want) {
    if (opt_type != 0 && opt_type != want)
      fail(ctx, "builtin options of type " + std::to_string(opt_type) + ", expected " +
                    std::to_string(want));
    if (opt_type == want) opt = op.table(kOperatorBuiltinOptions, ctx + " options");
  };
  switch (code) {
    case kOpConv2D:
      options(kOptConv2D);
      lower_conv(ctx, code, in, out, opt);
      break;
    case kOpDepthwiseConv2D:
      options(kOptDepthwiseConv2D);
      lower_conv(ctx, code, in, out, opt);
      break;
    case kOpFullyConnected:
      options(kOptFullyConnected);
      lower_fully_connected(ctx, in, out, opt);
      break;
    case kOpAdd:
      options(kOptAdd);
      lower_binary(ctx, code, in, out, opt);
      break;
    case kOpMul:
      options(kOptMul);
      lower_binary(ctx, code, in, out, opt);
      break;
    case kOpAveragePool2D:
      options(kOptPool2D);
      lower_pool(ctx, in, out, opt);
      break;
    case kOpMean:
      lower_mean(ctx, in, out);
      break;
    case kOpReshape:
    case kOpSqueeze:
      lower_reshape(ctx, in, out);
      break;
    case kOpSoftmax:
      options(kOptSoftmax);
      lower_softmax(ctx, in, out, opt);
      break;
    case kOpPad:
      lower_pad(ctx, in, out);
      break;
    case kOpRelu:
    case kOpRelu6:
      lower_activation(ctx, code, in, out);
      break;
    case kOpQuantize:
    case kOpDequantize: {
      // Everything runs in float: (de)quantizing an activation is the identity on real
      // values, and a (de)quantized constant is its real values.
      if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
      if (is_const(in[0], ctx)) {
        Value v;
        v.kind = Value::Const;
        v.data = const_values(in[0], ctx, nullptr);
        v.shape = tensor(in[0], ctx).shape;
        if (tensor(out[0], ctx).shape != v.shape)
          fail(ctx, "output shape " + shape_str(tensor(out[0], ctx).shape) +
                        " differs from the input's " + shape_str(v.shape));
        bind(out[0], std::move(v), ctx);
      } else {
        bind_node(out[0], node_of(in[0], ctx), ctx);
      }
      break;
    }
    default:
      fail(ctx, std::string("operator ") + op_code_name(code) + " (builtin code " +
                    std::to_string(code) + ") is not supported by mnv2");
  }
}


Translation Loader::run() {
  const fb::Table model = fb::root(buf_, "TFL3");
  const uint32_t version = model.scalar<uint32_t>(kModelVersion, 0);
  if (version != 3)
    fail("model", "schema version " + std::to_string(version) + " is not supported (3 is)");

  // Operator codes: builtin code = max(deprecated_builtin_code, builtin_code).
  const fb::Vector codes = model.vector(kModelOperatorCodes, 4, "operator codes");
  std::vector<int> op_codes;
  for (uint32_t i = 0; i < codes.size() && i < kMaxOperators; ++i) {
    const fb::Table c = codes.table(i, "operator code " + std::to_string(i));
    const int dep = c.scalar<int8_t>(kOpCodeDeprecatedBuiltin, 0);
    const int ext = c.scalar<int32_t>(kOpCodeBuiltin, 0);
    const int code = std::max(dep, ext);
    op_codes.push_back(code == kOpCustom ? -1 : code);
  }

  const fb::Vector subgraphs = model.vector(kModelSubgraphs, 4, "subgraphs");
  if (subgraphs.empty()) fail("model", "has no subgraphs");
  buffers_ = model.vector(kModelBuffers, 4, "buffers");
  // Verify every buffer up front (a truncated file loses its buffers first).
  for (uint32_t i = 0; i < buffers_.size(); ++i) {
    const std::string bctx = "buffer " + std::to_string(i);
    const fb::Table b = buffers_.table(i, bctx);
    b.vector(kBufferData, 1, "buffer data");
    const uint64_t offset = b.scalar<uint64_t>(kBufferOffset, 0);
    if (offset > 1) buf_.need(offset, b.scalar<uint64_t>(kBufferSize, 0), bctx, "external data");
  }
  const fb::Table sg = subgraphs.table(0, "subgraph 0");
  tensors_ = sg.vector(kSubGraphTensors, 4, "tensors");
  if (tensors_.size() > kMaxTensors)
    fail("subgraph 0", std::to_string(tensors_.size()) + " tensors (limit " +
                           std::to_string(kMaxTensors) + ")");
  info_.resize(tensors_.size());
  values_.resize(tensors_.size());
  // Constants cannot legitimately expand beyond a few values per byte of the file.
  weight_budget_ = int64_t(buf_.size()) * 4 + (int64_t(1) << 24);

  const fb::Vector inputs = sg.vector(kSubGraphInputs, 4, "subgraph inputs");
  const fb::Vector outputs = sg.vector(kSubGraphOutputs, 4, "subgraph outputs");
  const fb::Vector ops = sg.vector(kSubGraphOperators, 4, "operators");
  if (inputs.size() != 1)
    fail("subgraph 0", "has " + std::to_string(inputs.size()) + " inputs; exactly one expected");
  if (outputs.empty()) fail("subgraph 0", "has no outputs");
  if (ops.size() > kMaxOperators)
    fail("subgraph 0", std::to_string(ops.size()) + " operators (limit " +
                           std::to_string(kMaxOperators) + ")");

  // Every operator table and input list is checked before any operator is translated.
  std::vector<fb::Table> op_tables;
  op_tables.reserve(ops.size());
  for (uint32_t i = 0; i < ops.size(); ++i) {
    op_tables.push_back(ops.table(i, "operator " + std::to_string(i)));
    op_tables.back().vector(kOperatorInputs, 4, "operator inputs");
  }

  // The graph input.
  const int in_t = inputs.at<int32_t>(0);
  const std::string in_ctx = "subgraph 0 input";
  const TensorInfo& it = tensor(in_t, in_ctx);
  if (it.shape.size() != 4 || it.shape[0] != 1)
    fail(in_ctx, tdesc(in_t) + " has shape " + shape_str(it.shape) + "; expected [1,H,W,C]");
  for (int d = 1; d < 4; ++d)
    if (it.shape[size_t(d)] < 1 || it.shape[size_t(d)] > kMaxInputSide)
      fail(in_ctx, tdesc(in_t) + " has unsupported shape " + shape_str(it.shape));
  ModelInfo& inf = g_.info;
  inf.format = "tflite";
  inf.input_name = it.name;
  inf.layout = Layout::NHWC;
  inf.channel_order = ChannelOrder::RGB;
  inf.height = int(it.shape[1]);
  inf.width = int(it.shape[2]);
  inf.channels = int(it.shape[3]);
  inf.normalization_in_graph = false;
  switch (it.type) {
    case kFloat32:
      inf.mean = inf.scale = 127.5f;
      break;
    case kUInt8:
    case kInt8: {
      // The IR input is the real value; feeding pixel p as the quantized input means
      // real = (q - z) * s with q = p (uint8) or p - 128 (int8).
      if (it.scale.size() != 1 || !(it.scale[0] > 0) || !std::isfinite(it.scale[0]))
        fail(in_ctx, tdesc(in_t) + " is " + type_name(it.type) +
                         " without a valid per-tensor scale");
      const int64_t z = it.zero_point.empty() ? 0 : it.zero_point[0];
      if (z < -1024 || z > 1024) fail(in_ctx, tdesc(in_t) + " has an invalid zero point");
      inf.mean = float(z + (it.type == kInt8 ? 128 : 0));
      inf.scale = float(1.0 / double(it.scale[0]));
      break;
    }
    default:
      fail(in_ctx, tdesc(in_t) + " has type " + type_name(it.type) +
                       " (float32, uint8 or int8 expected)");
  }
  Node input;
  input.name = it.name;
  input.op = OpType::Input;
  input.shape = {1, inf.height, inf.width, inf.channels};
  g_.input = add_node(std::move(input), in_ctx);
  bind_node(in_t, g_.input, in_ctx);

  for (uint32_t i = 0; i < ops.size(); ++i) {
    const fb::Table& op = op_tables[i];
    const uint32_t oc = op.scalar<uint32_t>(kOperatorOpcodeIndex, 0);
    const std::string ctx = "operator " + std::to_string(i);
    if (oc >= op_codes.size())
      fail(ctx, "opcode index " + std::to_string(oc) + " out of range (" +
                    std::to_string(op_codes.size()) + " operator codes)");
    if (op_codes[oc] < 0) {
      const fb::Table c = codes.table(oc, "operator code " + std::to_string(oc));
      fail(ctx, "custom operator '" + c.string(kOpCodeCustom, 64) + "' is not supported");
    }
    lower(int(i), op_codes[oc], op);
  }

  const int out_t = outputs.at<int32_t>(0);
  g_.output = node_of(out_t, "subgraph 0 output");
  inf.output_name = tensor(out_t, "subgraph 0 output").name;

  // Features: the last global pool; logits: what the final softmax reads.
  for (int id = g_.output; id >= 0; --id)
    if (g_.node(id).op == OpType::GlobalAvgPool) {
      g_.features = id;
      break;
    }
  int probe = g_.output;
  while (g_.node(probe).op == OpType::Reshape) probe = g_.node(probe).inputs[0];
  if (g_.node(probe).op == OpType::Softmax) {
    int l = g_.node(probe).inputs[0];
    if (softmax_beta_nodes_.count(l)) l = g_.node(l).inputs[0];
    g_.logits = l;
  } else {
    g_.logits = g_.output;
  }

  // A path-derived name; mnv2 metadata (written by `mnv2 convert`) may refine the info.
  std::string stem = path_;
  if (const size_t s = stem.find_last_of('/'); s != std::string::npos) stem = stem.substr(s + 1);
  if (const size_t d = stem.rfind(".tflite"); d != std::string::npos && d > 0) stem.resize(d);
  inf.name = stem;
  inf.quantized = quantized_;
  finish_integer_view();
  read_metadata(model);
  Translation t{std::move(g_), "'" + path_ + "'", nullptr};
  t.float_weights = !skipped_floats_;
  t.finish = [path = path_, background_set = background_set_](Graph& g) {
    try {
      g.finalize();
    } catch (const Error& e) {
      throw Error("'" + path + "': " + e.what());
    }
    if (!background_set) g.info.has_background = g.info.num_classes == 1001;
  };
  return t;
}


}  // namespace tflr

namespace {

// Without float weights first when asked; a file whose integer view turns out incomplete
// is translated again with them (the integer executor cannot run it anyway).
Translation translate_tflite_data(const uint8_t* data, size_t size, const std::string& name,
                                  const LoadOptions& options, const MappedFile* file) {
  if (!options.float_weights) {
    tflr::Loader l(data, size, name, false, file);
    Translation t = l.run();
    if (l.integer_view()) return t;
  }
  tflr::Loader l(data, size, name, true, file);
  return l.run();
}

}  // namespace

Translation translate_tflite_bytes(const uint8_t* data, size_t size, const std::string& name,
                                   const LoadOptions& options) {
  return translate_tflite_data(data, size, name, options, nullptr);
}

Translation translate_tflite(const std::string& path, const LoadOptions& options) {
  const MappedFile file(path);
  return translate_tflite_data(file.data(), file.size(), path, options, &file);
}

}  // namespace mnv2
