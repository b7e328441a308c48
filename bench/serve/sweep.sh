#!/usr/bin/env bash
# Concurrency sweep for `mnv2 serve` with wrk (Debian package `wrk`): for each batching
# setting and each client count, a fixed-duration load run; prints one RESULT line per run
# plus the server's RSS before and after (it must stay flat).
#
#   bench/serve/sweep.sh IMAGE [MODEL_ARGS...]
#   e.g. bench/serve/sweep.sh photo.jpg --model mobilenet_v2_1.4_224.tflite
# Environment: DURATION (default 20s), CLIENTS ("1 8 16 32"), BATCHES ("1 16"),
#   MODE (classify|kserve), MNV2 (path to the mnv2 binary, default build/mnv2), PORT (18080).
set -euo pipefail
image=${1:?usage: sweep.sh IMAGE [MODEL_ARGS...]}
shift
mnv2=${MNV2:-build/mnv2}
port=${PORT:-18080}
duration=${DURATION:-20s}
clients=${CLIENTS:-"1 8 16 32"}
batches=${BATCHES:-"1 16"}
mode=${MODE:-classify}
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

for b in $batches; do
  "$mnv2" serve "$@" --name mnv2 --port "$port" --max-batch "$b" --batch-timeout-us 2000 --quiet \
    --max-queue 4096 2>/tmp/mnv2-serve-bench.log &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break; sleep 0.2; done
  # Warm-up, then the measured runs.
  MNV2_IMAGE=$image MNV2_MODE=$mode wrk -t2 -c4 -d3s -s "$here/post_image.lua" "http://127.0.0.1:$port" >/dev/null
  echo "max_batch=$b rss_start_kb=$(rss_kb $pid)"
  for c in $clients; do
    t=$(( c < 2 ? 1 : 2 ))
    out=$(MNV2_IMAGE=$image MNV2_MODE=$mode wrk -t"$t" -c"$c" -d"$duration" --timeout 30s \
          -s "$here/post_image.lua" "http://127.0.0.1:$port")
    echo "max_batch=$b clients=$c $(grep '^RESULT' <<<"$out")"
  done
  echo "max_batch=$b rss_end_kb=$(rss_kb $pid)"
  curl -s "http://127.0.0.1:$port/metrics" | grep -E '^mnv2_batch_size_(sum|count)' || true
  kill -TERM $pid
  wait $pid || true
  trap - EXIT
done
