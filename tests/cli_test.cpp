#include <gtest/gtest.h>

#include "test_util.h"

namespace mnv2 {
namespace {

std::string cli() { return test::cli_path(); }

TEST(CliInfo, SyntheticTotalsAreTheModelCard) {
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " info --synthetic 1.4 224", &out), 0) << out;
  EXPECT_NE(out.find("6,086,601 params"), std::string::npos) << out;
  EXPECT_NE(out.find("582,197,616 MACs"), std::string::npos) << out;
  EXPECT_NE(out.find("MobilenetV2/expanded_conv_16/project"), std::string::npos);
  EXPECT_NE(out.find("class 0 = background"), std::string::npos);
}

TEST(CliInfo, Json) {
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " info --synthetic 1.0 224 --json", &out), 0) << out;
  EXPECT_NE(out.find("\"params\":3489097"), std::string::npos) << out;
  EXPECT_NE(out.find("\"feature_dim\":1280"), std::string::npos) << out;
}

TEST(CliInfo, BadArgumentsFailClearly) {
  std::string out;
  EXPECT_EQ(test::run_command(cli() + " info --synthetic 1.4", &out), 1);
  EXPECT_NE(out.find("resolution"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli() + " info --synthetic abc 224", &out), 1);
  EXPECT_NE(out.find("width"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli() + " info --synthetic 1.0 224 --bogus 1", &out), 1);
  EXPECT_NE(out.find("unknown option --bogus"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli() + " info /nonexistent/model.tflite", &out), 1);
  EXPECT_NE(out.find("/nonexistent/model.tflite"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli() + " frobnicate", &out), 2);
  EXPECT_NE(out.find("unknown command"), std::string::npos) << out;
}

TEST(CliBench, JsonReport) {
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " bench --synthetic 0.35 96 --iterations 3 --warmup 1 "
                                      "--threads 1 --batch 2 --json",
                              &out),
            0)
      << out;
  for (const char* key : {"\"load_ms\"", "\"first_inference_ms\"", "\"p50\"", "\"p90\"",
                          "\"p99\"", "\"throughput_ips\"", "\"peak_rss_mib\"", "\"batch\":2",
                          "\"threads\":1"})
    EXPECT_NE(out.find(key), std::string::npos) << key << " missing in " << out;
}

TEST(CliHelp, EveryCommandHasHelp) {
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " --help", &out), 0);
  for (const char* cmd : {"info", "bench"}) {
    std::string h;
    EXPECT_EQ(test::run_command(cli() + " " + cmd + " --help", &h), 0) << cmd;
    EXPECT_NE(h.find("usage: mnv2 " + std::string(cmd)), std::string::npos) << h;
  }
}

// --int8-rounding: documented wherever --precision is, with its default (xnnpack, what
// TFLite CPU builds run), reported, and checked.
TEST(CliInt8Rounding, HelpReportAndBadValue) {
  for (const char* cmd : {"classify", "bench", "eval", "embed", "serve", "info"}) {
    std::string h;
    EXPECT_EQ(test::run_command(cli() + " " + cmd + " --help", &h), 0) << cmd;
    EXPECT_NE(h.find("--int8-rounding"), std::string::npos) << cmd << ": " << h;
    EXPECT_NE(h.find("xnnpack (default)"), std::string::npos) << cmd << ": " << h;
  }
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " info --synthetic 0.35 96 --json --int8-rounding xnnpack",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("\"int8_rounding\":null"), std::string::npos) << out;  // fp32 model
  EXPECT_EQ(test::run_command(cli() + " bench --synthetic 0.35 96 --int8-rounding fast", &out), 1);
  EXPECT_NE(out.find("--int8-rounding must be tflite or xnnpack"), std::string::npos) << out;
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "shared test data not found (set MNV2_TEST_DATA): the "
                                    "default on a quantized model is not checked";
  const std::string coral = " info --model " + data + "/coral/mobilenet_v2_1.0_224_quant.tflite";
  ASSERT_EQ(test::run_command(cli() + coral + " --json", &out), 0) << out;
  EXPECT_NE(out.find("\"int8_rounding\":\"xnnpack\""), std::string::npos) << out;
  ASSERT_EQ(test::run_command(cli() + coral + " --json --int8-rounding tflite", &out), 0) << out;
  EXPECT_NE(out.find("\"int8_rounding\":\"tflite\""), std::string::npos) << out;
}

}  // namespace
}  // namespace mnv2
