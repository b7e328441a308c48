// Docstrings of the mnv2._mnv2 extension (shown by help(mnv2.Model) etc.).
#pragma once

inline const char* kModelDoc = R"(A loaded (or synthetic) MobileNetV2.

Model(path=None, *, threads=None, precision="auto", synthetic=None, labels=None,
      classes=1001, seed=1, download=True)

path       model file (.tflite, .pb, .xml OpenVINO IR, .onnx); the format is detected from
           the content. None: the official mobilenet-v2-1.4-224 from the cache
           (mnv2.fetch()), downloaded on first use unless download=False.
threads    inference threads (None or 0: all cores).
precision  "auto" (int8 for quantized .tflite files, else fp32), "fp32", "int8" (native
           integer execution with XNNPACK's rounding, what TFLite CPU builds and TFLite-wasm
           run; a float model raises ValueError), or
           "bf16" (bfloat16 convolutions with fp32 accumulation on CPUs with AVX512_BF16;
           elsewhere it raises, see docs/precision.md).
synthetic  (width_multiplier, resolution): a MobileNetV2 with deterministic random weights
           (tests and benchmarks); `classes` and `seed` apply to it.
labels     None: the cached ImageNet label file when present; a path to a label file; or a
           list of class names. Aligned to the model's class count as the CLI does
           (see `labels_note`).

Calls on one Model are serialised by a lock; for parallel inference from several Python
threads, give each thread its own Model (threads=1 each). Models pickle by their
construction arguments (that is how mnv2.dask ships them to workers).
)";

inline const char* kClassifyDoc = R"(Top-k classes of one image or a list of images.

x is a path (str / os.PathLike), the bytes of an encoded image (JPEG, PNG, BMP, PPM/PGM,
raw square RGB), a uint8 numpy array of shape (height, width, 3) in RGB order, a list or
tuple of those, or a uint8 array of shape (n, height, width, 3).
Returns for one image a list of {"index", "label", "probability"} dicts, best first (the
background class of a 1001-class model is only reported when it is the top-1); for a list,
a list of such lists. label is None when the model has no labels.
preprocess: "omz" (central crop 0.875 + OpenCV bilinear; the CLI default), "tf" (TF-slim
eval) or "none" (whole image, libcoral convention). batch: images per inference.
errors="return" puts the exception (OSError / ValueError) in place of a failed image's
result instead of raising it.
)";

inline const char* kEmbedDoc = R"(Global-average-pooled features (the input of the classifier layer): float32 array of
shape (feature_dim,) for one image or (n, feature_dim) for a list. Inputs as in classify.
normalize=True scales each row to unit L2 norm. With errors="return" the result is a tuple
(array, errors) where failed rows are NaN and errors[i] is the exception or None.
)";

inline const char* kRunDoc = R"(Runs a raw input tensor: a 4-D array in the model's layout (info["layout"]: NHWC, shape
(n, H, W, 3), or NCHW, shape (n, 3, H, W)) in the model's input domain (already
normalised unless info["normalization"]["in_graph"]), any batch size n.
A C-contiguous float32 NHWC array is used in place (zero-copy); other dtypes are
converted and NCHW input is transposed internally. output: "probs" (n, classes),
"logits" (n, classes) or "features" (n, feature_dim). Returns a new float32 array.
)";

inline const char* kSummaryDoc = R"(A per-layer table (name, op, output shape, params, MACs).)";

inline const char* kFetchDoc = R"(Downloads and verifies the official model archive and the ImageNet labels into the cache
(as `mnv2 fetch`); already cached files are not downloaded again. Returns the dict
`mnv2 fetch --json` prints (model, model_dir, model_path, files, labels_path,
model_downloaded, labels_downloaded, url, bytes_downloaded, resumed_from), plus "sample"
(the path of a pinned sample photo) when sample=True. Raises OSError on network failure.
)";

inline const char* kBenchDoc = R"(Benchmarks like `mnv2 bench`: model load, first inference, `warmup` untimed then
`iterations` timed runs on deterministic inputs. Returns the dict `mnv2 bench --json`
prints (model, format, isa, threads, batch, iterations, load_ms, first_inference_ms,
latency_ms {p50, p90, p99, mean, min, max}, throughput_ips, gmacs_per_s, peak_rss_mib,
macs, precision, int8_rounding). model: a model file path, or None for the cached official
model; or synthetic=(w, r). precision: as for Model.
)";
