// The OpenVINO IR loader's state (internal to it): openvino_ir_parse.cpp parses the .xml
// (pugixml), connects the layers and decodes constants from the .bin; openvino_ir.cpp
// translates the layers, in topological order, into the graph IR.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <pugixml.hpp>
#include <string>
#include <utility>
#include <vector>

#include "formats/loader.h"
#include "graph/const_eval.h"

namespace mnv2::ovir {

constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxConstElements = int64_t(1) << 30;
constexpr size_t kMaxLayers = 200000;

struct Port {
  int id = 0;
  std::string precision;
  std::vector<int64_t> dims;  // -1 for a dynamic dimension
  std::string names;
};

struct Layer {
  int id = 0;
  std::string name, type, version;
  pugi::xml_node data;
  std::vector<Port> inputs, outputs;
  // per input port (in the order the ports are listed): producing layer index and its
  // output index; -1 until an edge connects it
  std::vector<std::pair<int, int>> src;
};

// The value a layer output carries while lowering.
struct Value {
  enum Kind { Unset, Act, Const } kind = Unset;
  std::vector<int64_t> dims;  // NCHW (rank 4) or NC (rank 2) for activations
  int node = -1;              // Act: graph node id
  // Const: floats (f32/f16) or integers (i64/i32)
  bool is_int = false;
  std::shared_ptr<std::vector<float>> f;
  std::shared_ptr<std::vector<int64_t>> i;
  int64_t count() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

using const_eval::dims_str;  // one spelling of a shape in every error message
// Whole-string integer / float parsing (surrounding blanks allowed); false when malformed.
bool parse_int_text(const char* s, int64_t* out);
bool parse_float_text(const std::string& text, double* out);
// "a, b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& s);
bool is_true(std::string v);
bool is_false(std::string v);
// Numbers inside the first [...] of a converter parameter like "input[127.5,127.5,127.5]".
std::vector<double> bracket_numbers(const std::string& v);

class Loader {
 public:
  Loader(const std::string& xml, const std::vector<uint8_t>& bin, const std::string& label)
      : xml_(xml), bin_(bin), label_(label) {}

  Translation run();

 private:
  const std::string& xml_;
  const std::vector<uint8_t>& bin_;
  const std::string& label_;
  pugi::xml_document doc_;
  std::vector<Layer> layers_;
  std::map<int, int> index_of_;  // layer id -> index
  std::vector<std::vector<Value>> values_;
  Graph g_;
  int result_layer_ = -1;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("'" + label_ + "': OpenVINO IR: " + what);
  }
  [[noreturn]] void fail(const Layer& l, const std::string& what) const {
    fail("layer " + std::to_string(l.id) + " '" + l.name + "' (" + l.type + "): " + what);
  }

  void parse();
  void connect();
  std::vector<int> topo_order() const;
  void lower(int li);

  // attribute helpers
  std::string attr(const Layer& l, const char* name, const char* def = nullptr) const;
  std::vector<int64_t> int_list(const Layer& l, const char* name, size_t want, int64_t lo,
                                int64_t hi, const std::vector<int64_t>* def = nullptr) const;
  double float_attr(const Layer& l, const char* name) const;

  const Value& in(const Layer& l, size_t k) const {
    const auto& s = l.src[k];
    return values_[size_t(s.first)][size_t(s.second)];
  }
  const Value& act_in(const Layer& l, size_t k) const {
    const Value& v = in(l, k);
    if (v.kind != Value::Act)
      fail(l, "input " + std::to_string(k) + " must be a computed tensor, not a constant");
    return v;
  }
  const Value& const_in(const Layer& l, size_t k) const {
    const Value& v = in(l, k);
    if (v.kind != Value::Const)
      fail(l, "input " + std::to_string(k) + " must be a constant");
    return v;
  }
  void want_inputs(const Layer& l, size_t n) const {
    if (l.inputs.size() != n)
      fail(l, "expects " + std::to_string(n) + " input port(s), has " +
                  std::to_string(l.inputs.size()));
  }
  void want_outputs(const Layer& l, size_t lo) const {
    if (l.outputs.size() < lo) fail(l, "has no output port");
  }

  // Sets output 0 of layer li; checks the declared dims.
  void set_out(int li, Value v, size_t k = 0);
  int new_node(Node n) { return g_.add(std::move(n)); }
  // A node of the same shape reading activation x (arithmetic, activations, identities).
  void unary(int li, const Value& x, Node n) {
    n.name = layers_[size_t(li)].name;
    n.inputs = {x.node};
    Value v = x;
    v.node = new_node(std::move(n));
    set_out(li, std::move(v));
  }

  std::vector<float> channel_vector(const Layer& l, const Value& k, const Value& act) const;
  std::vector<int64_t> int_values(const Layer& l, const Value& k) const;
  void lower_const(int li);
  void lower_conv(int li, bool group);
};

}  // namespace mnv2::ovir
