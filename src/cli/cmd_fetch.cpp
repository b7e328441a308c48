// mnv2 fetch: download the official model archive and the ImageNet labels into the cache.
#include <cstdio>

#include "cli/args.h"
#include "mnv2/mnv2.h"
#include "fetch/fetch.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 fetch [mobilenet-v2-1.4-224] [--force] [--quiet] [--json]\n\n"
    "Downloads the official MobileNetV2 1.4/224 archive (135,977,516 bytes, from\n"
    "storage.googleapis.com, falling back to the Open Model Zoo mirror), checks its size and\n"
    "SHA-384, and unpacks the model files (frozen .pb, float .tflite, info and eval text)\n"
    "into the cache folder; also downloads the 1001-class ImageNet label file (SHA-256\n"
    "checked). An interrupted download resumes on the next run. Commands run without\n"
    "--model use the cached model.\n\n"
    "Cache folder: $MNV2_HOME, else $XDG_CACHE_HOME/mnv2, else ~/.cache/mnv2.\n"
    "Needs network access; without it, pass --model PATH to the other commands instead.\n";

const char* kEpilogue =
    "test-only environment overrides (the test suite points them at a local server):\n"
    "  MNV2_FETCH_URL (comma-separated), MNV2_FETCH_SIZE, MNV2_FETCH_SHA384,\n"
    "  MNV2_LABELS_URL, MNV2_LABELS_SIZE, MNV2_LABELS_SHA256,\n"
    "  MNV2_SAMPLE_URL, MNV2_SAMPLE_SIZE, MNV2_SAMPLE_SHA256\n";

int run(const Args& a) {
  FetchOptions o;
  if (a.positional().size() > 1) throw Error("mnv2 fetch takes at most one model name");
  if (!a.positional().empty()) o.model = a.positional().front();
  o.force = a.has("force");
  o.quiet = a.has("quiet");
  const FetchResult r = fetch_model(o);
  if (a.has("sample")) {
    std::printf("%s\n", fetch_sample_image(o.quiet).c_str());
    return 0;
  }
  if (a.has("json")) {
    std::string files;
    for (const auto& f : r.files) files += (files.empty() ? "\"" : ",\"") + json_escape(f) + "\"";
    std::printf(
        "{\"model\":\"%s\",\"model_dir\":\"%s\",\"model_path\":\"%s\",\"files\":[%s],"
        "\"labels_path\":\"%s\",\"model_downloaded\":%s,\"labels_downloaded\":%s,"
        "\"url\":\"%s\",\"bytes_downloaded\":%llu,\"resumed_from\":%llu}\n",
        json_escape(o.model).c_str(), json_escape(r.model_dir).c_str(),
        json_escape(r.model_path).c_str(), files.c_str(), json_escape(r.labels_path).c_str(),
        r.model_downloaded ? "true" : "false", r.labels_downloaded ? "true" : "false",
        json_escape(r.archive.url).c_str(), (unsigned long long)r.archive.downloaded,
        (unsigned long long)r.archive.resumed_from);
    return 0;
  }
  std::printf("%s %s\n", o.model.c_str(),
              r.model_downloaded ? "downloaded and verified" : "already in the cache");
  std::printf("model:  %s\n", r.model_path.c_str());
  std::printf("labels: %s\n", r.labels_path.c_str());
  return 0;
}

RegisterCommand reg({"fetch", kFetch, "download and verify the official model and ImageNet labels", kUsage,
                     kEpilogue, "mobilenet-v2-1.4-224", run});

}  // namespace
}  // namespace mnv2::cli
