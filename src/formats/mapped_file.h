// A model file mapped read-only into memory (read into memory where mapping fails), so that
// a loader reads it once and, constant by constant, gives back the pages it has consumed:
// the file's bytes never sit in memory next to everything the loader made of them
// (docs/memory.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mnv2 {

class MappedFile {
 public:
  // Throws mnv2::Error naming the file when it cannot be opened or read.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return map_ ? map_ : copy_.data(); }
  size_t size() const { return size_; }
  // Drops the resident pages wholly inside [p, p + n) (a hint: the bytes stay readable and
  // come back from the file when touched again). A no-op for a file that was read.
  void release(const uint8_t* p, size_t n) const;

 private:
  const uint8_t* map_ = nullptr;
  size_t size_ = 0;
  std::vector<uint8_t> copy_;
};

}  // namespace mnv2
