// fold-affine: BatchNorm and ConstArith nodes as a per-channel y = x * s + b, folded into
// what produces x where that is exact arithmetic on the producer's own parameters.
//
// Into a weighted node (Conv2D, DepthwiseConv2D, FullyConnected) without activation whose
// only reader is this node: w' = w * s[out channel], bias' = bias * s + b. Into a
// ChannelAffine read only here: w' = w * s, b' = b_old * s + b. Otherwise the node itself
// becomes a ChannelAffine. Nothing folds backwards into a following convolution: its zero
// padding would see the shifted values.
//
// s and b are computed in double from the float parameters, and every result is rounded to
// float once, so a chain (conv -> batch norm -> bias add) rounds after each op in the
// file's order, whatever the format.
#include <cmath>

#include "graph/passes/rewrite.h"

namespace mnv2::passes {
namespace {

struct Affine {
  std::vector<double> s, b;
};

Affine affine_of(const Node& n, int channels) {
  Affine a{std::vector<double>(size_t(channels), 1.0), std::vector<double>(size_t(channels), 0.0)};
  if (n.op == OpType::BatchNorm) {
    for (size_t c = 0; c < size_t(channels); ++c) {
      const double var = double(n.bn_var[c]) + double(n.bn_epsilon);
      if (!(var > 0))
        fail(n, "variance + epsilon is not positive for channel " + std::to_string(c));
      a.s[c] = double(n.weights[c]) / std::sqrt(var);
      a.b[c] = double(n.bias[c]) - double(n.bn_mean[c]) * a.s[c];
    }
    return a;
  }
  for (size_t c = 0; c < size_t(channels); ++c) {
    const double k = n.weights[n.weights.size() == 1 ? 0 : c];
    switch (n.arith) {
      case Arith::Add: a.b[c] = k; break;
      case Arith::Sub: a.b[c] = -k; break;
      case Arith::SubFrom: a.s[c] = -1.0; a.b[c] = k; break;
      case Arith::Mul: a.s[c] = k; break;
      case Arith::Div:
        if (k == 0) fail(n, "division by zero");
        a.s[c] = 1.0 / k;
        break;
    }
  }
  return a;
}

// Output channel c of a weighted node is scaled by s[c] and shifted by b[c].
void fold_into_weighted(Node& p, const Affine& a) {
  const size_t cout = a.s.size();
  if (p.op == OpType::DepthwiseConv2D) {  // [KH][KW][C*mult]: the channel is innermost
    for (size_t i = 0; i < p.weights.size(); ++i)
      p.weights[i] = float(double(p.weights[i]) * a.s[i % cout]);
  } else {  // [Cout][...]: the channel is outermost
    const size_t per = p.weights.size() / cout;
    for (size_t o = 0; o < cout; ++o)
      for (size_t k = 0; k < per; ++k)
        p.weights[o * per + k] = float(double(p.weights[o * per + k]) * a.s[o]);
  }
  if (p.bias.empty()) p.bias.assign(cout, 0.f);
  for (size_t o = 0; o < cout; ++o) p.bias[o] = float(double(p.bias[o]) * a.s[o] + a.b[o]);
}

void merge_into_affine(Node& p, const Affine& a) {
  for (size_t c = 0; c < a.s.size(); ++c) {
    p.weights[c] = float(double(p.weights[c]) * a.s[c]);
    p.bias[c] = float(double(p.bias[c]) * a.s[c] + a.b[c]);
  }
}

}  // namespace

void fold_affine(Rewrite& r) {
  Graph& g = r.g;
  for (int id = 0; id < int(g.nodes.size()); ++id) {
    Node& n = g.node(id);
    if (n.op != OpType::BatchNorm && n.op != OpType::ConstArith) continue;
    const Affine a = affine_of(n, n.shape.c);
    const int src = n.inputs[0];
    Node& p = g.node(src);
    const bool sole = r.readers(src) == 1;
    if (sole && is_weighted(p) && p.activation == Activation::None) {
      fold_into_weighted(p, a);
      r.note(describe(n) + " folded into " + describe(p));
      if (!p.qweights.empty()) r.drop_integer_view(describe(p) + " changed weights");
      r.bypass(id);
    } else if (sole && p.op == OpType::ChannelAffine) {
      merge_into_affine(p, a);
      r.note(describe(n) + " merged into " + describe(p));
      r.bypass(id);
    } else {
      r.note(describe(n) + " became a ChannelAffine");
      n.op = OpType::ChannelAffine;
      n.weights.assign(a.s.begin(), a.s.end());
      n.bias.assign(a.b.begin(), a.b.end());
      std::vector<float>().swap(n.bn_mean);
      std::vector<float>().swap(n.bn_var);
      n.bn_epsilon = 0.f;
      n.arith = Arith::Add;
      r.drop_integer_view(describe(n) + " has no integer form");
    }
  }
}

}  // namespace mnv2::passes
