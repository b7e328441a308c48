// The AVX-512 kernels built against SIMDe (tests/CMakeLists.txt, kernels/simde_x86.h) are the
// stand-ins for AVX-512 hardware on every other machine, so they must be the same function:
// where the CPU has AVX-512 (VNNI, BF16), the native and emulated builds agree bit for bit,
// from single vector-trait operations on edge values (NaN, overflow, saturating shifts,
// every rounding mode) through each kernel to whole models. And with AVX-512 hidden
// (MNV2_MAX_ISA=avx2, what a machine without it sees), the emulated tables still run.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "graph/mobilenet_v2.h"
#include "isa_probe.h"
#include "kernels/kernels.h"
#include "kernels/qkernels.h"
#include "mnv2/mnv2.h"
#include "quant/calibration.h"
#include "quant/quantize.h"
#include "runtime/cpu.h"
#include "runtime/dispatch.h"
#include "runtime/executor.h"
#include "runtime/qexecutor.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

using test::IsaVariant;

const IsaVariant kNative{Isa::Avx512, false, false}, kNativeVnni{Isa::Avx512, false, true};
const IsaVariant kEmulated{Isa::Avx512, true, false}, kEmulatedVnni{Isa::Avx512, true, true};

#define SKIP_UNLESS_NATIVE_AND_EMULATED(native)  \
  do {                                           \
    MNV2_SKIP_UNLESS_RUNS(native);               \
    MNV2_SKIP_UNLESS_RUNS(kEmulated);            \
  } while (0)

bool same_bits(const void* a, const void* b, size_t bytes) { return std::memcmp(a, b, bytes) == 0; }

// Input words for the probes: random bits, ordinary floats, and the edge values.
std::vector<uint32_t> probe_input(uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint32_t> in(kernels::kProbeIn);
  const float specials[] = {0.f, -0.f, 0.5f, 1.5f, 2.5f, -2.5f, 1e-40f, -1e-42f, 3e9f, -3e9f,
                            2147483520.f, -2147483648.f, 8388609.f, 6.f, 6.0000005f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), std::nanf(""),
                            1.17549435e-38f, 3.4e38f};
  const uint32_t ints[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 31u, 32u, 33u, 255u,
                           0x00FF00FFu, 0x80808080u, 0x7F7F7F7Fu};
  for (size_t i = 0; i < in.size(); ++i) {
    float f;
    switch (g() % 5) {
      case 0: in[i] = g(); break;
      case 1:
        f = std::uniform_real_distribution<float>(-1000.f, 1000.f)(g);
        std::memcpy(&in[i], &f, 4);
        break;
      case 2:
        f = specials[g() % std::size(specials)];
        std::memcpy(&in[i], &f, 4);
        break;
      case 3: in[i] = ints[g() % std::size(ints)]; break;
      default: in[i] = g() % 64; break;  // shift counts, small ints
    }
  }
  return in;
}

using Probe = int (*)(const uint32_t*, uint32_t*, bool*);

bool is_nan(uint32_t w) { return (w & 0x7F800000u) == 0x7F800000u && (w & 0x007FFFFFu) != 0; }

void compare_probes(Probe native, Probe emulated, const char* what) {
  int nans = 0;
  for (int mode : {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    for (uint32_t seed = 1; seed <= 40; ++seed) {
      const std::vector<uint32_t> in = probe_input(seed);
      std::vector<uint32_t> a(kernels::kProbeOut, 0xDEADBEEF), b(a);
      bool nan_any[kernels::kProbeOut / 16] = {}, unused[kernels::kProbeOut / 16] = {};
      std::fesetround(mode);
      const int na = native(in.data(), a.data(), nan_any);
      const int nb = emulated(in.data(), b.data(), unused);
      std::fesetround(FE_TONEAREST);
      ASSERT_EQ(na, nb);
      ASSERT_LE(na, kernels::kProbeOut);
      for (int i = 0; i < na; ++i) {
        if (nan_any[i / 16] && is_nan(a[size_t(i)]) && is_nan(b[size_t(i)])) {
          ++nans;
          continue;
        }
        ASSERT_EQ(a[size_t(i)], b[size_t(i)])
            << what << ": word " << i << " (vector " << i / 16 << ", lane " << i % 16
            << "), seed " << seed << ", rounding mode " << mode;
      }
    }
  }
  std::printf("  %s: %d NaN lanes compared as NaN only\n", what, nans);
}

TEST(EmulatedAvx512, VectorTraitsMatchTheHardware) {
  SKIP_UNLESS_NATIVE_AND_EMULATED(kNative);
  compare_probes(&kernels::avx512::probe_traits, &kernels::avx512_emu::probe_traits,
                 "vec.h / qvec.h");
}

TEST(EmulatedAvx512, VnniDotProductMatchesTheHardware) {
  SKIP_UNLESS_NATIVE_AND_EMULATED(kNativeVnni);
  compare_probes(&kernels::avx512::probe_vnni, &kernels::avx512_emu::probe_vnni, "vpdpbusd");
}

TEST(EmulatedAvx512, Bf16InstructionsMatchTheHardware) {
  SKIP_UNLESS_NATIVE_AND_EMULATED(kNative);
  if (!cpu_info().avx512_bf16) GTEST_SKIP() << "this CPU lacks AVX512_BF16";
  compare_probes(&kernels::avx512::probe_bf16, &kernels::avx512_emu::probe_bf16,
                 "vdpbf16ps / vcvtne2ps2bf16 / vcvtneps2bf16");
}

// ---- kernels -----------------------------------------------------------------------------

std::vector<float> rnd(size_t n, uint32_t seed, float scale = 1.f) {
  std::vector<float> v = test::random_input(n, seed);
  for (float& x : v) x *= scale;
  return v;
}

TEST(EmulatedAvx512, Fp32KernelsMatchNativeBitForBit) {
  SKIP_UNLESS_NATIVE_AND_EMULATED(kNative);
  const kernels::KernelTable* t[2] = {&kNative.table(), &kEmulated.table()};
  ASSERT_EQ(t[0]->gemm.mr, t[1]->gemm.mr);
  ASSERT_EQ(t[0]->gemm.nr, t[1]->gemm.nr);
  const int nr = t[0]->gemm.nr;
  uint32_t seed = 1;
  for (int k : {1, 5, 33}) {
    for (int mr = 1; mr <= t[0]->gemm.mr; ++mr) {
      for (int ncols : {1, 7, 16, 17, 31, 32}) {
        for (int act = 0; act < 3; ++act) {
          const int64_t lda = k + 1, ldc = nr + 3;
          const auto a = rnd(size_t(mr * lda), ++seed, 4.f), b = rnd(size_t(k * nr), ++seed),
                     bias = rnd(size_t(nr), ++seed), res = rnd(size_t(mr * ldc), ++seed);
          std::vector<float> c[2];
          for (int i = 0; i < 2; ++i) {
            c[i].assign(size_t(mr * ldc), -9.f);
            kernels::GemmTile g;
            g.mr = mr;
            g.nr = ncols;
            g.k = k;
            g.a = a.data();
            g.lda = lda;
            g.b = b.data();
            g.bias = bias.data();
            g.residual = act == 1 ? res.data() : nullptr;
            g.ldr = ldc;
            g.c = c[i].data();
            g.ldc = ldc;
            g.act = Activation(act);
            t[i]->gemm.tile(g);
          }
          ASSERT_TRUE(same_bits(c[0].data(), c[1].data(), c[0].size() * 4))
              << "gemm k " << k << " mr " << mr << " nr " << ncols << " act " << act;
        }
      }
    }
    const auto a = rnd(size_t(k), ++seed), b = rnd(size_t(4 * k * nr), ++seed),
               bias = rnd(size_t(4 * nr), ++seed);
    std::vector<float> c[2];
    for (int i = 0; i < 2; ++i) {
      c[i].assign(size_t(4 * nr), 0.f);
      kernels::GemmTile g;
      g.mr = 1;
      g.nr = nr;
      g.k = k;
      g.a = a.data();
      g.lda = k;
      g.b = b.data();
      g.bias = bias.data();
      g.c = c[i].data();
      g.act = Activation::Relu6;
      t[i]->gemm.row4(g);
    }
    ASSERT_TRUE(same_bits(c[0].data(), c[1].data(), c[0].size() * 4)) << "gemm_row4 k " << k;
  }
  struct Dw {
    int h, w, c, s, pt, pl;
  };
  for (const Dw d : {Dw{1, 1, 7, 1, 1, 1}, Dw{9, 7, 33, 2, 1, 1}, Dw{8, 10, 17, 2, 0, 0},
                     Dw{5, 13, 100, 1, 1, 1}, Dw{7, 7, 130, 1, 1, 1}, Dw{12, 11, 64, 1, 1, 1}}) {
    const int oh = (d.h + 2 - 3) / d.s + 1, ow = (d.w + 2 - 3) / d.s + 1;
    const auto x = rnd(size_t(d.h * d.w * d.c), ++seed, 5.f), w = rnd(size_t(9 * d.c), ++seed),
               bias = rnd(size_t(d.c), ++seed);
    std::vector<float> y[2];
    for (int i = 0; i < 2; ++i) {
      y[i].assign(size_t(oh * ow * d.c), -9.f);
      kernels::DwArgs a;
      a.in = x.data();
      a.ih = d.h;
      a.iw = d.w;
      a.c = d.c;
      a.out = y[i].data();
      a.oh = oh;
      a.ow = ow;
      a.sh = a.sw = d.s;
      a.pad_top = d.pt;
      a.pad_left = d.pl;
      a.w = w.data();
      a.bias = bias.data();
      a.act = Activation::Relu6;
      for (int oy = 0; oy < oh; ++oy) t[i]->dw3x3_row(a, oy);
    }
    ASSERT_TRUE(same_bits(y[0].data(), y[1].data(), y[0].size() * 4))
        << "dw3x3 " << d.h << "x" << d.w << "x" << d.c << " s" << d.s;
  }
  for (int c : {1, 15, 17, 100, 1001}) {
    const int hw = 7;
    const auto x = rnd(size_t(hw * c), ++seed), z = rnd(size_t(hw * c), ++seed),
               w = rnd(size_t(c), ++seed), b = rnd(size_t(c), ++seed);
    std::vector<float> pool[2], sum[2], aff[2];
    for (int i = 0; i < 2; ++i) {
      pool[i].assign(size_t(c), 0.f);
      sum[i].assign(size_t(hw * c), 0.f);
      aff[i].assign(size_t(hw * c), 0.f);
      t[i]->global_avg_pool(x.data(), pool[i].data(), hw, c);
      t[i]->add(x.data(), z.data(), sum[i].data(), int64_t(hw) * c);
      t[i]->channel_affine(x.data(), aff[i].data(), hw, c, w.data(), b.data());
    }
    EXPECT_TRUE(same_bits(pool[0].data(), pool[1].data(), pool[0].size() * 4)) << "pool " << c;
    EXPECT_TRUE(same_bits(sum[0].data(), sum[1].data(), sum[0].size() * 4)) << "add " << c;
    EXPECT_TRUE(same_bits(aff[0].data(), aff[1].data(), aff[0].size() * 4)) << "affine " << c;
  }
}

// Random per-channel biases and output stages (TFLite multipliers / shifts and float
// scales) for n channels.
struct RandomRequant {
  std::vector<int32_t> bias, mult, shift;
  std::vector<float> scale;
  RandomRequant(std::mt19937& g, int n) {
    for (int j = 0; j < n; ++j) {
      bias.push_back(int32_t(g() % 40001) - 20000);
      mult.push_back(int32_t((1u << 30) + g() % (1u << 30)));
      shift.push_back(-int32_t(6 + g() % 10));
      scale.push_back(std::ldexp(1.f + float(g() % 1000) / 1000.f, -int(8 + g() % 8)));
    }
  }
  kernels::QRequant view(bool float_mode) const {
    return {mult.data(), shift.data(), true, 3, 0, 255, float_mode ? scale.data() : nullptr};
  }
};

TEST(EmulatedAvx512, Int8GemmsMatchNativeBitForBit) {
  SKIP_UNLESS_NATIVE_AND_EMULATED(kNative);
  std::vector<std::pair<const kernels::QGemmKernel*, const kernels::QGemmKernel*>> pairs = {
      {&kNative.qtable().gemm16, &kEmulated.qtable().gemm16}};
  if (kNativeVnni.unavailable().empty()) {
    pairs.push_back({&kNativeVnni.qtable().gemm8, &kEmulatedVnni.qtable().gemm8});
    pairs.push_back({&kNativeVnni.qtable().gemm8u, &kEmulatedVnni.qtable().gemm8u});
  }
  // ADD comes from the AVX2 build in both tables (see avx512/qkernels.cpp).
  EXPECT_EQ(kNative.qtable().add, kEmulated.qtable().add);
  std::mt19937 g(7);
  for (const auto& [kn, ke] : pairs) {
    ASSERT_TRUE(kn->available() && ke->available());
    const kernels::QLayout layout = kn->layout;
    for (int m : {1, 3, 8, 9, 17})
      for (int n : {1, 15, 33, 64})
        for (int k : {1, 3, 4, 27, 96})
          for (bool float_mode : {false, true}) {
            std::vector<uint8_t> a(size_t(m * k));
            for (auto& v : a) v = uint8_t(g());
            std::vector<int16_t> w(size_t(n * k));
            // Pairs16 [-255, 255], Quads8 [-128, 127], QuadsU8 [-255, 0] or [0, 255].
            for (auto& v : w)
              v = int16_t(layout == kernels::QLayout::Pairs16  ? int(g() % 511) - 255
                          : layout == kernels::QLayout::Quads8 ? int(g() % 256) - 128
                                                               : int(g() % 256) - 255 * (n % 2));
            const RandomRequant r(g, n);
            const kernels::QRequant rq = r.view(float_mode);
            std::vector<uint8_t> c[2];
            for (int i = 0; i < 2; ++i) {
              const kernels::QGemmKernel& kern = i == 0 ? *kn : *ke;
              std::vector<uint8_t> buf(size_t(kern.packed_bytes(n, k)) + 64);
              void* packed = reinterpret_cast<void*>(
                  (reinterpret_cast<uintptr_t>(buf.data()) + 63) / 64 * 64);
              kernels::qgemm_pack(kern, w.data(), k, n, k, r.bias.data(), 17, rq, packed);
              c[i].assign(size_t(m * n), 0xA5);
              kernels::QGemm q;
              q.m = m;
              q.n = n;
              q.k = k;
              q.a = a.data();
              q.lda = k;
              q.b = packed;
              q.c = c[i].data();
              q.ldc = n;
              kern.run(q);
            }
            ASSERT_EQ(c[0], c[1]) << int(layout) << " layout, m " << m << " n " << n
                                  << " k " << k << (float_mode ? " float requant" : "");
          }
  }
}

TEST(EmulatedAvx512, Int8DepthwiseMatchesNativeBitForBit) {
  SKIP_UNLESS_NATIVE_AND_EMULATED(kNative);
  std::vector<std::pair<const kernels::QKernelTable*, const kernels::QKernelTable*>> pairs = {
      {&kNative.qtable(), &kEmulated.qtable()}};
  if (kNativeVnni.unavailable().empty()) pairs.push_back({&kNativeVnni.qtable(), &kEmulatedVnni.qtable()});
  std::mt19937 g(11);
  for (const auto& [tn, te] : pairs)
    for (int c : {5, 16, 40})
      for (int s : {1, 2})
        for (bool float_mode : {false, true}) {
          const int ih = 6, iw = 9, oh = (ih + 2 - 3) / s + 1, ow = (iw + 2 - 3) / s + 1;
          std::vector<uint8_t> in(size_t(ih * iw * c));
          for (auto& v : in) v = uint8_t(g());
          std::vector<int16_t> w(size_t(9 * c));
          for (auto& v : w) v = int16_t(int(g() % 511) - 255);
          const RandomRequant r(g, c);
          std::vector<uint8_t> blob(size_t(kernels::qdw3x3_packed_bytes(c)));
          kernels::qdw3x3_pack(w.data(), c, r.bias.data(), 77, r.view(float_mode), blob.data());
          std::vector<uint8_t> out[2];
          for (int i = 0; i < 2; ++i) {
            out[i].assign(size_t(oh * ow * c), 0xA5);
            kernels::QDw d;
            d.in = in.data();
            d.ih = ih, d.iw = iw, d.c = c;
            d.out = out[i].data();
            d.oh = oh, d.ow = ow;
            d.sh = d.sw = s;
            d.pad_top = d.pad_left = 1;
            d.w = blob.data();
            for (int oy = 0; oy < oh; ++oy) (i == 0 ? tn : te)->dw3x3_row(d, oy);
          }
          ASSERT_EQ(out[0], out[1]) << "c " << c << " stride " << s << (float_mode ? " float" : "");
        }
}

// ---- whole models ------------------------------------------------------------------------

std::vector<float> run_fp32(const Graph& g, const IsaVariant& v, const std::vector<float>& x,
                            int batch) {
  test::IsaScope scope(v);
  EXPECT_EQ(&kernel_table(Isa::Avx512), &v.table()) << v.name();
  auto ex = Executor::create(g, {2, Isa::Avx512, batch});
  std::vector<float> probs(size_t(batch) * size_t(g.info.num_classes));
  ex->run(x.data(), batch, probs.data(), nullptr, nullptr);
  return probs;
}

Graph quantized_model() {
  const Graph g0 = build_mobilenet_v2(0.35f, 96, 1001, 5);
  quant::GraphObserver obs(g0);
  const std::vector<float> cal = test::random_input(size_t(96) * 96 * 3, 40);
  obs.observe(cal.data(), 1);
  Graph g = g0;
  quant::quantize_graph(g, obs.stats(), {});
  return g;
}

std::vector<float> run_int8(const Graph& g, const IsaVariant& v, const std::vector<float>& x,
                            int batch, Int8Rounding r) {
  test::IsaScope scope(v);
  EXPECT_EQ(&qkernel_table(Isa::Avx512), &v.qtable()) << v.name();
  auto ex = make_int8_executor(g, {2, Isa::Avx512, batch, r});
  std::vector<float> probs(size_t(batch) * 1001), logits(probs.size());
  ex->run(x.data(), batch, probs.data(), logits.data(), nullptr);
  probs.insert(probs.end(), logits.begin(), logits.end());
  return probs;
}

TEST(EmulatedAvx512, WholeModelsMatchNativeBitForBit) {
  SKIP_UNLESS_NATIVE_AND_EMULATED(kNative);
  const Graph g = build_mobilenet_v2(0.5f, 112, 1001, 3);
  const std::vector<float> x = test::random_input(size_t(112) * 112 * 3 * 2, 5);
  const std::vector<float> a = run_fp32(g, kNative, x, 2), b = run_fp32(g, kEmulated, x, 2);
  EXPECT_TRUE(same_bits(a.data(), b.data(), a.size() * 4)) << "fp32 0.5/112";

  const Graph q = quantized_model();
  const std::vector<float> xq = test::random_input(size_t(96) * 96 * 3 * 2, 6);
  for (Int8Rounding r : {Int8Rounding::Tflite, Int8Rounding::Xnnpack}) {
    EXPECT_EQ(run_int8(q, kNative, xq, 2, r), run_int8(q, kEmulated, xq, 2, r))
        << "int8 pairs16, " << int8_rounding_name(r);
    if (kNativeVnni.unavailable().empty())
      EXPECT_EQ(run_int8(q, kNativeVnni, xq, 2, r), run_int8(q, kEmulatedVnni, xq, 2, r))
          << "int8 vnni, " << int8_rounding_name(r);
  }
}

// What a machine without AVX-512 sees: the native variants skip with the reason, the
// emulated ones run through the public API and agree with the reference.
TEST(EmulatedAvx512, RunWhereAvx512IsHidden) {
  MNV2_SKIP_UNLESS_RUNS(kEmulated);
  test::ScopedEnv env("MNV2_MAX_ISA", "avx2");
  EXPECT_FALSE(cpu_supports(Isa::Avx512));
  EXPECT_FALSE(cpu_has_vnni());
  EXPECT_EQ(detect_isa(), Isa::Avx2);
  EXPECT_THROW(Model::synthetic(0.35f, 96, 1001, 1, Options{1, Isa::Avx512, 1}), Error);
  for (const IsaVariant& v : {kNative, kNativeVnni}) {
    const std::string why = v.unavailable();
    EXPECT_NE(why.find(cpu_hardware_supports(Isa::Avx512) ? "MNV2_MAX_ISA" : "lacks"),
              std::string::npos)
        << why;
  }
  const Graph g = build_mobilenet_v2(0.35f, 96, 1001, 1);
  const std::vector<float> x = test::random_input(size_t(96) * 96 * 3, 2);
  const ReferenceResult ref = reference_run(g, x.data(), 1);
  for (const IsaVariant& v : {kEmulated, kEmulatedVnni}) {
    ASSERT_EQ(v.unavailable(), "");
    test::IsaScope scope(v);
    EXPECT_EQ(&kernel_table(Isa::Avx512), &v.table());
    EXPECT_EQ(&qkernel_table(Isa::Avx512), &v.qtable());
    EXPECT_TRUE(cpu_supports(Isa::Avx512));
    EXPECT_EQ(cpu_has_vnni(), v.vnni);
    Model m = Model::synthetic(0.35f, 96, 1001, 1, Options{1, Isa::Avx512, 1});
    EXPECT_EQ(m.isa(), Isa::Avx512);
    std::vector<float> probs(1001);
    m.run(x.data(), 1, probs.data());
    EXPECT_LE(test::max_abs_diff(probs.data(), ref.output.data(), probs.size()), 1e-5) << v.name();
  }
  EXPECT_FALSE(cpu_supports(Isa::Avx512));  // the scope is gone
}

}  // namespace
}  // namespace mnv2
