#!/usr/bin/env bash
# Configures and builds mnv2 (Release) into ./build.
#   build.sh         everything: library, command, test suite, microbenchmarks, Python module
#   build.sh --cli   only the mnv2 command (build/mnv2), as scripts/quickstart.sh needs
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") parts=ON; target=() ;;
  --cli) parts=OFF; target=(--target mnv2_cli) ;;
  *) echo "usage: build.sh [--cli]" >&2; exit 2 ;;
esac
# The options are set both ways: the CMake cache keeps them between runs.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMNV2_BUILD_TESTS=$parts -DMNV2_BUILD_BENCH=$parts \
  -DMNV2_BUILD_PYTHON=$parts >/dev/null
cmake --build build -j"$(nproc)" "${target[@]}"
