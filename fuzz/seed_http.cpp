// Writes a few well-formed HTTP requests (as `mnv2 serve` receives them) as the HTTP fuzzer's seeds.
#include <string>

#include "seed_io.h"

using seed::write;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string dir = argv[1];
  write(dir + "/get.http", "GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n");
  write(dir + "/query.http",
        "GET /v1/classify?top=5&labels=a%20b+c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  write(dir + "/post.http",
        "POST /v2/models/mobilenet-v2/infer HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 17\r\nExpect: 100-continue\r\n\r\n{\"inputs\": [1,2]}");
  write(dir + "/chunked.http",
        "POST /v1/classify HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cat.ppm\"\r\n"
      "Content-Type: image/x-portable-pixmap\r\n\r\nP6\n1 1\n255\nabc\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"top\"\r\n\r\n3\r\n--XyZ--\r\n";
  write(dir + "/multipart.http",
        "POST http://localhost/v1/classify HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  return 0;
}
