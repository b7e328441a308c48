// Image decoding to 8-bit RGB (rows top to bottom, pixels left to right, R,G,B).
//
// Formats are recognised by content: JPEG (libjpeg-turbo, EXIF orientation applied),
// PNG (libpng), BMP (1/4/8-bit palette, 16/24/32-bit, BI_RGB and BI_BITFIELDS),
// PPM/PGM (P2/P3/P5/P6, 8- and 16-bit) and headerless raw RGB of a square S x S image
// (file size 3*S*S). Every failure is an mnv2::Error naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
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
};

// `name` is used in error messages (the file path, or "<stdin>").
Format sniff_format(const uint8_t* data, size_t size, const std::string& name);
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
