// SHA-256 and SHA-384 of downloads, through OpenSSL libcrypto's EVP interface, so that a
// corrupted or tampered archive is rejected before anything is unpacked. No hash is
// implemented here: the digests are OpenSSL's.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace mnv2 {

enum class DigestAlgorithm { Sha256, Sha384 };

const char* digest_name(DigestAlgorithm algorithm);  // "SHA-256" / "SHA-384"

// A streaming digest. Failures of libcrypto itself throw mnv2::Error.
class Digest {
 public:
  explicit Digest(DigestAlgorithm algorithm);
  Digest(Digest&&) noexcept;
  Digest& operator=(Digest&&) noexcept;
  ~Digest();
  void update(const void* data, size_t len);
  // Finishes the digest and returns it in lower-case hex; the object must not be updated
  // afterwards.
  std::string hex_digest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool done_ = false;
};

std::string digest_hex(DigestAlgorithm algorithm, const void* data, size_t len);
// Digests a whole file; throws mnv2::Error naming the file if it cannot be read.
std::string digest_file_hex(DigestAlgorithm algorithm, const std::string& path);

inline std::string sha256_hex(const void* data, size_t len) {
  return digest_hex(DigestAlgorithm::Sha256, data, len);
}
inline std::string sha384_hex(const void* data, size_t len) {
  return digest_hex(DigestAlgorithm::Sha384, data, len);
}

}  // namespace mnv2
