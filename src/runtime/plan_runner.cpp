#include "runtime/plan_runner.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace mnv2 {

namespace {

Graph with_shapes(Graph g) {
  g.infer_shapes(1);
  return g;
}

template <class T>
void free_vector(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

// An arena of `bytes` as an AlignedBuffer (which counts floats), one spare float so that
// an empty request still gets a valid pointer.
AlignedBuffer bytes_buffer(int64_t bytes) { return AlignedBuffer(size_t((bytes + 3) / 4) + 1); }

}  // namespace

PlanRunner::PlanRunner(Graph graph, const ExecutorOptions& o, int elem_bytes,
                       const char* precision)
    : g_(with_shapes(std::move(graph))),
      pool_(o.threads),
      plan_(make_plan(g_, plan_options_from_env(pool_.threads()))),
      eb_(elem_bytes),
      precision_(precision) {
  const char* prof = std::getenv("MNV2_PROFILE");
  profile_env_ = prof && *prof && std::string(prof) != "0";
  planned_batch_ = std::max(1, o.max_batch);
}

void PlanRunner::start(bool input_in_arena) {
  input_in_arena_ = input_in_arena;
  plan_lanes(planned_batch_);
  set_profiling(profile_env_);
}

void PlanRunner::release_weights(int id, bool int_form) {
  Node& n = g_.node(id);
  free_vector(n.weights);
  free_vector(n.bias);
  if (!int_form) return;
  free_vector(n.qweights);
  free_vector(n.qbias);
}

ExecutorMemory PlanRunner::memory() const {
  ExecutorMemory m;
  m.weights = packed_bytes();
  for (const Node& n : g_.nodes)  // what a step still reads from the graph itself
    m.weights += int64_t(n.weights.size() * sizeof(float) + n.bias.size() * sizeof(float) +
                         n.qweights.size() * sizeof(int16_t) + n.qbias.size() * sizeof(int32_t));
  for (const Lane& l : lanes_)
    m.arena += int64_t(l.arena.size() + l.window.size()) * int64_t(sizeof(float));
  m.batch = planned_batch_;
  m.arena_per_image = plan_buffers(g_, plan_, 1, eb_, input_in_arena_).bytes +
                      plan_.window_elems * eb_ * pool_.threads();
  m.scratch = scratch_bytes();
  return m;
}

PlanRunner::~PlanRunner() {
  if (profile_env_ && images_ > 0) print_profile();
}

void PlanRunner::set_profiling(bool on) {
  profile_ = on;
  if (on && step_ms_.size() != plan_.steps.size()) reset_profile();
}

void PlanRunner::reset_profile() {
  step_ms_.assign(plan_.steps.size(), 0.0);
  step_run_ms_.assign(plan_.steps.size(), 0.0);
  step_min_ms_.assign(plan_.steps.size(), 1e300);
  images_ = 0;
  runs_ = 0;
}

void PlanRunner::stage_input(const float*, uint8_t*, int64_t, const Par&) {
  throw Error("executor: this precision reads the float input directly");
}

// ---- buffers -------------------------------------------------------------------------

// Arenas for `batch` images: lane 0 holds a whole batch run by all threads together;
// a batch split by images gives lane t (t >= 1) the images of thread t. The only place
// run() may allocate.
void PlanRunner::plan_lanes(int batch) {
  const int threads = pool_.threads();
  lanes_.resize(size_t(threads));
  // Lane 0 runs chains split by rows over all threads: one window per thread.
  plan_lane(lanes_[0], batch, threads);
  // Lanes 1.. only serve split batches (batch >= threads); a smaller plan needs none.
  if (batch >= threads)
    for (int t = 1; t < threads; ++t)
      plan_lane(lanes_[size_t(t)], (batch + threads - 1) / threads, 1);
  planned_batch_ = batch;
}

void PlanRunner::plan_lane(Lane& lane, int batch, int windows) {
  const BufferLayout b = plan_buffers(g_, plan_, batch, eb_, input_in_arena_);
  lane.arena = bytes_buffer(b.bytes);
  const int64_t window = plan_.window_elems * eb_ * windows;
  if (int64_t(lane.window.size()) * 4 < window + 4) lane.window = bytes_buffer(window);
  auto* base = reinterpret_cast<uint8_t*>(lane.arena.data());
  lane.ptr.assign(g_.nodes.size(), nullptr);
  for (size_t id = 0; id < b.offset.size(); ++id)
    if (b.offset[id] >= 0) lane.ptr[id] = base + b.offset[id];
}

// Image n of value `value` in the running lane; the graph input outside the arena is the
// caller's float array.
uint8_t* PlanRunner::image(const Par& par, int value, int64_t per_image, int n) const {
  const int64_t eb = value == g_.input && !input_in_arena_ ? int64_t(sizeof(float)) : eb_;
  return par.ptr[value] + int64_t(n) * per_image * eb;
}

// ---- execution -----------------------------------------------------------------------

void PlanRunner::run(const float* input, int batch, float* output, float* logits,
                     float* features) {
  if (batch < 1) throw Error("run: batch must be >= 1");
  if (batch > planned_batch_) plan_lanes(batch);
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
    read_output(id, lane.ptr[size_t(plan_.root[size_t(id)])], dst + n0 * per, per * nb);
  };
  // Images [n0, n0 + nb) in `lane`, as images 0..nb-1 there.
  auto run_lane = [&](Lane& lane, int n0, int nb, const Par& par) {
    const float* x = input + n0 * in_per_image;
    const size_t in = size_t(g_.input);
    if (input_in_arena_)
      stage_input(x, lane.ptr[in], in_per_image * nb, par);
    else
      lane.ptr[in] = reinterpret_cast<uint8_t*>(const_cast<float*>(x));
    // Aliases (reshapes, fused adds) point at their roots' buffers.
    for (size_t id = 0; id < lane.ptr.size(); ++id)
      if (plan_.root[id] != int(id)) lane.ptr[id] = lane.ptr[size_t(plan_.root[id])];
    run_images(0, nb, Par{par.pool, par.worker, lane.ptr.data(),
                          reinterpret_cast<uint8_t*>(lane.window.data())});
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
    for (size_t i = 0; i < step_ms_.size(); ++i) {
      step_ms_[i] += step_run_ms_[i];
      step_min_ms_[i] = std::min(step_min_ms_[i], step_run_ms_[i] / batch);
      step_run_ms_[i] = 0;
    }
  }
}

// The whole network for images [n0, n1).
void PlanRunner::run_images(int n0, int n1, const Par& par) {
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& s = plan_.steps[i];
    if (s.chain >= 0) {
      const Chain& ch = plan_.chains[size_t(s.chain)];
      // run_chain times its parts itself.
      if (ch.dw == int(i)) run_chain(ch, n0, n1, par);
      continue;
    }
    const auto t0 = now();
    switch (s.kind) {
      case StepKind::Gemm: {
        const int64_t rows = int64_t(s.ys.h) * s.ys.w;
        const uint8_t* res = s.residual >= 0 ? image(par, s.residual, s.ys.per_image(), n0)
                                             : nullptr;
        gemm(s, image(par, s.in, s.xs.per_image(), n0), image(par, s.out, s.ys.per_image(), n0),
             res, (n1 - n0) * rows, par);
        break;
      }
      case StepKind::Im2colGemm:
        par((n1 - n0) * s.ys.h, [&](int it, int worker) {
          const int n = n0 + it / s.ys.h, oy = it % s.ys.h;
          im2col_gemm_row(s, image(par, s.in, s.xs.per_image(), n), oy,
                          image(par, s.out, s.ys.per_image(), n) +
                              int64_t(oy) * s.ys.w * s.cout * eb_,
                          worker);
        });
        break;
      case StepKind::Dw3x3:
      case StepKind::DwGeneric:
        par((n1 - n0) * s.ys.h, [&](int it, int) {
          const int n = n0 + it / s.ys.h;
          const DwRows r{image(par, s.in, s.xs.per_image(), n), s.xs.h, s.geom.pad_top,
                         image(par, s.out, s.ys.per_image(), n), s.ys.h};
          depthwise_row(s, r, it % s.ys.h);
        });
        break;
      default: {
        const int base = n0 * s.items;
        par((n1 - n0) * s.items,
            [&](int it, int worker) { item(s, par.ptr, base + it, worker); });
        break;
      }
    }
    charge(int(i), t0);
  }
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
// On several threads a split_rows chain gives each thread a contiguous range of the
// chain's output rows to run alone in its own window: no barrier inside the chain and no
// expanded row crossing cores. The few producer rows two ranges share (kh - stride per
// boundary) are computed by both threads, each into its own window, with identical bits.
void PlanRunner::run_chain(const Chain& ch, int n0, int n1, const Par& par) {
  const PlanStep& d = plan_.steps[size_t(ch.dw)];
  if (!par.pool || !ch.split_rows) {
    for (int n = n0; n < n1; ++n) run_chain_rows(ch, n, 0, d.ys.h, par, true);
    return;
  }
  const int parts = std::min(par.pool->threads(), d.ys.h);
  for (int n = n0; n < n1; ++n) {
    const auto t0 = now();
    par.pool->parallel_for(parts, [&](int t, int worker) {
      const int r0 = d.ys.h * t / parts, r1 = d.ys.h * (t + 1) / parts;
      // Not timed per step inside (the parts would race on the timers); the whole
      // chain is charged below.
      run_chain_rows(ch, n, r0, r1,
                     Par{nullptr, worker, par.ptr,
                         par.window + int64_t(worker) * plan_.window_elems * eb_},
                     false);
    });
    if (timing_) {  // the chain as a whole, split over its steps by MACs
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      double sum = 0;
      for (int s : {ch.producer, ch.dw, ch.consumer})
        if (s >= 0) sum += double(plan_.steps[size_t(s)].macs);
      for (int s : {ch.producer, ch.dw, ch.consumer})
        if (s >= 0) step_run_ms_[size_t(s)] += ms * double(plan_.steps[size_t(s)].macs) / sum;
    }
  }
}

// Output rows [oy_begin, oy_end) of image n of the chain: on one thread when par is
// inline, else every band shared by the pool's threads.
void PlanRunner::run_chain_rows(const Chain& ch, int n, int oy_begin, int oy_end,
                                const Par& par, bool timed) {
  const PlanStep& d = plan_.steps[size_t(ch.dw)];
  const PlanStep* p = ch.producer >= 0 ? &plan_.steps[size_t(ch.producer)] : nullptr;
  const PlanStep* q = ch.consumer >= 0 ? &plan_.steps[size_t(ch.consumer)] : nullptr;
  const int ih = d.xs.h, iw = d.xs.w, ow = d.ys.w;
  const int64_t erow = int64_t(iw) * d.xs.c * eb_;  // bytes per producer output row
  uint8_t* const eb = par.window;
  uint8_t* const db = par.window + ch.dw_offset * eb_;
  auto charge_if = [&](int step, Clock::time_point t) {
    if (timed) charge(step, t);
  };
  int wstart = 0;  // window: producer rows [wstart, wend) of image n
  int wend = 0;
  for (int oy0 = oy_begin; oy0 < oy_end; oy0 += ch.band_rows) {
    const int oy1 = std::min(oy_end, oy0 + ch.band_rows);
    const int first = std::clamp(oy0 * d.geom.sh - d.geom.pad_top, 0, ih);
    const int need = std::clamp((oy1 - 1) * d.geom.sh - d.geom.pad_top + d.geom.kh, 0, ih);
    if (p) {
      // Slide: keep the rows this band shares with the last one, at the front.
      if (first >= wend) {
        wstart = wend = first;
      } else if (first > wstart) {
        std::memmove(eb, eb + (first - wstart) * erow, size_t((wend - first) * erow));
        wstart = first;
      }
      if (need > wend) {
        const auto tp = now();
        uint8_t* dst = eb + (wend - wstart) * erow;
        if (p->kind == StepKind::Gemm) {
          const uint8_t* x = image(par, p->in, p->xs.per_image(), n);
          gemm(*p, x + int64_t(wend) * iw * p->k * eb_, dst, nullptr, int64_t(need - wend) * iw,
               par);
        } else {
          const uint8_t* x = image(par, p->in, p->xs.per_image(), n);
          const int row0 = wend;
          par(need - wend, [&](int it, int worker) {
            im2col_gemm_row(*p, x, row0 + it, dst + it * erow, worker);
          });
        }
        wend = need;
        charge_if(ch.producer, tp);
      }
    }
    // The depthwise rows [oy0, oy1) as rows 0.. of shifted arguments: input origin at
    // row `org` (the window start, or the image start), output at the band buffer.
    const int org = p ? wstart : 0;
    DwRows r;
    r.in = p ? eb : image(par, d.in, d.xs.per_image(), n);
    r.ih = ih - org;
    r.pad_top = d.geom.pad_top + org - oy0 * d.geom.sh;
    r.out = q ? db : image(par, d.out, d.ys.per_image(), n) + int64_t(oy0) * ow * d.ys.c * eb_;
    r.oh = oy1 - oy0;
    const auto td = now();
    par(oy1 - oy0, [&](int it, int) { depthwise_row(d, r, it); });
    charge_if(ch.dw, td);
    if (q) {
      const auto tq = now();
      const int64_t row0 = (int64_t(n) * d.ys.h + oy0) * ow;
      gemm(*q, db, par.ptr[q->out] + row0 * q->cout * eb_,
           q->residual >= 0 ? par.ptr[q->residual] + row0 * q->cout * eb_ : nullptr,
           int64_t(oy1 - oy0) * ow, par);
      charge_if(ch.consumer, tq);
    }
  }
}

// ---- profiling -----------------------------------------------------------------------

void PlanRunner::charge(int step, Clock::time_point t0) {
  if (timing_)
    step_run_ms_[size_t(step)] +=
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// The profile as data, with a per-image bytes-moved model for roofline estimates: every
// activation a step reads (input, second input, fused residual) and writes counted once,
// and its packed weights once per run.
ExecutorProfile PlanRunner::profile() const {
  ExecutorProfile p;
  p.images = images_;
  p.runs = runs_;
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& s = plan_.steps[i];
    StepProfile r;
    r.name = g_.node(s.node).name;
    r.kind = step_kind_name(s.kind);
    r.out_h = s.ys.h;
    r.out_w = s.ys.w;
    r.out_c = s.ys.c;
    r.macs = s.macs;
    r.activation_bytes = (s.act_read + s.act_written) * eb_;
    r.weight_bytes = weight_bytes(s);
    if (s.chain >= 0) r.band = plan_.chains[size_t(s.chain)].dw;
    if (step_ms_.size() == plan_.steps.size()) {
      r.total_ms = step_ms_[i];
      r.min_ms_per_image = runs_ > 0 ? step_min_ms_[i] : 0.0;
    }
    p.steps.push_back(std::move(r));
  }
  return p;
}

// Wall time per step on stderr when the executor goes away: mean per image over all runs,
// and the minimum per image over the runs (robust against preemption on a busy machine;
// GMAC/s and % use the minimum).
void PlanRunner::print_profile() const {
  double total = 0, total_min = 0;
  for (double v : step_ms_) total += v;
  for (double v : step_min_ms_) total_min += v;
  std::fprintf(stderr,
               "mnv2 profile: %s, %lld image(s), %d thread(s), mean %.3f ms per image, sum of "
               "per-step minima %.3f ms\n",
               precision_, (long long)images_, pool_.threads(), total / double(images_),
               total_min);
  std::fprintf(stderr, "%4s  %-11s %-32s %12s %9s %9s %6s %8s\n", "step", "kind", "node",
               "output", "mean ms", "min ms", "% min", "GMAC/s");
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& s = plan_.steps[i];
    const double mean = step_ms_[i] / double(images_), ms = step_min_ms_[i];
    char shape[48];
    std::snprintf(shape, sizeof shape, "%dx%dx%d", s.ys.h, s.ys.w, s.ys.c);
    const std::string& name = g_.node(s.node).name;  // the tail tells expand/dw/project
    const char* tail = name.size() > 32 ? name.c_str() + (name.size() - 32) : name.c_str();
    std::fprintf(stderr, "%4zu  %-11s %-32s %12s %9.4f %9.4f %6.2f %8.2f\n", i,
                 step_kind_name(s.kind), tail, shape, mean, ms,
                 total_min > 0 ? 100.0 * ms / total_min : 0.0,
                 ms > 0 ? double(s.macs) / (ms * 1e6) : 0.0);
  }
}

}  // namespace mnv2
