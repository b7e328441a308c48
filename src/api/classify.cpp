// The public convenience path of include/mnv2/mnv2.h: image file -> input tensor -> top
// classes with names. The CLI and the server build the same steps from the same pieces
// (image::decode_file, image::preprocess, top_k_classes, the built-in names).
#include "image/decode.h"
#include "image/preprocess.h"
#include "mnv2/mnv2.h"
#include "util/labels.h"

namespace mnv2 {
namespace {

image::PreprocessMode to_mode(Preprocess p) {
  switch (p) {
    case Preprocess::Omz: return image::PreprocessMode::Omz;
    case Preprocess::Tf: return image::PreprocessMode::Tf;
    case Preprocess::None: return image::PreprocessMode::None;
  }
  throw Error("invalid preprocess mode");
}

}  // namespace

std::vector<float> load_image(const std::string& path, const ModelInfo& info, Preprocess preprocess) {
  const image::PreprocessMode mode = to_mode(preprocess);
  // Large JPEGs decode at the smallest DCT scale that still covers the model's input.
  image::DecodeOptions options;
  image::decode_min_size(info, mode, &options.min_width, &options.min_height);
  const image::Image img = image::decode_file(path, options);
  std::vector<float> input(size_t(info.height) * size_t(info.width) * 3);
  image::preprocess(img, info, mode, input.data());
  return input;
}

std::vector<std::string> imagenet_labels(int num_classes) { return builtin_labels(num_classes); }

std::vector<Prediction> Model::classify(const std::string& image_path, int top, Preprocess preprocess) {
  if (top < 1) throw Error("classify: top must be at least 1, got " + std::to_string(top));
  const ModelInfo& mi = info();
  const std::vector<float> input = load_image(image_path, mi, preprocess);
  std::vector<float> probs(size_t(mi.num_classes));
  run(input.data(), 1, probs.data());
  const std::vector<std::string> names = builtin_labels(mi.num_classes);
  std::vector<Prediction> out;
  for (int c : top_k_classes(probs.data(), mi.num_classes, top, mi.has_background)) {
    Prediction p;
    p.index = c;
    p.probability = probs[size_t(c)];
    if (size_t(c) < names.size()) p.label = names[size_t(c)];
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace mnv2
