// `mnv2 serve`: an HTTP inference server (its own HTTP/1.1 layer, server/http.h) speaking
// the KServe v2 / Open Inference Protocol REST API plus a convenience /v1/classify
// endpoint, a web page at /, Prometheus /metrics, dynamic batching, bearer-token auth, and
// limits on connections, deadlines and request memory that slow or greedy clients cannot
// get around.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "server/batcher.h"
#include "server/kserve.h"
#include "server/memory_budget.h"
#include "server/metrics.h"

namespace mnv2::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0 = any free port (see bind())
  // Request handler threads. Connections do not hold one: the HTTP layer reads each
  // request in full on its event loop before a handler sees it (see server/http.h).
  int http_threads = 64;
  BatcherOptions batch;
  size_t max_body = 64u << 20;     // bytes; larger requests get 413
  std::string api_key;             // non-empty: require "Authorization: Bearer <key>"
  int64_t request_timeout_ms = 30000;
  // Connection limits and deadlines (http::Limits).
  int max_connections = 1024;
  int max_connections_per_address = 256;  // 0 = no per-address limit
  int read_timeout_s = 5;          // no request byte for this long mid-request: 408, closed
  int header_timeout_s = 10;       // a whole request head within this
  int body_timeout_s = 60;         // a whole request body within this
  int idle_timeout_s = 5;          // keep-alive connection without a request: closed
  int write_timeout_s = 10;        // a whole response written within this
  // Request memory shared by all in-flight requests (bodies, parsed JSON, decoded images
  // and their preprocessing copies, input tensors); spent: 503 + Retry-After.
  size_t memory_budget = 192u << 20;
  bool access_log = true;          // one JSON line per request on stderr
  int default_top = 5;
};

class Server {
 public:
  Server(Model& model, ModelSpec spec, ServerOptions options);
  ~Server();
  // Binds the listening socket; returns the port (useful with port 0). Throws mnv2::Error.
  int bind();
  // Serves until stop(); then finishes in-flight requests and drains the batcher.
  void serve();
  // Thread-safe and async-signal-unsafe: call from a normal thread (e.g. a sigwait loop).
  void stop();
  const Metrics& metrics() const { return metrics_; }
  // The request memory budget (for tests and /metrics).
  const MemoryBudget& memory_budget() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Metrics metrics_;
};

// The web page served at / (HTML + JS, self-contained).
const char* web_page_html();

// Constant-time equality (the time depends only on the lengths).
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace mnv2::server
