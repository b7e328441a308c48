#include "runtime/arena.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "mnv2/mnv2.h"

namespace mnv2 {

AlignedBuffer::AlignedBuffer(size_t floats) : n_(floats) {
  if (floats == 0) return;
  const size_t want = floats * sizeof(float);
  const size_t align = want >= kHugePageBytes ? kHugePageBytes : kArenaAlign;
  const size_t bytes = (want + align - 1) / align * align;
  p_ = static_cast<float*>(std::aligned_alloc(align, bytes));
  if (!p_) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
#if defined(MADV_HUGEPAGE)
  // Advice only: where transparent huge pages are off, this fails or does nothing and the
  // buffer stays on small pages.
  if (align == kHugePageBytes) (void)madvise(p_, bytes, MADV_HUGEPAGE);
#endif
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
