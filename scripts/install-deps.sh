#!/usr/bin/env bash
# Installs what building and testing mnv2 needs, from Debian/Ubuntu packages.
#   install-deps.sh         everything the full test suite needs (scripts/test.sh): build
#                           tools and libraries, GoogleTest, the Python package's needs and
#                           the independent test references (Debian packages, and the npm
#                           packages pinned in tests/ref/package-lock.json)
#   install-deps.sh --cli   only what building and running the mnv2 command needs
#                           (scripts/quickstart.sh)
# MNV2_WITH_REFERENCES=0 leaves the test references out; MNV2_WITH_BENCH_PEERS=1 adds the
# peer benchmarks' packages. Idempotent: packages already present are skipped, so a second
# run costs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
full=1
case "${1:-}" in
  "") ;;
  --cli) full=0 ;;
  *) echo "usage: install-deps.sh [--cli]" >&2; exit 2 ;;
esac
refs=${MNV2_WITH_REFERENCES:-1}
((full)) || refs=0

# The mnv2 library and command: compiler, CMake, image/archive/network/XML/JSON/HTTP libraries.
packages=(
  build-essential cmake pkg-config ca-certificates
  libjpeg-dev libpng-dev zlib1g-dev
  # fetch: downloads, archives, and SHA-256/384 through OpenSSL libcrypto's EVP interface.
  libcurl4-openssl-dev libarchive-dev libssl-dev
  libpugixml-dev nlohmann-json3-dev libcpp-httplib-dev
)
if ((full)); then
  packages+=(
    git libgtest-dev libgmock-dev libbenchmark-dev
    # SIMDe (header-only): the test suite builds the AVX-512 kernels a second time against it,
    # so they are tested on CPUs without AVX-512 (tests/CMakeLists.txt).
    libsimde-dev
    libprotobuf-dev protobuf-compiler libflatbuffers-dev flatbuffers-compiler
    python3 python3-numpy
    # The Python package (python/): binding, offline pip install, its tests and mnv2.dask.
    pybind11-dev python3-dev python3-setuptools python3-pip python3-pytest
    python3-pandas python3-dask python3-distributed
  )
fi
if ((refs)); then
  # Independent references the test suite compares against (never runtime dependencies).
  packages+=(python3-opencv python3-pil python3-yaml clang libclang-rt-dev python3-torch chromium wrk)
  # Node.js for the npm references. Some machines bring their own (NodeSource build), which
  # Debian's npm package conflicts with, so Debian's nodejs + npm (Node.js 18 on Debian 12)
  # are installed only where no node exists at all.
  command -v node >/dev/null || packages+=(nodejs npm)
fi
if [[ "${MNV2_WITH_BENCH_PEERS:-0}" == 1 ]]; then
  # Opt-in, benchmarks only (bench/peers/run.sh and bench/sweep.sh also install these
  # themselves when missing): XNNPACK for the peer comparison, matplotlib for the plot.
  packages+=(python3-opencv libxnnpack-dev libpthreadpool-dev python3-matplotlib)
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

if ((refs)); then
  # The npm references, at the exact versions of tests/ref/package-lock.json, with `npm ci`
  # into tests/ref/node_modules: ONNX Runtime (onnxruntime-node, CPU), the real TFLite
  # runtime compiled to WebAssembly (@tensorflow/tfjs-tflite) and playwright-core, which
  # drives Debian's chromium for the web page test of `mnv2 serve`. The tests themselves
  # never reach the network and skip, saying why, when these are missing.
  if ! out=$("$here/../tests/ref/npm_refs.sh" "$here/../tests/ref" --online); then
    echo "$out" >&2
    echo "install-deps: the npm test references are not installed; the ONNX Runtime," \
         "TFLite-wasm and web page comparisons will skip" >&2
  fi
fi
