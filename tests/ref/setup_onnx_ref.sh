#!/usr/bin/env bash
# Prepares the independent references the ONNX tests compare against.
#   setup_onnx_ref.sh ort DIR [--online]
#       Makes onnxruntime-node (CPU runtime from npm, the version pinned in
#       tests/ref/package-lock.json) available through npm_refs.sh and prints its
#       node_modules folder: tests/ref/node_modules once scripts/install-deps.sh installed
#       it, else DIR/node_modules. Without --online npm may use only its local cache, so
#       tests never reach the network.
#   setup_onnx_ref.sh models DIR
#       Exports the PyTorch MobileNetV2 reference models (onnx_export_mnv2.py) into DIR,
#       once per version of the export script.
# Exit status 0 = ready; otherwise the last line says why.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:?usage: setup_onnx_ref.sh ort|models DIR [--online]}
dir=${2:?usage: setup_onnx_ref.sh ort|models DIR [--online]}
mode=${3:-}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
case "$what" in
  ort)
    out=$("$here/npm_refs.sh" "$dir" "$mode") || { echo "$out"; exit 3; }
    nm=$(tail -n 1 <<<"$out")
    [[ -f "$nm/onnxruntime-node/package.json" ]] || { echo "onnxruntime-node missing from $nm"; exit 3; }
    echo "$nm"
    ;;
  models)
    # Test processes run in parallel (ctest -j): one exports, the others wait for it.
    exec 9>"${TMPDIR:-/tmp}/mnv2-onnx-ref-$(printf %s "$dir" | sha256sum | cut -c1-16).lock"
    flock 9
    py=/usr/bin/python3
    stamp="$dir/export.sha256"
    want=$(sha256sum "$here/onnx_export_mnv2.py" | cut -d' ' -f1)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$dir/manifest.txt" ]]; then exit 0; fi
    "$py" -c "import torch" >/dev/null 2>&1 || { echo "$py cannot import torch (Debian: python3-torch)"; exit 2; }
    rm -f "$stamp"
    if ! "$py" "$here/onnx_export_mnv2.py" "$dir" >"$dir/export.log" 2>&1; then
      echo "PyTorch export failed; see $dir/export.log"
      exit 3
    fi
    echo "$want" >"$stamp"
    ;;
  *) echo "unknown target '$what'"; exit 2 ;;
esac
