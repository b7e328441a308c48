// mnv2 — a focused inference engine for the MobileNetV2 family.
//
// The public surface is deliberately small: load (or synthesize) a model, look at
// what it expects, run it. Everything else (graph IR, kernels, planner) is internal.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// libmnv2 is built with hidden symbols; what this header declares is its exported interface.
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

namespace mnv2 {

// Every failure the library reports is an mnv2::Error with a message meant for people.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Instruction sets with kernel tables: Avx2 and Avx512 in x86-64 builds, Neon (AArch64
// Advanced SIMD; int8 on the dot product where the CPU has it) in AArch64 builds.
enum class Isa { Auto, Scalar, Avx2, Avx512, Neon };
enum class Layout { NHWC, NCHW };
enum class ChannelOrder { RGB, BGR };
// Arithmetic of the executor: Auto = Int8 for quantized files, Fp32 otherwise. Bf16 (never
// chosen by Auto) runs the 1x1 / im2col convolutions and the logits layer with bfloat16
// operands and fp32 accumulation (AVX512_BF16; docs/precision.md); it needs a CPU with
// AVX512_BF16 unless Options::isa is Isa::Scalar, which asks for its bit-exact emulation.
enum class Precision { Auto, Fp32, Int8, Bf16 };

const char* precision_name(Precision p);

// Rounding of the int8 executor's input quantization, convolutions, fully connected layers
// and ADDs:
//  Xnnpack: XNNPACK's formulas (input rint(x * (1 / scale)) + zero point, float
//           requantization lrintf(acc * scale) + zero point, XNNPACK's fixed-point ADD),
//           which TFLite-wasm and default TFLite CPU builds (the XNNPACK delegate is on by
//           default) run. The default: outputs equal TFLite-wasm's on all 26 golden
//           image/model pairs (docs/int8.md).
//  Tflite:  TFLite's builtin integer kernels (input round(x / scale) + zero point, fixed-point
//           multiplier and shift), what TFLite runs without the delegate; up to 14 output
//           levels from TFLite-wasm.
// Pooling and softmax are the same in both. Fp32 executors ignore it.
enum class Int8Rounding { Tflite, Xnnpack };

const char* int8_rounding_name(Int8Rounding r);  // "tflite" or "xnnpack"

const char* isa_name(Isa isa);
// The best ISA this CPU supports, honouring MNV2_ISA=avx512|avx2|neon|scalar when set.
Isa detect_isa();

// What a loaded model expects and produces. Loaders fill this from the file, so that
// preprocessing never has to guess which variant of the model it is talking to.
struct ModelInfo {
  std::string name;            // e.g. "mobilenet_v2_1.4_224" or the file stem
  std::string format;          // "synthetic", "tflite", "tf-graphdef", "openvino-ir", "onnx"
  std::string input_name = "input";
  std::string output_name = "MobilenetV2/Predictions/Reshape_1";
  Layout layout = Layout::NHWC;  // layout of the tensor `run_raw` accepts
  ChannelOrder channel_order = ChannelOrder::RGB;
  int height = 224, width = 224, channels = 3;
  // When false the caller feeds (pixel - mean) / scale; when true raw 0..255 pixels
  // (the mean/scale are inside the graph, as in the OpenVINO IR of the OMZ converter).
  bool normalization_in_graph = false;
  float mean = 127.5f, scale = 127.5f;
  int num_classes = 1001;
  bool has_background = true;  // class 0 = background (1001-class TF-slim models)
  bool output_is_softmax = true;
  int feature_dim = 0;         // width of the pooled features before the logits
  bool quantized = false;      // the file stores quantized weights
  float width_multiplier = 0;  // 0 when unknown
  int64_t params = 0;          // weights + biases
  int64_t macs = 0;            // multiply-accumulates for one image
};

struct Options {
  int threads = 0;             // 0 = number of cores
  Isa isa = Isa::Auto;         // Auto = detect_isa()
  int max_batch = 1;           // the arena is planned for this batch; larger batches re-plan once
  // Int8 needs a quantized graph (Model::load of a quantized file, or a file written by
  // `mnv2 quantize`); asking for it on a float model is an error. Fp32 on a quantized file
  // runs its dequantized weights in float.
  Precision precision = Precision::Auto;
  // Rounding of the int8 executor (see Int8Rounding); ignored by fp32 executors.
  Int8Rounding int8_rounding = Int8Rounding::Xnnpack;
};

// How an image becomes the model's input (docs/preprocessing.md):
//  Omz:  central crop 0.875 of the shorter side, OpenCV bilinear resize (Open Model Zoo).
//  Tf:   TF-slim evaluation: central crop 0.875, TF1 bilinear resize in float.
//  None: the whole image, half-pixel bilinear resize (the TFLite / libcoral convention).
enum class Preprocess { Omz, Tf, None };

// Decodes an image file (JPEG, PNG, BMP, PPM/PGM; recognised by content, EXIF orientation
// applied) and prepares it for a model with `info`: height*width*channels floats, NHWC, in
// the channel order and input domain Model::run expects for one image.
std::vector<float> load_image(const std::string& path, const ModelInfo& info,
                              Preprocess preprocess = Preprocess::Omz);

// The ImageNet class names built into the library, for a model of `num_classes` outputs:
// 1001 names with index 0 "background" (TF-slim models), the same 1000 without it for
// 1000-class models, and an empty list for any other class count.
std::vector<std::string> imagenet_labels(int num_classes);

// One class of a classification result.
struct Prediction {
  int index = 0;           // class index in the model's output
  float probability = 0;
  std::string label;       // its built-in ImageNet name, empty when there is none
};

class Model {
 public:
  // A MobileNetV2 of any width multiplier / square resolution with the exact TF-slim
  // topology and deterministic random weights (for tests and benchmarks).
  static Model synthetic(float width_multiplier, int resolution, int num_classes = 1001,
                         uint64_t seed = 1, const Options& options = {});
  // Load a model file; the format is detected from its content.
  static Model load(const std::string& path, const Options& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelInfo& info() const;
  int threads() const;
  Isa isa() const;
  Precision precision() const;  // resolved: Fp32, Int8 or Bf16
  Int8Rounding int8_rounding() const;  // as asked in Options (meaningful when precision() is Int8)

  // Run `batch` images. `input` is NHWC float32 in the graph's input domain
  // (already normalised unless info().normalization_in_graph). Any of the outputs may be
  // null: probs has batch*num_classes floats, logits the same, features batch*feature_dim.
  void run(const float* input, int batch, float* probs, float* logits = nullptr,
           float* features = nullptr);

  // Loads, preprocesses and runs one image file and returns its `top` most probable classes,
  // best first, named by imagenet_labels(). The background class (index 0 of 1001-class
  // models) is reported only when it is the most probable.
  std::vector<Prediction> classify(const std::string& image_path, int top = 5,
                                   Preprocess preprocess = Preprocess::Omz);

  // A human-readable per-layer table (name, op, output shape, params, MACs) with totals.
  std::string summary() const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend struct ModelAccess;
};

}  // namespace mnv2

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif
