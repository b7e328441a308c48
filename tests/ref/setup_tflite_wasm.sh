#!/usr/bin/env bash
# Makes the real TensorFlow Lite runtime compiled to WebAssembly (npm package
# @tensorflow/tfjs-tflite, the version pinned in tests/ref/package-lock.json) available and
# prints the package folder. Used only as an independent reference by the test suite.
# npm_refs.sh finds or installs it: tests/ref/node_modules once scripts/install-deps.sh
# installed it, else DEST/node_modules; without --online npm may use only its local cache,
# so the tests, which call this without it, never reach the network.
# usage: setup_tflite_wasm.sh DEST [--online]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: setup_tflite_wasm.sh DEST [--online]}
out=$("$here/npm_refs.sh" "$dest" "${2:-}") || { echo "$out" >&2; exit 2; }
pkg="$(tail -n 1 <<<"$out")/@tensorflow/tfjs-tflite"
[[ -f "$pkg/wasm/tflite_web_api_cc.wasm" ]] || { echo "$pkg: the wasm runtime is missing" >&2; exit 3; }
echo "$pkg"
