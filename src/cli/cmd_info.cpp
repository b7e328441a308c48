// mnv2 info: what a model is — its I/O contract, per-layer table and totals.
#include <algorithm>
#include <cstdio>

#include <string>

#include "api/bench.h"
#include "api/cpu_report.h"
#include "cli/args.h"
#include "cli/model_args.h"
#include "formats/loader.h"
#include "graph/graph.h"

namespace mnv2::cli {
namespace {

const char* kUsage =
    "usage: mnv2 info MODEL | --model MODEL | --synthetic WIDTH RES [--json] [--verbose]\n"
    "                 [--passes]\n"
    "       mnv2 info --cpu [--json]\n\n"
    "Prints the model's input/output contract (names, layout, channel order, whether the\n"
    "normalisation is inside the graph, class count and background class), a per-layer\n"
    "table (name, op, output shape, params, MACs) and the totals, and the memory budget of\n"
    "the loaded model: packed weights, activation arena (one image, and the planned batch),\n"
    "per-thread scratch, and the process's peak resident set so far (docs/memory.md).\n\n"
    "With --cpu, this machine instead: vendor, model name, family / model, the ISA flags\n"
    "mnv2 cares about (AVX2, FMA, AVX-512 F/BW/DQ/VL, VNNI, BF16, AMX), the kernels each\n"
    "precision will use (MNV2_ISA / MNV2_MAX_ISA apply), and the measured per-core peaks\n"
    "(GMAC/s of fp32 FMA, the int8 GEMM's vpdpbusd / vpmaddwd, bf16 vdpbf16ps, as present)\n"
    "and memory bandwidth (STREAM triad over 3 x 64 MiB). Takes about two seconds.\n";

// The model file named by the arguments ("" for a synthetic model).
std::string model_path(const Args& a) {
  std::string path = a.get("model");
  if (path.empty() && !a.has("synthetic") && !a.positional().empty()) path = a.positional().front();
  return path;
}

// The per-node quantization of a model file (empty for synthetic or float models).
Graph quant_graph(const Args& a) {
  const std::string path = model_path(a);
  if (path.empty()) return Graph{};
  LoadOptions lo;
  lo.float_weights = false;  // the scales and zero points are all this reads
  Graph g = load_graph(path, lo);
  return g.quantized() ? g : Graph{};
}

// --passes: the translated graph, what each graph pass changed, and the rewritten graph.
void print_passes(const std::string& path) {
  if (path.empty()) throw Error("--passes needs a model file (synthetic models are built folded)");
  Translation t = translate_model(path);
  Graph before = t.graph;
  before.infer_shapes(1);
  PassLog log;
  const Graph after = rewrite_model(std::move(t), &log);
  std::printf("\ngraph as translated from the file (before the passes):\n%s",
              graph_summary(before).c_str());
  std::printf("\ngraph passes:\n");
  for (const PassInfo& p : graph_passes()) {
    size_t count = 0;
    for (const PassLog::Entry& e : log.entries) count += e.pass == p.name;
    std::printf("  %-17s %4zu change(s)  %s\n", p.name, count, p.summary);
    for (const PassLog::Entry& e : log.entries)
      if (e.pass == p.name) std::printf("      %s\n", e.text.c_str());
  }
  std::printf("\ngraph after the passes:\n%s", graph_summary(after).c_str());
}

std::string weight_scales(const Node& n) {
  if (n.qweight_scales.empty()) return "";
  float lo = n.qweight_scales[0], hi = lo;
  for (float s : n.qweight_scales) lo = std::min(lo, s), hi = std::max(hi, s);
  char buf[96];
  if (n.qweight_scales.size() == 1)
    std::snprintf(buf, sizeof buf, "%.6g", double(lo));
  else
    std::snprintf(buf, sizeof buf, "%zu per-channel %.4g..%.4g", n.qweight_scales.size(),
                  double(lo), double(hi));
  return buf;
}

int run(const Args& a) {
  if (a.has("cpu")) {
    a.only({"json", "cpu"}, "--cpu");
    if (!a.positional().empty()) throw Error("info --cpu takes no model");
    const CpuReport r = cpu_report(true);
    if (a.has("json"))
      std::printf("%s\n", cpu_report_json(r).c_str());
    else
      std::fputs(cpu_report_text(r).c_str(), stdout);
    return 0;
  }
  if (a.has("passes") && a.has("json")) throw Error("--passes has no --json form");
  Model m = open_model(a, 1, true);
  const ModelInfo& i = m.info();
  const bool verbose = a.has("verbose");
  const Graph qg = verbose ? quant_graph(a) : Graph{};
  const MemoryReport mem = memory_report(m);
  if (a.has("json")) {
    std::printf(
        "{\"name\":\"%s\",\"format\":\"%s\",\"input\":{\"name\":\"%s\",\"layout\":\"%s\","
        "\"shape\":[1,%d,%d,%d],\"channel_order\":\"%s\",\"normalization_in_graph\":%s,"
        "\"mean\":%g,\"scale\":%g},\"output\":{\"name\":\"%s\",\"classes\":%d,"
        "\"has_background\":%s,\"softmax\":%s},\"feature_dim\":%d,\"quantized\":%s,"
        "\"precision\":\"%s\",\"int8_rounding\":%s,\"params\":%lld,\"macs\":%lld",
        json_escape(i.name).c_str(), i.format.c_str(), json_escape(i.input_name).c_str(),
        i.layout == Layout::NHWC ? "NHWC" : "NCHW", i.height, i.width, i.channels,
        i.channel_order == ChannelOrder::RGB ? "RGB" : "BGR",
        i.normalization_in_graph ? "true" : "false", double(i.mean), double(i.scale),
        json_escape(i.output_name).c_str(), i.num_classes, i.has_background ? "true" : "false",
        i.output_is_softmax ? "true" : "false", i.feature_dim, i.quantized ? "true" : "false",
        precision_name(m.precision()), int8_rounding_json(m).c_str(), (long long)i.params, (long long)i.macs);
    if (verbose) {
      std::string o = ",\"nodes\":[";
      char buf[128];
      for (size_t k = 0; k < qg.nodes.size(); ++k) {
        const Node& n = qg.nodes[k];
        o += std::string(k ? "," : "") + "{\"name\":\"" + json_escape(n.name) + "\",\"op\":\"" +
             op_name(n.op) + "\"";
        std::snprintf(buf, sizeof buf, ",\"scale\":%.9g,\"zero_point\":%d", double(n.out_q.scale),
                      n.out_q.zero_point);
        o += buf;
        if (!n.qweight_scales.empty()) {
          o += ",\"weight_scales\":[";
          for (size_t c = 0; c < n.qweight_scales.size(); ++c) {
            std::snprintf(buf, sizeof buf, "%s%.9g", c ? "," : "", double(n.qweight_scales[c]));
            o += buf;
          }
          o += "]";
        }
        o += "}";
      }
      std::fputs((o + "]").c_str(), stdout);
    }
    std::printf(",\"memory\":%s}\n", memory_json(mem).c_str());
    return 0;
  }
  std::printf("model:        %s (%s)\n", i.name.c_str(), i.format.c_str());
  std::printf("input:        '%s' %s [1,%d,%d,%d] %s, %s\n", i.input_name.c_str(),
              i.layout == Layout::NHWC ? "NHWC" : "NCHW", i.height, i.width, i.channels,
              i.channel_order == ChannelOrder::RGB ? "RGB" : "BGR",
              i.normalization_in_graph
                  ? "raw 0..255 pixels (mean/scale inside the graph)"
                  : ("(pixel - " + std::to_string(i.mean) + ") / " + std::to_string(i.scale))
                        .c_str());
  std::printf("output:       '%s' [1,%d]%s%s\n", i.output_name.c_str(), i.num_classes,
              i.output_is_softmax ? " softmax" : "",
              i.has_background ? ", class 0 = background" : "");
  std::printf("features:     %d\n", i.feature_dim);
  std::printf("weights:      %s\n", i.quantized ? "quantized" : "float");
  std::printf("precision:    %s\n", precision_name(m.precision()));
  if (m.precision() == Precision::Int8)
    std::printf("int8 rounding: %s\n", int8_rounding_name(m.int8_rounding()));
  std::printf("memory:       %s\n", memory_text(mem).c_str());
  std::printf("\n");
  std::fputs(m.summary().c_str(), stdout);
  if (verbose && !qg.nodes.empty()) {
    std::printf("\nquantization (uint8 domain: real = scale * (q - zero_point))\n");
    std::printf("%-4s %-48s %-16s %-12s %-5s %s\n", "id", "name", "op", "scale", "zp",
                "weight scale");
    for (size_t k = 0; k < qg.nodes.size(); ++k) {
      const Node& n = qg.nodes[k];
      std::printf("%-4zu %-48.48s %-16s %-12.6g %-5d %s\n", k, n.name.c_str(), op_name(n.op),
                  double(n.out_q.scale), n.out_q.zero_point, weight_scales(n).c_str());
    }
  }
  if (a.has("passes")) print_passes(model_path(a));
  return 0;
}

RegisterCommand reg({"info", kInfo, "print a model's I/O contract, layer table and totals", kUsage, nullptr,
                     nullptr, run});

}  // namespace
}  // namespace mnv2::cli
