#include "util/labels.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "mnv2/mnv2.h"

namespace mnv2 {
namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// "12  label" / "12: label" / "12,label" -> (12, "label"); false if not numbered.
bool numbered(const std::string& line, long* index, std::string* rest) {
  size_t i = 0;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i == 0 || i > 7 || i == line.size()) return false;
  const char sep = line[i];
  if (!(std::isspace(static_cast<unsigned char>(sep)) || sep == ':' || sep == ',')) return false;
  *index = std::stol(line.substr(0, i));
  *rest = trim(line.substr(i + 1));
  return !rest->empty();
}

// "n01440764 tench, Tinca tinca" -> "tench, Tinca tinca".
bool synset(const std::string& line, std::string* rest) {
  if (line.size() < 11 || line[0] != 'n') return false;
  for (int i = 1; i <= 8; ++i)
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
  if (!std::isspace(static_cast<unsigned char>(line[9]))) return false;
  *rest = trim(line.substr(10));
  return !rest->empty();
}

constexpr char kImageNetClassText[] =
#include "util/imagenet_classes.inc"
    ;

}  // namespace

std::string_view imagenet_class_text() { return {kImageNetClassText, sizeof(kImageNetClassText) - 1}; }

std::vector<std::string> builtin_labels(int num_classes) {
  if (num_classes != 1000 && num_classes != 1001) return {};
  std::vector<std::string> names;
  names.reserve(1001);
  const std::string_view text = imagenet_class_text();
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = text.find('\n', pos);
    names.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  if (num_classes == 1000) names.erase(names.begin());  // no background class
  return names;
}

Labels resolve_labels(const std::string& path, const std::string& cached_path, int num_classes,
                      bool has_background) {
  std::string file = path;
  struct stat st {};
  if (file.empty() && !cached_path.empty() && stat(cached_path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    file = cached_path;
  Labels out;
  if (!file.empty()) {
    out = align_labels(read_labels(file), num_classes, has_background);
    out.source = file;
  } else {
    out.names = builtin_labels(num_classes);
    if (!out.names.empty()) out.source = kBuiltinLabelsSource;
  }
  return out;
}

std::vector<std::string> parse_labels(const std::string& text, const std::string& name) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  if (lines.empty()) throw Error(name + ": label file is empty");
  // Numbered form only when every line is numbered and the numbers are 0.. or 1.. in order.
  bool all_numbered = true;
  std::vector<std::pair<long, std::string>> num;
  for (const auto& l : lines) {
    long k;
    std::string rest;
    if (!numbered(trim(l), &k, &rest)) {
      all_numbered = false;
      break;
    }
    num.emplace_back(k, rest);
  }
  if (all_numbered && lines.size() > 1) {
    const long base = num.front().first;
    bool consecutive = base == 0 || base == 1;
    for (size_t i = 0; consecutive && i < num.size(); ++i) consecutive = num[i].first == base + long(i);
    if (consecutive) {
      std::vector<std::string> out;
      if (base == 1) out.push_back("background");
      for (auto& [k, s] : num) out.push_back(s);
      return out;
    }
  }
  std::vector<std::string> out;
  for (const auto& l : lines) {
    std::string rest, t = trim(l);
    out.push_back(synset(t, &rest) ? rest : t);
  }
  return out;
}

std::vector<std::string> read_labels(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open label file");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_labels(ss.str(), path);
}

Labels align_labels(std::vector<std::string> labels, int num_classes, bool has_background) {
  Labels out;
  const int n = int(labels.size());
  auto is_bg = [](const std::string& s) {
    std::string t;
    for (char c : s) t += char(std::tolower(static_cast<unsigned char>(c)));
    return t == "background" || t == "__background__" || t == "unused background";
  };
  if (n == num_classes) {
    out.names = std::move(labels);
  } else if (n + 1 == num_classes && has_background) {
    out.names.push_back("background");
    out.names.insert(out.names.end(), labels.begin(), labels.end());
    out.note = "label file has " + std::to_string(n) +
               " lines for a model with a background class: shifted by one";
  } else if (n == num_classes + 1 && is_bg(labels.front())) {
    out.names.assign(labels.begin() + 1, labels.end());
    out.note = "label file starts with 'background', the model has none: dropped it";
  } else {
    out.names = std::move(labels);
    out.note = "label file has " + std::to_string(n) + " labels but the model has " +
               std::to_string(num_classes) + " classes: classes without a label show their index";
  }
  return out;
}

std::vector<int> top_k_classes(const float* p, int n, int k, bool has_background) {
  std::vector<int> order(static_cast<size_t>(std::max(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<int> out;
  for (size_t i = 0; i < order.size() && int(out.size()) < k; ++i) {
    if (has_background && order[i] == 0 && i != 0) continue;
    out.push_back(order[i]);
  }
  return out;
}

}  // namespace mnv2
