#include "quant/calibration.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <cmath>
#include <limits>

#include "runtime/reference.h"

namespace mnv2::quant {

CalibrationMethod parse_calibration_method(const std::string& s) {
  if (s == "minmax") return CalibrationMethod::MinMax;
  if (s == "percentile") return CalibrationMethod::Percentile;
  if (s == "entropy") return CalibrationMethod::Entropy;
  throw Error("unknown calibration method '" + s + "' (use minmax, percentile or entropy)");
}

const char* calibration_method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::MinMax: return "minmax";
    case CalibrationMethod::Percentile: return "percentile";
    case CalibrationMethod::Entropy: return "entropy";
  }
  return "?";
}

void TensorStats::grow_to(double absmax) {
  if (range_ <= 0) {
    // Ranges are powers of two (the smallest above the largest magnitude seen), so bin
    // edges are exact binary fractions, doubling merges bins exactly, and the histogram is
    // the same whatever image came first.
    range_ = std::ldexp(1.0, -60);
    pos_.assign(kBins, 0);
    neg_.assign(kBins, 0);
  }
  while (absmax >= range_) {
    for (std::vector<int64_t>* h : {&pos_, &neg_}) {
      std::vector<int64_t>& v = *h;
      for (int i = 0; i < kBins / 2; ++i) v[size_t(i)] = v[size_t(2 * i)] + v[size_t(2 * i + 1)];
      std::fill(v.begin() + kBins / 2, v.end(), 0);
    }
    range_ *= 2;
  }
}

void TensorStats::add(const double* x, size_t n) {
  if (n == 0) return;
  double lo = x[0], hi = x[0];
  for (size_t i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw Error("calibration: a non-finite activation value (the model overflows on this input)");
  if (count_ == 0) {
    min_ = lo, max_ = hi;
  } else {
    min_ = std::min(min_, lo), max_ = std::max(max_, hi);
  }
  grow_to(std::max(std::fabs(lo), std::fabs(hi)));
  const double inv = kBins / range_;
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (v == 0) {
      ++zeros_;
      continue;
    }
    const int b = std::min(kBins - 1, int(std::fabs(v) * inv));
    ++(v < 0 ? neg_ : pos_)[size_t(b)];
  }
  count_ += int64_t(n);
}

double stats_quantile(const TensorStats& s, double fraction) {
  if (s.empty()) return 0;
  if (fraction <= 0) return s.min();
  if (fraction >= 1) return s.max();
  const double target = fraction * double(s.count());
  const double w = s.range() / TensorStats::kBins;
  double cum = 0;
  double v = s.max();
  bool found = false;
  // From the most negative bin up: neg bin k holds (-(k+1)w, -kw].
  for (int k = TensorStats::kBins - 1; k >= 0 && !found; --k) {
    const double c = double(s.neg()[size_t(k)]);
    if (c > 0 && cum + c >= target) {
      const double t = (target - cum) / c;  // position inside the bin, linear
      v = -(k + 1) * w + t * w;
      found = true;
    }
    cum += c;
  }
  if (!found && cum + double(s.zeros()) >= target) {
    v = 0;
    found = true;
  }
  cum += double(s.zeros());
  for (int k = 0; k < TensorStats::kBins && !found; ++k) {
    const double c = double(s.pos()[size_t(k)]);
    if (c > 0 && cum + c >= target) {
      const double t = (target - cum) / c;
      v = k * w + t * w;
      found = true;
    }
    cum += c;
  }
  return std::clamp(v, s.min(), s.max());
}

double entropy_threshold(const TensorStats& s, int levels, bool nonneg) {
  if (s.empty()) return 0;
  const int nb = TensorStats::kBins;
  std::vector<double> h(static_cast<size_t>(nb), 0.0);
  for (int k = 0; k < nb; ++k)
    h[size_t(k)] = double(s.pos()[size_t(k)]) + (nonneg ? 0.0 : double(s.neg()[size_t(k)]));
  int last = nb - 1;
  while (last > 0 && h[size_t(last)] == 0) --last;
  const double w = s.range() / nb;
  const int used = last + 1;
  if (used <= levels) return used * w;  // the data already fits the grid: no clipping

  // Prefix sums: counts, non-empty bins, and h log h, so that each candidate threshold
  // costs O(levels) instead of O(bins).
  std::vector<double> H(size_t(nb) + 1, 0.0), NZ(size_t(nb) + 1, 0.0), HL(size_t(nb) + 1, 0.0);
  for (int k = 0; k < nb; ++k) {
    const double v = h[size_t(k)];
    H[size_t(k) + 1] = H[size_t(k)] + v;
    NZ[size_t(k) + 1] = NZ[size_t(k)] + (v > 0 ? 1 : 0);
    HL[size_t(k) + 1] = HL[size_t(k)] + (v > 0 ? v * std::log(v) : 0.0);
  }
  const double total = H[size_t(nb)];
  if (total <= 0) return 0;
  const double log_total = std::log(total);
  constexpr double kFloorQ = 1e-12;  // smoothing where P has mass and Q has none

  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = used;
  for (int i = levels; i <= used; ++i) {
    // P: bins [0, i) with everything beyond clipped into bin i-1. Q: bins [0, i) merged
    // into `levels` groups, each group's mass spread evenly over its non-empty bins.
    // KL(p||q) with p = P / total, q = Q / S, S = mass of bins [0, i).
    const double S = H[size_t(i)];
    const double out = total - S;
    const double lastP = h[size_t(i - 1)] + out;
    double plogp = HL[size_t(i - 1)] + (lastP > 0 ? lastP * std::log(lastP) : 0.0);
    double plogq = 0, lastQ = 0;
    for (int g = 0; g < levels; ++g) {
      const int b0 = int(int64_t(g) * i / levels), b1 = int(int64_t(g + 1) * i / levels);
      const double m = H[size_t(b1)] - H[size_t(b0)], n = NZ[size_t(b1)] - NZ[size_t(b0)];
      if (n > 0) {
        plogq += m * std::log(m / n);
        if (g == levels - 1) lastQ = m / n;
      }
    }
    double kl;
    if (out > 0 && h[size_t(i - 1)] > 0) {
      plogq += out * std::log(lastQ);
      kl = plogp / total - log_total - plogq / total + std::log(S);
    } else if (out > 0) {
      // Bin i-1 is empty: only the clipped outliers land there, where q is 0.
      const double p_out = out / total;
      plogp -= out * std::log(out);
      kl = plogp / total - (1 - p_out) * log_total - plogq / total + (1 - p_out) * std::log(S) +
           p_out * std::log(p_out / kFloorQ);
    } else {
      kl = plogp / total - log_total - plogq / total + std::log(S);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return best_i * w;
}

Range calibrated_range(const TensorStats& s, const CalibrationSettings& c) {
  Range r;
  if (s.empty()) return r;
  switch (c.method) {
    case CalibrationMethod::MinMax:
      r.lo = s.min(), r.hi = s.max();
      break;
    case CalibrationMethod::Percentile: {
      const double f = c.percentile / 100.0;
      r.lo = stats_quantile(s, 1.0 - f);
      r.hi = stats_quantile(s, f);
      break;
    }
    case CalibrationMethod::Entropy: {
      const bool nonneg = s.min() >= 0;
      const double t = entropy_threshold(s, nonneg ? 255 : 128, nonneg);
      r.lo = std::max(s.min(), -t);
      r.hi = std::min(s.max(), t);
      break;
    }
  }
  r.lo = std::min(r.lo, 0.0);
  r.hi = std::max(r.hi, 0.0);
  return r;
}

GraphObserver::GraphObserver(const Graph& g) : g_(g), stats_(g.nodes.size()) {
  for (int id = 0; id < int(g.nodes.size()); ++id) ids_.push_back(id);
}

void GraphObserver::observe(const float* input, int batch) {
  const ReferenceResult r = reference_run(g_, input, batch, ids_);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, v] : r.kept) stats_[size_t(id)].add(v.data(), v.size());
  images_ += batch;
}

}  // namespace mnv2::quant

namespace mnv2::quant {

int observe_images(GraphObserver& observer, const Graph& g, const std::vector<std::string>& files,
                   const ImageCalibrationOptions& options,
                   const std::function<void(size_t, size_t)>& on_progress,
                   const std::function<void(size_t, const std::string&)>& on_error) {
  const ModelInfo& info = g.info;
  const size_t per = size_t(info.height) * size_t(info.width) * size_t(info.channels);
  std::atomic<size_t> next{0};
  std::mutex mu;  // serialises the callbacks
  size_t done = 0;
  int observed = 0;
  std::exception_ptr failure;
  auto worker = [&] {
    std::vector<float> x(per);
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (failure) return;
      }
      std::string err;
      try {
        const image::Image img = image::decode_file(files[i], options.decode);
        image::preprocess(img, info, options.mode, x.data());
      } catch (const Error& e) {
        err = e.what();
      } catch (const std::bad_alloc&) {
        err = files[i] + ": out of memory while decoding";
      }
      if (err.empty()) {
        try {
          observer.observe(x.data(), 1);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu);
          if (!failure) failure = std::current_exception();
          return;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!err.empty()) {
        if (on_error) on_error(i, err);
      } else {
        ++observed;
      }
      ++done;
      if (on_progress) on_progress(done, files.size());
    }
  };
  const int nt = std::max(1, std::min<int>(options.threads, int(files.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < nt; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  return observed;
}

}  // namespace mnv2::quant
