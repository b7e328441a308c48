#!/usr/bin/env bash
# Builds the mnv2 Debian package: configures a Release build for prefix /usr in build-deb
# (MNV2_DEB_BUILD_DIR overrides) without tests, benchmarks or the Python module, builds the
# CLI and libmnv2, and runs `cpack -G DEB`. Prints the path of the .deb
# (build-deb/mnv2_<version>_<arch>.deb), which `sudo apt-get install ./mnv2_*.deb`
# installs together with its dependencies (computed by dpkg-shlibdeps).
# Needs the build dependencies (scripts/install-deps.sh) and dpkg-dev (build-essential).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${MNV2_DEB_BUILD_DIR:-build-deb}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DMNV2_BUILD_TESTS=OFF -DMNV2_BUILD_BENCH=OFF -DMNV2_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"
rm -f "$build"/mnv2_*.deb
(cd "$build" && cpack -G DEB >cpack.log) || { cat "$build/cpack.log" >&2; exit 1; }
ls "$PWD/$build"/mnv2_*.deb
