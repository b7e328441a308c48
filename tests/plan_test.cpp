// One plan for every precision: the fp32 and int8 executors of one quantized model run the
// same plan (steps, fused chains, bands, row split, buffers), the int8 executor gets the
// same banded, row-split execution as fp32 bit for bit against the integer reference, and
// both report the same per-step profile table.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "formats/tflite.h"
#include "graph/mobilenet_v2.h"
#include "quant/calibration.h"
#include "quant/quantize.h"
#include "runtime/executor.h"
#include "runtime/plan.h"
#include "runtime/qexecutor.h"
#include "runtime/qreference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using test::ScopedEnv;

// g calibrated on `images` random inputs and quantized by mnv2's own quantizer.
Graph quantized(const Graph& g, int images = 2) {
  quant::GraphObserver obs(g);
  const size_t per = size_t(g.info.height) * g.info.width * g.info.channels;
  for (int i = 0; i < images; ++i) {
    const std::vector<float> x = test::random_input(per, uint32_t(300 + i));
    obs.observe(x.data(), 1);
  }
  Graph q = g;
  quant::quantize_graph(q, obs.stats(), {});
  return q;
}

void expect_same_plan(const Plan& a, const Plan& b, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    const PlanStep &x = a.steps[i], &y = b.steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.node, y.node);
    EXPECT_EQ(x.in, y.in);
    EXPECT_EQ(x.in2, y.in2);
    EXPECT_EQ(x.out, y.out);
    EXPECT_EQ(x.add_node, y.add_node);
    EXPECT_EQ(x.residual, y.residual);
    EXPECT_EQ(x.xs, y.xs);
    EXPECT_EQ(x.ys, y.ys);
    EXPECT_EQ(x.k, y.k);
    EXPECT_EQ(x.cout, y.cout);
    EXPECT_EQ(x.items, y.items);
    EXPECT_EQ(x.chain, y.chain);
    EXPECT_EQ(x.macs, y.macs);
    EXPECT_EQ(x.act_read + x.act_written, y.act_read + y.act_written);
  }
  ASSERT_EQ(a.chains.size(), b.chains.size());
  for (size_t i = 0; i < a.chains.size(); ++i) {
    const Chain &x = a.chains[i], &y = b.chains[i];
    SCOPED_TRACE("chain " + std::to_string(i));
    EXPECT_EQ(x.producer, y.producer);
    EXPECT_EQ(x.dw, y.dw);
    EXPECT_EQ(x.consumer, y.consumer);
    EXPECT_EQ(x.band_rows, y.band_rows);
    EXPECT_EQ(x.window_rows, y.window_rows);
    EXPECT_EQ(x.split_rows, y.split_rows);
    EXPECT_EQ(x.window_elems, y.window_elems);
    EXPECT_EQ(x.dw_offset, y.dw_offset);
  }
  EXPECT_EQ(a.root, b.root);
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.last, b.last);
  EXPECT_EQ(a.windowed, b.windowed);
  EXPECT_EQ(a.window_elems, b.window_elems);
}

TEST(Plan, Fp32AndInt8FormsOfOneModelRunTheSamePlan) {
  // 128x128: chains with tall (split by rows) and short (shared bands) depthwise inputs.
  const Graph q = quantized(build_mobilenet_v2(0.35f, 128, 1001, 3));
  ASSERT_TRUE(q.quantized());
  Graph shaped = q;
  shaped.infer_shapes(1);
  int depthwise = 0, adds = 0;
  for (const Node& n : q.nodes) {
    depthwise += n.op == OpType::DepthwiseConv2D;
    adds += n.op == OpType::Add;
  }
  ASSERT_EQ(depthwise, 17);
  ASSERT_EQ(adds, 10);
  for (int threads : {1, 2, 3}) {
    const std::string t = "threads " + std::to_string(threads);
    const ExecutorOptions o{threads, detect_isa(), 2};
    const std::unique_ptr<Executor> f = Executor::create(q, o);
    const std::unique_ptr<Executor> i = make_int8_executor(q, o);
    ASSERT_NE(f->execution_plan(), nullptr);
    ASSERT_NE(i->execution_plan(), nullptr);
    const Plan& fp = *f->execution_plan();
    expect_same_plan(fp, *i->execution_plan(), "fp32 vs int8, " + t);
    // ... and it is the planner's plan for the graph, with nothing decided by an executor.
    expect_same_plan(fp, make_plan(shaped, plan_options_from_env(threads)), "planner, " + t);

    // What the plan holds for MobileNetV2: every depthwise layer runs fused with its
    // producer (the expansion, or the stem convolution) and its projection, each residual
    // Add is fused into its projection, and chains on tall inputs split by rows.
    ASSERT_EQ(fp.chains.size(), size_t(17)) << t;
    int split = 0, fused_adds = 0;
    for (const Chain& c : fp.chains) {
      EXPECT_GE(c.producer, 0);
      EXPECT_GE(c.consumer, 0);
      EXPECT_GE(c.band_rows, 1);
      const PlanStep& d = fp.steps[size_t(c.dw)];
      EXPECT_LE(c.band_rows, d.ys.h);
      EXPECT_EQ(c.split_rows, threads > 1 && d.xs.h >= 28) << d.xs.h;
      split += c.split_rows;
    }
    for (const PlanStep& s : fp.steps) fused_adds += s.add_node >= 0;
    EXPECT_EQ(fused_adds, 10) << t;
    EXPECT_EQ(split > 0, threads > 1) << t;
    EXPECT_GT(fp.chains[0].band_rows, 0);

    // One profile table: the same rows (name, kind, band, MACs) from both executors.
    const ExecutorProfile pf = f->profile(), pi = i->profile();
    ASSERT_EQ(pf.steps.size(), pi.steps.size());
    for (size_t k = 0; k < pf.steps.size(); ++k) {
      EXPECT_EQ(pf.steps[k].name, pi.steps[k].name);
      EXPECT_EQ(pf.steps[k].kind, pi.steps[k].kind);
      EXPECT_EQ(pf.steps[k].band, pi.steps[k].band);
      EXPECT_EQ(pf.steps[k].macs, pi.steps[k].macs);
      // int8 activations are a quarter of the fp32 bytes.
      EXPECT_EQ(pf.steps[k].activation_bytes, 4 * pi.steps[k].activation_bytes);
      EXPECT_GT(pi.steps[k].activation_bytes, 0);
    }
  }
}

// The int8 executor through the plan's fused chains with tiny bands (many bands per
// layer, windows that slide), chains split by rows over the threads and chains whose bands
// the threads share, split batches: always the integer reference's bits, on every int8
// kernel table (test_util.h: IsaVariant).
class PlanInt8 : public ::testing::TestWithParam<test::IsaVariant> {
 protected:
  void SetUp() override { MNV2_SKIP_UNLESS_RUNS(GetParam()); }
};

TEST_P(PlanInt8, BandsAndRowSplitEqualTheIntegerReference) {
  test::IsaScope scope(GetParam());
  const Graph q = quantized(build_mobilenet_v2(0.35f, 96, 1001, 7));
  const size_t per = size_t(96) * 96 * 3;
  const int classes = q.node(q.output).shape.c;
  std::vector<float> x;
  for (uint32_t i = 0; i < 3; ++i) {
    const std::vector<float> v = test::random_input(per, 70 + i);
    x.insert(x.end(), v.begin(), v.end());
  }
  std::vector<uint8_t> xq(x.size());
  // The executors below run the default rounding, XNNPACK's.
  quantize_input(QRequantMode::Xnnpack, q.node(q.input).out_q, x.data(), xq.data(),
                 int64_t(x.size()));
  const QReferenceResult ref = qreference_run(q, xq.data(), 3, {q.logits}, QRequantMode::Xnnpack);
  for (const char* band : {"1", "3000", "0"}) {
    ScopedEnv env("MNV2_BAND_BYTES", band);
    for (const char* split : {"1", "100000"}) {
      ScopedEnv split_env("MNV2_SPLIT_MIN_ROWS", split);
      for (const test::EngineCase& e : test::engine_cases(GetParam())) {
        SCOPED_TRACE(std::string("band bytes ") + band + ", split from " + split + " rows, " +
                     isa_name(e.isa) + ", threads " + std::to_string(e.threads) + ", batch " +
                     std::to_string(e.batch));
        const std::unique_ptr<Executor> ex = make_int8_executor(q, {e.threads, e.isa, 3});
        if (std::string(band) == "0")
          EXPECT_TRUE(ex->execution_plan()->chains.empty());
        else
          EXPECT_EQ(ex->execution_plan()->chains.size(), size_t(17));
        std::vector<float> logits(size_t(e.batch) * classes);
        ex->run(x.data(), e.batch, nullptr, logits.data(), nullptr);
        const QuantParams lq = q.node(q.logits).out_q;
        int bad = 0;
        for (size_t k = 0; k < logits.size(); ++k)
          bad += logits[k] != dequantize(lq, ref.kept.at(q.logits)[k]);
        EXPECT_EQ(bad, 0);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, PlanInt8, ::testing::ValuesIn(test::int8_variants()),
                         test::VariantName());

// mnv2 bench --per-layer on an int8 model: the fp32 table (every step, MACs adding up to
// the model's, bytes, a roofline verdict), timed by the int8 executor.
TEST(Plan, BenchPerLayerProfilesInt8Models) {
  const std::string dir = test::make_scratch_dir("mnv2_plan_");
  const std::string path = dir + "/q.tflite";
  TfliteWriteOptions wo;
  wo.int8 = true;
  test::write_file(path, write_tflite(quantized(build_mobilenet_v2(0.35f, 96, 1001, 2)), wo));
  for (int threads : {1, 2}) {
    std::string out;
    ASSERT_EQ(test::run_command(test::cli_path() + " bench --model " + path + " --threads " +
                                    std::to_string(threads) +
                                    " --iterations 4 --warmup 1 --json --per-layer "
                                    "--peak-gmacs 100 --cache-gbs 40 --mem-gbs 10",
                                &out),
              0)
        << out;
    EXPECT_NE(out.find("\"precision\":\"int8\""), std::string::npos) << out;
    const size_t layers = out.find("\"per_layer\":");
    ASSERT_NE(layers, std::string::npos) << out;
    int rows = 0, dw = 0, bound = 0;
    double macs = 0;
    for (size_t p = out.find("{\"name\":", layers); p != std::string::npos;
         p = out.find("{\"name\":", p + 1)) {
      ++rows;
      const size_t m = out.find("\"macs\":", p);
      macs += std::strtod(out.c_str() + m + 7, nullptr);
      dw += out.compare(out.find("\"op\":\"", p) + 6, 5, "dw3x3") == 0;
      const size_t b = out.find("\"bound\":\"", p);
      bound += out.compare(b + 9, 7, "compute") == 0 || out.compare(b + 9, 6, "memory") == 0;
    }
    EXPECT_GE(rows, 50) << out;
    EXPECT_EQ(dw, 17);
    EXPECT_EQ(bound, rows);
    const size_t total = out.find("\"macs\":");
    EXPECT_EQ(macs, std::strtod(out.c_str() + total + 7, nullptr));
  }
  // MNV2_PROFILE=1 prints the same table for int8.
  std::string out;
  ASSERT_EQ(test::run_command("MNV2_PROFILE=1 " + test::cli_path() + " bench --model " + path +
                                  " --threads 1 --iterations 2 --warmup 0",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("mnv2 profile: int8"), std::string::npos) << out;
  EXPECT_NE(out.find("dw3x3"), std::string::npos) << out;
  EXPECT_NE(out.find("GMAC/s"), std::string::npos) << out;
}

}  // namespace
}  // namespace mnv2
