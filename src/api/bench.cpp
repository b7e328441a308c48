#include "api/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

namespace mnv2 {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = size_t(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

}  // namespace

BenchResult run_bench(Model& m, const BenchOptions& o) {
  if (o.batch < 1 || o.batch > 4096) throw Error("bench: batch must be in [1, 4096]");
  if (o.warmup < 0) throw Error("bench: warmup must be >= 0");
  if (o.iterations < 1) throw Error("bench: iterations must be >= 1");
  const ModelInfo& info = m.info();
  const int batch = o.batch;
  std::vector<float> input(size_t(batch) * info.height * info.width * info.channels);
  uint32_t s = 12345;
  for (float& v : input) {
    s = s * 1664525u + 1013904223u;
    v = float(s >> 8) / float(1 << 24) * 2.f - 1.f;
    if (info.normalization_in_graph) v = (v + 1.f) * 127.5f;
  }
  std::vector<float> probs(size_t(batch) * info.num_classes);

  BenchResult r;
  r.threads = m.threads();
  r.batch = batch;
  r.iterations = o.iterations;
  auto t0 = std::chrono::steady_clock::now();
  m.run(input.data(), batch, probs.data());
  r.first_inference_ms = ms_since(t0);
  if (!o.dump_prefix.empty()) {
    auto write = [](const std::string& path, const std::vector<float>& v) {
      std::FILE* f = std::fopen(path.c_str(), "wb");
      if (!f) throw Error("bench: cannot write '" + path + "'");
      const size_t n = std::fwrite(v.data(), sizeof(float), v.size(), f);
      if (std::fclose(f) != 0 || n != v.size()) throw Error("bench: short write to '" + path + "'");
    };
    write(o.dump_prefix + ".input.bin", input);
    write(o.dump_prefix + ".probs.bin", probs);
  }
  for (int i = 0; i < o.warmup; ++i) m.run(input.data(), batch, probs.data());

  std::vector<double> lat;
  lat.reserve(size_t(o.iterations));
  const auto total0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.iterations; ++i) {
    const auto ti = std::chrono::steady_clock::now();
    m.run(input.data(), batch, probs.data());
    lat.push_back(ms_since(ti));
  }
  const double total_ms = ms_since(total0);
  r.mean = std::accumulate(lat.begin(), lat.end(), 0.0) / double(lat.size());
  r.p50 = percentile(lat, 50);
  r.p90 = percentile(lat, 90);
  r.p99 = percentile(lat, 99);
  r.min = *std::min_element(lat.begin(), lat.end());
  r.max = *std::max_element(lat.begin(), lat.end());
  r.throughput_ips = double(batch) * o.iterations / (total_ms / 1000.0);
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  r.peak_rss_mib = double(ru.ru_maxrss) / 1024.0;
  r.gmacs_per_s = double(info.macs) * batch / (r.p50 / 1000.0) / 1e9;
  r.samples_ms = std::move(lat);
  return r;
}

}  // namespace mnv2
