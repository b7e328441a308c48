#include "server/metrics.h"

#include <cstdio>

namespace mnv2::server {

namespace {
std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  ++count_;
  sum_ += v;
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::string out;
  const std::string sep = labels.empty() ? "" : labels + ",";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += name + "_bucket{" + sep + "le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts_.back();
  out += name + "_bucket{" + sep + "le=\"+Inf\"} " + std::to_string(cum) + "\n";
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + l + " " + num(sum_) + "\n";
  out += name + "_count" + l + " " + std::to_string(count_) + "\n";
  return out;
}

Metrics::Metrics() : batch_({1, 2, 4, 8, 16, 32, 64, 128, 256}) {}

void Metrics::record_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lk(m_);
  ++requests_[{endpoint, status}];
  auto it = latency_.find(endpoint);
  if (it == latency_.end())
    it = latency_.emplace(endpoint, Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}))
             .first;
  it->second.observe(seconds);
}

void Metrics::record_batch(int images) {
  std::lock_guard<std::mutex> lk(m_);
  batch_.observe(images);
  images_ += uint64_t(images);
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lk(m_);
  std::string out;
  out += "# HELP mnv2_requests_total HTTP requests by endpoint and status code.\n";
  out += "# TYPE mnv2_requests_total counter\n";
  for (const auto& [k, v] : requests_)
    out += "mnv2_requests_total{endpoint=\"" + k.first + "\",code=\"" + std::to_string(k.second) + "\"} " +
           std::to_string(v) + "\n";
  out += "# HELP mnv2_request_errors_total HTTP requests answered with status >= 400, by code.\n";
  out += "# TYPE mnv2_request_errors_total counter\n";
  std::map<int, uint64_t> errs;
  for (const auto& [k, v] : requests_)
    if (k.second >= 400) errs[k.second] += v;
  for (const auto& [c, v] : errs)
    out += "mnv2_request_errors_total{code=\"" + std::to_string(c) + "\"} " + std::to_string(v) + "\n";
  out += "# HELP mnv2_request_duration_seconds Time from request headers to response, by endpoint.\n";
  out += "# TYPE mnv2_request_duration_seconds histogram\n";
  for (const auto& [ep, h] : latency_) out += h.render("mnv2_request_duration_seconds", "endpoint=\"" + ep + "\"");
  out += "# HELP mnv2_batch_size Images per model call.\n";
  out += "# TYPE mnv2_batch_size histogram\n";
  out += batch_.render("mnv2_batch_size", "");
  out += "# HELP mnv2_inference_images_total Images run through the model.\n";
  out += "# TYPE mnv2_inference_images_total counter\n";
  out += "mnv2_inference_images_total " + std::to_string(images_) + "\n";
  out += "# HELP mnv2_queue_depth Requests waiting for the batcher.\n";
  out += "# TYPE mnv2_queue_depth gauge\n";
  out += "mnv2_queue_depth " + std::to_string(queue_depth_ ? queue_depth_() : 0) + "\n";
  if (extra_) out += extra_();
  return out;
}

}  // namespace mnv2::server
