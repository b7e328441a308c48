// The eval pipeline: decode + preprocess on worker threads, inference on the calling
// thread, overlapping.
//
// Images are grouped into batches of `batch` consecutive indices. Workers claim images one
// at a time and write the preprocessed tensor straight into the batch's slot of a ring of
// `queue_batches` preallocated buffers; a worker may only start an image whose batch fits
// in the ring, so memory is bounded by queue_batches * batch * input size whatever the
// dataset size. The calling thread takes the batches in order, runs the model on the
// images that decoded (unreadable ones are reported and left out) and hands the outputs
// to the callback, so callbacks see the dataset order whatever the thread timing.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "image/decode.h"
#include "image/preprocess.h"
#include "mnv2/mnv2.h"

namespace mnv2::eval {

struct PipelineOptions {
  image::PreprocessMode mode = image::PreprocessMode::Omz;
  image::DecodeOptions decode;
  int batch = 1;
  int decode_threads = 1;
  int queue_batches = 0;  // 0: 2 + ceil(decode_threads / batch)
};

struct PipelineStats {
  size_t evaluated = 0;  // images run through the model
  size_t failed = 0;     // images that could not be read (reported through on_error)
  size_t finished = 0;   // evaluated + failed: the prefix of the input that was handled
  bool interrupted = false;
  double wall_s = 0;     // first claim to last batch done
  double infer_s = 0;    // time inside Model::run
  double wait_s = 0;     // time the inference thread waited for decoded batches
  double decode_s = 0;   // decode + preprocess time summed over the worker threads
  int queue_batches = 0;
  size_t buffer_bytes = 0;  // bytes of the preprocessed-batch ring
};

// Called on the calling thread after each batch: `indices` are the images of the batch
// that ran (dataset order), `probs` holds indices.size() rows of num_classes.
using BatchCallback = std::function<void(const std::vector<size_t>& indices, const float* probs)>;
// Called on the calling thread, in order, for every unreadable image (before the batch
// that contained it runs). May throw to abort the run (--strict); the workers are stopped
// and joined before the exception leaves run_pipeline.
using ErrorCallback = std::function<void(size_t index, const std::string& message)>;

// `stop` (may be null) is polled: once it is true no new image is started, the batch in
// Model::run completes and is delivered, and run_pipeline returns with interrupted = true.
PipelineStats run_pipeline(Model& model, const std::vector<std::string>& paths,
                           const PipelineOptions& options, const BatchCallback& on_batch,
                           const ErrorCallback& on_error, const std::atomic<bool>* stop);

}  // namespace mnv2::eval
