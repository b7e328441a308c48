// The ONNX translator (internal to the ONNX reader): walks the parsed nodes in order and
// emits IR nodes, tracking how each ONNX tensor maps onto an IR value (Value). Ops on
// constants only are evaluated on the spot (graph/const_eval.h). onnx_lower.cpp holds the
// compute ops, onnx_views.cpp the ops that only re-view a value (reshapes, transposes,
// pads) and the constant folding.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "formats/loader.h"
#include "formats/onnx_proto.h"
#include "graph/const_eval.h"

namespace mnv2::onnx {

constexpr int kMinOpset = 9, kMaxOpset = 21;
constexpr int kMaxInputSide = 2048;  // input height/width accepted from a file

// An activation as ONNX sees it, as a view on one IR node's NHWC value. dims are the ONNX
// dims (batch as 1); axes[i] is the IR axis (0 n, 1 h, 2 w, 3 c) ONNX axis i walks, or -1
// for an axis of size 1 that is not backed by an IR axis. Every IR axis larger than 1 is
// walked by exactly one ONNX axis of the same size.
struct Value {
  int id = -1;
  std::vector<int64_t> dims;
  std::vector<int> axes;
};

const std::vector<int> kNchwAxes = {0, 3, 1, 2};

class Lowering {
 public:
  // file_bytes bounds how much weight data the lowering may materialise.
  Lowering(ParsedModel& m, std::string ctx, size_t file_bytes)
      : m_(m), ctx_(std::move(ctx)),
        weight_budget_(std::max<int64_t>(int64_t(file_bytes), int64_t(1) << 20)),
        fold_budget_(std::max<int64_t>(int64_t(file_bytes), int64_t(1) << 24)) {}

  // The graph as the file states it (batch norms, bias adds and activations as nodes of
  // their own); formats/loader.cpp runs the passes on it.
  Translation run(const std::string& name);

 private:
  ParsedModel& m_;
  std::string ctx_;
  Graph g_;
  int opset_ = 0;
  std::map<std::string, const Tensor*> consts_;
  std::deque<Tensor> owned_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> uses_;

  // helpers
  const Tensor* find_const(const std::string& name) const {
    auto it = consts_.find(name);
    return it == consts_.end() ? nullptr : it->second;
  }
  const Tensor& need_const(const OnnxNode& n, size_t k, const char* what) const {
    const std::string in = n.input(k);
    if (in.empty()) throw Error(std::string("missing ") + what + " input");
    const Tensor* t = find_const(in);
    if (!t) {
      if (values_.count(in))
        throw Error(std::string(what) + " '" + in +
                    "' is computed at run time; mnv2 needs it as an initializer or Constant");
      throw Error(std::string(what) + " '" + in + "' is not defined");
    }
    return *t;
  }
  Value& need_value(const OnnxNode& n, size_t k) {
    const std::string in = n.input(k);
    if (in.empty()) throw Error("missing input " + std::to_string(k));
    auto it = values_.find(in);
    if (it == values_.end()) {
      if (find_const(in))
        throw Error("input '" + in + "' is a constant; mnv2 expects an activation here");
      throw Error("input '" + in + "' is used before it is defined (nodes must be in "
                  "topological order)");
    }
    return it->second;
  }
  void define(const OnnxNode& n, Value v, size_t k = 0) {
    if (k >= n.outputs.size() || n.outputs[k].empty()) throw Error("node has no output");
    const std::string& out = n.outputs[k];
    if (values_.count(out) || consts_.count(out))
      throw Error("output '" + out + "' is defined twice");
    values_[out] = std::move(v);
  }
  // The single-output ops must not have their optional extra outputs consumed.
  void only_first_output(const OnnxNode& n) const {
    for (size_t k = 1; k < n.outputs.size(); ++k)
      if (!n.outputs[k].empty() && uses_.count(n.outputs[k]))
        throw Error("output " + std::to_string(k) + " ('" + n.outputs[k] +
                    "') is used; mnv2 supports inference graphs only");
  }
  // Limits that keep a small hostile file from costing much time or memory: the IR of a
  // MobileNet has ~160 nodes; weights copied into the IR cannot exceed what the file holds
  // by much (an initializer shared by many convs would otherwise be copied many times);
  // constant folding produces small tensors only.
  static constexpr int kMaxIrNodes = 2048;
  int64_t weight_budget_;
  int64_t fold_budget_;
  void spend_fold(int64_t elements) {
    fold_budget_ -= elements;
    if (fold_budget_ < 0)
      throw Error("constant folding exceeds its budget (16 M elements or the file size)");
  }
  int add_node(Node node) {
    if (int(g_.nodes.size()) >= kMaxIrNodes)
      throw Error("more than " + std::to_string(kMaxIrNodes) + " layers");
    weight_budget_ -= int64_t(node.weights.size() + node.bias.size());
    if (weight_budget_ < 0) throw Error("the layers' weights exceed the data held by the file");
    const int id = g_.add(std::move(node));
    g_.output = id;
    g_.infer_shapes(1);  // validates the new node (weights, geometry) as soon as it exists
    return id;
  }
  const Shape& ir_shape(int id) const { return g_.node(id).shape; }
  Value nchw_value(int id) const {
    const Shape& s = ir_shape(id);
    return Value{id, {1, s.c, s.h, s.w}, kNchwAxes};
  }
  bool is_nchw(const Value& v) const {
    if (v.dims.size() != 4 || v.axes[0] != 0) return false;
    for (int i = 1; i < 4; ++i)
      if (v.dims[size_t(i)] != 1 && v.axes[size_t(i)] != kNchwAxes[size_t(i)]) return false;
    return true;
  }
  void need_nchw(const Value& v, const char* what) const {
    if (!is_nchw(v))
      throw Error(std::string(what) + " input must be an NCHW tensor, got dims " +
                  dims_str(v.dims));
  }
  // Number of ONNX axes (after the batch) larger than 1.
  static int big_axes(const Value& v) {
    int k = 0;
    for (size_t i = 1; i < v.dims.size(); ++i) k += v.dims[i] > 1;
    return k;
  }
  static int norm_axis(int64_t axis, size_t rank) { return const_eval::norm_axis(axis, rank); }
  std::string node_name(const OnnxNode& n) const { return n.name.empty() ? n.outputs[0] : n.name; }
  // A node reading the IR value of x with the same view (dims, axes).
  void define_unary(const OnnxNode& n, const Value& x, Node node);
  // Per-channel constant broadcast against activation v: returns C values (or 1 for a scalar).
  std::vector<float> channel_const(const Tensor& t, const Value& v) const;

  // ops
  void lower(const OnnxNode& n);
  void conv(const OnnxNode& n);
  void batch_norm(const OnnxNode& n);
  void activation(const OnnxNode& n, Activation act);
  void clip(const OnnxNode& n);
  void add(const OnnxNode& n);
  void affine(const OnnxNode& n);
  void global_pool(const OnnxNode& n);
  void average_pool(const OnnxNode& n);
  void reduce_mean(const OnnxNode& n);
  void reshape_to(const OnnxNode& n, const Value& x, std::vector<int64_t> target);
  void reshape(const OnnxNode& n);
  void flatten(const OnnxNode& n);
  void squeeze(const OnnxNode& n, bool unsqueeze);
  void transpose(const OnnxNode& n);
  void pad(const OnnxNode& n);
  void gemm(const OnnxNode& n, bool matmul);
  void softmax(const OnnxNode& n);
  void constant(const OnnxNode& n);
  void identity(const OnnxNode& n);
  bool fold(const OnnxNode& n);
  void define_const(const OnnxNode& n, Tensor t);
  void shape_of(const OnnxNode& n);
  void set_input();
};

}  // namespace mnv2::onnx
