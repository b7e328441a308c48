// TF frozen GraphDef parsing (tf_graphdef_parse.h).
#include "formats/tf_graphdef_parse.h"

#include <algorithm>
#include <cstring>

namespace mnv2::tfgraph {

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

ParsedGraphDef::ParsedGraphDef(std::string_view bytes, std::string source)
    : bytes_(bytes), src_(std::move(source)), const_budget_(int64_t(bytes.size()) + (1 << 22)) {
  parse_graph();
  resolve_inputs();
  topo_sort();
  pick_output();
  mark_reachable();
}

void ParsedGraphDef::fail(const std::string& what) const {
  throw Error("'" + src_ + "': " + what);
}

void ParsedGraphDef::fail(const TfNode& n, const std::string& what) const {
  throw Error("'" + src_ + "': node '" + n.name + "' (" + n.op + "): " + what);
}

void ParsedGraphDef::parse_graph() {
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

void ParsedGraphDef::parse_node(pb::Reader r, size_t offset) {
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

void ParsedGraphDef::resolve_inputs() {
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

void ParsedGraphDef::topo_sort() {
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

void ParsedGraphDef::pick_output() {
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

void ParsedGraphDef::mark_reachable() {
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
}

const AttrRef* ParsedGraphDef::attr(const TfNode& n, const std::string& key) const {
  const AttrRef* found = nullptr;
  for (const auto& [k, v] : n.attrs)
    if (k == key) found = &v;
  return found;
}

pb::Reader ParsedGraphDef::attr_reader(const TfNode& n, const AttrRef& a) const {
  return pb::Reader(a.data, a.offset, "'" + src_ + "' node '" + n.name + "'");
}

bool ParsedGraphDef::attr_field(const TfNode& n, const std::string& key, uint32_t number, pb::WireType type,
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

std::string ParsedGraphDef::attr_string(const TfNode& n, const std::string& key, const std::string& def) const {
  pb::Field f;
  if (!attr_field(n, key, 2, pb::kLength, &f, "a string")) return def;
  return std::string(f.data);
}

bool ParsedGraphDef::attr_bool(const TfNode& n, const std::string& key, bool def) const {
  pb::Field f;
  if (!attr_field(n, key, 5, pb::kVarint, &f, "a bool")) return def;
  return f.value != 0;
}

float ParsedGraphDef::attr_float(const TfNode& n, const std::string& key, float def) const {
  pb::Field f;
  if (!attr_field(n, key, 4, pb::kFixed32, &f, "a float")) return def;
  return pb::as_float(f);
}

int64_t ParsedGraphDef::attr_type(const TfNode& n, const std::string& key, int64_t def) const {
  pb::Field f;
  if (!attr_field(n, key, 6, pb::kVarint, &f, "a type")) return def;
  return int64_t(f.value);
}

std::vector<int64_t> ParsedGraphDef::attr_ints(const TfNode& n, const std::string& key, bool* present) const {
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

bool ParsedGraphDef::parse_shape(const TfNode& n, pb::Reader r, std::vector<int64_t>* dims) const {
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

std::shared_ptr<Tensor> ParsedGraphDef::parse_tensor(const TfNode& n, pb::Reader r) {
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

}  // namespace mnv2::tfgraph
