// fold-activation: a stand-alone ReLU / ReLU6 becomes the fused activation of the weighted
// node (Conv2D, DepthwiseConv2D, FullyConnected) that produces its input, when nothing else
// reads that node. The executors have no stand-alone activation, so any other ReLU is an
// error. Two activations combine: relu(relu6(x)) = relu6(relu(x)) = relu6(x).
#include <cctype>

#include "graph/passes/rewrite.h"

namespace mnv2::passes {

void fold_activation(Rewrite& r) {
  Graph& g = r.g;
  for (int id = 0; id < int(g.nodes.size()); ++id) {
    Node& n = g.node(id);
    if (n.op != OpType::Activation) continue;
    const int src = n.inputs[0];
    Node& p = g.node(src);
    if (!is_weighted(p) || r.readers(src) != 1) {
      std::string act = activation_name(n.activation);
      for (char& c : act) c = char(std::toupper(static_cast<unsigned char>(c)));
      fail(n, "stand-alone " + act + " cannot be fused: mnv2 runs ReLU/ReLU6 only fused into " +
                  "the convolution or fully-connected layer that produces its input, and " +
                  describe(p) +
                  (is_weighted(p) ? " is also read elsewhere" : " is not such a layer"));
    }
    const Activation before = p.activation;
    p.activation = before == Activation::Relu6 || n.activation == Activation::Relu6
                       ? Activation::Relu6
                       : Activation::Relu;
    r.note(describe(n) + " (" + activation_name(n.activation) + ") fused into " + describe(p));
    // The fused node's output is the activation's: an integer view must quantize both alike.
    if (!(n.out_q == p.out_q))
      r.drop_integer_view(describe(n) + " and " + describe(p) + " are quantized differently");
    r.bypass(id);
  }
}

}  // namespace mnv2::passes
