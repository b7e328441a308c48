#include "cli/args.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "cli/options.h"
#include "mnv2/mnv2.h"
#include "util/classify_json.h"

namespace mnv2::cli {
namespace {

[[noreturn]] void unknown_option(unsigned command, const std::string& given, const std::string& name) {
  std::string msg = "unknown option " + given;
  if (const std::string near = closest_option(command, name); !near.empty())
    msg += "; did you mean --" + near + "?";
  throw Error(msg + " (see --help)");
}

}  // namespace

Args::Args(unsigned command, int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool is_long = a.size() > 2 && a.rfind("--", 0) == 0;
    const bool is_short = a.size() == 2 && a[0] == '-' && a[1] != '-';
    if (!is_long && !is_short) {
      positional_.push_back(a);  // also "-" (stdin) and "--"
      continue;
    }
    std::string name = is_long ? a.substr(2) : a.substr(1), value;
    bool has_value = false;
    if (auto eq = name.find('='); is_long && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const OptionSpec* o = find_option(command, name);
    if (!o) unknown_option(command, is_long ? "--" + name : a, name);
    auto& slot = options_[o->name];
    if (o->value.empty()) {
      if (has_value) throw Error("option --" + o->name + " takes no value");
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) throw Error("option " + a + " needs a value (" + a + " " + o->value + ")");
      value = argv[++i];
    }
    slot.push_back(value);
  }
}

bool Args::has(const std::string& name) const { return options_.count(name) != 0; }

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = options_.find(name);
  if (it == options_.end() || it->second.empty()) return fallback;
  return it->second.back();
}

int Args::get_int(const std::string& name, int fallback, int lo, int hi) const {
  if (!has(name)) return fallback;
  const std::string v = get(name);
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi)
    throw Error("--" + name + " must be an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + v + "'");
  return int(x);
}

double Args::get_double(const std::string& name, double fallback, double lo, double hi) const {
  if (!has(name)) return fallback;
  const std::string v = get(name);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !(x >= lo && x <= hi))
    throw Error("--" + name + " must be a number in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + v + "'");
  return x;
}

std::vector<std::string> Args::values(const std::string& name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

void Args::only(const std::vector<std::string>& allowed, const std::string& mode) const {
  for (const auto& [name, _] : options_)
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      throw Error("unknown option --" + name + " with " + mode + " (see --help)");
}

std::vector<CommandSpec>& commands() {
  static std::vector<CommandSpec> list;
  return list;
}

RegisterCommand::RegisterCommand(const CommandSpec& spec) { commands().push_back(spec); }

std::string command_help(const CommandSpec& c) {
  std::string s = std::string(c.usage) + "\n" + options_help(c.bit);
  if (c.epilogue) s += std::string("\n") + c.epilogue;
  return s;
}

std::string json_escape(const std::string& s) { return json_escape_text(s); }

}  // namespace mnv2::cli
