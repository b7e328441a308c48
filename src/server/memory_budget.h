// The request memory every in-flight request of `mnv2 serve` shares: buffered bodies,
// parsed JSON, decoded images with their preprocessing copies, input tensors. Each is
// charged before it is allocated; when the budget is spent the request is answered 503
// (try again) instead of the server growing without bound, and a single request that
// could never fit gets 413.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mnv2::server {

class MemoryBudget {
 public:
  explicit MemoryBudget(size_t capacity) : capacity_(capacity) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  size_t capacity() const { return capacity_; }
  size_t in_use() const { return used_.load(std::memory_order_relaxed); }
  size_t peak() const { return peak_.load(std::memory_order_relaxed); }

  // Never blocks: false when `n` more bytes would exceed the capacity.
  bool try_acquire(size_t n) {
    size_t cur = used_.load(std::memory_order_relaxed);
    do {
      if (n > capacity_ || cur > capacity_ - n) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
    size_t p = peak_.load(std::memory_order_relaxed);
    while (cur + n > p && !peak_.compare_exchange_weak(p, cur + n, std::memory_order_relaxed)) {
    }
    return true;
  }
  void release(size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  std::atomic<size_t> used_{0}, peak_{0};
};

// A share of a budget held by one request, returned when the hold is destroyed (or
// released). A hold without a budget accepts everything (no limit configured).
class BudgetHold {
 public:
  BudgetHold() = default;
  explicit BudgetHold(MemoryBudget* budget) : budget_(budget) {}
  ~BudgetHold() { release(); }
  BudgetHold(BudgetHold&& o) noexcept : budget_(o.budget_), held_(o.held_) { o.held_ = 0; }
  BudgetHold& operator=(BudgetHold&& o) noexcept {
    if (this != &o) {
      release();
      budget_ = o.budget_;
      held_ = o.held_;
      o.held_ = 0;
    }
    return *this;
  }
  BudgetHold(const BudgetHold&) = delete;
  BudgetHold& operator=(const BudgetHold&) = delete;

  bool grow(size_t n) {
    if (budget_ && !budget_->try_acquire(n)) return false;
    held_ += n;
    return true;
  }
  void release() {
    if (budget_ && held_) budget_->release(held_);
    held_ = 0;
  }
  size_t held() const { return held_; }
  MemoryBudget* budget() const { return budget_; }

 private:
  MemoryBudget* budget_ = nullptr;
  size_t held_ = 0;
};

}  // namespace mnv2::server
