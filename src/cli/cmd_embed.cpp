// mnv2 embed: the pooled features (the input of the classifier layer) for each image.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/image_inputs.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 embed IMAGE... -o OUT [options]\n\n"
    "Writes the global-average-pooled features (the model's feature width per image, e.g.\n"
    "1792 for width 1.4) of each image, in argument order, to OUT. IMAGE is a file, a folder\n"
    "(its image files, recursively, sorted) or - for stdin. Images that cannot be read are\n"
    "reported on stderr and left out (the exit status is then 1).\n";

void write_all(FILE* f, const void* p, size_t n, const std::string& path) {
  if (n && std::fwrite(p, 1, n, f) != n) throw Error(path + ": write failed");
}

// NPY format 1.0: magic, version, little-endian header length, a Python dict literal
// padded with spaces and ended by a newline so the data starts on a 64-byte boundary.
void write_npy(const std::string& path, const std::vector<float>& rows, size_t n, size_t d) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) +
                     ", " + std::to_string(d) + "), }";
  const size_t pre = 10;
  size_t total = pre + dict.size() + 1;
  const size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict.push_back('\n');
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(path + ": cannot create (" + std::strerror(errno) + ")");
  const unsigned char hdr[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                 static_cast<unsigned char>(dict.size() & 0xff),
                                 static_cast<unsigned char>(dict.size() >> 8)};
  try {
    write_all(f, hdr, sizeof hdr, path);
    write_all(f, dict.data(), dict.size(), path);
    // float32 little-endian (this is an x86-64 / little-endian build)
    write_all(f, rows.data(), rows.size() * sizeof(float), path);
  } catch (...) {
    std::fclose(f);
    throw;
  }
  if (std::fclose(f) != 0) throw Error(path + ": write failed");
}

int run(const Args& a) {
  const std::string out = a.get("output");
  if (out.empty()) throw Error("no output file: pass -o OUT.npy (or .csv / .json)");
  std::string format = a.get("format");
  if (format.empty()) {
    auto ends = [&](const char* s) {
      const size_t n = std::strlen(s);
      return out.size() >= n && out.compare(out.size() - n, n, s) == 0;
    };
    format = ends(".csv") ? "csv" : ends(".json") ? "json" : "npy";
  }
  if (format != "npy" && format != "csv" && format != "json")
    throw Error("--format must be npy, csv or json, got '" + format + "'");
  const bool normalize = a.has("normalize");
  const ImageBatchOptions opt = image_batch_options(a);
  const std::vector<std::string> files = expand_image_args(a.positional(), model_positional_count(a));
  Model model = open_image_model(a, opt.batch);
  const ModelInfo& info = model.info();
  if (info.feature_dim <= 0) throw Error("this model exposes no pooled feature output");
  const size_t D = size_t(info.feature_dim);

  std::vector<float> rows;
  std::vector<std::string> names;
  const int failures = run_image_batches(
      model, files, opt, false, true,
      [&](const std::vector<size_t>& idx, const float*, const float* feats, const std::vector<double>&) {
        for (size_t b = 0; b < idx.size(); ++b) {
          const float* f = feats + b * D;
          double ss = 0;
          for (size_t j = 0; j < D; ++j) ss += double(f[j]) * f[j];
          const double s = normalize && ss > 0 ? 1.0 / std::sqrt(ss) : 1.0;
          for (size_t j = 0; j < D; ++j) rows.push_back(float(f[j] * s));
          names.push_back(display_name(files[idx[b]]));
        }
      },
      [&](size_t, const std::string& msg) { std::fprintf(stderr, "mnv2 embed: error: %s\n", msg.c_str()); });
  const size_t N = names.size();
  if (N == 0) throw Error("no image could be read; nothing written");

  if (format == "npy") {
    write_npy(out, rows, N, D);
  } else {
    FILE* f = std::fopen(out.c_str(), "wb");
    if (!f) throw Error(out + ": cannot create (" + std::strerror(errno) + ")");
    std::string s;
    char buf[32];
    if (format == "json")
      s = "{\"model\":\"" + json_escape(info.name) + "\",\"dim\":" + std::to_string(D) + ",\"embeddings\":[";
    for (size_t i = 0; i < N; ++i) {
      if (format == "csv") {
        s += "\"";
        for (char c : names[i]) s += c == '"' ? std::string("\"\"") : std::string(1, c);
        s += "\"";
      } else {
        s += (i ? ",{\"file\":\"" : "{\"file\":\"") + json_escape(names[i]) + "\",\"vector\":[";
      }
      for (size_t j = 0; j < D; ++j) {
        std::snprintf(buf, sizeof buf, "%.9g", double(rows[i * D + j]));
        if (format == "csv") s += ",";
        else if (j) s += ",";
        s += buf;
      }
      s += format == "csv" ? "\n" : "]}";
      if (s.size() > (1 << 20)) {
        write_all(f, s.data(), s.size(), out);
        s.clear();
      }
    }
    if (format == "json") s += "]}\n";
    write_all(f, s.data(), s.size(), out);
    if (std::fclose(f) != 0) throw Error(out + ": write failed");
  }
  std::fprintf(stderr, "mnv2 embed: wrote %zu x %zu features to %s (%s%s)\n", N, D, out.c_str(),
               format.c_str(), normalize ? ", L2-normalised" : "");
  if (failures) {
    std::fprintf(stderr, "mnv2 embed: %d of %zu image(s) failed and are not in %s; rows follow the "
                 "order of the images that were read\n", failures, files.size(), out.c_str());
    return 1;
  }
  return 0;
}

RegisterCommand reg({"embed", kEmbed, "pooled feature vectors for images (npy/csv/json)", kUsage, nullptr, nullptr,
                     run});

}  // namespace
}  // namespace mnv2::cli
