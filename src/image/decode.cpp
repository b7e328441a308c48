#include "image/decode.h"

#include <cctype>
#include <csetjmp>
#include <exception>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "mnv2/mnv2.h"

namespace mnv2::image {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error(name + ": " + what);
}

void check_dims(const std::string& name, int64_t w, int64_t h, const DecodeOptions& o,
                const char* fmt) {
  if (w <= 0 || h <= 0)
    fail(name, std::string(fmt) + " header declares an empty image (" + std::to_string(w) + "x" +
                   std::to_string(h) + ")");
  if (w > (1 << 30) || h > (1 << 30) || w * h > o.max_pixels)
    fail(name, std::string(fmt) + " header declares " + std::to_string(w) + "x" +
                   std::to_string(h) + " pixels, more than the limit of " +
                   std::to_string(o.max_pixels) + " (raise it with --max-pixels)");
}

// The caller's hook (a shared memory budget) sees the size before any pixel is allocated.
void before_allocate(const DecodeOptions& o, int64_t w, int64_t h, int64_t extra) {
  if (o.before_allocate) o.before_allocate(w, h, extra);
}

// For the decoders that run between setjmp and longjmp: an exception must not unwind
// through libjpeg/libpng frames, so it is caught here and rethrown by the caller.
bool before_allocate_noexcept(const DecodeOptions& o, int64_t w, int64_t h, int64_t extra,
                              std::exception_ptr* error) {
  try {
    before_allocate(o, w, h, extra);
    return true;
  } catch (...) {
    *error = std::current_exception();
    return false;
  }
}

uint32_t rd16le(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }
uint32_t rd32le(const uint8_t* p) { return rd16le(p) | rd16le(p + 2) << 16; }

bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    char c = s[s.size() - suffix.size() + i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}

int64_t raw_side(size_t size) {
  if (size == 0 || size % 3) return 0;
  const uint64_t px = size / 3;
  uint64_t s = 0;
  while ((s + 1) * (s + 1) <= px) ++s;  // at most ~sqrt(size) steps; sizes are file sizes
  return s * s == px ? int64_t(s) : 0;
}

// ---------------------------------------------------------------- JPEG

struct JpegErr {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit_cb(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_emit_cb(j_common_ptr cinfo, int level) {
  auto* e = reinterpret_cast<JpegErr*>(cinfo->err);
  if (level < 0) {
    // Missing data makes libjpeg fill the rest with grey and go on: the file ending early
    // (JPEG_EOF), a marker such as EOI where scan data should be (HIT_MARKER: the scan
    // is missing or cut short) or restart markers out of place (MUST_RESYNC: a stripe
    // lost). Each is a damaged file, not an image.
    const int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC) {
      (*cinfo->err->format_message)(cinfo, e->message);
      std::longjmp(e->jump, 1);
    }
    cinfo->err->num_warnings++;
  }
}

struct JpegJob {
  const uint8_t* data;
  size_t size;
  const DecodeOptions* opts;
  Image* out;
  int orientation = 1;  // EXIF orientation the caller applies afterwards
  std::string error;  // set when decoding fails
  std::exception_ptr hook_error;  // thrown by DecodeOptions::before_allocate
  bool too_big = false;
  int64_t declared_w = 0, declared_h = 0;
};

// The smallest M in 1..8 with the image scaled by M/8 still covering (tw, th), or 8.
// Output sizes round up, as libjpeg's jdiv_round_up does.
int jpeg_scale_eighths(int64_t w, int64_t h, int tw, int th) {
  for (int m = 1; m < 8; ++m)
    if ((w * m + 7) / 8 >= tw && (h * m + 7) / 8 >= th) return m;
  return 8;
}

// Kept free of C++ objects with destructors between setjmp and longjmp.
bool jpeg_decode_inner(JpegJob* job) {
  jpeg_decompress_struct cinfo;
  JpegErr err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit_cb;
  err.mgr.emit_message = jpeg_emit_cb;
  err.message[0] = 0;
  std::vector<uint8_t> cmyk_row;  // constructed before setjmp
  if (setjmp(err.jump)) {
    job->error = err.message;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(job->data), (unsigned long)job->size);
  jpeg_read_header(&cinfo, TRUE);
  job->declared_w = cinfo.image_width;
  job->declared_h = cinfo.image_height;
  if (int64_t(cinfo.image_width) * int64_t(cinfo.image_height) > job->opts->max_pixels ||
      cinfo.image_width == 0 || cinfo.image_height == 0) {
    job->too_big = true;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const DecodeOptions& o = *job->opts;
  if (o.min_width > 0 && o.min_height > 0 &&
      int64_t(cinfo.image_width) * int64_t(cinfo.image_height) > o.scale_above_pixels) {
    // The target is for the upright image; orientations 5..8 swap the stored axes.
    const bool swap = job->orientation >= 5;
    cinfo.scale_num = unsigned(jpeg_scale_eighths(cinfo.image_width, cinfo.image_height,
                                                  swap ? o.min_height : o.min_width,
                                                  swap ? o.min_width : o.min_height));
    cinfo.scale_denom = 8;
  }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_calc_output_dimensions(&cinfo);
  {
    // A progressive (multi-scan) JPEG keeps every DCT coefficient of the whole image,
    // at full resolution whatever the output scale: 128 bytes per 8x8 block.
    int64_t coef = 0;
    if (jpeg_has_multiple_scans(&cinfo))
      for (int ci = 0; ci < cinfo.num_components; ++ci) {
        const jpeg_component_info& c = cinfo.comp_info[ci];
        coef += (int64_t(c.width_in_blocks) + c.h_samp_factor) * (int64_t(c.height_in_blocks) + c.v_samp_factor) * 128;
      }
    int64_t row = cmyk ? int64_t(cinfo.output_width) * 4 : 0;
    if (!before_allocate_noexcept(o, cinfo.output_width, cinfo.output_height, coef + row, &job->hook_error)) {
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
  }
  jpeg_start_decompress(&cinfo);
  Image& img = *job->out;
  img.width = int(cinfo.output_width);
  img.height = int(cinfo.output_height);
  // Reserve without touching: pages are committed only as rows arrive, so a small file
  // that declares a huge image and then ends costs little before it fails.
  img.pixels.clear();
  img.pixels.reserve(size_t(img.width) * size_t(img.height) * 3);
  if (cmyk) cmyk_row.resize(size_t(img.width) * 4);
  while (cinfo.output_scanline < cinfo.output_height) {
    const int y = int(cinfo.output_scanline);
    img.pixels.resize(size_t(y + 1) * size_t(img.width) * 3);
    JSAMPROW row = cmyk ? cmyk_row.data() : img.row(y);
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) {
      // Adobe writes inverted CMYK; libjpeg hands it back as stored.
      uint8_t* d = img.row(y);
      for (int x = 0; x < img.width; ++x) {
        const unsigned k = cmyk_row[size_t(x) * 4 + 3];
        for (int c = 0; c < 3; ++c) d[x * 3 + c] = uint8_t((cmyk_row[size_t(x) * 4 + c] * k + 127) / 255);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                  const DecodeOptions& o) {
  Image img;
  JpegJob job{data, size, &o, &img, 1, {}, {}, false, 0, 0};
  job.orientation = o.apply_exif_orientation ? jpeg_exif_orientation(data, size) : 1;
  if (!jpeg_decode_inner(&job)) {
    if (job.hook_error) std::rethrow_exception(job.hook_error);
    if (job.too_big) check_dims(name, job.declared_w, job.declared_h, o, "JPEG");
    fail(name, "corrupt or truncated JPEG: " + job.error);
  }
  if (job.orientation != 1) img = apply_orientation(img, job.orientation);
  return img;
}

// ---------------------------------------------------------------- PNG

struct PngJob {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  const DecodeOptions* opts;
  Image* out;
  char error[256] = {0};
  std::exception_ptr hook_error;  // thrown by DecodeOptions::before_allocate
  bool too_big = false;
  int64_t declared_w = 0, declared_h = 0;
};

void png_error_cb(png_structp png, png_const_charp msg) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  std::snprintf(job->error, sizeof job->error, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}
void png_warning_cb(png_structp, png_const_charp) {}

void png_read_cb(png_structp png, png_bytep dst, png_size_t n) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  if (n > job->size - job->pos) png_error(png, "unexpected end of file (truncated PNG)");
  std::memcpy(dst, job->data + job->pos, n);
  job->pos += n;
}

bool png_decode_inner(PngJob* job) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, job, png_error_cb, png_warning_cb);
  if (!png) {
    std::snprintf(job->error, sizeof job->error, "cannot create libpng reader");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  std::vector<png_bytep> rows;  // constructed before setjmp
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(job->error, sizeof job->error, "cannot create libpng info");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, job, png_read_cb);
  // The header check below is ours; libpng's own limit would only give a vaguer message.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  job->declared_w = w;
  job->declared_h = h;
  if (int64_t(w) * int64_t(h) > job->opts->max_pixels || w == 0 || h == 0) {
    job->too_big = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);  // keep the high byte, as OpenCV and Pillow do
  if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != size_t(w) * 3)
    png_error(png, "unsupported PNG pixel layout after conversion");
  if (!before_allocate_noexcept(*job->opts, w, h, passes > 1 ? int64_t(h) * int64_t(sizeof(png_bytep)) : 0,
                                &job->hook_error)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  Image& img = *job->out;
  img.width = int(w);
  img.height = int(h);
  if (passes > 1) {
    img.pixels.assign(size_t(w) * size_t(h) * 3, 0);
    rows.resize(h);
    for (png_uint_32 y = 0; y < h; ++y) rows[y] = img.row(int(y));
    png_read_image(png, rows.data());
  } else {
    // Row by row into reserved memory: a truncated file fails before the rest is touched.
    img.pixels.clear();
    img.pixels.reserve(size_t(w) * size_t(h) * 3);
    for (png_uint_32 y = 0; y < h; ++y) {
      img.pixels.resize(size_t(y + 1) * size_t(w) * 3);
      png_read_row(png, img.row(int(y)), nullptr);
    }
  }
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

Image decode_png(const uint8_t* data, size_t size, const std::string& name,
                 const DecodeOptions& o) {
  Image img;
  PngJob job;
  job.data = data;
  job.size = size;
  job.opts = &o;
  job.out = &img;
  if (!png_decode_inner(&job)) {
    if (job.hook_error) std::rethrow_exception(job.hook_error);
    if (job.too_big) check_dims(name, job.declared_w, job.declared_h, o, "PNG");
    fail(name, std::string("corrupt or truncated PNG: ") + job.error);
  }
  return img;
}

// ---------------------------------------------------------------- BMP

int mask_shift(uint32_t m) {
  int s = 0;
  while (m && !(m & 1)) {
    m >>= 1;
    ++s;
  }
  return s;
}
int mask_bits(uint32_t m) {
  m >>= mask_shift(m);
  int b = 0;
  while (m & 1) {
    m >>= 1;
    ++b;
  }
  return b;
}
uint8_t mask_value(uint32_t px, uint32_t mask) {
  if (!mask) return 0;
  const int s = mask_shift(mask), b = mask_bits(mask);
  const uint32_t v = (px & mask) >> s;
  const uint32_t maxv = b >= 32 ? 0xffffffffu : ((1u << b) - 1);
  return uint8_t((uint64_t(v) * 255 + maxv / 2) / maxv);
}

Image decode_bmp(const uint8_t* d, size_t size, const std::string& name, const DecodeOptions& o) {
  if (size < 26) fail(name, "truncated BMP: " + std::to_string(size) + " bytes, no full header");
  const uint32_t pix_off = rd32le(d + 10);
  const uint32_t hdr = rd32le(d + 14);
  if (hdr != 12 && hdr != 40 && hdr != 52 && hdr != 56 && hdr != 64 && hdr != 108 && hdr != 124)
    fail(name, "BMP has an unknown DIB header size " + std::to_string(hdr));
  if (size < 14 + size_t(hdr)) fail(name, "truncated BMP: the DIB header is cut off");
  int64_t w, h;
  uint32_t bpp, comp = 0, colors_used = 0;
  if (hdr == 12) {
    w = rd16le(d + 18);
    h = int16_t(rd16le(d + 20));
    bpp = rd16le(d + 24);
  } else {
    w = int32_t(rd32le(d + 18));
    h = int32_t(rd32le(d + 22));
    bpp = rd16le(d + 28);
    comp = rd32le(d + 30);
    colors_used = rd32le(d + 46);
  }
  const bool top_down = h < 0;
  if (h == std::numeric_limits<int32_t>::min()) fail(name, "BMP height is invalid");
  if (top_down) h = -h;
  if (w <= 0) fail(name, "BMP width " + std::to_string(w) + " is invalid");
  check_dims(name, w, h, o, "BMP");
  uint32_t rmask = 0, gmask = 0, bmask = 0;
  if (comp == 3 || comp == 6) {
    if (bpp != 16 && bpp != 32) fail(name, "BMP BI_BITFIELDS with " + std::to_string(bpp) + " bits per pixel is invalid");
    // After a 40-byte header the three masks follow it; larger headers contain them.
    if (size < 14 + 40 + 12) fail(name, "truncated BMP: bit-field masks are cut off");
    rmask = rd32le(d + 54), gmask = rd32le(d + 58), bmask = rd32le(d + 62);
    if (!rmask && !gmask && !bmask) fail(name, "BMP BI_BITFIELDS masks are all zero");
  } else if (comp == 0) {
    if (bpp == 16) rmask = 0x7c00, gmask = 0x03e0, bmask = 0x001f;
    if (bpp == 32) rmask = 0xff0000, gmask = 0x00ff00, bmask = 0x0000ff;
  } else {
    static const char* names[] = {"BI_RGB", "BI_RLE8", "BI_RLE4", "BI_BITFIELDS", "BI_JPEG", "BI_PNG"};
    fail(name, std::string("BMP compression ") +
                   (comp < 6 ? names[comp] : std::to_string(comp).c_str()) +
                   " is not supported (only uncompressed BI_RGB and BI_BITFIELDS)");
  }
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    fail(name, "BMP with " + std::to_string(bpp) + " bits per pixel is not supported");
  // Palette
  std::vector<uint8_t> pal;  // RGB triples
  if (bpp <= 8) {
    const size_t entry = hdr == 12 ? 3 : 4;
    size_t n = colors_used ? colors_used : (size_t(1) << bpp);
    if (n > 256) fail(name, "BMP palette of " + std::to_string(n) + " colours is invalid");
    const size_t pal_off = 14 + hdr;
    if (pal_off + n * entry > size) fail(name, "truncated BMP: the palette is cut off");
    pal.resize(256 * 3, 0);
    for (size_t i = 0; i < n; ++i) {
      pal[i * 3 + 0] = d[pal_off + i * entry + 2];
      pal[i * 3 + 1] = d[pal_off + i * entry + 1];
      pal[i * 3 + 2] = d[pal_off + i * entry + 0];
    }
  }
  const uint64_t stride = (uint64_t(bpp) * uint64_t(w) + 31) / 32 * 4;
  if (pix_off > size || uint64_t(pix_off) + stride * uint64_t(h) > size)
    fail(name, "truncated BMP: " + std::to_string(w) + "x" + std::to_string(h) + " at " +
                   std::to_string(bpp) + " bits needs " +
                   std::to_string(uint64_t(pix_off) + stride * uint64_t(h)) +
                   " bytes, the file has " + std::to_string(size));
  before_allocate(o, w, h, 0);
  Image img;
  img.width = int(w);
  img.height = int(h);
  img.pixels.resize(size_t(w) * size_t(h) * 3);
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* s = d + pix_off + stride * uint64_t(top_down ? y : h - 1 - y);
    uint8_t* o8 = img.row(int(y));
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* px = o8 + x * 3;
      switch (bpp) {
        case 24:
          px[0] = s[x * 3 + 2], px[1] = s[x * 3 + 1], px[2] = s[x * 3];
          break;
        case 32: {
          const uint32_t v = rd32le(s + x * 4);
          px[0] = mask_value(v, rmask), px[1] = mask_value(v, gmask), px[2] = mask_value(v, bmask);
          break;
        }
        case 16: {
          const uint32_t v = rd16le(s + x * 2);
          px[0] = mask_value(v, rmask), px[1] = mask_value(v, gmask), px[2] = mask_value(v, bmask);
          break;
        }
        default: {  // 1, 4, 8-bit palette
          const uint64_t bit = uint64_t(x) * bpp;
          const unsigned byte = s[bit / 8];
          const unsigned idx = (byte >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
          std::memcpy(px, &pal[idx * 3], 3);
        }
      }
    }
  }
  return img;
}

// ---------------------------------------------------------------- PNM

Image decode_pnm(const uint8_t* d, size_t size, const std::string& name, const DecodeOptions& o) {
  const char kind = char(d[1]);
  size_t pos = 2;
  auto skip_ws = [&] {
    while (pos < size) {
      if (d[pos] == '#') {
        while (pos < size && d[pos] != '\n' && d[pos] != '\r') ++pos;
      } else if (d[pos] == ' ' || d[pos] == '\t' || d[pos] == '\n' || d[pos] == '\r' ||
                 d[pos] == '\v' || d[pos] == '\f') {
        ++pos;
      } else {
        break;
      }
    }
  };
  auto number = [&](const char* what) -> int64_t {
    skip_ws();
    if (pos >= size) fail(name, std::string("truncated PNM: missing ") + what);
    if (d[pos] < '0' || d[pos] > '9')
      fail(name, std::string("corrupt PNM: expected a number for ") + what + " at byte " +
                     std::to_string(pos));
    int64_t v = 0;
    while (pos < size && d[pos] >= '0' && d[pos] <= '9') {
      v = v * 10 + (d[pos++] - '0');
      if (v > (int64_t(1) << 40)) fail(name, std::string("corrupt PNM: ") + what + " is too large");
    }
    return v;
  };
  const int64_t w = number("width"), h = number("height");
  const int64_t maxval = number("maxval");
  if (maxval < 1 || maxval > 65535)
    fail(name, "corrupt PNM: maxval " + std::to_string(maxval) + " is outside 1..65535");
  check_dims(name, w, h, o, "PNM");
  const bool gray = kind == '2' || kind == '5';
  const bool ascii = kind == '2' || kind == '3';
  const int ch = gray ? 1 : 3;
  const uint64_t samples = uint64_t(w) * uint64_t(h) * ch;
  // The file must hold the samples (binary) or at least 2 bytes each (text); checked
  // before the hook so a short file is called truncated, not too big for a budget.
  if (samples > size) fail(name, "truncated PNM: " + std::to_string(samples) + " samples declared, file too short");
  before_allocate(o, w, h, int64_t(samples));
  Image img;
  auto scale = [&](uint32_t v) -> uint8_t {
    if (v > maxval) fail(name, "corrupt PNM: sample " + std::to_string(v) + " exceeds maxval " + std::to_string(maxval));
    if (maxval == 255) return uint8_t(v);
    return uint8_t((uint64_t(v) * 255 + uint64_t(maxval) / 2) / uint64_t(maxval));
  };
  std::vector<uint8_t> s;
  if (ascii) {
    s.resize(samples);
    for (uint64_t i = 0; i < samples; ++i) s[i] = scale(uint32_t(number("a sample")));
  } else {
    if (pos >= size) fail(name, "truncated PNM: no data after the header");
    ++pos;  // the single whitespace byte after maxval
    const int bps = maxval > 255 ? 2 : 1;
    if (pos > size || (size - pos) < samples * bps)
      fail(name, "truncated PNM: " + std::to_string(samples * bps) + " data bytes expected, " +
                     std::to_string(size - std::min(pos, size)) + " present");
    s.resize(samples);
    for (uint64_t i = 0; i < samples; ++i)
      s[i] = scale(bps == 1 ? d[pos + i] : (uint32_t(d[pos + 2 * i]) << 8 | d[pos + 2 * i + 1]));
  }
  img.width = int(w);
  img.height = int(h);
  img.pixels.resize(size_t(w) * size_t(h) * 3);
  if (gray) {
    for (size_t i = 0; i < s.size(); ++i) img.pixels[i * 3] = img.pixels[i * 3 + 1] = img.pixels[i * 3 + 2] = s[i];
  } else {
    img.pixels = std::move(s);
  }
  return img;
}

}  // namespace

const char* format_name(Format f) {
  switch (f) {
    case Format::Jpeg: return "JPEG";
    case Format::Png: return "PNG";
    case Format::Bmp: return "BMP";
    case Format::Pnm: return "PNM";
    case Format::RawRgb: return "raw RGB";
    default: return "unknown";
  }
}

Format sniff_format(const uint8_t* d, size_t size, const std::string& name, const DecodeOptions& o) {
  // Raw RGB that was asked for wins even if its first pixels look like a magic.
  if (o.raw_width > 0 && o.raw_height > 0 && uint64_t(size) == uint64_t(o.raw_width) * uint64_t(o.raw_height) * 3)
    return Format::RawRgb;
  if (o.raw_width <= 0 && ends_with(name, ".rgb") && raw_side(size) > 0) return Format::RawRgb;
  if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::Jpeg;
  if (size >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return Format::Png;
  if (size >= 2 && d[0] == 'B' && d[1] == 'M') return Format::Bmp;
  if (size >= 2 && d[0] == 'P' && (d[1] == '2' || d[1] == '3' || d[1] == '5' || d[1] == '6'))
    return Format::Pnm;
  // A file cut off inside a magic number is a truncated image of that format, not raw data.
  static const char* const magics[] = {"\xFF\xD8\xFF", "\x89PNG\r\n\x1a\n", "BM", "P6", "P5", "P3", "P2"};
  static const Format fmts[] = {Format::Jpeg, Format::Png, Format::Bmp, Format::Pnm, Format::Pnm, Format::Pnm, Format::Pnm};
  for (int i = 0; i < 7; ++i) {
    const size_t n = std::strlen(magics[i]);
    if (size < n && std::memcmp(d, magics[i], size) == 0)
      fail(name, std::string("truncated ") + format_name(fmts[i]) + ": only " + std::to_string(size) + " bytes");
  }
  // Never raw by size alone: any 3*S*S bytes (a text file, a damaged image) would do.
  return Format::Unknown;
}

Image decode_memory(const uint8_t* data, size_t size, const std::string& name,
                    const DecodeOptions& o) {
  if (size == 0) fail(name, "empty file, not an image");
  switch (sniff_format(data, size, name, o)) {
    case Format::Jpeg: return decode_jpeg(data, size, name, o);
    case Format::Png: return decode_png(data, size, name, o);
    case Format::Bmp: return decode_bmp(data, size, name, o);
    case Format::Pnm: return decode_pnm(data, size, name, o);
    case Format::RawRgb: {
      const bool asked = o.raw_width > 0 && o.raw_height > 0;
      const int64_t w = asked ? o.raw_width : raw_side(size), h = asked ? o.raw_height : w;
      check_dims(name, w, h, o, "raw RGB");
      before_allocate(o, w, h, 0);
      Image img;
      img.width = int(w);
      img.height = int(h);
      img.pixels.assign(data, data + size);
      return img;
    }
    default:
      break;
  }
  if (o.raw_width > 0 && o.raw_height > 0)
    fail(name, "neither a recognised image nor raw RGB of " + std::to_string(o.raw_width) + "x" +
                   std::to_string(o.raw_height) + " (--raw), which needs " +
                   std::to_string(uint64_t(o.raw_width) * uint64_t(o.raw_height) * 3) + " bytes; the file has " +
                   std::to_string(size));
  if (ends_with(name, ".rgb"))
    fail(name, "a .rgb file is headerless raw RGB of a square S x S image (3*S*S bytes); this one has " +
                   std::to_string(size) + " bytes: give its size with --raw WxH");
  fail(name, "not a recognised image: expected JPEG, PNG, BMP or PPM/PGM (P2/P3/P5/P6); the file has " +
                 std::to_string(size) + " bytes (headerless raw RGB is read only from a .rgb file or "
                 "with --raw WxH)");
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::vector<uint8_t> buf;
  if (path == "-") {
    char tmp[65536];
    size_t n;
    while ((n = std::fread(tmp, 1, sizeof tmp, stdin)) > 0) buf.insert(buf.end(), tmp, tmp + n);
    if (std::ferror(stdin)) throw Error("<stdin>: read error");
    return buf;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  f.seekg(0, std::ios::end);
  const std::streamoff n = f.tellg();
  if (n < 0) throw Error(path + ": cannot read (is it a regular file?)");
  f.seekg(0);
  buf.resize(size_t(n));
  if (n > 0 && !f.read(reinterpret_cast<char*>(buf.data()), n)) throw Error(path + ": read error");
  return buf;
}

Image decode_file(const std::string& path, const DecodeOptions& o) {
  const std::vector<uint8_t> bytes = read_all(path);
  return decode_memory(bytes.data(), bytes.size(), path == "-" ? "<stdin>" : path, o);
}

int jpeg_exif_orientation(const uint8_t* d, size_t size) {
  if (size < 4 || d[0] != 0xFF || d[1] != 0xD8) return 1;
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (d[pos] != 0xFF) return 1;
    const uint8_t marker = d[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan / end: no EXIF before
    const size_t len = (size_t(d[pos + 2]) << 8) | d[pos + 3];
    if (len < 2 || pos + 2 + len > size) return 1;
    const uint8_t* seg = d + pos + 4;
    const size_t n = len - 2;
    if (marker == 0xE1 && n >= 14 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const uint8_t* t = seg + 6;
      const size_t tn = n - 6;
      bool le;
      if (t[0] == 'I' && t[1] == 'I') le = true;
      else if (t[0] == 'M' && t[1] == 'M') le = false;
      else return 1;
      auto u16 = [&](size_t o) -> uint32_t {
        return le ? (uint32_t(t[o]) | uint32_t(t[o + 1]) << 8) : (uint32_t(t[o]) << 8 | t[o + 1]);
      };
      auto u32 = [&](size_t o) -> uint32_t {
        return le ? (u16(o) | u16(o + 2) << 16) : (u16(o) << 16 | u16(o + 2));
      };
      if (u16(2) != 42) return 1;
      const uint32_t ifd = u32(4);
      if (ifd < 8 || size_t(ifd) + 2 > tn) return 1;
      const uint32_t count = u16(ifd);
      for (uint32_t i = 0; i < count; ++i) {
        const size_t e = size_t(ifd) + 2 + size_t(i) * 12;
        if (e + 12 > tn) return 1;
        if (u16(e) == 0x0112) {
          const uint32_t type = u16(e + 2);
          uint32_t v = 0;
          if (type == 3) v = u16(e + 8);        // SHORT
          else if (type == 4) v = u32(e + 8);   // LONG (non-standard, seen in the wild)
          else return 1;
          return v >= 1 && v <= 8 ? int(v) : 1;
        }
      }
      return 1;
    }
    pos += 2 + len;
  }
  return 1;
}

Image apply_orientation(const Image& in, int orientation) {
  if (orientation <= 1 || orientation > 8) return in;
  const int W = in.width, H = in.height;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? H : W;
  out.height = swap ? W : H;
  out.pixels.resize(in.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = W - 1 - x; sy = y; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sx = x; sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        case 8: sx = W - 1 - y; sy = x; break;
      }
      std::memcpy(out.row(y) + x * 3, in.row(sy) + sx * 3, 3);
    }
  }
  return out;
}

bool has_image_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
  std::string e = path.substr(dot);
  for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  return e == ".jpg" || e == ".jpeg" || e == ".png" || e == ".bmp" || e == ".ppm" ||
         e == ".pgm" || e == ".pnm" || e == ".rgb";
}

}  // namespace mnv2::image
