// mnv2 eval: dataset parsing, metrics (Wilson interval against published values), the
// threaded pipeline against direct Model::run, the CLI on synthetic models (counts,
// report, interruption, flat memory), and the real coral MobileNetV2 on fixture datasets
// built here from the coral photos in every layout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "eval/dataset.h"
#include "eval/metrics.h"
#include "eval/pipeline.h"
#include "image/decode.h"
#include "image/preprocess.h"
#include "image_fixtures.h"
#include "mnv2/mnv2.h"
#include "test_util.h"

namespace mnv2::test {
namespace {

namespace fs = std::filesystem;

struct ScratchDir {
  std::string dir = scratch_dir();
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

void write_text(const std::string& path, const std::string& s) {
  write_file(path, Bytes(s.begin(), s.end()));
}

std::string read_text(const std::string& path) {
  const Bytes b = read_file(path);
  return std::string(b.begin(), b.end());
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

std::vector<std::string> split_csv_simple(const std::string& line) {
  std::vector<std::string> f;
  std::string cur;
  for (char c : line) {
    if (c == ',') {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  f.push_back(cur);
  return f;
}

// "key":{"correct":K,"total":N,...} -> (K, N)
std::pair<long, long> json_figure(const std::string& s, const std::string& key) {
  const std::regex re("\"" + key + "\":\\{\"correct\":([0-9]+),\"total\":([0-9]+)");
  std::smatch m;
  if (!std::regex_search(s, m, re)) return {-1, -1};
  return {std::stol(m[1].str()), std::stol(m[2].str())};
}

double json_number(const std::string& s, const std::string& key) {
  const std::regex re("\"" + key + "\":(-?[0-9.eE+-]+)");
  std::smatch m;
  if (!std::regex_search(s, m, re)) return NAN;
  return std::stod(m[1].str());
}

// ---------------------------------------------------------------- metrics

TEST(EvalMetrics, WilsonIntervalMatchesNewcombe1998) {
  // Newcombe, "Two-sided confidence intervals for the single proportion: comparison of
  // seven methods", Stat. Med. 17 (1998), Table I, method 3 (score, no continuity
  // correction), published to 4 decimals.
  struct Case { size_t k, n; double lo, hi; };
  const Case cases[] = {{81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605},
                        {0, 20, 0.0000, 0.1611},  {1, 29, 0.0061, 0.1718}};
  for (const auto& c : cases) {
    const auto ci = eval::wilson_interval(c.k, c.n);
    EXPECT_NEAR(ci.lo, c.lo, 6e-5) << c.k << "/" << c.n;
    EXPECT_NEAR(ci.hi, c.hi, 6e-5) << c.k << "/" << c.n;
  }
  // The defining property: each bound p solves (k/n - p)^2 = z^2 p (1 - p) / n.
  const double z = 1.959963984540054;
  for (auto [k, n] : {std::pair<size_t, size_t>{37045, 50000}, {7, 13}, {13, 13}}) {
    const auto ci = eval::wilson_interval(k, n);
    const double ph = double(k) / double(n);
    for (double p : {ci.lo, ci.hi}) {
      const double lhs = (ph - p) * (ph - p), rhs = z * z * p * (1 - p) / double(n);
      EXPECT_NEAR(lhs, rhs, 1e-12) << k << "/" << n << " bound " << p;
    }
    EXPECT_LE(ci.lo, ph);
    EXPECT_GE(ci.hi, ph);
  }
  // 13 of 13: lower bound n / (n + z^2).
  EXPECT_NEAR(eval::wilson_interval(13, 13).lo, 13.0 / (13.0 + z * z), 1e-12);
  EXPECT_DOUBLE_EQ(eval::wilson_interval(13, 13).hi, 1.0);
  EXPECT_EQ(eval::wilson_interval(0, 0).lo, 0.0);
  EXPECT_EQ(eval::wilson_interval(0, 0).hi, 1.0);
}

TEST(EvalMetrics, TopKCountsPerClassAndConfusion) {
  const float s[6] = {0.1f, 0.3f, 0.05f, 0.3f, 0.2f, 0.05f};
  EXPECT_EQ(eval::top_k(s, 6, 3), (std::vector<int>{1, 3, 4}));  // tie: lower index first
  EXPECT_EQ(eval::top_k(s, 6, 10).size(), 6u);
  const float bg[3] = {0.9f, 0.06f, 0.04f};  // background competes like any class
  EXPECT_EQ(eval::top_k(bg, 3, 2), (std::vector<int>{0, 1}));

  eval::Accuracy acc(8);
  acc.add(1, {1, 2, 3, 4, 5});  // top-1 hit
  acc.add(2, {1, 2, 3, 4, 5});  // top-5 hit, confused 2 -> 1
  acc.add(2, {1, 3, 4, 5, 6});  // miss, 2 -> 1
  acc.add(7, {6, 5, 4, 3, 2});  // miss, 7 -> 6
  acc.add(3, {0, 1, 2, 4, 5});  // miss, 3 -> 0
  acc.add(3, {0, 3});           // fewer than five: top-5 over what is there
  EXPECT_EQ(acc.images(), 6u);
  EXPECT_EQ(acc.top1(), 1u);
  EXPECT_EQ(acc.top5(), 3u);
  EXPECT_EQ(acc.per_class()[2].images, 2u);
  EXPECT_EQ(acc.per_class()[2].top1, 0u);
  EXPECT_EQ(acc.per_class()[2].top5, 1u);
  EXPECT_EQ(acc.per_class()[3].top5, 1u);
  const auto c = acc.most_confused(20);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].truth, 2);
  EXPECT_EQ(c[0].predicted, 1);
  EXPECT_EQ(c[0].count, 2u);
  EXPECT_EQ(c[1].truth, 3);  // ties ordered by (truth, predicted)
  EXPECT_EQ(c[1].predicted, 0);
  EXPECT_EQ(c[1].count, 2u);
  EXPECT_EQ(c[2].truth, 7);
  EXPECT_EQ(acc.most_confused(1).size(), 1u);
  EXPECT_THROW(acc.add(8, {0}), Error);
}

// ---------------------------------------------------------------- datasets

TEST(EvalDataset, ListFileForms) {
  const auto d = eval::parse_list("# comment\na.JPEG 0\r\n\n  dir/b c.png\t999\nx.jpg 12\n", "/img", "val.txt");
  ASSERT_EQ(d.samples.size(), 3u);
  EXPECT_EQ(d.samples[0].name, "a.JPEG");
  EXPECT_EQ(d.samples[0].path, "/img/a.JPEG");
  EXPECT_EQ(d.samples[0].label, 0);
  EXPECT_EQ(d.samples[1].name, "dir/b c.png");  // spaces in names survive
  EXPECT_EQ(d.samples[1].label, 999);
  EXPECT_EQ(d.samples[2].label, 12);
  try {
    eval::parse_list("a.jpg 1\nb.jpg minus\n", "/img", "val.txt");
    FAIL() << "bad label accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("val.txt:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(eval::parse_list("lonely\n", "/img", "val.txt"), Error);
  EXPECT_THROW(eval::parse_list("a.jpg -1\n", "/img", "val.txt"), Error);
  EXPECT_THROW(eval::parse_list("\n# only comments\n", "/img", "val.txt"), Error);
}

TEST(EvalDataset, CsvForms) {
  const auto d = eval::parse_csv(
      "\xEF\xBB\xBFpath,label\n\"q,uoted \"\"x\"\".jpg\",3\nplain.png, 7 ,extra\n/abs/p.bmp,0\n", "base",
      "l.csv");
  ASSERT_EQ(d.samples.size(), 3u);
  EXPECT_EQ(d.samples[0].name, "q,uoted \"x\".jpg");
  EXPECT_EQ(d.samples[0].path, "base/q,uoted \"x\".jpg");
  EXPECT_EQ(d.samples[0].label, 3);
  EXPECT_EQ(d.samples[1].label, 7);
  EXPECT_EQ(d.samples[2].path, "/abs/p.bmp");  // absolute paths stay
  // No header is fine too; a second non-numeric label is an error naming the line.
  EXPECT_EQ(eval::parse_csv("a.jpg,1\n", "", "l.csv").samples.size(), 1u);
  try {
    eval::parse_csv("path,label\na.jpg,1\nb.jpg,cat\n", "", "l.csv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("l.csv:3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(eval::parse_csv("\"open.jpg,1\n", "", "l.csv"), Error);
  EXPECT_THROW(eval::parse_csv("just-a-path\n", "", "l.csv"), Error);
}

TEST(EvalDataset, SynsetFoldersSortedOrSynsetsFile) {
  ScratchDir s;
  const Bytes img = encode_ppm(pattern_image(8, 8, 1));
  for (const char* f : {"n02/b.ppm", "n02/a.ppm", "n02/sub/c.ppm", "n01/z.ppm", "n03/y.ppm"}) {
    fs::create_directories(fs::path(s.dir + "/" + f).parent_path());
    write_file(s.dir + "/" + f, img);
  }
  write_text(s.dir + "/n03/notes.txt", "not an image");
  fs::create_directories(s.dir + "/.hidden");
  write_file(s.dir + "/.hidden/h.ppm", img);
  EXPECT_TRUE(eval::looks_like_synset_folders(s.dir));
  auto d = eval::load_synset_folders(s.dir, "");
  ASSERT_EQ(d.samples.size(), 5u);
  EXPECT_EQ(d.samples[0].name, "n01/z.ppm");
  EXPECT_EQ(d.samples[0].label, 0);
  EXPECT_EQ(d.samples[1].name, "n02/a.ppm");
  EXPECT_EQ(d.samples[3].name, "n02/sub/c.ppm");
  EXPECT_EQ(d.samples[3].label, 1);
  EXPECT_EQ(d.samples[4].label, 2);
  EXPECT_EQ(d.label_names, (std::vector<std::string>{"n01", "n02", "n03"}));
  // A synsets file decides the order (and may list classes with no folder).
  write_text(s.dir + "/../syn_" + fs::path(s.dir).filename().string(),
             "n00 zero\nn03 three, tres\nn02\nn01 one\n");
  const std::string syn = s.dir + "/../syn_" + fs::path(s.dir).filename().string();
  d = eval::load_synset_folders(s.dir, syn);
  EXPECT_EQ(d.samples[0].label, 3);  // n01
  EXPECT_EQ(d.samples[1].label, 2);  // n02
  EXPECT_EQ(d.samples[4].label, 1);  // n03
  EXPECT_EQ(d.label_names[1], "three, tres");
  EXPECT_EQ(d.label_names[2], "n02");
  write_text(syn, "n01\nn02\n");
  try {
    eval::load_synset_folders(s.dir, syn);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n03"), std::string::npos) << e.what();
  }
  fs::remove(syn);
  // A flat folder of images is not synset folders.
  write_file(s.dir + "/loose.ppm", img);
  EXPECT_FALSE(eval::looks_like_synset_folders(s.dir));
}

TEST(EvalDataset, SubsetIsADeterministicPermutation) {
  std::vector<eval::Sample> base(100);
  for (int i = 0; i < 100; ++i) base[size_t(i)].label = i;
  auto a = base, b = base, c = base;
  eval::select_subset(a, 0, true, 7);
  eval::select_subset(b, 0, true, 7);
  eval::select_subset(c, 0, true, 8);
  std::vector<int> la, lb, lc;
  for (size_t i = 0; i < 100; ++i) la.push_back(a[i].label), lb.push_back(b[i].label), lc.push_back(c[i].label);
  EXPECT_EQ(la, lb);
  EXPECT_NE(la, lc);
  std::vector<int> sorted = la;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[size_t(i)], i);
  int fixed = 0;
  for (int i = 0; i < 100; ++i) fixed += la[size_t(i)] == i;
  EXPECT_LT(fixed, 15);  // really shuffled
  auto d = base;
  eval::select_subset(d, 10, true, 7);
  ASSERT_EQ(d.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(d[i].label, la[i]);
  auto e = base;
  eval::select_subset(e, 10, false, 0);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(e[i].label, int(i));
}

// ---------------------------------------------------------------- pipeline (synthetic)

// Small images of assorted sizes and formats, plus unreadable entries at known places.
struct ImageSet {
  ScratchDir s;
  std::vector<std::string> paths;
  std::set<size_t> broken;
  explicit ImageSet(int n, std::set<size_t> broken_at = {}) : broken(std::move(broken_at)) {
    for (int i = 0; i < n; ++i) {
      const std::string p = s.dir + "/img" + std::to_string(100 + i);
      if (broken.count(size_t(i))) {
        const Bytes j = encode_jpeg(pattern_image(40, 30, uint32_t(i)));
        write_file(p + ".jpg", Bytes(j.begin(), j.begin() + long(j.size() / 3)));
        paths.push_back(p + ".jpg");
      } else if (i % 3 == 0) {
        write_file(p + ".png", encode_png_rgb(noise_image(20 + i % 17, 30 + i % 11, uint32_t(i))));
        paths.push_back(p + ".png");
      } else {
        write_file(p + ".jpg", encode_jpeg(pattern_image(50 + i % 23, 40 + i % 13, uint32_t(i))));
        paths.push_back(p + ".jpg");
      }
    }
  }
};

std::vector<std::vector<float>> direct_probs(Model& m, const std::vector<std::string>& paths,
                                             const std::set<size_t>& broken,
                                             image::PreprocessMode mode) {
  const ModelInfo& info = m.info();
  std::vector<float> in(size_t(info.height) * info.width * 3);
  std::vector<std::vector<float>> out(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    if (broken.count(i)) continue;
    image::preprocess(image::decode_file(paths[i]), info, mode, in.data());
    out[i].resize(size_t(info.num_classes));
    m.run(in.data(), 1, out[i].data());
  }
  return out;
}

TEST(EvalPipeline, OrderOutputsAndErrorsMatchDirectRuns) {
  ImageSet set(23, {4, 5, 17});
  Options o;
  o.threads = 1;
  o.max_batch = 8;
  Model m = Model::synthetic(0.35f, 64, 10, 3, o);
  const auto ref = direct_probs(m, set.paths, set.broken, image::PreprocessMode::Omz);
  struct Config { int batch, decode, queue; };
  for (const Config cfg : {Config{1, 1, 0}, Config{4, 3, 0}, Config{8, 4, 1}, Config{5, 2, 2}}) {
    eval::PipelineOptions po;
    po.batch = cfg.batch;
    po.decode_threads = cfg.decode;
    po.queue_batches = cfg.queue;
    std::vector<size_t> seen, errors;
    size_t max_batch = 0;
    double max_diff = 0;
    const auto st = eval::run_pipeline(
        m, set.paths, po,
        [&](const std::vector<size_t>& idx, const float* probs) {
          max_batch = std::max(max_batch, idx.size());
          for (size_t b = 0; b < idx.size(); ++b) {
            seen.push_back(idx[b]);
            for (int c = 0; c < 10; ++c)
              max_diff = std::max(max_diff, double(std::fabs(probs[b * 10 + size_t(c)] - ref[idx[b]][size_t(c)])));
          }
        },
        [&](size_t i, const std::string& msg) {
          errors.push_back(i);
          EXPECT_NE(msg.find(set.paths[i]), std::string::npos) << msg;
        },
        nullptr);
    const std::string what = "batch " + std::to_string(cfg.batch) + " decode " + std::to_string(cfg.decode);
    std::vector<size_t> expect;
    for (size_t i = 0; i < set.paths.size(); ++i)
      if (!set.broken.count(i)) expect.push_back(i);
    EXPECT_EQ(seen, expect) << what;  // every good image once, in order
    EXPECT_EQ(errors, (std::vector<size_t>{4, 5, 17})) << what;
    EXPECT_LE(max_batch, size_t(cfg.batch)) << what;
    EXPECT_LE(max_diff, 1e-5) << what;
    EXPECT_EQ(st.evaluated, 20u);
    EXPECT_EQ(st.failed, 3u);
    EXPECT_EQ(st.finished, 23u);
    EXPECT_FALSE(st.interrupted);
    if (cfg.queue) EXPECT_EQ(st.queue_batches, cfg.queue) << what;
    EXPECT_EQ(st.buffer_bytes, size_t(st.queue_batches) * size_t(cfg.batch) * 64 * 64 * 3 * sizeof(float));
  }
}

TEST(EvalPipeline, ErrorCallbackThrowAndStopFlag) {
  ImageSet set(12, {6});
  Options o;
  o.threads = 1;
  Model m = Model::synthetic(0.35f, 64, 10, 3, o);
  eval::PipelineOptions po;
  po.batch = 2;
  po.decode_threads = 3;
  size_t delivered = 0;
  // --strict: the error callback throws; the exception leaves run_pipeline after the
  // workers are joined, and nothing after the failing batch is delivered.
  EXPECT_THROW(eval::run_pipeline(
                   m, set.paths, po,
                   [&](const std::vector<size_t>& idx, const float*) { delivered += idx.size(); },
                   [&](size_t, const std::string& msg) { throw Error(msg); }, nullptr),
               Error);
  EXPECT_EQ(delivered, 6u);  // batches {0,1} {2,3} {4,5}
  // The stop flag raised from a batch callback: that batch is delivered, then it stops.
  std::atomic<bool> stop{false};
  std::vector<size_t> seen;
  const auto st = eval::run_pipeline(
      m, set.paths, po,
      [&](const std::vector<size_t>& idx, const float*) {
        seen.insert(seen.end(), idx.begin(), idx.end());
        if (seen.size() >= 4) stop = true;
      },
      [&](size_t, const std::string&) {}, &stop);
  EXPECT_TRUE(st.interrupted);
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(st.finished, 4u);
  EXPECT_EQ(st.evaluated, 4u);
}

// ---------------------------------------------------------------- CLI (synthetic)

std::string cli() { return cli_path(); }

// A synthetic 10-class model's top-1 for each image, computed in process.
std::vector<int> synthetic_top1(const std::vector<std::string>& paths, const std::set<size_t>& broken) {
  Options o;
  o.threads = 1;
  Model m = Model::synthetic(0.35f, 64, 10, 1, o);
  const auto probs = direct_probs(m, paths, broken, image::PreprocessMode::Omz);
  std::vector<int> top(paths.size(), -1);
  for (size_t i = 0; i < paths.size(); ++i)
    if (!probs[i].empty()) top[i] = eval::top_k(probs[i].data(), 10, 1)[0];
  return top;
}

const char* kSynthetic = " eval --synthetic 0.35 64 --classes 10 --threads 1 --quiet ";

TEST(EvalCli, CsvWithKnownWrongLabelsGivesExactFigures) {
  ImageSet set(12, {9});
  const auto top = synthetic_top1(set.paths, set.broken);
  // Labels: the model's own top-1, except images 1, 2 and 7 (wrong on purpose).
  std::string csv = "path,label\n";
  std::vector<int> label(12);
  for (size_t i = 0; i < 12; ++i) {
    label[i] = set.broken.count(i) ? 3 : top[i];
    if (i == 1 || i == 2 || i == 7) label[i] = (top[i] + 1) % 10;
    csv += fs::path(set.paths[i]).filename().string() + "," + std::to_string(label[i]) + "\n";
  }
  write_text(set.s.dir + "/labels.csv", csv);
  std::string out;
  const std::string report = set.s.dir + "/report.csv";
  ASSERT_EQ(run_command(cli() + kSynthetic + "--batch 3 --decode-threads 2 --json --csv " + set.s.dir +
                            "/labels.csv --report " + report + " 2>/dev/null",
                        &out),
            0)
      << out;
  EXPECT_EQ(json_figure(out, "top1"), (std::pair<long, long>{8, 11})) << out;  // 11 readable, 3 wrong
  EXPECT_NEAR(json_number(out, "accuracy"), 8.0 / 11.0, 1e-6);
  EXPECT_EQ(json_number(out, "unreadable"), 1);
  EXPECT_EQ(json_number(out, "label_offset"), 0);  // 10 classes, no background
  EXPECT_NE(out.find("\"interval\":\"wilson\""), std::string::npos);
  EXPECT_NE(out.find(fs::path(set.paths[9]).filename().string() + "\",\"error\""), std::string::npos) << out;
  // The report: a header and one row per image in dataset order; the broken image has an
  // error and no classes; every row's top1 is the in-process top-1.
  const auto rows = lines_of(read_text(report));
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(rows[0].substr(0, 28), "file,label,class,top1,prob1,");
  for (size_t i = 0; i < 12; ++i) {
    const std::string name = fs::path(set.paths[i]).filename().string();
    if (i == 9) {  // the error message may hold commas: check the fixed part only
      EXPECT_EQ(rows[i + 1].substr(0, name.size() + 17), name + ",3,3,,,,,,,,,,,,,") << rows[i + 1];
      EXPECT_NE(rows[i + 1].find(set.paths[i]), std::string::npos) << rows[i + 1];
      continue;
    }
    const auto f = split_csv_simple(rows[i + 1]);
    ASSERT_EQ(f.size(), 16u) << rows[i + 1];
    EXPECT_EQ(f[0], name);
    EXPECT_EQ(f[1], std::to_string(label[i]));
    EXPECT_EQ(f[3], std::to_string(top[i])) << rows[i + 1];
    EXPECT_EQ(f[13], (i == 1 || i == 2 || i == 7) ? "0" : "1");
    double psum = 0;
    for (int t = 0; t < 5; ++t) psum += std::stod(f[4 + 2 * size_t(t)]);
    EXPECT_GT(psum, 0.0);
    EXPECT_LE(psum, 1.0 + 1e-4);
    EXPECT_GE(std::stod(f[4]), std::stod(f[6]));
  }
  // --label-offset 1 shifts every label: now label 9 is class 10, outside the model.
  bool has9 = std::count(label.begin(), label.end(), 9) > 0;
  const int rc = run_command(cli() + kSynthetic + "--label-offset 1 --csv " + set.s.dir + "/labels.csv", &out);
  if (has9) {
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("--label-offset"), std::string::npos) << out;
  } else {
    EXPECT_EQ(rc, 0) << out;
  }
  // --strict: the unreadable image is fatal and named.
  EXPECT_EQ(run_command(cli() + kSynthetic + "--strict --csv " + set.s.dir + "/labels.csv", &out), 1);
  EXPECT_NE(out.find(set.paths[9]), std::string::npos) << out;
  EXPECT_NE(out.find("strict"), std::string::npos) << out;
  // Nothing readable at all: the result is printed, and the exit status says it failed.
  write_text(set.s.dir + "/broken_only.csv", set.paths[9] + ",1\n" + set.s.dir + "/absent.jpg,2\n");
  EXPECT_EQ(run_command(cli() + kSynthetic + "--csv " + set.s.dir + "/broken_only.csv", &out), 1);
  EXPECT_NE(out.find("none of the 2 images could be read"), std::string::npos) << out;
  EXPECT_NE(out.find("2 unreadable"), std::string::npos) << out;
}

TEST(EvalCli, SortedSynsetFoldersLimitAndShuffle) {
  ImageSet set(10);
  const auto top = synthetic_top1(set.paths, {});
  // Folders named so that sorted order = class index: image i goes to class top[i].
  ScratchDir ds;
  for (size_t i = 0; i < 10; ++i) {
    const std::string cls = ds.dir + "/class_" + std::to_string(top[i]);
    fs::create_directories(cls);
    fs::copy_file(set.paths[i], cls + "/" + fs::path(set.paths[i]).filename().string());
  }
  // Classes the model never predicts still need a folder for sorted order to be 0..9.
  for (int c = 0; c < 10; ++c) fs::create_directories(ds.dir + "/class_" + std::to_string(c));
  std::string out;
  // No cached label file may rename the classes: point the cache at an empty place.
  const std::string nocache = "MNV2_HOME=" + ds.dir + "/.nocache ";
  ASSERT_EQ(run_command(nocache + cli() + kSynthetic + "--json " + ds.dir, &out), 0) << out;
  EXPECT_EQ(json_figure(out, "top1"), (std::pair<long, long>{10, 10})) << out;
  EXPECT_NE(out.find("\"layout\":\"synset-folders\""), std::string::npos);
  EXPECT_NE(out.find("\"name\":\"class_" + std::to_string(top[0]) + "\""), std::string::npos) << out;
  // --limit/--shuffle-seed: the report lists exactly the selected images in the selected order.
  const std::string report = ds.dir + "/../r_" + fs::path(ds.dir).filename().string() + ".csv";
  ASSERT_EQ(run_command(cli() + kSynthetic + "--limit 4 --shuffle-seed 11 --report " + report + " " + ds.dir, &out), 0)
      << out;
  const auto rows = lines_of(read_text(report));
  fs::remove(report);
  auto d = eval::load_synset_folders(ds.dir, "");
  eval::select_subset(d.samples, 4, true, 11);
  ASSERT_EQ(rows.size(), 5u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(split_csv_simple(rows[i + 1])[0], d.samples[i].name);
  EXPECT_NE(out.find("4 selected"), std::string::npos) << out;
  // A flat image folder without labels: a clear error.
  EXPECT_EQ(run_command(cli() + kSynthetic + set.s.dir, &out), 1);
  EXPECT_NE(out.find("--labels-file"), std::string::npos) << out;
}

// Runs `args` with stdout/stderr to files, returns the pid.
pid_t spawn(const std::string& cmd) {
  const std::string line = "exec " + cmd;  // built before fork: the child only execs
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

TEST(EvalCli, CtrlCPrintsPartialResultAndExits130) {
  ImageSet set(6);
  // 6000 rows over the six files: far more than can finish before the signal.
  std::string csv;
  for (int r = 0; r < 1000; ++r)
    for (size_t i = 0; i < 6; ++i) csv += set.paths[i] + "," + std::to_string(i) + "\n";
  write_text(set.s.dir + "/big.csv", csv);
  const std::string report = set.s.dir + "/report.csv", outf = set.s.dir + "/out.json";
  const pid_t pid = spawn(cli() + kSynthetic + "--json --batch 2 --csv " + set.s.dir + "/big.csv --report " +
                          report + " > " + outf + " 2> " + set.s.dir + "/err.txt");
  ASSERT_GT(pid, 0);
  // Wait until a few batches are in the report, then Ctrl-C.
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    std::error_code ec;
    if (fs::exists(report, ec) && lines_of(read_text(report)).size() >= 7) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string out = read_text(outf);
  EXPECT_NE(out.find("\"interrupted\":true"), std::string::npos) << out;
  const auto fig = json_figure(out, "top1");
  EXPECT_GE(fig.second, 6);
  EXPECT_LT(fig.second, 6000);
  EXPECT_EQ(fig.second % 2, 0);  // whole batches only
  // The report holds exactly the evaluated images.
  EXPECT_EQ(long(lines_of(read_text(report)).size()) - 1, fig.second);
  EXPECT_NE(read_text(set.s.dir + "/err.txt").find("interrupted"), std::string::npos);
}

TEST(EvalCli, MemoryStaysFlatOverManyImages) {
  ImageSet set(20);
  auto make_csv = [&](int rows, const std::string& name) {
    std::string csv;
    for (int r = 0; r < rows; ++r) csv += set.paths[size_t(r) % 20] + ",0\n";
    write_text(set.s.dir + "/" + name, csv);
  };
  make_csv(200, "small.csv");
  make_csv(3000, "large.csv");
  // 96x96 inputs: 110 KB of floats per image, so holding all 3000 would take 330 MB.
  const std::string base = cli() + " eval --synthetic 0.35 96 --classes 10 --threads 1 --quiet --json "
                                   "--batch 4 --decode-threads 2 --csv " + set.s.dir + "/";
  std::string small, large;
  ASSERT_EQ(run_command(base + "small.csv 2>/dev/null", &small), 0) << small;
  ASSERT_EQ(run_command(base + "large.csv 2>/dev/null", &large), 0) << large;
  EXPECT_EQ(json_figure(large, "top1").second, 3000);
  const double rss_small = json_number(small, "peak_rss_mib"), rss_large = json_number(large, "peak_rss_mib");
  ASSERT_GT(rss_small, 0);
  EXPECT_LT(rss_large - rss_small, 16.0) << "small " << rss_small << " MiB, large " << rss_large << " MiB";
  EXPECT_LE(json_number(large, "queue_mib"), 4 * 4 * 96 * 96 * 3 * 4 / 1048576.0 + 0.1);
}

// ---------------------------------------------------------------- the real coral model

std::string coral() {
  const std::string d = data_dir();
  return d.empty() ? "" : d + "/coral";
}

// The 13 coral inputs and the references' top-1 (1001-class index) from EXPECTED.md,
// table B; both reference runtimes agree on all of them.
const std::vector<std::pair<std::string, int>> kCoralTop1 = {
    {"cat.bmp", 286},        {"bird.bmp", 20},     {"dragonfly.bmp", 320}, {"grace_hopper.bmp", 653},
    {"sunflower.bmp", 986},  {"resized_cat.bmp", 286}, {"parrot.jpg", 89}, {"owl.jpg", 83},
    {"hot_dog.jpg", 935},    {"cat_720p.jpg", 286}, {"pets.jpg", 196},     {"bird.rgb", 20},
    {"sunflower.rgb", 986}};

std::string coral_eval(const std::string& args, int expect_rc = 0) {
  std::string out;
  const int rc = run_command(cli() + " eval --model " + coral() + "/mobilenet_v2_1.0_224_quant.tflite --names " +
                                 coral() + "/imagenet_labels.txt --preprocess none --quiet --json " + args +
                                 " 2>/dev/null",
                             &out);
  EXPECT_EQ(rc, expect_rc) << out;
  return out;
}

TEST(EvalCoral, EveryLayoutGivesFullTop1WithReferenceLabels) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  ScratchDir s;
  // (a) flat folder + val.txt, ImageNet 0..999 labels (= 1001-index - 1).
  fs::create_directories(s.dir + "/flat");
  std::string val;
  for (const auto& [f, c] : kCoralTop1) {
    fs::create_symlink(coral() + "/" + f, s.dir + "/flat/" + f);
    val += f + " " + std::to_string(c - 1) + "\n";
  }
  write_text(s.dir + "/val.txt", val);
  std::string out = coral_eval(s.dir + "/flat --labels-file " + s.dir + "/val.txt --batch 4");
  EXPECT_EQ(json_figure(out, "top1"), (std::pair<long, long>{13, 13})) << out;
  EXPECT_EQ(json_figure(out, "top5"), (std::pair<long, long>{13, 13})) << out;
  EXPECT_EQ(json_number(out, "label_offset"), 1);
  EXPECT_NE(out.find("\"name\":\"Egyptian cat\",\"images\":3,\"top1\":3"), std::string::npos) << out;

  // (b) synset folders with a 1000-line synsets file (made-up ids in ImageNet order).
  std::string syn;
  for (int i = 0; i < 1000; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "n%08d", 5000000 + i * 7);
    syn += std::string(id) + "\n";
  }
  write_text(s.dir + "/synsets.txt", syn);
  const auto ids = lines_of(syn);
  for (const auto& [f, c] : kCoralTop1) {
    const std::string d = s.dir + "/val/" + ids[size_t(c - 1)];
    fs::create_directories(d);
    fs::create_symlink(coral() + "/" + f, d + "/" + f);
  }
  out = coral_eval(s.dir + "/val --synsets " + s.dir + "/synsets.txt --decode-threads 3");
  EXPECT_EQ(json_figure(out, "top1"), (std::pair<long, long>{13, 13})) << out;

  // (c) CSV with a header and paths relative to the CSV's folder.
  std::string csv = "path,label\n";
  for (const auto& [f, c] : kCoralTop1) csv += "flat/" + f + "," + std::to_string(c - 1) + "\n";
  write_text(s.dir + "/gt.csv", csv);
  out = coral_eval("--csv " + s.dir + "/gt.csv --batch 13");
  EXPECT_EQ(json_figure(out, "top1"), (std::pair<long, long>{13, 13})) << out;
  // Wilson 95 % lower bound for 13/13 = 13 / (13 + z^2) = 0.7719046
  EXPECT_NE(out.find("\"ci95\":[0.771905,1.000000]"), std::string::npos) << out;
}

TEST(EvalCoral, KnownWrongLabelsAndACorruptImage) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  ScratchDir s;
  // Three wrong labels: cat.bmp and cat_720p.jpg labelled tabby (282, the references'
  // 2nd choice for both, so still a top-5 hit), grace_hopper.bmp labelled daisy (986,
  // nowhere near its top-5). Expected: top-1 10/13, top-5 12/13.
  std::map<std::string, int> wrong = {{"cat.bmp", 282}, {"cat_720p.jpg", 282}, {"grace_hopper.bmp", 986}};
  std::string val;
  for (const auto& [f, c] : kCoralTop1) {
    fs::create_symlink(coral() + "/" + f, s.dir + "/" + f);
    val += f + " " + std::to_string((wrong.count(f) ? wrong[f] : c) - 1) + "\n";
  }
  // A truncated JPEG and a listed file that does not exist: reported, counted, not fatal.
  const Bytes jpg = read_file(coral() + "/hot_dog.jpg");
  write_file(s.dir + "/truncated.jpg", Bytes(jpg.begin(), jpg.begin() + long(jpg.size() / 4)));
  val += "truncated.jpg 934\nmissing.jpg 1\n";
  write_text(s.dir + "/val.txt", val);
  const std::string report = s.dir + "/../rep_" + fs::path(s.dir).filename().string() + ".csv";
  std::string out = coral_eval(s.dir + " --labels-file " + s.dir + "/val.txt --batch 3 --report " + report);
  EXPECT_EQ(json_figure(out, "top1"), (std::pair<long, long>{10, 13})) << out;
  EXPECT_EQ(json_figure(out, "top5"), (std::pair<long, long>{12, 13})) << out;
  EXPECT_EQ(json_number(out, "unreadable"), 2);
  EXPECT_EQ(json_number(out, "selected"), 15);
  EXPECT_NE(out.find("{\"file\":\"truncated.jpg\",\"error\":"), std::string::npos) << out;
  EXPECT_NE(out.find("{\"file\":\"missing.jpg\",\"error\":"), std::string::npos) << out;
  // Most confused: tabby -> Egyptian cat twice, then daisy -> military uniform once.
  EXPECT_NE(out.find("\"confused\":[{\"truth\":282,\"predicted\":286,\"count\":2,\"truth_name\":\"tabby, tabby cat\","
                     "\"predicted_name\":\"Egyptian cat\"},{\"truth\":986,\"predicted\":653,\"count\":1"),
            std::string::npos)
      << out;
  const auto rows = lines_of(read_text(report));
  fs::remove(report);
  ASSERT_EQ(rows.size(), 16u);
  EXPECT_EQ(rows[14].substr(0, 26), "truncated.jpg,934,935,,,,,");
  EXPECT_NE(rows[14].find("truncated.jpg"), rows[14].rfind("truncated.jpg")) << "error names the file";
  // --strict stops at the corrupt image with an error naming it.
  std::string err;
  EXPECT_EQ(run_command(cli() + " eval --model " + coral() + "/mobilenet_v2_1.0_224_quant.tflite --preprocess none "
                                "--quiet --strict --labels-file " + s.dir + "/val.txt " + s.dir,
                        &err),
            1);
  EXPECT_NE(err.find("truncated.jpg"), std::string::npos) << err;
  // Text output: the summary lines.
  std::string text;
  ASSERT_EQ(run_command(cli() + " eval --model " + coral() + "/mobilenet_v2_1.0_224_quant.tflite --preprocess none "
                                "--quiet --limit 13 --labels-file " + s.dir + "/val.txt " + s.dir,
                        &text),
            0)
      << text;
  EXPECT_NE(text.find("top-1        76.92 %  (10 / 13)"), std::string::npos) << text;
  EXPECT_NE(text.find("top-5        92.31 %  (12 / 13)"), std::string::npos) << text;
  EXPECT_NE(text.find("Wilson"), std::string::npos) << text;
}

}  // namespace
}  // namespace mnv2::test
