#include "formats/pb_wire.h"

namespace mnv2::pb {

void read_packed_varints(const Reader& r, const Field& f, std::vector<int64_t>& out) {
  if (f.type == kVarint) {
    out.push_back(int64_t(f.value));
    return;
  }
  if (f.type != kLength) r.fail("expected varint or packed varints");
  Reader sub = r.sub(f);
  // A packed run is a sequence of varints without tags: decode by hand.
  std::string_view d = f.data;
  size_t pos = 0;
  while (pos < d.size()) {
    uint64_t v = 0;
    int shift = 0;
    for (;;) {
      if (pos >= d.size() || shift >= 64) sub.fail("truncated packed varint");
      const uint8_t b = uint8_t(d[pos++]);
      v |= uint64_t(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    out.push_back(int64_t(v));
  }
}

void read_packed_floats(const Reader& r, const Field& f, std::vector<float>& out) {
  if (f.type == kFixed32) {
    out.push_back(as_float(f));
    return;
  }
  if (f.type != kLength || f.data.size() % 4) r.fail("expected packed floats");
  const size_t n = f.data.size() / 4, old = out.size();
  out.resize(old + n);
  if (n) std::memcpy(out.data() + old, f.data.data(), f.data.size());  // empty: data() may be null
}

}  // namespace mnv2::pb
