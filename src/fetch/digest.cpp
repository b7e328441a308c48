#include "fetch/digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "mnv2/mnv2.h"

namespace mnv2 {

struct Digest::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

const char* digest_name(DigestAlgorithm a) { return a == DigestAlgorithm::Sha384 ? "SHA-384" : "SHA-256"; }

Digest::Digest(DigestAlgorithm a) : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  const EVP_MD* md = a == DigestAlgorithm::Sha384 ? EVP_sha384() : EVP_sha256();
  if (!ctx_->md || !md || EVP_DigestInit_ex(ctx_->md, md, nullptr) != 1)
    throw Error(std::string("OpenSSL could not start a ") + digest_name(a) + " digest");
}
Digest::Digest(Digest&&) noexcept = default;
Digest& Digest::operator=(Digest&&) noexcept = default;
Digest::~Digest() = default;

void Digest::update(const void* data, size_t len) {
  if (done_) throw Error("digest updated after it was finished");
  if (len && EVP_DigestUpdate(ctx_->md, data, len) != 1) throw Error("OpenSSL digest update failed");
}

std::string Digest::hex_digest() {
  if (done_) throw Error("digest finished twice");
  done_ = true;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &n) != 1) throw Error("OpenSSL digest failed");
  static const char* kHex = "0123456789abcdef";
  std::string s(size_t(n) * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    s[2 * i] = kHex[out[i] >> 4];
    s[2 * i + 1] = kHex[out[i] & 15];
  }
  return s;
}

std::string digest_hex(DigestAlgorithm a, const void* data, size_t len) {
  Digest d(a);
  d.update(data, len);
  return d.hex_digest();
}

std::string digest_file_hex(DigestAlgorithm a, const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  Digest d(a);
  std::vector<unsigned char> buf(1 << 16);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) d.update(buf.data(), n);
  if (std::ferror(f.get())) throw Error(path + ": read error");
  return d.hex_digest();
}

}  // namespace mnv2
