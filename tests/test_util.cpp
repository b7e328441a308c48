#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>

#include "runtime/cpu.h"

namespace mnv2::test {

std::string data_dir() {
  std::string d = MNV2_DEFAULT_TEST_DATA;
  if (const char* env = std::getenv("MNV2_TEST_DATA"); env && *env) d = env;
  struct stat st {};
  if (stat((d + "/coral").c_str(), &st) != 0) return "";
  return d;
}

std::string cli_path() { return MNV2_CLI_PATH; }

std::vector<float> random_input(size_t count, uint32_t seed) {
  std::vector<float> v(count);
  uint32_t s = seed * 2654435761u + 1;
  for (float& x : v) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x = float(s >> 8) / float(1 << 24) * 2.f - 1.f;
  }
  return v;
}

double rel_l2(const float* a, const double* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

double max_abs_diff(const float* a, const double* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

int run_command(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::string out;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Graph all_ops_graph(bool affine, uint32_t seed) {
  Graph g;
  auto rnd = [&](size_t n, float a) {
    std::vector<float> v = random_input(n, seed++);
    for (float& x : v) x *= a;
    return v;
  };
  g.info.name = "tiny";
  g.info.format = "synthetic";
  g.info.height = g.info.width = 8;
  g.info.channels = 3;
  g.info.output_name = "probs";
  g.info.input_name = "image";
  g.info.has_background = false;
  g.input = g.add("image", OpType::Input);
  int x = g.input;
  if (affine) {
    Node a;
    a.name = "normalize";
    a.op = OpType::ChannelAffine;
    a.inputs = {x};
    a.weights = {1 / 127.5f, 1 / 128.f, 1 / 100.f};
    a.bias = {-1.f, -0.9f, -1.2f};
    x = g.add(a);
    g.info.normalization_in_graph = true;
    g.info.channel_order = ChannelOrder::BGR;
    g.info.mean = 0.f;
    g.info.scale = 1.f;
  }
  auto conv = [&](const std::string& name, int src, int cin, int cout, int k, int s, int pt,
                  int pb, Activation act, bool dw, int mult, bool bias) {
    Node n;
    n.name = name;
    n.op = dw ? OpType::DepthwiseConv2D : OpType::Conv2D;
    n.inputs = {src};
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = s;
    n.pad_top = n.pad_left = pt;
    n.pad_bottom = n.pad_right = pb;
    n.activation = act;
    n.depth_multiplier = mult;
    n.out_channels = dw ? 0 : cout;
    const size_t wn = dw ? size_t(k * k * cin * mult) : size_t(cout * k * k * cin);
    n.weights = rnd(wn, 0.6f);
    if (bias) n.bias = rnd(size_t(dw ? cin * mult : cout), 0.3f);
    return g.add(n);
  };
  const int c1 = conv("c1", x, 3, 8, 3, 2, 0, 1, Activation::Relu6, false, 1, true);
  const int d1 = conv("d1", c1, 8, 8, 3, 1, 1, 1, Activation::Relu6, true, 1, true);
  const int p1 = conv("p1", d1, 8, 8, 1, 1, 0, 0, Activation::None, false, 1, true);
  const int a1 = g.add("add", OpType::Add, {p1, c1});
  const int c2 = conv("c2_symmetric", a1, 8, 16, 3, 2, 1, 1, Activation::Relu, false, 1, true);
  const int d2 = conv("d2_mult2", c2, 16, 32, 3, 1, 1, 1, Activation::Relu6, true, 2, false);
  g.features = g.add("pool", OpType::GlobalAvgPool, {d2});
  Node fc;
  fc.name = "fc";
  fc.op = OpType::FullyConnected;
  fc.inputs = {g.features};
  fc.out_channels = 10;
  fc.weights = rnd(320, 0.8f);
  fc.bias = rnd(10, 0.2f);
  const int f = g.add(fc);
  g.logits = g.add("logits", OpType::Reshape, {f});
  g.output = g.add("softmax", OpType::Softmax, {g.logits});
  g.finalize();
  return g;
}

namespace {

// Removes every scratch directory when the test program ends (after all tests ran).
class ScratchDirs : public ::testing::Environment {
 public:
  static ScratchDirs& get() {
    static ScratchDirs* self = [] {
      auto* e = new ScratchDirs;
      ::testing::AddGlobalTestEnvironment(e);  // gtest owns and deletes it
      return e;
    }();
    return *self;
  }
  void add(const std::string& d) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(d);
  }
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& d : dirs_) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
    dirs_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> dirs_;
};

// Registered before main() runs, so gtest calls TearDown for every program.
const bool kScratchRegistered = (ScratchDirs::get(), true);

}  // namespace

std::string make_scratch_dir(const std::string& prefix) {
  const char* t = std::getenv("TMPDIR");
  std::string tmpl = std::string(t && *t ? t : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  ScratchDirs::get().add(buf.data());
  return buf.data();
}

void write_file(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_floats(const std::string& path, const float* v, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v), std::streamsize(n * sizeof(float)));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<float> read_floats(const std::string& path) {
  const std::vector<uint8_t> b = read_file(path);
  std::vector<float> v(b.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

std::string IsaVariant::name() const {
  std::string n = isa_name(isa);
  if (vnni) n += "_vnni";
  if (dotprod) n += "_dotprod";
  if (emulated) n += "_emu";
  return n;
}

std::string IsaVariant::unavailable() const {
  // Why `i` does not run natively (cpu_runs_natively ignores the IsaScope of a test).
  const auto why_not = [](Isa i, const char* what) {
    if (!cpu_hardware_supports(i)) return std::string("this CPU lacks ") + what;
    return std::string("MNV2_MAX_ISA hides ") + what;
  };
  if (emulated) {
#if !defined(MNV2_HAVE_EMULATED)
    return "the emulated AVX-512 kernels were not built (not x86-64, or "
           "-DMNV2_EMULATED_TESTS=OFF)";
#else
    // SIMDe runs 512-bit operations as AVX2 halves, and the AVX-512 int8 table takes its
    // depthwise and ADD kernels from the AVX2 build.
    if (!cpu_runs_natively(Isa::Avx2)) return "emulated AVX-512 needs AVX2: " + why_not(Isa::Avx2, "AVX2/FMA");
    return "";
#endif
  }
  if (isa == Isa::Avx2 && !cpu_runs_natively(Isa::Avx2)) return why_not(Isa::Avx2, "AVX2/FMA");
  if (isa == Isa::Neon) {
#if !defined(__aarch64__)
    return "not an AArch64 build";
#else
    if (!cpu_runs_natively(Isa::Neon)) return why_not(Isa::Neon, "NEON");
    if (dotprod && !cpu_info().asimd_dotprod)
      return "this CPU lacks the dot product (ASIMDDP); the neon variant runs the ARMv8.0 kernels";
#endif
  }
  if (isa == Isa::Avx512) {
    const std::string emu = std::string("; the ") + (vnni ? "avx512_vnni_emu" : "avx512_emu") +
                            " variant runs these kernels";
    if (!cpu_runs_natively(Isa::Avx512)) return why_not(Isa::Avx512, "AVX-512 F/BW/DQ/VL") + emu;
    if (vnni && !cpu_info().avx512_vnni) return "this CPU lacks AVX512_VNNI" + emu;
  }
  return "";
}

const kernels::KernelTable& IsaVariant::table() const {
#if defined(MNV2_HAVE_EMULATED)
  if (emulated) return kernels::kAvx512TableEmulated;
#endif
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return kernels::kAvx512Table;
  if (isa == Isa::Avx2) return kernels::kAvx2Table;
#elif defined(__aarch64__)
  if (isa == Isa::Neon) return kernels::kNeonTable;
#endif
  if (emulated || isa != Isa::Scalar) throw std::logic_error(name() + " has no table here");
  return kernels::kScalarTable;
}

const kernels::QKernelTable& IsaVariant::qtable() const {
#if defined(MNV2_HAVE_EMULATED)
  if (emulated) return vnni ? kernels::kAvx512VnniQTableEmulated : kernels::kAvx512QTableEmulated;
#endif
#if defined(MNV2_X86)
  if (isa == Isa::Avx512) return vnni ? kernels::kAvx512VnniQTable : kernels::kAvx512QTable;
  if (isa == Isa::Avx2) return kernels::kAvx2QTable;
#elif defined(__aarch64__)
  if (isa == Isa::Neon) return dotprod ? kernels::kNeonDotQTable : kernels::kNeonQTable;
#endif
  if (emulated || isa != Isa::Scalar) throw std::logic_error(name() + " has no table here");
  return kernels::kScalarQTable;
}

std::vector<IsaVariant> fp32_variants() {
  return {{Isa::Scalar, false, false},
          {Isa::Avx2, false, false},
          {Isa::Avx512, false, false},
          {Isa::Avx512, true, false},
          {Isa::Neon, false, false}};
}

std::vector<IsaVariant> int8_variants() {
  return {{Isa::Scalar, false, false}, {Isa::Avx2, false, false},
          {Isa::Avx512, false, false}, {Isa::Avx512, false, true},
          {Isa::Avx512, true, false},  {Isa::Avx512, true, true},
          {Isa::Neon, false, false},   {Isa::Neon, false, false, true}};
}

IsaScope::IsaScope(const IsaVariant& v) {
  if (v.isa != Isa::Avx512 && v.isa != Isa::Neon) return;
  if (!v.unavailable().empty()) throw std::logic_error(v.name() + ": " + v.unavailable());
  if (isa_substitute()) throw std::logic_error("IsaScope: one at a time");
  sub_.isa = v.isa;
  sub_.vnni = v.vnni;
  sub_.dotprod = v.dotprod;
  sub_.fp32 = &v.table();
  sub_.int8 = &v.qtable();
  set_isa_substitute(&sub_);
  installed_ = true;
}

IsaScope::~IsaScope() {
  if (installed_) set_isa_substitute(nullptr);
}

std::vector<EngineCase> engine_cases(const IsaVariant& v) {
  std::vector<EngineCase> r;
  for (int threads : {1, 2})
    for (int batch : {1, 3}) r.push_back({v.isa, threads, batch});
  return r;
}

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) {
    had_ = true;
    old_ = old;
  }
  setenv(name, value, 1);
}

ScopedEnv::~ScopedEnv() {
  if (had_)
    setenv(name_.c_str(), old_.c_str(), 1);
  else
    unsetenv(name_.c_str());
}

}  // namespace mnv2::test
