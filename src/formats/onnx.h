// ONNX: a ModelProto reader that translates classifier graphs into the NHWC IR, and a
// writer that saves the IR as a standard opset-13 ONNX model. Both work on the protobuf
// wire format directly (pb_wire.h); field numbers follow onnx.proto.
//
// Reader (onnx_parse.cpp, onnx_lower.cpp, onnx_views.cpp): opsets 9..21,
// float32/float16/bfloat16/double initializers (float_data, int32_data or raw_data), Conv
// (group 1 or depthwise), BatchNormalization, Relu/Clip, Add (residual or with a
// constant), GlobalAveragePool and a global AveragePool/ReduceMean,
// Flatten/Reshape/Squeeze/Unsqueeze/Transpose (as views), Pad (zero pads merged into the
// next conv), Gemm/MatMul, Softmax, Constant, Identity, Dropout, per-channel Mul/Sub/Div,
// and shape arithmetic on constants (evaluated, graph/const_eval.h). Batch norms,
// constant operands and activations are emitted as nodes of their own; the graph passes
// fold them. Anything else is an error naming the operator and node.
#pragma once

#include <string>
#include <string_view>

#include "formats/loader.h"
#include "graph/graph.h"

namespace mnv2 {

// Loads an .onnx file (translation and graph passes). Throws mnv2::Error naming the file
// and what is wrong.
Graph load_onnx(const std::string& path);
// The same for a ModelProto held in memory; `name` labels errors and becomes info.name.
Graph load_onnx_bytes(std::string_view bytes, const std::string& name);
// The translation alone (formats/loader.h), before the passes.
Translation translate_onnx(const std::string& path);
Translation translate_onnx_bytes(std::string_view bytes, const std::string& name);
// True when the first bytes look like the start of an ONNX ModelProto (never throws).
bool looks_like_onnx(std::string_view head);

// Serialises g as an ONNX model (opset 13, NCHW float input with a symbolic batch). With
// fp16, weight and bias tensors are stored as FLOAT16 (rounded to nearest even), each
// widened by a Cast node; the graph still computes in float.
std::string onnx_model_bytes(const Graph& g, bool fp16 = false);
// Serialises a quantized graph (g.quantized()) in QDQ form: uint8 activations, each float op
// between DequantizeLinear and QuantizeLinear, int8 (or zero-pointed uint8) weights with
// per-channel scales, int32 biases; ONNX Runtime fuses it into its integer operators.
std::string onnx_qdq_model_bytes(const Graph& g);
// Writes onnx_model_bytes(g, fp16) to path.
void save_onnx(const Graph& g, const std::string& path, bool fp16 = false);

}  // namespace mnv2
