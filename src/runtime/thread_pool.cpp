#include "runtime/thread_pool.h"

#include <sched.h>

#include <chrono>

namespace mnv2 {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker keeps polling for the next layer before it sleeps. Layers of
// one inference follow each other within microseconds; between inferences the worker
// gives its core back to the rest of the machine.
constexpr auto kSpin = std::chrono::microseconds(300);

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  workers_.reserve(size_t(threads - 1));
  for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::drain(uint32_t gen, int worker) {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (uint32_t(s >> 32) != gen) return;
    const int item = int(uint32_t(s));
    // Read before the claim: a successful claim of an unfinished item proves the job
    // fields still belong to `gen` (the next job is published only after all items finish).
    const int count = count_.load(std::memory_order_relaxed);
    const Job job = job_.load(std::memory_order_relaxed);
    void* ctx = ctx_.load(std::memory_order_relaxed);
    if (item >= count) return;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
      continue;
    job(ctx, item, worker);
    done_.fetch_add(1, std::memory_order_release);
    s = state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run(int count, Job job, void* ctx) {
  if (count <= 0) return;
  if (workers_.empty() || count == 1) {
    for (int i = 0; i < count; ++i) job(ctx, i, 0);
    return;
  }
  const uint32_t gen = uint32_t(state_.load(std::memory_order_relaxed) >> 32) + 1;
  job_.store(job, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  count_.store(count, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  state_.store(uint64_t(gen) << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  drain(gen, 0);
  for (int spins = 0; done_.load(std::memory_order_acquire) != count; ++spins) {
    // A descheduled worker holding an item needs this core more than the spin does.
    if (spins < 4096)
      cpu_relax();
    else
      sched_yield();
  }
}

void ThreadPool::worker_loop(int worker) {
  uint32_t seen = 0;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    uint32_t gen;
    for (int spins = 0;; ++spins) {
      gen = uint32_t(state_.load(std::memory_order_acquire) >> 32);
      if (gen != seen || stop_.load(std::memory_order_relaxed)) break;
      cpu_relax();
      if ((spins & 63) == 63 && std::chrono::steady_clock::now() - t0 > kSpin) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          return uint32_t(state_.load(std::memory_order_seq_cst) >> 32) != seen ||
                 stop_.load(std::memory_order_relaxed);
        });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        t0 = std::chrono::steady_clock::now();
      }
    }
    if (stop_.load(std::memory_order_relaxed)) return;
    seen = gen;
    drain(gen, worker);
  }
}

}  // namespace mnv2
