// mnv2: one CLI over libmnv2; each subcommand lives in its own cmd_*.cpp and registers itself.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli/args.h"
#include "mnv2/mnv2.h"

namespace {

// With fd 0, 1 or 2 closed (`mnv2 ... >&-`) the next open() would take its number and
// the output meant for stdout would land in a model or output file. Holding the slot with
// /dev/null opened read-only makes every write to it fail instead, which
// finish_stdout() then reports.
void hold_closed_std_fds() {
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      const int n = ::open("/dev/null", O_RDONLY);
      if (n >= 0 && n != fd) {
        ::dup2(n, fd);
        ::close(n);
      }
    }
}

// Every command's stdout goes through stdio: flushing it at the end and checking the
// stream's error flag catches any failed write (a full disk, /dev/full, a closed pipe
// or descriptor), so the exit status never claims success for output that was lost.
int finish_stdout(const char* who, int rc) {
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int err = errno;
  if (!flush_failed && !std::ferror(stdout)) return rc;
  std::fprintf(stderr, "%s: error: writing to standard output failed%s%s\n", who, err ? ": " : "",
               err ? std::strerror(err) : "");
  return rc == 0 ? 1 : rc;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mnv2::cli;
  hold_closed_std_fds();
  auto& cmds = commands();
  std::sort(cmds.begin(), cmds.end(),
            [](const CommandSpec& a, const CommandSpec& b) { return std::strcmp(a.name, b.name) < 0; });
  auto usage = [&](FILE* out) {
    std::fprintf(out,
                 "mnv2 — a fast inference engine for MobileNetV2\n\n"
                 "usage: mnv2 <command> [options]   (mnv2 <command> --help for details)\n\ncommands:\n");
    for (const auto& c : cmds) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  };
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return finish_stdout("mnv2", 0);
  }
  if (cmd == "--version") {
    std::printf("mnv2 0.1.0\n");
    return finish_stdout("mnv2", 0);
  }
  for (const auto& c : cmds) {
    if (cmd == c.name) {
      const std::string who = std::string("mnv2 ") + c.name;
      int rc = 1;
      try {
        // --help wins over everything else on the line, even an option the command lacks.
        if (std::any_of(argv + 2, argv + argc, [](const char* s) {
              return std::strcmp(s, "--help") == 0 || std::strcmp(s, "-h") == 0;
            })) {
          std::fputs(command_help(c).c_str(), stdout);
          return finish_stdout(who.c_str(), 0);
        }
        rc = c.run(Args(c.bit, argc - 2, argv + 2));
      } catch (const mnv2::Error& e) {
        std::fprintf(stderr, "%s: error: %s\n", who.c_str(), e.what());
      } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "%s: error: out of memory\n", who.c_str());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: error: %s\n", who.c_str(), e.what());
      }
      return finish_stdout(who.c_str(), rc);
    }
  }
  std::fprintf(stderr, "mnv2: unknown command '%s'\n\n", cmd.c_str());
  usage(stderr);
  return 2;
}
