#include "cli/args.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "mnv2/mnv2.h"
#include "util/classify_json.h"

namespace mnv2::cli {

Args::Args(int argc, char** argv, std::vector<std::string> flags) : flags_(std::move(flags)) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      auto& slot = options_[name];
      if (std::find(flags_.begin(), flags_.end(), name) != flags_.end()) {
        if (has_value) throw Error("option --" + name + " takes no value");
        continue;
      }
      if (!has_value) {
        if (i + 1 >= argc) throw Error("option --" + name + " needs a value");
        value = argv[++i];
      }
      slot.push_back(value);
    } else if (a.size() == 2 && a[0] == '-' && a[1] != '-' && a != "-") {
      // short aliases
      static const std::map<char, std::string> alias = {
          {'o', "output"}, {'t', "threads"}, {'b', "batch"}, {'k', "top"}, {'m', "model"}};
      auto it = alias.find(a[1]);
      if (it == alias.end()) throw Error("unknown option " + a);
      if (i + 1 >= argc) throw Error("option " + a + " needs a value");
      options_[it->second].push_back(argv[++i]);
    } else {
      positional_.push_back(a);
    }
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

void Args::reject_unknown(const std::vector<std::string>& known) const {
  for (const auto& [name, _] : options_)
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw Error("unknown option --" + name + " (see --help)");
}

std::vector<CommandSpec>& commands() {
  static std::vector<CommandSpec> list;
  return list;
}

RegisterCommand::RegisterCommand(const char* name, const char* summary, int (*run)(int, char**)) {
  commands().push_back({name, summary, run});
}

std::string json_escape(const std::string& s) { return json_escape_text(s); }

}  // namespace mnv2::cli
