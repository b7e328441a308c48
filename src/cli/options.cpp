#include "cli/options.h"

#include <algorithm>

#include "cli/image_inputs.h"
#include "image/decode.h"

namespace mnv2::cli {
namespace {

// The help of --max-pixels with a command's own default; `jpeg_scaling`: the command decodes
// large JPEGs at a reduced scale (scaled_decode_options).
std::string max_pixels_help(int64_t default_pixels, bool jpeg_scaling) {
  std::string s = "refuse images larger than N pixels (default " + std::to_string(default_pixels) + ")";
  if (jpeg_scaling)
    s += "\n(JPEGs over 4 MP decode at a reduced DCT scale, still at least\n"
         "the size preprocessing needs)";
  return s;
}

std::vector<OptionSpec> build_table() {
  const int64_t cli_pixels = image::DecodeOptions{}.max_pixels;
  // Order: the model and engine options first (in every model command's help alike), then
  // the image options, then each command's own.
  return {
      // ---- which model
      {"model", 'm', "PATH", "", kImageCommands,
       "model file (.tflite, .pb, .xml, .onnx); default: the official\n"
       "mobilenet-v2-1.4-224 from the cache, fetched on first use"},
      {"model", 'm', "PATH", "", kBench,
       "model file of any supported format (.tflite, .pb, .xml, .onnx;\n"
       "detected from the content)"},
      {"model", 'm', "PATH", "", kInfo | kConvert | kQuantize,
       "model file (.tflite, .pb, .xml, .onnx); also accepted as the first\n"
       "argument (MODEL)"},
      {"no-download", 0, "", "", kImageCommands, "never download: fail if no model is given or cached"},
      {"synthetic", 0, "W R", "", kModelCommands,
       "synthetic MobileNetV2 (random weights, for testing), width\n"
       "multiplier W, resolution R"},
      {"classes", 0, "N", "", kModelCommands, "class count of the synthetic model (default 1001)"},
      {"seed", 0, "S", "", kModelCommands, "weight seed of the synthetic model (default 1)"},
      // ---- the engine
      {"threads", 't', "T", "", kImageCommands, "inference threads (default: number of cores)"},
      {"threads", 't', "T", "", kBench,
       "inference threads in all, shared by the --streams (default:\n"
       "number of cores)"},
      {"threads", 't', "T", "", kQuantize,
       "images calibrated in parallel (default: number of cores, at most 4)"},
      {"precision", 0, "P", "fp32 bf16 int8 auto", kRunCommands,
       "fp32, bf16, int8 or auto (default: int8 for quantized models,\n"
       "else fp32; bf16 needs AVX512_BF16, see docs/precision.md)"},
      {"precision", 0, "P", "fp32 bf16 int8 auto", kInfo,
       "fp32, bf16, int8 or auto: the precision to report (auto: int8 for\n"
       "models with an integer form, else fp32)"},
      {"int8-rounding", 0, "R", "tflite xnnpack", kRunCommands,
       "rounding of int8 models: xnnpack (default) = XNNPACK's (float\n"
       "requantization, its ADD and input QUANTIZE), what TFLite-wasm and\n"
       "default TFLite CPU builds run: outputs match theirs; tflite = the\n"
       "fixed-point rounding of TFLite's builtin integer kernels (no delegate)"},
      {"int8-rounding", 0, "R", "tflite xnnpack", kInfo,
       "xnnpack (default) or tflite: the int8 rounding to report (see\n"
       "`mnv2 classify --help`)"},
      {"batch", 'b', "B", "", kClassify | kEmbed | kEval | kBench, "images per inference (default 1)"},
      // ---- images
      {"preprocess", 0, "MODE", "omz tf none", kImageCommands | kQuantize,
       "omz (default: crop 0.875 + OpenCV bilinear), tf (TF-slim eval),\n"
       "none (whole image, half-pixel bilinear; libcoral convention)"},
      {"raw", 0, "WxH", "", kImageCommands,
       "read inputs of exactly W*H*3 bytes as headerless raw RGB (without\n"
       "it only .rgb files of a square image are raw)"},
      {"max-pixels", 0, "N", "", kClassify | kEmbed, max_pixels_help(cli_pixels, true)},
      {"max-pixels", 0, "N", "", kEval | kQuantize, max_pixels_help(cli_pixels, false)},
      {"max-pixels", 0, "N", "", kServe, max_pixels_help(kServeMaxPixels, true)},
      {"labels", 0, "FILE", "", kClassify | kServe,
       "one label per line (default: the cached imagenet_labels.txt, else\n"
       "the built-in ImageNet names for 1000/1001-class models)"},
      {"top", 'k', "K", "", kClassify, "classes per image (default 5)"},
      {"top", 'k', "K", "", kServe, "default classes for /v1/classify (default 5)"},
      // ---- outputs
      {"output", 'o', "OUT", "", kEmbed | kConvert,
       "output file (required; its extension names the format)"},
      {"output", 'o', "OUT", "", kQuantize, "output .tflite file (required)"},
      {"output", 'o', "OUT", "", kCompletion, "write the script to OUT instead of standard output"},
      {"json", 0, "", "", kClassify,
       "one JSON object: {model, preprocess, results:[{file, top, ms}],\n"
       "errors:[{file, error}]}; ms = decode + preprocessing +\n"
       "the image's share of its batch's inference"},
      {"json", 0, "", "", kBench,
       "one JSON object on stdout, with a \"cpu\" object: the machine\n"
       "(as `mnv2 info --cpu --json`, peaks and bandwidth probed once\n"
       "after the timed runs), and \"memory\": the model's budget\n"
       "(packed weights, activation arena per image and for the batch,\n"
       "scratch) with the peak RSS (docs/memory.md)"},
      {"json", 0, "", "", kEval | kFetch, "print the result as one JSON object on stdout"},
      {"json", 0, "", "", kQuantize, "one JSON object on stdout, with every layer's ranges and scales"},
      {"json", 0, "", "", kInfo,
       "machine-readable output (metadata, totals and \"memory\", the\n"
       "budget above; with --verbose also \"nodes\" with the per-node\n"
       "quantization)"},
      {"quiet", 0, "", "", kEval | kQuantize | kFetch, "no progress display or status lines on stderr"},
      {"quiet", 0, "", "", kServe, "no access log (default: one JSON line per request on stderr)"},
      // ---- embed
      {"format", 0, "F", "npy csv json", kEmbed,
       "npy (float32 [N, D]; default, or from OUT's extension), csv\n"
       "(file,f0,f1,...) or json ({model, dim, embeddings:[{file, vector}]})"},
      {"normalize", 0, "", "", kEmbed, "scale each row to unit L2 norm"},
      // ---- eval
      {"labels-file", 0, "FILE", "", kEval, "ground truth for a flat image folder (see above)"},
      {"csv", 0, "FILE", "", kEval, "ground truth as CSV (see above)"},
      {"synsets", 0, "FILE", "", kEval, "class order for synset folders"},
      {"label-offset", 0, "N", "", kEval,
       "model class = dataset label + N (default: 1 when the model has\n"
       "a background class, as 1001-class models do; else 0)"},
      {"names", 0, "FILE", "", kEval,
       "class names for the output (default: the cached\n"
       "imagenet_labels.txt, else the built-in ImageNet names for\n"
       "1000/1001-class models, else the synset folder names)"},
      {"decode-threads", 0, "D", "", kEval, "decode/preprocess worker threads (default: half the cores, 1..8)"},
      {"limit", 0, "N", "", kEval, "evaluate only the first N images (after --shuffle-seed)"},
      {"shuffle-seed", 0, "S", "", kEval,
       "shuffle the images first (SplitMix64 Fisher-Yates; the same\n"
       "subset on every machine)"},
      {"report", 0, "FILE", "", kEval,
       "per-image CSV: file, label, class, top-5 classes with\n"
       "probabilities, top-1/top-5 hit, error"},
      {"strict", 0, "", "", kEval,
       "stop with an error at the first unreadable image (default:\n"
       "count and list them, evaluate the rest)"},
      // ---- bench
      {"warmup", 0, "N", "", kBench, "untimed iterations after the first (default 5)"},
      {"iterations", 0, "N", "", kBench, "timed iterations, per stream (default 50)"},
      {"streams", 0, "S", "", kBench,
       "S concurrent inference requests (like OpenVINO's -nstreams):\n"
       "S independent model instances, each with its own executor,\n"
       "activation arena and max(1, T/S) threads, all timed together.\n"
       "Reports aggregate throughput and per-request latency. Weights\n"
       "are NOT shared: every stream loads the file and packs its own\n"
       "copy, so resident memory grows per stream by its packed\n"
       "weights (about 24 MiB for 1.4/224 in fp32, 6 MiB in int8)\n"
       "plus its arena; the JSON reports rss_per_stream_mib. Default 1"},
      {"per-layer", 0, "", "", kBench,
       "time every executor step over the timed iterations and print\n"
       "name, op, ms, %, GMAC/s, bytes moved, MACs per byte and what\n"
       "bounds it by a roofline estimate: MACs at the FMA peak against\n"
       "activations at the cache bandwidth plus weights at the DRAM\n"
       "bandwidth, all three measured on the spot for the thread count\n"
       "(a triad over 3 x 2 MiB and 3 x 64 MiB). Needs --streams 1"},
      {"peak-gmacs", 0, "G", "", kBench, "per-layer roofline: G GMAC/s per core instead of measuring"},
      {"cache-gbs", 0, "C", "", kBench, "per-layer roofline: C GB/s for activations instead of measuring"},
      {"mem-gbs", 0, "B", "", kBench, "per-layer roofline: B GB/s for weights instead of measuring"},
      {"samples", 0, "", "", kBench, "with --json: also list every timed latency (\"samples_ms\")"},
      {"dump", 0, "PREFIX", "", kBench,
       "write the input (PREFIX.input.bin, NHWC float32) and the\n"
       "probabilities of the first run (PREFIX.probs.bin), raw\n"
       "little-endian float32, to check another runtime against them"},
      // ---- info
      {"cpu", 0, "", "", kInfo, "describe the CPU (no model)"},
      {"verbose", 0, "", "", kInfo,
       "also the quantization of every node (output scale and zero\n"
       "point in the uint8 domain, weight scales) of quantized models"},
      {"passes", 0, "", "", kInfo,
       "also the graph as translated from the file (batch norms, bias\n"
       "adds, activations as nodes of their own, weights in the file's\n"
       "layout), every change of each graph pass, and the graph after\n"
       "them (model files only)"},
      // ---- convert
      {"fp16", 0, "", "", kConvert,
       "store weights as float16, each followed by a DEQUANTIZE op\n"
       "(.tflite), a Convert to f32 (.xml) or a Cast (.onnx); half the\n"
       "size, the values are rounded to float16"},
      {"float", 0, "", "", kConvert,
       ".onnx of a quantized model: dequantized float weights instead\n"
       "of the QDQ form"},
      // ---- quantize
      {"calib", 0, "DIR", "", kQuantize,
       "calibration images (a folder, searched recursively, or one file;\n"
       "repeatable); preprocessed as `mnv2 classify` does"},
      {"method", 0, "M", "minmax percentile entropy", kQuantize,
       "activation ranges: minmax (default; the observed extremes),\n"
       "percentile (clip both tails, see --percentile) or entropy\n"
       "(TensorRT-style: the clipping threshold minimising the KL\n"
       "divergence of a 2048-bin histogram)"},
      {"percentile", 0, "P", "", kQuantize, "percentile method: keep P % of the values (default 99.99)"},
      {"max-images", 0, "N", "", kQuantize, "use at most the first N images (default 1000)"},
      {"layers", 0, "", "", kQuantize, "print the per-layer table (ranges, scales, zero points)"},
      // ---- serve
      {"name", 0, "NAME", "", kServe, "model name in URLs (default: the model's name)"},
      {"host", 0, "ADDR", "", kServe, "address to listen on (default 127.0.0.1)"},
      {"port", 0, "P", "", kServe, "port (default 8080; 0 = any free port)"},
      {"port-file", 0, "FILE", "", kServe, "write the bound port to FILE once listening"},
      {"max-batch", 0, "B", "", kServe, "images per model call for dynamic batching (default 8; 1 = off)"},
      {"batch-timeout-us", 0, "U", "", kServe, "how long a request waits for others to batch with (default 2000)"},
      {"max-queue", 0, "N", "", kServe, "requests waiting for the model; more get 503 (default 256)"},
      {"request-timeout-ms", 0, "T", "", kServe, "a request not served within T ms gets 503 (default 30000)"},
      {"max-body", 0, "BYTES", "", kServe, "largest request body; larger gets 413 (default 67108864)"},
      {"max-images", 0, "N", "", kServe, "images (batch rows) per request (default 256)"},
      {"http-threads", 0, "N", "", kServe,
       "request handler threads (default 64); open connections do not\n"
       "hold one: requests are read in full before a handler sees them"},
      {"max-connections", 0, "N", "", kServe,
       "open connections in all (default 1024); over it, the longest-idle\n"
       "keep-alive connection is closed, else the new one gets 503"},
      {"max-connections-per-client", 0, "N", "", kServe,
       "open connections from one client address (default 256; 0 = any)"},
      {"header-timeout-s", 0, "S", "", kServe, "a whole request head must arrive within S s (default 10)"},
      {"body-timeout-s", 0, "S", "", kServe, "a whole request body must arrive within S s (default 60)"},
      {"read-timeout-s", 0, "S", "", kServe, "a request with no new byte for S s is dropped (default 5)"},
      {"idle-timeout-s", 0, "S", "", kServe, "a keep-alive connection idle for S s is closed (default 5)"},
      {"write-timeout-s", 0, "S", "", kServe, "a response must be taken by the client within S s (default 10)"},
      {"decode-memory", 0, "BYTES", "", kServe,
       "request memory shared by all requests in flight: bodies, parsed\n"
       "JSON, decoded images and their preprocessing copies, input\n"
       "tensors (default 201326592 = 192 MiB); spent: 503 + Retry-After;\n"
       "one request needing more than all of it: 413"},
      {"api-key", 0, "KEY", "", kServe,
       "require Authorization: Bearer KEY (also $MNV2_API_KEY);\n"
       "health endpoints and the page stay open"},
      // ---- fetch
      {"force", 0, "", "", kFetch, "download and unpack again even if the cache has the model"},
      {"sample", 0, "", "", kFetch,
       "also download a sample photo (Grace Hopper, public domain, checksum\n"
       "pinned) and print only its path, e.g. for `mnv2 classify \"$(mnv2 fetch\n"
       "--sample)\"`"},
      // ---- every command
      {"help", 'h', "", "", kAllCommands, "print this help and exit"},
  };
}

// Edit distance, for "did you mean".
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = build_table();
  return table;
}

const OptionSpec* find_option(unsigned command, const std::string& name) {
  for (const OptionSpec& o : option_table()) {
    if (!(o.commands & command)) continue;
    if (o.name == name || (name.size() == 1 && o.short_name == name[0])) return &o;
  }
  return nullptr;
}

std::vector<const OptionSpec*> command_options(unsigned command) {
  std::vector<const OptionSpec*> out;
  for (const OptionSpec& o : option_table())
    if (o.commands & command) out.push_back(&o);
  return out;
}

std::string closest_option(unsigned command, const std::string& name) {
  std::string best;
  size_t best_d = 0;
  for (const OptionSpec* o : command_options(command)) {
    // A typed prefix (--out for --output) counts as close; else at most a third of the
    // letters wrong.
    const size_t d = o->name.rfind(name, 0) == 0 ? 1 : distance(name, o->name);
    if (d <= std::max<size_t>(1, name.size() / 3) && (best.empty() || d < best_d)) {
      best = o->name;
      best_d = d;
    }
  }
  return best;
}

std::string options_help(unsigned command) {
  constexpr size_t kColumn = 24;  // where the help text starts
  std::string out = "options:\n";
  for (const OptionSpec* o : command_options(command)) {
    std::string label = "  ";
    if (o->short_name) label += std::string("-") + o->short_name + ", ";
    label += "--" + o->name;
    if (!o->value.empty()) label += " " + o->value;
    // A label too long for its column stands on a line of its own.
    if (label.size() + 2 > kColumn) label += "\n" + std::string(kColumn, ' ');
    else label.resize(kColumn, ' ');
    out += label;
    for (char c : o->help) out += c == '\n' ? "\n" + std::string(kColumn, ' ') : std::string(1, c);
    out += "\n";
  }
  return out;
}

}  // namespace mnv2::cli
