// OpenVINO IR (v10 / v11): an .xml topology plus a .bin with the constants.
//
// The loader lowers the operations a MobileNetV2 IR uses (Parameter, Const, Convert,
// Convolution, GroupConvolution, Add/Subtract/Multiply/Divide, Clamp, ReLU, AvgPool,
// ReduceMean, Reshape, Squeeze, ShapeOf, SoftMax, MatMul, Result) into the graph IR
// (openvino_ir_parse.cpp, openvino_ir.cpp). The graph passes then make the NCHW weights
// the canonical NHWC layouts, fold bias adds and activations into the convolution that
// produces them, and merge element-wise affine ops on the input into one ChannelAffine
// node (never folded into the first convolution: its zero padding makes that inexact).
//
// Which channel order the input has cannot be read from the tensors. The rule:
//  * the IR's conversion metadata (<rt_info><conversion_parameters> of newer converters,
//    <meta_data><cli_parameters> of Model Optimizer 2020-2022) has reverse_input_channels:
//    True -> BGR, False -> RGB (the MobileNetV2 sources mnv2 knows are all RGB);
//  * without that metadata the IR is taken to be BGR, as the Open Model Zoo converter
//    (Model Optimizer with --reverse_input_channels) makes it.
// normalization_in_graph is true when an affine op sits on the input or the metadata
// says mean/scale values were given to the converter.
#pragma once

#include "formats/half.h"

#include <cstdint>
#include <string>
#include <vector>

#include "formats/loader.h"
#include "graph/graph.h"

namespace mnv2 {

// Reads xml_path and the .bin next to it (same path, extension replaced by .bin).
Graph load_openvino_ir(const std::string& xml_path);

// The same from memory. `label` names the model in error messages (usually the path).
Graph load_openvino_ir_memory(const std::string& xml_text, const std::vector<uint8_t>& bin,
                              const std::string& label);
// The translation alone (formats/loader.h), before the passes.
Translation translate_openvino_ir(const std::string& xml_path);
Translation translate_openvino_ir_memory(const std::string& xml_text,
                                         const std::vector<uint8_t>& bin,
                                         const std::string& label);

struct OpenVinoIrFiles {
  std::string xml;
  std::vector<uint8_t> bin;
};

// Serialises g as IR version 11 (opset1 / opset8 operations).
//  fp16: weights and biases are stored as f16 Consts, each followed by Convert to f32.
//  omz_style_input: the graph takes RGB input normalised as (x - mean) / scale (its
//    ModelInfo); the IR then takes BGR raw 0..255 pixels like the Open Model Zoo IR:
//    Subtract(mean) and Multiply(1/scale) on the input, and the channel reversal folded
//    into the weights of the first convolution(s).
OpenVinoIrFiles write_openvino_ir(const Graph& g, bool fp16, bool omz_style_input);

// True when g can be written with omz_style_input: it takes normalised RGB input and
// only Conv2D layers read the input (so the channel reversal folds into their weights).
bool openvino_ir_omz_input_possible(const Graph& g);

// Writes xml_path and the .bin beside it (extension replaced by .bin), each to a temporary
// name first and renamed, so a failed save leaves no partial pair.
void save_openvino_ir(const Graph& g, const std::string& xml_path, bool fp16,
                      bool omz_style_input);

// The .bin that belongs to an .xml path.
std::string openvino_bin_path(const std::string& xml_path);

}  // namespace mnv2
