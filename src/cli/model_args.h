// Shared handling of "which model": --model PATH or --synthetic WIDTH RES, plus engine options.
#pragma once

#include <string>

#include "cli/args.h"
#include "graph/graph.h"
#include "mnv2/mnv2.h"

namespace mnv2::cli {

// --threads, --precision, --int8-rounding.
Options engine_options(const Args& a, int max_batch);
// The JSON value of a model's int8 rounding: "tflite" / "xnnpack" for int8, null for fp32.
std::string int8_rounding_json(const Model& m);

struct SyntheticSpec {
  float width = 0;
  int resolution = 0, classes = 1001;
  uint64_t seed = 1;
};
// Parses --synthetic W R (R is the first positional argument), --classes and --seed.
SyntheticSpec synthetic_spec(const Args& a);
// Refuses option sets that name the model twice (--model with --synthetic) or give
// synthetic-only options (--classes, --seed) without --synthetic.
void check_model_source(const Args& a);
// Builds the model the arguments name; `positional_model` lets a command accept the
// model path as its first positional argument (as `mnv2 info MODEL` does).
Model open_model(const Args& a, int max_batch, bool positional_model = false);
// The graph (not an engine) the arguments name: MODEL, --model PATH or --synthetic W R.
// For the commands that transform models (convert, quantize).
Graph load_source_graph(const Args& a);

}  // namespace mnv2::cli
