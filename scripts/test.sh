#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite. This is the README's test command and
# what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 1200
