// Protocol-buffer wire format: a bounds-checked reader and a small writer, shared by the
// ONNX and TF GraphDef loaders/writers (no generated code, no libprotobuf at run time).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2::pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5 };

// One field as read from a message. For kLength, `data` is the payload (a sub-message,
// string, or packed repeated values); for the others `value` holds the raw bits.
struct Field {
  uint32_t number = 0;
  WireType type = kVarint;
  uint64_t value = 0;
  std::string_view data;
  size_t offset = 0;  // offset of the field's tag within the whole file, for error messages
};

// Iterates over the fields of one message. Every read is bounds-checked; malformed input
// throws mnv2::Error with the absolute offset.
class Reader {
 public:
  Reader(std::string_view bytes, size_t base_offset = 0, std::string context = "protobuf")
      : p_(bytes), base_(base_offset), context_(std::move(context)) {}

  bool next(Field& f) {
    if (pos_ >= p_.size()) return false;
    f.offset = base_ + pos_;
    const uint64_t tag = varint();
    f.number = uint32_t(tag >> 3);
    f.type = WireType(tag & 7);
    if (f.number == 0) fail("field number 0");
    switch (f.type) {
      case kVarint: f.value = varint(); break;
      case kFixed64: f.value = fixed(8); break;
      case kFixed32: f.value = fixed(4); break;
      case kLength: {
        const uint64_t n = varint();
        if (n > p_.size() - pos_) fail("length-delimited field runs past the end");
        f.data = p_.substr(pos_, size_t(n));
        pos_ += size_t(n);
        break;
      }
      default: fail("unsupported wire type " + std::to_string(unsigned(f.type)));
    }
    return true;
  }

  // Sub-reader over a length-delimited field.
  Reader sub(const Field& f) const {
    return Reader(f.data, base_ + size_t(f.data.data() - p_.data()), context_);
  }
  size_t absolute(const Field& f) const { return base_ + size_t(f.data.data() - p_.data()); }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(context_ + ": malformed protobuf at offset " + std::to_string(base_ + pos_) +
                ": " + what);
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= p_.size()) fail("truncated varint");
      const uint8_t b = uint8_t(p_[pos_++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  uint64_t fixed(int n) {
    if (p_.size() - pos_ < size_t(n)) fail("truncated fixed-width field");
    uint64_t v = 0;
    std::memcpy(&v, p_.data() + pos_, size_t(n));  // little-endian host assumed (x86-64)
    pos_ += size_t(n);
    return v;
  }

  std::string_view p_;
  size_t pos_ = 0;
  size_t base_;
  std::string context_;
};

inline float as_float(const Field& f) {
  float v;
  uint32_t bits = uint32_t(f.value);
  std::memcpy(&v, &bits, 4);
  return v;
}
inline int64_t as_int64(const Field& f) { return int64_t(f.value); }

// Decodes a packed (or single) repeated varint field into out.
void read_packed_varints(const Reader& r, const Field& f, std::vector<int64_t>& out);
// Decodes a packed (or single) repeated 32-bit float field into out.
void read_packed_floats(const Reader& r, const Field& f, std::vector<float>& out);

// Builds one message. Nested messages are written by serialising a child Writer and
// adding it with bytes().
class Writer {
 public:
  void varint(uint32_t field, uint64_t v) {
    tag(field, kVarint);
    raw_varint(v);
  }
  void sint(uint32_t field, int64_t v) { varint(field, uint64_t(v)); }  // int64 (not zigzag)
  void fixed32(uint32_t field, uint32_t v) {
    tag(field, kFixed32);
    buf_.append(reinterpret_cast<const char*>(&v), 4);
  }
  void f32(uint32_t field, float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    fixed32(field, bits);
  }
  void bytes(uint32_t field, std::string_view data) {
    tag(field, kLength);
    raw_varint(data.size());
    buf_.append(data.data(), data.size());
  }
  void message(uint32_t field, const Writer& child) { bytes(field, child.buf_); }
  void packed_varints(uint32_t field, const std::vector<int64_t>& v) {
    Writer w;
    for (int64_t x : v) w.raw_varint(uint64_t(x));
    bytes(field, w.buf_);
  }
  void packed_floats(uint32_t field, const float* v, size_t n) {
    bytes(field, std::string_view(reinterpret_cast<const char*>(v), n * 4));
  }
  const std::string& str() const { return buf_; }

 private:
  void tag(uint32_t field, WireType t) { raw_varint((uint64_t(field) << 3) | t); }
  void raw_varint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(char(uint8_t(v) | 0x80));
      v >>= 7;
    }
    buf_.push_back(char(v));
  }
  std::string buf_;
};

}  // namespace mnv2::pb
