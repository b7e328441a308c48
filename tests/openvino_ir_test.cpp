// OpenVINO IR loader + writer: round trips against the source graph, FP16, conformance of
// the written XML to the IR format, hand-written IRs in Model Optimizer's styles, and bad
// files (truncation, corruption, broken references) that must give mnv2::Error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <pugixml.hpp>
#include <random>
#include <set>

#include "formats/loader.h"
#include "formats/openvino_ir.h"
#include "graph/mobilenet_v2.h"
#include "runtime/executor.h"
#include "runtime/reference.h"
#include "test_util.h"

namespace mnv2 {
namespace {

// Integer pixels 0..255, RGB, NHWC.
std::vector<int> random_pixels(int h, int w, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> p(size_t(h) * w * 3);
  for (int& v : p) v = int(rng() % 256);
  return p;
}

std::vector<float> normalised_rgb(const std::vector<int>& p, float mean, float scale) {
  std::vector<float> x(p.size());
  for (size_t i = 0; i < p.size(); ++i) x[i] = (float(p[i]) - mean) / scale;
  return x;
}

std::vector<float> raw_bgr(const std::vector<int>& p) {
  std::vector<float> x(p.size());
  for (size_t i = 0; i < p.size(); i += 3)
    for (int c = 0; c < 3; ++c) x[i + size_t(c)] = float(p[i + size_t(2 - c)]);
  return x;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

double rel_err(const std::vector<double>& a, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

size_t argmax(const std::vector<double>& v) {
  return size_t(std::max_element(v.begin(), v.end()) - v.begin());
}

Graph load_mem(const OpenVinoIrFiles& f) { return load_openvino_ir_memory(f.xml, f.bin, "test.xml"); }

std::string temp_dir() { return test::make_scratch_dir("mnv2_ir_test_"); }

// ---------------------------------------------------------------------------------------
TEST(OpenVinoIrHalf, KnownValuesAndRoundTrip) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // rounds to infinity
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);         // tie -> even (0)
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);         // tie -> even (2)
  EXPECT_EQ(float_to_half(0.1f), 0x2e66);
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(3.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half(f), h) << std::hex << h;
  }
}

// ---------------------------------------------------------------------------------------
TEST(OpenVinoIrRoundTrip, PlainFp32SameOutputs) {
  Graph g = build_mobilenet_v2(0.35f, 32, 10, 7);
  const OpenVinoIrFiles f = write_openvino_ir(g, false, false);
  Graph h = load_mem(f);
  EXPECT_EQ(h.info.format, "openvino-ir");
  EXPECT_EQ(h.info.layout, Layout::NCHW);
  EXPECT_EQ(h.info.channel_order, ChannelOrder::RGB);
  EXPECT_FALSE(h.info.normalization_in_graph);
  EXPECT_FLOAT_EQ(h.info.mean, 127.5f);
  EXPECT_FLOAT_EQ(h.info.scale, 127.5f);
  EXPECT_EQ(h.info.num_classes, 10);
  EXPECT_FALSE(h.info.has_background);
  EXPECT_EQ(h.info.feature_dim, 1280);
  EXPECT_EQ(h.info.height, 32);
  EXPECT_EQ(h.info.input_name, "input");
  EXPECT_EQ(h.info.output_name, "MobilenetV2/Predictions/Reshape_1");
  EXPECT_EQ(h.total_params(), g.total_params());
  EXPECT_EQ(h.total_macs(), g.total_macs());
  EXPECT_NEAR(h.info.width_multiplier, 0.35f, 1e-6);
  ASSERT_EQ(h.nodes.size(), g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    EXPECT_EQ(h.nodes[i].name, g.nodes[i].name);
    EXPECT_EQ(h.nodes[i].op, g.nodes[i].op) << g.nodes[i].name;
    EXPECT_EQ(h.nodes[i].weights, g.nodes[i].weights) << g.nodes[i].name;
    EXPECT_EQ(h.nodes[i].bias, g.nodes[i].bias) << g.nodes[i].name;
    EXPECT_EQ(h.nodes[i].activation, g.nodes[i].activation) << g.nodes[i].name;
  }
  const auto x = test::random_input(32 * 32 * 3 * 2, 5);
  const ReferenceResult a = reference_run(g, x.data(), 2, {g.logits, g.features});
  const ReferenceResult b = reference_run(h, x.data(), 2, {h.logits, h.features});
  EXPECT_LE(rel_err(b.output, a.output), 1e-6);
  EXPECT_LE(rel_err(b.kept.at(h.logits), a.kept.at(g.logits)), 1e-6);
  EXPECT_LE(rel_err(b.kept.at(h.features), a.kept.at(g.features)), 1e-6);
}

void omz_round_trip(float width, int res, int classes, bool through_files) {
  Graph g = build_mobilenet_v2(width, res, classes, 11);
  const OpenVinoIrFiles f = write_openvino_ir(g, false, true);
  Graph h;
  if (through_files) {
    const std::string dir = temp_dir();
    save_openvino_ir(g, dir + "/model.xml", false, true);
    EXPECT_EQ(detect_format(dir + "/model.xml"), ModelFormat::OpenVINOIR);
    h = load_graph(dir + "/model.xml");
    std::remove((dir + "/model.xml").c_str());
    std::remove((dir + "/model.bin").c_str());
    rmdir(dir.c_str());
  } else {
    h = load_mem(f);
  }
  EXPECT_EQ(h.info.channel_order, ChannelOrder::BGR);
  EXPECT_TRUE(h.info.normalization_in_graph);
  EXPECT_EQ(h.info.layout, Layout::NCHW);
  EXPECT_FLOAT_EQ(h.info.mean, 127.5f);
  EXPECT_FLOAT_EQ(h.info.scale, 127.5f);
  EXPECT_EQ(h.info.num_classes, classes);
  EXPECT_EQ(h.info.has_background, classes == 1001);
  // The input normalisation is a ChannelAffine right after the input.
  ASSERT_GE(h.nodes.size(), 2u);
  EXPECT_EQ(h.nodes[1].op, OpType::ChannelAffine);
  EXPECT_EQ(h.nodes[1].inputs, std::vector<int>{h.input});
  // Same image: RGB normalised for the source, BGR raw 0..255 for the IR.
  const auto p = random_pixels(res, res, 3);
  const auto xs = normalised_rgb(p, 127.5f, 127.5f);
  const auto xi = raw_bgr(p);
  const ReferenceResult a = reference_run(g, xs.data(), 1, {g.logits});
  const ReferenceResult b = reference_run(h, xi.data(), 1, {h.logits});
  std::printf("[ figures  ] omz-style IR %g/%d: max |dprob| %.3g, rel err probs %.3g, logits %.3g\n",
              double(width), res, max_diff(b.output, a.output), rel_err(b.output, a.output),
              rel_err(b.kept.at(h.logits), a.kept.at(g.logits)));
  EXPECT_LE(max_diff(b.output, a.output), 1e-5) << width << "/" << res;
  EXPECT_LE(rel_err(b.output, a.output), 1e-5) << width << "/" << res;
  EXPECT_LE(rel_err(b.kept.at(h.logits), a.kept.at(g.logits)), 1e-5);
  EXPECT_EQ(argmax(b.output), argmax(a.output));
}

TEST(OpenVinoIrRoundTrip, OmzStyleInput035_32) { omz_round_trip(0.35f, 32, 10, false); }
TEST(OpenVinoIrRoundTrip, OmzStyleInput10_128ThroughFiles) { omz_round_trip(1.0f, 128, 1001, true); }
TEST(OpenVinoIrRoundTrip, OmzStyleInput14_224) { omz_round_trip(1.4f, 224, 1001, false); }

TEST(OpenVinoIrRoundTrip, ModelApiLoadsSavedIr) {
  Graph g = build_mobilenet_v2(0.35f, 32, 10, 3);
  const std::string dir = temp_dir();
  const std::string xml = dir + "/m.xml";
  save_openvino_ir(g, xml, false, true);
  Model m = Model::load(xml);
  EXPECT_EQ(m.info().format, "openvino-ir");
  EXPECT_EQ(m.info().channel_order, ChannelOrder::BGR);
  EXPECT_TRUE(m.info().normalization_in_graph);
  EXPECT_EQ(m.info().num_classes, 10);
  const auto p = random_pixels(32, 32, 9);
  const auto xs = normalised_rgb(p, 127.5f, 127.5f);
  const auto xi = raw_bgr(p);
  std::vector<float> probs(10);
  m.run(xi.data(), 1, probs.data());
  const ReferenceResult ref = reference_run(g, xs.data(), 1);
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(probs[i], ref.output[i], 1e-5);
  std::remove(xml.c_str());
  std::remove((dir + "/m.bin").c_str());
  rmdir(dir.c_str());
}

TEST(OpenVinoIrRoundTrip, Fp16SameTop1) {
  for (auto [width, res, classes] : {std::tuple{0.35f, 32, 10}, std::tuple{1.0f, 96, 1001}}) {
    Graph g = build_mobilenet_v2(width, res, classes, 5);
    const OpenVinoIrFiles f32 = write_openvino_ir(g, false, true);
    const OpenVinoIrFiles f16 = write_openvino_ir(g, true, true);
    EXPECT_LT(f16.bin.size(), f32.bin.size() * 0.51 + 64);
    Graph a = load_mem(f32), b = load_mem(f16);
    for (uint32_t seed : {1u, 2u, 3u}) {
      const auto x = raw_bgr(random_pixels(res, res, seed));
      const ReferenceResult ra = reference_run(a, x.data(), 1, {a.logits});
      const ReferenceResult rb = reference_run(b, x.data(), 1, {b.logits});
      std::printf("[ figures  ] fp16 vs fp32 IR %g/%d seed %u: max |dprob| %.3g, top prob %.3g, "
                  "logits rel err %.3g\n",
                  double(width), res, seed, max_diff(ra.output, rb.output),
                  ra.output[argmax(ra.output)], rel_err(rb.kept.at(b.logits), ra.kept.at(a.logits)));
      EXPECT_EQ(argmax(ra.output), argmax(rb.output)) << width << " seed " << seed;
      // f16 weights carry a relative rounding error of up to 2^-11; through the whole
      // network that gives ~1e-3 relative error on the logits. The brief's small model
      // (0.35/32, 10 classes) stays within 1e-3 on the probabilities; the 1.0 model with a
      // dominant class (top prob ~0.65) measured 1.2e-3, so it gets 2e-3.
      EXPECT_LE(rel_err(rb.kept.at(b.logits), ra.kept.at(a.logits)), 2e-3);
      EXPECT_LE(max_diff(ra.output, rb.output), width < 0.5f ? 1e-3 : 2e-3)
          << width << " seed " << seed;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Conformance of the written XML with the IR v11 format.
void check_conformance(const OpenVinoIrFiles& f, bool fp16) {
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_buffer(f.xml.data(), f.xml.size()));
  pugi::xml_node net = doc.child("net");
  ASSERT_TRUE(net);
  EXPECT_STREQ(net.attribute("version").value(), "11");
  EXPECT_TRUE(net.attribute("name"));
  const std::set<std::string> known = {"Parameter", "Const", "Convert", "Convolution",
                                       "GroupConvolution", "Add", "Subtract", "Multiply",
                                       "Clamp", "ReLU", "ReduceMean", "AvgPool", "Reshape",
                                       "Squeeze", "SoftMax", "MatMul", "Result"};
  const std::set<std::string> precisions = {"FP32", "FP16", "I64"};
  struct PortInfo {
    bool is_input;
    std::vector<int64_t> dims;
    std::string precision;
  };
  std::map<int, pugi::xml_node> layers;
  std::map<std::pair<int, int>, PortInfo> ports;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int params = 0, results = 0;
  auto dims_of = [](pugi::xml_node port) {
    std::vector<int64_t> d;
    for (pugi::xml_node x : port.children("dim")) d.push_back(std::stoll(x.text().get()));
    return d;
  };
  auto parse_list = [](const std::string& s) {
    std::vector<int64_t> v;
    size_t at = 0;
    while (at < s.size()) {
      size_t comma = s.find(',', at);
      if (comma == std::string::npos) comma = s.size();
      v.push_back(std::stoll(s.substr(at, comma - at)));
      at = comma + 1;
    }
    return v;
  };
  for (pugi::xml_node l : net.child("layers").children("layer")) {
    const int id = l.attribute("id").as_int(-1);
    ASSERT_GE(id, 0);
    ASSERT_FALSE(layers.count(id)) << "duplicate id " << id;
    layers[id] = l;
    const std::string type = l.attribute("type").value();
    EXPECT_TRUE(known.count(type)) << type;
    const std::string ver = l.attribute("version").value();
    EXPECT_TRUE(ver == "opset1" || ver == "opset8") << ver;
    EXPECT_FALSE(std::string(l.attribute("name").value()).empty());
    if (type == "SoftMax") EXPECT_EQ(ver, "opset8");
    // inputs 0..k-1, then outputs k..
    int next = 0;
    for (pugi::xml_node p : l.child("input").children("port")) {
      EXPECT_EQ(p.attribute("id").as_int(-1), next) << type << " " << id;
      EXPECT_TRUE(precisions.count(p.attribute("precision").value()));
      ports[{id, next}] = {true, dims_of(p), p.attribute("precision").value()};
      ++next;
    }
    int outs = 0;
    for (pugi::xml_node p : l.child("output").children("port")) {
      EXPECT_EQ(p.attribute("id").as_int(-1), next) << type << " " << id;
      EXPECT_TRUE(precisions.count(p.attribute("precision").value()));
      ports[{id, next}] = {false, dims_of(p), p.attribute("precision").value()};
      ++next;
      ++outs;
    }
    EXPECT_EQ(outs, type == "Result" ? 0 : 1) << type;
    pugi::xml_node data = l.child("data");
    if (type == "Parameter") {
      ++params;
      EXPECT_STREQ(data.attribute("element_type").value(), "f32");
      EXPECT_EQ(parse_list(data.attribute("shape").value()), dims_of(l.child("output").child("port")));
      EXPECT_EQ(dims_of(l.child("output").child("port")).size(), 4u);
    }
    if (type == "Result") ++results;
    if (type == "Const") {
      const std::string et = data.attribute("element_type").value();
      const int64_t es = et == "f32" ? 4 : et == "f16" ? 2 : et == "i64" ? 8 : 0;
      EXPECT_GT(es, 0) << et;
      const auto shape = parse_list(data.attribute("shape").value());
      pugi::xml_node op = l.child("output").child("port");
      EXPECT_EQ(shape, dims_of(op));
      EXPECT_STREQ(op.attribute("precision").value(),
                   et == "f32" ? "FP32" : et == "f16" ? "FP16" : "I64");
      int64_t count = 1;
      for (int64_t d : shape) count *= d;
      const int64_t off = std::stoll(data.attribute("offset").value());
      const int64_t size = std::stoll(data.attribute("size").value());
      EXPECT_EQ(size, count * es);
      EXPECT_GE(off, 0);
      EXPECT_LE(off + size, int64_t(f.bin.size()));
      ranges.push_back({off, size});
      if (!fp16) EXPECT_NE(et, "f16");
    }
    if (type == "Convolution" || type == "GroupConvolution") {
      for (const char* a : {"strides", "dilations", "pads_begin", "pads_end", "auto_pad"})
        EXPECT_TRUE(data.attribute(a)) << a;
      EXPECT_STREQ(data.attribute("auto_pad").value(), "explicit");
      const auto s = parse_list(data.attribute("strides").value());
      const auto pb = parse_list(data.attribute("pads_begin").value());
      const auto pe = parse_list(data.attribute("pads_end").value());
      auto ports_in = l.child("input").children("port");
      auto it = ports_in.begin();
      const auto x = dims_of(*it++);
      const auto w = dims_of(*it);
      const auto y = dims_of(l.child("output").child("port"));
      const size_t kd = type == "Convolution" ? 2 : 3;
      EXPECT_EQ(w.size(), kd + 2);
      for (int a = 0; a < 2; ++a)
        EXPECT_EQ(y[size_t(2 + a)], (x[size_t(2 + a)] + pb[size_t(a)] + pe[size_t(a)] - w[kd + size_t(a)]) / s[size_t(a)] + 1);
      if (type == "Convolution") {
        EXPECT_EQ(w[1], x[1]);
        EXPECT_EQ(y[1], w[0]);
      } else {
        EXPECT_EQ(w[0], x[1]);  // depthwise: groups = channels
        EXPECT_EQ(y[1], w[0] * w[1]);
      }
    }
    if (type == "Clamp") {
      EXPECT_STREQ(data.attribute("min").value(), "0");
      EXPECT_STREQ(data.attribute("max").value(), "6");
    }
    if (type == "Convert") EXPECT_STREQ(data.attribute("destination_type").value(), "f32");
    if (type == "Add" || type == "Multiply" || type == "Subtract")
      EXPECT_STREQ(data.attribute("auto_broadcast").value(), "numpy");
  }
  EXPECT_EQ(params, 1);
  EXPECT_EQ(results, 1);
  // Consts do not overlap.
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    EXPECT_LE(ranges[i - 1].first + ranges[i - 1].second, ranges[i].first);
  // Edges: existing layers and ports, output -> input, one edge per input port, same dims.
  std::map<std::pair<int, int>, int> incoming;
  for (pugi::xml_node e : net.child("edges").children("edge")) {
    const std::pair<int, int> from = {e.attribute("from-layer").as_int(-1), e.attribute("from-port").as_int(-1)};
    const std::pair<int, int> to = {e.attribute("to-layer").as_int(-1), e.attribute("to-port").as_int(-1)};
    ASSERT_TRUE(ports.count(from)) << from.first << ":" << from.second;
    ASSERT_TRUE(ports.count(to)) << to.first << ":" << to.second;
    EXPECT_FALSE(ports[from].is_input);
    EXPECT_TRUE(ports[to].is_input);
    EXPECT_EQ(ports[from].dims, ports[to].dims);
    EXPECT_EQ(ports[from].precision, ports[to].precision);
    ++incoming[to];
    if (fp16 && ports[from].precision == "FP16") {
      EXPECT_STREQ(layers[to.first].attribute("type").value(), "Convert");
    }
  }
  for (const auto& [key, p] : ports)
    if (p.is_input) EXPECT_EQ(incoming[key], 1) << key.first << ":" << key.second;
}

TEST(OpenVinoIrConformance, WrittenXmlFollowsTheFormat) {
  Graph g = build_mobilenet_v2(0.35f, 32, 10, 1);
  for (bool fp16 : {false, true})
    for (bool omz : {false, true}) {
      SCOPED_TRACE(std::string(fp16 ? "fp16" : "fp32") + (omz ? " omz" : " plain"));
      check_conformance(write_openvino_ir(g, fp16, omz), fp16);
    }
}

// ---------------------------------------------------------------------------------------
// A hand-written IR in Model Optimizer's v10 style: Const outputs on port 1, mean/scale as
// Multiply + Add on the input, f16 weights fed straight into a convolution, auto_pad
// same_upper, AvgPool as the global pool, Reshape with -1, SoftMax-1, metadata saying the
// channels were not reversed. The reference below evaluates it in NCHW with plain loops.
struct HandIr {
  std::string layers, edges;
  std::vector<uint8_t> bin;
  int next = 0;
  std::string meta = "\t<meta_data>\n\t\t<cli_parameters>\n\t\t\t<reverse_input_channels value=\"False\"/>\n"
                     "\t\t</cli_parameters>\n\t</meta_data>\n";
  int version = 10;

  static std::string dims(const std::vector<int64_t>& d) {
    std::string s;
    for (int64_t v : d) s += "<dim>" + std::to_string(v) + "</dim>";
    return s;
  }
  static std::string list(const std::vector<int64_t>& d) {
    std::string s;
    for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
    return s;
  }
  // inputs: (layer, port, dims); returns the new layer id; the output port is inputs.size()
  int layer(const std::string& type, const std::string& data,
            const std::vector<std::tuple<int, int, std::vector<int64_t>>>& in,
            const std::vector<int64_t>& out, int out_port = -1) {
    const int id = next++;
    std::string x = "\t\t<layer id=\"" + std::to_string(id) + "\" name=\"" + type + "_" +
                    std::to_string(id) + "\" type=\"" + type + "\" version=\"opset1\">\n";
    if (!data.empty()) x += "\t\t\t<data " + data + "/>\n";
    if (!in.empty()) {
      x += "\t\t\t<input>\n";
      for (size_t k = 0; k < in.size(); ++k) {
        x += "\t\t\t\t<port id=\"" + std::to_string(k) + "\">" + dims(std::get<2>(in[k])) + "</port>\n";
        edges += "\t\t<edge from-layer=\"" + std::to_string(std::get<0>(in[k])) + "\" from-port=\"" +
                 std::to_string(std::get<1>(in[k])) + "\" to-layer=\"" + std::to_string(id) +
                 "\" to-port=\"" + std::to_string(k) + "\"/>\n";
      }
      x += "\t\t\t</input>\n";
    }
    if (type != "Result") {
      const int op = out_port >= 0 ? out_port : int(in.size());
      x += "\t\t\t<output>\n\t\t\t\t<port id=\"" + std::to_string(op) + "\" precision=\"FP32\">" +
           dims(out) + "</port>\n\t\t\t</output>\n";
    }
    x += "\t\t</layer>\n";
    layers += x;
    return id;
  }
  int const_f32(const std::vector<int64_t>& d, const std::vector<float>& v) {
    const size_t off = bin.size();
    bin.resize(off + v.size() * 4);
    std::memcpy(bin.data() + off, v.data(), v.size() * 4);
    return layer("Const", "element_type=\"f32\" shape=\"" + list(d) + "\" offset=\"" +
                              std::to_string(off) + "\" size=\"" + std::to_string(v.size() * 4) + "\"",
                 {}, d, 1);
  }
  int const_f16(const std::vector<int64_t>& d, const std::vector<float>& v) {
    const size_t off = bin.size();
    bin.resize(off + v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t h = float_to_half(v[i]);
      std::memcpy(bin.data() + off + 2 * i, &h, 2);
    }
    return layer("Const", "element_type=\"f16\" shape=\"" + list(d) + "\" offset=\"" +
                              std::to_string(off) + "\" size=\"" + std::to_string(v.size() * 2) + "\"",
                 {}, d, 1);
  }
  int const_i64(const std::vector<int64_t>& v) {
    const size_t off = bin.size();
    bin.resize(off + v.size() * 8);
    std::memcpy(bin.data() + off, v.data(), v.size() * 8);
    return layer("Const", "element_type=\"i64\" shape=\"" + std::to_string(v.size()) + "\" offset=\"" +
                              std::to_string(off) + "\" size=\"" + std::to_string(v.size() * 8) + "\"",
                 {}, {int64_t(v.size())}, 1);
  }
  std::string xml() const {
    return "<?xml version=\"1.0\" ?>\n<net name=\"hand\" version=\"" + std::to_string(version) +
           "\">\n\t<layers>\n" + layers + "\t</layers>\n\t<edges>\n" + edges + "\t</edges>\n" + meta +
           "</net>\n";
  }
};

std::vector<float> seq(size_t n, double a, double b) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(std::sin(a * double(i) + b) * 0.5);
  return v;
}

// y[o][oy][ox] = sum w[o][i][ky][kx] x[i][oy*s - pt + ky][ox*s - pl + kx]; groups = cin when dw
std::vector<double> conv_nchw(const std::vector<double>& x, int c, int h, int w,
                              const std::vector<float>& wt, int co, int k, int s, int pt, int pl,
                              int oh, int ow, bool dw) {
  std::vector<double> y(size_t(co) * oh * ow, 0.0);
  for (int o = 0; o < co; ++o)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        double acc = 0;
        for (int i = dw ? o : 0; i < (dw ? o + 1 : c); ++i)
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = oy * s - pt + ky, ix = ox * s - pl + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const float wv = dw ? wt[size_t((o * k + ky) * k + kx)]
                                  : wt[size_t(((o * c + i) * k + ky) * k + kx)];
              acc += double(wv) * x[size_t((i * h + iy) * w + ix)];
            }
        y[size_t((o * oh + oy) * ow + ox)] = acc;
      }
  return y;
}

struct HandModel {
  HandIr ir;
  std::vector<float> scale{1 / 58.395f, 1 / 57.12f, 1 / 57.375f};
  std::vector<float> shift{-123.675f / 58.395f, -116.28f / 57.12f, -103.53f / 57.375f};
  std::vector<float> w1 = seq(4 * 3 * 3 * 3, 0.37, 0.1), b1 = seq(4, 1.3, 0.2);
  std::vector<float> w2 = seq(4 * 9, 0.91, 0.5), w3 = seq(5 * 4, 0.53, 0.7), b3 = seq(5, 2.1, 0.3);
  int softmax = -1;

  HandModel() {
    HandIr& b = ir;
    for (float& v : w1) v = half_to_float(float_to_half(v));  // the file stores them as f16
    const int in = b.layer("Parameter", "element_type=\"f32\" shape=\"1,3,5,5\"", {}, {1, 3, 5, 5}, 0);
    const int cs = b.const_f32({1, 3, 1, 1}, scale);
    const int mul = b.layer("Multiply", "", {{in, 0, {1, 3, 5, 5}}, {cs, 1, {1, 3, 1, 1}}}, {1, 3, 5, 5});
    const int ca = b.const_f32({1, 3, 1, 1}, shift);
    const int add = b.layer("Add", "", {{mul, 2, {1, 3, 5, 5}}, {ca, 1, {1, 3, 1, 1}}}, {1, 3, 5, 5});
    const int cw1 = b.const_f16({4, 3, 3, 3}, w1);
    const int conv = b.layer("Convolution",
                             "auto_pad=\"same_upper\" dilations=\"1,1\" output_padding=\"0,0\" "
                             "pads_begin=\"0,0\" pads_end=\"0,0\" strides=\"2,2\"",
                             {{add, 2, {1, 3, 5, 5}}, {cw1, 1, {4, 3, 3, 3}}}, {1, 4, 3, 3});
    const int cb1 = b.const_f32({1, 4, 1, 1}, b1);
    const int badd = b.layer("Add", "", {{conv, 2, {1, 4, 3, 3}}, {cb1, 1, {1, 4, 1, 1}}}, {1, 4, 3, 3});
    const int clamp = b.layer("Clamp", "max=\"6.0\" min=\"0.0\"", {{badd, 2, {1, 4, 3, 3}}}, {1, 4, 3, 3});
    const int cw2 = b.const_f32({4, 1, 1, 3, 3}, w2);
    const int dw = b.layer("GroupConvolution",
                           "dilations=\"1,1\" pads_begin=\"1,1\" pads_end=\"1,1\" strides=\"1,1\"",
                           {{clamp, 1, {1, 4, 3, 3}}, {cw2, 1, {4, 1, 1, 3, 3}}}, {1, 4, 3, 3});
    const int relu = b.layer("ReLU", "", {{dw, 2, {1, 4, 3, 3}}}, {1, 4, 3, 3});
    const int res = b.layer("Add", "", {{relu, 1, {1, 4, 3, 3}}, {clamp, 1, {1, 4, 3, 3}}}, {1, 4, 3, 3});
    const int pool = b.layer("AvgPool",
                             "auto_pad=\"valid\" exclude-pad=\"true\" kernel=\"3,3\" pads_begin=\"0,0\" "
                             "pads_end=\"0,0\" rounding_type=\"floor\" strides=\"1,1\"",
                             {{res, 2, {1, 4, 3, 3}}}, {1, 4, 1, 1});
    const int cw3 = b.const_f32({5, 4, 1, 1}, w3);
    const int fc = b.layer("Convolution",
                           "dilations=\"1,1\" pads_begin=\"0,0\" pads_end=\"0,0\" strides=\"1,1\"",
                           {{pool, 1, {1, 4, 1, 1}}, {cw3, 1, {5, 4, 1, 1}}}, {1, 5, 1, 1});
    const int cb3 = b.const_f32({1, 5, 1, 1}, b3);
    const int logits = b.layer("Add", "", {{fc, 2, {1, 5, 1, 1}}, {cb3, 1, {1, 5, 1, 1}}}, {1, 5, 1, 1});
    const int shape = b.const_i64({-1, 5});
    const int reshape = b.layer("Reshape", "special_zero=\"false\"",
                                {{logits, 2, {1, 5, 1, 1}}, {shape, 1, {2}}}, {1, 5});
    softmax = b.layer("SoftMax", "axis=\"1\"", {{reshape, 2, {1, 5}}}, {1, 5});
    b.layer("Result", "", {{softmax, 1, {1, 5}}}, {});
  }

  // NCHW double reference; x is NCHW raw input.
  std::vector<double> reference(const std::vector<double>& x) const {
    std::vector<double> a(x.size());
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 25; ++i) a[size_t(c * 25 + i)] = x[size_t(c * 25 + i)] * scale[size_t(c)] + shift[size_t(c)];
    // same_upper, 5 -> 3 with stride 2: total pad 2, 1 before and 1 after
    auto y = conv_nchw(a, 3, 5, 5, w1, 4, 3, 2, 1, 1, 3, 3, false);
    for (int o = 0; o < 4; ++o)
      for (int i = 0; i < 9; ++i) {
        double& v = y[size_t(o * 9 + i)];
        v = std::clamp(v + b1[size_t(o)], 0.0, 6.0);
      }
    auto z = conv_nchw(y, 4, 3, 3, w2, 4, 3, 1, 1, 1, 3, 3, true);
    std::vector<double> pooled(4, 0.0);
    for (int o = 0; o < 4; ++o)
      for (int i = 0; i < 9; ++i)
        pooled[size_t(o)] += (std::max(z[size_t(o * 9 + i)], 0.0) + y[size_t(o * 9 + i)]) / 9.0;
    std::vector<double> l(5);
    double m = -1e300;
    for (int o = 0; o < 5; ++o) {
      l[size_t(o)] = b3[size_t(o)];
      for (int i = 0; i < 4; ++i) l[size_t(o)] += double(w3[size_t(o * 4 + i)]) * pooled[size_t(i)];
      m = std::max(m, l[size_t(o)]);
    }
    double sum = 0;
    for (double& v : l) sum += (v = std::exp(v - m));
    for (double& v : l) v /= sum;
    return l;
  }
};

TEST(OpenVinoIrHandWritten, ModelOptimizerV10StyleMatchesNchwReference) {
  HandModel hm;
  Graph g = load_openvino_ir_memory(hm.ir.xml(), hm.ir.bin, "hand.xml");
  EXPECT_EQ(g.info.channel_order, ChannelOrder::RGB);  // metadata: reverse_input_channels False
  EXPECT_TRUE(g.info.normalization_in_graph);
  EXPECT_NEAR(g.info.scale, 58.395f, 1e-3);
  EXPECT_NEAR(g.info.mean, 123.675f, 1e-3);
  EXPECT_EQ(g.info.num_classes, 5);
  EXPECT_EQ(g.info.feature_dim, 4);
  EXPECT_EQ(g.info.output_name, "SoftMax_" + std::to_string(hm.softmax));
  // same_upper on 5 -> 3 at stride 2 pads one row/column on each side.
  const Node& conv = g.nodes[2];
  ASSERT_EQ(conv.op, OpType::Conv2D);
  EXPECT_EQ(conv.pad_top, 1);
  EXPECT_EQ(conv.pad_bottom, 1);
  EXPECT_EQ(conv.activation, Activation::Relu6);
  EXPECT_EQ(conv.bias.size(), 4u);
  std::vector<double> nchw(75);
  std::vector<float> nhwc(75);
  std::mt19937 rng(4);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 25; ++i) {
      const float v = float(rng() % 256);
      nchw[size_t(c * 25 + i)] = v;
      nhwc[size_t(i * 3 + c)] = v;
    }
  const auto want = hm.reference(nchw);
  const ReferenceResult got = reference_run(g, nhwc.data(), 1);
  ASSERT_EQ(got.output.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(got.output[i], want[i], 1e-6) << i;
}

TEST(OpenVinoIrHandWritten, NoMetadataMeansBgrAndVersion11Works) {
  HandModel hm;
  hm.ir.meta = "";
  hm.ir.version = 11;
  Graph g = load_openvino_ir_memory(hm.ir.xml(), hm.ir.bin, "hand.xml");
  EXPECT_EQ(g.info.channel_order, ChannelOrder::BGR);
  hm.ir.version = 7;
  try {
    load_openvino_ir_memory(hm.ir.xml(), hm.ir.bin, "hand.xml");
    FAIL() << "IR v7 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 7"), std::string::npos) << e.what();
  }
}

TEST(OpenVinoIrHandWritten, MatMulShapeOfDivideAndReversedSubtract) {
  // x -> Divide(x, 2) -> Subtract(c, .) -> ReduceMean(2,3, keep_dims=false) -> MatMul(W^T)
  //   -> Add(b) -> Reshape(., ShapeOf(.)) -> SoftMax(axis=-1) -> Result
  HandIr b;
  b.version = 11;
  const std::vector<float> c = {0.5f, -1.0f, 2.0f};
  const std::vector<float> w = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f, -0.9f, 1.0f, 0.0f, 0.2f};
  const std::vector<float> bias = {0.05f, -0.1f, 0.2f, 0.0f};
  const int in = b.layer("Parameter", "element_type=\"f32\" shape=\"1,3,2,2\"", {}, {1, 3, 2, 2}, 0);
  const int two = b.const_f32({}, {2.0f});
  const int div = b.layer("Divide", "auto_broadcast=\"numpy\"", {{in, 0, {1, 3, 2, 2}}, {two, 1, {}}}, {1, 3, 2, 2});
  const int cc = b.const_f32({1, 3, 1, 1}, c);
  const int sub = b.layer("Subtract", "", {{cc, 1, {1, 3, 1, 1}}, {div, 2, {1, 3, 2, 2}}}, {1, 3, 2, 2});
  const int axes = b.const_i64({-1, 2});
  const int mean = b.layer("ReduceMean", "keep_dims=\"false\"", {{sub, 2, {1, 3, 2, 2}}, {axes, 1, {2}}}, {1, 3});
  const int cw = b.const_f32({4, 3}, w);
  const int mm = b.layer("MatMul", "transpose_a=\"false\" transpose_b=\"true\"", {{mean, 2, {1, 3}}, {cw, 1, {4, 3}}}, {1, 4});
  const int cb = b.const_f32({4}, bias);
  const int add = b.layer("Add", "", {{mm, 2, {1, 4}}, {cb, 1, {4}}}, {1, 4});
  const int shp = b.layer("ShapeOf", "output_type=\"i64\"", {{add, 2, {1, 4}}}, {2});
  const int rs = b.layer("Reshape", "special_zero=\"true\"", {{add, 2, {1, 4}}, {shp, 1, {2}}}, {1, 4});
  const int sm = b.layer("SoftMax", "axis=\"-1\"", {{rs, 2, {1, 4}}}, {1, 4});
  b.layer("Result", "", {{sm, 1, {1, 4}}}, {});
  Graph g = load_openvino_ir_memory(b.xml(), b.bin, "hand2.xml");
  EXPECT_EQ(g.info.num_classes, 4);
  EXPECT_EQ(g.info.feature_dim, 3);
  EXPECT_TRUE(g.info.normalization_in_graph);
  // reference
  const std::vector<float> x = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};  // NCHW
  std::vector<float> nhwc(12);
  for (int ch = 0; ch < 3; ++ch)
    for (int i = 0; i < 4; ++i) nhwc[size_t(i * 3 + ch)] = x[size_t(ch * 4 + i)];
  double pooled[3] = {0, 0, 0};
  for (int ch = 0; ch < 3; ++ch)
    for (int i = 0; i < 4; ++i) pooled[ch] += (c[size_t(ch)] - x[size_t(ch * 4 + i)] / 2.0) / 4.0;
  double l[4], m = -1e300, sum = 0;
  for (int o = 0; o < 4; ++o) {
    l[o] = bias[size_t(o)];
    for (int i = 0; i < 3; ++i) l[o] += double(w[size_t(o * 3 + i)]) * pooled[i];
    m = std::max(m, l[o]);
  }
  for (double& v : l) sum += (v = std::exp(v - m));
  const ReferenceResult r = reference_run(g, nhwc.data(), 1);
  ASSERT_EQ(r.output.size(), 4u);
  for (int o = 0; o < 4; ++o) EXPECT_NEAR(r.output[size_t(o)], l[o] / sum, 1e-6) << o;
}

// ---------------------------------------------------------------------------------------
// Bad files.
std::string load_error(const std::string& xml, const std::vector<uint8_t>& bin) {
  try {
    load_openvino_ir_memory(xml, bin, "bad.xml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& xml, const std::vector<uint8_t>& bin,
                  const std::vector<std::string>& needles) {
  const std::string msg = load_error(xml, bin);
  ASSERT_FALSE(msg.empty()) << "loaded without error";
  EXPECT_NE(msg.find("bad.xml"), std::string::npos) << msg;
  for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
}

std::string replace_once(std::string s, const std::string& from, const std::string& to,
                         size_t after = 0) {
  const size_t at = s.find(from, after);
  if (at == std::string::npos) throw std::runtime_error("pattern not found: " + from);
  return s.replace(at, from.size(), to);
}

OpenVinoIrFiles small_model() { return write_openvino_ir(build_mobilenet_v2(0.35f, 32, 10, 2), false, true); }

TEST(OpenVinoIrBadFiles, TruncatedXmlAtEveryLength) {
  const OpenVinoIrFiles f = small_model();
  size_t loaded = 0;
  for (size_t n = 0; n < f.xml.size(); ++n) {
    try {
      load_openvino_ir_memory(f.xml.substr(0, n), f.bin, "t.xml");
      ++loaded;
      // only a prefix that still holds the whole document may load
      ASSERT_NE(f.xml.substr(0, n).find("</net>"), std::string::npos) << n;
    } catch (const Error&) {
    }
  }
  EXPECT_LE(loaded, 2u);  // at most the prefixes that only drop the final newline
}

TEST(OpenVinoIrBadFiles, TruncatedBin) {
  const OpenVinoIrFiles f = small_model();
  std::vector<size_t> sizes = {0, 1, 4, f.bin.size() - 1, f.bin.size() - 4};
  for (size_t k = 1; k < 64; ++k) sizes.push_back(f.bin.size() * k / 64);
  for (size_t n : sizes) {
    std::vector<uint8_t> b(f.bin.begin(), f.bin.begin() + std::ptrdiff_t(n));
    expect_error(f.xml, b, {"outside the .bin"});
  }
}

TEST(OpenVinoIrBadFiles, ConstOffsetsSizesAndShapes) {
  const OpenVinoIrFiles f = small_model();
  const std::string c = "offset=\"0\" size=\"12\"";  // the first Const (the mean values)
  ASSERT_NE(f.xml.find(c), std::string::npos);
  const std::string big = std::to_string(f.bin.size());
  expect_error(replace_once(f.xml, c, "offset=\"" + big + "\" size=\"12\""), f.bin, {"outside the .bin"});
  expect_error(replace_once(f.xml, c, "offset=\"" + std::to_string(f.bin.size() - 11) + "\" size=\"12\""), f.bin, {"outside the .bin"});
  expect_error(replace_once(f.xml, c, "offset=\"18446744073709551615\" size=\"12\""), f.bin, {"offset"});
  expect_error(replace_once(f.xml, c, "offset=\"-4\" size=\"12\""), f.bin, {"offset"});
  expect_error(replace_once(f.xml, c, "offset=\"0\" size=\"16\""), f.bin, {"does not match shape"});
  expect_error(replace_once(f.xml, c, "offset=\"0\" size=\"abc\""), f.bin, {"size"});
  // absurd shapes
  expect_error(replace_once(f.xml, "shape=\"1,3,1,1\"", "shape=\"100000,100000,100000,1000\""), f.bin, {"shape"});
  expect_error(replace_once(f.xml, "shape=\"1,3,32,32\"", "shape=\"1,3,1000000,1000000\""), f.bin, {"Parameter"});
  expect_error(replace_once(f.xml, "<dim>32</dim>", "<dim>99999999999999999999</dim>"), f.bin, {"dim"});
  expect_error(replace_once(f.xml, "<dim>32</dim>", "<dim>33</dim>"), f.bin, {"declares dims"});
}

TEST(OpenVinoIrBadFiles, UnknownLayerTypeIsNamed) {
  const OpenVinoIrFiles f = small_model();
  const size_t at = f.xml.find("type=\"SoftMax\"");
  ASSERT_NE(at, std::string::npos);
  const size_t id_at = f.xml.rfind("<layer id=\"", at) + 11;
  const std::string id = f.xml.substr(id_at, f.xml.find('"', id_at) - id_at);
  expect_error(replace_once(f.xml, "type=\"SoftMax\"", "type=\"FancyMax\""), f.bin,
               {"FancyMax", "layer " + id});
}

TEST(OpenVinoIrBadFiles, BrokenEdges) {
  const OpenVinoIrFiles f = small_model();
  const size_t e = f.xml.find("<edge ");
  const size_t e_end = f.xml.find("/>", e) + 2;
  const std::string edge = f.xml.substr(e, e_end - e);
  // a missing edge leaves an input dangling
  expect_error(f.xml.substr(0, e) + f.xml.substr(e_end), f.bin, {"not connected"});
  // an edge to / from nothing
  expect_error(replace_once(f.xml, "to-layer=\"", "to-layer=\"9999", e), f.bin, {"does not exist"});
  expect_error(replace_once(f.xml, "from-layer=\"", "from-layer=\"777", e), f.bin, {"does not exist"});
  expect_error(replace_once(f.xml, "from-port=\"0\"", "from-port=\"5\"", e), f.bin, {"no output port 5"});
  expect_error(replace_once(f.xml, "to-port=\"0\"", "to-port=\"7\"", e), f.bin, {"no input port 7"});
  // the same input port fed twice
  expect_error(replace_once(f.xml, edge, edge + edge), f.bin, {"already has an incoming edge"});
  expect_error(replace_once(f.xml, "<edges>", "<edgez>"), f.bin, {});
}

TEST(OpenVinoIrBadFiles, CycleIsReported) {
  HandModel hm;
  // Feed the first convolution's bias Add from the residual Add: a loop.
  std::string xml = hm.ir.xml();
  const std::string from = "<edge from-layer=\"7\" from-port=\"1\" to-layer=\"8\" to-port=\"1\"/>";
  ASSERT_NE(xml.find(from), std::string::npos);
  xml = replace_once(xml, from, "<edge from-layer=\"13\" from-port=\"2\" to-layer=\"8\" to-port=\"1\"/>");
  expect_error(xml, hm.ir.bin, {"cycle"});
}

TEST(OpenVinoIrBadFiles, MissingBinFile) {
  const std::string dir = temp_dir();
  save_openvino_ir(build_mobilenet_v2(0.35f, 32, 10, 2), dir + "/m.xml", false, false);
  std::remove((dir + "/m.bin").c_str());
  try {
    Model::load(dir + "/m.xml");
    FAIL() << "loaded without its .bin";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.bin"), std::string::npos) << e.what();
  }
  std::remove((dir + "/m.xml").c_str());
  rmdir(dir.c_str());
}

TEST(OpenVinoIrBadFiles, RandomCorruptionNeverCrashes) {
  const OpenVinoIrFiles f = small_model();
  std::mt19937 rng(20261125);
  int xml_errors = 0, xml_loads = 0, bin_errors = 0, bin_loads = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    std::string x = f.xml;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      // Mostly printable replacements (digits, quotes, brackets) so the XML often still
      // parses and the corruption reaches the loader.
      static const char pool[] = "0123456789-,<>/\"= abcxyz?";
      x[rng() % x.size()] = (rng() % 4) ? pool[rng() % (sizeof pool - 1)] : char(rng() % 256);
    }
    try {
      Graph g = load_openvino_ir_memory(x, f.bin, "c.xml");
      ++xml_loads;
      EXPECT_GT(g.nodes.size(), 1u);
    } catch (const Error&) {
      ++xml_errors;
    }
  }
  for (int trial = 0; trial < 1500; ++trial) {
    std::vector<uint8_t> b = f.bin;
    const int flips = 1 + int(rng() % 8);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = uint8_t(rng() % 256);
    try {
      load_openvino_ir_memory(f.xml, b, "c.xml");
      ++bin_loads;
    } catch (const Error& e) {
      ++bin_errors;
      EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
    }
  }
  std::printf("[ figures  ] corrupted xml: %d errors, %d loads; corrupted bin: %d errors, %d loads\n",
              xml_errors, xml_loads, bin_errors, bin_loads);
  EXPECT_GT(xml_errors, 0);
  EXPECT_GT(bin_loads, 0);
}

// ---------------------------------------------------------------------------------------
TEST(OpenVinoIrCli, ConvertWritesLoadableIr) {
  const std::string dir = temp_dir();
  const std::string cli = test::cli_path();
  std::string out;
  ASSERT_EQ(test::run_command(cli + " convert --synthetic 0.35 32 --classes 10 --seed 4 -o " + dir +
                                  "/a.xml",
                              &out),
            0)
      << out;
  ASSERT_EQ(test::run_command(cli + " convert --synthetic 0.35 32 --classes 10 --seed 4 --fp16 -o " +
                                  dir + "/b.xml",
                              &out),
            0)
      << out;
  ASSERT_EQ(test::run_command(cli + " info " + dir + "/a.xml", &out), 0) << out;
  EXPECT_NE(out.find("openvino-ir"), std::string::npos) << out;
  EXPECT_NE(out.find("BGR"), std::string::npos) << out;
  Graph src = build_mobilenet_v2(0.35f, 32, 10, 4);
  Graph a = load_graph(dir + "/a.xml"), b = load_graph(dir + "/b.xml");
  const auto p = random_pixels(32, 32, 77);
  const auto xs = normalised_rgb(p, 127.5f, 127.5f);
  const auto xi = raw_bgr(p);
  const ReferenceResult r0 = reference_run(src, xs.data(), 1);
  const ReferenceResult ra = reference_run(a, xi.data(), 1);
  const ReferenceResult rb = reference_run(b, xi.data(), 1);
  EXPECT_LE(max_diff(ra.output, r0.output), 1e-5);
  EXPECT_LE(max_diff(rb.output, r0.output), 1e-3);
  EXPECT_EQ(argmax(rb.output), argmax(r0.output));
  for (const char* f : {"/a.xml", "/a.bin", "/b.xml", "/b.bin"}) std::remove((dir + f).c_str());
  rmdir(dir.c_str());
}

// The FP16 criterion on real weights: the ImageNet-trained coral MobileNetV2 1.0 (its
// dequantized weights) written as FP32 and FP16 IR, run on every golden input tensor.
// Measured: max |dprob| 1.67e-3 (grace_hopper.bmp; 4 of 13 inputs above 1e-3), top-1 always
// equal. The issue asks for 1e-3; that is not reachable with f16-stored weights. The second
// half shows why: rounding the 288 weights (and 32 biases) of the first depthwise layer alone
// to f16, every other layer kept in f32, already moves the probabilities by 1.28e-3. The
// network amplifies a 2^-11 relative weight error that much: rounded one at a time, 5 of the
// 52 weighted layers alone exceed 1e-3 and 3 more 0.8e-3 (measured 2026-11-26; keeping
// biases or depthwise weights in f32 gives 2.2e-3 / 1.7e-3; a data-free bias correction
// from random smooth images made it worse, 3.0e-3). So the bound here is 2e-3.
std::vector<std::vector<float>> run_golden_inputs(const Graph& g, const std::string& data,
                                                  double* worst_vs = nullptr,
                                                  const std::vector<std::vector<float>>* ref = nullptr) {
  ExecutorOptions eo;
  eo.threads = 2;
  eo.isa = detect_isa();
  auto ex = Executor::create(g, eo);
  const char* images[] = {"cat.bmp", "bird.bmp", "dragonfly.bmp", "grace_hopper.bmp",
                          "sunflower.bmp", "resized_cat.bmp", "parrot.jpg", "owl.jpg",
                          "hot_dog.jpg", "cat_720p.jpg", "pets.jpg", "bird.rgb",
                          "sunflower.rgb"};
  const int n = 224 * 224 * 3, classes = g.info.num_classes;
  std::vector<std::vector<float>> out;
  for (const char* img : images) {
    std::ifstream f(data + "/coral/golden/" + img + ".input.u8", std::ios::binary);
    std::vector<uint8_t> px(size_t(n), 0);
    EXPECT_TRUE(f.read(reinterpret_cast<char*>(px.data()), n)) << img;
    std::vector<float> x(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) x[size_t(i)] = (px[size_t(i)] - g.info.mean) / g.info.scale;
    std::vector<float> p(static_cast<size_t>(classes));
    ex->run(x.data(), 1, p.data(), nullptr, nullptr);
    out.push_back(std::move(p));
  }
  if (worst_vs && ref) {
    *worst_vs = 0;
    for (size_t i = 0; i < out.size(); ++i)
      for (size_t k = 0; k < out[i].size(); ++k)
        *worst_vs = std::max(*worst_vs, double(std::fabs(out[i][k] - (*ref)[i][k])));
  }
  return out;
}

TEST(OpenVinoIrRoundTrip, Fp16RealWeightsSameTop1) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "shared test data not found (set MNV2_TEST_DATA)";
  const Graph src = load_graph(data + "/coral/mobilenet_v2_1.0_224_quant.tflite");
  Graph a = load_mem(write_openvino_ir(src, false, false));
  Graph b = load_mem(write_openvino_ir(src, true, false));
  const auto pa = run_golden_inputs(a, data);
  double worst = 0;
  const auto pb = run_golden_inputs(b, data, &worst, &pa);
  for (size_t i = 0; i < pa.size(); ++i) {
    const std::vector<double> da(pa[i].begin(), pa[i].end()), db(pb[i].begin(), pb[i].end());
    EXPECT_EQ(argmax(da), argmax(db)) << "input " << i;
    EXPECT_LE(max_diff(da, db), 2e-3) << "input " << i;
  }
  std::printf("[ figures  ] fp16 vs fp32 IR, coral 1.0/224 weights, 13 golden inputs: "
              "max |dprob| %.3g\n", worst);

  // Only the first depthwise layer in f16 (exactly what the FP16 IR stores for it).
  Graph one = a;
  int rounded = 0;
  for (Node& nd : one.nodes) {
    if (nd.op != OpType::DepthwiseConv2D) continue;
    for (float& w : nd.weights) w = half_to_float(float_to_half(w));
    for (float& v : nd.bias) v = half_to_float(float_to_half(v));
    rounded = int(nd.weights.size());
    break;
  }
  ASSERT_EQ(rounded, 288);
  double single = 0;
  run_golden_inputs(one, data, &single, &pa);
  std::printf("[ figures  ] only the first depthwise layer (288 weights) in f16: max |dprob| "
              "%.3g\n", single);
  EXPECT_GT(single, 1e-3) << "the reason the FP16 bound is 2e-3 no longer holds: revisit it";
}

}  // namespace
}  // namespace mnv2
