// The int8 executor: the shared plan (runtime/plan.h) run by PlanRunner over uint8
// activations with the integer kernel table of the chosen ISA. GEMM weights (1x1
// convolutions, the im2col'd convolutions, the classifier) and 3x3 depthwise weights are
// packed once with the input zero point and the requantization folded in.
//
// Rounding (ExecutorOptions::int8_rounding): Tflite quantizes the input as TFLite's
// AffineQuantize, packs TFLite's fixed-point multipliers and shifts and runs TFLite's ADD;
// Xnnpack quantizes the input as XNNPACK's QUANTIZE (quantize_input_xnn), packs the float scales of XNNPACK's output stage
// (QRequant::scale) and runs its ADD (add_xnn) where TFLite's XNNPACK delegate would
// (QNodeParams::xnn_add_on), TFLite's elsewhere. Both take their parameters from
// prepare_qparams, as qreference_run does in the matching QRequantMode.
//
// A 1x1 projection with a fused residual (PlanStep::add_node) requantizes its rows and then
// runs the quantized ADD on them in place, while they are still in cache: the same two
// integer operations as the separate layers, so the same bits. A convolution reading the
// graph input quantizes the input rows it needs itself (input quantization fused into the
// first convolution); quantization is per element, so the bits do not change either (the
// table's quantize is the reference's loop compiled for its ISA, kernels/qquantize.h).
//
// Determinism: the integer kernels are exact, each output element is written by exactly one
// work item and depends only on its own inputs, so results are bit-identical for every
// thread count, work split and ISA, and equal qreference_run in the matching mode.
#include "runtime/qexecutor.h"

#include <algorithm>
#include <cstring>

#include "kernels/qkernels.h"
#include "runtime/dispatch.h"
#include "runtime/plan_runner.h"
#include "runtime/qreference.h"

namespace mnv2 {

namespace {

// Rows of one GEMM work item: a block of activation rows that stays in L1/L2 while the
// weight panels stream past it.
constexpr int kGemmRows = 48;
constexpr int kTargetItems = 12;
constexpr int64_t kElementwiseChunk = 64 * 1024;  // Plan's Add item size

// A 64-byte aligned byte blob (AlignedBuffer counts floats).
struct Blob {
  AlignedBuffer buf;
  void alloc(int64_t bytes) {
    buf = AlignedBuffer(size_t((bytes + 3) / 4) + 16);
    std::memset(buf.data(), 0, buf.size() * sizeof(float));
  }
  uint8_t* data() const { return reinterpret_cast<uint8_t*>(buf.data()); }
};

// What a step needs beyond the plan: packed weights and kernel arguments.
struct Packed {
  const kernels::QGemmKernel* gk = nullptr;  // GEMM family
  const kernels::QConvKernel* ck = nullptr;  // Im2colGemm by QConvKernel (gk = &ck->gemm)
  Blob blob;                                 // packed GEMM or 3x3 depthwise weights
  int64_t blob_bytes = 0;
  kernels::QDwGeneric dwg;  // depthwise geometry (and, for DwGeneric, weights)
  std::vector<int32_t> mult, shift;
  std::vector<float> scale;  // Xnnpack rounding: the float requantization scales
  bool conv_first = true;    // fused residual: the Add reads the convolution first
  bool dw_quads = false;     // 3x3 depthwise packed for kt_.dw3x3q_row (VNNI)
};

class QExecutor final : public PlanRunner {
 public:
  QExecutor(Graph graph, const ExecutorOptions& o)
      : PlanRunner(std::move(graph), o, 1, "int8"),
        kt_(qkernel_table(o.isa)),
        xnn_(o.int8_rounding == Int8Rounding::Xnnpack) {
    params_ = prepare_qparams(this->graph(), mode());
    pack();
    start(!input_fused_);
  }

 private:
  // ---- construction ----------------------------------------------------------------

  void pack() {
    const Graph& g = graph();
    packed_.resize(plan().steps.size());
    // The input is quantized inside the convolutions that read it when no other step does.
    input_fused_ = true;
    for (int id : {g.output, g.logits, g.features})
      if (id >= 0 && plan().root[size_t(id)] == g.input) input_fused_ = false;
    int64_t scratch = 0;
    for (size_t i = 0; i < plan().steps.size(); ++i) {
      const PlanStep& s = plan().steps[i];
      const Node& n = g.node(s.node);
      const QNodeParams& p = params_[size_t(s.node)];
      Packed& pk = packed_[i];
      for (int v : {s.in, s.in2, s.residual})
        if (v == g.input && (s.kind != StepKind::Im2colGemm || v != s.in)) input_fused_ = false;
      switch (s.kind) {
        case StepKind::Im2colGemm:
          scratch = std::max(scratch, int64_t(s.ys.w) * s.k + int64_t(s.geom.kh) * s.xs.w * s.xs.c);
          [[fallthrough]];
        case StepKind::Gemm: {
          // The fastest layout that holds the weights: int8 quads, uint8 quads (uint8
          // per-tensor models), int16 pairs.
          pk.gk = &kt_.gemm16;
          for (const kernels::QGemmKernel* gk : {&kt_.gemm8, &kt_.gemm8u})
            if (gk->available() && kernels::qgemm_fits(*gk, n.qweights.data(), s.k, s.cout, s.k)) {
              pk.gk = gk;
              break;
            }
          // Short kernel rows (the first convolution over the RGB image): the patches are
          // packed straight from the image, in the same preference of layouts.
          if (s.kind == StepKind::Im2colGemm && kernels::QConvKernel::applies(s.geom.kw, s.xs.c))
            for (const kernels::QConvKernel* ck : {&kt_.conv8, &kt_.conv8u, &kt_.conv16})
              if (ck->available() &&
                  kernels::qgemm_fits(ck->gemm, n.qweights.data(), s.k, s.cout, s.k)) {
                pk.ck = ck;
                pk.gk = &ck->gemm;
                break;
              }
          const kernels::QRequant rq = requant(pk, p);
          pk.blob_bytes = pk.gk->packed_bytes(s.cout, s.k);
          pk.blob.alloc(pk.blob_bytes);
          kernels::qgemm_pack(*pk.gk, n.qweights.data(), s.k, s.cout, s.k,
                              n.qbias.empty() ? nullptr : n.qbias.data(), p.zp_in, rq,
                              pk.blob.data());
          if (s.add_node >= 0) pk.conv_first = g.node(s.add_node).inputs[0] == s.node;
          break;
        }
        case StepKind::Dw3x3:
        case StepKind::DwGeneric: {
          kernels::QDwGeneric& d = pk.dwg;
          set_dw_geometry(s, d);
          d.depth_mult = s.geom.mult;
          d.w = n.qweights.data();
          d.bias = n.qbias.empty() ? nullptr : n.qbias.data();
          d.in_zp = p.zp_in;
          d.rq = requant(pk, p);
          const int terms =
              s.kind == StepKind::Dw3x3 && kt_.dw3x3q_row ? kernels::qdw3x3q_terms(d.w, d.c) : 0;
          if (terms > 0) {
            pk.dw_quads = true;
            pk.blob_bytes = kernels::qdw3x3q_packed_bytes(d.c, terms);
            pk.blob.alloc(pk.blob_bytes);
            kernels::qdw3x3q_pack(d.w, d.c, d.bias, p.zp_in, d.rq, terms, pk.blob.data());
          } else if (s.kind == StepKind::Dw3x3 && kt_.dw3x3_row) {
            pk.blob_bytes = kernels::qdw3x3_packed_bytes(d.c);
            pk.blob.alloc(pk.blob_bytes);
            kernels::qdw3x3_pack(d.w, d.c, d.bias, p.zp_in, d.rq, pk.blob.data());
          }
          break;
        }
        case StepKind::Affine:
          throw Error("int8: node '" + n.name + "' (ChannelAffine) has no integer form");
        default:
          break;
      }
      // The float weights are never read here; the integer ones only by steps that run
      // from the graph's arrays (generic depthwise) rather than a packed blob.
      release_weights(s.node, pk.blob_bytes > 0);
    }
    scratch_bytes_ = scratch;
    scratch_.alloc(scratch * threads());
  }

  // The per-channel output stage of a conv / FC / depthwise step in this executor's
  // rounding mode; its arrays live in `pk`.
  kernels::QRequant requant(Packed& pk, const QNodeParams& p) const {
    kernels::QRequant rq;
    rq.per_channel = true;
    rq.out_zp = p.zp_out;
    rq.qmin = p.lo;
    rq.qmax = p.hi;
    if (xnn_) {
      pk.scale = p.xnn_scale;
      rq.scale = pk.scale.data();
    } else {
      pk.mult = p.mult;
      pk.shift = p.shift;
      rq.mult = pk.mult.data();
      rq.shift = pk.shift.data();
    }
    return rq;
  }

  const Packed& packed(const PlanStep& s) const {
    return packed_[size_t(&s - plan().steps.data())];
  }

  // ---- kernels -----------------------------------------------------------------------

  // The quantized ADD of n elements of the fused Add of step s: y = conv + res, in place.
  void fused_add(const PlanStep& s, const Packed& pk, uint8_t* y, const uint8_t* res,
                 int64_t n) const {
    const uint8_t* a = pk.conv_first ? y : res;
    const uint8_t* b = pk.conv_first ? res : y;
    const QNodeParams& p = params_[size_t(s.add_node)];
    if (p.xnn_add_on)
      kt_.add_xnn(a, b, y, n, p.xnn_add);
    else
      kt_.add(a, b, y, n, p.add);
  }

  // GEMM rows [0, rows) in blocks of about kGemmRows rows, or on several threads of fewer
  // rows (whole register tiles) to make kTargetItems items, and only where rows run out by
  // groups of panels as well: a group packs its rows again. Any grid gives the same
  // results.
  void gemm(const PlanStep& s, const uint8_t* in, uint8_t* out, const uint8_t* res,
            int64_t rows, const Par& par) override {
    const Packed& pk = packed(s);
    const kernels::QGemmKernel& gk = *pk.gk;
    const int mr = std::max(1, gk.mr);
    const int64_t tiles = (rows + mr - 1) / mr;
    const int panels = (s.cout + gk.nr - 1) / gk.nr;
    int64_t chunks = (rows + kGemmRows - 1) / kGemmRows;
    int groups = 1;
    if (par.pool && par.pool->threads() > 1 && chunks < kTargetItems) {
      chunks = std::min<int64_t>(tiles, kTargetItems);
      if (chunks < kTargetItems)
        groups = std::clamp(int((kTargetItems + chunks - 1) / chunks), 1, panels);
    }
    const int64_t chunk_rows = (tiles + chunks - 1) / chunks * mr;
    const int row_chunks = int((rows + chunk_rows - 1) / chunk_rows);
    const int per_group = (panels + groups - 1) / groups;
    groups = (panels + per_group - 1) / per_group;
    par(row_chunks * groups, [&](int item, int) {
      const int rc = item / groups, cg = item % groups;
      const int64_t r0 = rc * chunk_rows;
      const int n0 = cg * per_group * gk.nr;
      kernels::QGemm gm;
      gm.m = int(std::min<int64_t>(chunk_rows, rows - r0));
      gm.n = std::min(s.cout - n0, per_group * gk.nr);
      gm.k = s.k;
      gm.lda = s.k;
      gm.a = in + r0 * s.k;
      gm.b = pk.blob.data() + int64_t(n0 / gk.nr) * gk.panel_bytes(s.k);
      gm.ldc = s.cout;
      gm.c = out + r0 * s.cout + n0;
      gk.run(gm);
      if (!res) return;
      const uint8_t* rb = res + r0 * s.cout + n0;
      if (gm.n == s.cout)  // whole rows: one contiguous block
        fused_add(s, pk, gm.c, rb, int64_t(gm.m) * s.cout);
      else
        for (int r = 0; r < gm.m; ++r)
          fused_add(s, pk, gm.c + r * s.cout, rb + r * s.cout, gm.n);
    });
  }

  void im2col_gemm_row(const PlanStep& s, const uint8_t* image, int oy, uint8_t* out,
                       int worker) override {
    const Packed& pk = packed(s);
    const ConvGeom& g = s.geom;
    const uint8_t zp = uint8_t(params_[size_t(s.node)].zp_in);
    uint8_t* col = scratch_.data() + int64_t(worker) * scratch_bytes_;
    kernels::QConvRow cr;  // the QConvKernel's arguments, where the step has one
    cr.in = image;
    cr.ih = s.xs.h, cr.iw = s.xs.w, cr.cin = s.xs.c;
    cr.kh = g.kh, cr.kw = g.kw, cr.sh = g.sh, cr.sw = g.sw;
    cr.pad_top = g.pad_top, cr.pad_left = g.pad_left;
    cr.ow = s.ys.w, cr.cout = s.cout;
    cr.in_zp = zp;
    cr.b = pk.blob.data();
    cr.out = out;
    if (input_fused_ && s.in == graph().input) {
      // Quantize the input rows this output row reads into scratch, and take the patches
      // from them: the kernel sees those rows as the whole image, with the top padding
      // shifted to match.
      const int top = oy * g.sh - g.pad_top;
      const int first = std::clamp(top, 0, s.xs.h), end = std::clamp(top + g.kh, 0, s.xs.h);
      const int64_t row = int64_t(s.xs.w) * s.xs.c;
      uint8_t* rows = col + int64_t(s.ys.w) * s.k;
      quantize(reinterpret_cast<const float*>(image) + first * row, rows, (end - first) * row);
      if (pk.ck) {
        cr.in = rows, cr.ih = end - first, cr.pad_top = first - top;
        return pk.ck->row(cr, 0);
      }
      kernels::im2col_row_u8(rows, end - first, s.xs.w, s.xs.c, g.kh, g.kw, g.sh, g.sw,
                             first - top, g.pad_left, s.ys.w, 0, zp, col);
    } else {
      if (pk.ck) return pk.ck->row(cr, oy);
      kernels::im2col_row_u8(image, s.xs.h, s.xs.w, s.xs.c, g.kh, g.kw, g.sh, g.sw, g.pad_top,
                             g.pad_left, s.ys.w, oy, zp, col);
    }
    kernels::QGemm gm;
    gm.m = s.ys.w;
    gm.n = s.cout;
    gm.k = s.k;
    gm.lda = s.k;
    gm.a = col;
    gm.b = pk.blob.data();
    gm.ldc = s.cout;
    gm.c = out;
    pk.gk->run(gm);
  }

  void depthwise_row(const PlanStep& s, const DwRows& r, int row) override {
    const Packed& pk = packed(s);
    if (s.kind == StepKind::Dw3x3 && kt_.dw3x3_row) {
      const kernels::QDwGeneric& g = pk.dwg;
      kernels::QDw d;
      d.in = r.in;
      d.ih = r.ih, d.iw = g.iw, d.c = g.c;
      d.out = r.out;
      d.oh = r.oh, d.ow = g.ow;
      d.sh = g.sh, d.sw = g.sw, d.pad_top = r.pad_top, d.pad_left = g.pad_left;
      d.w = pk.blob.data();
      (pk.dw_quads ? kt_.dw3x3q_row : kt_.dw3x3_row)(d, row);
    } else {
      kernels::QDwGeneric d = pk.dwg;
      d.in = r.in;
      d.ih = r.ih;
      d.pad_top = r.pad_top;
      d.out = r.out;
      d.oh = r.oh;
      kernels::qdw_generic_row(d, row);
    }
  }

  void item(const PlanStep& s, uint8_t* const* ptr, int item, int) override {
    const uint8_t* in = ptr[s.in];
    uint8_t* out = ptr[s.out];
    const QNodeParams& p = params_[size_t(s.node)];
    switch (s.kind) {
      case StepKind::Add: {
        const int64_t per = s.ys.per_image(), j = int64_t(item % s.items) * kElementwiseChunk;
        const int64_t i0 = (item / s.items) * per + j;
        const int64_t n = std::min(kElementwiseChunk, per - j);
        if (p.xnn_add_on)
          kt_.add_xnn(in + i0, ptr[s.in2] + i0, out + i0, n, p.xnn_add);
        else
          kt_.add(in + i0, ptr[s.in2] + i0, out + i0, n, p.add);
        break;
      }
      case StepKind::GlobalAvgPool: {
        // AVERAGE_POOL_2D on the kernel table; MEAN (requantizing, in float) shared with
        // the reference.
        const uint8_t* x = in + int64_t(item) * s.xs.per_image();
        uint8_t* y = out + int64_t(item) * s.ys.c;
        if (p.pool_same_q) {
          kernels::QPool pool;
          pool.divide = true;  // sums of raw uint8 values are >= 0: (sum + n/2) / n
          kt_.pool(x, y, s.xs.h * s.xs.w, s.xs.c, pool);
        } else {
          qmean_image(p, x, y, s.xs.h * s.xs.w, s.xs.c);
        }
        break;
      }
      case StepKind::Softmax:
        qsoftmax_row(p, in + int64_t(item) * s.ys.c, out + int64_t(item) * s.ys.c, s.ys.c);
        break;
      default:
        break;  // GEMM and depthwise steps have their own hooks; Affine is refused
    }
  }

  void stage_input(const float* x, uint8_t* dst, int64_t elems, const Par& par) override {
    par(int((elems + kElementwiseChunk - 1) / kElementwiseChunk), [&](int item, int) {
      const int64_t b = int64_t(item) * kElementwiseChunk;
      quantize(x + b, dst + b, std::min(kElementwiseChunk, elems - b));
    });
  }

  // n graph-input values to uint8, in this executor's rounding mode: the table's vector
  // copy of the reference's loop where it has one.
  void quantize(const float* x, uint8_t* y, int64_t n) const {
    const QuantParams q = graph().node(graph().input).out_q;
    if (kt_.quantize)
      kt_.quantize(x, y, n, q.scale, q.zero_point, xnn_);
    else
      quantize_input(mode(), q, x, y, n);
  }

  void read_output(int id, const uint8_t* src, float* dst, int64_t elems) const override {
    const QuantParams q = graph().node(id).out_q;
    for (int64_t i = 0; i < elems; ++i) dst[i] = dequantize(q, src[i]);
  }

  int64_t weight_bytes(const PlanStep& s) const override {
    const Packed& pk = packed(s);
    if (pk.blob_bytes > 0) return pk.blob_bytes;
    // Generic depthwise: int16 weights, int32 bias.
    return s.kind == StepKind::DwGeneric ? (s.weights - s.ys.c) * 2 + int64_t(s.ys.c) * 4 : 0;
  }

  int64_t packed_bytes() const override {
    int64_t b = 0;
    for (const Packed& p : packed_)
      b += int64_t(p.blob.buf.size() * sizeof(float) + (p.mult.size() + p.shift.size()) * 4 +
                   p.scale.size() * sizeof(float));
    return b;
  }
  int64_t scratch_bytes() const override { return int64_t(scratch_.buf.size() * sizeof(float)); }

  const kernels::QKernelTable& kt_;
  bool xnn_ = false;  // Int8Rounding::Xnnpack
  QRequantMode mode() const { return xnn_ ? QRequantMode::Xnnpack : QRequantMode::Tflite; }
  bool input_fused_ = false;
  std::vector<QNodeParams> params_;
  std::vector<Packed> packed_;  // per plan step
  Blob scratch_;                // per worker: im2col rows and the quantized input rows
  int64_t scratch_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Executor> make_int8_executor(Graph graph, const ExecutorOptions& options) {
  if (!graph.quantized())
    throw Error("int8 precision needs a quantized model (a quantized .tflite file or one written "
                "by `mnv2 quantize`); this model has float weights");
  return std::make_unique<QExecutor>(std::move(graph), options);
}

}  // namespace mnv2
