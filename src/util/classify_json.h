// The JSON that `mnv2 classify --json` prints and `POST /v1/classify` returns, built in
// one place so the two can never drift apart.
#pragma once

#include <string>
#include <vector>

#include "util/labels.h"

namespace mnv2 {

// JSON string escaping (quotes, backslash, control characters). Valid UTF-8 passes
// through; every byte that is not part of a well-formed sequence becomes U+FFFD, so the
// output is always valid JSON text, and the first such replacement in the process is
// noted once on stderr.
std::string json_escape_text(const std::string& s);
// Replaces invalid UTF-8 with U+FFFD (silently: for text quoted from clients).
std::string utf8_sanitize(const std::string& s);

// {"file":..,"top":[{"index":i,"label":..|null,"probability":p}...],"ms":..}
std::string classify_result_json(const std::string& file, const float* probs, int num_classes,
                                 int k, bool has_background, const Labels& labels, double ms);
// {"file":..,"error":..}
std::string classify_error_json(const std::string& file, const std::string& message);
// {"model":..,"preprocess":..,"classes":N,"results":[..],"errors":[..]} from the pieces above.
std::string classify_report_json(const std::string& model_name, const std::string& preprocess,
                                 int num_classes, const std::vector<std::string>& results,
                                 const std::vector<std::string>& errors);

}  // namespace mnv2
