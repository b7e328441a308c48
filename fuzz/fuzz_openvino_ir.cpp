// libFuzzer target for the OpenVINO IR loader. The input is the .xml text, a NUL byte, then
// the .bin bytes (no NUL: the whole input is the .xml and the .bin is empty). Any outcome
// but a loaded graph or an mnv2::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "formats/openvino_ir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t xml_len = nul ? size_t(nul - data) : size;
  const std::string xml(reinterpret_cast<const char*>(data), xml_len);
  std::vector<uint8_t> bin;
  if (nul) bin.assign(nul + 1, data + size);
  try {
    mnv2::Graph g = mnv2::load_openvino_ir_memory(xml, bin, "fuzz.xml");
    // A graph that loads must be consistent: shapes are filled and the output exists.
    if (g.output < 0 || g.nodes.empty() || g.node(g.output).shape.elements() <= 0) __builtin_trap();
  } catch (const mnv2::Error&) {
  }
  return 0;
}
