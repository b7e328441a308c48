#!/usr/bin/env bash
# Installs exactly what building and testing mnv2 needs, from Debian/Ubuntu packages.
# Idempotent: packages already present are skipped, so a second run costs nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libjpeg-dev libpng-dev zlib1g-dev
  libcurl4-openssl-dev libarchive-dev
  libpugixml-dev libprotobuf-dev protobuf-compiler libflatbuffers-dev flatbuffers-compiler
  nlohmann-json3-dev libcpp-httplib-dev
  python3 python3-numpy
)
if [[ "${MNV2_WITH_REFERENCES:-1}" == 1 ]]; then
  # Independent references the test suite compares against (never runtime dependencies).
  packages+=(python3-opencv python3-pil python3-yaml clang libclang-rt-dev chromium wrk)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
