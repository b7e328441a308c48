// fold-pad: a zero Pad of H and W becomes extra padding of the convolutions that read it
// (convolutions pad with zeros themselves, so this is exact). Files use it for padding
// their convolution attributes cannot express (TF "SAME" as exported by PyTorch, pads
// beyond SAME/VALID in TFLite). A Pad read by anything else, or that is the graph
// output, is an error: no executor pads on its own.
#include <algorithm>

#include "graph/passes/rewrite.h"

namespace mnv2::passes {

void fold_pad(Rewrite& r) {
  Graph& g = r.g;
  for (int id = 0; id < int(g.nodes.size()); ++id) {
    const Node& pad = g.node(id);
    if (pad.op != OpType::Pad) continue;
    if (g.output == id) fail(pad, "the graph output is a zero padding");
    std::vector<int> readers = r.users(id);
    std::sort(readers.begin(), readers.end());
    readers.erase(std::unique(readers.begin(), readers.end()), readers.end());
    for (int k : readers) {
      Node& conv = g.node(k);  // a convolution, or a Pad that later merges into them
      if (conv.op != OpType::Conv2D && conv.op != OpType::DepthwiseConv2D &&
          conv.op != OpType::Pad)
        fail(pad, "zero padding is supported only in front of a convolution, and " +
                      describe(conv) + " reads it");
      conv.pad_top += pad.pad_top;
      conv.pad_bottom += pad.pad_bottom;
      conv.pad_left += pad.pad_left;
      conv.pad_right += pad.pad_right;
      if (conv.pad_top > 64 || conv.pad_bottom > 64 || conv.pad_left > 64 || conv.pad_right > 64)
        fail(conv, "padding above 64 (with " + describe(pad) + ") is not supported");
      r.note(describe(pad) + " merged into the padding of " + describe(conv));
    }
    // A quantized Pad fills with its zero point (real 0); it must not requantize.
    if (!(pad.out_q == g.node(pad.inputs[0]).out_q))
      r.drop_integer_view(describe(pad) + " changes the quantization");
    r.bypass(id);
  }
}

}  // namespace mnv2::passes
