// TF frozen GraphDef reader: translation of the TF-slim inference ops of a parsed graph
// (tf_graphdef_parse.h) into the IR. Batch norms, bias adds and activations stay nodes of
// their own, for the graph passes to fold.
#include "formats/tf_graphdef.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>

#include "formats/tf_graphdef_parse.h"

namespace mnv2 {
namespace {

using namespace tfgraph;

// What a TF node's output is while lowering.
struct Value {
  enum Kind { Unset, Const, Tensor4 } kind = Unset;
  std::shared_ptr<const Tensor> c;  // Const
  int ir = -1;                      // Tensor4: the IR node holding the data
  int rank = 4;                     // TF rank: 4 (NHWC) or 2 ([N,C] with h = w = 1)
  int h = 0, w = 0, ch = 0;         // per-image shape
};
class GraphDefLoader : public ParsedGraphDef {
 public:
  GraphDefLoader(std::string_view bytes, std::string source)
      : ParsedGraphDef(bytes, std::move(source)) {}

  Translation load() {
    lower();
    return finish();
  }

 private:
  // ---------------------------------------------------------------- lowering helpers
  const Value& in_value(const TfNode& n, size_t k) const {
    if (k >= n.inputs.size()) fail(n, "missing input " + std::to_string(k));
    return values_[size_t(n.inputs[k])];
  }
  const Tensor& const_in(const TfNode& n, size_t k, const char* what) const {
    const Value& v = in_value(n, k);
    if (v.kind != Value::Const)
      fail(n, std::string(what) + " (input " + std::to_string(k) + ", '" +
                  nodes_[size_t(n.inputs[k])].name + "') must be a constant");
    return *v.c;
  }
  const Value& tensor_in(const TfNode& n, size_t k) const {
    const Value& v = in_value(n, k);
    if (v.kind != Value::Tensor4)
      fail(n, "input " + std::to_string(k) + " ('" + nodes_[size_t(n.inputs[k])].name +
                  "') must be a computed tensor, not a constant");
    return v;
  }
  void expect_arity(const TfNode& n, size_t want) const {
    if (n.inputs.size() != want)
      fail(n, "expects " + std::to_string(want) + " input(s), has " +
                  std::to_string(n.inputs.size()));
  }
  void expect_nhwc(const TfNode& n) const {
    const std::string df = attr_string(n, "data_format", "NHWC");
    if (df != "NHWC") fail(n, "data_format '" + df + "' is not supported (only NHWC)");
  }
  void expect_float(const TfNode& n) const {
    const int64_t t = attr_type(n, "T", kDtFloat);
    if (t != kDtFloat) fail(n, "element type " + dtype_name(t) + " is not supported");
  }
  // A constant broadcast over channels: a scalar or a vector of `c` values whose other
  // dims are 1.
  std::vector<float> per_channel(const TfNode& n, const Tensor& t, int c, const char* what) {
    if (!t.is_float()) fail(n, std::string(what) + " must be float32, is " + dtype_name(t.dtype));
    const int64_t cnt = t.count();
    if (cnt == 1) return std::vector<float>(size_t(c), t.f[0]);
    bool ok = cnt == c && !t.dims.empty() && t.dims.back() == c;
    if (ok)
      for (size_t k = 0; k + 1 < t.dims.size(); ++k) ok = ok && t.dims[k] == 1;
    if (!ok)
      fail(n, std::string(what) + " has shape " + dims_str(t.dims) + ", expected [" +
                  std::to_string(c) + "] or a scalar");
    return std::vector<float>(t.f.begin(), t.f.begin() + c);
  }
  Value tensor_value(int ir, int rank, int h, int w, int c) {
    Value v;
    v.kind = Value::Tensor4;
    v.ir = ir;
    v.rank = rank;
    v.h = h;
    v.w = w;
    v.ch = c;
    return v;
  }
  int add_ir(Node node) { return g_.add(std::move(node)); }
  // A node of the same shape reading x (bias adds, batch norms, activations, identities).
  Value unary(const TfNode& n, const Value& x, Node node, int rank = 0) {
    node.name = n.name;
    node.inputs = {x.ir};
    return tensor_value(add_ir(std::move(node)), rank ? rank : x.rank, x.h, x.w, x.ch);
  }
  static std::string strip_suffix(const std::string& s, const std::string& suffix) {
    if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
      return s.substr(0, s.size() - suffix.size());
    return s;
  }

  // Add/AddV2/Sub/Mul where one operand is a constant: a ConstArith node.
  Value arith_const(const TfNode& n, size_t xk, size_t ck, char opch) {
    const Value& x = tensor_in(n, xk);
    Node a;
    a.op = OpType::ConstArith;
    a.weights = per_channel(n, const_in(n, ck, "operand"), x.ch, "the constant operand");
    a.arith = opch == '+' ? Arith::Add : opch == '*' ? Arith::Mul : xk == 0 ? Arith::Sub : Arith::SubFrom;
    return unary(n, x, std::move(a));
  }

  // ---------------------------------------------------------------- the ops
  Value lower_node(const TfNode& n) {
    const std::string& op = n.op;
    if (op == "Const") {
      if (!n.inputs.empty()) fail(n, "a Const has no data inputs");
      const int64_t dt = attr_type(n, "dtype", kDtFloat);
      const AttrRef* a = attr(n, "value");
      if (!a) fail(n, "Const without a 'value' attr");
      pb::Field f;
      attr_field(n, "value", 8, pb::kLength, &f, "a tensor");
      auto t = parse_tensor(n, attr_reader(n, *a).sub(f));
      if (t->dtype != dt)
        fail(n, "dtype attr " + dtype_name(dt) + " differs from the tensor's " +
                    dtype_name(t->dtype));
      Value v;
      v.kind = Value::Const;
      v.c = std::move(t);
      return v;
    }
    if (op == "Identity" || op == "StopGradient" || op == "Snapshot") {
      expect_arity(n, 1);
      const Value& v = in_value(n, 0);
      if (v.kind == Value::Unset) fail(n, "input has no value");
      if (v.kind != Value::Tensor4) return v;  // constants pass as they are
      Node id;
      id.op = OpType::Identity;
      return unary(n, v, std::move(id));
    }
    if (op == "Placeholder" || op == "PlaceholderV2") {
      if (g_.input >= 0)
        fail(n, "a second graph input; only one Placeholder is supported (the first is '" +
                    g_.node(g_.input).name + "')");
      const int64_t dt = attr_type(n, "dtype", 0);
      if (dt != kDtFloat) fail(n, "input type " + dtype_name(dt) + " is not supported (float32 only)");
      std::vector<int64_t> dims;
      pb::Field f;
      bool known = attr_field(n, "shape", 7, pb::kLength, &f, "a shape") &&
                   parse_shape(n, attr_reader(n, *attr(n, "shape")).sub(f), &dims);
      if (!known || dims.size() != 4)
        fail(n, "the input shape must be a known [N,H,W,C], got " +
                    (known ? dims_str(dims) : std::string("unknown")));
      if (dims[0] != -1 && (dims[0] < 1 || dims[0] > 4096))  // 4096: Options::max_batch
        fail(n, "invalid batch dimension in " + dims_str(dims) + " (dynamic or 1..4096)");
      for (int k = 1; k < 4; ++k)
        if (dims[size_t(k)] < 1 || dims[size_t(k)] > kMaxDim)
          fail(n, "the input shape " + dims_str(dims) + " has an unknown or invalid dimension");
      Node in;
      in.name = n.name;
      in.op = OpType::Input;
      g_.input = add_ir(std::move(in));
      g_.info.input_name = n.name;
      g_.info.height = int(dims[1]);
      g_.info.width = int(dims[2]);
      g_.info.channels = int(dims[3]);
      return tensor_value(g_.input, 4, int(dims[1]), int(dims[2]), int(dims[3]));
    }
    if (op == "Conv2D" || op == "DepthwiseConv2dNative") return lower_conv(n);
    if (op == "BiasAdd") {
      expect_arity(n, 2);
      expect_nhwc(n);
      const Value& x = tensor_in(n, 0);
      const Tensor& b = const_in(n, 1, "the bias");
      if (b.dims.size() != 1) fail(n, "bias must be 1-D, has shape " + dims_str(b.dims));
      Node add;
      add.op = OpType::ConstArith;
      add.arith = Arith::Add;
      add.weights = per_channel(n, b, x.ch, "the bias");
      return unary(n, x, std::move(add));
    }
    if (op == "FusedBatchNorm" || op == "FusedBatchNormV2" || op == "FusedBatchNormV3")
      return lower_batchnorm(n);
    if (op == "Relu6" || op == "Relu") {
      expect_arity(n, 1);
      expect_float(n);
      const Value& x = tensor_in(n, 0);
      Node act;
      act.op = OpType::Activation;
      act.activation = op == "Relu6" ? Activation::Relu6 : Activation::Relu;
      return unary(n, x, std::move(act));
    }
    if (op == "Add" || op == "AddV2" || op == "Sub" || op == "Mul") {
      expect_arity(n, 2);
      expect_float(n);
      const Value& a = in_value(n, 0);
      const Value& b = in_value(n, 1);
      const char opch = op == "Mul" ? '*' : op == "Sub" ? '-' : '+';
      if (a.kind == Value::Const && b.kind == Value::Const)
        fail(n, "arithmetic between two constants is not supported");
      if (b.kind == Value::Const) return arith_const(n, 0, 1, opch);
      if (a.kind == Value::Const) return arith_const(n, 1, 0, opch);
      if (opch != '+') fail(n, op + " of two computed tensors is not supported");
      const Value& x = tensor_in(n, 0);
      const Value& y = tensor_in(n, 1);
      if (x.rank != y.rank || x.h != y.h || x.w != y.w || x.ch != y.ch)
        fail(n, "operand shapes differ: [" + std::to_string(x.h) + "," + std::to_string(x.w) +
                    "," + std::to_string(x.ch) + "] vs [" + std::to_string(y.h) + "," +
                    std::to_string(y.w) + "," + std::to_string(y.ch) + "]");
      Node add;
      add.name = n.name;
      add.op = OpType::Add;
      add.inputs = {x.ir, y.ir};
      return tensor_value(add_ir(std::move(add)), x.rank, x.h, x.w, x.ch);
    }
    if (op == "AvgPool") {
      expect_arity(n, 1);
      expect_nhwc(n);
      expect_float(n);
      const Value& x = tensor_in(n, 0);
      if (x.rank != 4) fail(n, "input must be 4-D");
      bool has_k = false, has_s = false;
      const auto k = attr_ints(n, "ksize", &has_k);
      const auto s = attr_ints(n, "strides", &has_s);
      if (!has_k || k.size() != 4 || k[0] != 1 || k[3] != 1)
        fail(n, "ksize must be [1,KH,KW,1], got " + dims_str(k));
      if (!has_s || s.size() != 4 || s[0] != 1 || s[3] != 1 || s[1] < 1 || s[2] < 1)
        fail(n, "strides must be [1,SH,SW,1], got " + dims_str(s));
      const std::string pad = attr_string(n, "padding", "");
      const bool global = k[1] == x.h && k[2] == x.w &&
                          (pad == "VALID" || (pad == "SAME" && s[1] >= x.h && s[2] >= x.w));
      if (!global)
        fail(n, "only global average pooling is supported (kernel " + dims_str(k) +
                    ", padding '" + pad + "', input " + std::to_string(x.h) + "x" +
                    std::to_string(x.w) + ")");
      return global_pool(n, x, 4);
    }
    if (op == "Mean") {
      expect_arity(n, 2);
      const Value& x = tensor_in(n, 0);
      if (x.rank != 4) fail(n, "input must be 4-D");
      const Tensor& axes = const_in(n, 1, "the reduction axes");
      if (!axes.is_int()) fail(n, "reduction axes must be integers");
      std::vector<int64_t> ax = axes.i;
      for (int64_t& a : ax)
        if (a < 0) a += 4;
      std::sort(ax.begin(), ax.end());
      if (ax != std::vector<int64_t>{1, 2})
        fail(n, "only the mean over axes 1,2 (global pooling) is supported, got " +
                    dims_str(axes.i));
      return global_pool(n, x, attr_bool(n, "keep_dims", false) ? 4 : 2);
    }
    if (op == "Squeeze") {
      expect_arity(n, 1);
      const Value& x = tensor_in(n, 0);
      if (x.rank != 4) fail(n, "input must be 4-D");
      bool present = false;
      auto dims = attr_ints(n, "squeeze_dims", &present);
      if (!present || dims.empty()) dims = {1, 2};
      for (int64_t& d : dims)
        if (d < 0) d += 4;
      std::sort(dims.begin(), dims.end());
      if (dims != std::vector<int64_t>{1, 2})
        fail(n, "only squeezing dims 1,2 is supported, got " + dims_str(dims));
      if (x.h != 1 || x.w != 1)
        fail(n, "squeezes dims of size " + std::to_string(x.h) + "x" + std::to_string(x.w));
      Node id;  // [N,1,1,C] -> [N,C]: the same NHWC memory
      id.op = OpType::Identity;
      return unary(n, x, std::move(id), 2);
    }
    if (op == "Shape") {
      expect_arity(n, 1);
      const Value& x = tensor_in(n, 0);
      auto t = std::make_shared<Tensor>();
      t->dtype = attr_type(n, "out_type", kDtInt32);
      t->i = x.rank == 4 ? std::vector<int64_t>{1, x.h, x.w, x.ch} : std::vector<int64_t>{1, x.ch};
      t->dims = {int64_t(t->i.size())};
      Value v;
      v.kind = Value::Const;
      v.c = std::move(t);
      return v;
    }
    if (op == "Reshape") return lower_reshape(n);
    if (op == "Softmax") {
      expect_arity(n, 1);
      expect_float(n);
      const Value& x = tensor_in(n, 0);
      Node sm;
      sm.name = n.name;
      sm.op = OpType::Softmax;
      sm.inputs = {x.ir};
      return tensor_value(add_ir(std::move(sm)), x.rank, x.h, x.w, x.ch);
    }
    if (op == "Pad" || op == "PadV2") {
      expect_arity(n, op == "Pad" ? 2 : 3);
      const Value& x0 = tensor_in(n, 0);
      if (x0.rank != 4) fail(n, "input must be 4-D");
      const Tensor& p = const_in(n, 1, "the paddings");
      if (!p.is_int() || p.dims != std::vector<int64_t>{4, 2})
        fail(n, "paddings must be an int [4,2] constant, got " + dims_str(p.dims));
      if (op == "PadV2") {
        const Tensor& cv = const_in(n, 2, "the pad value");
        if (!cv.is_float() || cv.count() != 1 || cv.f[0] != 0.f)
          fail(n, "only zero padding is supported");
      }
      for (int64_t v : p.i)
        if (v < 0 || v > 64) fail(n, "pad amount " + std::to_string(v) + " is not supported");
      if (p.i[0] || p.i[1] || p.i[6] || p.i[7])
        fail(n, "padding the batch or channel dimension is not supported");
      // fold-pad merges it into the convolutions that read it.
      Node pad;
      pad.name = n.name;
      pad.op = OpType::Pad;
      pad.inputs = {x0.ir};
      pad.pad_top = int(p.i[2]);
      pad.pad_bottom = int(p.i[3]);
      pad.pad_left = int(p.i[4]);
      pad.pad_right = int(p.i[5]);
      return tensor_value(add_ir(std::move(pad)), 4, x0.h + pad.pad_top + pad.pad_bottom,
                          x0.w + pad.pad_left + pad.pad_right, x0.ch);
    }
    fail(n, "unsupported op '" + op + "' (mnv2 reads the MobileNet inference ops only)");
  }

  Value global_pool(const TfNode& n, const Value& x, int rank) {
    Node p;
    p.name = n.name;
    p.op = OpType::GlobalAvgPool;
    p.inputs = {x.ir};
    const int id = add_ir(std::move(p));
    features_ = id;
    return tensor_value(id, rank, 1, 1, x.ch);
  }

  Value lower_conv(const TfNode& n) {
    const bool depthwise = n.op == "DepthwiseConv2dNative";
    expect_arity(n, 2);
    expect_nhwc(n);
    expect_float(n);
    const Value& x = tensor_in(n, 0);
    if (x.rank != 4) fail(n, "input must be 4-D");
    const Tensor& w = const_in(n, 1, "the filter");
    if (!w.is_float()) fail(n, "filter must be float32, is " + dtype_name(w.dtype));
    if (w.dims.size() != 4) fail(n, "filter must be 4-D, has shape " + dims_str(w.dims));
    const int64_t kh = w.dims[0], kw = w.dims[1], ci = w.dims[2], co = w.dims[3];
    if (kh < 1 || kw < 1 || kh > 64 || kw > 64)
      fail(n, "unsupported kernel size " + dims_str(w.dims));
    if (ci != x.ch)
      fail(n, "filter " + dims_str(w.dims) + " expects " + std::to_string(ci) +
                  " input channels, the input has " + std::to_string(x.ch));
    if (co < 1 || co > kMaxDim || (depthwise && co > 64))
      fail(n, "invalid output channel count in filter " + dims_str(w.dims));
    bool has = false;
    const auto strides = attr_ints(n, "strides", &has);
    if (!has || strides.size() != 4 || strides[0] != 1 || strides[3] != 1 || strides[1] < 1 ||
        strides[2] < 1 || strides[1] > 64 || strides[2] > 64)
      fail(n, "strides must be [1,SH,SW,1], got " + dims_str(strides));
    const auto dil = attr_ints(n, "dilations", &has);
    for (int64_t d : dil)
      if (d != 1) fail(n, "dilated convolution is not supported, dilations " + dims_str(dil));
    const int sh = int(strides[1]), sw = int(strides[2]);
    int pt = 0, pb_ = 0, pl = 0, pr = 0;
    const int hh = x.h, ww = x.w;
    const std::string padding = attr_string(n, "padding", "");
    int oh = 0, ow = 0;
    if (padding == "SAME") {
      int a, b, c, d;
      same_padding(hh, int(kh), sh, &oh, &a, &b);
      same_padding(ww, int(kw), sw, &ow, &c, &d);
      pt += a;
      pb_ += b;
      pl += c;
      pr += d;
    } else if (padding == "VALID" || padding == "EXPLICIT") {
      if (padding == "EXPLICIT") {
        const auto e = attr_ints(n, "explicit_paddings", &has);
        if (e.size() != 8 || e[0] || e[1] || e[6] || e[7])
          fail(n, "explicit_paddings must be [0,0,T,B,L,R,0,0], got " + dims_str(e));
        for (int64_t v : e)
          if (v < 0 || v > 64) fail(n, "invalid explicit padding " + dims_str(e));
        pt += int(e[2]);
        pb_ += int(e[3]);
        pl += int(e[4]);
        pr += int(e[5]);
      }
      if (x.h + pt + pb_ < kh || x.w + pl + pr < kw)
        fail(n, "kernel " + dims_str(w.dims) + " is larger than the padded input");
      oh = (x.h + pt + pb_ - int(kh)) / sh + 1;
      ow = (x.w + pl + pr - int(kw)) / sw + 1;
    } else {
      fail(n, "padding '" + padding + "' is not supported (SAME, VALID, EXPLICIT)");
    }
    if (pt > 64 || pb_ > 64 || pl > 64 || pr > 64) fail(n, "padding too large");
    Node c;
    c.name = strip_suffix(n.name, depthwise ? "/depthwise" : "/Conv2D");
    c.op = depthwise ? OpType::DepthwiseConv2D : OpType::Conv2D;
    c.inputs = {x.ir};
    c.kernel_h = int(kh);
    c.kernel_w = int(kw);
    c.stride_h = sh;
    c.stride_w = sw;
    c.pad_top = pt;
    c.pad_bottom = pb_;
    c.pad_left = pl;
    c.pad_right = pr;
    int out_c;
    if (depthwise) {
      // TF [KH][KW][C][M] is the IR's [KH][KW][C*M] already.
      c.depth_multiplier = int(co);
      c.weights = w.f;
      out_c = int(ci * co);
    } else {
      // As TF stores it; normalise-layout reorders to [Cout][KH][KW][Cin].
      c.out_channels = int(co);
      c.weights = w.f;
      c.layout = WeightLayout::HWIO;
      out_c = int(co);
    }
    if (out_c > kMaxDim) fail(n, "too many output channels");
    const int id = add_ir(std::move(c));
    return tensor_value(id, 4, oh, ow, out_c);
  }

  Value lower_batchnorm(const TfNode& n) {
    expect_arity(n, 5);
    expect_nhwc(n);
    expect_float(n);
    if (attr_bool(n, "is_training", true))
      fail(n, "is_training is true; only inference-mode batch norm (is_training=false) can be "
              "folded");
    const float eps = attr_float(n, "epsilon", 0.0001f);
    if (!(eps >= 0.f) || !std::isfinite(eps)) fail(n, "invalid epsilon");
    const Value& x = tensor_in(n, 0);
    const int c = x.ch;
    Node bn;
    bn.op = OpType::BatchNorm;
    bn.weights = per_channel(n, const_in(n, 1, "scale"), c, "scale");
    bn.bias = per_channel(n, const_in(n, 2, "offset"), c, "offset");
    bn.bn_mean = per_channel(n, const_in(n, 3, "mean"), c, "mean");
    bn.bn_var = per_channel(n, const_in(n, 4, "variance"), c, "variance");
    bn.bn_epsilon = eps;
    return unary(n, x, std::move(bn));
  }

  Value lower_reshape(const TfNode& n) {
    expect_arity(n, 2);
    const Value& x = tensor_in(n, 0);
    const Tensor& t = const_in(n, 1, "the target shape");
    if (!t.is_int() || t.dims.size() != 1) fail(n, "target shape must be a 1-D integer constant");
    std::vector<int64_t> d = t.i;
    if (d.size() != 2 && d.size() != 4)
      fail(n, "only reshapes to [N,C] or [N,H,W,C] are supported, got " + dims_str(d));
    if (d[0] != -1 && d[0] != 1)
      fail(n, "the first (batch) dimension must stay the batch, got " + dims_str(d));
    const int64_t total = int64_t(x.h) * x.w * x.ch;
    int64_t known = 1, unknown = -1;
    for (size_t k = 1; k < d.size(); ++k) {
      if (d[k] == -1) {
        if (unknown >= 0 || d[0] == -1) fail(n, "more than one -1 in " + dims_str(d));
        unknown = int64_t(k);
      } else if (d[k] < 1 || d[k] > kMaxDim) {
        fail(n, "invalid target shape " + dims_str(d));
      } else {
        known *= d[k];
      }
    }
    if (unknown >= 0) {
      if (total % known) fail(n, "cannot reshape " + std::to_string(total) + " values to " + dims_str(d));
      d[size_t(unknown)] = total / known;
      if (d[size_t(unknown)] > kMaxDim) fail(n, "invalid target shape " + dims_str(d));
    } else if (known != total) {
      fail(n, "reshape of " + std::to_string(total) + " values per image to " + dims_str(d) +
                  " changes the size");
    }
    const int nh = d.size() == 4 ? int(d[1]) : 1, nw = d.size() == 4 ? int(d[2]) : 1;
    const int nc = int(d.back());
    if (nh == x.h && nw == x.w && nc == x.ch) {  // same NHWC memory
      Node id;
      id.op = OpType::Identity;
      return unary(n, x, std::move(id), int(d.size()));
    }
    Node r;
    r.name = n.name;
    r.op = OpType::Reshape;
    r.inputs = {x.ir};
    if (d.size() == 4) r.reshape_to = {0, nh, nw, nc};
    return tensor_value(add_ir(std::move(r)), int(d.size()), nh, nw, nc);
  }

  void lower() {
    values_.assign(nodes_.size(), Value());
    for (int id : order_) {
      if (!reachable_[size_t(id)]) continue;
      const TfNode& n = nodes_[size_t(id)];
      values_[size_t(id)] = lower_node(n);
    }
  }

  Translation finish() {
    const TfNode& out = nodes_[size_t(output_)];
    const Value& v = values_[size_t(output_)];
    if (v.kind != Value::Tensor4) fail(out, "the graph output is not a computed tensor");
    if (g_.input < 0) fail("the graph has no Placeholder input");
    g_.output = v.ir;
    g_.features = features_;
    ModelInfo& info = g_.info;
    std::string stem = src_;
    if (const size_t slash = stem.find_last_of('/'); slash != std::string::npos)
      stem = stem.substr(slash + 1);
    if (const size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0)
      stem = stem.substr(0, dot);
    info.name = stem;
    info.format = "tf-graphdef";
    info.output_name = out.name;
    info.layout = Layout::NHWC;
    info.channel_order = ChannelOrder::RGB;
    info.normalization_in_graph = false;
    info.mean = 127.5f;
    info.scale = 127.5f;
    Translation t{std::move(g_), "'" + src_ + "'", nullptr};
    t.finish = [src = src_, out_name = out.name](Graph& g) {
      if (g.node(g.output).op == OpType::Softmax) {
        g.node(g.output).name = out_name;  // the output keeps the name the file gives it
        g.logits = g.node(g.output).inputs[0];
      } else {
        g.logits = g.output;
      }
      // Arithmetic on the input inside the graph: the caller feeds raw pixels.
      ModelInfo& info = g.info;
      for (const Node& node : g.nodes)
        if (node.op == OpType::ChannelAffine && node.inputs[0] == g.input) {
          info.normalization_in_graph = true;
          const float w0 = node.weights[0], b0 = node.bias[0];
          bool uniform = w0 != 0.f;
          for (size_t c = 0; c < node.weights.size(); ++c)
            uniform = uniform && node.weights[c] == w0 && node.bias[c] == b0;
          info.mean = uniform ? -b0 / w0 : 0.f;
          info.scale = uniform ? 1.f / w0 : 1.f;
        }
      try {
        g.finalize();
      } catch (const Error& e) {
        throw Error("'" + src + "': " + e.what());
      }
      info.has_background = info.num_classes == 1001;
    };
    return t;
  }
  std::vector<Value> values_;
  Graph g_;
  int features_ = -1;
};

}  // namespace

Translation translate_graphdef_bytes(std::string_view bytes, const std::string& source) {
  return GraphDefLoader(bytes, source).load();
}

Translation translate_graphdef(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error("cannot open model file '" + path + "'");
  const std::streamoff size = f.tellg();
  if (size < 0) throw Error("'" + path + "': cannot read the file size");
  if (size_t(size) > kMaxFileBytes) throw Error("'" + path + "': file too large for a GraphDef");
  std::string data(size_t(size), '\0');
  f.seekg(0);
  if (!f.read(data.data(), size)) throw Error("'" + path + "': read error");
  return translate_graphdef_bytes(data, path);
}

bool looks_like_graphdef(std::string_view head) {
  // GraphDef.node (field 1, length-delimited) whose NodeDef starts with name (field 1)
  // and op (field 2), both printable strings. The head may cut the node short.
  size_t pos = 0;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= head.size()) return false;
      const uint8_t b = uint8_t(head[pos++]);
      *v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  uint64_t v = 0;
  if (!varint(&v) || v != 0x0a) return false;
  if (!varint(&v) || v < 4) return false;
  for (uint64_t tag : {uint64_t(0x0a), uint64_t(0x12)}) {
    if (pos >= head.size()) return tag == 0x12;  // the name filled the head
    if (!varint(&v)) return false;
    if (v != tag) return false;
    uint64_t len = 0;
    if (!varint(&len) || len == 0 || len > 4096) return false;
    for (uint64_t k = 0; k < len && pos < head.size(); ++k, ++pos)
      if (uint8_t(head[pos]) < 0x20 || uint8_t(head[pos]) >= 0x7f) return false;
  }
  return true;
}

}  // namespace mnv2
