#!/usr/bin/env bash
# Installs exactly what building and testing mnv2 needs, from Debian/Ubuntu packages.
# Idempotent: packages already present are skipped, so a second run costs nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  # SIMDe (header-only): the test suite builds the AVX-512 kernels a second time against it,
  # so they are tested on CPUs without AVX-512 (tests/CMakeLists.txt).
  libsimde-dev
  libjpeg-dev libpng-dev zlib1g-dev
  libcurl4-openssl-dev libarchive-dev
  libpugixml-dev libprotobuf-dev protobuf-compiler libflatbuffers-dev flatbuffers-compiler
  nlohmann-json3-dev libcpp-httplib-dev
  python3 python3-numpy
  # The Python package (python/): binding, offline pip install, its tests and mnv2.dask.
  pybind11-dev python3-dev python3-setuptools python3-pip python3-pytest
  python3-pandas python3-dask python3-distributed
)
if [[ "${MNV2_WITH_REFERENCES:-1}" == 1 ]]; then
  # Independent references the test suite compares against (never runtime dependencies).
  packages+=(python3-opencv python3-pil python3-yaml clang libclang-rt-dev python3-torch chromium wrk)
fi
if [[ "${MNV2_WITH_BENCH_PEERS:-0}" == 1 ]]; then
  # Opt-in, benchmarks only (bench/peers/run.sh and bench/sweep.sh also install these
  # themselves when missing): XNNPACK for the peer comparison, matplotlib for the plot.
  packages+=(python3-opencv libxnnpack-dev libpthreadpool-dev python3-matplotlib)
fi
# Node.js and npm come with the machine (NodeSource build); Debian's npm package conflicts
# with it, so only install Debian's nodejs + npm where no node exists at all.
if [[ "${MNV2_WITH_REFERENCES:-1}" == 1 ]] && ! command -v node >/dev/null; then
  packages+=(nodejs npm)
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

if [[ "${MNV2_WITH_REFERENCES:-1}" == 1 ]]; then
  # ONNX Runtime (npm onnxruntime-node, CPU) for the ONNX tests, into tests/ref/node_modules;
  # the tests themselves never reach the network and skip when it is missing.
  "$(dirname "$0")/../tests/ref/setup_onnx_ref.sh" ort "$(dirname "$0")/../tests/ref" --online >/dev/null ||
    echo "install-deps: onnxruntime-node not installed; the ONNX Runtime comparisons will skip" >&2
  # The real TFLite runtime compiled to WebAssembly, for the TFLite agreement tests.
  "$(dirname "$0")/../tests/ref/setup_tflite_wasm.sh" "$(dirname "$0")/../tests/ref/wasm" --online >/dev/null ||
    echo "install-deps: @tensorflow/tfjs-tflite not installed; the TFLite-wasm comparisons will skip" >&2
  # playwright-core drives Debian's chromium for the web page test of `mnv2 serve`.
  web="$(dirname "$0")/../tests/ref/web"
  if [[ ! -f "$web/node_modules/playwright-core/package.json" ]]; then
    npm install --prefix "$web" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      playwright-core >/dev/null 2>&1 ||
      echo "install-deps: playwright-core not installed; the web page test will skip" >&2
  fi
fi
