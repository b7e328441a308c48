#!/usr/bin/env bash
# Measures the `mnv2 eval` pipeline against `mnv2 bench` at the same threads and batch,
# and the pipeline's peak memory on many small images. Used for docs/accuracy.md.
#
#   bench/eval_pipeline.sh [MNV2_BINARY] [WORK_DIR]
#
# Makes its own images (smooth random content, JPEG quality 90) with Python + numpy +
# OpenCV (Debian: python3-numpy python3-opencv; set PYTHON to pick the interpreter):
#   imagenet_like/  N_LARGE (default 300) images of 500x375, the typical ImageNet val size
#   small/          5000 images of 64x48, for the memory check
# Environment: MODEL (default: --synthetic 1.4 224, the flagship topology; random weights
# cost the same time as real ones), CONFIGS (default "1:1 2:8", threads:batch pairs),
# PREPROCESS (default omz), N_LARGE.
set -euo pipefail

mnv2=${1:-build/mnv2}
work=${2:-${TMPDIR:-/tmp}/mnv2_eval_pipeline}
py=${PYTHON:-python3}
model=${MODEL:---synthetic 1.4 224}
configs=${CONFIGS:-1:1 2:8}
pre=${PREPROCESS:-omz}
n_large=${N_LARGE:-300}
mkdir -p "$work"

if [[ ! -f "$work/imagenet_like.txt" || ! -f "$work/small.txt" ]]; then
  echo "making test images in $work ..." >&2
  "$py" - "$work" "$n_large" <<'EOF'
import os, sys
import numpy as np, cv2
work, n_large = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
def make(name, n, w, h, classes):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    rows = []
    for i in range(n):
        small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
        img = np.clip(img + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
        f = f"img_{i:05d}.jpg"
        cv2.imwrite(os.path.join(d, f), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        rows.append(f"{f} {i % classes}\n")
    with open(d + ".txt", "w") as out:
        out.writelines(rows)
make("imagenet_like", n_large, 500, 375, 1000)
make("small", 5000, 64, 48, 10)
EOF
fi

# `--synthetic W R` takes its resolution from the first positional argument, so the model
# arguments go before the dataset.
echo "model: $model, preprocess $pre, $(nproc) cores"
printf "%-8s %-6s %-14s %-14s %-10s %-12s %-12s\n" threads batch bench_img/s eval_img/s ratio decode_ms/img wait_s
for c in $configs; do
  t=${c%%:*} b=${c##*:}
  bench=$("$mnv2" bench $model --threads "$t" --batch "$b" --warmup 2 --iterations $((60 / b + 5)) --json)
  ev=$("$mnv2" eval $model "$work/imagenet_like" --labels-file "$work/imagenet_like.txt" \
        --label-offset 0 --threads "$t" --batch "$b" --decode-threads 1 --preprocess "$pre" \
        --quiet --json)
  bips=$(sed -E 's/.*"throughput_ips":([0-9.]+).*/\1/' <<<"$bench")
  eips=$(sed -E 's/.*"images_per_s":([0-9.]+).*/\1/' <<<"$ev")
  dms=$(sed -E 's/.*"decode_ms_per_image":([0-9.]+).*/\1/' <<<"$ev")
  wait=$(sed -E 's/.*"decode_wait_s":([0-9.]+).*/\1/' <<<"$ev")
  printf "%-8s %-6s %-14s %-14s %-10s %-12s %-12s\n" "$t" "$b" "$bips" "$eips" \
    "$(awk -v a="$eips" -v b="$bips" 'BEGIN{printf "%.2f", a/b}')" "$dms" "$wait"
done

echo
echo "peak RSS, --synthetic 0.35 96 --classes 10, batch 8, 2 decode threads:"
for n in 500 5000; do
  ev=$("$mnv2" eval --synthetic 0.35 96 "$work/small" --labels-file "$work/small.txt" --classes 10 \
        --threads 1 --batch 8 --decode-threads 2 --limit "$n" --quiet --json)
  echo "  $n images: peak RSS $(sed -E 's/.*"peak_rss_mib":([0-9.]+).*/\1/' <<<"$ev") MiB," \
       "batch queue $(sed -E 's/.*"queue_mib":([0-9.]+).*/\1/' <<<"$ev") MiB"
done
