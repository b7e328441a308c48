#!/usr/bin/env bash
# Side-by-side CPU benchmark: mnv2 against ONNX Runtime (onnxruntime-node from npm) on the
# same synthetic MobileNetV2 1.4/224 ONNX file, same threads and batch.
#
#   bench/peers/run.sh [--mnv2 PATH] [--threads "1 2"] [--batches "1 8"] [--rounds R]
#                      [--iterations N] [--warmup W] [--out FILE.json] [--online]
#
# 1. Installs onnxruntime-node (npm --ignore-scripts; the CPU library ships in the package)
#    through tests/ref/setup_onnx_ref.sh, from npm's cache unless --online is given.
# 2. Writes the model with `mnv2 convert --synthetic 1.4 224 -o m.onnx`.
# 3. Correctness gate, for every batch: mnv2 and ORT run the same input; the largest absolute
#    difference of the probabilities must be <= 1e-5, else nothing is timed (exit 1).
# 4. Timing, per (threads, batch): R rounds, each one mnv2 block then one ORT block
#    (A B A B ...; each block is its own process: load, first run, W warm-up runs, then N
#    timed runs), so both engines see the same machine conditions. Samples of all rounds
#    are pooled: median, p90, throughput (batch / mean latency) and mnv2/ORT ratios.
# Prints one JSON object on stdout (also written to --out) and a table on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mnv2="$root/build/mnv2"
threads_list="1 2"
batches="1 8"
rounds=5
iterations=20
warmup=3
out=""
online=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mnv2) mnv2=$2; shift 2 ;;
    --threads) threads_list=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --online) online=--online; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$mnv2" ]] || { echo "run.sh: $mnv2 not built (cmake --build build)" >&2; exit 2; }
command -v node >/dev/null || { echo "run.sh: node is not installed" >&2; exit 2; }

cache=${MNV2_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mnv2/peers}
mkdir -p "$cache"
if ! nm=$(bash "$root/tests/ref/setup_onnx_ref.sh" ort "$cache" $online | tail -n 1) ||
   [[ ! -d "$nm/onnxruntime-node" ]]; then
  if [[ -z "$online" ]] && nm=$(bash "$root/tests/ref/setup_onnx_ref.sh" ort "$cache" --online | tail -n 1) &&
     [[ -d "$nm/onnxruntime-node" ]]; then :; else
    echo "run.sh: could not install onnxruntime-node: $nm" >&2; exit 3
  fi
fi
export NODE_PATH="$nm"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model="$work/m.onnx"
"$mnv2" convert --synthetic 1.4 224 -o "$model" >/dev/null

# ---- correctness gate ------------------------------------------------------------------
for b in $batches; do
  "$mnv2" bench --model "$model" --threads 1 --batch "$b" --warmup 0 --iterations 1 --json \
    --dump "$work/check$b" >/dev/null
  node "$here/ort_bench.js" "$model" "$work/check$b.input.bin" "$b" 224 224 3 1 0 1 \
    "$work/check$b.ort.bin" >/dev/null
  python3 - "$work/check$b.probs.bin" "$work/check$b.ort.bin" "$b" <<'PY'
import array, sys
a = array.array('f'); b = array.array('f')
with open(sys.argv[1], 'rb') as f: a.frombytes(f.read())
with open(sys.argv[2], 'rb') as f: b.frombytes(f.read())
if len(a) != len(b) or not a:
    sys.exit(f"run.sh: output sizes differ: mnv2 {len(a)} vs ORT {len(b)} floats")
d = max(abs(x - y) for x, y in zip(a, b))
print(f"check batch {sys.argv[3]}: max |mnv2 - ORT| probability difference {d:.3g}", file=sys.stderr)
if not d <= 1e-5:
    sys.exit(f"run.sh: mnv2 and ONNX Runtime disagree (max abs diff {d:.3g} > 1e-5); not timing")
PY
done

# ---- interleaved timing ----------------------------------------------------------------
for t in $threads_list; do
  for b in $batches; do
    for r in $(seq 1 "$rounds"); do
      "$mnv2" bench --model "$model" --threads "$t" --batch "$b" --warmup "$warmup" \
        --iterations "$iterations" --json --samples >"$work/mnv2_t${t}_b${b}_r$r.json"
      node "$here/ort_bench.js" "$model" "$work/check$b.input.bin" "$b" 224 224 3 "$t" \
        "$warmup" "$iterations" >"$work/ort_t${t}_b${b}_r$r.json"
    done
  done
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$work" "$threads_list" "$batches" "$rounds" "$cpu" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(node -p "require('onnxruntime-node/package.json').version")" \
  >"$work/result.json" <<'PY'
import json, os, statistics, sys, datetime
work, tl, bl, rounds, cpu, cores, load, ortv = sys.argv[1:9]
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
        m, o, ratios = [], [], []
        for r in range(1, int(rounds) + 1):
            ms = json.load(open(f"{work}/mnv2_t{t}_b{b}_r{r}.json"))["samples_ms"]
            os_ = json.load(open(f"{work}/ort_t{t}_b{b}_r{r}.json"))["samples_ms"]
            m += ms; o += os_
            ratios.append(pct(ms, 50) / pct(os_, 50))
        sm, so = stats(m, int(b)), stats(o, int(b))
        res.append({"threads": int(t), "batch": int(b), "mnv2": sm, "ort": so,
                    "ratio_median_latency": round(sm["median_ms"] / so["median_ms"], 3),
                    "ratio_p90_latency": round(sm["p90_ms"] / so["p90_ms"], 3),
                    "ratio_throughput": round(sm["throughput_ips"] / so["throughput_ips"], 3),
                    "per_round_median_ratios": [round(x, 3) for x in ratios]})
print(json.dumps({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
                  "cpu": cpu, "cores": int(cores), "loadavg_at_end": load,
                  "model": "synthetic MobileNetV2 1.4/224 (mnv2 convert -> ONNX)",
                  "peers": {"onnxruntime-node": ortv}, "rounds": int(rounds), "results": res},
                 indent=1))
PY
cat "$work/result.json"
[[ -n "$out" ]] && cp "$work/result.json" "$out"
python3 - "$work/result.json" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{'thr':>3} {'batch':>5} | {'mnv2 med':>9} {'p90':>8} {'img/s':>7} | {'ORT med':>8} {'p90':>8} {'img/s':>7} | mnv2/ORT")
for x in r["results"]:
    m, o = x["mnv2"], x["ort"]
    print(f"{x['threads']:>3} {x['batch']:>5} | {m['median_ms']:>9.2f} {m['p90_ms']:>8.2f} {m['throughput_ips']:>7.1f} |"
          f" {o['median_ms']:>8.2f} {o['p90_ms']:>8.2f} {o['throughput_ips']:>7.1f} | {x['ratio_median_latency']:.2f}")
PY
