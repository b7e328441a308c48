// OpenVINO IR loader: parses the XML with pugixml, checks every reference and every
// constant against the .bin, evaluates the layers in topological order and lowers
// them into the graph IR (see openvino_ir.h for the rules).
#include "formats/openvino_ir.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <pugixml.hpp>

namespace mnv2 {



std::string openvino_bin_path(const std::string& xml_path) {
  const size_t slash = xml_path.find_last_of('/');
  const size_t dot = xml_path.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return xml_path.substr(0, dot) + ".bin";
  return xml_path + ".bin";
}

namespace {

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

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t k = 0; k < d.size(); ++k) {
    if (k) s += ',';
    s += std::to_string(d[k]);
  }
  return s + "]";
}

bool parse_int_text(const char* s, int64_t* out) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') ++s;
  if (!*s) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || errno == ERANGE) return false;
  while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') ++end;
  if (*end) return false;
  *out = v;
  return true;
}

bool parse_float_text(const std::string& text, double* out) {
  const char* s = text.c_str();
  while (*s == ' ') ++s;
  if (!*s) return false;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s) return false;
  while (*end == ' ') ++end;
  if (*end) return false;
  if (std::isnan(v)) return false;
  *out = v;
  return true;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> parts;
  std::string cur;
  for (char ch : s) {
    if (ch == ',') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  parts.push_back(cur);
  for (auto& p : parts) {
    const size_t a = p.find_first_not_of(" \t");
    const size_t b = p.find_last_not_of(" \t");
    p = a == std::string::npos ? "" : p.substr(a, b - a + 1);
  }
  return parts;
}

bool is_true(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return v == "true" || v == "yes" || v == "1";
}
bool is_false(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return v == "false" || v == "no" || v == "0";
}

// Numbers inside the first [...] of a converter parameter like "input[127.5,127.5,127.5]".
std::vector<double> bracket_numbers(const std::string& v) {
  std::vector<double> out;
  const size_t a = v.find('[');
  const size_t b = v.find(']', a == std::string::npos ? 0 : a);
  if (a == std::string::npos || b == std::string::npos) return out;
  for (const std::string& p : split_list(v.substr(a + 1, b - a - 1))) {
    double x;
    if (!parse_float_text(p, &x)) return {};
    out.push_back(x);
  }
  return out;
}

class Loader {
 public:
  Loader(const std::string& xml, const std::vector<uint8_t>& bin, const std::string& label)
      : xml_(xml), bin_(bin), label_(label) {}

  Graph run();

 private:
  const std::string& xml_;
  const std::vector<uint8_t>& bin_;
  const std::string& label_;
  pugi::xml_document doc_;
  std::vector<Layer> layers_;
  std::map<int, int> index_of_;  // layer id -> index
  std::vector<std::vector<Value>> values_;
  std::vector<std::vector<int>> out_uses_;  // edges leaving each output
  std::vector<int> node_uses_;              // pending IR consumers of each graph node
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
  int uses(int li, size_t k = 0) const { return out_uses_[size_t(li)][k]; }
  int new_node(Node n, int li) {
    const int id = g_.add(std::move(n));
    node_uses_.push_back(uses(li));
    return id;
  }
  // The value of layer li's output is node `node` itself (folded or aliased).
  void alias(int li, const Value& from, std::vector<int64_t> dims) {
    Value v = from;
    v.dims = std::move(dims);
    node_uses_[size_t(v.node)] += uses(li) - 1;
    set_out(li, v);
  }
  bool foldable(const Value& a) const {
    return node_uses_[size_t(a.node)] == 1;
  }

  std::vector<float> channel_vector(const Layer& l, const Value& k, const Value& act) const;
  std::vector<int64_t> int_values(const Layer& l, const Value& k) const;
  void affine(int li, const Value& act, const std::vector<double>& w,
              const std::vector<double>& b);
  void lower_const(int li);
  void lower_conv(int li, bool group);
};

std::string Loader::attr(const Layer& l, const char* name, const char* def) const {
  const pugi::xml_attribute a = l.data ? l.data.attribute(name) : pugi::xml_attribute();
  if (!a) {
    if (def) return def;
    fail(l, std::string("missing attribute '") + name + "'");
  }
  return a.value();
}

std::vector<int64_t> Loader::int_list(const Layer& l, const char* name, size_t want, int64_t lo,
                                      int64_t hi, const std::vector<int64_t>* def) const {
  const pugi::xml_attribute a = l.data ? l.data.attribute(name) : pugi::xml_attribute();
  if (!a) {
    if (def) return *def;
    fail(l, std::string("missing attribute '") + name + "'");
  }
  std::vector<int64_t> out;
  for (const std::string& p : split_list(a.value())) {
    int64_t v;
    if (!parse_int_text(p.c_str(), &v) || v < lo || v > hi)
      fail(l, std::string("attribute ") + name + "=\"" + a.value() + "\" is not a list of " +
                  std::to_string(want) + " integers in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
    out.push_back(v);
  }
  if (out.size() != want)
    fail(l, std::string("attribute ") + name + "=\"" + a.value() + "\" must have " +
                std::to_string(want) + " values");
  return out;
}

double Loader::float_attr(const Layer& l, const char* name) const {
  const std::string s = attr(l, name);
  double v;
  if (!parse_float_text(s, &v)) fail(l, std::string("attribute ") + name + "=\"" + s + "\" is not a number");
  return v;
}

void Loader::parse() {
  const pugi::xml_parse_result r = doc_.load_buffer(xml_.data(), xml_.size(),
                                                    pugi::parse_default, pugi::encoding_utf8);
  if (!r)
    fail(std::string("XML parse error: ") + r.description() + " at byte " +
         std::to_string(r.offset));
  const pugi::xml_node net = doc_.child("net");
  if (!net) fail("the XML root element is not <net>");
  const pugi::xml_attribute ver = net.attribute("version");
  int64_t version = 0;
  if (!ver || !parse_int_text(ver.value(), &version))
    fail("<net> has no numeric version attribute");
  if (version != 10 && version != 11)
    fail("IR version " + std::to_string(version) + " is not supported (10 and 11 are)");
  const pugi::xml_node layers = net.child("layers");
  if (!layers) fail("<net> has no <layers>");

  auto parse_ports = [&](pugi::xml_node parent, std::vector<Port>& ports, Layer& l) {
    for (pugi::xml_node p : parent.children()) {
      if (p.type() != pugi::node_element) continue;
      if (std::strcmp(p.name(), "port") != 0) continue;
      Port port;
      int64_t id;
      if (!parse_int_text(p.attribute("id").value(), &id) || id < 0 || id > 1000000)
        fail("layer " + std::to_string(l.id) + " '" + l.name + "': port without a valid id");
      port.id = int(id);
      port.precision = p.attribute("precision").value();
      port.names = p.attribute("names").value();
      for (pugi::xml_node d : p.children("dim")) {
        int64_t v;
        const std::string t = d.text().get();
        if (t == "?" || t == "-1") {
          v = -1;
        } else if (!parse_int_text(t.c_str(), &v) || v < 0 || v > (int64_t(1) << 40)) {
          fail("layer " + std::to_string(l.id) + " '" + l.name + "': port " +
               std::to_string(port.id) + " has an invalid <dim> '" + t + "'");
        }
        port.dims.push_back(v);
        if (port.dims.size() > 8)
          fail("layer " + std::to_string(l.id) + " '" + l.name + "': port " +
               std::to_string(port.id) + " has more than 8 dims");
      }
      for (const Port& q : l.inputs)
        if (q.id == port.id)
          fail("layer " + std::to_string(l.id) + " '" + l.name + "': duplicate port id " +
               std::to_string(port.id));
      for (const Port& q : l.outputs)
        if (q.id == port.id)
          fail("layer " + std::to_string(l.id) + " '" + l.name + "': duplicate port id " +
               std::to_string(port.id));
      ports.push_back(std::move(port));
      if (ports.size() > 64)
        fail("layer " + std::to_string(l.id) + " '" + l.name + "' has too many ports");
    }
  };

  for (pugi::xml_node ln : layers.children()) {
    if (ln.type() != pugi::node_element) continue;
    if (std::strcmp(ln.name(), "layer") != 0) continue;
    if (layers_.size() >= kMaxLayers) fail("too many layers");
    Layer l;
    int64_t id;
    if (!parse_int_text(ln.attribute("id").value(), &id) || id < 0 || id > 100000000)
      fail("a <layer> has no valid id (after " + std::to_string(layers_.size()) + " layers)");
    l.id = int(id);
    l.name = ln.attribute("name").value();
    l.type = ln.attribute("type").value();
    l.version = ln.attribute("version").value();
    if (l.type.empty()) fail("layer " + std::to_string(l.id) + " has no type");
    l.data = ln.child("data");
    parse_ports(ln.child("input"), l.inputs, l);
    parse_ports(ln.child("output"), l.outputs, l);
    l.src.assign(l.inputs.size(), {-1, -1});
    if (index_of_.count(l.id)) fail("duplicate layer id " + std::to_string(l.id));
    index_of_[l.id] = int(layers_.size());
    layers_.push_back(std::move(l));
  }
  if (layers_.empty()) fail("<layers> is empty");
}

void Loader::connect() {
  const pugi::xml_node edges = doc_.child("net").child("edges");
  if (!edges) fail("<net> has no <edges>");
  out_uses_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) out_uses_[i].assign(layers_[i].outputs.size(), 0);
  int count = 0;
  for (pugi::xml_node e : edges.children()) {
    if (e.type() != pugi::node_element) continue;
    if (std::strcmp(e.name(), "edge") != 0) continue;
    ++count;
    const std::string where = "edge " + std::to_string(count);
    int64_t fl, fp, tl, tp;
    if (!parse_int_text(e.attribute("from-layer").value(), &fl) ||
        !parse_int_text(e.attribute("from-port").value(), &fp) ||
        !parse_int_text(e.attribute("to-layer").value(), &tl) ||
        !parse_int_text(e.attribute("to-port").value(), &tp))
      fail(where + ": from-layer/from-port/to-layer/to-port must be integers");
    auto fi = index_of_.find(int(std::clamp<int64_t>(fl, -1, 1 << 30)));
    if (fl < 0 || fl > (1 << 30) || fi == index_of_.end())
      fail(where + ": from-layer " + std::to_string(fl) + " does not exist (dangling edge)");
    auto ti = index_of_.find(int(std::clamp<int64_t>(tl, -1, 1 << 30)));
    if (tl < 0 || tl > (1 << 30) || ti == index_of_.end())
      fail(where + ": to-layer " + std::to_string(tl) + " does not exist (dangling edge)");
    Layer& from = layers_[size_t(fi->second)];
    Layer& to = layers_[size_t(ti->second)];
    int oi = -1;
    for (size_t k = 0; k < from.outputs.size(); ++k)
      if (from.outputs[k].id == fp) oi = int(k);
    if (oi < 0)
      fail(where + ": layer " + std::to_string(fl) + " '" + from.name + "' has no output port " +
           std::to_string(fp));
    int ii = -1;
    for (size_t k = 0; k < to.inputs.size(); ++k)
      if (to.inputs[k].id == tp) ii = int(k);
    if (ii < 0)
      fail(where + ": layer " + std::to_string(tl) + " '" + to.name + "' has no input port " +
           std::to_string(tp));
    if (to.src[size_t(ii)].first >= 0)
      fail(where + ": input port " + std::to_string(tp) + " of layer " + std::to_string(tl) +
           " '" + to.name + "' already has an incoming edge");
    to.src[size_t(ii)] = {fi->second, oi};
    ++out_uses_[size_t(fi->second)][size_t(oi)];
  }
  for (const Layer& l : layers_)
    for (size_t k = 0; k < l.inputs.size(); ++k)
      if (l.src[k].first < 0)
        fail("input port " + std::to_string(l.inputs[k].id) + " of layer " +
             std::to_string(l.id) + " '" + l.name + "' (" + l.type +
             ") is not connected (dangling input)");
}

std::vector<int> Loader::topo_order() const {
  const size_t n = layers_.size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> consumers(n);
  for (size_t i = 0; i < n; ++i)
    for (const auto& s : layers_[i].src) {
      ++pending[i];
      consumers[size_t(s.first)].push_back(int(i));
    }
  std::vector<int> order, ready;
  for (size_t i = n; i-- > 0;)
    if (pending[i] == 0) ready.push_back(int(i));
  while (!ready.empty()) {
    const int i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (int c : consumers[size_t(i)])
      if (--pending[size_t(c)] == 0) ready.push_back(c);
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i)
      if (pending[i] > 0)
        fail("the graph has a cycle through layer " + std::to_string(layers_[i].id) + " '" +
             layers_[i].name + "' (" + layers_[i].type + ")");
  }
  return order;
}

void Loader::set_out(int li, Value v, size_t k) {
  const Layer& l = layers_[size_t(li)];
  if (k >= l.outputs.size()) fail(l, "has no output port " + std::to_string(k));
  const Port& p = l.outputs[k];
  // A port that lists dims must agree with what the operation computes.
  if (!p.dims.empty()) {
    bool ok = p.dims.size() == v.dims.size();
    for (size_t d = 0; ok && d < p.dims.size(); ++d)
      ok = p.dims[d] == v.dims[d] || (p.dims[d] == -1 && d == 0);
    if (!ok)
      fail(l, "output port " + std::to_string(p.id) + " declares dims " + dims_str(p.dims) +
                  " but the operation produces " + dims_str(v.dims));
  }
  values_[size_t(li)][k] = std::move(v);
}

std::vector<float> Loader::channel_vector(const Layer& l, const Value& k, const Value& act) const {
  if (k.is_int) fail(l, "integer constant used as an arithmetic operand");
  const size_t r = act.dims.size();
  if (k.dims.size() > r)
    fail(l, "constant operand " + dims_str(k.dims) + " has a higher rank than " +
                dims_str(act.dims));
  const int64_t c = act.dims[1];
  bool per_channel = false;
  for (size_t j = 0; j < k.dims.size(); ++j) {
    const size_t axis = r - k.dims.size() + j;
    if (k.dims[j] == 1) continue;
    if (axis == 1 && k.dims[j] == c) {
      per_channel = true;
      continue;
    }
    fail(l, "constant operand " + dims_str(k.dims) + " does not broadcast per channel over " +
                dims_str(act.dims));
  }
  std::vector<float> out(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) out[size_t(i)] = (*k.f)[per_channel ? size_t(i) : 0];
  return out;
}

std::vector<int64_t> Loader::int_values(const Layer& l, const Value& k) const {
  if (k.kind != Value::Const || !k.is_int) fail(l, "expects an integer constant (i64/i32) input");
  if (k.dims.size() > 1 || k.count() > 8) fail(l, "shape/axes constant must be a short 1-D list");
  return *k.i;
}

void Loader::lower_const(int li) {
  const Layer& l = layers_[size_t(li)];
  want_inputs(l, 0);
  want_outputs(l, 1);
  const std::string et = attr(l, "element_type");
  size_t esize;
  if (et == "f32") esize = 4;
  else if (et == "f16") esize = 2;
  else if (et == "i64") esize = 8;
  else if (et == "i32") esize = 4;
  else fail(l, "element_type '" + et + "' is not supported (f32, f16, i64, i32 are)");
  Value v;
  v.kind = Value::Const;
  const std::string shape = attr(l, "shape");
  int64_t count = 1;
  if (!shape.empty()) {
    for (const std::string& p : split_list(shape)) {
      int64_t d;
      if (!parse_int_text(p.c_str(), &d) || d < 0 || d > kMaxConstElements)
        fail(l, "invalid shape \"" + shape + "\"");
      v.dims.push_back(d);
      if (v.dims.size() > 8) fail(l, "shape \"" + shape + "\" has too many dims");
      count *= d;
      if (count > kMaxConstElements) fail(l, "shape \"" + shape + "\" is absurdly large");
    }
  }
  int64_t offset, size;
  const std::string so = attr(l, "offset"), ss = attr(l, "size");
  if (!parse_int_text(so.c_str(), &offset) || offset < 0)
    fail(l, "invalid offset \"" + so + "\"");
  if (!parse_int_text(ss.c_str(), &size) || size < 0) fail(l, "invalid size \"" + ss + "\"");
  if (size != count * int64_t(esize))
    fail(l, "size " + std::to_string(size) + " does not match shape " + dims_str(v.dims) +
                " of " + et + " (" + std::to_string(count * int64_t(esize)) + " bytes)");
  if (uint64_t(offset) > bin_.size() || uint64_t(size) > bin_.size() - uint64_t(offset))
    fail(l, "offset " + std::to_string(offset) + " + size " + std::to_string(size) +
                " is outside the .bin (" + std::to_string(bin_.size()) + " bytes)");
  const uint8_t* p = bin_.data() + offset;
  if (et == "f32" || et == "f16") {
    v.f = std::make_shared<std::vector<float>>(size_t(count));
    for (int64_t i = 0; i < count; ++i) {
      float x;
      if (esize == 4) {
        std::memcpy(&x, p + i * 4, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        x = half_to_float(h);
      }
      if (!std::isfinite(x))
        fail(l, "value " + std::to_string(i) + " is not finite");
      (*v.f)[size_t(i)] = x;
    }
  } else {
    v.is_int = true;
    v.i = std::make_shared<std::vector<int64_t>>(size_t(count));
    for (int64_t i = 0; i < count; ++i) {
      int64_t x;
      if (esize == 8) {
        std::memcpy(&x, p + i * 8, 8);
      } else {
        int32_t y;
        std::memcpy(&y, p + i * 4, 4);
        x = y;
      }
      (*v.i)[size_t(i)] = x;
    }
  }
  set_out(li, std::move(v));
}

void Loader::lower_conv(int li, bool group) {
  const Layer& l = layers_[size_t(li)];
  want_inputs(l, 2);
  want_outputs(l, 1);
  const Value& x = act_in(l, 0);
  const Value& w = const_in(l, 1);
  if (w.is_int) fail(l, "integer weights are not supported");
  if (x.dims.size() != 4) fail(l, "input must be 4-D NCHW, is " + dims_str(x.dims));
  const int64_t cin = x.dims[1], ih = x.dims[2], iw = x.dims[3];
  int64_t cout, kh, kw, groups = 1, per_group_out = 0;
  if (!group) {
    if (w.dims.size() != 4) fail(l, "weights must be [O,I,KH,KW], are " + dims_str(w.dims));
    cout = w.dims[0];
    kh = w.dims[2];
    kw = w.dims[3];
    if (w.dims[1] != cin)
      fail(l, "weights " + dims_str(w.dims) + " expect " + std::to_string(w.dims[1]) +
                  " input channels, the input has " + std::to_string(cin));
  } else {
    if (w.dims.size() != 5)
      fail(l, "weights must be [G,O/G,I/G,KH,KW], are " + dims_str(w.dims));
    groups = w.dims[0];
    per_group_out = w.dims[1];
    kh = w.dims[3];
    kw = w.dims[4];
    cout = groups * per_group_out;
    if (groups * w.dims[2] != cin)
      fail(l, "weights " + dims_str(w.dims) + " do not match " + std::to_string(cin) +
                  " input channels");
    if (groups != 1 && (w.dims[2] != 1 || groups != cin))
      fail(l, "only depthwise group convolution (groups = channels) is supported");
  }
  if (cout < 1 || cout > kMaxDim || kh < 1 || kh > 64 || kw < 1 || kw > 64)
    fail(l, "weights " + dims_str(w.dims) + " are out of the supported range");
  const std::vector<int64_t> ones = {1, 1}, zeros = {0, 0};
  const auto strides = int_list(l, "strides", 2, 1, 64);
  const auto dil = int_list(l, "dilations", 2, 1, 64, &ones);
  if (dil[0] != 1 || dil[1] != 1) fail(l, "dilations other than 1 are not supported");
  std::string auto_pad = attr(l, "auto_pad", "explicit");
  std::transform(auto_pad.begin(), auto_pad.end(), auto_pad.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  int64_t pt, pl, pb, pr;
  auto same = [&](int64_t in, int64_t k, int64_t s, bool upper, int64_t* b, int64_t* a) {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + k - in);
    *b = upper ? total / 2 : total - total / 2;
    *a = total - *b;
  };
  if (auto_pad == "explicit" || auto_pad == "notset" || auto_pad.empty()) {
    const auto pbeg = int_list(l, "pads_begin", 2, 0, 64, &zeros);
    const auto pend = int_list(l, "pads_end", 2, 0, 64, &zeros);
    pt = pbeg[0];
    pl = pbeg[1];
    pb = pend[0];
    pr = pend[1];
  } else if (auto_pad == "same_upper" || auto_pad == "same_lower") {
    const bool upper = auto_pad == "same_upper";
    same(ih, kh, strides[0], upper, &pt, &pb);
    same(iw, kw, strides[1], upper, &pl, &pr);
  } else if (auto_pad == "valid") {
    pt = pl = pb = pr = 0;
  } else {
    fail(l, "auto_pad \"" + auto_pad + "\" is not one of explicit, same_upper, same_lower, valid");
  }
  if (pt > 64 || pb > 64 || pl > 64 || pr > 64) fail(l, "padding out of range");
  const int64_t oh_span = ih + pt + pb - kh, ow_span = iw + pl + pr - kw;
  if (oh_span < 0 || ow_span < 0) fail(l, "kernel is larger than the padded input");
  const int64_t oh = oh_span / strides[0] + 1, ow = ow_span / strides[1] + 1;

  Node n;
  n.name = l.name;
  n.inputs = {x.node};
  n.kernel_h = int(kh);
  n.kernel_w = int(kw);
  n.stride_h = int(strides[0]);
  n.stride_w = int(strides[1]);
  n.pad_top = int(pt);
  n.pad_bottom = int(pb);
  n.pad_left = int(pl);
  n.pad_right = int(pr);
  const std::vector<float>& src = *w.f;
  if (!group || groups == 1) {
    // OIHW -> OHWI
    n.op = OpType::Conv2D;
    n.out_channels = int(cout);
    n.weights.resize(size_t(cout * kh * kw * cin));
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t i = 0; i < cin; ++i)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t xx = 0; xx < kw; ++xx)
            n.weights[size_t(((o * kh + y) * kw + xx) * cin + i)] =
                src[size_t(((o * cin + i) * kh + y) * kw + xx)];
  } else {
    // [C, M, 1, KH, KW] -> [KH][KW][C*M]
    n.op = OpType::DepthwiseConv2D;
    n.depth_multiplier = int(per_group_out);
    if (per_group_out > 64) fail(l, "depth multiplier too large");
    n.weights.resize(size_t(kh * kw * cout));
    for (int64_t c = 0; c < cout; ++c)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t xx = 0; xx < kw; ++xx)
          n.weights[size_t((y * kw + xx) * cout + c)] = src[size_t((c * kh + y) * kw + xx)];
  }
  Value v;
  v.kind = Value::Act;
  v.dims = {x.dims[0], cout, oh, ow};
  if (oh > kMaxDim || ow > kMaxDim) fail(l, "output too large");
  v.node = new_node(std::move(n), li);
  set_out(li, std::move(v));
}

void Loader::affine(int li, const Value& act, const std::vector<double>& w,
                    const std::vector<double>& b) {
  const Layer& l = layers_[size_t(li)];
  Node& p = g_.node(act.node);
  const size_t c = w.size();
  const bool weighted = p.op == OpType::Conv2D || p.op == OpType::DepthwiseConv2D ||
                        p.op == OpType::FullyConnected;
  if (foldable(act) && weighted && p.activation == Activation::None) {
    // Fold into the producer: scale its output channels, then add.
    bool scaled = false;
    for (double s : w) scaled |= s != 1.0;
    if (scaled) {
      const size_t per = p.weights.size() / c;
      if (p.op == OpType::DepthwiseConv2D) {
        for (size_t i = 0; i < p.weights.size(); ++i)
          p.weights[i] = float(double(p.weights[i]) * w[i % c]);
      } else {
        for (size_t o = 0; o < c; ++o)
          for (size_t i = 0; i < per; ++i)
            p.weights[o * per + i] = float(double(p.weights[o * per + i]) * w[o]);
      }
    }
    if (p.bias.empty()) p.bias.assign(c, 0.f);
    for (size_t o = 0; o < c; ++o) p.bias[o] = float(double(p.bias[o]) * w[o] + b[o]);
    alias(li, act, act.dims);
    return;
  }
  if (foldable(act) && p.op == OpType::ChannelAffine) {
    for (size_t o = 0; o < c; ++o) {
      p.weights[o] = float(double(p.weights[o]) * w[o]);
      p.bias[o] = float(double(p.bias[o]) * w[o] + b[o]);
    }
    alias(li, act, act.dims);
    return;
  }
  --node_uses_[size_t(act.node)];  // the caller counted this op as a pending reader
  Node n;
  n.name = l.name;
  n.op = OpType::ChannelAffine;
  n.inputs = {act.node};
  n.weights.resize(c);
  n.bias.resize(c);
  for (size_t o = 0; o < c; ++o) {
    n.weights[o] = float(w[o]);
    n.bias[o] = float(b[o]);
  }
  Value v;
  v.kind = Value::Act;
  v.dims = act.dims;
  v.node = new_node(std::move(n), li);
  set_out(li, std::move(v));
}

void Loader::lower(int li) {
  const Layer& l = layers_[size_t(li)];
  const std::string& t = l.type;
  auto act_value = [&](int node, std::vector<int64_t> dims) {
    Value v;
    v.kind = Value::Act;
    v.node = node;
    v.dims = std::move(dims);
    return v;
  };
  // Every consumed activation input stops being pending for its node.
  auto consume = [&]() {
    for (size_t k = 0; k < l.inputs.size(); ++k) {
      const Value& v = in(l, k);
      if (v.kind == Value::Act) --node_uses_[size_t(v.node)];
    }
  };
  // For folds, the folding op is the single pending consumer: check before consume().
  if (t == "Const") {
    lower_const(li);
  } else if (t == "Parameter") {
    want_inputs(l, 0);
    want_outputs(l, 1);
    if (g_.input >= 0) fail(l, "a second Parameter; only single-input models are supported");
    const std::string et = attr(l, "element_type", "f32");
    if (et != "f32" && et != "f16")
      fail(l, "input element_type '" + et + "' is not supported (f32, f16 are)");
    std::vector<int64_t> dims;
    const pugi::xml_attribute sa = l.data ? l.data.attribute("shape") : pugi::xml_attribute();
    if (sa) {
      for (const std::string& p : split_list(sa.value())) {
        int64_t d;
        if (p == "?" || p == "-1") d = -1;
        else if (!parse_int_text(p.c_str(), &d) || d < 0) fail(l, "invalid shape \"" + std::string(sa.value()) + "\"");
        dims.push_back(d);
        if (dims.size() > 8) fail(l, "invalid shape");
      }
    } else {
      dims = l.outputs[0].dims;
    }
    if (dims.size() != 4) fail(l, "input must be 4-D NCHW, is " + dims_str(dims));
    if (dims[0] == -1) dims[0] = 1;
    if (dims[0] != 1) fail(l, "batch must be 1 or dynamic, is " + std::to_string(dims[0]));
    if (dims[1] < 1 || dims[1] > 16) fail(l, "unsupported channel count " + std::to_string(dims[1]));
    if (dims[2] < 1 || dims[2] > 8192 || dims[3] < 1 || dims[3] > 8192)
      fail(l, "unsupported spatial size " + dims_str(dims));
    Node n;
    n.name = l.name;
    n.op = OpType::Input;
    g_.info.channels = int(dims[1]);
    g_.info.height = int(dims[2]);
    g_.info.width = int(dims[3]);
    g_.info.input_name = l.name;
    g_.input = new_node(std::move(n), li);
    set_out(li, act_value(g_.input, dims));
  } else if (t == "Convert") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const std::string dt = attr(l, "destination_type");
    const Value& x = in(l, 0);
    if (x.kind == Value::Const) {
      Value v = x;
      if (dt == "f32" || dt == "f16") {
        if (x.is_int) fail(l, "converting integers to floats is not supported");
        if (dt == "f16") {
          auto f = std::make_shared<std::vector<float>>(*x.f);
          for (float& q : *f) q = half_to_float(float_to_half(q));
          v.f = f;
        }
      } else if (dt == "i64" || dt == "i32") {
        if (!x.is_int) fail(l, "converting floats to integers is not supported");
      } else {
        fail(l, "destination_type '" + dt + "' is not supported");
      }
      set_out(li, std::move(v));
    } else {
      if (dt != "f32" && dt != "f16") fail(l, "destination_type '" + dt + "' is not supported");
      const Value a = x;
      consume();
      ++node_uses_[size_t(a.node)];
      alias(li, a, a.dims);
    }
  } else if (t == "Convolution") {
    consume();
    lower_conv(li, false);
  } else if (t == "GroupConvolution") {
    consume();
    lower_conv(li, true);
  } else if (t == "Add" || t == "Multiply" || t == "Subtract" || t == "Divide") {
    want_inputs(l, 2);
    want_outputs(l, 1);
    const std::string ab = attr(l, "auto_broadcast", "numpy");
    if (ab != "numpy" && ab != "none") fail(l, "auto_broadcast \"" + ab + "\" is not supported");
    const Value& a = in(l, 0);
    const Value& b = in(l, 1);
    if (a.kind == Value::Act && b.kind == Value::Act) {
      if (t != "Add") fail(l, "element-wise " + t + " of two computed tensors is not supported");
      if (a.dims != b.dims)
        fail(l, "operand shapes differ: " + dims_str(a.dims) + " vs " + dims_str(b.dims));
      const Value va = a, vb = b;
      consume();
      Node n;
      n.name = l.name;
      n.op = OpType::Add;
      n.inputs = {va.node, vb.node};
      set_out(li, act_value(new_node(std::move(n), li), va.dims));
    } else if (a.kind == Value::Act || b.kind == Value::Act) {
      const bool act_first = a.kind == Value::Act;
      const Value x = act_first ? a : b;
      const Value& k = act_first ? b : a;
      if (ab == "none" && k.dims != x.dims) fail(l, "auto_broadcast none needs equal shapes");
      const std::vector<float> cv = channel_vector(l, k, x);
      const size_t c = cv.size();
      std::vector<double> w(c, 1.0), bb(c, 0.0);
      for (size_t i = 0; i < c; ++i) {
        const double q = cv[i];
        if (t == "Add") {
          bb[i] = q;
        } else if (t == "Multiply") {
          w[i] = q;
        } else if (t == "Subtract") {
          if (act_first) bb[i] = -q;
          else { w[i] = -1; bb[i] = q; }
        } else {
          if (!act_first) fail(l, "dividing a constant by a tensor is not supported");
          if (q == 0) fail(l, "division by zero");
          w[i] = 1.0 / q;
        }
      }
      consume();
      ++node_uses_[size_t(x.node)];
      affine(li, x, w, bb);
    } else {
      fail(l, "arithmetic on two constants is not supported (fold it in the converter)");
    }
  } else if (t == "Clamp" || t == "ReLU") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    Activation act = Activation::Relu;
    if (t == "Clamp") {
      const double lo = float_attr(l, "min"), hi = float_attr(l, "max");
      if (lo != 0) fail(l, "only Clamp(min=0, max=6) (ReLU6) or max=inf (ReLU) is supported");
      if (hi == 6) act = Activation::Relu6;
      else if (hi >= 3.0e38) act = Activation::Relu;
      else fail(l, "only Clamp(min=0, max=6) (ReLU6) or max=inf (ReLU) is supported");
    }
    Node& p = g_.node(x.node);
    const bool weighted = p.op == OpType::Conv2D || p.op == OpType::DepthwiseConv2D ||
                          p.op == OpType::FullyConnected;
    if (!weighted || !foldable(x) || p.activation != Activation::None)
      fail(l, "an activation must directly follow a convolution or fully-connected layer "
              "(and its bias) that nothing else reads");
    p.activation = act;
    consume();
    ++node_uses_[size_t(x.node)];
    alias(li, x, x.dims);
  } else if (t == "ReduceMean") {
    want_inputs(l, 2);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    if (x.dims.size() != 4) fail(l, "input must be 4-D");
    std::vector<int64_t> axes = int_values(l, in(l, 1));
    for (int64_t& a : axes) {
      if (a < -4 || a > 3) fail(l, "axis out of range");
      if (a < 0) a += 4;
    }
    std::sort(axes.begin(), axes.end());
    if (axes != std::vector<int64_t>{2, 3}) fail(l, "only the mean over H and W (axes 2,3) is supported");
    const bool keep = is_true(attr(l, "keep_dims", "false"));
    consume();
    Node n;
    n.name = l.name;
    n.op = OpType::GlobalAvgPool;
    n.inputs = {x.node};
    const int id = new_node(std::move(n), li);
    g_.features = id;
    set_out(li, act_value(id, keep ? std::vector<int64_t>{x.dims[0], x.dims[1], 1, 1}
                                   : std::vector<int64_t>{x.dims[0], x.dims[1]}));
  } else if (t == "AvgPool") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    if (x.dims.size() != 4) fail(l, "input must be 4-D");
    const std::vector<int64_t> zeros = {0, 0};
    const auto kernel = int_list(l, "kernel", 2, 1, kMaxDim);
    const auto strides = int_list(l, "strides", 2, 1, kMaxDim);
    std::string auto_pad = attr(l, "auto_pad", "explicit");
    std::transform(auto_pad.begin(), auto_pad.end(), auto_pad.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    std::vector<int64_t> pb = zeros, pe = zeros;
    if (auto_pad == "explicit" || auto_pad == "notset" || auto_pad.empty()) {
      pb = int_list(l, "pads_begin", 2, 0, 64, &zeros);
      pe = int_list(l, "pads_end", 2, 0, 64, &zeros);
    } else if (auto_pad == "same_upper" || auto_pad == "same_lower") {
      for (int a = 0; a < 2; ++a) {
        const int64_t in = x.dims[size_t(2 + a)];
        const int64_t out = (in + strides[size_t(a)] - 1) / strides[size_t(a)];
        const int64_t total = std::max<int64_t>(0, (out - 1) * strides[size_t(a)] + kernel[size_t(a)] - in);
        pb[size_t(a)] = auto_pad == "same_upper" ? total / 2 : total - total / 2;
        pe[size_t(a)] = total - pb[size_t(a)];
      }
    } else if (auto_pad != "valid") {
      fail(l, "auto_pad \"" + auto_pad + "\" is not one of explicit, same_upper, same_lower, valid");
    }
    if (kernel[0] != x.dims[2] || kernel[1] != x.dims[3] || pb != zeros || pe != zeros)
      fail(l, "only global average pooling (kernel = input size " +
                  std::to_string(x.dims[2]) + "x" + std::to_string(x.dims[3]) +
                  ", no padding) is supported");
    consume();
    Node n;
    n.name = l.name;
    n.op = OpType::GlobalAvgPool;
    n.inputs = {x.node};
    const int id = new_node(std::move(n), li);
    g_.features = id;
    set_out(li, act_value(id, {x.dims[0], x.dims[1], 1, 1}));
  } else if (t == "Reshape" || t == "Squeeze" || t == "Unsqueeze") {
    want_outputs(l, 1);
    if (l.inputs.empty() || l.inputs.size() > 2) fail(l, "expects 1 or 2 inputs");
    if (t != "Squeeze") want_inputs(l, 2);
    const Value x = act_in(l, 0);
    const int64_t total = x.count();
    std::vector<int64_t> out;
    if (t == "Reshape") {
      std::vector<int64_t> shape = int_values(l, in(l, 1));
      const bool special_zero = is_true(attr(l, "special_zero", "false"));
      int minus = -1;
      int64_t known = 1;
      for (size_t k = 0; k < shape.size(); ++k) {
        int64_t d = shape[k];
        if (d == 0 && special_zero) {
          if (k >= x.dims.size()) fail(l, "special zero beyond the input rank");
          d = x.dims[k];
        }
        if (d == -1) {
          if (minus >= 0) fail(l, "more than one -1 in the target shape");
          minus = int(k);
          out.push_back(-1);
          continue;
        }
        if (d < 0 || d > kMaxConstElements) fail(l, "invalid target shape " + dims_str(shape));
        known *= d;
        if (known > kMaxConstElements) fail(l, "invalid target shape " + dims_str(shape));
        out.push_back(d);
      }
      if (minus >= 0) {
        if (known == 0 || total % known) fail(l, "cannot infer -1 in " + dims_str(shape));
        out[size_t(minus)] = total / known;
      }
    } else {
      std::vector<int64_t> axes;
      if (l.inputs.size() == 2) axes = int_values(l, in(l, 1));
      const int64_t r = int64_t(t == "Squeeze" ? x.dims.size() : x.dims.size() + axes.size());
      for (int64_t& a : axes) {
        if (a < -r || a >= r) fail(l, "axis out of range");
        if (a < 0) a += r;
      }
      if (t == "Squeeze") {
        for (size_t k = 0; k < x.dims.size(); ++k) {
          const bool listed = std::find(axes.begin(), axes.end(), int64_t(k)) != axes.end();
          // Without axes every unit dim except the batch goes.
          const bool drop = axes.empty() ? (k > 0 && x.dims[k] == 1) : listed;
          if (drop && x.dims[k] != 1) fail(l, "cannot squeeze a dimension of size " + std::to_string(x.dims[k]));
          if (!drop) out.push_back(x.dims[k]);
        }
      } else {
        size_t src = 0;
        for (int64_t k = 0; k < r; ++k) {
          if (std::find(axes.begin(), axes.end(), k) != axes.end()) out.push_back(1);
          else out.push_back(x.dims[src++]);
        }
      }
    }
    int64_t prod = 1;
    for (int64_t d : out) prod *= d;
    if (prod != total) fail(l, "reshape from " + dims_str(x.dims) + " to " + dims_str(out) + " changes the element count");
    consume();
    if (out == x.dims) {
      ++node_uses_[size_t(x.node)];
      alias(li, x, out);
      return;
    }
    // NCHW and NHWC agree on the order of the elements only when H = W = 1.
    const bool x_flat = x.dims.size() == 2 || (x.dims.size() == 4 && x.dims[2] == 1 && x.dims[3] == 1);
    const bool o_ok = (out.size() == 2 && out[0] == x.dims[0]) ||
                      (out.size() == 4 && out[0] == x.dims[0] && out[2] == 1 && out[3] == 1);
    if (!x_flat || !o_ok)
      fail(l, "reshape from " + dims_str(x.dims) + " to " + dims_str(out) +
                  " is not supported (only [N,C,1,1] <-> [N,C])");
    Node n;
    n.name = l.name;
    n.op = OpType::Reshape;
    n.inputs = {x.node};
    set_out(li, act_value(new_node(std::move(n), li), out));
  } else if (t == "ShapeOf") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = in(l, 0);
    if (x.kind == Value::Act) {
      consume();
      if (node_uses_[size_t(x.node)] < 0) node_uses_[size_t(x.node)] = 0;
    }
    Value v;
    v.kind = Value::Const;
    v.is_int = true;
    v.dims = {int64_t(x.dims.size())};
    v.i = std::make_shared<std::vector<int64_t>>(x.dims);
    set_out(li, std::move(v));
  } else if (t == "SoftMax") {
    want_inputs(l, 1);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    int64_t axis = 1;
    const std::string as = attr(l, "axis", "1");
    if (!parse_int_text(as.c_str(), &axis)) fail(l, "invalid axis \"" + as + "\"");
    const int64_t r = int64_t(x.dims.size());
    if (axis < -r || axis >= r) fail(l, "axis out of range");
    if (axis < 0) axis += r;
    if (axis != 1) fail(l, "only softmax over the channel axis (1) is supported");
    consume();
    Node n;
    n.name = l.name;
    n.op = OpType::Softmax;
    n.inputs = {x.node};
    set_out(li, act_value(new_node(std::move(n), li), x.dims));
  } else if (t == "MatMul") {
    want_inputs(l, 2);
    want_outputs(l, 1);
    const Value x = act_in(l, 0);
    const Value& w = const_in(l, 1);
    if (w.is_int) fail(l, "integer weights are not supported");
    if (is_true(attr(l, "transpose_a", "false"))) fail(l, "transpose_a is not supported");
    const bool tb = is_true(attr(l, "transpose_b", "false"));
    if (x.dims.size() != 2) fail(l, "input must be 2-D [N,K]");
    if (w.dims.size() != 2) fail(l, "weights must be 2-D");
    const int64_t k = x.dims[1];
    const int64_t m = tb ? w.dims[0] : w.dims[1];
    if ((tb ? w.dims[1] : w.dims[0]) != k) fail(l, "weights " + dims_str(w.dims) + " do not match K=" + std::to_string(k));
    if (m < 1 || m > kMaxDim) fail(l, "output width out of range");
    consume();
    Node n;
    n.name = l.name;
    n.op = OpType::FullyConnected;
    n.inputs = {x.node};
    n.out_channels = int(m);
    n.weights.resize(size_t(m * k));
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < k; ++i)
        n.weights[size_t(o * k + i)] = (*w.f)[size_t(tb ? o * k + i : i * m + o)];
    set_out(li, act_value(new_node(std::move(n), li), {x.dims[0], m}));
  } else if (t == "Result") {
    want_inputs(l, 1);
    const Value x = act_in(l, 0);
    if (result_layer_ >= 0) fail(l, "a second Result; only single-output models are supported");
    result_layer_ = li;
    consume();
    g_.output = x.node;
  } else {
    fail(l, "operation type '" + t + "' (version " + (l.version.empty() ? "?" : l.version) +
                ") is not supported");
  }
}

Graph Loader::run() {
  parse();
  connect();
  const std::vector<int> order = topo_order();
  values_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) values_[i].resize(layers_[i].outputs.size());
  for (int li : order) {
    const Layer& l = layers_[size_t(li)];
    for (size_t k = 0; k < l.inputs.size(); ++k) {
      const Value& v = in(l, k);
      if (v.kind == Value::Unset)
        fail(l, "input " + std::to_string(k) + " reads an output its producer does not compute");
      // Declared input dims must agree with what arrives.
      const Port& p = l.inputs[k];
      if (!p.dims.empty()) {
        bool ok = p.dims.size() == v.dims.size();
        for (size_t d = 0; ok && d < p.dims.size(); ++d)
          ok = p.dims[d] == v.dims[d] || (p.dims[d] == -1 && d == 0);
        if (!ok)
          fail(l, "input port " + std::to_string(p.id) + " declares dims " + dims_str(p.dims) +
                      " but receives " + dims_str(v.dims));
      }
    }
    lower(li);
  }
  if (g_.input < 0) fail("the model has no Parameter (input) layer");
  if (result_layer_ < 0) fail("the model has no Result (output) layer");

  // Names and metadata.
  ModelInfo& info = g_.info;
  info.format = "openvino-ir";
  info.layout = Layout::NCHW;
  const pugi::xml_node net = doc_.child("net");
  info.name = net.attribute("name").value();
  if (info.name.empty()) {
    std::string stem = label_;
    const size_t slash = stem.find_last_of('/');
    if (slash != std::string::npos) stem = stem.substr(slash + 1);
    const size_t dot = stem.find_last_of('.');
    if (dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
    info.name = stem;
  }
  {
    const Layer& rl = layers_[size_t(result_layer_)];
    const Layer& feed = layers_[size_t(rl.src[0].first)];
    // The tensor's name (the first listed without a ":port" suffix), else the layer's.
    std::string chosen;
    for (const std::string& nm : split_list(feed.outputs[size_t(rl.src[0].second)].names))
      if (!nm.empty() && nm.find(':') == std::string::npos) {
        chosen = nm;
        break;
      }
    info.output_name = chosen.empty() ? feed.name : chosen;
  }
  // Width multiplier from names like mobilenet_v2_1.4_224 / mobilenet-v2-1.4-224.
  {
    const std::string& nm = info.name;
    size_t at = nm.find("v2");
    if (at != std::string::npos && at + 3 < nm.size() && (nm[at + 2] == '_' || nm[at + 2] == '-')) {
      const char* s = nm.c_str() + at + 3;
      char* end = nullptr;
      const double wm = std::strtod(s, &end);
      if (end != s && wm > 0 && wm <= 8 && (*end == '_' || *end == '-')) info.width_multiplier = float(wm);
    }
  }

  // Converter metadata: reverse_input_channels, mean_values, scale_values.
  std::string reverse, mean_v, scale_v, mi_mean, mi_scale;
  auto read_params = [&](pugi::xml_node p) {
    if (!p) return;
    if (auto a = p.child("reverse_input_channels").attribute("value")) reverse = a.value();
    if (auto a = p.child("mean_values").attribute("value")) mean_v = a.value();
    if (auto a = p.child("scale_values").attribute("value")) scale_v = a.value();
  };
  read_params(net.child("meta_data").child("cli_parameters"));
  read_params(net.child("rt_info").child("conversion_parameters"));
  if (auto a = net.child("rt_info").child("model_info").child("mean_values").attribute("value")) mi_mean = a.value();
  if (auto a = net.child("rt_info").child("model_info").child("scale_values").attribute("value")) mi_scale = a.value();

  info.channel_order = is_false(reverse) ? ChannelOrder::RGB : ChannelOrder::BGR;
  const std::vector<double> means = bracket_numbers(mean_v), scales = bracket_numbers(scale_v);
  int affine_node = -1;
  for (int id = 0; id < int(g_.nodes.size()); ++id) {
    const Node& n = g_.nodes[size_t(id)];
    if (n.op == OpType::ChannelAffine && n.inputs.size() == 1 && n.inputs[0] == g_.input)
      affine_node = id;
  }
  info.normalization_in_graph = affine_node >= 0 || !means.empty() || !scales.empty();
  info.mean = 127.5f;
  info.scale = 127.5f;
  if (!means.empty() || !scales.empty()) {
    info.mean = means.empty() ? 0.f : float(means[0]);
    info.scale = scales.empty() ? 1.f : float(scales[0]);
  } else if (affine_node >= 0) {
    const Node& a = g_.node(affine_node);
    if (a.weights[0] != 0) {
      info.scale = float(1.0 / double(a.weights[0]));
      info.mean = float(-double(a.bias[0]) / double(a.weights[0]));
    }
  } else {
    double m, s;
    if (parse_float_text(split_list(mi_mean)[0].substr(0, split_list(mi_mean)[0].find(' ')), &m)) info.mean = float(m);
    if (parse_float_text(split_list(mi_scale)[0].substr(0, split_list(mi_scale)[0].find(' ')), &s) && s != 0) info.scale = float(s);
  }

  // logits: what the softmax reads; features: the (last) global pool.
  for (int id = 0; id < int(g_.nodes.size()); ++id)
    if (g_.nodes[size_t(id)].op == OpType::Softmax) g_.logits = g_.nodes[size_t(id)].inputs[0];
  try {
    g_.finalize();
  } catch (const Error& e) {
    fail(e.what());
  }
  info.has_background = info.num_classes == 1001;
  // Refuse models whose activations alone would need gigabytes.
  for (const Node& n : g_.nodes)
    if (n.shape.per_image() > (int64_t(1) << 28))
      fail("node '" + n.name + "' has an activation of " + n.shape.str() +
           ", more than 2^28 values per image");
  return std::move(g_);
}

}  // namespace

Graph load_openvino_ir_memory(const std::string& xml_text, const std::vector<uint8_t>& bin,
                              const std::string& label) {
  Loader loader(xml_text, bin, label);
  return loader.run();
}

namespace {
std::vector<uint8_t> read_file(const std::string& path, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + what + " '" + path + "'");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) throw Error("cannot read " + what + " '" + path + "'");
  if (size > (std::streamoff(1) << 32)) throw Error(what + " '" + path + "' is larger than 4 GiB");
  f.seekg(0);
  std::vector<uint8_t> data(static_cast<size_t>(size));
  if (size > 0 && !f.read(reinterpret_cast<char*>(data.data()), size))
    throw Error("cannot read " + what + " '" + path + "'");
  return data;
}
}  // namespace

Graph load_openvino_ir(const std::string& xml_path) {
  const std::vector<uint8_t> x = read_file(xml_path, "OpenVINO IR .xml");
  if (x.size() > (size_t(256) << 20)) throw Error("'" + xml_path + "': the .xml is larger than 256 MiB");
  const std::string bin_path = openvino_bin_path(xml_path);
  std::ifstream probe(bin_path, std::ios::binary);
  if (!probe)
    throw Error("'" + xml_path + "': the weights file '" + bin_path +
                "' (same name, .bin) is missing or unreadable");
  probe.close();
  const std::vector<uint8_t> bin = read_file(bin_path, "OpenVINO IR .bin");
  const std::string text(x.begin(), x.end());
  return load_openvino_ir_memory(text, bin, xml_path);
}

}  // namespace mnv2
