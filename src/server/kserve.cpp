#include "server/kserve.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/classify_json.h"

namespace mnv2::server {

using json = nlohmann::json;

namespace {

constexpr int kMaxJsonDepth = 16;

[[noreturn]] void bad(const std::string& m) { throw HttpError(400, m); }

// Rejects deep nesting before the parser sees it (bounded recursion everywhere after).
void check_depth(const char* p, size_t n) {
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) bad("request JSON is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

std::string fmt_float(float v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Appends the numbers of a flat or nested array to `out`; stops early past `limit`.
void flatten_numbers(const json& v, std::vector<double>& out, size_t limit, const std::string& what) {
  if (v.is_array()) {
    for (const auto& e : v) {
      flatten_numbers(e, out, limit, what);
      if (out.size() > limit) return;
    }
  } else if (v.is_number()) {
    out.push_back(v.get<double>());
  } else {
    bad(what + ": data must contain only numbers");
  }
}

std::vector<int64_t> read_shape(const json& in, const std::string& what) {
  if (!in.contains("shape") || !in["shape"].is_array()) bad(what + ": 'shape' must be an array of integers");
  std::vector<int64_t> shape;
  for (const auto& d : in["shape"]) {
    if (!d.is_number_integer()) bad(what + ": 'shape' must be an array of integers");
    const int64_t x = d.get<int64_t>();
    if (x < 0 || x > (int64_t(1) << 31)) bad(what + ": shape dimension " + std::to_string(x) + " out of range");
    shape.push_back(x);
  }
  return shape;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

uint32_t read_le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

std::string error_json(const std::string& message) {
  return "{\"error\":\"" + json_escape_text(utf8_sanitize(message)) + "\"}";
}

std::vector<uint8_t> base64_decode(const std::string& s, const std::string& what) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  size_t n = s.size();
  while (n > 0 && s[n - 1] == '=') --n;
  if (s.size() - n > 2 || n % 4 == 1) bad(what + ": malformed base64");
  std::vector<uint8_t> out;
  out.reserve(n * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    const int v = val(s[i]);
    if (v < 0) bad(what + ": malformed base64 (character " + std::to_string(i) + ")");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(uint8_t(acc >> bits));
    }
  }
  return out;
}

void charge(BudgetHold& hold, size_t bytes, const std::string& what) {
  if (hold.grow(bytes)) return;
  const MemoryBudget& b = *hold.budget();
  auto mib = [](size_t n) { return std::to_string((n + (1u << 20) - 1) >> 20); };
  if (hold.held() + bytes > b.capacity())
    throw HttpError(413, what + " needs " + mib(hold.held() + bytes) + " MiB of request memory, more than the "
                         "server's whole budget of " + mib(b.capacity()) + " MiB (--decode-memory)");
  throw HttpError(503, what + ": the server's request memory (--decode-memory, " + mib(b.capacity()) +
                           " MiB) is in use by other requests; retry shortly");
}

size_t json_parse_cost(const char* p, size_t n) {
  size_t values = 1;
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    values += c == ',' || c == '[' || c == '{' || c == ':';
  }
  return n + values * kJsonValueBytes;
}

void decode_and_preprocess(const ModelSpec& spec, const uint8_t* data, size_t size,
                           const std::string& name, float* out, MemoryBudget* budget) {
  image::DecodeOptions o = spec.decode;
  image::decode_min_size(spec.info, spec.mode, &o.min_width, &o.min_height);
  BudgetHold hold(budget);
  if (budget)
    o.before_allocate = [&](int64_t w, int64_t h, int64_t extra) {
      // The image, then at most one working copy at a time: the EXIF rotation (JPEG) or
      // preprocessing's crop / float copy.
      const int64_t px = w * h * 3;
      const int64_t cost = px + std::max(px, image::preprocess_working_bytes(w, h, spec.mode)) + extra;
      charge(hold, size_t(cost), name + " (" + std::to_string(w) + "x" + std::to_string(h) + " decoded)");
    };
  const image::Image img = image::decode_memory(data, size, name, o);
  image::preprocess(img, spec.info, spec.mode, out);
}

std::vector<std::string> classification_strings(const ModelSpec& spec, const float* probs, int k) {
  const int nc = spec.info.num_classes;
  std::vector<std::string> r;
  for (int c : top_k_classes(probs, nc, std::min(k, nc), spec.info.has_background)) {
    std::string s = fmt_float(probs[c]) + ":" + std::to_string(c);
    if (c < int(spec.labels.names.size())) s += ":" + spec.labels.names[size_t(c)];
    r.push_back(std::move(s));
  }
  return r;
}

InferRequest parse_infer_request(const ModelSpec& spec, const std::string& body,
                                 const std::string* header_length, MemoryBudget* budget) {
  using clock = std::chrono::steady_clock;
  const ModelInfo& info = spec.info;
  size_t json_len = body.size();
  if (header_length) {
    const std::string& h = *header_length;
    unsigned long long v = 0;
    auto r = std::from_chars(h.data(), h.data() + h.size(), v);
    if (h.empty() || r.ec != std::errc() || r.ptr != h.data() + h.size())
      bad("Inference-Header-Content-Length must be a non-negative integer, got '" + h + "'");
    if (v > body.size())
      bad("Inference-Header-Content-Length " + h + " exceeds the body size " + std::to_string(body.size()));
    json_len = size_t(v);
  }
  const char* jp = body.data();
  check_depth(jp, json_len);
  BudgetHold json_hold(budget);  // the parsed document, freed when this returns
  charge(json_hold, json_parse_cost(jp, json_len), "the request JSON (" + std::to_string(json_len) + " bytes)");
  json doc = json::parse(jp, jp + json_len, nullptr, false);
  if (doc.is_discarded()) bad("request body is not valid JSON");
  if (!doc.is_object()) bad("request body must be a JSON object");

  InferRequest req;
  req.hold = BudgetHold(budget);
  if (doc.contains("id")) {
    if (!doc["id"].is_string()) bad("'id' must be a string");
    req.has_id = true;
    req.id = doc["id"].get<std::string>();
  }
  bool binary_all = false;
  if (doc.contains("parameters")) {
    const json& p = doc["parameters"];
    if (!p.is_object()) bad("'parameters' must be an object");
    if (p.contains("binary_data_output")) {
      if (!p["binary_data_output"].is_boolean()) bad("parameters.binary_data_output must be a boolean");
      binary_all = p["binary_data_output"].get<bool>();
    }
  }
  if (!doc.contains("inputs") || !doc["inputs"].is_array()) bad("'inputs' must be an array");
  const json& inputs = doc["inputs"];
  if (inputs.size() != 1)
    bad("the model has exactly one input ('" + info.input_name + "'), got " + std::to_string(inputs.size()));

  const json& in = inputs[0];
  if (!in.is_object()) bad("inputs[0] must be an object");
  if (!in.contains("name") || !in["name"].is_string()) bad("inputs[0]: 'name' must be a string");
  const std::string name = in["name"].get<std::string>();
  if (name != info.input_name) bad("unknown input '" + name + "'; the model's input is '" + info.input_name + "'");
  const std::string what = "input '" + name + "'";
  if (!in.contains("datatype") || !in["datatype"].is_string()) bad(what + ": 'datatype' must be a string");
  const std::string dtype = in["datatype"].get<std::string>();
  const std::vector<int64_t> shape = read_shape(in, what);

  // The binary section: after the JSON header when Inference-Header-Content-Length is given.
  const uint8_t* bin = reinterpret_cast<const uint8_t*>(body.data()) + json_len;
  const size_t bin_size = body.size() - json_len;
  bool has_binary = false;
  size_t binary_size = 0;
  if (in.contains("parameters")) {
    const json& p = in["parameters"];
    if (!p.is_object()) bad(what + ": 'parameters' must be an object");
    if (p.contains("binary_data_size")) {
      if (!p["binary_data_size"].is_number_unsigned()) bad(what + ": binary_data_size must be a non-negative integer");
      const uint64_t s = p["binary_data_size"].get<uint64_t>();
      if (!header_length) bad(what + ": binary_data_size given without the Inference-Header-Content-Length header");
      if (s != bin_size)
        bad(what + ": binary_data_size " + std::to_string(s) + " does not match the " + std::to_string(bin_size) +
            " bytes after the JSON header");
      has_binary = true;
      binary_size = size_t(s);
    }
  }
  // OVMS: with a single input, binary_data_size may be omitted.
  if (!has_binary && header_length && bin_size > 0) {
    has_binary = true;
    binary_size = bin_size;
  }
  if (has_binary && in.contains("data")) bad(what + ": both 'data' and binary data given");
  if (!has_binary && !in.contains("data")) bad(what + ": no 'data' and no binary data");
  if (!has_binary && header_length && bin_size == 0 && !in.contains("data")) bad(what + ": no data");

  const size_t per = size_t(info.height) * info.width * 3;
  if (dtype == "FP32" || dtype == "UINT8") {
    if (shape.size() != 4 || shape[1] != info.height || shape[2] != info.width || shape[3] != 3)
      bad(what + ": shape " + shape_str(shape) + " does not match the model input [-1," +
          std::to_string(info.height) + "," + std::to_string(info.width) + ",3]");
    if (shape[0] < 1 || shape[0] > spec.max_request_images)
      bad(what + ": batch " + std::to_string(shape[0]) + " outside 1.." + std::to_string(spec.max_request_images));
    req.rows = int(shape[0]);
    const size_t count = size_t(req.rows) * per;
    charge(req.hold, count * sizeof(float), what + ": the input tensor");
    const bool u8 = dtype == "UINT8";
    const float mean = info.normalization_in_graph ? 0.f : info.mean;
    const float scale = info.normalization_in_graph ? 1.f : info.scale;
    if (has_binary) {
      const size_t need = count * (u8 ? 1 : 4);
      if (binary_size != need)
        bad(what + ": " + std::to_string(binary_size) + " bytes of binary data, shape " + shape_str(shape) + " " +
            dtype + " needs " + std::to_string(need));
      req.input.resize(count);
      if (u8) {
        for (size_t i = 0; i < count; ++i) req.input[i] = (float(bin[i]) - mean) / scale;
      } else {
        std::memcpy(req.input.data(), bin, need);
      }
    } else {
      std::vector<double> vals;  // grows with the data actually sent, never from the shape alone
      flatten_numbers(in["data"], vals, count, what);
      if (vals.size() != count)
        bad(what + ": " + (vals.size() > count ? std::string("more than ") : std::to_string(vals.size()) + " ") +
            "values in 'data', shape " + shape_str(shape) + " needs " + std::to_string(count));
      req.input.resize(count);
      for (size_t i = 0; i < count; ++i) {
        const double v = vals[i];
        if (u8) {
          if (v < 0 || v > 255 || v != double(int(v))) bad(what + ": UINT8 value out of range at element " + std::to_string(i));
          req.input[i] = (float(v) - mean) / scale;
        } else {
          req.input[i] = float(v);
        }
      }
    }
  } else if (dtype == "BYTES") {
    if (shape.size() != 1 && !(shape.size() == 2 && shape[1] == 1))
      bad(what + ": BYTES input (encoded images) must have shape [N], got " + shape_str(shape));
    if (shape[0] < 1 || shape[0] > spec.max_request_images)
      bad(what + ": batch " + std::to_string(shape[0]) + " outside 1.." + std::to_string(spec.max_request_images));
    req.rows = int(shape[0]);
    std::vector<std::pair<const uint8_t*, size_t>> items;
    std::vector<std::vector<uint8_t>> decoded_b64;
    if (has_binary) {
      size_t off = 0;
      while (off < binary_size) {
        if (binary_size - off < 4) bad(what + ": truncated length prefix at byte " + std::to_string(off));
        const uint32_t len = read_le32(bin + off);
        off += 4;
        if (len > binary_size - off)
          bad(what + ": element " + std::to_string(items.size()) + " declares " + std::to_string(len) +
              " bytes but only " + std::to_string(binary_size - off) + " remain");
        items.emplace_back(bin + off, size_t(len));
        off += len;
        if (items.size() > size_t(req.rows)) break;
      }
    } else {
      const json& d = in["data"];
      if (!d.is_array()) bad(what + ": 'data' must be an array");
      for (const auto& e : d) {
        std::string s;
        if (e.is_string()) s = e.get<std::string>();
        else if (e.is_object() && e.contains("b64") && e["b64"].is_string()) s = e["b64"].get<std::string>();
        else bad(what + ": BYTES data elements must be base64 strings or {\"b64\": ...}");
        decoded_b64.push_back(base64_decode(s, what + " element " + std::to_string(decoded_b64.size())));
        if (decoded_b64.size() > size_t(req.rows)) break;
      }
      for (const auto& v : decoded_b64) items.emplace_back(v.data(), v.size());
    }
    if (items.size() != size_t(req.rows))
      bad(what + ": shape " + shape_str(shape) + " but " + (items.size() > size_t(req.rows) ? "more" : std::to_string(items.size())) +
          " encoded images given");
    charge(req.hold, size_t(req.rows) * per * sizeof(float), what + ": the input tensor");
    const auto t0 = clock::now();
    for (size_t i = 0; i < items.size(); ++i) {
      req.input.resize((i + 1) * per);  // grows only as images decode
      try {
        decode_and_preprocess(spec, items[i].first, items[i].second, what + " element " + std::to_string(i),
                              req.input.data() + i * per, budget);
      } catch (const HttpError&) {
        throw;
      } catch (const Error& e) {
        bad(e.what());
      } catch (const std::bad_alloc&) {
        bad(what + " element " + std::to_string(i) + ": out of memory while decoding");
      }
    }
    req.prep_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  } else {
    bad(what + ": unsupported datatype '" + dtype + "' (use FP32, UINT8 or BYTES)");
  }

  if (doc.contains("outputs")) {
    const json& outs = doc["outputs"];
    if (!outs.is_array()) bad("'outputs' must be an array");
    for (const auto& o : outs) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) bad("outputs: each needs a string 'name'");
      OutputRequest r;
      r.name = o["name"].get<std::string>();
      if (r.name != info.output_name) bad("unknown output '" + r.name + "'; the model's output is '" + info.output_name + "'");
      r.binary = binary_all;
      if (o.contains("parameters")) {
        const json& p = o["parameters"];
        if (!p.is_object()) bad("outputs: 'parameters' must be an object");
        if (p.contains("binary_data")) {
          if (!p["binary_data"].is_boolean()) bad("outputs: binary_data must be a boolean");
          r.binary = p["binary_data"].get<bool>();
        }
        if (p.contains("classification")) {
          if (!p["classification"].is_number_integer() || p["classification"].get<int64_t>() < 1 ||
              p["classification"].get<int64_t>() > info.num_classes)
            bad("outputs: classification must be an integer in 1.." + std::to_string(info.num_classes));
          r.classification = int(p["classification"].get<int64_t>());
        }
      }
      req.outputs.push_back(r);
    }
    if (req.outputs.size() > 4) bad("too many outputs requested");
  } else {
    OutputRequest r;
    r.name = info.output_name;
    r.binary = binary_all;
    req.outputs.push_back(r);
  }
  return req;
}

InferResponse build_infer_response(const ModelSpec& spec, const InferRequest& req, const float* probs) {
  const int nc = spec.info.num_classes;
  InferResponse res;
  std::string binary;
  std::string head = "{\"model_name\":\"" + json_escape_text(spec.name) + "\",\"model_version\":\"" +
                     json_escape_text(spec.version) + "\"";
  if (req.has_id) head += ",\"id\":\"" + json_escape_text(req.id) + "\"";
  head += ",\"outputs\":[";
  for (size_t oi = 0; oi < req.outputs.size(); ++oi) {
    const OutputRequest& o = req.outputs[oi];
    if (oi) head += ",";
    head += "{\"name\":\"" + json_escape_text(o.name) + "\",";
    if (o.classification > 0) {
      const int k = std::min(o.classification, nc);
      head += "\"datatype\":\"BYTES\",\"shape\":[" + std::to_string(req.rows) + "," + std::to_string(k) + "]";
      std::vector<std::string> all;
      for (int r = 0; r < req.rows; ++r)
        for (auto& s : classification_strings(spec, probs + size_t(r) * nc, k)) all.push_back(std::move(s));
      if (o.binary) {
        size_t n = 0;
        for (const auto& s : all) {
          const uint32_t len = uint32_t(s.size());
          const char le[4] = {char(len & 255), char(len >> 8 & 255), char(len >> 16 & 255), char(len >> 24)};
          binary.append(le, 4);
          binary += s;
          n += 4 + s.size();
        }
        head += ",\"parameters\":{\"binary_data_size\":" + std::to_string(n) + "}}";
      } else {
        head += ",\"data\":[";
        for (size_t i = 0; i < all.size(); ++i) head += (i ? ",\"" : "\"") + json_escape_text(all[i]) + "\"";
        head += "]}";
      }
    } else {
      head += "\"datatype\":\"FP32\",\"shape\":[" + std::to_string(req.rows) + "," + std::to_string(nc) + "]";
      const size_t count = size_t(req.rows) * size_t(nc);
      if (o.binary) {
        binary.append(reinterpret_cast<const char*>(probs), count * sizeof(float));
        head += ",\"parameters\":{\"binary_data_size\":" + std::to_string(count * sizeof(float)) + "}}";
      } else {
        head += ",\"data\":[";
        for (size_t i = 0; i < count; ++i) {
          if (i) head += ",";
          head += fmt_float(probs[i]);
        }
        head += "]}";
      }
    }
  }
  head += "]}";
  if (!binary.empty()) {
    res.header_length = static_cast<long long>(head.size());
    res.content_type = "application/octet-stream";
    res.body = head + binary;
  } else {
    res.body = std::move(head);
  }
  return res;
}

std::string server_metadata_json(const std::string& version) {
  return "{\"name\":\"mnv2\",\"version\":\"" + json_escape_text(version) +
         "\",\"extensions\":[\"binary_tensor_data\",\"classification\"]}";
}

std::string model_metadata_json(const ModelSpec& spec) {
  const ModelInfo& i = spec.info;
  return "{\"name\":\"" + json_escape_text(spec.name) + "\",\"versions\":[\"" + json_escape_text(spec.version) +
         "\"],\"platform\":\"mnv2_" + json_escape_text(i.format) + "\",\"inputs\":[{\"name\":\"" +
         json_escape_text(i.input_name) + "\",\"datatype\":\"FP32\",\"shape\":[-1," + std::to_string(i.height) + "," +
         std::to_string(i.width) + ",3]}],\"outputs\":[{\"name\":\"" + json_escape_text(i.output_name) +
         "\",\"datatype\":\"FP32\",\"shape\":[-1," + std::to_string(i.num_classes) + "]}]}";
}

}  // namespace mnv2::server
