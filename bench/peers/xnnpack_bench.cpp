// Times XNNPACK (Debian libxnnpack-dev, subgraph API, fp32) on one model, the way
// `mnv2 bench --json --samples` times mnv2, and optionally writes its first outputs.
//
//   xnnpack_bench MODEL INPUT.bin N H W C THREADS WARMUP ITERATIONS [PROBS_OUT.bin]
//
// The model file is read with mnv2's own loader (any format mnv2 reads) only to get the
// layer list and the weights; every layer is then defined as an XNNPACK subgraph node
// (NHWC convolutions with OHWI filters, depthwise with 1HWC filters, add, global average
// pooling, fully connected, softmax; fused ReLU/ReLU6 as output clamps) and XNNPACK
// plans, packs and runs it. INPUT.bin is NHWC float32, as `mnv2 bench --dump` writes it.
// Built by bench/peers/run.sh against the mnv2 static library; not part of the mnv2 build.
#include <xnnpack.h>
#include <pthreadpool.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "formats/loader.h"
#include "graph/graph.h"

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void check(xnn_status s, const std::string& what) {
  if (s != xnn_status_success) {
    std::fprintf(stderr, "xnnpack_bench: %s failed (status %d)\n", what.c_str(), int(s));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 10) {
    std::fprintf(stderr,
                 "usage: xnnpack_bench MODEL INPUT.bin N H W C THREADS WARMUP ITERATIONS "
                 "[PROBS_OUT.bin]\n");
    return 2;
  }
  const std::string model = argv[1], input_path = argv[2];
  const int n = std::atoi(argv[3]), h = std::atoi(argv[4]), w = std::atoi(argv[5]),
            c = std::atoi(argv[6]), threads = std::atoi(argv[7]), warmup = std::atoi(argv[8]),
            iterations = std::atoi(argv[9]);
  const char* probs_out = argc > 10 ? argv[10] : nullptr;
  std::vector<float> input(size_t(n) * h * w * c);
  {
    std::ifstream f(input_path, std::ios::binary);
    f.read(reinterpret_cast<char*>(input.data()), std::streamsize(input.size() * sizeof(float)));
    if (!f || f.peek() != EOF) {
      std::fprintf(stderr, "xnnpack_bench: %s is not %zu floats\n", input_path.c_str(),
                   input.size());
      return 1;
    }
  }

  double t0 = now_ms();
  mnv2::Graph g;
  try {
    g = mnv2::load_graph(model);
    g.infer_shapes(n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xnnpack_bench: %s\n", e.what());
    return 1;
  }
  const mnv2::Shape in_shape = g.node(g.input).shape;
  if (in_shape.h != h || in_shape.w != w || in_shape.c != c) {
    std::fprintf(stderr, "xnnpack_bench: model input is %dx%dx%d, not %dx%dx%d\n", in_shape.h,
                 in_shape.w, in_shape.c, h, w, c);
    return 1;
  }
  check(xnn_initialize(nullptr), "xnn_initialize");
  xnn_subgraph_t sg = nullptr;
  check(xnn_create_subgraph(2, 0, &sg), "xnn_create_subgraph");
  int out_root = g.output;
  while (g.node(out_root).op == mnv2::OpType::Reshape) out_root = g.node(out_root).inputs[0];

  const float inf = std::numeric_limits<float>::infinity();
  std::vector<uint32_t> vid(g.nodes.size(), XNN_INVALID_VALUE_ID);
  std::vector<std::vector<float>> zero_bias;  // for layers without bias (kept alive)
  auto dims4 = [](const mnv2::Shape& s) {
    return std::vector<size_t>{size_t(s.n), size_t(s.h), size_t(s.w), size_t(s.c)};
  };
  auto tensor = [&](std::vector<size_t> dims, const float* data, uint32_t ext, uint32_t flags) {
    uint32_t id = 0;
    check(xnn_define_tensor_value(sg, xnn_datatype_fp32, dims.size(), dims.data(), data, ext,
                                  flags, &id),
          "xnn_define_tensor_value");
    return id;
  };
  auto bias_of = [&](const mnv2::Node& nd, size_t count) -> const float* {
    if (!nd.bias.empty()) return nd.bias.data();
    zero_bias.emplace_back(count, 0.f);
    return zero_bias.back().data();
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const mnv2::Node& nd = g.nodes[i];
    if (nd.op == mnv2::OpType::Reshape) {
      const mnv2::Shape& a = g.node(nd.inputs[0]).shape;
      if (a.per_image() != nd.shape.per_image() || nd.shape.h != 1 || nd.shape.w != 1 ||
          (a.h != 1 || a.w != 1)) {
        std::fprintf(stderr, "xnnpack_bench: only [N,1,1,C] reshapes are supported\n");
        return 1;
      }
      vid[i] = vid[size_t(nd.inputs[0])];
      continue;
    }
    const bool is_out = int(i) == out_root;
    if (nd.op == mnv2::OpType::Input) {
      vid[i] = tensor(dims4(nd.shape), nullptr, 0, XNN_VALUE_FLAG_EXTERNAL_INPUT);
      continue;
    }
    const uint32_t out = tensor(dims4(nd.shape), nullptr, is_out ? 1 : XNN_INVALID_VALUE_ID,
                                is_out ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : 0);
    vid[i] = out;
    const uint32_t x = vid[size_t(nd.inputs.at(0))];
    const mnv2::Shape& xs = g.node(nd.inputs[0]).shape;
    float lo = -inf, hi = inf;
    if (nd.activation == mnv2::Activation::Relu) lo = 0.f;
    if (nd.activation == mnv2::Activation::Relu6) lo = 0.f, hi = 6.f;
    switch (nd.op) {
      case mnv2::OpType::Conv2D: {
        const uint32_t f = tensor({size_t(nd.out_channels), size_t(nd.kernel_h),
                                   size_t(nd.kernel_w), size_t(xs.c)},
                                  nd.weights.data(), XNN_INVALID_VALUE_ID, 0);
        const uint32_t b = tensor({size_t(nd.out_channels)}, bias_of(nd, size_t(nd.out_channels)),
                                  XNN_INVALID_VALUE_ID, 0);
        check(xnn_define_convolution_2d(sg, nd.pad_top, nd.pad_right, nd.pad_bottom, nd.pad_left,
                                        nd.kernel_h, nd.kernel_w, nd.stride_h, nd.stride_w, 1, 1,
                                        1, size_t(xs.c), size_t(nd.out_channels), lo, hi, x, f, b,
                                        out, 0),
              "convolution " + nd.name);
        break;
      }
      case mnv2::OpType::DepthwiseConv2D: {
        const size_t co = size_t(xs.c) * size_t(nd.depth_multiplier);
        const uint32_t f = tensor({1, size_t(nd.kernel_h), size_t(nd.kernel_w), co},
                                  nd.weights.data(), XNN_INVALID_VALUE_ID, 0);
        const uint32_t b = tensor({co}, bias_of(nd, co), XNN_INVALID_VALUE_ID, 0);
        check(xnn_define_depthwise_convolution_2d(
                  sg, nd.pad_top, nd.pad_right, nd.pad_bottom, nd.pad_left, nd.kernel_h,
                  nd.kernel_w, nd.stride_h, nd.stride_w, 1, 1, nd.depth_multiplier, size_t(xs.c),
                  lo, hi, x, f, b, out, 0),
              "depthwise " + nd.name);
        break;
      }
      case mnv2::OpType::Add:
        check(xnn_define_add2(sg, lo, hi, x, vid[size_t(nd.inputs.at(1))], out, 0),
              "add " + nd.name);
        break;
      case mnv2::OpType::GlobalAvgPool:
        check(xnn_define_global_average_pooling_2d(sg, lo, hi, x, out, 0), "pool " + nd.name);
        break;
      case mnv2::OpType::FullyConnected: {
        if (xs.h != 1 || xs.w != 1) {
          std::fprintf(stderr, "xnnpack_bench: fully connected on a spatial input\n");
          return 1;
        }
        const uint32_t f = tensor({size_t(nd.out_channels), size_t(xs.c)}, nd.weights.data(),
                                  XNN_INVALID_VALUE_ID, 0);
        const uint32_t b = tensor({size_t(nd.out_channels)}, bias_of(nd, size_t(nd.out_channels)),
                                  XNN_INVALID_VALUE_ID, 0);
        check(xnn_define_fully_connected(sg, lo, hi, x, f, b, out, 0), "fc " + nd.name);
        break;
      }
      case mnv2::OpType::Softmax:
        check(xnn_define_softmax(sg, x, out, 0), "softmax " + nd.name);
        break;
      default:
        std::fprintf(stderr, "xnnpack_bench: op %s is not mapped\n", mnv2::op_name(nd.op));
        return 1;
    }
  }
  pthreadpool_t pool = threads > 1 ? pthreadpool_create(size_t(threads)) : nullptr;
  xnn_runtime_t rt = nullptr;
  check(xnn_create_runtime_v2(sg, pool, 0, &rt), "xnn_create_runtime_v2");
  std::vector<float> probs(size_t(g.node(out_root).shape.elements()));
  const xnn_external_value ext[2] = {{0, input.data()}, {1, probs.data()}};
  check(xnn_setup_runtime(rt, 2, ext), "xnn_setup_runtime");
  const double load_ms = now_ms() - t0;

  t0 = now_ms();
  check(xnn_invoke_runtime(rt), "xnn_invoke_runtime");
  const double first_ms = now_ms() - t0;
  if (probs_out) {
    std::FILE* f = std::fopen(probs_out, "wb");
    if (!f || std::fwrite(probs.data(), sizeof(float), probs.size(), f) != probs.size()) {
      std::fprintf(stderr, "xnnpack_bench: cannot write %s\n", probs_out);
      return 1;
    }
    std::fclose(f);
  }
  for (int i = 0; i < warmup; ++i) check(xnn_invoke_runtime(rt), "xnn_invoke_runtime");
  std::string samples;
  char buf[32];
  for (int i = 0; i < iterations; ++i) {
    const double ti = now_ms();
    check(xnn_invoke_runtime(rt), "xnn_invoke_runtime");
    std::snprintf(buf, sizeof buf, "%s%.4f", i ? "," : "", now_ms() - ti);
    samples += buf;
  }
  std::printf("{\"engine\":\"xnnpack\",\"threads\":%d,\"batch\":%d,\"load_ms\":%.3f,"
              "\"first_inference_ms\":%.3f,\"samples_ms\":[%s]}\n",
              threads, n, load_ms, first_ms, samples.c_str());
  xnn_delete_runtime(rt);
  xnn_delete_subgraph(sg);
  if (pool) pthreadpool_destroy(pool);
  return 0;
}
