// KServe v2 / Open Inference Protocol request parsing and response building, kept free
// of any HTTP code so it can be tested directly. Every rejection is an HttpError with the
// status code the protocol prescribes and a message naming the field at fault.
#pragma once

#include <string>
#include <vector>

#include "image/decode.h"
#include "image/preprocess.h"
#include "mnv2/mnv2.h"
#include "server/memory_budget.h"
#include "util/labels.h"

namespace mnv2::server {

class HttpError : public Error {
 public:
  HttpError(int status, const std::string& message) : Error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// What the server knows about the model it serves.
struct ModelSpec {
  std::string name;
  std::string version = "1";
  ModelInfo info;
  image::PreprocessMode mode = image::PreprocessMode::Omz;
  image::DecodeOptions decode;
  Labels labels;
  int max_request_images = 256;  // rows per request
};

struct OutputRequest {
  std::string name;
  bool binary = false;
  int classification = 0;  // > 0: top-k "probability:index:label" strings instead of the tensor
};

struct InferRequest {
  bool has_id = false;
  std::string id;
  int rows = 0;
  std::vector<float> input;   // rows * H * W * 3, the model's input domain
  double prep_ms = 0;         // decoding + preprocessing (BYTES inputs)
  std::vector<OutputRequest> outputs;
  BudgetHold hold;            // `input`'s share of the request memory budget
};

// `body` is the whole request body; `header_length` is the value of the
// Inference-Header-Content-Length header (nullptr when absent). With a `budget`, the
// parsed JSON, the input tensor and each image decode are charged to it first
// (HttpError 503 when it is spent, 413 when the request could never fit).
InferRequest parse_infer_request(const ModelSpec& spec, const std::string& body,
                                 const std::string* header_length, MemoryBudget* budget = nullptr);

struct InferResponse {
  std::string body;
  std::string content_type = "application/json";
  long long header_length = -1;  // >= 0: send Inference-Header-Content-Length
};
InferResponse build_infer_response(const ModelSpec& spec, const InferRequest& req,
                                   const float* probs);

std::string server_metadata_json(const std::string& version);
std::string model_metadata_json(const ModelSpec& spec);
std::string error_json(const std::string& message);

// Decodes an encoded image (JPEG, PNG, ...) and preprocesses it exactly as `mnv2 classify`
// does (large JPEGs at a reduced DCT scale), writing H*W*3 floats to `out`. Throws
// mnv2::Error naming `name`. With a `budget`, the decoded pixels and preprocessing copies
// are charged to it before they are allocated and returned afterwards.
void decode_and_preprocess(const ModelSpec& spec, const uint8_t* data, size_t size,
                           const std::string& name, float* out, MemoryBudget* budget = nullptr);
// Adds `bytes` to `hold` or throws HttpError: 413 when they exceed the whole budget (the
// request can never be served), 503 when other requests hold the rest.
void charge(BudgetHold& hold, size_t bytes, const std::string& what);
// The request memory charged for parsing `n` bytes of JSON with nlohmann: the text itself
// plus kJsonValueBytes for every value the text can hold (each ',', '[', '{' or ':' starts
// at most one). A value is a 16-byte slot in a vector that doubles as it grows, so while it
// grows it can hold 3 slots per value (old and new buffers): 48 bytes. Dense "0,0,..."
// costs 25 bytes per byte; typical float text ("0.123456789,") about 5.
constexpr size_t kJsonValueBytes = 48;
size_t json_parse_cost(const char* p, size_t n);

// Standard base64 (padding optional, no whitespace); throws HttpError 400 when malformed.
std::vector<uint8_t> base64_decode(const std::string& s, const std::string& what);
// The k best classes as "probability:index:label" strings (Triton's classification format).
std::vector<std::string> classification_strings(const ModelSpec& spec, const float* probs, int k);

}  // namespace mnv2::server
