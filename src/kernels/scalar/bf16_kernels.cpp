// The scalar twin of the bf16 kernels (src/kernels/bf16.h): the emulated bf16 path and the
// yardstick every SIMD bf16 table is compared with bit for bit.
#include "kernels/bf16.h"

namespace mnv2::kernels {

namespace {

// The panel width of the twin's own packing; tests compare the SIMD tables by giving the
// twin their panels (any nr works: one element's arithmetic does not depend on it).
constexpr int kTwinMr = 4;
constexpr int kTwinNr = 16;

}  // namespace

void bf16_gemm_scalar(const Bf16Tile& t, int nr_stride) {
  for (int m = 0; m < t.mr; ++m) {
    const uint32_t* a = t.a + m * t.lda;
    float* c = t.c + m * t.ldc;
    const float* r = t.residual ? t.residual + m * t.ldr : nullptr;
    for (int n = 0; n < t.nr; ++n) {
      float acc = t.bias[n];
      for (int p = 0; p < t.kp; ++p) acc = bf16_dot_pair(acc, a[p], t.b[int64_t(p) * nr_stride + n]);
      float v = activate(acc, t.act);
      if (r) v += r[n];
      c[n] = v;
    }
  }
}

namespace {

void gemm(const Bf16Tile& t) { bf16_gemm_scalar(t, kTwinNr); }

void gemm_row4(const Bf16Tile& t) {
  Bf16Tile one = t;
  one.mr = 1;
  one.nr = kTwinNr;
  for (int j = 0; j < 4; ++j) {
    one.b = t.b + int64_t(j) * t.kp * kTwinNr;
    one.bias = t.bias + j * kTwinNr;
    one.c = t.c + j * kTwinNr;
    one.residual = t.residual ? t.residual + j * kTwinNr : nullptr;
    gemm(one);
  }
}

void to_pairs(const float* x, int k, uint32_t* y) {
  int i = 0;
  for (; i + 1 < k; i += 2) y[i / 2] = to_bf16_pair(x[i], x[i + 1]);
  if (i < k) y[i / 2] = to_bf16_pair(x[i], 0.f);
}

}  // namespace

constinit const Bf16KernelTable kBf16ScalarTable = {"scalar (emulated bf16)", kTwinMr, kTwinNr,
                                                     &gemm, &gemm_row4, &to_pairs, 1};

}  // namespace mnv2::kernels
