// Writers for image fixtures the tests build themselves (JPEG/PNG through libjpeg/libpng,
// BMP/PNM by hand), plus a scratch folder.
#pragma once

#include "test_util.h"

#include <cstdint>
#include <string>
#include <vector>

#include "image/decode.h"

namespace mnv2::test {

using Bytes = std::vector<uint8_t>;

// A deterministic smooth-ish RGB test image (gradients plus a few blocks).
image::Image pattern_image(int w, int h, uint32_t seed = 1);
// Uniform random pixels.
image::Image noise_image(int w, int h, uint32_t seed = 1);

Bytes encode_jpeg(const image::Image& img, int quality = 95, bool gray = false, bool progressive = false);
// Inserts an APP1 Exif segment with IFD0 Orientation right after SOI.
Bytes with_exif_orientation(const Bytes& jpeg, int orientation, bool big_endian);
// color_type/bit_depth as libpng; `samples` row-major, 16-bit samples big-endian.
Bytes encode_png(int w, int h, int color_type, int bit_depth, const Bytes& samples,
                 const Bytes& palette_rgb = {}, bool interlaced = false);
Bytes encode_png_rgb(const image::Image& img);
Bytes encode_bmp(const image::Image& img, int bpp, bool top_down, bool bitfields = false);
Bytes encode_bmp_palette8(int w, int h, const Bytes& indices, const Bytes& palette_rgb);
Bytes encode_ppm(const image::Image& img, int maxval = 255, bool ascii = false);
Bytes encode_pgm(int w, int h, const Bytes& gray, bool ascii = false);

std::string scratch_dir();  // a fresh folder under the system temp dir

}  // namespace mnv2::test
