// Kernel microbenchmark: the GEMM register tile and the 3x3 depthwise row of the chosen
// kernel table, on L1-resident operands, each timed in thread CPU time and interleaved
// with the FMA-peak loop so every kernel figure comes with the peak measured under the
// same machine conditions (on a shared or throttled machine the absolute peak moves; the
// ratio is what the kernel achieves).
//
// Usage: kernel_micro [scalar|avx2|avx512]   (default: best the CPU supports)
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/fma_peak.h"
#include "kernels/kernels.h"
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

// MAC/s of fn (which performs `macs` multiply-accumulates), one timed block.
double rate(const std::function<void()>& fn, double macs, int reps) {
  const double t0 = cpu_s();
  for (int r = 0; r < reps; ++r) fn();
  return macs * reps / (cpu_s() - t0) / 1e9;
}

double peak_block(Isa isa) {
  float sink = 0;
  const double t0 = cpu_s();
  const int64_t macs = kernels::fma_peak_loop(isa)(2'000'000, &sink);
  return double(macs) / (cpu_s() - t0) / 1e9;
}

// Interleaves `blocks` peak / kernel blocks; reports the best of each, their ratio, and the
// median of the per-pair ratios (lower when conditions change between the two blocks).
void report(const char* name, Isa isa, const std::function<void()>& fn, double macs, int reps) {
  const int blocks = 15;
  std::vector<double> ratios;
  double best_k = 0, best_p = 0;
  for (int b = 0; b < blocks; ++b) {
    const double p = isa == Isa::Scalar ? 1.0 : peak_block(isa);
    const double k = rate(fn, macs, reps);
    best_p = std::max(best_p, p);
    best_k = std::max(best_k, k);
    ratios.push_back(k / p);
  }
  std::sort(ratios.begin(), ratios.end());
  if (isa == Isa::Scalar)
    std::printf("%-34s %6.1f GMAC/s\n", name, best_k);
  else
    std::printf("%-30s best %5.1f GMAC/s  peak %5.1f  best/peak %4.0f %%  median pair %4.0f %%\n",
                name, best_k, best_p, 100 * best_k / best_p, 100 * ratios[ratios.size() / 2]);
}

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
      std::fprintf(stderr, "kernel_micro: ISA '%s' unknown or not supported here\n", argv[1]);
      return 2;
    }
  }
  const kernels::KernelTable& kt = kernel_table(isa);
  std::printf("kernel table %s: GEMM tile %dx%d\n", isa_name(isa), kt.gemm.mr, kt.gemm.nr);
  uint32_t seed = 7;
  auto fill = [&](float* p, size_t n, float scale) {
    for (size_t i = 0; i < n; ++i) {
      seed = seed * 1664525u + 1013904223u;
      p[i] = (float(seed >> 8) / float(1 << 24) - 0.5f) * scale;
    }
  };
  for (int k : {32, 144, 384}) {
    // Full tile, operands in L1: A (mr x k), one packed panel (k x nr).
    AlignedBuffer a(size_t(kt.gemm.mr) * k), b(size_t(k) * kt.gemm.nr), bias(size_t(kt.gemm.nr)),
        c(size_t(kt.gemm.mr) * kt.gemm.nr);
    fill(a.data(), a.size(), 1.f);
    fill(b.data(), b.size(), 0.01f);
    fill(bias.data(), bias.size(), 1.f);
    kernels::GemmTile t;
    t.mr = kt.gemm.mr;
    t.nr = kt.gemm.nr;
    t.k = k;
    t.a = a.data();
    t.lda = k;
    t.b = b.data();
    t.bias = bias.data();
    t.c = c.data();
    t.ldc = kt.gemm.nr;
    t.act = Activation::Relu6;
    char name[64];
    std::snprintf(name, sizeof name, "gemm tile %dx%d, K=%d", kt.gemm.mr, kt.gemm.nr, k);
    report(name, isa, [&] { kt.gemm.tile(t); }, double(kt.gemm.mr) * kt.gemm.nr * k, 200000 * 32 / k / kt.gemm.mr);
  }
  // Depthwise 3x3 row: one 56-wide output row of a 56x56x192 stride-1 layer and of a
  // 112x112x144 -> 56x56 stride-2 layer (the MobileNetV2-1.4 shapes).
  for (int stride : {1, 2}) {
    const int c = stride == 1 ? 192 : 144, ow = 56, iw = stride == 1 ? 56 : 112, ih = 5;
    AlignedBuffer in(size_t(ih) * iw * c), out(size_t(ow) * c * 2), w(size_t(9) * c),
        bias(static_cast<size_t>(c));
    fill(in.data(), in.size(), 1.f);
    fill(w.data(), w.size(), 0.3f);
    fill(bias.data(), bias.size(), 0.1f);
    kernels::DwArgs d;
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
    d.w = w.data();
    d.bias = bias.data();
    d.act = Activation::Relu6;
    char name[64];
    std::snprintf(name, sizeof name, "dw3x3 row s%d, %dx%d", stride, ow, c);
    report(name, isa, [&] { kt.dw3x3_row(d, 1); }, 9.0 * ow * c, 2000);
  }
  return 0;
}
