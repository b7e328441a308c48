// ONNX ModelProto as parsed structs, internal to the ONNX reader: onnx_parse.cpp parses
// (pb_wire) and decodes tensors; onnx_lower.cpp and onnx_views.cpp translate the nodes into
// the IR. Field numbers are those of onnx.proto.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "graph/const_eval.h"
#include "mnv2/mnv2.h"

namespace mnv2::onnx {

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

const char* dtype_name(int t);

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

// Parses a ModelProto; ctx names the file in errors.
ParsedModel parse_model(std::string_view bytes, const std::string& ctx);

// ---- tensor decoding
using const_eval::dims_str;
// The element count; throws for negative or absurd dimensions.
int64_t element_count(const Tensor& t);
// FLOAT, FLOAT16, BFLOAT16 and DOUBLE data as floats.
std::vector<float> to_floats(const Tensor& t);
// INT64 / INT32 data.
std::vector<int64_t> to_ints(const Tensor& t);
// Every data type but the floating-point ones.
bool is_int_type(int dtype);

}  // namespace mnv2::onnx
