#!/usr/bin/env bash
# Builds and runs the libFuzzer target for the TF GraphDef reader with clang
# (-fsanitize=fuzzer,address,undefined), seeded with small graphs from mnv2's own writer.
# Same layout as fuzz/build.sh (the TFLite target).
#
# usage: fuzz/build_graphdef.sh [--run SECONDS] [OUT_DIR]
#   OUT_DIR defaults to build-fuzz-graphdef/ in the repository root. The corpus grows in
#   OUT_DIR/corpus (seeds in OUT_DIR/seeds); crashes are written to OUT_DIR/crashes/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=0
if [[ "${1:-}" == "--run" ]]; then
  seconds="$2"
  shift 2
fi
out="${1:-$root/build-fuzz-graphdef}"
mkdir -p "$out/seeds" "$out/corpus" "$out/crashes" "$out/obj"

cxx="$(command -v clang++ || command -v clang++-14 || true)"
[[ -n "$cxx" ]] || { echo "fuzz/build_graphdef.sh: clang++ not found" >&2; exit 2; }

srcs=(src/formats/pb_wire.cpp src/formats/tf_graphdef.cpp src/formats/tf_graphdef_writer.cpp
      src/graph/graph.cpp src/graph/mobilenet_v2.cpp src/runtime/reference.cpp)
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -I"$root/include" -I"$root/src")
cflags=("${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)

# Each source is compiled once (rebuilt when it or any header is newer), then linked with
# libFuzzer's main into fuzz_graphdef and with its own main into make_graphdef_seeds.
cd "$root"
newest_header=$(ls -t src/formats/*.h src/graph/*.h src/runtime/*.h include/mnv2/*.h | head -1)
pending=()
for f in "${srcs[@]}" fuzz/fuzz_graphdef.cpp fuzz/make_graphdef_seeds.cpp; do
  o="$out/obj/${f//\//_}.o"
  if [[ ! -f "$o" || "$f" -nt "$o" || "$newest_header" -nt "$o" ]]; then pending+=("$f"); fi
done
if ((${#pending[@]})); then
  echo "compiling ${#pending[@]} file(s) into $out/obj"
  printf '%s\n' "${pending[@]}" | xargs -P 2 -I{} sh -c \
    'f="{}"; o="$0/obj/$(echo "$f" | tr / _).o"; exec "$@" -c "$f" -o "$o"' \
    "$out" "$cxx" "${cflags[@]}"
fi
lib_objs=()
for f in "${srcs[@]}"; do lib_objs+=("$out/obj/${f//\//_}.o"); done
"$cxx" -fsanitize=fuzzer,address,undefined "$out/obj/fuzz_fuzz_graphdef.cpp.o" "${lib_objs[@]}" \
  -o "$out/fuzz_graphdef"
"$cxx" -fsanitize=address,undefined "$out/obj/fuzz_make_graphdef_seeds.cpp.o" "${lib_objs[@]}" \
  -o "$out/make_graphdef_seeds"
"$out/make_graphdef_seeds" "$out/seeds" >/dev/null

if [[ "$seconds" != 0 ]]; then
  # A single process (the machine is shared); 2 GiB RSS, a 1 GiB malloc and 10 s per input
  # are reported as bugs.
  "$out/fuzz_graphdef" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -timeout=10 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$out/crashes/" "$out/corpus" "$out/seeds"
fi
