#include "server/http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "mnv2/mnv2.h"
#include "server/http_wire.h"

namespace mnv2::server::http {

using clock = std::chrono::steady_clock;

// ------------------------------------------------------------------ the event loop

using namespace wire;

namespace {

std::string address_of(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf);
  return buf;
}

constexpr uint64_t kListenId = 0, kWakeId = 1;
constexpr auto kLinger = std::chrono::milliseconds(2000);

}  // namespace

// ------------------------------------------------------------------ the server

struct Server::Impl {
  enum class State { Head, Body, Busy, Write, Drain };
  enum class Chunk { Size, Data, DataEnd, Trailer };

  struct Conn {
    uint64_t id = 0;
    int fd = -1;
    std::string addr;
    State state = State::Head;
    uint32_t events = 0;  // registered epoll interest
    bool dead = false;
    std::string in;
    size_t scan_from = 0;
    Request req;
    Framing framing;
    Chunk chunk = Chunk::Size;
    uint64_t chunk_left = 0;
    size_t trailer_bytes = 0;
    bool started = false;  // a byte of the current request has arrived
    clock::time_point t_start, t_body, t_last_read, t_activity, t_write, t_drain;
    std::string out;
    size_t out_off = 0;
    bool close_after = false;
    bool keep_alive = true;  // of the request being served
    int requests = 0;
  };

  struct Task {
    uint64_t id;
    Request req;
    clock::time_point t0;
    bool keep_alive;
  };
  struct Done {
    uint64_t id;
    std::string wire;
    bool close;
  };

  Limits lim;
  Handlers h;
  MemoryBudget* budget;
  int listen_fd = -1, ep = -1, wake_fd = -1;
  bool listening_paused = false;
  clock::time_point resume_accept_at;
  std::unordered_map<uint64_t, Conn> conns;
  size_t dead_count = 0;  // closed entries in `conns` not yet erased
  std::unordered_map<std::string, int> per_addr;
  uint64_t next_id = 2;
  std::atomic<bool> stop_requested{false};
  bool stopping = false;

  std::mutex qm;
  std::condition_variable qcv;
  std::deque<Task> tasks;
  bool workers_exit = false;
  std::vector<std::thread> workers;
  std::mutex dm;
  std::vector<Done> done;

  std::atomic<size_t> open{0};
  std::atomic<uint64_t> accepted{0}, refused_total{0}, refused_addr{0}, evicted{0}, timed_out{0};

  Impl(Limits l, Handlers hs, MemoryBudget* b) : lim(std::move(l)), h(std::move(hs)), budget(b) {}

  ~Impl() {
    for (auto& [id, c] : conns)
      if (c.fd >= 0) ::close(c.fd);
    if (listen_fd >= 0) ::close(listen_fd);
    if (ep >= 0) ::close(ep);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
  }

  void set_events(Conn& c, uint32_t ev) {
    if (c.events == ev || c.dead) return;
    epoll_event e{};
    e.events = ev;
    e.data.u64 = c.id;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e);
    c.events = ev;
  }

  void update_interest(Conn& c) {
    uint32_t ev = 0;
    switch (c.state) {
      case State::Head:
      case State::Body:
      case State::Drain: ev = EPOLLIN | EPOLLRDHUP; break;
      case State::Write: ev = EPOLLOUT; break;
      case State::Busy: ev = 0; break;
    }
    if (c.out_off < c.out.size() && c.state != State::Write) ev |= EPOLLOUT;  // 100 Continue pending
    set_events(c, ev);
  }

  void close_conn(Conn& c) {
    if (c.dead) return;
    c.dead = true;
    ++dead_count;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
    if (auto it = per_addr.find(c.addr); it != per_addr.end() && --it->second <= 0) per_addr.erase(it);
  }

  void erase_dead() {
    if (dead_count == 0) return;
    for (auto it = conns.begin(); it != conns.end();) it = it->second.dead ? conns.erase(it) : std::next(it);
    dead_count = 0;
    open.store(conns.size(), std::memory_order_relaxed);
  }

  double seconds_since(clock::time_point t) const { return std::chrono::duration<double>(clock::now() - t).count(); }

  // A response the loop answers itself (errors, inline endpoints).
  void respond(Conn& c, Response& res, bool log) {
    const bool keep = c.keep_alive && !res.close && !stopping && c.requests < lim.max_requests_per_connection;
    if (log && h.on_response) h.on_response(c.req, res, c.started ? seconds_since(c.t_start) : 0.0);
    c.out.erase(0, c.out_off);
    c.out_off = 0;
    c.out += serialize(res, c.req.method == "HEAD", keep);
    c.close_after = !keep;
    c.state = State::Write;
    c.t_write = clock::now();
  }

  void fail(Conn& c, int status, const std::string& message, bool retry_after = false) {
    Response res;
    res.set_error(status, message);
    res.close = true;  // the rest of the stream cannot be trusted to be in sync
    if (retry_after) res.set_header("Retry-After", "1");
    respond(c, res, true);
  }

  void dispatch(Conn& c) {
    c.req.remote_addr = c.addr;
    if (h.is_inline && h.is_inline(c.req)) {
      Response res;
      try {
        h.handle(c.req, res);
      } catch (const std::exception& e) {
        res = Response{};
        res.set_error(500, std::string("internal error: ") + e.what());
      }
      respond(c, res, true);
      return;
    }
    const bool keep = c.keep_alive && !stopping && c.requests < lim.max_requests_per_connection;
    {
      std::lock_guard<std::mutex> lk(qm);
      tasks.push_back(Task{c.id, std::move(c.req), c.t_start, keep});
    }
    qcv.notify_one();
    c.req = Request{};
    c.state = State::Busy;
  }

  // A Content-Length body was reserved whole (pages untouched until written) and is charged
  // as its bytes arrive; a chunked body grows by doubling, so its capacity is charged.
  bool append_body(Conn& c, const char* p, size_t n) {
    std::string& b = c.req.body;
    size_t charge = n, cap = 0;
    if (c.framing.chunked) {
      charge = 0;
      if (b.size() + n > b.capacity()) {
        cap = std::max(b.size() + n, std::min(lim.max_body, 2 * b.capacity()));
        charge = cap - std::min(cap, c.req.body_hold.held());
      }
    }
    if (charge && !c.req.body_hold.grow(charge)) {
      fail(c, 503, "the server's request memory (--decode-memory) is in use by other requests; retry shortly", true);
      return false;
    }
    if (cap) b.reserve(cap);
    b.append(p, n);
    return true;
  }

  // Head: returns false when more bytes are needed.
  bool step_head(Conn& c) {
    if (!c.started) {
      // Blank lines before a request line are ignored (RFC 9112 2.2).
      size_t skip = 0;
      while (skip < c.in.size() && (c.in[skip] == '\r' || c.in[skip] == '\n')) ++skip;
      c.in.erase(0, skip);
      if (c.in.empty()) return false;
      c.started = true;
      c.t_start = clock::now();
    }
    const size_t end = find_head_end(c.in, c.scan_from);
    if (end == std::string::npos) {
      if (c.in.size() > lim.max_head) {
        const bool line_done = c.in.find('\n') != std::string::npos;
        fail(c, line_done ? 431 : 414, line_done ? "request header fields too large" : "request URI too long");
        return true;
      }
      c.scan_from = c.in.size() >= 2 ? c.in.size() - 2 : 0;
      return false;
    }
    if (end > lim.max_head + 4) {
      fail(c, 431, "request header fields too large");
      return true;
    }
    const std::string head = c.in.substr(0, end);
    c.in.erase(0, end);
    c.scan_from = 0;
    c.req = Request{};
    c.req.body_hold = BudgetHold(budget);
    c.req.remote_addr = c.addr;
    c.framing = Framing{};
    ++c.requests;
    if (auto err = parse_head(head, lim.max_body, &c.req, &c.framing)) {
      c.keep_alive = false;
      fail(c, err->status, err->message);
      return true;
    }
    c.keep_alive = c.framing.keep_alive;
    const bool has_body = c.framing.chunked || (c.framing.has_length && c.framing.length > 0);
    if (h.on_head) {
      Response res;
      if (h.on_head(c.req, res)) {
        if (has_body) res.close = true;  // the body is not read: the stream cannot continue
        respond(c, res, true);
        return true;
      }
    }
    if (!has_body) {
      dispatch(c);
      return true;
    }
    if (c.framing.expect_continue) c.out += "HTTP/1.1 100 Continue\r\n\r\n";
    if (c.framing.has_length) c.req.body.reserve(size_t(c.framing.length));  // virtual until written
    c.chunk = Chunk::Size;
    c.trailer_bytes = 0;
    c.state = State::Body;
    c.t_body = clock::now();
    return true;
  }

  // Body: returns false when more bytes are needed.
  bool step_body(Conn& c) {
    if (!c.framing.chunked) {
      const size_t want = size_t(c.framing.length) - c.req.body.size();
      const size_t n = std::min(want, c.in.size());
      if (n && !append_body(c, c.in.data(), n)) return true;
      c.in.erase(0, n);
      if (c.req.body.size() < c.framing.length) return false;
      dispatch(c);
      return true;
    }
    for (;;) {
      switch (c.chunk) {
        case Chunk::Size: {
          const size_t nl = c.in.find('\n');
          if (nl == std::string::npos) {
            if (c.in.size() > 1024) {
              fail(c, 400, "malformed chunked body: chunk-size line too long");
              return true;
            }
            return false;
          }
          std::string line = c.in.substr(0, nl);
          c.in.erase(0, nl + 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          const size_t semi = line.find(';');
          const std::string hex = trim(line.substr(0, semi));
          uint64_t size = 0;
          if (hex.empty() || hex.size() > 15 ||
              !std::all_of(hex.begin(), hex.end(), [](char ch) { return hexval(ch) >= 0; })) {
            fail(c, 400, "malformed chunked body: bad chunk size");
            return true;
          }
          for (char ch : hex) size = size * 16 + uint64_t(hexval(ch));
          if (size == 0) {
            c.chunk = Chunk::Trailer;
            break;
          }
          if (size > lim.max_body - std::min(lim.max_body, c.req.body.size())) {
            fail(c, 413, "request body too large (at most " + std::to_string(lim.max_body) + " bytes)");
            return true;
          }
          c.chunk_left = size;
          c.chunk = Chunk::Data;
          break;
        }
        case Chunk::Data: {
          const size_t n = size_t(std::min<uint64_t>(c.chunk_left, c.in.size()));
          if (n == 0) return false;
          if (!append_body(c, c.in.data(), n)) return true;
          c.in.erase(0, n);
          c.chunk_left -= n;
          if (c.chunk_left == 0) c.chunk = Chunk::DataEnd;
          break;
        }
        case Chunk::DataEnd: {
          if (c.in.empty() || (c.in[0] == '\r' && c.in.size() < 2)) return false;
          if (c.in.compare(0, 2, "\r\n") == 0) c.in.erase(0, 2);
          else if (c.in[0] == '\n') c.in.erase(0, 1);
          else {
            fail(c, 400, "malformed chunked body: chunk data not followed by CRLF");
            return true;
          }
          c.chunk = Chunk::Size;
          break;
        }
        case Chunk::Trailer: {
          const size_t nl = c.in.find('\n');
          if (nl == std::string::npos) {
            if (c.in.size() > 8192) {
              fail(c, 431, "chunked trailer too large");
              return true;
            }
            return false;
          }
          const bool empty = nl == 0 || (nl == 1 && c.in[0] == '\r');
          c.trailer_bytes += nl + 1;
          c.in.erase(0, nl + 1);
          if (c.trailer_bytes > 8192) {
            fail(c, 431, "chunked trailer too large");
            return true;
          }
          if (empty) {
            dispatch(c);
            return true;
          }
          break;
        }
      }
    }
  }

  // Writes what is pending; true when everything is written.
  bool flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += size_t(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return false;
      } else {
        close_conn(c);
        return false;
      }
    }
    c.out.clear();
    c.out_off = 0;
    return true;
  }

  void finish_response(Conn& c) {
    if (c.close_after) {
      // Half-close and read what the client still sends for a moment, so that closing
      // with unread bytes does not reset the connection before it has read the answer.
      ::shutdown(c.fd, SHUT_WR);
      c.state = State::Drain;
      c.t_drain = clock::now();
      c.in.clear();
      return;
    }
    c.state = State::Head;
    c.req = Request{};
    c.started = false;
    c.scan_from = 0;
    // The read gap of a pipelined request already buffered counts from now, not from
    // when its bytes arrived (possibly long ago, while the previous one was served).
    c.t_activity = c.t_last_read = clock::now();
  }

  // Advances the connection as far as the bytes at hand allow.
  void drive(Conn& c) {
    for (int guard = 0; guard < 100000 && !c.dead; ++guard) {
      bool progressed = false;
      switch (c.state) {
        case State::Head: progressed = step_head(c); break;
        case State::Body: progressed = step_body(c); break;
        case State::Write:
          if (flush(c)) {
            finish_response(c);
            progressed = c.state == State::Head;
          }
          break;
        case State::Busy:
        case State::Drain: break;
      }
      if (!progressed) break;
    }
    if (c.dead) return;
    if (c.out_off < c.out.size() && c.state != State::Write) flush(c);  // 100 Continue
    if (!c.dead) update_interest(c);
  }

  void on_readable(Conn& c) {
    char buf[65536];
    for (int i = 0; i < 16 && !c.dead; ++i) {
      if (c.state != State::Head && c.state != State::Body && c.state != State::Drain) return;
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.t_last_read = clock::now();
        if (c.state == State::Drain) continue;
        c.in.append(buf, size_t(n));
        drive(c);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // End of stream or error: a request cut short gets no answer (nobody is reading).
      close_conn(c);
      return;
    }
  }

  void refuse(int fd, const std::string& message) {
    Response res;
    res.set_error(503, message);
    res.set_header("Retry-After", "1");
    const std::string wire = serialize(res, false, false);
    [[maybe_unused]] ssize_t n = ::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
  }

  bool evict_idle() {
    Conn* oldest = nullptr;
    for (auto& [id, c] : conns)
      if (!c.dead && c.state == State::Head && !c.started && c.in.empty() &&
          (!oldest || c.t_activity < oldest->t_activity))
        oldest = &c;
    if (!oldest) return false;
    close_conn(*oldest);
    evicted.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  size_t live_connections() const { return conns.size() - dead_count; }

  void on_accept() {
    for (int i = 0; i < 256; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop polling the listener for a moment instead of spinning.
          ::epoll_ctl(ep, EPOLL_CTL_DEL, listen_fd, nullptr);
          listening_paused = true;
          resume_accept_at = clock::now() + std::chrono::milliseconds(100);
        }
        return;
      }
      accepted.fetch_add(1, std::memory_order_relaxed);
      const std::string addr = address_of(ss);
      if (lim.max_per_address > 0) {
        auto it = per_addr.find(addr);
        if (it != per_addr.end() && it->second >= lim.max_per_address) {
          refused_addr.fetch_add(1, std::memory_order_relaxed);
          refuse(fd, "too many connections from " + addr + " (at most " + std::to_string(lim.max_per_address) + ")");
          continue;
        }
      }
      if (live_connections() >= size_t(lim.max_connections) && !evict_idle()) {
        refused_total.fetch_add(1, std::memory_order_relaxed);
        refuse(fd, "too many open connections (at most " + std::to_string(lim.max_connections) + ")");
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Conn c;
      c.id = next_id++;
      c.fd = fd;
      c.addr = addr;
      c.t_activity = c.t_last_read = clock::now();
      epoll_event e{};
      e.events = EPOLLIN | EPOLLRDHUP;
      e.data.u64 = c.id;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        ::close(fd);
        continue;
      }
      c.events = e.events;
      ++per_addr[addr];
      conns.emplace(c.id, std::move(c));
      open.store(live_connections(), std::memory_order_relaxed);
    }
  }

  void take_completions() {
    std::vector<Done> ds;
    {
      std::lock_guard<std::mutex> lk(dm);
      ds.swap(done);
    }
    for (Done& d : ds) {
      auto it = conns.find(d.id);
      if (it == conns.end() || it->second.dead) continue;  // the client went away
      Conn& c = it->second;
      c.out.erase(0, c.out_off);
      c.out_off = 0;
      c.out += d.wire;
      c.close_after = d.close || stopping;
      c.state = State::Write;
      c.t_write = clock::now();
      drive(c);
    }
  }

  // A request being read: 408 once its whole-part deadline or the read gap passes.
  void read_deadline(Conn& c, clock::time_point now, clock::time_point since, std::chrono::milliseconds limit,
                     const char* what) {
    const bool whole = now - since > limit;
    if (!whole && now - c.t_last_read <= lim.read_timeout) return;
    timed_out.fetch_add(1, std::memory_order_relaxed);
    c.keep_alive = false;
    fail(c, 408, whole ? std::string(what) + " not complete within " + std::to_string(limit.count()) + " ms"
                       : "no request data for " + std::to_string(lim.read_timeout.count()) + " ms");
    drive(c);
  }

  void check_deadlines() {
    const auto now = clock::now();
    for (auto& [id, c] : conns) {
      if (c.dead) continue;
      switch (c.state) {
        case State::Head:
          if (!c.started) {
            if (now - c.t_activity > lim.idle_timeout) close_conn(c);  // idle keep-alive: closed quietly
          } else {
            read_deadline(c, now, c.t_start, lim.head_timeout, "request head");
          }
          break;
        case State::Body: read_deadline(c, now, c.t_body, lim.body_timeout, "request body"); break;
        case State::Write:
          if (now - c.t_write > lim.write_timeout) {
            timed_out.fetch_add(1, std::memory_order_relaxed);
            close_conn(c);
          }
          break;
        case State::Drain:
          if (now - c.t_drain > kLinger) close_conn(c);
          break;
        case State::Busy: break;
      }
    }
  }

  void begin_stop() {
    stopping = true;
    if (listen_fd >= 0) {
      ::epoll_ctl(ep, EPOLL_CTL_DEL, listen_fd, nullptr);
      ::close(listen_fd);
      listen_fd = -1;
    }
    // Connections without a request in progress close now; requests being served finish.
    for (auto& [id, c] : conns)
      if (!c.dead && c.state != State::Busy && c.state != State::Write) close_conn(c);
  }

  bool in_flight() const {
    for (const auto& [id, c] : conns)
      if (!c.dead && (c.state == State::Busy || c.state == State::Write)) return true;
    return false;
  }

  void worker_loop() {
    for (;;) {
      Task t;
      {
        std::unique_lock<std::mutex> lk(qm);
        qcv.wait(lk, [&] { return workers_exit || !tasks.empty(); });
        if (tasks.empty()) return;
        t = std::move(tasks.front());
        tasks.pop_front();
      }
      Response res;
      try {
        h.handle(t.req, res);
      } catch (const std::bad_alloc&) {
        res = Response{};
        res.set_error(500, "out of memory");
      } catch (const std::exception& e) {
        res = Response{};
        res.set_error(500, std::string("internal error: ") + e.what());
      }
      if (h.on_response) h.on_response(t.req, res, std::chrono::duration<double>(clock::now() - t.t0).count());
      const bool keep = t.keep_alive && !res.close;
      Done d{t.id, serialize(res, t.req.method == "HEAD", keep), !keep};
      t.req = Request{};  // its memory (and budget share) goes back before the write
      {
        std::lock_guard<std::mutex> lk(dm);
        done.push_back(std::move(d));
      }
      wake();
    }
  }

  void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    const rlim_t need = rlim_t(lim.max_connections) + 64;
    if (rl.rlim_cur < need) {
      rlimit up = rl;
      up.rlim_cur = std::min(need, rl.rlim_max);
      if (::setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    if (rl.rlim_cur < need) {
      const int fit = std::max(16, int(rl.rlim_cur) - 64);
      std::fprintf(stderr,
                   "mnv2 serve: note: the open-file limit (%llu) allows %d connections, not %d; "
                   "raise it (ulimit -n) for more\n",
                   (unsigned long long)rl.rlim_cur, fit, lim.max_connections);
      lim.max_connections = fit;
    }
  }
};

Server::Server(Limits limits, Handlers handlers, MemoryBudget* budget)
    : impl_(std::make_unique<Impl>(std::move(limits), std::move(handlers), budget)) {}

Server::~Server() { stop(); }

const Limits& Server::limits() const { return impl_->lim; }

Stats Server::stats() const {
  Stats s;
  s.open_connections = impl_->open.load(std::memory_order_relaxed);
  s.accepted = impl_->accepted.load(std::memory_order_relaxed);
  s.refused_total_cap = impl_->refused_total.load(std::memory_order_relaxed);
  s.refused_address_cap = impl_->refused_addr.load(std::memory_order_relaxed);
  s.evicted_idle = impl_->evicted.load(std::memory_order_relaxed);
  s.timed_out = impl_->timed_out.load(std::memory_order_relaxed);
  return s;
}

int Server::bind(const std::string& host, int port) {
  Impl& m = *impl_;
  m.raise_fd_limit();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(), &hints, &res))
    throw Error("cannot listen on " + where + ": " + gai_strerror(rc));
  int fd = -1;
  std::string why;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0) throw Error("cannot listen on " + where + " (" + why + ")");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  const int bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port)
                                             : ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
  m.listen_fd = fd;
  m.ep = ::epoll_create1(EPOLL_CLOEXEC);
  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m.ep < 0 || m.wake_fd < 0) throw Error(std::string("cannot set up the event loop: ") + std::strerror(errno));
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = kListenId;
  ::epoll_ctl(m.ep, EPOLL_CTL_ADD, fd, &e);
  e.data.u64 = kWakeId;
  ::epoll_ctl(m.ep, EPOLL_CTL_ADD, m.wake_fd, &e);
  return bound;
}

void Server::run() {
  Impl& m = *impl_;
  if (m.ep < 0) throw Error("http::Server::run before bind");
  for (int i = 0; i < std::max(1, m.lim.workers); ++i) m.workers.emplace_back([&m] { m.worker_loop(); });
  epoll_event evs[256];
  auto last_check = clock::now();
  for (;;) {
    if (m.stop_requested.load() && !m.stopping) m.begin_stop();
    if (m.stopping && !m.in_flight()) break;
    const int n = ::epoll_wait(m.ep, evs, 256, 20);
    for (int i = 0; i < n; ++i) {
      const uint64_t id = evs[i].data.u64;
      if (id == kListenId) {
        if (!m.stopping) m.on_accept();
        continue;
      }
      if (id == kWakeId) {
        uint64_t v;
        while (::read(m.wake_fd, &v, sizeof v) > 0) {
        }
        continue;
      }
      auto it = m.conns.find(id);
      if (it == m.conns.end() || it->second.dead) continue;
      Impl::Conn& c = it->second;
      const uint32_t ev = evs[i].events;
      if ((ev & EPOLLERR) || ((ev & EPOLLHUP) && !(ev & EPOLLIN))) {
        m.close_conn(c);
        continue;
      }
      if (ev & EPOLLIN) m.on_readable(c);
      if (!c.dead && (ev & EPOLLOUT)) m.drive(c);
    }
    m.take_completions();
    const auto now = clock::now();
    if (now - last_check >= std::chrono::milliseconds(10)) {
      m.check_deadlines();
      last_check = now;
    }
    if (m.listening_paused && !m.stopping && now >= m.resume_accept_at) {
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.u64 = kListenId;
      ::epoll_ctl(m.ep, EPOLL_CTL_ADD, m.listen_fd, &e);
      m.listening_paused = false;
    }
    m.erase_dead();
  }
  {
    std::lock_guard<std::mutex> lk(m.qm);
    m.workers_exit = true;
  }
  m.qcv.notify_all();
  for (auto& t : m.workers) t.join();
  m.workers.clear();
  for (auto& [id, c] : m.conns) m.close_conn(c);
  m.erase_dead();
}

void Server::stop() {
  impl_->stop_requested = true;
  if (impl_->wake_fd >= 0) impl_->wake();
}
}  // namespace mnv2::server::http
