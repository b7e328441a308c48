// The fast int8 executor. The graph is turned into a list of steps once: GEMM weights
// (1x1 convolutions, the im2col'd first convolution, the classifier) and 3x3 depthwise
// weights are packed for the chosen integer kernel table with the input zero point and the
// requantization folded in; activations are uint8 values placed in one arena planned from
// their lifetimes; every step runs as a grid of work items on the thread pool.
//
// Rounding (ExecutorOptions::int8_rounding): Tflite packs TFLite's fixed-point multipliers
// and shifts and runs TFLite's ADD; Xnnpack packs the float scales of XNNPACK's output stage
// (QRequant::scale) and runs its ADD (add_xnn). Both take their parameters from
// prepare_qparams, as qreference_run does in the matching QRequantMode.
//
// Determinism: the integer kernels are exact, each output element is written by exactly one
// work item and depends only on its own inputs, so results are bit-identical for every
// thread count, work split and ISA, and equal qreference_run in the matching mode.
#include "runtime/qexecutor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/qkernels.h"
#include "runtime/arena.h"
#include "runtime/qreference.h"
#include "runtime/thread_pool.h"

namespace mnv2 {

namespace {

enum class QStepKind { Input, Gemm, Im2colGemm, Dw3x3, DwGeneric, Add, Pool, Mean, Softmax, Copy };

constexpr int64_t kElementwiseChunk = 64 * 1024;
// Rows of one GEMM work item: a block of activation rows that stays in L1/L2 while the
// weight panels stream past it.
constexpr int kGemmRows = 48;
constexpr int kTargetItems = 12;

// A 64-byte aligned byte blob (AlignedBuffer counts floats).
struct Blob {
  AlignedBuffer buf;
  void alloc(int64_t bytes) {
    buf = AlignedBuffer(size_t((bytes + 3) / 4) + 16);
    std::memset(buf.data(), 0, buf.size() * sizeof(float));
  }
  uint8_t* data() const { return reinterpret_cast<uint8_t*>(buf.data()); }
};

struct QStep {
  QStepKind kind = QStepKind::Copy;
  int node = -1;
  int in = -1, in2 = -1;  // node ids of the inputs
  Shape xs, ys;           // per-image shapes (n = 1)
  // GEMM family
  const kernels::QGemmKernel* gk = nullptr;
  int k = 0, cout = 0;
  Blob packed;
  // Depthwise
  kernels::QDwGeneric dwg;  // geometry (and, for DwGeneric, weights and requantization)
  std::vector<int32_t> mult, shift;
  std::vector<float> scale;  // Xnnpack rounding: the float requantization scales
  // Pool
  kernels::QPool pool;
  // Work grid (set per batch)
  int items = 0;
  int64_t m = 0;          // GEMM rows
  int row_chunk = 0;      // rows per item
  int col_groups = 1, panels_per_group = 0;
};

class QExecutor final : public Executor {
 public:
  QExecutor(const Graph& graph, const ExecutorOptions& o)
      : g_(graph),
        kt_(kernels::qtable(o.isa)),
        pool_(o.threads),
        xnn_(o.int8_rounding == Int8Rounding::Xnnpack) {
    g_.infer_shapes(1);
    params_ = prepare_qparams(g_, xnn_ ? QRequantMode::Xnnpack : QRequantMode::Tflite);
    build_steps();
    plan(std::max(1, o.max_batch));
    const char* prof = std::getenv("MNV2_PROFILE");
    profile_ = prof && *prof && std::string(prof) != "0";
    step_ms_.assign(steps_.size(), 0.0);
  }

  // MNV2_PROFILE=1: time per step kind over the executor's life, printed on destruction.
  ~QExecutor() override {
    if (!profile_ || images_ == 0) return;
    static const char* kNames[] = {"input", "gemm 1x1/fc", "im2col+gemm", "dw3x3", "dw generic",
                                   "add", "avg pool", "mean", "softmax", "copy"};
    double by_kind[10] = {}, total = 0;
    for (size_t i = 0; i < steps_.size(); ++i) {
      by_kind[int(steps_[i].kind)] += step_ms_[i];
      total += step_ms_[i];
    }
    std::fprintf(stderr, "int8 profile (%lld images, ms per image):\n", (long long)images_);
    for (int k = 0; k < 10; ++k)
      if (by_kind[k] > 0)
        std::fprintf(stderr, "  %-12s %8.3f  %5.1f %%\n", kNames[k], by_kind[k] / double(images_),
                     100.0 * by_kind[k] / total);
    std::fprintf(stderr, "  %-12s %8.3f\n", "total", total / double(images_));
  }

  void run(const float* input, int batch, float* output, float* logits,
           float* features) override {
    if (batch < 1) throw Error("run: batch must be >= 1");
    if (batch > planned_batch_) plan(batch);
    const QuantParams iq = g_.node(g_.input).out_q;
    for (size_t si = 0; si < steps_.size(); ++si) {
      QStep& s = steps_[si];
      set_grid(s, batch);
      const auto t0 = profile_ ? std::chrono::steady_clock::now()
                               : std::chrono::steady_clock::time_point{};
      if (s.kind == QStepKind::Input) {
        uint8_t* y = val(s.node);
        const int64_t n = s.ys.per_image() * batch;
        const int chunks = int((n + kElementwiseChunk - 1) / kElementwiseChunk);
        pool_.parallel_for(chunks, [&](int item, int) {
          const int64_t b = int64_t(item) * kElementwiseChunk;
          quantize_input(iq, input + b, y + b, std::min(kElementwiseChunk, n - b));
        });
      } else {
        pool_.parallel_for(s.items,
                           [&](int item, int worker) { run_item(s, batch, item, worker); });
      }
      if (profile_)
        step_ms_[si] += std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0).count();
    }
    images_ += batch;
    auto copy = [&](int id, float* dst) {
      if (!dst || id < 0) return;
      const QuantParams q = g_.node(id).out_q;
      const uint8_t* v = val(id);
      const int64_t n = g_.node(id).shape.per_image() * batch;
      for (int64_t i = 0; i < n; ++i) dst[i] = dequantize(q, v[i]);
    };
    copy(g_.output, output);
    copy(g_.logits, logits);
    copy(g_.features, features);
  }

 private:
  uint8_t* val(int node) const { return arena_.data() + offset_[size_t(node)]; }

  void build_steps() {
    for (int id = 0; id < int(g_.nodes.size()); ++id) {
      const Node& n = g_.node(id);
      const QNodeParams& p = params_[size_t(id)];
      QStep s;
      s.node = id;
      s.in = n.inputs.empty() ? -1 : n.inputs[0];
      s.in2 = n.inputs.size() > 1 ? n.inputs[1] : -1;
      s.ys = n.shape;
      s.ys.n = 1;
      if (s.in >= 0) {
        s.xs = g_.node(s.in).shape;
        s.xs.n = 1;
      }
      switch (n.op) {
        case OpType::Input:
          s.kind = QStepKind::Input;
          break;
        case OpType::Conv2D:
        case OpType::FullyConnected: {
          const bool pointwise =
              n.op == OpType::FullyConnected ||
              (n.kernel_h == 1 && n.kernel_w == 1 && n.stride_h == 1 && n.stride_w == 1 &&
               n.pad_top == 0 && n.pad_bottom == 0 && n.pad_left == 0 && n.pad_right == 0);
          s.kind = pointwise ? QStepKind::Gemm : QStepKind::Im2colGemm;
          s.cout = s.ys.c;
          s.k = n.op == OpType::FullyConnected ? int(s.xs.per_image())
                                               : n.kernel_h * n.kernel_w * s.xs.c;
          pack_gemm(s, n, p);
          break;
        }
        case OpType::DepthwiseConv2D: {
          kernels::QDwGeneric& d = s.dwg;
          d.ih = s.xs.h, d.iw = s.xs.w, d.c = s.xs.c;
          d.oh = s.ys.h, d.ow = s.ys.w;
          d.kh = n.kernel_h, d.kw = n.kernel_w, d.sh = n.stride_h, d.sw = n.stride_w;
          d.pad_top = n.pad_top, d.pad_left = n.pad_left;
          d.depth_mult = n.depth_multiplier;
          const kernels::QRequant rq = requant(s, p);
          if (n.kernel_h == 3 && n.kernel_w == 3 && n.depth_multiplier == 1 && kt_.dw3x3_row) {
            s.kind = QStepKind::Dw3x3;
            s.packed.alloc(kernels::qdw3x3_packed_bytes(d.c));
            kernels::qdw3x3_pack(n.qweights.data(), d.c, n.qbias.empty() ? nullptr : n.qbias.data(),
                                 p.zp_in, rq, s.packed.data());
          } else {
            s.kind = QStepKind::DwGeneric;
            d.w = n.qweights.data();
            d.bias = n.qbias.empty() ? nullptr : n.qbias.data();
            d.in_zp = p.zp_in;
            d.rq = rq;
          }
          break;
        }
        case OpType::Add:
          s.kind = QStepKind::Add;
          break;
        case OpType::GlobalAvgPool:
          // AVERAGE_POOL_2D on the kernel table; MEAN (requantizing, in float) shared with
          // the reference.
          s.kind = p.pool_same_q ? QStepKind::Pool : QStepKind::Mean;
          s.pool.divide = true;  // sums of raw uint8 values are >= 0: (sum + n/2) / n
          s.pool.qmin = 0;
          s.pool.qmax = 255;
          break;
        case OpType::Softmax:
          s.kind = QStepKind::Softmax;
          break;
        case OpType::Reshape:
          s.kind = QStepKind::Copy;
          break;
        case OpType::ChannelAffine:
          throw Error("int8: node '" + n.name + "' (ChannelAffine) has no integer form");
      }
      steps_.push_back(std::move(s));
    }
  }

  // The per-channel output stage of a conv / FC step in this executor's rounding mode; its
  // arrays live in the step.
  kernels::QRequant requant(QStep& s, const QNodeParams& p) const {
    kernels::QRequant rq;
    rq.per_channel = true;
    rq.out_zp = p.zp_out;
    rq.qmin = p.lo;
    rq.qmax = p.hi;
    if (xnn_) {
      s.scale = p.xnn_scale;
      rq.scale = s.scale.data();
    } else {
      s.mult = p.mult;
      s.shift = p.shift;
      rq.mult = s.mult.data();
      rq.shift = s.shift.data();
    }
    return rq;
  }

  void pack_gemm(QStep& s, const Node& n, const QNodeParams& p) {
    const bool fit8 = kt_.gemm8.available() &&
                      kernels::qweights_fit_int8(n.qweights.data(), int64_t(n.qweights.size()));
    s.gk = fit8 ? &kt_.gemm8 : &kt_.gemm16;
    const kernels::QRequant rq = requant(s, p);
    s.packed.alloc(s.gk->packed_bytes(s.cout, s.k));
    kernels::qgemm_pack(*s.gk, n.qweights.data(), s.k, s.cout, s.k,
                        n.qbias.empty() ? nullptr : n.qbias.data(), p.zp_in, rq, s.packed.data());
  }

  // Work grid of a step for `batch` images. Any grid gives the same results.
  void set_grid(QStep& s, int batch) {
    switch (s.kind) {
      case QStepKind::Input:
        s.items = 0;
        break;
      case QStepKind::Gemm: {
        s.m = int64_t(s.ys.h) * s.ys.w * batch;
        // Near-equal row chunks of about kGemmRows rows, a multiple of the register tile.
        const int mr = std::max(1, s.gk->mr);
        const int64_t chunks = (s.m + kGemmRows - 1) / kGemmRows;
        const int64_t rows = (s.m + chunks - 1) / chunks;
        s.row_chunk = int((rows + mr - 1) / mr * mr);
        const int row_chunks = int((s.m + s.row_chunk - 1) / s.row_chunk);
        const int panels = (s.cout + s.gk->nr - 1) / s.gk->nr;
        s.col_groups = std::clamp((kTargetItems + row_chunks - 1) / row_chunks, 1, panels);
        s.panels_per_group = (panels + s.col_groups - 1) / s.col_groups;
        s.col_groups = (panels + s.panels_per_group - 1) / s.panels_per_group;
        s.items = row_chunks * s.col_groups;
        break;
      }
      case QStepKind::Im2colGemm:
      case QStepKind::Dw3x3:
      case QStepKind::DwGeneric:
        s.items = s.ys.h * batch;  // one output row of one image
        break;
      case QStepKind::Add:
        s.items = int((s.ys.per_image() * batch + kElementwiseChunk - 1) / kElementwiseChunk);
        break;
      case QStepKind::Pool:
      case QStepKind::Mean:
      case QStepKind::Softmax:
      case QStepKind::Copy:
        s.items = batch;
        break;
    }
  }

  void run_item(const QStep& s, int batch, int item, int worker) {
    switch (s.kind) {
      case QStepKind::Input:
        break;
      case QStepKind::Gemm: {
        const int rc = item / s.col_groups, cg = item % s.col_groups;
        const int64_t r0 = int64_t(rc) * s.row_chunk;
        const int n0 = cg * s.panels_per_group * s.gk->nr;
        kernels::QGemm gm;
        gm.m = int(std::min<int64_t>(s.row_chunk, s.m - r0));
        gm.n = std::min(s.cout - n0, s.panels_per_group * s.gk->nr);
        gm.k = s.k;
        gm.lda = s.k;
        gm.a = val(s.in) + r0 * s.k;
        gm.b = s.packed.data() + int64_t(n0 / s.gk->nr) * s.gk->panel_bytes(s.k);
        gm.ldc = s.cout;
        gm.c = val(s.node) + r0 * s.cout + n0;
        s.gk->run(gm);
        break;
      }
      case QStepKind::Im2colGemm: {
        const Node& n = g_.node(s.node);
        const int b = item / s.ys.h, oy = item % s.ys.h;
        std::vector<uint8_t>& scratch = scratch_[size_t(worker)];
        const size_t need = size_t(s.ys.w) * size_t(s.k);
        if (scratch.size() < need) scratch.resize(need);
        kernels::im2col_row_u8(val(s.in) + int64_t(b) * s.xs.per_image(), s.xs.h, s.xs.w, s.xs.c,
                               n.kernel_h, n.kernel_w, n.stride_h, n.stride_w, n.pad_top,
                               n.pad_left, s.ys.w, oy, uint8_t(params_[size_t(s.node)].zp_in),
                               scratch.data());
        kernels::QGemm gm;
        gm.m = s.ys.w;
        gm.n = s.cout;
        gm.k = s.k;
        gm.lda = s.k;
        gm.a = scratch.data();
        gm.b = s.packed.data();
        gm.ldc = s.cout;
        gm.c = val(s.node) + int64_t(b) * s.ys.per_image() + int64_t(oy) * s.ys.w * s.cout;
        s.gk->run(gm);
        break;
      }
      case QStepKind::Dw3x3: {
        const int b = item / s.ys.h, oy = item % s.ys.h;
        kernels::QDw d;
        d.in = val(s.in) + int64_t(b) * s.xs.per_image();
        d.ih = s.xs.h, d.iw = s.xs.w, d.c = s.xs.c;
        d.out = val(s.node) + int64_t(b) * s.ys.per_image();
        d.oh = s.ys.h, d.ow = s.ys.w;
        d.sh = s.dwg.sh, d.sw = s.dwg.sw, d.pad_top = s.dwg.pad_top, d.pad_left = s.dwg.pad_left;
        d.w = s.packed.data();
        kt_.dw3x3_row(d, oy);
        break;
      }
      case QStepKind::DwGeneric: {
        const int b = item / s.ys.h, oy = item % s.ys.h;
        kernels::QDwGeneric d = s.dwg;
        d.in = val(s.in) + int64_t(b) * s.xs.per_image();
        d.out = val(s.node) + int64_t(b) * s.ys.per_image();
        kernels::qdw_generic_row(d, oy);
        break;
      }
      case QStepKind::Add: {
        const int64_t n = s.ys.per_image() * batch;
        const int64_t b = int64_t(item) * kElementwiseChunk;
        const int64_t len = std::min(kElementwiseChunk, n - b);
        if (xnn_)
          kt_.add_xnn(val(s.in) + b, val(s.in2) + b, val(s.node) + b, len,
                      params_[size_t(s.node)].xnn_add);
        else
          kt_.add(val(s.in) + b, val(s.in2) + b, val(s.node) + b, len,
                  params_[size_t(s.node)].add);
        break;
      }
      case QStepKind::Pool:
        kt_.pool(val(s.in) + int64_t(item) * s.xs.per_image(), val(s.node) + int64_t(item) * s.ys.c,
                 s.xs.h * s.xs.w, s.xs.c, s.pool);
        break;
      case QStepKind::Mean:
        qmean_image(params_[size_t(s.node)], val(s.in) + int64_t(item) * s.xs.per_image(),
                    val(s.node) + int64_t(item) * s.ys.c, s.xs.h * s.xs.w, s.xs.c);
        break;
      case QStepKind::Softmax:
        qsoftmax_row(params_[size_t(s.node)], val(s.in) + int64_t(item) * s.ys.c,
                     val(s.node) + int64_t(item) * s.ys.c, s.ys.c);
        break;
      case QStepKind::Copy:
        std::memcpy(val(s.node) + int64_t(item) * s.ys.per_image(),
                    val(s.in) + int64_t(item) * s.ys.per_image(), size_t(s.ys.per_image()));
        break;
    }
  }

  // Places every value for `batch` images: a value lives from its step to its last
  // reader; the outputs the caller reads stay alive to the end.
  void plan(int batch) {
    const int count = int(g_.nodes.size());
    std::vector<int> last(static_cast<size_t>(count));
    for (int id = 0; id < count; ++id) last[size_t(id)] = id;
    for (int id = 0; id < count; ++id)
      for (int in : g_.node(id).inputs) last[size_t(in)] = std::max(last[size_t(in)], id);
    for (int keep : {g_.output, g_.logits, g_.features})
      if (keep >= 0) last[size_t(keep)] = count;
    std::vector<ArenaRequest> req(static_cast<size_t>(count));
    for (int id = 0; id < count; ++id) {
      req[size_t(id)].bytes = g_.node(id).shape.per_image() * batch;
      req[size_t(id)].first = id;
      req[size_t(id)].last = last[size_t(id)];
    }
    const int64_t bytes = plan_arena(req, &offset_);
    arena_.alloc(bytes);
    planned_batch_ = batch;
    scratch_.assign(size_t(pool_.threads()), {});
  }

  Graph g_;
  const kernels::QKernelTable& kt_;
  ThreadPool pool_;
  bool xnn_ = false;  // Int8Rounding::Xnnpack
  std::vector<QNodeParams> params_;
  std::vector<QStep> steps_;
  std::vector<int64_t> offset_;
  Blob arena_;
  int planned_batch_ = 0;
  std::vector<std::vector<uint8_t>> scratch_;  // per worker: im2col rows
  bool profile_ = false;
  std::vector<double> step_ms_;
  int64_t images_ = 0;
};

}  // namespace

std::unique_ptr<Executor> make_int8_executor(const Graph& graph, const ExecutorOptions& options) {
  if (!graph.quantized())
    throw Error("int8 precision needs a quantized model (a quantized .tflite file or one written "
                "by `mnv2 quantize`); this model has float weights");
  return std::make_unique<QExecutor>(graph, options);
}

}  // namespace mnv2
