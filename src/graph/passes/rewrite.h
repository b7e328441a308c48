// What the passes share: reader counts, bypassing a node, and renumbering after removals.
#pragma once

#include <string>
#include <vector>

#include "graph/passes.h"

namespace mnv2::passes {

class Rewrite {
 public:
  Rewrite(Graph& g, PassLog* log, const char* pass);

  Graph& g;

  // How many times node id's value is read: by node inputs, and once more when it is the
  // graph output. Logits and features only name a value; they do not keep it from folding.
  int readers(int id) const { return int(users_[size_t(id)].size()) + (g.output == id); }
  // The nodes that read node id (one entry per input that names it).
  const std::vector<int>& users(int id) const { return users_[size_t(id)]; }
  bool removed(int id) const { return removed_[size_t(id)]; }

  // Node id (one input) disappears: whatever read it, and the output / logits / features
  // when they name it, now refer to its input. Costs as much as id has readers.
  void bypass(int id);

  // The graph's integer view no longer matches its float weights: dropped on every node.
  void drop_integer_view(const std::string& why);

  void note(std::string text);

  // Removes bypassed nodes and renumbers the rest (order kept), then infers shapes again.
  void finish();

 private:
  PassLog* log_;
  const char* pass_;
  std::vector<std::vector<int>> users_;
  std::vector<bool> removed_;
  bool any_removed_ = false;
  bool view_dropped_ = false;
};

// "'name' (Op)" for messages.
std::string describe(const Node& n);
[[noreturn]] void fail(const Node& n, const std::string& what);

bool is_weighted(const Node& n);

// The passes, each over the whole graph.
void normalise_layout(Rewrite& r);
void remove_identity(Rewrite& r);
void fold_pad(Rewrite& r);
void fold_affine(Rewrite& r);
void fold_activation(Rewrite& r);

}  // namespace mnv2::passes
