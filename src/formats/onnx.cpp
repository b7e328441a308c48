// ONNX ModelProto reader: parse (pb_wire) into small structs, then lower node by node into
// the NHWC IR. Field numbers are those of onnx.proto.
#include "formats/half.h"
#include "formats/onnx.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "formats/pb_wire.h"

namespace mnv2 {
namespace {

// ---- onnx.proto field numbers ----------------------------------------------------------
namespace model_f {
constexpr uint32_t kIrVersion = 1, kGraph = 7, kOpsetImport = 8, kMetadata = 14;
}
namespace opset_f {
constexpr uint32_t kDomain = 1, kVersion = 2;
}
namespace graph_f {
constexpr uint32_t kNode = 1, kName = 2, kInitializer = 5, kInput = 11, kOutput = 12;
}
namespace node_f {
constexpr uint32_t kInput = 1, kOutput = 2, kName = 3, kOpType = 4, kAttribute = 5, kDomain = 7;
}
namespace attr_f {
constexpr uint32_t kName = 1, kF = 2, kI = 3, kS = 4, kT = 5, kFloats = 7, kInts = 8, kType = 20;
}
namespace tensor_f {
constexpr uint32_t kDims = 1, kDataType = 2, kFloatData = 4, kInt32Data = 5, kInt64Data = 7,
                   kName = 8, kRawData = 9, kDoubleData = 10, kExternalData = 13,
                   kDataLocation = 14;
}
namespace vi_f {
constexpr uint32_t kName = 1, kType = 2;           // ValueInfoProto
constexpr uint32_t kTensorType = 1;                // TypeProto
constexpr uint32_t kElemType = 1, kShape = 2;      // TypeProto.Tensor
constexpr uint32_t kDim = 1;                       // TensorShapeProto
constexpr uint32_t kDimValue = 1, kDimParam = 2;   // Dimension
}
namespace kv_f {
constexpr uint32_t kKey = 1, kValue = 2;
}

// TensorProto.DataType
enum DataType : int {
  kFloat = 1, kUint8 = 2, kInt8 = 3, kInt32 = 6, kInt64 = 7, kFloat16 = 10, kDouble = 11,
  kBfloat16 = 16
};

const char* dtype_name(int t) {
  static const char* names[] = {"UNDEFINED", "FLOAT",  "UINT8",   "INT8",     "UINT16",
                                "INT16",     "INT32",  "INT64",   "STRING",   "BOOL",
                                "FLOAT16",   "DOUBLE", "UINT32",  "UINT64",   "COMPLEX64",
                                "COMPLEX128", "BFLOAT16"};
  return t >= 0 && t <= 16 ? names[t] : "unknown";
}

constexpr int kMinOpset = 9, kMaxOpset = 21;
constexpr int kMaxInputSide = 2048;  // input height/width accepted from a file
constexpr int64_t kMaxTensorElements = int64_t(1) << 28;

// ---- parsed structures -------------------------------------------------------------------

struct Tensor {
  std::string name;
  std::vector<int64_t> dims;
  int dtype = 0;
  bool has_raw = false;
  std::string_view raw;
  std::vector<float> floats;
  std::vector<int64_t> ints;  // int32_data and int64_data
  std::vector<double> doubles;
  bool external = false;
};

struct Attr {
  std::string name;
  int type = 0;
  bool has_f = false, has_i = false, has_s = false, has_t = false;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::shared_ptr<Tensor> t;
};

struct OnnxNode {
  std::string name, op_type, domain;
  std::vector<std::string> inputs, outputs;
  std::vector<Attr> attrs;

  const Attr* attr(const std::string& n) const {
    for (const Attr& a : attrs)
      if (a.name == n) return &a;
    return nullptr;
  }
  int64_t attr_i(const std::string& n, int64_t def) const {
    const Attr* a = attr(n);
    if (!a) return def;
    if (!a->has_i) throw Error("attribute '" + n + "' is not an integer");
    return a->i;
  }
  float attr_f(const std::string& n, float def) const {
    const Attr* a = attr(n);
    if (!a) return def;
    if (!a->has_f) throw Error("attribute '" + n + "' is not a float");
    return a->f;
  }
  std::string attr_s(const std::string& n, const std::string& def) const {
    const Attr* a = attr(n);
    if (!a) return def;
    if (!a->has_s) throw Error("attribute '" + n + "' is not a string");
    return a->s;
  }
  std::vector<int64_t> attr_ints(const std::string& n, std::vector<int64_t> def) const {
    const Attr* a = attr(n);
    if (!a) return def;
    if (a->ints.empty() && a->has_i) return {a->i};
    return a->ints;
  }
  // Optional input k: "" when absent or empty.
  std::string input(size_t k) const { return k < inputs.size() ? inputs[k] : std::string(); }
};

struct ValueInfo {
  std::string name;
  int elem_type = 0;
  bool has_shape = false;
  std::vector<int64_t> dims;  // -1 where symbolic or unknown
};

struct ParsedModel {
  int64_t ir_version = 0;
  int64_t opset = -1;
  std::vector<OnnxNode> nodes;
  std::vector<Tensor> initializers;
  std::vector<ValueInfo> inputs, outputs;
  std::map<std::string, std::string> metadata;
};

// ---- parsing -----------------------------------------------------------------------------

std::string str(const pb::Reader& r, const pb::Field& f) {
  if (f.type != pb::kLength) r.fail("expected a string field");
  return std::string(f.data);
}

int64_t varint_field(const pb::Reader& r, const pb::Field& f) {
  if (f.type != pb::kVarint) r.fail("expected a varint field");
  return pb::as_int64(f);
}

void parse_tensor(pb::Reader r, Tensor& t) {
  pb::Field f;
  while (r.next(f)) {
    switch (f.number) {
      case tensor_f::kDims: pb::read_packed_varints(r, f, t.dims); break;
      case tensor_f::kDataType: t.dtype = int(varint_field(r, f)); break;
      case tensor_f::kFloatData: pb::read_packed_floats(r, f, t.floats); break;
      case tensor_f::kInt32Data: {
        const size_t old = t.ints.size();
        pb::read_packed_varints(r, f, t.ints);
        // int32 values are sign-extended to 64 bits on the wire; keep the low 32 bits' sign.
        for (size_t k = old; k < t.ints.size(); ++k) t.ints[k] = int32_t(uint32_t(t.ints[k]));
        break;
      }
      case tensor_f::kInt64Data: pb::read_packed_varints(r, f, t.ints); break;
      case tensor_f::kName: t.name = str(r, f); break;
      case tensor_f::kRawData:
        if (f.type != pb::kLength) r.fail("raw_data is not length-delimited");
        t.has_raw = true;
        t.raw = f.data;
        break;
      case tensor_f::kDoubleData: {
        if (f.type == pb::kFixed64) {
          double d;
          std::memcpy(&d, &f.value, 8);
          t.doubles.push_back(d);
        } else if (f.type == pb::kLength && f.data.size() % 8 == 0) {
          const size_t n = f.data.size() / 8, old = t.doubles.size();
          t.doubles.resize(old + n);
          if (n) std::memcpy(t.doubles.data() + old, f.data.data(), f.data.size());
        } else {
          r.fail("malformed double_data");
        }
        break;
      }
      case tensor_f::kExternalData: t.external = true; break;
      case tensor_f::kDataLocation:
        if (varint_field(r, f) == 1) t.external = true;
        break;
      default: break;
    }
  }
}

void parse_attr(pb::Reader r, Attr& a) {
  pb::Field f;
  while (r.next(f)) {
    switch (f.number) {
      case attr_f::kName: a.name = str(r, f); break;
      case attr_f::kType: a.type = int(varint_field(r, f)); break;
      case attr_f::kF:
        if (f.type != pb::kFixed32) r.fail("attribute f is not a 32-bit float");
        a.f = pb::as_float(f);
        a.has_f = true;
        break;
      case attr_f::kI: a.i = varint_field(r, f); a.has_i = true; break;
      case attr_f::kS: a.s = str(r, f); a.has_s = true; break;
      case attr_f::kT:
        if (f.type != pb::kLength) r.fail("attribute t is not a message");
        a.t = std::make_shared<Tensor>();
        parse_tensor(r.sub(f), *a.t);
        a.has_t = true;
        break;
      case attr_f::kFloats: pb::read_packed_floats(r, f, a.floats); break;
      case attr_f::kInts: pb::read_packed_varints(r, f, a.ints); break;
      default: break;  // subgraphs, strings, tensors lists: not used by supported ops
    }
  }
}

void parse_node(pb::Reader r, OnnxNode& n) {
  pb::Field f;
  while (r.next(f)) {
    switch (f.number) {
      case node_f::kInput: n.inputs.push_back(str(r, f)); break;
      case node_f::kOutput: n.outputs.push_back(str(r, f)); break;
      case node_f::kName: n.name = str(r, f); break;
      case node_f::kOpType: n.op_type = str(r, f); break;
      case node_f::kDomain: n.domain = str(r, f); break;
      case node_f::kAttribute: {
        if (f.type != pb::kLength) r.fail("attribute is not a message");
        n.attrs.emplace_back();
        parse_attr(r.sub(f), n.attrs.back());
        break;
      }
      default: break;
    }
  }
}

void parse_value_info(pb::Reader r, ValueInfo& v) {
  pb::Field f;
  while (r.next(f)) {
    if (f.number == vi_f::kName) {
      v.name = str(r, f);
    } else if (f.number == vi_f::kType && f.type == pb::kLength) {
      pb::Reader tr = r.sub(f);
      pb::Field tf;
      while (tr.next(tf)) {
        if (tf.number != vi_f::kTensorType || tf.type != pb::kLength) continue;
        pb::Reader ttr = tr.sub(tf);
        pb::Field ttf;
        while (ttr.next(ttf)) {
          if (ttf.number == vi_f::kElemType) {
            v.elem_type = int(varint_field(ttr, ttf));
          } else if (ttf.number == vi_f::kShape && ttf.type == pb::kLength) {
            v.has_shape = true;
            pb::Reader sr = ttr.sub(ttf);
            pb::Field sf;
            while (sr.next(sf)) {
              if (sf.number != vi_f::kDim || sf.type != pb::kLength) continue;
              pb::Reader dr = sr.sub(sf);
              pb::Field df;
              int64_t d = -1;
              while (dr.next(df))
                if (df.number == vi_f::kDimValue) d = varint_field(dr, df);
              v.dims.push_back(d);
            }
          }
        }
      }
    }
  }
}

void parse_graph(pb::Reader r, ParsedModel& m) {
  pb::Field f;
  while (r.next(f)) {
    if (f.type != pb::kLength) continue;
    switch (f.number) {
      case graph_f::kNode: m.nodes.emplace_back(); parse_node(r.sub(f), m.nodes.back()); break;
      case graph_f::kInitializer:
        m.initializers.emplace_back();
        parse_tensor(r.sub(f), m.initializers.back());
        break;
      case graph_f::kInput: m.inputs.emplace_back(); parse_value_info(r.sub(f), m.inputs.back()); break;
      case graph_f::kOutput:
        m.outputs.emplace_back();
        parse_value_info(r.sub(f), m.outputs.back());
        break;
      default: break;
    }
  }
}

ParsedModel parse_model(std::string_view bytes, const std::string& ctx) {
  ParsedModel m;
  pb::Reader r(bytes, 0, ctx);
  pb::Field f;
  bool has_graph = false;
  while (r.next(f)) {
    switch (f.number) {
      case model_f::kIrVersion: m.ir_version = varint_field(r, f); break;
      case model_f::kGraph:
        if (f.type != pb::kLength) r.fail("graph is not a message");
        if (has_graph) r.fail("more than one graph");
        has_graph = true;
        parse_graph(r.sub(f), m);
        break;
      case model_f::kOpsetImport: {
        if (f.type != pb::kLength) r.fail("opset_import is not a message");
        pb::Reader o = r.sub(f);
        pb::Field of;
        std::string domain;
        int64_t version = -1;
        while (o.next(of)) {
          if (of.number == opset_f::kDomain) domain = str(o, of);
          if (of.number == opset_f::kVersion) version = varint_field(o, of);
        }
        if (domain.empty() || domain == "ai.onnx") m.opset = version;
        break;
      }
      case model_f::kMetadata: {
        if (f.type != pb::kLength) r.fail("metadata_props is not a message");
        pb::Reader o = r.sub(f);
        pb::Field of;
        std::string k, v;
        while (o.next(of)) {
          if (of.number == kv_f::kKey) k = str(o, of);
          if (of.number == kv_f::kValue) v = str(o, of);
        }
        m.metadata[k] = v;
        break;
      }
      default: break;
    }
  }
  if (!has_graph) throw Error(ctx + ": not an ONNX model (no graph)");
  return m;
}

// ---- tensor decoding ---------------------------------------------------------------------


float bf16_to_float(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

int64_t element_count(const Tensor& t) {
  int64_t n = 1;
  for (int64_t d : t.dims) {
    if (d < 0) throw Error("tensor '" + t.name + "' has a negative dimension " + dims_str(t.dims));
    if (d != 0 && n > kMaxTensorElements / d)
      throw Error("tensor '" + t.name + "' has absurd dimensions " + dims_str(t.dims));
    n *= d;
  }
  if (n > kMaxTensorElements)
    throw Error("tensor '" + t.name + "' has absurd dimensions " + dims_str(t.dims));
  return n;
}

[[noreturn]] void size_mismatch(const Tensor& t, size_t have, int64_t want, const char* what) {
  throw Error("tensor '" + t.name + "' " + dtype_name(t.dtype) + dims_str(t.dims) + " holds " +
              std::to_string(have) + " " + what + ", expected " + std::to_string(want));
}

std::vector<float> to_floats(const Tensor& t) {
  if (t.external)
    throw Error("tensor '" + t.name + "' keeps its data in an external file");
  const int64_t n = element_count(t);
  std::vector<float> out;
  auto check_raw = [&](size_t elem) {
    if (int64_t(t.raw.size()) != n * int64_t(elem)) size_mismatch(t, t.raw.size(), n * int64_t(elem), "raw bytes");
  };
  switch (t.dtype) {
    case kFloat:
      if (t.has_raw) {
        check_raw(4);
        out.resize(size_t(n));
        if (n) std::memcpy(out.data(), t.raw.data(), size_t(n) * 4);
      } else {
        if (int64_t(t.floats.size()) != n) size_mismatch(t, t.floats.size(), n, "float_data values");
        out = t.floats;
      }
      break;
    case kFloat16:
    case kBfloat16: {
      auto conv = t.dtype == kFloat16 ? half_to_float : bf16_to_float;
      if (t.has_raw) {
        check_raw(2);
        out.resize(size_t(n));
        for (int64_t k = 0; k < n; ++k) {
          uint16_t h;
          std::memcpy(&h, t.raw.data() + 2 * k, 2);
          out[size_t(k)] = conv(h);
        }
      } else {
        if (int64_t(t.ints.size()) != n) size_mismatch(t, t.ints.size(), n, "int32_data values");
        out.resize(size_t(n));
        for (int64_t k = 0; k < n; ++k) out[size_t(k)] = conv(uint16_t(t.ints[size_t(k)]));
      }
      break;
    }
    case kDouble:
      if (t.has_raw) {
        check_raw(8);
        out.resize(size_t(n));
        for (int64_t k = 0; k < n; ++k) {
          double d;
          std::memcpy(&d, t.raw.data() + 8 * k, 8);
          out[size_t(k)] = float(d);
        }
      } else {
        if (int64_t(t.doubles.size()) != n) size_mismatch(t, t.doubles.size(), n, "double_data values");
        out.assign(t.doubles.begin(), t.doubles.end());
      }
      break;
    default:
      throw Error("tensor '" + t.name + "' has data type " + dtype_name(t.dtype) +
                  "; only FLOAT, FLOAT16, BFLOAT16 and DOUBLE weights are supported");
  }
  return out;
}

std::vector<int64_t> to_ints(const Tensor& t) {
  if (t.external) throw Error("tensor '" + t.name + "' keeps its data in an external file");
  const int64_t n = element_count(t);
  std::vector<int64_t> out;
  if (t.dtype == kInt64 || t.dtype == kInt32) {
    const size_t elem = t.dtype == kInt64 ? 8 : 4;
    if (t.has_raw) {
      if (int64_t(t.raw.size()) != n * int64_t(elem)) size_mismatch(t, t.raw.size(), n * int64_t(elem), "raw bytes");
      out.resize(size_t(n));
      for (int64_t k = 0; k < n; ++k) {
        if (elem == 8) {
          std::memcpy(&out[size_t(k)], t.raw.data() + 8 * k, 8);
        } else {
          int32_t v;
          std::memcpy(&v, t.raw.data() + 4 * k, 4);
          out[size_t(k)] = v;
        }
      }
    } else {
      if (int64_t(t.ints.size()) != n) size_mismatch(t, t.ints.size(), n, "integer values");
      out = t.ints;
    }
    return out;
  }
  throw Error("tensor '" + t.name + "' has data type " + dtype_name(t.dtype) +
              "; expected INT64 or INT32");
}

// ---- lowering ----------------------------------------------------------------------------

// An activation as ONNX sees it, as a view on one IR node's NHWC value. dims are the ONNX
// dims (batch as 1); axes[i] is the IR axis (0 n, 1 h, 2 w, 3 c) ONNX axis i walks, or -1
// for an axis of size 1 that is not backed by an IR axis. Every IR axis larger than 1 is
// walked by exactly one ONNX axis of the same size.
struct Value {
  int id = -1;
  std::vector<int64_t> dims;
  std::vector<int> axes;
  int pad_t = 0, pad_b = 0, pad_l = 0, pad_r = 0;  // pending zero padding (Pad before Conv)
  bool padded() const { return pad_t || pad_b || pad_l || pad_r; }
};

const std::vector<int> kNchwAxes = {0, 3, 1, 2};

class Lowering {
 public:
  // file_bytes bounds how much weight data the lowering may materialise.
  Lowering(ParsedModel& m, std::string ctx, size_t file_bytes)
      : m_(m), ctx_(std::move(ctx)),
        weight_budget_(std::max<int64_t>(int64_t(file_bytes), int64_t(1) << 20)),
        fold_budget_(std::max<int64_t>(int64_t(file_bytes), int64_t(1) << 24)) {}

  Graph run(const std::string& name);

 private:
  ParsedModel& m_;
  std::string ctx_;
  Graph g_;
  int opset_ = 0;
  std::map<std::string, const Tensor*> consts_;
  std::deque<Tensor> owned_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> uses_;
  std::set<std::string> graph_outputs_;

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
  void no_pads(const Value& v, const OnnxNode& n) const {
    if (v.padded())
      throw Error("reads the output of a Pad; only Conv can absorb a Pad");
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
  bool sole_use(const std::string& name) const {
    auto it = uses_.find(name);
    return it != uses_.end() && it->second == 1 && !graph_outputs_.count(name);
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
  int norm_axis(int64_t axis, size_t rank) const {
    const int64_t r = int64_t(rank);
    if (axis < -r || axis >= r) throw Error("axis " + std::to_string(axis) + " out of range");
    return int(axis < 0 ? axis + r : axis);
  }
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
  void shape_of(const OnnxNode& n);
  void set_input();
};

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

Graph Lowering::run(const std::string& name) {
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
  for (const ValueInfo& o : m_.outputs) {
    ++uses_[o.name];
    graph_outputs_.insert(o.name);
  }

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
  if (out.padded()) throw Error(ctx_ + ": graph output '" + out_name + "' is a Pad result");
  const Shape& os = ir_shape(out.id);
  if (os.h != 1 || os.w != 1)
    throw Error(ctx_ + ": graph output '" + out_name + "' has spatial size " +
                std::to_string(os.h) + "x" + std::to_string(os.w) +
                "; mnv2 handles classifiers with a [N, classes] output");
  if (g_.node(out.id).op == OpType::Input)
    throw Error(ctx_ + ": graph output '" + out_name + "' is the input itself");
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

  try {
    g_.finalize();
  } catch (const Error& e) {
    throw Error(ctx_ + ": " + e.what());
  }
  info.has_background = info.num_classes == 1001;
  return std::move(g_);
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
  node.name = n.name.empty() ? n.outputs[0] : n.name;
  node.inputs = {x.id};
  node.kernel_h = int(KH);
  node.kernel_w = int(KW);
  node.stride_h = int(strides[0]);
  node.stride_w = int(strides[1]);

  // Padding: explicit pads [top, left, bottom, right] or auto_pad on the (Pad-extended) input.
  const int in_h = xs.h + x.pad_t + x.pad_b, in_w = xs.w + x.pad_l + x.pad_r;
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
  node.pad_top = pt + x.pad_t;
  node.pad_bottom = pb_ + x.pad_b;
  node.pad_left = pl + x.pad_l;
  node.pad_right = pr + x.pad_r;

  const std::vector<float> w = to_floats(wt);
  if (group == 1) {
    if (CperG != C)
      throw Error("weight '" + wt.name + "' " + dims_str(wt.dims) + " expects " +
                  std::to_string(CperG) + " input channels, the input has " + std::to_string(C));
    node.op = OpType::Conv2D;
    node.out_channels = int(M);
    node.weights.resize(w.size());
    // OIHW -> OHWI
    for (int64_t o = 0; o < M; ++o)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < KH; ++y)
          for (int64_t xx = 0; xx < KW; ++xx)
            node.weights[size_t(((o * KH + y) * KW + xx) * C + c)] =
                w[size_t(((o * C + c) * KH + y) * KW + xx)];
  } else if (group == C && CperG == 1 && M % C == 0) {
    node.op = OpType::DepthwiseConv2D;
    node.depth_multiplier = int(M / C);
    node.weights.resize(w.size());
    // [M,1,KH,KW] -> [KH][KW][M]; output channel o reads input o / multiplier
    for (int64_t o = 0; o < M; ++o)
      for (int64_t y = 0; y < KH; ++y)
        for (int64_t xx = 0; xx < KW; ++xx)
          node.weights[size_t((y * KW + xx) * M + o)] = w[size_t((o * KH + y) * KW + xx)];
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
  no_pads(x, n);
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
  const double eps = n.attr_f("epsilon", 1e-5f);
  if (!(eps >= 0)) throw Error("invalid epsilon");
  std::vector<double> s(static_cast<size_t>(C), 0.0), t(static_cast<size_t>(C), 0.0);
  for (int c = 0; c < C; ++c) {
    const double var = double(p[3][size_t(c)]) + eps;
    if (!(var > 0)) throw Error("variance + epsilon is not positive for channel " + std::to_string(c));
    s[size_t(c)] = double(p[0][size_t(c)]) / std::sqrt(var);
    t[size_t(c)] = double(p[1][size_t(c)]) - double(p[2][size_t(c)]) * s[size_t(c)];
  }
  Node& prod = g_.node(x.id);
  const bool foldable = (prod.op == OpType::Conv2D || prod.op == OpType::DepthwiseConv2D ||
                         prod.op == OpType::FullyConnected) &&
                        prod.activation == Activation::None && sole_use(n.inputs[0]);
  if (foldable) {
    const size_t cout = size_t(C);
    if (prod.op == OpType::DepthwiseConv2D) {
      for (size_t i = 0; i < prod.weights.size(); ++i)
        prod.weights[i] = float(double(prod.weights[i]) * s[i % cout]);
    } else {
      const size_t per = prod.weights.size() / cout;
      for (size_t o = 0; o < cout; ++o)
        for (size_t k = 0; k < per; ++k)
          prod.weights[o * per + k] = float(double(prod.weights[o * per + k]) * s[o]);
    }
    if (prod.bias.empty()) prod.bias.assign(cout, 0.f);
    for (size_t o = 0; o < cout; ++o)
      prod.bias[o] = float(double(prod.bias[o]) * s[o] + t[o]);
    define(n, x);
    return;
  }
  Node node;
  node.name = n.name.empty() ? n.outputs[0] : n.name;
  node.op = OpType::ChannelAffine;
  node.inputs = {x.id};
  node.weights.assign(s.begin(), s.end());
  node.bias.assign(t.begin(), t.end());
  Value v = x;
  v.id = add_node(std::move(node));
  define(n, v);
}

void Lowering::activation(const OnnxNode& n, Activation act) {
  const Value x = need_value(n, 0);
  no_pads(x, n);
  Node& prod = g_.node(x.id);
  const bool fusable = (prod.op == OpType::Conv2D || prod.op == OpType::DepthwiseConv2D ||
                        prod.op == OpType::FullyConnected) &&
                       sole_use(n.inputs[0]);
  if (!fusable)
    throw Error(std::string("the activation after ") + op_name(prod.op) + " '" + prod.name +
                "' cannot be fused (mnv2 fuses ReLU/ReLU6 into the convolution or fully "
                "connected layer that solely feeds it)");
  if (prod.activation == Activation::None || act == Activation::Relu6) prod.activation = act;
  define(n, x);
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
    no_pads(a, n);
    no_pads(b, n);
    if (a.dims != b.dims)
      throw Error("operands " + dims_str(a.dims) + " and " + dims_str(b.dims) +
                  " differ (broadcasting between activations is not supported)");
    for (size_t i = 0; i < a.dims.size(); ++i)
      if (a.dims[i] > 1 && a.axes[i] != b.axes[i])
        throw Error("operands have different memory layouts");
    Node node;
    node.name = n.name.empty() ? n.outputs[0] : n.name;
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

// Per-channel x*s + b forms: Add/Sub/Mul/Div with one constant operand. A bias add right
// after a conv / FC folds into its bias; otherwise a ChannelAffine node is made (or merged
// into the ChannelAffine before it).
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
  no_pads(x, n);
  const Tensor& kt = need_const(n, ki, "operand");
  const std::vector<float> k = channel_const(kt, x);
  const int C = ir_shape(x.id).c;
  auto at = [&](int c) { return double(k.size() == 1 ? k[0] : k[size_t(c)]); };
  if (k.size() != 1 && int(k.size()) != C) throw Error("per-channel constant size mismatch");
  std::vector<double> s(size_t(C), 1.0), b(size_t(C), 0.0);
  const std::string& op = n.op_type;
  for (int c = 0; c < C; ++c) {
    if (op == "Add") {
      b[size_t(c)] = at(c);
    } else if (op == "Sub") {
      if (x_first) b[size_t(c)] = -at(c);
      else { s[size_t(c)] = -1; b[size_t(c)] = at(c); }
    } else if (op == "Mul") {
      s[size_t(c)] = at(c);
    } else {  // Div
      if (!x_first) throw Error("dividing a constant by an activation is not supported");
      if (at(c) == 0) throw Error("division by zero");
      s[size_t(c)] = 1.0 / at(c);
    }
  }
  Node& prod = g_.node(x.id);
  const bool pure_bias = op == "Add" || (op == "Sub" && x_first);
  const bool into_layer = pure_bias &&
                          (prod.op == OpType::Conv2D || prod.op == OpType::DepthwiseConv2D ||
                           prod.op == OpType::FullyConnected) &&
                          prod.activation == Activation::None && sole_use(n.inputs[xi]);
  if (into_layer) {
    if (prod.bias.empty()) prod.bias.assign(size_t(C), 0.f);
    for (int c = 0; c < C; ++c) prod.bias[size_t(c)] = float(double(prod.bias[size_t(c)]) + b[size_t(c)]);
    define(n, x);
    return;
  }
  if (prod.op == OpType::ChannelAffine && sole_use(n.inputs[xi])) {
    // (x*s0 + b0)*s + b
    for (int c = 0; c < C; ++c) {
      prod.weights[size_t(c)] = float(double(prod.weights[size_t(c)]) * s[size_t(c)]);
      prod.bias[size_t(c)] = float(double(prod.bias[size_t(c)]) * s[size_t(c)] + b[size_t(c)]);
    }
    define(n, x);
    return;
  }
  Node node;
  node.name = n.name.empty() ? n.outputs[0] : n.name;
  node.op = OpType::ChannelAffine;
  node.inputs = {x.id};
  node.weights.assign(s.begin(), s.end());
  node.bias.assign(b.begin(), b.end());
  Value v = x;
  v.id = add_node(std::move(node));
  define(n, v);
}

void Lowering::global_pool(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  no_pads(x, n);
  need_nchw(x, n.op_type.c_str());
  Node node;
  node.name = n.name.empty() ? n.outputs[0] : n.name;
  node.op = OpType::GlobalAvgPool;
  node.inputs = {x.id};
  define(n, nchw_value(add_node(std::move(node))));
}

void Lowering::average_pool(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  no_pads(x, n);
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
  no_pads(x, n);
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
  node.name = n.name.empty() ? n.outputs[0] : n.name;
  node.op = OpType::GlobalAvgPool;
  node.inputs = {x.id};
  const int id = add_node(std::move(node));
  Value v = nchw_value(id);
  if (!keep) v = Value{id, {1, ir_shape(id).c}, {0, 3}};
  define(n, v);
}

// Reshape as a view: fine when at most one non-batch axis is larger than 1 on either side,
// or when the input's large axes already run in NHWC memory order (then an IR flatten).
void Lowering::reshape_to(const OnnxNode& n, const Value& x, std::vector<int64_t> t) {
  no_pads(x, n);
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
  node.name = n.name.empty() ? n.outputs[0] : n.name;
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
  no_pads(x, n);
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
  no_pads(x, n);
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
  Value v = x;
  v.pad_t += int(pads[2]);
  v.pad_l += int(pads[3]);
  v.pad_b += int(pads[6]);
  v.pad_r += int(pads[7]);
  v.dims[2] += pads[2] + pads[6];
  v.dims[3] += pads[3] + pads[7];
  if (v.pad_t > 64 || v.pad_b > 64 || v.pad_l > 64 || v.pad_r > 64) throw Error("too much padding");
  define(n, v);
}

void Lowering::gemm(const OnnxNode& n, bool matmul) {
  const Value a = need_value(n, 0);
  no_pads(a, n);
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
  const std::vector<float> w = to_floats(bt);
  Node node;
  node.name = n.name.empty() ? n.outputs[0] : n.name;
  node.op = OpType::FullyConnected;
  node.inputs = {a.id};
  node.out_channels = int(N);
  node.weights.resize(size_t(N * K));
  for (int64_t o = 0; o < N; ++o)
    for (int64_t k = 0; k < K; ++k)
      node.weights[size_t(o * K + k)] =
          alpha * (trans_b ? w[size_t(o * K + k)] : w[size_t(k * N + o)]);
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
  no_pads(x, n);
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
  node.name = n.name.empty() ? n.outputs[0] : n.name;
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
  define(n, need_value(n, 0));
}

// ---- constant folding --------------------------------------------------------------------
// Exporters compute small integer tensors (pads, shapes) with chains of ops on constants;
// torch, for example, builds the pads of F.pad with ConstantOfShape, Concat, Reshape,
// Slice, Transpose and Cast. Those chains are evaluated here, on tensors of at most
// kMaxFolded elements.

constexpr int64_t kMaxFolded = int64_t(1) << 20;

struct CT {
  std::vector<int64_t> dims;
  bool integer = true;
  std::vector<int64_t> iv;
  std::vector<double> fv;
  size_t size() const { return integer ? iv.size() : fv.size(); }
};

bool is_int_type(int dt) { return dt != kFloat && dt != kDouble && dt != kFloat16 && dt != kBfloat16; }

CT to_ct(const Tensor& t) {
  CT c;
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

Tensor from_ct(const CT& c, const std::string& name) {
  Tensor t;
  t.name = name;
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

int64_t count_of(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || (d > 0 && n > kMaxFolded / d) || n * d > kMaxFolded)
      throw Error("constant of shape " + dims_str(dims) + " is too large to fold");
    n *= d;
  }
  return n;
}

// Output element k takes input element src[k].
CT gather_ct(const CT& in, std::vector<int64_t> dims, const std::vector<size_t>& src) {
  CT out;
  out.dims = std::move(dims);
  out.integer = in.integer;
  for (size_t k : src) {
    if (k >= in.size()) throw Error("internal: folded index out of range");
    if (in.integer) out.iv.push_back(in.iv[k]);
    else out.fv.push_back(in.fv[k]);
  }
  return out;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
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
      out.name = n.outputs[0];
      out.dims = t->dims;
      out.dtype = kFloat;
      spend_fold(element_count(*t));
      out.floats = to_floats(*t);
      owned_.push_back(std::move(out));
      consts_[n.outputs[0]] = &owned_.back();
      return true;
    }
  }
  int64_t input_elements = 0;
  for (const std::string& name : n.inputs)
    if (const Tensor* t = find_const(name)) input_elements += element_count(*t);
  spend_fold(input_elements);
  std::vector<CT> in;
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
  const CT& x = in[0];
  auto ints_input = [&](size_t k) -> std::vector<int64_t> {
    if (k >= in.size() || n.inputs[k].empty()) return {};
    if (!in[k].integer) throw Error("input " + std::to_string(k) + " must be integer");
    return in[k].iv;
  };
  CT out;
  if (op == "ConstantOfShape") {
    if (!x.integer) throw Error("shape must be integer");
    out.dims = x.iv;
    const int64_t cnt = count_of(out.dims);
    CT v;
    v.integer = false;
    v.fv = {0.0};
    if (const Attr* a = n.attr("value"); a && a->has_t) v = to_ct(*a->t);
    if (v.size() != 1) throw Error("value must have one element");
    out.integer = v.integer;
    if (v.integer) out.iv.assign(size_t(cnt), v.iv[0]);
    else out.fv.assign(size_t(cnt), v.fv[0]);
  } else if (op == "Cast") {
    const int64_t to = n.attr_i("to", 0);
    out = x;
    const bool want_int = is_int_type(int(to));
    if (want_int && !x.integer) {
      out.integer = true;
      out.fv.clear();
      for (double d : x.fv) {
        if (!(std::fabs(d) < 9.2e18)) throw Error("cannot cast " + std::to_string(d) + " to an integer");
        out.iv.push_back(int64_t(d));
      }
    } else if (!want_int && x.integer) {
      out.integer = false;
      out.iv.clear();
      for (int64_t v : x.iv) out.fv.push_back(double(v));
    }
  } else if (op == "Reshape") {
    std::vector<int64_t> shape = ints_input(1);
    int64_t known = 1, total = int64_t(x.size());
    int infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == 0 && n.attr_i("allowzero", 0) == 0) {
        if (i >= x.dims.size()) throw Error("0 in shape has no input axis");
        shape[i] = x.dims[i];
      }
      if (shape[i] == -1) {
        if (infer >= 0) throw Error("more than one -1 in shape");
        infer = int(i);
      } else if (shape[i] < 0 || shape[i] > kMaxFolded) {
        throw Error("invalid shape " + dims_str(shape));
      } else {
        known *= shape[i];
        if (known > kMaxFolded) throw Error("invalid shape " + dims_str(shape));
      }
    }
    if (infer >= 0) {
      if (known == 0 || total % known) throw Error("cannot infer -1 in shape");
      shape[size_t(infer)] = total / known;
    } else if (known != total) {
      throw Error("shape " + dims_str(shape) + " does not match " + std::to_string(total) + " elements");
    }
    out = x;
    out.dims = shape;
  } else if (op == "Unsqueeze" || op == "Squeeze") {
    std::vector<int64_t> axes = opset_ >= 13 ? ints_input(1) : n.attr_ints("axes", {});
    out = x;
    if (op == "Squeeze") {
      std::set<int> drop;
      for (int64_t a : axes) drop.insert(norm_axis(a, x.dims.size()));
      out.dims.clear();
      for (size_t i = 0; i < x.dims.size(); ++i) {
        const bool d = axes.empty() ? x.dims[i] == 1 : drop.count(int(i)) > 0;
        if (d && x.dims[i] != 1) throw Error("cannot squeeze an axis of size " + std::to_string(x.dims[i]));
        if (!d) out.dims.push_back(x.dims[i]);
      }
    } else {
      const size_t rank = x.dims.size() + axes.size();
      if (rank > 8) throw Error("rank too large");
      std::set<int> ins;
      for (int64_t a : axes) ins.insert(norm_axis(a, rank));
      if (ins.size() != axes.size()) throw Error("duplicate axes");
      out.dims.clear();
      size_t src = 0;
      for (size_t i = 0; i < rank; ++i) out.dims.push_back(ins.count(int(i)) ? 1 : x.dims[src++]);
    }
  } else if (op == "Transpose") {
    std::vector<int64_t> perm = n.attr_ints("perm", {});
    if (perm.empty())
      for (size_t i = x.dims.size(); i-- > 0;) perm.push_back(int64_t(i));
    if (perm.size() != x.dims.size()) throw Error("perm does not match the rank");
    std::vector<int64_t> dims(perm.size());
    std::vector<bool> seen(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) {
      if (perm[i] < 0 || perm[i] >= int64_t(perm.size()) || seen[size_t(perm[i])]) throw Error("invalid perm");
      seen[size_t(perm[i])] = true;
      dims[i] = x.dims[size_t(perm[i])];
    }
    const auto is = strides_of(x.dims);
    const int64_t cnt = count_of(dims);
    std::vector<size_t> src(static_cast<size_t>(cnt));
    std::vector<int64_t> idx(dims.size(), 0);
    for (int64_t k = 0; k < cnt; ++k) {
      int64_t off = 0;
      for (size_t i = 0; i < dims.size(); ++i) off += idx[i] * is[size_t(perm[i])];
      src[size_t(k)] = size_t(off);
      for (size_t i = dims.size(); i-- > 0;) {
        if (++idx[i] < dims[i]) break;
        idx[i] = 0;
      }
    }
    out = gather_ct(x, dims, src);
  } else if (op == "Slice") {
    std::vector<int64_t> starts, ends, axes, steps;
    if (opset_ < 10) {
      starts = n.attr_ints("starts", {});
      ends = n.attr_ints("ends", {});
      axes = n.attr_ints("axes", {});
    } else {
      starts = ints_input(1);
      ends = ints_input(2);
      axes = ints_input(3);
      steps = ints_input(4);
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
      throw Error("starts/ends/axes/steps sizes differ");
    const size_t rank = x.dims.size();
    std::vector<int64_t> b(rank, 0), st(rank, 1), dims = x.dims;
    for (size_t k = 0; k < starts.size(); ++k) {
      const int a = norm_axis(axes[k], rank);
      const int64_t d = x.dims[size_t(a)], step = steps[k];
      if (step == 0) throw Error("slice step 0");
      int64_t s0 = starts[k], e0 = ends[k];
      if (s0 < 0) s0 = s0 < -d ? -1 : s0 + d;  // -1 marks "before the start" for clamping
      if (e0 < 0) e0 = e0 < -d ? -1 : e0 + d;
      int64_t len;
      if (step > 0) {
        s0 = std::clamp<int64_t>(s0, 0, d);
        e0 = std::clamp<int64_t>(e0, 0, d);
        len = e0 > s0 ? (e0 - s0 + step - 1) / step : 0;
      } else {
        s0 = std::clamp<int64_t>(s0, -1, d - 1);
        e0 = std::clamp<int64_t>(e0, -1, d - 1);
        len = s0 > e0 ? (s0 - e0 + (-step) - 1) / (-step) : 0;
      }
      b[size_t(a)] = s0;
      st[size_t(a)] = step;
      dims[size_t(a)] = len;
    }
    const auto is = strides_of(x.dims);
    const int64_t cnt = count_of(dims);
    std::vector<size_t> src(static_cast<size_t>(cnt));
    std::vector<int64_t> idx(rank, 0);
    for (int64_t k = 0; k < cnt; ++k) {
      int64_t off = 0;
      for (size_t i = 0; i < rank; ++i) off += (b[i] + idx[i] * st[i]) * is[i];
      src[size_t(k)] = size_t(off);
      for (size_t i = rank; i-- > 0;) {
        if (++idx[i] < dims[i]) break;
        idx[i] = 0;
      }
    }
    out = gather_ct(x, dims, src);
  } else if (op == "Concat") {
    const size_t rank = x.dims.size();
    if (rank == 0) throw Error("cannot concatenate scalars");
    const int a = norm_axis(n.attr_i("axis", 0), rank);
    std::vector<int64_t> dims = x.dims;
    dims[size_t(a)] = 0;
    for (const CT& t : in) {
      if (t.dims.size() != rank || t.integer != x.integer) throw Error("inputs disagree in rank or type");
      for (size_t i = 0; i < rank; ++i)
        if (int(i) != a && t.dims[i] != x.dims[i]) throw Error("inputs disagree in shape");
      dims[size_t(a)] += t.dims[size_t(a)];
    }
    count_of(dims);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; ++i) outer *= x.dims[size_t(i)];
    for (size_t i = size_t(a) + 1; i < rank; ++i) inner *= x.dims[i];
    out.dims = dims;
    out.integer = x.integer;
    for (int64_t o = 0; o < outer; ++o)
      for (const CT& t : in) {
        const int64_t chunk = t.dims[size_t(a)] * inner;
        for (int64_t k = 0; k < chunk; ++k) {
          if (t.integer) out.iv.push_back(t.iv[size_t(o * chunk + k)]);
          else out.fv.push_back(t.fv[size_t(o * chunk + k)]);
        }
      }
  } else {  // Gather
    if (in.size() < 2 || !in[1].integer) throw Error("indices must be integer");
    const size_t rank = x.dims.size();
    if (rank == 0) throw Error("cannot gather from a scalar");
    const int a = norm_axis(n.attr_i("axis", 0), rank);
    const int64_t d = x.dims[size_t(a)];
    std::vector<int64_t> dims(x.dims.begin(), x.dims.begin() + a);
    dims.insert(dims.end(), in[1].dims.begin(), in[1].dims.end());
    dims.insert(dims.end(), x.dims.begin() + a + 1, x.dims.end());
    count_of(dims);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; ++i) outer *= x.dims[size_t(i)];
    for (size_t i = size_t(a) + 1; i < rank; ++i) inner *= x.dims[i];
    std::vector<size_t> src;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j : in[1].iv) {
        if (j < -d || j >= d) throw Error("gather index " + std::to_string(j) + " out of range");
        const int64_t jj = j < 0 ? j + d : j;
        for (int64_t k = 0; k < inner; ++k) src.push_back(size_t((o * d + jj) * inner + k));
      }
    out = gather_ct(x, dims, src);
  }
  if (int64_t(out.size()) != count_of(out.dims)) throw Error("internal: folded size mismatch");
  if (values_.count(n.outputs[0]) || consts_.count(n.outputs[0]))
    throw Error("output '" + n.outputs[0] + "' is defined twice");
  spend_fold(int64_t(out.size()));
  owned_.push_back(from_ct(out, n.outputs[0]));
  consts_[n.outputs[0]] = &owned_.back();
  return true;
}

void Lowering::shape_of(const OnnxNode& n) {
  const Value x = need_value(n, 0);
  no_pads(x, n);
  if (n.outputs.size() != 1 || n.outputs[0].empty()) throw Error("expects one output");
  if (values_.count(n.outputs[0]) || consts_.count(n.outputs[0]))
    throw Error("output '" + n.outputs[0] + "' is defined twice");
  Tensor t;
  t.name = n.outputs[0];
  t.dtype = kInt64;
  t.dims = {int64_t(x.dims.size())};
  t.ints = x.dims;  // the batch axis reads as 1; Reshape treats a leading 1 as the batch
  owned_.push_back(std::move(t));
  consts_[n.outputs[0]] = &owned_.back();
}

}  // namespace

bool looks_like_onnx(std::string_view head) {
  if (head.size() < 2) return false;
  // A ModelProto opens with one of its own fields; protobuf writers emit them in field
  // order, so in practice ir_version (field 1, varint: 0x08). Field 1 of a GraphDef is
  // length-delimited (0x0a), so the two never share a first byte. A file that starts
  // straight with its graph (0x3a) or opset_import (0x42) is accepted too.
  const uint8_t b = uint8_t(head[0]);
  if (b != 0x08 && b != 0x3a && b != 0x42) return false;
  try {
    pb::Reader r(head, 0, "probe");
    pb::Field f;
    if (!r.next(f)) return false;
    if (f.number == 1) return f.value >= 1 && f.value <= 100;  // a plausible ir_version
    return true;
  } catch (const Error&) {
    // A length running past the probe window is fine: only the first bytes were read.
    return b != 0x08;
  }
}

Graph load_onnx_bytes(std::string_view bytes, const std::string& name) {
  const std::string ctx = "'" + name + "' (ONNX)";
  ParsedModel m = parse_model(bytes, ctx);
  std::string stem = std::filesystem::path(name).stem().string();
  if (stem.empty()) stem = name;
  return Lowering(m, ctx, bytes.size()).run(stem);
}

Graph load_onnx(const std::string& path) {
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
  return load_onnx_bytes(bytes, path);
}

}  // namespace mnv2
