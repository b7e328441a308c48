// Image decoding to 8-bit RGB (rows top to bottom, pixels left to right, R,G,B).
//
// Formats are recognised by content: JPEG (libjpeg-turbo, EXIF orientation applied),
// PNG (libpng), BMP (1/4/8-bit palette, 16/24/32-bit, BI_RGB and BI_BITFIELDS) and
// PPM/PGM (P2/P3/P5/P6, 8- and 16-bit). Headerless raw RGB has no signature, so it is
// read only when asked for: a `.rgb` name of a square S x S image (3*S*S bytes), or
// DecodeOptions::raw_width x raw_height (`--raw WxH`) with exactly that many bytes; any
// other unrecognised content is an error, whatever its size. Every failure is an
// mnv2::Error naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mnv2::image {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3, RGB

  uint8_t* row(int y) { return pixels.data() + size_t(y) * size_t(width) * 3; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * size_t(width) * 3; }
};

enum class Format { Unknown, Jpeg, Png, Bmp, Pnm, RawRgb };
const char* format_name(Format f);

struct DecodeOptions {
  // Refuse images whose header declares more pixels than this (decompression bombs);
  // checked before any pixel memory is allocated.
  int64_t max_pixels = 100'000'000;
  bool apply_exif_orientation = true;
  // Headerless raw RGB of exactly raw_width x raw_height (`--raw WxH`); 0 = only `.rgb`
  // names of square images are raw.
  int raw_width = 0, raw_height = 0;
  // JPEG DCT scaling: a JPEG of more than scale_above_pixels pixels is decoded at the
  // smallest of libjpeg-turbo's scales 1/8..8/8 whose upright result is still at least
  // min_width x min_height (what preprocessing needs), so a huge JPEG costs little memory
  // and time. 0 x 0 = always full size. Smaller JPEGs decode at full size, exactly as the
  // reference pipelines (OpenCV, PIL) do.
  int min_width = 0, min_height = 0;
  int64_t scale_above_pixels = 4'000'000;
  // Called once the decoder knows the width x height it will produce, before any pixel
  // memory is allocated. `extra_bytes` is the decoder's own working memory beyond the
  // width*height*3 result (e.g. a progressive JPEG's coefficients). May throw an
  // mnv2::Error, which decoding passes on unchanged (a server's shared memory budget).
  std::function<void(int64_t width, int64_t height, int64_t extra_bytes)> before_allocate;
};

// `name` is used in error messages (the file path, or "<stdin>"); a name ending in .rgb
// allows raw RGB (see above), as do options.raw_width/raw_height.
Format sniff_format(const uint8_t* data, size_t size, const std::string& name,
                    const DecodeOptions& options = {});
Image decode_memory(const uint8_t* data, size_t size, const std::string& name,
                    const DecodeOptions& options = {});
Image decode_file(const std::string& path, const DecodeOptions& options = {});
// Whether a file name has one of the extensions folder listings pick up (.jpg .jpeg .png
// .bmp .ppm .pgm .pnm .rgb, any case). Decoding itself goes by content, not by name.
bool has_image_extension(const std::string& path);
// Reads a whole file (or stdin when path is "-"), with a clear error on failure.
std::vector<uint8_t> read_all(const std::string& path);

// The EXIF Orientation (1..8) of a JPEG stream, 1 when absent or unreadable.
int jpeg_exif_orientation(const uint8_t* data, size_t size);
// Applies an EXIF orientation (1..8) so the image is upright.
Image apply_orientation(const Image& img, int orientation);

}  // namespace mnv2::image
