// Tests of SHA-256/384 and of `mnv2 fetch`: downloads come from a local Python HTTP server
// (tests/fetch_server.py on 127.0.0.1) serving synthetic archives built here with
// libarchive's writer; every test has its own temporary MNV2_HOME. Nothing touches the
// internet: all URLs are overridden with the test-only MNV2_FETCH_* / MNV2_LABELS_* variables.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "mnv2/mnv2.h"
#include "test_util.h"
#include "fetch/cache.h"
#include "fetch/fetch.h"
#include "fetch/digest.h"

namespace fs = std::filesystem;

namespace mnv2 {
namespace {

std::string python() {
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "";
}

// The server script sits next to this file (CMake compiles sources by absolute path).
std::string server_script() { return (fs::path(__FILE__).parent_path() / "fetch_server.py").string(); }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), std::streamsize(data.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng() & 0xff);
  return s;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---- SHA-2 (OpenSSL EVP) -----------------------------------------------------------------

TEST(FetchSha, KnownVectors) {
  // FIPS 180-4 example messages.
  const std::string abc = "abc";
  EXPECT_EQ(sha256_hex(abc.data(), abc.size()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha384_hex(abc.data(), abc.size()),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358b"
            "aeca134c825a7");
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha384_hex("", 0),
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51"
            "ad2f14898b95b");
  const std::string two_block = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(two_block.data(), two_block.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string long384 =
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
      "lmnopqrsmnopqrstnopqrstu";
  EXPECT_EQ(sha384_hex(long384.data(), long384.size()),
            "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c"
            "3e9fa91746039");
  // One million 'a', fed in uneven pieces to exercise the streaming buffer.
  Digest h256(DigestAlgorithm::Sha256);
  Digest h384(DigestAlgorithm::Sha384);
  const std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left) {
    const size_t n = std::min(left, chunk.size());
    h256.update(chunk.data(), n);
    h384.update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(h256.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(h384.hex_digest(),
            "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae9"
            "7ddd87f3d8985");
}

TEST(FetchSha, MatchesPythonHashlibOnRandomData) {
  if (python().empty()) GTEST_SKIP() << "/usr/bin/python3 not available";
  const std::string dir = fs::temp_directory_path() / ("mnv2_sha_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // Lengths around the block and padding boundaries of both hashes, plus a few large ones.
  std::vector<size_t> lens;
  for (size_t n = 0; n <= 260; ++n) lens.push_back(n);
  for (size_t n : {511u, 512u, 513u, 1000u, 4095u, 65536u, 300001u}) lens.push_back(n);
  std::string all, expected_local;
  std::mt19937 rng(7);
  for (size_t i = 0; i < lens.size(); ++i) {
    const std::string d = random_bytes(lens[i], uint32_t(i) + 1);
    all += d;
    // Streaming in random-sized pieces must equal hashing at once.
    Digest a(DigestAlgorithm::Sha256);
    Digest b(DigestAlgorithm::Sha384);
    size_t pos = 0;
    while (pos < d.size()) {
      const size_t n = std::min<size_t>(d.size() - pos, 1 + rng() % 300);
      a.update(d.data() + pos, n);
      b.update(d.data() + pos, n);
      pos += n;
    }
    const std::string one256 = sha256_hex(d.data(), d.size());
    const std::string one384 = sha384_hex(d.data(), d.size());
    EXPECT_EQ(a.hex_digest(), one256) << "length " << lens[i];
    EXPECT_EQ(b.hex_digest(), one384) << "length " << lens[i];
    expected_local += one256 + " " + one384 + "\n";
  }
  write_file(dir + "/data.bin", all);
  std::string lens_txt;
  for (size_t n : lens) lens_txt += std::to_string(n) + "\n";
  write_file(dir + "/lens.txt", lens_txt);
  const std::string script =
      "import hashlib,sys\n"
      "d=open(sys.argv[1],'rb').read(); p=0\n"
      "for n in map(int, open(sys.argv[2]).read().split()):\n"
      "  s=d[p:p+n]; p+=n\n"
      "  print(hashlib.sha256(s).hexdigest(), hashlib.sha384(s).hexdigest())\n";
  write_file(dir + "/h.py", script);
  std::string out;
  ASSERT_EQ(test::run_command(python() + " " + dir + "/h.py " + dir + "/data.bin " + dir +
                                  "/lens.txt",
                              &out),
            0)
      << out;
  EXPECT_EQ(out, expected_local);
  EXPECT_EQ(digest_file_hex(DigestAlgorithm::Sha384, dir + "/data.bin"), sha384_hex(all.data(), all.size()));
  EXPECT_EQ(digest_file_hex(DigestAlgorithm::Sha256, dir + "/data.bin"), sha256_hex(all.data(), all.size()));
  EXPECT_THROW(digest_file_hex(DigestAlgorithm::Sha256, dir + "/missing.bin"), Error);
  fs::remove_all(dir);
}

// ---- archives ----------------------------------------------------------------------------

struct Member {
  enum Kind { File, Dir, Symlink, Hardlink } kind = File;
  std::string name;
  std::string data;    // File
  std::string target;  // Symlink / Hardlink
};

void write_tgz(const std::string& path, const std::vector<Member>& members) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    archive_entry_set_perm(e, 0644);
    switch (m.kind) {
      case Member::File:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, la_int64_t(m.data.size()));
        break;
      case Member::Dir:
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        break;
      case Member::Symlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, m.target.c_str());
        break;
      case Member::Hardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, m.target.c_str());
        archive_entry_set_size(e, 0);
        break;
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (m.kind == Member::File && !m.data.empty())
      ASSERT_EQ(archive_write_data(a, m.data.data(), m.data.size()), la_ssize_t(m.data.size()));
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

const char* kPb = "mobilenet_v2_1.4_224_frozen.pb";
const char* kTfl = "mobilenet_v2_1.4_224.tflite";
const char* kInfo = "mobilenet_v2_1.4_224_info.txt";
const char* kEval = "mobilenet_v2_1.4_224_eval.pbtxt";

// An archive laid out like the official one ("./" prefix, checkpoint files we skip).
std::vector<Member> good_members() {
  return {{Member::Dir, "./", "", ""},
          {Member::File, "./mobilenet_v2_1.4_224.ckpt.data-00000-of-00001",
           random_bytes(50000, 1), ""},
          {Member::File, "./mobilenet_v2_1.4_224.ckpt.index", random_bytes(3000, 2), ""},
          {Member::File, std::string("./") + kPb, random_bytes(120000, 3), ""},
          {Member::File, std::string("./") + kTfl, random_bytes(110000, 4), ""},
          {Member::File, std::string("./") + kInfo, "Model: mobilenet_v2_1.4_224\n", ""},
          {Member::File, std::string("./") + kEval, "node { name: \"input\" }\n", ""}};
}

// ---- fixture: temp folders and a local HTTP server ---------------------------------------

class FetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (python().empty()) GTEST_SKIP() << "/usr/bin/python3 not available for the test server";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = (fs::temp_directory_path() /
             ("mnv2_fetch_" + std::string(info->name()) + "_" + std::to_string(::getpid())))
                .string();
    fs::remove_all(root_);
    home_ = root_ + "/home";
    serve_ = root_ + "/serve";
    outside_ = root_ + "/outside";
    fs::create_directories(serve_);
    fs::create_directories(outside_);
    log_ = root_ + "/requests.log";
    labels_ = "background\n";
    for (int i = 1; i < 1001; ++i) labels_ += "class " + std::to_string(i) + "\n";
    write_file(serve_ + "/labels.txt", labels_);
    start_server();
    saved_env_.clear();
    for (const char* v : {"MNV2_HOME", "MNV2_FETCH_URL", "MNV2_FETCH_SIZE", "MNV2_FETCH_SHA384",
                          "MNV2_LABELS_URL", "MNV2_LABELS_SIZE", "MNV2_LABELS_SHA256",
                          "MNV2_SAMPLE_URL", "MNV2_SAMPLE_SIZE", "MNV2_SAMPLE_SHA256"}) {
      const char* old = std::getenv(v);
      saved_env_.push_back({v, old ? std::optional<std::string>(old) : std::nullopt});
    }
  }

  void TearDown() override {
    for (const auto& [name, value] : saved_env_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
    if (server_pid_ > 0) {
      ::kill(server_pid_, SIGTERM);
      int st = 0;
      ::waitpid(server_pid_, &st, 0);
      server_pid_ = -1;
    }
    if (!root_.empty()) fs::remove_all(root_);
  }

  void start_server() {
    const std::string port_file = root_ + "/port";
    server_pid_ = ::fork();
    ASSERT_GE(server_pid_, 0);
    if (server_pid_ == 0) {
      const std::string py = python(), script = server_script();
      ::execl(py.c_str(), py.c_str(), script.c_str(), "--root", serve_.c_str(), "--log",
              log_.c_str(), "--port-file", port_file.c_str(), (char*)nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(port_file); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(fs::exists(port_file)) << "test server did not start";
    base_ = "http://127.0.0.1:" + read_file(port_file);
  }

  // Serves `members` as NAME and returns its bytes.
  std::string serve_archive(const std::string& name, const std::vector<Member>& members) {
    write_tgz(serve_ + "/" + name, members);
    return read_file(serve_ + "/" + name);
  }

  // Environment pointing fetch at the local server for `archive` served under `url_path`.
  std::map<std::string, std::string> env_for(const std::string& url_paths,
                                             const std::string& archive) {
    std::map<std::string, std::string> env;
    env["MNV2_HOME"] = home_;
    std::string urls;
    std::stringstream ss(url_paths);
    for (std::string p; std::getline(ss, p, ',');) urls += (urls.empty() ? "" : ",") + base_ + p;
    env["MNV2_FETCH_URL"] = urls;
    env["MNV2_FETCH_SIZE"] = std::to_string(archive.size());
    env["MNV2_FETCH_SHA384"] = sha384_hex(archive.data(), archive.size());
    env["MNV2_LABELS_URL"] = base_ + "/files/labels.txt";
    env["MNV2_LABELS_SIZE"] = std::to_string(labels_.size());
    env["MNV2_LABELS_SHA256"] = sha256_hex(labels_.data(), labels_.size());
    return env;
  }

  void set_env(const std::map<std::string, std::string>& env) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  }

  // Runs the CLI; returns its exit code, stdout in *out and stderr in *err.
  int cli(const std::map<std::string, std::string>& env, const std::string& args,
          std::string* out, std::string* err) {
    std::string cmd = "( env";
    for (const auto& [k, v] : env) cmd += " " + k + "=" + shell_quote(v);
    cmd += " " + test::cli_path() + " fetch " + args + " 2>" + shell_quote(root_ + "/stderr") +
           " )";
    const int rc = test::run_command(cmd, out);
    *err = read_file(root_ + "/stderr");
    return rc;
  }

  std::vector<std::string> log_lines() {
    std::vector<std::string> lines;
    std::ifstream f(log_);
    for (std::string l; std::getline(f, l);) lines.push_back(l);
    return lines;
  }

  // Every regular file (or link) in the cache, relative; the fetch lock file is ignored.
  std::vector<std::string> cache_files() {
    std::vector<std::string> out;
    if (!fs::exists(home_)) return out;
    for (const auto& e : fs::recursive_directory_iterator(home_)) {
      if (e.is_directory() && !e.is_symlink()) continue;
      const std::string rel = fs::relative(e.path(), home_).string();
      if (rel != "tmp/.lock") out.push_back(rel);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void expect_cache_empty() {
    const auto files = cache_files();
    std::string list;
    for (const auto& f : files) list += f + " ";
    EXPECT_TRUE(files.empty()) << "left in the cache: " << list;
    EXPECT_FALSE(fs::exists(home_ + "/mobilenet-v2-1.4-224"));
  }

  std::string root_, home_, serve_, outside_, log_, base_, labels_;
  pid_t server_pid_ = -1;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_env_;
};

std::string model_dir_of(const std::string& home) { return home + "/mobilenet-v2-1.4-224"; }

// ---- end-to-end through the CLI ----------------------------------------------------------

TEST_F(FetchTest, CliDownloadsVerifiesAndUnpacks) {
  const auto members = good_members();
  const std::string tgz = serve_archive("m.tgz", members);
  const auto env = env_for("/files/m.tgz", tgz);
  std::string out, err;
  ASSERT_EQ(cli(env, "--json", &out, &err), 0) << out << err;
  const std::string dir = model_dir_of(home_);
  EXPECT_NE(out.find("\"model_downloaded\":true"), std::string::npos) << out;
  EXPECT_NE(out.find("\"model_path\":\"" + dir + "/" + kTfl + "\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"bytes_downloaded\":" + std::to_string(tgz.size())), std::string::npos)
      << out;
  EXPECT_NE(err.find("downloading model archive"), std::string::npos) << err;
  // Exactly the four expected members, byte for byte; checkpoints skipped.
  for (const auto& m : members) {
    if (m.kind != Member::File) continue;
    const std::string base = fs::path(m.name).filename().string();
    const bool wanted = base == kPb || base == kTfl || base == kInfo || base == kEval;
    EXPECT_EQ(fs::exists(dir + "/" + base), wanted) << base;
    if (wanted) EXPECT_EQ(read_file(dir + "/" + base), m.data) << base;
  }
  EXPECT_EQ(read_file(home_ + "/imagenet_labels.txt"), labels_);
  EXPECT_EQ(cache_files(),
            (std::vector<std::string>{"imagenet_labels.txt", "mobilenet-v2-1.4-224/" + std::string(kTfl),
                                      "mobilenet-v2-1.4-224/" + std::string(kEval),
                                      "mobilenet-v2-1.4-224/" + std::string(kPb),
                                      "mobilenet-v2-1.4-224/" + std::string(kInfo)}));

  // A second run finds everything and makes no request; --quiet keeps stderr empty.
  const size_t requests = log_lines().size();
  ASSERT_EQ(cli(env, "--quiet", &out, &err), 0) << out << err;
  EXPECT_NE(out.find("already in the cache"), std::string::npos) << out;
  EXPECT_EQ(err, "");
  EXPECT_EQ(log_lines().size(), requests);

  // --force downloads again.
  ASSERT_EQ(cli(env, "--force --quiet --json", &out, &err), 0) << out << err;
  EXPECT_NE(out.find("\"model_downloaded\":true"), std::string::npos) << out;
  EXPECT_NE(out.find("\"labels_downloaded\":true"), std::string::npos) << out;
  EXPECT_EQ(log_lines().size(), requests + 2);
  EXPECT_EQ(read_file(dir + "/" + kPb), members[3].data);
}

TEST_F(FetchTest, CliResumesAfterCutConnection) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  const size_t cut = 100000;
  ASSERT_GT(tgz.size(), cut + 1000);
  const auto env = env_for("/cutonce/100000/m.tgz", tgz);
  std::string out, err;
  EXPECT_NE(cli(env, "", &out, &err), 0);
  EXPECT_NE(err.find("running mnv2 fetch again resumes"), std::string::npos) << err;
  EXPECT_EQ(fs::file_size(home_ + "/tmp/mobilenet_v2_1.4_224.tgz.part"), cut);
  EXPECT_FALSE(fs::exists(model_dir_of(home_)));

  ASSERT_EQ(cli(env, "--json", &out, &err), 0) << out << err;
  EXPECT_NE(out.find("\"resumed_from\":" + std::to_string(cut)), std::string::npos) << out;
  EXPECT_NE(out.find("\"bytes_downloaded\":" + std::to_string(tgz.size() - cut)),
            std::string::npos)
      << out;
  const auto lines = log_lines();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"range\": null"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"range\": \"bytes=100000-\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"status\": 206"), std::string::npos) << lines[1];
  EXPECT_EQ(read_file(model_dir_of(home_) + "/" + kTfl), good_members()[4].data);
  EXPECT_FALSE(fs::exists(home_ + "/tmp/mobilenet_v2_1.4_224.tgz.part"));
}

TEST_F(FetchTest, ServerIgnoringRangeRestartsCleanly) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  // A stale partial whose bytes are wrong: if it were kept, the checksum would fail.
  fs::create_directories(home_ + "/tmp");
  write_file(home_ + "/tmp/mobilenet_v2_1.4_224.tgz.part", std::string(5000, 'x'));
  const auto env = env_for("/norange/m.tgz", tgz);
  std::string out, err;
  ASSERT_EQ(cli(env, "--json", &out, &err), 0) << out << err;
  EXPECT_NE(err.find("ignored the resume request"), std::string::npos) << err;
  EXPECT_NE(out.find("\"resumed_from\":0"), std::string::npos) << out;
  const auto lines = log_lines();
  ASSERT_GE(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"range\": \"bytes=5000-\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"status\": 200"), std::string::npos) << lines[0];
  EXPECT_EQ(read_file(model_dir_of(home_) + "/" + kPb), good_members()[3].data);
}

TEST_F(FetchTest, CorruptPartialIsReplaced) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  const auto env = env_for("/files/m.tgz", tgz);
  const std::string part = home_ + "/tmp/mobilenet_v2_1.4_224.tgz.part";
  fs::create_directories(home_ + "/tmp");
  // A short wrong partial is resumed, fails the checksum, and is fetched again from scratch;
  // a full-length wrong partial is verified (no request), fails, and is fetched again.
  for (size_t len : {size_t(4000), tgz.size()}) {
    SCOPED_TRACE(len);
    fs::remove_all(model_dir_of(home_));
    write_file(part, std::string(len, 'z'));
    std::remove(log_.c_str());
    std::string out, err;
    ASSERT_EQ(cli(env, "--json", &out, &err), 0) << out << err;
    EXPECT_NE(err.find("did not verify; downloading it again"), std::string::npos) << err;
    EXPECT_EQ(read_file(model_dir_of(home_) + "/" + kTfl), good_members()[4].data);
    std::vector<std::string> lines;  // archive requests (the labels are fetched once too)
    for (const auto& l : log_lines())
      if (l.find("m.tgz") != std::string::npos) lines.push_back(l);
    ASSERT_EQ(lines.size(), len < tgz.size() ? 2u : 1u);
    if (len < tgz.size()) EXPECT_NE(lines[0].find("bytes=4000-"), std::string::npos) << lines[0];
    EXPECT_NE(lines.back().find("\"range\": null"), std::string::npos) << lines.back();
    EXPECT_FALSE(fs::exists(part));
  }
}

TEST_F(FetchTest, ConcurrentFetchesShareOneDownload) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  const auto env = env_for("/files/m.tgz", tgz);
  std::string vars;
  for (const auto& [k, v] : env) vars += " " + k + "=" + shell_quote(v);
  const std::string one = "env" + vars + " " + test::cli_path() + " fetch --quiet --json";
  const std::string cmd = one + " > " + root_ + "/o1 & p1=$!; " + one + " > " + root_ +
                          "/o2 & p2=$!; wait $p1; r1=$?; wait $p2; r2=$?; echo $r1 $r2";
  std::string out;
  test::run_command("sh -c " + shell_quote(cmd), &out);
  EXPECT_EQ(out, "0 0\n");
  const std::string o1 = read_file(root_ + "/o1"), o2 = read_file(root_ + "/o2");
  // Exactly one of them downloaded; the other waited for the lock and found the model.
  const bool d1 = o1.find("\"model_downloaded\":true") != std::string::npos;
  const bool d2 = o2.find("\"model_downloaded\":true") != std::string::npos;
  EXPECT_NE(d1, d2) << o1 << o2;
  size_t archive_requests = 0;
  for (const auto& l : log_lines()) archive_requests += l.find("m.tgz") != std::string::npos;
  EXPECT_EQ(archive_requests, 1u);
  EXPECT_EQ(read_file(model_dir_of(home_) + "/" + kPb), good_members()[3].data);
}

TEST_F(FetchTest, FallsBackToTheNextUrlAndFollowsRedirects) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  const auto env = env_for("/404/m.tgz,/redirect/m.tgz", tgz);
  std::string out, err;
  ASSERT_EQ(cli(env, "--json", &out, &err), 0) << out << err;
  EXPECT_NE(out.find("\"url\":\"" + base_ + "/redirect/m.tgz\""), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(model_dir_of(home_) + "/" + kTfl));
}

TEST_F(FetchTest, NotFoundGivesClearErrorAndLeavesNothing) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  const auto env = env_for("/404/m.tgz", tgz);
  std::string out, err;
  EXPECT_EQ(cli(env, "", &out, &err), 1);
  EXPECT_NE(err.find("mnv2 fetch: error: could not download the model archive"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("404"), std::string::npos) << err;
  // The server answered: not a network problem, so no "needs network access" hint.
  EXPECT_EQ(err.find("needs network"), std::string::npos) << err;
  EXPECT_NE(err.find("not with the expected file"), std::string::npos) << err;
  EXPECT_NE(err.find("--model PATH"), std::string::npos) << err;
  expect_cache_empty();
}

TEST_F(FetchTest, UnreachableServerGivesOfflineMessage) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  auto env = env_for("/files/m.tgz", tgz);
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  env["MNV2_FETCH_URL"] = "http://127.0.0.1:1/m.tgz";
  std::string out, err;
  EXPECT_EQ(cli(env, "", &out, &err), 1);
  EXPECT_NE(err.find("onnect"), std::string::npos) << err;  // curl's "Couldn't connect"
  EXPECT_NE(err.find("`mnv2 fetch` needs network access"), std::string::npos) << err;
  EXPECT_NE(err.find("--model PATH"), std::string::npos) << err;
  expect_cache_empty();
}

TEST_F(FetchTest, WrongChecksumIsRejectedAndDeleted) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  auto env = env_for("/files/m.tgz", tgz);
  const std::string wrong(96, 'a');
  env["MNV2_FETCH_SHA384"] = wrong;
  std::string out, err;
  EXPECT_EQ(cli(env, "", &out, &err), 1);
  EXPECT_NE(err.find("SHA-384 mismatch: expected " + wrong + ", got " +
                     sha384_hex(tgz.data(), tgz.size())),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("needs network"), std::string::npos) << err;  // not a network problem
  expect_cache_empty();
}

TEST_F(FetchTest, WrongSizeIsRejectedAndDeleted) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  for (long delta : {-10L, 10L}) {
    auto env = env_for("/files/m.tgz", tgz);
    env["MNV2_FETCH_SIZE"] = std::to_string(long(tgz.size()) + delta);
    std::string out, err;
    EXPECT_EQ(cli(env, "", &out, &err), 1);
    EXPECT_NE(err.find("size mismatch: expected " + std::to_string(long(tgz.size()) + delta)),
              std::string::npos)
        << err;
    EXPECT_EQ(err.find("needs network"), std::string::npos) << err;  // the server answered
    expect_cache_empty();
  }
}

TEST_F(FetchTest, TruncatedArchiveIsRefused) {
  std::string tgz = serve_archive("full.tgz", good_members());
  tgz.resize(tgz.size() / 2);
  write_file(serve_ + "/half.tgz", tgz);
  const auto env = env_for("/files/half.tgz", tgz);  // size and hash of the truncated bytes
  std::string out, err;
  EXPECT_EQ(cli(env, "", &out, &err), 1);
  EXPECT_NE(err.find("model archive from"), std::string::npos) << err;
  expect_cache_empty();
}

TEST_F(FetchTest, ArchiveWithoutModelIsRefused) {
  const std::string tgz = serve_archive(
      "m.tgz", {{Member::File, kInfo, "info\n", ""}, {Member::File, "README", "x", ""}});
  const auto env = env_for("/files/m.tgz", tgz);
  std::string out, err;
  EXPECT_EQ(cli(env, "", &out, &err), 1);
  EXPECT_NE(err.find("archive has no model"), std::string::npos) << err;
  expect_cache_empty();
}

TEST_F(FetchTest, HostileArchivesAreRefusedWithoutWritingOutside) {
  // Each archive holds the good members plus one hostile entry; the policy is to refuse the
  // whole archive (a pinned checksum matched, so such an entry means the pin is wrong).
  struct Case {
    const char* what;
    std::vector<Member> extra;
    const char* message;
    bool hostile_last = false;  // after the good members, so some are already unpacked
  };
  const std::string abs_target = outside_ + "/absolute.txt";
  const std::vector<Case> cases = {
      {"dotdot", {{Member::File, "../../outside/dotdot.txt", "evil", ""}}, "'..'"},
      {"dotdot-member", {{Member::File, std::string("x/../../") + kTfl, "evil", ""}}, "'..'"},
      {"absolute", {{Member::File, abs_target, "evil", ""}}, "absolute path"},
      // A symlink named like a member, followed by that member: a naive extractor would
      // write through the link.
      {"symlink",
       {{Member::Symlink, std::string("evil/") + kInfo, "", outside_ + "/via_link.txt"},
        {Member::Symlink, "link", "", "../../outside"},
        {Member::File, "link/via_dir.txt", "evil", ""}},
       "symbolic link"},
      {"hardlink", {{Member::Hardlink, "hard.txt", "", "/etc/passwd"}}, "hard link"},
      {"dotdot-last", {{Member::File, "../dotdot.txt", "evil", ""}}, "'..'", true},
      {"symlink-last", {{Member::Symlink, "ok/link", "", "/"}}, "symbolic link", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<Member> members;
    if (!c.hostile_last) members = c.extra;
    for (const auto& m : good_members()) members.push_back(m);
    if (c.hostile_last) members.insert(members.end(), c.extra.begin(), c.extra.end());
    const std::string name = std::string(c.what) + ".tgz";
    const std::string tgz = serve_archive(name, members);
    const auto env = env_for("/files/" + name, tgz);
    std::string out, err;
    EXPECT_EQ(cli(env, "", &out, &err), 1);
    EXPECT_NE(err.find("refusing the archive"), std::string::npos) << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << err;
    expect_cache_empty();
    EXPECT_TRUE(fs::is_empty(outside_)) << "something was written outside the cache";
    EXPECT_FALSE(fs::exists(root_ + "/dotdot.txt"));
    EXPECT_FALSE(fs::exists(root_ + "/" + kTfl));
    EXPECT_FALSE(fs::exists(abs_target));
  }
}

TEST_F(FetchTest, LabelsAreFetchedAndChecked) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  auto env = env_for("/files/m.tgz", tgz);
  env["MNV2_LABELS_SHA256"] = std::string(64, '0');
  std::string out, err;
  EXPECT_EQ(cli(env, "", &out, &err), 1);
  EXPECT_NE(err.find("could not download the ImageNet labels"), std::string::npos) << err;
  EXPECT_NE(err.find("SHA-256 mismatch"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(home_ + "/imagenet_labels.txt"));
  EXPECT_FALSE(fs::exists(home_ + "/tmp/imagenet_labels.txt.part"));
  // The model itself was complete and stays; a corrected run only fetches the labels.
  EXPECT_TRUE(fs::exists(model_dir_of(home_) + "/" + kTfl));
  env = env_for("/files/m.tgz", tgz);
  const size_t before = log_lines().size();
  ASSERT_EQ(cli(env, "--json", &out, &err), 0) << out << err;
  EXPECT_NE(out.find("\"model_downloaded\":false"), std::string::npos) << out;
  EXPECT_NE(out.find("\"labels_downloaded\":true"), std::string::npos) << out;
  EXPECT_EQ(log_lines().size(), before + 1);
  EXPECT_EQ(read_file(home_ + "/imagenet_labels.txt"), labels_);
  // A corrupted label file in the cache is noticed and replaced.
  write_file(home_ + "/imagenet_labels.txt", "background\n");
  ASSERT_EQ(cli(env, "--quiet", &out, &err), 0) << out << err;
  EXPECT_EQ(read_file(home_ + "/imagenet_labels.txt"), labels_);
}

TEST_F(FetchTest, SamplePhotoIsFetchedCheckedAndPrinted) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  const std::string photo = "BM fake photo bytes";
  write_file(serve_ + "/photo.bmp", photo);
  auto env = env_for("/files/m.tgz", tgz);
  env["MNV2_SAMPLE_URL"] = base_ + "/files/photo.bmp";
  env["MNV2_SAMPLE_SIZE"] = std::to_string(photo.size());
  env["MNV2_SAMPLE_SHA256"] = std::string(64, 'a');
  std::string out, err;
  EXPECT_EQ(cli(env, "--quiet --sample", &out, &err), 1);
  EXPECT_NE(err.find("SHA-256 mismatch"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(home_ + "/samples/grace_hopper.bmp"));
  env["MNV2_SAMPLE_SHA256"] = sha256_hex(photo.data(), photo.size());
  ASSERT_EQ(cli(env, "--quiet --sample", &out, &err), 0) << err;
  EXPECT_EQ(out, home_ + "/samples/grace_hopper.bmp\n");
  EXPECT_EQ(read_file(home_ + "/samples/grace_hopper.bmp"), photo);
  // Second run: nothing downloaded again.
  const size_t before = log_lines().size();
  ASSERT_EQ(cli(env, "--quiet --sample", &out, &err), 0) << err;
  EXPECT_EQ(log_lines().size(), before);
}

TEST_F(FetchTest, CliRejectsBadArguments) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  const auto env = env_for("/files/m.tgz", tgz);
  std::string out, err;
  EXPECT_EQ(cli(env, "resnet-50", &out, &err), 1);
  EXPECT_NE(err.find("unknown model 'resnet-50'"), std::string::npos) << err;
  EXPECT_EQ(cli(env, "--bogus", &out, &err), 1);
  auto bad = env;
  bad["MNV2_FETCH_SHA384"] = "1234";
  EXPECT_EQ(cli(bad, "", &out, &err), 1);
  EXPECT_NE(err.find("MNV2_FETCH_SHA384 must be 96 hex digits"), std::string::npos) << err;
  EXPECT_EQ(cli(env, "--help", &out, &err), 0);
  EXPECT_NE(out.find("test-only"), std::string::npos) << out;
  EXPECT_TRUE(log_lines().empty());
}

// ---- library functions -------------------------------------------------------------------

TEST_F(FetchTest, DefaultModelPathPrefersTfliteAndDownloadsOnlyWhenAllowed) {
  const std::string tgz = serve_archive("m.tgz", good_members());
  set_env(env_for("/files/m.tgz", tgz));
  try {
    default_model_path(false, true);
    ADD_FAILURE() << "expected an error with an empty cache";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mnv2 fetch"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--model PATH"), std::string::npos) << msg;
  }
  EXPECT_TRUE(log_lines().empty());
  const std::string p = default_model_path(true, true);
  EXPECT_EQ(p, cached_model_dir() + "/" + kTfl);
  EXPECT_EQ(read_file(p), good_members()[4].data);
  EXPECT_EQ(default_model_path(false, true), p);
  EXPECT_EQ(log_lines().size(), 2u);  // archive + labels, once

  // Without the .tflite the frozen graph is the model.
  fs::remove(p);
  EXPECT_EQ(default_model_path(false, true), cached_model_dir() + "/" + kPb);
}

TEST_F(FetchTest, DownloadHandles416ByStartingOver) {
  // The partial is longer than the server's file: the Range request gets 416, the partial is
  // dropped, the fresh download then shows the file has the wrong size.
  write_file(serve_ + "/small.bin", random_bytes(3000, 9));
  const std::string part = root_ + "/dl/x.part";
  fs::create_directories(root_ + "/dl");
  write_file(part, random_bytes(3500, 10));
  DownloadSpec spec;
  spec.urls = {base_ + "/files/small.bin"};
  spec.size = 4000;
  spec.hex = std::string(96, '0');
  spec.what = "test file";
  try {
    download_verified(spec, part, root_ + "/dl/x", true);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("size mismatch: expected 4000"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(part));
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"status\": 416"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"range\": null"), std::string::npos) << lines[1];

  // A right-sized file with its SHA-256 downloads; a stale longer partial is discarded.
  const std::string data = read_file(serve_ + "/small.bin");
  spec.size = data.size();
  spec.hash = DigestAlgorithm::Sha256;
  spec.hex = sha256_hex(data.data(), data.size());
  write_file(part, random_bytes(3500, 11));
  const auto r = download_verified(spec, part, root_ + "/dl/x", true);
  EXPECT_EQ(r.downloaded, data.size());
  EXPECT_EQ(read_file(root_ + "/dl/x"), data);
  EXPECT_FALSE(fs::exists(part));
}

class FetchUnpack : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (fs::temp_directory_path() / ("mnv2_unpack_" + std::to_string(::getpid()))).string();
    fs::remove_all(root_);
    fs::create_directories(root_ + "/out");
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root_;
  const std::vector<std::string> wanted_ = {kPb, kTfl, kInfo, kEval};
};

TEST_F(FetchUnpack, KeepsExpectedMembersFromOneTopFolder) {
  const std::string a = root_ + "/a.tar.gz";
  write_tgz(a, {{Member::Dir, "mobilenet_v2_1.4_224/", "", ""},
                {Member::File, std::string("mobilenet_v2_1.4_224/") + kPb, "pb-bytes", ""},
                {Member::File, std::string("deep/er/") + kTfl, "too deep", ""},
                {Member::File, "other.bin", "skip me", ""}});
  const auto files = unpack_archive_members(a, root_ + "/out", wanted_);
  EXPECT_EQ(files, std::vector<std::string>{kPb});
  EXPECT_EQ(read_file(root_ + "/out/" + kPb), "pb-bytes");
  EXPECT_EQ(std::distance(fs::directory_iterator(root_ + "/out"), fs::directory_iterator()), 1);
}

TEST_F(FetchUnpack, EnforcesLimitsAndRejectsDuplicates) {
  const std::string a = root_ + "/a.tgz";
  std::vector<Member> many;
  for (int i = 0; i < 5; ++i) many.push_back({Member::File, "f" + std::to_string(i), "abc", ""});
  many.push_back({Member::File, kInfo, "x", ""});
  write_tgz(a, many);
  UnpackLimits lim;
  lim.max_entries = 4;
  EXPECT_THROW(unpack_archive_members(a, root_ + "/out", wanted_, lim), Error);
  lim = {};
  lim.max_total_bytes = 10;
  try {
    unpack_archive_members(a, root_ + "/out", wanted_, lim);
    ADD_FAILURE() << "expected the size cap to trip";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unpacks to more than"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(root_ + "/out"));
  EXPECT_EQ(unpack_archive_members(a, root_ + "/out", wanted_).size(), 1u);

  fs::remove_all(root_ + "/out");
  fs::create_directories(root_ + "/out");
  write_tgz(a, {{Member::File, kPb, "one", ""}, {Member::File, std::string("./") + kPb, "two", ""}});
  EXPECT_THROW(unpack_archive_members(a, root_ + "/out", wanted_), Error);
  EXPECT_TRUE(fs::is_empty(root_ + "/out"));  // what was written before the refusal is removed

  // Special files are refused too.
  {
    archive* w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    ASSERT_EQ(archive_write_open_filename(w, a.c_str()), ARCHIVE_OK);
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, "fifo");
    archive_entry_set_filetype(e, AE_IFIFO);
    archive_entry_set_perm(e, 0644);
    ASSERT_EQ(archive_write_header(w, e), ARCHIVE_OK);
    archive_entry_free(e);
    archive_write_close(w);
    archive_write_free(w);
    try {
      unpack_archive_members(a, root_ + "/out", wanted_);
      ADD_FAILURE() << "expected the fifo to be refused";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("not a regular file"), std::string::npos) << err.what();
    }
  }

  write_file(a, "this is not an archive at all");
  EXPECT_THROW(unpack_archive_members(a, root_ + "/out", wanted_), Error);
  EXPECT_THROW(unpack_archive_members(root_ + "/missing.tgz", root_ + "/out", wanted_), Error);
}

}  // namespace
}  // namespace mnv2
