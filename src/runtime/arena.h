// Activation memory: one aligned block per executor, with every value placed at an offset
// chosen from value lifetimes so that values alive at the same time never overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mnv2 {

constexpr size_t kArenaAlign = 64;

// A 64-byte aligned float buffer (aligned for full-cache-line vector loads).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t floats);
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();
  float* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

struct ArenaRequest {
  int64_t bytes = 0;
  int first = 0;  // first step that writes the value
  int last = 0;   // last step that reads it (inclusive)
};

// Greedy best-offset placement, largest first. Returns the arena size in bytes and one
// offset (a multiple of kArenaAlign) per request.
int64_t plan_arena(const std::vector<ArenaRequest>& requests, std::vector<int64_t>* offsets);

}  // namespace mnv2
