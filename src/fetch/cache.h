// Where mnv2 keeps downloaded models and labels: $MNV2_HOME, else $XDG_CACHE_HOME/mnv2,
// else $HOME/.cache/mnv2.
#pragma once

#include <string>

namespace mnv2 {

std::string cache_dir();
// Folder of one fetched model inside the cache, e.g. <cache>/mobilenet-v2-1.4-224.
std::string cached_model_dir(const std::string& model_name = "mobilenet-v2-1.4-224");
// The label file fetch stores: <cache>/imagenet_labels.txt (1001 lines, line 0 background).
std::string cached_labels_path();

}  // namespace mnv2
