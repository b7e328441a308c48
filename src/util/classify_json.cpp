#include "util/classify_json.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

namespace mnv2 {

namespace {

// Length of the well-formed UTF-8 sequence at p[0..n), or 0 (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF).
size_t utf8_sequence_length(const unsigned char* p, size_t n) {
  const unsigned char c = p[0];
  const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((p[k] & 0xC0) != 0x80) return 0;
  if (len == 2 && c < 0xC2) return 0;
  if (len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))) return 0;
  if (len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90) || c > 0xF4)) return 0;
  return len;
}

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::atomic<bool> g_replaced_noted{false};

// Appends the sequence at s[i] (or U+FFFD for one invalid byte); returns the bytes taken
// and sets *replaced when it was invalid.
size_t append_utf8(const std::string& s, size_t i, std::string& out, bool* replaced) {
  const size_t len = utf8_sequence_length(reinterpret_cast<const unsigned char*>(s.data()) + i, s.size() - i);
  if (len) {
    out.append(s, i, len);
    return len;
  }
  out += kReplacement;
  *replaced = true;
  return 1;
}

}  // namespace

std::string utf8_sanitize(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  bool replaced = false;
  for (size_t i = 0; i < s.size();) i += append_utf8(s, i, out, &replaced);
  return out;
}

std::string json_escape_text(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  bool replaced = false;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = p[i];
    if (c >= 0x80) {
      i += append_utf8(s, i, out, &replaced);
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
    ++i;
  }
  if (replaced && !g_replaced_noted.exchange(true))
    std::fputs("mnv2: note: text in the JSON output (a label, file or model name) is not valid UTF-8; "
               "its invalid bytes are written as U+FFFD\n",
               stderr);
  return out;
}

std::string classify_result_json(const std::string& file, const float* p, int num_classes, int k,
                                 bool has_background, const Labels& labels, double ms) {
  const auto top = top_k_classes(p, num_classes, std::min(k, num_classes), has_background);
  std::string r = "{\"file\":\"" + json_escape_text(file) + "\",\"top\":[";
  for (size_t t = 0; t < top.size(); ++t) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "{\"index\":%d,\"label\":", top[t]);
    r += buf;
    if (labels.names.empty())
      r += "null";
    else
      r += "\"" + json_escape_text(top[t] < int(labels.names.size()) ? labels.names[size_t(top[t])] : "") + "\"";
    std::snprintf(buf, sizeof buf, ",\"probability\":%.6g}", double(p[top[t]]));
    r += buf;
    if (t + 1 < top.size()) r += ",";
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "],\"ms\":%.3f}", ms);
  r += buf;
  return r;
}

std::string classify_error_json(const std::string& file, const std::string& message) {
  return "{\"file\":\"" + json_escape_text(file) + "\",\"error\":\"" + json_escape_text(message) + "\"}";
}

std::string classify_report_json(const std::string& model_name, const std::string& preprocess,
                                 int num_classes, const std::vector<std::string>& results,
                                 const std::vector<std::string>& errors) {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
    return s;
  };
  return "{\"model\":\"" + json_escape_text(model_name) + "\",\"preprocess\":\"" +
         json_escape_text(preprocess) + "\",\"classes\":" + std::to_string(num_classes) +
         ",\"results\":[" + join(results) + "],\"errors\":[" + join(errors) + "]}";
}

}  // namespace mnv2
