// Deployment manifests (deploy/**/*.yaml) parse and carry the fields Kubernetes / KServe
// need; checked by tests/deploy/check_manifests.py with PyYAML.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace {

TEST(ServeDeploy, ManifestsParseWithRequiredFields) {
  const std::filesystem::path root = std::filesystem::path(__FILE__).parent_path().parent_path();
  if (!std::filesystem::exists(root / "deploy")) GTEST_SKIP() << "source tree not available at " << root;
  std::string out;
  if (mnv2::test::run_command("/usr/bin/python3 -c 'import yaml' 2>&1", &out) != 0)
    GTEST_SKIP() << "python3-yaml not installed";
  const int rc = mnv2::test::run_command(
      "/usr/bin/python3 " + (root / "tests/deploy/check_manifests.py").string() + " " + root.string() + " 2>&1", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ServingRuntime"), std::string::npos) << out;
  EXPECT_NE(out.find("HorizontalPodAutoscaler"), std::string::npos) << out;
}

}  // namespace
