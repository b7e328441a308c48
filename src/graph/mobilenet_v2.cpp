#include "graph/mobilenet_v2.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace mnv2 {

int make_divisible(double v, int divisor, int min_value) {
  int r = std::max(min_value, int(v + divisor / 2.0) / divisor * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

namespace {

// splitmix64: portable and reproducible across compilers (std distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // uniform in [-1, 1)
  double sym() { return double(next() >> 11) * (2.0 / 9007199254740992.0) - 1.0; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * (sym() + 1.0) * 0.5; }

 private:
  uint64_t s_;
};

struct Builder {
  Graph g;
  Rng rng;
  int cur = -1;

  explicit Builder(uint64_t seed) : rng(seed) {}

  // Uniform weights with standard deviation gain/sqrt(fan_in): keeps activations O(1)
  // through the network while letting ReLU6 clip the upper tail.
  void fill(std::vector<float>& w, size_t count, int fan_in, double gain) {
    const double a = std::sqrt(3.0) * gain / std::sqrt(double(fan_in));
    w.resize(count);
    for (auto& v : w) v = float(a * rng.sym());
  }
  void fill_bias(std::vector<float>& b, int count, double lo, double hi) {
    b.resize(size_t(count));
    for (auto& v : b) v = float(rng.uniform(lo, hi));
  }

  int conv(const std::string& name, int in, int cout, int k, int stride, Activation act,
           double gain) {
    const Shape x = g.node(in).shape;
    Node n;
    n.name = name;
    n.op = OpType::Conv2D;
    n.inputs = {in};
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    int oh, ow;
    same_padding(x.h, k, stride, &oh, &n.pad_top, &n.pad_bottom);
    same_padding(x.w, k, stride, &ow, &n.pad_left, &n.pad_right);
    n.out_channels = cout;
    n.activation = act;
    fill(n.weights, size_t(cout) * k * k * x.c, k * k * x.c, gain);
    if (act == Activation::None)
      fill_bias(n.bias, cout, -0.1, 0.1);
    else
      fill_bias(n.bias, cout, -0.2, 0.6);
    n.shape = {x.n, oh, ow, cout};
    return g.add(std::move(n));
  }

  int depthwise(const std::string& name, int in, int stride, double gain) {
    const Shape x = g.node(in).shape;
    Node n;
    n.name = name;
    n.op = OpType::DepthwiseConv2D;
    n.inputs = {in};
    n.kernel_h = n.kernel_w = 3;
    n.stride_h = n.stride_w = stride;
    int oh, ow;
    same_padding(x.h, 3, stride, &oh, &n.pad_top, &n.pad_bottom);
    same_padding(x.w, 3, stride, &ow, &n.pad_left, &n.pad_right);
    n.activation = Activation::Relu6;
    fill(n.weights, size_t(9) * x.c, 9, gain);
    fill_bias(n.bias, x.c, -0.2, 0.6);
    n.shape = {x.n, oh, ow, x.c};
    return g.add(std::move(n));
  }

  int add(const std::string& name, int a, int b) {
    Node n;
    n.name = name;
    n.op = OpType::Add;
    n.inputs = {a, b};
    n.shape = g.node(a).shape;
    return g.add(std::move(n));
  }
};

}  // namespace

Graph build_mobilenet_v2(float width_multiplier, int resolution, int num_classes, uint64_t seed) {
  if (!(width_multiplier > 0.f) || width_multiplier > 8.f)
    throw Error("width multiplier must be in (0, 8], got " + std::to_string(width_multiplier));
  if (resolution < 32 || resolution > 4096)
    throw Error("resolution must be in [32, 4096], got " + std::to_string(resolution));
  if (num_classes < 1 || num_classes > 65536)
    throw Error("class count must be in [1, 65536], got " + std::to_string(num_classes));

  Builder b(seed);
  Graph& g = b.g;
  auto depth = [&](int c) { return make_divisible(c * double(width_multiplier)); };

  char name[64];
  std::snprintf(name, sizeof name, "mobilenet_v2_%g_%d", double(width_multiplier), resolution);
  g.info.name = name;
  g.info.format = "synthetic";
  g.info.height = g.info.width = resolution;
  g.info.width_multiplier = width_multiplier;
  g.info.has_background = num_classes == 1001;

  Node input;
  input.name = "input";
  input.op = OpType::Input;
  input.shape = {1, resolution, resolution, 3};
  g.input = g.add(std::move(input));

  // Gains: ~1.6 on ReLU6 layers makes ReLU6 clip a few percent of activations, as in the
  // trained network; the linear projections use a smaller gain to keep residual sums bounded.
  constexpr double kReluGain = 1.6, kDwGain = 1.3, kProjectGain = 0.9;

  int x = b.conv("MobilenetV2/Conv", g.input, depth(32), 3, 2, Activation::Relu6, kReluGain);

  // expanded_conv: t = 1, no expansion layer
  x = b.depthwise("MobilenetV2/expanded_conv/depthwise", x, 1, kDwGain);
  x = b.conv("MobilenetV2/expanded_conv/project", x, depth(16), 1, 1, Activation::None,
             kProjectGain);

  struct Stage {
    int channels, repeats, stride;
  };
  const Stage stages[] = {{24, 2, 2}, {32, 3, 2}, {64, 4, 2}, {96, 3, 1},
                          {160, 3, 2}, {320, 1, 1}};
  int block = 1;
  for (const Stage& st : stages) {
    for (int r = 0; r < st.repeats; ++r, ++block) {
      const int stride = r == 0 ? st.stride : 1;
      const int cin = g.node(x).shape.c;
      const int cout = depth(st.channels);
      const int expanded = make_divisible(cin * 6.0);
      const std::string prefix = "MobilenetV2/expanded_conv_" + std::to_string(block);
      int y = b.conv(prefix + "/expand", x, expanded, 1, 1, Activation::Relu6, kReluGain);
      y = b.depthwise(prefix + "/depthwise", y, stride, kDwGain);
      y = b.conv(prefix + "/project", y, cout, 1, 1, Activation::None, kProjectGain);
      if (stride == 1 && cin == cout) y = b.add(prefix + "/add", y, x);
      x = y;
    }
  }

  // TF-slim keeps the last layer at 1280 for multipliers below 1 (finegrain mode).
  const int last = width_multiplier > 1.f ? depth(1280) : 1280;
  x = b.conv("MobilenetV2/Conv_1", x, last, 1, 1, Activation::Relu6, kReluGain);

  Node pool;
  pool.name = "MobilenetV2/Logits/AvgPool";
  pool.op = OpType::GlobalAvgPool;
  pool.inputs = {x};
  pool.shape = {1, 1, 1, last};
  g.features = g.add(std::move(pool));

  int logits = b.conv("MobilenetV2/Logits/Conv2d_1c_1x1", g.features, num_classes, 1, 1,
                      Activation::None, 2.5);

  Node squeeze;
  squeeze.name = "MobilenetV2/Logits/Squeeze";
  squeeze.op = OpType::Reshape;
  squeeze.inputs = {logits};
  g.logits = g.add(std::move(squeeze));

  Node softmax;
  softmax.name = "MobilenetV2/Predictions/Reshape_1";
  softmax.op = OpType::Softmax;
  softmax.inputs = {g.logits};
  g.output = g.add(std::move(softmax));

  g.finalize();
  return std::move(b.g);  // g is a reference: a plain return would copy every weight
}

}  // namespace mnv2
