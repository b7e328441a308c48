// AMX-BF16 variant of the bf16 GEMM tile (native only: not part of the SIMDe-emulated build) (tdpbf16ps on 16x16 fp32 accumulator tiles),
// compiled with -mamx-tile -mamx-bf16 on top of the AVX-512 flags and reached only where
// CPUID reports AMX and Linux granted the tile state (kernels/bf16.cpp).
//
// Not bit-exact with the scalar twin: tdpbf16ps does not round as vdpbf16ps does (on the
// development Xeon about half of the outputs of one 16-pair step differ from every
// sequential-FMA model in their last bits), so this table is opt-in (MNV2_BF16=amx) and its
// tests bound the difference instead of comparing bits.
//
// Operands: the tile's kp is a multiple of 16 pairs (kAmxPairs; the executor and the packer
// pad with zero pairs), and the A rows are readable up to 32 rows past `a` whatever mr is
// (the tile loads always read 16 or 32 rows; the rows past mr only feed accumulator rows
// that are not stored).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/avx512/bf16_impl.h"

namespace mnv2::kernels {

namespace {

struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: accumulators (rows 0-15 / 16-31 x columns 0-15 / 16-31); 4, 5: A rows 0-15 /
// 16-31 (16 pairs each); 6, 7: B columns 0-15 / 16-31 (16 pair rows). The configuration is
// per thread; every tile is 16 rows of 64 bytes.
void configure_once() {
  static thread_local bool done = false;
  if (done) return;
  TileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = 64;
    c.rows[t] = 16;
  }
  _tile_loadconfig(&c);
  done = true;
}

template <bool Two>
void amx_tile(const Bf16Tile& t, float (*out)[32]) {
  // Accumulators start from the bias: one row loaded 16 times (stride 0).
  _tile_loadd(0, t.bias, 0);
  _tile_loadd(1, t.bias + 16, 0);
  if constexpr (Two) {
    _tile_loadd(2, t.bias, 0);
    _tile_loadd(3, t.bias + 16, 0);
  }
  const int64_t sa = t.lda * 4;
  for (int p = 0; p < t.kp; p += 16) {
    _tile_loadd(4, t.a + p, sa);
    _tile_loadd(6, t.b + int64_t(p) * 32, 128);
    _tile_loadd(7, t.b + int64_t(p) * 32 + 16, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if constexpr (Two) {
      _tile_loadd(5, t.a + 16 * t.lda + p, sa);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, &out[0][0], 128);
  _tile_stored(1, &out[0][16], 128);
  if constexpr (Two) {
    _tile_stored(2, &out[16][0], 128);
    _tile_stored(3, &out[16][16], 128);
  }
}

void gemm_amx(const Bf16Tile& t) {
  configure_once();
  alignas(64) float acc[32][32];
  if (t.mr > 16)
    amx_tile<true>(t, acc);
  else
    amx_tile<false>(t, acc);
  using V = avx512::Vec;
  const __m512 zero = V::zero(), six = V::set1(6.f);
  for (int m = 0; m < t.mr; ++m) {
    float* c = t.c + m * t.ldc;
    const float* r = t.residual ? t.residual + m * t.ldr : nullptr;
    for (int j = 0; j < 2; ++j) {
      const int n = t.nr - 16 * j;
      if (n <= 0) break;
      __m512 v = V::load(&acc[m][16 * j]);
      if (t.act != Activation::None) v = V::max(v, zero);
      if (t.act == Activation::Relu6) v = V::min(v, six);
      if (n >= 16) {
        if (r) v = V::add(v, V::load(r + 16 * j));
        V::store(c + 16 * j, v);
      } else {
        if (r) v = V::add(v, V::load_n(r + 16 * j, n));
        V::store_n(c + 16 * j, v, n);
      }
    }
  }
}

}  // namespace

// Rows of one row (batch-1 logits) go through the AVX512_BF16 four-panel kernel: a 16-row
// tile would waste 15 of its rows.
constinit const Bf16KernelTable kBf16AmxTable = {
    "amx_bf16", 32, 32, &gemm_amx, &avx512::bf16::gemm_row4, &avx512::bf16::to_pairs, kAmxPairs};

}  // namespace mnv2::kernels
