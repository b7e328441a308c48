// The float executor: the shared plan (runtime/plan.h) run by PlanRunner with the float
// kernel table of the chosen ISA. It packs every GEMM layer once, as fp32 panels for the
// table's GemmKernel or, with ExecutorOptions::bf16, as bf16 pairs for a bf16 table
// (kernels/bf16.h; depthwise and elementwise steps stay fp32), keeps the depthwise and
// affine weights in aligned copies, and supplies the kernel calls for each step.
//
// Determinism: each output element is computed by exactly one work item, its reduction
// order is fixed by the kernel (see kernels::GemmTile), and the work grid depends only on
// the layer shape and batch. So results are bit-identical for every thread count.
#include "runtime/executor.h"

#include <algorithm>
#include <cstring>

#include "kernels/bf16.h"
#include "kernels/kernels.h"
#include "runtime/arena.h"
#include "runtime/dispatch.h"
#include "runtime/plan_runner.h"

namespace mnv2 {

namespace {

// X rows of one GEMM work item should stay within L2 (512 KiB per core on the development
// machine) while every weight panel of the item streams past them.
constexpr int64_t kGemmChunkBytes = 256 * 1024;
// Enough items for two or three threads to balance, few enough to keep per-item costs low.
constexpr int kTargetItems = 12;
// Bound on the im2col scratch of one thread (floats).
constexpr int64_t kIm2colFloats = 256 * 1024;
// bf16 GEMMs convert their A rows to bf16 pairs once per work item (not once per panel),
// in chunks of at most this many bytes per thread (the fp32 rows of an item are at most
// kGemmChunkBytes, so one chunk usually covers the item).
constexpr int64_t kBf16ChunkBytes = kGemmChunkBytes / 2;
constexpr int64_t kL1Bytes = 24 * 1024;
constexpr int64_t kElementwiseChunk = 64 * 1024;  // Plan's Add / Affine item size

int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }
const float* fp(const uint8_t* p) { return reinterpret_cast<const float*>(p); }
float* fp(uint8_t* p) { return reinterpret_cast<float*>(p); }

// What a step needs beyond the plan: packed weights and kernel arguments.
struct Packed {
  const uint8_t* panels = nullptr;  // GEMM family
  const float* bias = nullptr;
  int seg_pixels = 0;  // Im2colGemm: output pixels per im2col segment
  kernels::DwArgs dw;  // depthwise: geometry and weights
  const float* w = nullptr;  // Affine
};

struct GemmGrid {
  int tiles = 0, row_chunks = 1, blocks = 0, block_chunks = 1;
};

class FastExecutor final : public PlanRunner {
 public:
  FastExecutor(Graph graph, const ExecutorOptions& o, const kernels::Bf16KernelTable* bt)
      : PlanRunner(std::move(graph), o, int(sizeof(float)), bt ? "bf16" : "fp32"),
        kt_(kernel_table(o.isa)),
        gk_(kt_.gemm),
        bt_(bt) {
    pack();
    start(false);
  }

 private:
  // ---- construction ----------------------------------------------------------------

  void pack() {
    const Graph& g = graph();
    packed_.resize(plan().steps.size());
    int64_t scratch = 0;
    for (size_t i = 0; i < plan().steps.size(); ++i) {
      const PlanStep& s = plan().steps[i];
      const Node& n = g.node(s.node);
      Packed& p = packed_[i];
      if (s.weights > 0 && n.weights.empty())
        throw Error("fp32: node '" + n.name + "' has its weights only in integer form (the "
                    "model was loaded for the int8 executor)");
      switch (s.kind) {
        case StepKind::Im2colGemm:
          p.seg_pixels = int(std::clamp<int64_t>(kIm2colFloats / s.k, 1, s.ys.w));
          scratch = std::max(scratch, int64_t(p.seg_pixels) * s.k);
          [[fallthrough]];
        case StepKind::Gemm:
          pack_gemm(n, s, &p);
          break;
        case StepKind::Dw3x3:
        case StepKind::DwGeneric: {
          kernels::DwArgs& d = p.dw;
          set_dw_geometry(s, d);
          d.mult = s.geom.mult;
          d.w = keep_copy(n.weights, n.weights.size());
          d.bias = keep_copy(n.bias, size_t(s.ys.c));
          d.act = n.activation;
          break;
        }
        case StepKind::Affine:
          p.w = keep_copy(n.weights, n.weights.size());
          p.bias = keep_copy(n.bias, n.bias.size());
          break;
        default:
          break;
      }
      // Packed (or copied): the graph's forms of these weights are not read again, and the
      // integer view of a quantized graph run in float never is.
      release_weights(s.node, true);
    }
    scratch_floats_ = scratch;
    if (scratch > 0) scratch_ = AlignedBuffer(size_t(scratch) * size_t(threads()));
    if (bt_) {  // one conversion chunk per thread, for the widest K
      for (const PlanStep& s : plan().steps)
        if (s.kind == StepKind::Gemm || s.kind == StepKind::Im2colGemm) {
          const int kp = kernels::bf16_pairs(s.k, *bt_);
          // + mr rows: a tile may read (not use) rows up to mr past the chunk (AMX).
          bf16_scratch_pairs_ =
              std::max(bf16_scratch_pairs_, (bf16_chunk_rows(kp) + bt_->mr) * kp);
        }
      bf16_scratch_ = AlignedBuffer(size_t(bf16_scratch_pairs_) * size_t(threads()) + 1);
      std::fill(bf16_scratch_.data(), bf16_scratch_.data() + bf16_scratch_.size(), 0.f);
    }
  }

  void pack_gemm(const Node& n, const PlanStep& s, Packed* p) {
    const int nr = gnr(), blocks = ceil_div(s.cout, nr);
    const int64_t pb = panel_bytes(s.k);
    AlignedBuffer w(size_t(blocks * pb / 4) + 1);
    AlignedBuffer b(size_t(blocks) * size_t(nr));
    std::fill(b.data(), b.data() + b.size(), 0.f);
    auto* base = reinterpret_cast<uint8_t*>(w.data());
    if (bt_) {
      const std::vector<uint32_t> pairs = kernels::pack_bf16_panels(
          n.weights.data(), s.cout, s.k, nr, kernels::bf16_pairs(s.k, *bt_));
      std::memcpy(base, pairs.data(), pairs.size() * sizeof(uint32_t));
    } else {
      for (int j = 0; j < blocks; ++j)
        gk_.pack(n.weights.data() + int64_t(j) * nr * s.k, s.k, std::min(nr, s.cout - j * nr),
                 s.k, nr, base + j * pb);
    }
    if (!n.bias.empty()) std::copy(n.bias.begin(), n.bias.begin() + s.cout, b.data());
    p->panels = base;
    p->bias = b.data();
    storage_.push_back(std::move(w));
    storage_.push_back(std::move(b));
  }

  const float* keep_copy(const std::vector<float>& v, size_t count) {
    AlignedBuffer b(count);
    std::fill(b.data(), b.data() + count, 0.f);
    std::copy(v.begin(), v.end(), b.data());
    const float* r = b.data();
    storage_.push_back(std::move(b));
    return r;
  }

  const Packed& packed(const PlanStep& s) const {
    return packed_[size_t(&s - plan().steps.data())];
  }

  // ---- kernels -----------------------------------------------------------------------

  // The GEMM register tile and panel of the executor's kernel (bf16 or fp32).
  int gmr() const { return bt_ ? bt_->mr : gk_.mr; }
  int gnr() const { return bt_ ? bt_->nr : gk_.nr; }
  int64_t panel_bytes(int k) const {
    return bt_ ? int64_t(kernels::bf16_pairs(k, *bt_)) * bt_->nr * 4 : gk_.panel_bytes(k);
  }

  GemmGrid gemm_grid(int64_t rows, int k, int cout) const {
    GemmGrid gr;
    gr.tiles = ceil_div(rows, gmr());
    gr.blocks = ceil_div(cout, gnr());
    const int64_t tile_bytes = int64_t(gmr()) * k * int64_t(sizeof(float));
    const int tiles_per_chunk = int(std::max<int64_t>(1, kGemmChunkBytes / tile_bytes));
    gr.row_chunks = ceil_div(gr.tiles, tiles_per_chunk);
    if (gr.row_chunks < kTargetItems) {
      gr.block_chunks = std::min(gr.blocks, ceil_div(kTargetItems, gr.row_chunks));
      if (gr.row_chunks * gr.block_chunks < kTargetItems)
        gr.row_chunks = std::min(gr.tiles, ceil_div(kTargetItems, gr.block_chunks));
    }
    return gr;
  }

  // GEMM rows [0, rows) on a grid that depends only on the row count and shape.
  void gemm(const PlanStep& s, const uint8_t* in, uint8_t* out, const uint8_t* res,
            int64_t rows, const Par& par) override {
    const GemmGrid gr = gemm_grid(rows, s.k, s.cout);
    par(gr.row_chunks * gr.block_chunks, [&](int item, int worker) {
      const int rc = item / gr.block_chunks, bc = item % gr.block_chunks;
      const int t0 = int(int64_t(gr.tiles) * rc / gr.row_chunks);
      const int t1 = int(int64_t(gr.tiles) * (rc + 1) / gr.row_chunks);
      const int b0 = int(int64_t(gr.blocks) * bc / gr.block_chunks);
      const int b1 = int(int64_t(gr.blocks) * (bc + 1) / gr.block_chunks);
      const int64_t r0 = rows * t0 / gr.tiles, r1 = rows * t1 / gr.tiles;
      gemm_rows(s, fp(in) + r0 * s.k, s.k, r0, r1, b0, b1, fp(out), fp(res), worker);
    });
  }

  // The tiles of rows [r0, r1) x column blocks [b0, b1) in cache-friendly order, each as
  // tile(block, m0, m1, row4): row4 = one row over blocks [block, block + 4). Tile sizes
  // differ by at most one row (the first `rem` tiles have q + 1), with no division per
  // tile: with small K a tile is only ~150 cycles of multiply-adds.
  template <class F>
  void walk_tiles(const PlanStep& s, int64_t r0, int64_t r1, int b0, int b1, F&& tile) const {
    const int64_t rows = r1 - r0;
    const int tiles = ceil_div(rows, gmr());
    const int64_t q = rows / tiles, rem = rows % tiles;
    auto run = [&](int b, int i, bool row4) {
      const int64_t m0 = r0 + i * q + std::min<int64_t>(i, rem);
      tile(b, m0, m0 + q + (i < rem ? 1 : 0), row4);
    };
    if (rows == 1) {
      // A single row (batch-1 logits, FC): four panels per call keep eight chains busy.
      int b = b0;
      for (; b + 4 <= b1 && (b + 4) * gnr() <= s.cout; b += 4) run(b, 0, true);
      for (; b < b1; ++b) run(b, 0, false);
    } else if (panel_bytes(s.k) * (b1 - b0) <= kL1Bytes) {
      // All weight panels of the item fit in L1: walk rows once, panels inside.
      for (int i = 0; i < tiles; ++i)
        for (int b = b0; b < b1; ++b) run(b, i, false);
    } else {
      // One panel at a time stays in L1/L2 while the item's rows stream past it.
      for (int b = b0; b < b1; ++b)
        for (int i = 0; i < tiles; ++i) run(b, i, false);
    }
  }

  // What a tile of either precision takes from the step and its place: rows [m0, m1),
  // column block b.
  template <class Tile>
  void place_tile(Tile& t, const PlanStep& s, int b, int64_t m0, int64_t m1, float* c,
                  const float* residual) const {
    const Packed& pk = packed(s);
    const int nr = gnr();
    t.ldc = t.ldr = s.cout;
    t.act = s.act;
    t.b = reinterpret_cast<decltype(t.b)>(pk.panels + b * panel_bytes(s.k));
    t.bias = pk.bias + int64_t(b) * nr;
    t.nr = std::min(nr, s.cout - b * nr);
    t.mr = int(m1 - m0);
    t.c = c + m0 * s.cout + int64_t(b) * nr;
    t.residual = residual ? residual + m0 * s.cout + int64_t(b) * nr : nullptr;
  }

  // Rows [r0, r1) of the GEMM, column blocks [b0, b1); `a` points at row r0 of A, while
  // c and residual are indexed by absolute row. `worker`: whose scratch a bf16 GEMM uses.
  void gemm_rows(const PlanStep& s, const float* a, int64_t lda, int64_t r0, int64_t r1, int b0,
                 int b1, float* c, const float* residual, int worker) const {
    if (bt_) return gemm_rows_bf16(s, a, lda, r0, r1, b0, b1, c, residual, worker);
    kernels::GemmTile t;
    t.k = s.k;
    t.lda = lda;
    walk_tiles(s, r0, r1, b0, b1, [&](int b, int64_t m0, int64_t m1, bool row4) {
      place_tile(t, s, b, m0, m1, c, residual);
      t.a = a + (m0 - r0) * lda;
      (row4 ? gk_.row4 : gk_.tile)(t);
    });
  }

  // The same in bf16: the rows become bf16 pairs once (per chunk of kBf16ChunkBytes), not
  // once per panel. Every element is still one kernel call over all of K, so neither the
  // chunks nor the thread count change its bits.
  void gemm_rows_bf16(const PlanStep& s, const float* a, int64_t lda, int64_t r0, int64_t r1,
                      int b0, int b1, float* c, const float* residual, int worker) const {
    const int kp = kernels::bf16_pairs(s.k, *bt_), kreal = (s.k + 1) / 2;
    uint32_t* pairs =
        reinterpret_cast<uint32_t*>(bf16_scratch_.data()) + int64_t(worker) * bf16_scratch_pairs_;
    const int64_t chunk = bf16_chunk_rows(kp);
    kernels::Bf16Tile t;
    t.kp = kp;
    t.lda = kp;
    for (int64_t x0 = r0; x0 < r1; x0 += chunk) {
      const int64_t x1 = std::min(r1, x0 + chunk);
      for (int64_t m = x0; m < x1; ++m) {
        uint32_t* row = pairs + (m - x0) * kp;
        bt_->to_pairs(a + (m - r0) * lda, s.k, row);
        std::fill(row + kreal, row + kp, 0u);  // the table's K alignment
      }
      walk_tiles(s, x0, x1, b0, b1, [&](int b, int64_t m0, int64_t m1, bool row4) {
        place_tile(t, s, b, m0, m1, c, residual);
        t.a = pairs + (m0 - x0) * kp;
        (row4 ? bt_->gemm_row4 : bt_->gemm)(t);
      });
    }
  }

  // Rows per bf16 conversion chunk: whole tiles, at least one.
  int64_t bf16_chunk_rows(int kp) const {
    const int64_t mr = bt_->mr;
    return std::max<int64_t>(mr, kBf16ChunkBytes / (int64_t(kp) * 4) / mr * mr);
  }

  // Output row oy of an im2col convolution of image x ([ih][iw][cin]) into y, on the
  // im2col scratch of `worker`.
  void im2col_gemm_row(const PlanStep& s, const uint8_t* image, int oy, uint8_t* out,
                       int worker) override {
    const Packed& pk = packed(s);
    float* col = scratch_.data() + int64_t(worker) * scratch_floats_;
    const int blocks = ceil_div(s.cout, gnr());
    const ConvGeom& g = s.geom;
    for (int x0 = 0; x0 < s.ys.w; x0 += pk.seg_pixels) {
      const int x1 = std::min(s.ys.w, x0 + pk.seg_pixels);
      // im2col_row covers a whole row; segments shift the origin by x0 output pixels.
      kernels::im2col_row(fp(image), s.xs.h, s.xs.w, s.xs.c, g.kh, g.kw, g.sh, g.sw, g.pad_top,
                          g.pad_left - x0 * g.sw, x1 - x0, oy, col);
      gemm_rows(s, col, s.k, x0, x1, 0, blocks, fp(out), nullptr, worker);
    }
  }

  void depthwise_row(const PlanStep& s, const DwRows& r, int row) override {
    kernels::DwArgs a = packed(s).dw;
    a.in = fp(r.in);
    a.ih = r.ih;
    a.pad_top = r.pad_top;
    a.out = fp(r.out);
    a.oh = r.oh;
    if (s.kind == StepKind::Dw3x3)
      kt_.dw3x3_row(a, row);
    else
      kernels::dw_generic_row(a, row);
  }

  void item(const PlanStep& s, uint8_t* const* ptr, int item, int) override {
    const float* in = fp(ptr[s.in]);
    float* out = fp(ptr[s.out]);
    switch (s.kind) {
      case StepKind::Add: {
        const int64_t per = s.ys.per_image(), j = int64_t(item % s.items) * kElementwiseChunk;
        const int64_t i0 = (item / s.items) * per + j;
        const int64_t n = std::min(kElementwiseChunk, per - j);
        kt_.add(in + i0, fp(ptr[s.in2]) + i0, out + i0, n);
        break;
      }
      case StepKind::Affine: {
        const Packed& pk = packed(s);
        const int64_t pixels = s.ys.h * int64_t(s.ys.w);
        const int64_t j = int64_t(item % s.items) * (kElementwiseChunk / 16);
        const int64_t p0 = (item / s.items) * pixels + j;
        const int64_t n = std::min(kElementwiseChunk / 16, pixels - j);
        kt_.channel_affine(in + p0 * s.ys.c, out + p0 * s.ys.c, n, s.ys.c, pk.w, pk.bias);
        break;
      }
      case StepKind::GlobalAvgPool: {
        const int hw = s.xs.h * s.xs.w;
        kt_.global_avg_pool(in + int64_t(item) * hw * s.xs.c, out + int64_t(item) * s.xs.c, hw,
                            s.xs.c);
        break;
      }
      case StepKind::Softmax:
        kernels::softmax_row(in + int64_t(item) * s.ys.c, out + int64_t(item) * s.ys.c, s.ys.c);
        break;
      default:
        break;  // GEMM and depthwise steps have their own hooks
    }
  }

  void read_output(int, const uint8_t* src, float* dst, int64_t elems) const override {
    std::memcpy(dst, src, sizeof(float) * size_t(elems));
  }

  int64_t weight_bytes(const PlanStep& s) const override {
    if (bt_ && (s.kind == StepKind::Gemm || s.kind == StepKind::Im2colGemm))
      return (int64_t(kernels::bf16_pairs(s.k, *bt_)) * 4 + int64_t(sizeof(float))) * s.cout;
    if (s.kind == StepKind::Gemm || s.kind == StepKind::Im2colGemm) {
      const int64_t kpad = (int64_t(s.k) + gk_.kgroup - 1) / gk_.kgroup * gk_.kgroup;
      return (kpad * gk_.elem_bytes + int64_t(sizeof(float))) * s.cout;
    }
    return s.weights * int64_t(sizeof(float));
  }

  int64_t packed_bytes() const override {
    int64_t b = 0;
    for (const AlignedBuffer& s : storage_) b += int64_t(s.size() * sizeof(float));
    return b;
  }
  int64_t scratch_bytes() const override {
    return int64_t((scratch_.size() + bf16_scratch_.size()) * sizeof(float));
  }

  const kernels::KernelTable& kt_;
  const kernels::GemmKernel& gk_;
  const kernels::Bf16KernelTable* bt_;  // bf16 GEMMs, or null (fp32)
  std::vector<Packed> packed_;          // per plan step
  std::vector<AlignedBuffer> storage_;  // packed weights, biases
  AlignedBuffer scratch_;               // im2col rows, scratch_floats_ per thread
  int64_t scratch_floats_ = 0;
  AlignedBuffer bf16_scratch_;  // bf16 pairs of A rows, bf16_scratch_pairs_ per thread
  int64_t bf16_scratch_pairs_ = 0;
};

}  // namespace

bool bf16_supported(Isa isa, bool amx) { return kernels::bf16_table(isa, amx) != nullptr; }

std::unique_ptr<Executor> Executor::create(Graph graph, const ExecutorOptions& options) {
  const kernels::Bf16KernelTable* bt =
      options.bf16 ? kernels::bf16_table(options.isa, options.bf16_amx) : nullptr;
  if (options.bf16 && !bt)
    throw Error(std::string("bf16 kernels are not available for ") + isa_name(options.isa));
  return std::make_unique<FastExecutor>(std::move(graph), options, bt);
}

}  // namespace mnv2
