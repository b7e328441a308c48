// ImageNet label files: one label per line ("tench"), optionally numbered ("1  tench",
// "1: tench") or prefixed with a WordNet id ("n01440764 tench"); and the ImageNet class
// names built into the library, used when no label file is given.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mnv2 {

struct Labels {
  std::vector<std::string> names;  // index = class index
  std::string note;                // how the file was aligned to the model, if it was
  std::string source;              // the label file read, kBuiltinLabelsSource, or empty
};

// The built-in names as the text of a label file: 1001 lines, each ending in '\n', line 0
// "background" (src/util/imagenet_classes.inc, written by scripts/gen-imagenet-classes.py).
std::string_view imagenet_class_text();
// The built-in names for a model's class count: all 1001 for 1001 classes, the 1000 without
// "background" for 1000 classes, none for any other count.
std::vector<std::string> builtin_labels(int num_classes);
inline constexpr const char* kBuiltinLabelsSource = "built-in ImageNet class names";

// The names every command, the server and the Python module show for a model: `path` when
// given (an error if unreadable), else `cached_path` when that file exists (what
// `mnv2 fetch` stores), else the built-in names; aligned to the model's class count. Names
// stay empty only for a model whose class count is neither 1000 nor 1001 and no file was
// given or cached.
Labels resolve_labels(const std::string& path, const std::string& cached_path, int num_classes,
                      bool has_background);

std::vector<std::string> parse_labels(const std::string& text, const std::string& name);
std::vector<std::string> read_labels(const std::string& path);
// Aligns a label list to a model's class count: a 1000-line list gains "background" in
// front for a 1001-class model; a 1001-line list starting with "background" loses it for
// a 1000-class model. Any other mismatch keeps the list and says so in `note`.
Labels align_labels(std::vector<std::string> labels, int num_classes, bool has_background);

// Indices of the k largest probabilities, best first (ties: lower index first). With a
// background class (index 0) it is only reported when it is the top-1.
std::vector<int> top_k_classes(const float* probs, int num_classes, int k, bool has_background);

}  // namespace mnv2
