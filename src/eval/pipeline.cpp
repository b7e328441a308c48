#include "eval/pipeline.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

namespace mnv2::eval {
namespace {

using clock = std::chrono::steady_clock;

double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Slot {
  std::vector<float> data;          // batch * per floats
  std::vector<std::string> error;   // per image of the batch; empty = decoded
  size_t batch_id = SIZE_MAX;       // which batch the slot holds
  size_t remaining = 0;             // images still being decoded
  bool ready = false;
};

class Pipeline {
 public:
  Pipeline(Model& model, const std::vector<std::string>& paths, const PipelineOptions& o,
           const std::atomic<bool>* stop)
      : model_(model), paths_(paths), opt_(o), stop_(stop) {
    const ModelInfo& info = model.info();
    per_ = size_t(info.height) * size_t(info.width) * 3;
    B_ = size_t(std::max(1, o.batch));
    n_ = paths.size();
    batches_ = (n_ + B_ - 1) / B_;
    const size_t D = size_t(std::max(1, o.decode_threads));
    ring_ = o.queue_batches > 0 ? size_t(o.queue_batches) : 2 + (D + B_ - 1) / B_;
    ring_ = std::max<size_t>(1, std::min(ring_, std::max<size_t>(1, batches_)));
    slots_.resize(ring_);
    for (auto& s : slots_) {
      s.data.assign(B_ * per_, 0.f);
      s.error.resize(B_);
    }
    stats_.queue_batches = int(ring_);
    stats_.buffer_bytes = ring_ * B_ * per_ * sizeof(float);
  }

  PipelineStats run(const BatchCallback& on_batch, const ErrorCallback& on_error) {
    const auto t_start = clock::now();
    const size_t D = size_t(std::max(1, opt_.decode_threads));
    std::vector<std::thread> workers;
    struct Joiner {
      Pipeline* p;
      std::vector<std::thread>* w;
      ~Joiner() {
        {
          std::lock_guard<std::mutex> lk(p->mu_);
          p->quit_ = true;
        }
        p->space_cv_.notify_all();
        for (auto& t : *w)
          if (t.joinable()) t.join();
      }
    } joiner{this, &workers};
    for (size_t i = 0; i < std::min(D, n_); ++i) workers.emplace_back([this] { worker(); });

    std::vector<float> probs(B_ * size_t(model_.info().num_classes));
    std::vector<size_t> indices;
    for (size_t k = 0; k < batches_; ++k) {
      if (stopped()) {
        stats_.interrupted = true;
        break;
      }
      Slot& s = slots_[k % ring_];
      {
        const auto t0 = clock::now();
        std::unique_lock<std::mutex> lk(mu_);
        while (!(s.ready && s.batch_id == k) && !stopped())
          ready_cv_.wait_for(lk, std::chrono::milliseconds(50));
        stats_.wait_s += seconds(clock::now() - t0);
        if (!(s.ready && s.batch_id == k)) {
          stats_.interrupted = true;
          break;
        }
      }
      const size_t first = k * B_, count = std::min(B_, n_ - first);
      // Report failures (in order), and pack the decoded images to the front.
      indices.clear();
      for (size_t j = 0; j < count; ++j) {
        if (!s.error[j].empty()) {
          ++stats_.failed;
          on_error(first + j, s.error[j]);
          continue;
        }
        if (indices.size() != j)
          std::memmove(s.data.data() + indices.size() * per_, s.data.data() + j * per_,
                       per_ * sizeof(float));
        indices.push_back(first + j);
      }
      if (!indices.empty()) {
        const auto t0 = clock::now();
        model_.run(s.data.data(), int(indices.size()), probs.data());
        stats_.infer_s += seconds(clock::now() - t0);
        stats_.evaluated += indices.size();
        on_batch(indices, probs.data());
      }
      stats_.finished += count;
      {
        std::lock_guard<std::mutex> lk(mu_);
        s.ready = false;
        consumed_ = k + 1;
      }
      space_cv_.notify_all();
    }
    if (stats_.finished < n_ && stopped()) stats_.interrupted = true;
    stats_.wall_s = seconds(clock::now() - t_start);
    return stats_;  // decode_s is filled in by run_pipeline once the workers are joined
  }

 private:
  bool stopped() const { return stop_ && stop_->load(std::memory_order_relaxed); }

  void worker() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      if (quit_ || stopped() || next_ >= n_) return;
      const size_t k = next_ / B_;
      if (k >= consumed_ + ring_) {
        space_cv_.wait_for(lk, std::chrono::milliseconds(50));
        continue;
      }
      const size_t i = next_++;
      Slot& s = slots_[k % ring_];
      const size_t j = i - k * B_;
      if (j == 0) {  // the first claim of a batch takes over its slot
        s.batch_id = k;
        s.remaining = std::min(B_, n_ - k * B_);
        s.ready = false;
      }
      lk.unlock();
      const auto t0 = clock::now();
      std::string err;
      try {
        const image::Image img = image::decode_file(paths_[i], opt_.decode);
        image::preprocess(img, model_.info(), opt_.mode, s.data.data() + j * per_);
      } catch (const std::bad_alloc&) {
        err = paths_[i] + ": out of memory while decoding";
      } catch (const std::exception& e) {
        err = e.what();
        if (err.empty()) err = paths_[i] + ": unreadable";
      }
      s.error[j] = std::move(err);
      const double took = seconds(clock::now() - t0);
      lk.lock();
      decode_s_ += took;
      if (--s.remaining == 0) {
        s.ready = true;
        ready_cv_.notify_all();
      }
    }
  }

  Model& model_;
  const std::vector<std::string>& paths_;
  PipelineOptions opt_;
  const std::atomic<bool>* stop_;
  size_t per_ = 0, B_ = 1, n_ = 0, batches_ = 0, ring_ = 1;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable ready_cv_, space_cv_;
  size_t next_ = 0;      // next image to claim
  size_t consumed_ = 0;  // batches fully handled by the inference thread
  bool quit_ = false;
  double decode_s_ = 0;  // guarded by mu_

 public:
  double decode_seconds() {
    std::lock_guard<std::mutex> lk(mu_);
    return decode_s_;
  }

 private:
  PipelineStats stats_;
};

}  // namespace

PipelineStats run_pipeline(Model& model, const std::vector<std::string>& paths,
                           const PipelineOptions& options, const BatchCallback& on_batch,
                           const ErrorCallback& on_error, const std::atomic<bool>* stop) {
  if (paths.empty()) return {};
  Pipeline p(model, paths, options, stop);
  PipelineStats st = p.run(on_batch, on_error);
  st.decode_s = p.decode_seconds();
  return st;
}

}  // namespace mnv2::eval
