#include "server/http_wire.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "util/classify_json.h"

namespace mnv2::server::http {

// ------------------------------------------------------------------ Request / Response

const std::string* Request::header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return &v;
  return nullptr;
}

bool Request::has_param(const std::string& name) const {
  for (const auto& [k, v] : params)
    if (k == name) return true;
  return false;
}

std::string Request::param(const std::string& name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return "";
}

void Response::set_error(int code, const std::string& message) {
  status = code;
  content_type = "application/json";
  body = "{\"error\":\"" + json_escape_text(utf8_sanitize(message)) + "\"}";
}

const char* reason_phrase(int s) {
  switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return s < 400 ? "OK" : s < 500 ? "Bad Request" : "Server Error";
  }
}

using namespace wire;

namespace {

bool is_tchar(unsigned char c) {
  return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// %XX decoding (and '+' as space in query components). False on a malformed escape or NUL.
bool percent_decode(const std::string& in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
      if (h < 0 || l < 0 || (h == 0 && l == 0)) return false;
      out->push_back(char(h * 16 + l));
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out->push_back(' ');
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

constexpr size_t kMaxRequestLine = 8192;
constexpr size_t kMaxHeaders = 100;

}  // namespace

namespace wire {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return s.substr(a, b - a);
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t find_head_end(const std::string& in, size_t from) {
  for (size_t i = in.find('\n', from); i != std::string::npos; i = in.find('\n', i + 1)) {
    if (i + 1 < in.size() && in[i + 1] == '\n') return i + 2;
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return i + 3;
  }
  return std::string::npos;
}

std::optional<Fail> parse_head(const std::string& head, size_t max_body, Request* r, Framing* f) {
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < head.size();) {
    size_t nl = head.find('\n', pos);
    if (nl == std::string::npos) nl = head.size();
    std::string line = head.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find('\r') != std::string::npos) return Fail{400, "malformed HTTP request: a bare CR in the head"};
    if (!line.empty()) lines.push_back(std::move(line));
    pos = nl + 1;
  }
  if (lines.empty()) return Fail{400, "malformed HTTP request: no request line"};
  const std::string& rl = lines[0];
  if (rl.size() > kMaxRequestLine) return Fail{414, "request URI too long"};
  const size_t s1 = rl.find(' ');
  const size_t s2 = s1 == std::string::npos ? s1 : rl.find(' ', s1 + 1);
  if (s1 == std::string::npos || s2 == std::string::npos || rl.find(' ', s2 + 1) != std::string::npos)
    return Fail{400, "malformed HTTP request line"};
  r->method = rl.substr(0, s1);
  r->target = rl.substr(s1 + 1, s2 - s1 - 1);
  const std::string version = rl.substr(s2 + 1);
  if (r->method.empty() || r->method.size() > 32 ||
      !std::all_of(r->method.begin(), r->method.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
    return Fail{400, "malformed HTTP request line: bad method"};
  if (version == "HTTP/1.1") r->minor_version = 1;
  else if (version == "HTTP/1.0") r->minor_version = 0;
  else return Fail{400, "unsupported HTTP version '" + version.substr(0, 32) + "' (HTTP/1.0 and HTTP/1.1 only)"};
  for (unsigned char c : r->target)
    if (c <= 0x20 || c == 0x7f) return Fail{400, "malformed request target"};
  std::string origin = r->target;
  for (const char* scheme : {"http://", "https://"}) {  // absolute-form (proxies)
    const size_t n = std::strlen(scheme);
    if (lower(origin.substr(0, n)) == scheme) {
      const size_t slash = origin.find('/', n);
      origin = slash == std::string::npos ? "/" : origin.substr(slash);
      break;
    }
  }
  if (origin.empty() || origin[0] != '/') return Fail{400, "malformed request target (expected a path starting with '/')"};
  const size_t q = origin.find('?');
  const std::string raw_path = origin.substr(0, q);
  r->query = q == std::string::npos ? "" : origin.substr(q + 1);
  if (!percent_decode(raw_path, false, &r->path)) return Fail{400, "malformed percent-escape in the request path"};
  if (!r->query.empty()) {
    size_t pos = 0;
    while (pos <= r->query.size()) {
      size_t amp = r->query.find('&', pos);
      if (amp == std::string::npos) amp = r->query.size();
      const std::string kv = r->query.substr(pos, amp - pos);
      if (!kv.empty()) {
        const size_t eq = kv.find('=');
        std::string k, v;
        if (!percent_decode(kv.substr(0, eq), true, &k) ||
            (eq != std::string::npos && !percent_decode(kv.substr(eq + 1), true, &v)))
          return Fail{400, "malformed percent-escape in the query string"};
        r->params.emplace_back(std::move(k), std::move(v));
      }
      pos = amp + 1;
    }
  }

  if (lines.size() - 1 > kMaxHeaders) return Fail{431, "too many header fields (at most " + std::to_string(kMaxHeaders) + ")"};
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l[0] == ' ' || l[0] == '\t') return Fail{400, "malformed header: obsolete line folding"};
    const size_t colon = l.find(':');
    if (colon == std::string::npos || colon == 0) return Fail{400, "malformed header line"};
    for (size_t k = 0; k < colon; ++k)
      if (!is_tchar(static_cast<unsigned char>(l[k]))) return Fail{400, "malformed header name"};
    r->headers.emplace_back(lower(l.substr(0, colon)), trim(l.substr(colon + 1)));
  }

  f->keep_alive = r->minor_version >= 1;
  int lengths = 0, encodings = 0;
  std::string te;
  for (const auto& [k, v] : r->headers) {
    if (k == "content-length") {
      // A second Content-Length (even an equal one) is refused: a proxy in front may have
      // framed the request by the other one (request smuggling).
      if (++lengths > 1) return Fail{400, "more than one Content-Length header"};
      if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return Fail{400, "Content-Length must be a non-negative decimal integer, got '" + v.substr(0, 32) + "'"};
      if (v.size() > 18) return Fail{413, "request body too large (Content-Length " + v.substr(0, 32) + ")"};
      f->has_length = true;
      f->length = std::stoull(v);
    } else if (k == "transfer-encoding") {
      ++encodings;
      te = lower(v);
    } else if (k == "connection") {
      const std::string c = lower(v);
      if (c.find("close") != std::string::npos) f->keep_alive = false;
      else if (c.find("keep-alive") != std::string::npos) f->keep_alive = true;
    } else if (k == "expect") {
      if (lower(v) == "100-continue") f->expect_continue = true;
      else return Fail{417, "unsupported Expect header '" + v.substr(0, 32) + "'"};
    }
  }
  if (encodings) {
    if (f->has_length) return Fail{400, "both Content-Length and Transfer-Encoding given"};
    if (encodings > 1 || te != "chunked" || r->minor_version == 0)
      return Fail{400, "unsupported Transfer-Encoding '" + te.substr(0, 32) + "' (only chunked, with HTTP/1.1)"};
    f->chunked = true;
  }
  if (f->has_length && f->length > max_body)
    return Fail{413, "request body too large (" + std::to_string(f->length) + " bytes; at most " +
                         std::to_string(max_body) + ")"};
  return std::nullopt;
}

std::string serialize(const Response& res, bool head_only, bool keep_alive) {
  std::string s = "HTTP/1.1 " + std::to_string(res.status) + " " + reason_phrase(res.status) + "\r\n";
  if (!res.content_type.empty()) s += "Content-Type: " + res.content_type + "\r\n";
  s += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  for (const auto& [k, v] : res.headers) s += k + ": " + v + "\r\n";
  s += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (!head_only) s += res.body;
  return s;
}

}  // namespace wire

// ------------------------------------------------------------------ multipart

bool is_multipart(const Request& req) {
  const std::string* ct = req.header("content-type");
  return ct && lower(ct->substr(0, 19)) == "multipart/form-data";
}

namespace {

// The value of parameter `name` in a header value such as `form-data; name="a"; filename=b`.
std::optional<std::string> header_param(const std::string& value, const std::string& name) {
  size_t pos = value.find(';');
  while (pos != std::string::npos) {
    ++pos;
    while (pos < value.size() && (value[pos] == ' ' || value[pos] == '\t')) ++pos;
    const size_t eq = value.find('=', pos);
    if (eq == std::string::npos) return std::nullopt;
    const std::string key = lower(trim(value.substr(pos, eq - pos)));
    size_t v = eq + 1;
    std::string val;
    if (v < value.size() && value[v] == '"') {
      ++v;
      while (v < value.size() && value[v] != '"') {
        if (value[v] == '\\' && v + 1 < value.size()) ++v;
        val += value[v++];
      }
      pos = value.find(';', v);
    } else {
      const size_t semi = value.find(';', v);
      val = trim(value.substr(v, semi == std::string::npos ? std::string::npos : semi - v));
      pos = semi;
    }
    if (key == name) return val;
  }
  return std::nullopt;
}

}  // namespace

bool parse_multipart(const Request& req, std::vector<Part>* parts, std::string* error, size_t max_parts) {
  const std::string* ct = req.header("content-type");
  const auto boundary = ct ? header_param(*ct, "boundary") : std::nullopt;
  if (!boundary || boundary->empty() || boundary->size() > 200) {
    *error = "multipart/form-data without a valid boundary";
    return false;
  }
  const std::string& b = req.body;
  const std::string delim = "--" + *boundary;
  size_t pos = b.find(delim);
  if (pos == std::string::npos) {
    *error = "multipart body without its boundary";
    return false;
  }
  for (;;) {
    pos += delim.size();
    if (b.compare(pos, 2, "--") == 0) return true;  // the closing delimiter
    if (b.compare(pos, 2, "\r\n") == 0) pos += 2;
    else if (b.compare(pos, 1, "\n") == 0) pos += 1;
    else {
      *error = "malformed multipart body: boundary not followed by a line end";
      return false;
    }
    size_t head_end = b.find("\r\n\r\n", pos);
    size_t skip = 4;
    const size_t lf = b.find("\n\n", pos);
    if (lf != std::string::npos && (head_end == std::string::npos || lf < head_end)) head_end = lf, skip = 2;
    if (head_end == std::string::npos) {
      *error = "malformed multipart body: part headers not terminated";
      return false;
    }
    Part part;
    for (size_t lp = pos; lp < head_end;) {
      size_t nl = b.find('\n', lp);
      if (nl == std::string::npos || nl > head_end) nl = head_end;
      std::string line = b.substr(lp, nl - lp);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        const std::string key = lower(trim(line.substr(0, colon)));
        const std::string val = trim(line.substr(colon + 1));
        if (key == "content-disposition") {
          part.name = header_param(val, "name").value_or("");
          part.filename = header_param(val, "filename").value_or("");
        } else if (key == "content-type") {
          part.content_type = val;
        }
      }
      lp = nl + 1;
    }
    const size_t data = head_end + skip;
    const size_t next = b.find("\r\n" + delim, data);
    const size_t next_lf = b.find("\n" + delim, data);
    size_t end, after;
    if (next != std::string::npos && (next_lf == std::string::npos || next <= next_lf)) end = next, after = next + 2;
    else if (next_lf != std::string::npos) end = next_lf, after = next_lf + 1;
    else {
      *error = "malformed multipart body: a part is not closed by the boundary";
      return false;
    }
    part.content = std::string_view(b).substr(data, end - data);
    parts->push_back(std::move(part));
    if (parts->size() > max_parts) {
      *error = "too many multipart parts (at most " + std::to_string(max_parts) + ")";
      return false;
    }
    pos = after;
  }
}
}  // namespace mnv2::server::http
