#include <cstdlib>
#include <cstring>
#include <thread>

#include "formats/loader.h"
#include "graph/mobilenet_v2.h"
#include "mnv2/mnv2.h"
#include "api/model_access.h"
#include "runtime/cpu.h"
#include "runtime/executor.h"
#include "runtime/qexecutor.h"

namespace mnv2 {

struct Model::Impl {
  // What the Model keeps of its graph; the graph itself, weights and all, moves into the
  // executor, which frees the weights as it packs them, so that they are held once.
  ModelInfo info;
  bool has_logits = false, has_features = false;
  std::string summary;  // graph_summary, taken before the move
  ExecutorOptions options;
  Precision precision = Precision::Fp32;
  std::unique_ptr<Executor> executor;

  void start(Graph graph, Precision want);
};

namespace {

ExecutorOptions resolve(const Options& o) {
  ExecutorOptions e;
  int cores = int(std::thread::hardware_concurrency());
  if (cores <= 0) cores = 1;
  e.threads = o.threads > 0 ? o.threads : cores;
  if (e.threads > 256) throw Error("too many threads: " + std::to_string(o.threads));
  e.isa = o.isa == Isa::Auto ? detect_isa() : o.isa;
  if (!cpu_supports(e.isa))
    throw Error(std::string("this CPU does not support ") + isa_name(e.isa));
  if (o.max_batch < 1 || o.max_batch > 4096) throw Error("max_batch must be in [1, 4096]");
  e.max_batch = o.max_batch;
  if (o.int8_rounding != Int8Rounding::Tflite && o.int8_rounding != Int8Rounding::Xnnpack)
    throw Error("invalid int8 rounding mode");
  e.int8_rounding = o.int8_rounding;
  return e;
}

// Auto runs quantized graphs natively in int8 and everything else in fp32; Int8 on a graph
// without an integer form is refused rather than silently run in float.
std::unique_ptr<Executor> make_executor(Graph graph, const ExecutorOptions& options,
                                        Precision want, Precision* chosen) {
  const bool q = graph.quantized();
  if (want == Precision::Int8 && !q)
    throw Error(
        "int8 precision needs a quantized model (a quantized .tflite file, or one written by "
        "`mnv2 quantize`); '" + graph.info.name + "' has no integer form" +
        (graph.info.quantized ? " (its quantized weights use a pattern the integer executor "
                                  "cannot run; use --precision fp32)"
                                : " (float weights)"));
  *chosen = want == Precision::Auto ? (q ? Precision::Int8 : Precision::Fp32) : want;
  if (*chosen == Precision::Int8) return make_int8_executor(std::move(graph), options);
  ExecutorOptions o = options;
  o.bf16 = *chosen == Precision::Bf16;
  const char* which = std::getenv("MNV2_BF16");
  if (which && *which && std::string(which) != "amx" && std::string(which) != "avx512")
    throw Error("MNV2_BF16 must be amx or avx512, not '" + std::string(which) + "'");
  o.bf16_amx = o.bf16 && which && std::string(which) == "amx";
  if (o.bf16_amx && !bf16_supported(o.isa, true))
    throw Error(std::string("MNV2_BF16=amx needs AMX-BF16 with the avx512 kernels and the "
                            "tile state from Linux; this run uses ") + isa_name(o.isa) +
                " and cannot");
  if (o.bf16 && !bf16_supported(o.isa))
    throw Error(std::string("bf16 precision needs a CPU with AVX512_BF16 (vdpbf16ps) and the "
                            "avx512 kernels; this one runs ") + isa_name(o.isa) +
                (o.isa == Isa::Avx512 ? " without AVX512_BF16" : "") +
                ". Use --precision fp32, or MNV2_ISA=scalar for the (slow, bit-exact) "
                "emulation of the bf16 arithmetic");
  return Executor::create(std::move(graph), o);
}

}  // namespace

void Model::Impl::start(Graph graph, Precision want) {
  info = graph.info;
  has_logits = graph.logits >= 0;
  has_features = graph.features >= 0;
  summary = graph_summary(graph);
  executor = make_executor(std::move(graph), options, want, &precision);
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::synthetic(float width_multiplier, int resolution, int num_classes, uint64_t seed,
                       const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = resolve(options);
  impl->start(build_mobilenet_v2(width_multiplier, resolution, num_classes, seed),
               options.precision);
  return Model(std::move(impl));
}

Model Model::load(const std::string& path, const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = resolve(options);
  // Quantized weights are dequantized to float only for a float precision.
  LoadOptions lo;
  lo.float_weights = options.precision == Precision::Fp32 || options.precision == Precision::Bf16;
  impl->start(load_graph(path, lo), options.precision);
  return Model(std::move(impl));
}

const ModelInfo& Model::info() const { return impl_->info; }
int Model::threads() const { return impl_->options.threads; }
Isa Model::isa() const { return impl_->options.isa; }
Precision Model::precision() const { return impl_->precision; }
Int8Rounding Model::int8_rounding() const { return impl_->options.int8_rounding; }

void Model::run(const float* input, int batch, float* probs, float* logits, float* features) {
  if (!input) throw Error("run: input is null");
  if (batch < 1) throw Error("run: batch must be >= 1");
  if (features && !impl_->has_features) throw Error("run: this model has no feature output");
  if (logits && !impl_->has_logits) throw Error("run: this model has no logits output");
  impl_->executor->run(input, batch, probs, logits, features);
}

std::string Model::summary() const { return impl_->summary; }

Executor& ModelAccess::executor(Model& m) { return *m.impl_->executor; }

}  // namespace mnv2
