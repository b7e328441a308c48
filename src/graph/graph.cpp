#include "graph/graph.h"

#include <cstdio>
#include <limits>
#include <sstream>

namespace mnv2 {

const char* op_name(OpType op) {
  switch (op) {
    case OpType::Input: return "Input";
    case OpType::Conv2D: return "Conv2D";
    case OpType::DepthwiseConv2D: return "DepthwiseConv2D";
    case OpType::Add: return "Add";
    case OpType::GlobalAvgPool: return "GlobalAvgPool";
    case OpType::FullyConnected: return "FullyConnected";
    case OpType::Softmax: return "Softmax";
    case OpType::Reshape: return "Reshape";
    case OpType::ChannelAffine: return "ChannelAffine";
    case OpType::BatchNorm: return "BatchNorm";
    case OpType::ConstArith: return "ConstArith";
    case OpType::Activation: return "Activation";
    case OpType::Identity: return "Identity";
    case OpType::Pad: return "Pad";
  }
  return "?";
}

const char* arith_name(Arith a) {
  switch (a) {
    case Arith::Add: return "add";
    case Arith::Sub: return "sub";
    case Arith::SubFrom: return "subfrom";
    case Arith::Mul: return "mul";
    case Arith::Div: return "div";
  }
  return "?";
}

const char* layout_name(WeightLayout l) {
  switch (l) {
    case WeightLayout::Canonical: return "canonical";
    case WeightLayout::OIHW: return "OIHW";
    case WeightLayout::HWIO: return "HWIO";
    case WeightLayout::InOut: return "IO";
  }
  return "?";
}

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::None: return "none";
    case Activation::Relu: return "relu";
    case Activation::Relu6: return "relu6";
  }
  return "?";
}

std::string Shape::str() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "[%d,%d,%d,%d]", n, h, w, c);
  return buf;
}

int Graph::add(Node node) {
  nodes.push_back(std::move(node));
  return int(nodes.size()) - 1;
}

int Graph::add(std::string name, OpType op, std::vector<int> inputs) {
  Node n;
  n.name = std::move(name);
  n.op = op;
  n.inputs = std::move(inputs);
  return add(std::move(n));
}

void same_padding(int in, int kernel, int stride, int* out, int* pad_before, int* pad_after) {
  const int o = (in + stride - 1) / stride;
  int total = (o - 1) * stride + kernel - in;
  if (total < 0) total = 0;
  *out = o;
  *pad_before = total / 2;
  *pad_after = total - total / 2;
}

namespace {

// Guards against absurd shapes coming from corrupt files before anything is allocated.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxElementsPerImage = int64_t(1) << 31;

[[noreturn]] void fail(const Node& n, int id, const std::string& what) {
  throw Error("graph node " + std::to_string(id) + " '" + n.name + "' (" + op_name(n.op) +
              "): " + what);
}

void check_dims(const Node& n, int id, const Shape& s) {
  if (s.h <= 0 || s.w <= 0 || s.c <= 0 || s.h > kMaxDim || s.w > kMaxDim || s.c > kMaxDim)
    fail(n, id, "invalid output shape " + s.str());
  if (s.per_image() > kMaxElementsPerImage) fail(n, id, "output too large " + s.str());
}

void check_arity(const Node& n, int id, size_t want) {
  if (n.inputs.size() != want)
    fail(n, id, "expects " + std::to_string(want) + " input(s), has " +
                    std::to_string(n.inputs.size()));
}

void check_per_channel(const Node& n, int id, const std::vector<float>& v, const char* what,
                       int channels) {
  if (int64_t(v.size()) != channels)
    fail(n, id, std::string(what) + " has " + std::to_string(v.size()) + " values, expected " +
                    std::to_string(channels));
}

void check_layout(const Node& n, int id) {
  const WeightLayout l = n.layout;
  const bool ok = l == WeightLayout::Canonical ||
                  (l == WeightLayout::OIHW &&
                   (n.op == OpType::Conv2D || n.op == OpType::DepthwiseConv2D)) ||
                  (l == WeightLayout::HWIO && n.op == OpType::Conv2D) ||
                  (l == WeightLayout::InOut && n.op == OpType::FullyConnected);
  if (!ok) fail(n, id, std::string("weight layout ") + layout_name(l) + " does not apply");
}

void check_bias(const Node& n, int id, int channels) {
  if (!n.bias.empty() && int64_t(n.bias.size()) != channels)
    fail(n, id, "bias has " + std::to_string(n.bias.size()) + " values, expected " +
                    std::to_string(channels));
}

int conv_out(const Node& n, int id, int in, int k, int s, int pb, int pa, const char* axis) {
  if (k <= 0 || s <= 0 || pb < 0 || pa < 0 || k > 64 || s > 64 || pb > 64 || pa > 64)
    fail(n, id, std::string("invalid kernel/stride/padding on ") + axis);
  const int span = in + pb + pa - k;
  if (span < 0) fail(n, id, std::string("kernel larger than padded input on ") + axis);
  return span / s + 1;
}

}  // namespace

void Graph::infer_shapes(int batch) {
  if (batch <= 0) throw Error("batch must be >= 1");
  if (nodes.empty()) throw Error("graph is empty");
  if (input < 0 || input >= int(nodes.size()) || nodes[size_t(input)].op != OpType::Input)
    throw Error("graph has no valid input node");
  if (output < 0 || output >= int(nodes.size())) throw Error("graph has no valid output node");
  for (int id = 0; id < int(nodes.size()); ++id) {
    Node& n = nodes[size_t(id)];
    for (int in : n.inputs)
      if (in < 0 || in >= id)
        fail(n, id, "input " + std::to_string(in) +
                        " is not an earlier node (dangling reference or cycle)");
    auto in_shape = [&](size_t k) { return nodes[size_t(n.inputs[k])].shape; };
    check_layout(n, id);
    Shape s;
    switch (n.op) {
      case OpType::Input: {
        check_arity(n, id, 0);
        if (id != input) fail(n, id, "second input node; only one graph input is supported");
        s = {batch, info.height, info.width, info.channels};
        break;
      }
      case OpType::Conv2D:
      case OpType::DepthwiseConv2D: {
        check_arity(n, id, 1);
        const Shape x = in_shape(0);
        s.n = x.n;
        s.h = conv_out(n, id, x.h, n.kernel_h, n.stride_h, n.pad_top, n.pad_bottom, "height");
        s.w = conv_out(n, id, x.w, n.kernel_w, n.stride_w, n.pad_left, n.pad_right, "width");
        if (n.op == OpType::Conv2D) {
          if (n.out_channels <= 0 || n.out_channels > kMaxDim) fail(n, id, "invalid out_channels");
          s.c = n.out_channels;
          const int64_t want = int64_t(s.c) * n.kernel_h * n.kernel_w * x.c;
          if (int64_t(n.weight_count()) != want)
            fail(n, id, "weights have " + std::to_string(n.weight_count()) +
                            " values, expected " + std::to_string(want) + " for " +
                            std::to_string(s.c) + "x" + std::to_string(n.kernel_h) + "x" +
                            std::to_string(n.kernel_w) + "x" + std::to_string(x.c));
        } else {
          if (n.depth_multiplier <= 0 || n.depth_multiplier > 64)
            fail(n, id, "invalid depth multiplier");
          s.c = x.c * n.depth_multiplier;
          const int64_t want = int64_t(n.kernel_h) * n.kernel_w * s.c;
          if (int64_t(n.weight_count()) != want)
            fail(n, id, "weights have " + std::to_string(n.weight_count()) +
                            " values, expected " + std::to_string(want));
        }
        check_bias(n, id, s.c);
        break;
      }
      case OpType::Add: {
        check_arity(n, id, 2);
        if (!(in_shape(0) == in_shape(1)))
          fail(n, id, "operand shapes differ: " + in_shape(0).str() + " vs " + in_shape(1).str());
        s = in_shape(0);
        break;
      }
      case OpType::GlobalAvgPool: {
        check_arity(n, id, 1);
        const Shape x = in_shape(0);
        s = {x.n, 1, 1, x.c};
        break;
      }
      case OpType::FullyConnected: {
        check_arity(n, id, 1);
        const Shape x = in_shape(0);
        if (n.out_channels <= 0 || n.out_channels > kMaxDim) fail(n, id, "invalid out_channels");
        const int64_t want = int64_t(n.out_channels) * x.per_image();
        if (int64_t(n.weight_count()) != want)
          fail(n, id, "weights have " + std::to_string(n.weight_count()) + " values, expected " +
                          std::to_string(want));
        s = {x.n, 1, 1, n.out_channels};
        check_bias(n, id, s.c);
        break;
      }
      case OpType::Softmax: {
        check_arity(n, id, 1);
        s = in_shape(0);
        break;
      }
      case OpType::Reshape: {
        check_arity(n, id, 1);
        const Shape x = in_shape(0);
        const Shape& t = n.reshape_to;
        if (t.h == 0 && t.w == 0 && t.c == 0) {
          s = {x.n, 1, 1, int(x.per_image())};
        } else {
          s = {x.n, t.h, t.w, t.c};
          if (s.per_image() != x.per_image())
            fail(n, id, "reshape from " + x.str() + " to " + s.str() + " changes the size");
        }
        break;
      }
      case OpType::ChannelAffine: {
        check_arity(n, id, 1);
        s = in_shape(0);
        if (int64_t(n.weights.size()) != s.c || int64_t(n.bias.size()) != s.c)
          fail(n, id, "needs one scale and one offset per channel");
        break;
      }
      case OpType::BatchNorm: {
        check_arity(n, id, 1);
        s = in_shape(0);
        check_per_channel(n, id, n.weights, "scale", s.c);
        check_per_channel(n, id, n.bias, "offset", s.c);
        check_per_channel(n, id, n.bn_mean, "mean", s.c);
        check_per_channel(n, id, n.bn_var, "variance", s.c);
        if (!(n.bn_epsilon >= 0.f)) fail(n, id, "invalid epsilon");
        break;
      }
      case OpType::ConstArith: {
        check_arity(n, id, 1);
        s = in_shape(0);
        if (n.weights.size() != 1) check_per_channel(n, id, n.weights, "constant operand", s.c);
        if (n.arith == Arith::Div)
          for (float k : n.weights)
            if (k == 0.f) fail(n, id, "division by zero");
        break;
      }
      case OpType::Activation:
        if (n.activation == Activation::None) fail(n, id, "activation without a function");
        [[fallthrough]];
      case OpType::Identity:
        check_arity(n, id, 1);
        s = in_shape(0);
        break;
      case OpType::Pad: {
        check_arity(n, id, 1);
        const int pads[4] = {n.pad_top, n.pad_bottom, n.pad_left, n.pad_right};
        for (int p : pads)
          if (p < 0 || p > 64) fail(n, id, "padding " + std::to_string(p) + " outside [0, 64]");
        s = in_shape(0);
        s.h += n.pad_top + n.pad_bottom;
        s.w += n.pad_left + n.pad_right;
        break;
      }
    }
    check_dims(n, id, s);
    n.shape = s;
  }
}

void unfolded_op(const Node& n) {
  throw Error("graph node '" + n.name + "' (" + op_name(n.op) +
              ") is not executable: the graph passes (graph/passes.h) have not run");
}

int64_t node_macs(const Graph&, const Node& n) {
  switch (n.op) {
    case OpType::Conv2D:
    case OpType::DepthwiseConv2D:
    case OpType::FullyConnected:
      // every weight is used once per output pixel
      return int64_t(n.weight_count()) * n.shape.h * n.shape.w;
    default:
      return 0;
  }
}

bool is_pointwise(const Node& n) {
  return n.kernel_h == 1 && n.kernel_w == 1 && n.stride_h == 1 && n.stride_w == 1 &&
         n.pad_top == 0 && n.pad_bottom == 0 && n.pad_left == 0 && n.pad_right == 0;
}

bool Graph::quantized() const {
  if (nodes.empty()) return false;
  for (const Node& n : nodes) {
    if (!n.out_q.valid()) return false;
    if (!n.weights.empty() && n.qweights.size() != n.weights.size()) return false;
  }
  return true;
}

int64_t Graph::total_params() const {
  int64_t p = 0;
  for (const Node& n : nodes)
    if (n.op != OpType::ChannelAffine) p += n.param_count();
  return p;
}

int64_t Graph::total_macs() const {
  int64_t m = 0;
  for (const Node& n : nodes) m += node_macs(*this, n);
  return m;
}

void Graph::finalize() {
  for (const Node& n : nodes) {
    if (is_unfolded(n.op)) unfolded_op(n);
    if (n.layout != WeightLayout::Canonical)
      throw Error("graph node '" + n.name + "' has " + layout_name(n.layout) +
                  " weights, not executable: the graph passes (graph/passes.h) have not run");
  }
  infer_shapes(1);
  info.params = total_params();
  info.macs = total_macs();
  if (features >= 0) info.feature_dim = node(features).shape.c;
  const Node& out = node(output);
  info.num_classes = int(out.shape.per_image());
  info.output_is_softmax = out.op == OpType::Softmax ||
                           (out.op == OpType::Reshape && !out.inputs.empty() &&
                            node(out.inputs[0]).op == OpType::Softmax);
}

std::string graph_summary(const Graph& g) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-4s %-44s %-16s %-8s %-18s %12s %14s\n", "#", "name", "op",
                "act", "output", "params", "MACs");
  os << line;
  int64_t params = 0, macs = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const int64_t p = n.op == OpType::ChannelAffine ? 0 : n.param_count();
    const int64_t m = node_macs(g, n);
    params += p;
    macs += m;
    std::string op = op_name(n.op);
    if (n.op == OpType::Conv2D || n.op == OpType::DepthwiseConv2D) {
      op += " " + std::to_string(n.kernel_h) + "x" + std::to_string(n.kernel_w);
      if (n.stride_h != 1 || n.stride_w != 1) op += "/" + std::to_string(n.stride_h);
    }
    if (n.layout != WeightLayout::Canonical) op += std::string(" ") + layout_name(n.layout);
    if (n.op == OpType::ConstArith) op += std::string(" ") + arith_name(n.arith);
    std::string name = n.name.size() > 44 ? "..." + n.name.substr(n.name.size() - 41) : n.name;
    std::snprintf(line, sizeof line, "%-4zu %-44s %-16s %-8s %-18s %12lld %14lld\n", i,
                  name.c_str(), op.c_str(),
                  (n.op == OpType::Conv2D || n.op == OpType::DepthwiseConv2D ||
                   n.op == OpType::FullyConnected || n.op == OpType::Activation)
                      ? activation_name(n.activation)
                      : "",
                  n.shape.str().c_str(), (long long)p, (long long)m);
    os << line;
  }
  auto group = [](int64_t v) {
    std::string s = std::to_string(v), out;
    int k = 0;
    for (auto it = s.rbegin(); it != s.rend(); ++it) {
      if (k && k % 3 == 0) out.insert(out.begin(), ',');
      out.insert(out.begin(), *it);
      ++k;
    }
    return out;
  };
  os << "total: " << g.nodes.size() << " nodes, " << group(params) << " params, " << group(macs)
     << " MACs per image\n";
  return os.str();
}

}  // namespace mnv2
