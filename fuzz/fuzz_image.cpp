// libFuzzer target for the image decoders (fuzz/build.sh builds and seeds it). By hand:
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc -Iinclude \
//     fuzz/fuzz_image.cpp src/image/decode.cpp -ljpeg -lpng -lz -o decode_fuzz
//   ./decode_fuzz -max_total_time=240 -rss_limit_mb=1024 -max_len=4096 CORPUS_DIR
// Any input must either decode or throw mnv2::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "image/decode.h"
#include "mnv2/mnv2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnv2::image::DecodeOptions o;
  o.max_pixels = 4'000'000;
  // The input's length picks the option set (so the bytes themselves stay a plain image):
  // JPEG DCT scaling of every JPEG toward a small target, an explicit raw size, a .rgb
  // name, and an allocation hook that refuses large images as a spent budget would.
  const size_t sel = size % 16;
  std::string name = "fuzz";
  if (sel & 1) {
    o.min_width = int(8 + size % 61);
    o.min_height = int(8 + size % 37);
    o.scale_above_pixels = 0;
  }
  if (sel & 2) {
    o.raw_width = int(1 + size % 7);
    o.raw_height = int(1 + size % 5);
  }
  if (sel & 4) name = "fuzz.rgb";
  int64_t told_w = -1, told_h = -1;
  if (sel & 8) {
    o.before_allocate = [&](int64_t w, int64_t h, int64_t extra) {
      if (w <= 0 || h <= 0 || extra < 0) __builtin_trap();
      if (w * h * 3 + extra > (int64_t(1) << 20)) throw mnv2::Error("over the budget");
      told_w = w, told_h = h;
    };
  }
  try {
    const mnv2::image::Image im = mnv2::image::decode_memory(data, size, name, o);
    if (im.pixels.size() != size_t(im.width) * size_t(im.height) * 3) __builtin_trap();
    // The hook was told the size it allowed (EXIF orientation may swap the axes).
    if ((sel & 8) && !((told_w == im.width && told_h == im.height) || (told_w == im.height && told_h == im.width)))
      __builtin_trap();
  } catch (const mnv2::Error&) {
  }
  return 0;
}
