#include "fetch/fetch.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "mnv2/mnv2.h"
#include "fetch/cache.h"
#include "fetch/digest.h"

namespace mnv2 {
namespace fs = std::filesystem;

namespace {

constexpr const char* kModelName = "mobilenet-v2-1.4-224";
constexpr const char* kArchiveName = "mobilenet_v2_1.4_224.tgz";
constexpr const char* kTflite = "mobilenet_v2_1.4_224.tflite";
constexpr const char* kFrozenPb = "mobilenet_v2_1.4_224_frozen.pb";

// ---- small file helpers ----------------------------------------------------------------

std::string errno_text() { return std::strerror(errno); }

void make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create folder " + dir + ": " + ec.message());
}

bool is_regular_nonempty(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

// Size of a regular file, or -1 when it does not exist.
int64_t file_size_or_missing(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return -1;
  if (!S_ISREG(st.st_mode)) throw Error(path + " exists but is not a regular file");
  return int64_t(st.st_size);
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw Error("cannot delete " + path + ": " + errno_text());
}

void remove_tree_quietly(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);  // never follows symlinks
}

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void rename_or_throw(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw Error("cannot rename " + from + " to " + to + ": " + errno_text());
}

std::string make_temp_dir(const std::string& parent, const std::string& prefix) {
  std::string templ = parent + "/" + prefix + "XXXXXX";
  if (!::mkdtemp(templ.data())) throw Error("cannot create a temporary folder in " + parent +
                                            ": " + errno_text());
  return templ;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string with_commas(uint64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

// ---- test-only environment overrides ----------------------------------------------------

std::string env_or(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::vector<std::string> split_urls(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string u = s.substr(start, end - start);
    while (!u.empty() && std::isspace((unsigned char)u.back())) u.pop_back();
    size_t lead = 0;
    while (lead < u.size() && std::isspace((unsigned char)u[lead])) ++lead;
    u = u.substr(lead);
    if (!u.empty()) out.push_back(u);
    start = end + 1;
  }
  return out;
}

uint64_t env_size(const char* name, uint64_t fallback) {
  const std::string v = env_or(name);
  if (v.empty()) return fallback;
  if (v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw Error(std::string(name) + " must be a byte count, got '" + v + "'");
  return std::stoull(v);
}

std::string env_hex(const char* name, const std::string& fallback, size_t hex_len) {
  std::string v = env_or(name);
  if (v.empty()) return fallback;
  for (char& c : v) c = char(std::tolower((unsigned char)c));
  if (v.size() != hex_len ||
      !std::all_of(v.begin(), v.end(), [](char c) { return std::isxdigit((unsigned char)c); }))
    throw Error(std::string(name) + " must be " + std::to_string(hex_len) +
                " hex digits, got '" + v + "'");
  return v;
}

// ---- progress ----------------------------------------------------------------------------

class Progress {
 public:
  Progress(bool quiet, std::string label, uint64_t total)
      : enabled_(!quiet), tty_(::isatty(2) == 1), label_(std::move(label)), total_(total) {}

  void start(uint64_t already) {
    start_bytes_ = already;
    start_ = last_ = Clock::now();
    printed_ = false;
  }
  void update(uint64_t have, bool final_update = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double since_last = std::chrono::duration<double>(now - last_).count();
    if (!final_update && since_last < (tty_ ? 0.1 : 5.0)) return;
    if (final_update && !tty_ && !printed_) return;  // a fast download needs no log line
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? double(have - std::min(have, start_bytes_)) / elapsed : 0;
    char eta[32] = "--:--";
    if (have >= total_) {
      std::snprintf(eta, sizeof eta, "0:00");
    } else if (rate > 0) {
      const uint64_t s = uint64_t(double(total_ - have) / rate);
      std::snprintf(eta, sizeof eta, "%llu:%02llu", (unsigned long long)(s / 60),
                    (unsigned long long)(s % 60));
    }
    const double pct = total_ ? 100.0 * double(have) / double(total_) : 0;
    std::fprintf(stderr, "%s%s  %s / %s  %5.1f%%  %s/s  ETA %s%s", tty_ ? "\r" : "",
                 label_.c_str(), human_bytes(double(have)).c_str(),
                 human_bytes(double(total_)).c_str(), pct, human_bytes(rate).c_str(), eta,
                 tty_ ? "   " : "\n");
    printed_ = true;
  }
  void finish(uint64_t have) {
    update(have, true);
    if (enabled_ && tty_ && printed_) std::fputc('\n', stderr);
    printed_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, tty_;
  std::string label_;
  uint64_t total_;
  uint64_t start_bytes_ = 0;
  Clock::time_point start_, last_;
  bool printed_ = false;
};

void note(bool quiet, const std::string& msg) {
  if (!quiet) std::fprintf(stderr, "%s\n", msg.c_str());
}

// ---- one HTTP transfer -------------------------------------------------------------------

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("libcurl failed to start");
  });
}

struct Transfer {
  CURL* curl = nullptr;
  int fd = -1;
  uint64_t offset = 0;      // bytes in the partial file before this response's body
  uint64_t received = 0;    // body bytes written by this transfer
  uint64_t expected = 0;
  bool checked = false;     // first body bytes seen and the response validated
  bool restarted = false;   // server ignored Range: the partial was truncated
  bool discard_part = false;  // the partial is known bad and must be deleted
  std::string abort_reason;
  std::string content_range;
  Progress* progress = nullptr;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) t->content_range.clear();  // a new response (redirects)
  std::string lower = line.substr(0, std::min<size_t>(line.size(), 14));
  for (char& c : lower) c = char(std::tolower((unsigned char)c));
  if (lower == "content-range:") {
    std::string v = line.substr(14);
    while (!v.empty() && std::isspace((unsigned char)v.back())) v.pop_back();
    size_t i = 0;
    while (i < v.size() && std::isspace((unsigned char)v[i])) ++i;
    t->content_range = v.substr(i);
  }
  return size * n;
}

// Checks the response before its first body byte is stored. Returns false to abort.
bool validate_response(Transfer* t) {
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (t->offset > 0) {
    if (code == 200) {
      // The server ignored the Range request: start over cleanly.
      if (::ftruncate(t->fd, 0) != 0) {
        t->abort_reason = "cannot truncate the partial file: " + errno_text();
        return false;
      }
      t->offset = 0;
      t->restarted = true;
    } else if (code == 206) {
      unsigned long long first = 0, last = 0, total = 0;
      char star = 0;
      const bool parsed =
          std::sscanf(t->content_range.c_str(), "bytes %llu-%llu/%llu", &first, &last, &total) ==
              3 ||
          (std::sscanf(t->content_range.c_str(), "bytes %llu-%llu/%c", &first, &last, &star) == 3 &&
           star == '*');
      if (!parsed || first != t->offset) {
        t->abort_reason = "server answered the resume request with an unexpected range '" +
                          t->content_range + "'";
        t->discard_part = true;
        return false;
      }
      if (total && total != t->expected) {
        t->abort_reason = "size mismatch: expected " + std::to_string(t->expected) +
                          " bytes, the server has " + std::to_string(total);
        t->discard_part = true;
        return false;
      }
    } else {
      t->abort_reason = "unexpected HTTP status " + std::to_string(code);
      return false;
    }
  } else if (code != 200) {
    t->abort_reason = "unexpected HTTP status " + std::to_string(code);
    return false;
  }
  curl_off_t len = -1;
  curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
  if (len >= 0 && t->offset + uint64_t(len) != t->expected) {
    t->abort_reason = "size mismatch: expected " + std::to_string(t->expected) +
                      " bytes, the server sends " + std::to_string(t->offset + uint64_t(len));
    t->discard_part = true;
    return false;
  }
  return true;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!t->checked) {
    if (!validate_response(t)) return 0;
    t->checked = true;
  }
  if (t->offset + t->received + bytes > t->expected) {
    t->abort_reason = "size mismatch: the server sent more than the expected " +
                      std::to_string(t->expected) + " bytes";
    t->discard_part = true;
    return 0;
  }
  size_t done = 0;
  while (done < bytes) {
    const ssize_t w = ::write(t->fd, data + done, bytes - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      t->abort_reason = "cannot write the partial file: " + errno_text();
      return 0;
    }
    done += size_t(w);
  }
  t->received += bytes;
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->progress && t->checked) t->progress->update(t->offset + t->received);
  return 0;
}

enum class Outcome { Complete, Failed, Retry };

// One GET of `url` appending to `part` (resuming from its current size). On Failed,
// `error` says why and `*discard` whether the partial must go.
struct AttemptInfo {
  std::string error;
  bool discard = false;      // the partial must be deleted
  uint64_t started_at = 0;   // bytes of the partial this transfer appended to
  uint64_t received = 0;
  bool network = false;      // failed at the network level (no answer from the server)
};

// Failures that mean the server could not be reached or the connection broke, as opposed
// to an answer that was wrong (HTTP 404, a size or checksum mismatch).
bool is_network_error(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

Outcome transfer_once(const std::string& url, const std::string& part, uint64_t expected,
                      Progress& progress, bool quiet, AttemptInfo* info) {
  *info = AttemptInfo{};
  std::string* error = &info->error;
  bool* discard = &info->discard;
  const int64_t have = file_size_or_missing(part);
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw Error("cannot open " + part + " for writing: " + errno_text());
  Transfer t;
  t.fd = fd;
  t.offset = uint64_t(std::max<int64_t>(have, 0));
  t.expected = expected;
  t.progress = &progress;
  CURL* c = curl_easy_init();
  if (!c) {
    ::close(fd);
    throw Error("libcurl could not create a transfer");
  }
  t.curl = c;
  char errbuf[CURL_ERROR_SIZE] = {0};
  const std::string range = std::to_string(t.offset) + "-";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_USERAGENT, "mnv2-fetch/0.1");
  if (t.offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

  if (t.offset > 0)
    note(quiet, "resuming from byte " + with_commas(t.offset) + " of " + with_commas(expected));
  progress.start(t.offset);
  const CURLcode res = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  const bool close_ok = ::close(fd) == 0;
  progress.finish(t.offset + t.received);
  info->started_at = t.offset;
  info->received = t.received;
  if (t.restarted) note(quiet, "the server ignored the resume request; downloaded from the start");

  if (res == CURLE_OK) {
    if (!close_ok) {
      *error = "cannot write " + part + ": " + errno_text();
      return Outcome::Failed;
    }
    const uint64_t total = t.offset + t.received;
    if (total == expected) return Outcome::Complete;
    *error = "the transfer ended after " + std::to_string(total) + " of " +
             std::to_string(expected) + " bytes";
    if (total > expected) *discard = true;
    return Outcome::Failed;
  }
  if (res == CURLE_HTTP_RETURNED_ERROR && code == 416 && t.offset > 0) {
    // The server cannot serve the range we asked for: our partial does not match its file.
    note(quiet, "the server refused to resume (HTTP 416); starting over");
    *discard = true;
    return Outcome::Retry;
  }
  if (!t.abort_reason.empty()) {
    *error = t.abort_reason;
  } else {
    info->network = is_network_error(res);
    *error = curl_easy_strerror(res);
    if (errbuf[0] && std::string(errbuf) != *error) *error += " (" + std::string(errbuf) + ")";
  }
  *discard = t.discard_part;
  return Outcome::Failed;
}

// ---- archive members ---------------------------------------------------------------------

// Splits a member name into components, dropping "." and empty ones. Throws on names that
// could escape the destination.
std::vector<std::string> safe_components(const std::string& archive, const std::string& name) {
  if (name.empty()) throw Error(archive + ": refusing an archive member with an empty name");
  if (name[0] == '/')
    throw Error(archive + ": refusing the archive: member '" + name + "' has an absolute path");
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    const std::string p = name.substr(start, end - start);
    if (p == "..")
      throw Error(archive + ": refusing the archive: member '" + name +
                  "' has a '..' path component");
    if (!p.empty() && p != ".") parts.push_back(p);
    start = end + 1;
  }
  return parts;
}

struct ArchiveReader {
  archive* a = archive_read_new();
  ~ArchiveReader() { archive_read_free(a); }
};

}  // namespace

// ---- public: download --------------------------------------------------------------------

DownloadResult download_verified(const DownloadSpec& spec, const std::string& part,
                                 const std::string& dest, bool quiet) {
  if (spec.urls.empty()) throw Error("no URL to download the " + spec.what + " from");
  curl_init_once();
  make_dirs(fs::path(part).parent_path().string());
  DownloadResult result;
  std::vector<std::string> failures;
  bool network_failure = false;
  bool retried_fresh = false;
  Progress progress(quiet, "  " + spec.what, spec.size);

  for (size_t u = 0; u < spec.urls.size(); ++u) {
    const std::string& url = spec.urls[u];
    int64_t have = file_size_or_missing(part);
    if (have > int64_t(spec.size)) {  // cannot be a prefix of the right file
      remove_file(part);
      have = -1;
    }
    const uint64_t had = uint64_t(std::max<int64_t>(have, 0));
    if (have != int64_t(spec.size)) {
      note(quiet, "downloading " + spec.what + " (" + with_commas(spec.size) + " bytes) from " +
                      url);
      AttemptInfo info;
      Outcome out = transfer_once(url, part, spec.size, progress, quiet, &info);
      if (out == Outcome::Retry) {
        remove_file(part);
        out = transfer_once(url, part, spec.size, progress, quiet, &info);
        if (out == Outcome::Retry) {
          out = Outcome::Failed;
          info.error = "the server refused the download (HTTP 416)";
          info.discard = true;
        }
      }
      const int64_t now = file_size_or_missing(part);
      if (out == Outcome::Failed) {
        if (info.discard || now == 0) remove_file(part);
        std::string line = url + ": " + info.error;
        if (!info.discard && now > 0)
          line += " (kept " + with_commas(uint64_t(now)) +
                  " bytes; running mnv2 fetch again resumes from there)";
        failures.push_back(line);
        network_failure = network_failure || info.network;
        continue;
      }
      result.downloaded = info.received;
      result.resumed_from = info.started_at;
    } else {
      result.downloaded = 0;
      result.resumed_from = had;
      note(quiet, "found a complete partial download of the " + spec.what + "; verifying it");
    }
    note(quiet, "verifying the " + std::string(digest_name(spec.hash)) + " of the " + spec.what);
    const std::string got = digest_file_hex(spec.hash, part);
    if (got != spec.hex) {
      remove_file(part);
      failures.push_back(url + ": " + digest_name(spec.hash) + " mismatch: expected " + spec.hex +
                         ", got " + got + " (the download was deleted)");
      if (result.resumed_from > 0 && !retried_fresh) {
        // Part of the file came from an earlier run; it may be what is wrong, so fetch
        // this URL once more from scratch.
        note(quiet, "the resumed download did not verify; downloading it again from the start");
        retried_fresh = true;
        --u;
      }
      continue;
    }
    rename_or_throw(part, dest);
    sync_dir(fs::path(dest).parent_path().string());
    result.url = url;
    return result;
  }
  std::string msg = "could not download the " + spec.what + ":";
  for (const auto& f : failures) msg += "\n  " + f;
  msg += network_failure ? spec.network_hint : spec.answer_hint;
  throw Error(msg);
}

// ---- public: unpack ----------------------------------------------------------------------

std::vector<std::string> unpack_archive_members(const std::string& archive_path,
                                                const std::string& dest_dir,
                                                const std::vector<std::string>& members,
                                                const UnpackLimits& limits) {
  ArchiveReader r;
  archive* a = r.a;
  if (!a) throw Error("libarchive could not start");
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw Error("cannot open archive " + archive_path + ": " + archive_error_string(a));

  std::vector<std::string> written;
  auto fail = [&](const std::string& msg) -> Error {
    for (const auto& w : written) ::unlink((dest_dir + "/" + w).c_str());
    return Error(msg);
  };
  try {
    uint64_t entries = 0, total = 0;
    std::vector<char> buf(1 << 16);
    archive_entry* e = nullptr;
    for (;;) {
      const int rc = archive_read_next_header(a, &e);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN)
        throw Error("cannot unpack " + archive_path + ": " + archive_error_string(a));
      if (++entries > limits.max_entries)
        throw Error(archive_path + ": refusing the archive: more than " +
                    std::to_string(limits.max_entries) + " members");
      const char* raw = archive_entry_pathname(e);
      const std::string name = raw ? raw : "";
      const std::vector<std::string> parts = safe_components(archive_path, name);
      if (archive_entry_hardlink(e))
        throw Error(archive_path + ": refusing the archive: member '" + name +
                    "' is a hard link");
      const auto type = archive_entry_filetype(e);
      if (type == AE_IFLNK || archive_entry_symlink(e))
        throw Error(archive_path + ": refusing the archive: member '" + name +
                    "' is a symbolic link");
      if (type == AE_IFDIR) continue;
      if (type != AE_IFREG)
        throw Error(archive_path + ": refusing the archive: member '" + name +
                    "' is not a regular file");
      const int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
      if (size < 0) throw Error(archive_path + ": member '" + name + "' has a negative size");
      total += uint64_t(size);
      if (total > limits.max_total_bytes)
        throw Error(archive_path + ": refusing the archive: it unpacks to more than " +
                    human_bytes(double(limits.max_total_bytes)));
      if (parts.empty() || parts.size() > 2 ||
          std::find(members.begin(), members.end(), parts.back()) == members.end()) {
        continue;  // not a member we keep; libarchive skips its data on the next header
      }
      const std::string& base = parts.back();
      if (std::find(written.begin(), written.end(), base) != written.end())
        throw Error(archive_path + ": refusing the archive: member '" + base +
                    "' appears twice");
      const std::string out_path = dest_dir + "/" + base;
      const int fd = ::open(out_path.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0) throw Error("cannot create " + out_path + ": " + errno_text());
      written.push_back(base);
      uint64_t got = 0;
      std::string werr;
      for (;;) {
        const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
        if (n == 0) break;
        if (n < 0) {
          werr = "cannot unpack member '" + name + "' of " + archive_path + ": " +
                 archive_error_string(a);
          break;
        }
        got += uint64_t(n);
        if (got > uint64_t(size)) {
          werr = archive_path + ": member '" + name + "' is longer than its header says";
          break;
        }
        size_t done = 0;
        while (done < size_t(n)) {
          const ssize_t w = ::write(fd, buf.data() + done, size_t(n) - done);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) {
            werr = "cannot write " + out_path + ": " + errno_text();
            break;
          }
          done += size_t(w);
        }
        if (!werr.empty()) break;
      }
      if (werr.empty() && got != uint64_t(size))
        werr = archive_path + ": member '" + name + "' is truncated (" + std::to_string(got) +
               " of " + std::to_string(size) + " bytes)";
      if (werr.empty() && ::fsync(fd) != 0) werr = "cannot write " + out_path + ": " + errno_text();
      if (::close(fd) != 0 && werr.empty()) werr = "cannot write " + out_path + ": " + errno_text();
      if (!werr.empty()) throw Error(werr);
    }
  } catch (const Error& err) {
    throw fail(err.what());
  }
  return written;
}

// ---- public: sources ---------------------------------------------------------------------

ModelSource official_model_source() {
  return {{"https://storage.googleapis.com/mobilenet_v2/checkpoints/mobilenet_v2_1.4_224.tgz",
           "https://storage.openvinotoolkit.org/repositories/open_model_zoo/public/2022.1/"
           "mobilenet-v2-1.4-224/mobilenet_v2_1.4_224.tgz"},
          135977516ull,
          "fd257f73e8ee5280328903afa6bbd646dcf4e8ae7c090e3424cf05d973c0940fe02ee220a3a5a20ea51cb9caacbf4961",
          {kFrozenPb, kTflite, "mobilenet_v2_1.4_224_info.txt", "mobilenet_v2_1.4_224_eval.pbtxt"}};
}

LabelsSource official_labels_source() {
  return {"https://raw.githubusercontent.com/google-coral/test_data/"
          "104342d2d3480b3e66203073dac24f4e2dbb4c41/imagenet_labels.txt",
          21686ull, "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1"};
}

std::vector<std::string> fetchable_models() { return {kModelName}; }

// ---- public: fetch -----------------------------------------------------------------------

namespace {

std::string model_file_in(const std::string& dir) {
  for (const char* f : {kTflite, kFrozenPb})
    if (is_regular_nonempty(dir + "/" + f)) return dir + "/" + f;
  return "";
}

std::vector<std::string> list_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

const char* kOfflineHint =
    "\n`mnv2 fetch` needs network access to download the model. Without network, copy the "
    "model file (.tflite, .pb, .xml or .onnx) to this machine and pass --model PATH instead.";
const char* kWrongAnswerHint =
    "\nThe server answered, but not with the expected file (the download source may have "
    "changed). Copy a model file (.tflite, .pb, .xml or .onnx) to this machine and pass "
    "--model PATH instead.";

class CacheLock {
 public:
  CacheLock(const std::string& path, bool quiet) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) throw Error("cannot open the cache lock " + path + ": " + errno_text());
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      note(quiet, "waiting for another mnv2 fetch using " + path + " to finish");
      while (::flock(fd_, LOCK_EX) != 0) {
        if (errno != EINTR) throw Error("cannot lock " + path + ": " + errno_text());
      }
    }
  }
  ~CacheLock() { ::close(fd_); }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

bool labels_ok(const std::string& path, const DownloadSpec& spec) {
  const int64_t size = [&] {
    try {
      return file_size_or_missing(path);
    } catch (const Error&) {
      return int64_t(-1);
    }
  }();
  return size == int64_t(spec.size) && digest_file_hex(spec.hash, path) == spec.hex;
}

}  // namespace

FetchResult fetch_model(const FetchOptions& opts) {
  if (opts.model != kModelName)
    throw Error("unknown model '" + opts.model + "' (mnv2 fetch knows: " + kModelName + ")");
  const ModelSource src = official_model_source();
  DownloadSpec archive_spec;
  archive_spec.urls = src.urls;
  if (const std::string u = env_or("MNV2_FETCH_URL"); !u.empty()) {
    archive_spec.urls = split_urls(u);
    if (archive_spec.urls.empty()) throw Error("MNV2_FETCH_URL holds no URL");
  }
  archive_spec.size = env_size("MNV2_FETCH_SIZE", src.size);
  archive_spec.hash = DigestAlgorithm::Sha384;
  archive_spec.hex = env_hex("MNV2_FETCH_SHA384", src.sha384, 96);
  archive_spec.what = "model archive";
  archive_spec.network_hint = kOfflineHint;
  archive_spec.answer_hint = kWrongAnswerHint;

  const LabelsSource lsrc = official_labels_source();
  DownloadSpec labels_spec;
  labels_spec.urls = {lsrc.url};
  if (const std::string u = env_or("MNV2_LABELS_URL"); !u.empty()) {
    labels_spec.urls = split_urls(u);
    if (labels_spec.urls.empty()) throw Error("MNV2_LABELS_URL holds no URL");
  }
  labels_spec.size = env_size("MNV2_LABELS_SIZE", lsrc.size);
  labels_spec.hash = DigestAlgorithm::Sha256;
  labels_spec.hex = env_hex("MNV2_LABELS_SHA256", lsrc.sha256, 64);
  labels_spec.what = "ImageNet labels";
  labels_spec.network_hint =
      "\n`mnv2 fetch` needs network access to download the ImageNet label file.";

  const std::string cache = cache_dir();
  const std::string tmp = cache + "/tmp";
  make_dirs(tmp);
  CacheLock lock(tmp + "/.lock", opts.quiet);

  // Leftovers of an interrupted unpack are never used; the .part files are kept to resume.
  {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(tmp, ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("unpack-", 0) == 0 || n.rfind("old-", 0) == 0) remove_tree_quietly(e.path());
    }
  }

  FetchResult res;
  res.model_dir = cached_model_dir(opts.model);
  res.model_path = opts.force ? "" : model_file_in(res.model_dir);
  if (res.model_path.empty()) {
    const std::string part = tmp + "/" + kArchiveName + ".part";
    const std::string archive = tmp + "/" + kArchiveName;
    if (opts.force) remove_file(part);
    remove_file(archive);  // only ever a verified file briefly between download and unpack
    res.archive = download_verified(archive_spec, part, archive, opts.quiet);
    res.model_downloaded = true;
    note(opts.quiet, "unpacking into " + res.model_dir);
    const std::string stage = make_temp_dir(tmp, "unpack-");
    try {
      const auto files = unpack_archive_members(archive, stage, src.members);
      if (std::find(files.begin(), files.end(), kTflite) == files.end() &&
          std::find(files.begin(), files.end(), kFrozenPb) == files.end())
        throw Error("archive has no model (neither " + std::string(kTflite) + " nor " +
                    kFrozenPb + ")");
      sync_dir(stage);
      // The final folder appears in one rename, so it is either absent or complete.
      std::string old;
      if (fs::exists(fs::symlink_status(res.model_dir))) {
        old = make_temp_dir(tmp, "old-");
        ::rmdir(old.c_str());
        rename_or_throw(res.model_dir, old);
      }
      rename_or_throw(stage, res.model_dir);
      sync_dir(cache);
      if (!old.empty()) remove_tree_quietly(old);
    } catch (const Error& e) {
      remove_tree_quietly(stage);
      remove_file(archive);
      throw Error("model archive from " + res.archive.url + ": " + e.what());
    }
    remove_file(archive);
    res.model_path = model_file_in(res.model_dir);
  }
  res.files = list_files(res.model_dir);

  if (opts.labels) {
    res.labels_path = cached_labels_path();
    if (opts.force || !labels_ok(res.labels_path, labels_spec)) {
      download_verified(labels_spec, tmp + "/imagenet_labels.txt.part", res.labels_path,
                        opts.quiet);
      res.labels_downloaded = true;
    }
  }
  return res;
}

std::string default_model_path(bool allow_download, bool quiet) {
  const std::string dir = cached_model_dir(kModelName);
  if (std::string p = model_file_in(dir); !p.empty()) return p;
  if (!allow_download)
    throw Error("no model given and none in the cache (" + dir +
                "): run `mnv2 fetch` once (needs network access) to download " + kModelName +
                ", or pass --model PATH");
  FetchOptions o;
  o.quiet = quiet;
  return fetch_model(o).model_path;
}

std::string fetch_sample_image(bool quiet) {
  DownloadSpec spec;
  spec.urls = {"https://raw.githubusercontent.com/google-coral/test_data/"
               "104342d2d3480b3e66203073dac24f4e2dbb4c41/grace_hopper.bmp"};
  if (const std::string u = env_or("MNV2_SAMPLE_URL"); !u.empty()) {
    spec.urls = split_urls(u);
    if (spec.urls.empty()) throw Error("MNV2_SAMPLE_URL holds no URL");
  }
  spec.size = env_size("MNV2_SAMPLE_SIZE", 921738ull);
  spec.hash = DigestAlgorithm::Sha256;
  spec.hex = env_hex("MNV2_SAMPLE_SHA256",
                     "c43444bf3b1b1e3080551ca194bd231da4b67f20fc91454502915a6b806b614f", 64);
  spec.what = "sample photo";
  spec.network_hint = "\n`mnv2 fetch --sample` needs network access to download the photo.";
  const std::string cache = cache_dir();
  make_dirs(cache + "/tmp");
  make_dirs(cache + "/samples");
  CacheLock lock(cache + "/tmp/.lock", quiet);
  const std::string dest = cache + "/samples/grace_hopper.bmp";
  if (!labels_ok(dest, spec)) download_verified(spec, cache + "/tmp/grace_hopper.bmp.part", dest, quiet);
  return dest;
}

}  // namespace mnv2
