// mnv2 eval: top-1 / top-5 accuracy of a model on a labelled image dataset.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "cli/image_inputs.h"
#include "eval/dataset.h"
#include "eval/metrics.h"
#include "eval/pipeline.h"
#include "fetch/cache.h"
#include "util/labels.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 eval DATASET [--model M] [options]\n\n"
    "Measures top-1 / top-5 accuracy of a model on a labelled image dataset, with 95 %\n"
    "confidence intervals (Wilson score interval), per-class accuracy and the most confused\n"
    "class pairs. Images are decoded and preprocessed on worker threads while the model\n"
    "runs; memory stays flat whatever the dataset size. Ctrl-C stops early and prints the\n"
    "result so far (exit status 130).\n\n"
    "dataset layouts:\n"
    "  DATASET --labels-file FILE   DATASET is a folder of images, FILE has 'file label'\n"
    "                               lines (Open Model Zoo val.txt form, labels 0..999)\n"
    "  DATASET                      a folder of class sub-folders (val/n01440764/*.JPEG);\n"
    "                               labels follow --synsets FILE (one WordNet id per line)\n"
    "                               or the sorted folder names\n"
    "  [DATASET] --csv FILE         'path,label' rows; relative paths join DATASET (default:\n"
    "                               the CSV's folder); a header row is skipped\n";

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Installs the Ctrl-C handler for the duration of the run. SA_RESETHAND: a second Ctrl-C
// kills the process the usual way.
struct SigintGuard {
  struct sigaction old {};
  SigintGuard() {
    g_interrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART;  // reads in the decoders are not cut short
    sigaction(SIGINT, &sa, &old);
  }
  ~SigintGuard() { sigaction(SIGINT, &old, nullptr); }
};

bool file_exists(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string duration_text(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  const long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

class ProgressBar {
 public:
  ProgressBar(bool enabled, size_t total) : on_(enabled), total_(total), t0_(now()) {}
  void update(size_t done, bool force = false) {
    if (!on_) return;
    const double t = now();
    if (!force && t - last_ < 0.1) return;
    last_ = t;
    const double el = t - t0_;
    const double rate = el > 0 ? double(done) / el : 0;
    const double eta = rate > 0 ? double(total_ - done) / rate : -1;
    const int width = 30;
    const int fill = total_ ? int(double(width) * double(done) / double(total_)) : width;
    std::string bar(size_t(fill), '=');
    if (fill < width) bar += '>' + std::string(size_t(width - fill - 1), ' ');
    std::fprintf(stderr, "\r[%s] %zu/%zu %5.1f%%  %.1f images/s  ETA %s ", bar.c_str(), done,
                 total_, total_ ? 100.0 * double(done) / double(total_) : 100.0, rate,
                 duration_text(eta).c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (on_ && shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
  }
  void finish(size_t done) {
    if (!on_) return;
    update(done, true);
    std::fputc('\n', stderr);
    shown_ = false;
  }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  bool on_;
  size_t total_;
  double t0_, last_ = 0;
  bool shown_ = false;
};

int default_decode_threads() {
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(cores / 2, 1, 8);
}

int run(const Args& a) {
  const ImageBatchOptions img_opt = image_batch_options(a);
  const bool json = a.has("json"), strict = a.has("strict");
  const int decode_threads = a.get_int("decode-threads", default_decode_threads(), 1, 256);
  const int limit = a.get_int("limit", 0, 1, 2000000000);
  const bool shuffle = a.has("shuffle-seed");
  const int shuffle_seed = a.get_int("shuffle-seed", 0, 0, 2147483647);

  // ---- The dataset.
  const size_t skip = model_positional_count(a);
  if (skip && !a.positional().empty() &&
      a.positional().front().find_first_not_of("0123456789") != std::string::npos)
    throw Error("--synthetic W R: the resolution R must follow W directly (e.g. `mnv2 eval "
                "--synthetic 1.4 224 DATASET`), got '" + a.positional().front() + "'");
  std::vector<std::string> pos(a.positional().begin() + long(std::min(skip, a.positional().size())),
                               a.positional().end());
  if (pos.size() > 1) throw Error("one DATASET expected, got " + std::to_string(pos.size()) + " (see --help)");
  const std::string root = pos.empty() ? "" : pos[0];
  if (a.has("labels-file") && a.has("csv")) throw Error("give --labels-file or --csv, not both");
  if (a.has("synsets") && (a.has("labels-file") || a.has("csv")))
    throw Error("--synsets applies to synset folders only, not with --labels-file or --csv");
  eval::Dataset ds;
  if (a.has("csv")) {
    const std::string csv = a.get("csv");
    std::string base = root;
    if (base.empty()) base = std::filesystem::path(csv).parent_path().string();
    ds = eval::load_csv(base, csv);
  } else {
    if (root.empty()) throw Error("no DATASET given (see --help)");
    if (a.has("labels-file")) {
      ds = eval::load_list(root, a.get("labels-file"));
    } else if (std::error_code ec; !std::filesystem::is_directory(root, ec)) {
      throw Error(root + ": not a folder (give a dataset folder; see --help)");
    } else if (a.has("synsets") || eval::looks_like_synset_folders(root)) {
      ds = eval::load_synset_folders(root, a.get("synsets"));
    } else {
      std::string hint;
      if (file_exists(root + "/val.txt")) hint = " (it has a val.txt: add --labels-file " + root + "/val.txt)";
      throw Error(root + ": image files but no labels: give --labels-file FILE or --csv FILE, or "
                         "arrange the images in class sub-folders" + hint);
    }
  }
  const size_t total_listed = ds.samples.size();
  eval::select_subset(ds.samples, size_t(limit), shuffle, uint64_t(shuffle_seed));

  // ---- The model and the label mapping.
  Model model = open_image_model(a, img_opt.batch);
  const ModelInfo& info = model.info();
  const int offset = a.has("label-offset") ? a.get_int("label-offset", 0, -1000000, 1000000)
                                           : (info.has_background ? 1 : 0);
  std::vector<int> truth(ds.samples.size());
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    const long c = long(ds.samples[i].label) + offset;
    if (c < 0 || c >= info.num_classes)
      throw Error(ds.samples[i].name + ": label " + std::to_string(ds.samples[i].label) +
                  " with offset " + std::to_string(offset) + " is class " + std::to_string(c) +
                  ", outside the model's " + std::to_string(info.num_classes) +
                  " classes (check --label-offset)");
    truth[i] = int(c);
  }
  std::vector<std::string> names(size_t(info.num_classes));
  {
    const Labels l = resolve_labels(a.get("names"), cached_labels_path(), info.num_classes, info.has_background);
    if (!l.names.empty()) {
      for (size_t c = 0; c < names.size() && c < l.names.size(); ++c) names[c] = l.names[c];
    } else {
      for (size_t lab = 0; lab < ds.label_names.size(); ++lab) {
        const long c = long(lab) + offset;
        if (c >= 0 && c < info.num_classes) names[size_t(c)] = ds.label_names[lab];
      }
    }
  }

  // ---- The per-image report.
  std::unique_ptr<FILE, int (*)(FILE*)> report(nullptr, &std::fclose);
  const int K = std::min(5, info.num_classes);
  if (a.has("report")) {
    const std::string rp = a.get("report");
    report.reset(std::fopen(rp.c_str(), "w"));
    if (!report) throw Error(rp + ": cannot write report (" + std::strerror(errno) + ")");
    std::string h = "file,label,class";
    for (int t = 1; t <= K; ++t) h += ",top" + std::to_string(t) + ",prob" + std::to_string(t);
    h += ",top1_correct,top5_correct,error\n";
    std::fputs(h.c_str(), report.get());
  }

  std::vector<std::string> paths(ds.samples.size());
  for (size_t i = 0; i < paths.size(); ++i) paths[i] = ds.samples[i].path;

  eval::PipelineOptions po;
  po.mode = img_opt.mode;
  po.decode = img_opt.decode;
  po.batch = img_opt.batch;
  po.decode_threads = decode_threads;

  eval::Accuracy acc(info.num_classes);
  std::vector<std::pair<size_t, std::string>> failures;
  ProgressBar bar(!a.has("quiet") && isatty(STDERR_FILENO), paths.size());
  size_t handled = 0;
  // Rows of unreadable images wait here so the report stays in dataset order (a batch's
  // failures are reported before its decoded images run).
  std::map<size_t, std::string> pending_rows;
  auto flush_pending = [&](size_t below, std::string& out) {
    while (!pending_rows.empty() && pending_rows.begin()->first < below) {
      out += pending_rows.begin()->second;
      pending_rows.erase(pending_rows.begin());
    }
  };

  eval::PipelineStats st;
  {
    SigintGuard sig;
    st = eval::run_pipeline(
        model, paths, po,
        [&](const std::vector<size_t>& idx, const float* probs) {
          std::string rows;
          for (size_t b = 0; b < idx.size(); ++b) {
            const float* p = probs + b * size_t(info.num_classes);
            const auto top = eval::top_k(p, info.num_classes, K);
            const int t = truth[idx[b]];
            acc.add(t, top);
            if (report) {
              flush_pending(idx[b], rows);
              rows += csv_quote(ds.samples[idx[b]].name) + "," +
                      std::to_string(ds.samples[idx[b]].label) + "," + std::to_string(t);
              for (int c : top) rows += "," + std::to_string(c) + "," + fmt("%.6g", double(p[c]));
              const bool h5 = std::find(top.begin(), top.end(), t) != top.end();
              rows += std::string(",") + (top[0] == t ? "1" : "0") + "," + (h5 ? "1" : "0") + ",\n";
            }
          }
          if (report) {
            std::fputs(rows.c_str(), report.get());
            std::fflush(report.get());
          }
          handled = idx.back() + 1;
          bar.update(handled);
        },
        [&](size_t i, const std::string& msg) {
          if (strict) throw Error(msg + " (--strict)");
          failures.emplace_back(i, msg);
          bar.clear();
          std::fprintf(stderr, "mnv2 eval: unreadable image: %s\n", msg.c_str());
          if (report) {
            std::string row = csv_quote(ds.samples[i].name) + "," +
                              std::to_string(ds.samples[i].label) + "," + std::to_string(truth[i]);
            for (int t = 0; t < K; ++t) row += ",,";
            row += ",,," + csv_quote(msg) + "\n";
            pending_rows.emplace(i, std::move(row));
          }
        },
        &g_interrupted);
  }
  bar.finish(st.finished);
  if (report) {
    std::string rest;
    flush_pending(SIZE_MAX, rest);
    std::fputs(rest.c_str(), report.get());
  }
  if (report && std::fflush(report.get()) != 0) throw Error(a.get("report") + ": write error");

  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_mib = double(ru.ru_maxrss) / 1024.0;
  const eval::Interval ci1 = eval::wilson_interval(acc.top1(), acc.images());
  const eval::Interval ci5 = eval::wilson_interval(acc.top5(), acc.images());
  const auto confused = acc.most_confused(20);
  const double n = double(std::max<size_t>(1, acc.images()));
  const double ips = st.wall_s > 0 ? double(st.evaluated) / st.wall_s : 0;
  const char* layout = ds.layout.c_str();
  const size_t decoded = st.evaluated + failures.size();
  const double decode_ms = decoded ? 1000.0 * st.decode_s / double(decoded) : 0.0;

  if (json) {
    std::string o = "{";
    o += "\"model\":\"" + json_escape(info.name) + "\",\"format\":\"" + json_escape(info.format) +
         "\",\"preprocess\":\"" + image::preprocess_mode_name(po.mode) + "\",\"dataset\":\"" +
         json_escape(root) + "\",\"layout\":\"" + layout + "\",\"label_offset\":" +
         std::to_string(offset) + ",\"classes\":" + std::to_string(info.num_classes) +
         ",\"listed\":" + std::to_string(total_listed) + ",\"selected\":" +
         std::to_string(paths.size()) + ",\"evaluated\":" + std::to_string(acc.images()) +
         ",\"unreadable\":" + std::to_string(failures.size()) +
         ",\"interrupted\":" + (st.interrupted ? "true" : "false") + ",\"interval\":\"wilson\"";
    auto fig = [&](const char* key, size_t k, eval::Interval ci) {
      o += std::string(",\"") + key + "\":{\"correct\":" + std::to_string(k) + ",\"total\":" +
           std::to_string(acc.images()) + ",\"accuracy\":" + fmt("%.6f", acc.images() ? double(k) / n : 0.0) +
           ",\"ci95\":[" + fmt("%.6f", ci.lo) + "," + fmt("%.6f", ci.hi) + "]}";
    };
    fig("top1", acc.top1(), ci1);
    fig("top5", acc.top5(), ci5);
    o += ",\"per_class\":[";
    bool first = true;
    for (size_t c = 0; c < acc.per_class().size(); ++c) {
      const auto& s = acc.per_class()[c];
      if (!s.images) continue;
      if (!first) o += ",";
      first = false;
      o += "{\"class\":" + std::to_string(c) + ",\"label\":" + std::to_string(long(c) - offset) +
           ",\"name\":\"" + json_escape(names[c]) + "\",\"images\":" + std::to_string(s.images) +
           ",\"top1\":" + std::to_string(s.top1) + ",\"top5\":" + std::to_string(s.top5) + "}";
    }
    o += "],\"confused\":[";
    for (size_t i = 0; i < confused.size(); ++i) {
      const auto& c = confused[i];
      if (i) o += ",";
      o += "{\"truth\":" + std::to_string(c.truth) + ",\"predicted\":" + std::to_string(c.predicted) +
           ",\"count\":" + std::to_string(c.count) + ",\"truth_name\":\"" +
           json_escape(names[size_t(c.truth)]) + "\",\"predicted_name\":\"" +
           json_escape(names[size_t(c.predicted)]) + "\"}";
    }
    o += "],\"errors\":[";
    for (size_t i = 0; i < failures.size(); ++i) {
      if (i) o += ",";
      o += "{\"file\":\"" + json_escape(ds.samples[failures[i].first].name) + "\",\"error\":\"" +
           json_escape(failures[i].second) + "\"}";
    }
    o += "],\"throughput\":{\"batch\":" + std::to_string(po.batch) + ",\"threads\":" +
         std::to_string(model.threads()) + ",\"decode_threads\":" + std::to_string(decode_threads) +
         ",\"seconds\":" + fmt("%.3f", st.wall_s) + ",\"images_per_s\":" + fmt("%.2f", ips) +
         ",\"inference_s\":" + fmt("%.3f", st.infer_s) + ",\"decode_wait_s\":" +
         fmt("%.3f", st.wait_s) + ",\"decode_s\":" + fmt("%.3f", st.decode_s) +
         ",\"decode_ms_per_image\":" + fmt("%.3f", decode_ms) + ",\"queue_batches\":" + std::to_string(st.queue_batches) +
         ",\"queue_mib\":" + fmt("%.1f", double(st.buffer_bytes) / 1048576.0) + "}" +
         ",\"peak_rss_mib\":" + fmt("%.1f", peak_mib) + "}\n";
    std::fputs(o.c_str(), stdout);
  } else {
    std::printf("model       %s (%s), %d classes, preprocess %s, label offset %+d\n",
                info.name.c_str(), info.format.c_str(), info.num_classes,
                image::preprocess_mode_name(po.mode), offset);
    std::printf("dataset     %s (%s), %zu images listed, %zu selected\n",
                root.empty() ? a.get("csv").c_str() : root.c_str(), layout, total_listed, paths.size());
    std::printf("\nper-class accuracy (classes with images):\n");
    std::printf("  %5s %5s %7s %7s %7s  %s\n", "class", "label", "images", "top-1", "top-5", "name");
    for (size_t c = 0; c < acc.per_class().size(); ++c) {
      const auto& s = acc.per_class()[c];
      if (!s.images) continue;
      std::printf("  %5zu %5ld %7zu %6.2f%% %6.2f%%  %s\n", c, long(c) - offset, s.images,
                  100.0 * double(s.top1) / double(s.images), 100.0 * double(s.top5) / double(s.images),
                  names[c].c_str());
    }
    std::printf("\nmost confused (true class -> top-1 prediction, %zu pair%s):\n", confused.size(),
                confused.size() == 1 ? "" : "s");
    for (const auto& c : confused)
      std::printf("  %5zu  %4d %-28s -> %4d %s\n", c.count, c.truth,
                  names[size_t(c.truth)].substr(0, 28).c_str(), c.predicted,
                  names[size_t(c.predicted)].c_str());
    if (!failures.empty()) {
      std::printf("\nunreadable images (%zu, left out of the figures):\n", failures.size());
      for (const auto& f : failures) std::printf("  %s\n", f.second.c_str());
    }
    std::printf("\n");
    if (st.interrupted)
      std::printf("INTERRUPTED   partial result: %zu of %zu selected images handled\n", st.finished,
                  paths.size());
    std::printf("images      %zu evaluated, %zu unreadable\n", acc.images(), failures.size());
    std::printf("top-1       %6.2f %%  (%zu / %zu)  95%% CI [%.2f, %.2f] %% (Wilson score)\n",
                acc.images() ? 100.0 * double(acc.top1()) / n : 0.0, acc.top1(), acc.images(),
                100 * ci1.lo, 100 * ci1.hi);
    std::printf("top-5       %6.2f %%  (%zu / %zu)  95%% CI [%.2f, %.2f] %% (Wilson score)\n",
                acc.images() ? 100.0 * double(acc.top5()) / n : 0.0, acc.top5(), acc.images(),
                100 * ci5.lo, 100 * ci5.hi);
    std::printf("throughput  %.1f images/s over %.2f s (batch %d, %d inference thread%s, %d decode "
                "thread%s)\n",
                ips, st.wall_s, po.batch, model.threads(), model.threads() == 1 ? "" : "s",
                decode_threads, decode_threads == 1 ? "" : "s");
    std::printf("time        inference %.2f s (%.1f ms/image), waiting for decoded images %.2f s, "
                "decode+preprocess %.2f ms/image per worker; peak RSS %.1f MiB\n",
                st.infer_s, st.evaluated ? 1000.0 * st.infer_s / double(st.evaluated) : 0.0,
                st.wait_s, decode_ms, peak_mib);
  }
  std::fflush(stdout);
  if (st.interrupted) {
    std::fprintf(stderr, "mnv2 eval: interrupted: partial result above (%zu of %zu images)\n",
                 st.finished, paths.size());
    return 130;
  }
  if (acc.images() == 0) {
    std::fprintf(stderr, "mnv2 eval: error: none of the %zu images could be read\n", paths.size());
    return 1;
  }
  return 0;
}

RegisterCommand reg({"eval", kEval, "top-1/top-5 accuracy on a labelled image dataset", kUsage, nullptr, nullptr,
                     run});

}  // namespace
}  // namespace mnv2::cli
