// mnv2 bench: load time, first inference, then steady-state latency percentiles,
// throughput and peak memory, like TFLite's benchmark_model and OpenVINO's benchmark_app.
#include <chrono>
#include <cstdio>
#include <string>

#include "api/bench.h"
#include "cli/args.h"
#include "cli/model_args.h"

namespace mnv2::cli {
namespace {

const char* kHelp =
    "usage: mnv2 bench (--model MODEL | --synthetic WIDTH RES) [options]\n\n"
    "Measures model load time, first-inference time, then runs warm-up iterations and\n"
    "N timed iterations and reports latency p50/p90/p99/mean/min/max, throughput and the\n"
    "peak resident memory. Inputs are deterministic pseudo-random values in [-1, 1].\n\n"
    "options:\n"
    "  --model PATH          model file (.tflite, .pb, .xml, .onnx)\n"
    "  --synthetic W R       synthetic MobileNetV2, width multiplier W, resolution R\n"
    "  --threads T           inference threads (default: number of cores)\n"
    "  --precision P         fp32, int8 or auto (default: int8 for quantized models)\n"
    "  --batch B             images per inference (default 1)\n"
    "  --warmup N            untimed iterations after the first (default 5)\n"
    "  --iterations N        timed iterations (default 50)\n"
    "  --json                one JSON object on stdout\n"
    "  --samples             with --json: also list every timed latency (\"samples_ms\")\n"
    "  --dump PREFIX         write the input (PREFIX.input.bin, NHWC float32) and the\n"
    "                        probabilities of the first run (PREFIX.probs.bin), raw\n"
    "                        little-endian float32, to check another runtime against them\n";

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int run(int argc, char** argv) {
  Args a(argc, argv, {"json", "help", "samples"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  a.reject_unknown({"json", "help", "samples", "dump", "model", "synthetic", "classes", "seed",
                    "threads", "precision", "batch", "warmup", "iterations"});
  const std::string dump = a.get("dump");
  const int batch = a.get_int("batch", 1, 1, 1024);
  const int warmup = a.get_int("warmup", 5, 0, 100000);
  const int iterations = a.get_int("iterations", 50, 1, 1000000);
  const bool json = a.has("json");

  auto t0 = std::chrono::steady_clock::now();
  Model m = open_model(a, batch);
  const double load_ms = ms_since(t0);
  const ModelInfo& info = m.info();
  BenchOptions bo;
  bo.batch = batch;
  bo.warmup = warmup;
  bo.iterations = iterations;
  bo.dump_prefix = dump;
  const BenchResult r = run_bench(m, bo);
  const double first_ms = r.first_inference_ms, p50 = r.p50, p90 = r.p90, p99 = r.p99,
               mean = r.mean, mn = r.min, mx = r.max, ips = r.throughput_ips,
               gmacs = r.gmacs_per_s, peak_mib = r.peak_rss_mib;

  if (json) {
    std::printf(
        "{\"model\":\"%s\",\"format\":\"%s\",\"isa\":\"%s\",\"precision\":\"%s\","
        "\"threads\":%d,\"batch\":%d,"
        "\"iterations\":%d,\"load_ms\":%.3f,\"first_inference_ms\":%.3f,\"latency_ms\":{"
        "\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"mean\":%.4f,\"min\":%.4f,\"max\":%.4f},"
        "\"throughput_ips\":%.2f,\"gmacs_per_s\":%.2f,\"peak_rss_mib\":%.1f,\"macs\":%lld",
        json_escape(info.name).c_str(), info.format.c_str(), isa_name(m.isa()),
        precision_name(m.precision()), m.threads(),
        batch, iterations, load_ms, first_ms, p50, p90, p99, mean, mn, mx, ips, gmacs, peak_mib,
        (long long)info.macs);
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
    std::fputs("}\n", stdout);
    return 0;
  }
  std::printf("model            %s (%s), %lld MACs/image\n", info.name.c_str(),
              info.format.c_str(), (long long)info.macs);
  std::printf("engine           %s, isa %s, %d thread(s), batch %d\n", precision_name(m.precision()),
              isa_name(m.isa()), m.threads(), batch);
  std::printf("load             %.2f ms\n", load_ms);
  std::printf("first inference  %.2f ms\n", first_ms);
  std::printf("latency (%d it)  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  mean %.3f ms  min %.3f "
              "max %.3f\n",
              iterations, p50, p90, p99, mean, mn, mx);
  std::printf("throughput       %.1f images/s (%.1f GMAC/s at p50)\n", ips, gmacs);
  std::printf("peak RSS         %.1f MiB\n", peak_mib);
  return 0;
}

RegisterCommand reg("bench", "measure load, first-inference and steady-state latency", run);

}  // namespace
}  // namespace mnv2::cli
