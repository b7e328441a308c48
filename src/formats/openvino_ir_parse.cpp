// OpenVINO IR parsing: the .xml layers and edges (pugixml), their order, attributes, and
// constants read from the .bin, each checked against the file (openvino_ir_loader.h).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "formats/half.h"
#include "formats/openvino_ir.h"
#include "formats/openvino_ir_loader.h"

namespace mnv2 {

std::string openvino_bin_path(const std::string& xml_path) {
  const size_t slash = xml_path.find_last_of('/');
  const size_t dot = xml_path.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return xml_path.substr(0, dot) + ".bin";
  return xml_path + ".bin";
}

namespace ovir {

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

}  // namespace ovir

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

Translation translate_openvino_ir(const std::string& xml_path) {
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
  return translate_openvino_ir_memory(text, bin, xml_path);
}

}  // namespace mnv2
