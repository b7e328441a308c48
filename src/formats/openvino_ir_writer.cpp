// OpenVINO IR v11 writer: the graph IR back to .xml + .bin in the shape the Open Model
// Zoo converter produces (Parameter NCHW f32, Const [+ Convert for f16], Convolution /
// GroupConvolution with explicit pads, Add bias [1,C,1,1], Clamp 0..6, ReduceMean,
// Squeeze / Reshape, SoftMax, Result).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <pugixml.hpp>
#include <sstream>

#include "formats/openvino_ir.h"

namespace mnv2 {

namespace {

// One IR tensor: the layer/port that produces it, its dims and precision.
struct Tensor {
  int layer = -1;
  int port = 0;
  std::vector<int64_t> dims;
  std::string precision = "FP32";
};

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

std::string fmt_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

class Writer {
 public:
  Writer(const Graph& g, bool fp16, bool omz) : g_(g), fp16_(fp16), omz_(omz) {}
  OpenVinoIrFiles run();

 private:
  const Graph& g_;
  bool fp16_, omz_;
  pugi::xml_document doc_;
  pugi::xml_node layers_, edges_;
  std::vector<uint8_t> bin_;
  int next_id_ = 0;

  using Attrs = std::vector<std::pair<std::string, std::string>>;

  Tensor layer(const std::string& type, const std::string& version, const std::string& name,
               const Attrs& attrs, const std::vector<Tensor>& inputs, std::vector<int64_t> out_dims,
               const std::string& out_precision = "FP32", const std::string& tensor_name = "") {
    const int id = next_id_++;
    pugi::xml_node l = layers_.append_child("layer");
    l.append_attribute("id") = id;
    l.append_attribute("name") = name.c_str();
    l.append_attribute("type") = type.c_str();
    l.append_attribute("version") = version.c_str();
    if (!attrs.empty()) {
      pugi::xml_node d = l.append_child("data");
      for (const auto& a : attrs) d.append_attribute(a.first.c_str()) = a.second.c_str();
    }
    auto port = [](pugi::xml_node parent, int pid, const std::string& precision,
                   const std::vector<int64_t>& dims, const std::string& names) {
      pugi::xml_node p = parent.append_child("port");
      p.append_attribute("id") = pid;
      p.append_attribute("precision") = precision.c_str();
      if (!names.empty()) p.append_attribute("names") = names.c_str();
      for (int64_t d : dims) p.append_child("dim").text() = std::to_string(d).c_str();
    };
    if (!inputs.empty()) {
      pugi::xml_node in = l.append_child("input");
      for (size_t k = 0; k < inputs.size(); ++k) {
        port(in, int(k), inputs[k].precision, inputs[k].dims, "");
        pugi::xml_node e = edges_.append_child("edge");
        e.append_attribute("from-layer") = inputs[k].layer;
        e.append_attribute("from-port") = inputs[k].port;
        e.append_attribute("to-layer") = id;
        e.append_attribute("to-port") = int(k);
      }
    }
    Tensor t;
    t.layer = id;
    t.port = int(inputs.size());
    t.dims = std::move(out_dims);
    t.precision = out_precision;
    if (type != "Result") {
      pugi::xml_node out = l.append_child("output");
      // Tensor names are comma-separated in the IR; names with commas are left out.
      port(out, t.port, out_precision, t.dims,
           tensor_name.find(',') == std::string::npos ? tensor_name : "");
    }
    return t;
  }

  Tensor const_bytes(const std::string& name, const char* element_type, const char* precision,
                     const std::vector<int64_t>& dims, const void* data, size_t bytes) {
    const size_t offset = bin_.size();
    bin_.resize(offset + bytes);
    if (bytes) std::memcpy(bin_.data() + offset, data, bytes);
    return layer("Const", "opset1", name,
                 {{"element_type", element_type},
                  {"shape", join(dims)},
                  {"offset", std::to_string(offset)},
                  {"size", std::to_string(bytes)}},
                 {}, dims, precision);
  }

  // A float constant: f32, or f16 + Convert when writing FP16 (unless keep_f32).
  Tensor const_f(const std::string& name, const std::vector<int64_t>& dims,
                 const std::vector<float>& v, bool keep_f32 = false) {
    if (!fp16_ || keep_f32) return const_bytes(name, "f32", "FP32", dims, v.data(), v.size() * 4);
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_half(v[i]);
    Tensor c = const_bytes(name + "/fp16", "f16", "FP16", dims, h.data(), h.size() * 2);
    return layer("Convert", "opset1", name, {{"destination_type", "f32"}}, {c}, dims);
  }

  Tensor const_i64(const std::string& name, const std::vector<int64_t>& v) {
    return const_bytes(name, "i64", "I64", {int64_t(v.size())}, v.data(), v.size() * 8);
  }

  Tensor activation(const Node& n, Tensor x, const std::string& tensor_name) {
    switch (n.activation) {
      case Activation::None: return x;
      case Activation::Relu6:
        return layer("Clamp", "opset1", n.name + "/Relu6", {{"min", "0"}, {"max", "6"}}, {x},
                     x.dims, "FP32", tensor_name);
      case Activation::Relu:
        return layer("ReLU", "opset1", n.name + "/Relu", {}, {x}, x.dims, "FP32", tensor_name);
    }
    return x;
  }

  // Bias add [1,C,1,1] (or [1,C] on 2-D values) then the activation.
  Tensor bias_act(const Node& n, Tensor x) {
    const bool has_act = n.activation != Activation::None;
    if (!n.bias.empty()) {
      std::vector<int64_t> bd = x.dims.size() == 4
                                    ? std::vector<int64_t>{1, int64_t(n.bias.size()), 1, 1}
                                    : std::vector<int64_t>{1, int64_t(n.bias.size())};
      Tensor b = const_f(n.name + "/bias", bd, n.bias);
      x = layer("Add", "opset1", n.name + "/BiasAdd", {{"auto_broadcast", "numpy"}}, {x, b}, x.dims,
                "FP32", has_act ? "" : n.name);
    }
    return activation(n, x, n.name);
  }

  [[noreturn]] void fail(const Node& n, const std::string& what) const {
    throw Error("cannot write OpenVINO IR: node '" + n.name + "' (" + op_name(n.op) + "): " + what);
  }
};

OpenVinoIrFiles Writer::run() {
  Graph g = g_;
  g.infer_shapes(1);
  const ModelInfo& info = g.info;
  if (omz_) {
    if (info.normalization_in_graph)
      throw Error("cannot write an OMZ-style IR input: the model already takes raw pixels "
                  "(its normalisation is inside the graph)");
    if (info.channel_order != ChannelOrder::RGB)
      throw Error("cannot write an OMZ-style IR input: the model's input is not RGB");
    if (info.scale == 0) throw Error("cannot write an OMZ-style IR input: scale is 0");
    for (const Node& n : g.nodes)
      for (int in : n.inputs)
        if (in == g.input && n.op != OpType::Conv2D)
          fail(n, "reads the input directly; the channel reversal can only be folded into a "
                  "Conv2D");
  }
  pugi::xml_node decl = doc_.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  pugi::xml_node net = doc_.append_child("net");
  net.append_attribute("name") = info.name.c_str();
  net.append_attribute("version") = "11";
  layers_ = net.append_child("layers");
  edges_ = net.append_child("edges");

  std::vector<Tensor> vals(g.nodes.size());
  for (size_t id = 0; id < g.nodes.size(); ++id) {
    const Node& n = g.nodes[id];
    const Shape s = n.shape;
    auto in = [&](size_t k) { return vals[size_t(n.inputs[k])]; };
    switch (n.op) {
      MNV2_UNFOLDED_OP_CASES:
        unfolded_op(n);
      case OpType::Input: {
        const std::vector<int64_t> d = {1, s.c, s.h, s.w};
        Tensor t = layer("Parameter", "opset1", n.name,
                         {{"shape", join(d)}, {"element_type", "f32"}}, {}, d, "FP32", n.name);
        if (omz_) {
          const std::vector<int64_t> cd = {1, s.c, 1, 1};
          Tensor m = const_f(n.name + "/mean_values", cd, std::vector<float>(size_t(s.c), info.mean), true);
          t = layer("Subtract", "opset1", n.name + "/sub_mean", {{"auto_broadcast", "numpy"}},
                    {t, m}, d);
          Tensor k = const_f(n.name + "/scale_values", cd,
                             std::vector<float>(size_t(s.c), float(1.0 / double(info.scale))), true);
          t = layer("Multiply", "opset1", n.name + "/mul_scale", {{"auto_broadcast", "numpy"}},
                    {t, k}, d);
        }
        vals[id] = t;
        break;
      }
      case OpType::Conv2D: {
        Tensor x = in(0);
        if (x.dims.size() != 4) fail(n, "input is not 4-D in the IR");
        const int64_t cin = x.dims[1], co = n.out_channels, kh = n.kernel_h, kw = n.kernel_w;
        const bool reverse = omz_ && n.inputs[0] == g.input;
        std::vector<float> w(n.weights.size());
        // OHWI -> OIHW (input channels reversed when the IR takes BGR for an RGB model)
        for (int64_t o = 0; o < co; ++o)
          for (int64_t i = 0; i < cin; ++i)
            for (int64_t y = 0; y < kh; ++y)
              for (int64_t xx = 0; xx < kw; ++xx) {
                const int64_t si = reverse ? cin - 1 - i : i;
                w[size_t(((o * cin + i) * kh + y) * kw + xx)] =
                    n.weights[size_t(((o * kh + y) * kw + xx) * cin + si)];
              }
        Tensor wt = const_f(n.name + "/weights", {co, cin, kh, kw}, w);
        const bool tail = !n.bias.empty() || n.activation != Activation::None;
        Tensor y = layer("Convolution", "opset1", n.name,
                         {{"strides", std::to_string(n.stride_h) + "," + std::to_string(n.stride_w)},
                          {"dilations", "1,1"},
                          {"pads_begin", std::to_string(n.pad_top) + "," + std::to_string(n.pad_left)},
                          {"pads_end", std::to_string(n.pad_bottom) + "," + std::to_string(n.pad_right)},
                          {"auto_pad", "explicit"}},
                         {x, wt}, {1, co, s.h, s.w}, "FP32", tail ? "" : n.name);
        vals[id] = bias_act(n, y);
        break;
      }
      case OpType::DepthwiseConv2D: {
        Tensor x = in(0);
        if (x.dims.size() != 4) fail(n, "input is not 4-D in the IR");
        const int64_t c = x.dims[1], m = n.depth_multiplier, co = c * m, kh = n.kernel_h,
                      kw = n.kernel_w;
        std::vector<float> w(n.weights.size());
        // [KH][KW][C*M] -> [C, M, 1, KH, KW]
        for (int64_t oc = 0; oc < co; ++oc)
          for (int64_t y = 0; y < kh; ++y)
            for (int64_t xx = 0; xx < kw; ++xx)
              w[size_t((oc * kh + y) * kw + xx)] = n.weights[size_t((y * kw + xx) * co + oc)];
        Tensor wt = const_f(n.name + "/weights", {c, m, 1, kh, kw}, w);
        const bool tail = !n.bias.empty() || n.activation != Activation::None;
        Tensor y = layer("GroupConvolution", "opset1", n.name,
                         {{"strides", std::to_string(n.stride_h) + "," + std::to_string(n.stride_w)},
                          {"dilations", "1,1"},
                          {"pads_begin", std::to_string(n.pad_top) + "," + std::to_string(n.pad_left)},
                          {"pads_end", std::to_string(n.pad_bottom) + "," + std::to_string(n.pad_right)},
                          {"auto_pad", "explicit"}},
                         {x, wt}, {1, co, s.h, s.w}, "FP32", tail ? "" : n.name);
        vals[id] = bias_act(n, y);
        break;
      }
      case OpType::Add: {
        Tensor a = in(0), b = in(1);
        if (a.dims != b.dims) fail(n, "operands have different IR shapes");
        vals[id] = layer("Add", "opset1", n.name, {{"auto_broadcast", "numpy"}}, {a, b}, a.dims,
                         "FP32", n.name);
        break;
      }
      case OpType::GlobalAvgPool: {
        Tensor x = in(0);
        if (x.dims.size() != 4) {  // a pool over a 1x1 value is the value itself
          vals[id] = x;
          break;
        }
        Tensor axes = const_i64(n.name + "/reduction_indices", {2, 3});
        vals[id] = layer("ReduceMean", "opset1", n.name, {{"keep_dims", "true"}}, {x, axes},
                         {1, x.dims[1], 1, 1}, "FP32", n.name);
        break;
      }
      case OpType::FullyConnected: {
        Tensor x = in(0);
        const int64_t co = n.out_channels;
        const bool tail = !n.bias.empty() || n.activation != Activation::None;
        if (x.dims.size() == 4) {
          if (x.dims[2] != 1 || x.dims[3] != 1)
            fail(n, "a fully-connected layer over a spatial input is not supported");
          const int64_t cin = x.dims[1];
          Tensor wt = const_f(n.name + "/weights", {co, cin, 1, 1}, n.weights);
          Tensor y = layer("Convolution", "opset1", n.name,
                           {{"strides", "1,1"}, {"dilations", "1,1"}, {"pads_begin", "0,0"},
                            {"pads_end", "0,0"}, {"auto_pad", "explicit"}},
                           {x, wt}, {1, co, 1, 1}, "FP32", tail ? "" : n.name);
          vals[id] = bias_act(n, y);
        } else {
          const int64_t cin = x.dims[1];
          Tensor wt = const_f(n.name + "/weights", {co, cin}, n.weights);
          Tensor y = layer("MatMul", "opset1", n.name,
                           {{"transpose_a", "false"}, {"transpose_b", "true"}}, {x, wt}, {1, co},
                           "FP32", tail ? "" : n.name);
          vals[id] = bias_act(n, y);
        }
        break;
      }
      case OpType::Softmax: {
        Tensor x = in(0);
        vals[id] = layer("SoftMax", "opset8", n.name, {{"axis", "1"}}, {x}, x.dims, "FP32", n.name);
        break;
      }
      case OpType::Reshape: {
        Tensor x = in(0);
        const bool flat_in = x.dims.size() == 2 || (x.dims[2] == 1 && x.dims[3] == 1);
        if (!flat_in) fail(n, "reshaping a value with spatial extent is not supported in the IR");
        const int64_t c = x.dims[1];
        const bool to4 = n.reshape_to.h == 1 && n.reshape_to.w == 1 && n.reshape_to.c > 0;
        if (!to4 && x.dims.size() == 4 && n.name.find("Squeeze") != std::string::npos) {
          Tensor axes = const_i64(n.name + "/axes", {2, 3});
          vals[id] = layer("Squeeze", "opset1", n.name, {}, {x, axes}, {1, c}, "FP32", n.name);
        } else {
          const std::vector<int64_t> target = to4 ? std::vector<int64_t>{0, c, 1, 1}
                                                  : std::vector<int64_t>{0, c};
          Tensor shape = const_i64(n.name + "/shape", target);
          vals[id] = layer("Reshape", "opset1", n.name, {{"special_zero", "true"}}, {x, shape},
                           to4 ? std::vector<int64_t>{1, c, 1, 1} : std::vector<int64_t>{1, c},
                           "FP32", n.name);
        }
        break;
      }
      case OpType::ChannelAffine: {
        Tensor x = in(0);
        std::vector<int64_t> cd(x.dims.size(), 1);
        cd[1] = x.dims[1];
        Tensor w = const_f(n.name + "/scale", cd, n.weights, true);
        Tensor y = layer("Multiply", "opset1", n.name, {{"auto_broadcast", "numpy"}}, {x, w},
                         x.dims);
        Tensor b = const_f(n.name + "/shift", cd, n.bias, true);
        vals[id] = layer("Add", "opset1", n.name + "/add_shift", {{"auto_broadcast", "numpy"}},
                         {y, b}, x.dims, "FP32", n.name);
        break;
      }
    }
  }
  const Node& out = g.node(g.output);
  layer("Result", "opset1", out.name + "/sink_port_0", {}, {vals[size_t(g.output)]}, {});

  // Conversion metadata in the form newer converters write it; the loader reads it back.
  pugi::xml_node rt = net.append_child("rt_info");
  pugi::xml_node cp = rt.append_child("conversion_parameters");
  auto param = [](pugi::xml_node p, const char* key, const std::string& value) {
    p.append_child(key).append_attribute("value") = value.c_str();
  };
  param(cp, "framework", "mnv2");
  param(cp, "compress_to_fp16", fp16_ ? "True" : "False");
  const bool bgr = omz_ || info.channel_order == ChannelOrder::BGR;
  param(cp, "reverse_input_channels", bgr ? "True" : "False");
  const bool in_graph = omz_ || info.normalization_in_graph;
  const std::string& in_name = g.node(g.input).name;
  if (in_graph) {
    param(cp, "mean_values", in_name + "[" + fmt_float(info.mean) + "," + fmt_float(info.mean) +
                                 "," + fmt_float(info.mean) + "]");
    param(cp, "scale_values", in_name + "[" + fmt_float(info.scale) + "]");
  } else {
    // The caller normalises: say how, as model_info (the preprocessing to apply).
    param(cp, "mean_values", "()");
    param(cp, "scale_values", "()");
    pugi::xml_node mi = rt.append_child("model_info");
    param(mi, "mean_values", fmt_float(info.mean));
    param(mi, "scale_values", fmt_float(info.scale));
  }

  std::ostringstream os;
  doc_.save(os, "\t", pugi::format_default, pugi::encoding_utf8);
  OpenVinoIrFiles files;
  files.xml = os.str();
  files.bin = std::move(bin_);
  return files;
}

}  // namespace

bool openvino_ir_omz_input_possible(const Graph& g) {
  if (g.info.normalization_in_graph || g.info.channel_order != ChannelOrder::RGB ||
      g.info.scale == 0)
    return false;
  for (const Node& n : g.nodes)
    for (int in : n.inputs)
      if (in == g.input && n.op != OpType::Conv2D) return false;
  return true;
}

OpenVinoIrFiles write_openvino_ir(const Graph& g, bool fp16, bool omz_style_input) {
  Writer w(g, fp16, omz_style_input);
  return w.run();
}

void save_openvino_ir(const Graph& g, const std::string& xml_path, bool fp16,
                      bool omz_style_input) {
  const OpenVinoIrFiles files = write_openvino_ir(g, fp16, omz_style_input);
  const std::string bin_path = openvino_bin_path(xml_path);
  auto write = [](const std::string& path, const void* data, size_t size) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot create '" + path + "'");
    f.write(static_cast<const char*>(data), std::streamsize(size));
    f.close();
    if (!f) {
      std::remove(path.c_str());
      throw Error("cannot write '" + path + "'");
    }
  };
  const std::string bin_tmp = bin_path + ".partial", xml_tmp = xml_path + ".partial";
  write(bin_tmp, files.bin.data(), files.bin.size());
  try {
    write(xml_tmp, files.xml.data(), files.xml.size());
  } catch (...) {
    std::remove(bin_tmp.c_str());
    throw;
  }
  if (std::rename(bin_tmp.c_str(), bin_path.c_str()) != 0 ||
      std::rename(xml_tmp.c_str(), xml_path.c_str()) != 0) {
    std::remove(bin_tmp.c_str());
    std::remove(xml_tmp.c_str());
    throw Error("cannot rename the written IR into place at '" + xml_path + "'");
  }
}

}  // namespace mnv2
