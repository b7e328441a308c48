// Activation statistics for post-training quantization: every node's fp32 output is
// observed over the calibration images (exact min/max plus a histogram), and a calibration
// method turns the statistics into the real range [lo, hi] that the int8 grid will cover.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace mnv2::quant {

enum class CalibrationMethod { MinMax, Percentile, Entropy };
CalibrationMethod parse_calibration_method(const std::string& s);
const char* calibration_method_name(CalibrationMethod m);

// Statistics of one tensor. Exact zeros (ReLU outputs are mostly zeros, and 0 is always on
// the int8 grid) are only counted; the histogram counts |x| separately for x > 0 (pos) and
// x < 0 (neg) in kBins bins of width range/kBins over [0, range), range a power of two. When
// a value beyond `range` arrives the range doubles and neighbouring bins merge pairwise,
// which is exact, so the histogram never depends on the order of the images.
class TensorStats {
 public:
  static constexpr int kBins = 2048;
  void add(const double* x, size_t n);
  bool empty() const { return count_ == 0; }
  double min() const { return min_; }
  double max() const { return max_; }
  int64_t count() const { return count_; }  // all values, zeros included
  int64_t zeros() const { return zeros_; }
  double range() const { return range_; }
  const std::vector<int64_t>& pos() const { return pos_; }
  const std::vector<int64_t>& neg() const { return neg_; }

 private:
  void grow_to(double absmax);
  double min_ = 0, max_ = 0, range_ = 0;
  int64_t count_ = 0, zeros_ = 0;
  std::vector<int64_t> pos_, neg_;
};

// The value v with a fraction `fraction` (0..1) of the observations <= v, from the
// histogram (bin resolution), clamped into [min, max].
double stats_quantile(const TensorStats& s, double fraction);

// TensorRT-style entropy calibration: the clipping threshold T (on |x|) minimising the
// KL divergence between the observed non-zero distribution clipped at T and its
// quantization to `levels` levels. `nonneg` uses the x > 0 histogram only, else |x| of
// both signs.
double entropy_threshold(const TensorStats& s, int levels, bool nonneg);

struct CalibrationSettings {
  CalibrationMethod method = CalibrationMethod::MinMax;
  double percentile = 99.99;  // Percentile: keep this percentage of the values
};

// The range [lo, hi] (lo <= 0 <= hi) chosen for one tensor.
struct Range {
  double lo = 0, hi = 0;
};
Range calibrated_range(const TensorStats& s, const CalibrationSettings& c);

// Observes every node of a graph over calibration images. Thread-safe `observe` runs the
// double-precision reference executor on its images and merges the statistics.
class GraphObserver {
 public:
  explicit GraphObserver(const Graph& g);
  // `batch` NHWC images in the graph's input domain.
  void observe(const float* input, int batch);
  const std::vector<TensorStats>& stats() const { return stats_; }
  int images() const { return images_; }

 private:
  const Graph& g_;
  std::vector<int> ids_;
  std::vector<TensorStats> stats_;
  int images_ = 0;
  std::mutex mu_;
};

}  // namespace mnv2::quant

#include <functional>

#include "image/decode.h"
#include "image/preprocess.h"

namespace mnv2::quant {

struct ImageCalibrationOptions {
  image::PreprocessMode mode = image::PreprocessMode::Omz;
  image::DecodeOptions decode;
  int threads = 2;  // images observed in parallel
};

// Decodes and preprocesses each image for g's input contract (as `mnv2 classify` does) and
// observes it. An image that cannot be read is reported through `on_error` and skipped;
// `on_progress(done, total)` is called after each image; the callbacks never run concurrently.
// Returns the number of images observed.
int observe_images(GraphObserver& observer, const Graph& g, const std::vector<std::string>& files,
                   const ImageCalibrationOptions& options,
                   const std::function<void(size_t done, size_t total)>& on_progress,
                   const std::function<void(size_t index, const std::string& message)>& on_error);

}  // namespace mnv2::quant
