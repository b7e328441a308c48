// IEEE 754 binary16 <-> binary32, shared by the loaders and writers of every format.
#include "formats/half.h"

#include <cmath>
#include <cstring>

namespace mnv2 {

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u)  // inf / nan (keep a quiet nan payload bit)
    return uint16_t(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0u));
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to infinity
  if (a < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    float v;
    std::memcpy(&v, &a, 4);
    // Scaling by 2^24 is exact; the half subnormal's mantissa is that value rounded.
    const uint32_t m = uint32_t(std::nearbyint(v * 16777216.0f));
    return uint16_t(sign | m);  // m == 0x400 encodes the smallest normal, as it should
  }
  uint32_t h = ((((a >> 23) - 127u + 15u) << 10) | ((a & 0x7fffffu) >> 13));
  const uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carry may bump the exponent
  return uint16_t(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  if (e == 0) {
    const float v = std::ldexp(float(m), -24);
    return sign ? -v : v;
  }
  uint32_t bits;
  if (e == 31)
    bits = sign | 0x7f800000u | (m << 13);
  else
    bits = sign | ((e - 15u + 127u) << 23) | (m << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace mnv2
