#!/usr/bin/env bash
# Makes the real TensorFlow Lite runtime compiled to WebAssembly (npm package
# @tensorflow/tfjs-tflite) available and prints the package folder. Used only as an
# independent reference by the test suite. scripts/install-deps.sh installs it into
# tests/ref/wasm/node_modules (with --online); tests call it without, so they never reach the
# network: they use that install (or one in DEST) and skip when there is none.
# usage: setup_tflite_wasm.sh DEST [--online]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest="$1"
mode="${2:-}"
version="0.0.1-alpha.10"
mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9
for nm in "$here/wasm/node_modules" "$dest/node_modules"; do
  pkg="$nm/@tensorflow/tfjs-tflite"
  if [[ -f "$pkg/wasm/tflite_web_api_cc.wasm" && -f "$pkg/wasm/tflite_web_api_cc.js" ]]; then
    echo "$pkg"
    exit 0
  fi
done
pkg="$dest/node_modules/@tensorflow/tfjs-tflite"
if [[ "$mode" != --online ]]; then
  echo "@tensorflow/tfjs-tflite is not installed; run scripts/install-deps.sh (tests never download)" >&2
  exit 2
fi
command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 2; }
command -v node >/dev/null || { echo "node is not installed" >&2; exit 2; }
npm install --prefix "$dest" --no-audit --no-fund --prefer-offline --loglevel=error \
  "@tensorflow/tfjs-tflite@$version" >&2
[[ -f "$pkg/wasm/tflite_web_api_cc.wasm" ]] || { echo "installed, but the wasm runtime is missing" >&2; exit 3; }
echo "$pkg"
