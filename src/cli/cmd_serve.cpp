// mnv2 serve: a KServe v2 inference server for the model (see docs/serving.md).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <malloc.h>
#include <pthread.h>
#include <thread>

#include "cli/args.h"
#include "cli/image_inputs.h"
#include "server/server.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 serve [options]\n\n"
    "Serves the model over HTTP: the KServe v2 / Open Inference Protocol REST API\n"
    "(/v2, /v2/health/{live,ready}, /v2/models/NAME[/versions/1][/ready|/infer]) with JSON,\n"
    "binary-data and encoded-image (BYTES) inputs, POST /v1/classify (image body or\n"
    "multipart; same JSON as `mnv2 classify --json`), GET /metrics (Prometheus) and a web\n"
    "page at /. SIGTERM or SIGINT stops accepting, finishes in-flight requests, exits 0.\n";

int run(const Args& a) {
  if (a.positional().size() > model_positional_count(a)) throw Error("unexpected argument '" + a.positional().back() + "'");
  ImageBatchOptions io = image_batch_options(a);
  // A server decodes untrusted uploads concurrently: a tighter default pixel limit.
  if (!a.has("max-pixels")) io.decode.max_pixels = kServeMaxPixels;

  // Each request decodes a whole photo (a 1280x720 JPEG is 2.7 MB of pixels) on one of many
  // connection threads. glibc's adaptive mmap threshold rises after the first such buffer is
  // freed, after which they come from per-thread heaps that keep their peak: RSS then
  // grows with the number of threads that ever served a large image. A fixed threshold keeps
  // big buffers mmapped, so they return to the system when the request ends.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);

  server::ServerOptions so;
  so.host = a.get("host", "127.0.0.1");
  so.port = a.get_int("port", 8080, 0, 65535);
  so.batch.max_batch = a.get_int("max-batch", 8, 1, 1024);
  so.batch.batch_timeout_us = a.get_int("batch-timeout-us", 2000, 0, 10'000'000);
  so.batch.max_queue = size_t(a.get_int("max-queue", 256, 1, 1'000'000));
  so.request_timeout_ms = a.get_int("request-timeout-ms", 30000, 1, 3'600'000);
  so.max_body = size_t(a.get_double("max-body", 64.0 * 1024 * 1024, 1024, 4.0 * 1024 * 1024 * 1024));
  so.http_threads = a.get_int("http-threads", 64, 1, 1024);
  so.max_connections = a.get_int("max-connections", 1024, 1, 1'000'000);
  so.max_connections_per_address = a.get_int("max-connections-per-client", 256, 0, 1'000'000);
  so.header_timeout_s = a.get_int("header-timeout-s", 10, 1, 3600);
  so.body_timeout_s = a.get_int("body-timeout-s", 60, 1, 3600);
  so.read_timeout_s = a.get_int("read-timeout-s", 5, 1, 3600);
  so.idle_timeout_s = a.get_int("idle-timeout-s", 5, 1, 3600);
  so.write_timeout_s = a.get_int("write-timeout-s", 10, 1, 3600);
  so.memory_budget = size_t(a.get_double("decode-memory", double(so.memory_budget), 1 << 20, 1024.0 * 1024 * 1024 * 1024));
  so.api_key = a.get("api-key");
  if (so.api_key.empty() && std::getenv("MNV2_API_KEY")) so.api_key = std::getenv("MNV2_API_KEY");
  so.access_log = !a.has("quiet");
  so.default_top = a.get_int("top", 5, 1, 100000);

  // Signals are taken by one thread with sigwait; every other thread has them blocked.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  Model model = open_image_model(a, so.batch.max_batch);
  server::ModelSpec spec;
  spec.info = model.info();
  spec.name = a.get("name", spec.info.name);
  if (spec.name.empty() || spec.name.find('/') != std::string::npos)
    throw Error("--name must be non-empty and contain no '/', got '" + spec.name + "'");
  spec.mode = io.mode;
  spec.decode = io.decode;
  spec.labels = load_labels_option(a, spec.info, "serve");
  spec.max_request_images = a.get_int("max-images", 256, 1, 65536);
  so.default_top = std::min(so.default_top, spec.info.num_classes);

  server::Server srv(model, spec, so);
  const int port = srv.bind();
  if (a.has("port-file")) {
    const std::string pf = a.get("port-file");
    const std::string tmp = pf + ".tmp";
    {
      std::ofstream f(tmp);
      f << port << "\n";
      if (!f) throw Error(pf + ": cannot write the port file");
    }
    if (std::rename(tmp.c_str(), pf.c_str()) != 0) throw Error(pf + ": cannot write the port file");
  }
  std::fprintf(stderr,
               "mnv2 serve: model '%s' (%s, %dx%d, %d classes) on http://%s:%d  (max batch %d; at most %d "
               "connections, %d per client; request memory %zu MiB)\n",
               spec.name.c_str(), spec.info.format.c_str(), spec.info.width, spec.info.height,
               spec.info.num_classes, so.host.c_str(), port, so.batch.max_batch, so.max_connections,
               so.max_connections_per_address, so.memory_budget >> 20);

  std::thread sig_thread([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGTERM || sig == SIGINT) {
      std::fprintf(stderr, "mnv2 serve: %s: finishing in-flight requests\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      srv.stop();
    }
  });
  srv.serve();
  // serve() only returns after stop(); the signal thread has already finished or is
  // released here.
  if (sig_thread.joinable()) {
    pthread_kill(sig_thread.native_handle(), SIGTERM);
    sig_thread.join();
  }
  std::fprintf(stderr, "mnv2 serve: stopped\n");
  return 0;
}

RegisterCommand reg({"serve", kServe, "KServe v2 inference server (HTTP, batching, metrics)", kUsage, nullptr,
                     nullptr, run});

}  // namespace
}  // namespace mnv2::cli
