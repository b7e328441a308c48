#!/usr/bin/env bash
# Side-by-side CPU benchmark: mnv2 against its peers on the same synthetic MobileNetV2
# 1.4/224 model, same threads and batch:
#   ort     ONNX Runtime (onnxruntime-node from npm), runs m.onnx
#   opencv  OpenCV DNN (Debian python3-opencv, /usr/bin/python3), runs m.pb (TF GraphDef;
#           OpenCV 4.6 cannot import the opset-13 Clip of m.onnx)
#   xnnpack XNNPACK (Debian libxnnpack-dev), a small runner (xnnpack_bench.cpp) that reads
#           m.onnx with mnv2's loader and defines every layer through XNNPACK's subgraph API
#   bf16    mnv2 itself with --precision bf16 (only on CPUs with AVX512_BF16; not in the
#           default list): its ratios to the fp32 mnv2 block and to the peers of the same
#           rounds are its speed-up; its gate tolerance is docs/precision.md's 3e-2
#   bf16amx the same with MNV2_BF16=amx (AMX-BF16 tiles, where the CPU has them)
#
# --precision int8 benchmarks the quantized network instead: `mnv2 quantize --synthetic 1.4
# 224 --calib DIR --max-images 8` writes m.tflite (int8, per-channel weights), which mnv2
# runs natively; `mnv2 convert m.tflite -o m.onnx` writes its QDQ form, which ONNX Runtime
# fuses into QLinearConv / QLinearAdd; the XNNPACK runner defines m.tflite's integer layers
# as XNNPACK QS8 operators. OpenCV has no int8 path here and is skipped.
#
#   bench/peers/run.sh [--mnv2 PATH] [--peers "ort opencv xnnpack"] [--threads "1 2"]
#                      [--batches "1 8"] [--rounds R] [--iterations N] [--warmup W]
#                      [--precision fp32|int8] [--calib DIR] [--out FILE.json] [--online]
#   --calib DIR: calibration images of --precision int8 (default: the Coral photos of the
#                test data, ${MNV2_TEST_DATA:-../shared/data}/coral)
#
# 1. Installs the peers (bench-only, never runtime dependencies of mnv2): onnxruntime-node
#    at the version pinned in tests/ref/package-lock.json, through tests/ref/setup_onnx_ref.sh
#    (npm ci --ignore-scripts; from npm's cache unless --online), python3-opencv and
#    libxnnpack-dev + libpthreadpool-dev with apt-get when missing (needs root), and
#    compiles the XNNPACK runner against the mnv2 build next to --mnv2 (its libmnv2.a).
#    A peer that cannot be installed is skipped; the JSON says why.
# 2. Writes the model with `mnv2 convert --synthetic 1.4 224` as .onnx and .pb.
# 3. Correctness gate, for every peer and batch: mnv2 and the peer run the same input; the
#    largest absolute difference of the probabilities must be <= 1e-5, else nothing is
#    timed (exit 1). int8: every image's top-1 must be equal (a tie for the top in either
#    output counts: the 8-bit softmax has 256 levels) and the probabilities within
#    16/256 (16 output levels of the 8-bit softmax: the engines requantize differently,
#    e.g. ONNX Runtime in float where mnv2 follows TFLite's fixed point; docs/int8.md
#    measures up to 15 levels between two real TFLite references).
# 4. Timing, per (threads, batch): R rounds, each one mnv2 block then one block per peer
#    (A B C D A B C D ...; each block is its own process: load, first run, W warm-up runs,
#    then N timed runs), so all engines see the same machine conditions. Samples of all
#    rounds are pooled: median, p90, throughput (batch / mean latency) and mnv2/peer ratios.
#    "best_throughput": per thread count, each engine's highest throughput over the batches
#    run, and the ratio of mnv2's best to each peer's best.
# Prints one JSON object on stdout (also written to --out) and a table on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mnv2="$root/build/mnv2"
peers="ort opencv xnnpack"
threads_list="1 2"
batches="1 8"
rounds=5
iterations=20
warmup=3
out=""
online=""
precision=fp32
calib=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mnv2) mnv2=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --threads) threads_list=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --online) online=--online; shift ;;
    --precision) precision=$2; shift 2 ;;
    --calib) calib=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$mnv2" ]] || { echo "run.sh: $mnv2 not built (cmake --build build)" >&2; exit 2; }
case "$precision" in fp32|int8) ;; *) echo "run.sh: --precision must be fp32 or int8" >&2; exit 2 ;; esac
if [[ $precision == int8 ]]; then
  calib=${calib:-${MNV2_TEST_DATA:-$root/../shared/data}/coral}
  [[ -d "$calib" ]] || { echo "run.sh: calibration images '$calib' not found (--calib DIR)" >&2; exit 2; }
fi
mnv2=$(cd "$(dirname "$mnv2")" && pwd)/$(basename "$mnv2")
builddir=$(dirname "$mnv2")
py=/usr/bin/python3
[[ -x $py ]] || py=python3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=${MNV2_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mnv2/peers}
mkdir -p "$cache"
declare -A skipped=()
declare -A version=()
active=""

apt_install() {  # apt_install PKG...: installs missing Debian packages (bench-only)
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || { echo "needs root to apt-get install ${missing[*]}"; return 1; }
  echo "run.sh: apt-get install ${missing[*]}" >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1; } ||
    { echo "apt-get install ${missing[*]} failed: $(tail -n 1 "$work/apt.log")"; return 1; }
}

setup_ort() {
  command -v node >/dev/null || { echo "node is not installed"; return 1; }
  local nm
  if ! nm=$(bash "$root/tests/ref/setup_onnx_ref.sh" ort "$cache" $online | tail -n 1) ||
     [[ ! -d "$nm/onnxruntime-node" ]]; then
    if [[ -z "$online" ]] && nm=$(bash "$root/tests/ref/setup_onnx_ref.sh" ort "$cache" --online | tail -n 1) &&
       [[ -d "$nm/onnxruntime-node" ]]; then :; else
      echo "could not install onnxruntime-node: $nm"; return 1
    fi
  fi
  export NODE_PATH="$nm"
  version[ort]="onnxruntime-node $(node -p "require('onnxruntime-node/package.json').version")"
}
setup_opencv() {
  [[ $precision == fp32 ]] || { echo "OpenCV DNN has no int8 path for this model"; return 1; }
  $py -c 'import cv2, numpy' 2>/dev/null || apt_install python3-opencv python3-numpy || return 1
  version[opencv]="opencv-dnn $($py -c 'import cv2; print(cv2.__version__)')"
}
setup_xnnpack() {
  apt_install libxnnpack-dev libpthreadpool-dev || return 1
  local link="$builddir/CMakeFiles/mnv2_cli.dir/link.txt"
  [[ -f "$builddir/libmnv2.a" && -f "$link" ]] ||
    { echo "needs the CMake build of mnv2 next to $mnv2 (libmnv2.a)"; return 1; }
  # The libraries libmnv2 links, as CMake put them on the mnv2 link line.
  local libs
  libs=$(sed 's/.*libmnv2\.a//' "$link")
  ${CXX:-c++} -O2 -std=c++20 -I"$root/src" -I"$root/include" "$here/xnnpack_bench.cpp" \
    "$builddir/libmnv2.a" $libs -lXNNPACK -lpthreadpool -lpthread -o "$work/xnnpack_bench" \
    >"$work/xnn_build.log" 2>&1 || { echo "runner build failed: $(head -c 400 "$work/xnn_build.log")"; return 1; }
  version[xnnpack]="xnnpack $(dpkg-query -W -f='${Version}' libxnnpack-dev)"
}

setup_bf16() {
  [[ $precision == fp32 ]] || { echo "bf16 compares against the fp32 network only"; return 1; }
  "$mnv2" bench --synthetic 0.35 96 --precision bf16 --warmup 0 --iterations 1 >"$work/bf16_probe.log" 2>&1 ||
    { echo "mnv2 --precision bf16 cannot run here: $(tail -n 1 "$work/bf16_probe.log")"; return 1; }
  version[bf16]="mnv2 --precision bf16"
}
setup_bf16amx() {
  [[ $precision == fp32 ]] || { echo "bf16 compares against the fp32 network only"; return 1; }
  MNV2_BF16=amx "$mnv2" bench --synthetic 0.35 96 --precision bf16 --warmup 0 --iterations 1 \
    >"$work/bf16amx_probe.log" 2>&1 ||
    { echo "MNV2_BF16=amx cannot run here: $(tail -n 1 "$work/bf16amx_probe.log")"; return 1; }
  version[bf16amx]="mnv2 --precision bf16, MNV2_BF16=amx"
}

# run_peer PEER INPUT B T WARMUP ITERS [PROBS_OUT]: one JSON line with samples_ms.
run_peer() {
  local p=$1 in=$2 b=$3 t=$4 wu=$5 it=$6 probs=${7:-}
  case "$p" in
    ort) node "$here/ort_bench.js" "$work/m.onnx" "$in" "$b" 224 224 3 "$t" "$wu" "$it" $probs ;;
    opencv) $py "$here/opencv_bench.py" "$work/m.pb" "$in" "$b" 224 224 3 "$t" "$wu" "$it" $probs ;;
    xnnpack) "$work/xnnpack_bench" "$work/$mnv2_model" "$in" "$b" 224 224 3 "$t" "$wu" "$it" $probs ;;
    bf16|bf16amx)  # mnv2 bench makes the same deterministic input as the fp32 gate run
      local which=avx512; [[ $p == bf16amx ]] && which=amx
      MNV2_BF16=$which "$mnv2" bench --model "$work/m.onnx" --precision bf16 --threads "$t" \
        --batch "$b" --warmup "$wu" --iterations "$it" --json --samples ${probs:+--dump "$work/${p}_$b"}
      if [[ -n "$probs" ]]; then
        cmp -s "$in" "$work/${p}_$b.input.bin" || { echo "run.sh: $p gate input differs" >&2; return 1; }
        cp "$work/${p}_$b.probs.bin" "$probs"
      fi ;;
  esac
}

for p in $peers; do
  case "$p" in ort|opencv|xnnpack|bf16|bf16amx) ;; *) echo "run.sh: unknown peer '$p'" >&2; exit 2 ;; esac
  if "setup_$p" >"$work/setup_$p.log" 2>&1; then
    active="$active $p"
  else
    skipped[$p]=$(tail -n 1 "$work/setup_$p.log")
    echo "run.sh: skipping $p: ${skipped[$p]}" >&2
  fi
done
[[ -n "$active" ]] || { echo "run.sh: no peer could be installed" >&2; exit 3; }

if [[ $precision == int8 ]]; then
  "$mnv2" quantize --synthetic 1.4 224 --calib "$calib" --max-images 8 -o "$work/m.tflite" >/dev/null
  "$mnv2" convert "$work/m.tflite" -o "$work/m.onnx" >/dev/null  # QDQ
  mnv2_model=m.tflite
else
  "$mnv2" convert --synthetic 1.4 224 -o "$work/m.onnx" >/dev/null
  "$mnv2" convert --synthetic 1.4 224 -o "$work/m.pb" >/dev/null
  mnv2_model=m.onnx
fi

# ---- correctness gate ------------------------------------------------------------------
for b in $batches; do
  "$mnv2" bench --model "$work/$mnv2_model" --precision "$precision" --threads 1 --batch "$b" \
    --warmup 0 --iterations 1 --json --dump "$work/check$b" >/dev/null
  for p in $active; do
    run_peer "$p" "$work/check$b.input.bin" "$b" 1 0 1 "$work/check$b.$p.bin" >/dev/null
    $py - "$work/check$b.probs.bin" "$work/check$b.$p.bin" "$b" "$p" "$precision" >>"$work/gate.txt" <<'PY'
import array, sys
a = array.array('f'); b = array.array('f')
with open(sys.argv[1], 'rb') as f: a.frombytes(f.read())
with open(sys.argv[2], 'rb') as f: b.frombytes(f.read())
p, nb, int8 = sys.argv[4], int(sys.argv[3]), sys.argv[5] == "int8"
if len(a) != len(b) or not a or len(a) % nb:
    sys.exit(f"run.sh: output sizes differ: mnv2 {len(a)} vs {p} {len(b)} floats")
d = max(abs(x - y) for x, y in zip(a, b))
print(f"check batch {nb}: max |mnv2 - {p}| probability difference {d:.3g}", file=sys.stderr)
bound = 16 / 256 if int8 else 3e-2 if p.startswith("bf16") else 1e-5
if not d <= bound:
    sys.exit(f"run.sh: mnv2 and {p} disagree (max abs diff {d:.3g} > {bound:.3g}); not timing")
if int8:  # the same class on top for every image (a tie for the top in either output counts)
    c = len(a) // nb
    top = lambda v, i: max(range(c), key=lambda k: v[i * c + k])
    for i in range(nb):
        ta, tb = top(a, i), top(b, i)
        if a[i * c + tb] != a[i * c + ta] and b[i * c + ta] != b[i * c + tb]:
            sys.exit(f"run.sh: image {i}: mnv2 top-1 {ta} != {p} top-1 {tb}; not timing")
print(f"{p} {nb} {d:.3g}")
PY
  done
done

# ---- interleaved timing ----------------------------------------------------------------
for t in $threads_list; do
  for b in $batches; do
    for r in $(seq 1 "$rounds"); do
      "$mnv2" bench --model "$work/$mnv2_model" --precision "$precision" --threads "$t" \
        --batch "$b" --warmup "$warmup" --iterations "$iterations" --json --samples \
        >"$work/mnv2_t${t}_b${b}_r$r.json"
      for p in $active; do
        run_peer "$p" "$work/check$b.input.bin" "$b" "$t" "$warmup" "$iterations" \
          >"$work/${p}_t${t}_b${b}_r$r.json"
      done
    done
  done
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
versions=""; for p in $active; do versions+="$p=${version[$p]};"; done
skips=""; for p in "${!skipped[@]}"; do skips+="$p=${skipped[$p]};"; done
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512[a-z_0-9]*|avx_vnni|amx_[a-z0-9]*)$' | tr '\n' ' ' || true)
family=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ' || true)
cpumodel=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ' || true)
$py - "$work" "$threads_list" "$batches" "$rounds" "$cpu" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$active" "$versions" "$skips" "$iterations" "$warmup" \
  "$precision" "family $family model $cpumodel; ${flags% }" >"$work/result.json" <<'PY'
import json, statistics, sys, datetime
work, tl, bl, rounds, cpu, cores, load, active, versions, skips, its, wu, prec, cpuid = sys.argv[1:15]
peers = active.split()
def kv(s):
    return dict(x.split("=", 1) for x in s.split(";") if x)
gate = {}
for line in open(f"{work}/gate.txt"):
    p, b, d = line.split()
    gate.setdefault(p, {})[f"batch{b}"] = float(d)
def pct(v, p):
    v = sorted(v); pos = p / 100 * (len(v) - 1); lo = int(pos); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)
def stats(s, b):
    return {"median_ms": round(pct(s, 50), 4), "p90_ms": round(pct(s, 90), 4),
            "min_ms": round(min(s), 4), "throughput_ips": round(b * 1000 / statistics.mean(s), 2),
            "samples": len(s)}
res = []
for t in tl.split():
    for b in bl.split():
        m = []
        ps = {p: [] for p in peers}
        per_round = {p: [] for p in peers}
        for r in range(1, int(rounds) + 1):
            ms = json.load(open(f"{work}/mnv2_t{t}_b{b}_r{r}.json"))["samples_ms"]
            m += ms
            for p in peers:
                s = json.load(open(f"{work}/{p}_t{t}_b{b}_r{r}.json"))["samples_ms"]
                ps[p] += s
                per_round[p].append(round(pct(ms, 50) / pct(s, 50), 3))
        sm = stats(m, int(b))
        row = {"threads": int(t), "batch": int(b), "mnv2": sm, "peers": {}, "ratios": {}}
        for p in peers:
            sp = stats(ps[p], int(b))
            row["peers"][p] = sp
            row["ratios"][p] = {
                "median_latency": round(sm["median_ms"] / sp["median_ms"], 3),
                "p90_latency": round(sm["p90_ms"] / sp["p90_ms"], 3),
                "throughput": round(sm["throughput_ips"] / sp["throughput_ips"], 3),
                "per_round_median_latency": per_round[p]}
        res.append(row)
# The issue's throughput target compares each engine at its own best batch: per thread
# count, the highest throughput over the batches run, for mnv2 and for every peer.
best = []
for t in tl.split():
    rows = [x for x in res if x["threads"] == int(t)]
    bm = max(rows, key=lambda x: x["mnv2"]["throughput_ips"])
    entry = {"threads": int(t), "mnv2": {"batch": bm["batch"], "throughput_ips": bm["mnv2"]["throughput_ips"]},
             "peers": {}, "ratios": {}}
    for p in peers:
        bp = max(rows, key=lambda x: x["peers"][p]["throughput_ips"])
        entry["peers"][p] = {"batch": bp["batch"], "throughput_ips": bp["peers"][p]["throughput_ips"]}
        entry["ratios"][p] = round(bm["mnv2"]["throughput_ips"] / bp["peers"][p]["throughput_ips"], 3)
    best.append(entry)
print(json.dumps({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
                  "cpu": cpu, "cpu_id": cpuid, "cores": int(cores), "loadavg_at_end": load,
                  "precision": prec,
                  "model": "synthetic MobileNetV2 1.4/224 (mnv2 convert -> .onnx / .pb)" if prec == "fp32" else
                           "synthetic MobileNetV2 1.4/224 quantized by mnv2 quantize (m.tflite; QDQ m.onnx for ONNX Runtime)",
                  "ratio_meaning": "mnv2 / peer: latency < 1 and throughput > 1 mean mnv2 is faster",
                  "rounds": int(rounds), "iterations": int(its), "warmup": int(wu),
                  "peers": kv(versions), "skipped": kv(skips), "gate_max_abs_diff": gate,
                  "results": res, "best_throughput": best}, indent=1))
PY
cat "$work/result.json"
[[ -n "$out" ]] && cp "$work/result.json" "$out"
$py - "$work/result.json" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
peers = list(r["peers"])
hdr = f"{'thr':>3} {'batch':>5} | {'mnv2 med':>9} {'p90':>8} {'img/s':>7}"
for p in peers:
    hdr += f" | {p + ' med':>12} {'img/s':>7} {'ratio':>5}"
print(hdr)
for x in r["results"]:
    m = x["mnv2"]
    line = f"{x['threads']:>3} {x['batch']:>5} | {m['median_ms']:>9.2f} {m['p90_ms']:>8.2f} {m['throughput_ips']:>7.1f}"
    for p in peers:
        o = x["peers"][p]
        line += f" | {o['median_ms']:>12.2f} {o['throughput_ips']:>7.1f} {x['ratios'][p]['median_latency']:>5.2f}"
    print(line)
print("ratio = mnv2 median latency / peer median latency (< 1: mnv2 faster)")
for e in r.get("best_throughput", []):
    line = f"best throughput, {e['threads']} thread(s): mnv2 {e['mnv2']['throughput_ips']:.1f} img/s (batch {e['mnv2']['batch']})"
    for p in peers:
        line += f"; {p} {e['peers'][p]['throughput_ips']:.1f} (batch {e['peers'][p]['batch']}), ratio {e['ratios'][p]:.2f}"
    print(line)
for p, why in r["skipped"].items():
    print(f"skipped {p}: {why}")
PY
