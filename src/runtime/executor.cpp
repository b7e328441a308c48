// The fast executor: turns the graph into a list of steps once (weights packed for the
// chosen kernel table, residual adds fused into the projection GEMM), places every
// activation in one arena planned from value lifetimes, and runs each step as a fixed
// grid of work items on the thread pool.
//
// Determinism: each output element is computed by exactly one work item, its reduction
// order is fixed by the kernel (see kernels::GemmTile), and the work grid depends only on
// the layer shape and batch. So results are bit-identical for every thread count.
#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/bf16.h"
#include "kernels/kernels.h"
#include "runtime/arena.h"
#include "runtime/thread_pool.h"

namespace mnv2 {

namespace {

enum class StepKind { Gemm, Im2colGemm, Dw3x3, DwGeneric, Add, GlobalAvgPool, Softmax, Affine };

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
constexpr int64_t kElementwiseChunk = 64 * 1024;
constexpr int64_t kL1Bytes = 24 * 1024;
// Working set of one band of a producer -> depthwise -> consumer chain (depthwise input
// and output rows). Measured per block with MNV2_BAND_BYTES (docs/fused-blocks.md): 512 KiB
// and 1 MiB tie and beat 256 KiB and smaller bands; banding only pays off on the 112x112
// and 56x56 blocks, and small bands of the 14x14 / 7x7 blocks cost a few percent.
constexpr int64_t kBandBytes = 512 * 1024;

// Where a step's work items run: on the pool (the calling thread joins as worker 0), or
// inline on one thread when each thread of the pool already runs its own images.
struct Par {
  ThreadPool* pool = nullptr;  // null: inline on `worker`
  int worker = 0;
  float* const* ptr = nullptr;  // value id -> its buffer (image 0) in the lane that runs
  float* window = nullptr;      // that lane's band buffers (see run_band)
  template <class F>
  void operator()(int count, F&& fn) const {
    if (pool)
      pool->parallel_for(count, fn);
    else
      for (int i = 0; i < count; ++i) fn(i, worker);
  }
};

struct GemmGrid {
  int64_t rows = 0;  // P
  int tiles = 0, row_chunks = 1, blocks = 0, block_chunks = 1;
};

struct Step {
  StepKind kind = StepKind::Gemm;
  int node = -1;
  int in = -1, in2 = -1, out = -1;  // value (root) ids
  Shape xs, ys;                     // per-image shapes (n = 1)
  // GEMM family
  int k = 0, cout = 0;
  const float* packed = nullptr;
  const uint32_t* packed16 = nullptr;  // bf16 executors: the panels as bf16 pairs
  const float* bias = nullptr;
  Activation act = Activation::None;
  int residual = -1;  // value id added after the activation (fused Add)
  int seg_pixels = 0;  // Im2colGemm: output pixels per im2col segment
  // convolution geometry
  kernels::DwArgs dw;
  int items = 0;  // work items per image (non-GEMM steps)
  // Banding (depthwise steps): the pointwise/im2col step producing this step's input and
  // the pointwise step consuming its output, run band by band so the wide expanded tensor
  // is read back while still in L2. Results do not change: every element is computed by
  // the same kernel call as unbanded, only the order of the calls differs.
  int producer = -1, consumer = -1;  // step indices
  int band_rows = 0;                 // depthwise output rows per band
  int window_rows = 0;               // producer output rows a band's window holds
  bool band_member = false;          // run by the depthwise step it feeds or reads
};

// One activation arena and the value -> buffer table into it.
struct Lane {
  AlignedBuffer arena;
  std::vector<float*> ptr;
  AlignedBuffer window;  // band buffers, window_floats_
};

class FastExecutor final : public Executor {
 public:
  FastExecutor(const Graph& graph, const ExecutorOptions& o)
      : g_(graph),
        kt_(kernels::table(o.isa)),
        bt_(o.bf16 ? kernels::bf16_table(o.isa, o.bf16_amx) : nullptr),
        pool_(o.threads) {
    if (o.bf16 && !bt_) throw Error(std::string("bf16 kernels are not available for ") + isa_name(o.isa));
    // MNV2_BAND_BYTES overrides the band working set for measurements (0: no banding, every
    // layer runs whole, as the peers do). Results are the same bits for every value.
    if (const char* b = std::getenv("MNV2_BAND_BYTES"); b && *b)
      band_bytes_ = std::max<int64_t>(0, std::atoll(b));
    if (const char* b = std::getenv("MNV2_SPLIT_MIN_ROWS"); b && *b)
      split_min_rows_ = std::atoi(b);
    g_.infer_shapes(1);
    build_steps();
    plan(std::max(1, o.max_batch));
    const char* prof = std::getenv("MNV2_PROFILE");
    profile_env_ = prof && *prof && std::string(prof) != "0";
    set_profiling(profile_env_);
  }

  ~FastExecutor() override {
    if (profile_env_ && images_ > 0) print_profile();
  }

  void set_profiling(bool on) override {
    profile_ = on;
    if (on && step_ms_.size() != steps_.size()) reset_profile();
  }
  void reset_profile() override {
    step_ms_.assign(steps_.size(), 0.0);
    step_run_ms_.assign(steps_.size(), 0.0);
    step_min_ms_.assign(steps_.size(), 1e300);
    images_ = 0;
    runs_ = 0;
  }
  ExecutorProfile profile() const override;

  void run(const float* input, int batch, float* output, float* logits,
           float* features) override {
    if (batch < 1) throw Error("run: batch must be >= 1");
    if (batch > planned_batch_) plan(batch);
    if (!grids_set_) set_grids();
    const int threads = pool_.threads();
    // A batch of at least one image per thread is split by images: each thread runs the
    // whole network on its own images, with no barrier between layers and its own L2.
    // Every element is still computed by the same kernel calls, so the bits do not change.
    const bool split = threads > 1 && batch >= threads;
    timing_ = profile_ && !split;
    const int64_t in_per_image = g_.node(g_.input).shape.per_image();
    auto copy = [&](const Lane& lane, int n0, int nb, int id, float* dst) {
      if (!dst || id < 0) return;
      const int64_t per = g_.node(id).shape.per_image();
      std::memcpy(dst + n0 * per, lane.ptr[size_t(root_[size_t(id)])],
                  sizeof(float) * size_t(per) * size_t(nb));
    };
    // Images [n0, n0 + nb) in `lane`, as images 0..nb-1 there.
    auto run_lane = [&](Lane& lane, int n0, int nb, const Par& par) {
      bind_lane(lane, input + n0 * in_per_image);
      run_images(0, nb, Par{par.pool, par.worker, lane.ptr.data(), lane.window.data()});
      copy(lane, n0, nb, g_.output, output);
      copy(lane, n0, nb, g_.logits, logits);
      copy(lane, n0, nb, g_.features, features);
    };
    if (split) {
      pool_.parallel_for(threads, [&](int t, int worker) {
        const int n0 = int(int64_t(batch) * t / threads);
        const int n1 = int(int64_t(batch) * (t + 1) / threads);
        run_lane(lanes_[size_t(t)], n0, n1 - n0, Par{nullptr, worker});
      });
    } else {
      run_lane(lanes_[0], 0, batch, Par{&pool_, 0});
    }
    if (timing_) {
      images_ += batch;  // split runs are not timed per step
      ++runs_;
      for (size_t i = 0; i < steps_.size(); ++i) {
        step_ms_[i] += step_run_ms_[i];
        step_min_ms_[i] = std::min(step_min_ms_[i], step_run_ms_[i] / batch);
        step_run_ms_[i] = 0;
      }
    }
  }

 private:
  // ---- construction ----------------------------------------------------------------

  // Packs into s.packed (fp32) or s.packed16 (bf16 executors) and s.bias.
  void pack_gemm(Step& s, const std::vector<float>& w, const std::vector<float>& bias) {
    const int cout = s.cout, k = s.k;
    const int nr = gnr();
    const int blocks = (cout + nr - 1) / nr;
    AlignedBuffer b(size_t(blocks) * size_t(nr));
    std::fill(b.data(), b.data() + b.size(), 0.f);
    for (int o = 0; o < cout && !bias.empty(); ++o) b.data()[o] = bias[size_t(o)];
    s.bias = b.data();
    storage_.push_back(std::move(b));
    if (bt_) {
      const std::vector<uint32_t> pairs =
          kernels::pack_bf16_panels(w.data(), cout, k, nr, kernels::bf16_pairs(k, *bt_));
      AlignedBuffer p(pairs.size());  // 4-byte pairs in float-sized slots, only read as pairs
      std::memcpy(p.data(), pairs.data(), pairs.size() * sizeof(uint32_t));
      s.packed16 = reinterpret_cast<const uint32_t*>(p.data());
      storage_.push_back(std::move(p));
      return;
    }
    AlignedBuffer p(size_t(blocks) * size_t(k) * size_t(nr));
    std::fill(p.data(), p.data() + p.size(), 0.f);
    for (int o = 0; o < cout; ++o) {
      float* dst = p.data() + size_t(o / nr) * size_t(k) * size_t(nr) + size_t(o % nr);
      const float* src = w.data() + size_t(o) * size_t(k);
      for (int i = 0; i < k; ++i) dst[size_t(i) * size_t(nr)] = src[i];
    }
    s.packed = p.data();
    storage_.push_back(std::move(p));
  }

  const float* keep_copy(const std::vector<float>& v, size_t count) {
    AlignedBuffer b(count);
    std::fill(b.data(), b.data() + count, 0.f);
    std::copy(v.begin(), v.end(), b.data());
    const float* r = b.data();
    storage_.push_back(std::move(b));
    return r;
  }

  void build_steps() {
    const int count = int(g_.nodes.size());
    std::vector<int> uses(size_t(count), 0);
    for (const Node& n : g_.nodes)
      for (int in : n.inputs) ++uses[size_t(in)];
    auto exported = [&](int id) { return id == g_.output || id == g_.logits || id == g_.features; };

    // A 1x1 projection feeding only an Add writes the sum directly: fused[conv] = add.
    std::vector<int> fused(size_t(count), -1);
    std::vector<int> residual_of(size_t(count), -1);
    for (int id = 0; id < count; ++id) {
      const Node& n = g_.nodes[size_t(id)];
      if (n.op != OpType::Add || n.inputs[0] == n.inputs[1]) continue;
      for (int k = 0; k < 2; ++k) {
        const int c = n.inputs[size_t(k)], r = n.inputs[size_t(1 - k)];
        const Node& cn = g_.nodes[size_t(c)];
        if (cn.op == OpType::Conv2D && is_pointwise(cn) && uses[size_t(c)] == 1 &&
            !exported(c) && r < c && fused[size_t(c)] < 0) {
          fused[size_t(c)] = id;
          residual_of[size_t(c)] = r;
          break;
        }
      }
    }

    root_.assign(size_t(count), -1);
    for (int id = 0; id < count; ++id) {
      const Node& n = g_.nodes[size_t(id)];
      if (n.op == OpType::Reshape)
        root_[size_t(id)] = root_[size_t(n.inputs[0])];
      else
        root_[size_t(id)] = id;
    }
    for (int id = 0; id < count; ++id)
      if (fused[size_t(id)] >= 0) root_[size_t(id)] = fused[size_t(id)];

    // Lifetimes over node positions, per root value.
    first_.assign(size_t(count), -1);
    last_.assign(size_t(count), -1);
    for (int id = 0; id < count; ++id) {
      const int r = root_[size_t(id)];
      if (first_[size_t(r)] < 0) first_[size_t(r)] = id;
      last_[size_t(r)] = std::max(last_[size_t(r)], id);
      for (int in : g_.nodes[size_t(id)].inputs)
        last_[size_t(root_[size_t(in)])] = std::max(last_[size_t(root_[size_t(in)])], id);
    }
    for (int id : {g_.output, g_.logits, g_.features})
      if (id >= 0) last_[size_t(root_[size_t(id)])] = count;

    int64_t scratch = 0;
    for (int id = 0; id < count; ++id) {
      const Node& n = g_.nodes[size_t(id)];
      Step s;
      s.node = id;
      s.out = root_[size_t(id)];
      if (!n.inputs.empty()) {
        s.in = root_[size_t(n.inputs[0])];
        s.xs = g_.node(n.inputs[0]).shape;
      }
      if (n.inputs.size() > 1) s.in2 = root_[size_t(n.inputs[1])];
      s.ys = n.shape;
      s.act = n.activation;
      switch (n.op) {
        case OpType::Input:
        case OpType::Reshape:
          continue;
        case OpType::Add:
          if (std::find(fused.begin(), fused.end(), id) != fused.end()) continue;
          s.kind = StepKind::Add;
          break;
        case OpType::Conv2D: {
          s.cout = n.out_channels;
          s.k = n.kernel_h * n.kernel_w * s.xs.c;
          pack_gemm(s, n.weights, n.bias);
          if (fused[size_t(id)] >= 0) s.residual = root_[size_t(residual_of[size_t(id)])];
          if (is_pointwise(n)) {
            s.kind = StepKind::Gemm;
          } else {
            s.kind = StepKind::Im2colGemm;
            s.seg_pixels = int(std::clamp<int64_t>(kIm2colFloats / s.k, 1, s.ys.w));
            scratch = std::max(scratch, int64_t(s.seg_pixels) * s.k);
            s.dw.kh = n.kernel_h;
            s.dw.kw = n.kernel_w;
            s.dw.sh = n.stride_h;
            s.dw.sw = n.stride_w;
            s.dw.pad_top = n.pad_top;
            s.dw.pad_left = n.pad_left;
          }
          break;
        }
        case OpType::FullyConnected:
          s.kind = StepKind::Gemm;
          s.cout = n.out_channels;
          s.k = int(s.xs.per_image());
          pack_gemm(s, n.weights, n.bias);
          break;
        case OpType::DepthwiseConv2D: {
          const bool k3 = n.kernel_h == 3 && n.kernel_w == 3 && n.depth_multiplier == 1;
          s.kind = k3 ? StepKind::Dw3x3 : StepKind::DwGeneric;
          kernels::DwArgs& d = s.dw;
          d.ih = s.xs.h;
          d.iw = s.xs.w;
          d.c = s.xs.c;
          d.oh = s.ys.h;
          d.ow = s.ys.w;
          d.kh = n.kernel_h;
          d.kw = n.kernel_w;
          d.sh = n.stride_h;
          d.sw = n.stride_w;
          d.pad_top = n.pad_top;
          d.pad_left = n.pad_left;
          d.mult = n.depth_multiplier;
          d.w = keep_copy(n.weights, n.weights.size());
          d.bias = keep_copy(n.bias, size_t(s.ys.c));
          d.act = n.activation;
          break;
        }
        case OpType::GlobalAvgPool:
          s.kind = StepKind::GlobalAvgPool;
          break;
        case OpType::Softmax:
          s.kind = StepKind::Softmax;
          break;
        case OpType::ChannelAffine:
          s.kind = StepKind::Affine;
          s.packed = keep_copy(n.weights, n.weights.size());
          s.bias = keep_copy(n.bias, n.bias.size());
          break;
      }
      steps_.push_back(s);
    }
    // Band producer -> depthwise -> consumer chains whose intermediates nobody else reads.
    windowed_.assign(size_t(count), false);
    std::vector<int> step_of(size_t(count), -1);
    for (size_t i = 0; i < steps_.size(); ++i) step_of[size_t(steps_[i].node)] = int(i);
    for (size_t i = 0; i < steps_.size() && band_bytes_ > 0; ++i) {
      Step& d = steps_[i];
      if (d.kind != StepKind::Dw3x3 && d.kind != StepKind::DwGeneric) continue;
      const Node& dn = g_.node(d.node);
      const int src = dn.inputs[0];
      const int ps = step_of[size_t(src)];
      if (ps >= 0 && ps + 1 == int(i) && uses[size_t(src)] == 1 && !exported(src) &&
          g_.node(src).op == OpType::Conv2D && steps_[size_t(ps)].residual < 0 &&
          !steps_[size_t(ps)].band_member)
        d.producer = ps;
      if (i + 1 < steps_.size()) {
        const Step& q = steps_[i + 1];
        if (q.kind == StepKind::Gemm && g_.node(q.node).op == OpType::Conv2D &&
            g_.node(q.node).inputs[0] == d.node && uses[size_t(d.node)] == 1 &&
            !exported(d.node))
          d.consumer = int(i + 1);
      }
      if (d.producer < 0 && d.consumer < 0) continue;
      if (d.producer >= 0) steps_[size_t(d.producer)].band_member = true;
      if (d.consumer >= 0) steps_[i + 1].band_member = true;
      // Banding interleaves the chain's steps, so every value it touches must stay live
      // (and unshared in the arena) across the whole chain.
      const int start = d.producer >= 0 ? steps_[size_t(d.producer)].node : d.node;
      const int end = d.consumer >= 0 ? steps_[i + 1].node : d.node;
      std::vector<int> touched = {d.in, d.out};
      if (d.producer >= 0) touched.push_back(steps_[size_t(d.producer)].in);
      if (d.consumer >= 0) {
        touched.push_back(steps_[i + 1].out);
        touched.push_back(steps_[i + 1].residual);
      }
      for (int r : touched) {
        if (r < 0) continue;
        first_[size_t(r)] = std::min(first_[size_t(r)], start);
        last_[size_t(r)] = std::max(last_[size_t(r)], end);
      }
      const int64_t row_bytes = int64_t(sizeof(float)) *
                                (int64_t(d.dw.sh) * d.xs.w * d.xs.c + int64_t(d.ys.w) * d.ys.c);
      int rows = int(std::clamp<int64_t>(band_bytes_ / row_bytes, 2, d.ys.h));
      // Two bands or fewer: one. Otherwise balanced bands, so that no band is a sliver
      // whose GEMMs have only a few rows.
      if (2 * rows >= d.ys.h) rows = d.ys.h;
      const int bands = ceil_div(d.ys.h, rows);
      d.band_rows = ceil_div(d.ys.h, bands);
      // Bands shared by the threads: the depthwise part is one item per row, and a multiple
      // of the thread count keeps the threads level (3 rows on 2 threads idle one for a third).
      const int threads = pool_.threads();
      if (threads > 1 && !split_rows(d) && d.band_rows < d.ys.h)
        d.band_rows = std::min(d.ys.h, ceil_div(d.band_rows, threads) * threads);
      int64_t floats = 0;
      if (d.producer >= 0) {
        d.window_rows = std::min((d.band_rows - 1) * d.dw.sh + d.dw.kh, d.xs.h);
        floats += int64_t(d.window_rows) * d.xs.w * d.xs.c;
        windowed_[size_t(d.in)] = true;
      }
      if (d.consumer >= 0) {
        floats += int64_t(d.band_rows) * d.ys.w * d.ys.c;
        windowed_[size_t(d.out)] = true;
      }
      window_floats_ = std::max(window_floats_, floats);
    }
    scratch_floats_ = scratch;
    if (scratch > 0) {
      scratch_ = AlignedBuffer(size_t(scratch) * size_t(pool_.threads()));
    }
    if (bt_) {  // one conversion chunk per thread, for the widest K
      for (const Step& g : steps_)
        if (g.kind == StepKind::Gemm || g.kind == StepKind::Im2colGemm) {
          const int kp = kernels::bf16_pairs(g.k, *bt_);
          // + mr rows: a tile may read (not use) rows up to mr past the chunk (AMX).
          bf16_scratch_pairs_ =
              std::max(bf16_scratch_pairs_, (bf16_chunk_rows(kp) + bt_->mr) * kp);
        }
      bf16_scratch_ = AlignedBuffer(size_t(bf16_scratch_pairs_) * size_t(pool_.threads()) + 1);
      std::fill(bf16_scratch_.data(), bf16_scratch_.data() + bf16_scratch_.size(), 0.f);
    }
  }

  static bool is_pointwise(const Node& n) {
    return n.kernel_h == 1 && n.kernel_w == 1 && n.stride_h == 1 && n.stride_w == 1 &&
           n.pad_top == 0 && n.pad_bottom == 0 && n.pad_left == 0 && n.pad_right == 0;
  }

  // Arenas for `batch` images: lane 0 holds a whole batch run by all threads together;
  // a batch split by images gives lane t (t >= 1) the images of thread t. The only place
  // run() may allocate.
  void plan(int batch) {
    const int threads = pool_.threads();
    lanes_.resize(size_t(threads));
    plan_lane(lanes_[0], batch);
    // Lanes 1.. only serve split batches (batch >= threads); a smaller plan needs none.
    if (batch >= threads)
      for (int t = 1; t < threads; ++t) plan_lane(lanes_[size_t(t)], ceil_div(batch, threads));
    planned_batch_ = batch;
  }

  void plan_lane(Lane& lane, int batch) {
    const int count = int(g_.nodes.size());
    std::vector<ArenaRequest> req;
    std::vector<int> who;
    for (int id = 0; id < count; ++id) {
      // Values that only ever exist in band windows take no arena space.
      if (root_[size_t(id)] != id || id == g_.input || windowed_[size_t(id)]) continue;
      ArenaRequest r;
      r.bytes = int64_t(sizeof(float)) * g_.node(id).shape.per_image() * batch;
      r.first = first_[size_t(id)];
      r.last = last_[size_t(id)];
      req.push_back(r);
      who.push_back(id);
    }
    std::vector<int64_t> offsets;
    const int64_t total = plan_arena(req, &offsets);
    lane.arena = AlignedBuffer(size_t(total) / sizeof(float) + 1);
    // Lane 0 runs band chains split by rows over all threads: one window per thread.
    const size_t window = size_t(window_floats_) * size_t(&lane == &lanes_[0] ? pool_.threads() : 1);
    if (lane.window.size() < window + 1) lane.window = AlignedBuffer(window + 1);
    lane.ptr.assign(size_t(count), nullptr);
    for (size_t i = 0; i < who.size(); ++i)
      lane.ptr[size_t(who[i])] = lane.arena.data() + offsets[i] / int64_t(sizeof(float));
  }

  // Points the lane's aliases (reshapes, fused adds) and its input at their buffers.
  void bind_lane(Lane& lane, const float* input) {
    lane.ptr[size_t(g_.input)] = const_cast<float*>(input);
    for (size_t id = 0; id < lane.ptr.size(); ++id)
      if (root_[id] != int(id)) lane.ptr[id] = lane.ptr[size_t(root_[id])];
  }

  static int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }

  GemmGrid gemm_grid(int64_t rows, int k, int cout) const {
    GemmGrid gr;
    gr.rows = rows;
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

  // Work items per image of the non-GEMM steps; item i of a run covers image i / items.
  void set_grids() {
    for (Step& s : steps_) {
      switch (s.kind) {
        case StepKind::Gemm:
          break;  // gridded per call by run_gemm
        case StepKind::Im2colGemm:
        case StepKind::Dw3x3:
        case StepKind::DwGeneric:
          s.items = s.ys.h;
          break;
        case StepKind::Add:
          s.items = ceil_div(s.ys.per_image(), kElementwiseChunk);
          break;
        case StepKind::Affine:
          s.items = ceil_div(s.ys.h * int64_t(s.ys.w), kElementwiseChunk / 16);
          break;
        case StepKind::GlobalAvgPool:
        case StepKind::Softmax:
          s.items = s.ys.h * s.ys.w;
          break;
      }
    }
    grids_set_ = true;
  }

  // ---- execution ---------------------------------------------------------------------

  // The whole network for images [n0, n1).
  void run_images(int n0, int n1, const Par& par) {
    for (size_t i = 0; i < steps_.size(); ++i) {
      Step& s = steps_[i];
      if (s.band_member) continue;  // run by its depthwise step
      if (s.producer >= 0 || s.consumer >= 0) {
        run_band(s, n0, n1, par);
        continue;  // run_band times its three parts itself
      }
      const auto t0 = now();
      if (s.kind == StepKind::Gemm) {
        const int64_t P = s.ys.h * int64_t(s.ys.w);
        run_gemm(s, n0 * P, (n1 - n0) * P, par);
      } else {
        const int base = n0 * s.items;
        par((n1 - n0) * s.items,
            [&](int item, int worker) { run_item(par.ptr, s, base + item, worker); });
      }
      charge(i, t0);
    }
  }

  // GEMM register-tile shape of the executor's table (bf16 or fp32).
  int gmr() const { return bt_ ? bt_->mr : kt_.mr; }
  int gnr() const { return bt_ ? bt_->nr : kt_.nr; }

  // The tiles of rows [r0, r1) x column blocks [b0, b1) in cache-friendly order, each as
  // tile(block, m0, m1, row4): row4 = one row over blocks [block, block + 4). Tile sizes
  // differ by at most one row (the first `rem` tiles have q + 1), with no division per
  // tile: with small K a tile is only ~150 cycles of multiply-adds. panel_bytes: one
  // packed weight panel.
  template <class F>
  void walk_tiles(const Step& s, int64_t r0, int64_t r1, int b0, int b1, int64_t panel_bytes,
                  F&& tile) const {
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
    } else if (panel_bytes * (b1 - b0) <= kL1Bytes) {
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
  // column block b (nr columns per block).
  template <class Tile>
  static void place_tile(Tile& t, const Step& s, int nr, int b, int64_t m0, int64_t m1, float* c,
                         const float* residual) {
    t.ldc = t.ldr = s.cout;
    t.act = s.act;
    t.bias = s.bias + int64_t(b) * nr;
    t.nr = std::min(nr, s.cout - b * nr);
    t.mr = int(m1 - m0);
    t.c = c + m0 * s.cout + int64_t(b) * nr;
    t.residual = residual ? residual + m0 * s.cout + int64_t(b) * nr : nullptr;
  }

  // Rows [r0, r1) of the GEMM, column blocks [b0, b1); `a` points at row r0 of A, while
  // c and residual are indexed by absolute row. `worker`: whose scratch a bf16 GEMM uses.
  void gemm_rows(const Step& s, const float* a, int64_t lda, int64_t r0, int64_t r1, int b0,
                 int b1, float* c, const float* residual, int worker) const {
    if (s.packed16) return gemm_rows_bf16(s, a, lda, r0, r1, b0, b1, c, residual, worker);
    const int nr = kt_.nr;
    kernels::GemmTile t;
    t.k = s.k;
    t.lda = lda;
    walk_tiles(s, r0, r1, b0, b1, int64_t(s.k) * nr * int64_t(sizeof(float)),
               [&](int b, int64_t m0, int64_t m1, bool row4) {
                 place_tile(t, s, nr, b, m0, m1, c, residual);
                 t.b = s.packed + int64_t(b) * s.k * nr;
                 t.a = a + (m0 - r0) * lda;
                 if (row4)
                   kt_.gemm_row4(t);
                 else
                   kt_.gemm(t);
               });
  }

  // The same in bf16: the rows become bf16 pairs once (per chunk of kBf16ChunkBytes), not
  // once per panel. Every element is still one kernel call over all of K, so neither the
  // chunks nor the thread count change its bits.
  void gemm_rows_bf16(const Step& s, const float* a, int64_t lda, int64_t r0, int64_t r1,
                      int b0, int b1, float* c, const float* residual, int worker) const {
    const int nr = bt_->nr, kp = kernels::bf16_pairs(s.k, *bt_), kreal = (s.k + 1) / 2;
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
      walk_tiles(s, x0, x1, b0, b1, int64_t(kp) * nr * int64_t(sizeof(uint32_t)),
                 [&](int b, int64_t m0, int64_t m1, bool row4) {
                   place_tile(t, s, nr, b, m0, m1, c, residual);
                   t.b = s.packed16 + int64_t(b) * kp * nr;
                   t.a = pairs + (m0 - x0) * kp;
                   if (row4)
                     bt_->gemm_row4(t);
                   else
                     bt_->gemm(t);
                 });
    }
  }

  // Rows per bf16 conversion chunk: whole tiles, at least one.
  int64_t bf16_chunk_rows(int kp) const {
    const int64_t mr = bt_->mr;
    return std::max<int64_t>(mr, kBf16ChunkBytes / (int64_t(kp) * 4) / mr * mr);
  }

  // GEMM rows [row0, row0 + rows) on a grid that depends only on the range and shape.
  void run_gemm(const Step& s, int64_t row0, int64_t rows, const Par& par) {
    const float* res = s.residual >= 0 ? par.ptr[s.residual] + row0 * s.cout : nullptr;
    run_gemm_at(s, par.ptr[s.in] + row0 * s.k, par.ptr[s.out] + row0 * s.cout, res, rows, par);
  }

  // The same on explicit buffers: in, out and res point at the first of the `rows` rows.
  void run_gemm_at(const Step& s, const float* in, float* out, const float* res, int64_t rows,
                   const Par& par) {
    const GemmGrid gr = gemm_grid(rows, s.k, s.cout);
    par(gr.row_chunks * gr.block_chunks, [&](int item, int worker) {
      const int rc = item / gr.block_chunks, bc = item % gr.block_chunks;
      const int t0 = int(int64_t(gr.tiles) * rc / gr.row_chunks);
      const int t1 = int(int64_t(gr.tiles) * (rc + 1) / gr.row_chunks);
      const int b0 = int(int64_t(gr.blocks) * bc / gr.block_chunks);
      const int b1 = int(int64_t(gr.blocks) * (bc + 1) / gr.block_chunks);
      const int64_t r0 = rows * t0 / gr.tiles, r1 = rows * t1 / gr.tiles;
      gemm_rows(s, in + r0 * s.k, s.k, r0, r1, b0, b1, out, res, worker);
    });
  }

  // A producer -> depthwise -> consumer chain, band by band. The producer's output (the
  // expanded tensor) only ever exists as a window of rows in a band buffer: the rows of one
  // band plus the rows the next band shares with it, slid to the front before each band.
  // With a consumer, the depthwise output of a band goes to a second buffer of band_rows
  // rows that the consumer reads back at once. So the wide intermediates stay in L2 and are
  // never written to (or allocated in) the arena; the kernels see the windows through
  // shifted arguments, and every element is computed by the same kernel call as unbanded,
  // so the bits do not change.
  //
  // On several threads each thread takes a contiguous range of the chain's output rows and
  // runs its bands alone, in its own window: no barrier inside the chain and no expanded
  // row crossing cores. The few producer rows two ranges share (kh - stride per boundary)
  // are computed by both threads, each into its own window, with identical bits.
  void run_band(const Step& d, int n0, int n1, const Par& par) {
    const int threads = par.pool ? par.pool->threads() : 1;
    if (threads == 1 || !split_rows(d)) {
      for (int n = n0; n < n1; ++n) run_band_rows(d, n, 0, d.ys.h, par, true);
      return;
    }
    const int parts = std::min(threads, d.ys.h);
    for (int n = n0; n < n1; ++n) {
      const auto t0 = now();
      par.pool->parallel_for(parts, [&](int t, int worker) {
        const int r0 = d.ys.h * t / parts, r1 = d.ys.h * (t + 1) / parts;
        // Not timed per step inside (the parts would race on the timers); the whole
        // chain is charged below.
        run_band_rows(d, n, r0, r1,
                      Par{nullptr, worker, par.ptr, par.window + int64_t(worker) * window_floats_},
                      false);
      });
      if (timing_) {  // the chain as a whole, split over its three steps by MACs
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        double macs[3] = {0, double(step_macs(d)), 0};
        if (d.producer >= 0) macs[0] = double(step_macs(steps_[size_t(d.producer)]));
        if (d.consumer >= 0) macs[2] = double(step_macs(steps_[size_t(d.consumer)]));
        const double sum = macs[0] + macs[1] + macs[2];
        const size_t di = size_t(&d - steps_.data());
        if (d.producer >= 0) step_run_ms_[size_t(d.producer)] += ms * macs[0] / sum;
        step_run_ms_[di] += ms * macs[1] / sum;
        if (d.consumer >= 0) step_run_ms_[size_t(d.consumer)] += ms * macs[2] / sum;
      }
    }
  }

  // Whether the chain runs split by rows over the threads (else all threads share each
  // band). The split recomputes kh - stride producer rows per boundary: cheap on tall
  // inputs, a large share of a 14x14 or 7x7 block.
  bool split_rows(const Step& d) const { return d.xs.h >= split_min_rows_; }

  // Output rows [oy_begin, oy_end) of image n of the chain: on one thread when par is
  // inline, else every band shared by the pool's threads.
  void run_band_rows(const Step& d, int n, int oy_begin, int oy_end, const Par& par,
                     bool timed) {
    const Step* p = d.producer >= 0 ? &steps_[size_t(d.producer)] : nullptr;
    const Step* q = d.consumer >= 0 ? &steps_[size_t(d.consumer)] : nullptr;
    const size_t di = size_t(&d - steps_.data());
    const int ih = d.xs.h, iw = d.xs.w, ow = d.ys.w, c = d.xs.c;
    const int64_t erow = int64_t(iw) * c;  // floats per producer output row
    float* const eb = par.window;
    float* const db = par.window + (p ? d.window_rows * erow : 0);
    auto charge_if = [&](size_t step, Clock::time_point t) {
      if (timed) charge(step, t);
    };
    int wstart = 0;  // window: producer rows [wstart, wend) of image n
    int wend = 0;
    for (int oy0 = oy_begin; oy0 < oy_end; oy0 += d.band_rows) {
      const int oy1 = std::min(oy_end, oy0 + d.band_rows);
      const int first = std::clamp(oy0 * d.dw.sh - d.dw.pad_top, 0, ih);
      const int need = std::clamp((oy1 - 1) * d.dw.sh - d.dw.pad_top + d.dw.kh, 0, ih);
      if (p) {
        // Slide: keep the rows this band shares with the last one, at the front.
        if (first >= wend) {
          wstart = wend = first;
        } else if (first > wstart) {
          std::memmove(eb, eb + (first - wstart) * erow,
                       sizeof(float) * size_t((wend - first) * erow));
          wstart = first;
        }
        if (need > wend) {
          const auto tp = now();
          float* dst = eb + (wend - wstart) * erow;
          if (p->kind == StepKind::Gemm) {
            run_gemm_at(*p, par.ptr[p->in] + (int64_t(n) * ih + wend) * iw * p->k, dst,
                        nullptr, int64_t(need - wend) * iw, par);
          } else {
            const float* x = par.ptr[p->in] + int64_t(n) * p->xs.per_image();
            par(need - wend, [&](int item, int worker) {
              im2col_gemm_row(*p, x, wend + item, dst + item * erow, nullptr, worker);
            });
          }
          wend = need;
          charge_if(size_t(d.producer), tp);
        }
      }
      // The depthwise rows [oy0, oy1) as rows 0.. of shifted arguments: input origin at
      // row `org` (the window start, or the image start), output at the band buffer.
      kernels::DwArgs a = d.dw;
      const int org = p ? wstart : 0;
      a.in = p ? eb : par.ptr[d.in] + int64_t(n) * d.xs.per_image();
      a.ih = ih - org;
      a.pad_top = d.dw.pad_top + org - oy0 * d.dw.sh;
      a.out = q ? db : par.ptr[d.out] + int64_t(n) * d.ys.per_image() + int64_t(oy0) * ow * d.ys.c;
      a.oh = oy1 - oy0;
      const auto td = now();
      par(oy1 - oy0, [&](int item, int) {
        if (d.kind == StepKind::Dw3x3)
          kt_.dw3x3_row(a, item);
        else
          kernels::dw_generic_row(a, item);
      });
      charge_if(di, td);
      if (q) {
        const auto tq = now();
        const int64_t row0 = (int64_t(n) * d.ys.h + oy0) * ow;
        run_gemm_at(*q, db, par.ptr[q->out] + row0 * q->cout,
                    q->residual >= 0 ? par.ptr[q->residual] + row0 * q->cout : nullptr,
                    int64_t(oy1 - oy0) * ow, par);
        charge_if(size_t(d.consumer), tq);
      }
    }
  }

  // Output row oy of an im2col convolution of image x ([ih][iw][cin]) into y (and plus
  // res), on the im2col scratch of `worker`.
  void im2col_gemm_row(const Step& s, const float* x, int oy, float* y, const float* res,
                       int worker) {
    float* col = scratch_.data() + int64_t(worker) * scratch_floats_;
    const int blocks = ceil_div(s.cout, gnr());
    for (int x0 = 0; x0 < s.ys.w; x0 += s.seg_pixels) {
      const int x1 = std::min(s.ys.w, x0 + s.seg_pixels);
      // im2col_row covers a whole row; segments shift the origin by x0 output pixels.
      kernels::im2col_row(x, s.xs.h, s.xs.w, s.xs.c, s.dw.kh, s.dw.kw, s.dw.sh, s.dw.sw,
                          s.dw.pad_top, s.dw.pad_left - x0 * s.dw.sw, x1 - x0, oy, col);
      gemm_rows(s, col, s.k, x0, x1, 0, blocks, y, res, worker);
    }
  }

  // Item `item` of step s counted from image 0 (s.items per image).
  void run_item(float* const* ptr, const Step& s, int item, int worker) {
    float* out = ptr[s.out];
    const float* in = s.in >= 0 ? ptr[s.in] : nullptr;
    switch (s.kind) {
      case StepKind::Gemm:
        break;  // see run_gemm
      case StepKind::Im2colGemm: {
        const int n = item / s.ys.h, oy = item % s.ys.h;
        const float* x = in + n * s.xs.per_image();
        float* y = out + n * s.ys.per_image() + int64_t(oy) * s.ys.w * s.cout;
        const float* res = s.residual >= 0
                               ? ptr[s.residual] + n * s.ys.per_image() +
                                     int64_t(oy) * s.ys.w * s.cout
                               : nullptr;
        im2col_gemm_row(s, x, oy, y, res, worker);
        break;
      }
      case StepKind::Dw3x3:
      case StepKind::DwGeneric: {
        const int n = item / s.ys.h, oy = item % s.ys.h;
        kernels::DwArgs d = s.dw;
        d.in = in + n * s.xs.per_image();
        d.out = out + n * s.ys.per_image();
        if (s.kind == StepKind::Dw3x3)
          kt_.dw3x3_row(d, oy);
        else
          kernels::dw_generic_row(d, oy);
        break;
      }
      case StepKind::Add: {
        const int64_t per = s.ys.per_image(), j = int64_t(item % s.items) * kElementwiseChunk;
        const int64_t i0 = (item / s.items) * per + j;
        const int64_t n = std::min(kElementwiseChunk, per - j);
        kt_.add(in + i0, ptr[s.in2] + i0, out + i0, n);
        break;
      }
      case StepKind::Affine: {
        const int64_t pixels = s.ys.h * int64_t(s.ys.w);
        const int64_t j = int64_t(item % s.items) * (kElementwiseChunk / 16);
        const int64_t p0 = (item / s.items) * pixels + j;
        const int64_t n = std::min(kElementwiseChunk / 16, pixels - j);
        kt_.channel_affine(in + p0 * s.ys.c, out + p0 * s.ys.c, n, s.ys.c, s.packed, s.bias);
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
    }
  }

  // ---- profiling (MNV2_PROFILE=1) ------------------------------------------------------

  using Clock = std::chrono::steady_clock;
  Clock::time_point now() const { return timing_ ? Clock::now() : Clock::time_point(); }
  void charge(size_t step, Clock::time_point t0) {
    if (timing_)
      step_run_ms_[step] += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }

  int64_t step_macs(const Step& s) const {  // per image
    switch (s.kind) {
      case StepKind::Gemm:
      case StepKind::Im2colGemm:
        return int64_t(s.ys.h) * s.ys.w * s.k * s.cout;
      case StepKind::Dw3x3:
      case StepKind::DwGeneric:
        return int64_t(s.ys.h) * s.ys.w * s.ys.c * s.dw.kh * s.dw.kw;
      default:
        return 0;
    }
  }

  // Wall time per step on stderr when the executor goes away: mean per image over all runs,
  // and the minimum per image over the runs (robust against preemption on a busy machine;
  // GMAC/s and % use the minimum).
  static constexpr const char* kKind[] = {"gemm", "im2col+gemm", "dw3x3", "dw", "add", "avgpool",
                                          "softmax", "affine"};
  void print_profile() const {
    double total = 0, total_min = 0;
    for (double v : step_ms_) total += v;
    for (double v : step_min_ms_) total_min += v;
    std::fprintf(stderr,
                 "mnv2 profile: %lld image(s), %d thread(s), mean %.3f ms per image, sum of "
                 "per-step minima %.3f ms\n",
                 (long long)images_, pool_.threads(), total / double(images_), total_min);
    std::fprintf(stderr, "%4s  %-11s %-32s %12s %9s %9s %6s %8s\n", "step", "kind", "node",
                 "output", "mean ms", "min ms", "% min", "GMAC/s");
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Step& s = steps_[i];
      const double mean = step_ms_[i] / double(images_), ms = step_min_ms_[i];
      const int64_t macs = step_macs(s);
      char shape[48];
      std::snprintf(shape, sizeof shape, "%dx%dx%d", s.ys.h, s.ys.w, s.ys.c);
      const std::string& name = g_.node(s.node).name;  // the tail tells expand/dw/project
      const char* tail = name.size() > 32 ? name.c_str() + (name.size() - 32) : name.c_str();
      std::fprintf(stderr, "%4zu  %-11s %-32s %12s %9.4f %9.4f %6.2f %8.2f\n", i,
                   kKind[int(s.kind)], tail, shape, mean, ms,
                   total_min > 0 ? 100.0 * ms / total_min : 0.0,
                   ms > 0 ? double(macs) / (ms * 1e6) : 0.0);
    }
  }

  Graph g_;
  const kernels::KernelTable& kt_;
  const kernels::Bf16KernelTable* bt_;  // bf16 GEMMs, or null (fp32)
  ThreadPool pool_;
  std::vector<Step> steps_;
  std::vector<AlignedBuffer> storage_;  // packed weights, biases
  std::vector<int> root_, first_, last_;
  std::vector<Lane> lanes_;
  AlignedBuffer scratch_;
  int64_t scratch_floats_ = 0;
  AlignedBuffer bf16_scratch_;  // bf16 pairs of A rows, bf16_scratch_pairs_ per thread
  int64_t bf16_scratch_pairs_ = 0;
  int64_t window_floats_ = 0;  // band buffers per thread
  std::vector<bool> windowed_;  // value id -> only ever held in band windows
  int64_t band_bytes_ = kBandBytes;
  int split_min_rows_ = 28;
  int planned_batch_ = 0;
  bool grids_set_ = false;
  bool profile_ = false;
  bool timing_ = false;  // profile_, and this run is timed (not split by images)
  bool profile_env_ = false;  // MNV2_PROFILE=1: print the table when destroyed
  int64_t runs_ = 0;
  std::vector<double> step_ms_;      // wall ms per step, summed over runs
  std::vector<double> step_run_ms_;  // this run's wall ms per step
  std::vector<double> step_min_ms_;  // minimum over runs of ms per image
  int64_t images_ = 0;
};

// The profile as data, with a per-image bytes-moved model for roofline estimates: every
// fp32 activation a step reads (input, second input, fused residual) and writes counted
// once, and its weights and bias once per run.
ExecutorProfile FastExecutor::profile() const {
  ExecutorProfile p;
  p.images = images_;
  p.runs = runs_;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    StepProfile r;
    r.name = g_.node(s.node).name;
    r.kind = kKind[int(s.kind)];
    r.out_h = s.ys.h;
    r.out_w = s.ys.w;
    r.out_c = s.ys.c;
    r.macs = step_macs(s);
    const int64_t in = s.xs.per_image(), out = s.ys.per_image();
    int64_t act = in + out, w = 0;
    switch (s.kind) {
      case StepKind::Gemm:
      case StepKind::Im2colGemm:
        w = int64_t(s.k) * s.cout + s.cout;
        if (s.residual >= 0) act += out;
        break;
      case StepKind::Dw3x3:
      case StepKind::DwGeneric:
        w = int64_t(s.dw.kh) * s.dw.kw * s.ys.c + s.ys.c;
        break;
      case StepKind::Add:
        act += in;
        break;
      case StepKind::Affine:
        w = 2 * int64_t(s.ys.c);
        break;
      default:
        break;
    }
    r.activation_bytes = act * int64_t(sizeof(float));
    r.weight_bytes = w * int64_t(sizeof(float));
    if (bt_ && (s.kind == StepKind::Gemm || s.kind == StepKind::Im2colGemm))
      r.weight_bytes = int64_t(kernels::bf16_pairs(s.k, *bt_)) * 4 * s.cout + int64_t(s.cout) * 4;
    if (s.producer >= 0 || s.consumer >= 0) r.band = int(i);
    if (s.band_member) {  // find the depthwise step that runs it
      for (size_t j = 0; j < steps_.size(); ++j)
        if (steps_[j].producer == int(i) || steps_[j].consumer == int(i)) r.band = int(j);
    }
    if (step_ms_.size() == steps_.size()) {
      r.total_ms = step_ms_[i];
      r.min_ms_per_image = runs_ > 0 ? step_min_ms_[i] : 0.0;
    }
    p.steps.push_back(std::move(r));
  }
  return p;
}

}  // namespace

bool bf16_supported(Isa isa, bool amx) { return kernels::bf16_table(isa, amx) != nullptr; }

std::unique_ptr<Executor> Executor::create(const Graph& graph, const ExecutorOptions& options) {
  return std::make_unique<FastExecutor>(graph, options);
}

}  // namespace mnv2
