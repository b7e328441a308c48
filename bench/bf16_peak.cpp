// The bf16 multiply-accumulate peaks of this CPU next to its fp32 FMA peak, measured in one
// run on one core (GMAC/s): fp32 vfmadd (AVX-512), bf16 vdpbf16ps (AVX512_BF16: two
// products per fp32 lane), and AMX tdpbf16ps (16x16 tiles; Linux needs the AMX state
// requested with arch_prctl first). The ratio bf16 / fp32 is the most --precision bf16 can
// gain on the compute-bound 1x1 convolutions. Usage: bf16_peak [seconds per probe]
#include <cstdio>

#if !defined(__x86_64__)
int main() {
  std::printf("bf16_peak: x86-64 only (AVX512_BF16 / AMX-BF16)\n");
  return 0;
}
#else
#include <sys/syscall.h>
#include <unistd.h>

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// 16 independent accumulator chains per loop: enough for two ports at up to 8 cycles of
// latency. The empty asm keeps the chains from being merged or hoisted.
__attribute__((target("avx512f"))) int64_t fp32_loop(int64_t iters, float* sink) {
  __m512 a[16];
  for (int j = 0; j < 16; ++j) a[j] = _mm512_set1_ps(0.01f * float(j + 1));
  const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t i = 0; i < iters; ++i) {
    __asm__("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]),
            "+v"(a[6]), "+v"(a[7]));
    __asm__("" : "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]), "+v"(a[12]), "+v"(a[13]),
            "+v"(a[14]), "+v"(a[15]));
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) a[j] = _mm512_fmadd_ps(a[j], b, c);
  }
  float s[16];
  _mm512_storeu_ps(s, a[0]);
  *sink = s[0];
  return iters * 16 * 16;
}

__attribute__((target("avx512f,avx512bf16"))) int64_t bf16_loop(int64_t iters, float* sink) {
  __m512 a[16];
  for (int j = 0; j < 16; ++j) a[j] = _mm512_set1_ps(0.01f * float(j + 1));
  // bf16 pairs (1e-3, 1e-3) and (1, 1): the sums grow slowly and stay normal.
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3a833a83), y = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  for (int64_t i = 0; i < iters; ++i) {
    __asm__("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]),
            "+v"(a[6]), "+v"(a[7]));
    __asm__("" : "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]), "+v"(a[12]), "+v"(a[13]),
            "+v"(a[14]), "+v"(a[15]));
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) a[j] = _mm512_dpbf16_ps(a[j], x, y);
  }
  float s[16];
  _mm512_storeu_ps(s, a[0]);
  *sink = s[0];
  return iters * 16 * 32;
}

struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Four 16x16 fp32 accumulator tiles fed by two A and two B tiles (each 16 rows x 32 bf16):
// 4 x 16 x 16 x 32 multiply-accumulates per round.
__attribute__((target("amx-tile,amx-bf16"))) int64_t amx_loop(int64_t iters, float* sink) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  alignas(64) static uint16_t a[16 * 32], b[16 * 32];
  alignas(64) static float c[16 * 16];
  std::fill(a, a + 512, uint16_t(0x3a83));
  std::fill(b, b + 512, uint16_t(0x3f80));
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, a, 64);
  _tile_loadd(5, a, 64);
  _tile_loadd(6, b, 64);
  _tile_loadd(7, b, 64);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, 64);
  _tile_release();
  *sink = c[0];
  return iters * 4 * 16 * 16 * 32;
}

// Linux hands out the AMX tile state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA).
bool amx_usable() {
  if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16")) return false;
  return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
}

// Best GMAC/s over 5 runs of about `seconds` each (iterations calibrated on a short run).
double measure(int64_t (*loop)(int64_t, float*), double seconds) {
  float sink = 0;
  auto time = [&](int64_t iters, int64_t* macs) {
    const auto t0 = std::chrono::steady_clock::now();
    *macs = loop(iters, &sink);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  int64_t macs = 0, iters = 100000;
  const double probe = time(iters, &macs);
  iters = std::max<int64_t>(1000, int64_t(double(iters) * seconds / std::max(probe, 1e-6)));
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double s = time(iters, &macs);
    best = std::max(best, double(macs) / s / 1e9);
  }
  if (sink == 12345.f) std::printf(" ");  // keeps the result alive
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.2;
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("fp32 avx512: not supported by this CPU (no bf16 probe either)\n");
    return 0;
  }
  const double fp32 = measure(fp32_loop, seconds);
  std::printf("fp32 vfmadd231ps zmm   1 thread: %7.1f GMAC/s\n", fp32);
  if (__builtin_cpu_supports("avx512bf16")) {
    const double bf = measure(bf16_loop, seconds);
    std::printf("bf16 vdpbf16ps zmm     1 thread: %7.1f GMAC/s  (%.2fx fp32)\n", bf, bf / fp32);
  } else {
    std::printf("bf16 vdpbf16ps: this CPU has no AVX512_BF16\n");
  }
  if (amx_usable()) {
    const double amx = measure(amx_loop, seconds);
    std::printf("bf16 AMX tdpbf16ps     1 thread: %7.1f GMAC/s  (%.2fx fp32)\n", amx, amx / fp32);
  } else {
    std::printf("bf16 AMX: not available (CPU without AMX-BF16, or the kernel refused the tile state)\n");
  }
  return 0;
}
#endif  // __x86_64__
