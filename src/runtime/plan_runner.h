// Runs a Plan (runtime/plan.h) whatever its precision: activation arenas, the split of a
// batch over threads, step order, fused chains band by band and their row split, work
// items on the thread pool, and the per-step profile (MNV2_PROFILE=1, mnv2 bench
// --per-layer). A precision is a subclass that packs its weights at construction and
// supplies the kernels through the hooks below; it keeps no planning of its own.
//
// Buffers are untyped here: every activation is elem_bytes wide (4 for fp32, 1 for int8),
// except that the graph input stays the caller's float array unless the subclass asks for
// it in the arena (then stage_input converts it).
//
// Determinism: each output element is computed by exactly one kernel call whose result
// does not depend on where the call runs or on which rows or columns its neighbours cover,
// and the plan's work split depends only on shapes, batch and thread count, so results are
// bit-identical for every thread count (and, for the exact int8 kernels, every split).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/arena.h"
#include "runtime/executor.h"
#include "runtime/plan.h"
#include "runtime/thread_pool.h"

namespace mnv2 {

class PlanRunner : public Executor {
 public:
  ~PlanRunner() override;
  void run(const float* input, int batch, float* output, float* logits,
           float* features) final;
  void set_profiling(bool on) final;
  void reset_profile() final;
  ExecutorProfile profile() const final;
  const Plan* execution_plan() const final { return &plan_; }
  ExecutorMemory memory() const final;

 protected:
  // Where a step's work items run: on the pool (the calling thread joins as worker 0), or
  // inline on one thread (`worker`) when each thread already runs its own images or rows.
  struct Par {
    ThreadPool* pool = nullptr;
    int worker = 0;
    uint8_t* const* ptr = nullptr;  // value id -> its buffer (image 0) in the running lane
    uint8_t* window = nullptr;      // the chain window of this thread (see run_chain)
    template <class F>
    void operator()(int count, F&& fn) const {
      if (pool)
        pool->parallel_for(count, fn);
      else
        for (int i = 0; i < count; ++i) fn(i, worker);
    }
  };

  // Rows of a depthwise step's input and output as one call sees them: output rows
  // [0, oh) at `out` from input rows [0, ih) at `in`, where input row 0 is image row
  // `origin` (so the kernel's top padding is the step's minus origin plus the first output
  // row's offset, see run_chain). Unbanded: the whole image.
  struct DwRows {
    const uint8_t* in = nullptr;
    int ih = 0, pad_top = 0;
    uint8_t* out = nullptr;
    int oh = 0;
  };

  // Takes the graph over (no copy: the caller moves it in, or passes a copy it keeps).
  PlanRunner(Graph graph, const ExecutorOptions& options, int elem_bytes, const char* precision);
  // The subclass calls this at the end of its constructor, once its weights are packed.
  void start(bool input_in_arena);

  // The geometry of depthwise step s into a kernel's argument struct (the fields every
  // precision's depthwise arguments share; the multiplier has a kernel-specific name).
  template <class Args>
  static void set_dw_geometry(const PlanStep& s, Args& a) {
    a.ih = s.xs.h, a.iw = s.xs.w, a.c = s.xs.c;
    a.oh = s.ys.h, a.ow = s.ys.w;
    a.kh = s.geom.kh, a.kw = s.geom.kw, a.sh = s.geom.sh, a.sw = s.geom.sw;
    a.pad_top = s.geom.pad_top, a.pad_left = s.geom.pad_left;
  }

  const Graph& graph() const { return g_; }
  // Frees the weights of node `id` once the subclass has packed them, so that at run time
  // the packed form is the only copy (docs/memory.md): the float weights and bias, and with
  // `int_form` also the integer view's weights and bias (scales and out_q stay).
  void release_weights(int id, bool int_form);
  const Plan& plan() const { return plan_; }
  int threads() const { return pool_.threads(); }

  // ---- the kernels of a precision ----------------------------------------------------
  // GEMM of `rows` rows: in holds rows of s.k elements, out and res (the fused residual,
  // or null) rows of s.cout; the grid over par is the kernel set's.
  virtual void gemm(const PlanStep& s, const uint8_t* in, uint8_t* out, const uint8_t* res,
                    int64_t rows, const Par& par) = 0;
  // Output row oy of an Im2colGemm step from one input image (float when it reads the
  // graph input and that stays outside the arena) into `out`; worker picks scratch.
  virtual void im2col_gemm_row(const PlanStep& s, const uint8_t* image, int oy, uint8_t* out,
                               int worker) = 0;
  // Output row `row` of r (0 <= row < r.oh) of a depthwise step.
  virtual void depthwise_row(const PlanStep& s, const DwRows& r, int row) = 0;
  // Item `item` (counted from image 0, s.items per image) of an Add, GlobalAvgPool,
  // Softmax or Affine step.
  virtual void item(const PlanStep& s, uint8_t* const* ptr, int item, int worker) = 0;
  // With input_in_arena: `elems` float input values into the input's buffer.
  virtual void stage_input(const float* x, uint8_t* dst, int64_t elems, const Par& par);
  // `elems` values of value `id` as floats.
  virtual void read_output(int id, const uint8_t* src, float* dst, int64_t elems) const = 0;
  // Bytes of packed weights (and biases, requantization) a step reads per run.
  virtual int64_t weight_bytes(const PlanStep& s) const = 0;
  // Bytes the subclass holds: its packed weights (with biases and requantization) and its
  // per-thread scratch.
  virtual int64_t packed_bytes() const = 0;
  virtual int64_t scratch_bytes() const = 0;

 private:
  struct Lane {
    AlignedBuffer arena;
    std::vector<uint8_t*> ptr;
    AlignedBuffer window;  // one chain window per thread that may run in this lane
  };
  void plan_lanes(int batch);
  void plan_lane(Lane& lane, int batch, int windows);
  void run_images(int n0, int n1, const Par& par);
  void run_chain(const Chain& ch, int n0, int n1, const Par& par);
  void run_chain_rows(const Chain& ch, int n, int oy_begin, int oy_end, const Par& par,
                      bool timed);
  uint8_t* image(const Par& par, int value, int64_t per_image, int n) const;
  void print_profile() const;

  using Clock = std::chrono::steady_clock;
  Clock::time_point now() const { return timing_ ? Clock::now() : Clock::time_point(); }
  void charge(int step, Clock::time_point t0);

  Graph g_;  // shapes for batch 1; weights released as the subclass packs them
  ThreadPool pool_;
  const Plan plan_;
  const int eb_;  // bytes per activation element
  const char* precision_;
  bool input_in_arena_ = false;
  std::vector<Lane> lanes_;
  int planned_batch_ = 0;

  bool profile_ = false;
  bool timing_ = false;       // profile_, and this run is timed (not split by images)
  bool profile_env_ = false;  // MNV2_PROFILE=1: print the table when destroyed
  int64_t runs_ = 0, images_ = 0;
  std::vector<double> step_ms_;      // wall ms per step, summed over runs
  std::vector<double> step_run_ms_;  // this run's wall ms per step
  std::vector<double> step_min_ms_;  // minimum over runs of ms per image
};

}  // namespace mnv2
