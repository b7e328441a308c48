#include "util/classify_json.h"

#include <algorithm>
#include <cstdio>

namespace mnv2 {

std::string json_escape_text(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
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
