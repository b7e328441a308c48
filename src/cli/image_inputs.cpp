#include "cli/image_inputs.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <system_error>

#include "cli/model_args.h"
#include "fetch/cache.h"
#include "fetch/fetch.h"

namespace mnv2::cli {
namespace fs = std::filesystem;

Labels load_labels_option(const Args& a, const ModelInfo& info, const char* command) {
  Labels labels = resolve_labels(a.get("labels"), cached_labels_path(), info.num_classes, info.has_background);
  if (!labels.note.empty()) std::fprintf(stderr, "mnv2 %s: note: %s\n", command, labels.note.c_str());
  if (labels.names.empty())
    std::fprintf(stderr,
                 "mnv2 %s: no names for a %d-class model (the built-in ImageNet names fit 1000 or "
                 "1001 classes; pass --labels FILE): showing class indices only\n",
                 command, info.num_classes);
  return labels;
}

std::string display_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

std::vector<std::string> expand_image_args(const std::vector<std::string>& positional, size_t skip) {
  std::vector<std::string> out;
  for (size_t i = skip; i < positional.size(); ++i) {
    const std::string& p = positional[i];
    std::error_code ec;
    if (p != "-" && fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory(ec)) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file(ec) && image::has_image_extension(it->path().string())) found.push_back(it->path().string());
      }
      if (ec) throw Error(p + ": cannot list folder (" + ec.message() + ")");
      std::sort(found.begin(), found.end());
      if (found.empty()) throw Error(p + ": folder contains no image files (.jpg .png .bmp .ppm .pgm .rgb)");
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(p);  // files (any name) and "-"; errors surface when reading
    }
  }
  if (std::count(out.begin(), out.end(), std::string("-")) > 1)
    throw Error("'-' (stdin) can be given only once");
  if (out.empty()) throw Error("no images given (see --help)");
  return out;
}

size_t model_positional_count(const Args& a) { return a.has("synthetic") ? 1 : 0; }

Model open_image_model(const Args& a, int max_batch) {
  check_model_source(a);
  if (a.has("model") || a.has("synthetic")) return open_model(a, max_batch);
  // The official model from the cache, downloaded on first use unless --no-download.
  const std::string cached = default_model_path(!a.has("no-download"), false);
  return Model::load(cached, engine_options(a, max_batch));
}

image::DecodeOptions scaled_decode_options(const image::DecodeOptions& base, const ModelInfo& info,
                                           image::PreprocessMode mode) {
  image::DecodeOptions o = base;
  image::decode_min_size(info, mode, &o.min_width, &o.min_height);
  return o;
}

ImageBatchOptions image_batch_options(const Args& a) {
  ImageBatchOptions o;
  o.mode = image::parse_preprocess_mode(a.get("preprocess", "omz"));
  o.batch = a.get_int("batch", 1, 1, 4096);
  if (a.has("raw")) {
    const std::string v = a.get("raw");
    int w = 0, h = 0;
    char x = 0, extra = 0;
    if (std::sscanf(v.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w < 1 ||
        h < 1 || w > 65535 || h > 65535 || v.find_first_not_of("0123456789xX") != std::string::npos)
      throw Error("--raw must be WIDTHxHEIGHT in pixels, e.g. 224x224, got '" + v + "'");
    o.decode.raw_width = w;
    o.decode.raw_height = h;
  }
  if (a.has("max-pixels")) {
    const std::string v = a.get("max-pixels");
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || n < 1) throw Error("--max-pixels must be a positive integer, got '" + v + "'");
    o.decode.max_pixels = n;
  }
  return o;
}

int run_image_batches(Model& model, const std::vector<std::string>& files,
                      const ImageBatchOptions& opt, bool want_probs, bool want_features,
                      const std::function<void(const std::vector<size_t>&, const float*,
                                               const float*, const std::vector<double>&)>& on_batch,
                      const std::function<void(size_t, const std::string&)>& on_error) {
  using clock = std::chrono::steady_clock;
  const ModelInfo& info = model.info();
  const size_t per = size_t(info.height) * info.width * 3;
  const int B = opt.batch;
  std::vector<float> input(per * size_t(B));
  std::vector<float> probs(want_probs ? size_t(B) * info.num_classes : 0);
  std::vector<float> feats(want_features ? size_t(B) * std::max(info.feature_dim, 1) : 0);
  std::vector<size_t> idx;
  std::vector<double> ms;
  int failures = 0;
  auto flush = [&] {
    if (idx.empty()) return;
    const auto t0 = clock::now();
    model.run(input.data(), int(idx.size()), want_probs ? probs.data() : nullptr, nullptr,
              want_features ? feats.data() : nullptr);
    const double run_ms =
        std::chrono::duration<double, std::milli>(clock::now() - t0).count() / double(idx.size());
    for (double& m : ms) m += run_ms;
    on_batch(idx, want_probs ? probs.data() : nullptr, want_features ? feats.data() : nullptr, ms);
    idx.clear();
    ms.clear();
  };
  const image::DecodeOptions decode = scaled_decode_options(opt.decode, info, opt.mode);
  for (size_t i = 0; i < files.size(); ++i) {
    const auto t0 = clock::now();
    try {
      const image::Image img = image::decode_file(files[i], decode);
      image::preprocess(img, info, opt.mode, input.data() + per * idx.size());
    } catch (const Error& e) {
      ++failures;
      on_error(i, e.what());
      continue;
    } catch (const std::bad_alloc&) {
      ++failures;
      on_error(i, display_name(files[i]) + ": out of memory while decoding");
      continue;
    }
    idx.push_back(i);
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    if (int(idx.size()) == B) flush();
  }
  flush();
  return failures;
}

}  // namespace mnv2::cli
