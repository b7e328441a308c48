#include "api/bench.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "api/model_access.h"

namespace mnv2 {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = size_t(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

void check_options(const BenchOptions& o) {
  if (o.batch < 1 || o.batch > 4096) throw Error("bench: batch must be in [1, 4096]");
  if (o.warmup < 0) throw Error("bench: warmup must be >= 0");
  if (o.iterations < 1) throw Error("bench: iterations must be >= 1");
}

std::vector<float> make_input(const ModelInfo& info, int batch) {
  std::vector<float> input(size_t(batch) * info.height * info.width * info.channels);
  uint32_t s = 12345;
  for (float& v : input) {
    s = s * 1664525u + 1013904223u;
    v = float(s >> 8) / float(1 << 24) * 2.f - 1.f;
    if (info.normalization_in_graph) v = (v + 1.f) * 127.5f;
  }
  return input;
}

void write_floats(const std::string& path, const std::vector<float>& v) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error("bench: cannot write '" + path + "'");
  const size_t n = std::fwrite(v.data(), sizeof(float), v.size(), f);
  if (std::fclose(f) != 0 || n != v.size()) throw Error("bench: short write to '" + path + "'");
}

void summarize(BenchResult& r, std::vector<double> lat, double total_ms, int64_t images,
               int64_t macs) {
  r.mean = std::accumulate(lat.begin(), lat.end(), 0.0) / double(lat.size());
  r.p50 = percentile(lat, 50);
  r.p90 = percentile(lat, 90);
  r.p99 = percentile(lat, 99);
  r.min = *std::min_element(lat.begin(), lat.end());
  r.max = *std::max_element(lat.begin(), lat.end());
  r.throughput_ips = double(images) / (total_ms / 1000.0);
  r.peak_rss_mib = peak_rss_mib();
  r.gmacs_per_s = double(macs) * r.batch / (r.p50 / 1000.0) / 1e9;
  r.samples_ms = std::move(lat);
}

std::vector<LayerRow> layer_rows(const ExecutorProfile& p, int batch, const Roofline& roof) {
  std::vector<LayerRow> rows;
  if (p.images <= 0) return rows;
  double sum = 0;
  for (const StepProfile& s : p.steps) {
    LayerRow r;
    r.name = s.name;
    r.kind = s.kind;
    r.out_h = s.out_h;
    r.out_w = s.out_w;
    r.out_c = s.out_c;
    r.band = s.band;
    r.ms = s.total_ms / double(p.images);
    r.min_ms = s.min_ms_per_image;
    r.macs = s.macs;
    r.act_bytes = s.activation_bytes;
    r.weight_bytes = s.weight_bytes / std::max(1, batch);
    const int64_t bytes = r.act_bytes + r.weight_bytes;
    r.gmacs_per_s = r.ms > 0 ? double(r.macs) / (r.ms * 1e6) : 0.0;
    r.intensity = bytes > 0 ? double(r.macs) / double(bytes) : 0.0;
    if (roof.peak_gmacs > 0 && roof.cache_gbs > 0 && roof.dram_gbs > 0 && bytes > 0) {
      r.compute_ms = double(r.macs) / (roof.peak_gmacs * 1e6);
      r.memory_ms = double(r.act_bytes) / (roof.cache_gbs * 1e6) +
                    double(r.weight_bytes) / (roof.dram_gbs * 1e6);
      r.roofline_ms = std::max(r.compute_ms, r.memory_ms);
      r.bound = r.compute_ms >= r.memory_ms ? "compute" : "memory";
    }
    sum += r.ms;
    rows.push_back(std::move(r));
  }
  for (LayerRow& r : rows) r.percent = sum > 0 ? 100.0 * r.ms / sum : 0.0;
  return rows;
}

}  // namespace

double peak_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

MemoryReport memory_report(Model& model) {
  const ExecutorMemory e = ModelAccess::executor(model).memory();
  MemoryReport r;
  r.weights_bytes = e.weights;
  r.arena_bytes_per_image = e.arena_per_image;
  r.arena_bytes = e.arena;
  r.arena_batch = e.batch;
  r.scratch_bytes = e.scratch;
  r.budget_bytes = e.total();
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

std::string memory_json(const MemoryReport& r) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "{\"weights_bytes\":%lld,\"arena_bytes_per_image\":%lld,\"arena_bytes\":%lld,"
                "\"arena_batch\":%d,\"scratch_bytes\":%lld,\"budget_bytes\":%lld,"
                "\"peak_rss_mib\":%.1f}",
                (long long)r.weights_bytes, (long long)r.arena_bytes_per_image,
                (long long)r.arena_bytes, r.arena_batch, (long long)r.scratch_bytes,
                (long long)r.budget_bytes, r.peak_rss_mib);
  return buf;
}

std::string memory_text(const MemoryReport& r) {
  auto mib = [](int64_t b) { return double(b) / (1024.0 * 1024.0); };
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%.2f MiB: packed weights %.2f MiB, activations %.2f MiB per image (%.2f MiB "
                "planned for batch %d), scratch %.2f MiB; peak RSS so far %.1f MiB",
                mib(r.budget_bytes), mib(r.weights_bytes), mib(r.arena_bytes_per_image),
                mib(r.arena_bytes), r.arena_batch, mib(r.scratch_bytes), r.peak_rss_mib);
  return buf;
}

double current_rss_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0.0;
  long size = 0, resident = 0;
  const int got = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  if (got != 2) return 0.0;
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

BenchResult run_bench(Model& m, const BenchOptions& o, const Roofline& roof) {
  check_options(o);
  const ModelInfo& info = m.info();
  const int batch = o.batch;
  const std::vector<float> input = make_input(info, batch);
  std::vector<float> probs(size_t(batch) * info.num_classes);

  BenchResult r;
  r.threads = m.threads();
  r.threads_per_stream = m.threads();
  r.batch = batch;
  r.iterations = o.iterations;
  auto t0 = Clock::now();
  m.run(input.data(), batch, probs.data());
  r.first_inference_ms = ms_since(t0);
  if (!o.dump_prefix.empty()) {
    write_floats(o.dump_prefix + ".input.bin", input);
    write_floats(o.dump_prefix + ".probs.bin", probs);
  }
  for (int i = 0; i < o.warmup; ++i) m.run(input.data(), batch, probs.data());

  Executor& ex = ModelAccess::executor(m);
  if (o.per_layer) {
    ex.set_profiling(true);
    ex.reset_profile();
    if (ex.profile().steps.empty())
      throw Error(std::string("bench: --per-layer: the ") + precision_name(m.precision()) +
                  " executor of this model has no per-step timing");
  }
  std::vector<double> lat;
  lat.reserve(size_t(o.iterations));
  const auto total0 = Clock::now();
  for (int i = 0; i < o.iterations; ++i) {
    const auto ti = Clock::now();
    m.run(input.data(), batch, probs.data());
    lat.push_back(ms_since(ti));
  }
  const double total_ms = ms_since(total0);
  if (o.per_layer) {
    const ExecutorProfile prof = ex.profile();
    if (prof.images <= 0)
      throw Error("bench: --per-layer: the executor timed none of the runs step by step in this "
                  "configuration (batch " + std::to_string(batch) + ", " +
                  std::to_string(m.threads()) + " threads)");
    r.layers = layer_rows(prof, batch, roof);
    for (const LayerRow& l : r.layers) r.layers_sum_ms += l.ms;
  }
  summarize(r, std::move(lat), total_ms, int64_t(batch) * o.iterations, info.macs);
  return r;
}

BenchResult run_bench_streams(std::vector<Model>& models, const BenchOptions& o) {
  check_options(o);
  if (models.empty()) throw Error("bench: no streams");
  if (o.per_layer && models.size() > 1) throw Error("bench: --per-layer needs a single stream");
  if (models.size() == 1) {
    BenchResult r = run_bench(models[0], o);
    r.threads = models[0].threads();
    return r;
  }
  const int streams = int(models.size());
  const ModelInfo& info = models[0].info();
  const int batch = o.batch;
  const std::vector<float> input = make_input(info, batch);

  BenchResult r;
  r.streams = streams;
  r.batch = batch;
  r.iterations = o.iterations;
  r.threads_per_stream = models[0].threads();
  for (const Model& m : models) r.threads += m.threads();

  const size_t ns = size_t(streams);
  std::vector<std::vector<double>> lat(ns);
  std::vector<Clock::time_point> end(ns);
  std::vector<std::exception_ptr> err(ns);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point start;
  std::vector<std::thread> pool;
  for (int s = 0; s < streams; ++s) {
    pool.emplace_back([&, s] {
      std::vector<float> probs(size_t(batch) * info.num_classes);
      Model& m = models[size_t(s)];
      try {
        const auto t0 = Clock::now();
        m.run(input.data(), batch, probs.data());
        if (s == 0) r.first_inference_ms = ms_since(t0);
        if (s == 0 && !o.dump_prefix.empty()) {
          write_floats(o.dump_prefix + ".input.bin", input);
          write_floats(o.dump_prefix + ".probs.bin", probs);
        }
        for (int i = 0; i < o.warmup; ++i) m.run(input.data(), batch, probs.data());
      } catch (...) {
        err[size_t(s)] = std::current_exception();
      }
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      if (err[size_t(s)]) return;
      try {
        lat[size_t(s)].reserve(size_t(o.iterations));
        for (int i = 0; i < o.iterations; ++i) {
          const auto ti = Clock::now();
          m.run(input.data(), batch, probs.data());
          lat[size_t(s)].push_back(ms_since(ti));
        }
      } catch (...) {
        err[size_t(s)] = std::current_exception();
      }
      end[size_t(s)] = Clock::now();
    });
  }
  while (ready.load() < streams) std::this_thread::sleep_for(std::chrono::microseconds(200));
  start = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : pool) t.join();
  for (auto& e : err)
    if (e) std::rethrow_exception(e);
  Clock::time_point last = start;
  std::vector<double> all;
  for (int s = 0; s < streams; ++s) {
    last = std::max(last, end[size_t(s)]);
    all.insert(all.end(), lat[size_t(s)].begin(), lat[size_t(s)].end());
  }
  const double total_ms = std::chrono::duration<double, std::milli>(last - start).count();
  summarize(r, std::move(all), total_ms, int64_t(batch) * o.iterations * streams, info.macs);
  return r;
}

}  // namespace mnv2
