// Scalar integer kernels: packing (shared by every table), the portable fallback and the
// tests' yardstick for the SIMD kernels. Accumulation wraps like the SIMD adds do.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "kernels/qkernels.h"
#include "kernels/qquantize.h"

namespace mnv2::kernels {

namespace {

int32_t rq_mult(const QRequant& rq, int n) { return rq.per_channel ? rq.mult[n] : rq.mult[0]; }
int32_t rq_shift(const QRequant& rq, int n) { return rq.per_channel ? rq.shift[n] : rq.shift[0]; }

// The output stage of packed kernels: array values mult (or float bits), lshift, rshift.
uint8_t out_stage(int32_t acc, bool float_mode, int32_t mult, int32_t shift, int32_t zp,
                  int32_t lo, int32_t hi) {
  if (float_mode) {
    float f;
    std::memcpy(&f, &mult, 4);
    return q::requantize_float(acc, f, zp, lo, hi);
  }
  return q::requantize(acc, mult, shift, zp, lo, hi);
}

void check_requant(const QRequant& rq, int n, const char* what) {
  const int count = rq.per_channel ? n : 1;
  for (int i = 0; rq.scale && i < count; ++i)
    if (!(rq.scale[i] >= 0.f && rq.scale[i] < 65536.f))
      throw Error(std::string(what) + ": requantization scale of channel " + std::to_string(i) +
                  " is negative, too large or not finite");
  for (int i = 0; !rq.scale && i < count; ++i) {
    if (rq.mult[i] < 0)
      throw Error(std::string(what) + ": requantization multiplier of channel " +
                  std::to_string(i) + " is negative");
    if (rq.shift[i] < -31 || rq.shift[i] > 30)
      throw Error(std::string(what) + ": requantization shift " + std::to_string(rq.shift[i]) +
                  " of channel " + std::to_string(i) + " is outside -31..30");
  }
  if (rq.qmin < 0 || rq.qmax > 255 || rq.qmin > rq.qmax || rq.out_zp < 0 || rq.out_zp > 255)
    throw Error(std::string(what) + ": output zero point or clamp range outside 0..255");
}

// The five per-channel int32 arrays of a panel / dw blob (see qkernels.h).
void put_requant(uint8_t* arrays, int64_t stride, int j, int32_t bias, const QRequant& rq,
                 int ch) {
  if (rq.scale) {
    const float f = rq.scale[rq.per_channel ? ch : 0];
    int32_t bits;
    std::memcpy(&bits, &f, 4);
    const int32_t v[5] = {bias, bits, 0, 0, 0};
    for (int i = 0; i < 5; ++i) std::memcpy(arrays + i * stride + 4 * j, &v[i], 4);
    return;
  }
  const int32_t mult = rq.per_channel ? rq.mult[ch] : rq.mult[0];
  const int32_t shift = rq.per_channel ? rq.shift[ch] : rq.shift[0];
  const int32_t l = shift > 0 ? shift : 0, r = shift > 0 ? 0 : -shift;
  const int32_t mask = int32_t((uint32_t(1) << r) - 1u);
  const int32_t v[5] = {bias, mult, l, r, mask};
  for (int i = 0; i < 5; ++i) std::memcpy(arrays + i * stride + 4 * j, &v[i], 4);
}
int32_t get_array(const uint8_t* arrays, int64_t stride, int i, int j) {
  int32_t v;
  std::memcpy(&v, arrays + i * stride + 4 * j, 4);
  return v;
}

// The weight of column j (within the panel), depth kk, of a packed panel.
inline int32_t panel_weight(const QGemmKernel& kern, const uint8_t* panel, int j, int kk) {
  const int g = kern.kgroup();
  const int64_t idx = (int64_t(kk / g) * kern.nr + j) * g + kk % g;
  const uint8_t* w = panel + kern.weights_offset();
  if (kern.layout == QLayout::Pairs16) {
    int16_t v;
    std::memcpy(&v, w + idx * 2, 2);
    return v;
  }
  if (kern.layout == QLayout::QuadsU8) return w[idx];  // w + o, unsigned
  return static_cast<int8_t>(w[idx]);
}

// One table entry per layout; the layout constants make the template a twin of each SIMD
// kernel's packing without sharing its code.
template <QLayout LAYOUT>
void gemm_scalar(const QGemm& g) {
  QGemmKernel kern;
  kern.layout = LAYOUT;
  kern.mr = 4;
  kern.nr = 16;
  const int64_t pb = kern.panel_bytes(g.k);
  const auto* base = static_cast<const uint8_t*>(g.b);
  for (int r = 0; r < g.m; ++r) {
    const uint8_t* a = g.a + r * g.lda;
    uint8_t* c = g.c + r * g.ldc;
    for (int n0 = 0; n0 < g.n; n0 += kern.nr) {
      const uint8_t* panel = base + (n0 / kern.nr) * pb;
      int32_t hdr[QGemmKernel::kHeaderInts];
      std::memcpy(hdr, panel + QGemmKernel::kPanelArrays * 4 * kern.nr, sizeof hdr);
      const int cols = std::min(kern.nr, g.n - n0);
      for (int j = 0; j < cols; ++j) {
        const int32_t bias = get_array(panel, 4 * kern.nr, 0, j);
        const int32_t mult = get_array(panel, 4 * kern.nr, 1, j);
        const int32_t shift =
            get_array(panel, 4 * kern.nr, 2, j) - get_array(panel, 4 * kern.nr, 3, j);
        uint32_t acc = uint32_t(bias);
        if constexpr (LAYOUT == QLayout::QuadsU8 || LAYOUT == QLayout::Quads8Signed) {
          // (a - 128) x (w + o), and o times the row sum taken off (see QLayout; o = 0 for
          // Quads8Signed).
          uint32_t row_sum = 0;
          for (int kk = 0; kk < g.k; ++kk) {
            acc += uint32_t((int32_t(a[kk]) - 128) * panel_weight(kern, panel, j, kk));
            row_sum += a[kk];
          }
          acc -= uint32_t(hdr[4]) * row_sum;
        } else {
          for (int kk = 0; kk < g.k; ++kk)
            acc += uint32_t(int32_t(a[kk]) * panel_weight(kern, panel, j, kk));
        }
        c[n0 + j] = out_stage(int32_t(acc), hdr[3] == 1, mult, shift, hdr[0], hdr[1], hdr[2]);
      }
    }
  }
}

void dw3x3_row(const QDw& a, int oy) {
  const auto* blob = static_cast<const uint8_t*>(a.w);
  int32_t hdr[6];
  std::memcpy(hdr, blob, sizeof hdr);
  const int c = a.c;
  const int32_t in_zp = hdr[1];
  const int64_t as = int64_t(qdw3x3_cpad(c)) * 4;
  const uint8_t* arrays = blob + qdw3x3_array_offset(c, 0);
  uint8_t* out = a.out + int64_t(oy) * a.ow * c;
  for (int ox = 0; ox < a.ow; ++ox) {
    for (int ch = 0; ch < c; ++ch) {
      uint32_t acc = uint32_t(get_array(arrays, as, 0, ch));
      for (int t = 0; t < 9; ++t) {
        const int iy = oy * a.sh - a.pad_top + t / 3;
        const int ix = ox * a.sw - a.pad_left + t % 3;
        const bool inside = iy >= 0 && iy < a.ih && ix >= 0 && ix < a.iw;
        const int32_t x = inside ? a.in[(int64_t(iy) * a.iw + ix) * c + ch] : in_zp;
        const auto* pair =
            reinterpret_cast<const int16_t*>(blob + qdw3x3_pair_offset(c, t / 2));
        acc += uint32_t(x * int32_t(pair[2 * ch + t % 2]));
      }
      const int32_t shift = get_array(arrays, as, 2, ch) - get_array(arrays, as, 3, ch);
      out[int64_t(ox) * c + ch] = out_stage(int32_t(acc), hdr[5] == 1, get_array(arrays, as, 1, ch),
                                            shift, hdr[2], hdr[3], hdr[4]);
    }
  }
}

void add(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n, const q::AddParams& p) {
  for (int64_t i = 0; i < n; ++i) y[i] = q::add_one(a[i], b[i], p);
}

void add_xnn(const uint8_t* a, const uint8_t* b, uint8_t* y, int64_t n, const q::XnnAddParams& p) {
  for (int64_t i = 0; i < n; ++i) y[i] = q::xnn_add_one(a[i], b[i], p);
}

// One channel's output from its wrapped sum of (x + in_offset).
uint8_t pool_output(uint32_t acc, int hw, const QPool& p) {
  const int32_t s = int32_t(acc);
  int32_t v;
  if (p.divide) {
    v = s > 0 ? (s + hw / 2) / hw : (s - hw / 2) / hw;
  } else {
    v = q::add_wrap(q::mul_by_multiplier(s, p.mult, p.shift), p.bias);
  }
  v = std::clamp(v, p.qmin, p.qmax);
  return static_cast<uint8_t>(v + p.out_offset);
}

}  // namespace

void qpool_scalar(const uint8_t* x, uint8_t* y, int hw, int c, const QPool& p) {
  // Pixel by pixel over a chunk of channels: unit-stride rows the compiler vectorizes
  // (a channel at a time strides by c through the whole image).
  constexpr int kChunk = 256;
  uint32_t sums[kChunk];
  for (int c0 = 0; c0 < c; c0 += kChunk) {
    const int n = std::min(kChunk, c - c0);
    std::fill(sums, sums + n, 0u);
    for (int i = 0; i < hw; ++i) {
      const uint8_t* row = x + int64_t(i) * c + c0;
      for (int j = 0; j < n; ++j) sums[j] += uint32_t(int32_t(row[j]) + p.in_offset);
    }
    for (int j = 0; j < n; ++j) y[c0 + j] = pool_output(sums[j], hw, p);
  }
}

bool qweights_fit_int8(const int16_t* w, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (w[i] < -128 || w[i] > 127) return false;
  return true;
}

namespace {
// The smallest and largest weight of columns [n0, n1).
std::pair<int, int> weight_range(const int16_t* w, int64_t ldw, int n0, int n1, int k) {
  int lo = INT16_MAX, hi = INT16_MIN;
  for (int j = n0; j < n1; ++j)
    for (int kk = 0; kk < k; ++kk) {
      lo = std::min<int>(lo, w[j * ldw + kk]);
      hi = std::max<int>(hi, w[j * ldw + kk]);
    }
  return {lo, hi};
}
}  // namespace

bool qgemm_fits(const QGemmKernel& kern, const int16_t* w, int64_t ldw, int n, int k) {
  switch (kern.layout) {
    case QLayout::Pairs16:
      return true;
    case QLayout::Quads8:
    case QLayout::Quads8Signed:
      for (int j = 0; j < n; ++j)
        if (!qweights_fit_int8(w + j * ldw, k)) return false;
      return true;
    case QLayout::QuadsU8:
      for (int n0 = 0; n0 < n; n0 += kern.nr) {
        const auto [lo, hi] = weight_range(w, ldw, n0, std::min(n, n0 + kern.nr), k);
        if (hi - lo > 255) return false;
      }
      return true;
  }
  return false;
}

void qgemm_pack(const QGemmKernel& kern, const int16_t* w, int64_t ldw, int n, int k,
                const int32_t* bias, int32_t a_zp, const QRequant& rq, void* dst) {
  if (n <= 0 || k <= 0) throw Error("qgemm_pack: empty weight matrix");
  check_requant(rq, n, "qgemm_pack");
  if (kern.layout == QLayout::Quads8 || kern.layout == QLayout::Quads8Signed)
    for (int j = 0; j < n; ++j)
      if (!qweights_fit_int8(w + j * ldw, k))
        throw Error("qgemm_pack: weights of output channel " + std::to_string(j) +
                    " do not fit int8; use the Pairs16 kernel");
  if (!qgemm_fits(kern, w, ldw, n, k))
    throw Error("qgemm_pack: the weights of a panel span more than 256 values; use the Pairs16 "
                "kernel");
  const int64_t pb = kern.panel_bytes(k);
  const int g = kern.kgroup();
  auto* out = static_cast<uint8_t*>(dst);
  std::memset(out, 0, size_t(kern.packed_bytes(n, k)));
  for (int n0 = 0; n0 < n; n0 += kern.nr) {
    uint8_t* panel = out + (n0 / kern.nr) * pb;
    const int cols = std::min(kern.nr, n - n0);
    const int32_t o =
        kern.layout == QLayout::QuadsU8 ? -weight_range(w, ldw, n0, n0 + cols, k).first : 0;
    const int32_t hdr[QGemmKernel::kHeaderInts] = {rq.out_zp, rq.qmin, rq.qmax,
                                                   rq.scale ? 1 : 0, o};
    std::memcpy(panel + QGemmKernel::kPanelArrays * 4 * kern.nr, hdr, sizeof hdr);
    uint8_t* wp = panel + kern.weights_offset();
    for (int j = 0; j < cols; ++j) {
      const int16_t* col = w + (n0 + j) * ldw;
      int64_t wsum = 0;
      for (int kk = 0; kk < k; ++kk) {
        wsum += col[kk];
        const int64_t idx = (int64_t(kk / g) * kern.nr + j) * g + kk % g;
        if (kern.layout == QLayout::Pairs16)
          std::memcpy(wp + idx * 2, &col[kk], 2);
        else if (kern.layout == QLayout::QuadsU8)
          wp[idx] = static_cast<uint8_t>(col[kk] + o);
        else
          wp[idx] = static_cast<uint8_t>(static_cast<int8_t>(col[kk]));
      }
      // The signed-activation layouts read a - 128 (a_offset): 128 * sum (w + o) back in.
      const int64_t b64 = (bias ? int64_t(bias[n0 + j]) : 0) - int64_t(a_zp) * wsum +
                          int64_t(kern.a_offset()) * (wsum + int64_t(k) * o);
      const int32_t b = static_cast<int32_t>(b64);
      put_requant(panel, 4 * kern.nr, j, b, rq, n0 + j);
    }
  }
}

int64_t qdw3x3_packed_bytes(int c) { return qdw3x3_array_offset(c, 5); }

void qdw3x3_pack(const int16_t* w, int c, const int32_t* bias, int32_t in_zp, const QRequant& rq,
                 void* dst) {
  if (c <= 0) throw Error("qdw3x3_pack: no channels");
  check_requant(rq, c, "qdw3x3_pack");
  if (in_zp < 0 || in_zp > 255) throw Error("qdw3x3_pack: input zero point outside 0..255");
  auto* blob = static_cast<uint8_t*>(dst);
  std::memset(blob, 0, size_t(qdw3x3_packed_bytes(c)));
  const int32_t hdr[6] = {c, in_zp, rq.out_zp, rq.qmin, rq.qmax, rq.scale ? 1 : 0};
  std::memcpy(blob, hdr, sizeof hdr);
  for (int ch = 0; ch < c; ++ch) {
    int64_t wsum = 0;
    for (int t = 0; t < 9; ++t) {
      const int16_t v = w[t * c + ch];
      wsum += v;
      std::memcpy(blob + qdw3x3_pair_offset(c, t / 2) + (2 * ch + t % 2) * 2, &v, 2);
    }
    const int32_t b = static_cast<int32_t>((bias ? int64_t(bias[ch]) : 0) - int64_t(in_zp) * wsum);
    put_requant(blob + qdw3x3_array_offset(c, 0), int64_t(qdw3x3_cpad(c)) * 4, ch, b, rq, ch);
  }
}

namespace {

// Channel ch's place in its block: the vector q and the byte of its dword within it.
struct DwqPlace {
  int block, q, byte, dword;
};
DwqPlace dwq_place(int ch) {
  const int b = ch / 64, l = ch % 64 / 16, q = ch % 16 / 4, i = ch % 4;
  return {b, q, l * 16 + i * 4, q * 16 + l * 4 + i};
}

}  // namespace

int64_t qdw3x3q_packed_bytes(int c, int terms) {
  return qdw3x3q_array_offset(qdw3x3q_blocks(c), terms, 5);
}

int qdw3x3q_terms(const int16_t* w, int c) {
  int terms = 1;
  for (int64_t i = 0; i < int64_t(9) * c; ++i) {
    if (w[i] < -255 || w[i] > 254) return 0;
    if (w[i] < -128 || w[i] > 127) terms = 2;
  }
  return terms;
}

void qdw3x3q_pack(const int16_t* w, int c, const int32_t* bias, int32_t in_zp, const QRequant& rq,
                  int terms, void* dst) {
  if (c <= 0) throw Error("qdw3x3q_pack: no channels");
  check_requant(rq, c, "qdw3x3q_pack");
  if (in_zp < 0 || in_zp > 255) throw Error("qdw3x3q_pack: input zero point outside 0..255");
  if (terms < 1 || terms > 2 || qdw3x3q_terms(w, c) == 0 || qdw3x3q_terms(w, c) > terms)
    throw Error("qdw3x3q_pack: the weights do not fit " + std::to_string(terms) + " int8 term(s)");
  auto* blob = static_cast<uint8_t*>(dst);
  const int blocks = qdw3x3q_blocks(c);
  std::memset(blob, 0, size_t(qdw3x3q_packed_bytes(c, terms)));
  const int32_t hdr[8] = {c, in_zp, rq.out_zp, rq.qmin, rq.qmax, rq.scale ? 1 : 0, terms, blocks};
  std::memcpy(blob, hdr, sizeof hdr);
  for (int ch = 0; ch < c; ++ch) {
    const DwqPlace pl = dwq_place(ch);
    int64_t wsum = 0;
    for (int t = 0; t < 9; ++t) {
      const int v = w[t * c + ch];
      wsum += v;
      const int half = terms == 1 ? 0 : v >> 1;
      const int parts[2] = {v - half, half};
      for (int term = 0; term < terms; ++term)
        blob[qdw3x3q_weight_offset(blocks, term, pl.block, t % 3, pl.q) + pl.byte + t / 3] =
            uint8_t(int8_t(parts[term]));
    }
    const int32_t b = static_cast<int32_t>((bias ? int64_t(bias[ch]) : 0) - int64_t(in_zp) * wsum);
    put_requant(blob + qdw3x3q_array_offset(blocks, terms, 0), int64_t(blocks) * 64 * 4,
                pl.block * 64 + pl.dword, b, rq, ch);
  }
}

void qdw3x3q_row_scalar(const QDw& a, int oy) {
  const auto* blob = static_cast<const uint8_t*>(a.w);
  int32_t hdr[8];
  std::memcpy(hdr, blob, sizeof hdr);
  const int c = a.c, terms = hdr[6], blocks = hdr[7];
  const uint8_t* arrays = blob + qdw3x3q_array_offset(blocks, terms, 0);
  const int64_t as = int64_t(blocks) * 64 * 4;
  uint8_t* out = a.out + int64_t(oy) * a.ow * c;
  for (int ox = 0; ox < a.ow; ++ox) {
    for (int ch = 0; ch < c; ++ch) {
      const DwqPlace pl = dwq_place(ch);
      const int j = pl.block * 64 + pl.dword;
      uint32_t acc = uint32_t(get_array(arrays, as, 0, j));
      for (int t = 0; t < 9; ++t) {
        const int iy = oy * a.sh - a.pad_top + t / 3;
        const int ix = ox * a.sw - a.pad_left + t % 3;
        const bool inside = iy >= 0 && iy < a.ih && ix >= 0 && ix < a.iw;
        const int32_t x = inside ? a.in[(int64_t(iy) * a.iw + ix) * c + ch] : hdr[1];
        for (int term = 0; term < terms; ++term) {
          const auto wt = int8_t(blob[qdw3x3q_weight_offset(blocks, term, pl.block, t % 3, pl.q) +
                                      pl.byte + t / 3]);
          acc += uint32_t(x * int32_t(wt));
        }
      }
      const int32_t shift = get_array(arrays, as, 2, j) - get_array(arrays, as, 3, j);
      out[int64_t(ox) * c + ch] = out_stage(int32_t(acc), hdr[5] == 1, get_array(arrays, as, 1, j),
                                            shift, hdr[2], hdr[3], hdr[4]);
    }
  }
}

void qdw_generic_row(const QDwGeneric& a, int oy) {
  const int oc = a.c * a.depth_mult;
  uint8_t* out = a.out + int64_t(oy) * a.ow * oc;
  for (int ox = 0; ox < a.ow; ++ox) {
    for (int o = 0; o < oc; ++o) {
      const int ic = o / a.depth_mult;
      uint32_t acc = a.bias ? uint32_t(a.bias[o]) : 0u;
      for (int ky = 0; ky < a.kh; ++ky) {
        const int iy = oy * a.sh - a.pad_top + ky;
        if (iy < 0 || iy >= a.ih) continue;
        for (int kx = 0; kx < a.kw; ++kx) {
          const int ix = ox * a.sw - a.pad_left + kx;
          if (ix < 0 || ix >= a.iw) continue;
          const int32_t x = int32_t(a.in[(int64_t(iy) * a.iw + ix) * a.c + ic]) - a.in_zp;
          acc += uint32_t(x * int32_t(a.w[(int64_t(ky) * a.kw + kx) * oc + o]));
        }
      }
      out[int64_t(ox) * oc + o] =
          a.rq.scale ? q::requantize_float(int32_t(acc), a.rq.scale[a.rq.per_channel ? o : 0],
                                           a.rq.out_zp, a.rq.qmin, a.rq.qmax)
                     : q::requantize(int32_t(acc), rq_mult(a.rq, o), rq_shift(a.rq, o), a.rq.out_zp,
                                     a.rq.qmin, a.rq.qmax);
    }
  }
}

namespace {

// n bytes; the first conv's rows are a few bytes long, where a library call costs more
// than the copy.
inline void copy_short(uint8_t* dst, const uint8_t* src, int64_t n) {
  if (n > 32) {
    std::memcpy(dst, src, size_t(n));
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace

void im2col_row_u8(const uint8_t* x, int ih, int iw, int cin, int kh, int kw, int sh, int sw,
                   int pad_top, int pad_left, int ow, int oy, uint8_t pad_value, uint8_t* out) {
  const int64_t k = int64_t(kh) * kw * cin;
  const int64_t span = int64_t(kw) * cin;  // one kernel row: kw pixels, contiguous in NHWC
  for (int ox = 0; ox < ow; ++ox) {
    uint8_t* row = out + ox * k;
    const int ix0 = ox * sw - pad_left;
    const bool cols_inside = ix0 >= 0 && ix0 + kw <= iw;
    for (int ky = 0; ky < kh; ++ky) {
      const int iy = oy * sh - pad_top + ky;
      uint8_t* dst = row + ky * span;
      if (iy < 0 || iy >= ih) {
        std::memset(dst, pad_value, size_t(span));
        continue;
      }
      const uint8_t* src = x + (int64_t(iy) * iw + ix0) * cin;
      if (cols_inside) {
        copy_short(dst, src, span);
        continue;
      }
      for (int kx = 0; kx < kw; ++kx) {
        const int ix = ix0 + kx;
        if (ix < 0 || ix >= iw)
          std::memset(dst + kx * cin, pad_value, size_t(cin));
        else
          copy_short(dst + kx * cin, src + int64_t(kx) * cin, cin);
      }
    }
  }
}

void qconv_row_im2col(const QConvRow& a, int oy, void (*gemm)(const QGemm&)) {
  const int k = a.kh * a.kw * a.cin;
  thread_local std::vector<uint8_t> col;
  if (col.size() < size_t(a.ow) * size_t(k)) col.resize(size_t(a.ow) * size_t(k));
  im2col_row_u8(a.in, a.ih, a.iw, a.cin, a.kh, a.kw, a.sh, a.sw, a.pad_top, a.pad_left, a.ow, oy,
                a.in_zp, col.data());
  QGemm g;
  g.m = a.ow;
  g.n = a.cout;
  g.k = k;
  g.a = col.data();
  g.lda = k;
  g.b = a.b;
  g.c = a.out;
  g.ldc = a.cout;
  gemm(g);
}

namespace {

// QConvKernel's scalar twin: the patches by im2col_row_u8, then the scalar GEMM.
template <QLayout LAYOUT>
void conv_row(const QConvRow& a, int oy) {
  qconv_row_im2col(a, oy, &gemm_scalar<LAYOUT>);
}

constexpr QKernelTable make_scalar_qtable() {
  QKernelTable t;
  t.isa = Isa::Scalar;
  t.vnni = false;
  t.gemm16 = QGemmKernel{QLayout::Pairs16, 4, 16, &gemm_scalar<QLayout::Pairs16>};
  t.gemm8 = QGemmKernel{QLayout::Quads8, 4, 16, &gemm_scalar<QLayout::Quads8>};
  t.gemm8u = QGemmKernel{QLayout::QuadsU8, 4, 16, &gemm_scalar<QLayout::QuadsU8>};
  t.conv16 = QConvKernel{t.gemm16, &conv_row<QLayout::Pairs16>};
  t.conv8 = QConvKernel{t.gemm8, &conv_row<QLayout::Quads8>};
  t.conv8u = QConvKernel{t.gemm8u, &conv_row<QLayout::QuadsU8>};
  t.dw3x3_row = &dw3x3_row;
  t.add = &add;
  t.pool = &qpool_scalar;
  t.add_xnn = &add_xnn;
  t.quantize = &quantize_u8;  // this file's copy, built for its ISA
  return t;
}

}  // namespace

constinit const QKernelTable kScalarQTable = make_scalar_qtable();
constinit const QGemmKernel kScalarQuads8Signed{QLayout::Quads8Signed, 4, 16,
                                                &gemm_scalar<QLayout::Quads8Signed>};

}  // namespace mnv2::kernels
