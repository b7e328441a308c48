#include "runtime/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

namespace mnv2 {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// How long an idle worker keeps polling for the next layer before it sleeps. Layers of
// one inference follow each other within microseconds; between inferences the worker
// gives its core back to the rest of the machine.
constexpr auto kSpin = std::chrono::microseconds(300);

// Item field of a generation whose job fields are being written (read as an int it is
// above every count, so drain() never claims from it).
constexpr uint32_t kClosed = 0x7fffffffu;

// Straggler back-off (see thread_pool.h): a wait counts as a straggler event when it is
// longer than both kStraggle and the caller's own share of the call (on an idle machine the
// wait is at most one item, which is less than the caller's share).
constexpr auto kStraggle = std::chrono::microseconds(100);
constexpr int kMinBackoff = 64;
constexpr int kMaxBackoff = 16384;
constexpr int kCleanToHalve = 2048;
// Two straggler events within this many parallel calls (one or two batch-1 inferences)
// start a back-off.
constexpr int kRecentCalls = 256;

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
    const int count = count_.load(std::memory_order_acquire);
    const Job job = job_.load(std::memory_order_acquire);
    void* ctx = ctx_.load(std::memory_order_acquire);
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
  if (workers_.empty() || count == 1 || inline_left_ > 0) {
    if (inline_left_ > 0 && count > 1) --inline_left_;
    for (int i = 0; i < count; ++i) job(ctx, i, 0);
    return;
  }
  const auto t_start = std::chrono::steady_clock::now();
  if (since_event_ < (1 << 30)) ++since_event_;
  const uint32_t gen = uint32_t(state_.load(std::memory_order_relaxed) >> 32) + 1;
  // Close the new generation before touching the job fields: a worker that read the old
  // state and then sees a new field must fail its claim (its expected state is gone), else
  // it could run an item of the new job under the old generation's claim and count it twice
  // (that race hung `--threads 2` runs: the caller waited forever for a lost item).
  state_.store((uint64_t(gen) << 32) | kClosed, std::memory_order_seq_cst);
  job_.store(job, std::memory_order_release);
  ctx_.store(ctx, std::memory_order_release);
  count_.store(count, std::memory_order_release);
  done_.store(0, std::memory_order_relaxed);
  state_.store(uint64_t(gen) << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  drain(gen, 0);
  if (done_.load(std::memory_order_acquire) == count) {
    ++clean_calls_;
  } else {
    const auto t_drained = std::chrono::steady_clock::now();
    for (int spins = 0; done_.load(std::memory_order_acquire) != count; ++spins) {
      // A descheduled worker holding an item needs this core more than the spin does.
      if (spins < 4096)
        cpu_relax();
      else
        sched_yield();
    }
    const auto t_end = std::chrono::steady_clock::now();
    const auto waited = t_end - t_drained;
    if (waited > kStraggle && waited > t_drained - t_start) {
      // Only a second event soon after the first backs off: a lone long wait is the VM's
      // host pausing the worker's virtual CPU for a moment, not a busy machine.
      if (since_event_ < kRecentCalls) {
        backoff_ = backoff_ == 0 ? kMinBackoff : std::min(2 * backoff_, kMaxBackoff);
        inline_left_ = backoff_;
      }
      since_event_ = 0;
      clean_calls_ = 0;
    } else {
      ++clean_calls_;
    }
  }
  if (clean_calls_ >= kCleanToHalve && backoff_ > 0) {
    backoff_ = backoff_ / 2 < kMinBackoff ? 0 : backoff_ / 2;
    clean_calls_ = 0;
  }
}

void ThreadPool::worker_loop(int worker) {
  uint32_t seen = 0;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    uint32_t gen;
    for (int spins = 0;; ++spins) {
      const uint64_t st = state_.load(std::memory_order_acquire);
      gen = uint32_t(st >> 32);
      if ((gen != seen && uint32_t(st) != kClosed) || stop_.load(std::memory_order_relaxed)) break;
      cpu_relax();
      // Yield now and then: when the caller shares this core with the spinning worker (the
      // scheduler does that on a busy machine), a pure spin takes half its time away.
      if ((spins & 63) == 63) sched_yield();
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
