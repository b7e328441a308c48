// ONNX ModelProto parsing (pb_wire) into the structs of onnx_proto.h, and tensor decoding.
#include "formats/onnx_proto.h"

#include <cstring>

#include "formats/half.h"
#include "formats/onnx.h"
#include "formats/pb_wire.h"

namespace mnv2 {
namespace onnx {

const char* dtype_name(int t) {
  static const char* names[] = {"UNDEFINED", "FLOAT",  "UINT8",   "INT8",     "UINT16",
                                "INT16",     "INT32",  "INT64",   "STRING",   "BOOL",
                                "FLOAT16",   "DOUBLE", "UINT32",  "UINT64",   "COMPLEX64",
                                "COMPLEX128", "BFLOAT16"};
  return t >= 0 && t <= 16 ? names[t] : "unknown";
}

// ---- parsing -----------------------------------------------------------------------------

namespace {

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

}  // namespace

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

namespace {

float bf16_to_float(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

}  // namespace

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

namespace {

[[noreturn]] void size_mismatch(const Tensor& t, size_t have, int64_t want, const char* what) {
  throw Error("tensor '" + t.name + "' " + dtype_name(t.dtype) + dims_str(t.dims) + " holds " +
              std::to_string(have) + " " + what + ", expected " + std::to_string(want));
}

}  // namespace

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

bool is_int_type(int dt) { return dt != kFloat && dt != kDouble && dt != kFloat16 && dt != kBfloat16; }

}  // namespace onnx

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

}  // namespace mnv2
