// SHA-256 and SHA-384 (FIPS 180-4), streaming. Used to verify downloads against pinned
// checksums, so a corrupted or tampered archive is rejected before anything is unpacked.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace mnv2 {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest();
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
  bool done_ = false;
};

// SHA-384 is SHA-512 with its own initial value, truncated to 48 bytes.
class Sha384 {
 public:
  Sha384();
  void update(const void* data, size_t len);
  std::array<uint8_t, 48> digest();
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  uint64_t h_[8];
  uint8_t buf_[128];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;  // bytes; files here are far below 2^61 bytes
  bool done_ = false;
};

std::string to_hex(const uint8_t* data, size_t len);
std::string sha256_hex(const void* data, size_t len);
std::string sha384_hex(const void* data, size_t len);
// Hashes a whole file; throws mnv2::Error naming the file if it cannot be read.
std::string sha256_file_hex(const std::string& path);
std::string sha384_file_hex(const std::string& path);

}  // namespace mnv2
