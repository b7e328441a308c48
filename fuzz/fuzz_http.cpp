// libFuzzer target for the HTTP/1.1 request parser of `mnv2 serve` (fuzz/build.sh builds and
// seeds it): head framing, request-line and header parsing, query decoding and multipart bodies.
// Any input must be refused with a 4xx/5xx and a message, or parse into a request whose fields
// keep the invariants the event loop relies on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "server/http_wire.h"

namespace http = mnv2::server::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t end = http::wire::find_head_end(in, 0);
  if (end == std::string::npos) return 0;
  if (end > in.size() || (in[end - 1] != '\n')) __builtin_trap();

  http::Request req;
  http::wire::Framing framing;
  const size_t max_body = 1 << 16;
  if (auto fail = http::wire::parse_head(in.substr(0, end), max_body, &req, &framing)) {
    if (fail->status < 400 || fail->status > 599 || fail->message.empty()) __builtin_trap();
    http::Response res;
    res.set_error(fail->status, fail->message);
    const std::string wire = http::wire::serialize(res, false, false);
    // The message may come from the client's bytes: it must not break out of the JSON body.
    if (wire.find("\r\n\r\n") + 4 + res.body.size() != wire.size()) __builtin_trap();
    return 0;
  }
  if (req.method.empty() || req.path.empty() || req.path[0] != '/') __builtin_trap();
  if (framing.has_length && framing.length > max_body) __builtin_trap();
  for (const auto& [name, value] : req.headers)
    if (name.empty() || http::wire::lower(name) != name) __builtin_trap();

  req.body = in.substr(end);
  if (!http::is_multipart(req)) return 0;
  std::vector<http::Part> parts;
  std::string error;
  if (!http::parse_multipart(req, &parts, &error, 64)) {
    if (error.empty()) __builtin_trap();
    return 0;
  }
  if (parts.size() > 64) __builtin_trap();
  const char* lo = req.body.data();
  for (const auto& p : parts)  // each part's content is a view into the body
    if (p.content.data() < lo || p.content.data() + p.content.size() > lo + req.body.size()) __builtin_trap();
  return 0;
}
