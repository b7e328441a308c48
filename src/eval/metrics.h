// Accuracy bookkeeping for `mnv2 eval`: top-1 / top-5 counts, per-class figures, the
// confusion pairs of top-1 errors, and the Wilson score interval for a proportion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace mnv2::eval {

struct Interval {
  double lo = 0, hi = 0;
};

// Wilson score interval for k successes in n trials at normal quantile z (1.959963985
// for 95 %). n = 0 gives [0, 1].
Interval wilson_interval(size_t k, size_t n, double z = 1.959963984540054);

// The indices of the k largest scores, best first; ties go to the lower index. Every
// class competes, background included (as OMZ's accuracy checker scores it).
std::vector<int> top_k(const float* scores, int num_classes, int k);

struct ClassStats {
  size_t images = 0, top1 = 0, top5 = 0;
};

struct ConfusedPair {
  int truth = 0, predicted = 0;
  size_t count = 0;
};

class Accuracy {
 public:
  explicit Accuracy(int num_classes);

  // One image: its true model class and the model's top classes, best first (top5 uses
  // the first five).
  void add(int truth, const std::vector<int>& top);

  size_t images() const { return images_; }
  size_t top1() const { return top1_; }
  size_t top5() const { return top5_; }
  const std::vector<ClassStats>& per_class() const { return per_class_; }
  // The `n` most frequent (truth, top-1 prediction) pairs among top-1 errors; ties are
  // ordered by truth, then prediction.
  std::vector<ConfusedPair> most_confused(size_t n) const;

 private:
  size_t images_ = 0, top1_ = 0, top5_ = 0;
  std::vector<ClassStats> per_class_;
  std::map<std::pair<int, int>, size_t> confusion_;
};

}  // namespace mnv2::eval
