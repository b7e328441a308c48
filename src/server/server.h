// `mnv2 serve`: an HTTP inference server (cpp-httplib) speaking the KServe v2 / Open
// Inference Protocol REST API plus a convenience /v1/classify endpoint, a web page at /,
// Prometheus /metrics, dynamic batching and optional bearer-token auth.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "server/batcher.h"
#include "server/kserve.h"
#include "server/metrics.h"

namespace mnv2::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0 = any free port (see bind())
  // One worker per open connection: httplib keeps a worker on a keep-alive connection until
  // it closes, so connections beyond this count wait (and time out at the client) until
  // another closes. Workers are mostly blocked in reads, so a generous count is cheap.
  int http_threads = 64;
  BatcherOptions batch;
  size_t max_body = 64u << 20;     // bytes; larger requests get 413
  std::string api_key;             // non-empty: require "Authorization: Bearer <key>"
  int64_t request_timeout_ms = 30000;
  int read_timeout_s = 5;          // a client that stalls mid-request is dropped after this
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
