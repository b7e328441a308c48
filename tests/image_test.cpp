// Image decoders: every format and variant against the pixels the fixture was made from,
// EXIF orientation, corrupt / truncated / oversized inputs, and the real coral photos.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "image/decode.h"
#include "image_fixtures.h"
#include "mnv2/mnv2.h"
#include "test_util.h"

namespace mnv2::test {
namespace {

using image::decode_memory;
using image::Image;

Image decode(const Bytes& b, const std::string& name = "fixture") {
  return decode_memory(b.data(), b.size(), name);
}

int max_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  if (a.pixels.size() != b.pixels.size()) return 1 << 20;
  int m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return m;
}

double mean_diff(const Image& a, const Image& b) {
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return s / double(a.pixels.size());
}

// Expects decode to throw mnv2::Error whose message names the file and contains `what`.
void expect_error(const Bytes& b, const std::string& name, const std::string& what = "",
                  const image::DecodeOptions& o = {}) {
  try {
    decode_memory(b.data(), b.size(), name, o);
    ADD_FAILURE() << name << ": decoded, expected an error containing '" << what << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    if (!what.empty()) EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(ImageDecode, PngVariants) {
  const int w = 13, h = 7;
  const Image ref = noise_image(w, h, 3);
  EXPECT_EQ(max_diff(decode(encode_png_rgb(ref)), ref), 0);
  // Adam7 interlaced.
  EXPECT_EQ(max_diff(decode(encode_png(w, h, PNG_COLOR_TYPE_RGB, 8, ref.pixels, {}, true)), ref), 0);

  // RGBA: alpha dropped, colour kept as stored.
  Bytes rgba;
  for (size_t i = 0; i < ref.pixels.size(); i += 3)
    rgba.insert(rgba.end(), {ref.pixels[i], ref.pixels[i + 1], ref.pixels[i + 2], uint8_t(i * 7)});
  EXPECT_EQ(max_diff(decode(encode_png(w, h, PNG_COLOR_TYPE_RGB_ALPHA, 8, rgba)), ref), 0);

  // Gray and gray+alpha -> R=G=B.
  Bytes gray, ga;
  Image gref;
  gref.width = w, gref.height = h;
  for (int i = 0; i < w * h; ++i) {
    const uint8_t g = ref.pixels[size_t(i) * 3];
    gray.push_back(g);
    ga.insert(ga.end(), {g, uint8_t(255 - g)});
    gref.pixels.insert(gref.pixels.end(), {g, g, g});
  }
  EXPECT_EQ(max_diff(decode(encode_png(w, h, PNG_COLOR_TYPE_GRAY, 8, gray)), gref), 0);
  EXPECT_EQ(max_diff(decode(encode_png(w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga)), gref), 0);

  // 16-bit RGB: the high byte is kept (low bytes deliberately noisy).
  Bytes rgb16;
  for (size_t i = 0; i < ref.pixels.size(); ++i) rgb16.insert(rgb16.end(), {ref.pixels[i], uint8_t(i * 31)});
  EXPECT_EQ(max_diff(decode(encode_png(w, h, PNG_COLOR_TYPE_RGB, 16, rgb16)), ref), 0);

  // Palette (8-bit indices into 5 colours).
  const Bytes pal = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 250, 240, 230};
  Bytes idx;
  Image pref;
  pref.width = w, pref.height = h;
  for (int i = 0; i < w * h; ++i) {
    const uint8_t k = uint8_t((i * 7) % 5);
    idx.push_back(k);
    pref.pixels.insert(pref.pixels.end(), pal.begin() + k * 3, pal.begin() + k * 3 + 3);
  }
  EXPECT_EQ(max_diff(decode(encode_png(w, h, PNG_COLOR_TYPE_PALETTE, 8, idx, pal)), pref), 0);

  // 1-bit gray: 0 -> 0, 1 -> 255.
  const int bw = 10;
  Bytes bits = {0b10110000, 0b01000000, 0b01010101, 0b11000000};  // 2 rows x 10 px
  const Image b = decode(encode_png(bw, 2, PNG_COLOR_TYPE_GRAY, 1, bits));
  const int expect_row0[10] = {1, 0, 1, 1, 0, 0, 0, 0, 0, 1};
  for (int x = 0; x < bw; ++x) EXPECT_EQ(b.row(0)[x * 3], expect_row0[x] ? 255 : 0) << x;
}

TEST(ImageDecode, BmpVariants) {
  const Image ref = noise_image(11, 6, 5);  // odd width: 24-bit rows need padding
  EXPECT_EQ(max_diff(decode(encode_bmp(ref, 24, false)), ref), 0);
  EXPECT_EQ(max_diff(decode(encode_bmp(ref, 24, true)), ref), 0);
  EXPECT_EQ(max_diff(decode(encode_bmp(ref, 32, false)), ref), 0);
  EXPECT_EQ(max_diff(decode(encode_bmp(ref, 32, true, true)), ref), 0);
  // 8-bit palette, 3 colours, width 5 (row padding 3 bytes).
  const Bytes pal = {1, 2, 3, 200, 100, 50, 0, 255, 128};
  Bytes idx;
  Image pref;
  pref.width = 5, pref.height = 4;
  for (int i = 0; i < 20; ++i) {
    const uint8_t k = uint8_t(i % 3);
    idx.push_back(k);
    pref.pixels.insert(pref.pixels.end(), pal.begin() + k * 3, pal.begin() + k * 3 + 3);
  }
  EXPECT_EQ(max_diff(decode(encode_bmp_palette8(5, 4, idx, pal)), pref), 0);
  // 16-bit 5-6-5 with BI_BITFIELDS and 4-bit palette, built by hand (2x2 pixels).
  auto header = [](int w, int h, int bpp, uint32_t comp, const Bytes& extra, const Bytes& data) {
    Bytes b = {'B', 'M'};
    auto p16 = [&](uint32_t v) { b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8)); };
    auto p32 = [&](uint32_t v) { p16(v & 0xffff), p16(v >> 16); };
    p32(uint32_t(54 + extra.size() + data.size())), p32(0), p32(uint32_t(54 + extra.size()));
    p32(40), p32(uint32_t(w)), p32(uint32_t(h)), p16(1), p16(uint32_t(bpp)), p32(comp);
    p32(uint32_t(data.size())), p32(0), p32(0), p32(bpp <= 8 ? uint32_t(extra.size() / 4) : 0), p32(0);
    b.insert(b.end(), extra.begin(), extra.end());
    b.insert(b.end(), data.begin(), data.end());
    return b;
  };
  // masks R 0xF800, G 0x07E0, B 0x001F; bottom row first: (white, black), top row (red, blue)
  const Bytes masks = {0x00, 0xF8, 0, 0, 0xE0, 0x07, 0, 0, 0x1F, 0x00, 0, 0};
  const Bytes px565 = {0xFF, 0xFF, 0x00, 0x00, 0x00, 0xF8, 0x1F, 0x00};
  const Image b565 = decode(header(2, 2, 16, 3, masks, px565));
  EXPECT_EQ(b565.pixels, (Bytes{255, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0}));
  // 4-bit: palette {0: (10,20,30), 1: (200,150,100)}, rows of 2 pixels in one byte + padding.
  const Bytes pal4 = {30, 20, 10, 0, 100, 150, 200, 0};
  const Bytes px4 = {0x01, 0, 0, 0, 0x10, 0, 0, 0};  // bottom row (0,1), top row (1,0)
  const Image b4 = decode(header(2, 2, 4, 0, pal4, px4));
  EXPECT_EQ(b4.pixels, (Bytes{200, 150, 100, 10, 20, 30, 10, 20, 30, 200, 150, 100}));
  // RLE8 is refused by name.
  Bytes rle = encode_bmp_palette8(5, 4, idx, pal);
  rle[30] = 1;
  expect_error(rle, "rle.bmp", "BI_RLE8");
}

TEST(ImageDecode, PnmVariants) {
  const Image ref = noise_image(9, 5, 7);
  EXPECT_EQ(max_diff(decode(encode_ppm(ref)), ref), 0);
  EXPECT_EQ(max_diff(decode(encode_ppm(ref, 255, true)), ref), 0);
  // 16-bit: v*65535/255 stored, scaled back exactly.
  EXPECT_EQ(max_diff(decode(encode_ppm(ref, 65535)), ref), 0);
  // maxval 1000 (16-bit storage): round(v*1000/255) scaled back -> within 1.
  EXPECT_LE(max_diff(decode(encode_ppm(ref, 1000)), ref), 1);
  Bytes g;
  Image gref;
  gref.width = 9, gref.height = 5;
  for (int i = 0; i < 45; ++i) {
    g.push_back(uint8_t(i * 5));
    gref.pixels.insert(gref.pixels.end(), {uint8_t(i * 5), uint8_t(i * 5), uint8_t(i * 5)});
  }
  EXPECT_EQ(max_diff(decode(encode_pgm(9, 5, g)), gref), 0);
  EXPECT_EQ(max_diff(decode(encode_pgm(9, 5, g, true)), gref), 0);
  Bytes bad = encode_ppm(ref, 255, true);
  bad[bad.size() - 3] = '9';  // a sample of 9xx > maxval
  bad[bad.size() - 4] = '9';
  expect_error(bad, "bad.ppm", "corrupt PNM");
}

TEST(ImageDecode, RawRgbOnlyWhenAskedFor) {
  const Image ref = noise_image(6, 6, 9);
  // A .rgb name of a square image's size is raw.
  EXPECT_EQ(max_diff(decode(ref.pixels, "x.rgb"), ref), 0);
  EXPECT_EQ(max_diff(decode(ref.pixels, "X.RGB"), ref), 0);
  // The same bytes under any other name are not an image: raw is never guessed from size.
  expect_error(ref.pixels, "no_extension", "not a recognised image");
  expect_error(ref.pixels, "no_extension", "--raw WxH");
  // A text file of 3*S*S bytes named .jpg, and a 3-byte one named .png (1x1 by size).
  const std::string text = "this is a text file, not an image!!!!!!!!!!!!!!!";
  ASSERT_EQ(text.size(), 48u);  // 3 * 4 * 4
  expect_error(Bytes(text.begin(), text.end()), "t.jpg", "not a recognised image");
  expect_error(Bytes{'h', 'i', '\n'}, "t.png", "not a recognised image");
  // A .rgb file whose size is no square image: says how to give the size.
  expect_error(Bytes(3 * 6 * 5, 1), "odd.rgb", "--raw WxH");
  // --raw WxH: exactly W*H*3 bytes are raw, whatever the name (and even when the first
  // pixels look like a JPEG signature); other inputs still decode by content.
  image::DecodeOptions raw;
  raw.raw_width = 6;
  raw.raw_height = 5;
  Image wide = noise_image(6, 5, 4);
  wide.pixels[0] = 0xFF, wide.pixels[1] = 0xD8, wide.pixels[2] = 0xFF;
  const Image got = decode_memory(wide.pixels.data(), wide.pixels.size(), "pixels.bin", raw);
  EXPECT_EQ(got.width, 6);
  EXPECT_EQ(got.height, 5);
  EXPECT_EQ(max_diff(got, wide), 0);
  expect_error(Bytes(3 * 6 * 5, 1), "odd.rgb", "", image::DecodeOptions{});
  EXPECT_EQ(decode_memory(Bytes(3 * 6 * 5, 1).data(), 90, "odd.rgb", raw).height, 5);
  const Bytes png = encode_png_rgb(ref);
  EXPECT_EQ(max_diff(decode_memory(png.data(), png.size(), "a.png", raw), ref), 0);
  expect_error(ref.pixels, "square.rgb", "raw RGB of 6x5", raw);  // 108 bytes, --raw says 90
  expect_error({}, "empty.png", "empty");
}

// Replaces everything after the first `keep` bytes of the entropy-coded scan with EOI.
Bytes cut_scan(const Bytes& j, size_t keep) {
  for (size_t i = 2; i + 3 < j.size(); ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xDA) {
      const size_t sos_len = (size_t(j[i + 2]) << 8) | j[i + 3];
      const size_t data = i + 2 + sos_len;
      Bytes out(j.begin(), j.begin() + long(std::min(j.size(), data + keep)));
      out.push_back(0xFF);
      out.push_back(0xD9);
      return out;
    }
  ADD_FAILURE() << "no SOS marker";
  return j;
}

TEST(ImageDecode, JpegWithMissingScanIsAnError) {
  const Bytes j = encode_jpeg(noise_image(64, 64, 5), 90);
  // Header, then EOI where the scan data should be; header + one block + EOI; and
  // progressive data cut after the first scan's few bytes.
  expect_error(cut_scan(j, 0), "noscan.jpg", "JPEG");
  expect_error(cut_scan(j, 6), "oneblock.jpg", "JPEG");
  expect_error(cut_scan(encode_jpeg(noise_image(64, 64, 6), 90, false, true), 6), "prog.jpg", "JPEG");
  // The intact files decode.
  EXPECT_EQ(decode(j).width, 64);
  EXPECT_EQ(decode(encode_jpeg(noise_image(64, 64, 6), 90, false, true)).width, 64);
}

// Mean of each s x s block: what a 1/s DCT-domain scale approximates.
Image box_down(const Image& src, int s) {
  Image out;
  out.width = (src.width + s - 1) / s;
  out.height = (src.height + s - 1) / s;
  out.pixels.resize(size_t(out.width) * out.height * 3);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0, n = 0;
        for (int dy = 0; dy < s && y * s + dy < src.height; ++dy)
          for (int dx = 0; dx < s && x * s + dx < src.width; ++dx, ++n) sum += src.row(y * s + dy)[(x * s + dx) * 3 + c];
        out.row(y)[x * 3 + c] = uint8_t((sum + n / 2) / n);
      }
  return out;
}

TEST(ImageDecode, LargeJpegDecodesAtReducedDctScale) {
  // 2400 x 1800 = 4.32 MP, above the 4 MP threshold. The smallest M/8 with both sides
  // still >= 256: 1800 * 2/8 = 450 (1/8 gives 225 < 256), so 600 x 450.
  const Image big = pattern_image(2400, 1800, 7);
  const Bytes j = encode_jpeg(big, 92);
  image::DecodeOptions o;
  o.min_width = o.min_height = 256;
  std::vector<std::pair<int64_t, int64_t>> seen;
  o.before_allocate = [&](int64_t w, int64_t h, int64_t) { seen.emplace_back(w, h); };
  const Image small = decode_memory(j.data(), j.size(), "big.jpg", o);
  EXPECT_EQ(small.width, 600);
  EXPECT_EQ(small.height, 450);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::make_pair(int64_t(600), int64_t(450)));  // told before allocating
  // The DCT-scaled pixels are close to a box-filtered full decode.
  const Image full = decode(j);
  EXPECT_EQ(full.width, 2400);
  EXPECT_LT(mean_diff(small, box_down(full, 4)), 2.0);
  // Below the threshold (or without a target) JPEGs decode at full size, as references do.
  o.scale_above_pixels = 5'000'000;
  EXPECT_EQ(decode_memory(j.data(), j.size(), "big.jpg", o).width, 2400);
  // The target is for the upright image: with EXIF orientation 6 (rotate 90) and a tall
  // target, the stored width must cover the target height.
  image::DecodeOptions t;
  t.min_width = 100;
  t.min_height = 800;
  const Bytes rotated = with_exif_orientation(j, 6, false);
  const Image r = decode_memory(rotated.data(), rotated.size(), "rot.jpg", t);
  // Stored 2400 x 1800; upright 1800 x 2400. Upright height 2400 * M/8 >= 800 -> M = 3.
  EXPECT_EQ(r.width, 675);
  EXPECT_EQ(r.height, 900);
}

TEST(ImageDecode, BeforeAllocateHookSeesEveryFormatAndCanRefuse) {
  const Image ref = pattern_image(20, 12, 2);
  struct Fmt {
    std::string name;
    Bytes bytes;
  };
  const std::vector<Fmt> fmts = {{"a.jpg", encode_jpeg(ref)},
                                 {"a.png", encode_png_rgb(ref)},
                                 {"i.png", encode_png(20, 12, PNG_COLOR_TYPE_RGB, 8, ref.pixels, {}, true)},
                                 {"a.bmp", encode_bmp(ref, 24, false)},
                                 {"a.ppm", encode_ppm(ref)},
                                 {"a.rgb", noise_image(9, 9).pixels}};
  for (const auto& f : fmts) {
    int64_t got_w = 0, got_h = 0;
    image::DecodeOptions o;
    o.before_allocate = [&](int64_t w, int64_t h, int64_t) { got_w = w, got_h = h; };
    const Image img = decode_memory(f.bytes.data(), f.bytes.size(), f.name, o);
    EXPECT_EQ(got_w, img.width) << f.name;
    EXPECT_EQ(got_h, img.height) << f.name;
    // A refusal (a spent memory budget) comes out unchanged, for the setjmp-based decoders too.
    struct Refused : Error {
      Refused() : Error("refused by the budget") {}
    };
    o.before_allocate = [](int64_t, int64_t, int64_t) { throw Refused(); };
    EXPECT_THROW(decode_memory(f.bytes.data(), f.bytes.size(), f.name, o), Refused) << f.name;
  }
  // A progressive JPEG keeps all its coefficients: the hook is told about them.
  const Bytes prog = encode_jpeg(pattern_image(256, 128, 3), 90, false, true);
  int64_t extra = 0;
  image::DecodeOptions o;
  o.before_allocate = [&](int64_t, int64_t, int64_t e) { extra = e; };
  decode_memory(prog.data(), prog.size(), "p.jpg", o);
  EXPECT_GE(extra, int64_t(32 * 16) * 3 * 128);  // 32x16 blocks per component, 128 B each
}

TEST(ImageDecode, JpegRoundTrip) {
  const Image ref = pattern_image(40, 24);
  const Image rgb = decode(encode_jpeg(ref, 95));
  EXPECT_EQ(rgb.width, 40);
  EXPECT_EQ(rgb.height, 24);
  EXPECT_LT(mean_diff(rgb, ref), 3.0);
  const Image g = decode(encode_jpeg(ref, 95, true));
  for (size_t i = 0; i < g.pixels.size(); i += 3) {
    EXPECT_EQ(g.pixels[i], g.pixels[i + 1]);
    EXPECT_EQ(g.pixels[i], g.pixels[i + 2]);
  }
}

TEST(ImageDecode, ExifOrientation) {
  // Four flat quadrants (big enough that JPEG keeps the colours): TL red, TR green,
  // BL blue, BR white, 32 wide x 16 high.
  Image q;
  q.width = 32, q.height = 16;
  q.pixels.resize(32 * 16 * 3);
  const uint8_t cols[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 32; ++x) std::memcpy(q.row(y) + x * 3, cols[(y >= 8) * 2 + (x >= 16)], 3);
  const Bytes plain = encode_jpeg(q, 98);
  const Image upright = decode(plain);
  // Expected colour in the (top-left, top-right, bottom-left) corners after applying each
  // orientation, as the EXIF spec defines them (0 red, 1 green, 2 blue, 3 white).
  const std::map<int, std::array<int, 3>> corners = {
      {1, {0, 1, 2}}, {2, {1, 0, 3}}, {3, {3, 2, 1}}, {4, {2, 3, 0}},
      {5, {0, 2, 1}}, {6, {2, 0, 3}}, {7, {3, 1, 2}}, {8, {1, 3, 0}}};
  for (bool be : {false, true}) {
    for (int o = 1; o <= 8; ++o) {
      const Bytes j = with_exif_orientation(plain, o, be);
      EXPECT_EQ(image::jpeg_exif_orientation(j.data(), j.size()), o);
      const Image im = decode(j);
      EXPECT_EQ(im.width, o >= 5 ? 16 : 32) << o;
      EXPECT_EQ(im.height, o >= 5 ? 32 : 16) << o;
      EXPECT_EQ(max_diff(im, image::apply_orientation(upright, o)), 0) << o;
      auto near = [&](int x, int y, int c) {
        const uint8_t* p = im.row(y) + x * 3;
        for (int k = 0; k < 3; ++k)
          if (std::abs(int(p[k]) - int(cols[c][k])) > 24) return false;
        return true;
      };
      const auto& e = corners.at(o);
      EXPECT_TRUE(near(1, 1, e[0])) << "orientation " << o << " top-left";
      EXPECT_TRUE(near(im.width - 2, 1, e[1])) << "orientation " << o << " top-right";
      EXPECT_TRUE(near(1, im.height - 2, e[2])) << "orientation " << o << " bottom-left";
    }
  }
  // A malformed Exif block (IFD offset past the segment) is ignored, not fatal.
  Bytes bad = with_exif_orientation(plain, 6, false);
  bad[2 + 4 + 6 + 4] = 0xF0;
  EXPECT_EQ(image::jpeg_exif_orientation(bad.data(), bad.size()), 1);
  EXPECT_EQ(decode(bad).width, 32);
}

// Every proper prefix of a small valid file of each format is an error naming the file.
TEST(ImageDecode, EveryPrefixTruncationIsAnError) {
  const Image ref = pattern_image(12, 9);
  std::map<std::string, Bytes> files = {
      {"t.jpg", encode_jpeg(ref, 90)},
      {"t_exif.jpg", with_exif_orientation(encode_jpeg(ref, 90), 6, true)},
      {"t.png", encode_png_rgb(ref)},
      {"t_adam7.png", encode_png(12, 9, PNG_COLOR_TYPE_RGB, 8, ref.pixels, {}, true)},
      {"t.bmp", encode_bmp(ref, 24, false)},
      {"t32.bmp", encode_bmp(ref, 32, true, true)},
      {"t.ppm", encode_ppm(ref)},
      {"t_ascii.ppm", encode_ppm(ref, 255, true)},
      {"t16.ppm", encode_ppm(ref, 65535)},
  };
  int checked = 0;
  for (const auto& [name, full] : files) {
    ASSERT_NO_THROW(decode(full, name)) << name;
    for (size_t n = 0; n < full.size(); ++n) {
      const Bytes prefix(full.begin(), full.begin() + n);
      try {
        decode_memory(prefix.data(), prefix.size(), name);
        // An ASCII PNM cut inside the last number still parses a (shorter) last sample;
        // everything else must fail.
        if (name == "t_ascii.ppm" && n >= full.size() - 3) continue;
        ADD_FAILURE() << name << " truncated to " << n << " of " << full.size() << " bytes decoded";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 3000);
}

TEST(ImageDecode, CorruptHeaders) {
  const Image ref = pattern_image(16, 16);
  Bytes j = encode_jpeg(ref);
  // Find SOF0 and declare 0 components.
  for (size_t i = 2; i + 9 < j.size(); ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xC0) {
      j[i + 9] = 0;
      break;
    }
  expect_error(j, "sof.jpg", "JPEG");
  Bytes p = encode_png_rgb(ref);
  p[20] ^= 0x40;  // inside IHDR: CRC mismatch
  expect_error(p, "crc.png", "PNG");
  Bytes b = encode_bmp(ref, 24, false);
  b[28] = 7;  // 7 bits per pixel
  expect_error(b, "bpp.bmp", "bits per pixel");
  expect_error(Bytes{'G', 'I', 'F', '8', '9', 'a', 0, 0}, "x.gif", "not a recognised image");
}

Bytes png_chunk(const char* type, const Bytes& data) {
  Bytes c;
  const uint32_t n = uint32_t(data.size());
  c.insert(c.end(), {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)});
  c.insert(c.end(), type, type + 4);
  c.insert(c.end(), data.begin(), data.end());
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(type), 4);
  crc = crc32(crc, data.data(), uInt(data.size()));
  c.insert(c.end(), {uint8_t(crc >> 24), uint8_t(crc >> 16), uint8_t(crc >> 8), uint8_t(crc)});
  return c;
}

TEST(ImageDecode, DecompressionBombRefusedFromHeader) {
  // PNG declaring 100000 x 100000 RGB (30 GB) in a 60-byte file.
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const Bytes ihdr = {0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 2, 0, 0, 0};
  const Bytes c = png_chunk("IHDR", ihdr);
  png.insert(png.end(), c.begin(), c.end());
  const Bytes idat = png_chunk("IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  png.insert(png.end(), idat.begin(), idat.end());
  expect_error(png, "bomb.png", "limit");
  // JPEG whose SOF declares 60000 x 60000.
  Bytes j = encode_jpeg(pattern_image(16, 16));
  for (size_t i = 2; i + 9 < j.size(); ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xC0) {
      j[i + 5] = 0xEA, j[i + 6] = 0x60, j[i + 7] = 0xEA, j[i + 8] = 0x60;
      break;
    }
  expect_error(j, "bomb.jpg", "limit");
  // BMP 50000 x 50000, PPM 100000 x 100000.
  Bytes b = encode_bmp(pattern_image(4, 4), 24, false);
  b[18] = 0x50, b[19] = 0xC3, b[20] = 0, b[22] = 0x50, b[23] = 0xC3, b[24] = 0;
  expect_error(b, "bomb.bmp", "limit");
  const std::string ppm = "P6 100000 100000 255\n";
  expect_error(Bytes(ppm.begin(), ppm.end()), "bomb.ppm", "limit");
  // The limit is configurable.
  image::DecodeOptions small;
  small.max_pixels = 100;
  expect_error(encode_png_rgb(pattern_image(11, 10)), "big.png", "limit", small);
  expect_error(encode_jpeg(pattern_image(11, 10)), "big.jpg", "limit", small);
  EXPECT_NO_THROW(decode_memory(encode_png_rgb(pattern_image(10, 10)).data(),
                                encode_png_rgb(pattern_image(10, 10)).size(), "ok.png", small));
}

TEST(ImageDecode, TruncatedJpegIsNotGreyFilled) {
  const Bytes j = encode_jpeg(noise_image(64, 64), 90);
  // Cut in the middle of the entropy-coded data: libjpeg would pad with grey.
  expect_error(Bytes(j.begin(), j.begin() + j.size() * 2 / 3), "half.jpg", "JPEG");
}

TEST(ImageDecode, CoralPhotos) {
  const std::string d = data_dir();
  if (d.empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::map<std::string, std::pair<int, int>> sizes = {
      {"cat.bmp", {512, 341}},       {"bird.bmp", {512, 343}},     {"dragonfly.bmp", {512, 418}},
      {"grace_hopper.bmp", {512, 600}}, {"sunflower.bmp", {512, 340}}, {"resized_cat.bmp", {224, 224}},
      {"bird.rgb", {224, 224}},      {"sunflower.rgb", {224, 224}}, {"parrot.jpg", {512, 929}},
      {"owl.jpg", {512, 384}},       {"hot_dog.jpg", {512, 384}},  {"cat_720p.jpg", {1280, 720}},
      {"pets.jpg", {512, 430}}};
  for (const auto& [f, wh] : sizes) {
    const Image im = image::decode_file(d + "/coral/" + f);
    EXPECT_EQ(im.width, wh.first) << f;
    EXPECT_EQ(im.height, wh.second) << f;
  }
  // bird.rgb is the raw bytes.
  const Bytes raw = read_file(d + "/coral/bird.rgb");
  EXPECT_EQ(image::decode_file(d + "/coral/bird.rgb").pixels, raw);
  EXPECT_THROW(image::decode_file(d + "/coral/no_such_file.jpg"), Error);
}

}  // namespace
}  // namespace mnv2::test

namespace mnv2::test {
namespace {

// Random byte flips, insertions and cuts of small valid files: every result is either an
// image of sane size or an mnv2::Error (never a crash, hang or huge allocation).
TEST(ImageDecode, RandomMutationsDecodeOrThrow) {
  const Image ref = pattern_image(12, 9);
  const std::vector<Bytes> seeds = {
      encode_jpeg(ref, 90), with_exif_orientation(encode_jpeg(ref, 90), 6, false),
      encode_png_rgb(ref), encode_png(12, 9, PNG_COLOR_TYPE_PALETTE, 8, Bytes(108, 1), {1, 2, 3, 4, 5, 6}),
      encode_bmp(ref, 24, false), encode_bmp(ref, 32, true, true), encode_ppm(ref),
      encode_ppm(ref, 255, true)};
  uint32_t s = 12345;
  auto rnd = [&] {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  };
  int decoded = 0, errors = 0;
  for (int it = 0; it < 6000; ++it) {
    Bytes b = seeds[size_t(it) % seeds.size()];
    const int edits = 1 + int(rnd() % 4);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const size_t pos = rnd() % b.size();
      switch (rnd() % 4) {
        case 0: b[pos] = uint8_t(rnd()); break;
        case 1: b[pos] ^= uint8_t(1u << (rnd() % 8)); break;
        case 2: b.insert(b.begin() + long(pos), uint8_t(rnd())); break;
        default: b.resize(pos + 1); break;
      }
    }
    try {
      const Image im = decode_memory(b.data(), b.size(), "mutant");
      ASSERT_EQ(im.pixels.size(), size_t(im.width) * size_t(im.height) * 3);
      ASSERT_LE(int64_t(im.width) * im.height, 100'000'000);
      ++decoded;
    } catch (const Error& e) {
      ASSERT_NE(std::string(e.what()).find("mutant"), std::string::npos) << e.what();
      ++errors;
    }
  }
  std::printf("[ mutations ] %d decoded, %d rejected with mnv2::Error\n", decoded, errors);
  EXPECT_GT(errors, 1000);
}

}  // namespace
}  // namespace mnv2::test
