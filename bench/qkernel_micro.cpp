// Integer kernel microbenchmark: the int8 GEMM (QGemmKernel::run over a block of rows and
// all panels) against the fp32 GEMM tiles doing the same block, at MobileNetV2-1.4 1x1
// layer shapes, plus the int8 3x3 depthwise row and ADD. Operands sit in L1/L2 as in the
// executor's bands. Timed in thread CPU time (the machine is shared), best of several
// interleaved blocks.
//
// Usage: qkernel_micro [scalar|avx2|avx512]   (default: best the CPU supports)
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/fma_peak.h"
#include "kernels/kernels.h"
#include "kernels/qkernels.h"
#include "runtime/arena.h"
#include "runtime/cpu.h"
#include "runtime/dispatch.h"

namespace {

using namespace mnv2;

double cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// Best rate in G-units/s of fn (which does `work` units) over interleaved blocks.
double best_rate(const std::function<void()>& fn, double work, double block_s = 0.02) {
  int reps = 1;
  for (;;) {  // calibrate to about block_s per block
    const double t0 = cpu_s();
    for (int r = 0; r < reps; ++r) fn();
    if (cpu_s() - t0 > block_s || reps > (1 << 24)) break;
    reps *= 2;
  }
  double best = 0;
  for (int b = 0; b < 7; ++b) {
    const double t0 = cpu_s();
    for (int r = 0; r < reps; ++r) fn();
    best = std::max(best, work * reps / (cpu_s() - t0) / 1e9);
  }
  return best;
}

uint32_t g_seed = 7;
uint32_t next() { return g_seed = g_seed * 1664525u + 1013904223u; }

// 64-byte aligned byte buffer.
struct Bytes {
  std::vector<uint8_t> v;
  uint8_t* p = nullptr;
  explicit Bytes(size_t n) : v(n + 64) {
    p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(v.data()) + 63) / 64 * 64);
  }
};

}  // namespace

int main(int argc, char** argv) {
  Isa isa = cpu_supports(Isa::Avx512) ? Isa::Avx512
            : cpu_supports(Isa::Avx2) ? Isa::Avx2
            : cpu_supports(Isa::Neon) ? Isa::Neon
                                      : Isa::Scalar;
  if (argc > 1) {
    const std::string s = argv[1];
    isa = Isa::Auto;
    for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
      if (s == isa_name(i)) isa = i;
    if (isa == Isa::Auto || !cpu_supports(isa)) {
      std::fprintf(stderr, "qkernel_micro: ISA '%s' unknown or not supported here\n", argv[1]);
      return 2;
    }
  }
  const kernels::QKernelTable& qt = qkernel_table(isa);
  const kernels::KernelTable& ft = kernel_table(isa);
  std::printf("ISA %s: int8 gemm16 tile %dx%d%s, fp32 tile %dx%d\n", isa_name(isa),
              qt.gemm16.mr, qt.gemm16.nr,
              qt.gemm8.available() ? " (+ VNNI gemm8)" : "", ft.gemm.mr, ft.gemm.nr);
#if defined(__x86_64__)
  if (cpu_supports(Isa::Avx2)) {
    int32_t isink = 0;
    float fsink = 0;
    const double mp = best_rate([&] { kernels::madd_peak_avx2(200000, &isink); }, 200000.0 * 192);
    const double fp = best_rate([&] { kernels::fma_peak_avx2(200000, &fsink); }, 200000.0 * 96);
    std::printf("peaks (1 core): vpmaddwd+vpaddd %.1f GMAC/s, fp32 FMA %.1f GMAC/s\n", mp, fp);
  }
#endif
  std::printf("int8 = Pairs16 kernel with TFLite requantization; +xnn = float (XNNPACK)\n"
              "requantization; int8x8 = Quads8 (VNNI) kernel; u8x8 = QuadsU8 (VNNI, uint8\n"
              "weights in [-255, 0])\n");
  std::printf("%-22s %10s %10s %10s %10s %10s %9s\n", "GEMM M x K -> N", "int8", "int8+xnn",
              "int8x8", "u8x8", "fp32", "int8/fp32");

  struct Shape {
    int m, k, n;
  };
  // Pixel blocks of 96 rows; MobileNetV2-1.4 expansion / projection / head / classifier.
  const Shape shapes[] = {{96, 24, 144},  {96, 144, 24},  {96, 32, 192},   {96, 192, 32},
                          {96, 88, 528},  {96, 528, 88},  {96, 136, 816},  {96, 816, 136},
                          {49, 448, 1792}, {1, 1792, 1001}, {96, 27, 48}};
  for (const Shape& s : shapes) {
    // int8
    std::vector<uint8_t> a(size_t(s.m) * s.k);
    for (auto& x : a) x = uint8_t(next() >> 24);
    std::vector<int16_t> w(size_t(s.n) * s.k);
    for (auto& x : w) x = int16_t(int(next() >> 24) - 128);
    std::vector<int32_t> bias(size_t(s.n)), mult(size_t(s.n), 1 << 30), shift(size_t(s.n), -10);
    for (auto& x : bias) x = int32_t(next() >> 20);
    std::vector<float> fscale(size_t(s.n), 1e-3f);
    const kernels::QRequant rq_t{mult.data(), shift.data(), true, 3, 0, 255};
    const kernels::QRequant rq_f{mult.data(), shift.data(), true, 3, 0, 255, fscale.data()};
    std::vector<uint8_t> c(size_t(s.m) * s.n);
    auto run_q = [&](const kernels::QGemmKernel& kern, const kernels::QRequant& rq) {
      Bytes packed(size_t(kern.packed_bytes(s.n, s.k)));
      kernels::qgemm_pack(kern, w.data(), s.k, s.n, s.k, bias.data(), 17, rq, packed.p);
      kernels::QGemm g{s.m, s.n, s.k, a.data(), s.k, packed.p, c.data(), s.n};
      return best_rate([&] { kern.run(g); }, double(s.m) * s.n * s.k);
    };
    const double q16 = run_q(qt.gemm16, rq_t);
    const double q16f = run_q(qt.gemm16, rq_f);
    const double q8 = qt.gemm8.available() ? run_q(qt.gemm8, rq_t) : 0.0;
    double q8u = 0.0;
    if (qt.gemm8u.available()) {  // weights shifted to [-255, 0]: not int8, one panel's span
      for (auto& x : w) x = int16_t(x - 127);
      q8u = run_q(qt.gemm8u, rq_t);
      for (auto& x : w) x = int16_t(x + 127);
    }
    // fp32: the same block through the fp32 tiles (panels of nr columns, rows of mr).
    const int nr = ft.gemm.nr, np = (s.n + nr - 1) / nr;
    AlignedBuffer fa(size_t(s.m) * s.k), fb(size_t(np) * s.k * nr), fbias(size_t(np) * nr),
        fc(size_t(s.m) * s.n);
    for (size_t i = 0; i < fa.size(); ++i) fa.data()[i] = float(next() >> 24) / 256.f;
    for (size_t i = 0; i < fb.size(); ++i) fb.data()[i] = float(int(next() >> 24) - 128) / 1e3f;
    for (size_t i = 0; i < fbias.size(); ++i) fbias.data()[i] = 0.1f;
    auto fp32_block = [&] {
      for (int r0 = 0; r0 < s.m; r0 += ft.gemm.mr) {
        kernels::GemmTile t;
        t.mr = std::min(ft.gemm.mr, s.m - r0);
        t.k = s.k;
        t.a = fa.data() + int64_t(r0) * s.k;
        t.lda = s.k;
        t.ldc = s.n;
        t.act = Activation::Relu6;
        for (int p = 0; p < np; ++p) {
          t.nr = std::min(nr, s.n - p * nr);
          t.b = fb.data() + int64_t(p) * s.k * nr;
          t.bias = fbias.data() + p * nr;
          t.c = fc.data() + int64_t(r0) * s.n + p * nr;
          ft.gemm.tile(t);
        }
      }
    };
    const double f = best_rate(fp32_block, double(s.m) * s.n * s.k);
    char name[64];
    std::snprintf(name, sizeof name, "%4d x %4d -> %4d", s.m, s.k, s.n);
    char q8s[32] = "-", q8us[32] = "-";
    if (q8 > 0) std::snprintf(q8s, sizeof q8s, "%.1f", q8);
    if (q8u > 0) std::snprintf(q8us, sizeof q8us, "%.1f", q8u);
    std::printf("%-22s %10.1f %10.1f %10s %10s %10.1f %9.2f\n", name, q16, q16f, q8s, q8us, f,
                q16 / f);
  }

  // Depthwise 3x3 rows (MobileNetV2-1.4 shapes) and ADD.
  struct DwShape {
    int stride, c, ow;
  };
  for (const DwShape& sh : {DwShape{1, 192, 56}, DwShape{2, 144, 56}, DwShape{1, 48, 112},
                            DwShape{1, 528, 14}}) {
    const int stride = sh.stride, c = sh.c, ow = sh.ow, iw = ow * stride, ih = 5;
    std::vector<uint8_t> in(size_t(ih) * iw * c), out(size_t(ow) * c * 2);
    for (auto& x : in) x = uint8_t(next() >> 24);
    std::vector<int16_t> w(size_t(9) * c);
    for (auto& x : w) x = int16_t(int(next() >> 24) - 128);
    std::vector<int32_t> mult(size_t(c), 1 << 30), shift(size_t(c), -8);
    std::vector<float> fscale(size_t(c), 1e-3f);
    for (bool fm : {false, true}) {
    const kernels::QRequant rq{mult.data(), shift.data(), true, 5, 0, 255,
                               fm ? fscale.data() : nullptr};
    std::vector<uint8_t> blob(size_t(kernels::qdw3x3_packed_bytes(c)));
    kernels::qdw3x3_pack(w.data(), c, nullptr, 100, rq, blob.data());
    kernels::QDw d;
    d.in = in.data();
    d.ih = ih;
    d.iw = iw;
    d.c = c;
    d.out = out.data();
    d.oh = 2;
    d.ow = ow;
    d.sh = d.sw = stride;
    d.pad_top = 1;
    d.pad_left = stride == 1 ? 1 : 0;
    d.w = blob.data();
    const double r = best_rate([&] { qt.dw3x3_row(d, 1); }, 9.0 * ow * c);
    std::printf("int8 dw3x3 row s%d, %dx%d%s: %.1f GMAC/s\n", stride, ow, c,
                fm ? " (xnn requant)" : "", r);
    if (qt.dw3x3q_row) {  // the VNNI layout, one and two weight terms
      for (int terms : {1, 2}) {
        std::vector<uint8_t> qblob(size_t(kernels::qdw3x3q_packed_bytes(c, terms)));
        kernels::qdw3x3q_pack(w.data(), c, nullptr, 100, rq, terms, qblob.data());
        d.w = qblob.data();
        const double rq8 = best_rate([&] { qt.dw3x3q_row(d, 1); }, 9.0 * ow * c);
        std::printf("int8 dw3x3q row s%d, %dx%d%s, %d term(s): %.1f GMAC/s\n", stride, ow, c,
                    fm ? " (xnn requant)" : "", terms, rq8);
      }
      d.w = blob.data();
    }
    }
  }
  {
    const int64_t n = 28 * 28 * 48;
    std::vector<uint8_t> a(static_cast<size_t>(n)), b(a.size()), y(a.size());
    for (auto& x : a) x = uint8_t(next() >> 24);
    for (auto& x : b) x = uint8_t(next() >> 24);
    const q::AddParams p = q::make_add_params(0.05f, 120, 0.07f, 130, 0.09f, 128, 0, 255);
    const double r = best_rate([&] { qt.add(a.data(), b.data(), y.data(), n, p); }, double(n));
    std::printf("int8 add, %lld elements: %.2f G elements/s\n", static_cast<long long>(n), r);
  }
  return 0;
}
