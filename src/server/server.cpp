#include "server/server.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "server/http.h"
#include "util/classify_json.h"

#ifndef MNV2_SERVER_VERSION
#define MNV2_SERVER_VERSION "0.1.0"
#endif

namespace mnv2::server {

using clock = std::chrono::steady_clock;

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Compare over the longer length so the work does not depend on where they differ.
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

namespace {

enum class Route { None, HealthLive, HealthReady, ServerMeta, ModelMeta, ModelReady, Infer, Classify, Metrics, Page, Favicon };

struct Target {
  Route route = Route::None;
  std::string model, version;  // model routes; version empty when not given
  bool has_version = false;
};

Target route_of(const std::string& path) {
  Target t;
  if (path == "/v2/health/live") t.route = Route::HealthLive;
  else if (path == "/v2/health/ready") t.route = Route::HealthReady;
  else if (path == "/v2") t.route = Route::ServerMeta;
  else if (path == "/metrics") t.route = Route::Metrics;
  else if (path == "/v1/classify") t.route = Route::Classify;
  else if (path == "/" || path == "/index.html") t.route = Route::Page;
  else if (path == "/favicon.ico") t.route = Route::Favicon;
  else if (path.rfind("/v2/models/", 0) == 0 && path.size() < 512) {
    // /v2/models/NAME[/versions/V][/ready|/infer]
    std::vector<std::string> seg;
    size_t pos = 11;
    while (pos <= path.size()) {
      size_t slash = path.find('/', pos);
      if (slash == std::string::npos) slash = path.size();
      seg.push_back(path.substr(pos, slash - pos));
      pos = slash + 1;
    }
    for (const auto& s : seg)
      if (s.empty()) return t;
    size_t i = 1;
    t.model = seg[0];
    if (seg.size() >= 3 && seg[1] == "versions") {
      t.version = seg[2];
      t.has_version = true;
      i = 3;
    }
    if (i == seg.size()) t.route = Route::ModelMeta;
    else if (i + 1 == seg.size() && seg[i] == "ready") t.route = Route::ModelReady;
    else if (i + 1 == seg.size() && seg[i] == "infer") t.route = Route::Infer;
  }
  return t;
}

const char* endpoint_name(Route r) {
  switch (r) {
    case Route::HealthLive: return "health_live";
    case Route::HealthReady: return "health_ready";
    case Route::ServerMeta: return "server_metadata";
    case Route::ModelMeta: return "model_metadata";
    case Route::ModelReady: return "model_ready";
    case Route::Infer: return "infer";
    case Route::Classify: return "classify";
    case Route::Metrics: return "metrics";
    case Route::Page: return "page";
    default: return "other";
  }
}

bool is_post_route(Route r) { return r == Route::Infer || r == Route::Classify; }

// Health and readiness probes: answered on the event loop (cheap, never queued behind work).
bool is_probe(Route r) { return r == Route::HealthLive || r == Route::HealthReady || r == Route::ModelReady; }

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

void set_http_error(http::Response& res, const HttpError& e) {
  res.set_error(e.status(), e.what());
  if (e.status() == 503) res.set_header("Retry-After", "1");
}

}  // namespace

struct Server::Impl {
  Model& model;
  ModelSpec spec;
  ServerOptions opt;
  Metrics& metrics;
  MemoryBudget budget;
  std::unique_ptr<http::Server> http;
  std::unique_ptr<Batcher> batcher;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};

  Impl(Model& m, ModelSpec s, ServerOptions o, Metrics& me)
      : model(m), spec(std::move(s)), opt(std::move(o)), metrics(me), budget(opt.memory_budget) {}

  bool model_matches(const Target& t, http::Response& res) {
    if (t.model != spec.name) {
      res.set_error(404, "unknown model '" + t.model + "' (this server serves '" + spec.name + "')");
      return false;
    }
    if (t.has_version && t.version != spec.version) {
      res.set_error(404, "model '" + t.model + "' has no version '" + t.version + "' (versions: " + spec.version + ")");
      return false;
    }
    return true;
  }

  // Queues the rows and waits. Returns false (with the response set) on overload/timeout.
  bool run_job(const std::shared_ptr<Job>& job, http::Response& res) {
    job->deadline = clock::now() + std::chrono::milliseconds(opt.request_timeout_ms);
    if (!batcher->submit(job)) {
      res.set_error(503, stopping ? "server is shutting down" : "server overloaded: request queue is full");
      res.set_header("Retry-After", "1");
      return false;
    }
    // The worker answers expired jobs itself; the extra second covers a batch in progress.
    if (!job->wait_until(job->deadline + std::chrono::seconds(1) +
                         std::chrono::milliseconds(opt.request_timeout_ms))) {
      res.set_error(503, "request timed out");
      res.set_header("Retry-After", "1");
      return false;
    }
    if (job->timed_out) {
      res.set_error(503, job->error);
      res.set_header("Retry-After", "1");
      return false;
    }
    if (!job->error.empty()) {
      res.set_error(500, job->error);
      return false;
    }
    return true;
  }

  void handle_infer(const Target& t, const http::Request& req, http::Response& res) {
    if (!model_matches(t, res)) return;
    const std::string* hl = req.header("inference-header-content-length");
    InferRequest ir;
    try {
      ir = parse_infer_request(spec, req.body, hl, &budget);
    } catch (const HttpError& e) {
      set_http_error(res, e);
      return;
    }
    auto job = std::make_shared<Job>();
    job->rows = ir.rows;
    job->input = std::move(ir.input);
    if (!run_job(job, res)) return;
    const InferResponse out = build_infer_response(spec, ir, job->probs.data());
    if (out.header_length >= 0) res.set_header("Inference-Header-Content-Length", std::to_string(out.header_length));
    res.status = 200;
    res.body = out.body;
    res.content_type = out.content_type;
  }

  void handle_classify(const http::Request& req, http::Response& res) {
    int k = opt.default_top;
    if (req.has_param("top")) {
      const std::string v = req.param("top");
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > spec.info.num_classes) {
        res.set_error(400, "top must be an integer in 1.." + std::to_string(spec.info.num_classes) + ", got '" + v + "'");
        return;
      }
      k = int(n);
    }
    // (name, bytes) of each image: multipart files in order, or the raw body.
    std::vector<http::Part> parts;
    std::vector<std::pair<std::string, std::string_view>> images;
    if (http::is_multipart(req)) {
      std::string why;
      if (!http::parse_multipart(req, &parts, &why)) {
        res.set_error(400, why);
        return;
      }
      // File parts; plain form fields only when no part is a file.
      bool any_file = false;
      for (const auto& f : parts) any_file = any_file || !f.filename.empty();
      for (const auto& f : parts) {
        if (any_file ? f.filename.empty() : f.content.empty()) continue;
        images.emplace_back(utf8_sanitize(f.filename.empty() ? f.name : f.filename), f.content);
      }
    } else if (!req.body.empty()) {
      images.emplace_back(utf8_sanitize(req.has_param("name") ? req.param("name") : "upload"), req.body);
    }
    if (images.empty()) {
      res.set_error(400, "no image in the request (send the image as the body or as multipart/form-data files)");
      return;
    }
    if (int(images.size()) > spec.max_request_images) {
      res.set_error(400, "too many images (" + std::to_string(images.size()) + "; at most " +
                             std::to_string(spec.max_request_images) + ")");
      return;
    }
    const ModelInfo& info = spec.info;
    const size_t per = size_t(info.height) * info.width * 3;
    BudgetHold tensor(&budget);
    try {
      charge(tensor, images.size() * per * sizeof(float), "the input tensor");
    } catch (const HttpError& e) {
      set_http_error(res, e);
      return;
    }
    auto job = std::make_shared<Job>();
    std::vector<size_t> ok;
    std::vector<double> prep_ms;
    std::vector<std::string> errors;
    bool all_too_large = true;
    for (size_t i = 0; i < images.size(); ++i) {
      const auto t0 = clock::now();
      job->input.resize((ok.size() + 1) * per);
      std::string failure;
      try {
        decode_and_preprocess(spec, reinterpret_cast<const uint8_t*>(images[i].second.data()),
                              images[i].second.size(), images[i].first, job->input.data() + ok.size() * per,
                              &budget);
      } catch (const HttpError& e) {
        if (e.status() == 503) {  // busy now, not a bad image: the whole request is retried
          set_http_error(res, e);
          return;
        }
        failure = e.what();
        all_too_large = all_too_large && e.status() == 413;
      } catch (const Error& e) {
        failure = e.what();
        all_too_large = false;
      } catch (const std::bad_alloc&) {
        failure = images[i].first + ": out of memory while decoding";
        all_too_large = false;
      }
      if (!failure.empty()) {
        errors.push_back(classify_error_json(images[i].first, failure));
        job->input.resize(ok.size() * per);
        continue;
      }
      ok.push_back(i);
      prep_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    }
    std::vector<std::string> results;
    if (!ok.empty()) {
      job->rows = int(ok.size());
      if (!run_job(job, res)) return;
      const double share = job->run_ms / double(ok.size());
      for (size_t r = 0; r < ok.size(); ++r)
        results.push_back(classify_result_json(images[ok[r]].first, job->probs.data() + r * size_t(info.num_classes),
                                               info.num_classes, k, info.has_background, spec.labels,
                                               prep_ms[r] + share));
    }
    if (results.empty()) {
      // Nothing could be classified: an error body that still lists each failure.
      std::string errs;
      for (size_t i = 0; i < errors.size(); ++i) errs += (i ? "," : "") + errors[i];
      res.status = all_too_large ? 413 : 400;
      res.content_type = "application/json";
      res.body = "{\"error\":\"no image could be decoded\",\"errors\":[" + errs + "]}";
      return;
    }
    res.status = 200;
    res.content_type = "application/json";
    res.body = classify_report_json(spec.name, image::preprocess_mode_name(spec.mode), info.num_classes, results, errors);
  }

  // Before the body is read: unknown paths, wrong methods and missing credentials are
  // answered at once, so their bodies are never buffered.
  bool on_head(const http::Request& req, http::Response& res) {
    const Target t = route_of(req.path);
    if (t.route == Route::None) {
      res.set_error(404, "no such endpoint: " + req.method + " " + req.path.substr(0, 256));
      return true;
    }
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (is_post_route(t.route) ? req.method != "POST" : !get) {
      res.set_error(405, "method " + req.method + " not allowed for " + req.path.substr(0, 256) + " (use " +
                             (is_post_route(t.route) ? "POST" : "GET") + ")");
      res.set_header("Allow", is_post_route(t.route) ? "POST" : "GET, HEAD");
      return true;
    }
    if (opt.api_key.empty() || t.route == Route::HealthLive || t.route == Route::HealthReady ||
        t.route == Route::Page)
      return false;
    const std::string* auth = req.header("authorization");
    const std::string prefix = "Bearer ";
    const bool ok = auth && auth->size() > prefix.size() && auth->compare(0, prefix.size(), prefix) == 0 &&
                    constant_time_equal(auth->substr(prefix.size()), opt.api_key);
    if (ok) return false;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_error(401, "missing or wrong bearer token (Authorization: Bearer <key>)");
    return true;
  }

  void handle(http::Request& req, http::Response& res) {
    const Target t = route_of(req.path);
    switch (t.route) {
      case Route::HealthLive: res.status = 200; break;
      // A probe's answer is its status code; failures still carry a JSON message.
      case Route::HealthReady:
        if (!ready || stopping) res.set_error(503, not_ready_message());
        break;
      case Route::ModelReady:
        if (model_matches(t, res) && (!ready || stopping)) res.set_error(503, not_ready_message());
        break;
      case Route::ServerMeta:
        res.content_type = "application/json";
        res.body = server_metadata_json(MNV2_SERVER_VERSION);
        break;
      case Route::ModelMeta:
        if (model_matches(t, res)) {
          res.content_type = "application/json";
          res.body = model_metadata_json(spec);
        }
        break;
      case Route::Infer: handle_infer(t, req, res); break;
      case Route::Classify: handle_classify(req, res); break;
      case Route::Metrics:
        res.content_type = "text/plain; version=0.0.4";
        res.body = metrics.render();
        break;
      case Route::Page:
        res.content_type = "text/html; charset=utf-8";
        res.body = web_page_html();
        break;
      case Route::Favicon: res.status = 204; break;
      case Route::None: res.set_error(404, "no such endpoint: " + req.method + " " + req.path.substr(0, 256)); break;
    }
    // Every error carries a JSON message.
    if (res.status >= 400 && res.body.empty())
      res.set_error(res.status, "HTTP error " + std::to_string(res.status));
  }

  std::string not_ready_message() const {
    return stopping ? "not ready: the server is shutting down" : "not ready: the server is starting";
  }

  void on_response(const http::Request& req, const http::Response& res, double secs) {
    const char* ep = endpoint_name(route_of(req.path).route);
    metrics.record_request(ep, res.status, secs);
    if (!opt.access_log) return;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", secs * 1000);
    const std::string line = "{\"ts\":\"" + utc_now() + "\",\"remote\":\"" + json_escape_text(utf8_sanitize(req.remote_addr)) +
                             "\",\"method\":\"" + json_escape_text(utf8_sanitize(req.method)) + "\",\"path\":\"" +
                             json_escape_text(utf8_sanitize(req.path.substr(0, 256))) + "\",\"endpoint\":\"" + ep +
                             "\",\"status\":" + std::to_string(res.status) + ",\"bytes_in\":" +
                             std::to_string(req.body.size()) + ",\"bytes_out\":" + std::to_string(res.body.size()) +
                             ",\"ms\":" + buf + "}\n";
    std::fputs(line.c_str(), stderr);
  }

  std::string extra_metrics() const {
    const http::Stats s = http->stats();
    std::string o;
    auto gauge = [&](const char* name, const char* help, const char* type, double v) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%.17g", v);
      o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + buf + "\n";
    };
    gauge("mnv2_open_connections", "Open client connections.", "gauge", double(s.open_connections));
    gauge("mnv2_connections_refused_total", "New connections refused by --max-connections or --max-connections-per-client.",
          "counter", double(s.refused_total_cap + s.refused_address_cap));
    gauge("mnv2_connections_evicted_total", "Idle keep-alive connections closed to make room for new ones.", "counter",
          double(s.evicted_idle));
    gauge("mnv2_connections_timed_out_total", "Connections closed by a read or write deadline.", "counter",
          double(s.timed_out));
    gauge("mnv2_request_memory_bytes", "Request memory in use (bodies, decoded images, tensors).", "gauge",
          double(budget.in_use()));
    gauge("mnv2_request_memory_peak_bytes", "Highest request memory in use since start.", "gauge", double(budget.peak()));
    gauge("mnv2_request_memory_limit_bytes", "The request memory budget (--decode-memory).", "gauge",
          double(budget.capacity()));
    return o;
  }

  void setup() {
    http::Limits l;
    l.max_connections = std::max(1, opt.max_connections);
    l.max_per_address = std::max(0, opt.max_connections_per_address);
    l.workers = std::max(1, opt.http_threads);
    l.max_body = opt.max_body;
    l.read_timeout = std::chrono::seconds(std::max(1, opt.read_timeout_s));
    l.head_timeout = std::chrono::seconds(std::max(1, opt.header_timeout_s));
    l.body_timeout = std::chrono::seconds(std::max(1, opt.body_timeout_s));
    l.idle_timeout = std::chrono::seconds(std::max(1, opt.idle_timeout_s));
    l.write_timeout = std::chrono::seconds(std::max(1, opt.write_timeout_s));
    http::Handlers hs;
    hs.on_head = [this](const http::Request& req, http::Response& res) { return on_head(req, res); };
    hs.is_inline = [](const http::Request& req) {
      const Route r = route_of(req.path).route;
      return is_probe(r) || r == Route::Favicon;
    };
    hs.handle = [this](http::Request& req, http::Response& res) { handle(req, res); };
    hs.on_response = [this](const http::Request& req, const http::Response& res, double secs) {
      on_response(req, res, secs);
    };
    http = std::make_unique<http::Server>(l, std::move(hs), &budget);
  }
};

Server::Server(Model& model, ModelSpec spec, ServerOptions options)
    : impl_(std::make_unique<Impl>(model, std::move(spec), std::move(options), metrics_)) {
  impl_->batcher = std::make_unique<Batcher>(model, impl_->opt.batch, [this](int n) { metrics_.record_batch(n); });
  metrics_.set_queue_depth_source([this] { return impl_->batcher->queue_depth(); });
  impl_->setup();
  metrics_.set_extra_source([this] { return impl_->extra_metrics(); });
}

Server::~Server() {
  stop();
  impl_->batcher->stop();
}

const MemoryBudget& Server::memory_budget() const { return impl_->budget; }

int Server::bind() {
  const int port = impl_->http->bind(impl_->opt.host, impl_->opt.port);
  impl_->ready = true;
  return port;
}

void Server::serve() {
  impl_->http->run();
  // run() returns after the in-flight requests were answered.
  impl_->ready = false;
  impl_->batcher->stop();
}

void Server::stop() {
  impl_->stopping = true;
  impl_->http->stop();
}

}  // namespace mnv2::server
