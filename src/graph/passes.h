// The graph-rewrite layer: turns a graph as a loader emitted it (unfolded ops, weights in
// the file's layout; see graph.h) into the executable graph, with one set of rules for
// every format. Loaders only translate; formats/loader.cpp runs the passes once after any
// of them.
//
// The passes, in the order run_passes applies them:
//   normalise-layout  weights from the file's order (OIHW, HWIO, IO) to the canonical one
//   remove-identity   pass-through nodes go; their readers read the source
//   fold-pad          a zero Pad of H and W becomes padding of the convolutions reading it
//                     (anything else reading a Pad is an error)
//   fold-affine       BatchNorm and ConstArith become a per-channel y = x*s + b that folds
//                     into the weights and bias of the Conv2D / DepthwiseConv2D /
//                     FullyConnected that produces x (when that node has no activation and
//                     no other reader), else merges into the ChannelAffine that produces x
//                     (no other reader), else stays as a ChannelAffine node
//   fold-activation   a stand-alone ReLU / ReLU6 becomes the activation of the weighted node
//                     that produces its input (no other reader); anything else is an error
//
// Folding arithmetic is in double and rounds to float once per folded op (the order in
// which the file applies them), so a graph folds to the same bits whichever format it came
// from. Folding into a node that carries an integer view (Graph::quantized) drops the
// integer view of the whole graph: the float weights change, the integer ones cannot.
//
// Constant folding of shape arithmetic (graph/const_eval.h) is the one rewrite that runs
// while a loader translates: the loader needs the values (pads, target shapes) to
// translate the ops that read them.
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace mnv2 {

// What the passes did, one line per change, for `mnv2 info --passes`.
struct PassLog {
  struct Entry {
    std::string pass;
    std::string text;
  };
  std::vector<Entry> entries;
  void add(const char* pass, std::string text) { entries.push_back({pass, std::move(text)}); }
};

struct PassInfo {
  const char* name;
  const char* summary;
};
// The passes in the order run_passes applies them.
const std::vector<PassInfo>& graph_passes();

// Rewrites g (as a loader emitted it) into an executable graph: shapes are inferred, every
// unfolded node is folded or removed, every weight tensor is canonical, node ids are
// renumbered (input, output, logits and features follow their nodes). Throws mnv2::Error
// naming the node when the graph cannot be made executable (e.g. a ReLU whose producer is
// read elsewhere).
void run_passes(Graph& g, PassLog* log = nullptr);

}  // namespace mnv2
