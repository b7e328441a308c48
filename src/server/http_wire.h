// The wire format of HTTP/1.1 requests and responses: head parsing, framing and serialisation,
// kept apart from the event loop in http.cpp so that each can be read, tested and fuzzed alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "server/http.h"

namespace mnv2::server::http::wire {

// A request the server answers with an error status instead of handing it to a handler.
struct Fail {
  int status;
  std::string message;
};

// How the body that follows a parsed head is delimited, and what the client asked of the connection.
struct Framing {
  bool chunked = false;
  bool has_length = false;
  uint64_t length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
};

std::string lower(std::string s);
std::string trim(const std::string& s);
int hexval(char c);  // -1 if not a hex digit

// Where the head ends (just past its blank line), searching from `from`; npos if not yet.
size_t find_head_end(const std::string& in, size_t from);

// Parses a complete head (request line + header lines, without the blank line).
std::optional<Fail> parse_head(const std::string& head, size_t max_body, Request* r, Framing* f);

std::string serialize(const Response& res, bool head_only, bool keep_alive);

}  // namespace mnv2::server::http::wire
