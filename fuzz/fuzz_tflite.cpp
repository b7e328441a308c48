// libFuzzer target for the TFLite loader: any byte string must either load into a valid
// graph or throw mnv2::Error; never crash, hang, or allocate without bound.
// A graph that loads must also survive the writer: written back as float32 TFLite and
// re-loaded it must give the same output shape (and, when small enough to run quickly, the
// same reference outputs). A violation aborts, so libFuzzer records the input.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "formats/tflite.h"
#include "runtime/reference.h"

namespace {

[[noreturn]] void violation(const char* what, const char* detail) {
  std::fprintf(stderr, "fuzz_tflite: %s: %s\n", what, detail);
  std::abort();
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
  if (g.total_macs() < 4000000 && g.info.height * g.info.width <= 64 * 64) {
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
