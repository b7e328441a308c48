// FlatBuffers binary format: a bounds-checked reader and a small back-to-front builder,
// used by the TFLite loader and writer (no generated code, no flatbuffers library).
//
// Reader: every offset, vtable, vector length and string is checked against the size of
// the whole buffer before it is followed; a violation throws mnv2::Error naming the file,
// the absolute offset and the caller's context (e.g. "subgraph 0 tensor 12").
// Builder: objects are written from the end of the buffer towards its start, so every
// reference points forward, as the format requires.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2::fb {

// The whole file being read; tables and vectors keep a pointer to it.
class Buffer {
 public:
  Buffer(const uint8_t* data, size_t size, std::string file) : p_(data), n_(size),
      file_(std::move(file)) {}
  size_t size() const { return n_; }
  const uint8_t* data() const { return p_; }
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(size_t offset, const std::string& context,
                         const std::string& what) const;
  // Ensures [offset, offset + len) lies inside the buffer.
  void need(uint64_t offset, uint64_t len, const std::string& context,
            const char* what) const {
    if (offset > n_ || len > n_ - offset)
      fail(size_t(offset > n_ ? n_ : offset), context,
           std::string(what) + " (" + std::to_string(len) + " bytes at offset " +
               std::to_string(offset) + ") runs past the end of the " + std::to_string(n_) +
               "-byte file");
  }
  template <class T>
  T read(uint64_t offset, const std::string& context, const char* what) const {
    need(offset, sizeof(T), context, what);
    T v;
    std::memcpy(&v, p_ + offset, sizeof(T));
    return v;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  std::string file_;
};

class Table;

// A vector inside the buffer: `count` elements of `elem` bytes starting at `pos`.
class Vector {
 public:
  Vector() = default;
  Vector(const Buffer* b, size_t pos, uint32_t count, size_t elem, std::string context)
      : b_(b), pos_(pos), count_(count), elem_(elem), ctx_(std::move(context)) {}
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  size_t pos() const { return pos_; }
  const uint8_t* bytes() const { return b_ ? b_->data() + pos_ : nullptr; }

  template <class T>
  T at(uint32_t i) const {
    T v;
    std::memcpy(&v, b_->data() + pos_ + size_t(i) * elem_, sizeof(T));
    return v;
  }
  // Elements of a vector of tables / strings are offsets relative to their own position.
  Table table(uint32_t i, const std::string& context) const;
  std::string string(uint32_t i, size_t max_len) const;

 private:
  const Buffer* b_ = nullptr;
  size_t pos_ = 0;
  uint32_t count_ = 0;
  size_t elem_ = 1;
  std::string ctx_;
};

class Table {
 public:
  Table() = default;
  // The table whose position is `pos`; validates its vtable.
  Table(const Buffer* b, size_t pos, std::string context);
  bool valid() const { return b_ != nullptr; }
  const std::string& context() const { return ctx_; }
  size_t pos() const { return pos_; }

  bool has(int field) const { return field_offset(field) != 0; }

  template <class T>
  T scalar(int field, T fallback) const {
    const size_t o = field_offset(field);
    if (!o) return fallback;
    check_inline(field, o, sizeof(T));
    T v;
    std::memcpy(&v, b_->data() + pos_ + o, sizeof(T));
    return v;
  }
  // A referenced sub-table; invalid Table when the field is absent.
  Table table(int field, const std::string& context) const;
  // A vector of `elem`-byte elements; empty when absent.
  Vector vector(int field, size_t elem, const char* what) const;
  // A string, cut to max_len bytes; empty when absent.
  std::string string(int field, size_t max_len) const;

  [[noreturn]] void fail(const std::string& what) const { b_->fail(pos_, ctx_, what); }

 private:
  size_t field_offset(int field) const;
  void check_inline(int field, size_t o, size_t len) const;
  // Follows the uoffset stored at absolute position p.
  size_t follow(size_t p, const char* what) const;

  const Buffer* b_ = nullptr;
  size_t pos_ = 0, vt_ = 0;
  uint16_t vt_size_ = 0, tbl_size_ = 0;
  std::string ctx_;
};

// The root table of a file, after checking the 4-byte identifier (if given).
Table root(const Buffer& b, const char* identifier);

// ---------------------------------------------------------------------------------------
// Builder. Offsets returned by the create_* functions are "end offsets": the distance of
// the object from the end of the buffer, stable while more objects are prepended.
class Builder {
 public:
  using Ref = uint32_t;

  Builder();
  size_t size() const { return buf_.size() - head_; }

  // Vectors of scalars / raw bytes; `align` is the alignment of the element data.
  Ref create_bytes(const void* data, size_t bytes, size_t elem, size_t align);
  template <class T>
  Ref create_vector(const std::vector<T>& v, size_t align = sizeof(T)) {
    return create_bytes(v.data(), v.size() * sizeof(T), sizeof(T), align < 4 ? 4 : align);
  }
  Ref create_string(const std::string& s);
  Ref create_ref_vector(const std::vector<Ref>& refs);  // vector of tables or strings

  // Tables: start_table, add_* (any order), end_table. Scalars equal to their default
  // may be skipped by the caller.
  void start_table();
  template <class T>
  void add_scalar(int field, T v) {
    align(sizeof(T));
    push(&v, sizeof(T));
    fields_.push_back({field, uint32_t(size())});
  }
  void add_ref(int field, Ref r);
  Ref end_table();

  // Writes the root offset and file identifier; returns the finished bytes.
  std::vector<uint8_t> finish(Ref root, const char* identifier, size_t min_align = 16);

 private:
  void align(size_t a);
  void push(const void* p, size_t n);
  uint8_t* at_end_offset(uint32_t off) { return buf_.data() + buf_.size() - off; }

  struct FieldLoc {
    int id;
    uint32_t end_off;
  };
  std::vector<uint8_t> buf_;
  size_t head_;
  size_t max_align_ = 4;
  std::vector<FieldLoc> fields_;
  uint32_t table_start_ = 0;
  bool in_table_ = false;
};

}  // namespace mnv2::fb
