// mnv2 quantize: post-training int8 quantization of a float model, calibrated on images,
// written as a standard full-integer int8 TFLite file.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/image_inputs.h"
#include "cli/model_args.h"
#include "formats/loader.h"
#include "formats/writer.h"
#include "graph/mobilenet_v2.h"
#include "quant/calibration.h"
#include "quant/quantize.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 quantize (MODEL | --model MODEL | --synthetic WIDTH RES) --calib DIR\n"
    "                     -o OUT.tflite [--method minmax|percentile|entropy] [options]\n\n"
    "Post-training quantization: runs the calibration images through the float model,\n"
    "chooses int8 ranges for every activation and writes a standard full-integer int8\n"
    "TFLite model (float32 input -> QUANTIZE -> int8 ops -> DEQUANTIZE -> float32 output)\n"
    "that TensorFlow Lite and mnv2 both run. Weights: symmetric int8 per output channel\n"
    "(scale = max|w| / 127; one scale for a fully-connected layer), biases int32 in units of\n"
    "input_scale * weight_scale. Activations: asymmetric int8 over a range that includes 0.\n"
    "TFLite's int8 rules are applied: softmax output scale 1/256 zero point -128, average\n"
    "pool and reshape outputs share their input's parameters, ReLU6 outputs stay in [0, 6].\n"
    "The input keeps the pixel grid of the model's preprocessing when its mean is a whole\n"
    "number (e.g. (p - 128) / 128: scale 1/128, zero point 0), so 8-bit pixels are exact.\n";

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char b[40];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

int run(const Args& a) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const std::string out = a.get("output");
  if (out.empty()) throw Error("no output file: use -o OUT.tflite");
  if (file_extension(out) != ".tflite")
    throw Error("output '" + out + "' must end in .tflite (int8 models are written as TFLite)");
  const std::vector<std::string> calib = a.values("calib");
  if (calib.empty()) throw Error("no calibration images: use --calib DIR (a folder of images)");
  quant::QuantizeSettings qs;
  qs.calibration.method = quant::parse_calibration_method(a.get("method", "minmax"));
  if (a.has("percentile")) {
    if (qs.calibration.method != quant::CalibrationMethod::Percentile)
      throw Error("--percentile applies to --method percentile only");
    qs.calibration.percentile = a.get_double("percentile", 99.99, 50.0, 100.0);
  }
  const int max_images = a.get_int("max-images", 1000, 1, 1000000);
  quant::ImageCalibrationOptions io;
  io.mode = image::parse_preprocess_mode(a.get("preprocess", "omz"));
  if (a.has("max-pixels")) {
    const std::string v = a.get("max-pixels");
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || n < 1)
      throw Error("--max-pixels must be a positive integer, got '" + v + "'");
    io.decode.max_pixels = n;
  }
  const long hw = sysconf(_SC_NPROCESSORS_ONLN);
  io.threads = a.get_int("threads", int(std::clamp(hw, 1L, 4L)), 1, 256);
  const bool json = a.has("json");
  const bool progress = !a.has("quiet") && isatty(STDERR_FILENO);

  // Calibration images: every folder expanded (sorted), then the first N.
  std::vector<std::string> files;
  for (const std::string& c : calib) {
    std::error_code ec;
    if (!std::filesystem::exists(c, ec))
      throw Error("calibration path '" + c + "' does not exist");
    const std::vector<std::string> f = expand_image_args({c}, 0);
    files.insert(files.end(), f.begin(), f.end());
  }
  if (int(files.size()) > max_images) files.resize(size_t(max_images));

  Graph g = load_source_graph(a);
  g.finalize();
  // Normalisation inside the graph (OpenVINO IR) becomes the input's quantization.
  const bool folded = quant::fold_input_normalization(g);
  g.info.layout = Layout::NHWC;  // the written TFLite model takes NHWC like the IR
  const std::string model_name = g.info.name;

  quant::GraphObserver observer(g);
  std::vector<std::string> skipped;
  const auto t_cal = clock::now();
  const int used = quant::observe_images(
      observer, g, files, io,
      [&](size_t done, size_t total) {
        if (!progress) return;
        const double s = std::chrono::duration<double>(clock::now() - t_cal).count();
        std::fprintf(stderr, "\rmnv2 quantize: calibrating %zu/%zu images (%.1f s)", done, total, s);
        if (done == total) std::fputc('\n', stderr);
        std::fflush(stderr);
      },
      [&](size_t i, const std::string& msg) {
        skipped.push_back(files[i]);
        std::fprintf(stderr, "%smnv2 quantize: skipping calibration image: %s\n",
                     progress ? "\n" : "", msg.c_str());
      });
  const double cal_s = std::chrono::duration<double>(clock::now() - t_cal).count();
  if (used == 0)
    throw Error("none of the " + std::to_string(files.size()) +
                " calibration images could be read");

  const auto t_q = clock::now();
  const quant::QuantizeReport rep = quant::quantize_graph(g, observer.stats(), qs);
  const std::vector<std::string> bad = quant::check_int8_constraints(g);
  if (!bad.empty()) throw Error("internal: quantized graph violates TFLite int8 rules: " + bad[0]);
  SaveOptions so;
  so.int8 = true;
  save_graph(g, out, so);
  const double q_s = std::chrono::duration<double>(clock::now() - t_q).count();
  const double total_s = std::chrono::duration<double>(clock::now() - t_start).count();
  struct stat st {};
  stat(out.c_str(), &st);

  int clipped_layers = 0;
  for (const auto& l : rep.layers) {  // beyond half a step: more than rounding cuts off
    const double half = 0.5001 * double(g.node(l.id).out_q.scale);
    if (l.seen_max > l.hi + half || l.seen_min < l.lo - half) ++clipped_layers;
  }

  if (json) {
    std::string s = "{\"model\":\"" + json_escape(model_name) + "\",\"output\":\"" +
                    json_escape(out) + "\",\"bytes\":" + std::to_string((long long)st.st_size) +
                    ",\"method\":\"" + quant::calibration_method_name(qs.calibration.method) +
                    "\"";
    if (qs.calibration.method == quant::CalibrationMethod::Percentile)
      s += ",\"percentile\":" + num(qs.calibration.percentile);
    if (folded) s += ",\"folded_input_normalization\":true";
    s += ",\"preprocess\":\"" + std::string(image::preprocess_mode_name(io.mode)) +
         "\",\"images\":" + std::to_string(used) + ",\"skipped\":[";
    for (size_t i = 0; i < skipped.size(); ++i)
      s += (i ? ",\"" : "\"") + json_escape(skipped[i]) + "\"";
    s += "],\"seconds\":{\"calibration\":" + num(cal_s) + ",\"quantize_and_write\":" + num(q_s) +
         ",\"total\":" + num(total_s) + "},\"clipped_layers\":" + std::to_string(clipped_layers) +
         ",\"layers\":[";
    for (size_t i = 0; i < rep.layers.size(); ++i) {
      const auto& l = rep.layers[i];
      const Node& n = g.node(l.id);
      s += std::string(i ? "," : "") + "{\"name\":\"" + json_escape(n.name) + "\",\"op\":\"" +
           op_name(n.op) + "\",\"rule\":\"" + quant::range_rule_name(l.rule) +
           "\",\"seen_min\":" + num(l.seen_min) + ",\"seen_max\":" + num(l.seen_max) +
           ",\"min\":" + num(l.lo) + ",\"max\":" + num(l.hi) + ",\"scale\":" +
           num(n.out_q.scale) + ",\"zero_point\":" + std::to_string(n.out_q.zero_point - 128);
      if (!n.weights.empty())
        s += ",\"weight_scale_min\":" + num(l.weight_scale_min) +
             ",\"weight_scale_max\":" + num(l.weight_scale_max) +
             ",\"weight_channels\":" + std::to_string(n.qweight_scales.size());
      s += "}";
    }
    s += "]}\n";
    std::fputs(s.c_str(), stdout);
    return 0;
  }
  if (a.has("layers")) {
    std::printf("%-48s %-16s %-13s %23s %23s %11s %5s\n", "layer", "op", "rule", "observed range",
                "int8 grid", "scale", "zp");
    for (const auto& l : rep.layers) {
      const Node& n = g.node(l.id);
      std::string name = n.name;
      if (name.size() > 48) name = "..." + name.substr(name.size() - 45);
      char seen[64], grid[64];
      std::snprintf(seen, sizeof seen, "[%.4g, %.4g]", l.seen_min, l.seen_max);
      std::snprintf(grid, sizeof grid, "[%.4g, %.4g]", l.lo, l.hi);
      std::printf("%-48s %-16s %-13s %23s %23s %11.5g %5d\n", name.c_str(), op_name(n.op),
                  quant::range_rule_name(l.rule), seen, grid, double(n.out_q.scale),
                  n.out_q.zero_point - 128);
    }
    std::printf("\n");
  }
  std::printf("wrote %s (%lld bytes, int8): %s, %zu layers\n", out.c_str(), (long long)st.st_size,
              model_name.c_str(), g.nodes.size());
  std::printf("calibration: %s", quant::calibration_method_name(qs.calibration.method));
  if (qs.calibration.method == quant::CalibrationMethod::Percentile)
    std::printf(" %.6g%%", qs.calibration.percentile);
  std::printf(" over %d image%s (%s preprocessing%s), %d layer%s clipped below the observed "
              "range\n",
              used, used == 1 ? "" : "s", image::preprocess_mode_name(io.mode),
              skipped.empty() ? "" : (", " + std::to_string(skipped.size()) + " skipped").c_str(),
              clipped_layers, clipped_layers == 1 ? "" : "s");
  if (folded)
    std::printf("input normalisation folded out of the graph: the model now takes "
                "(pixel - %g) / %g\n", double(g.info.mean), double(g.info.scale));
  std::printf("time: %.2f s calibration, %.2f s quantize + write, %.2f s total\n", cal_s, q_s,
              total_s);
  if (!a.has("layers")) std::printf("(--layers or --json for per-layer ranges and scales)\n");
  return 0;
}

RegisterCommand reg({"quantize", kQuantize, "post-training int8 quantization to an int8 .tflite", kUsage, nullptr,
                     nullptr, run});

}  // namespace
}  // namespace mnv2::cli
