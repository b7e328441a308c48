// Facts from the public TFLite schema (tensorflow/lite/schema/schema.fbs): table field ids,
// enum values and union type ids used by mnv2's reader and writer.
#pragma once

namespace mnv2::tfl {

// Model
inline constexpr int kModelVersion = 0, kModelOperatorCodes = 1, kModelSubgraphs = 2,
                     kModelDescription = 3, kModelBuffers = 4, kModelMetadata = 6;
// OperatorCode
inline constexpr int kOpCodeDeprecatedBuiltin = 0, kOpCodeCustom = 1, kOpCodeVersion = 2,
                     kOpCodeBuiltin = 3;
// SubGraph
inline constexpr int kSubGraphTensors = 0, kSubGraphInputs = 1, kSubGraphOutputs = 2,
                     kSubGraphOperators = 3, kSubGraphName = 4;
// Tensor
inline constexpr int kTensorShape = 0, kTensorType = 1, kTensorBuffer = 2, kTensorName = 3,
                     kTensorQuantization = 4;
// QuantizationParameters (details is a union: type at 4, value at 5)
inline constexpr int kQuantMin = 0, kQuantMax = 1, kQuantScale = 2, kQuantZeroPoint = 3,
                     kQuantDetailsType = 4, kQuantDimension = 6;
// Operator (builtin_options is a union: type at 3, value at 4)
inline constexpr int kOperatorOpcodeIndex = 0, kOperatorInputs = 1, kOperatorOutputs = 2,
                     kOperatorBuiltinOptionsType = 3, kOperatorBuiltinOptions = 4;
// Buffer
inline constexpr int kBufferData = 0, kBufferOffset = 1, kBufferSize = 2;
// Metadata
inline constexpr int kMetadataName = 0, kMetadataBuffer = 1;

// TensorType
enum : int {
  kFloat32 = 0, kFloat16 = 1, kInt32 = 2, kUInt8 = 3, kInt64 = 4, kString = 5, kBool = 6,
  kInt16 = 7, kComplex64 = 8, kInt8 = 9, kFloat64 = 10,
};

// BuiltinOperator (the ones mnv2 reads or writes)
enum : int {
  kOpAdd = 0, kOpAveragePool2D = 1, kOpConv2D = 3, kOpDepthwiseConv2D = 4, kOpDequantize = 6,
  kOpFullyConnected = 9, kOpMul = 18, kOpRelu = 19, kOpRelu6 = 21, kOpReshape = 22,
  kOpSoftmax = 25, kOpCustom = 32, kOpPad = 34, kOpMean = 40, kOpSqueeze = 43,
  kOpQuantize = 114,
};

// BuiltinOptions union type ids
enum : int {
  kOptConv2D = 1, kOptDepthwiseConv2D = 2, kOptPool2D = 5, kOptFullyConnected = 8,
  kOptSoftmax = 9, kOptAdd = 11, kOptReshape = 17, kOptMul = 21, kOptPad = 22,
  kOptReducer = 27, kOptSqueeze = 30, kOptDequantize = 38,
};

enum : int { kPaddingSame = 0, kPaddingValid = 1 };
enum : int { kActNone = 0, kActRelu = 1, kActReluN1To1 = 2, kActRelu6 = 3, kActTanh = 4,
             kActSignBit = 5 };

const char* type_name(int type);
const char* op_code_name(int code);
const char* activation_type_name(int act);

}  // namespace mnv2::tfl
