// A TF frozen GraphDef parsed (internal to the GraphDef reader): protobuf wire parsing
// (graph.proto, node_def.proto, attr_value.proto, tensor.proto, tensor_shape.proto field
// numbers), input resolution, topological sort, the output picked and what it depends on
// marked, and access to attributes and constants. tf_graphdef.cpp translates the nodes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formats/pb_wire.h"
#include "graph/const_eval.h"
#include "mnv2/mnv2.h"

namespace mnv2::tfgraph {


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

using const_eval::dims_str;  // one spelling of a shape in every error message
std::string dtype_name(int64_t t);

class ParsedGraphDef {
 public:
  // Parses, resolves inputs, sorts, picks the output and marks what it needs. `source`
  // names the file in errors.
  ParsedGraphDef(std::string_view bytes, std::string source);

  // ---------------------------------------------------------------- errors
  [[noreturn]] void fail(const std::string& what) const;
  [[noreturn]] void fail(const TfNode& n, const std::string& what) const;

  // ---------------------------------------------------------------- attributes
  const AttrRef* attr(const TfNode& n, const std::string& key) const;
  pb::Reader attr_reader(const TfNode& n, const AttrRef& a) const;
  // The AttrValue field `number` of attr `key`; false when the attr is absent.
  bool attr_field(const TfNode& n, const std::string& key, uint32_t number, pb::WireType type,
                  pb::Field* out, const char* kind) const;
  std::string attr_string(const TfNode& n, const std::string& key, const std::string& def) const;
  bool attr_bool(const TfNode& n, const std::string& key, bool def) const;
  float attr_float(const TfNode& n, const std::string& key, float def) const;
  int64_t attr_type(const TfNode& n, const std::string& key, int64_t def) const;
  // list(int); *present tells whether the attr exists.
  std::vector<int64_t> attr_ints(const TfNode& n, const std::string& key, bool* present) const;

  // TensorShapeProto -> dims (-1 = unknown); false for unknown rank.
  bool parse_shape(const TfNode& n, pb::Reader r, std::vector<int64_t>* dims) const;
  // A TensorProto (of a Const node's value); its elements count against the file's budget.
  std::shared_ptr<Tensor> parse_tensor(const TfNode& n, pb::Reader r);

 protected:
  std::string_view bytes_;
  std::string src_;
  std::vector<TfNode> nodes_;
  std::unordered_map<std::string, int> index_;
  std::vector<int> consumers_, order_;
  std::vector<bool> reachable_;
  int output_ = -1;
  int64_t const_budget_;  // constant elements still allowed

 private:
  // The constructor's steps, in order.
  void parse_graph();
  void parse_node(pb::Reader r, size_t offset);
  void resolve_inputs();
  void topo_sort();
  void pick_output();
  void mark_reachable();
};

}  // namespace mnv2::tfgraph
