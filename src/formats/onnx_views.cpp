// ONNX translation of the ops that only re-view a value (onnx_lower.h): reshapes,
// squeezes, transposes and pads change how an ONNX tensor maps onto an IR value (or add a
// flatten), and ops on constants only are evaluated by graph/const_eval.h.
#include <algorithm>
#include <set>

#include "formats/onnx_lower.h"

namespace mnv2::onnx {

void Lowering::reshape_to(const OnnxNode& n, const Value& x, std::vector<int64_t> t) {
  int64_t total = 1;
  for (int64_t d : x.dims) total *= d;
  if (t.size() < 2 || t.size() > 4)
    throw Error("reshape to rank " + std::to_string(t.size()) + " is not supported");
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == -1) {
      if (infer >= 0) throw Error("more than one -1 in shape " + dims_str(t));
      infer = int(i);
    } else if (t[i] < 0 || t[i] > (int64_t(1) << 31)) {
      throw Error("invalid shape " + dims_str(t));
    } else {
      if (t[i] > 0 && known > (int64_t(1) << 40) / t[i]) throw Error("invalid shape " + dims_str(t));
      known *= t[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || total % known) throw Error("cannot infer -1 in shape " + dims_str(t));
    t[size_t(infer)] = total / known;
  } else if (known != total) {
    throw Error("shape " + dims_str(t) + " does not match the " + std::to_string(total) +
                " elements of " + dims_str(x.dims));
  }
  if (t[0] != 1)
    throw Error("shape " + dims_str(t) + " does not keep the batch axis first");
  Value v;
  v.dims = t;
  v.axes.assign(t.size(), -1);
  v.axes[0] = 0;
  int big_t = 0;
  for (size_t i = 1; i < t.size(); ++i) big_t += t[i] > 1;
  if (big_axes(x) <= 1 && big_t <= 1) {
    v.id = x.id;
    int src_axis = -1;
    for (size_t i = 1; i < x.dims.size(); ++i)
      if (x.dims[i] > 1) src_axis = x.axes[i];
    for (size_t i = 1; i < t.size(); ++i)
      if (t[i] > 1) v.axes[i] = src_axis;
    define(n, v);
    return;
  }
  // Flatten to one axis: the large input axes must already run in NHWC memory order.
  bool in_order = big_t <= 1;
  int last = 0;
  for (size_t i = 1; i < x.dims.size() && in_order; ++i) {
    if (x.dims[i] <= 1) continue;
    if (x.axes[i] <= last) in_order = false;
    last = x.axes[i];
  }
  if (!in_order)
    throw Error("reshape of " + dims_str(x.dims) + " to " + dims_str(t) +
                " would need a data transpose (flattening an NCHW tensor with spatial size > 1 "
                "is not supported)");
  Node node;
  node.name = node_name(n);
  node.op = OpType::Reshape;  // reshape_to all zero: flatten
  node.inputs = {x.id};
  v.id = add_node(std::move(node));
  for (size_t i = 1; i < t.size(); ++i)
    if (t[i] > 1) v.axes[i] = 3;
  define(n, v);
}

void Lowering::reshape(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  std::vector<int64_t> shape = to_ints(need_const(n, 1, "shape"));
  const bool allowzero = n.attr_i("allowzero", 0) != 0;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 0 && !allowzero) {
      if (i >= x.dims.size()) throw Error("0 in shape " + dims_str(shape) + " has no input axis to copy");
      shape[i] = x.dims[i];
    }
  reshape_to(n, x, shape);
}

void Lowering::flatten(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  int64_t axis = n.attr_i("axis", 1);
  if (axis < 0) axis += int64_t(x.dims.size());
  if (axis != 1) throw Error("Flatten with axis " + std::to_string(axis) + " is not supported (only 1)");
  int64_t rest = 1;
  for (size_t i = 1; i < x.dims.size(); ++i) rest *= x.dims[i];
  reshape_to(n, x, {1, rest});
}

void Lowering::squeeze(const OnnxNode& n, bool unsqueeze) {
  const Value x = need_value(n, 0);
  std::vector<int64_t> axes;
  if (opset_ >= 13) {
    if (!n.input(1).empty()) axes = to_ints(need_const(n, 1, "axes"));
  } else {
    axes = n.attr_ints("axes", {});
  }
  Value v = x;
  if (!unsqueeze) {
    std::set<int> drop;
    if (axes.empty()) {
      for (size_t i = 1; i < x.dims.size(); ++i)
        if (x.dims[i] == 1) drop.insert(int(i));
    } else {
      for (int64_t a : axes) drop.insert(norm_axis(a, x.dims.size()));
    }
    v.dims.clear();
    v.axes.clear();
    for (size_t i = 0; i < x.dims.size(); ++i) {
      if (drop.count(int(i))) {
        if (i == 0) throw Error("squeezing the batch axis is not supported");
        if (x.dims[i] != 1) throw Error("cannot squeeze axis " + std::to_string(i) + " of size " + std::to_string(x.dims[i]));
        continue;
      }
      v.dims.push_back(x.dims[i]);
      v.axes.push_back(x.axes[i]);
    }
  } else {
    if (axes.empty()) throw Error("Unsqueeze needs axes");
    const size_t rank = x.dims.size() + axes.size();
    if (rank > 6) throw Error("rank too large");
    std::set<int> ins;
    for (int64_t a : axes) ins.insert(norm_axis(a, rank));
    if (ins.size() != axes.size()) throw Error("duplicate axes");
    if (ins.count(0)) throw Error("unsqueezing before the batch axis is not supported");
    v.dims.clear();
    v.axes.clear();
    size_t src = 0;
    for (size_t i = 0; i < rank; ++i) {
      if (ins.count(int(i))) {
        v.dims.push_back(1);
        v.axes.push_back(-1);
      } else {
        v.dims.push_back(x.dims[src]);
        v.axes.push_back(x.axes[src]);
        ++src;
      }
    }
  }
  if (v.dims.empty()) throw Error("result has rank 0");
  define(n, v);
}

void Lowering::transpose(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  std::vector<int64_t> perm = n.attr_ints("perm", {});
  if (perm.empty())
    for (size_t i = x.dims.size(); i-- > 0;) perm.push_back(int64_t(i));
  if (perm.size() != x.dims.size())
    throw Error("perm " + dims_str(perm) + " does not match rank " + std::to_string(x.dims.size()));
  std::vector<bool> seen(perm.size(), false);
  Value v = x;
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] < 0 || perm[i] >= int64_t(perm.size()) || seen[size_t(perm[i])])
      throw Error("invalid perm " + dims_str(perm));
    seen[size_t(perm[i])] = true;
    v.dims[i] = x.dims[size_t(perm[i])];
    v.axes[i] = x.axes[size_t(perm[i])];
  }
  if (perm[0] != 0)
    throw Error("moving the batch axis (perm " + dims_str(perm) + ") is not supported");
  define(n, v);
}

void Lowering::pad(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  need_nchw(x, "Pad");
  std::vector<int64_t> pads;
  std::string mode;
  float value = 0;
  if (opset_ < 11) {
    pads = n.attr_ints("pads", {});
    mode = n.attr_s("mode", "constant");
    value = n.attr_f("value", 0.f);
  } else {
    pads = to_ints(need_const(n, 1, "pads"));
    mode = n.attr_s("mode", "constant");
    if (!n.input(2).empty()) {
      const std::vector<float> cv = to_floats(need_const(n, 2, "constant_value"));
      if (cv.size() != 1) throw Error("constant_value must be a scalar");
      value = cv[0];
    }
    if (!n.input(3).empty()) {
      // opset 18 axes: expand to a full pads vector
      const std::vector<int64_t> axes = to_ints(need_const(n, 3, "axes"));
      if (pads.size() != 2 * axes.size()) throw Error("pads and axes disagree");
      std::vector<int64_t> full(8, 0);
      for (size_t k = 0; k < axes.size(); ++k) {
        const int a = norm_axis(axes[k], 4);
        full[size_t(a)] = pads[k];
        full[size_t(a) + 4] = pads[k + axes.size()];
      }
      pads = full;
    }
  }
  if (mode != "constant") throw Error("Pad mode '" + mode + "' is not supported (only constant)");
  if (value != 0.f) throw Error("Pad with value " + std::to_string(value) + " is not supported (only 0)");
  if (pads.size() != 8) throw Error("pads " + dims_str(pads) + " must have 8 values for a 4-D input");
  if (pads[0] || pads[1] || pads[4] || pads[5])
    throw Error("padding the batch or channel axis (" + dims_str(pads) + ") is not supported");
  for (int64_t p : pads)
    if (p < 0 || p > 64) throw Error("pads " + dims_str(pads) + " out of range (0..64)");
  // A Pad node: fold-pad merges it into the convolutions that read it.
  Node node;
  node.name = node_name(n);
  node.op = OpType::Pad;
  node.inputs = {x.id};
  node.pad_top = int(pads[2]);
  node.pad_left = int(pads[3]);
  node.pad_bottom = int(pads[6]);
  node.pad_right = int(pads[7]);
  define(n, nchw_value(add_node(std::move(node))));
}


// ---- constant folding ---------------------------------------------------------------------
// Exporters compute small integer tensors (pads, shapes) with chains of ops on constants;
// those chains are evaluated here (graph/const_eval.h) and their results become constants.

namespace {

const_eval::Tensor to_ct(const Tensor& t) {
  const_eval::Tensor c;
  c.dims = t.dims;
  c.integer = is_int_type(t.dtype);
  if (c.integer) {
    c.iv = to_ints(t);
  } else {
    const std::vector<float> f = to_floats(t);
    c.fv.assign(f.begin(), f.end());
  }
  return c;
}

Tensor from_ct(const const_eval::Tensor& c) {
  Tensor t;
  t.dims = c.dims;
  if (c.integer) {
    t.dtype = kInt64;
    t.ints = c.iv;
  } else {
    t.dtype = kFloat;
    t.floats.assign(c.fv.begin(), c.fv.end());
  }
  return t;
}

}  // namespace

void Lowering::define_const(const OnnxNode& n, Tensor t) {
  if (values_.count(n.outputs[0]) || consts_.count(n.outputs[0]))
    throw Error("output '" + n.outputs[0] + "' is defined twice");
  t.name = n.outputs[0];
  owned_.push_back(std::move(t));
  consts_[n.outputs[0]] = &owned_.back();
}

bool Lowering::fold(const OnnxNode& n) {
  static const std::set<std::string> foldable = {"ConstantOfShape", "Concat", "Reshape",
                                                 "Slice",           "Transpose", "Cast",
                                                 "Unsqueeze",       "Squeeze",   "Gather"};
  if (!foldable.count(n.op_type)) return false;
  if (n.op_type == "Cast" && n.inputs.size() == 1) {
    // Weights stored as FLOAT16/BFLOAT16/DOUBLE and widened by a Cast: convert directly
    // (any size; the data is in the file).
    const Tensor* t = find_const(n.input(0));
    const int64_t to = n.attr_i("to", 0);
    if (t && !is_int_type(t->dtype) && !is_int_type(int(to))) {
      if (n.outputs.size() != 1 || n.outputs[0].empty()) throw Error("expects one output");
      if (values_.count(n.outputs[0]) || consts_.count(n.outputs[0]))
        throw Error("output '" + n.outputs[0] + "' is defined twice");
      Tensor out;
      out.dims = t->dims;
      out.dtype = kFloat;
      spend_fold(element_count(*t));
      out.floats = to_floats(*t);
      define_const(n, std::move(out));
      return true;
    }
  }
  int64_t input_elements = 0;
  for (const std::string& name : n.inputs)
    if (const Tensor* t = find_const(name)) input_elements += element_count(*t);
  spend_fold(input_elements);
  std::vector<const_eval::Tensor> in;
  for (const std::string& name : n.inputs) {
    if (name.empty()) {
      in.emplace_back();
      continue;
    }
    const Tensor* t = find_const(name);
    if (!t) return false;  // an activation: handled by the op's own lowering
    in.push_back(to_ct(*t));
  }
  if (in.empty()) throw Error("node has no inputs");
  if (n.outputs.size() != 1 || n.outputs[0].empty()) throw Error("expects one output");
  const std::string& op = n.op_type;
  const const_eval::Tensor& x = in[0];
  auto ints_input = [&](size_t k) -> std::vector<int64_t> {
    if (k >= in.size() || n.inputs[k].empty()) return {};
    if (!in[k].integer) throw Error("input " + std::to_string(k) + " must be integer");
    return in[k].iv;
  };
  const_eval::Tensor out;
  if (op == "ConstantOfShape") {
    // The shape is checked before the value is decoded (the order errors are reported in).
    if (!x.integer) throw Error("shape must be integer");
    const_eval::count_of(x.iv);
    const_eval::Tensor value;
    const Attr* a = n.attr("value");
    if (a && a->has_t) value = to_ct(*a->t);
    out = const_eval::constant_of_shape(x, a && a->has_t ? &value : nullptr);
  } else if (op == "Cast") {
    out = const_eval::cast(x, is_int_type(int(n.attr_i("to", 0))));
  } else if (op == "Reshape") {
    const std::vector<int64_t> shape = ints_input(1);
    // allowzero matters (and is read) only when the shape has a 0.
    const bool zero = std::find(shape.begin(), shape.end(), 0) != shape.end();
    out = const_eval::reshape(x, shape, zero && n.attr_i("allowzero", 0) != 0);
  } else if (op == "Unsqueeze" || op == "Squeeze") {
    const std::vector<int64_t> axes = opset_ >= 13 ? ints_input(1) : n.attr_ints("axes", {});
    out = op == "Squeeze" ? const_eval::squeeze(x, axes) : const_eval::unsqueeze(x, axes);
  } else if (op == "Transpose") {
    out = const_eval::transpose(x, n.attr_ints("perm", {}));
  } else if (op == "Slice") {
    if (opset_ < 10)
      out = const_eval::slice(x, n.attr_ints("starts", {}), n.attr_ints("ends", {}),
                              n.attr_ints("axes", {}), {});
    else
      out = const_eval::slice(x, ints_input(1), ints_input(2), ints_input(3), ints_input(4));
  } else if (op == "Concat") {
    out = const_eval::concat(in, n.attr_i("axis", 0));
  } else {  // Gather
    if (in.size() < 2) throw Error("indices must be integer");
    out = const_eval::gather(x, in[1], n.attr_i("axis", 0));
  }
  if (int64_t(out.size()) != const_eval::count_of(out.dims))
    throw Error("internal: folded size mismatch");
  if (values_.count(n.outputs[0]) || consts_.count(n.outputs[0]))
    throw Error("output '" + n.outputs[0] + "' is defined twice");
  spend_fold(int64_t(out.size()));
  define_const(n, from_ct(out));
  return true;
}

void Lowering::shape_of(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  if (n.outputs.size() != 1 || n.outputs[0].empty()) throw Error("expects one output");
  Tensor t;
  t.dtype = kInt64;
  t.dims = {int64_t(x.dims.size())};
  t.ints = x.dims;  // the batch axis reads as 1; Reshape treats a leading 1 as the batch
  define_const(n, std::move(t));
}

}  // namespace mnv2::onnx
