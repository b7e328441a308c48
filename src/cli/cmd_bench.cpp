// mnv2 bench: load time, first inference, then steady-state latency percentiles,
// throughput and peak memory, like TFLite's benchmark_model and OpenVINO's benchmark_app;
// concurrent streams (-nstreams) and a per-layer profile with a roofline verdict.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "api/bench.h"
#include "api/cpu_report.h"
#include "api/roofline.h"
#include "cli/args.h"
#include "cli/model_args.h"
#include "runtime/cpu.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 bench (--model MODEL | --synthetic WIDTH RES) [options]\n\n"
    "Measures model load time, first-inference time, then runs warm-up iterations and\n"
    "N timed iterations and reports latency p50/p90/p99/mean/min/max, throughput and the\n"
    "peak resident memory. Inputs are deterministic pseudo-random values in [-1, 1].\n";

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

Model open_with_threads(const Args& a, int batch, int threads) {
  check_model_source(a);
  Options o = engine_options(a, batch);
  o.threads = threads;
  if (a.has("synthetic")) {
    const SyntheticSpec sp = synthetic_spec(a);
    return Model::synthetic(sp.width, sp.resolution, sp.classes, sp.seed, o);
  }
  const std::string path = a.get("model");
  if (path.empty()) throw Error("no model given: use --model PATH or --synthetic WIDTH RES");
  return Model::load(path, o);
}

int run(const Args& a) {
  const std::string dump = a.get("dump");
  const int batch = a.get_int("batch", 1, 1, 1024);
  const int warmup = a.get_int("warmup", 5, 0, 100000);
  const int iterations = a.get_int("iterations", 50, 1, 1000000);
  const int streams = a.get_int("streams", 1, 1, 64);
  const bool per_layer = a.has("per-layer");
  const bool json = a.has("json");
  if (per_layer && streams > 1)
    throw Error("--per-layer profiles one model: use it with --streams 1");
  if ((a.has("peak-gmacs") || a.has("mem-gbs") || a.has("cache-gbs")) && !per_layer)
    throw Error("--peak-gmacs, --cache-gbs and --mem-gbs only apply to --per-layer");
  int cores = int(std::thread::hardware_concurrency());
  if (cores <= 0) cores = 1;
  int total_threads = a.get_int("threads", 0, 0, 256);
  if (total_threads == 0) total_threads = cores;
  const int per_stream = std::max(1, total_threads / streams);

  const double rss0 = current_rss_mib();
  std::vector<Model> models;
  auto t0 = std::chrono::steady_clock::now();
  models.push_back(open_with_threads(a, batch, per_stream));
  const double load_ms = ms_since(t0);
  for (int s = 1; s < streams; ++s) models.push_back(open_with_threads(a, batch, per_stream));
  const double load_all_ms = ms_since(t0);
  const double rss_loaded = current_rss_mib();
  Model& m = models[0];
  const ModelInfo& info = m.info();

  Roofline roof;
  if (per_layer) {
    const int used = std::min(per_stream, cores);
    const double per_core = a.has("peak-gmacs") ? a.get_double("peak-gmacs", 0, 0.01, 1e5)
                                                : measure_fma_peak_gmacs(m.isa());
    roof.peak_gmacs = per_core * used;
    roof.cache_gbs = a.has("cache-gbs") ? a.get_double("cache-gbs", 0, 0.01, 1e5)
                                        : measure_triad_gbs(int64_t(2) << 20, used);
    roof.dram_gbs = a.has("mem-gbs") ? a.get_double("mem-gbs", 0, 0.01, 1e5)
                                     : measure_triad_gbs(int64_t(64) << 20, used);
  }
  BenchOptions bo;
  bo.batch = batch;
  bo.warmup = warmup;
  bo.iterations = iterations;
  bo.dump_prefix = dump;
  bo.per_layer = per_layer;
  const BenchResult r = streams == 1 ? run_bench(m, bo, roof) : run_bench_streams(models, bo);
  const double rss_per_stream = (rss_loaded - rss0) / streams;
  const MemoryReport mem = memory_report(m);

  if (json) {
    std::printf(
        "{\"model\":\"%s\",\"format\":\"%s\",\"isa\":\"%s\",\"precision\":\"%s\","
        "\"int8_rounding\":%s,\"threads\":%d,\"streams\":%d,\"threads_per_stream\":%d,\"batch\":%d,"
        "\"iterations\":%d,\"load_ms\":%.3f,\"load_all_streams_ms\":%.3f,"
        "\"first_inference_ms\":%.3f,\"latency_ms\":{"
        "\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"mean\":%.4f,\"min\":%.4f,\"max\":%.4f},"
        "\"throughput_ips\":%.2f,\"gmacs_per_s\":%.2f,\"peak_rss_mib\":%.1f,"
        "\"rss_after_load_mib\":%.1f,\"rss_per_stream_mib\":%.1f,\"macs\":%lld",
        json_escape(info.name).c_str(), info.format.c_str(), isa_name(m.isa()),
        precision_name(m.precision()), int8_rounding_json(m).c_str(), r.threads, r.streams, r.threads_per_stream, batch,
        iterations, load_ms, load_all_ms, r.first_inference_ms, r.p50, r.p90, r.p99, r.mean,
        r.min, r.max, r.throughput_ips, r.gmacs_per_s, r.peak_rss_mib, rss_loaded,
        rss_per_stream, (long long)info.macs);
    std::printf(",\"rss_before_load_mib\":%.1f,\"memory\":%s", rss0, memory_json(mem).c_str());
    if (a.has("samples")) {
      std::string out = ",\"samples_ms\":[";
      char buf[32];
      for (size_t i = 0; i < r.samples_ms.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%s%.4f", i ? "," : "", r.samples_ms[i]);
        out += buf;
      }
      out += "]";
      std::fputs(out.c_str(), stdout);
    }
    // The machine, probed after the timed runs so the probes do not disturb them: every
    // recorded figure names its CPU and the peaks measured alongside it.
    std::printf(",\"cpu\":%s", cpu_report_json(cpu_report(true, 1)).c_str());
    if (per_layer) {
      std::printf(",\"per_layer\":{\"sum_ms\":%.4f,\"peak_gmacs\":%.2f,\"cache_gbs\":%.2f,"
                  "\"dram_gbs\":%.2f,\"rows\":[",
                  r.layers_sum_ms, roof.peak_gmacs, roof.cache_gbs, roof.dram_gbs);
      for (size_t i = 0; i < r.layers.size(); ++i) {
        const LayerRow& l = r.layers[i];
        std::printf(
            "%s{\"name\":\"%s\",\"op\":\"%s\",\"output\":[%d,%d,%d],\"band\":%d,\"ms\":%.5f,"
            "\"min_ms\":%.5f,\"percent\":%.3f,\"macs\":%lld,\"gmacs_per_s\":%.3f,"
            "\"activation_bytes\":%lld,\"weight_bytes\":%lld,\"macs_per_byte\":%.4f,"
            "\"compute_ms\":%.5f,\"memory_ms\":%.5f,\"roofline_ms\":%.5f,\"bound\":\"%s\"}",
            i ? "," : "", json_escape(l.name).c_str(), l.kind.c_str(), l.out_h, l.out_w, l.out_c,
            l.band, l.ms, l.min_ms, l.percent, (long long)l.macs, l.gmacs_per_s,
            (long long)l.act_bytes, (long long)l.weight_bytes, l.intensity, l.compute_ms,
            l.memory_ms, l.roofline_ms, l.bound.c_str());
      }
      std::fputs("]}", stdout);
    }
    std::fputs("}\n", stdout);
    return 0;
  }
  {
    const CpuInfo& c = cpu_info();
    std::printf("cpu              %s (%s family %d model %d)\n", c.model_name.c_str(),
                c.vendor.c_str(), c.family, c.model);
  }
  std::printf("model            %s (%s), %lld MACs/image\n", info.name.c_str(),
              info.format.c_str(), (long long)info.macs);
  std::printf("engine           isa %s, %s%s%s, batch %d, ", isa_name(m.isa()),
              precision_name(m.precision()),
              m.precision() == Precision::Int8 ? " rounding " : "",
              m.precision() == Precision::Int8 ? int8_rounding_name(m.int8_rounding()) : "",
              batch);
  if (streams == 1)
    std::printf("%d thread(s)\n", m.threads());
  else
    std::printf("%d streams x %d thread(s)\n", streams, r.threads_per_stream);
  std::printf("load             %.2f ms", load_ms);
  if (streams > 1) std::printf(" (all %d streams %.2f ms)", streams, load_all_ms);
  std::printf("\nfirst inference  %.2f ms\n", r.first_inference_ms);
  std::printf("latency (%d it%s) p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  mean %.3f ms  min %.3f "
              "max %.3f\n",
              iterations, streams > 1 ? " x streams, per request" : "", r.p50, r.p90, r.p99,
              r.mean, r.min, r.max);
  std::printf("throughput       %.1f images/s (%.1f GMAC/s per request at p50)\n",
              r.throughput_ips, r.gmacs_per_s);
  std::printf("memory           peak RSS %.1f MiB, after load %.1f MiB (%.1f MiB per stream)\n",
              r.peak_rss_mib, rss_loaded, rss_per_stream);
  std::printf("budget           %s (one stream)\n", memory_text(mem).c_str());
  if (per_layer) {
    std::printf("\nper layer (mean over %d timed iterations, ms per image; roofline: %.1f GMAC/s "
                "peak, activations at %.1f GB/s, weights at %.1f GB/s)\n",
                iterations, roof.peak_gmacs, roof.cache_gbs, roof.dram_gbs);
    std::printf("%3s %-36s %-11s %13s %4s %8s %6s %7s %9s %6s %-7s %5s\n", "#", "name", "op",
                "output", "band", "ms", "%", "GMAC/s", "KiB", "MAC/B", "bound", "roof%");
    for (size_t i = 0; i < r.layers.size(); ++i) {
      const LayerRow& l = r.layers[i];
      const char* tail =
          l.name.size() > 36 ? l.name.c_str() + (l.name.size() - 36) : l.name.c_str();
      char shape[40], band[12];
      std::snprintf(shape, sizeof shape, "%dx%dx%d", l.out_h, l.out_w, l.out_c);
      std::snprintf(band, sizeof band, "%s", l.band >= 0 ? std::to_string(l.band).c_str() : "-");
      std::printf("%3zu %-36s %-11s %13s %4s %8.4f %6.2f %7.2f %9.1f %6.2f %-7s %5.0f\n", i, tail,
                  l.kind.c_str(), shape, band, l.ms, l.percent, l.gmacs_per_s,
                  double(l.act_bytes + l.weight_bytes) / 1024.0,
                  l.intensity, l.bound.empty() ? "-" : l.bound.c_str(),
                  l.ms > 0 ? 100.0 * l.roofline_ms / l.ms : 0.0);
    }
    std::printf("sum of layers %.3f ms per image; mean latency %.3f ms per image\n",
                r.layers_sum_ms, r.mean / batch);
  }
  return 0;
}

RegisterCommand reg({"bench", kBench, "measure load, first-inference and steady-state latency", kUsage,
                     nullptr, nullptr, run});

}  // namespace
}  // namespace mnv2::cli
