// mnv2 serve: the KServe v2 REST protocol, /v1/classify, batching, limits, auth, hostile
// input and graceful shutdown. Servers listen on 127.0.0.1 with ephemeral ports only.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <png.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "image_fixtures.h"
#include "server/server.h"
#include "test_util.h"
#include "util/classify_json.h"

namespace mnv2 {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kRes = 64;  // synthetic model resolution for protocol tests

Model small_model(int max_batch = 8) {
  Options o;
  o.threads = 1;
  o.max_batch = max_batch;
  return Model::synthetic(0.35f, kRes, 1001, 7, o);
}

// An in-process server on an ephemeral port, serving on its own thread.
struct TestServer {
  Model model;
  std::unique_ptr<server::Server> srv;
  std::thread th;
  int port = 0;
  server::ModelSpec spec;

  TestServer(Model m, server::ServerOptions so = {}, Labels labels = {}, std::string name = "mnv2")
      : model(std::move(m)) {
    spec.info = model.info();
    spec.name = std::move(name);
    spec.labels = std::move(labels);
    spec.decode.max_pixels = 4'000'000;
    so.port = 0;
    so.host = "127.0.0.1";
    so.access_log = false;
    srv = std::make_unique<server::Server>(model, spec, so);
    port = srv->bind();
    th = std::thread([this] { srv->serve(); });
  }
  ~TestServer() {
    srv->stop();
    th.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    c.set_connection_timeout(5, 0);
    c.set_tcp_nodelay(true);
    return c;
  }
  std::string url_model() const { return "/v2/models/" + spec.name; }
};

void expect_ready(const TestServer& ts) {
  auto c = ts.client();
  auto r = c.Get("/v2/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

server::ServerOptions opts(int max_batch = 8, int64_t window_us = 2000) {
  server::ServerOptions so;
  so.batch.max_batch = max_batch;
  so.batch.batch_timeout_us = window_us;
  so.read_timeout_s = 1;
  return so;
}

std::string infer_json(const std::vector<float>& x, int n, bool nested = false) {
  json in;
  in["name"] = "input";
  in["datatype"] = "FP32";
  in["shape"] = {n, kRes, kRes, 3};
  if (nested) {
    json outer = json::array();
    size_t i = 0;
    for (int b = 0; b < n; ++b) {
      json img = json::array();
      for (int y = 0; y < kRes; ++y) {
        json row = json::array();
        for (int xx = 0; xx < kRes; ++xx) row.push_back({x[i], x[i + 1], x[i + 2]}), i += 3;
        img.push_back(row);
      }
      outer.push_back(img);
    }
    in["data"] = outer;
  } else {
    in["data"] = x;
  }
  json req;
  req["id"] = "req-1";
  req["inputs"] = json::array({in});
  return req.dump();
}

// A binary-data FP32 request: JSON header + raw floats.
std::pair<std::string, std::string> binary_request(const std::vector<float>& x, int n, int res) {
  json req;
  req["inputs"] = json::array({{{"name", "input"}, {"datatype", "FP32"}, {"shape", {n, res, res, 3}},
                                {"parameters", {{"binary_data_size", x.size() * 4}}}}});
  const std::string head = req.dump();
  return {head + std::string(reinterpret_cast<const char*>(x.data()), x.size() * 4), std::to_string(head.size())};
}

std::vector<float> direct_probs(Model& m, const std::vector<float>& x, int n) {
  std::vector<float> p(size_t(n) * m.info().num_classes);
  m.run(x.data(), n, p.data());
  return p;
}

// A raw loopback connection kept open by the test.
struct Sock {
  int fd = -1;
  // `from`: the loopback source address (127.0.0.0/8), so tests can act as several clients.
  explicit Sock(int port, int recv_timeout_ms = 5000, const char* from = nullptr) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (from) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &src.sin_addr);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        ::close(fd);
        fd = -1;
        return;
      }
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{recv_timeout_ms / 1000, (recv_timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  Sock(Sock&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Sock(const Sock&) = delete;
  ~Sock() {
    if (fd >= 0) ::close(fd);
  }
  bool send(const std::string& b) const {
    size_t off = 0;
    while (off < b.size()) {
      const ssize_t w = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += size_t(w);
    }
    return true;
  }
  // Everything until the peer closes, the receive timeout passes or `cap` bytes came.
  std::string recv_all(size_t cap = 1u << 20) const {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) break;
      out.append(buf, size_t(r));
      if (out.size() > cap) break;
    }
    return out;
  }
  // True when the server has closed the connection (EOF), false on timeout or data.
  bool closed_by_peer() const {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
};

// Sends raw bytes on a fresh connection; optionally half-closes; returns what came back.
std::string raw_exchange(int port, const std::string& bytes, bool shutdown_write, int timeout_ms = 3000) {
  Sock s(port, timeout_ms);
  if (s.fd < 0) return "";
  s.send(bytes);
  if (shutdown_write) ::shutdown(s.fd, SHUT_WR);
  return s.recv_all();
}

int status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return std::atoi(raw.c_str() + 9);
}

// Value of a metric line "name{labels} value" (exact prefix up to the value).
double metric(const std::string& text, const std::string& prefix) {
  size_t pos = 0;
  while ((pos = text.find(prefix, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      const size_t sp = pos + prefix.size();
      if (sp < text.size() && text[sp] == ' ') return std::atof(text.c_str() + sp + 1);
    }
    pos += prefix.size();
  }
  return -1;
}

TEST(ServeProtocol, HealthAndMetadata) {
  TestServer ts(small_model(), opts());
  auto c = ts.client();
  auto r = c.Get("/v2/health/live");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  r = c.Get("/v2/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());

  r = c.Get("/v2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["name"], "mnv2");
  EXPECT_TRUE(j["version"].is_string());
  EXPECT_TRUE(j["extensions"].is_array());

  for (const std::string& path : {ts.url_model(), ts.url_model() + "/versions/1"}) {
    r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
    j = json::parse(r->body);
    EXPECT_EQ(j["name"], "mnv2");
    EXPECT_EQ(j["inputs"][0]["name"], "input");
    EXPECT_EQ(j["inputs"][0]["datatype"], "FP32");
    EXPECT_EQ(j["inputs"][0]["shape"], json({-1, kRes, kRes, 3}));
    EXPECT_EQ(j["outputs"][0]["shape"], json({-1, 1001}));
    EXPECT_EQ(j["outputs"][0]["name"], ts.spec.info.output_name);
  }
  r = c.Get(ts.url_model() + "/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get(ts.url_model() + "/versions/1/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // Unknown model / version: 404 with {"error"}, for metadata and readiness alike.
  r = c.Get("/v2/models/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("nope"), std::string::npos);
  r = c.Get(ts.url_model() + "/versions/2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = c.Get("/v2/models/nope/ready");  // the status is the answer; the body still says why
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("nope"), std::string::npos);
  r = c.Post("/v2/models/nope/infer", infer_json(std::vector<float>(kRes * kRes * 3), 1), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = c.Get("/no/such/path");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body).contains("error"));

  r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("/v1/classify"), std::string::npos);
  r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GT(metric(r->body, "mnv2_requests_total{endpoint=\"health_live\",code=\"200\"}"), 0);
  EXPECT_GE(metric(r->body, "mnv2_queue_depth"), 0);
}

TEST(ServeProtocol, InferJsonFlatAndNestedMatchDirectRun) {
  TestServer ts(small_model(), opts());
  Model ref = small_model();
  const int n = 2;
  const auto x = test::random_input(size_t(n) * kRes * kRes * 3, 11);
  const auto want = direct_probs(ref, x, n);
  auto c = ts.client();
  for (bool nested : {false, true}) {
    auto r = c.Post(ts.url_model() + "/infer", infer_json(x, n, nested), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json j = json::parse(r->body);
    EXPECT_EQ(j["model_name"], "mnv2");
    EXPECT_EQ(j["id"], "req-1");
    ASSERT_EQ(j["outputs"].size(), 1u);
    const json& o = j["outputs"][0];
    EXPECT_EQ(o["datatype"], "FP32");
    EXPECT_EQ(o["shape"], json({n, 1001}));
    ASSERT_EQ(o["data"].size(), want.size());
    double maxd = 0;
    for (size_t i = 0; i < want.size(); ++i) maxd = std::max(maxd, std::abs(o["data"][i].get<double>() - want[i]));
    EXPECT_LE(maxd, 1e-6) << "nested=" << nested;  // floats printed round-trip exact
  }
  // Classification output: "probability:index" strings, best first.
  json req = json::parse(infer_json(x, n));
  req["outputs"] = json::array({{{"name", ts.spec.info.output_name}, {"parameters", {{"classification", 3}}}}});
  auto r = c.Post(ts.url_model() + "/versions/1/infer", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["outputs"][0]["datatype"], "BYTES");
  EXPECT_EQ(j["outputs"][0]["shape"], json({n, 3}));
  const auto top = top_k_classes(want.data(), 1001, 3, true);
  const std::string first = j["outputs"][0]["data"][0];
  EXPECT_EQ(first.substr(first.find(':') + 1), std::to_string(top[0]));
}

TEST(ServeProtocol, BinaryDataExtension) {
  TestServer ts(small_model(), opts());
  Model ref = small_model();
  const int n = 3;
  const auto x = test::random_input(size_t(n) * kRes * kRes * 3, 12);
  const auto want = direct_probs(ref, x, n);
  json req;
  req["inputs"] = json::array({{{"name", "input"}, {"datatype", "FP32"}, {"shape", {n, kRes, kRes, 3}},
                                {"parameters", {{"binary_data_size", x.size() * 4}}}}});
  req["outputs"] = json::array({{{"name", ts.spec.info.output_name}, {"parameters", {{"binary_data", true}}}}});
  const std::string head = req.dump();
  std::string body = head + std::string(reinterpret_cast<const char*>(x.data()), x.size() * 4);
  auto c = ts.client();
  httplib::Headers h = {{"Inference-Header-Content-Length", std::to_string(head.size())}};
  auto r = c.Post(ts.url_model() + "/infer", h, body, "application/octet-stream");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE(r->has_header("Inference-Header-Content-Length"));
  const size_t hl = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  ASSERT_LE(hl, r->body.size());
  json j = json::parse(r->body.substr(0, hl));
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], want.size() * 4);
  ASSERT_EQ(r->body.size() - hl, want.size() * 4);
  std::vector<float> got(want.size());
  std::memcpy(got.data(), r->body.data() + hl, got.size() * 4);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_FLOAT_EQ(got[i], want[i]) << i;

  // curl --data-binary sends application/x-www-form-urlencoded: bodies of any size up to
  // --max-body must still get through (not the HTTP library's 8 KiB form limit).
  r = c.Post(ts.url_model() + "/infer", h, body, "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;

  // Header length beyond the body, or binary size disagreeing with the bytes sent: 400.
  h = {{"Inference-Header-Content-Length", std::to_string(body.size() + 1)}};
  r = c.Post(ts.url_model() + "/infer", h, body, "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  h = {{"Inference-Header-Content-Length", std::to_string(head.size())}};
  r = c.Post(ts.url_model() + "/infer", h, body.substr(0, body.size() - 5), "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("binary_data_size"), std::string::npos);
}

TEST(ServeProtocol, Uint8PixelsAndBinaryOutputForAll) {
  TestServer ts(small_model(), opts());
  Model ref = small_model();
  const ModelInfo& info = ref.info();
  const size_t count = size_t(kRes) * kRes * 3;
  std::vector<uint8_t> px(count);
  std::vector<float> x(count);
  for (size_t i = 0; i < count; ++i) {
    px[i] = uint8_t((i * 37 + 11) % 256);
    x[i] = (float(px[i]) - info.mean) / info.scale;  // what the server must feed the model
  }
  const auto want = direct_probs(ref, x, 1);
  json req;
  req["inputs"] = json::array({{{"name", "input"}, {"datatype", "UINT8"}, {"shape", {1, kRes, kRes, 3}}, {"data", px}}});
  req["parameters"] = {{"binary_data_output", true}};
  auto c = ts.client();
  auto r = c.Post(ts.url_model() + "/infer", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const size_t hl = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  ASSERT_EQ(r->body.size() - hl, want.size() * 4);
  std::vector<float> got(want.size());
  std::memcpy(got.data(), r->body.data() + hl, got.size() * 4);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6f) << i;
  // Out-of-range UINT8 values are refused.
  req["inputs"][0]["data"][5] = 256;
  r = c.Post(ts.url_model() + "/infer", req.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

std::string bytes_body(const std::vector<test::Bytes>& imgs, bool with_size, std::string* head_out) {
  std::string bin;
  for (const auto& b : imgs) {
    const uint32_t n = uint32_t(b.size());
    const char le[4] = {char(n & 255), char(n >> 8 & 255), char(n >> 16 & 255), char(n >> 24)};
    bin.append(le, 4);
    bin.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  json in = {{"name", "input"}, {"datatype", "BYTES"}, {"shape", {imgs.size()}}};
  if (with_size) in["parameters"] = {{"binary_data_size", bin.size()}};
  json req;
  req["inputs"] = json::array({in});
  *head_out = req.dump();
  return *head_out + bin;
}

TEST(ServeProtocol, BytesImagesDecodedLikeClassify) {
  TestServer ts(small_model(), opts());
  Model ref = small_model();
  const std::vector<test::Bytes> imgs = {test::encode_jpeg(test::pattern_image(200, 150, 3)),
                                         test::encode_png_rgb(test::pattern_image(90, 120, 4))};
  // Reference: the same decode + preprocess code path, then a direct run.
  const size_t per = size_t(kRes) * kRes * 3;
  std::vector<float> x(per * 2);
  for (size_t i = 0; i < 2; ++i) {
    const auto img = image::decode_memory(imgs[i].data(), imgs[i].size(), "t");
    image::preprocess(img, ref.info(), image::PreprocessMode::Omz, x.data() + i * per);
  }
  const auto want = direct_probs(ref, x, 2);
  auto c = ts.client();
  for (bool with_size : {true, false}) {
    std::string head;
    const std::string body = bytes_body(imgs, with_size, &head);
    httplib::Headers h = {{"Inference-Header-Content-Length", std::to_string(head.size())}};
    auto r = c.Post(ts.url_model() + "/infer", h, body, "application/octet-stream");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json j = json::parse(r->body);
    ASSERT_EQ(j["outputs"][0]["data"].size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(j["outputs"][0]["data"][i].get<double>(), want[i], 1e-7);
  }
  // JSON form: base64 strings.
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto b64 = [&](const test::Bytes& b) {
    std::string s;
    size_t i = 0;
    for (; i + 2 < b.size(); i += 3) {
      const uint32_t v = uint32_t(b[i]) << 16 | uint32_t(b[i + 1]) << 8 | b[i + 2];
      s += tbl[v >> 18 & 63], s += tbl[v >> 12 & 63], s += tbl[v >> 6 & 63], s += tbl[v & 63];
    }
    if (b.size() - i == 1) {
      const uint32_t v = uint32_t(b[i]) << 16;
      s += tbl[v >> 18 & 63], s += tbl[v >> 12 & 63], s += "==";
    } else if (b.size() - i == 2) {
      const uint32_t v = uint32_t(b[i]) << 16 | uint32_t(b[i + 1]) << 8;
      s += tbl[v >> 18 & 63], s += tbl[v >> 12 & 63], s += tbl[v >> 6 & 63], s += "=";
    }
    return s;
  };
  json req;
  req["inputs"] = json::array({{{"name", "input"}, {"datatype", "BYTES"}, {"shape", {2}},
                                {"data", {b64(imgs[0]), {{"b64", b64(imgs[1])}}}}}});
  auto r = c.Post(ts.url_model() + "/infer", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(j["outputs"][0]["data"][i].get<double>(), want[i], 1e-7);
}

struct BadCase {
  std::string what;
  std::string body;
  std::string header_length;  // "" = none
  int status;
};

std::vector<BadCase> bad_cases() {
  const std::string m = R"("name":"input","datatype":"FP32")";
  const std::string shape = "[1," + std::to_string(kRes) + "," + std::to_string(kRes) + ",3]";
  std::vector<BadCase> v = {
      {"not json", "{inputs:", "", 400},
      {"json array", "[1,2,3]", "", 400},
      {"no inputs", "{}", "", 400},
      {"inputs not array", R"({"inputs":5})", "", 400},
      {"two inputs", R"({"inputs":[{)" + m + R"(,"shape":)" + shape + R"(,"data":[]},{)" + m + "}]}", "", 400},
      {"wrong name", R"({"inputs":[{"name":"x","datatype":"FP32","shape":)" + shape + R"(,"data":[1]}]})", "", 400},
      {"wrong dtype", R"({"inputs":[{"name":"input","datatype":"INT64","shape":)" + shape + R"(,"data":[1]}]})", "", 400},
      {"dtype not string", R"({"inputs":[{"name":"input","datatype":3,"shape":)" + shape + R"(,"data":[1]}]})", "", 400},
      {"wrong shape", R"({"inputs":[{)" + m + R"(,"shape":[1,3,)" + std::to_string(kRes) + "," + std::to_string(kRes) + R"(],"data":[1]}]})", "", 400},
      {"negative dim", R"({"inputs":[{)" + m + R"(,"shape":[-1,)" + std::to_string(kRes) + "," + std::to_string(kRes) + R"(,3],"data":[1]}]})", "", 400},
      {"huge batch", R"({"inputs":[{)" + m + R"(,"shape":[2000000000,)" + std::to_string(kRes) + "," + std::to_string(kRes) + R"(,3],"data":[1]}]})", "", 400},
      {"float shape", R"({"inputs":[{)" + m + R"(,"shape":[1.5,)" + std::to_string(kRes) + "," + std::to_string(kRes) + R"(,3],"data":[1]}]})", "", 400},
      {"too few values", R"({"inputs":[{)" + m + R"(,"shape":)" + shape + R"(,"data":[1,2,3]}]})", "", 400},
      {"string values", R"({"inputs":[{)" + m + R"(,"shape":)" + shape + R"(,"data":["a"]}]})", "", 400},
      {"no data", R"({"inputs":[{)" + m + R"(,"shape":)" + shape + "}]}", "", 400},
      {"deep nesting", R"({"inputs":[{)" + m + R"(,"shape":)" + shape + R"(,"data":)" + std::string(5000, '[') + std::string(5000, ']') + "}]}", "", 400},
      {"unknown output", R"({"inputs":[{)" + m + R"(,"shape":)" + shape + R"(,"data":[1]}],"outputs":[{"name":"zzz"}]})", "", 400},
      {"header length not a number", "{}", "abc", 400},
      {"header length too big", "{}", "99999999999", 400},
      {"bytes non-image", "", "", 400},  // filled below
      {"bytes length beyond data", "", "", 400},
      {"bytes count mismatch", "", "", 400},
      {"bytes truncated prefix", "", "", 400},
      {"bytes bad base64", R"({"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["@@@@"]}]})", "", 400},
      {"bytes decompression bomb", "", "", 400},
  };
  auto bytes_req = [](const std::string& bin, int n) {
    const std::string head =
        R"({"inputs":[{"name":"input","datatype":"BYTES","shape":[)" + std::to_string(n) + "]}]}";
    return std::make_pair(head + bin, std::to_string(head.size()));
  };
  auto le = [](uint32_t n) { return std::string{char(n & 255), char(n >> 8 & 255), char(n >> 16 & 255), char(n >> 24)}; };
  for (auto& c : v) {
    std::pair<std::string, std::string> p;
    if (c.what == "bytes non-image") p = bytes_req(le(11) + "hello world", 1);
    else if (c.what == "bytes length beyond data") p = bytes_req(le(0xFFFFFFF0u) + "abc", 1);
    else if (c.what == "bytes count mismatch") p = bytes_req(le(3) + "abc", 2);
    else if (c.what == "bytes truncated prefix") p = bytes_req(std::string("\x05\x00", 2), 1);
    else if (c.what == "bytes decompression bomb") {
      // A valid PNG header declaring 60000 x 60000 pixels: refused before allocation.
      test::Bytes png = test::encode_png_rgb(test::pattern_image(8, 8));
      const uint32_t big = 60000;
      for (int k = 0; k < 2; ++k)
        for (int b = 0; b < 4; ++b) png[size_t(16 + 4 * k + b)] = uint8_t(big >> (24 - 8 * b));
      const uint32_t crc = uint32_t(crc32(0, png.data() + 12, 17));  // keep the IHDR CRC valid
      for (int b = 0; b < 4; ++b) png[size_t(29 + b)] = uint8_t(crc >> (24 - 8 * b));
      p = bytes_req(le(uint32_t(png.size())) + std::string(png.begin(), png.end()), 1);
    } else continue;
    c.body = p.first;
    c.header_length = p.second;
  }
  return v;
}

TEST(ServeProtocol, ErrorCasesAnswer4xxWithErrorBody) {
  TestServer ts(small_model(), opts());
  auto c = ts.client();
  for (const auto& bc : bad_cases()) {
    httplib::Headers h;
    if (!bc.header_length.empty()) h.emplace("Inference-Header-Content-Length", bc.header_length);
    auto r = c.Post(ts.url_model() + "/infer", h, bc.body, "application/json");
    ASSERT_TRUE(r) << bc.what;
    EXPECT_EQ(r->status, bc.status) << bc.what << ": " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << bc.what << ": " << r->body;
    EXPECT_TRUE(j.contains("error") && j["error"].is_string()) << bc.what;
  }
  expect_ready(ts);
}

TEST(ServeLimits, BodyTooLargeAuthAndTimeout) {
  {
    auto so = opts();
    so.max_body = 4096;
    TestServer ts(small_model(), so);
    auto c = ts.client();
    auto r = c.Post(ts.url_model() + "/infer", std::string(5000, '{'), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    // A huge declared Content-Length: 413 (the HTTP layer discards what arrives, within
    // the read timeout, and never allocates for it); a client that hangs up gets dropped.
    const std::string raw = "POST " + ts.url_model() +
                            "/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n";
    const std::string got = raw_exchange(ts.port, raw + "{}", false);
    EXPECT_EQ(status_of(got), 413) << got;
    const int st = status_of(raw_exchange(ts.port, raw + "{}", true));
    EXPECT_TRUE(st == 0 || st == 413) << st;
    r = c.Get("/v2/health/live");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  {
    auto so = opts();
    so.api_key = "s3cret-key";
    TestServer ts(small_model(), so);
    auto c = ts.client();
    auto r = c.Get("/v2");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_TRUE(json::parse(r->body).contains("error"));
    r = c.Get("/v2", {{"Authorization", "Bearer wrong-key!"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = c.Get("/v2", {{"Authorization", "Bearer s3cret-key"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = c.Get("/v2/health/live");  // probes stay open
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(server::constant_time_equal("abc", "abc"));
    EXPECT_FALSE(server::constant_time_equal("abc", "abd"));
    EXPECT_FALSE(server::constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(server::constant_time_equal("", "a"));
  }
  {
    // A request whose deadline passes while it waits for batch company: 503 + Retry-After.
    auto so = opts(8, 300000);
    so.request_timeout_ms = 1;
    TestServer ts(small_model(), so);
    auto c = ts.client();
    auto r = c.Post(ts.url_model() + "/infer", infer_json(test::random_input(kRes * kRes * 3, 1), 1),
                    "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_TRUE(r->has_header("Retry-After"));
  }
}

TEST(ServeBatcher, BoundedQueueRefusesWhenFull) {
  Model m = small_model(1);
  std::atomic<bool> entered{false}, release{false};
  server::BatcherOptions bo;
  bo.max_batch = 1;
  bo.batch_timeout_us = 0;
  bo.max_queue = 1;
  // The batch callback holds the worker, so the queue state is deterministic.
  server::Batcher batcher(m, bo, [&](int) {
    entered = true;
    while (!release) std::this_thread::sleep_for(1ms);
  });
  auto job = [&](uint32_t seed) {
    auto j = std::make_shared<server::Job>();
    j->rows = 1;
    j->input = test::random_input(kRes * kRes * 3, seed);
    j->deadline = std::chrono::steady_clock::now() + 60s;
    return j;
  };
  auto a = job(1), b = job(2), c = job(3);
  ASSERT_TRUE(batcher.submit(a));
  while (!entered) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(batcher.submit(b));
  EXPECT_EQ(batcher.queue_depth(), 1u);
  EXPECT_FALSE(batcher.submit(c)) << "a full queue must refuse";
  release = true;
  ASSERT_TRUE(a->wait_until(std::chrono::steady_clock::now() + 60s));
  ASSERT_TRUE(b->wait_until(std::chrono::steady_clock::now() + 60s));
  EXPECT_TRUE(a->error.empty());
  EXPECT_TRUE(b->error.empty());
  Model ref = small_model(1);
  const auto want = direct_probs(ref, b->input, 1);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_FLOAT_EQ(b->probs[i], want[i]);
  batcher.stop();
  EXPECT_FALSE(batcher.submit(job(4))) << "a stopped batcher must refuse";
}

TEST(ServeLimits, FullQueueAnswers503WithRetryAfter) {
  // A slower model and a long request (many rows, run in chunks of 1) keep the worker busy.
  constexpr int res = 128;
  auto so = opts(1, 0);
  so.batch.max_queue = 1;
  Options o;
  o.threads = 1;
  TestServer ts(Model::synthetic(1.0f, res, 1001, 3, o), so);
  const int big = 96;
  const auto big_req = binary_request(test::random_input(size_t(big) * res * res * 3, 2), big, res);
  const auto one = binary_request(test::random_input(size_t(res) * res * 3, 3), 1, res);
  const std::string infer = ts.url_model() + "/infer";
  std::atomic<int> big_status{0}, queued_status{0};
  std::thread t1([&] {
    auto c = ts.client();
    auto r = c.Post(infer, {{"Inference-Header-Content-Length", big_req.second}}, big_req.first,
                    "application/octet-stream");
    big_status = r ? r->status : -1;
  });
  auto scrape = [&](const char* name) {
    auto c = ts.client();
    auto r = c.Get("/metrics");
    return r ? metric(r->body, name) : -1.0;
  };
  // Wait until the worker has started on the big request.
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (scrape("mnv2_inference_images_total") < 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(2ms);
  std::thread t2([&] {
    auto c = ts.client();
    auto r = c.Post(infer, {{"Inference-Header-Content-Length", one.second}}, one.first, "application/octet-stream");
    queued_status = r ? r->status : -1;
  });
  while (scrape("mnv2_queue_depth") < 1 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  auto c = ts.client();
  auto r = c.Post(infer, {{"Inference-Header-Content-Length", one.second}}, one.first, "application/octet-stream");
  const bool still_busy = scrape("mnv2_inference_images_total") < big;
  ASSERT_TRUE(r);
  t1.join();
  t2.join();
  EXPECT_EQ(big_status, 200);
  EXPECT_EQ(queued_status, 200);
  ASSERT_TRUE(still_busy) << "the big request finished before the queue filled; test inconclusive";
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("queue"), std::string::npos);
}

TEST(ServeBatching, ConcurrentRequestsAreGrouped) {
  TestServer ts(small_model(8), opts(8, 100000));
  Model ref = small_model();
  const int clients = 8;
  std::vector<std::vector<float>> xs;
  for (int i = 0; i < clients; ++i) xs.push_back(test::random_input(kRes * kRes * 3, 100 + i));
  std::vector<json> outs(clients);
  std::vector<std::thread> th;
  for (int i = 0; i < clients; ++i)
    th.emplace_back([&, i] {
      auto c = ts.client();
      auto r = c.Post(ts.url_model() + "/infer", infer_json(xs[size_t(i)], 1), "application/json");
      if (r && r->status == 200) outs[size_t(i)] = json::parse(r->body);
    });
  for (auto& t : th) t.join();
  for (int i = 0; i < clients; ++i) {
    ASSERT_TRUE(outs[size_t(i)].is_object()) << "client " << i;
    const auto want = direct_probs(ref, xs[size_t(i)], 1);
    const auto& d = outs[size_t(i)]["outputs"][0]["data"];
    double maxd = 0;
    for (size_t k = 0; k < want.size(); ++k) maxd = std::max(maxd, std::abs(d[k].get<double>() - want[k]));
    EXPECT_LE(maxd, 1e-5) << "client " << i << " got another request's rows?";
  }
  auto c = ts.client();
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  const double singles = metric(r->body, "mnv2_batch_size_bucket{le=\"1\"}");
  const double calls = metric(r->body, "mnv2_batch_size_count");
  EXPECT_EQ(metric(r->body, "mnv2_inference_images_total"), clients);
  EXPECT_LT(calls, clients) << r->body;
  EXPECT_LT(singles, calls) << "no model call had more than one image";
}

TEST(ServeClassify, RawAndMultipartMatchCliJson) {
  const std::string data = test::data_dir();
  const std::string model_path = data + "/coral/mobilenet_v2_1.0_224_quant.tflite";
  if (data.empty() || !std::filesystem::exists(model_path)) GTEST_SKIP() << "coral model not available";
  const std::string labels_path = data + "/coral/imagenet_labels.txt";
  const std::vector<std::string> photos = {data + "/coral/cat_720p.jpg", data + "/coral/parrot.jpg",
                                           data + "/coral/grace_hopper.bmp"};
  std::string cli_out;
  std::string cmd = test::cli_path() + " classify --json --top 5 --threads 2 --model " + model_path +
                    " --labels " + labels_path;
  for (const auto& p : photos) cmd += " " + p;
  ASSERT_EQ(test::run_command(cmd + " 2>/dev/null", &cli_out), 0) << cli_out;
  const json cli = json::parse(cli_out);

  Options o;
  o.threads = 2;
  Model m = Model::load(model_path, o);
  Labels labels = align_labels(read_labels(labels_path), m.info().num_classes, m.info().has_background);
  TestServer ts(std::move(m), opts(), labels, "coral");
  auto c = ts.client();
  json multipart_results;
  {
    httplib::MultipartFormDataItems items;
    for (const auto& p : photos) {
      const auto b = test::read_file(p);
      items.push_back({"file", std::string(b.begin(), b.end()), p, "application/octet-stream"});
    }
    auto r = c.Post("/v1/classify?top=5", items);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    multipart_results = json::parse(r->body);
  }
  EXPECT_EQ(multipart_results["model"], "coral");
  EXPECT_EQ(multipart_results["preprocess"], cli["preprocess"]);
  EXPECT_EQ(multipart_results["classes"], cli["classes"]);
  ASSERT_EQ(cli["results"].size(), photos.size());
  ASSERT_EQ(multipart_results["results"].size(), photos.size());
  for (size_t i = 0; i < photos.size(); ++i) {
    const auto b = test::read_file(photos[i]);
    auto r = c.Post("/v1/classify?top=5&name=" + std::to_string(i), std::string(b.begin(), b.end()),
                    "application/octet-stream");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    ASSERT_EQ(j["results"].size(), 1u);
    // Same classes, labels and printed probabilities as the CLI.
    EXPECT_EQ(j["results"][0]["top"], cli["results"][i]["top"]) << photos[i];
    EXPECT_EQ(j["results"][0]["file"], std::to_string(i));
    EXPECT_EQ(multipart_results["results"][i]["file"], photos[i]);
    EXPECT_EQ(multipart_results["results"][i]["top"], cli["results"][i]["top"]) << photos[i];
  }
  // Errors: bad top, non-image body, empty body.
  auto r = c.Post("/v1/classify?top=0", std::string("x"), "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = c.Post("/v1/classify", std::string("definitely not an image"), "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
  r = c.Post("/v1/classify", std::string(), "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST(ServeHostile, ThousandsOfMalformedRequestsLeaveServerHealthy) {
  auto so = opts();
  so.max_body = 1 << 20;
  so.http_threads = 4;
  TestServer ts(small_model(), so);
  const auto cases = bad_cases();
  const std::string infer = ts.url_model() + "/infer";
  uint32_t rng = 12345;
  auto next = [&] {  // xorshift32: all bits usable
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
  };
  int sent = 0, wrong = 0, no_answer = 0;
  double kind_secs[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const auto t_end = std::chrono::steady_clock::now() + 60s;
  httplib::Client c("127.0.0.1", ts.port);
  c.set_read_timeout(10, 0);
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);
  const int total = std::getenv("MNV2_HOSTILE_N") ? std::atoi(std::getenv("MNV2_HOSTILE_N")) : 10000;
  for (int i = 0; i < total && std::chrono::steady_clock::now() < t_end; ++i) {
    const int kind = int(next() % 8);
    ++sent;
    const auto k0 = std::chrono::steady_clock::now();
    struct KindTimer {
      double* acc;
      std::chrono::steady_clock::time_point t0;
      ~KindTimer() { *acc += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
    } kt{&kind_secs[kind], k0};
    if (kind <= 3) {
      // A protocol-level bad request, possibly with random byte damage.
      BadCase bc = cases[next() % cases.size()];
      std::string body = bc.body;
      if (kind == 3 && !body.empty())
        for (int k = 0; k < 3; ++k) body[next() % body.size()] = char(next() & 255);
      httplib::Headers h;
      if (!bc.header_length.empty()) h.emplace("Inference-Header-Content-Length", bc.header_length);
      const auto q0 = std::chrono::steady_clock::now();
      auto r = c.Post(infer, h, body, "application/json");
      const double qs = std::chrono::duration<double>(std::chrono::steady_clock::now() - q0).count();
      if (qs > 2) std::printf("slow %.3f s: %s\n", qs, bc.what.c_str());
      if (!r) {
        ++no_answer;
      } else if (r->status < 400 || r->status >= 500) {
        ++wrong;
        ADD_FAILURE() << bc.what << " (damaged=" << (kind == 3) << ") -> " << r->status << " " << r->body.substr(0, 200);
      }
    } else if (kind == 4) {
      // Truncated body: Content-Length larger than what is sent, then half-close.
      const std::string raw = "POST " + infer + " HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"inputs\":[";
      const int st = status_of(raw_exchange(ts.port, raw, true));
      if (st != 0 && (st < 400 || st >= 500)) ++wrong;
    } else if (kind == 5) {
      // Garbage request lines and headers.
      static const char* junk[] = {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
                                   "POST /v2 HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                                   "GET /v2 HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
                                   "POST /v1/classify HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n"};
      const int st = status_of(raw_exchange(ts.port, junk[next() % 5], true));
      if (st >= 500) ++wrong;
    } else if (kind == 6) {
      // Non-image uploads to /v1/classify.
      // Any size, 3*S*S bytes included: raw RGB is never guessed from the size.
      const size_t n = 1 + next() % 2000;
      std::string body(n, '\0');
      for (char& ch : body) ch = char(next() & 255);
      auto r = c.Post("/v1/classify", body, "image/jpeg");
      if (!r) ++no_answer;
      else if (r->status != 400) ++wrong, ADD_FAILURE() << "classify junk -> " << r->status;
    } else {
      // An overlong URI / header.
      auto r = c.Get("/v2/models/" + std::string(10000, 'a'));
      if (r && r->status < 400) ++wrong;
    }
  }
  // Slowloris-style: partial headers that never finish are dropped after the read timeout.
  std::vector<std::thread> slow;
  for (int i = 0; i < 3; ++i)
    slow.emplace_back([&] { raw_exchange(ts.port, "GET /v2 HTTP/1.1\r\nHost: x\r\nX-Slow:", false, 5000); });
  for (auto& t : slow) t.join();
  EXPECT_GE(sent, 1000);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(no_answer, 0);
  // Still healthy and still correct.
  httplib::Client c2("127.0.0.1", ts.port);
  auto r = c2.Get("/v2/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c2.Post(infer, infer_json(test::random_input(kRes * kRes * 3, 9), 1), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  std::printf("[ hostile ] %d malformed requests, all answered 4xx or dropped; seconds by kind:", sent);
  for (double k : kind_secs) std::printf(" %.2f", k);
  std::printf("\n");
}

// `mnv2 serve ARGS --port 0 --port-file F` as a child process, its stdout and stderr in a
// log file; killed (SIGKILL) at the end of the test unless the test waited for it.
struct CliServer {
  pid_t pid = -1;
  int port = 0;
  std::string log;

  explicit CliServer(const std::vector<std::string>& args) {
    const std::string dir = test::scratch_dir();
    const std::string port_file = dir + "/port";
    log = dir + "/log";
    std::vector<std::string> argv = {"mnv2", "serve", "--port", "0", "--port-file", port_file};
    argv.insert(argv.end(), args.begin(), args.end());
    pid = fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) dup2(fd, 2), dup2(fd, 1);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(test::cli_path().c_str(), cargv.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && port == 0 && pid > 0; ++i) {
      std::ifstream f(port_file);
      if (!(f >> port)) port = 0;
      if (!port) std::this_thread::sleep_for(50ms);
    }
  }
  ~CliServer() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  std::string log_text() const {
    std::ifstream lf(log);
    return std::string((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
  }
  // The child's peak resident set (VmHWM) in MiB, -1 when unreadable.
  double peak_rss_mib() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);)
      if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    return -1;
  }
};

TEST(ServeShutdown, SigtermFinishesInFlightAndExitsZero) {
  CliServer cs({"--synthetic", "1.0", "128", "--threads", "1", "--max-batch", "1", "--name", "mnv2"});
  const pid_t pid = cs.pid;
  const int port = cs.port;
  ASSERT_GT(port, 0) << "server did not start";
  // An in-flight request (many rows) when SIGTERM arrives must still complete.
  const int n = 24;
  const auto req = binary_request(test::random_input(size_t(n) * 128 * 128 * 3, 5), n, 128);
  std::atomic<int> status{0};
  std::thread t([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    auto r = c.Post("/v2/models/mnv2/infer", {{"Inference-Header-Content-Length", req.second}}, req.first,
                    "application/octet-stream");
    status = r ? r->status : -1;
  });
  // Wait until the request has reached the model, then signal.
  for (int i = 0; i < 2000; ++i) {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/metrics");
    if (r && metric(r->body, "mnv2_inference_images_total") >= 1) break;
    std::this_thread::sleep_for(5ms);
  }
  ::kill(pid, SIGTERM);
  int ws = 0;
  ASSERT_EQ(waitpid(pid, &ws, 0), pid);
  cs.pid = -1;
  t.join();
  const std::string logtext = cs.log_text();
  EXPECT_TRUE(WIFEXITED(ws)) << logtext;
  EXPECT_EQ(WEXITSTATUS(ws), 0) << logtext;
  EXPECT_EQ(status, 200) << logtext;
  // The access log is one JSON object per request line.
  bool saw_infer = false;
  std::istringstream ls(logtext);
  for (std::string line; std::getline(ls, line);) {
    if (line.empty() || line[0] != '{') continue;
    const json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    if (j.value("endpoint", "") == "infer") saw_infer = j["status"] == 200 && j.contains("ms");
  }
  EXPECT_TRUE(saw_infer) << logtext;
  // Nothing listens any more.
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1, 0);
  EXPECT_FALSE(c.Get("/v2/health/live"));
}

}  // namespace
}  // namespace mnv2

namespace mnv2 {
namespace {

// The web page in headless Chromium (Debian `chromium`, npm `playwright-core` pinned in
// tests/ref/package-lock.json, which scripts/install-deps.sh installs). Skipped when absent.
TEST(ServeWeb, PageShowsTopFiveBarsAndLatency) {
  namespace fs = std::filesystem;
  const fs::path src = fs::path(__FILE__).parent_path();
  if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "chromium not installed";
  std::string out;
  if (test::run_command("node --version", &out) != 0) GTEST_SKIP() << "node not available";
  // The node_modules folder is the last line the script prints (it never downloads here).
  const std::string ref_build = (fs::path(test::cli_path()).parent_path() / "ref").string();
  if (test::run_command("bash " + (src / "ref/npm_refs.sh").string() + " " + ref_build, &out) != 0)
    GTEST_SKIP() << "playwright-core is not installed: " << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const fs::path node_modules = out.substr(out.find_last_of('\n') + 1);

  Labels labels;
  for (int i = 0; i < 1001; ++i) labels.names.push_back("label " + std::to_string(i));
  TestServer ts(small_model(), opts(), labels);
  const std::string dir = test::scratch_dir();
  const std::string img = dir + "/photo.jpg", shot = dir + "/card.png";
  test::write_file(img, test::encode_jpeg(test::pattern_image(320, 240, 5)));
  const std::string cmd = "NODE_PATH=" + node_modules.string() + " node " + (src / "web/page_check.cjs").string() +
                          " http://127.0.0.1:" + std::to_string(ts.port) + "/ " + img + " " + shot + " 2>&1";
  ASSERT_EQ(test::run_command(cmd, &out), 0) << out;
  const json j = json::parse(out.substr(out.find('{')));
  EXPECT_EQ(j["name"], "photo.jpg");
  EXPECT_TRUE(j["imageLoaded"].get<bool>());
  EXPECT_TRUE(j["consoleErrors"].empty()) << j["consoleErrors"].dump();
  EXPECT_NE(j["status"].get<std::string>().find("ms"), std::string::npos);
  ASSERT_EQ(j["rows"].size(), 5u) << out;
  // The page shows what /v1/classify answers for the same bytes.
  httplib::Client c("127.0.0.1", ts.port);
  const auto bytes = test::read_file(img);
  auto r = c.Post("/v1/classify?top=5", std::string(bytes.begin(), bytes.end()), "image/jpeg");
  ASSERT_TRUE(r);
  const json api = json::parse(r->body);
  for (size_t i = 0; i < 5; ++i) {
    const std::string label = api["results"][0]["top"][i]["label"];
    EXPECT_EQ(j["rows"][i]["text"].get<std::string>().rfind(label + " ", 0), 0u) << j["rows"][i].dump();
  }
  // Screenshot check: the card rendered, with the bars' blue (#2f6fed) present.
  const image::Image png = image::decode_file(shot);
  EXPECT_GE(png.width, 300);
  size_t blue = 0;
  for (size_t p = 0; p + 2 < png.pixels.size(); p += 3)
    if (std::abs(png.pixels[p] - 0x2f) < 12 && std::abs(png.pixels[p + 1] - 0x6f) < 12 && std::abs(png.pixels[p + 2] - 0xed) < 12)
      ++blue;
  EXPECT_GT(blue, 20u) << "no bar pixels in the screenshot " << shot;
  if (const char* keep = std::getenv("MNV2_KEEP_SCREENSHOT")) std::filesystem::copy_file(shot, keep, std::filesystem::copy_options::overwrite_existing);
}

}  // namespace
}  // namespace mnv2

// ---------------------------------------------------------------- hostile clients

namespace mnv2 {
namespace {

using Clock = std::chrono::steady_clock;

double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string body_of(const std::string& raw) {
  const size_t p = raw.find("\r\n\r\n");
  return p == std::string::npos ? "" : raw.substr(p + 4);
}

// An error response must carry {"error": "<non-empty message>"} as JSON.
void expect_json_error(const std::string& body, const std::string& what, const std::string& contains = "") {
  const json j = json::parse(body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << what << ": " << body;
  ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << what << ": " << body;
  EXPECT_FALSE(j["error"].get<std::string>().empty()) << what;
  if (!contains.empty()) EXPECT_NE(j["error"].get<std::string>().find(contains), std::string::npos) << what << ": " << body;
}

test::Bytes photo_jpeg() {
  const std::string d = test::data_dir();
  if (!d.empty() && std::filesystem::exists(d + "/coral/parrot.jpg")) return test::read_file(d + "/coral/parrot.jpg");
  return test::encode_jpeg(test::pattern_image(512, 384, 8));
}

// Acceptance: 4 x --http-threads idle connections and as many trickling ones (one byte a
// second) are open, and /v2/health/live and a real /v1/classify still answer within 1 s.
TEST(ServeSlowClients, IdleAndTricklingConnectionsDoNotStarveRequests) {
  auto so = opts();
  so.http_threads = 64;  // the default
  // Generous deadlines, so the slow connections really stay open while the probes run.
  so.read_timeout_s = so.header_timeout_s = so.idle_timeout_s = 60;
  TestServer ts(small_model(), so);
  // 256 + 256 connections: each group from its own loopback address, so that the default
  // per-client cap (256) holds them and the probes (from 127.0.0.1) are not refused by it.
  const int n = 4 * so.http_threads;
  std::vector<Sock> idle, trickle;
  for (int i = 0; i < n; ++i) idle.emplace_back(ts.port, 5000, "127.0.0.2");
  for (int i = 0; i < n; ++i) trickle.emplace_back(ts.port, 5000, "127.0.0.3");
  for (const auto& s : idle) ASSERT_GE(s.fd, 0);
  for (const auto& s : trickle) ASSERT_GE(s.fd, 0);
  std::atomic<bool> done{false};
  std::thread dripper([&] {
    const std::string head = "GET /v2 HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(4000, 'a');
    for (size_t k = 0; !done; ++k) {
      for (const auto& s : trickle) s.send(head.substr(k % head.size(), 1));
      for (int t = 0; t < 20 && !done; ++t) std::this_thread::sleep_for(50ms);
    }
  });
  const test::Bytes photo = photo_jpeg();
  const std::string body(photo.begin(), photo.end());
  std::this_thread::sleep_for(1500ms);  // every trickler has sent bytes by now
  double worst_live = 0, worst_classify = 0;
  for (int round = 0; round < 3; ++round) {
    httplib::Client c("127.0.0.1", ts.port);  // a new connection each round
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(10, 0);
    auto t0 = Clock::now();
    auto r = c.Get("/v2/health/live");
    worst_live = std::max(worst_live, secs_since(t0));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    t0 = Clock::now();
    r = c.Post("/v1/classify?top=3", body, "image/jpeg");
    worst_classify = std::max(worst_classify, secs_since(t0));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["results"][0]["top"].size(), 3u);
    std::this_thread::sleep_for(300ms);
  }
  // The slow connections were open all along: nobody was dropped to make this pass.
  const std::string m = ts.srv->metrics().render();
  EXPECT_GE(metric(m, "mnv2_open_connections"), 2 * n) << m;
  EXPECT_EQ(metric(m, "mnv2_connections_timed_out_total"), 0) << m;
  EXPECT_EQ(metric(m, "mnv2_connections_evicted_total"), 0) << m;
  done = true;
  dripper.join();
  EXPECT_LT(worst_live, 1.0);
  EXPECT_LT(worst_classify, 1.0);
  std::printf("[ slow clients ] %d idle + %d trickling connections, --http-threads %d: worst /v2/health/live "
              "%.1f ms, worst /v1/classify %.1f ms (%zu-byte JPEG)\n",
              n, n, so.http_threads, worst_live * 1000, worst_classify * 1000, photo.size());
}

TEST(ServeSlowClients, ProbesAnswerWhileEveryWorkerIsBusy) {
  constexpr int res = 128;
  auto so = opts(1, 0);
  so.http_threads = 1;
  Options o;
  o.threads = 1;
  TestServer ts(Model::synthetic(1.0f, res, 1001, 3, o), so);
  const int big = 96;
  const auto big_req = binary_request(test::random_input(size_t(big) * res * res * 3, 2), big, res);
  std::atomic<int> big_status{0};
  std::thread t1([&] {
    auto c = ts.client();
    auto r = c.Post(ts.url_model() + "/infer", {{"Inference-Header-Content-Length", big_req.second}}, big_req.first,
                    "application/octet-stream");
    big_status = r ? r->status : -1;
  });
  auto images = [&] { return metric(ts.srv->metrics().render(), "mnv2_inference_images_total"); };
  const auto until = Clock::now() + 60s;
  while (images() < 1 && Clock::now() < until) std::this_thread::sleep_for(2ms);
  double worst = 0;
  for (const std::string path : {"/v2/health/live", "/v2/health/ready", "/v2/models/mnv2/ready"}) {
    auto c = ts.client();
    const auto t0 = Clock::now();
    auto r = c.Get(path);
    worst = std::max(worst, secs_since(t0));
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
  }
  const bool still_busy = images() < big;
  t1.join();
  EXPECT_EQ(big_status, 200);
  ASSERT_TRUE(still_busy) << "the busy request finished before the probes; test inconclusive";
  EXPECT_LT(worst, 1.0);
  std::printf("[ busy workers ] the only worker busy with a %d-image request: worst probe %.1f ms\n", big,
              worst * 1000);
}

TEST(ServeSlowClients, DeadlinesCloseStalledConnections) {
  auto so = opts();
  so.header_timeout_s = 1;
  so.body_timeout_s = 1;
  so.read_timeout_s = 30;  // the whole-head / whole-body deadlines must act on their own
  so.idle_timeout_s = 1;
  TestServer ts(small_model(), so);
  {  // A head trickled a byte every 100 ms never completes: 408 with a JSON body at ~1 s.
    Sock s(ts.port, 10000);
    const auto t0 = Clock::now();
    std::atomic<bool> stop{false};
    std::thread drip([&] {
      const std::string head = "GET /v2 HTTP/1.1\r\nX-Slow: " + std::string(1000, 'a');
      for (size_t k = 0; k < head.size() && !stop && s.send(head.substr(k, 1)); ++k) std::this_thread::sleep_for(100ms);
    });
    const std::string got = s.recv_all();
    const double took = secs_since(t0);
    stop = true;
    drip.join();
    EXPECT_EQ(status_of(got), 408) << got;
    expect_json_error(body_of(got), "head deadline", "request head");
    EXPECT_GT(took, 0.9);
    EXPECT_LT(took, 3.0);
  }
  {  // A body that stops arriving: 408.
    Sock s(ts.port, 10000);
    const auto t0 = Clock::now();
    s.send("POST /v1/classify HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    const std::string got = s.recv_all();
    EXPECT_EQ(status_of(got), 408) << got;
    expect_json_error(body_of(got), "body deadline", "request body");
    EXPECT_LT(secs_since(t0), 3.0);
  }
  {  // An idle keep-alive connection is closed quietly after the idle timeout.
    Sock s(ts.port, 10000);
    s.send("GET /v2/health/live HTTP/1.1\r\n\r\n");
    char buf[256];
    ASSERT_GT(::recv(s.fd, buf, sizeof buf, 0), 0);
    const auto t0 = Clock::now();
    EXPECT_TRUE(s.closed_by_peer());
    EXPECT_LT(secs_since(t0), 3.0);
  }
  expect_ready(ts);
}

TEST(ServeLimits, ConnectionCapsPerAddressAndInAll) {
  {
    auto so = opts();
    so.max_connections_per_address = 3;
    TestServer ts(small_model(), so);
    std::vector<Sock> held;
    for (int i = 0; i < 3; ++i) held.emplace_back(ts.port);
    std::this_thread::sleep_for(100ms);  // accepted
    Sock extra(ts.port);
    extra.send("GET /v2/health/live HTTP/1.1\r\n\r\n");
    const std::string got = extra.recv_all();
    EXPECT_EQ(status_of(got), 503) << got;
    EXPECT_NE(got.find("Retry-After: 1"), std::string::npos) << got;
    expect_json_error(body_of(got), "per-address cap", "too many connections from 127.0.0.1");
    held.clear();
    std::this_thread::sleep_for(100ms);
    auto c = ts.client();
    auto r = c.Get("/v2/health/live");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  {
    auto so = opts();
    so.max_connections = 3;
    so.max_connections_per_address = 0;
    TestServer ts(small_model(), so);
    std::vector<Sock> idle;
    for (int i = 0; i < 3; ++i) {
      idle.emplace_back(ts.port);
      std::this_thread::sleep_for(20ms);  // so the first is the longest idle
    }
    // Full of idle connections: a new client still gets in, the longest-idle one makes room.
    auto c = ts.client();
    auto r = c.Get("/v2/health/live");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(idle[0].closed_by_peer());
    EXPECT_EQ(metric(ts.srv->metrics().render(), "mnv2_connections_evicted_total"), 1);
    // Full of connections that are each mid-request: nothing to evict, so 503.
    c.stop();
    idle.clear();
    std::this_thread::sleep_for(100ms);
    std::vector<Sock> busy;
    for (int i = 0; i < 3; ++i) {
      busy.emplace_back(ts.port);
      busy.back().send("GET /v2 HTTP/1.1\r\n");
    }
    std::this_thread::sleep_for(100ms);
    Sock extra(ts.port);
    extra.send("GET /v2/health/live HTTP/1.1\r\n\r\n");
    const std::string got = extra.recv_all();
    EXPECT_EQ(status_of(got), 503) << got;
    expect_json_error(body_of(got), "total cap", "too many open connections");
  }
}

TEST(ServeHttp, MalformedFramingIsRefusedWithJsonErrors) {
  auto so = opts();
  so.max_body = 1 << 20;
  TestServer ts(small_model(), so);
  struct Case {
    std::string what, raw;
    int status;
    std::string message;
  };
  const std::string post = "POST /v1/classify HTTP/1.1\r\nHost: x\r\n";
  const std::vector<Case> cases = {
      {"two equal Content-Length", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "more than one Content-Length"},
      {"two different Content-Length", post + "Content-Length: 5\r\nContent-Length: 3\r\n\r\nhello", 400, "more than one Content-Length"},
      {"Content-Length -1", post + "Content-Length: -1\r\n\r\n", 400, "non-negative decimal integer"},
      {"Content-Length list", post + "Content-Length: 5, 5\r\n\r\nhello", 400, "non-negative decimal integer"},
      {"Content-Length hex", post + "Content-Length: 0x10\r\n\r\n", 400, "non-negative decimal integer"},
      {"Content-Length and chunked", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
      {"gzip coding", post + "Transfer-Encoding: gzip\r\n\r\n", 400, "Transfer-Encoding"},
      {"bad chunk size", post + "Transfer-Encoding: chunked\r\n\r\nZZZ\r\n", 400, "chunk size"},
      {"huge Content-Length", post + "Content-Length: 99999999999999999999\r\n\r\n", 413, "too large"},
      {"over --max-body", post + "Content-Length: 2000000\r\n\r\n", 413, "too large"},
      {"bad request line", "GARBAGE\r\n\r\n", 400, "request line"},
      {"HTTP/9.9", "GET / HTTP/9.9\r\n\r\n", 400, "HTTP version"},
      {"header without colon", "GET /v2 HTTP/1.1\r\nBad Header Line\r\n\r\n", 400, "header"},
      {"space before colon", "GET /v2 HTTP/1.1\r\nContent-Length : 0\r\n\r\n", 400, "header name"},
      {"obsolete folding", "GET /v2 HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n", 400, "folding"},
      {"huge header", "GET /v2 HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n", 431, "too large"},
      {"long URI", "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n\r\n", 414, "URI"},
      {"bad escape", "GET /v2%zz HTTP/1.1\r\n\r\n", 400, "percent-escape"},
      {"unknown path", "GET /nope HTTP/1.1\r\n\r\n", 404, "no such endpoint"},
      {"wrong method", "GET /v1/classify HTTP/1.1\r\n\r\n", 405, "not allowed"},
      {"unknown Expect", post + "Expect: magic\r\nContent-Length: 1\r\n\r\nx", 417, "Expect"},
  };
  for (const auto& c : cases) {
    const std::string got = raw_exchange(ts.port, c.raw, true);
    EXPECT_EQ(status_of(got), c.status) << c.what << ": " << got.substr(0, 300);
    EXPECT_NE(got.find("Content-Type: application/json"), std::string::npos) << c.what;
    expect_json_error(body_of(got), c.what, c.message);
  }
  // Handler errors are JSON too: a body that is no image, a bad ?top.
  auto cl = ts.client();
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/classify", "plain text"}, {"/v1/classify?top=0", "x"}, {ts.url_model() + "/infer", "{"}}) {
    auto r = cl.Post(path, body, "application/octet-stream");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << path;
    expect_json_error(r->body, path);
  }
  // Chunked uploads and Expect: 100-continue work.
  const test::Bytes jpg = test::encode_jpeg(test::pattern_image(120, 90, 3));
  const std::string img(jpg.begin(), jpg.end());
  char hex[16];
  std::snprintf(hex, sizeof hex, "%zx", img.size() - 100);
  const std::string chunked = post + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + hex + "\r\n" +
                              img.substr(0, img.size() - 100) + "\r\n64;ext=1\r\n" + img.substr(img.size() - 100) +
                              "\r\n0\r\nX-Trailer: y\r\n\r\n";
  std::string got = raw_exchange(ts.port, chunked, false);
  EXPECT_EQ(status_of(got), 200) << got.substr(0, 400);
  {
    Sock s(ts.port);
    s.send(post + "Expect: 100-continue\r\nConnection: close\r\nContent-Length: " + std::to_string(img.size()) + "\r\n\r\n");
    char buf[64] = {0};
    const ssize_t n = ::recv(s.fd, buf, sizeof buf - 1, 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, size_t(n)), "HTTP/1.1 100 Continue\r\n\r\n");
    s.send(img);
    got = s.recv_all();
    EXPECT_EQ(status_of(got), 200) << got.substr(0, 400);
  }
  // Pipelined requests on one connection are answered in order.
  got = raw_exchange(ts.port, "GET /v2/health/live HTTP/1.1\r\n\r\nGET /v2 HTTP/1.1\r\nConnection: close\r\n\r\n", false);
  EXPECT_EQ(status_of(got), 200);
  EXPECT_NE(got.find("\"extensions\""), std::string::npos) << got;
}

// The coral labels, re-encoded the way a Latin-1 file would be: every second label gets
// the byte 0xE9 ("é" in Latin-1, invalid on its own in UTF-8).
Labels latin1_labels() {
  Labels l;
  for (int i = 0; i < 1001; ++i) l.names.push_back((i % 2 ? "caf\xE9 " : "plain ") + std::to_string(i));
  return l;
}

TEST(ServeHostileInput, NonImagesDamagedJpegsAndInvalidUtf8) {
  TestServer ts(small_model(), opts(), latin1_labels());
  auto c = ts.client();
  // Cause 3: 48 bytes of text (3*4*4) is not a 4x4 image, as a body or a BYTES element.
  const std::string text = "this is a text file, not an image!!!!!!!!!!!!!!!";
  auto r = c.Post("/v1/classify?name=t.jpg", text, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("not a recognised image"), std::string::npos) << r->body;
  std::string head;
  const std::string body = bytes_body({test::Bytes(text.begin(), text.end())}, true, &head);
  r = c.Post(ts.url_model() + "/infer", {{"Inference-Header-Content-Length", std::to_string(head.size())}}, body,
             "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  // ... but a .rgb name of a square image's size is raw RGB, as on the command line.
  const test::Bytes px = test::noise_image(8, 8, 1).pixels;
  r = c.Post("/v1/classify?name=x.rgb", std::string(px.begin(), px.end()), "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // Cause 4: a JPEG whose scan data is missing.
  const test::Bytes j = test::encode_jpeg(test::noise_image(64, 64, 5), 90);
  size_t sos = 0;
  for (size_t i = 2; i + 3 < j.size() && !sos; ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xDA) sos = i;
  std::string cut(j.begin(), j.begin() + long(sos + 2 + ((size_t(j[sos + 2]) << 8) | j[sos + 3]) + 6));
  cut += "\xFF\xD9";
  r = c.Post("/v1/classify", cut, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("corrupt or truncated JPEG"), std::string::npos) << r->body;
  // Cause 5: Latin-1 labels and a file name with byte 0xFF still give valid UTF-8 JSON.
  const test::Bytes png = test::encode_png_rgb(test::pattern_image(90, 70, 2));
  httplib::MultipartFormDataItems items = {{"file", std::string(png.begin(), png.end()), "photo\xFF.png", "image/png"}};
  r = c.Post("/v1/classify?top=5", items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json cj = json::parse(r->body, nullptr, false);  // nlohmann refuses ill-formed UTF-8
  ASSERT_FALSE(cj.is_discarded()) << r->body;
  EXPECT_EQ(cj["results"][0]["file"], "photo\xEF\xBF\xBD.png");
  bool replaced = false;
  for (const auto& t : cj["results"][0]["top"]) replaced = replaced || t["label"].get<std::string>().find("\xEF\xBF\xBD") != std::string::npos;
  EXPECT_TRUE(replaced) << r->body;
  json req = json::parse(infer_json(test::random_input(kRes * kRes * 3, 4), 1));
  req["outputs"] = json::array({{{"name", ts.spec.info.output_name}, {"parameters", {{"classification", 10}}}}});
  r = c.Post(ts.url_model() + "/infer", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json kj = json::parse(r->body, nullptr, false);
  ASSERT_FALSE(kj.is_discarded()) << r->body;
  EXPECT_NE(kj["outputs"][0]["data"].dump().find("caf\xEF\xBF\xBD"), std::string::npos) << r->body;
}

test::Bytes grey_png(int w, int h) {
  return test::encode_png(w, h, PNG_COLOR_TYPE_GRAY, 8, test::Bytes(size_t(w) * size_t(h), 128));
}

TEST(ServeMemory, BudgetAnswers503WhenSpentAnd413WhenNeverEnough) {
  auto so = opts();
  so.memory_budget = 8u << 20;
  TestServer ts(small_model(), so);
  auto c = ts.client();
  // 2000 x 2000 RGB (12 MB decoded, plus a working copy) can never fit 8 MiB: 413.
  const test::Bytes big = grey_png(2000, 2000);
  auto r = c.Post("/v1/classify?name=big.png", std::string(big.begin(), big.end()), "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("--decode-memory"), std::string::npos) << r->body;
  // 600 x 600 fits (2.2 MB) ...
  const test::Bytes mid = grey_png(600, 600);
  const std::string mid_body(mid.begin(), mid.end());
  r = c.Post("/v1/classify?name=mid.png", mid_body, "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  {
    // ... unless a client holds most of the budget with a body it is still sending: 503.
    Sock hog(ts.port);
    hog.send("POST /v1/classify HTTP/1.1\r\nContent-Length: 7000000\r\n\r\n" + std::string(6500000, 'x'));
    const auto until = Clock::now() + 10s;
    while (ts.srv->memory_budget().in_use() < 6500000 && Clock::now() < until) std::this_thread::sleep_for(5ms);
    ASSERT_GE(ts.srv->memory_budget().in_use(), 6500000u);
    r = c.Post("/v1/classify?name=mid.png", mid_body, "image/png");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    expect_json_error(r->body, "budget spent", "in use by other requests");
    std::string head;
    const std::string kb = bytes_body({mid}, true, &head);
    r = c.Post(ts.url_model() + "/infer", {{"Inference-Header-Content-Length", std::to_string(head.size())}}, kb,
               "application/octet-stream");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
  }
  // The hog is gone: its share came back.
  const auto until = Clock::now() + 10s;
  while (ts.srv->memory_budget().in_use() > 0 && Clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(ts.srv->memory_budget().in_use(), 0u);
  r = c.Post("/v1/classify?name=mid.png", mid_body, "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_LE(ts.srv->memory_budget().peak(), so.memory_budget);
}

// KServe JSON is charged by the values it can hold, not a flat worst case per byte: typical
// float text several times the budget/24 is served, a dense "0,0,..." array that would
// really need more than the budget gets 413.
TEST(ServeMemory, KserveJsonIsChargedByItsValues) {
  auto so = opts();
  so.memory_budget = 8u << 20;
  TestServer ts(small_model(), so);
  auto c = ts.client();
  const int n = 4;
  const std::vector<float> x = test::random_input(size_t(n) * kRes * kRes * 3, 11);
  const std::string body = infer_json(x, n);
  ASSERT_GT(body.size() * 24, so.memory_budget) << "not above what a flat 24 bytes per byte allows";
  auto r = c.Post(ts.url_model() + "/infer", body, "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  const json j = json::parse(r->body);
  Model ref = small_model();
  const std::vector<float> want = direct_probs(ref, x, n);
  ASSERT_EQ(j["outputs"][0]["data"].size(), want.size());
  for (size_t i = 0; i < want.size(); i += 97) EXPECT_NEAR(j["outputs"][0]["data"][i].get<float>(), want[i], 1e-6f);
  EXPECT_LE(ts.srv->memory_budget().peak(), so.memory_budget);
  const int dense_rows = 32;
  r = c.Post(ts.url_model() + "/infer", infer_json(std::vector<float>(size_t(dense_rows) * kRes * kRes * 3, 0.f), dense_rows),
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body.substr(0, 300);
  expect_json_error(r->body, "dense JSON", "--decode-memory");
  EXPECT_EQ(ts.srv->memory_budget().in_use(), 0u);
}

// Acceptance: 32 concurrent decompression bombs (small files declaring >= 36 M pixels)
// against `mnv2 serve` with its defaults: each is 4xx or 503, the server's peak RSS stays
// under 400 MB, and normal requests keep working.
TEST(ServeMemory, DecompressionBombsAreRefusedWithBoundedRss) {
  CliServer cs({"--synthetic", "0.35", "96", "--threads", "1", "--quiet", "--name", "mnv2"});
  ASSERT_GT(cs.port, 0) << cs.log_text();
  // The bombs: a valid grey PNG of 6000 x 6000 (36 M pixels, under the 40 M limit), a
  // JPEG header declaring 6000 x 6000 with a few bytes of scan, a progressive JPEG of
  // 6000 x 6000 cut after its first (DC) scan, and a PNG declaring 8000 x 8000.
  const test::Bytes png = grey_png(6000, 6000);
  test::Bytes jpg = test::encode_jpeg(test::pattern_image(64, 64, 1), 80);
  size_t sos = 0;
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) jpg[i + 5] = 0x17, jpg[i + 6] = 0x70, jpg[i + 7] = 0x17, jpg[i + 8] = 0x70;
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xDA && !sos) sos = i;
  }
  ASSERT_GT(sos, 0u);
  jpg.resize(sos + 2 + ((size_t(jpg[sos + 2]) << 8) | jpg[sos + 3]) + 16);
  jpg.push_back(0xFF), jpg.push_back(0xD9);
  image::Image flat;
  flat.width = flat.height = 6000;
  flat.pixels.assign(size_t(6000) * 6000 * 3, 100);
  test::Bytes prog = test::encode_jpeg(flat, 50, false, true);
  flat.pixels = {};
  size_t second_scan = 0, scans = 0;
  for (size_t i = 2; i + 1 < prog.size() && !second_scan; ++i)
    if (prog[i] == 0xFF && prog[i + 1] == 0xDA && ++scans == 2) second_scan = i;
  ASSERT_GT(second_scan, 0u);
  prog.resize(second_scan);
  prog.push_back(0xFF), prog.push_back(0xD9);
  test::Bytes huge = test::encode_png_rgb(test::pattern_image(8, 8));
  for (int k = 0; k < 2; ++k)
    for (int b = 0; b < 4; ++b) huge[size_t(16 + 4 * k + b)] = uint8_t(8000u >> (24 - 8 * b));
  const uint32_t crc = uint32_t(crc32(0, huge.data() + 12, 17));
  for (int b = 0; b < 4; ++b) huge[size_t(29 + b)] = uint8_t(crc >> (24 - 8 * b));
  const std::vector<std::pair<std::string, const test::Bytes*>> bombs = {
      {"png", &png}, {"jpeg", &jpg}, {"progressive", &prog}, {"declared", &huge}};
  std::printf("[ bombs ] sizes: png %zu B, jpeg %zu B, progressive jpeg %zu B, declared-8000x8000 png %zu B\n",
              png.size(), jpg.size(), prog.size(), huge.size());
  const double rss_before = cs.peak_rss_mib();

  const int n = 32;
  std::vector<int> status(n, 0);
  std::vector<std::string> bodies(n);
  std::atomic<int> normal_ok{0}, normal_sent{0};
  std::atomic<bool> done{false};
  const test::Bytes photo = photo_jpeg();
  std::thread normal([&] {  // normal requests while the bombs land
    while (!done) {
      httplib::Client c("127.0.0.1", cs.port);
      c.set_read_timeout(30, 0);
      auto r = c.Post("/v1/classify", std::string(photo.begin(), photo.end()), "image/jpeg");
      ++normal_sent;
      if (r && r->status == 200) ++normal_ok;
      std::this_thread::sleep_for(20ms);
    }
  });
  std::vector<std::thread> th;
  for (int i = 0; i < n; ++i)
    th.emplace_back([&, i] {
      const auto& [kind, bytes] = bombs[size_t(i) % bombs.size()];
      httplib::Client c("127.0.0.1", cs.port);
      c.set_read_timeout(60, 0);
      const std::string b(bytes->begin(), bytes->end());
      std::string head;
      const std::string kb = bytes_body({*bytes}, true, &head);
      auto r = i % 3 == 2  // every third as a KServe BYTES input
                   ? c.Post("/v2/models/mnv2/infer",
                            {{"Inference-Header-Content-Length", std::to_string(head.size())}}, kb,
                            "application/octet-stream")
                   : c.Post("/v1/classify?name=" + kind, b, "application/octet-stream");
      status[size_t(i)] = r ? r->status : -1;
      bodies[size_t(i)] = r ? r->body : "";
    });
  for (auto& t : th) t.join();
  while (normal_sent < 3) std::this_thread::sleep_for(10ms);
  done = true;
  normal.join();
  const double peak = cs.peak_rss_mib();
  std::map<int, int> by_status;
  for (int i = 0; i < n; ++i) {
    ++by_status[status[size_t(i)]];
    EXPECT_TRUE((status[size_t(i)] >= 400 && status[size_t(i)] < 500) || status[size_t(i)] == 503)
        << bombs[size_t(i) % bombs.size()].first << " -> " << status[size_t(i)] << " " << bodies[size_t(i)];
    expect_json_error(bodies[size_t(i)], bombs[size_t(i) % bombs.size()].first);
  }
  // The 8000 x 8000 PNG is refused by the default pixel limit, which is 40 M (as --help says).
  for (int i = 3; i < n; i += 4)
    if (i % 3 != 2) EXPECT_NE(bodies[size_t(i)].find("limit of 40000000"), std::string::npos) << bodies[size_t(i)];
  httplib::Client c("127.0.0.1", cs.port);
  auto r = c.Post("/v1/classify", std::string(photo.begin(), photo.end()), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_GT(normal_sent.load(), 0);
  EXPECT_EQ(normal_ok.load(), normal_sent.load()) << "normal requests failed during the bombs";
  ASSERT_GT(peak, 0);
  EXPECT_LT(peak, 400.0);
  std::string statuses;
  for (const auto& [st, k] : by_status) statuses += " " + std::to_string(k) + "x" + std::to_string(st);
  std::printf("[ bombs ] %d concurrent:%s; %d/%d normal requests 200 meanwhile; server peak RSS (VmHWM) %.1f MiB "
              "(%.1f MiB before)\n",
              n, statuses.c_str(), normal_ok.load(), normal_sent.load(), peak, rss_before);
}


struct Answer {
  int status = -1;  // -1: no answer
  std::string body, retry_after;
};

// `n` concurrent POSTs of `body` to `path`, each on its own connection.
std::vector<Answer> concurrent_posts(int port, int n, const std::string& path, const test::Bytes& body,
                                     const std::string& type) {
  std::vector<Answer> out(static_cast<size_t>(n));
  std::vector<std::thread> th;
  for (int i = 0; i < n; ++i)
    th.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(120, 0);
      auto r = c.Post(path, std::string(body.begin(), body.end()), type);
      if (r) out[size_t(i)] = Answer{r->status, r->body.substr(0, 300), r->get_header_value("Retry-After")};
    });
  for (auto& t : th) t.join();
  return out;
}

// Large legitimate uploads at once: the budget lets as many decode as fit and answers the
// rest 503 + Retry-After, so the resident set stays bounded by it.
TEST(ServeMemory, ConcurrentLargeImagesShareTheBudget) {
  CliServer cs({"--synthetic", "0.35", "96", "--threads", "1", "--quiet", "--name", "mnv2"});
  ASSERT_GT(cs.port, 0) << cs.log_text();
  const test::Bytes png = test::encode_png_rgb(test::pattern_image(4000, 3000, 5));  // 12 MP: 72 MB to decode
  const int n = 16;
  const std::vector<Answer> got = concurrent_posts(cs.port, n, "/v1/classify?name=big.png", png, "image/png");
  int ok = 0, busy = 0;
  for (const Answer& a : got) {
    ok += a.status == 200;
    busy += a.status == 503;
    EXPECT_TRUE(a.status == 200 || a.status == 503) << a.status << " " << a.body;
    if (a.status == 503) EXPECT_EQ(a.retry_after, "1");
  }
  EXPECT_GE(ok, 1);
  httplib::Client c("127.0.0.1", cs.port);
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  const double peak_budget = metric(r->body, "mnv2_request_memory_peak_bytes");
  EXPECT_LE(peak_budget, metric(r->body, "mnv2_request_memory_limit_bytes"));
  EXPECT_EQ(metric(r->body, "mnv2_request_memory_bytes"), 0);  // all given back
  const double peak = cs.peak_rss_mib();
  EXPECT_LT(peak, 400.0);
  std::printf("[ large uploads ] %d concurrent 4000x3000 PNGs (%zu B): %d x 200, %d x 503; request memory peak "
              "%.1f MiB of %.0f MiB; server peak RSS (VmHWM) %.1f MiB\n",
              n, png.size(), ok, busy, peak_budget / 1048576.0,
              metric(r->body, "mnv2_request_memory_limit_bytes") / 1048576.0, peak);
}

// A huge but valid JPEG costs what preprocessing needs, not what its header declares:
// libjpeg-turbo's DCT scaling decodes a 6000 x 6000 photo at 1/8 (750 x 750) for a 96
// model, so 16 of them at once all fit the default budget (at full size each would need
// 216 MB of request memory, more than all of it: 413).
TEST(ServeMemory, HugeJpegsDecodeSmallAtTheirDctScale) {
  CliServer cs({"--synthetic", "0.35", "96", "--threads", "1", "--quiet", "--name", "mnv2"});
  ASSERT_GT(cs.port, 0) << cs.log_text();
  const test::Bytes jpg = test::encode_jpeg(test::pattern_image(6000, 6000, 4), 60);
  const int n = 16;
  for (const Answer& a : concurrent_posts(cs.port, n, "/v1/classify?name=huge.jpg", jpg, "image/jpeg"))
    EXPECT_EQ(a.status, 200) << a.body;
  httplib::Client c("127.0.0.1", cs.port);
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  const double peak_budget = metric(r->body, "mnv2_request_memory_peak_bytes");
  // Per request at most: its body, the 750 x 750 decode and one working copy, the tensor.
  const double per = double(jpg.size()) + 2.0 * 750 * 750 * 3 + 96.0 * 96 * 3 * 4;
  EXPECT_GT(peak_budget, 0);
  EXPECT_LE(peak_budget, n * per);
  const double peak = cs.peak_rss_mib();
  EXPECT_LT(peak, 400.0);
  std::printf("[ huge jpegs ] %d concurrent 6000x6000 JPEGs (%zu B): all 200; request memory peak %.1f MiB "
              "(full-size decodes would need %.0f MiB each); server peak RSS (VmHWM) %.1f MiB\n",
              n, jpg.size(), peak_budget / 1048576.0, 2.0 * 6000 * 6000 * 3 / 1048576.0, peak);
}
}  // namespace
}  // namespace mnv2
