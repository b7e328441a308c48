// Preprocessing: omz mode against OpenCV (python3-opencv), none mode against the coral
// golden input tensors, tf mode against an independent numpy evaluation, and the
// normalisation / channel-order contract.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "image/decode.h"
#include "image/preprocess.h"
#include "image_fixtures.h"
#include "test_util.h"

namespace mnv2::test {
namespace {

using image::Image;

std::string python() {
  if (const char* p = std::getenv("MNV2_PYTHON"); p && *p) return p;
  return "/usr/bin/python3";
}

// Empty when cv2 is importable, else the reason.
std::string cv2_missing() {
  std::string out;
  if (run_command(python() + " -c 'import cv2, numpy'", &out) != 0)
    return "python3-opencv not importable by " + python() + ": " + out;
  return "";
}

std::string numpy_missing() {
  std::string out;
  if (run_command(python() + " -c 'import numpy'", &out) != 0)
    return "numpy not importable by " + python() + ": " + out;
  return "";
}

int run_python(const std::string& dir, const std::string& script, std::string* out) {
  write_file(dir + "/script.py", Bytes(script.begin(), script.end()));
  return run_command(python() + " " + dir + "/script.py", out);
}

struct Diff {
  int max = 0;
  size_t differing = 0;
};
Diff diff(const Bytes& a, const Bytes& b) {
  Diff d;
  EXPECT_EQ(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const int x = std::abs(int(a[i]) - int(b[i]));
    d.max = std::max(d.max, x);
    d.differing += x != 0;
  }
  return d;
}

TEST(ImagePreprocess, CropArithmetic) {
  // accuracy_checker: size int(dim * 0.875), offset (dim - size) // 2.
  auto b = image::omz_central_crop(512, 341, 0.875);
  EXPECT_EQ(b.width, 448);
  EXPECT_EQ(b.height, 298);
  EXPECT_EQ(b.x, 32);
  EXPECT_EQ(b.y, 21);
  // tf.image.central_crop: offset int((dim - dim * 0.875) / 2), size dim - 2 * offset.
  b = image::tf_central_crop(512, 341, 0.875);
  EXPECT_EQ(b.y, 21);  // int(21.3125)
  EXPECT_EQ(b.height, 299);
  EXPECT_EQ(b.x, 32);
  EXPECT_EQ(b.width, 448);
  b = image::omz_central_crop(7, 5, 0.875);  // int(6.125)=6, int(4.375)=4
  EXPECT_EQ(b.width, 6);
  EXPECT_EQ(b.height, 4);
  EXPECT_EQ(b.x, 0);
  EXPECT_EQ(b.y, 0);
  b = image::tf_central_crop(7, 5, 0.875);  // int(0.4375)=0, int(0.3125)=0
  EXPECT_EQ(b.width, 7);
  EXPECT_EQ(b.height, 5);
}

TEST(ImagePreprocess, OpencvLinearResizeMatchesCv2) {
  if (auto why = cv2_missing(); !why.empty()) GTEST_SKIP() << why;
  const std::string dir = scratch_dir();
  struct Case {
    int w, h, ow, oh;
  };
  const std::vector<Case> cases = {{448, 298, 224, 224}, {448, 448, 224, 224}, {37, 23, 224, 224},
                                   {300, 200, 100, 150}, {1120, 630, 224, 224}, {224, 224, 224, 224},
                                   {5, 3, 11, 2},        {1, 1, 4, 4},          {640, 97, 96, 96}};
  std::ostringstream py;
  py << "import cv2, numpy as np\n";
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const Image src = i % 2 ? noise_image(c.w, c.h, uint32_t(i)) : pattern_image(c.w, c.h, uint32_t(i));
    write_file(dir + "/in" + std::to_string(i), src.pixels);
    py << "a = np.fromfile('" << dir << "/in" << i << "', np.uint8).reshape(" << c.h << ", " << c.w
       << ", 3)\n"
       << "cv2.resize(a, (" << c.ow << ", " << c.oh << "), interpolation=cv2.INTER_LINEAR).tofile('"
       << dir << "/out" << i << "')\n";
  }
  std::string out;
  ASSERT_EQ(run_python(dir, py.str(), &out), 0) << out;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const Image src = i % 2 ? noise_image(c.w, c.h, uint32_t(i)) : pattern_image(c.w, c.h, uint32_t(i));
    const Image mine = image::resize_linear_opencv(src, c.ow, c.oh);
    const Diff d = diff(mine.pixels, read_file(dir + "/out" + std::to_string(i)));
    EXPECT_LE(d.max, 1) << c.w << "x" << c.h << " -> " << c.ow << "x" << c.oh;
    // Record exactness too: the fixed-point algorithm is reproduced, so no element differs.
    EXPECT_EQ(d.differing, 0u) << c.w << "x" << c.h << " -> " << c.ow << "x" << c.oh
                               << " max diff " << d.max;
  }
}

// The whole omz path on real photos: cv2.imread (BGR) -> RGB -> accuracy_checker crop
// -> cv2.resize INTER_LINEAR, compared with mnv2's uint8 image before normalisation.
TEST(ImagePreprocess, OmzMatchesOpenCvOnCoralPhotos) {
  if (auto why = cv2_missing(); !why.empty()) GTEST_SKIP() << why;
  const std::string data = data_dir();
  if (data.empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::string dir = scratch_dir();
  const std::vector<std::string> files = {"cat.bmp", "grace_hopper.bmp", "parrot.jpg", "cat_720p.jpg",
                                          "pets.jpg"};
  std::ostringstream py;
  py << "import cv2, numpy as np\n"
        "def omz(p, o):\n"
        "    im = cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)\n"
        "    h, w = im.shape[:2]\n"
        "    nh, nw = int(h * 0.875), int(w * 0.875)\n"
        "    y, x = (h - nh) // 2, (w - nw) // 2\n"
        "    im = im[y:y + nh, x:x + nw]\n"
        "    cv2.resize(im, (224, 224), interpolation=cv2.INTER_LINEAR).tofile(o)\n";
  for (const auto& f : files) py << "omz('" << data << "/coral/" << f << "', '" << dir << "/" << f << ".u8')\n";
  std::string out;
  ASSERT_EQ(run_python(dir, py.str(), &out), 0) << out;
  ModelInfo info;
  std::vector<float> tensor(224 * 224 * 3);
  for (const auto& f : files) {
    const Image im = image::decode_file(data + "/coral/" + f);
    image::Preprocessed mid;
    image::preprocess(im, info, image::PreprocessMode::Omz, tensor.data(), &mid);
    const Diff d = diff(mid.resized_u8.pixels, read_file(dir + "/" + f + ".u8"));
    EXPECT_LE(d.max, 1) << f;
    std::printf("[ omz vs cv2 ] %-18s max |diff| %d, %zu of %zu elements differ\n", f.c_str(), d.max,
                d.differing, mid.resized_u8.pixels.size());
    // Normalised tensor = (u8 - 127.5) / 127.5, RGB.
    for (size_t i = 0; i < tensor.size(); i += 997)
      EXPECT_FLOAT_EQ(tensor[i], (mid.resized[i] - 127.5f) / 127.5f);
  }
}

TEST(ImagePreprocess, NoneMatchesCoralGoldenInputs) {
  const std::string data = data_dir();
  if (data.empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::vector<std::string> files = {
      "cat.bmp",    "bird.bmp", "dragonfly.bmp", "grace_hopper.bmp", "sunflower.bmp",
      "resized_cat.bmp", "parrot.jpg", "owl.jpg", "hot_dog.jpg", "cat_720p.jpg",
      "pets.jpg",   "bird.rgb", "sunflower.rgb"};
  ModelInfo info;
  std::vector<float> tensor(224 * 224 * 3);
  for (const auto& f : files) {
    const Image im = image::decode_file(data + "/coral/" + f);
    image::Preprocessed mid;
    image::preprocess(im, info, image::PreprocessMode::None, tensor.data(), &mid);
    const Bytes golden = read_file(data + "/coral/golden/" + f + ".input.u8");
    ASSERT_EQ(golden.size(), 150528u) << f;
    const Diff d = diff(mid.resized_u8.pixels, golden);
    EXPECT_LE(d.max, 1) << f;
    std::printf("[ none vs golden ] %-18s max |diff| %d, %zu of %zu elements differ\n", f.c_str(),
                d.max, d.differing, golden.size());
    if (f.find(".jpg") == std::string::npos) {
      // Lossless sources: only float rounding right at an integer boundary may differ.
      EXPECT_LT(double(d.differing), 0.001 * double(golden.size())) << f;
    }
  }
}

TEST(ImagePreprocess, TfMatchesNumpyReference) {
  if (auto why = numpy_missing(); !why.empty()) GTEST_SKIP() << why;
  const std::string dir = scratch_dir();
  // Independent evaluation of TF-slim's eval preprocessing in numpy float32:
  // convert_image_dtype, central_crop(0.875), resize_bilinear(align_corners=False).
  const std::vector<std::pair<int, int>> sizes = {{512, 341}, {100, 260}, {50, 40}};
  std::ostringstream py;
  py << "import numpy as np\n"
        "def tf(p, w, h, o):\n"
        "    a = np.fromfile(p, np.uint8).reshape(h, w, 3).astype(np.float32) * np.float32(1.0 / 255)\n"
        "    oy = int((h - h * 0.875) / 2); ox = int((w - w * 0.875) / 2)\n"
        "    a = a[oy:h - oy, ox:w - ox]\n"
        "    ih, iw = a.shape[:2]\n"
        "    def taps(n, size):\n"
        "        s = np.float32(size) / np.float32(n)\n"
        "        v = np.arange(n, dtype=np.float32) * s\n"
        "        lo = np.floor(v).astype(np.int64)\n"
        "        hi = np.minimum(np.ceil(v).astype(np.int64), size - 1)\n"
        "        return lo, hi, (v - np.floor(v)).astype(np.float32)\n"
        "    y0, y1, ly = taps(224, ih); x0, x1, lx = taps(224, iw)\n"
        "    lx = lx[None, :, None]; ly = ly[:, None, None]\n"
        "    tl = a[y0][:, x0]; tr = a[y0][:, x1]; bl = a[y1][:, x0]; br = a[y1][:, x1]\n"
        "    top = tl + (tr - tl) * lx; bot = bl + (br - bl) * lx\n"
        "    r = top + (bot - top) * ly\n"
        "    ((r - np.float32(0.5)) * np.float32(2.0)).astype(np.float32).tofile(o)\n";
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto [w, h] = sizes[i];
    write_file(dir + "/in" + std::to_string(i), noise_image(w, h, uint32_t(10 + i)).pixels);
    py << "tf('" << dir << "/in" << i << "', " << w << ", " << h << ", '" << dir << "/out" << i << "')\n";
  }
  std::string out;
  ASSERT_EQ(run_python(dir, py.str(), &out), 0) << out;
  ModelInfo info;  // mean = scale = 127.5: the TF-slim (x - 0.5) * 2 domain
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto [w, h] = sizes[i];
    std::vector<float> t(224 * 224 * 3);
    image::preprocess(noise_image(w, h, uint32_t(10 + i)), info, image::PreprocessMode::Tf, t.data());
    const Bytes ref = read_file(dir + "/out" + std::to_string(i));
    ASSERT_EQ(ref.size(), t.size() * 4);
    double m = 0;
    for (size_t k = 0; k < t.size(); ++k) {
      float r;
      std::memcpy(&r, ref.data() + k * 4, 4);
      m = std::max(m, double(std::fabs(r - t[k])));
    }
    EXPECT_LE(m, 2e-6) << w << "x" << h;
  }
}

TEST(ImagePreprocess, ChannelOrderAndNormalisationFollowModelInfo) {
  const Image src = noise_image(50, 30, 4);
  ModelInfo rgb;
  ModelInfo bgr_raw;
  bgr_raw.channel_order = ChannelOrder::BGR;
  bgr_raw.normalization_in_graph = true;
  ModelInfo other;
  other.height = 96, other.width = 128;
  other.mean = 128.f, other.scale = 64.f;
  for (auto mode : {image::PreprocessMode::Omz, image::PreprocessMode::Tf, image::PreprocessMode::None}) {
    std::vector<float> a(224 * 224 * 3), b(224 * 224 * 3), c(96 * 128 * 3);
    image::Preprocessed mid;
    image::preprocess(src, rgb, mode, a.data(), &mid);
    image::preprocess(src, bgr_raw, mode, b.data());
    image::preprocess(src, other, mode, c.data());
    for (size_t p = 0; p < 224 * 224; ++p)
      for (int k = 0; k < 3; ++k) {
        // BGR model with normalisation inside the graph: raw 0..255, channels reversed.
        EXPECT_NEAR(b[p * 3 + k], mid.resized[p * 3 + 2 - k], 1e-3);
        EXPECT_NEAR(a[p * 3 + k], (mid.resized[p * 3 + k] - 127.5f) / 127.5f, 1e-5);
      }
    for (float v : c) EXPECT_TRUE(v >= (0 - 128.f) / 64.f - 1e-5f && v <= (255 - 128.f) / 64.f + 1e-5f);
  }
}

// EXIF orientation against an independent reader: cv2.imread applies the tag too.
TEST(ImagePreprocess, ExifOrientationMatchesCv2Imread) {
  if (auto why = cv2_missing(); !why.empty()) GTEST_SKIP() << why;
  const std::string dir = scratch_dir();
  const Bytes plain = encode_jpeg(pattern_image(40, 24, 2), 92);
  std::ostringstream py;
  py << "import cv2, numpy as np\n";
  for (int o = 1; o <= 8; ++o) {
    const std::string f = dir + "/o" + std::to_string(o) + ".jpg";
    write_file(f, with_exif_orientation(plain, o, o % 2 == 0));
    py << "im = cv2.imread('" << f << "', cv2.IMREAD_COLOR)\n"
       << "open('" << f << ".shape', 'w').write('%d %d' % (im.shape[1], im.shape[0]))\n"
       << "cv2.cvtColor(im, cv2.COLOR_BGR2RGB).tofile('" << f << ".u8')\n";
  }
  std::string out;
  ASSERT_EQ(run_python(dir, py.str(), &out), 0) << out;
  for (int o = 1; o <= 8; ++o) {
    const std::string f = dir + "/o" + std::to_string(o) + ".jpg";
    const Image mine = image::decode_file(f);
    const Bytes shape = read_file(f + ".shape");
    EXPECT_EQ(std::string(shape.begin(), shape.end()),
              std::to_string(mine.width) + " " + std::to_string(mine.height)) << o;
    const Diff d = diff(mine.pixels, read_file(f + ".u8"));
    EXPECT_LE(d.max, 1) << "orientation " << o;
  }
}

}  // namespace
}  // namespace mnv2::test
