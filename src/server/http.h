// The HTTP/1.1 front of `mnv2 serve`: one event-loop thread owns every connection, reads
// each request (head and body) in full under deadlines, and only then hands it to a
// worker. So an idle, slow or stalled client costs a file descriptor and its buffered
// bytes, never a worker thread, and cheap requests (health probes) are answered on the
// loop itself even when every worker is busy.
//
// Limits: a whole request head within head_timeout of its first byte, a whole body
// within body_timeout, no gap over read_timeout while a request is being read, idle
// keep-alive connections closed after idle_timeout, a response written within
// write_timeout; at most max_connections open and max_per_address from one client
// address (over the total, the longest-idle keep-alive connection makes room). Malformed
// framing (bad request line, duplicate or negative Content-Length, Content-Length with
// Transfer-Encoding, a transfer coding other than chunked) is refused with 400, and every
// error the layer answers itself has a JSON body {"error": "..."}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/memory_budget.h"

namespace mnv2::server::http {

struct Request {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded
  std::string query;   // raw, after '?'
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::vector<std::pair<std::string, std::string>> params;   // decoded query parameters
  std::string body;
  std::string remote_addr;
  BudgetHold body_hold;  // the body's share of the request memory budget

  const std::string* header(const std::string& lower_name) const;
  bool has_param(const std::string& name) const;
  std::string param(const std::string& name) const;  // the first value, "" when absent
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection once this response is written

  // status + {"error": message} (message made valid UTF-8 and escaped).
  void set_error(int code, const std::string& message);
  void set_header(const std::string& name, const std::string& value) { headers.emplace_back(name, value); }
};

struct Limits {
  int max_connections = 1024;
  int max_per_address = 256;  // 0 = no per-address limit
  int workers = 64;
  size_t max_body = 64u << 20;
  size_t max_head = 16u << 10;  // request line + headers
  int max_requests_per_connection = 1000;
  std::chrono::milliseconds head_timeout{10000};
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds idle_timeout{5000};
  std::chrono::milliseconds write_timeout{10000};
};

struct Handlers {
  // On the loop thread once a request head is complete, before its body is read: a
  // handler that answers here (sets a status, returns true) saves reading a body that
  // would only be refused (authentication, unknown paths). Must not block.
  std::function<bool(const Request& head, Response& res)> on_head;
  // Whether a complete request is answered on the loop thread (cheap, non-blocking).
  std::function<bool(const Request&)> is_inline;
  std::function<void(Request&, Response&)> handle;
  // After each response is ready (access log, metrics): `seconds` since the request's
  // first byte. On the loop thread or a worker.
  std::function<void(const Request&, const Response&, double seconds)> on_response;
};

struct Stats {
  size_t open_connections = 0;
  uint64_t accepted = 0;
  uint64_t refused_total_cap = 0;    // new connections refused: max_connections reached
  uint64_t refused_address_cap = 0;  // ... max_per_address reached
  uint64_t evicted_idle = 0;         // idle keep-alive connections closed to make room
  uint64_t timed_out = 0;            // connections closed by a deadline
};

class Server {
 public:
  // `budget` (may be null) is charged for request bodies as they arrive: when it is
  // spent the request gets 503 + Retry-After and the connection closes.
  Server(Limits limits, Handlers handlers, MemoryBudget* budget);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (backlog 1024); returns the port (port 0 = any free one).
  int bind(const std::string& host, int port);
  // Serves until stop(); then stops accepting, closes connections that have no request
  // in progress, lets the in-flight ones finish and be written, and returns.
  void run();
  void stop();  // thread-safe
  Stats stats() const;
  const Limits& limits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One part of a multipart/form-data body. `content` points into the request body (no
// copy: the body is what the memory budget charged), valid while the request lives.
struct Part {
  std::string name, filename, content_type;
  std::string_view content;
};
// Parses a complete multipart/form-data body; false (with `error`) when malformed.
bool parse_multipart(const Request& req, std::vector<Part>* parts, std::string* error, size_t max_parts = 4096);
bool is_multipart(const Request& req);

const char* reason_phrase(int status);

}  // namespace mnv2::server::http
