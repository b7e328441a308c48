// The graph IR every loader lowers into and every executor consumes.
//
// It covers exactly the MobileNet family: each node produces one value, nodes are
// stored in topological order, and every activation is a logical NHWC tensor
// (2-D results such as logits are [N,1,1,C]).
//
// A graph has two stages. Loaders emit it as the file states it: batch norms, bias adds
// and activations as nodes of their own, pass-through ops, weights in the file's layout
// (the "unfolded" op kinds and WeightLayout below). The passes (graph/passes.h) then fold
// and normalise it into the executable stage, where only the first block of op kinds
// occurs and every weight tensor has its one canonical layout, so kernels never convert.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2 {

enum class OpType {
  Input,            // the graph input, NHWC
  Conv2D,           // weights [Cout][KH][KW][Cin]
  DepthwiseConv2D,  // weights [KH][KW][Cin*multiplier]; output channel c*mult+m reads input c
  Add,              // element-wise, two inputs of equal shape
  GlobalAvgPool,    // [N,H,W,C] -> [N,1,1,C]
  FullyConnected,   // [N,1,1,Cin] (or any [N,...] flattened) -> [N,1,1,Cout]; weights [Cout][Cin]
  Softmax,          // over channels
  Reshape,          // element count preserving; in NHWC memory a no-op
  ChannelAffine,    // y = x * weights[c] + bias[c] (input normalisation baked into a graph)

  // Unfolded ops: loaders emit them, the passes fold or remove every one (is_unfolded()).
  BatchNorm,   // inference batch norm: weights = gamma, bias = beta, bn_mean, bn_var, bn_epsilon
  ConstArith,  // x (arith) k with a per-channel constant k in weights (C values, or 1 = scalar)
  Activation,  // a stand-alone ReLU / ReLU6 (Node::activation)
  Identity,    // passes its input through (Identity, Dropout, Convert, a unit Squeeze...)
  Pad,         // zero padding of H and W by pad_top / pad_bottom / pad_left / pad_right
};

// True for the op kinds only an unfolded graph has.
inline bool is_unfolded(OpType op) { return op >= OpType::BatchNorm; }

enum class Activation { None, Relu, Relu6 };

// ConstArith's operation: x + k, x - k, k - x, x * k, x / k.
enum class Arith { Add, Sub, SubFrom, Mul, Div };

// How a weighted node's `weights` are ordered. Executable graphs use Canonical only (see
// OpType); loaders may keep the file's order and leave the transpose to the passes.
enum class WeightLayout {
  Canonical,  // the layouts listed at OpType
  OIHW,       // Conv2D [Cout][Cin][KH][KW]; DepthwiseConv2D [C*mult][1][KH][KW]
  HWIO,       // Conv2D [KH][KW][Cin][Cout]
  InOut,      // FullyConnected [Cin][Cout]
};

// Affine quantization of a tensor, TFLite convention: real = scale * (q - zero_point).
// Quantized activations are always held as uint8: an int8 tensor with zero point z is the
// same tensor as uint8 with zero point z + 128 (q_u8 = q_s8 + 128), so one set of integer
// kernels serves both the uint8 (per-tensor) and int8 (per-channel) TFLite dialects.
struct QuantParams {
  float scale = 0.f;       // 0 = not quantized
  int32_t zero_point = 0;  // in the uint8 domain, 0..255
  bool valid() const { return scale > 0.f; }
  bool operator==(const QuantParams&) const = default;
};

const char* op_name(OpType op);
const char* activation_name(Activation act);
const char* arith_name(Arith a);
const char* layout_name(WeightLayout l);

struct Shape {
  int n = 0, h = 0, w = 0, c = 0;
  int64_t elements() const { return int64_t(n) * h * w * c; }
  int64_t per_image() const { return int64_t(h) * w * c; }
  bool operator==(const Shape&) const = default;
  std::string str() const;
};

struct Node {
  std::string name;
  OpType op = OpType::Input;
  std::vector<int> inputs;  // ids of the nodes whose values this node reads

  // Convolution / pooling geometry (Conv2D, DepthwiseConv2D).
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int depth_multiplier = 1;  // DepthwiseConv2D only
  int out_channels = 0;      // Conv2D, FullyConnected
  Activation activation = Activation::None;
  Shape reshape_to;  // Reshape only: target h, w, c (n follows the batch); all 0 = flatten
  WeightLayout layout = WeightLayout::Canonical;  // order of `weights` (weighted ops)
  Arith arith = Arith::Add;                       // ConstArith only
  std::vector<float> bn_mean, bn_var;             // BatchNorm only (one value per channel)
  float bn_epsilon = 0.f;                         // BatchNorm only

  std::vector<float> weights;
  std::vector<float> bias;  // empty = no bias

  Shape shape;  // output shape, filled by infer_shapes()

  // Integer view, filled only for graphs that can run natively in int8 (see
  // Graph::quantized()). `weights`/`bias` above then hold the dequantized real values, so
  // the fp32 executors run such graphs unchanged.
  QuantParams out_q;  // quantization of this node's output value
  // Weights minus their zero point, same layout as `weights` (uint8 weights with zero point
  // z give q - z in [-255, 255]; int8 symmetric weights give q in [-127, 127]).
  std::vector<int16_t> qweights;
  // Weight scale per output channel (Conv2D/FullyConnected: Cout values, Depthwise: C*mult
  // values), or one value for per-tensor quantization.
  std::vector<float> qweight_scales;
  // Bias in units of input_scale * qweight_scales[c] (TFLite's int32 bias); empty = no bias.
  std::vector<int32_t> qbias;

  // Weights of a Conv2D / Depthwise / FullyConnected node whatever form holds them: a
  // quantized model loaded for the int8 executor keeps them only in `qweights`
  // (LoadOptions::float_weights, formats/loader.h).
  size_t weight_count() const { return weights.empty() ? qweights.size() : weights.size(); }
  int64_t param_count() const {
    return int64_t(weight_count() + bias.size() + bn_mean.size() + bn_var.size());
  }
};

struct Graph {
  std::vector<Node> nodes;
  int input = -1;     // id of the Input node
  int output = -1;    // id of the node whose value is the model output (usually Softmax)
  int logits = -1;    // id of the pre-softmax node, -1 if none
  int features = -1;  // id of the pooled features node (GlobalAvgPool), -1 if none
  ModelInfo info;

  int add(Node node);  // appends, returns its id
  // Appends a node without weights or geometry (Input, Add, GlobalAvgPool, Reshape, Softmax).
  int add(std::string name, OpType op, std::vector<int> inputs = {});
  const Node& node(int id) const { return nodes.at(size_t(id)); }
  Node& node(int id) { return nodes.at(size_t(id)); }

  // Checks references, op arity, weight sizes and shapes, and fills every Node::shape for
  // batch `batch`. Throws mnv2::Error naming the offending node.
  void infer_shapes(int batch = 1);
  // infer_shapes + the model totals into info (params, macs, feature_dim, num_classes).
  // Only for executable graphs: throws if a node is unfolded or not in canonical layout.
  void finalize();

  // True when every node carries the integer view above (out_q everywhere, qweights on
  // every node with weights): the graph came from a quantized file or `mnv2 quantize`.
  bool quantized() const;

  int64_t total_params() const;
  int64_t total_macs() const;  // for one image
};

// Executable graphs have no unfolded nodes (finalize() refuses them). Switches over their
// op kinds list the unfolded ones with MNV2_UNFOLDED_OP_CASES and end them here, which
// throws saying the passes have not run:  MNV2_UNFOLDED_OP_CASES: unfolded_op(n);
[[noreturn]] void unfolded_op(const Node& n);
#define MNV2_UNFOLDED_OP_CASES \
  case OpType::BatchNorm:      \
  case OpType::ConstArith:     \
  case OpType::Activation:     \
  case OpType::Identity:       \
  case OpType::Pad

// Multiply-accumulates of one node for one image (0 for ops without weights).
int64_t node_macs(const Graph& g, const Node& n);

// The one "is this a 1x1 convolution" rule: a Conv2D (or any node with that geometry)
// with a 1x1 kernel, stride 1 and no padding, i.e. a GEMM over the pixels.
bool is_pointwise(const Node& n);

// TF "SAME" padding for one axis: the total pad, split with the extra one after.
void same_padding(int in, int kernel, int stride, int* out, int* pad_before, int* pad_after);

// Per-layer table with totals (what `mnv2 info` prints).
std::string graph_summary(const Graph& g);

}  // namespace mnv2
