// Times XNNPACK (Debian libxnnpack-dev, subgraph API) on one model, the way
// `mnv2 bench --json --samples` times mnv2, and optionally writes its first outputs.
//
//   xnnpack_bench MODEL INPUT.bin N H W C THREADS WARMUP ITERATIONS [PROBS_OUT.bin]
//
// The model file is read with mnv2's own loader (any format mnv2 reads) only to get the
// layer list and the weights; every layer is then defined as an XNNPACK subgraph node
// (NHWC convolutions with OHWI filters, depthwise with 1HWC filters, add, global average
// pooling, fully connected, softmax; fused ReLU/ReLU6 as output clamps) and XNNPACK
// plans, packs and runs it. INPUT.bin is NHWC float32, as `mnv2 bench --dump` writes it.
//
// A quantized model (mnv2's integer view: a quantized .tflite) runs on XNNPACK's QS8
// operators: the float input is converted to int8 with the input quantization, every
// activation is an int8 tensor (the IR's uint8 value minus 128, zero point minus 128),
// weights are int8 with per-channel (qcint8) or per-tensor scales and int32 biases; the
// logits are converted back to float for XNNPACK's float softmax. Weights must fit int8
// with zero point 0 (TFLite's int8 per-channel scheme, what `mnv2 quantize` writes).
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
  const bool q8 = g.quantized();
  std::vector<std::vector<int8_t>> q_weights;   // QS8 weights (kept alive)
  std::vector<std::vector<int32_t>> q_biases;   // and biases
  std::vector<std::vector<float>> q_scales;     // per-channel scales
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
  // QS8: an activation tensor with node id's quantization.
  auto qtensor = [&](std::vector<size_t> dims, int id, uint32_t ext, uint32_t flags) {
    const mnv2::QuantParams& qp = g.node(id).out_q;
    uint32_t vid_out = 0;
    check(xnn_define_quantized_tensor_value(sg, xnn_datatype_qint8, qp.zero_point - 128, qp.scale,
                                            dims.size(), dims.data(), nullptr, ext, flags, &vid_out),
          "xnn_define_quantized_tensor_value");
    return vid_out;
  };
  // QS8 weights of node nd (dims as XNNPACK wants them, channel axis cdim) and its bias.
  auto qweights = [&](const mnv2::Node& nd, std::vector<size_t> dims, size_t cdim, int in_id,
                      uint32_t* f, uint32_t* b) {
    std::vector<int8_t> w(nd.qweights.size());
    for (size_t i = 0; i < w.size(); ++i) {
      if (nd.qweights[i] < -128 || nd.qweights[i] > 127) {
        std::fprintf(stderr, "xnnpack_bench: weights of %s do not fit int8 (QS8 needs zero point 0)\n",
                     nd.name.c_str());
        std::exit(1);
      }
      w[i] = int8_t(nd.qweights[i]);
    }
    q_weights.push_back(std::move(w));
    const size_t cout = dims[cdim];
    q_biases.emplace_back(nd.qbias.empty() ? std::vector<int32_t>(cout, 0) : nd.qbias);
    const float in_scale = g.node(in_id).out_q.scale;
    if (nd.qweight_scales.size() == 1) {
      check(xnn_define_quantized_tensor_value(sg, xnn_datatype_qint8, 0, nd.qweight_scales[0],
                                              dims.size(), dims.data(), q_weights.back().data(),
                                              XNN_INVALID_VALUE_ID, 0, f),
            "weights " + nd.name);
      check(xnn_define_quantized_tensor_value(sg, xnn_datatype_qint32, 0,
                                              in_scale * nd.qweight_scales[0], 1, &cout,
                                              q_biases.back().data(), XNN_INVALID_VALUE_ID, 0, b),
            "bias " + nd.name);
      return;
    }
    q_scales.push_back(nd.qweight_scales);
    check(xnn_define_channelwise_quantized_tensor_value(sg, xnn_datatype_qcint8, q_scales.back().data(),
                                                        dims.size(), cdim, dims.data(),
                                                        q_weights.back().data(), XNN_INVALID_VALUE_ID,
                                                        0, f),
          "weights " + nd.name);
    std::vector<float> bs(nd.qweight_scales);
    for (float& v : bs) v *= in_scale;
    q_scales.push_back(std::move(bs));
    check(xnn_define_channelwise_quantized_tensor_value(sg, xnn_datatype_qcint32, q_scales.back().data(),
                                                        1, 0, &cout, q_biases.back().data(),
                                                        XNN_INVALID_VALUE_ID, 0, b),
          "bias " + nd.name);
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
      if (q8) {  // float input -> int8 with the input quantization
        const uint32_t qx = qtensor(dims4(nd.shape), int(i), XNN_INVALID_VALUE_ID, 0);
        check(xnn_define_convert(sg, vid[i], qx, 0), "input convert");
        vid[i] = qx;
      }
      continue;
    }
    if (q8 && nd.op == mnv2::OpType::Softmax) {  // int8 logits -> float -> float softmax
      const uint32_t fx = tensor(dims4(g.node(nd.inputs.at(0)).shape), nullptr, XNN_INVALID_VALUE_ID, 0);
      check(xnn_define_convert(sg, vid[size_t(nd.inputs[0])], fx, 0), "logits convert");
      const uint32_t out = tensor(dims4(nd.shape), nullptr, is_out ? 1 : XNN_INVALID_VALUE_ID,
                                  is_out ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : 0);
      check(xnn_define_softmax(sg, fx, out, 0), "softmax " + nd.name);
      vid[i] = out;
      continue;
    }
    if (q8 && is_out) {
      std::fprintf(stderr, "xnnpack_bench: a quantized model must end in a softmax\n");
      return 1;
    }
    const uint32_t out = q8 ? qtensor(dims4(nd.shape), int(i), XNN_INVALID_VALUE_ID, 0)
                            : tensor(dims4(nd.shape), nullptr, is_out ? 1 : XNN_INVALID_VALUE_ID,
                                     is_out ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : 0);
    vid[i] = out;
    const uint32_t x = vid[size_t(nd.inputs.at(0))];
    const mnv2::Shape& xs = g.node(nd.inputs[0]).shape;
    float lo = -inf, hi = inf;
    if (nd.activation == mnv2::Activation::Relu) lo = 0.f;
    if (nd.activation == mnv2::Activation::Relu6) lo = 0.f, hi = 6.f;
    switch (nd.op) {
      case mnv2::OpType::Conv2D: {
        uint32_t f = 0, b = 0;
        if (q8) {
          qweights(nd, {size_t(nd.out_channels), size_t(nd.kernel_h), size_t(nd.kernel_w), size_t(xs.c)},
                   0, nd.inputs[0], &f, &b);
          check(xnn_define_convolution_2d(sg, nd.pad_top, nd.pad_right, nd.pad_bottom, nd.pad_left,
                                          nd.kernel_h, nd.kernel_w, nd.stride_h, nd.stride_w, 1, 1,
                                          1, size_t(xs.c), size_t(nd.out_channels), lo, hi, x, f, b,
                                          out, 0),
                "convolution " + nd.name);
          break;
        }
        f = tensor({size_t(nd.out_channels), size_t(nd.kernel_h),
                                   size_t(nd.kernel_w), size_t(xs.c)},
                                  nd.weights.data(), XNN_INVALID_VALUE_ID, 0);
        b = tensor({size_t(nd.out_channels)}, bias_of(nd, size_t(nd.out_channels)),
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
        uint32_t f = 0, b = 0;
        if (q8) {
          qweights(nd, {1, size_t(nd.kernel_h), size_t(nd.kernel_w), co}, 3, nd.inputs[0], &f, &b);
        } else {
          f = tensor({1, size_t(nd.kernel_h), size_t(nd.kernel_w), co}, nd.weights.data(),
                     XNN_INVALID_VALUE_ID, 0);
          b = tensor({co}, bias_of(nd, co), XNN_INVALID_VALUE_ID, 0);
        }
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
        uint32_t f = 0, b = 0;
        if (q8) {
          qweights(nd, {size_t(nd.out_channels), size_t(xs.c)}, 0, nd.inputs[0], &f, &b);
        } else {
          f = tensor({size_t(nd.out_channels), size_t(xs.c)}, nd.weights.data(), XNN_INVALID_VALUE_ID, 0);
          b = tensor({size_t(nd.out_channels)}, bias_of(nd, size_t(nd.out_channels)),
                     XNN_INVALID_VALUE_ID, 0);
        }
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
