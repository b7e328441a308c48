// What the seed writers (fuzz/seed_*.cpp, one small program each) share.
#pragma once

#include <cstdio>
#include <string>

namespace seed {

// Writes `bytes` to `path`; a seed that cannot be written is left out (the fuzzer still runs).
inline void write(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

}  // namespace seed
