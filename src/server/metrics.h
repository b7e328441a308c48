// Prometheus text-format metrics for the server: requests by endpoint and status code,
// a latency histogram per endpoint, the batch-size histogram and the queue depth.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mnv2::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds = {});
  void observe(double v);
  // Prometheus exposition lines for `name` with extra `labels` ("" or `k="v"`).
  std::string render(const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), last = +Inf
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  Metrics();
  void record_request(const std::string& endpoint, int status, double seconds);
  void record_batch(int images);
  void set_queue_depth_source(std::function<size_t()> f) { queue_depth_ = std::move(f); }
  // More exposition text (gauges and counters kept elsewhere), appended by render().
  void set_extra_source(std::function<std::string()> f) { extra_ = std::move(f); }
  std::string render() const;

 private:
  mutable std::mutex m_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram batch_;
  uint64_t images_ = 0;
  std::function<size_t()> queue_depth_;
  std::function<std::string()> extra_;
};

}  // namespace mnv2::server
