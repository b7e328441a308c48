#include "formats/flatbuf.h"

#include <algorithm>

namespace mnv2::fb {

void Buffer::fail(size_t offset, const std::string& context, const std::string& what) const {
  throw Error("'" + file_ + "': malformed flatbuffer at offset " + std::to_string(offset) +
              (context.empty() ? "" : " (" + context + ")") + ": " + what);
}

// ---------------------------------------------------------------------------------------

Table::Table(const Buffer* b, size_t pos, std::string context)
    : b_(b), pos_(pos), ctx_(std::move(context)) {
  const int32_t soff = b_->read<int32_t>(pos_, ctx_, "table header");
  const int64_t vt = int64_t(pos_) - int64_t(soff);
  if (vt < 0 || uint64_t(vt) + 4 > b_->size())
    b_->fail(pos_, ctx_, "table's vtable offset " + std::to_string(soff) +
                             " points outside the file");
  vt_ = size_t(vt);
  vt_size_ = b_->read<uint16_t>(vt_, ctx_, "vtable size");
  tbl_size_ = b_->read<uint16_t>(vt_ + 2, ctx_, "table size");
  if (vt_size_ < 4 || (vt_size_ & 1))
    b_->fail(vt_, ctx_, "invalid vtable size " + std::to_string(vt_size_));
  b_->need(vt_, vt_size_, ctx_, "vtable");
  if (tbl_size_ < 4) b_->fail(vt_, ctx_, "invalid table size " + std::to_string(tbl_size_));
  b_->need(pos_, tbl_size_, ctx_, "table");
}

size_t Table::field_offset(int field) const {
  if (!b_) return 0;
  const size_t idx = 4 + 2 * size_t(field);
  if (idx + 2 > vt_size_) return 0;
  uint16_t o;
  std::memcpy(&o, b_->data() + vt_ + idx, 2);
  return o;
}

void Table::check_inline(int field, size_t o, size_t len) const {
  if (o < 4 || o + len > tbl_size_)
    fail("field " + std::to_string(field) + " at table offset " + std::to_string(o) +
         " lies outside its " + std::to_string(tbl_size_) + "-byte table");
}

size_t Table::follow(size_t p, const char* what) const {
  const uint32_t u = b_->read<uint32_t>(p, ctx_, what);
  const uint64_t target = uint64_t(p) + u;
  b_->need(target, 4, ctx_, what);
  return size_t(target);
}

Table Table::table(int field, const std::string& context) const {
  const size_t o = field_offset(field);
  if (!o) return {};
  check_inline(field, o, 4);
  return Table(b_, follow(pos_ + o, "sub-table reference"), context);
}

Vector Table::vector(int field, size_t elem, const char* what) const {
  const size_t o = field_offset(field);
  if (!o) return {};
  check_inline(field, o, 4);
  const size_t v = follow(pos_ + o, what);
  const uint32_t n = b_->read<uint32_t>(v, ctx_, what);
  b_->need(uint64_t(v) + 4, uint64_t(n) * elem, ctx_, what);
  return Vector(b_, v + 4, n, elem, ctx_);
}

std::string Table::string(int field, size_t max_len) const {
  const size_t o = field_offset(field);
  if (!o) return {};
  check_inline(field, o, 4);
  const size_t s = follow(pos_ + o, "string");
  const uint32_t n = b_->read<uint32_t>(s, ctx_, "string length");
  b_->need(uint64_t(s) + 4, n, ctx_, "string");
  return std::string(reinterpret_cast<const char*>(b_->data() + s + 4),
                     std::min<size_t>(n, max_len));
}

Table Vector::table(uint32_t i, const std::string& context) const {
  const size_t p = pos_ + size_t(i) * 4;
  const uint32_t u = b_->read<uint32_t>(p, context, "table reference");
  const uint64_t target = uint64_t(p) + u;
  b_->need(target, 4, context, "table");
  return Table(b_, size_t(target), context);
}

std::string Vector::string(uint32_t i, size_t max_len) const {
  const size_t p = pos_ + size_t(i) * 4;
  const uint32_t u = b_->read<uint32_t>(p, ctx_, "string reference");
  const uint64_t s = uint64_t(p) + u;
  const uint32_t n = b_->read<uint32_t>(s, ctx_, "string length");
  b_->need(s + 4, n, ctx_, "string");
  return std::string(reinterpret_cast<const char*>(b_->data() + s + 4),
                     std::min<size_t>(n, max_len));
}

Table root(const Buffer& b, const char* identifier) {
  if (b.size() < 8) b.fail(0, "", "file is only " + std::to_string(b.size()) + " bytes");
  if (identifier && std::memcmp(b.data() + 4, identifier, 4) != 0)
    b.fail(4, "", std::string("file identifier is not \"") + identifier + "\"");
  const uint32_t r = b.read<uint32_t>(0, "root", "root offset");
  b.need(r, 4, "root", "root table");
  return Table(&b, r, "model");
}

// ---------------------------------------------------------------------------------------

Builder::Builder() : buf_(4096), head_(4096) {}

void Builder::push(const void* p, size_t n) {
  if (head_ < n) {
    const size_t used = size();
    size_t cap = buf_.size() * 2;
    while (cap - used < n) cap *= 2;
    std::vector<uint8_t> nb(cap);
    std::memcpy(nb.data() + cap - used, buf_.data() + head_, used);
    buf_.swap(nb);
    head_ = cap - used;
  }
  head_ -= n;
  if (p)
    std::memcpy(buf_.data() + head_, p, n);
  else
    std::memset(buf_.data() + head_, 0, n);
}

void Builder::align(size_t a) {
  max_align_ = std::max(max_align_, a);
  const size_t pad = (a - size() % a) % a;
  if (pad) push(nullptr, pad);
}

Builder::Ref Builder::create_bytes(const void* data, size_t bytes, size_t elem, size_t al) {
  if (in_table_) throw Error("flatbuffer builder: vector created inside a table");
  max_align_ = std::max(max_align_, al);
  const size_t pad = (al - (size() + bytes) % al) % al;
  if (pad) push(nullptr, pad);
  push(data, bytes);
  const uint32_t n = uint32_t(bytes / elem);
  push(&n, 4);
  return Ref(size());
}

Builder::Ref Builder::create_string(const std::string& s) {
  if (in_table_) throw Error("flatbuffer builder: string created inside a table");
  const size_t pad = (4 - (size() + s.size() + 1) % 4) % 4;
  if (pad) push(nullptr, pad);
  push(nullptr, 1);
  push(s.data(), s.size());
  const uint32_t n = uint32_t(s.size());
  push(&n, 4);
  return Ref(size());
}

Builder::Ref Builder::create_ref_vector(const std::vector<Ref>& refs) {
  if (in_table_) throw Error("flatbuffer builder: vector created inside a table");
  align(4);
  for (size_t i = refs.size(); i-- > 0;) {
    const uint32_t v = uint32_t(size() + 4 - refs[i]);
    push(&v, 4);
  }
  const uint32_t n = uint32_t(refs.size());
  push(&n, 4);
  return Ref(size());
}

void Builder::start_table() {
  if (in_table_) throw Error("flatbuffer builder: nested table");
  in_table_ = true;
  fields_.clear();
  table_start_ = uint32_t(size());
}

void Builder::add_ref(int field, Ref r) {
  align(4);
  const uint32_t v = uint32_t(size() + 4 - r);
  push(&v, 4);
  fields_.push_back({field, uint32_t(size())});
}

Builder::Ref Builder::end_table() {
  align(4);
  const int32_t placeholder = 0;
  push(&placeholder, 4);
  const uint32_t table_end = uint32_t(size());
  int max_id = -1;
  for (const auto& f : fields_) max_id = std::max(max_id, f.id);
  std::vector<uint16_t> vt(size_t(2 + max_id + 1), 0);
  vt[0] = uint16_t(vt.size() * 2);
  vt[1] = uint16_t(table_end - table_start_);
  for (const auto& f : fields_) vt[size_t(2 + f.id)] = uint16_t(table_end - f.end_off);
  push(vt.data(), vt.size() * 2);
  const int32_t soff = int32_t(size() - table_end);
  std::memcpy(at_end_offset(table_end), &soff, 4);
  in_table_ = false;
  return table_end;
}

std::vector<uint8_t> Builder::finish(Ref root, const char* identifier, size_t min_align) {
  const size_t a = std::max(max_align_, min_align);
  const size_t pad = (a - (size() + 8) % a) % a;
  if (pad) push(nullptr, pad);
  push(identifier, 4);
  const uint32_t r = uint32_t(size() + 4 - root);
  push(&r, 4);
  return std::vector<uint8_t>(buf_.begin() + std::ptrdiff_t(head_), buf_.end());
}

}  // namespace mnv2::fb
