// mnv2._mnv2: the Python binding of libmnv2 (pybind11).
//
// Classification and embedding reuse the library's own steps (image::decode_memory,
// image::preprocess, align_labels, top_k_classes, Model::run), so results equal the CLI's.
//
// Exceptions (documented in docs/python.md):
//   OSError (FileNotFoundError, IsADirectoryError, PermissionError, ...): a file named by a
//     path could not be read (image, model, labels); network failures of fetch().
//   ValueError: the data was read but is invalid (corrupt image or model, wrong array
//     shape/dtype, unknown option value) -- the engine's mnv2::Error message.
//   TypeError: an argument of the wrong Python type.
// The GIL is released while files are read, images decoded and preprocessed and the
// model runs; Model.run calls on one Model are serialised by a per-model mutex, so use one
// Model per thread for parallel inference.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/bench.h"
#include "api/cpu_report.h"
#include "docs.h"
#include "image/decode.h"
#include "image/preprocess.h"
#include "mnv2/mnv2.h"
#include "fetch/cache.h"
#include "fetch/fetch.h"
#include "util/labels.h"

namespace py = pybind11;
using namespace mnv2;

namespace {

// A file could not be read: raised in Python as OSError(errno, message, filename), which
// Python turns into the matching subclass (FileNotFoundError, ...).
struct FileError : std::exception {
  int err;
  std::string message, filename;
  FileError(int e, std::string m, std::string f) : err(e), message(std::move(m)), filename(std::move(f)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

// Checks that `path` names a readable regular file before handing it to the library, so
// that I/O problems surface as OSError and content problems as ValueError.
void check_readable_file(const std::string& path, const char* what) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    const int e = errno;
    throw FileError(e, path + ": cannot open " + what + " (" + std::strerror(e) + ")", path);
  }
  if (S_ISDIR(st.st_mode)) throw FileError(EISDIR, path + ": is a folder, expected a file (" + std::string(what) + ")", path);
}

std::vector<uint8_t> read_file(const std::string& path) {
  check_readable_file(path, "image");
  errno = 0;
  try {
    return image::read_all(path);
  } catch (const Error& e) {
    throw FileError(errno ? errno : EIO, e.what(), path);
  }
}

std::string fspath(const py::handle& h) {
  py::object p = py::module_::import("os").attr("fspath")(h);
  if (!py::isinstance<py::str>(p)) throw py::type_error("paths must be str or os.PathLike of str");
  return p.cast<std::string>();
}

bool is_path_like(const py::handle& h) {
  return py::isinstance<py::str>(h) || py::hasattr(h, "__fspath__");
}

// One image to classify, captured while holding the GIL so that the work after it can run
// without: a path, a copy of encoded bytes, or decoded pixels from a numpy array.
struct Item {
  enum class Kind { Path, Bytes, Pixels } kind = Kind::Path;
  std::string name;               // path, or "<bytes #i>" / "<array #i>" for messages
  std::vector<uint8_t> bytes;     // Kind::Bytes
  image::Image pixels;            // Kind::Pixels
};

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

Item pixels_item(const py::array& a, const std::string& name, int64_t max_pixels) {
  if (a.dtype().kind() != 'u' || a.itemsize() != 1)
    throw Error(name + ": image arrays must be uint8 of shape (height, width, 3) in RGB order, got dtype " +
                py::str(a.dtype()).cast<std::string>() + " (use Model.run for float tensors)");
  if (a.ndim() != 3 || a.shape(2) != 3)
    throw Error(name + ": image arrays must have shape (height, width, 3), got " + shape_str(a));
  if (a.shape(0) < 1 || a.shape(1) < 1) throw Error(name + ": image array is empty " + shape_str(a));
  if (a.shape(0) > 1 << 20 || a.shape(1) > 1 << 20 || int64_t(a.shape(0)) * a.shape(1) > max_pixels)
    throw Error(name + ": image array " + shape_str(a) + " exceeds the pixel limit of " +
                std::to_string(max_pixels));
  auto c = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!c) throw py::error_already_set();
  Item it;
  it.kind = Item::Kind::Pixels;
  it.name = name;
  it.pixels.height = int(a.shape(0));
  it.pixels.width = int(a.shape(1));
  it.pixels.pixels.assign(c.data(), c.data() + c.size());
  return it;
}

Item make_item(const py::handle& x, size_t index, int64_t max_pixels) {
  const std::string idx = std::to_string(index);
  if (is_path_like(x)) {
    Item it;
    it.kind = Item::Kind::Path;
    it.name = fspath(x);
    return it;
  }
  if (py::isinstance<py::bytes>(x) || py::isinstance<py::bytearray>(x) ||
      py::isinstance<py::memoryview>(x)) {
    py::buffer_info b = py::reinterpret_borrow<py::buffer>(x).request();
    Item it;
    it.kind = Item::Kind::Bytes;
    it.name = "<bytes #" + idx + ">";
    const auto* p = static_cast<const uint8_t*>(b.ptr);
    it.bytes.assign(p, p + b.size * b.itemsize);
    return it;
  }
  if (py::isinstance<py::array>(x))
    return pixels_item(py::reinterpret_borrow<py::array>(x), "<array #" + idx + ">", max_pixels);
  throw py::type_error("image " + idx + ": expected a path (str / os.PathLike), bytes of an encoded image "
                       "or a uint8 numpy array of shape (height, width, 3), got " +
                       std::string(py::str(py::type::handle_of(x).attr("__name__"))));
}

// Inputs: a single image, or a list/tuple of images, or a 4-D uint8 array (a batch).
// Returns the items and whether the caller passed a batch.
std::pair<std::vector<Item>, bool> make_items(const py::handle& x, int64_t max_pixels) {
  std::vector<Item> items;
  if (py::isinstance<py::list>(x) || py::isinstance<py::tuple>(x)) {
    size_t i = 0;
    for (py::handle h : x) items.push_back(make_item(h, i++, max_pixels));
    return {std::move(items), true};
  }
  if (py::isinstance<py::array>(x) && py::reinterpret_borrow<py::array>(x).ndim() == 4) {
    py::array a = py::reinterpret_borrow<py::array>(x);
    for (py::ssize_t i = 0; i < a.shape(0); ++i)
      items.push_back(pixels_item(py::reinterpret_borrow<py::array>(py::object(a[py::int_(i)])),
                                  "<array #" + std::to_string(i) + ">", max_pixels));
    return {std::move(items), true};
  }
  items.push_back(make_item(x, 0, max_pixels));
  return {std::move(items), false};
}

// The outcome of one item that failed, so that errors="return" can hand back the same
// exception errors="raise" would have raised.
struct ItemError {
  bool io = false;
  int err = 0;
  std::string message, filename;
};

struct Batch {
  std::vector<float> probs, features;   // rows for every item (NaN rows for failures)
  std::vector<std::optional<ItemError>> errors;
};

int parse_threads(const py::object& threads) {
  if (threads.is_none()) return 0;
  const long t = threads.cast<long>();
  if (t < 0 || t > 256) throw Error("threads must be in [0, 256] (0 = all cores), got " + std::to_string(t));
  return int(t);
}

Precision parse_precision(const std::string& p) {
  if (p == "auto") return Precision::Auto;
  if (p == "fp32" || p == "float32") return Precision::Fp32;
  if (p == "int8") return Precision::Int8;
  if (p == "bf16" || p == "bfloat16") return Precision::Bf16;
  throw Error("precision '" + p + "' is not one of 'auto', 'fp32', 'bf16', 'int8'");
}

class PyModel {
 public:
  // The arguments that built this model, kept for pickling (Dask ships models by spec).
  struct Spec {
    std::optional<std::string> path;
    std::optional<std::pair<double, int>> synthetic;
    int threads = 0;
    std::string precision = "auto";
    int classes = 1001;
    uint64_t seed = 1;
    py::object labels = py::none();  // None, a path or a list of str
    bool download = true;
  };

  // Called with the GIL held; it is released while the file is read (or downloaded)
  // and the model planned.
  explicit PyModel(Spec spec) : spec_(std::move(spec)), model_(open_without_gil(spec_)) {
    set_labels(spec_.labels);
  }

  const Spec& spec() const { return spec_; }
  Model& model() { return model_; }
  const ModelInfo& info() const { return model_.info(); }

  py::object labels() const {
    if (labels_.names.empty()) return py::none();
    return py::cast(labels_.names);
  }
  const std::string& labels_note() const { return labels_.note; }

  py::dict info_dict() const {
    const ModelInfo& i = info();
    py::dict d;
    d["name"] = i.name;
    d["format"] = i.format;
    d["input_name"] = i.input_name;
    d["output_name"] = i.output_name;
    const bool nchw = i.layout == Layout::NCHW;
    d["layout"] = nchw ? "NCHW" : "NHWC";
    d["input_shape"] = nchw ? py::make_tuple(-1, i.channels, i.height, i.width)
                            : py::make_tuple(-1, i.height, i.width, i.channels);
    d["height"] = i.height;
    d["width"] = i.width;
    d["channels"] = i.channels;
    d["channel_order"] = i.channel_order == ChannelOrder::RGB ? "RGB" : "BGR";
    py::dict norm;
    norm["in_graph"] = i.normalization_in_graph;
    norm["mean"] = i.mean;
    norm["scale"] = i.scale;
    d["normalization"] = norm;
    d["classes"] = i.num_classes;
    d["has_background"] = i.has_background;
    d["output_is_softmax"] = i.output_is_softmax;
    d["feature_dim"] = i.feature_dim;
    d["quantized"] = i.quantized;
    d["width_multiplier"] = i.width_multiplier;
    d["params"] = i.params;
    d["macs"] = i.macs;
    d["threads"] = model_.threads();
    d["isa"] = isa_name(model_.isa());
    d["precision"] = precision_name(model_.precision());
    d["labels"] = !labels_.names.empty();
    return d;
  }

  // Decodes, preprocesses and runs all items in batches of `batch`. Called without the
  // GIL. With stop_on_error the first failure is thrown; otherwise it is recorded.
  Batch infer(std::vector<Item>& items, image::PreprocessMode mode, int batch, bool want_probs,
              bool want_features, bool stop_on_error, int64_t max_pixels) {
    const ModelInfo& in = info();
    if (want_features && in.feature_dim <= 0) throw Error("this model exposes no pooled feature output");
    const size_t per = size_t(in.height) * in.width * 3;
    const size_t C = size_t(in.num_classes), D = size_t(std::max(in.feature_dim, 0));
    Batch out;
    out.errors.resize(items.size());
    if (want_probs) out.probs.assign(items.size() * C, std::nanf(""));
    if (want_features) out.features.assign(items.size() * D, std::nanf(""));
    std::vector<float> input(per * size_t(batch));
    std::vector<float> probs(want_probs ? size_t(batch) * C : 0), feats(want_features ? size_t(batch) * D : 0);
    std::vector<size_t> idx;
    image::DecodeOptions dopt;
    dopt.max_pixels = max_pixels;
    auto flush = [&] {
      if (idx.empty()) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        model_.run(input.data(), int(idx.size()), want_probs ? probs.data() : nullptr, nullptr,
                   want_features ? feats.data() : nullptr);
      }
      for (size_t b = 0; b < idx.size(); ++b) {
        if (want_probs) std::copy_n(probs.data() + b * C, C, out.probs.data() + idx[b] * C);
        if (want_features) std::copy_n(feats.data() + b * D, D, out.features.data() + idx[b] * D);
      }
      idx.clear();
    };
    for (size_t i = 0; i < items.size(); ++i) {
      Item& it = items[i];
      try {
        float* dst = input.data() + per * idx.size();
        switch (it.kind) {
          case Item::Kind::Path: {
            const std::vector<uint8_t> data = read_file(it.name);
            image::preprocess(image::decode_memory(data.data(), data.size(), it.name, dopt), in, mode, dst);
            break;
          }
          case Item::Kind::Bytes:
            image::preprocess(image::decode_memory(it.bytes.data(), it.bytes.size(), it.name, dopt), in,
                              mode, dst);
            break;
          case Item::Kind::Pixels:
            image::preprocess(it.pixels, in, mode, dst);
            break;
        }
      } catch (const FileError& e) {
        if (stop_on_error) throw;
        out.errors[i] = ItemError{true, e.err, e.message, e.filename};
        continue;
      } catch (const Error& e) {
        if (stop_on_error) throw;
        out.errors[i] = ItemError{false, 0, e.what(), ""};
        continue;
      }
      idx.push_back(i);
      if (int(idx.size()) == batch) flush();
    }
    flush();
    return out;
  }

  // Model.run on a raw tensor: NHWC float32 rows (already converted), chunked to bound
  // the engine's working memory.
  void run_raw(const float* input, size_t n, float* probs, float* logits, float* features) {
    const ModelInfo& in = info();
    const size_t per = size_t(in.height) * in.width * in.channels;
    const size_t C = size_t(in.num_classes), D = size_t(std::max(in.feature_dim, 0));
    constexpr size_t kChunk = 32;
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t s = 0; s < n; s += kChunk) {
      const size_t m = std::min(kChunk, n - s);
      model_.run(input + s * per, int(m), probs ? probs + s * C : nullptr, logits ? logits + s * C : nullptr,
                 features ? features + s * D : nullptr);
    }
  }

  std::vector<int> top_k(const float* p, int k) const {
    const ModelInfo& in = info();
    return top_k_classes(p, in.num_classes, std::min(k, in.num_classes), in.has_background);
  }
  py::object label_of(int i) const {
    if (labels_.names.empty()) return py::none();
    return py::str(i < int(labels_.names.size()) ? labels_.names[size_t(i)] : std::string());
  }

 private:
  static Model open_without_gil(const Spec& s) {
    py::gil_scoped_release nogil;  // open() reads only the plain C++ fields of the spec
    return open(s);
  }

  static Model open(const Spec& s) {
    Options o;
    o.threads = s.threads;
    o.precision = parse_precision(s.precision);
    if (s.synthetic) {
      if (s.path) throw Error("pass either a model path or synthetic=(width, resolution), not both");
      const auto [w, r] = *s.synthetic;
      if (!(w > 0 && w <= 8)) throw Error("synthetic width must be in (0, 8], got " + std::to_string(w));
      if (r < 32 || r > 4096) throw Error("synthetic resolution must be in [32, 4096], got " + std::to_string(r));
      if (s.classes < 1 || s.classes > 65536) throw Error("classes must be in [1, 65536]");
      return Model::synthetic(float(w), r, s.classes, s.seed, o);
    }
    std::string path;
    if (s.path) {
      path = *s.path;
      check_readable_file(path, "model");
    } else {
      try {
        path = default_model_path(s.download, true);
      } catch (const Error& e) {
        throw FileError(ENOENT, e.what(), cached_model_dir());
      }
    }
    return Model::load(path, o);
  }

  void set_labels(const py::object& spec) {
    std::vector<std::string> names;
    if (spec.is_none()) {
      // The cached label file of `mnv2 fetch`, else the built-in ImageNet names (as the CLI).
      labels_ = resolve_labels("", cached_labels_path(), info().num_classes, info().has_background);
      return;
    } else if (is_path_like(spec)) {
      const std::string p = fspath(spec);
      check_readable_file(p, "labels");
      names = read_labels(p);
    } else {
      names = spec.cast<std::vector<std::string>>();
      if (names.empty()) throw Error("labels: the list is empty");
    }
    if (!names.empty()) labels_ = align_labels(std::move(names), info().num_classes, info().has_background);
  }

  Spec spec_;
  Model model_;
  Labels labels_;
  std::mutex mu_;
};

constexpr int64_t kDefaultMaxPixels = 100'000'000;

py::object make_exception(const ItemError& e) {
  if (e.io) {
    py::object exc = py::reinterpret_steal<py::object>(
        PyObject_CallFunction(PyExc_OSError, "isO", e.err, e.message.c_str(), py::str(e.filename).ptr()));
    if (!exc) throw py::error_already_set();
    return exc;
  }
  return py::reinterpret_borrow<py::object>(PyExc_ValueError)(e.message);
}

// Shared front half of classify / embed: items -> Batch, with the GIL released.
struct Prepared {
  Batch batch;
  bool many = false;
  size_t n = 0;
};

Prepared run_items(PyModel& m, const py::handle& x, const std::string& preprocess, int batch,
                   const std::string& errors, bool probs, bool features, int64_t max_pixels) {
  if (batch < 1 || batch > 4096) throw Error("batch must be in [1, 4096], got " + std::to_string(batch));
  if (errors != "raise" && errors != "return")
    throw Error("errors must be 'raise' or 'return', got '" + errors + "'");
  if (max_pixels < 1) throw Error("max_pixels must be >= 1");
  const image::PreprocessMode mode = image::parse_preprocess_mode(preprocess);
  auto [items, many] = make_items(x, max_pixels);
  Prepared p;
  p.many = many;
  p.n = items.size();
  {
    py::gil_scoped_release nogil;
    p.batch = m.infer(items, mode, std::min<int>(batch, int(std::max<size_t>(items.size(), 1))), probs,
                      features, errors == "raise", max_pixels);
  }
  return p;
}

py::list top_entries(const PyModel& m, const float* p, int k) {
  py::list out;
  for (int c : m.top_k(p, k)) {
    py::dict e;
    e["index"] = c;
    e["label"] = m.label_of(c);
    e["probability"] = double(p[c]);
    out.append(e);
  }
  return out;
}

py::object classify(PyModel& m, const py::object& x, int top, const std::string& preprocess, int batch,
                    const std::string& errors, int64_t max_pixels) {
  if (top < 1) throw Error("top must be >= 1, got " + std::to_string(top));
  Prepared p = run_items(m, x, preprocess, batch, errors, true, false, max_pixels);
  const size_t C = size_t(m.info().num_classes);
  py::list results;
  for (size_t i = 0; i < p.n; ++i) {
    if (p.batch.errors[i]) results.append(make_exception(*p.batch.errors[i]));
    else results.append(top_entries(m, p.batch.probs.data() + i * C, top));
  }
  return p.many ? py::object(results) : py::object(results[0]);
}

py::object embed(PyModel& m, const py::object& x, const std::string& preprocess, int batch, bool normalize,
                 const std::string& errors, int64_t max_pixels) {
  Prepared p = run_items(m, x, preprocess, batch, errors, false, true, max_pixels);
  const size_t D = size_t(m.info().feature_dim);
  if (normalize) {
    for (size_t i = 0; i < p.n; ++i) {
      float* f = p.batch.features.data() + i * D;
      double ss = 0;
      for (size_t j = 0; j < D; ++j) ss += double(f[j]) * f[j];
      if (ss > 0) {
        const double s = 1.0 / std::sqrt(ss);
        for (size_t j = 0; j < D; ++j) f[j] = float(f[j] * s);
      }
    }
  }
  py::array_t<float> arr(p.many ? std::vector<py::ssize_t>{py::ssize_t(p.n), py::ssize_t(D)}
                                : std::vector<py::ssize_t>{py::ssize_t(D)});
  std::copy(p.batch.features.begin(), p.batch.features.end(), arr.mutable_data());
  if (errors == "return") {
    py::list errs;
    for (auto& e : p.batch.errors) errs.append(e ? make_exception(*e) : py::none());
    return py::make_tuple(arr, errs);
  }
  return arr;
}

// Private helper for mnv2.dask: probabilities and/or features of many images in one pass,
// plus a per-image error message (None when the image was read).
py::tuple infer_batch(PyModel& m, const py::object& x, bool features, const std::string& preprocess, int batch,
                      int64_t max_pixels) {
  Prepared p = run_items(m, x, preprocess, batch, "return", true, features, max_pixels);
  const size_t C = size_t(m.info().num_classes), D = size_t(std::max(m.info().feature_dim, 0));
  py::array_t<float> probs({py::ssize_t(p.n), py::ssize_t(C)});
  std::copy(p.batch.probs.begin(), p.batch.probs.end(), probs.mutable_data());
  py::object feats = py::none();
  if (features) {
    py::array_t<float> f({py::ssize_t(p.n), py::ssize_t(D)});
    std::copy(p.batch.features.begin(), p.batch.features.end(), f.mutable_data());
    feats = f;
  }
  py::list errs;
  for (auto& e : p.batch.errors) errs.append(e ? py::object(py::str(e->message)) : py::none());
  return py::make_tuple(probs, feats, errs);
}

// Private helper for mnv2.dask: the top-k class indices of each row of a probability
// matrix, by the library's rule (top_k_classes).
py::list top_k_rows(const PyModel& m, const py::array_t<float, py::array::c_style | py::array::forcecast>& probs,
                    int k) {
  const py::ssize_t C = m.info().num_classes;
  if (probs.ndim() != 2 || probs.shape(1) != C)
    throw Error("_top_k: expected an array of shape (n, " + std::to_string(C) + ")");
  if (k < 1) throw Error("top must be >= 1, got " + std::to_string(k));
  py::list out;
  for (py::ssize_t i = 0; i < probs.shape(0); ++i) out.append(py::cast(m.top_k(probs.data() + i * C, k)));
  return out;
}

py::array run_tensor(PyModel& m, const py::array& x, const std::string& output) {
  const ModelInfo& in = m.info();
  enum { Probs, Logits, Features } which;
  if (output == "probs" || output == "probabilities") which = Probs;
  else if (output == "logits") which = Logits;
  else if (output == "features") which = Features;
  else throw Error("output must be 'probs', 'logits' or 'features', got '" + output + "'");
  const char kind = x.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u')
    throw Error("run: the input must be a float32 array, got dtype " + py::str(x.dtype()).cast<std::string>());
  const bool nchw = in.layout == Layout::NCHW;
  const std::string want = nchw ? "(N, " + std::to_string(in.channels) + ", " + std::to_string(in.height) +
                                      ", " + std::to_string(in.width) + ") (NCHW)"
                                : "(N, " + std::to_string(in.height) + ", " + std::to_string(in.width) + ", " +
                                      std::to_string(in.channels) + ") (NHWC)";
  if (x.ndim() != 4) throw Error("run: expected a 4-D array of shape " + want + ", got shape " + shape_str(x));
  const py::ssize_t n = x.shape(0);
  const bool ok = nchw ? (x.shape(1) == in.channels && x.shape(2) == in.height && x.shape(3) == in.width)
                       : (x.shape(1) == in.height && x.shape(2) == in.width && x.shape(3) == in.channels);
  if (!ok || n < 1) throw Error("run: expected an array of shape " + want + ", got " + shape_str(x));
  if (which == Features && in.feature_dim <= 0) throw Error("run: this model exposes no pooled feature output");
  // Zero-copy when the array already is C-contiguous float32 (NHWC models).
  auto f32 = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(x);
  if (!f32) throw py::error_already_set();
  const size_t per = size_t(in.height) * in.width * in.channels;
  const size_t cols = which == Features ? size_t(in.feature_dim) : size_t(in.num_classes);
  py::array_t<float> out({n, py::ssize_t(cols)});
  float* o = out.mutable_data();
  const float* src = f32.data();
  {
    py::gil_scoped_release nogil;
    std::vector<float> nhwc;
    if (nchw) {
      nhwc.resize(size_t(n) * per);
      const size_t H = size_t(in.height), W = size_t(in.width), Cc = size_t(in.channels);
      for (size_t b = 0; b < size_t(n); ++b)
        for (size_t c = 0; c < Cc; ++c)
          for (size_t y = 0; y < H; ++y)
            for (size_t xx = 0; xx < W; ++xx)
              nhwc[((b * H + y) * W + xx) * Cc + c] = src[((b * Cc + c) * H + y) * W + xx];
      src = nhwc.data();
    }
    m.run_raw(src, size_t(n), which == Probs ? o : nullptr, which == Logits ? o : nullptr,
              which == Features ? o : nullptr);
  }
  return out;
}

PyModel::Spec make_spec(const py::object& path, const py::object& threads, const std::string& precision,
                        const py::object& synthetic, int classes, uint64_t seed, const py::object& labels,
                        bool download) {
  PyModel::Spec s;
  if (!path.is_none()) s.path = fspath(path);
  if (!synthetic.is_none()) {
    auto t = synthetic.cast<std::pair<double, int>>();
    s.synthetic = t;
  }
  s.threads = parse_threads(threads);
  s.precision = precision;
  s.classes = classes;
  s.seed = seed;
  s.labels = labels;
  s.download = download;
  return s;
}

py::tuple spec_state(const PyModel& m) {
  const auto& s = m.spec();
  py::object syn = s.synthetic ? py::object(py::make_tuple(s.synthetic->first, s.synthetic->second)) : py::none();
  py::object path = s.path ? py::object(py::str(*s.path)) : py::none();
  py::object labels = s.labels;
  if (!labels.is_none() && !py::isinstance<py::str>(labels) && py::hasattr(labels, "__fspath__"))
    labels = py::str(fspath(labels));
  return py::make_tuple(path, s.threads, s.precision, syn, s.classes, s.seed, labels, s.download);
}

py::dict fetch(const std::string& model, bool force, bool quiet, bool labels, bool sample) {
  FetchOptions o;
  o.model = model;
  o.force = force;
  o.quiet = quiet;
  o.labels = labels;
  FetchResult r;
  std::string sample_path;
  try {
    py::gil_scoped_release nogil;
    r = fetch_model(o);
    if (sample) sample_path = fetch_sample_image(quiet);
  } catch (const Error& e) {
    PyErr_SetString(PyExc_OSError, e.what());
    throw py::error_already_set();
  }
  py::dict d;
  d["model"] = model;
  d["model_dir"] = r.model_dir;
  d["model_path"] = r.model_path;
  d["files"] = r.files;
  d["labels_path"] = r.labels_path;
  d["model_downloaded"] = r.model_downloaded;
  d["labels_downloaded"] = r.labels_downloaded;
  d["url"] = r.archive.url;
  d["bytes_downloaded"] = r.archive.downloaded;
  d["resumed_from"] = r.archive.resumed_from;
  if (sample) d["sample"] = sample_path;
  return d;
}

py::dict bench(const py::object& model, const py::object& synthetic, const py::object& threads, int batch,
               int warmup, int iterations, int classes, uint64_t seed, const std::string& precision) {
  if (batch < 1 || batch > 1024) throw Error("batch must be in [1, 1024], got " + std::to_string(batch));
  if (warmup < 0) throw Error("warmup must be >= 0");
  if (iterations < 1) throw Error("iterations must be >= 1");
  PyModel::Spec s = make_spec(model, threads, precision, synthetic, classes, seed, py::none(), true);
  const double rss0 = current_rss_mib();
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<PyModel> m;
  m.emplace(std::move(s));
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double rss_loaded = current_rss_mib();
  BenchResult r;
  {
    py::gil_scoped_release nogil;
    BenchOptions bo;
    bo.batch = batch;
    bo.warmup = warmup;
    bo.iterations = iterations;
    r = run_bench(m->model(), bo);
  }
  const ModelInfo& info = m->info();
  py::dict d, lat;
  d["model"] = info.name;
  d["format"] = info.format;
  d["isa"] = isa_name(m->model().isa());
  d["precision"] = precision_name(m->model().precision());
  if (m->model().precision() == Precision::Int8)
    d["int8_rounding"] = int8_rounding_name(m->model().int8_rounding());
  else
    d["int8_rounding"] = py::none();
  d["threads"] = r.threads;
  d["streams"] = 1;  // the CLI's --streams; one model here
  d["threads_per_stream"] = r.threads;
  d["batch"] = r.batch;
  d["iterations"] = r.iterations;
  d["load_ms"] = load_ms;
  d["load_all_streams_ms"] = load_ms;
  d["rss_after_load_mib"] = rss_loaded;
  d["rss_per_stream_mib"] = rss_loaded - rss0;
  d["first_inference_ms"] = r.first_inference_ms;
  lat["p50"] = r.p50;
  lat["p90"] = r.p90;
  lat["p99"] = r.p99;
  lat["mean"] = r.mean;
  lat["min"] = r.min;
  lat["max"] = r.max;
  d["latency_ms"] = lat;
  d["throughput_ips"] = r.throughput_ips;
  d["gmacs_per_s"] = r.gmacs_per_s;
  d["peak_rss_mib"] = r.peak_rss_mib;
  d["rss_before_load_mib"] = rss0;
  // The model's memory budget, as the CLI's "memory" object (docs/memory.md).
  d["memory"] = py::module_::import("json").attr("loads")(memory_json(memory_report(m->model())));
  d["macs"] = info.macs;
  // The machine, as the CLI's "cpu" object (probed after the timed runs).
  std::string cpu;
  {
    py::gil_scoped_release nogil;
    cpu = cpu_report_json(cpu_report(true, 1));
  }
  d["cpu"] = py::module_::import("json").attr("loads")(cpu);
  return d;
}

}  // namespace

PYBIND11_MODULE(_mnv2, mod) {
  mod.doc() = "Native core of the mnv2 package (see the mnv2 package docstring).";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      py::object exc = py::reinterpret_steal<py::object>(
          PyObject_CallFunction(PyExc_OSError, "isO", e.err, e.message.c_str(), py::str(e.filename).ptr()));
      if (!exc) return;  // the call set its own error
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::class_<PyModel>(mod, "Model", kModelDoc)
      .def(py::init([](const py::object& path, const py::object& threads, const std::string& precision,
                       const py::object& synthetic, const py::object& labels, int classes, uint64_t seed,
                       bool download) {
             PyModel::Spec s = make_spec(path, threads, precision, synthetic, classes, seed, labels, download);
             return std::make_unique<PyModel>(std::move(s));
           }),
           py::arg("path") = py::none(), py::kw_only(), py::arg("threads") = py::none(),
           py::arg("precision") = "auto", py::arg("synthetic") = py::none(), py::arg("labels") = py::none(),
           py::arg("classes") = 1001, py::arg("seed") = 1, py::arg("download") = true)
      .def_property_readonly("info", &PyModel::info_dict)
      .def_property_readonly("labels", &PyModel::labels)
      .def_property_readonly("labels_note", &PyModel::labels_note)
      .def("classify", &classify, py::arg("x"), py::arg("top") = 5, py::kw_only(), py::arg("preprocess") = "omz",
           py::arg("batch") = 1, py::arg("errors") = "raise", py::arg("max_pixels") = kDefaultMaxPixels, kClassifyDoc)
      .def("embed", &embed, py::arg("x"), py::kw_only(), py::arg("preprocess") = "omz", py::arg("batch") = 1,
           py::arg("normalize") = false, py::arg("errors") = "raise", py::arg("max_pixels") = kDefaultMaxPixels,
           kEmbedDoc)
      .def("run", &run_tensor, py::arg("x"), py::kw_only(), py::arg("output") = "probs", kRunDoc)
      .def("_infer", &infer_batch, py::arg("x"), py::arg("features") = false, py::kw_only(),
           py::arg("preprocess") = "omz", py::arg("batch") = 1, py::arg("max_pixels") = kDefaultMaxPixels)
      .def("_top_k", &top_k_rows, py::arg("probs"), py::arg("k"))
      .def("summary", [](PyModel& m) { return m.model().summary(); }, kSummaryDoc)
      .def("__repr__",
           [](const PyModel& m) {
             const ModelInfo& i = m.info();
             return "<mnv2.Model " + i.name + " (" + i.format + ", " + std::to_string(i.height) + "x" +
                    std::to_string(i.width) + ", " + std::to_string(i.num_classes) + " classes)>";
           })
      .def(py::pickle([](const PyModel& m) { return spec_state(m); },
                      [](const py::tuple& t) {
                        if (t.size() != 8) throw Error("cannot unpickle mnv2.Model: bad state");
                        PyModel::Spec s = make_spec(t[0], t[1], t[2].cast<std::string>(), t[3],
                                                    t[4].cast<int>(), t[5].cast<uint64_t>(), t[6], t[7].cast<bool>());
                        return std::make_unique<PyModel>(std::move(s));
                      }))
      .def("_spec", &spec_state);

  mod.def("fetch", &fetch, py::arg("model") = "mobilenet-v2-1.4-224", py::kw_only(), py::arg("force") = false,
          py::arg("quiet") = true, py::arg("labels") = true, py::arg("sample") = false, kFetchDoc);
  mod.def("bench", &bench, py::arg("model") = py::none(), py::kw_only(), py::arg("synthetic") = py::none(),
          py::arg("threads") = py::none(), py::arg("batch") = 1, py::arg("warmup") = 5, py::arg("iterations") = 50,
          py::arg("classes") = 1001, py::arg("seed") = 1, py::arg("precision") = "auto", kBenchDoc);
  mod.def("cache_dir", &cache_dir, "The cache folder: $MNV2_HOME, else $XDG_CACHE_HOME/mnv2, else ~/.cache/mnv2.");
  mod.attr("__version__") = MNV2_VERSION;
  mod.def("detect_isa", [] { return std::string(isa_name(detect_isa())); },
          "The instruction set the kernels use on this CPU (MNV2_ISA overrides).");
}
