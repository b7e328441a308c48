#!/usr/bin/env bash
# Prepares the independent references the ONNX tests compare against.
#   setup_onnx_ref.sh ort DIR [--online]
#       Makes onnxruntime-node (CPU runtime from npm) available; prints its node_modules
#       folder. Uses tests/ref/node_modules when present, else installs into DIR. Without
#       --online npm may use only its local cache, so tests never reach the network;
#       scripts/install-deps.sh runs `ort tests/ref --online` once.
#   setup_onnx_ref.sh models DIR
#       Exports the PyTorch MobileNetV2 reference models (onnx_export_mnv2.py) into DIR,
#       once per version of the export script.
# Exit status 0 = ready; otherwise the last line says why.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:?usage: setup_onnx_ref.sh ort|models DIR [--online]}
dir=${2:?usage: setup_onnx_ref.sh ort|models DIR [--online]}
mode=${3:-}
ort_version=1.30.0
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Test processes run in parallel (ctest -j): one prepares, the others wait for it.
exec 9>"${TMPDIR:-/tmp}/mnv2-onnx-ref-$(printf %s "$dir" | sha256sum | cut -c1-16).lock"
flock 9

case "$what" in
  ort)
    for nm in "$here/node_modules" "$dir/node_modules"; do
      if [[ -f "$nm/onnxruntime-node/package.json" ]]; then echo "$nm"; exit 0; fi
    done
    command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm not installed"; exit 2; }
    flags=(--offline)
    [[ "$mode" == --online ]] && flags=()
    # The log goes to a temporary file: DIR may be tests/ref in the source tree.
    log=$(mktemp "${TMPDIR:-/tmp}/mnv2-onnx-npm.XXXXXX.log")
    if ! npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
         "${flags[@]}" --prefix "$dir" "onnxruntime-node@$ort_version" >"$log" 2>&1; then
      echo "npm install of onnxruntime-node@$ort_version failed (offline=${flags[*]:-no}); see $log;" \
           "run scripts/install-deps.sh (it installs it into tests/ref/node_modules)"
      exit 3
    fi
    rm -f "$log"
    echo "$dir/node_modules"
    ;;
  models)
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
