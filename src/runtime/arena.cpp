#include "runtime/arena.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>

#include "mnv2/mnv2.h"

namespace mnv2 {

AlignedBuffer::AlignedBuffer(size_t floats) : n_(floats) {
  if (floats == 0) return;
  const size_t bytes = (floats * sizeof(float) + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
  p_ = static_cast<float*>(std::aligned_alloc(kArenaAlign, bytes));
  if (!p_) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { std::free(p_); }

int64_t plan_arena(const std::vector<ArenaRequest>& req, std::vector<int64_t>* offsets) {
  const size_t n = req.size();
  offsets->assign(n, 0);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return req[a].bytes > req[b].bytes; });
  auto round = [](int64_t b) {
    return (b + int64_t(kArenaAlign) - 1) / int64_t(kArenaAlign) * int64_t(kArenaAlign);
  };
  std::vector<size_t> placed;
  int64_t total = 0;
  for (size_t i : order) {
    const int64_t size = round(req[i].bytes);
    // Intervals taken by already placed values alive at the same time, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed)
      if (req[j].first <= req[i].last && req[i].first <= req[j].last)
        busy.emplace_back((*offsets)[j], (*offsets)[j] + round(req[j].bytes));
    std::sort(busy.begin(), busy.end());
    // The lowest gap that fits.
    int64_t at = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo - at >= size) break;
      at = std::max(at, hi);
    }
    (*offsets)[i] = at;
    total = std::max(total, at + size);
    placed.push_back(i);
  }
  return total;
}

}  // namespace mnv2
