// Shared by the image commands (classify, embed): which images, which model, and the
// decode -> preprocess -> batched Model::run loop with per-image error reporting.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/model_args.h"
#include "image/decode.h"
#include "image/preprocess.h"
#include "mnv2/mnv2.h"
#include "util/labels.h"

namespace mnv2::cli {

// A server decodes untrusted uploads concurrently: a tighter pixel limit than the CLI's.
constexpr int64_t kServeMaxPixels = 40'000'000;

// Image arguments: files, folders (image files inside, recursively, sorted by path) and
// "-" (stdin). `skip` leading positional arguments belong to something else.
std::vector<std::string> expand_image_args(const std::vector<std::string>& positional, size_t skip);

// --model / --synthetic, else the cached model, else a clear error.
Model open_image_model(const Args& a, int max_batch);
// How many positional arguments --synthetic consumed (its resolution).
size_t model_positional_count(const Args& a);

// The decode options for images run through `info`'s model in `mode`: `base` plus the
// JPEG DCT-scaling target (decode_min_size), so huge JPEGs decode small.
image::DecodeOptions scaled_decode_options(const image::DecodeOptions& base, const ModelInfo& info,
                                           image::PreprocessMode mode);

struct ImageBatchOptions {
  image::PreprocessMode mode = image::PreprocessMode::Omz;
  image::DecodeOptions decode;
  int batch = 1;
};
ImageBatchOptions image_batch_options(const Args& a);

// Decodes and preprocesses the images, runs them through `model` in batches and calls
// `on_batch(first_index, n, ms_per_image)` after each run with the outputs in probs /
// features (n rows). Failures call `on_error(index, message)`; the loop continues.
// Returns the number of failures.
int run_image_batches(Model& model, const std::vector<std::string>& files,
                      const ImageBatchOptions& opt, bool want_probs, bool want_features,
                      const std::function<void(const std::vector<size_t>& indices,
                                               const float* probs, const float* features,
                                               const std::vector<double>& ms)>& on_batch,
                      const std::function<void(size_t index, const std::string& message)>& on_error);

std::string display_name(const std::string& path);

// --labels FILE, else the cached imagenet_labels.txt, else no labels (with a note on
// stderr prefixed by "mnv2 <command>:"), aligned to the model's class count.
Labels load_labels_option(const Args& a, const ModelInfo& info, const char* command);

}  // namespace mnv2::cli
