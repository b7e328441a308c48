#include "eval/dataset.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "image/decode.h"
#include "mnv2/mnv2.h"

namespace mnv2::eval {
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path, const char* what) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(path + ": is a folder, expected a " + what);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open " + what);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(path + ": read error");
  return ss.str();
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// A non-negative decimal integer that fits an int; false otherwise.
bool parse_label(const std::string& s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *out = int(std::strtol(s.c_str(), nullptr, 10));
  return true;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string join(const std::string& base, const std::string& rel) {
  if (rel.empty() || rel[0] == '/' || base.empty()) return rel;
  return base.back() == '/' ? base + rel : base + "/" + rel;
}

std::string where(const std::string& file, size_t line) {
  return file + ":" + std::to_string(line);
}

void require_folder(const std::string& dir, const char* what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": not a folder (" + what + ")");
}

// Splits one CSV record (no embedded newlines) into fields.
std::vector<std::string> csv_fields(const std::string& line, const std::string& at) {
  std::vector<std::string> out;
  std::string cur;
  size_t i = 0;
  bool field_start = true;
  while (true) {
    if (field_start && i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) throw Error(at + ": unterminated quoted field");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cur += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        cur += line[i++];
      }
      if (i < line.size() && line[i] != ',')
        throw Error(at + ": unexpected character after a quoted field");
    }
    if (i >= line.size()) {
      out.push_back(cur);
      return out;
    }
    if (line[i] == ',') {
      out.push_back(cur);
      cur.clear();
      field_start = true;
      ++i;
      continue;
    }
    cur += line[i++];
    field_start = false;
  }
}

}  // namespace

Dataset parse_list(const std::string& text, const std::string& images_dir,
                   const std::string& list_name) {
  Dataset d;
  d.layout = "list";
  const auto lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string line = trim(lines[n]);
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find_last_of(" \t");
    if (sp == std::string::npos)
      throw Error(where(list_name, n + 1) + ": expected 'file label', got '" + line + "'");
    const std::string label = line.substr(sp + 1);
    const std::string file = trim(line.substr(0, sp));
    Sample s;
    if (!parse_label(label, &s.label))
      throw Error(where(list_name, n + 1) + ": label '" + label +
                  "' is not a non-negative integer (expected 'file label')");
    s.name = file;
    s.path = join(images_dir, file);
    d.samples.push_back(std::move(s));
  }
  if (d.samples.empty()) throw Error(list_name + ": no 'file label' lines");
  return d;
}

Dataset load_list(const std::string& images_dir, const std::string& list_path) {
  require_folder(images_dir, "the image folder the list file names images in");
  return parse_list(read_text(list_path, "ground-truth list"), images_dir, list_path);
}

Dataset parse_csv(const std::string& text, const std::string& base_dir,
                  const std::string& csv_name) {
  Dataset d;
  d.layout = "csv";
  const auto lines = split_lines(text);
  bool first = true;
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string line = lines[n];
    if (n == 0 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (trim(line).empty()) continue;
    const std::string at = where(csv_name, n + 1);
    const auto f = csv_fields(line, at);
    if (f.size() < 2) throw Error(at + ": expected 'path,label', got '" + line + "'");
    const std::string label = trim(f[1]);
    Sample s;
    if (!parse_label(label, &s.label)) {
      if (first) {  // a header row
        first = false;
        continue;
      }
      throw Error(at + ": label '" + label + "' is not a non-negative integer");
    }
    first = false;
    s.name = f[0];
    if (s.name.empty()) throw Error(at + ": empty path");
    s.path = join(base_dir, s.name);
    d.samples.push_back(std::move(s));
  }
  if (d.samples.empty()) throw Error(csv_name + ": no 'path,label' rows");
  return d;
}

Dataset load_csv(const std::string& base_dir, const std::string& csv_path) {
  if (!base_dir.empty()) require_folder(base_dir, "the folder CSV paths are relative to");
  return parse_csv(read_text(csv_path, "CSV file"), base_dir, csv_path);
}

bool looks_like_synset_folders(const std::string& dir) {
  std::error_code ec;
  bool subdirs = false;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (it->is_directory(ec)) subdirs = true;
    else if (it->is_regular_file(ec) && image::has_image_extension(name)) return false;
  }
  return subdirs;
}

Dataset load_synset_folders(const std::string& dir, const std::string& synsets_path) {
  require_folder(dir, "synset folders");
  Dataset d;
  d.layout = "synset-folders";
  std::vector<std::string> folders;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (it->is_directory(ec)) folders.push_back(name);
  }
  if (ec) throw Error(dir + ": cannot list folder (" + ec.message() + ")");
  std::sort(folders.begin(), folders.end());
  if (folders.empty()) throw Error(dir + ": no class sub-folders");

  std::map<std::string, int> label_of;
  if (!synsets_path.empty()) {
    const auto lines = split_lines(read_text(synsets_path, "synsets file"));
    for (size_t n = 0; n < lines.size(); ++n) {
      const std::string line = trim(lines[n]);
      if (line.empty()) throw Error(where(synsets_path, n + 1) + ": empty line (one synset per line)");
      const size_t sp = line.find_first_of(" \t,");
      const std::string id = line.substr(0, sp);
      const std::string rest = sp == std::string::npos ? "" : trim(line.substr(sp + 1));
      if (!label_of.emplace(id, int(d.synsets.size())).second)
        throw Error(where(synsets_path, n + 1) + ": synset '" + id + "' listed twice");
      d.synsets.push_back(id);
      d.label_names.push_back(rest.empty() ? id : rest);
    }
    if (d.synsets.empty()) throw Error(synsets_path + ": no synsets");
    for (const auto& f : folders)
      if (!label_of.count(f))
        throw Error(dir + "/" + f + ": folder is not listed in " + synsets_path);
  } else {
    for (const auto& f : folders) {
      label_of.emplace(f, int(d.synsets.size()));
      d.synsets.push_back(f);
      d.label_names.push_back(f);
    }
  }

  for (const auto& f : folders) {
    const std::string class_dir = dir + "/" + f;
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(class_dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && image::has_image_extension(name))
        found.push_back(it->path().lexically_relative(dir).string());
    }
    if (ec) throw Error(class_dir + ": cannot list folder (" + ec.message() + ")");
    std::sort(found.begin(), found.end());
    for (auto& rel : found) {
      Sample s;
      s.path = join(dir, rel);
      s.name = std::move(rel);
      s.label = label_of.at(f);
      d.samples.push_back(std::move(s));
    }
  }
  if (d.samples.empty()) throw Error(dir + ": the class folders contain no image files");
  return d;
}

void select_subset(std::vector<Sample>& samples, size_t limit, bool shuffle, uint64_t seed) {
  if (shuffle) {
    uint64_t state = seed;
    auto next = [&state] {  // SplitMix64
      uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    };
    for (size_t i = samples.size(); i > 1; --i) {
      // Unbiased index in [0, i) by rejection.
      const uint64_t bound = uint64_t(i);
      const uint64_t limit_v = UINT64_MAX - UINT64_MAX % bound;
      uint64_t r;
      do r = next();
      while (r >= limit_v);
      std::swap(samples[i - 1], samples[size_t(r % bound)]);
    }
  }
  if (limit && samples.size() > limit) samples.resize(limit);
}

}  // namespace mnv2::eval
