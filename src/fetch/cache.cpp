#include "fetch/cache.h"

#include <cstdlib>

#include "mnv2/mnv2.h"

namespace mnv2 {

std::string cache_dir() {
  if (const char* h = std::getenv("MNV2_HOME"); h && *h) return h;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/mnv2";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/mnv2";
  throw Error("cannot find a cache folder: set MNV2_HOME");
}

std::string cached_model_dir(const std::string& model_name) {
  return cache_dir() + "/" + model_name;
}

std::string cached_labels_path() { return cache_dir() + "/imagenet_labels.txt"; }

}  // namespace mnv2
