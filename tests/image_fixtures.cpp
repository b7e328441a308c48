#include "image_fixtures.h"

#include "test_util.h"

#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <jpeglib.h>
#include <png.h>

namespace mnv2::test {

image::Image pattern_image(int w, int h, uint32_t seed) {
  image::Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.row(y) + x * 3;
      p[0] = uint8_t((x * 255) / std::max(1, w - 1));
      p[1] = uint8_t((y * 255) / std::max(1, h - 1));
      p[2] = uint8_t(((x / 8 + y / 8 + seed) % 2) ? 200 : 40);
    }
  return img;
}

image::Image noise_image(int w, int h, uint32_t seed) {
  image::Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  uint32_t s = seed * 2654435761u + 7;
  for (auto& v : img.pixels) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    v = uint8_t(s >> 24);
  }
  return img;
}

Bytes encode_jpeg(const image::Image& img, int quality, bool gray, bool progressive) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = JDIMENSION(img.width);
  c.image_height = JDIMENSION(img.height);
  c.input_components = gray ? 1 : 3;
  c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (!gray)
    for (int i = 0; i < 3; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> grow(size_t(img.width));
  while (c.next_scanline < c.image_height) {
    const uint8_t* r = img.row(int(c.next_scanline));
    JSAMPROW row;
    if (gray) {
      for (int x = 0; x < img.width; ++x) grow[x] = r[x * 3 + 1];
      row = grow.data();
    } else {
      row = const_cast<uint8_t*>(r);
    }
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  Bytes out(buf, buf + size);
  jpeg_destroy_compress(&c);
  free(buf);
  return out;
}

Bytes with_exif_orientation(const Bytes& jpeg, int orientation, bool be) {
  Bytes tiff;
  auto p16 = [&](uint32_t v) {
    if (be) tiff.push_back(uint8_t(v >> 8)), tiff.push_back(uint8_t(v));
    else tiff.push_back(uint8_t(v)), tiff.push_back(uint8_t(v >> 8));
  };
  auto p32 = [&](uint32_t v) {
    if (be) p16(v >> 16), p16(v & 0xffff);
    else p16(v & 0xffff), p16(v >> 16);
  };
  tiff.push_back(be ? 'M' : 'I');
  tiff.push_back(be ? 'M' : 'I');
  p16(42);
  p32(8);
  p16(2);  // two entries: an unrelated one first, then Orientation
  p16(0x010F), p16(2), p32(4), p32(0x00414141);  // Make = "AAA"
  p16(0x0112), p16(3), p32(1), p16(uint32_t(orientation)), p16(0);
  p32(0);  // no next IFD
  Bytes seg = {0xFF, 0xE1};
  const size_t len = 2 + 6 + tiff.size();
  seg.push_back(uint8_t(len >> 8));
  seg.push_back(uint8_t(len));
  for (uint8_t ch : {'E', 'x', 'i', 'f', '\0', '\0'}) seg.push_back(ch);
  for (uint8_t ch : tiff) seg.push_back(ch);
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), seg.begin(), seg.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

namespace {
void png_write_cb(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}
void png_flush_cb(png_structp) {}
}  // namespace

Bytes encode_png(int w, int h, int color_type, int bit_depth, const Bytes& samples,
                 const Bytes& palette_rgb, bool interlaced) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("png encode failed");
  }
  png_set_write_fn(png, &out, png_write_cb, png_flush_cb);
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), bit_depth, color_type,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> pal;
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    for (size_t i = 0; i + 2 < palette_rgb.size(); i += 3)
      pal.push_back({palette_rgb[i], palette_rgb[i + 1], palette_rgb[i + 2]});
    png_set_PLTE(png, info, pal.data(), int(pal.size()));
  }
  png_write_info(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  const int passes = interlaced ? png_set_interlace_handling(png) : 1;
  for (int p = 0; p < passes; ++p)
    for (int y = 0; y < h; ++y)
      png_write_row(png, const_cast<png_bytep>(samples.data() + size_t(y) * rowbytes));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

Bytes encode_png_rgb(const image::Image& img) {
  return encode_png(img.width, img.height, PNG_COLOR_TYPE_RGB, 8, img.pixels);
}

namespace {
void put16(Bytes& b, uint32_t v) { b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8)); }
void put32(Bytes& b, uint32_t v) { put16(b, v & 0xffff), put16(b, v >> 16); }
Bytes bmp_header(int w, int h, int bpp, bool top_down, uint32_t comp, uint32_t data_size,
                 uint32_t extra) {
  Bytes b = {'B', 'M'};
  const uint32_t off = 14 + 40 + extra;
  put32(b, off + data_size);
  put32(b, 0);
  put32(b, off);
  put32(b, 40);
  put32(b, uint32_t(w));
  put32(b, uint32_t(top_down ? -h : h));
  put16(b, 1);
  put16(b, uint32_t(bpp));
  put32(b, comp);
  put32(b, data_size);
  put32(b, 2835), put32(b, 2835);
  put32(b, bpp <= 8 ? extra / 4 : 0);
  put32(b, 0);
  return b;
}
}  // namespace

Bytes encode_bmp(const image::Image& img, int bpp, bool top_down, bool bitfields) {
  const int w = img.width, h = img.height;
  const uint32_t stride = (uint32_t(bpp) * w + 31) / 32 * 4;
  Bytes b = bmp_header(w, h, bpp, top_down, bitfields ? 3 : 0, stride * h, bitfields ? 12 : 0);
  // Bit fields in an unusual order (R in the low byte, B in bits 16..23) so a decoder
  // that ignores the masks fails.
  if (bitfields) put32(b, 0x000000ff), put32(b, 0x0000ff00), put32(b, 0x00ff0000);
  for (int i = 0; i < h; ++i) {
    const int y = top_down ? i : h - 1 - i;
    const uint8_t* r = img.row(y);
    Bytes row(stride, 0);
    for (int x = 0; x < w; ++x) {
      if (bpp == 24) {
        row[x * 3] = r[x * 3 + 2], row[x * 3 + 1] = r[x * 3 + 1], row[x * 3 + 2] = r[x * 3];
      } else if (bitfields) {
        row[x * 4] = r[x * 3], row[x * 4 + 1] = r[x * 3 + 1], row[x * 4 + 2] = r[x * 3 + 2];
        row[x * 4 + 3] = 0x55;
      } else {
        row[x * 4] = r[x * 3 + 2], row[x * 4 + 1] = r[x * 3 + 1], row[x * 4 + 2] = r[x * 3];
        row[x * 4 + 3] = 0xAA;
      }
    }
    b.insert(b.end(), row.begin(), row.end());
  }
  return b;
}

Bytes encode_bmp_palette8(int w, int h, const Bytes& idx, const Bytes& pal) {
  const uint32_t stride = (8u * w + 31) / 32 * 4;
  const uint32_t n = uint32_t(pal.size() / 3);
  Bytes b = bmp_header(w, h, 8, false, 0, stride * h, n * 4);
  for (uint32_t i = 0; i < n; ++i)
    b.push_back(pal[i * 3 + 2]), b.push_back(pal[i * 3 + 1]), b.push_back(pal[i * 3]),
        b.push_back(0);
  for (int i = 0; i < h; ++i) {
    const int y = h - 1 - i;
    Bytes row(stride, 0);
    std::memcpy(row.data(), idx.data() + size_t(y) * w, size_t(w));
    b.insert(b.end(), row.begin(), row.end());
  }
  return b;
}

Bytes encode_ppm(const image::Image& img, int maxval, bool ascii) {
  std::string hdr = std::string(ascii ? "P3" : "P6") + "\n# made by a test\n" +
                    std::to_string(img.width) + " " + std::to_string(img.height) + "\n" +
                    std::to_string(maxval) + "\n";
  Bytes b(hdr.begin(), hdr.end());
  for (uint8_t v : img.pixels) {
    const uint32_t s = maxval == 255 ? v : uint32_t(v) * uint32_t(maxval) / 255;
    if (ascii) {
      const std::string t = std::to_string(s) + " ";
      b.insert(b.end(), t.begin(), t.end());
    } else if (maxval > 255) {
      b.push_back(uint8_t(s >> 8)), b.push_back(uint8_t(s));
    } else {
      b.push_back(uint8_t(s));
    }
  }
  return b;
}

Bytes encode_pgm(int w, int h, const Bytes& gray, bool ascii) {
  std::string hdr = std::string(ascii ? "P2" : "P5") + " " + std::to_string(w) + " " +
                    std::to_string(h) + " 255\n";
  Bytes b(hdr.begin(), hdr.end());
  for (uint8_t v : gray) {
    if (ascii) {
      const std::string t = std::to_string(v) + "\n";
      b.insert(b.end(), t.begin(), t.end());
    } else {
      b.push_back(v);
    }
  }
  return b;
}

std::string scratch_dir() { return make_scratch_dir("mnv2_test_"); }

}  // namespace mnv2::test
