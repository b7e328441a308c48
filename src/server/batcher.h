// Dynamic batching: requests (each one or more preprocessed images) wait in a bounded
// queue; one worker thread takes up to `max_batch` images that arrive within
// `batch_timeout_us` of the first one, runs them through the model in one call and
// hands each request its rows of the output.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2::server {

struct BatcherOptions {
  int max_batch = 8;              // images per model call; 1 = batching off
  int64_t batch_timeout_us = 2000;  // how long the first request waits for company
  size_t max_queue = 256;         // requests waiting; more are refused
};

// One request's work. The submitter fills `input` (rows * H*W*3 floats) and waits.
struct Job {
  std::vector<float> input;
  int rows = 0;
  std::chrono::steady_clock::time_point deadline;
  // Filled by the worker.
  std::vector<float> probs;  // rows * num_classes
  std::string error;         // non-empty when the run failed or the deadline passed
  bool timed_out = false;
  double run_ms = 0;         // this job's share of its batch's inference time
  int batch_images = 0;      // images in the model call that served it

  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  void finish() {
    { std::lock_guard<std::mutex> lk(m); done = true; }
    cv.notify_all();
  }
  // Waits until the worker has finished with the job or `until` passes.
  bool wait_until(std::chrono::steady_clock::time_point until) {
    std::unique_lock<std::mutex> lk(m);
    return cv.wait_until(lk, until, [&] { return done; });
  }
};

class Batcher {
 public:
  // `on_batch(images)` is told the size of every model call (for metrics).
  Batcher(Model& model, const BatcherOptions& options, std::function<void(int)> on_batch = {});
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // False when the queue is full (the caller answers 503) or the batcher is stopping.
  bool submit(const std::shared_ptr<Job>& job);
  size_t queue_depth() const;
  // Finishes every queued job, then stops the worker.
  void stop();

 private:
  void loop();
  void run_group(std::vector<std::shared_ptr<Job>>& group);

  Model& model_;
  BatcherOptions opt_;
  std::function<void(int)> on_batch_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::vector<float> input_, probs_;
  std::thread worker_;
};

}  // namespace mnv2::server
