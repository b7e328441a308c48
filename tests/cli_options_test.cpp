// The CLI's option table seen from outside: every command's --help, its parser and the bash
// completion script (`mnv2 completion bash`) must name the same options, and every command
// must refuse an option it does not take with a clear message and a non-zero exit.
#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace mnv2 {
namespace {

std::string cli() { return test::cli_path(); }

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// The commands `mnv2 --help` lists ("  name  summary" lines after "commands:").
std::vector<std::string> listed_commands() {
  std::string out;
  EXPECT_EQ(test::run_command(cli() + " --help", &out), 0) << out;
  std::vector<std::string> cmds;
  bool in = false;
  for (const std::string& l : lines_of(out)) {
    if (l == "commands:") in = true;
    else if (in && l.rfind("  ", 0) == 0) cmds.push_back(l.substr(2, l.find(' ', 2) - 2));
  }
  return cmds;
}

struct HelpOption {
  std::vector<std::string> spellings;  // "--output", "-o"
  std::string value;                   // "OUT"; empty for a flag
};

// The options block of `mnv2 CMD --help`: lines "  -o, --output OUT   help...".
std::vector<HelpOption> help_options(const std::string& cmd, std::string* text = nullptr) {
  std::string out;
  EXPECT_EQ(test::run_command(cli() + " " + cmd + " --help", &out), 0) << out;
  if (text) *text = out;
  std::vector<HelpOption> opts;
  bool in = false;
  for (const std::string& l : lines_of(out)) {
    if (l == "options:") {
      in = true;
      continue;
    }
    if (!in) continue;
    if (l.empty()) break;
    if (l.rfind("  -", 0) != 0) continue;  // a help continuation line
    const std::string label = l.substr(2, l.find("  ", 2) - 2);
    HelpOption o;
    std::istringstream words(label);
    for (std::string w; words >> w;) {
      if (w.back() == ',') w.pop_back();
      if (w[0] == '-') o.spellings.push_back(w);
      else o.value += (o.value.empty() ? "" : " ") + w;
    }
    opts.push_back(o);
  }
  EXPECT_FALSE(opts.empty()) << cmd << ": no options block in\n" << out;
  return opts;
}

class CompletionScript : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::make_scratch_dir("mnv2-completion");
    script_ = dir_ + "/mnv2.bash";
    std::string out;
    ASSERT_EQ(test::run_command(cli() + " completion bash -o " + script_, &out), 0) << out;
    // Runs the completion function as bash would for the words typed so far (the last
    // one is the word being completed) and prints what it offers, one per line.
    std::ofstream(dir_ + "/complete.sh") << "source \"$1\"; shift\n"
                                            "COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 ))\n"
                                            "_mnv2\n"
                                            "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  }
  static std::set<std::string> complete(const std::vector<std::string>& words) {
    std::string cmd = "bash " + dir_ + "/complete.sh " + script_;
    for (const std::string& w : words) cmd += " '" + w + "'";
    std::string out;
    EXPECT_EQ(test::run_command(cmd, &out), 0) << cmd << "\n" << out;
    std::set<std::string> s;
    for (const std::string& l : lines_of(out))
      if (!l.empty()) s.insert(l);
    return s;
  }
  static std::string dir_, script_;
};
std::string CompletionScript::dir_, CompletionScript::script_;

TEST_F(CompletionScript, IsValidBashAndTheSameOnStdout) {
  std::string out;
  EXPECT_EQ(test::run_command("bash -n " + script_, &out), 0) << out;
  EXPECT_EQ(test::run_command(cli() + " completion bash | cmp - " + script_, &out), 0) << out;
  EXPECT_NE(test::run_command(cli() + " completion zsh", &out), 0);
  EXPECT_NE(out.find("only bash"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli() + " completion", &out), 0);
  EXPECT_NE(out.find("mnv2 completion bash"), std::string::npos) << out;
}

TEST_F(CompletionScript, OffersEveryCommand) {
  const std::vector<std::string> cmds = listed_commands();
  ASSERT_GE(cmds.size(), 10u);  // bench classify completion convert embed eval fetch info quantize serve
  std::set<std::string> want(cmds.begin(), cmds.end());
  want.insert({"--help", "--version"});
  EXPECT_EQ(complete({"mnv2", ""}), want);
  EXPECT_EQ(complete({"mnv2", "cl"}), std::set<std::string>{"classify"});
}

// For every command: the options its --help lists, each once, are exactly those the script
// completes after a "-".
TEST_F(CompletionScript, OffersExactlyTheOptionsEachHelpLists) {
  for (const std::string& cmd : listed_commands()) {
    std::set<std::string> in_help;
    for (const HelpOption& o : help_options(cmd))
      for (const std::string& s : o.spellings) EXPECT_TRUE(in_help.insert(s).second) << cmd << ": " << s << " twice";
    EXPECT_TRUE(in_help.count("--help")) << cmd;
    EXPECT_EQ(complete({"mnv2", cmd, "-"}), in_help) << cmd;
  }
}

TEST_F(CompletionScript, CompletesValuesAndFiles) {
  EXPECT_EQ(complete({"mnv2", "classify", "--precision", ""}),
            (std::set<std::string>{"fp32", "bf16", "int8", "auto"}));
  EXPECT_EQ(complete({"mnv2", "classify", "--pre"}), (std::set<std::string>{"--precision", "--preprocess"}));
  EXPECT_EQ(complete({"mnv2", "quantize", "--method", "e"}), std::set<std::string>{"entropy"});
  EXPECT_EQ(complete({"mnv2", "embed", "--format", ""}), (std::set<std::string>{"npy", "csv", "json"}));
  EXPECT_EQ(complete({"mnv2", "completion", ""}), std::set<std::string>{"bash"});
  EXPECT_TRUE(complete({"mnv2", "bench", "--iterations", ""}).empty());  // a number
  // A model path: file names.
  std::ofstream(dir_ + "/m.tflite") << "x";
  EXPECT_EQ(complete({"mnv2", "info", "--model", dir_ + "/m.tf"}), std::set<std::string>{dir_ + "/m.tflite"});
  EXPECT_EQ(complete({"mnv2", "classify", "-m", dir_ + "/m.tf"}), std::set<std::string>{dir_ + "/m.tflite"});
}

// Each option a command's --help lists is one its parser takes: given before an unknown
// option, the parser passes it (and its value) and stops at the unknown one. Nothing runs.
TEST(CliOptions, EveryOptionInHelpIsAccepted) {
  for (const std::string& cmd : listed_commands()) {
    for (const HelpOption& o : help_options(cmd)) {
      for (const std::string& s : o.spellings) {
        if (s == "--help" || s == "-h") continue;
        std::string line = cli() + " " + cmd + " " + s;
        if (!o.value.empty()) line += " 1";
        line += " --no-such-option";
        std::string out;
        EXPECT_EQ(test::run_command(line, &out), 1) << line << "\n" << out;
        EXPECT_NE(out.find("mnv2 " + cmd + ": error: unknown option --no-such-option"), std::string::npos)
            << line << "\n" << out;
      }
    }
  }
}

TEST(CliOptions, EveryCommandRejectsUnknownOptionsClearly) {
  for (const std::string& cmd : listed_commands()) {
    std::string out;
    EXPECT_EQ(test::run_command(cli() + " " + cmd + " --no-such-option x", &out), 1) << cmd;
    EXPECT_NE(out.find("mnv2 " + cmd + ": error: unknown option --no-such-option"), std::string::npos) << out;
    EXPECT_NE(out.find("--help"), std::string::npos) << out;
    EXPECT_EQ(test::run_command(cli() + " " + cmd + " -Z 1", &out), 1) << cmd;
    EXPECT_NE(out.find("unknown option -Z"), std::string::npos) << out;
    // An option of another command is unknown here too.
    const char* foreign = cmd == "serve" ? "--strict" : "--port-file";
    EXPECT_EQ(test::run_command(cli() + " " + cmd + " " + foreign + " x", &out), 1) << cmd;
    EXPECT_NE(out.find(std::string("unknown option ") + foreign), std::string::npos) << out;
  }
  // A near miss names the option meant.
  std::string out;
  EXPECT_EQ(test::run_command(cli() + " classify --thread 2 x.jpg", &out), 1);
  EXPECT_NE(out.find("unknown option --thread; did you mean --threads?"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli() + " bench --synthetic 0.35 96 --iteration 3", &out), 1);
  EXPECT_NE(out.find("did you mean --iterations?"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli() + " embed --out x.npy a.jpg", &out), 1);
  EXPECT_NE(out.find("did you mean --output?"), std::string::npos) << out;
  // info --cpu takes --json only.
  EXPECT_EQ(test::run_command(cli() + " info --cpu --verbose", &out), 1);
  EXPECT_NE(out.find("unknown option --verbose with --cpu"), std::string::npos) << out;
}

// A value option at the end of the line, and a flag given a value, are errors that say so.
TEST(CliOptions, MissingValuesAndValuedFlagsAreErrors) {
  for (const std::string& cmd : listed_commands()) {
    const std::vector<HelpOption> opts = help_options(cmd);
    for (const HelpOption& o : opts) {
      if (o.value.empty()) continue;
      std::string out;
      EXPECT_EQ(test::run_command(cli() + " " + cmd + " " + o.spellings[0], &out), 1) << cmd;
      EXPECT_NE(out.find("option " + o.spellings[0] + " needs a value (" + o.spellings[0] + " " + o.value + ")"),
                std::string::npos)
          << out;
      break;
    }
    for (const HelpOption& o : opts) {
      const std::string& name = o.spellings.front();  // the long one when there is no short one
      if (!o.value.empty() || name.rfind("--", 0) != 0 || name == "--help") continue;
      std::string out;
      EXPECT_EQ(test::run_command(cli() + " " + cmd + " " + name + "=1", &out), 1) << cmd;
      EXPECT_NE(out.find("option " + name + " takes no value"), std::string::npos) << out;
      break;
    }
  }
}

// --help and -h print the command's help whatever else the line holds, and exit 0.
TEST(CliOptions, HelpWinsOverTheRestOfTheLine) {
  for (const std::string& cmd : listed_commands()) {
    std::string a, b;
    EXPECT_EQ(test::run_command(cli() + " " + cmd + " --no-such-option --help", &a), 0) << a;
    EXPECT_EQ(test::run_command(cli() + " " + cmd + " -h", &b), 0) << b;
    EXPECT_EQ(a, b);
    EXPECT_NE(a.find("usage: mnv2 " + cmd), std::string::npos) << a;
  }
}

}  // namespace
}  // namespace mnv2
