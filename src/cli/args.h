// A small, strict command-line parser shared by the subcommands. What a command accepts
// comes from the option table (cli/options.h): an option the command does not take, a
// flag given a value, a missing value or a malformed number is an error, never ignored.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/options.h"

namespace mnv2::cli {

class Args {
 public:
  // Parses the arguments after the command name against `command`'s options (a CommandBit).
  Args(unsigned command, int argc, char** argv);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
  int get_int(const std::string& name, int fallback, int lo, int hi) const;
  double get_double(const std::string& name, double fallback, double lo, double hi) const;
  // Every value of a repeatable option (--calib A --calib B). Options of two values
  // (--synthetic W R) leave the second among the positional arguments.
  std::vector<std::string> values(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // For a mode that takes fewer options than its command (info --cpu): throws for any
  // option given that is not in `allowed`.
  void only(const std::vector<std::string>& allowed, const std::string& mode) const;

 private:
  std::map<std::string, std::vector<std::string>> options_;
  std::vector<std::string> positional_;
};

struct CommandSpec {
  const char* name;
  unsigned bit;          // its CommandBit: which options of the table it takes
  const char* summary;   // one line for `mnv2 --help`
  const char* usage;     // the --help text before the options block
  const char* epilogue;  // the --help text after it, or nullptr
  // Bash completion of its positional arguments: these words, or nullptr for file names.
  const char* positional_words;
  int (*run)(const Args& args);
};

// Every subcommand registers itself here from its own file.
std::vector<CommandSpec>& commands();
struct RegisterCommand {
  explicit RegisterCommand(const CommandSpec& spec);
};
// The whole --help text of a command: its usage, the options block from the table, its epilogue.
std::string command_help(const CommandSpec& c);

std::string json_escape(const std::string& s);

}  // namespace mnv2::cli
