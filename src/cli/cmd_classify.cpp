// mnv2 classify: top-k ImageNet classes for each image.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/image_inputs.h"
#include "util/classify_json.h"
#include "util/labels.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 classify IMAGE... [options]\n\n"
    "Prints the top-k classes (index, label, probability) for each image. IMAGE is a file\n"
    "(JPEG, PNG, BMP, PPM/PGM, raw square RGB), a folder (its image files, recursively,\n"
    "sorted) or - for stdin. An unreadable image is reported on stderr with its name; the\n"
    "others are still classified and the exit status is 1.\n";

int run(const Args& a) {
  const ImageBatchOptions opt = image_batch_options(a);
  const int k = a.get_int("top", 5, 1, 100000);
  const bool json = a.has("json");
  const std::vector<std::string> files = expand_image_args(a.positional(), model_positional_count(a));

  Model model = open_image_model(a, opt.batch);
  const ModelInfo& info = model.info();

  const Labels labels = load_labels_option(a, info, "classify");
  auto label_of = [&](int i) -> std::string {
    return i < int(labels.names.size()) ? labels.names[size_t(i)] : std::string();
  };

  std::vector<std::string> json_results, json_errors;
  const int failures = run_image_batches(
      model, files, opt, true, false,
      [&](const std::vector<size_t>& idx, const float* probs, const float*,
          const std::vector<double>& ms) {
        for (size_t b = 0; b < idx.size(); ++b) {
          const float* p = probs + b * size_t(info.num_classes);
          const std::string name = display_name(files[idx[b]]);
          if (json) {
            json_results.push_back(classify_result_json(name, p, info.num_classes, k,
                                                        info.has_background, labels, ms[b]));
          } else {
            std::printf("%s  (%.1f ms)\n", name.c_str(), ms[b]);
            for (int t : top_k_classes(p, info.num_classes, std::min(k, info.num_classes), info.has_background))
              std::printf("  %8.5f  %4d  %s\n", double(p[t]), t, label_of(t).c_str());
            std::fflush(stdout);
          }
        }
      },
      [&](size_t i, const std::string& msg) {
        std::fprintf(stderr, "mnv2 classify: error: %s\n", msg.c_str());
        if (json) json_errors.push_back(classify_error_json(display_name(files[i]), msg));
      });
  if (json) {
    std::printf("%s\n", classify_report_json(info.name, image::preprocess_mode_name(opt.mode),
                                             info.num_classes, json_results, json_errors)
                             .c_str());
  }
  if (failures) {
    std::fprintf(stderr, "mnv2 classify: %d of %zu image(s) failed\n", failures, files.size());
    return 1;
  }
  return 0;
}

RegisterCommand reg({"classify", kClassify, "top-k ImageNet classes for images", kUsage, nullptr, nullptr, run});

}  // namespace
}  // namespace mnv2::cli
