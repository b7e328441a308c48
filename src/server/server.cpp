#include "server/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <regex>

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

thread_local clock::time_point t_start;
thread_local bool t_started = false;

std::string endpoint_of(const std::string& method, const std::string& path) {
  static const std::regex model_re(R"(^/v2/models/[^/]+(/versions/[^/]+)?(/ready|/infer)?$)");
  if (path == "/v2/health/live") return "health_live";
  if (path == "/v2/health/ready") return "health_ready";
  if (path == "/v2") return "server_metadata";
  if (path == "/metrics") return "metrics";
  if (path == "/v1/classify") return "classify";
  if (path == "/" || path == "/index.html") return "page";
  std::smatch m;
  if (path.size() < 512 && std::regex_match(path, m, model_re)) {
    if (m[2] == "/ready") return "model_ready";
    if (m[2] == "/infer") return "infer";
    return "model_metadata";
  }
  return "other";
}

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

void set_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(error_json(message), "application/json");
}

}  // namespace

struct Server::Impl {
  Model& model;
  ModelSpec spec;
  ServerOptions opt;
  Metrics& metrics;
  httplib::Server http;
  int listen_fd = -1;  // the listening socket, recorded by the socket-options hook
  std::unique_ptr<Batcher> batcher;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};

  Impl(Model& m, ModelSpec s, ServerOptions o, Metrics& me)
      : model(m), spec(std::move(s)), opt(std::move(o)), metrics(me) {}

  bool model_matches(const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (name != spec.name) {
      set_error(res, 404, "unknown model '" + name + "' (this server serves '" + spec.name + "')");
      return false;
    }
    if (req.matches.size() > 2 && req.matches[2].matched && req.matches[2].str() != spec.version) {
      set_error(res, 404, "model '" + name + "' has no version '" + req.matches[2].str() + "' (versions: " +
                              spec.version + ")");
      return false;
    }
    return true;
  }

  // Queues the rows and waits. Returns false (with the response set) on overload/timeout.
  bool run_job(const std::shared_ptr<Job>& job, httplib::Response& res) {
    job->deadline = clock::now() + std::chrono::milliseconds(opt.request_timeout_ms);
    if (!batcher->submit(job)) {
      res.set_header("Retry-After", "1");
      set_error(res, 503, stopping ? "server is shutting down" : "server overloaded: request queue is full");
      return false;
    }
    // The worker answers expired jobs itself; the extra second covers a batch in progress.
    if (!job->wait_until(job->deadline + std::chrono::seconds(1) +
                         std::chrono::milliseconds(opt.request_timeout_ms))) {
      res.set_header("Retry-After", "1");
      set_error(res, 503, "request timed out");
      return false;
    }
    if (job->timed_out) {
      res.set_header("Retry-After", "1");
      set_error(res, 503, job->error);
      return false;
    }
    if (!job->error.empty()) {
      set_error(res, 500, job->error);
      return false;
    }
    return true;
  }

  // Reads the body through the content reader: this path has only the --max-body limit
  // (httplib's own body reading caps x-www-form-urlencoded bodies, curl's default type,
  // at 8 KiB). Multipart parts are collected into `parts`.
  static bool read_body(const httplib::Request& req, const httplib::ContentReader& reader, std::string& body,
                        std::vector<httplib::MultipartFormData>* parts, httplib::Response& res) {
    bool ok;
    if (parts && req.is_multipart_form_data()) {
      ok = reader(
          [&](const httplib::MultipartFormData& file) {
            parts->push_back(file);
            return parts->size() <= 4096;
          },
          [&](const char* data, size_t n) {
            parts->back().content.append(data, n);
            return true;
          });
    } else {
      ok = reader([&](const char* data, size_t n) {
        body.append(data, n);
        return true;
      });
    }
    if (!ok) {
      if (res.status == 413) return false;
      set_error(res, res.status >= 400 ? res.status : 400, "could not read the request body");
    }
    return ok;
  }

  void handle_infer(const httplib::Request& req, const httplib::ContentReader& reader, httplib::Response& res) {
    // The body is always consumed first, so the connection stays in sync.
    std::string body;
    if (!read_body(req, reader, body, nullptr, res)) return;
    if (!model_matches(req, res)) return;
    const std::string* hl = nullptr;
    std::string hlv;
    if (req.has_header("Inference-Header-Content-Length")) {
      hlv = req.get_header_value("Inference-Header-Content-Length");
      hl = &hlv;
    }
    InferRequest ir;
    try {
      ir = parse_infer_request(spec, body, hl);
    } catch (const HttpError& e) {
      set_error(res, e.status(), e.what());
      return;
    }
    auto job = std::make_shared<Job>();
    job->rows = ir.rows;
    job->input = std::move(ir.input);
    if (!run_job(job, res)) return;
    const InferResponse out = build_infer_response(spec, ir, job->probs.data());
    if (out.header_length >= 0) res.set_header("Inference-Header-Content-Length", std::to_string(out.header_length));
    res.status = 200;
    res.set_content(out.body, out.content_type.c_str());
  }

  void handle_classify(const httplib::Request& req, const httplib::ContentReader& reader, httplib::Response& res) {
    std::string body;
    std::vector<httplib::MultipartFormData> parts;
    if (!read_body(req, reader, body, &parts, res)) return;
    int k = opt.default_top;
    if (req.has_param("top")) {
      const std::string v = req.get_param_value("top");
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > spec.info.num_classes) {
        set_error(res, 400, "top must be an integer in 1.." + std::to_string(spec.info.num_classes) + ", got '" + v + "'");
        return;
      }
      k = int(n);
    }
    // (name, bytes) of each image: multipart files in order, or the raw body.
    std::vector<std::pair<std::string, const std::string*>> images;
    if (req.is_multipart_form_data()) {
      // File parts; plain form fields only when no part is a file.
      bool any_file = false;
      for (const auto& f : parts) any_file = any_file || !f.filename.empty();
      for (const auto& f : parts) {
        if (any_file ? f.filename.empty() : f.content.empty()) continue;
        images.emplace_back(utf8_sanitize(f.filename.empty() ? f.name : f.filename), &f.content);
      }
    } else if (!body.empty()) {
      images.emplace_back(utf8_sanitize(req.has_param("name") ? req.get_param_value("name") : "upload"), &body);
    }
    if (images.empty()) {
      set_error(res, 400, "no image in the request (send the image as the body or as multipart/form-data files)");
      return;
    }
    if (int(images.size()) > spec.max_request_images) {
      set_error(res, 400, "too many images (" + std::to_string(images.size()) + "; at most " +
                              std::to_string(spec.max_request_images) + ")");
      return;
    }
    const ModelInfo& info = spec.info;
    const size_t per = size_t(info.height) * info.width * 3;
    auto job = std::make_shared<Job>();
    std::vector<size_t> ok;
    std::vector<double> prep_ms;
    std::vector<std::string> errors;
    for (size_t i = 0; i < images.size(); ++i) {
      const auto t0 = clock::now();
      job->input.resize((ok.size() + 1) * per);
      try {
        decode_and_preprocess(spec, reinterpret_cast<const uint8_t*>(images[i].second->data()),
                              images[i].second->size(), images[i].first, job->input.data() + ok.size() * per);
      } catch (const Error& e) {
        errors.push_back(classify_error_json(images[i].first, e.what()));
        job->input.resize(ok.size() * per);
        continue;
      } catch (const std::bad_alloc&) {
        errors.push_back(classify_error_json(images[i].first, images[i].first + ": out of memory while decoding"));
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
    const std::string report = classify_report_json(spec.name, image::preprocess_mode_name(spec.mode),
                                                    info.num_classes, results, errors);
    if (results.empty()) {
      // Nothing could be classified: an error body that still lists each failure.
      std::string errs;
      for (size_t i = 0; i < errors.size(); ++i) errs += (i ? "," : "") + errors[i];
      res.status = 400;
      res.set_content("{\"error\":\"no image could be decoded\",\"errors\":[" + errs + "]}", "application/json");
      return;
    }
    res.status = 200;
    res.set_content(report, "application/json");
  }

  void setup() {
    // Debian's cpp-httplib is a compiled library that listens with a backlog of 5: a burst
    // of new connections (32 clients connecting at once) overflows the accept queue and
    // clients get reset connections. Record the socket here (this hook replaces httplib's
    // default, which only sets SO_REUSEADDR) and re-listen with a real backlog after bind.
    http.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_fd = int(sock);
    });
    http.new_task_queue = [n = opt.http_threads] { return new httplib::ThreadPool(size_t(std::max(1, n))); };
    http.set_payload_max_length(opt.max_body);
    http.set_read_timeout(opt.read_timeout_s, 0);
    http.set_write_timeout(10, 0);
    http.set_keep_alive_max_count(1000);
    http.set_keep_alive_timeout(5);
    http.set_tcp_nodelay(true);

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      t_start = clock::now();
      t_started = true;
      if (opt.api_key.empty()) return httplib::Server::HandlerResponse::Unhandled;
      if (req.path == "/v2/health/live" || req.path == "/v2/health/ready" || req.path == "/" ||
          req.path == "/index.html")
        return httplib::Server::HandlerResponse::Unhandled;
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const bool ok = auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
                      constant_time_equal(auth.substr(prefix.size()), opt.api_key);
      if (ok) return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer");
      set_error(res, 401, "missing or wrong bearer token (Authorization: Bearer <key>)");
      return httplib::Server::HandlerResponse::Handled;
    });
    // Any error without a body (404 route, 413, 400 from the HTTP layer) gets a JSON one;
    // health endpoints answer with the status alone, as the protocol says.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      const bool health = req.path.rfind("/v2/health/", 0) == 0 ||
                          (req.path.size() >= 6 && req.path.compare(req.path.size() - 6, 6, "/ready") == 0);
      if (!res.body.empty() || health)
        return httplib::Server::HandlerResponse::Unhandled;
      std::string msg;
      switch (res.status) {
        case 404: msg = "no such endpoint: " + req.method + " " + req.path; break;
        case 405: msg = "method not allowed"; break;
        case 413: msg = "request body too large"; break;
        case 414: msg = "request URI too long"; break;
        case 400: msg = "malformed HTTP request"; break;
        default: msg = "HTTP error " + std::to_string(res.status); break;
      }
      set_error(res, res.status, msg);
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::bad_alloc&) {
        msg = "out of memory";
      } catch (const std::exception& e) {
        msg = std::string("internal error: ") + e.what();
      } catch (...) {
      }
      set_error(res, 500, msg);
    });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const double secs = t_started ? std::chrono::duration<double>(clock::now() - t_start).count() : 0.0;
      t_started = false;
      const std::string ep = endpoint_of(req.method, req.path);
      metrics.record_request(ep, res.status, secs);
      if (!opt.access_log) return;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3f", secs * 1000);
      const std::string line = "{\"ts\":\"" + utc_now() + "\",\"remote\":\"" + json_escape_text(utf8_sanitize(req.remote_addr)) +
                               "\",\"method\":\"" + json_escape_text(utf8_sanitize(req.method)) + "\",\"path\":\"" +
                               json_escape_text(utf8_sanitize(req.path.substr(0, 256))) + "\",\"endpoint\":\"" + ep +
                               "\",\"status\":" + std::to_string(res.status) + ",\"bytes_in\":" +
                               (req.has_header("Content-Length") ? std::to_string(std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10)) : std::string("0")) + ",\"bytes_out\":" + std::to_string(res.body.size()) +
                               ",\"ms\":" + buf + "}\n";
      std::fputs(line.c_str(), stderr);
    });

    http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      res.status = ready && !stopping ? 200 : 503;
    });
    http.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(server_metadata_json(MNV2_SERVER_VERSION), "application/json");
    });
    const std::string model_path = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    http.Get(model_path, [this](const httplib::Request& req, httplib::Response& res) {
      if (model_matches(req, res)) res.set_content(model_metadata_json(spec), "application/json");
    });
    http.Get(model_path + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
      if (!model_matches(req, res)) {
        res.body.clear();  // health-style: the status code alone
        return;
      }
      res.status = ready && !stopping ? 200 : 503;
    });
    http.Post(model_path + "/infer",
              [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                handle_infer(req, reader, res);
              });
    http.Post("/v1/classify",
              [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                handle_classify(req, reader, res);
              });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(), "text/plain; version=0.0.4");
    });
    auto page = [](const httplib::Request&, httplib::Response& res) {
      res.set_content(web_page_html(), "text/html; charset=utf-8");
    };
    http.Get("/", page);
    http.Get("/index.html", page);
    http.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  }
};

Server::Server(Model& model, ModelSpec spec, ServerOptions options)
    : impl_(std::make_unique<Impl>(model, std::move(spec), std::move(options), metrics_)) {
  impl_->batcher = std::make_unique<Batcher>(model, impl_->opt.batch, [this](int n) { metrics_.record_batch(n); });
  metrics_.set_queue_depth_source([this] { return impl_->batcher->queue_depth(); });
  impl_->setup();
}

Server::~Server() {
  stop();
  impl_->batcher->stop();
}

int Server::bind() {
  const ServerOptions& o = impl_->opt;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port <= 0) throw Error("cannot listen on " + o.host + " (any port)");
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    throw Error("cannot listen on " + o.host + ":" + std::to_string(port) + " (address in use or not available)");
  }
  // Calling listen() again on a listening socket only changes its backlog.
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, 1024);
  impl_->ready = true;
  return port;
}

void Server::serve() {
  impl_->http.listen_after_bind();
  // listen returns after the worker threads finished their in-flight requests.
  impl_->ready = false;
  impl_->batcher->stop();
}

void Server::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace mnv2::server
