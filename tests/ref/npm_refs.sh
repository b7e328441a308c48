#!/usr/bin/env bash
# Makes the npm reference runtimes (tests/ref/package.json: onnxruntime-node,
# @tensorflow/tfjs-tflite, playwright-core, at the exact versions of package-lock.json)
# available and prints their node_modules folder as the last line.
#   npm_refs.sh DIR [--online]
# Uses tests/ref/node_modules when `npm ci` installed it from the current lock file, else
# DIR/node_modules, else installs there with `npm ci` (DIR may be tests/ref itself). Without
# --online npm may use only its local cache, so the tests that call this never reach the
# network; scripts/install-deps.sh runs `npm_refs.sh tests/ref --online` once.
# Exit status 0 = ready; otherwise the last line says why.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: npm_refs.sh DIR [--online]}
mode=${2:-}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
# Written last, after every package checked out, so its presence means a complete install.
stamp=node_modules/.mnv2-lock.sha256

# Test processes run in parallel (ctest -j): one installs, the others wait for it.
exec 9>"${TMPDIR:-/tmp}/mnv2-npm-refs-$(printf %s "$dir" | sha256sum | cut -c1-16).lock"
flock 9

for d in "$here" "$dir"; do
  if [[ -f "$d/$stamp" && "$(cat "$d/$stamp")" == "$want" ]]; then echo "$d/node_modules"; exit 0; fi
done

command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "node/npm not installed (Debian: nodejs npm); run scripts/install-deps.sh"; exit 2; }
if [[ "$dir" != "$here" ]]; then
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
fi
flags=(--offline)
[[ "$mode" == --online ]] && flags=()
# --engine-strict: a package whose `engines` excludes this Node.js fails here, by name,
# instead of in the middle of a test. No install scripts: nothing here needs one
# (onnxruntime-node ships its CPU binaries; its script only fetches optional GPU ones).
log=$(mktemp "${TMPDIR:-/tmp}/mnv2-npm-refs.XXXXXX.log")
if ! (cd "$dir" && npm ci --ignore-scripts --engine-strict --no-audit --no-fund --loglevel=error \
        "${flags[@]}") >"$log" 2>&1; then
  tail -n 5 "$log"
  echo "npm ci of tests/ref/package-lock.json into $dir failed (node $(node --version)," \
       "${flags[*]:-online}); see $log; run scripts/install-deps.sh (it installs into tests/ref)"
  exit 3
fi
rm -f "$log"
nm="$dir/node_modules"
for f in onnxruntime-node/package.json @tensorflow/tfjs-tflite/wasm/tflite_web_api_cc.wasm \
         @tensorflow/tfjs-tflite/wasm/tflite_web_api_cc.js playwright-core/package.json; do
  [[ -f "$nm/$f" ]] || { echo "npm ci finished, but $nm/$f is missing"; exit 3; }
done
echo "$want" >"$dir/$stamp"
echo "$nm"
