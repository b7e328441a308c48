// mnv2: one CLI over libmnv2; each subcommand lives in its own cmd_*.cpp and registers itself.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli/args.h"
#include "mnv2/mnv2.h"

int main(int argc, char** argv) {
  using namespace mnv2::cli;
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
    return 0;
  }
  if (cmd == "--version") {
    std::printf("mnv2 0.1.0\n");
    return 0;
  }
  for (const auto& c : cmds) {
    if (cmd == c.name) {
      try {
        return c.run(argc - 2, argv + 2);
      } catch (const mnv2::Error& e) {
        std::fprintf(stderr, "mnv2 %s: error: %s\n", c.name, e.what());
        return 1;
      } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "mnv2 %s: error: out of memory\n", c.name);
        return 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "mnv2 %s: error: %s\n", c.name, e.what());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "mnv2: unknown command '%s'\n\n", cmd.c_str());
  usage(stderr);
  return 2;
}
