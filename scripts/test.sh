#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite. This is the README's test command and
# what .ci/run calls. Setup (install-deps.sh) may use the package registries; the tests
# themselves never touch the network (MNV2_NO_NETWORK=1) and skip, saying why, when a
# reference implementation is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd build && MNV2_NO_NETWORK=1 ctest --output-on-failure -j"$(nproc)" --timeout 1200)
# The AArch64 build: cross-compiled, its kernel, executor, fused-block, int8-golden and format
# tests run under qemu-user on a dot-product CPU and on an ARMv8.0 one (docs/arm64.md).
# Only from x86-64 hosts (an ARM host ran the suite natively above); MNV2_SKIP_AARCH64=1
# leaves it out.
if [[ "$(uname -m)" == x86_64 && "${MNV2_SKIP_AARCH64:-0}" != 1 ]]; then
  scripts/cross-aarch64.sh --ci
fi
