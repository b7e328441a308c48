// The TFLite loader's state (internal to it): tflite_tensors.cpp reads tensors, constants
// (dequantized) and the integer view; tflite.cpp translates the operators of subgraph 0.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "formats/flatbuf.h"
#include "formats/loader.h"
#include "formats/mapped_file.h"
#include "formats/tflite_schema.h"

namespace mnv2::tflr {

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
  enum Kind { Unset, NodeValue, Const } kind = Unset;
  int node = -1;                                 // NodeValue: the producing IR node
  std::shared_ptr<const std::vector<float>> data;  // Const: real values
  std::vector<int64_t> shape;                    // Const: shape
};

// a * b for non-negative values, saturating at 2^62 (shapes from files may be absurd).
int64_t sat_mul(int64_t a, int64_t b);
std::string shape_str(const std::vector<int64_t>& s);

class Loader {
 public:
  // float_weights: LoadOptions::float_weights. file: the mapping `data` lies in, whose pages
  // the loader gives back as it consumes constants (null: nothing to give back).
  Loader(const uint8_t* data, size_t size, std::string path, bool float_weights = true,
         const MappedFile* file = nullptr)
      : path_(std::move(path)), buf_(data, size, path_), float_weights_(float_weights),
        file_(file) {}

  Translation run();
  // After run(): whether the graph has its integer view (Graph::quantized()).
  bool integer_view() const { return int_ok_; }

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
  // take(*const_values(t, ...)), moving the values out of the cache when nothing else
  // shares them (a later reader of t dequantizes it again), so that a weight tensor is not
  // held twice while the file is translated.
  std::vector<float> take_const(int t, const std::string& ctx,
                                const std::vector<float>* bias_scale);
  // Whether the weights in tensor t may stay out of Node::weights: float_weights_ is off and
  // t is a quantized tensor the integer view may hold (int_weights decides for good).
  bool int_only_weights(int t, const std::string& ctx);
  // Gives back the file pages of t's buffer (see MappedFile::release).
  void release(int t, const std::string& ctx);
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
  std::vector<std::vector<int>> node_tensors_; // per IR node: tensors bound to it
  std::set<int> softmax_beta_nodes_;           // ChannelAffine nodes that scale by beta
  int64_t weight_elements_ = 0, weight_budget_ = 0;
  bool quantized_ = false;
  bool background_set_ = false;
  bool int_ok_ = true;        // every operator so far has an integer form
  const bool float_weights_ = true;
  bool skipped_floats_ = false;  // some node holds its weights only in the integer view
  const MappedFile* file_ = nullptr;
  std::vector<bool> own_const_;  // per tensor: values_[t].data was made from t's buffer
  Graph g_;
};

}  // namespace mnv2::tflr
