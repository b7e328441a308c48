// mnv2 classify / embed: CLI behaviour on synthetic models (fast), label handling, and
// end-to-end runs of the real coral MobileNetV2 (needs the TFLite loader).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

#include "image/decode.h"
#include "image/preprocess.h"
#include "image_fixtures.h"
#include "mnv2/mnv2.h"
#include "test_util.h"
#include "util/labels.h"

namespace mnv2::test {
namespace {

std::string cli() { return cli_path(); }

std::vector<double> json_numbers(const std::string& s, const std::string& key) {
  std::vector<double> v;
  const std::regex re("\"" + key + "\":(-?[0-9.eE+-]+)");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
    v.push_back(std::stod((*it)[1].str()));
  return v;
}

std::vector<std::string> json_strings(const std::string& s, const std::string& key) {
  std::vector<std::string> v;
  const std::regex re("\"" + key + "\":\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
    v.push_back((*it)[1].str());
  return v;
}

// The images every CLI test uses: 3 good ones of different formats and one broken.
struct Fixture {
  std::string dir;
  std::vector<std::string> good;
  std::string broken;
  Fixture() {
    dir = scratch_dir();
    write_file(dir + "/a.png", encode_png_rgb(pattern_image(80, 60, 1)));
    write_file(dir + "/b.ppm", encode_ppm(noise_image(50, 70, 2)));
    write_file(dir + "/c.jpg", encode_jpeg(pattern_image(120, 90, 3)));
    const Bytes png = encode_png_rgb(noise_image(40, 40, 4));
    write_file(dir + "/broken.png", Bytes(png.begin(), png.begin() + png.size() / 2));
    write_file(dir + "/notes.txt", Bytes{'h', 'i'});  // not an image: folders skip it
    good = {dir + "/a.png", dir + "/b.ppm", dir + "/c.jpg"};
    broken = dir + "/broken.png";
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

TEST(ClassifyLabels, ParseAndAlign) {
  auto plain = parse_labels("background\ntench\ngoldfish\n", "x");
  EXPECT_EQ(plain, (std::vector<std::string>{"background", "tench", "goldfish"}));
  auto num = parse_labels("0  background\r\n1  tench\r\n2  goldfish\r\n", "x");
  EXPECT_EQ(num, plain);
  auto one = parse_labels("1: tench\n2: goldfish\n", "x");  // numbered from 1: background implied
  EXPECT_EQ(one, plain);
  auto syn = parse_labels("n01440764 tench\nn01443537 goldfish\n", "x");
  EXPECT_EQ(syn, (std::vector<std::string>{"tench", "goldfish"}));
  EXPECT_THROW(parse_labels("\n\n", "empty.txt"), Error);
  // 1000 labels for a 1001-class model: background goes in front.
  std::vector<std::string> thousand(1000, "x");
  thousand[0] = "tench";
  auto a = align_labels(thousand, 1001, true);
  ASSERT_EQ(a.names.size(), 1001u);
  EXPECT_EQ(a.names[1], "tench");
  EXPECT_FALSE(a.note.empty());
  // 1001 with background for a 1000-class model: dropped.
  std::vector<std::string> l1001 = {"background"};
  l1001.insert(l1001.end(), thousand.begin(), thousand.end());
  auto b = align_labels(l1001, 1000, false);
  ASSERT_EQ(b.names.size(), 1000u);
  EXPECT_EQ(b.names[0], "tench");
  EXPECT_TRUE(align_labels(l1001, 1001, true).note.empty());
}

TEST(ClassifyLabels, TopKSkipsBackgroundUnlessItWins) {
  const float p[5] = {0.3f, 0.1f, 0.4f, 0.05f, 0.15f};
  EXPECT_EQ(top_k_classes(p, 5, 3, true), (std::vector<int>{2, 4, 1}));
  EXPECT_EQ(top_k_classes(p, 5, 3, false), (std::vector<int>{2, 0, 4}));
  const float q[4] = {0.7f, 0.1f, 0.15f, 0.05f};
  EXPECT_EQ(top_k_classes(q, 4, 2, true), (std::vector<int>{0, 2}));
  EXPECT_EQ(top_k_classes(q, 4, 10, true).size(), 4u);
}

TEST(ClassifyCli, SyntheticJsonMatchesInProcessAndReportsBrokenFile) {
  Fixture fx;
  std::string out;
  // Folder input: the three images and broken.png, sorted; notes.txt skipped.
  const int rc = run_command(cli() + " classify --synthetic 0.35 64 --top 3 --json --threads 1 " +
                                 fx.dir + " 2>/dev/null",
                             &out);
  EXPECT_EQ(rc, 1) << out;
  const auto files = json_strings(out, "file");
  ASSERT_EQ(files.size(), 4u) << out;  // 3 results + 1 error entry
  EXPECT_EQ(files[0], fx.dir + "/a.png");
  EXPECT_EQ(files[1], fx.dir + "/b.ppm");
  EXPECT_EQ(files[2], fx.dir + "/c.jpg");
  EXPECT_EQ(files[3], fx.broken);
  const auto idx = json_numbers(out, "index");
  const auto prob = json_numbers(out, "probability");
  ASSERT_EQ(idx.size(), 9u);
  ASSERT_EQ(prob.size(), 9u);
  // The same computation in process.
  Options o;
  o.threads = 1;
  Model m = Model::synthetic(0.35f, 64, 1001, 1, o);
  std::vector<float> in(64 * 64 * 3), probs(1001);
  for (int i = 0; i < 3; ++i) {
    image::preprocess(image::decode_file(fx.good[size_t(i)]), m.info(), image::PreprocessMode::Omz,
                      in.data());
    m.run(in.data(), 1, probs.data());
    const auto top = top_k_classes(probs.data(), 1001, 3, true);
    for (int t = 0; t < 3; ++t) {
      EXPECT_EQ(int(idx[size_t(i * 3 + t)]), top[size_t(t)]) << fx.good[size_t(i)];
      EXPECT_NEAR(prob[size_t(i * 3 + t)], probs[size_t(top[size_t(t)])], 1e-5);
      if (t) EXPECT_LE(prob[size_t(i * 3 + t)], prob[size_t(i * 3 + t - 1)]);
    }
  }
  // The error names the file, on stderr, in the text form too.
  std::string err;
  EXPECT_EQ(run_command(cli() + " classify --synthetic 0.35 64 " + fx.good[0] + " " + fx.broken +
                            " " + fx.good[1],
                        &err),
            1);
  EXPECT_NE(err.find(fx.broken), std::string::npos) << err;
  EXPECT_NE(err.find("PNG"), std::string::npos) << err;
  EXPECT_NE(err.find(fx.good[1]), std::string::npos) << "later images still classified: " << err;
}

TEST(ClassifyCli, BatchingStdinLabelsAndLimits) {
  Fixture fx;
  const std::string images = fx.good[0] + " " + fx.good[1] + " " + fx.good[2];
  std::string b1, b3;
  ASSERT_EQ(run_command(cli() + " classify --synthetic 0.35 64 --json --batch 1 " + images, &b1), 0) << b1;
  ASSERT_EQ(run_command(cli() + " classify --synthetic 0.35 64 --json --batch 3 " + images, &b3), 0) << b3;
  const auto p1 = json_numbers(b1, "probability"), p3 = json_numbers(b3, "probability");
  ASSERT_EQ(p1.size(), 15u);
  ASSERT_EQ(p1.size(), p3.size());
  // Batch 1 and batch 3 compute each image's probabilities with the same bits, so the
  // printed numbers are equal, not just close.
  EXPECT_EQ(p1, p3);
  EXPECT_EQ(json_numbers(b1, "index"), json_numbers(b3, "index"));

  // stdin gives the same answer as the file.
  std::string s;
  ASSERT_EQ(run_command(cli() + " classify --synthetic 0.35 64 --json - < " + fx.good[2], &s), 0) << s;
  EXPECT_EQ(json_strings(s, "file"), std::vector<std::string>{"<stdin>"});
  const auto ps = json_numbers(s, "probability");
  ASSERT_EQ(ps.size(), 5u);
  EXPECT_EQ(ps, std::vector<double>(p1.begin() + 10, p1.end()));

  // A label file is used (and a 1000-line one is shifted for the 1001-class model).
  std::string labels;
  for (int i = 1; i <= 1000; ++i) labels += "class_" + std::to_string(i) + "\n";
  write_file(fx.dir + "/labels.txt", Bytes(labels.begin(), labels.end()));
  std::string l;
  ASSERT_EQ(run_command(cli() + " classify --synthetic 0.35 64 --top 1 --labels " + fx.dir +
                            "/labels.txt " + fx.good[0],
                        &l),
            0)
      << l;
  const int top1 = int(json_numbers(b1, "index")[0]);
  EXPECT_NE(l.find("class_" + std::to_string(top1)), std::string::npos) << l;

  // --max-pixels: 80x60 = 4800 pixels is over a limit of 1000.
  std::string e;
  EXPECT_EQ(run_command(cli() + " classify --synthetic 0.35 64 --max-pixels 1000 " + fx.good[0], &e), 1);
  EXPECT_NE(e.find(fx.good[0]), std::string::npos) << e;
  EXPECT_NE(e.find("limit"), std::string::npos) << e;

  // No model and an empty cache: with --no-download a clear error; otherwise the fetch is
  // attempted (here against a closed local port, never the internet) and its failure says
  // how to proceed.
  std::string nm;
  EXPECT_EQ(run_command("MNV2_HOME=" + fx.dir + "/empty_cache " + cli() + " classify --no-download " + fx.good[0], &nm), 1);
  EXPECT_NE(nm.find("no model given and none in the cache"), std::string::npos) << nm;
  EXPECT_EQ(run_command("MNV2_HOME=" + fx.dir + "/empty_cache MNV2_FETCH_URL=http://127.0.0.1:9/m.tgz " +
                            cli() + " classify " + fx.good[0], &nm), 1);
  EXPECT_NE(nm.find("needs network"), std::string::npos) << nm;
  EXPECT_NE(nm.find("--model PATH"), std::string::npos) << nm;
  EXPECT_NE(run_command(cli() + " classify --synthetic 0.35 64 --preprocess bogus " + fx.good[0], &nm), 0);
  EXPECT_NE(nm.find("bogus"), std::string::npos) << nm;
}

Bytes slurp(const std::string& p) { return read_file(p); }

TEST(EmbedCli, NpyCsvJsonAndNormalize) {
  Fixture fx;
  const std::string images = fx.good[0] + " " + fx.good[1] + " " + fx.good[2];
  std::string out;
  ASSERT_EQ(run_command(cli() + " embed --synthetic 0.35 64 --batch 2 -o " + fx.dir + "/e.npy " + images, &out), 0)
      << out;
  const Bytes npy = slurp(fx.dir + "/e.npy");
  ASSERT_GT(npy.size(), 10u);
  ASSERT_EQ(std::memcmp(npy.data(), "\x93NUMPY\x01\x00", 8), 0);
  const size_t hlen = size_t(npy[8]) | size_t(npy[9]) << 8;
  EXPECT_EQ((10 + hlen) % 64, 0u);
  const std::string header(npy.begin() + 10, npy.begin() + 10 + long(hlen));
  Options o;
  o.threads = 1;
  Model m = Model::synthetic(0.35f, 64, 1001, 1, o);
  const int D = m.info().feature_dim;
  ASSERT_GT(D, 0);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (3, " + std::to_string(D) + ")"), std::string::npos) << header;
  ASSERT_EQ(npy.size(), 10 + hlen + size_t(3 * D) * 4);
  std::vector<float> in(64 * 64 * 3), feat(static_cast<size_t>(D));
  for (int i = 0; i < 3; ++i) {
    image::preprocess(image::decode_file(fx.good[size_t(i)]), m.info(), image::PreprocessMode::Omz, in.data());
    m.run(in.data(), 1, nullptr, nullptr, feat.data());
    double maxd = 0, maxv = 0;
    for (int j = 0; j < D; ++j) {
      float v;
      std::memcpy(&v, npy.data() + 10 + hlen + (size_t(i) * D + j) * 4, 4);
      maxd = std::max(maxd, double(std::fabs(v - feat[size_t(j)])));
      maxv = std::max(maxv, double(std::fabs(feat[size_t(j)])));
    }
    EXPECT_LE(maxd, 1e-5 * std::max(1.0, maxv)) << fx.good[size_t(i)];
  }
  // --normalize, csv: unit rows; a broken image is left out and the exit status is 1.
  ASSERT_EQ(run_command(cli() + " embed --synthetic 0.35 64 --normalize -o " + fx.dir + "/e.csv " +
                            images + " " + fx.broken,
                        &out),
            1);
  EXPECT_NE(out.find(fx.broken), std::string::npos) << out;
  const Bytes csv = slurp(fx.dir + "/e.csv");
  const std::string text(csv.begin(), csv.end());
  size_t lines = 0, pos = 0;
  while ((pos = text.find('\n', pos)) != std::string::npos) ++lines, ++pos;
  EXPECT_EQ(lines, 3u);
  const std::string first = text.substr(0, text.find('\n'));
  double ss = 0;
  int cols = 0;
  for (size_t c = first.find(','); c != std::string::npos; c = first.find(',', c + 1)) {
    const double v = std::strtod(first.c_str() + c + 1, nullptr);
    ss += v * v;
    ++cols;
  }
  EXPECT_EQ(cols, D);
  EXPECT_NEAR(ss, 1.0, 1e-5);
  ASSERT_EQ(run_command(cli() + " embed --synthetic 0.35 64 --format json -o " + fx.dir + "/e.out " + fx.good[0], &out), 0);
  const Bytes js = slurp(fx.dir + "/e.out");
  const std::string jt(js.begin(), js.end());
  EXPECT_EQ(json_numbers(jt, "dim"), std::vector<double>{double(D)});
  EXPECT_EQ(json_strings(jt, "file"), std::vector<std::string>{fx.good[0]});
  EXPECT_NE(run_command(cli() + " embed --synthetic 0.35 64 " + fx.good[0], &out), 0);  // no -o
}

// ---- The real coral MobileNetV2 1.0 (uint8 TFLite); needs the TFLite loader.

std::string coral() {
  const std::string d = data_dir();
  return d.empty() ? "" : d + "/coral";
}

std::string coral_classify(const std::string& args) {
  std::string out;
  const int rc = run_command(cli() + " classify --model " + coral() + "/mobilenet_v2_1.0_224_quant.tflite --labels " +
                                 coral() + "/imagenet_labels.txt " + args,
                             &out);
  EXPECT_EQ(rc, 0) << out;
  return out;
}

TEST(ClassifyCoral, CatAndGraceHopper) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::string out = coral_classify("--top 1 --json " + coral() + "/cat.bmp " + coral() + "/grace_hopper.bmp");
  const auto labels = json_strings(out, "label");
  ASSERT_EQ(labels.size(), 2u) << out;
  EXPECT_EQ(labels[0], "Egyptian cat") << out;
  EXPECT_EQ(labels[1], "military uniform") << out;
  const auto idx = json_numbers(out, "index");
  EXPECT_EQ(idx, (std::vector<double>{286, 653}));
  // Text form: the first line under the file is the top class.
  const std::string text = coral_classify(coral() + "/cat.bmp");
  EXPECT_NE(text.find("Egyptian cat"), std::string::npos) << text;
}

TEST(ClassifyCoral, NonePreprocessTop1MatchesGoldenReferences) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::vector<std::string> files = {
      "cat.bmp",    "bird.bmp", "dragonfly.bmp", "grace_hopper.bmp", "sunflower.bmp",
      "resized_cat.bmp", "parrot.jpg", "owl.jpg", "hot_dog.jpg", "cat_720p.jpg",
      "pets.jpg",   "bird.rgb", "sunflower.rgb"};
  std::string args = "--preprocess none --top 1 --json --batch 4";
  for (const auto& f : files) args += " " + coral() + "/" + f;
  const std::string out = coral_classify(args);
  const auto idx = json_numbers(out, "index");
  ASSERT_EQ(idx.size(), files.size()) << out;
  for (size_t i = 0; i < files.size(); ++i) {
    const Bytes ref = read_file(coral() + "/golden/" + files[i] + ".u8");
    ASSERT_EQ(ref.size(), 1001u);
    const int ref_top = int(std::max_element(ref.begin(), ref.end()) - ref.begin());
    EXPECT_EQ(int(idx[i]), ref_top) << files[i];
  }
}

// Embeddings of the real model group photos by subject: three cat photos (two different
// shots, one re-framed) are close, cats and sunflowers are far apart.
TEST(ClassifyCoral, EmbeddingsGroupSameSubject) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::string dir = scratch_dir();
  std::string out;
  ASSERT_EQ(run_command(cli() + " embed --model " + coral() + "/mobilenet_v2_1.0_224_quant.tflite --normalize --batch 4 -o " +
                            dir + "/e.npy " + coral() + "/cat.bmp " + coral() + "/cat_720p.jpg " + coral() +
                            "/sunflower.bmp " + coral() + "/sunflower.rgb",
                        &out),
            0)
      << out;
  const Bytes npy = read_file(dir + "/e.npy");
  ASSERT_GT(npy.size(), 10u);
  const size_t hlen = size_t(npy[8]) | size_t(npy[9]) << 8;
  const size_t D = 1280;
  ASSERT_EQ(npy.size(), 10 + hlen + 4 * D * 4);
  std::vector<float> e(4 * D);
  std::memcpy(e.data(), npy.data() + 10 + hlen, e.size() * 4);
  auto cos = [&](int a, int b) {
    double s = 0;
    for (size_t j = 0; j < D; ++j) s += double(e[a * D + j]) * e[b * D + j];
    return s;
  };
  EXPECT_GT(cos(0, 1), 0.8);  // cat vs cat_720p (measured 0.96)
  EXPECT_GT(cos(2, 3), 0.8);  // sunflower.bmp vs sunflower.rgb (measured 0.95)
  for (int a : {0, 1})
    for (int b : {2, 3}) EXPECT_LT(cos(a, b), 0.5) << a << " " << b;  // measured ~0.21
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace mnv2::test
