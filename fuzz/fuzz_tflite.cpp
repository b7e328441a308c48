// libFuzzer target for the TFLite loader: any byte string must either load into a valid
// graph or throw mnv2::Error; never crash, hang, or allocate without bound.
// A graph that loads must also survive the writer: written back as float32 TFLite and
// re-loaded it must give the same output shape (and, when small enough to run quickly, the
// same reference outputs). A graph with an integer view (quantized files) must also give
// the integer reference its parameters or refuse with mnv2::Error, run it in both
// requantization modes when small, and, when it meets the int8 file rules, survive an int8
// write + reload with the same integer outputs. A violation aborts, so libFuzzer records
// the input.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "formats/tflite.h"
#include "quant/quantize.h"
#include "runtime/qreference.h"
#include "runtime/reference.h"

namespace {

[[noreturn]] void violation(const char* what, const char* detail) {
  std::fprintf(stderr, "fuzz_tflite: %s: %s\n", what, detail);
  std::abort();
}

bool small_enough(const mnv2::Graph& g) {
  return g.total_macs() < 4000000 && g.info.height * g.info.width <= 64 * 64;
}

void check_integer_view(const mnv2::Graph& g) {
  // A graph without an integer form is refused with mnv2::Error, as the int8 executor then
  // does at load. Both requantization modes accept the same graphs (an ADD the XNNPACK
  // delegate would refuse keeps TFLite's ADD), and a graph they accept must run in both.
  auto accepts = [&](mnv2::QRequantMode mode) {
    try {
      mnv2::prepare_qparams(g, mode);
      return true;
    } catch (const mnv2::Error&) {
      return false;
    }
  };
  if (!accepts(mnv2::QRequantMode::Tflite)) return;
  if (!accepts(mnv2::QRequantMode::Xnnpack))
    violation("a graph with TFLite requantization refused with XNNPACK's", "");
  std::vector<uint8_t> x(size_t(g.info.height) * size_t(g.info.width) * size_t(g.info.channels));
  for (size_t i = 0; i < x.size(); ++i) x[i] = uint8_t(i * 37 + 11);
  const size_t out_size = size_t(g.node(g.output).shape.per_image());
  std::vector<uint8_t> tflite_out;
  if (small_enough(g)) {
    for (mnv2::QRequantMode mode : {mnv2::QRequantMode::Tflite, mnv2::QRequantMode::Xnnpack}) {
      mnv2::QReferenceResult r;
      try {
        r = mnv2::qreference_run(g, x.data(), 1, {}, mode);
      } catch (const mnv2::Error& e) {
        violation("prepared integer graph failed to run", e.what());
      }
      if (r.output.size() != out_size) violation("integer output size", "");
      if (mode == mnv2::QRequantMode::Tflite) tflite_out = r.output;
    }
  }
  if (!mnv2::quant::check_int8_constraints(g).empty()) return;
  mnv2::Graph back;
  try {
    mnv2::TfliteWriteOptions o;
    o.int8 = true;
    const std::vector<uint8_t> bytes = mnv2::write_tflite(g, o);
    back = mnv2::load_tflite_bytes(bytes.data(), bytes.size(), "rewritten_int8.tflite");
  } catch (const mnv2::Error& e) {
    violation("an int8-valid graph did not survive int8 write + reload", e.what());
  }
  if (!back.quantized()) violation("int8 write + reload lost the integer view", "");
  if (!tflite_out.empty()) {
    const mnv2::QReferenceResult r =
        mnv2::qreference_run(back, x.data(), 1, {}, mnv2::QRequantMode::Tflite);
    if (r.output != tflite_out) violation("integer outputs changed by int8 write + reload", "");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnv2::Graph g;
  try {
    g = mnv2::load_tflite_bytes(data, size, "fuzz.tflite");
  } catch (const mnv2::Error&) {
    return 0;
  }
  mnv2::Graph back;
  try {
    const std::vector<uint8_t> bytes = mnv2::write_tflite(g, {});
    back = mnv2::load_tflite_bytes(bytes.data(), bytes.size(), "rewritten.tflite");
  } catch (const mnv2::Error& e) {
    violation("a loaded graph did not survive write + reload", e.what());
  }
  if (!(back.node(back.output).shape == g.node(g.output).shape))
    violation("output shape changed by write + reload", g.node(g.output).shape.str().c_str());
  if (g.quantized()) check_integer_view(g);
  if (small_enough(g)) {
    std::vector<float> x(size_t(g.info.height) * size_t(g.info.width) * size_t(g.info.channels),
                         0.5f);
    const mnv2::ReferenceResult a = mnv2::reference_run(g, x.data(), 1);
    const mnv2::ReferenceResult b = mnv2::reference_run(back, x.data(), 1);
    if (a.output.size() != b.output.size()) violation("output size changed", "");
    for (size_t i = 0; i < a.output.size(); ++i) {
      const double d = std::fabs(a.output[i] - b.output[i]);
      // Both run the same float32 weights in double precision; only non-finite values
      // (from huge weights) may differ in representation.
      if (std::isfinite(a.output[i]) && d > 1e-9 * (1 + std::fabs(a.output[i])))
        violation("outputs changed by write + reload", std::to_string(d).c_str());
    }
  }
  return 0;
}
