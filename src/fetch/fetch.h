// `mnv2 fetch`: downloads the official MobileNetV2 1.4/224 archive and the ImageNet label
// file into the cache (src/fetch/cache.h), verifying pinned sizes and checksums, resuming
// partial downloads, and unpacking only the expected model files, safely and atomically.
//
// Test-only environment overrides (never needed by users; the tests point them at a local
// server): MNV2_FETCH_URL (comma-separated URLs), MNV2_FETCH_SIZE, MNV2_FETCH_SHA384,
// MNV2_LABELS_URL, MNV2_LABELS_SIZE, MNV2_LABELS_SHA256.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fetch/digest.h"

namespace mnv2 {

// One file to download: where from (tried in order), how big, and its checksum.
struct DownloadSpec {
  std::vector<std::string> urls;
  uint64_t size = 0;
  DigestAlgorithm hash = DigestAlgorithm::Sha384;
  std::string hex;  // expected digest, lower-case hex
  std::string what; // human name for messages, e.g. "model archive"
  // Appended to the error when a URL failed at the network level (no answer); otherwise
  // (HTTP errors such as 404, size or checksum mismatches) `answer_hint` is.
  std::string network_hint;
  std::string answer_hint;
};

struct DownloadResult {
  std::string url;           // the URL that delivered the file
  uint64_t downloaded = 0;   // bytes received over the network in this call
  uint64_t resumed_from = 0; // bytes of an earlier partial download that were reused
};

// Downloads spec into `dest`, using `part` as the resumable partial file (HTTP Range).
// Verifies size and checksum before renaming part -> dest; on a checksum or size mismatch
// the partial is deleted and the error names expected vs got. A partial left by a cut
// connection is kept so the next call resumes it. Throws mnv2::Error on failure with the
// transfer errors of every URL tried.
DownloadResult download_verified(const DownloadSpec& spec, const std::string& part,
                                 const std::string& dest, bool quiet);

// Limits that keep a hostile archive from filling the disk or taking forever.
struct UnpackLimits {
  uint64_t max_total_bytes = uint64_t(1) << 30;  // sum of all members' sizes
  uint64_t max_entries = 10000;
};

// Unpacks a (gzip/bzip2/xz-compressed or plain) tar archive into `dest_dir`, which must
// exist and be empty. Only regular-file members whose name is one of `members` (either at
// the top level or inside one top folder) are written, under that bare name; other regular
// files and directories are skipped. The whole archive is refused (mnv2::Error, nothing
// kept) if any member has an absolute path or a ".." component, is a symlink, hard link,
// device or fifo, appears twice, or the limits are exceeded. Returns the names written.
std::vector<std::string> unpack_archive_members(const std::string& archive,
                                                const std::string& dest_dir,
                                                const std::vector<std::string>& members,
                                                const UnpackLimits& limits = {});

struct FetchOptions {
  std::string model = "mobilenet-v2-1.4-224";
  bool force = false;   // download and unpack again even if the cache already has it
  bool quiet = false;   // no progress or status lines on stderr
  bool labels = true;   // also fetch the ImageNet label file
};

struct FetchResult {
  std::string model_dir;
  std::string model_path;  // the file default_model_path() would return
  std::vector<std::string> files;  // member names present in model_dir
  std::string labels_path;         // empty when labels were not requested
  bool model_downloaded = false;   // false: the cache already had it
  bool labels_downloaded = false;
  DownloadResult archive;          // details of the archive download, if one happened
};

// The model names `mnv2 fetch` knows.
std::vector<std::string> fetchable_models();
// Fetches the model (and labels) into the cache. Holds a lock file so two concurrent
// fetches into the same cache do not interfere.
FetchResult fetch_model(const FetchOptions& opts);

// The cached model file to load: the float .tflite if present, else the frozen .pb.
// Downloads first when missing and allow_download; otherwise throws mnv2::Error saying
// that `mnv2 fetch` needs network and how to pass --model PATH instead.
std::string default_model_path(bool allow_download, bool quiet);

// The pinned facts of the official archive (exposed for docs and tests).
struct ModelSource {
  std::vector<std::string> urls;
  uint64_t size;
  std::string sha384;
  std::vector<std::string> members;
};
ModelSource official_model_source();
struct LabelsSource {
  std::string url;
  uint64_t size;
  std::string sha256;
};
LabelsSource official_labels_source();

// A sample photo for the quick start (Grace Hopper, public domain, pinned by checksum),
// downloaded once into <cache>/samples/. Returns its path. Test-only overrides:
// MNV2_SAMPLE_URL, MNV2_SAMPLE_SIZE, MNV2_SAMPLE_SHA256.
std::string fetch_sample_image(bool quiet);

}  // namespace mnv2
