#include "server/batcher.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace mnv2::server {

using clock = std::chrono::steady_clock;

Batcher::Batcher(Model& model, const BatcherOptions& options, std::function<void(int)> on_batch)
    : model_(model), opt_(options), on_batch_(std::move(on_batch)) {
  opt_.max_batch = std::max(1, opt_.max_batch);
  opt_.batch_timeout_us = std::max<int64_t>(0, opt_.batch_timeout_us);
  worker_ = std::thread([this] { loop(); });
}

Batcher::~Batcher() { stop(); }

bool Batcher::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lk(m_);
    if (stopping_ || queue_.size() >= opt_.max_queue) return false;
    queue_.push_back(job);
  }
  cv_.notify_one();
  return true;
}

size_t Batcher::queue_depth() const {
  std::lock_guard<std::mutex> lk(m_);
  return queue_.size();
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Batcher::loop() {
  std::unique_lock<std::mutex> lk(m_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    std::vector<std::shared_ptr<Job>> group;
    int rows = 0;
    group.push_back(queue_.front());
    queue_.pop_front();
    rows += group.back()->rows;
    // Gather company for the first request until the batch is full or the window closes.
    const auto window_end = clock::now() + std::chrono::microseconds(opt_.batch_timeout_us);
    while (rows < opt_.max_batch) {
      if (queue_.empty()) {
        if (stopping_) break;
        if (!cv_.wait_until(lk, window_end, [&] { return stopping_ || !queue_.empty(); })) break;
        if (queue_.empty()) break;
      }
      if (rows + queue_.front()->rows > opt_.max_batch) break;
      rows += queue_.front()->rows;
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    lk.unlock();
    run_group(group);
    lk.lock();
  }
}

void Batcher::run_group(std::vector<std::shared_ptr<Job>>& group) {
  const ModelInfo& info = model_.info();
  const size_t per = size_t(info.height) * info.width * 3;
  const size_t nc = size_t(info.num_classes);
  const auto now = clock::now();
  // Requests whose deadline passed while queued are answered without running them.
  std::vector<std::shared_ptr<Job>> live;
  for (auto& j : group) {
    if (now > j->deadline) {
      j->timed_out = true;
      j->error = "request timed out waiting in the queue";
      j->finish();
    } else {
      live.push_back(j);
    }
  }
  if (live.empty()) return;
  int rows = 0;
  for (auto& j : live) rows += j->rows;
  try {
    // A single request larger than max_batch runs in chunks of max_batch.
    const int chunk = std::max(opt_.max_batch, 1);
    if (live.size() == 1 && rows > chunk) {
      Job& j = *live[0];
      j.probs.resize(size_t(rows) * nc);
      const auto t0 = clock::now();
      for (int r = 0; r < rows; r += chunk) {
        const int n = std::min(chunk, rows - r);
        model_.run(j.input.data() + size_t(r) * per, n, j.probs.data() + size_t(r) * nc);
        if (on_batch_) on_batch_(n);
      }
      j.run_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
      j.batch_images = chunk;
      j.finish();
      return;
    }
    input_.resize(size_t(rows) * per);
    probs_.resize(size_t(rows) * nc);
    size_t off = 0;
    for (auto& j : live) {
      std::memcpy(input_.data() + off * per, j->input.data(), size_t(j->rows) * per * sizeof(float));
      off += size_t(j->rows);
    }
    const auto t0 = clock::now();
    model_.run(input_.data(), rows, probs_.data());
    const double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    if (on_batch_) on_batch_(rows);
    off = 0;
    for (auto& j : live) {
      j->probs.assign(probs_.begin() + std::ptrdiff_t(off * nc),
                      probs_.begin() + std::ptrdiff_t((off + size_t(j->rows)) * nc));
      j->run_ms = ms * double(j->rows) / double(rows);
      j->batch_images = rows;
      off += size_t(j->rows);
      j->finish();
    }
  } catch (const std::exception& e) {
    for (auto& j : live) {
      if (!j->done) {
        j->error = std::string("inference failed: ") + e.what();
        j->finish();
      }
    }
  }
}

}  // namespace mnv2::server
