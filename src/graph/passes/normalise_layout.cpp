// normalise-layout: weights from the order a file stores them in to the canonical order
// graph.h lists per op. A pure permutation, so exact; the integer view (if any) moves along.
#include <cstddef>

#include "graph/passes/rewrite.h"

namespace mnv2::passes {
namespace {

// dst[to(i)] = src[i] for every element.
template <typename T, typename Index>
void permute(std::vector<T>& v, Index to) {
  if (v.empty()) return;
  std::vector<T> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[to(i)] = v[i];
  v.swap(out);
}

template <typename Index>
void permute_weights(Node& n, Index to) {
  permute(n.weights, to);
  permute(n.qweights, to);
}

}  // namespace

void normalise_layout(Rewrite& r) {
  for (Node& n : r.g.nodes) {
    if (n.layout == WeightLayout::Canonical) continue;
    const size_t size = n.weights.size();
    const size_t kh = size_t(n.kernel_h), kw = size_t(n.kernel_w);
    if (n.op == OpType::Conv2D) {
      const size_t co = size_t(n.out_channels), ci = size / (co * kh * kw);
      if (n.layout == WeightLayout::OIHW) {  // [o][i][y][x] -> [o][y][x][i]
        permute_weights(n, [&](size_t k) {
          const size_t x = k % kw, y = k / kw % kh, i = k / (kw * kh) % ci, o = k / (kw * kh * ci);
          return ((o * kh + y) * kw + x) * ci + i;
        });
      } else {  // HWIO: [y][x][i][o] -> [o][y][x][i]
        permute_weights(n, [&](size_t k) {
          const size_t o = k % co, i = k / co % ci, x = k / (co * ci) % kw, y = k / (co * ci * kw);
          return ((o * kh + y) * kw + x) * ci + i;
        });
      }
    } else if (n.op == OpType::DepthwiseConv2D) {  // OIHW: [c][1][y][x] -> [y][x][c]
      const size_t c = size / (kh * kw);
      permute_weights(n, [&](size_t k) { return (k % (kh * kw)) * c + k / (kh * kw); });
    } else {  // FullyConnected, InOut: [i][o] -> [o][i]
      const size_t co = size_t(n.out_channels), ci = size / co;
      permute_weights(n, [&](size_t k) { return (k % co) * ci + k / co; });
    }
    r.note(describe(n) + " weights " + layout_name(n.layout) + " -> canonical");
    n.layout = WeightLayout::Canonical;
  }
}

}  // namespace mnv2::passes
