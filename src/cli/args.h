// A small, strict command-line parser shared by the subcommands: unknown flags and
// malformed numbers are errors, never silently ignored.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace mnv2::cli {

class Args {
 public:
  // `flags` are options without a value (e.g. --json); every other --name takes one.
  Args(int argc, char** argv, std::vector<std::string> flags);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
  int get_int(const std::string& name, int fallback, int lo, int hi) const;
  double get_double(const std::string& name, double fallback, double lo, double hi) const;
  // Multi-valued options (e.g. --synthetic W R) are returned as positional values after them.
  std::vector<std::string> values(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // Throws if any option was given that the command did not ask about.
  void reject_unknown(const std::vector<std::string>& known) const;

 private:
  std::map<std::string, std::vector<std::string>> options_;
  std::vector<std::string> positional_;
  std::vector<std::string> flags_;
};

struct CommandSpec {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

// Every subcommand registers itself here from its own file.
std::vector<CommandSpec>& commands();
struct RegisterCommand {
  RegisterCommand(const char* name, const char* summary, int (*run)(int, char**));
};

std::string json_escape(const std::string& s);

}  // namespace mnv2::cli
