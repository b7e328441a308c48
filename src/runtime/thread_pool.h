// A small persistent thread pool for the executor's layer loops.
//
// parallel_for(count, fn) runs fn(item, worker) for item = 0..count-1, with the calling
// thread taking part as worker 0. Which thread runs an item is left to chance (items are
// claimed one at a time), so callers must make each item's result independent of the
// thread that computes it; `worker` only selects per-thread scratch memory. No call
// allocates: idle workers spin briefly (layers come back to back) and then sleep.
//
// Straggler back-off: when the caller has finished its share of a call and then waits on a
// worker far longer than its own share took (the worker was preempted by another process
// on an oversubscribed machine) and that happened before within the last 256 calls, the
// next calls run on the caller alone, a number that doubles with each such event; a long
// run of clean calls halves it again. This keeps `threads > 1` from becoming much slower
// than one thread on a busy machine. A single long wait is not enough: on a virtual
// machine the host pauses a virtual CPU now and then, and backing off for that made the
// 2-thread p90 latency as slow as one thread. Results do not change: items never depend
// on the thread that runs them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mnv2 {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1; threads - 1 workers are started
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return int(workers_.size()) + 1; }

  template <class F>
  void parallel_for(int count, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    run(count, [](void* ctx, int item, int worker) { (*static_cast<Fn*>(ctx))(item, worker); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using Job = void (*)(void*, int, int);
  void run(int count, Job job, void* ctx);
  // Claims and runs items of generation `gen` until none are left.
  void drain(uint32_t gen, int worker);
  void worker_loop(int worker);

  std::vector<std::thread> workers_;
  // High 32 bits: job generation; low 32 bits: next unclaimed item.
  std::atomic<uint64_t> state_{0};
  std::atomic<Job> job_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> count_{0};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  // Back-off state, touched only by the calling thread (run() is not reentrant).
  int inline_left_ = 0;   // calls still to run on the caller alone
  int backoff_ = 0;       // length of the next back-off
  int clean_calls_ = 0;   // clean parallel calls since the last event or the last halving
  int since_event_ = 1 << 30;  // parallel calls since the last straggler event (saturates)
};

}  // namespace mnv2
