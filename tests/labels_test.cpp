// The ImageNet class names built into libmnv2 (src/util/imagenet_classes.inc): the table is
// byte for byte the label file `mnv2 fetch` downloads (its pinned SHA-256) and the Coral
// test data's copy; and every consumer (the public API, classify, eval, serve) falls back to
// it when no label file is given or cached.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "fetch/digest.h"
#include "fetch/fetch.h"
#include "mnv2/mnv2.h"
#include "test_util.h"
#include "util/labels.h"

namespace mnv2 {
namespace {

std::string coral() {
  const std::string d = test::data_dir();
  return !d.empty() && std::ifstream(d + "/coral/mobilenet_v2_1.0_224_quant.tflite") ? d + "/coral" : "";
}

TEST(BuiltinLabels, TableIsTheFetchedLabelFile) {
  const std::string_view text = imagenet_class_text();
  const LabelsSource src = official_labels_source();
  EXPECT_EQ(text.size(), src.size);
  EXPECT_EQ(sha256_hex(text.data(), text.size()), src.sha256);
  // And the label file parser reads the text back as the same 1001 names.
  EXPECT_EQ(parse_labels(std::string(text), "built-in"), builtin_labels(1001));
}

TEST(BuiltinLabels, AlignedToTheClassCount) {
  const auto l1001 = builtin_labels(1001);
  ASSERT_EQ(l1001.size(), 1001u);
  EXPECT_EQ(l1001[0], "background");
  EXPECT_EQ(l1001[1], "tench, Tinca tinca");
  EXPECT_EQ(l1001[286], "Egyptian cat");
  EXPECT_EQ(l1001[1000], "toilet tissue, toilet paper, bathroom tissue");
  const auto l1000 = builtin_labels(1000);
  ASSERT_EQ(l1000.size(), 1000u);
  EXPECT_EQ(std::vector<std::string>(l1001.begin() + 1, l1001.end()), l1000);
  EXPECT_TRUE(builtin_labels(10).empty());
  EXPECT_TRUE(builtin_labels(1002).empty());
  EXPECT_EQ(imagenet_labels(1001), l1001);  // the public name of the same table
  EXPECT_EQ(imagenet_labels(1000), l1000);
}

TEST(BuiltinLabels, MatchesCoralLabelFile) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  EXPECT_EQ(read_labels(coral() + "/imagenet_labels.txt"), builtin_labels(1001));
}

TEST(BuiltinLabels, ResolveOrder) {
  const std::string dir = test::make_scratch_dir("mnv2_labels_");
  const std::string given = dir + "/given.txt", cached = dir + "/cached.txt";
  std::ofstream(given) << "background\n" << std::string("given\n");
  std::string thousand;
  for (int i = 0; i < 1000; ++i) thousand += "cached " + std::to_string(i) + "\n";
  // No file given, none cached: the built-in names.
  Labels l = resolve_labels("", cached, 1001, true);
  EXPECT_EQ(l.names, builtin_labels(1001));
  EXPECT_EQ(l.source, kBuiltinLabelsSource);
  EXPECT_EQ(resolve_labels("", "", 1000, false).names, builtin_labels(1000));
  // A cached file wins over the built-in names, aligned to the model.
  std::ofstream(cached) << thousand;
  l = resolve_labels("", cached, 1001, true);
  ASSERT_EQ(l.names.size(), 1001u);
  EXPECT_EQ(l.names[1], "cached 0");
  EXPECT_EQ(l.source, cached);
  EXPECT_FALSE(l.note.empty());
  // A given file wins over both; a missing given file is an error, never a fallback.
  l = resolve_labels(given, cached, 2, true);
  EXPECT_EQ(l.names, (std::vector<std::string>{"background", "given"}));
  EXPECT_THROW(resolve_labels(dir + "/missing.txt", cached, 1001, true), Error);
  // Other class counts have no built-in names.
  l = resolve_labels("", dir + "/none.txt", 10, false);
  EXPECT_TRUE(l.names.empty());
  EXPECT_TRUE(l.source.empty());
}

TEST(BuiltinLabels, PublicClassifyNamesClasses) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  Options o;
  o.threads = 1;
  Model m = Model::load(coral() + "/mobilenet_v2_1.0_224_quant.tflite", o);
  const auto top = m.classify(coral() + "/cat.bmp", 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 286);
  EXPECT_EQ(top[0].label, "Egyptian cat");
  EXPECT_GE(top[0].probability, 0.7f);  // libcoral's expectation for this photo
  EXPECT_GE(top[0].probability, top[1].probability);
  EXPECT_EQ(top[1].label, builtin_labels(1001)[size_t(top[1].index)]);
  // load_image + run give the same probabilities as classify.
  const auto input = load_image(coral() + "/cat.bmp", m.info());
  ASSERT_EQ(input.size(), size_t(224 * 224 * 3));
  std::vector<float> probs(1001);
  m.run(input.data(), 1, probs.data());
  EXPECT_EQ(probs[286], top[0].probability);
  EXPECT_THROW(m.classify(coral() + "/cat.bmp", 0), Error);
  EXPECT_THROW(m.classify(coral() + "/missing.bmp", 1), Error);
}

// The CLI with an empty cache and no --labels: names, for classify and eval.
TEST(BuiltinLabels, CliCommandsUseThemWithoutCache) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::string home = test::make_scratch_dir("mnv2_nocache_");
  const std::string env = "MNV2_HOME=" + home + " MNV2_NO_NETWORK=1 ";
  const std::string model = " --model " + coral() + "/mobilenet_v2_1.0_224_quant.tflite --threads 1 ";
  std::string out;
  ASSERT_EQ(test::run_command(env + test::cli_path() + " classify --top 1" + model + coral() + "/cat.bmp", &out), 0)
      << out;
  EXPECT_NE(out.find("Egyptian cat"), std::string::npos) << out;
  EXPECT_EQ(out.find("class indices only"), std::string::npos) << out;
  // eval over a CSV: the per-class table names the classes.
  std::ofstream(home + "/set.csv") << coral() << "/cat.bmp,285\n";
  ASSERT_EQ(test::run_command(env + test::cli_path() + " eval --json --quiet --csv " + home + "/set.csv" + model, &out),
            0)
      << out;
  EXPECT_NE(out.find("\"name\":\"Egyptian cat\""), std::string::npos) << out;
  // A model whose class count fits no built-in table says so and shows indices.
  ASSERT_EQ(test::run_command(env + test::cli_path() + " classify --top 1 --synthetic 0.35 64 --classes 10 " +
                                  coral() + "/cat.bmp",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("class indices only"), std::string::npos) << out;
}

TEST(BuiltinLabels, ServeUsesThemWithoutCache) {
  if (coral().empty()) GTEST_SKIP() << "shared data folder not found (set MNV2_TEST_DATA)";
  const std::string dir = test::make_scratch_dir("mnv2_serve_labels_");
  const std::string port_file = dir + "/port", model = coral() + "/mobilenet_v2_1.0_224_quant.tflite";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("MNV2_HOME", dir.c_str(), 1);
    execl(test::cli_path().c_str(), "mnv2", "serve", "--model", model.c_str(), "--threads", "1", "--port", "0",
          "--port-file", port_file.c_str(), "--quiet", nullptr);
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 600 && port == 0; ++i) {
    std::ifstream f(port_file);
    if (!(f >> port)) port = 0;
    if (!port) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string body;
  if (port) {
    const auto photo = test::read_file(coral() + "/cat.bmp");
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    auto r = c.Post("/v1/classify?top=1", std::string(photo.begin(), photo.end()), "application/octet-stream");
    body = r ? r->body : "no answer";
  }
  ::kill(pid, SIGTERM);
  int ws = 0;
  waitpid(pid, &ws, 0);
  ASSERT_GT(port, 0) << "server did not start";
  EXPECT_NE(body.find("\"label\":\"Egyptian cat\""), std::string::npos) << body;
}

}  // namespace
}  // namespace mnv2
