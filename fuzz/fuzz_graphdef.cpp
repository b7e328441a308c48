// libFuzzer target for the TF GraphDef reader: any byte string must either load into a
// valid graph or throw mnv2::Error; never crash, hang, or allocate without bound. Small
// graphs that load are also run through the reference executor.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "formats/tf_graphdef.h"
#include "runtime/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The format sniffing used by detect_format must also cope with anything.
  (void)mnv2::looks_like_graphdef(
      std::string_view(reinterpret_cast<const char*>(data), size < 64 ? size : 64));
  try {
    const mnv2::Graph g = mnv2::load_graphdef_bytes(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.pb");
    if (g.total_macs() < 4000000 && g.info.height * g.info.width <= 64 * 64) {
      std::vector<float> x(size_t(g.info.height) * size_t(g.info.width) * size_t(g.info.channels),
                           0.5f);
      mnv2::reference_run(g, x.data(), 1);
    }
  } catch (const mnv2::Error&) {
  }
  return 0;
}
