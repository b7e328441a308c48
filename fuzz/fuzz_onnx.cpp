// libFuzzer target for the ONNX loader: any byte string must either load into a valid
// graph or throw mnv2::Error; never crash, hang, or allocate without bound. Small graphs
// that load are also run through the reference executor and written back out.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "formats/onnx.h"
#include "runtime/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mnv2::Graph g = mnv2::load_onnx_bytes(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
    if (g.total_macs() < 4000000 && g.info.height * g.info.width <= 64 * 64) {
      std::vector<float> x(size_t(g.info.height) * size_t(g.info.width) * size_t(g.info.channels),
                           0.5f);
      mnv2::reference_run(g, x.data(), 1);
      // Whatever loads must also be writable, and the written file must load again.
      mnv2::load_onnx_bytes(mnv2::onnx_model_bytes(g), "fuzz-rewritten.onnx");
    }
  } catch (const mnv2::Error&) {
  }
  return 0;
}
