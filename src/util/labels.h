// ImageNet label files: one label per line ("tench"), optionally numbered ("1  tench",
// "1: tench") or prefixed with a WordNet id ("n01440764 tench").
#pragma once

#include <string>
#include <vector>

namespace mnv2 {

struct Labels {
  std::vector<std::string> names;  // index = class index
  std::string note;                // how the file was aligned to the model, if it was
};

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
