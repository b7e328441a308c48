// Writes small valid images of every decoded format as the image fuzzer's seeds.
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>
#include <png.h>
#include <string>
#include <vector>

#include "seed_io.h"

using seed::write;

namespace {

std::vector<unsigned char> gradient(int w, int h) {
  std::vector<unsigned char> px(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) px[(size_t(y) * w + x) * 3 + c] = (unsigned char)(x * 17 + y * 5 + c * 60);
  return px;
}

void put16(std::string& s, unsigned v) { s += char(v & 255); s += char(v >> 8); }
void put32(std::string& s, unsigned v) { put16(s, v & 0xffff); put16(s, v >> 16); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string dir = argv[1];
  const int w = 7, h = 5;
  const auto px = gradient(w, h);

  std::string ppm = "P6\n7 5\n255\n";
  ppm.append(reinterpret_cast<const char*>(px.data()), px.size());
  write(dir + "/seed.ppm", ppm);
  std::string pgm = "P5\n7 5\n255\n";
  for (size_t i = 0; i < px.size(); i += 3) pgm += char(px[i]);
  write(dir + "/seed.pgm", pgm);

  const int row = (w * 3 + 3) & ~3;
  std::string bmp = "BM";
  put32(bmp, 54 + row * h);
  put32(bmp, 0);
  put32(bmp, 54);
  put32(bmp, 40);
  put32(bmp, w);
  put32(bmp, h);
  put16(bmp, 1);
  put16(bmp, 24);
  for (int i = 0; i < 6; ++i) put32(bmp, 0);
  for (int y = h - 1; y >= 0; --y) {
    for (int x = 0; x < w; ++x)
      for (int c = 2; c >= 0; --c) bmp += char(px[(size_t(y) * w + x) * 3 + c]);
    bmp.append(size_t(row - w * 3), '\0');
  }
  write(dir + "/seed.bmp", bmp);

  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = w;
  img.height = h;
  img.format = PNG_FORMAT_RGB;
  png_image_write_to_file(&img, (dir + "/seed.png").c_str(), 0, px.data(), 0, nullptr);

  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  FILE* f = std::fopen((dir + "/seed.jpg").c_str(), "wb");
  if (!f) return 1;
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW r = const_cast<unsigned char*>(&px[size_t(cinfo.next_scanline) * w * 3]);
    jpeg_write_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
  return 0;
}
