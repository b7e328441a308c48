#!/usr/bin/env bash
# One command for the performance report: sweeps `mnv2 bench` over threads, batch and
# streams, takes the per-layer profile, runs the peer comparison and draws the plot.
#
#   bench/sweep.sh [--mnv2 PATH] [--out DIR] [--iterations N] [--repeats R]
#                  [--peers "ort opencv xnnpack" | --no-peers] [--peer-rounds R] [--quick]
#
# Writes into DIR (default bench-results/):
#   sweep.json       mnv2 only, synthetic 1.4/224: batch-1 latency for 1..cores threads,
#                    throughput for batch 1,2,4,8,16 and for 1,2,4 streams (batch 1) at all
#                    cores; every configuration R times (default 3), all runs kept
#   per_layer.json   `mnv2 bench --per-layer --threads 1` (the docs' per-layer table)
#   per_layer.txt    the same as a text table (a second run)
#   per_layer.md     bench/per_layer_table.py of per_layer.json: the docs' Markdown tables
#   mem_bw.json      build/bench/mem_bw --json (triad bandwidth by working set and threads)
#   fma_peak.txt     build/bench/fma_peak (both only when those targets are built)
#   peers.json       bench/peers/run.sh --threads "1..cores" --batches "1 8"
#   performance.png  bench/plot.py of the above (python3-matplotlib, installed with apt-get
#                    when missing: bench-only)
# The load average is recorded before and after each part: on a shared machine the numbers
# move with it. --quick: 0.35/96-sized smoke run of the whole pipeline (a minute or two).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mnv2="$root/build/mnv2"
out="bench-results"
iterations=50
repeats=3
peers="ort opencv xnnpack"
peer_rounds=5
quick=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mnv2) mnv2=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --no-peers) peers=""; shift ;;
    --peer-rounds) peer_rounds=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "sweep.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$mnv2" ]] || { echo "sweep.sh: $mnv2 not built (cmake --build build)" >&2; exit 2; }
py=/usr/bin/python3
[[ -x $py ]] || py=python3
mkdir -p "$out"
cores=$(nproc)
model=(--synthetic 1.4 224)
batches="1 2 4 8 16"
streams="1 2 4"
peer_iter=20
if [[ -n "$quick" ]]; then
  model=(--synthetic 0.35 96); iterations=5; repeats=1; batches="1 4"; streams="1 2"
  peer_rounds=1; peer_iter=3
fi
load() { cut -d' ' -f1 /proc/loadavg; }

runs="$out/.runs"
rm -rf "$runs"; mkdir -p "$runs"
load0=$(load)
echo "sweep.sh: threads 1..$cores, batches $batches, streams $streams, $repeats repeat(s), load $load0" >&2
for r in $(seq 1 "$repeats"); do
  for t in $(seq 1 "$cores"); do
    "$mnv2" bench "${model[@]}" --threads "$t" --iterations "$iterations" --json \
      >"$runs/threads_t${t}_r$r.json"
  done
  for b in $batches; do
    "$mnv2" bench "${model[@]}" --threads "$cores" --batch "$b" \
      --iterations $(( (iterations + b - 1) / b + 2 )) --json >"$runs/batch_b${b}_r$r.json"
  done
  for s in $streams; do
    "$mnv2" bench "${model[@]}" --threads "$cores" --streams "$s" --iterations "$iterations" \
      --json >"$runs/streams_s${s}_r$r.json"
  done
done
load1=$(load)
"$mnv2" bench "${model[@]}" --threads 1 --iterations "$iterations" --per-layer --json \
  >"$out/per_layer.json"
"$mnv2" bench "${model[@]}" --threads 1 --iterations "$iterations" --per-layer >"$out/per_layer.txt"
$py "$here/per_layer_table.py" "$out/per_layer.json" >"$out/per_layer.md"
load2=$(load)
membw="$(dirname "$mnv2")/bench/mem_bw"
if [[ -x "$membw" ]]; then "$membw" --json >"$out/mem_bw.json"; fi
fma="$(dirname "$mnv2")/bench/fma_peak"
if [[ -x "$fma" ]]; then "$fma" >"$out/fma_peak.txt"; fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
$py - "$runs" "$out/sweep.json" "$cpu" "$cores" "$load0 $load1 $load2" "${model[*]}" <<'PY'
import datetime, glob, json, os, sys
runs, dst, cpu, cores, loads, model = sys.argv[1:7]
def collect(prefix, key):
    rows = {}
    for f in sorted(glob.glob(os.path.join(runs, prefix + "_*.json"))):
        j = json.load(open(f))
        rows.setdefault(j[key], []).append(j)
    return [{key: k, "runs": v} for k, v in sorted(rows.items())]
json.dump({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
           "cpu": cpu, "cores": int(cores), "model": model,
           "loadavg_1min": {"start": loads.split()[0], "after_sweep": loads.split()[1],
                            "after_per_layer": loads.split()[2]},
           "latency_vs_threads": collect("threads", "threads"),
           "throughput_vs_batch": collect("batch", "batch"),
           "throughput_vs_streams": collect("streams", "streams")},
          open(dst, "w"), indent=1)
PY
rm -rf "$runs"
if [[ -n "$peers" ]]; then
  if [[ -n "$quick" ]]; then pb="1"; else pb="1 8"; fi
  "$here/peers/run.sh" --mnv2 "$mnv2" --peers "$peers" --threads "$(seq -s ' ' 1 "$cores")" \
    --batches "$pb" --rounds "$peer_rounds" --iterations "$peer_iter" --out "$out/peers.json" >/dev/null
fi
if ! $py -c 'import matplotlib' 2>/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "sweep.sh: apt-get install python3-matplotlib (for the plot only)" >&2
    apt-get install -y --no-install-recommends python3-matplotlib >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends python3-matplotlib >/dev/null 2>&1; } || true
  fi
fi
peers_json=()
[[ -f "$out/peers.json" && -n "$peers" ]] && peers_json=(--peers "$out/peers.json")
$py "$here/plot.py" --sweep "$out/sweep.json" "${peers_json[@]}" -o "$out/performance.png"
echo "sweep.sh: wrote $out/sweep.json $out/per_layer.json $out/per_layer.txt $out/per_layer.md ${peers_json[1]:-} $out/performance.png" >&2
