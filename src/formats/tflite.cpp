// TFLite loader: a hand-written reader of the TFLite FlatBuffers schema (field ids from the
// public schema.fbs) that lowers subgraph 0 into the IR.
#include "formats/half.h"
#include "formats/tflite.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "formats/flatbuf.h"
#include "formats/tflite_schema.h"

namespace mnv2 {
namespace {

using namespace tfl;

constexpr size_t kMaxName = 512;         // longer tensor names are cut (they are only labels)
constexpr int kMaxRank = 8;
constexpr uint32_t kMaxTensors = 1u << 20;
constexpr uint32_t kMaxOperators = 1u << 16;
constexpr int64_t kMaxDim = 1 << 16;
constexpr int kMaxInputSide = 4096;
// One activation (per image) may not exceed 2^26 floats (256 MiB): a small file cannot make
// the executor reserve more than that per tensor.
constexpr int64_t kMaxActivationElements = int64_t(1) << 26;

struct TensorInfo {
  bool parsed = false;
  std::vector<int64_t> shape;
  int type = 0;
  uint32_t buffer = 0;
  std::string name;
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int qdim = 0;
  bool custom_quant = false;
};

struct Value {
  enum Kind { Unset, NodeValue, Const, Padded } kind = Unset;
  int node = -1;                                 // NodeValue, Padded: the producing IR node
  std::shared_ptr<const std::vector<float>> data;  // Const: real values
  std::vector<int64_t> shape;                    // Const: shape
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // Padded
};

// a * b for non-negative values, saturating at 2^62 (shapes from files may be absurd).
int64_t sat_mul(int64_t a, int64_t b) {
  constexpr int64_t kCap = int64_t(1) << 62;
  if (a <= 0 || b <= 0) return 0;
  if (a > kCap / b) return kCap;
  return a * b;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ',';
    r += std::to_string(s[i]);
  }
  return r + "]";
}


class Loader {
 public:
  Loader(const uint8_t* data, size_t size, std::string path)
      : path_(std::move(path)), buf_(data, size, path_) {}

  Graph run();

 private:
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw Error("'" + path_ + "': " + where + ": " + what);
  }
  std::string tdesc(int t) const {
    return "tensor " + std::to_string(t) + " '" + info_[size_t(t)].name + "'";
  }
  TensorInfo& tensor(int t, const std::string& ctx);
  std::pair<const uint8_t*, size_t> buffer_bytes(int t, const std::string& ctx);
  bool is_const(int t, const std::string& ctx);
  int64_t const_count(int t, const std::string& ctx);
  std::shared_ptr<const std::vector<float>> const_values(int t, const std::string& ctx,
                                                         const std::vector<float>* bias_scale);
  std::vector<int64_t> const_ints(int t, const std::string& ctx);

  int node_of(int t, const std::string& ctx);
  void bind(int t, Value v, const std::string& ctx);
  void bind_node(int t, int node, const std::string& ctx);
  int add_node(Node n, const std::string& ctx);
  // Every float materialised from the file (dequantised constants and their copies into
  // IR nodes) counts against a budget proportional to the file size, so that a small file
  // whose operators all share one big constant cannot make the loader allocate gigabytes.
  void charge(int64_t count, const std::string& ctx) {
    weight_elements_ += count;
    if (weight_elements_ > weight_budget_)
      fail(ctx, "constants used by the operators expand to more than " +
                    std::to_string(weight_budget_) +
                    " values, far more than the file holds (one tensor shared by many operators?)");
  }
  std::vector<float> take(const std::vector<float>& v, const std::string& ctx) {
    charge(int64_t(v.size()), ctx);
    return v;
  }
  void check_declared(int t, const Shape& s, const std::string& ctx);
  Activation activation(int code, const std::string& ctx);

  void lower(int index, int code, const fb::Table& op);
  void lower_conv(const std::string& ctx, int code, const std::vector<int>& in,
                  const std::vector<int>& out, const fb::Table& opt);
  void lower_fully_connected(const std::string& ctx, const std::vector<int>& in,
                             const std::vector<int>& out, const fb::Table& opt);
  void lower_binary(const std::string& ctx, int code, const std::vector<int>& in,
                    const std::vector<int>& out, const fb::Table& opt);
  void lower_pool(const std::string& ctx, const std::vector<int>& in,
                  const std::vector<int>& out, const fb::Table& opt);
  void lower_mean(const std::string& ctx, const std::vector<int>& in,
                  const std::vector<int>& out);
  void lower_reshape(const std::string& ctx, const std::vector<int>& in,
                     const std::vector<int>& out);
  void lower_softmax(const std::string& ctx, const std::vector<int>& in,
                     const std::vector<int>& out, const fb::Table& opt);
  void lower_pad(const std::string& ctx, const std::vector<int>& in,
                 const std::vector<int>& out);
  void lower_activation(const std::string& ctx, int code, const std::vector<int>& in,
                        const std::vector<int>& out);
  std::vector<float> bias_scale_for(int input_t, int weight_t, int channels,
                                    const std::string& ctx);
  void read_metadata(const fb::Table& model);

  // Integer view (see Graph::quantized()). The activation quantization of tensor t in the
  // uint8 domain; false when t is not a per-tensor uint8/int8 activation.
  bool act_quant(int t, QuantParams* q, const std::string& ctx);
  // Fills qweights / qweight_scales / qbias of a weighted node from its weight tensor wt
  // (quantized along `axis` when per-channel) and bias tensor bt (-1: none); clears
  // int_ok_ when the tensors are not a pattern the integer executor runs.
  void int_weights(Node& n, int wt, int bt, int channels, int axis, const std::string& ctx);
  // After lowering: out_q of every node from the tensors bound to it, or no integer view at
  // all when any part of the graph cannot run in integers.
  void finish_integer_view();

  std::string path_;
  fb::Buffer buf_;
  fb::Vector tensors_, buffers_;
  std::vector<TensorInfo> info_;
  std::vector<Value> values_;
  std::vector<int> consumers_;                 // per tensor: reads by operators + outputs
  std::vector<std::vector<int>> node_tensors_; // per IR node: tensors bound to it
  std::set<int> softmax_beta_nodes_;           // ChannelAffine nodes that scale by beta
  int64_t weight_elements_ = 0, weight_budget_ = 0;
  bool quantized_ = false;
  bool background_set_ = false;
  bool int_ok_ = true;        // every operator so far has an integer form
  Graph g_;
};

TensorInfo& Loader::tensor(int t, const std::string& ctx) {
  if (t < 0 || uint32_t(t) >= tensors_.size())
    fail(ctx, "tensor index " + std::to_string(t) + " out of range (the subgraph has " +
                  std::to_string(tensors_.size()) + " tensors)");
  TensorInfo& ti = info_[size_t(t)];
  if (ti.parsed) return ti;
  const std::string tctx = "subgraph 0 tensor " + std::to_string(t);
  const fb::Table tt = tensors_.table(uint32_t(t), tctx);
  const fb::Vector shape = tt.vector(kTensorShape, 4, "tensor shape");
  if (shape.size() > uint32_t(kMaxRank))
    fail(tctx, "rank " + std::to_string(shape.size()) + " exceeds " + std::to_string(kMaxRank));
  for (uint32_t i = 0; i < shape.size(); ++i) ti.shape.push_back(shape.at<int32_t>(i));
  ti.type = tt.scalar<int8_t>(kTensorType, 0);
  ti.buffer = tt.scalar<uint32_t>(kTensorBuffer, 0);
  ti.name = tt.string(kTensorName, kMaxName);
  charge(16 + int64_t(ti.name.size() / 4), tctx);  // many tensors may share one long name
  const fb::Table q = tt.table(kTensorQuantization, tctx + " quantization");
  if (q.valid()) {
    const fb::Vector sc = q.vector(kQuantScale, 4, "quantization scales");
    const fb::Vector zp = q.vector(kQuantZeroPoint, 8, "quantization zero points");
    if (sc.size() > kMaxDim || zp.size() > kMaxDim)
      fail(tctx, "more than " + std::to_string(kMaxDim) + " quantization scales");
    charge(int64_t(sc.size()) + 2 * int64_t(zp.size()), tctx);
    for (uint32_t i = 0; i < sc.size(); ++i) ti.scale.push_back(sc.at<float>(i));
    for (uint32_t i = 0; i < zp.size(); ++i) ti.zero_point.push_back(zp.at<int64_t>(i));
    ti.qdim = q.scalar<int32_t>(kQuantDimension, 0);
    ti.custom_quant = q.scalar<uint8_t>(kQuantDetailsType, 0) != 0;
  }
  ti.parsed = true;
  return ti;
}

std::pair<const uint8_t*, size_t> Loader::buffer_bytes(int t, const std::string& ctx) {
  const TensorInfo& ti = tensor(t, ctx);
  if (ti.buffer >= buffers_.size())
    fail(ctx, tdesc(t) + " refers to buffer " + std::to_string(ti.buffer) + " but the model has " +
                  std::to_string(buffers_.size()) + " buffers");
  const fb::Table b = buffers_.table(ti.buffer, "buffer " + std::to_string(ti.buffer));
  const uint64_t offset = b.scalar<uint64_t>(kBufferOffset, 0);
  const uint64_t size = b.scalar<uint64_t>(kBufferSize, 0);
  if (offset > 1) {  // data stored after the flatbuffer (models over 2 GB)
    buf_.need(offset, size, "buffer " + std::to_string(ti.buffer), "external buffer data");
    return {buf_.data() + offset, size_t(size)};
  }
  const fb::Vector d = b.vector(kBufferData, 1, "buffer data");
  return {d.bytes(), d.size()};
}

bool Loader::is_const(int t, const std::string& ctx) {
  const TensorInfo& ti = tensor(t, ctx);  // validates t first
  if (values_[size_t(t)].kind == Value::Const) return true;
  if (ti.buffer == 0) return false;
  return buffer_bytes(t, ctx).second > 0;
}

size_t type_size(int type) {
  switch (type) {
    case kFloat32: case kInt32: return 4;
    case kFloat16: case kInt16: return 2;
    case kUInt8: case kInt8: case kBool: return 1;
    case kInt64: case kFloat64: case kComplex64: return 8;
    default: return 0;
  }
}

int64_t Loader::const_count(int t, const std::string& ctx) {
  const TensorInfo& ti = tensor(t, ctx);
  const auto bytes = buffer_bytes(t, ctx);
  const size_t es = type_size(ti.type);
  if (!es) fail(ctx, tdesc(t) + " has unsupported constant type " + type_name(ti.type));
  int64_t count = 1;
  for (int64_t d : ti.shape) {
    if (d < 0 || d > (int64_t(1) << 31))
      fail(ctx, tdesc(t) + " has invalid shape " + shape_str(ti.shape));
    count = sat_mul(count, d);  // saturates, so an absurd shape cannot wrap to a match
  }
  const int64_t need = sat_mul(count, int64_t(es));
  if (need != int64_t(bytes.second))
    fail(ctx, tdesc(t) + " of shape " + shape_str(ti.shape) + " and type " + type_name(ti.type) +
                  " needs " + std::to_string(need) + " bytes but its buffer " +
                  std::to_string(ti.buffer) + " holds " + std::to_string(bytes.second));
  return count;
}

std::shared_ptr<const std::vector<float>> Loader::const_values(
    int t, const std::string& ctx, const std::vector<float>* bias_scale) {
  tensor(t, ctx);  // validates t first
  if (values_[size_t(t)].kind == Value::Const) return values_[size_t(t)].data;
  if (!is_const(t, ctx)) fail(ctx, tdesc(t) + " must be a constant (weights) but has no data");
  const TensorInfo& ti = tensor(t, ctx);
  const int64_t count = const_count(t, ctx);
  charge(count, ctx);
  const uint8_t* p = buffer_bytes(t, ctx).first;
  auto out = std::make_shared<std::vector<float>>(size_t(count));
  std::vector<float>& v = *out;
  auto check_finite = [&](float x, int64_t i) {
    if (!std::isfinite(x))
      fail(ctx, tdesc(t) + " element " + std::to_string(i) + " is not finite");
  };
  // A finite scale can still be so large that the real value overflows float.
  auto check_dequantized = [&](float x, int64_t i) {
    if (!std::isfinite(x))
      fail(ctx, tdesc(t) + " element " + std::to_string(i) +
                    " dequantizes to a non-finite value (quantization scale too large)");
  };
  auto check_zero_points = [&]() {
    for (int64_t z : ti.zero_point)
      if (z < -65536 || z > 65536)
        fail(ctx, tdesc(t) + " has an invalid zero point " + std::to_string(z));
  };
  // Per-axis quantization parameters: the scale index of element i.
  const size_t nq = ti.scale.size();
  int64_t inner = 1, axis_len = 1;
  auto quant_setup = [&](size_t n_params) {
    if (ti.custom_quant) fail(ctx, tdesc(t) + " uses custom quantization (not supported)");
    if (n_params == 0) fail(ctx, tdesc(t) + " (" + type_name(ti.type) +
                                     ") has no quantization scale");
    if (!ti.zero_point.empty() && ti.zero_point.size() != 1 && ti.zero_point.size() != n_params)
      fail(ctx, tdesc(t) + " has " + std::to_string(n_params) + " scales but " +
                    std::to_string(ti.zero_point.size()) + " zero points");
    for (size_t i = 0; i < n_params; ++i)
      if (!std::isfinite(ti.scale[i]) || ti.scale[i] < 0)
        fail(ctx, tdesc(t) + " has an invalid quantization scale");
    check_zero_points();
    if (n_params > 1) {
      if (ti.qdim < 0 || size_t(ti.qdim) >= ti.shape.size())
        fail(ctx, tdesc(t) + " has quantized_dimension " + std::to_string(ti.qdim) +
                      " outside its rank " + std::to_string(ti.shape.size()));
      axis_len = ti.shape[size_t(ti.qdim)];
      if (axis_len != int64_t(n_params))
        fail(ctx, tdesc(t) + " has " + std::to_string(n_params) + " scales for dimension " +
                      std::to_string(ti.qdim) + " of size " + std::to_string(axis_len));
      for (size_t d = size_t(ti.qdim) + 1; d < ti.shape.size(); ++d) inner *= ti.shape[d];
    }
  };
  auto param = [&](int64_t i) -> size_t {
    return axis_len > 1 ? size_t((i / inner) % axis_len) : 0;
  };
  auto zp = [&](size_t k) -> int64_t {
    if (ti.zero_point.empty()) return 0;
    return ti.zero_point.size() == 1 ? ti.zero_point[0] : ti.zero_point[k];
  };
  switch (ti.type) {
    case kFloat32:
      for (int64_t i = 0; i < count; ++i) {
        std::memcpy(&v[size_t(i)], p + 4 * i, 4);
        check_finite(v[size_t(i)], i);
      }
      break;
    case kFloat16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        v[size_t(i)] = half_to_float(h);
        check_finite(v[size_t(i)], i);
      }
      break;
    case kUInt8:
    case kInt8: {
      quant_setup(nq);
      quantized_ = true;
      for (int64_t i = 0; i < count; ++i) {
        const size_t k = param(i);
        const int64_t q = ti.type == kUInt8 ? int64_t(p[i]) : int64_t(int8_t(p[i]));
        v[size_t(i)] = float(double(q - zp(k)) * double(ti.scale[k]));
        check_dequantized(v[size_t(i)], i);
      }
      break;
    }
    case kInt32: {
      // Quantized biases: the tensor's own scale, else input_scale * weight_scale.
      if (ti.scale.empty() && !bias_scale)
        fail(ctx, tdesc(t) + " (int32) has no quantization scale");
      const std::vector<float>& sc = ti.scale.empty() ? *bias_scale : ti.scale;
      if (ti.custom_quant) fail(ctx, tdesc(t) + " uses custom quantization (not supported)");
      check_zero_points();
      for (float s : sc)
        if (!std::isfinite(s) || s < 0) fail(ctx, tdesc(t) + " has an invalid scale");
      if (sc.size() != 1 && int64_t(sc.size()) != count)
        fail(ctx, tdesc(t) + " has " + std::to_string(sc.size()) + " scales for " +
                      std::to_string(count) + " values");
      for (int64_t i = 0; i < count; ++i) {
        int32_t q;
        std::memcpy(&q, p + 4 * i, 4);
        const size_t k = sc.size() == 1 ? 0 : size_t(i);
        const int64_t z = ti.zero_point.size() == size_t(count) ? ti.zero_point[size_t(i)]
                          : ti.zero_point.size() == 1        ? ti.zero_point[0]
                                                             : 0;
        v[size_t(i)] = float(double(int64_t(q) - z) * double(sc[k]));
        check_dequantized(v[size_t(i)], i);
      }
      break;
    }
    default:
      fail(ctx, tdesc(t) + " has constant type " + type_name(ti.type) +
                    " (supported: float32, float16, uint8, int8, int32 biases)");
  }
  Value& val = values_[size_t(t)];
  val.kind = Value::Const;
  val.data = out;
  val.shape = ti.shape;
  return out;
}

std::vector<int64_t> Loader::const_ints(int t, const std::string& ctx) {
  if (!is_const(t, ctx) || values_[size_t(t)].kind == Value::Const)
    fail(ctx, tdesc(t) + " must be a constant integer tensor");
  const TensorInfo& ti = tensor(t, ctx);
  if (ti.type != kInt32 && ti.type != kInt64)
    fail(ctx, tdesc(t) + " must be int32 or int64, is " + type_name(ti.type));
  const int64_t n = const_count(t, ctx);
  if (n > 64) fail(ctx, tdesc(t) + " has " + std::to_string(n) + " values (at most 64 expected)");
  const uint8_t* p = buffer_bytes(t, ctx).first;
  std::vector<int64_t> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (ti.type == kInt32) {
      int32_t x;
      std::memcpy(&x, p + 4 * i, 4);
      r[size_t(i)] = x;
    } else {
      std::memcpy(&r[size_t(i)], p + 8 * i, 8);
    }
  }
  return r;
}

int Loader::node_of(int t, const std::string& ctx) {
  tensor(t, ctx);
  const Value& v = values_[size_t(t)];
  switch (v.kind) {
    case Value::NodeValue: return v.node;
    case Value::Padded:
      fail(ctx, tdesc(t) + " is the output of a PAD; mnv2 folds PAD only into a following "
                           "CONV_2D or DEPTHWISE_CONV_2D");
    case Value::Const:
      fail(ctx, "constant " + tdesc(t) + " used where an activation is expected");
    case Value::Unset:
      if (is_const(t, ctx))
        fail(ctx, "constant " + tdesc(t) + " used where an activation is expected");
      fail(ctx, tdesc(t) + " is read before any operator produces it");
  }
  fail(ctx, "internal: bad value kind");
}

void Loader::bind(int t, Value v, const std::string& ctx) {
  tensor(t, ctx);
  if (values_[size_t(t)].kind != Value::Unset)
    fail(ctx, tdesc(t) + " is written twice (or is a graph input/constant)");
  if (v.kind == Value::NodeValue) node_tensors_[size_t(v.node)].push_back(t);
  values_[size_t(t)] = std::move(v);
}

void Loader::bind_node(int t, int node, const std::string& ctx) {
  Value v;
  v.kind = Value::NodeValue;
  v.node = node;
  bind(t, std::move(v), ctx);
}

int Loader::add_node(Node n, const std::string& ctx) {
  const Shape& s = n.shape;
  if (s.h <= 0 || s.w <= 0 || s.c <= 0 || s.h > kMaxDim || s.w > kMaxDim || s.c > kMaxDim)
    fail(ctx, "output shape " + s.str() + " is invalid");
  if (s.per_image() > kMaxActivationElements)
    fail(ctx, "output shape " + s.str() +
                  " has more than 2^26 elements per image (the limit for one activation)");
  const int id = g_.add(std::move(n));
  node_tensors_.emplace_back();
  return id;
}

// Compares the shape the file declares for tensor t with the one computed from the inputs.
void Loader::check_declared(int t, const Shape& s, const std::string& ctx) {
  const std::vector<int64_t>& d = tensor(t, ctx).shape;
  bool ok = true;
  if (d.size() == 4) {
    auto eq = [](int64_t a, int b) { return a <= 0 || a == b; };  // <= 0: unknown dim
    ok = eq(d[1], s.h) && eq(d[2], s.w) && eq(d[3], s.c);
  } else if (!d.empty()) {
    int64_t per = 1;
    for (size_t i = d.size() == 1 ? 0 : 1; i < d.size(); ++i) per = sat_mul(per, d[i]);
    ok = per == s.per_image() || std::any_of(d.begin(), d.end(), [](int64_t x) { return x <= 0; });
  }
  if (!ok)
    fail(ctx, "the file declares output " + tdesc(t) + " as " + shape_str(d) +
                  " but the inputs give " + s.str());
}

Activation Loader::activation(int code, const std::string& ctx) {
  switch (code) {
    case kActNone: return Activation::None;
    case kActRelu: return Activation::Relu;
    case kActRelu6: return Activation::Relu6;
    default:
      fail(ctx, std::string("fused activation ") + activation_type_name(code) +
                    " is not supported (NONE, RELU, RELU6 are)");
  }
}

std::vector<float> Loader::bias_scale_for(int input_t, int weight_t, int channels,
                                          const std::string& ctx) {
  const TensorInfo& x = tensor(input_t, ctx);
  const TensorInfo& w = tensor(weight_t, ctx);
  std::vector<float> r;
  if (x.scale.size() != 1 || w.scale.empty()) return r;
  if (w.scale.size() != 1 && int(w.scale.size()) != channels) return r;
  for (int c = 0; c < channels; ++c)
    r.push_back(x.scale[0] * w.scale[w.scale.size() == 1 ? 0 : size_t(c)]);
  return r;
}

bool Loader::act_quant(int t, QuantParams* q, const std::string& ctx) {
  const TensorInfo& ti = tensor(t, ctx);
  if (ti.type != kUInt8 && ti.type != kInt8) return false;
  if (ti.custom_quant || ti.scale.size() != 1 || ti.zero_point.size() > 1) return false;
  const float s = ti.scale[0];
  if (!std::isfinite(s) || !(s > 0.f)) return false;
  const int64_t z0 = ti.zero_point.empty() ? 0 : ti.zero_point[0];
  if (z0 < -128 || z0 > 255) return false;  // also keeps the shift below from overflowing
  const int64_t z = z0 + (ti.type == kInt8 ? 128 : 0);
  if (z < 0 || z > 255) return false;
  q->scale = s;
  q->zero_point = int32_t(z);
  return true;
}

void Loader::int_weights(Node& n, int wt, int bt, int channels, int axis,
                         const std::string& ctx) {
  const TensorInfo& w = tensor(wt, ctx);
  auto give_up = [&] {
    int_ok_ = false;
    n.qweights.clear();
    n.qweight_scales.clear();
    n.qbias.clear();
  };
  if (!int_ok_) return;
  if ((w.type != kUInt8 && w.type != kInt8) || w.custom_quant || values_[size_t(wt)].kind != Value::Const)
    return give_up();
  const size_t ns = w.scale.size();
  if (ns != 1 && int64_t(ns) != channels) return give_up();
  if (ns > 1 && w.qdim != axis) return give_up();
  if (!w.zero_point.empty() && w.zero_point.size() != 1 && w.zero_point.size() != ns)
    return give_up();
  for (float sc : w.scale)
    if (!std::isfinite(sc) || !(sc > 0.f)) return give_up();
  const auto bytes = buffer_bytes(wt, ctx);
  const size_t count = n.weights.size();
  if (bytes.second != count || count % size_t(channels) != 0) return give_up();
  const size_t inner = count / size_t(channels);
  charge(int64_t(count) / 2 + channels, ctx);
  n.qweights.resize(count);
  const int64_t lo = w.type == kUInt8 ? 0 : -128, hi = w.type == kUInt8 ? 255 : 127;
  for (size_t i = 0; i < count; ++i) {
    // Channel of element i: axis 0 (Cout-major) or the last axis (depthwise).
    const size_t c = axis == 0 ? i / inner : i % size_t(channels);
    const size_t k = ns == 1 ? 0 : c;
    const int64_t z = w.zero_point.empty() ? 0 : w.zero_point[w.zero_point.size() == 1 ? 0 : k];
    if (z < lo || z > hi) return give_up();
    const int64_t q = w.type == kUInt8 ? int64_t(bytes.first[i]) : int64_t(int8_t(bytes.first[i]));
    n.qweights[i] = int16_t(q - z);
  }
  n.qweight_scales.assign(w.scale.begin(), w.scale.end());
  if (bt >= 0) {
    const TensorInfo& b = tensor(bt, ctx);
    if (b.type != kInt32 || values_[size_t(bt)].kind != Value::Const) return give_up();
    for (int64_t z : b.zero_point)
      if (z != 0) return give_up();
    const auto bb = buffer_bytes(bt, ctx);
    if (bb.second != size_t(channels) * 4) return give_up();
    n.qbias.resize(size_t(channels));
    std::memcpy(n.qbias.data(), bb.first, bb.second);
  }
}

void Loader::finish_integer_view() {
  for (size_t id = 0; int_ok_ && id < g_.nodes.size(); ++id) {
    Node& n = g_.nodes[id];
    const std::string ctx = "node " + std::to_string(id);
    const std::vector<int>& ts = node_tensors_[id];
    // The producing tensor must be quantized (an op computing in float has no integer
    // form), except the graph input, whose float tensor a QUANTIZE may quantize.
    bool have = false;
    for (size_t k = 0; k < ts.size(); ++k) {
      QuantParams q;
      if (!act_quant(ts[k], &q, ctx)) {
        if (k == 0 && int(id) != g_.input) int_ok_ = false;
        if (tensor(ts[k], ctx).type != kFloat32) int_ok_ = false;
        continue;
      }
      // QUANTIZE/DEQUANTIZE/RELU bound to the same node must not change the quantization.
      if (have && !(q == n.out_q)) int_ok_ = false;
      n.out_q = q;
      have = true;
    }
    if (!have) int_ok_ = false;
    switch (n.op) {
      case OpType::Conv2D:
      case OpType::DepthwiseConv2D:
      case OpType::FullyConnected:
        if (n.qweights.size() != n.weights.size() || (!n.bias.empty() && n.qbias.empty()))
          int_ok_ = false;
        break;
      case OpType::Reshape:
        if (!(n.out_q == g_.node(n.inputs[0]).out_q)) int_ok_ = false;
        break;
      case OpType::ChannelAffine:
        int_ok_ = false;
        break;
      default:
        break;
    }
  }
  if (int_ok_) return;
  for (Node& n : g_.nodes) {
    n.out_q = QuantParams{};
    std::vector<int16_t>().swap(n.qweights);
    std::vector<float>().swap(n.qweight_scales);
    std::vector<int32_t>().swap(n.qbias);
  }
}

void Loader::lower_conv(const std::string& ctx, int code, const std::vector<int>& in,
                        const std::vector<int>& out, const fb::Table& opt) {
  const bool dw = code == kOpDepthwiseConv2D;
  if (in.size() < 2 || in.size() > 3 || out.size() != 1)
    fail(ctx, "expects 2 or 3 inputs and 1 output, has " + std::to_string(in.size()) + " and " +
                  std::to_string(out.size()));
  if (!opt.valid()) fail(ctx, "missing options");
  // Conv2DOptions: padding 0, stride_w 1, stride_h 2, act 3, dilation_w 4, dilation_h 5.
  // DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3, act 4,
  // dilation_w 5, dilation_h 6.
  const int padding = opt.scalar<int8_t>(0, 0);
  const int stride_w = opt.scalar<int32_t>(1, 0), stride_h = opt.scalar<int32_t>(2, 0);
  const int act = opt.scalar<int8_t>(dw ? 4 : 3, 0);
  const int dil_w = opt.scalar<int32_t>(dw ? 5 : 4, 1), dil_h = opt.scalar<int32_t>(dw ? 6 : 5, 1);
  const int opt_mult = dw ? opt.scalar<int32_t>(3, 0) : 1;
  if (dil_w != 1 || dil_h != 1)
    fail(ctx, "dilation " + std::to_string(dil_h) + "x" + std::to_string(dil_w) +
                  " is not supported (only 1)");
  if (stride_w < 1 || stride_h < 1 || stride_w > 64 || stride_h > 64)
    fail(ctx, "invalid stride " + std::to_string(stride_h) + "x" + std::to_string(stride_w));
  if (padding != kPaddingSame && padding != kPaddingValid)
    fail(ctx, "unknown padding type " + std::to_string(padding));

  tensor(in[0], ctx);
  const Value xin = values_[size_t(in[0])];
  int x;
  int pt = 0, pb = 0, pl = 0, pr = 0;
  if (xin.kind == Value::Padded) {
    x = xin.node;
    pt = xin.pad_top, pb = xin.pad_bottom, pl = xin.pad_left, pr = xin.pad_right;
  } else {
    x = node_of(in[0], ctx);
  }
  const Shape xs = g_.node(x).shape;
  const Shape padded{xs.n, xs.h + pt + pb, xs.w + pl + pr, xs.c};

  const TensorInfo& wt = tensor(in[1], ctx);
  if (wt.shape.size() != 4)
    fail(ctx, "weights " + tdesc(in[1]) + " have shape " + shape_str(wt.shape) +
                  ", expected 4-D");
  const int64_t kh = wt.shape[1], kw = wt.shape[2];
  if (kh < 1 || kw < 1 || kh > 64 || kw > 64)
    fail(ctx, "kernel " + std::to_string(kh) + "x" + std::to_string(kw) + " is not supported");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = dw ? OpType::DepthwiseConv2D : OpType::Conv2D;
  n.inputs = {x};
  n.kernel_h = int(kh), n.kernel_w = int(kw);
  n.stride_h = stride_h, n.stride_w = stride_w;
  int channels;
  if (dw) {
    if (wt.shape[0] != 1)
      fail(ctx, "depthwise weights " + tdesc(in[1]) + " have shape " + shape_str(wt.shape) +
                    ", expected [1,KH,KW,C*multiplier]");
    const int64_t cm = wt.shape[3];
    if (cm < 1 || cm % xs.c != 0)
      fail(ctx, "depthwise weights have " + std::to_string(cm) +
                    " channels, not a multiple of the input's " + std::to_string(xs.c));
    n.depth_multiplier = int(cm / xs.c);
    if (opt_mult > 0 && opt_mult != n.depth_multiplier)
      fail(ctx, "depth_multiplier " + std::to_string(opt_mult) + " disagrees with the weights (" +
                    std::to_string(cm) + " channels for " + std::to_string(xs.c) + " inputs)");
    if (n.depth_multiplier > 64) fail(ctx, "depth multiplier above 64");
    channels = int(cm);
  } else {
    if (wt.shape[3] != xs.c) {
      if (wt.shape[3] > 0 && xs.c % wt.shape[3] == 0)
        fail(ctx, "grouped convolution (weights take " + std::to_string(wt.shape[3]) +
                      " of the input's " + std::to_string(xs.c) + " channels) is not supported");
      fail(ctx, "weights " + tdesc(in[1]) + " shape " + shape_str(wt.shape) +
                    " do not match the input's " + std::to_string(xs.c) + " channels");
    }
    if (wt.shape[0] < 1 || wt.shape[0] > kMaxDim) fail(ctx, "invalid output channel count");
    channels = int(wt.shape[0]);
    n.out_channels = channels;
  }
  n.activation = activation(act, ctx);

  // Padding from the actual shapes (TF SAME is asymmetric: the extra row goes after).
  int oh, ow, a, b;
  if (padding == kPaddingSame) {
    same_padding(padded.h, n.kernel_h, stride_h, &oh, &a, &b);
    pt += a, pb += b;
    same_padding(padded.w, n.kernel_w, stride_w, &ow, &a, &b);
    pl += a, pr += b;
  }
  n.pad_top = pt, n.pad_bottom = pb, n.pad_left = pl, n.pad_right = pr;
  if (pt > 64 || pb > 64 || pl > 64 || pr > 64) fail(ctx, "padding above 64 is not supported");
  const int span_h = xs.h + pt + pb - n.kernel_h, span_w = xs.w + pl + pr - n.kernel_w;
  if (span_h < 0 || span_w < 0)
    fail(ctx, "kernel " + std::to_string(kh) + "x" + std::to_string(kw) +
                  " is larger than the padded input " + padded.str());
  n.shape = {xs.n, span_h / stride_h + 1, span_w / stride_w + 1, channels};

  const auto w = const_values(in[1], ctx, nullptr);
  n.weights = take(*w, ctx);
  if (in.size() == 3 && in[2] >= 0) {
    const TensorInfo& bt = tensor(in[2], ctx);
    std::vector<float> computed;
    if (bt.type == kInt32 && bt.scale.empty()) computed = bias_scale_for(in[0], in[1], channels, ctx);
    const auto bv = const_values(in[2], ctx, computed.empty() ? nullptr : &computed);
    if (int64_t(bv->size()) != channels)
      fail(ctx, "bias " + tdesc(in[2]) + " has " + std::to_string(bv->size()) +
                    " values for " + std::to_string(channels) + " channels");
    n.bias = take(*bv, ctx);
  }
  int_weights(n, in[1], in.size() == 3 ? in[2] : -1, channels, dw ? 3 : 0, ctx);
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_fully_connected(const std::string& ctx, const std::vector<int>& in,
                                   const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() < 2 || in.size() > 3 || out.size() != 1)
    fail(ctx, "expects 2 or 3 inputs and 1 output");
  // FullyConnectedOptions: act 0, weights_format 1, keep_num_dims 2.
  const int act = opt.valid() ? opt.scalar<int8_t>(0, 0) : 0;
  const int format = opt.valid() ? opt.scalar<int8_t>(1, 0) : 0;
  if (format != 0) fail(ctx, "shuffled weights format is not supported");
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  const TensorInfo& wt = tensor(in[1], ctx);
  if (wt.shape.size() != 2 || wt.shape[1] != xs.per_image() || wt.shape[0] < 1 ||
      wt.shape[0] > kMaxDim)
    fail(ctx, "weights " + tdesc(in[1]) + " shape " + shape_str(wt.shape) +
                  " do not fit the input " + xs.str());
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::FullyConnected;
  n.inputs = {x};
  n.out_channels = int(wt.shape[0]);
  n.activation = activation(act, ctx);
  n.shape = {xs.n, 1, 1, n.out_channels};
  n.weights = take(*const_values(in[1], ctx, nullptr), ctx);
  if (in.size() == 3 && in[2] >= 0) {
    const TensorInfo& bt = tensor(in[2], ctx);
    std::vector<float> computed;
    if (bt.type == kInt32 && bt.scale.empty())
      computed = bias_scale_for(in[0], in[1], n.out_channels, ctx);
    const auto bv = const_values(in[2], ctx, computed.empty() ? nullptr : &computed);
    if (int64_t(bv->size()) != n.out_channels)
      fail(ctx, "bias " + tdesc(in[2]) + " has " + std::to_string(bv->size()) + " values for " +
                    std::to_string(n.out_channels) + " outputs");
    n.bias = take(*bv, ctx);
  }
  int_weights(n, in[1], in.size() == 3 ? in[2] : -1, n.out_channels, 0, ctx);
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

// ADD of two activations; ADD / MUL with a per-channel constant become a ChannelAffine.
void Loader::lower_binary(const std::string& ctx, int code, const std::vector<int>& in,
                          const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() != 2 || out.size() != 1) fail(ctx, "expects 2 inputs and 1 output");
  const int act = opt.valid() ? opt.scalar<int8_t>(0, 0) : 0;
  if (act != kActNone)
    fail(ctx, std::string("fused activation ") + activation_type_name(act) + " on " +
                  op_code_name(code) + " is not supported");
  const bool c0 = is_const(in[0], ctx), c1 = is_const(in[1], ctx);
  if (!c0 && !c1) {
    if (code != kOpAdd) fail(ctx, "MUL of two activations is not supported");
    const int a = node_of(in[0], ctx), b = node_of(in[1], ctx);
    if (!(g_.node(a).shape == g_.node(b).shape))
      fail(ctx, "operand shapes differ (" + g_.node(a).shape.str() + " vs " +
                    g_.node(b).shape.str() + "); broadcasting ADD is not supported");
    Node n;
    n.name = tensor(out[0], ctx).name;
    n.op = OpType::Add;
    n.inputs = {a, b};
    n.shape = g_.node(a).shape;
    check_declared(out[0], n.shape, ctx);
    bind_node(out[0], add_node(std::move(n), ctx), ctx);
    return;
  }
  if (c0 && c1) fail(ctx, "both operands are constants");
  const int xt = c0 ? in[1] : in[0], ct = c0 ? in[0] : in[1];
  const int x = node_of(xt, ctx);
  const Shape xs = g_.node(x).shape;
  const auto cv = const_values(ct, ctx, nullptr);
  const std::vector<int64_t>& cs = tensor(ct, ctx).shape;
  bool per_channel = !cs.empty() && cs.back() == xs.c;
  for (size_t i = 0; i + 1 < cs.size(); ++i) per_channel = per_channel && cs[i] == 1;
  const bool scalar = cv->size() == 1;
  if (!per_channel && !scalar)
    fail(ctx, "constant operand " + tdesc(ct) + " of shape " + shape_str(cs) +
                  " is not per-channel for input " + xs.str());
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::ChannelAffine;
  n.inputs = {x};
  n.shape = xs;
  charge(2 * int64_t(xs.c), ctx);
  n.weights.assign(size_t(xs.c), 1.f);
  n.bias.assign(size_t(xs.c), 0.f);
  for (int c = 0; c < xs.c; ++c) {
    const float v = (*cv)[scalar ? 0 : size_t(c)];
    (code == kOpMul ? n.weights : n.bias)[size_t(c)] = v;
  }
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_pool(const std::string& ctx, const std::vector<int>& in,
                        const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
  if (!opt.valid()) fail(ctx, "missing options");
  // Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_w 3, filter_h 4, act 5.
  const int padding = opt.scalar<int8_t>(0, 0);
  const int sw = opt.scalar<int32_t>(1, 0), sh = opt.scalar<int32_t>(2, 0);
  const int fw = opt.scalar<int32_t>(3, 0), fh = opt.scalar<int32_t>(4, 0);
  const int act = opt.scalar<int8_t>(5, 0);
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  if (sw < 1 || sh < 1 || fw < 1 || fh < 1)
    fail(ctx, "invalid stride/filter " + std::to_string(sh) + "x" + std::to_string(sw) + "/" +
                  std::to_string(fh) + "x" + std::to_string(fw));
  if (act != kActNone)
    fail(ctx, std::string("fused activation ") + activation_type_name(act) +
                  " on AVERAGE_POOL_2D is not supported");
  int64_t oh, ow;
  if (padding == kPaddingSame) {
    oh = (int64_t(xs.h) + sh - 1) / sh, ow = (int64_t(xs.w) + sw - 1) / sw;
  } else if (padding == kPaddingValid) {
    oh = xs.h >= fh ? (xs.h - fh) / sh + 1 : 0;
    ow = xs.w >= fw ? (xs.w - fw) / sw + 1 : 0;
  } else {
    fail(ctx, "unknown padding type " + std::to_string(padding));
  }
  if (!(oh == 1 && ow == 1 && fh >= xs.h && fw >= xs.w))
    fail(ctx, "a " + std::to_string(fh) + "x" + std::to_string(fw) + " average pool (stride " +
                  std::to_string(sh) + ") on a " + std::to_string(xs.h) + "x" +
                  std::to_string(xs.w) +
                  " map is not a global pool; only global average pooling is supported");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::GlobalAvgPool;
  n.inputs = {x};
  n.shape = {xs.n, 1, 1, xs.c};
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_mean(const std::string& ctx, const std::vector<int>& in,
                        const std::vector<int>& out) {
  if (in.size() != 2 || out.size() != 1) fail(ctx, "expects 2 inputs and 1 output");
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  std::vector<int64_t> axes = const_ints(in[1], ctx);
  for (int64_t& a : axes) {
    if (a < -4 || a > 3) fail(ctx, "axis " + std::to_string(a) + " out of range");
    if (a < 0) a += 4;
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (axes != std::vector<int64_t>{1, 2})
    fail(ctx, "MEAN over axes " + shape_str(axes) +
                  " is not supported (only over height and width, axes [1,2])");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::GlobalAvgPool;
  n.inputs = {x};
  n.shape = {xs.n, 1, 1, xs.c};
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_reshape(const std::string& ctx, const std::vector<int>& in,
                           const std::vector<int>& out) {
  if (in.empty() || in.size() > 2 || out.size() != 1) fail(ctx, "expects 1-2 inputs, 1 output");
  const int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  const std::vector<int64_t>& d = tensor(out[0], ctx).shape;
  if (d.empty() || d.size() > 4)
    fail(ctx, "output " + tdesc(out[0]) + " has shape " + shape_str(d) + " (rank 1-4 supported)");
  for (int64_t v : d)
    if (v <= 0 || v > (int64_t(1) << 30))
      fail(ctx, "output " + tdesc(out[0]) + " has unusable shape " + shape_str(d));
  // The leading dimension is the batch unless the tensor is 1-D.
  std::vector<int64_t> per(d.size() == 1 ? d.begin() : d.begin() + 1, d.end());
  if (d.size() > 1 && d[0] != 1)
    fail(ctx, "output " + tdesc(out[0]) + " shape " + shape_str(d) + " folds the batch");
  int64_t count = 1;
  for (int64_t v : per) count = sat_mul(count, v);
  if (count != xs.per_image())
    fail(ctx, "reshape of " + xs.str() + " to " + shape_str(d) + " changes the element count");
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::Reshape;
  n.inputs = {x};
  if (per.size() <= 1) {
    n.reshape_to = {0, 0, 0, 0};  // flatten
    n.shape = {xs.n, 1, 1, int(count)};
  } else {
    while (per.size() < 3) per.insert(per.begin(), 1);
    if (per[0] > kMaxDim || per[1] > kMaxDim || per[2] > kMaxDim)
      fail(ctx, "reshape target " + shape_str(d) + " too large");
    n.reshape_to = {0, int(per[0]), int(per[1]), int(per[2])};
    n.shape = {xs.n, int(per[0]), int(per[1]), int(per[2])};
  }
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_softmax(const std::string& ctx, const std::vector<int>& in,
                           const std::vector<int>& out, const fb::Table& opt) {
  if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
  const float beta = opt.valid() ? opt.scalar<float>(0, 0.f) : 0.f;
  if (!std::isfinite(beta)) fail(ctx, "beta is not finite");
  int x = node_of(in[0], ctx);
  const Shape xs = g_.node(x).shape;
  if (beta != 1.f) {  // softmax(beta * x): scale first
    Node a;
    a.name = tensor(out[0], ctx).name + "/beta";
    a.op = OpType::ChannelAffine;
    a.inputs = {x};
    a.shape = xs;
    charge(2 * int64_t(xs.c), ctx);
    a.weights.assign(size_t(xs.c), beta);
    a.bias.assign(size_t(xs.c), 0.f);
    x = add_node(std::move(a), ctx);
    softmax_beta_nodes_.insert(x);
  }
  Node n;
  n.name = tensor(out[0], ctx).name;
  n.op = OpType::Softmax;
  n.inputs = {x};
  n.shape = xs;
  check_declared(out[0], n.shape, ctx);
  bind_node(out[0], add_node(std::move(n), ctx), ctx);
}

void Loader::lower_pad(const std::string& ctx, const std::vector<int>& in,
                       const std::vector<int>& out) {
  if (in.size() != 2 || out.size() != 1) fail(ctx, "expects 2 inputs and 1 output");
  const int x = node_of(in[0], ctx);
  const std::vector<int64_t> p = const_ints(in[1], ctx);
  if (p.size() != 8) fail(ctx, "paddings must be a [4,2] tensor");
  if (p[0] || p[1] || p[6] || p[7])
    fail(ctx, "padding of the batch or channel dimension is not supported");
  for (int64_t v : p)
    if (v < 0 || v > 64) fail(ctx, "padding " + std::to_string(v) + " outside [0, 64]");
  Value v;
  v.kind = Value::Padded;
  v.node = x;
  v.pad_top = int(p[2]), v.pad_bottom = int(p[3]), v.pad_left = int(p[4]), v.pad_right = int(p[5]);
  // A quantized PAD fills with its zero point (real 0), as the integer convolution pads;
  // it must keep the quantization of its input.
  QuantParams qa, qb;
  if (act_quant(in[0], &qa, ctx) != act_quant(out[0], &qb, ctx) || !(qa == qb)) int_ok_ = false;
  bind(out[0], std::move(v), ctx);
}

// A stand-alone RELU/RELU6 is folded into the convolution that produces its input.
void Loader::lower_activation(const std::string& ctx, int code, const std::vector<int>& in,
                              const std::vector<int>& out) {
  if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
  const int x = node_of(in[0], ctx);
  Node& p = g_.node(x);
  int uses = 0;
  for (int t : node_tensors_[size_t(x)]) uses += consumers_[size_t(t)];
  const bool foldable = (p.op == OpType::Conv2D || p.op == OpType::DepthwiseConv2D ||
                         p.op == OpType::FullyConnected) &&
                        uses == 1 && p.activation != Activation::Relu6;
  if (!foldable)
    fail(ctx, std::string("stand-alone ") + op_code_name(code) +
                  " is supported only right after a convolution or fully-connected layer "
                  "whose output has no other reader");
  p.activation = code == kOpRelu6 ? Activation::Relu6 : Activation::Relu;
  bind_node(out[0], x, ctx);
}

void Loader::lower(int index, int code, const fb::Table& op) {
  const std::string ctx =
      "operator " + std::to_string(index) + " (" + op_code_name(code) + ")";
  auto ints = [&](int field, const char* what) {
    const fb::Vector v = op.vector(field, 4, what);
    if (v.size() > 16) fail(ctx, std::string(what) + ": " + std::to_string(v.size()) +
                                     " entries (at most 16 expected)");
    std::vector<int> r;
    for (uint32_t i = 0; i < v.size(); ++i) r.push_back(v.at<int32_t>(i));
    return r;
  };
  const std::vector<int> in = ints(kOperatorInputs, "operator inputs");
  const std::vector<int> out = ints(kOperatorOutputs, "operator outputs");
  for (int t : out) tensor(t, ctx);
  for (int t : in)
    if (t != -1) tensor(t, ctx);
  const int opt_type = op.scalar<uint8_t>(kOperatorBuiltinOptionsType, 0);
  fb::Table opt;
  auto options = [&](int want) {
    if (opt_type != 0 && opt_type != want)
      fail(ctx, "builtin options of type " + std::to_string(opt_type) + ", expected " +
                    std::to_string(want));
    if (opt_type == want) opt = op.table(kOperatorBuiltinOptions, ctx + " options");
  };
  switch (code) {
    case kOpConv2D:
      options(kOptConv2D);
      lower_conv(ctx, code, in, out, opt);
      break;
    case kOpDepthwiseConv2D:
      options(kOptDepthwiseConv2D);
      lower_conv(ctx, code, in, out, opt);
      break;
    case kOpFullyConnected:
      options(kOptFullyConnected);
      lower_fully_connected(ctx, in, out, opt);
      break;
    case kOpAdd:
      options(kOptAdd);
      lower_binary(ctx, code, in, out, opt);
      break;
    case kOpMul:
      options(kOptMul);
      lower_binary(ctx, code, in, out, opt);
      break;
    case kOpAveragePool2D:
      options(kOptPool2D);
      lower_pool(ctx, in, out, opt);
      break;
    case kOpMean:
      lower_mean(ctx, in, out);
      break;
    case kOpReshape:
    case kOpSqueeze:
      lower_reshape(ctx, in, out);
      break;
    case kOpSoftmax:
      options(kOptSoftmax);
      lower_softmax(ctx, in, out, opt);
      break;
    case kOpPad:
      lower_pad(ctx, in, out);
      break;
    case kOpRelu:
    case kOpRelu6:
      lower_activation(ctx, code, in, out);
      break;
    case kOpQuantize:
    case kOpDequantize: {
      // Everything runs in float: (de)quantizing an activation is the identity on real
      // values, and a (de)quantized constant is its real values.
      if (in.size() != 1 || out.size() != 1) fail(ctx, "expects 1 input and 1 output");
      if (is_const(in[0], ctx)) {
        Value v;
        v.kind = Value::Const;
        v.data = const_values(in[0], ctx, nullptr);
        v.shape = tensor(in[0], ctx).shape;
        if (tensor(out[0], ctx).shape != v.shape)
          fail(ctx, "output shape " + shape_str(tensor(out[0], ctx).shape) +
                        " differs from the input's " + shape_str(v.shape));
        bind(out[0], std::move(v), ctx);
      } else {
        bind_node(out[0], node_of(in[0], ctx), ctx);
      }
      break;
    }
    default:
      fail(ctx, std::string("operator ") + op_code_name(code) + " (builtin code " +
                    std::to_string(code) + ") is not supported by mnv2");
  }
}

void Loader::read_metadata(const fb::Table& model) {
  const fb::Vector md = model.vector(kModelMetadata, 4, "metadata");
  for (uint32_t i = 0; i < md.size() && i < 64; ++i) {
    const fb::Table m = md.table(i, "metadata " + std::to_string(i));
    if (m.string(kMetadataName, 64) != kTfliteInfoMetadata) continue;
    const uint32_t b = m.scalar<uint32_t>(kMetadataBuffer, 0);
    if (b >= buffers_.size()) fail("metadata " + std::to_string(i), "buffer index out of range");
    const fb::Vector d =
        buffers_.table(b, "buffer " + std::to_string(b)).vector(kBufferData, 1, "metadata");
    if (d.size() > 65536) fail("metadata " + std::to_string(i), "mnv2 metadata over 64 KiB");
    const std::string text(reinterpret_cast<const char*>(d.bytes()), d.size());
    ModelInfo& inf = g_.info;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(start, end - start);
      start = end + 1;
      const size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = line.substr(0, eq), val = line.substr(eq + 1);
      auto number = [&](float lo, float hi) {
        char* e = nullptr;
        const double x = std::strtod(val.c_str(), &e);
        if (val.empty() || *e || !(x >= lo && x <= hi))
          fail("mnv2 metadata", "value of '" + key + "' is invalid: '" + val + "'");
        return float(x);
      };
      auto flag = [&]() {
        if (val != "0" && val != "1")
          fail("mnv2 metadata", "value of '" + key + "' must be 0 or 1, is '" + val + "'");
        return val == "1";
      };
      if (key == "name") inf.name = val.substr(0, kMaxName);
      else if (key == "mean") inf.mean = number(-1e6f, 1e6f);
      else if (key == "scale") inf.scale = number(1e-12f, 1e12f);
      else if (key == "channel_order") {
        if (val != "RGB" && val != "BGR")
          fail("mnv2 metadata", "channel_order must be RGB or BGR, is '" + val + "'");
        inf.channel_order = val == "RGB" ? ChannelOrder::RGB : ChannelOrder::BGR;
      } else if (key == "normalization_in_graph") inf.normalization_in_graph = flag();
      else if (key == "has_background") {
        inf.has_background = flag();
        background_set_ = true;
      }
      else if (key == "width_multiplier") inf.width_multiplier = number(0.f, 64.f);
      else if (key == "quantized") inf.quantized = flag();
      // Unknown keys are ignored: newer writers may add fields.
    }
  }
}

Graph Loader::run() {
  const fb::Table model = fb::root(buf_, "TFL3");
  const uint32_t version = model.scalar<uint32_t>(kModelVersion, 0);
  if (version != 3)
    fail("model", "schema version " + std::to_string(version) + " is not supported (3 is)");

  // Operator codes: builtin code = max(deprecated_builtin_code, builtin_code).
  const fb::Vector codes = model.vector(kModelOperatorCodes, 4, "operator codes");
  std::vector<int> op_codes;
  for (uint32_t i = 0; i < codes.size() && i < kMaxOperators; ++i) {
    const fb::Table c = codes.table(i, "operator code " + std::to_string(i));
    const int dep = c.scalar<int8_t>(kOpCodeDeprecatedBuiltin, 0);
    const int ext = c.scalar<int32_t>(kOpCodeBuiltin, 0);
    const int code = std::max(dep, ext);
    op_codes.push_back(code == kOpCustom ? -1 : code);
  }

  const fb::Vector subgraphs = model.vector(kModelSubgraphs, 4, "subgraphs");
  if (subgraphs.empty()) fail("model", "has no subgraphs");
  buffers_ = model.vector(kModelBuffers, 4, "buffers");
  // Verify every buffer up front (a truncated file loses its buffers first).
  for (uint32_t i = 0; i < buffers_.size(); ++i) {
    const std::string bctx = "buffer " + std::to_string(i);
    const fb::Table b = buffers_.table(i, bctx);
    b.vector(kBufferData, 1, "buffer data");
    const uint64_t offset = b.scalar<uint64_t>(kBufferOffset, 0);
    if (offset > 1) buf_.need(offset, b.scalar<uint64_t>(kBufferSize, 0), bctx, "external data");
  }
  const fb::Table sg = subgraphs.table(0, "subgraph 0");
  tensors_ = sg.vector(kSubGraphTensors, 4, "tensors");
  if (tensors_.size() > kMaxTensors)
    fail("subgraph 0", std::to_string(tensors_.size()) + " tensors (limit " +
                           std::to_string(kMaxTensors) + ")");
  info_.resize(tensors_.size());
  values_.resize(tensors_.size());
  consumers_.assign(tensors_.size(), 0);
  // Constants cannot legitimately expand beyond a few values per byte of the file.
  weight_budget_ = int64_t(buf_.size()) * 4 + (int64_t(1) << 24);

  const fb::Vector inputs = sg.vector(kSubGraphInputs, 4, "subgraph inputs");
  const fb::Vector outputs = sg.vector(kSubGraphOutputs, 4, "subgraph outputs");
  const fb::Vector ops = sg.vector(kSubGraphOperators, 4, "operators");
  if (inputs.size() != 1)
    fail("subgraph 0", "has " + std::to_string(inputs.size()) + " inputs; exactly one expected");
  if (outputs.empty()) fail("subgraph 0", "has no outputs");
  if (ops.size() > kMaxOperators)
    fail("subgraph 0", std::to_string(ops.size()) + " operators (limit " +
                           std::to_string(kMaxOperators) + ")");

  // Who reads each tensor (to decide whether a stand-alone activation can be fused).
  std::vector<fb::Table> op_tables;
  op_tables.reserve(ops.size());
  for (uint32_t i = 0; i < ops.size(); ++i) {
    op_tables.push_back(ops.table(i, "operator " + std::to_string(i)));
    const fb::Vector in = op_tables.back().vector(kOperatorInputs, 4, "operator inputs");
    for (uint32_t k = 0; k < in.size() && k < 16; ++k) {
      const int t = in.at<int32_t>(k);
      if (t >= 0 && uint32_t(t) < tensors_.size()) ++consumers_[size_t(t)];
    }
  }
  for (uint32_t k = 0; k < outputs.size(); ++k) {
    const int t = outputs.at<int32_t>(k);
    if (t >= 0 && uint32_t(t) < tensors_.size()) ++consumers_[size_t(t)];
  }

  // The graph input.
  const int in_t = inputs.at<int32_t>(0);
  const std::string in_ctx = "subgraph 0 input";
  const TensorInfo& it = tensor(in_t, in_ctx);
  if (it.shape.size() != 4 || it.shape[0] != 1)
    fail(in_ctx, tdesc(in_t) + " has shape " + shape_str(it.shape) + "; expected [1,H,W,C]");
  for (int d = 1; d < 4; ++d)
    if (it.shape[size_t(d)] < 1 || it.shape[size_t(d)] > kMaxInputSide)
      fail(in_ctx, tdesc(in_t) + " has unsupported shape " + shape_str(it.shape));
  ModelInfo& inf = g_.info;
  inf.format = "tflite";
  inf.input_name = it.name;
  inf.layout = Layout::NHWC;
  inf.channel_order = ChannelOrder::RGB;
  inf.height = int(it.shape[1]);
  inf.width = int(it.shape[2]);
  inf.channels = int(it.shape[3]);
  inf.normalization_in_graph = false;
  switch (it.type) {
    case kFloat32:
      inf.mean = inf.scale = 127.5f;
      break;
    case kUInt8:
    case kInt8: {
      // The IR input is the real value; feeding pixel p as the quantized input means
      // real = (q - z) * s with q = p (uint8) or p - 128 (int8).
      if (it.scale.size() != 1 || !(it.scale[0] > 0) || !std::isfinite(it.scale[0]))
        fail(in_ctx, tdesc(in_t) + " is " + type_name(it.type) +
                         " without a valid per-tensor scale");
      const int64_t z = it.zero_point.empty() ? 0 : it.zero_point[0];
      if (z < -1024 || z > 1024) fail(in_ctx, tdesc(in_t) + " has an invalid zero point");
      inf.mean = float(z + (it.type == kInt8 ? 128 : 0));
      inf.scale = float(1.0 / double(it.scale[0]));
      break;
    }
    default:
      fail(in_ctx, tdesc(in_t) + " has type " + type_name(it.type) +
                       " (float32, uint8 or int8 expected)");
  }
  Node input;
  input.name = it.name;
  input.op = OpType::Input;
  input.shape = {1, inf.height, inf.width, inf.channels};
  g_.input = add_node(std::move(input), in_ctx);
  bind_node(in_t, g_.input, in_ctx);

  for (uint32_t i = 0; i < ops.size(); ++i) {
    const fb::Table& op = op_tables[i];
    const uint32_t oc = op.scalar<uint32_t>(kOperatorOpcodeIndex, 0);
    const std::string ctx = "operator " + std::to_string(i);
    if (oc >= op_codes.size())
      fail(ctx, "opcode index " + std::to_string(oc) + " out of range (" +
                    std::to_string(op_codes.size()) + " operator codes)");
    if (op_codes[oc] < 0) {
      const fb::Table c = codes.table(oc, "operator code " + std::to_string(oc));
      fail(ctx, "custom operator '" + c.string(kOpCodeCustom, 64) + "' is not supported");
    }
    lower(int(i), op_codes[oc], op);
  }

  const int out_t = outputs.at<int32_t>(0);
  g_.output = node_of(out_t, "subgraph 0 output");
  inf.output_name = tensor(out_t, "subgraph 0 output").name;

  // Features: the last global pool; logits: what the final softmax reads.
  for (int id = g_.output; id >= 0; --id)
    if (g_.node(id).op == OpType::GlobalAvgPool) {
      g_.features = id;
      break;
    }
  int probe = g_.output;
  while (g_.node(probe).op == OpType::Reshape) probe = g_.node(probe).inputs[0];
  if (g_.node(probe).op == OpType::Softmax) {
    int l = g_.node(probe).inputs[0];
    if (softmax_beta_nodes_.count(l)) l = g_.node(l).inputs[0];
    g_.logits = l;
  } else {
    g_.logits = g_.output;
  }

  // A path-derived name; mnv2 metadata (written by `mnv2 convert`) may refine the info.
  std::string stem = path_;
  if (const size_t s = stem.find_last_of('/'); s != std::string::npos) stem = stem.substr(s + 1);
  if (const size_t d = stem.rfind(".tflite"); d != std::string::npos && d > 0) stem.resize(d);
  inf.name = stem;
  inf.quantized = quantized_;
  finish_integer_view();
  read_metadata(model);
  try {
    g_.finalize();
  } catch (const Error& e) {
    throw Error("'" + path_ + "': " + e.what());
  }
  if (!background_set_) inf.has_background = inf.num_classes == 1001;
  return std::move(g_);
}

}  // namespace

Graph load_tflite_bytes(const uint8_t* data, size_t size, const std::string& name) {
  Loader l(data, size, name);
  return l.run();
}

Graph load_tflite(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error("cannot open model file '" + path + "'");
  const std::streamoff size = f.tellg();
  if (size < 0) throw Error("'" + path + "': cannot determine the file size");
  if (uint64_t(size) > (uint64_t(1) << 34))
    throw Error("'" + path + "': file larger than 16 GiB");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  if (size && !f.read(reinterpret_cast<char*>(bytes.data()), size))
    throw Error("'" + path + "': read error");
  return load_tflite_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace mnv2
