// The pass driver and the bookkeeping every pass shares (graph/passes/rewrite.h).
#include "graph/passes.h"

#include <algorithm>
#include <iterator>

#include "graph/passes/rewrite.h"

namespace mnv2 {
namespace passes {

Rewrite::Rewrite(Graph& graph, PassLog* log, const char* pass)
    : g(graph), log_(log), pass_(pass), users_(graph.nodes.size()),
      removed_(graph.nodes.size(), false) {
  for (int id = 0; id < int(g.nodes.size()); ++id)
    for (int in : g.nodes[size_t(id)].inputs) users_[size_t(in)].push_back(id);
}

void Rewrite::bypass(int id) {
  Node& n = g.node(id);
  if (n.inputs.size() != 1) fail(n, "internal: only single-input nodes can be bypassed");
  const int src = n.inputs[0];
  std::vector<int>& to = users_[size_t(src)];
  if (auto it = std::find(to.begin(), to.end(), id); it != to.end()) to.erase(it);
  for (int u : users_[size_t(id)]) {
    for (int& in : g.node(u).inputs)
      if (in == id) in = src;
    to.push_back(u);
  }
  users_[size_t(id)].clear();
  for (int* ref : {&g.output, &g.logits, &g.features})
    if (*ref == id) *ref = src;
  removed_[size_t(id)] = true;
  any_removed_ = true;
}

void Rewrite::drop_integer_view(const std::string& why) {
  if (view_dropped_) return;
  view_dropped_ = true;
  bool had = false;
  for (Node& n : g.nodes) {
    had = had || n.out_q.valid() || !n.qweights.empty();
    n.out_q = QuantParams{};
    std::vector<int16_t>().swap(n.qweights);
    std::vector<float>().swap(n.qweight_scales);
    std::vector<int32_t>().swap(n.qbias);
  }
  if (had) note("integer view dropped: " + why);
}

void Rewrite::note(std::string text) {
  if (log_) log_->add(pass_, std::move(text));
}

void Rewrite::finish() {
  if (any_removed_) {
    std::vector<int> new_id(g.nodes.size(), -1);
    std::vector<Node> kept;
    kept.reserve(g.nodes.size());
    for (size_t id = 0; id < g.nodes.size(); ++id) {
      if (removed_[id]) continue;
      new_id[id] = int(kept.size());
      kept.push_back(std::move(g.nodes[id]));
    }
    for (Node& n : kept)
      for (int& in : n.inputs) in = new_id[size_t(in)];
    for (int* ref : {&g.input, &g.output, &g.logits, &g.features})
      if (*ref >= 0) *ref = new_id[size_t(*ref)];
    g.nodes = std::move(kept);
  }
  g.infer_shapes(1);
}

std::string describe(const Node& n) { return "'" + n.name + "' (" + op_name(n.op) + ")"; }

void fail(const Node& n, const std::string& what) {
  throw Error("node " + describe(n) + ": " + what);
}

bool is_weighted(const Node& n) {
  return n.op == OpType::Conv2D || n.op == OpType::DepthwiseConv2D ||
         n.op == OpType::FullyConnected;
}

void remove_identity(Rewrite& r) {
  for (int id = 0; id < int(r.g.nodes.size()); ++id) {
    if (r.g.node(id).op != OpType::Identity) continue;
    r.note(describe(r.g.node(id)) + " removed");
    r.bypass(id);
  }
}

}  // namespace passes

const std::vector<PassInfo>& graph_passes() {
  static const std::vector<PassInfo> list = {
      {"normalise-layout", "weights from the file's order (OIHW, HWIO, IO) to the canonical one"},
      {"remove-identity", "pass-through nodes go; their readers read the source"},
      {"fold-pad", "zero Pad nodes into the padding of the convolutions that read them"},
      {"fold-affine",
       "BatchNorm / ConstArith into the producing conv or FC, else into a ChannelAffine"},
      {"fold-activation", "stand-alone ReLU / ReLU6 into the producing conv or FC"},
  };
  return list;
}

void run_passes(Graph& g, PassLog* log) {
  using Pass = void (*)(passes::Rewrite&);
  static const Pass run[] = {passes::normalise_layout, passes::remove_identity,
                             passes::fold_pad, passes::fold_affine, passes::fold_activation};
  static_assert(std::size(run) == 5, "graph_passes() lists every pass");
  g.infer_shapes(1);
  for (size_t k = 0; k < std::size(run); ++k) {
    passes::Rewrite r(g, log, graph_passes()[k].name);
    run[k](r);
    r.finish();
  }
}

}  // namespace mnv2
