// Every command-line option of mnv2, declared once: its names, its value, the commands it
// applies to and its help text. Each command's --help, the options its parser accepts (and
// so its unknown-option errors) and the bash completion script all come from this table,
// so they cannot disagree. An option whose meaning differs between commands (--json,
// --threads, --quiet ...) has one entry per meaning, with disjoint command sets.
#pragma once

#include <string>
#include <vector>

namespace mnv2::cli {

// The commands, as bits of an option's command set.
enum CommandBit : unsigned {
  kBench = 1u << 0,
  kClassify = 1u << 1,
  kCompletion = 1u << 2,
  kConvert = 1u << 3,
  kEmbed = 1u << 4,
  kEval = 1u << 5,
  kFetch = 1u << 6,
  kInfo = 1u << 7,
  kQuantize = 1u << 8,
  kServe = 1u << 9,
};
// Commands that decode and preprocess images and default to the cached official model.
constexpr unsigned kImageCommands = kClassify | kEmbed | kEval | kServe;
// Commands that run a model on an engine (precision, rounding, threads apply).
constexpr unsigned kRunCommands = kImageCommands | kBench;
// Commands that name a model (--model or --synthetic).
constexpr unsigned kModelCommands = kRunCommands | kInfo | kConvert | kQuantize;
constexpr unsigned kAllCommands = (kServe << 1) - 1;

struct OptionSpec {
  std::string name;     // the long name, without "--"
  char short_name = 0;  // a one-letter alias (-o), or 0
  std::string value;    // the value's placeholder in the help (PATH, N, W R); empty: a flag
  std::string choices;  // the values it takes, space-separated, when they are a fixed set
  unsigned commands = 0;
  std::string help;     // lines separated by '\n'
};

const std::vector<OptionSpec>& option_table();

// The entry of option `name` (its long name, or a one-letter short alias) for the command;
// nullptr when the command does not take it.
const OptionSpec* find_option(unsigned command, const std::string& name);
// The command's options (long names) in the order of the table.
std::vector<const OptionSpec*> command_options(unsigned command);
// The nearest option the command does take, for "did you mean" (empty if none is close).
std::string closest_option(unsigned command, const std::string& name);
// The "options:" block of the command's --help.
std::string options_help(unsigned command);

}  // namespace mnv2::cli
