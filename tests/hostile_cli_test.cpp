// The CLI under careless or hostile use: only real images are images, damaged JPEGs are
// errors, JSON output is valid UTF-8 whatever the labels and file names, conflicting model
// options are refused, failed writes to stdout fail the command, and odd model paths
// (a FIFO, a directory as IR weights) give a clear error at once.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "image_fixtures.h"
#include "test_util.h"

namespace mnv2 {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string cli() { return test::cli_path(); }
std::string q(const std::string& s) { return "'" + s + "'"; }
const std::string kModel = " --synthetic 0.35 64 --threads 1";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Runs `cmd` with stdout and stderr in separate files; returns the exit status.
int run_split(const std::string& cmd, std::string* out, std::string* err) {
  const std::string dir = test::scratch_dir();
  std::string ignored;
  // The group keeps these redirections (run_command appends its own 2>&1 outside it).
  const int rc = test::run_command("( " + cmd + " >" + q(dir + "/out") + " 2>" + q(dir + "/err") + " )", &ignored);
  *out = slurp(dir + "/out");
  *err = slurp(dir + "/err");
  return rc;
}

TEST(HostileCli, NonImagesAreNeverClassified) {
  const std::string dir = test::scratch_dir();
  // 48 bytes = 3*4*4: once read as a 4x4 raw RGB image whatever its name.
  const std::string text = "this is a text file, not an image!!!!!!!!!!!!!!!";
  test::write_file(dir + "/t.jpg", std::vector<uint8_t>(text.begin(), text.end()));
  test::write_file(dir + "/t.png", {'h', 'i', '\n'});
  for (const char* name : {"t.jpg", "t.png"}) {
    std::string out, err;
    EXPECT_EQ(run_split(cli() + " classify" + kModel + " " + q(dir + "/" + name), &out, &err), 1) << name;
    EXPECT_NE(err.find("not a recognised image"), std::string::npos) << err;
    EXPECT_EQ(out, "") << "a non-image was classified: " << out;
  }
  // Raw RGB when asked for: a .rgb name of a square image, or --raw WxH.
  const test::Bytes px = test::noise_image(8, 6, 3).pixels;
  test::write_file(dir + "/pixels.bin", px);
  test::write_file(dir + "/square.rgb", test::noise_image(8, 8, 4).pixels);
  std::string out, err;
  EXPECT_EQ(run_split(cli() + " classify" + kModel + " " + q(dir + "/pixels.bin"), &out, &err), 1);
  EXPECT_NE(err.find("--raw WxH"), std::string::npos) << err;
  EXPECT_EQ(run_split(cli() + " classify" + kModel + " --raw 8x6 " + q(dir + "/pixels.bin"), &out, &err), 0) << err;
  EXPECT_NE(out.find("pixels.bin"), std::string::npos) << out;
  EXPECT_EQ(run_split(cli() + " classify" + kModel + " " + q(dir + "/square.rgb"), &out, &err), 0) << err;
  EXPECT_EQ(run_split(cli() + " classify" + kModel + " --raw 8 " + q(dir + "/pixels.bin"), &out, &err), 1);
  EXPECT_NE(err.find("--raw must be WIDTHxHEIGHT"), std::string::npos) << err;
}

TEST(HostileCli, JpegWithMissingScanIsAnError) {
  const std::string dir = test::scratch_dir();
  const test::Bytes j = test::encode_jpeg(test::noise_image(64, 64, 5), 90);
  // Header, the first few bytes of scan data (about one block), then the end marker.
  size_t sos = 0;
  for (size_t i = 2; i + 3 < j.size() && !sos; ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xDA) sos = i;
  ASSERT_GT(sos, 0u);
  const size_t data = sos + 2 + ((size_t(j[sos + 2]) << 8) | j[sos + 3]);
  test::Bytes cut(j.begin(), j.begin() + long(data + 6));
  cut.push_back(0xFF);
  cut.push_back(0xD9);
  test::write_file(dir + "/cut.jpg", cut);
  std::string out, err;
  EXPECT_EQ(run_split(cli() + " classify" + kModel + " " + q(dir + "/cut.jpg"), &out, &err), 1);
  EXPECT_NE(err.find("corrupt or truncated JPEG"), std::string::npos) << err;
  EXPECT_EQ(out, "");
}

TEST(HostileCli, JsonOutputIsValidUtf8) {
  const std::string dir = test::scratch_dir();
  // A Latin-1 label file ("caf\xE9", "na\xEFve") and a file name with byte 0xFF.
  std::string labels;
  for (int i = 0; i < 1001; ++i) labels += (i % 2 ? "na\xEFve " : "caf\xE9 ") + std::to_string(i) + "\n";
  test::write_file(dir + "/labels.txt", std::vector<uint8_t>(labels.begin(), labels.end()));
  const std::string odd = dir + "/photo\xFF.png";
  test::write_file(odd, test::encode_png_rgb(test::pattern_image(80, 60, 2)));
  const std::string missing = dir + "/gone\xFE.png";
  std::string out, err;
  const int rc = run_split(cli() + " classify --json --top 3" + kModel + " --labels " + q(dir + "/labels.txt") +
                               " " + q(odd) + " " + q(missing),
                           &out, &err);
  EXPECT_EQ(rc, 1) << err;  // the missing file fails; the report is still written
  const json j = json::parse(out, nullptr, false);  // nlohmann refuses ill-formed UTF-8
  ASSERT_FALSE(j.is_discarded()) << out;
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_EQ(j["results"][0]["file"], dir + "/photo\xEF\xBF\xBD.png");
  for (const auto& t : j["results"][0]["top"]) EXPECT_NE(t["label"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_NE(j["errors"][0]["error"].get<std::string>().find("gone\xEF\xBF\xBD.png"), std::string::npos);
  // Said once on stderr.
  const std::string note = "not valid UTF-8";
  ASSERT_NE(err.find(note), std::string::npos) << err;
  EXPECT_EQ(err.find(note, err.find(note) + 1), std::string::npos) << err;
}

TEST(HostileCli, ConflictingModelOptionsAreRefused) {
  const std::string d = test::data_dir();
  const std::string model = d + "/coral/mobilenet_v2_1.0_224_quant.tflite";
  const std::string dir = test::scratch_dir();
  test::write_file(dir + "/a.png", test::encode_png_rgb(test::pattern_image(40, 30, 1)));
  // Any path will do for the conflict itself: it is refused before anything is loaded.
  const std::string m = fs::exists(model) ? model : dir + "/a.png";
  for (const std::string args :
       {" classify --model " + q(m) + " --synthetic 0.35 64 " + q(dir + "/a.png"),
        " classify --synthetic 0.35 64 --model " + q(m) + " " + q(dir + "/a.png"),
        " info --model " + q(m) + " --synthetic 0.35 64", " bench --synthetic 0.35 64 --model " + q(m),
        " convert --model " + q(m) + " --synthetic 0.35 64 -o " + q(dir + "/x.tflite"),
        " serve --model " + q(m) + " --synthetic 0.35 64 --port 0"}) {
    std::string out, err;
    EXPECT_EQ(run_split(cli() + args, &out, &err), 1) << args;
    EXPECT_NE(err.find("--model and --synthetic both name the model"), std::string::npos) << args << ": " << err;
  }
  std::string out, err;
  EXPECT_EQ(run_split(cli() + " info --model " + q(m) + " --classes 10", &out, &err), 1);
  EXPECT_NE(err.find("--classes applies only to --synthetic"), std::string::npos) << err;
}

TEST(HostileCli, FailedWritesToStdoutFailTheCommand) {
  const std::string dir = test::scratch_dir();
  test::write_file(dir + "/a.png", test::encode_png_rgb(test::pattern_image(40, 30, 1)));
  const std::string img = " " + q(dir + "/a.png");
  for (const std::string& cmd :
       {cli() + " classify" + kModel + img, cli() + " classify --json" + kModel + img,
        cli() + " info --synthetic 0.35 64", cli() + " info --synthetic 0.35 64 --json", cli() + " --help",
        cli() + " classify --help"}) {
    std::string out;
    // In a group, so that stderr (run_command's 2>&1 outside it) still reaches the test.
    EXPECT_NE(test::run_command("( " + cmd + " >/dev/full )", &out), 0) << cmd;
    EXPECT_NE(out.find("writing to standard output failed"), std::string::npos) << cmd << ": " << out;
    // A closed stdout, too; what the command writes must not land in a file it opens.
    EXPECT_NE(test::run_command("( " + cmd + " >&- )", &out), 0) << cmd;
    EXPECT_NE(out.find("writing to standard output failed"), std::string::npos) << cmd << ": " << out;
    // And the same command with a working stdout succeeds.
    EXPECT_EQ(test::run_command(cmd + " >/dev/null", &out), 0) << cmd << ": " << out;
  }
}

TEST(HostileCli, OddModelPathsFailAtOnce) {
  const std::string dir = test::scratch_dir();
  const std::string fifo = dir + "/model.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  std::string out;
  // `timeout` only bounds the test if the bug came back; the command must fail by itself.
  EXPECT_EQ(test::run_command("timeout 20 " + cli() + " info --model " + q(fifo), &out), 1) << out;
  EXPECT_NE(out.find("is a FIFO"), std::string::npos) << out;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  EXPECT_EQ(test::run_command(cli() + " info --model " + q(dir), &out), 1) << out;
  EXPECT_NE(out.find("is a directory"), std::string::npos) << out;
  // OpenVINO IR whose .bin is a directory: said so, not "larger than 4 GiB".
  ASSERT_EQ(test::run_command(cli() + " convert --synthetic 0.35 32 --classes 10 -o " + q(dir + "/m.xml"), &out), 0)
      << out;
  fs::remove(dir + "/m.bin");
  fs::create_directory(dir + "/m.bin");
  EXPECT_EQ(test::run_command(cli() + " info --model " + q(dir + "/m.xml"), &out), 1) << out;
  EXPECT_NE(out.find("m.bin' is a directory"), std::string::npos) << out;
  EXPECT_EQ(out.find("4 GiB"), std::string::npos) << out;
}

TEST(HostileCli, HelpStatesTheRealMaxPixelsDefaults) {
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " serve --help", &out), 0);
  EXPECT_NE(out.find("--max-pixels N        refuse images larger than N pixels (default 40000000)"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("100000000"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(cli() + " classify --help", &out), 0);
  EXPECT_NE(out.find("(default 100000000)"), std::string::npos) << out;
  // (serve_test sends the server an image over the limit and checks its message names it.)
}

}  // namespace
}  // namespace mnv2
