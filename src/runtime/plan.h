// The execution plan: what every executor runs, whatever its precision. make_plan turns a
// (rewritten, shape-inferred) graph into steps, value lifetimes and buffer aliases, the
// fused producer -> depthwise -> consumer chains with their bands and their row split over
// threads, and per-step work counts; plan_buffers places the values of one activation
// arena for a batch and an element size. Nothing here depends on the element type: the
// fp32 and int8 executors (and any later precision) get the same plan for the same graph,
// thread count and options, and only choose the kernels that run each step
// (runtime/plan_runner.h runs a plan).
#pragma once

#include <cstdint>
#include <vector>

#include "graph/graph.h"

namespace mnv2 {

// The step vocabulary of every executor.
enum class StepKind : uint8_t {
  Gemm,           // 1x1 convolution (is_pointwise) or fully connected: rows x k times k x cout
  Im2colGemm,     // any other convolution: im2col rows, then the GEMM
  Dw3x3,          // 3x3 depthwise, multiplier 1
  DwGeneric,      // any other depthwise
  Add,            // element-wise sum of two values (one not fused into a GEMM)
  GlobalAvgPool,  // per-image mean over pixels
  Softmax,        // over channels
  Affine,         // per-channel x * w + b (ChannelAffine)
};
const char* step_kind_name(StepKind kind);  // "gemm", "im2col+gemm", "dw3x3", ...

// Convolution geometry of Im2colGemm and depthwise steps.
struct ConvGeom {
  int kh = 1, kw = 1, sh = 1, sw = 1, pad_top = 0, pad_left = 0, mult = 1;
};

struct PlanStep {
  StepKind kind = StepKind::Gemm;
  int node = -1;                    // graph node computed (a fused GEMM names the conv)
  int in = -1, in2 = -1, out = -1;  // value ids: roots (see Plan::root)
  // A 1x1 convolution whose only reader is an Add writes the sum itself: the Add node, and
  // the value added after the convolution's activation. out is then the Add's value.
  int add_node = -1;
  int residual = -1;
  Shape xs, ys;        // input and output, per image (n = 1)
  int k = 0, cout = 0;  // GEMM family: depth and output channels
  ConvGeom geom;        // Im2colGemm and depthwise steps
  Activation act = Activation::None;
  // Work items per image of the steps run item by item (Im2colGemm and depthwise: one per
  // output row; Add and Affine: element chunks; pool, softmax: one); 0 for Gemm, whose grid
  // each kernel set chooses per call from its register tile.
  int items = 0;
  int chain = -1;  // index of the chain that runs this step, -1 if it runs alone
  // Work per image, in elements (an executor multiplies by its element sizes): MACs,
  // activations read (inputs and the fused residual) and written, weights and biases read.
  int64_t macs = 0, act_read = 0, act_written = 0, weights = 0;
};

// A producer -> depthwise -> consumer chain, run band by band so that the expanded tensor
// only exists as a window of rows that stays in L2 (see PlanRunner::run_chain). Either end
// is optional (-1); the depthwise step is always there.
struct Chain {
  int producer = -1, dw = -1, consumer = -1;  // step indices
  int band_rows = 0;    // depthwise output rows per band
  int window_rows = 0;  // producer output rows a window holds (0 without a producer)
  // At 2+ threads: each thread takes a contiguous range of output rows and runs its bands
  // alone in its own window (producer rows at range boundaries computed by both), instead
  // of all threads sharing every band.
  bool split_rows = false;
  // One window, in elements: the producer rows, then (with a consumer) the depthwise rows
  // of one band from dw_offset on.
  int64_t window_elems = 0, dw_offset = 0;
};

struct PlanOptions {
  int threads = 1;
  // Working set of one band (depthwise input and output rows), counting every element as
  // 4 bytes whatever the precision, so that all precisions get the same bands. Measured on
  // fp32 per block (docs/fused-blocks.md): 512 KiB and 1 MiB tie and beat 256 KiB and
  // smaller. 0: no chains, every step runs whole (as the peers do).
  int64_t band_bytes = 512 * 1024;
  // Chains whose depthwise input has at least this many rows are split by rows over the
  // threads; the split recomputes kh - stride producer rows per boundary, cheap on tall
  // inputs, a large share of a 14x14 or 7x7 block.
  int split_min_rows = 28;
};
// The defaults, with MNV2_BAND_BYTES and MNV2_SPLIT_MIN_ROWS overriding them (for
// measurements and tests; results are the same bits for every value).
PlanOptions plan_options_from_env(int threads);

struct Plan {
  std::vector<PlanStep> steps;  // in graph order; Input, Reshape and fused Adds have none
  std::vector<Chain> chains;
  // Value id (= node id) -> the value whose buffer it is: a Reshape aliases its input, a
  // fused 1x1 convolution writes into its Add's value; roots map to themselves.
  std::vector<int> root;
  // Per root value: the first and last node position that touches it (outputs: past the
  // end); chains widen them over the whole chain.
  std::vector<int> first, last;
  std::vector<bool> windowed;  // root value only ever exists in chain windows (no buffer)
  int64_t window_elems = 0;    // the largest chain window, elements per thread
  int threads = 1;
};

Plan make_plan(const Graph& g, const PlanOptions& options);

// Where each root value lives in one arena for `batch` images of elem_bytes each: offset in
// bytes per value id (-1: no buffer: aliases, windowed values, and the graph input unless
// input_in_arena) and the arena size.
struct BufferLayout {
  int64_t bytes = 0;
  std::vector<int64_t> offset;
};
BufferLayout plan_buffers(const Graph& g, const Plan& plan, int batch, int elem_bytes,
                          bool input_in_arena);

}  // namespace mnv2
