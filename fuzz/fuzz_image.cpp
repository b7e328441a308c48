// libFuzzer target for the image decoders (fuzz/build.sh builds and seeds it). By hand:
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc -Iinclude \
//     fuzz/fuzz_image.cpp src/image/decode.cpp -ljpeg -lpng -lz -o decode_fuzz
//   ./decode_fuzz -max_total_time=240 -rss_limit_mb=1024 -max_len=4096 CORPUS_DIR
// Any input must either decode or throw mnv2::Error.
#include <cstddef>
#include <cstdint>

#include "image/decode.h"
#include "mnv2/mnv2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnv2::image::DecodeOptions o;
  o.max_pixels = 4'000'000;
  try {
    const mnv2::image::Image im = mnv2::image::decode_memory(data, size, "fuzz", o);
    if (im.pixels.size() != size_t(im.width) * size_t(im.height) * 3) __builtin_trap();
  } catch (const mnv2::Error&) {
  }
  return 0;
}
