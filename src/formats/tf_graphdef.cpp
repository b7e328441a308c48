// TF frozen GraphDef reader: protobuf wire parsing (graph.proto, node_def.proto,
// attr_value.proto, tensor.proto, tensor_shape.proto field numbers), topological sort,
// and lowering of the TF-slim inference ops into the IR with BN/bias/ReLU6 folding.
#include "formats/tf_graphdef.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <unordered_map>

#include "formats/pb_wire.h"

namespace mnv2 {
namespace {

// tensorflow.DataType values used here.
enum : int64_t { kDtFloat = 1, kDtDouble = 2, kDtInt32 = 3, kDtInt64 = 9 };

// Nothing in the MobileNet family comes near these; they stop corrupt files from
// requesting huge allocations.
constexpr int64_t kMaxConstElements = int64_t(1) << 24;
constexpr int kMaxRank = 8;
constexpr int64_t kMaxDim = 1 << 16;
constexpr size_t kMaxFileBytes = size_t(1) << 30;

struct AttrRef {
  std::string_view data;  // the serialised AttrValue
  size_t offset = 0;      // its absolute offset in the file
};

struct TfNode {
  std::string name, op;
  std::vector<std::string> raw_inputs;
  std::vector<std::pair<std::string, AttrRef>> attrs;
  size_t offset = 0;
  std::vector<int> inputs;  // resolved data inputs (control inputs dropped)
};

struct Tensor {
  int64_t dtype = 0;
  std::vector<int64_t> dims;
  std::vector<float> f;    // DT_FLOAT data
  std::vector<int64_t> i;  // integer data
  int64_t count() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
  bool is_float() const { return dtype == kDtFloat; }
  bool is_int() const { return dtype == kDtInt32 || dtype == kDtInt64; }
};

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t k = 0; k < d.size(); ++k) {
    if (k) s += ',';
    s += std::to_string(d[k]);
  }
  return s + "]";
}

std::string dtype_name(int64_t t) {
  switch (t) {
    case kDtFloat: return "float32";
    case kDtDouble: return "float64";
    case kDtInt32: return "int32";
    case 4: return "uint8";
    case 6: return "int8";
    case 7: return "string";
    case kDtInt64: return "int64";
    case 10: return "bool";
    case 19: return "float16";
    default: return "dtype " + std::to_string(t);
  }
}

// What a TF node's output is while lowering.
struct Value {
  enum Kind { Unset, Const, Tensor4, Padded } kind = Unset;
  std::shared_ptr<const Tensor> c;  // Const
  int ir = -1;                      // Tensor4 / Padded: the IR node holding the data
  int rank = 4;                     // TF rank: 4 (NHWC) or 2 ([N,C] with h = w = 1)
  int h = 0, w = 0, ch = 0;         // per-image shape
  // The IR node's current value is seen only through this TF value, so ops such as
  // BiasAdd or Relu6 may be folded into it in place.
  bool exclusive = false;
  int pad_t = 0, pad_b = 0, pad_l = 0, pad_r = 0;  // Padded: pending zero padding
};

class GraphDefLoader {
 public:
  GraphDefLoader(std::string_view bytes, std::string source)
      : bytes_(bytes), src_(std::move(source)), const_budget_(int64_t(bytes.size()) + (1 << 22)) {}

  Graph load() {
    parse_graph();
    resolve_inputs();
    topo_sort();
    pick_output();
    mark_reachable();
    lower();
    return finish();
  }

 private:
  // ---------------------------------------------------------------- errors
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("'" + src_ + "': " + what);
  }
  [[noreturn]] void fail(const TfNode& n, const std::string& what) const {
    throw Error("'" + src_ + "': node '" + n.name + "' (" + n.op + "): " + what);
  }

  // ---------------------------------------------------------------- parsing
  void parse_graph() {
    if (bytes_.empty()) fail("empty file, not a TF GraphDef");
    pb::Reader r(bytes_, 0, "'" + src_ + "' (TF GraphDef)");
    pb::Field f;
    {
      // Check the top-level framing first: a cut or corrupt file fails here cheaply,
      // before any node is decoded.
      pb::Reader scan = r;
      while (scan.next(f)) {
        if (f.number == 1 && f.type != pb::kLength) scan.fail("GraphDef.node is not a message");
      }
    }
    bool has_versions = false;
    while (r.next(f)) {
      if (f.number == 1) {  // GraphDef.node
        if (f.type != pb::kLength) r.fail("GraphDef.node is not a message");
        parse_node(r.sub(f), r.absolute(f));
      }
      if (f.number == 4) has_versions = true;
      // library (2), version (3) and unknown fields are not needed.
    }
    if (nodes_.empty()) fail("the GraphDef has no nodes");
    // A GraphDef names no outputs, so a file cut between two nodes would otherwise load as
    // a shorter network. TensorFlow always writes `versions` (field 4), and protobuf puts it
    // after every node: its absence means the file was truncated.
    if (!has_versions)
      fail("the GraphDef has no versions field: the file is truncated (TensorFlow always "
           "writes it after the nodes)");
  }

  void parse_node(pb::Reader r, size_t offset) {
    TfNode n;
    n.offset = offset;
    pb::Field f;
    while (r.next(f)) {
      switch (f.number) {
        case 1:
          if (f.type != pb::kLength) r.fail("NodeDef.name is not a string");
          n.name = std::string(f.data);
          break;
        case 2:
          if (f.type != pb::kLength) r.fail("NodeDef.op is not a string");
          n.op = std::string(f.data);
          break;
        case 3:
          if (f.type != pb::kLength) r.fail("NodeDef.input is not a string");
          n.raw_inputs.emplace_back(f.data);
          break;
        case 5: {  // map<string, AttrValue> entry
          if (f.type != pb::kLength) r.fail("NodeDef.attr is not a message");
          pb::Reader e = r.sub(f);
          pb::Field g;
          std::string key;
          AttrRef value;
          bool has_value = false;
          while (e.next(g)) {
            if (g.number == 1) {
              if (g.type != pb::kLength) e.fail("attr key is not a string");
              key = std::string(g.data);
            } else if (g.number == 2) {
              if (g.type != pb::kLength) e.fail("AttrValue is not a message");
              value = {g.data, e.absolute(g)};
              has_value = true;
            }
          }
          if (!has_value) value = {std::string_view(), e.absolute(f)};
          n.attrs.emplace_back(std::move(key), value);
          break;
        }
        default: break;  // device (4), experimental fields
      }
    }
    if (n.name.empty())
      fail("NodeDef at offset " + std::to_string(offset) + " has no name");
    if (n.op.empty()) fail("node '" + n.name + "' has no op");
    if (index_.count(n.name)) fail("two nodes are named '" + n.name + "'");
    index_[n.name] = int(nodes_.size());
    nodes_.push_back(std::move(n));
  }

  void resolve_inputs() {
    for (TfNode& n : nodes_) {
      for (const std::string& raw : n.raw_inputs) {
        if (!raw.empty() && raw[0] == '^') continue;  // control dependency
        std::string name = raw;
        const size_t colon = raw.rfind(':');
        if (colon != std::string::npos) {
          const std::string port = raw.substr(colon + 1);
          if (port.empty() || port.size() > 6 ||
              !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            fail(n, "malformed input reference '" + raw + "'");
          if (std::stoi(port) != 0)
            fail(n, "reads output " + port + " of '" + raw.substr(0, colon) +
                        "'; only the first output of a node is supported");
          name = raw.substr(0, colon);
        }
        auto it = index_.find(name);
        if (it == index_.end()) fail(n, "input '" + raw + "' refers to no node in the graph");
        n.inputs.push_back(it->second);
      }
    }
  }

  void topo_sort() {
    const int count = int(nodes_.size());
    std::vector<int> pending(size_t(count), 0);
    std::vector<std::vector<int>> users(static_cast<size_t>(count));
    consumers_.assign(size_t(count), 0);
    for (int id = 0; id < count; ++id)
      for (int in : nodes_[size_t(id)].inputs) {
        users[size_t(in)].push_back(id);
        ++pending[size_t(id)];
        ++consumers_[size_t(in)];
      }
    std::vector<int> ready;
    for (int id = count - 1; id >= 0; --id)
      if (pending[size_t(id)] == 0) ready.push_back(id);
    order_.clear();
    while (!ready.empty()) {
      const int id = ready.back();
      ready.pop_back();
      order_.push_back(id);
      for (int u : users[size_t(id)])
        if (--pending[size_t(u)] == 0) ready.push_back(u);
    }
    if (int(order_.size()) == count) return;
    // Some node is on (or behind) a cycle: walk back through unfinished inputs until a
    // node repeats, and report that loop.
    int start = 0;
    while (pending[size_t(start)] == 0) ++start;
    std::vector<int> seen(size_t(count), -1), path;
    int cur = start;
    while (seen[size_t(cur)] < 0) {
      seen[size_t(cur)] = int(path.size());
      path.push_back(cur);
      int next = -1;
      for (int in : nodes_[size_t(cur)].inputs)
        if (pending[size_t(in)] > 0) {
          next = in;
          break;
        }
      if (next < 0) break;  // cannot happen: an unfinished node has an unfinished input
      cur = next;
    }
    std::string loop;
    for (size_t k = size_t(std::max(0, seen[size_t(cur)])); k < path.size() && k < 40; ++k)
      loop += "'" + nodes_[size_t(path[k])].name + "' <- ";
    loop += "'" + nodes_[size_t(cur)].name + "'";
    fail("the graph has a cycle: " + loop);
  }

  void pick_output() {
    std::vector<int> sinks;
    for (int id = 0; id < int(nodes_.size()); ++id) {
      const TfNode& n = nodes_[size_t(id)];
      if (consumers_[size_t(id)] == 0 && n.op != "Const" && n.op != "Placeholder" &&
          n.op != "NoOp")
        sinks.push_back(id);
    }
    if (sinks.empty()) fail("the graph has no output node");
    if (sinks.size() == 1) {
      output_ = sinks[0];
      return;
    }
    auto ends_with = [](const std::string& s, const std::string& t) {
      return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
    };
    std::vector<int> preferred;
    for (int id : sinks)
      if (ends_with(nodes_[size_t(id)].name, "Predictions/Reshape_1")) preferred.push_back(id);
    if (preferred.empty())
      for (int id : sinks)
        if (nodes_[size_t(id)].op == "Softmax") preferred.push_back(id);
    if (preferred.size() == 1) {
      output_ = preferred[0];
      return;
    }
    std::string names;
    for (size_t k = 0; k < sinks.size() && k < 8; ++k)
      names += (k ? ", '" : "'") + nodes_[size_t(sinks[k])].name + "'";
    fail("the graph has " + std::to_string(sinks.size()) +
         " unconsumed nodes and none is clearly the output: " + names);
  }

  void mark_reachable() {
    reachable_.assign(nodes_.size(), false);
    std::vector<int> stack = {output_};
    reachable_[size_t(output_)] = true;
    while (!stack.empty()) {
      const int id = stack.back();
      stack.pop_back();
      for (int in : nodes_[size_t(id)].inputs)
        if (!reachable_[size_t(in)]) {
          reachable_[size_t(in)] = true;
          stack.push_back(in);
        }
    }
    // Consumer counts that matter for folding are those within the computed graph.
    std::fill(consumers_.begin(), consumers_.end(), 0);
    for (int id = 0; id < int(nodes_.size()); ++id)
      if (reachable_[size_t(id)])
        for (int in : nodes_[size_t(id)].inputs) ++consumers_[size_t(in)];
  }

  // ---------------------------------------------------------------- attributes
  const AttrRef* attr(const TfNode& n, const std::string& key) const {
    const AttrRef* found = nullptr;
    for (const auto& [k, v] : n.attrs)
      if (k == key) found = &v;
    return found;
  }
  pb::Reader attr_reader(const TfNode& n, const AttrRef& a) const {
    return pb::Reader(a.data, a.offset, "'" + src_ + "' node '" + n.name + "'");
  }
  // The AttrValue field `number` of attr `key`; false when the attr is absent.
  bool attr_field(const TfNode& n, const std::string& key, uint32_t number, pb::WireType type,
                  pb::Field* out, const char* kind) const {
    const AttrRef* a = attr(n, key);
    if (!a) return false;
    pb::Reader r = attr_reader(n, *a);
    pb::Field f;
    bool got = false;
    while (r.next(f))
      if (f.number == number) {
        if (f.type != type) fail(n, "attr '" + key + "' is not " + kind);
        *out = f;
        got = true;
      }
    if (!got) fail(n, "attr '" + key + "' does not hold " + kind);
    return true;
  }
  std::string attr_string(const TfNode& n, const std::string& key, const std::string& def) const {
    pb::Field f;
    if (!attr_field(n, key, 2, pb::kLength, &f, "a string")) return def;
    return std::string(f.data);
  }
  bool attr_bool(const TfNode& n, const std::string& key, bool def) const {
    pb::Field f;
    if (!attr_field(n, key, 5, pb::kVarint, &f, "a bool")) return def;
    return f.value != 0;
  }
  float attr_float(const TfNode& n, const std::string& key, float def) const {
    pb::Field f;
    if (!attr_field(n, key, 4, pb::kFixed32, &f, "a float")) return def;
    return pb::as_float(f);
  }
  int64_t attr_type(const TfNode& n, const std::string& key, int64_t def) const {
    pb::Field f;
    if (!attr_field(n, key, 6, pb::kVarint, &f, "a type")) return def;
    return int64_t(f.value);
  }
  // list(int); *present tells whether the attr exists.
  std::vector<int64_t> attr_ints(const TfNode& n, const std::string& key, bool* present) const {
    std::vector<int64_t> out;
    pb::Field f;
    *present = attr_field(n, key, 1, pb::kLength, &f, "a list");
    if (!*present) return out;
    pb::Reader r = attr_reader(n, *attr(n, key)).sub(f);
    pb::Field g;
    while (r.next(g))
      if (g.number == 3) {
        pb::read_packed_varints(r, g, out);
        if (out.size() > 64) fail(n, "attr '" + key + "' has too many values");
      }
    return out;
  }

  // TensorShapeProto -> dims (-1 = unknown); false for unknown rank.
  bool parse_shape(const TfNode& n, pb::Reader r, std::vector<int64_t>* dims) const {
    pb::Field f;
    bool unknown_rank = false;
    while (r.next(f)) {
      if (f.number == 2) {
        if (f.type != pb::kLength) r.fail("TensorShapeProto.dim is not a message");
        pb::Reader d = r.sub(f);
        pb::Field g;
        int64_t size = 0;
        while (d.next(g))
          if (g.number == 1) {
            if (g.type != pb::kVarint) d.fail("Dim.size is not a varint");
            size = int64_t(g.value);
          }
        if (dims->size() >= size_t(kMaxRank)) fail(n, "shape has more than 8 dimensions");
        dims->push_back(size);
      } else if (f.number == 3) {
        unknown_rank = f.value != 0;
      }
    }
    return !unknown_rank;
  }

  std::shared_ptr<Tensor> parse_tensor(const TfNode& n, pb::Reader r) {
    auto t = std::make_shared<Tensor>();
    pb::Field f;
    std::string_view content;
    bool has_content = false;
    std::vector<pb::Field> float_vals, int_vals, int64_vals, double_vals;
    bool has_shape = false;
    while (r.next(f)) {
      switch (f.number) {
        case 1: t->dtype = int64_t(f.value); break;
        case 2: {
          if (f.type != pb::kLength) r.fail("TensorProto.tensor_shape is not a message");
          t->dims.clear();
          if (!parse_shape(n, r.sub(f), &t->dims)) fail(n, "constant has unknown rank");
          has_shape = true;
          break;
        }
        case 4:
          if (f.type != pb::kLength) r.fail("TensorProto.tensor_content is not bytes");
          content = f.data;
          has_content = true;
          break;
        case 5: float_vals.push_back(f); break;
        case 6: double_vals.push_back(f); break;
        case 7: int_vals.push_back(f); break;
        case 10: int64_vals.push_back(f); break;
        default: break;
      }
    }
    (void)has_shape;  // no shape = scalar
    int64_t count = 1;
    for (int64_t d : t->dims) {
      if (d < 0 || d > kMaxConstElements)
        fail(n, "constant has an invalid shape " + dims_str(t->dims));
      count *= d;
      if (count > kMaxConstElements)
        fail(n, "constant shape " + dims_str(t->dims) + " is too large");
    }
    // The splat form lets a few bytes declare a large constant: all constants together
    // may hold at most about one element per byte of the file (plus 4 Mi), as real files do.
    if (count > const_budget_)
      fail(n, "constant shape " + dims_str(t->dims) + " is larger than a " +
                  std::to_string(bytes_.size()) + "-byte file can plausibly hold");
    const_budget_ -= count;
    auto fill_rest = [&](auto& v, const char* what) {
      if (int64_t(v.size()) > count)
        fail(n, "constant has " + std::to_string(v.size()) + " " + what + " values for shape " +
                    dims_str(t->dims));
      // As in TF: fewer values than elements repeat the last one (the splat form).
      if (v.empty()) v.resize(size_t(count));
      else v.resize(size_t(count), v.back());
    };
    if (t->dtype == kDtFloat) {
      if (has_content) {
        if (int64_t(content.size()) != count * 4)
          fail(n, "tensor_content has " + std::to_string(content.size()) +
                      " bytes, shape " + dims_str(t->dims) + " needs " +
                      std::to_string(count * 4));
        t->f.resize(size_t(count));
        if (count) std::memcpy(t->f.data(), content.data(), content.size());
      } else {
        for (const pb::Field& v : float_vals) {
          pb::read_packed_floats(r, v, t->f);
          if (int64_t(t->f.size()) > count) break;
        }
        fill_rest(t->f, "float");
      }
    } else if (t->dtype == kDtInt32 || t->dtype == kDtInt64) {
      const size_t width = t->dtype == kDtInt32 ? 4 : 8;
      if (has_content) {
        if (int64_t(content.size()) != count * int64_t(width))
          fail(n, "tensor_content has " + std::to_string(content.size()) +
                      " bytes for shape " + dims_str(t->dims));
        t->i.resize(size_t(count));
        for (int64_t k = 0; k < count; ++k) {
          if (width == 4) {
            int32_t v;
            std::memcpy(&v, content.data() + k * 4, 4);
            t->i[size_t(k)] = v;
          } else {
            std::memcpy(&t->i[size_t(k)], content.data() + k * 8, 8);
          }
        }
      } else {
        for (const pb::Field& v : (t->dtype == kDtInt32 ? int_vals : int64_vals)) {
          pb::read_packed_varints(r, v, t->i);
          if (int64_t(t->i.size()) > count) break;
        }
        if (t->dtype == kDtInt32)
          for (int64_t& v : t->i) v = int32_t(uint32_t(uint64_t(v)));
        fill_rest(t->i, "integer");
      }
    } else {
      fail(n, "constants of type " + dtype_name(t->dtype) + " are not supported");
    }
    return t;
  }

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
    if (v.kind == Value::Padded)
      fail(n, "reads the output of Pad '" + nodes_[size_t(n.inputs[k])].name +
                  "'; Pad is supported only in front of a convolution");
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
  // The IR node behind input k when an op may be folded into it in place.
  Node* foldable(const TfNode& n, size_t k) {
    const Value& v = in_value(n, k);
    if (v.kind != Value::Tensor4) return nullptr;
    if (!v.exclusive || consumers_[size_t(n.inputs[k])] != 1) return nullptr;
    return &g_.node(v.ir);
  }
  static bool is_conv(const Node& x) {
    return x.op == OpType::Conv2D || x.op == OpType::DepthwiseConv2D ||
           x.op == OpType::FullyConnected;
  }
  static int out_channels(const Node& x, int in_c) {
    return x.op == OpType::DepthwiseConv2D ? in_c * x.depth_multiplier : x.out_channels;
  }
  // A constant broadcast over channels: a scalar or a vector of `c` values whose other
  // dims are 1.
  std::vector<double> per_channel(const TfNode& n, const Tensor& t, int c, const char* what) {
    if (!t.is_float()) fail(n, std::string(what) + " must be float32, is " + dtype_name(t.dtype));
    const int64_t cnt = t.count();
    std::vector<double> out(static_cast<size_t>(c));
    if (cnt == 1) {
      std::fill(out.begin(), out.end(), double(t.f[0]));
      return out;
    }
    bool ok = cnt == c && !t.dims.empty() && t.dims.back() == c;
    if (ok)
      for (size_t k = 0; k + 1 < t.dims.size(); ++k) ok = ok && t.dims[k] == 1;
    if (!ok)
      fail(n, std::string(what) + " has shape " + dims_str(t.dims) + ", expected [" +
                  std::to_string(c) + "] or a scalar");
    for (int k = 0; k < c; ++k) out[size_t(k)] = double(t.f[size_t(k)]);
    return out;
  }
  // Per-output-channel y = x * scale + shift folded into a conv without activation.
  void fold_affine(const TfNode& n, Node& x, int in_c, const std::vector<double>& scale,
                   const std::vector<double>& shift) {
    if (x.activation != Activation::None)
      fail(n, "follows an activation; it cannot be folded into '" + x.name + "'");
    const int oc = out_channels(x, in_c);
    if (x.bias.empty()) x.bias.assign(size_t(oc), 0.f);
    for (int o = 0; o < oc; ++o)
      x.bias[size_t(o)] = float(double(x.bias[size_t(o)]) * scale[size_t(o)] + shift[size_t(o)]);
    if (x.op == OpType::DepthwiseConv2D) {
      for (size_t k = 0; k < x.weights.size(); ++k)
        x.weights[k] = float(double(x.weights[k]) * scale[k % size_t(oc)]);
    } else {
      const size_t per = x.weights.size() / size_t(oc);
      for (size_t k = 0; k < x.weights.size(); ++k)
        x.weights[k] = float(double(x.weights[k]) * scale[k / per]);
    }
  }
  int conv_input_channels(const Node& x) const {
    return g_.node(x.inputs.at(0)).op == OpType::Input ? in_c_ : ir_c_.at(size_t(x.inputs[0]));
  }
  Value tensor_value(int ir, int rank, int h, int w, int c) {
    Value v;
    v.kind = Value::Tensor4;
    v.ir = ir;
    v.rank = rank;
    v.h = h;
    v.w = w;
    v.ch = c;
    v.exclusive = true;
    if (ir_c_.size() <= size_t(ir)) ir_c_.resize(size_t(ir) + 1, 0);
    ir_c_[size_t(ir)] = c;
    return v;
  }
  int add_ir(Node node) {
    const int id = g_.add(std::move(node));
    if (ir_c_.size() <= size_t(id)) ir_c_.resize(size_t(id) + 1, 0);
    return id;
  }
  static std::string strip_suffix(const std::string& s, const std::string& suffix) {
    if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
      return s.substr(0, s.size() - suffix.size());
    return s;
  }

  // y = x * a + b with constants on the graph input: an IR ChannelAffine.
  Value input_affine(const TfNode& n, const Value& x, int64_t xin, const std::vector<double>& a,
                     const std::vector<double>& b) {
    const Node& src = g_.node(x.ir);
    if (src.op == OpType::ChannelAffine && x.exclusive && consumers_[size_t(xin)] == 1) {
      Node& aff = g_.node(x.ir);
      for (int c = 0; c < x.ch; ++c) {
        aff.weights[size_t(c)] = float(double(aff.weights[size_t(c)]) * a[size_t(c)]);
        aff.bias[size_t(c)] = float(double(aff.bias[size_t(c)]) * a[size_t(c)] + b[size_t(c)]);
      }
      Value v = x;
      v.exclusive = true;
      return v;
    }
    if (src.op != OpType::Input)
      fail(n, "element-wise arithmetic with a constant is supported only on the graph input "
              "or directly after a convolution");
    Node aff;
    aff.name = n.name;
    aff.op = OpType::ChannelAffine;
    aff.inputs = {x.ir};
    for (int c = 0; c < x.ch; ++c) {
      aff.weights.push_back(float(a[size_t(c)]));
      aff.bias.push_back(float(b[size_t(c)]));
    }
    return tensor_value(add_ir(std::move(aff)), x.rank, x.h, x.w, x.ch);
  }

  // Add/AddV2/Sub/Mul/BiasAdd where one operand is a constant.
  Value arith_const(const TfNode& n, size_t xk, size_t ck, char opch) {
    const Value& x = tensor_in(n, xk);
    const Tensor& t = const_in(n, ck, "operand");
    std::vector<double> cv = per_channel(n, t, x.ch, "the constant operand");
    std::vector<double> a(size_t(x.ch), 1.0), b(size_t(x.ch), 0.0);
    for (int c = 0; c < x.ch; ++c) {
      if (opch == '+') b[size_t(c)] = cv[size_t(c)];
      else if (opch == '*') a[size_t(c)] = cv[size_t(c)];
      else if (xk == 0) b[size_t(c)] = -cv[size_t(c)];  // x - c
      else {                                             // c - x
        a[size_t(c)] = -1.0;
        b[size_t(c)] = cv[size_t(c)];
      }
    }
    Node* target = foldable(n, xk);
    if (target && is_conv(*target)) {
      fold_affine(n, *target, conv_input_channels(*target), a, b);
      Value v = x;
      v.exclusive = true;
      return v;
    }
    return input_affine(n, x, n.inputs[xk], a, b);
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
      Value v = in_value(n, 0);
      if (v.kind == Value::Unset) fail(n, "input has no value");
      v.exclusive = v.exclusive && consumers_[size_t(n.inputs[0])] == 1;
      return v;
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
      in_c_ = int(dims[3]);
      return tensor_value(g_.input, 4, int(dims[1]), int(dims[2]), int(dims[3]));
    }
    if (op == "Conv2D" || op == "DepthwiseConv2dNative") return lower_conv(n);
    if (op == "BiasAdd") {
      expect_arity(n, 2);
      expect_nhwc(n);
      const Value& x = tensor_in(n, 0);
      Node* target = foldable(n, 0);
      if (!target || !is_conv(*target))
        fail(n, "BiasAdd must directly follow a convolution whose output nothing else reads");
      const Tensor& b = const_in(n, 1, "the bias");
      if (b.dims.size() != 1) fail(n, "bias must be 1-D, has shape " + dims_str(b.dims));
      std::vector<double> shift = per_channel(n, b, x.ch, "the bias");
      fold_affine(n, *target, conv_input_channels(*target), std::vector<double>(size_t(x.ch), 1.0),
                  shift);
      Value v = x;
      v.exclusive = true;
      return v;
    }
    if (op == "FusedBatchNorm" || op == "FusedBatchNormV2" || op == "FusedBatchNormV3")
      return lower_batchnorm(n);
    if (op == "Relu6" || op == "Relu") {
      expect_arity(n, 1);
      expect_float(n);
      const Value& x = tensor_in(n, 0);
      Node* target = foldable(n, 0);
      if (!target || !is_conv(*target))
        fail(n, op + " must follow a convolution (with its bias/batch norm) whose output "
                     "nothing else reads");
      if (target->activation != Activation::None)
        fail(n, "'" + target->name + "' already has an activation");
      target->activation = op == "Relu6" ? Activation::Relu6 : Activation::Relu;
      Value v = x;
      v.exclusive = true;
      return v;
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
      Value v = x;
      v.rank = 2;
      v.exclusive = x.exclusive && consumers_[size_t(n.inputs[0])] == 1;
      return v;
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
      const int id = add_ir(std::move(sm));
      softmax_ = id;
      logits_ = x.ir;
      return tensor_value(id, x.rank, x.h, x.w, x.ch);
    }
    if (op == "Pad" || op == "PadV2") {
      expect_arity(n, op == "Pad" ? 2 : 3);
      const Value& x0 = in_value(n, 0);
      if (x0.kind != Value::Padded) tensor_in(n, 0);
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
      Value v = x0;
      v.kind = Value::Padded;
      v.pad_t += int(p.i[2]);
      v.pad_b += int(p.i[3]);
      v.pad_l += int(p.i[4]);
      v.pad_r += int(p.i[5]);
      v.exclusive = false;
      return v;
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
    const Value& x = in_value(n, 0);
    if (x.kind != Value::Padded) tensor_in(n, 0);
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
    int pt = x.kind == Value::Padded ? x.pad_t : 0, pb_ = x.kind == Value::Padded ? x.pad_b : 0;
    int pl = x.kind == Value::Padded ? x.pad_l : 0, pr = x.kind == Value::Padded ? x.pad_r : 0;
    const int hh = x.h + pt + pb_, ww = x.w + pl + pr;
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
      // HWIO -> [Cout][KH][KW][Cin]
      c.out_channels = int(co);
      c.weights.resize(w.f.size());
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t z = 0; z < kw; ++z)
          for (int64_t i = 0; i < ci; ++i)
            for (int64_t o = 0; o < co; ++o)
              c.weights[size_t(((o * kh + y) * kw + z) * ci + i)] =
                  w.f[size_t(((y * kw + z) * ci + i) * co + o)];
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
    Node* target = foldable(n, 0);
    if (!target || !is_conv(*target))
      fail(n, "batch norm must directly follow a convolution whose output nothing else reads");
    const int c = x.ch;
    const auto gamma = per_channel(n, const_in(n, 1, "scale"), c, "scale");
    const auto beta = per_channel(n, const_in(n, 2, "offset"), c, "offset");
    const auto mean = per_channel(n, const_in(n, 3, "mean"), c, "mean");
    const auto var = per_channel(n, const_in(n, 4, "variance"), c, "variance");
    std::vector<double> a(static_cast<size_t>(c)), b(static_cast<size_t>(c));
    for (int k = 0; k < c; ++k) {
      const double v = var[size_t(k)] + double(eps);
      if (!(v > 0)) fail(n, "variance + epsilon is not positive for channel " + std::to_string(k));
      a[size_t(k)] = gamma[size_t(k)] / std::sqrt(v);
      b[size_t(k)] = beta[size_t(k)] - mean[size_t(k)] * a[size_t(k)];
    }
    fold_affine(n, *target, conv_input_channels(*target), a, b);
    Value v = x;
    v.exclusive = true;
    return v;
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
    if (nh == x.h && nw == x.w && nc == x.ch) {  // same NHWC memory: an alias
      Value v = x;
      v.rank = int(d.size());
      v.exclusive = x.exclusive && consumers_[size_t(n.inputs[0])] == 1;
      return v;
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

  Graph finish() {
    const TfNode& out = nodes_[size_t(output_)];
    const Value& v = values_[size_t(output_)];
    if (v.kind != Value::Tensor4) fail(out, "the graph output is not a computed tensor");
    if (g_.input < 0) fail("the graph has no Placeholder input");
    g_.output = v.ir;
    if (g_.node(v.ir).op == OpType::Softmax) {
      g_.node(v.ir).name = out.name;
      g_.logits = g_.node(v.ir).inputs[0];
    } else {
      g_.logits = v.ir;
    }
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
    // Arithmetic on the input inside the graph: the caller feeds raw pixels.
    for (const Node& node : g_.nodes)
      if (node.op == OpType::ChannelAffine && node.inputs[0] == g_.input) {
        info.normalization_in_graph = true;
        const float w0 = node.weights[0], b0 = node.bias[0];
        bool uniform = w0 != 0.f;
        for (size_t c = 0; c < node.weights.size(); ++c)
          uniform = uniform && node.weights[c] == w0 && node.bias[c] == b0;
        info.mean = uniform ? -b0 / w0 : 0.f;
        info.scale = uniform ? 1.f / w0 : 1.f;
      }
    try {
      g_.finalize();
    } catch (const Error& e) {
      fail(e.what());
    }
    info.has_background = info.num_classes == 1001;
    return std::move(g_);
  }

  std::string_view bytes_;
  std::string src_;
  std::vector<TfNode> nodes_;
  std::unordered_map<std::string, int> index_;
  std::vector<int> consumers_, order_;
  std::vector<bool> reachable_;
  int output_ = -1;
  std::vector<Value> values_;
  Graph g_;
  std::vector<int> ir_c_;  // channels of each IR node's output
  int in_c_ = 0;
  int softmax_ = -1, logits_ = -1, features_ = -1;
  int64_t const_budget_;  // constant elements still allowed
};

}  // namespace

Graph load_graphdef_bytes(std::string_view bytes, const std::string& source) {
  return GraphDefLoader(bytes, source).load();
}

Graph load_graphdef(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error("cannot open model file '" + path + "'");
  const std::streamoff size = f.tellg();
  if (size < 0) throw Error("'" + path + "': cannot read the file size");
  if (size_t(size) > kMaxFileBytes) throw Error("'" + path + "': file too large for a GraphDef");
  std::string data(size_t(size), '\0');
  f.seekg(0);
  if (!f.read(data.data(), size)) throw Error("'" + path + "': read error");
  return load_graphdef_bytes(data, path);
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
