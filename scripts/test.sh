#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite. This is the README's test command and
# what .ci/run calls. Setup (install-deps.sh) may use the package registries; the tests
# themselves never touch the network (MNV2_NO_NETWORK=1) and skip, saying why, when a
# reference implementation is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
MNV2_NO_NETWORK=1 ctest --output-on-failure -j"$(nproc)" --timeout 1200
