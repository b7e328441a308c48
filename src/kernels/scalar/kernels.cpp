// Scalar twins of the SIMD kernels: the portable fallback and the tests' yardstick.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"

namespace mnv2::kernels {

namespace {

constexpr int kScalarMr = 4;
constexpr int kScalarNr = 16;

void gemm(const GemmTile& t) {
  float acc[kScalarMr][kScalarNr];
  for (int m = 0; m < t.mr; ++m)
    for (int n = 0; n < t.nr; ++n) acc[m][n] = t.bias[n];
  for (int k = 0; k < t.k; ++k) {
    const float* bk = static_cast<const float*>(t.b) + int64_t(k) * kScalarNr;
    for (int m = 0; m < t.mr; ++m) {
      const float av = t.a[m * t.lda + k];
      for (int n = 0; n < t.nr; ++n) acc[m][n] += av * bk[n];
    }
  }
  for (int m = 0; m < t.mr; ++m) {
    float* c = t.c + m * t.ldc;
    const float* r = t.residual ? t.residual + m * t.ldr : nullptr;
    for (int n = 0; n < t.nr; ++n) {
      float v = activate(acc[m][n], t.act);
      if (r) v += r[n];
      c[n] = v;
    }
  }
}

void gemm_row4(const GemmTile& t) {
  GemmTile one = t;
  one.mr = 1;
  one.nr = kScalarNr;
  for (int j = 0; j < 4; ++j) {
    one.b = static_cast<const float*>(t.b) + int64_t(j) * t.k * kScalarNr;
    one.bias = t.bias + j * kScalarNr;
    one.c = t.c + j * kScalarNr;
    one.residual = t.residual ? t.residual + j * kScalarNr : nullptr;
    gemm(one);
  }
}

void dw3x3_row(const DwArgs& a, int oy) { dw_generic_row(a, oy); }

void global_avg_pool(const float* x, float* y, int hw, int c) {
  const float inv = 1.f / float(hw);
  for (int ch = 0; ch < c; ++ch) y[ch] = 0.f;
  for (int p = 0; p < hw; ++p)
    for (int ch = 0; ch < c; ++ch) y[ch] += x[int64_t(p) * c + ch];
  for (int ch = 0; ch < c; ++ch) y[ch] *= inv;
}

void add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void channel_affine(const float* x, float* y, int64_t pixels, int c, const float* w,
                    const float* bias) {
  for (int64_t p = 0; p < pixels; ++p)
    for (int ch = 0; ch < c; ++ch) y[p * c + ch] = x[p * c + ch] * w[ch] + bias[ch];
}

}  // namespace

void dw_generic_row(const DwArgs& a, int oy) {
  const int oc = a.c * a.mult;
  float* out = a.out + int64_t(oy) * a.ow * oc;
  for (int ox = 0; ox < a.ow; ++ox) {
    float* o = out + int64_t(ox) * oc;
    for (int ch = 0; ch < oc; ++ch) o[ch] = a.bias[ch];
    for (int ky = 0; ky < a.kh; ++ky) {
      const int iy = oy * a.sh - a.pad_top + ky;
      if (iy < 0 || iy >= a.ih) continue;
      for (int kx = 0; kx < a.kw; ++kx) {
        const int ix = ox * a.sw - a.pad_left + kx;
        if (ix < 0 || ix >= a.iw) continue;
        const float* x = a.in + (int64_t(iy) * a.iw + ix) * a.c;
        const float* w = a.w + int64_t(ky * a.kw + kx) * oc;
        if (a.mult == 1) {
          for (int ch = 0; ch < oc; ++ch) o[ch] += x[ch] * w[ch];
        } else {
          for (int ch = 0; ch < oc; ++ch) o[ch] += x[ch / a.mult] * w[ch];
        }
      }
    }
    for (int ch = 0; ch < oc; ++ch) o[ch] = activate(o[ch], a.act);
  }
}

void im2col_row(const float* x, int ih, int iw, int cin, int kh, int kw, int sh, int sw,
                int pad_top, int pad_left, int ow, int oy, float* out) {
  const size_t bytes = sizeof(float) * size_t(cin);
  const int span = kw * cin;  // one kernel row of a patch: contiguous in NHWC when inside
  for (int ox = 0; ox < ow; ++ox) {
    const int ix0 = ox * sw - pad_left;
    const bool cols_inside = ix0 >= 0 && ix0 + kw <= iw;
    for (int ky = 0; ky < kh; ++ky, out += span) {
      const int iy = oy * sh - pad_top + ky;
      if (iy < 0 || iy >= ih) {
        std::fill(out, out + span, 0.f);
        continue;
      }
      const float* row = x + int64_t(iy) * iw * cin;
      if (cols_inside) {
        const float* src = row + int64_t(ix0) * cin;
        // RGB 3x3 first layers: 9 floats per kernel row, copied with a fixed-size copy (a
        // library call per few bytes would dominate).
        if (span == 9)
          std::memcpy(out, src, 9 * sizeof(float));
        else
          std::memcpy(out, src, sizeof(float) * size_t(span));
        continue;
      }
      for (int kx = 0; kx < kw; ++kx) {
        const int ix = ix0 + kx;
        if (ix >= 0 && ix < iw)
          std::memcpy(out + kx * cin, row + int64_t(ix) * cin, bytes);
        else
          std::memset(out + kx * cin, 0, bytes);
      }
    }
  }
}

void pack_panel_f32(const float* w, int64_t ldw, int cols, int k, int nr, void* panel) {
  float* p = static_cast<float*>(panel);
  std::fill(p, p + int64_t(k) * nr, 0.f);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < k; ++i) p[int64_t(i) * nr + j] = w[j * ldw + i];
}

void softmax_row(const float* x, float* y, int c) {
  const float m = *std::max_element(x, x + c);
  double s = 0;
  for (int i = 0; i < c; ++i) s += (y[i] = std::exp(x[i] - m));
  const float inv = float(1.0 / s);
  for (int i = 0; i < c; ++i) y[i] *= inv;
}

const KernelTable kScalarTable = {
    Isa::Scalar,
    GemmKernel{"fp32", kScalarMr, kScalarNr, 1, 4, &pack_panel_f32, &gemm, &gemm_row4},
    dw3x3_row,
    global_avg_pool,
    add,
    channel_affine};

}  // namespace mnv2::kernels
