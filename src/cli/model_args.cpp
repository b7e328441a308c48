#include "cli/model_args.h"

#include <cstdlib>

#include "formats/loader.h"
#include "graph/mobilenet_v2.h"

namespace mnv2::cli {

Options engine_options(const Args& a, int max_batch) {
  Options o;
  o.threads = a.get_int("threads", 0, 0, 256);
  o.max_batch = max_batch;
  const std::string p = a.get("precision", "auto");
  if (p == "auto") o.precision = Precision::Auto;
  else if (p == "fp32") o.precision = Precision::Fp32;
  else if (p == "int8") o.precision = Precision::Int8;
  else if (p == "bf16") o.precision = Precision::Bf16;
  else throw Error("--precision must be fp32, bf16, int8 or auto, not '" + p + "'");
  const std::string r = a.get("int8-rounding", "xnnpack");
  if (r == "tflite") o.int8_rounding = Int8Rounding::Tflite;
  else if (r == "xnnpack") o.int8_rounding = Int8Rounding::Xnnpack;
  else throw Error("--int8-rounding must be tflite or xnnpack, not '" + r + "'");
  return o;
}

std::string int8_rounding_json(const Model& m) {
  if (m.precision() != Precision::Int8) return "null";
  return std::string("\"") + int8_rounding_name(m.int8_rounding()) + "\"";
}

SyntheticSpec synthetic_spec(const Args& a) {
  // --synthetic takes two values: the width is the option value, the resolution the
  // next positional argument.
  const std::string w = a.get("synthetic");
  if (a.positional().empty())
    throw Error("--synthetic needs a width and a resolution, e.g. --synthetic 1.4 224");
  const std::string r = a.positional().front();
  char* end = nullptr;
  const double width = std::strtod(w.c_str(), &end);
  if (w.empty() || *end || !(width > 0 && width <= 8))
    throw Error("--synthetic width must be a number in (0, 8], got '" + w + "'");
  const long res = std::strtol(r.c_str(), &end, 10);
  if (r.empty() || *end || res < 32 || res > 4096)
    throw Error("--synthetic resolution must be an integer in [32, 4096], got '" + r + "'");
  SyntheticSpec sp;
  sp.width = float(width);
  sp.resolution = int(res);
  sp.classes = a.get_int("classes", 1001, 1, 65536);
  sp.seed = uint64_t(a.get_int("seed", 1, 0, 1 << 30));
  return sp;
}

void check_model_source(const Args& a) {
  if (a.has("model") && a.has("synthetic"))
    throw Error("--model and --synthetic both name the model: give one of them");
  for (const char* opt : {"classes", "seed"})
    if (a.has(opt) && !a.has("synthetic"))
      throw Error(std::string("--") + opt + " applies only to --synthetic models");
}

Model open_model(const Args& a, int max_batch, bool positional_model) {
  check_model_source(a);
  const Options o = engine_options(a, max_batch);
  if (a.has("synthetic")) {
    const SyntheticSpec sp = synthetic_spec(a);
    return Model::synthetic(sp.width, sp.resolution, sp.classes, sp.seed, o);
  }
  std::string path = a.get("model");
  if (path.empty() && positional_model && !a.positional().empty()) path = a.positional().front();
  if (path.empty()) throw Error("no model given: use --model PATH or --synthetic WIDTH RES");
  return Model::load(path, o);
}

Graph load_source_graph(const Args& a) {
  check_model_source(a);
  if (a.has("synthetic")) {
    const SyntheticSpec sp = synthetic_spec(a);
    if (a.positional().size() > 1) throw Error("unexpected argument '" + a.positional()[1] + "'");
    return build_mobilenet_v2(sp.width, sp.resolution, sp.classes, sp.seed);
  }
  std::string path = a.get("model");
  if (path.empty() && !a.positional().empty()) path = a.positional().front();
  if (path.empty()) throw Error("no model given: use MODEL, --model PATH or --synthetic W R");
  if (a.positional().size() > (a.has("model") ? 0u : 1u))
    throw Error("unexpected argument '" + a.positional().back() + "'");
  return load_graph(path);
}

}  // namespace mnv2::cli
