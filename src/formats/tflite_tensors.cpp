// TFLite tensors: shapes, types and quantization from the flatbuffer, constants
// (dequantized to real values), values bound to IR nodes, the integer view, and mnv2's
// own metadata (tflite_loader.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/half.h"
#include "formats/tflite.h"
#include "formats/tflite_loader.h"

namespace mnv2::tflr {

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

namespace {

size_t type_size(int type) {
  switch (type) {
    case kFloat32: case kInt32: return 4;
    case kFloat16: case kInt16: return 2;
    case kUInt8: case kInt8: case kBool: return 1;
    case kInt64: case kFloat64: case kComplex64: return 8;
    default: return 0;
  }
}

}  // namespace

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
  if (values_[size_t(t)].kind == Value::Const && values_[size_t(t)].data)
    return values_[size_t(t)].data;
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
  if (own_const_.size() < values_.size()) own_const_.resize(values_.size());
  own_const_[size_t(t)] = true;
  release(t, ctx);
  return out;
}

std::vector<float> Loader::take_const(int t, const std::string& ctx,
                                      const std::vector<float>* bias_scale) {
  std::shared_ptr<const std::vector<float>> v = const_values(t, ctx, bias_scale);
  charge(int64_t(v->size()), ctx);
  Value& val = values_[size_t(t)];
  // Only t's own values, held by the cache and here alone, can be moved: made from t's
  // buffer, they can be made again (and were created non-const, so moving is allowed).
  if (!own_const_[size_t(t)] || val.data != v || v.use_count() != 2) return *v;
  val.data.reset();
  return std::move(const_cast<std::vector<float>&>(*v));
}

bool Loader::int_only_weights(int t, const std::string& ctx) {
  if (float_weights_ || !int_ok_) return false;
  const TensorInfo& ti = tensor(t, ctx);
  if ((ti.type != kUInt8 && ti.type != kInt8) || values_[size_t(t)].kind != Value::Unset)
    return false;
  quantized_ = true;  // what dequantizing it would have noted
  return true;
}

void Loader::release(int t, const std::string& ctx) {
  if (!file_) return;
  const auto b = buffer_bytes(t, ctx);
  file_->release(b.first, b.second);
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
  // Without float weights (int_only_weights) nothing has dequantized the tensor yet; its
  // checks that matter here are repeated below, and a tensor that fails them gives the
  // integer view up, so that the loader runs again with float weights and reports it.
  const bool no_floats = n.weights.empty();
  if ((w.type != kUInt8 && w.type != kInt8) || w.custom_quant ||
      (no_floats ? !is_const(wt, ctx) : values_[size_t(wt)].kind != Value::Const))
    return give_up();
  const size_t ns = w.scale.size();
  if (ns != 1 && int64_t(ns) != channels) return give_up();
  if (ns > 1 && w.qdim != axis) return give_up();
  if (!w.zero_point.empty() && w.zero_point.size() != 1 && w.zero_point.size() != ns)
    return give_up();
  for (float sc : w.scale)
    if (!std::isfinite(sc) || !(sc > 0.f) || (no_floats && !std::isfinite(float(255.0 * sc))))
      return give_up();
  const auto bytes = buffer_bytes(wt, ctx);
  const size_t count = no_floats ? size_t(const_count(wt, ctx)) : n.weights.size();
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
  release(wt, ctx);
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
    release(bt, ctx);
  }
  if (no_floats) skipped_floats_ = true;
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
        if (n.qweights.empty() || (!n.weights.empty() && n.qweights.size() != n.weights.size()) ||
            (!n.bias.empty() && n.qbias.empty()))
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


}  // namespace mnv2::tflr
