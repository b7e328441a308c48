// The fast executor against the double-precision reference, over the MobileNetV2 family,
// every ISA this CPU has, batch 1 and 3, and several thread counts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "graph/mobilenet_v2.h"
#include "mnv2/mnv2.h"
#include "runtime/cpu.h"
#include "runtime/executor.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using test::ScopedEnv;

using test::IsaVariant;

// Three distinct images, back to back.
std::vector<float> images(const Graph& g, int count) {
  const size_t per = size_t(g.info.height) * g.info.width * g.info.channels;
  std::vector<float> x;
  for (int i = 0; i < count; ++i) {
    auto one = test::random_input(per, uint32_t(1000 + i));
    x.insert(x.end(), one.begin(), one.end());
  }
  return x;
}

// Per width and ISA variant (test_util.h): six resolutions, 1 and 2 threads, batch 3 then 1.
class ExecutorVsReference : public ::testing::TestWithParam<std::tuple<float, IsaVariant>> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(std::get<1>(GetParam())); }
};

TEST_P(ExecutorVsReference, AllResolutionsBatchesThreads) {
  const float width = std::get<0>(GetParam());
  const IsaVariant& v = std::get<1>(GetParam());
  test::IsaScope scope(v);
  for (int res : {96, 128, 160, 192, 224, 161}) {
    SCOPED_TRACE("width " + std::to_string(width) + " res " + std::to_string(res));
    const Graph g = build_mobilenet_v2(width, res, 1001, 7);
    const int classes = g.info.num_classes;
    const std::vector<float> x = images(g, 3);
    const ReferenceResult ref = reference_run(g, x.data(), 3, {g.logits});
    const std::vector<double>& ref_logits = ref.kept.at(g.logits);
    for (int threads : {1, 2}) {
      SCOPED_TRACE(v.name() + " threads " + std::to_string(threads));
      auto ex = Executor::create(g, {threads, v.isa, 3});
      for (int batch : {3, 1}) {
        std::vector<float> probs(size_t(batch) * classes), logits(probs.size());
        ex->run(x.data(), batch, probs.data(), logits.data(), nullptr);
        const double e = test::rel_l2(logits.data(), ref_logits.data(), logits.size());
        const double d = test::max_abs_diff(probs.data(), ref.output.data(), probs.size());
        EXPECT_LE(e, 1e-4) << "batch " << batch;
        EXPECT_LE(d, 1e-5) << "batch " << batch;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Widths, ExecutorVsReference,
    ::testing::Combine(::testing::Values(0.35f, 0.5f, 0.75f, 1.0f, 1.3f, 1.4f),
                       ::testing::ValuesIn(test::fp32_variants())),
    [](const ::testing::TestParamInfo<std::tuple<float, IsaVariant>>& i) {
      return "w" + std::to_string(int(std::get<0>(i.param) * 100 + 0.5f)) + "_" +
             std::get<1>(i.param).name();
    });

class ExecutorIsas : public ::testing::TestWithParam<IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

TEST_P(ExecutorIsas, DeterminismBitIdenticalAcrossThreadCounts) {
  const IsaVariant& v = GetParam();
  test::IsaScope scope(v);
  const Graph g = build_mobilenet_v2(1.0f, 161, 1001, 3);
  const std::vector<float> x = images(g, 2);
  const int classes = g.info.num_classes, fdim = g.info.feature_dim;
  {
    const Isa isa = v.isa;
    std::vector<float> probs1, logits1, feat1;
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(v.name() + " threads " + std::to_string(threads));
      auto ex = Executor::create(g, {threads, isa, 2});
      std::vector<float> probs(size_t(2) * classes), logits(probs.size()),
          feat(size_t(2) * fdim);
      ex->run(x.data(), 2, probs.data(), logits.data(), feat.data());
      if (threads == 1) {
        probs1 = probs;
        logits1 = logits;
        feat1 = feat;
        continue;
      }
      EXPECT_EQ(0, std::memcmp(probs.data(), probs1.data(), probs.size() * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(logits.data(), logits1.data(), logits.size() * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(feat.data(), feat1.data(), feat.size() * sizeof(float)));
    }
  }
}

TEST_P(ExecutorIsas, BatchLargerThanPlannedReplansAndMatchesSingleImages) {
  const IsaVariant& v = GetParam();
  test::IsaScope scope(v);
  const Graph g = build_mobilenet_v2(0.35f, 96, 1001, 5);
  const std::vector<float> x = images(g, 3);
  const size_t per = size_t(96) * 96 * 3;
  const int classes = g.info.num_classes;
  {
    const Isa isa = v.isa;
    auto ex = Executor::create(g, {2, isa, 1});
    std::vector<float> all(size_t(3) * classes), one(static_cast<size_t>(classes));
    ex->run(x.data(), 3, all.data(), nullptr, nullptr);  // beyond max_batch
    for (int i = 0; i < 3; ++i) {
      ex->run(x.data() + i * per, 1, one.data(), nullptr, nullptr);
      // Pixels of one image never mix with another's, and the row tiling may differ
      // between batch sizes only in how rows are grouped, not in each row's reduction.
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + size_t(i) * classes,
                               one.size() * sizeof(float)))
          << v.name() << " image " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, ExecutorIsas, ::testing::ValuesIn(test::fp32_variants()),
                         test::VariantName());

TEST(ExecutorIsaOverride, EnvironmentSelectsTheKernels) {
  const Graph g = build_mobilenet_v2(0.35f, 96, 1001, 1);
  const std::vector<float> x = images(g, 1);
  const ReferenceResult ref = reference_run(g, x.data(), 1);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    ScopedEnv env("MNV2_ISA", isa_name(isa));
    if (!cpu_supports(isa)) {
      EXPECT_THROW(Model::synthetic(0.35f, 96, 1001, 1), Error) << isa_name(isa);
      continue;
    }
    Model m = Model::synthetic(0.35f, 96, 1001, 1, Options{1, Isa::Auto, 1});
    EXPECT_EQ(m.isa(), isa);
    std::vector<float> probs(1001);
    m.run(x.data(), 1, probs.data());
    EXPECT_LE(test::max_abs_diff(probs.data(), ref.output.data(), probs.size()), 1e-5);
    // An explicit Options.isa wins over the environment.
    Model s = Model::synthetic(0.35f, 96, 1001, 1, Options{1, Isa::Scalar, 1});
    EXPECT_EQ(s.isa(), Isa::Scalar);
  }
  ScopedEnv bad("MNV2_ISA", "sse9");
  EXPECT_THROW(Model::synthetic(0.35f, 96, 1001, 1), Error);
}

}  // namespace
}  // namespace mnv2
