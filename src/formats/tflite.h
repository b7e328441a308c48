// TensorFlow Lite models (.tflite, FlatBuffers schema version 3).
//
// The loader (tflite_tensors.cpp, tflite.cpp) reads subgraph 0 and translates it into the
// IR; stand-alone RELU / RELU6 operators are fused by the graph passes. Quantized models (uint8 per-tensor,
// int8 per-channel, float16) are dequantized at load time and run on the float path; the IR
// input is then the *real-valued* input tensor and ModelInfo's mean/scale are set so that
// (pixel - mean) / scale reproduces what feeding the raw pixel as the quantized input means.
//
// The writer produces a float32 model (optionally with float16 weights followed by
// DEQUANTIZE ops) that the loader, and TFLite itself, reads back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/loader.h"
#include "graph/graph.h"

namespace mnv2 {

// Loads a .tflite file; throws mnv2::Error naming the file and what/where is wrong.
Graph load_tflite(const std::string& path);
// The same from bytes in memory; `name` stands for the file in error messages.
Graph load_tflite_bytes(const uint8_t* data, size_t size, const std::string& name);
// The translation alone (formats/loader.h), before the passes.
// The file is mapped, read once and its pages given back as its constants are translated.
Translation translate_tflite(const std::string& path, const LoadOptions& options = {});
Translation translate_tflite_bytes(const uint8_t* data, size_t size, const std::string& name,
                                   const LoadOptions& options = {});

struct TfliteWriteOptions {
  bool fp16 = false;  // store weights as float16 (+ DEQUANTIZE), as TFLite's fp16 quantization
  // Full-integer int8 model from the graph's integer view (Graph::quantized() must hold):
  // float32 input -> QUANTIZE -> int8 ops -> DEQUANTIZE -> float32 output.
  bool int8 = false;
};
// Serialises g (finalized) into a TFLite flatbuffer. Throws mnv2::Error if the graph uses
// something TFLite cannot express.
std::vector<uint8_t> write_tflite(const Graph& g, const TfliteWriteOptions& options);

// The name of the model-metadata entry that carries mnv2's ModelInfo fields.
inline constexpr const char* kTfliteInfoMetadata = "mnv2_model_info";

}  // namespace mnv2
