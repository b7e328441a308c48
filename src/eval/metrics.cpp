#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "mnv2/mnv2.h"

namespace mnv2::eval {

Interval wilson_interval(size_t k, size_t n, double z) {
  if (n == 0) return {0.0, 1.0};
  const double nn = double(n), p = double(k) / nn, z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double centre = (p + z2 / (2.0 * nn)) / denom;
  const double half = z / denom * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
  // The bounds are exactly 0 at k = 0 and 1 at k = n; say so rather than trust rounding.
  return {k == 0 ? 0.0 : std::max(0.0, centre - half), k == n ? 1.0 : std::min(1.0, centre + half)};
}

std::vector<int> top_k(const float* scores, int num_classes, int k) {
  k = std::max(0, std::min(k, num_classes));
  std::vector<int> order(size_t(std::max(num_classes, 0)));
  std::iota(order.begin(), order.end(), 0);
  auto better = [scores](int a, int b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  order.resize(size_t(k));
  return order;
}

Accuracy::Accuracy(int num_classes) : per_class_(size_t(std::max(num_classes, 0))) {}

void Accuracy::add(int truth, const std::vector<int>& top) {
  if (truth < 0 || size_t(truth) >= per_class_.size())
    throw Error("class " + std::to_string(truth) + " is outside the model's " +
                std::to_string(per_class_.size()) + " classes");
  ClassStats& c = per_class_[size_t(truth)];
  ++images_;
  ++c.images;
  if (top.empty()) return;
  const bool hit1 = top[0] == truth;
  const size_t n5 = std::min<size_t>(5, top.size());
  const bool hit5 = std::find(top.begin(), top.begin() + long(n5), truth) != top.begin() + long(n5);
  if (hit1) ++top1_, ++c.top1;
  else ++confusion_[{truth, top[0]}];
  if (hit5) ++top5_, ++c.top5;
}

std::vector<ConfusedPair> Accuracy::most_confused(size_t n) const {
  std::vector<ConfusedPair> all;
  all.reserve(confusion_.size());
  for (const auto& [key, count] : confusion_) all.push_back({key.first, key.second, count});
  // confusion_ is ordered by (truth, predicted), so a stable sort by count keeps that order
  // among ties.
  std::stable_sort(all.begin(), all.end(),
                   [](const ConfusedPair& a, const ConfusedPair& b) { return a.count > b.count; });
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace mnv2::eval
