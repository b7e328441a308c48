#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.cpp as a libFuzzer target (clang-14, ASan + UBSan) and every
# fuzz/seed_*.cpp as a plain program that writes a seed corpus, into build-fuzz/.
#   fuzz/build.sh
#   build-fuzz/seed_openvino_ir corpus/ && build-fuzz/fuzz_openvino_ir -jobs=1 -max_len=20000 \
#     -dict=fuzz/fuzz_openvino_ir.dict corpus/
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-$(command -v clang++-14 || command -v clang++)}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" \
  -DMNV2_BUILD_TESTS=OFF -DMNV2_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link $SAN" >/dev/null
cmake --build build-fuzz --target mnv2 -j"$(nproc)"
LIBS="-lpugixml -ljpeg -lpng -lz -lcurl -larchive -lpthread"
for src in fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  echo "fuzz target $name"
  $CXX -std=c++20 -O1 -g -fsanitize=fuzzer $SAN -Iinclude -Isrc "$src" build-fuzz/libmnv2.a \
    $LIBS -o "build-fuzz/$name"
done
for src in fuzz/seed_*.cpp; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .cpp)
  echo "seed writer $name"
  $CXX -std=c++20 -O1 -g $SAN -Iinclude -Isrc "$src" build-fuzz/libmnv2.a $LIBS -o "build-fuzz/$name"
done
