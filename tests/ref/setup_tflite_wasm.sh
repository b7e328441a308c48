#!/usr/bin/env bash
# Installs the real TensorFlow Lite runtime compiled to WebAssembly (npm package
# @tensorflow/tfjs-tflite) into DEST (a folder in the build tree) once, and prints the
# package folder. Used only as an independent reference by the test suite.
# usage: setup_tflite_wasm.sh DEST
set -euo pipefail
dest="$1"
version="0.0.1-alpha.10"
pkg="$dest/node_modules/@tensorflow/tfjs-tflite"
mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9
if [[ -f "$pkg/wasm/tflite_web_api_cc.wasm" && -f "$pkg/wasm/tflite_web_api_cc.js" ]]; then
  echo "$pkg"
  exit 0
fi
if [[ "${MNV2_NO_NETWORK:-0}" == 1 ]]; then
  echo "MNV2_NO_NETWORK=1: not installing @tensorflow/tfjs-tflite" >&2
  exit 2
fi
command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 2; }
command -v node >/dev/null || { echo "node is not installed" >&2; exit 2; }
npm install --prefix "$dest" --no-audit --no-fund --prefer-offline --loglevel=error \
  "@tensorflow/tfjs-tflite@$version" >&2
[[ -f "$pkg/wasm/tflite_web_api_cc.wasm" ]] || { echo "installed, but the wasm runtime is missing" >&2; exit 3; }
echo "$pkg"
