#include "runtime/plan.h"

#include <algorithm>
#include <cstdlib>

#include "runtime/arena.h"

namespace mnv2 {

namespace {

// Element chunk of one Add / Affine work item: enough per item to amortise the dispatch,
// small enough for two or three threads to balance.
constexpr int64_t kElementwiseChunk = 64 * 1024;

int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }

bool is_depthwise(StepKind k) { return k == StepKind::Dw3x3 || k == StepKind::DwGeneric; }

// Work counts per image, in elements.
void count_work(PlanStep& s) {
  const int64_t in = s.xs.per_image(), out = s.ys.per_image();
  s.act_read = in;
  s.act_written = out;
  switch (s.kind) {
    case StepKind::Gemm:
    case StepKind::Im2colGemm:
      s.macs = int64_t(s.ys.h) * s.ys.w * s.k * s.cout;
      s.weights = int64_t(s.k) * s.cout + s.cout;
      if (s.residual >= 0) s.act_read += out;
      break;
    case StepKind::Dw3x3:
    case StepKind::DwGeneric:
      s.macs = int64_t(s.ys.h) * s.ys.w * s.ys.c * s.geom.kh * s.geom.kw;
      s.weights = int64_t(s.geom.kh) * s.geom.kw * s.ys.c + s.ys.c;
      break;
    case StepKind::Add:
      s.act_read += in;
      break;
    case StepKind::Affine:
      s.weights = 2 * int64_t(s.ys.c);
      break;
    case StepKind::GlobalAvgPool:
    case StepKind::Softmax:
      break;
  }
}

int items_per_image(const PlanStep& s) {
  switch (s.kind) {
    case StepKind::Gemm:
      return 0;
    case StepKind::Im2colGemm:
    case StepKind::Dw3x3:
    case StepKind::DwGeneric:
      return s.ys.h;
    case StepKind::Add:
      return ceil_div(s.ys.per_image(), kElementwiseChunk);
    case StepKind::Affine:
      return ceil_div(s.ys.h * int64_t(s.ys.w), kElementwiseChunk / 16);
    case StepKind::GlobalAvgPool:
    case StepKind::Softmax:
      return s.ys.h * s.ys.w;
  }
  return 0;
}

class Planner {
 public:
  Planner(const Graph& g, const PlanOptions& o) : g_(g), o_(o) {
    p_.threads = std::max(1, o.threads);
  }

  Plan build() {
    const int count = int(g_.nodes.size());
    uses_.assign(size_t(count), 0);
    for (const Node& n : g_.nodes)
      for (int in : n.inputs) ++uses_[size_t(in)];
    fuse_residuals();
    roots_and_lifetimes();
    make_steps();
    make_chains();
    return std::move(p_);
  }

 private:
  bool exported(int id) const { return id == g_.output || id == g_.logits || id == g_.features; }

  // A 1x1 projection feeding only an Add writes the sum directly: fused_[conv] = add.
  void fuse_residuals() {
    const int count = int(g_.nodes.size());
    fused_.assign(size_t(count), -1);
    residual_of_.assign(size_t(count), -1);
    for (int id = 0; id < count; ++id) {
      const Node& n = g_.nodes[size_t(id)];
      if (n.op != OpType::Add || n.inputs[0] == n.inputs[1]) continue;
      for (int k = 0; k < 2; ++k) {
        const int c = n.inputs[size_t(k)], r = n.inputs[size_t(1 - k)];
        const Node& cn = g_.nodes[size_t(c)];
        if (cn.op == OpType::Conv2D && is_pointwise(cn) && uses_[size_t(c)] == 1 &&
            !exported(c) && r < c && fused_[size_t(c)] < 0) {
          fused_[size_t(c)] = id;
          residual_of_[size_t(c)] = r;
          break;
        }
      }
    }
  }

  void roots_and_lifetimes() {
    const int count = int(g_.nodes.size());
    std::vector<int>& root = p_.root;
    root.assign(size_t(count), -1);
    for (int id = 0; id < count; ++id) {
      const Node& n = g_.nodes[size_t(id)];
      root[size_t(id)] = n.op == OpType::Reshape ? root[size_t(n.inputs[0])] : id;
    }
    for (int id = 0; id < count; ++id)
      if (fused_[size_t(id)] >= 0) root[size_t(id)] = fused_[size_t(id)];
    // Lifetimes over node positions, per root value.
    p_.first.assign(size_t(count), -1);
    p_.last.assign(size_t(count), -1);
    for (int id = 0; id < count; ++id) {
      const int r = root[size_t(id)];
      if (p_.first[size_t(r)] < 0) p_.first[size_t(r)] = id;
      p_.last[size_t(r)] = std::max(p_.last[size_t(r)], id);
      for (int in : g_.nodes[size_t(id)].inputs) {
        const size_t ri = size_t(root[size_t(in)]);
        p_.last[ri] = std::max(p_.last[ri], id);
      }
    }
    for (int id : {g_.output, g_.logits, g_.features})
      if (id >= 0) p_.last[size_t(root[size_t(id)])] = count;
  }

  void make_steps() {
    const int count = int(g_.nodes.size());
    const std::vector<int>& root = p_.root;
    for (int id = 0; id < count; ++id) {
      const Node& n = g_.nodes[size_t(id)];
      PlanStep s;
      s.node = id;
      s.out = root[size_t(id)];
      if (!n.inputs.empty()) {
        s.in = root[size_t(n.inputs[0])];
        s.xs = g_.node(n.inputs[0]).shape;
        s.xs.n = 1;
      }
      if (n.inputs.size() > 1) s.in2 = root[size_t(n.inputs[1])];
      s.ys = n.shape;
      s.ys.n = 1;
      s.act = n.activation;
      s.geom = {n.kernel_h, n.kernel_w, n.stride_h, n.stride_w, n.pad_top, n.pad_left,
                n.depth_multiplier};
      switch (n.op) {
        case OpType::Input:
        case OpType::Reshape:
          continue;
        case OpType::Add:
          if (std::find(fused_.begin(), fused_.end(), id) != fused_.end()) continue;
          s.kind = StepKind::Add;
          break;
        case OpType::Conv2D:
          s.kind = is_pointwise(n) ? StepKind::Gemm : StepKind::Im2colGemm;
          s.cout = n.out_channels;
          s.k = n.kernel_h * n.kernel_w * s.xs.c;
          if (fused_[size_t(id)] >= 0) {
            s.add_node = fused_[size_t(id)];
            s.residual = root[size_t(residual_of_[size_t(id)])];
          }
          break;
        case OpType::FullyConnected:
          s.kind = StepKind::Gemm;
          s.cout = n.out_channels;
          s.k = int(s.xs.per_image());
          break;
        case OpType::DepthwiseConv2D:
          s.kind = n.kernel_h == 3 && n.kernel_w == 3 && n.depth_multiplier == 1
                       ? StepKind::Dw3x3
                       : StepKind::DwGeneric;
          break;
        case OpType::GlobalAvgPool:
          s.kind = StepKind::GlobalAvgPool;
          break;
        case OpType::Softmax:
          s.kind = StepKind::Softmax;
          break;
        case OpType::ChannelAffine:
          s.kind = StepKind::Affine;
          break;
        MNV2_UNFOLDED_OP_CASES:
          unfolded_op(n);
      }
      s.items = items_per_image(s);
      count_work(s);
      p_.steps.push_back(s);
    }
  }

  // Producer -> depthwise -> consumer chains whose intermediates nobody else reads.
  void make_chains() {
    const int count = int(g_.nodes.size());
    std::vector<PlanStep>& steps = p_.steps;
    p_.windowed.assign(size_t(count), false);
    std::vector<int> step_of(size_t(count), -1);
    for (size_t i = 0; i < steps.size(); ++i) step_of[size_t(steps[i].node)] = int(i);
    for (size_t i = 0; i < steps.size() && o_.band_bytes > 0; ++i) {
      const PlanStep& d = steps[i];
      if (!is_depthwise(d.kind)) continue;
      Chain ch;
      ch.dw = int(i);
      const int src = g_.node(d.node).inputs[0];
      const int ps = step_of[size_t(src)];
      if (ps >= 0 && ps + 1 == int(i) && uses_[size_t(src)] == 1 && !exported(src) &&
          g_.node(src).op == OpType::Conv2D && steps[size_t(ps)].residual < 0 &&
          steps[size_t(ps)].chain < 0)
        ch.producer = ps;
      if (i + 1 < steps.size()) {
        const PlanStep& q = steps[i + 1];
        if (q.kind == StepKind::Gemm && g_.node(q.node).op == OpType::Conv2D &&
            g_.node(q.node).inputs[0] == d.node && uses_[size_t(d.node)] == 1 &&
            !exported(d.node))
          ch.consumer = int(i + 1);
      }
      if (ch.producer < 0 && ch.consumer < 0) continue;
      const PlanStep* p = ch.producer >= 0 ? &steps[size_t(ch.producer)] : nullptr;
      const PlanStep* q = ch.consumer >= 0 ? &steps[size_t(ch.consumer)] : nullptr;
      // Banding interleaves the chain's steps, so every value it touches must stay live
      // (and unshared in the arena) across the whole chain.
      const int start = p ? p->node : d.node;
      const int end = q ? q->node : d.node;
      for (int r : {d.in, d.out, p ? p->in : -1, q ? q->out : -1, q ? q->residual : -1}) {
        if (r < 0) continue;
        p_.first[size_t(r)] = std::min(p_.first[size_t(r)], start);
        p_.last[size_t(r)] = std::max(p_.last[size_t(r)], end);
      }
      size_bands(d, ch);
      if (p) p_.windowed[size_t(d.in)] = true;
      if (q) p_.windowed[size_t(d.out)] = true;
      p_.window_elems = std::max(p_.window_elems, ch.window_elems);
      const int c = int(p_.chains.size());
      for (int s : {ch.producer, ch.dw, ch.consumer})
        if (s >= 0) steps[size_t(s)].chain = c;
      p_.chains.push_back(ch);
    }
  }

  void size_bands(const PlanStep& d, Chain& ch) const {
    const ConvGeom& gm = d.geom;
    ch.split_rows = p_.threads > 1 && d.xs.h >= o_.split_min_rows;
    const int64_t row_bytes =
        4 * (int64_t(gm.sh) * d.xs.w * d.xs.c + int64_t(d.ys.w) * d.ys.c);
    int rows = int(std::clamp<int64_t>(o_.band_bytes / row_bytes, 2, d.ys.h));
    // Two bands or fewer: one. Otherwise balanced bands, so that no band is a sliver whose
    // GEMMs have only a few rows.
    if (2 * rows >= d.ys.h) rows = d.ys.h;
    const int bands = ceil_div(d.ys.h, rows);
    ch.band_rows = ceil_div(d.ys.h, bands);
    // Bands shared by the threads: the depthwise part is one item per row, and a multiple
    // of the thread count keeps the threads level (3 rows on 2 threads idle one for a third).
    const int threads = p_.threads;
    if (threads > 1 && !ch.split_rows && ch.band_rows < d.ys.h)
      ch.band_rows = std::min(d.ys.h, ceil_div(ch.band_rows, threads) * threads);
    if (ch.producer >= 0) {
      ch.window_rows = std::min((ch.band_rows - 1) * gm.sh + gm.kh, d.xs.h);
      ch.dw_offset = int64_t(ch.window_rows) * d.xs.w * d.xs.c;
    }
    ch.window_elems = ch.dw_offset;
    if (ch.consumer >= 0) ch.window_elems += int64_t(ch.band_rows) * d.ys.w * d.ys.c;
  }

  const Graph& g_;
  const PlanOptions o_;
  Plan p_;
  std::vector<int> uses_, fused_, residual_of_;
};

}  // namespace

const char* step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::Gemm: return "gemm";
    case StepKind::Im2colGemm: return "im2col+gemm";
    case StepKind::Dw3x3: return "dw3x3";
    case StepKind::DwGeneric: return "dw";
    case StepKind::Add: return "add";
    case StepKind::GlobalAvgPool: return "avgpool";
    case StepKind::Softmax: return "softmax";
    case StepKind::Affine: return "affine";
  }
  return "?";
}

PlanOptions plan_options_from_env(int threads) {
  PlanOptions o;
  o.threads = threads;
  if (const char* b = std::getenv("MNV2_BAND_BYTES"); b && *b)
    o.band_bytes = std::max<int64_t>(0, std::atoll(b));
  if (const char* b = std::getenv("MNV2_SPLIT_MIN_ROWS"); b && *b)
    o.split_min_rows = std::atoi(b);
  return o;
}

Plan make_plan(const Graph& g, const PlanOptions& options) {
  return Planner(g, options).build();
}

BufferLayout plan_buffers(const Graph& g, const Plan& plan, int batch, int elem_bytes,
                          bool input_in_arena) {
  const int count = int(g.nodes.size());
  std::vector<ArenaRequest> req;
  std::vector<int> who;
  for (int id = 0; id < count; ++id) {
    if (plan.root[size_t(id)] != id || plan.windowed[size_t(id)]) continue;
    if (id == g.input && !input_in_arena) continue;
    ArenaRequest r;
    r.bytes = int64_t(elem_bytes) * g.node(id).shape.per_image() * batch;
    r.first = plan.first[size_t(id)];
    r.last = plan.last[size_t(id)];
    req.push_back(r);
    who.push_back(id);
  }
  BufferLayout b;
  std::vector<int64_t> offsets;
  b.bytes = plan_arena(req, &offsets);
  b.offset.assign(size_t(count), -1);
  for (size_t i = 0; i < who.size(); ++i) b.offset[size_t(who[i])] = offsets[i];
  return b;
}

}  // namespace mnv2
