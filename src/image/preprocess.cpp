#include "image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mnv2::image {

PreprocessMode parse_preprocess_mode(const std::string& s) {
  if (s == "omz") return PreprocessMode::Omz;
  if (s == "tf") return PreprocessMode::Tf;
  if (s == "none") return PreprocessMode::None;
  throw Error("unknown preprocessing mode '" + s + "' (expected omz, tf or none)");
}

const char* preprocess_mode_name(PreprocessMode m) {
  switch (m) {
    case PreprocessMode::Omz: return "omz";
    case PreprocessMode::Tf: return "tf";
    default: return "none";
  }
}

CropBox omz_central_crop(int width, int height, double fraction) {
  CropBox b;
  // Python: int(height * central_fraction), then (height - new_height) // 2.
  b.height = std::max(1, int(double(height) * fraction));
  b.width = std::max(1, int(double(width) * fraction));
  b.y = (height - b.height) / 2;
  b.x = (width - b.width) / 2;
  return b;
}

CropBox tf_central_crop(int width, int height, double fraction) {
  CropBox b;
  // tf.image.central_crop: start = int((dim - dim * fraction) / 2) in float64,
  // size = dim - 2 * start.
  if (fraction >= 1.0) return {0, 0, width, height};
  b.y = int((double(height) - double(height) * fraction) / 2.0);
  b.x = int((double(width) - double(width) * fraction) / 2.0);
  b.height = std::max(1, height - 2 * b.y);
  b.width = std::max(1, width - 2 * b.x);
  if (b.height == 1 && height - 2 * b.y < 1) b.y = height / 2;
  if (b.width == 1 && width - 2 * b.x < 1) b.x = width / 2;
  return b;
}

Image crop(const Image& img, const CropBox& box) {
  if (box.x < 0 || box.y < 0 || box.width <= 0 || box.height <= 0 ||
      box.x + box.width > img.width || box.y + box.height > img.height)
    throw Error("crop box outside the image");
  Image out;
  out.width = box.width;
  out.height = box.height;
  out.pixels.resize(size_t(box.width) * box.height * 3);
  for (int y = 0; y < box.height; ++y)
    std::memcpy(out.row(y), img.row(box.y + y) + size_t(box.x) * 3, size_t(box.width) * 3);
  return out;
}

namespace {

constexpr int kCoefBits = 11;
constexpr int kCoefScale = 1 << kCoefBits;

int16_t coef(float v) {  // saturate_cast<short>(float): round half to even, clamp
  const float r = std::nearbyint(v * float(kCoefScale));
  return int16_t(std::clamp(r, -32768.f, 32767.f));
}

}  // namespace

Image resize_linear_opencv(const Image& src, int out_w, int out_h) {
  const int sw = src.width, sh = src.height;
  if (sw <= 0 || sh <= 0 || out_w <= 0 || out_h <= 0) throw Error("resize of an empty image");
  const double scale_x = 1.0 / (double(out_w) / double(sw));
  const double scale_y = 1.0 / (double(out_h) / double(sh));

  // Horizontal taps: source column and two 11-bit weights; the right edge uses one tap.
  std::vector<int> xofs(out_w);
  std::vector<int16_t> xa(size_t(out_w) * 2);
  std::vector<bool> single(out_w);
  for (int dx = 0; dx < out_w; ++dx) {
    float fx = float((dx + 0.5) * scale_x - 0.5);
    int sx = int(std::floor(fx));
    fx -= float(sx);
    if (sx < 0) fx = 0, sx = 0;
    single[dx] = sx + 1 >= sw;
    if (sx >= sw - 1) fx = 0, sx = sw - 1;
    xofs[dx] = sx;
    xa[dx * 2] = coef(1.f - fx);
    xa[dx * 2 + 1] = coef(fx);
  }
  // Once one column needs the single tap, all later ones do (OpenCV's xmax).
  for (int dx = 1; dx < out_w; ++dx) single[dx] = single[dx] || single[dx - 1];

  // Horizontally resized source rows (fixed point, scaled by 2^11), computed lazily.
  std::vector<std::vector<int32_t>> hrow(sh);
  auto hres = [&](int sy) -> const std::vector<int32_t>& {
    auto& r = hrow[sy];
    if (!r.empty()) return r;
    r.resize(size_t(out_w) * 3);
    const uint8_t* s = src.row(sy);
    for (int dx = 0; dx < out_w; ++dx) {
      const int sx = xofs[dx];
      for (int c = 0; c < 3; ++c) {
        int32_t v = int32_t(s[sx * 3 + c]) * xa[dx * 2];
        if (!single[dx]) v += int32_t(s[(sx + 1) * 3 + c]) * xa[dx * 2 + 1];
        r[size_t(dx) * 3 + c] = v;
      }
    }
    return r;
  };

  Image out;
  out.width = out_w;
  out.height = out_h;
  out.pixels.resize(size_t(out_w) * out_h * 3);
  int freed = 0;
  for (int dy = 0; dy < out_h; ++dy) {
    float fy = float((dy + 0.5) * scale_y - 0.5);
    const int sy = int(std::floor(fy));
    fy -= float(sy);
    const int32_t b0 = coef(1.f - fy), b1 = coef(fy);
    const auto& r0 = hres(std::clamp(sy, 0, sh - 1));
    const auto& r1 = hres(std::clamp(sy + 1, 0, sh - 1));
    uint8_t* d = out.row(dy);
    for (size_t i = 0; i < size_t(out_w) * 3; ++i) {
      // Two 11-bit passes: (b * (S >> 4)) >> 16 per tap, then round the sum by 2 bits.
      const int32_t v = ((b0 * (r0[i] >> 4)) >> 16) + ((b1 * (r1[i] >> 4)) >> 16) + 2;
      d[i] = uint8_t(std::clamp(v >> 2, 0, 255));
    }
    if (dy + 1 < out_h) {
      // Free rows no later output row can use (source rows advance monotonically).
      const float nfy = float((dy + 1.5) * scale_y - 0.5);
      const int nsy = std::clamp(int(std::floor(nfy)), 0, sh - 1);
      while (freed < nsy) std::vector<int32_t>().swap(hrow[freed++]);
    }
  }
  return out;
}

Image resize_bilinear_half_pixel_trunc(const Image& src, int out_w, int out_h) {
  const int sw = src.width, sh = src.height;
  if (sw <= 0 || sh <= 0 || out_w <= 0 || out_h <= 0) throw Error("resize of an empty image");
  if (sw == out_w && sh == out_h) return src;
  const float scale_y = float(sh) / float(out_h);
  const float scale_x = float(sw) / float(out_w);
  struct Tap {
    int lo, hi;
    float f;
  };
  auto taps = [](int n, int in, float scale) {
    std::vector<Tap> t(n);
    for (int i = 0; i < n; ++i) {
      volatile float s = (float(i) + 0.5f) * scale;  // keep float32 steps (no contraction)
      const float sv = s - 0.5f;
      const float lo = std::max(std::floor(sv), 0.f);
      const float hi = std::min(std::ceil(sv), float(in - 1));
      t[i] = {int(lo), int(hi), sv - lo};
    }
    return t;
  };
  const std::vector<Tap> ty = taps(out_h, sh, scale_y), tx = taps(out_w, sw, scale_x);
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.pixels.resize(size_t(out_w) * out_h * 3);
  for (int y = 0; y < out_h; ++y) {
    const Tap& a = ty[y];
    const uint8_t* r0 = src.row(a.lo);
    const uint8_t* r1 = src.row(a.hi);
    uint8_t* d = out.row(y);
    for (int x = 0; x < out_w; ++x) {
      const Tap& b = tx[x];
      const float fy = a.f, fx = b.f;
      for (int c = 0; c < 3; ++c) {
        const float tl = r0[b.lo * 3 + c], tr = r0[b.hi * 3 + c];
        const float bl = r1[b.lo * 3 + c], br = r1[b.hi * 3 + c];
        volatile float t0 = tl * (1 - fy) * (1 - fx);
        volatile float t1 = bl * fy * (1 - fx);
        volatile float t2 = tr * (1 - fy) * fx;
        volatile float t3 = br * fy * fx;
        volatile float s01 = t0 + t1;
        volatile float s012 = s01 + t2;
        const float v = s012 + t3;
        d[x * 3 + c] = uint8_t(std::clamp(v, 0.f, 255.f));  // truncation toward zero
      }
    }
  }
  return out;
}

std::vector<float> resize_bilinear_tf1(const float* src, int w, int h, int out_w, int out_h) {
  if (w <= 0 || h <= 0 || out_w <= 0 || out_h <= 0) throw Error("resize of an empty image");
  const float sy = float(h) / float(out_h), sx = float(w) / float(out_w);
  struct Tap {
    int lo, hi;
    float lerp;
  };
  auto taps = [](int n, int in, float scale) {
    std::vector<Tap> t(n);
    for (int i = 0; i < n; ++i) {
      const float v = float(i) * scale;
      const float f = std::floor(v);
      t[i] = {std::max(int(f), 0), std::min(int(std::ceil(v)), in - 1), v - f};
    }
    return t;
  };
  const auto ty = taps(out_h, h, sy), tx = taps(out_w, w, sx);
  std::vector<float> out(size_t(out_w) * out_h * 3);
  for (int y = 0; y < out_h; ++y) {
    const float* r0 = src + size_t(ty[y].lo) * w * 3;
    const float* r1 = src + size_t(ty[y].hi) * w * 3;
    const float yl = ty[y].lerp;
    for (int x = 0; x < out_w; ++x) {
      const Tap& b = tx[x];
      for (int c = 0; c < 3; ++c) {
        const float tl = r0[b.lo * 3 + c], tr = r0[b.hi * 3 + c];
        const float bl = r1[b.lo * 3 + c], br = r1[b.hi * 3 + c];
        volatile float top = tl + (tr - tl) * b.lerp;
        volatile float bottom = bl + (br - bl) * b.lerp;
        volatile float diff = bottom - top;
        volatile float prod = diff * yl;
        out[(size_t(y) * out_w + x) * 3 + c] = top + prod;
      }
    }
  }
  return out;
}

void decode_min_size(const ModelInfo& info, PreprocessMode mode, int* width, int* height) {
  // omz and tf keep the central 0.875: int(dim * 0.875) >= input needs dim >= input / 0.875.
  auto need = [&](int input) { return mode == PreprocessMode::None ? input : int(std::ceil(input / 0.875)); };
  *width = need(info.width);
  *height = need(info.height);
}

int64_t preprocess_working_bytes(int64_t width, int64_t height, PreprocessMode mode) {
  const int64_t crop = int64_t(double(width) * 0.875 + 1) * int64_t(double(height) * 0.875 + 1) * 3;
  switch (mode) {
    case PreprocessMode::Omz: return crop;                 // crop() copies the central region
    case PreprocessMode::Tf: return crop * int64_t(sizeof(float));  // the crop as floats
    default: return 0;                                     // resized directly from the image
  }
}

void preprocess(const Image& img, const ModelInfo& info, PreprocessMode mode, float* out,
                Preprocessed* intermediate) {
  if (info.channels != 3) throw Error("preprocessing needs a 3-channel model input");
  const int W = info.width, H = info.height;
  std::vector<float> resized;  // 0..255 domain for omz/none; [0,1] for tf
  Image u8;
  if (mode == PreprocessMode::Omz) {
    u8 = resize_linear_opencv(crop(img, omz_central_crop(img.width, img.height, 0.875)), W, H);
  } else if (mode == PreprocessMode::None) {
    u8 = resize_bilinear_half_pixel_trunc(img, W, H);
  } else {
    const CropBox box = tf_central_crop(img.width, img.height, 0.875);
    std::vector<float> f(size_t(box.width) * box.height * 3);
    const float inv = 1.f / 255.f;  // tf.image.convert_image_dtype(uint8 -> float32)
    for (int y = 0; y < box.height; ++y) {
      const uint8_t* s = img.row(box.y + y) + size_t(box.x) * 3;
      for (int i = 0; i < box.width * 3; ++i) f[size_t(y) * box.width * 3 + i] = float(s[i]) * inv;
    }
    resized = resize_bilinear_tf1(f.data(), box.width, box.height, W, H);
  }
  const bool tf = mode == PreprocessMode::Tf;
  const bool bgr = info.channel_order == ChannelOrder::BGR;
  const bool slim_norm = info.mean == 127.5f && info.scale == 127.5f;
  const size_t n = size_t(W) * H;
  for (size_t p = 0; p < n; ++p) {
    for (int c = 0; c < 3; ++c) {
      const int sc = bgr ? 2 - c : c;
      float v;
      if (tf) {
        const float x = resized[p * 3 + sc];
        if (info.normalization_in_graph) v = x * 255.f;
        else if (slim_norm) v = (x - 0.5f) * 2.f;
        else v = (x * 255.f - info.mean) / info.scale;
      } else {
        const float x = u8.pixels[p * 3 + sc];
        v = info.normalization_in_graph ? x : (x - info.mean) / info.scale;
      }
      out[p * 3 + c] = v;
    }
  }
  if (intermediate) {
    intermediate->resized.resize(n * 3);
    if (tf) {
      intermediate->resized_u8.width = W;
      intermediate->resized_u8.height = H;
      intermediate->resized_u8.pixels.resize(n * 3);
      for (size_t i = 0; i < n * 3; ++i) {
        intermediate->resized[i] = resized[i] * 255.f;
        intermediate->resized_u8.pixels[i] =
            uint8_t(std::clamp(std::nearbyint(resized[i] * 255.f), 0.f, 255.f));
      }
    } else {
      for (size_t i = 0; i < n * 3; ++i) intermediate->resized[i] = u8.pixels[i];
      intermediate->resized_u8 = std::move(u8);
    }
  }
}

}  // namespace mnv2::image
