#!/usr/bin/env bash
# Builds (and optionally runs) every libFuzzer target fuzz/fuzz_*.cpp with clang
# (-fsanitize=fuzzer,address,undefined), each seeded with small models from mnv2's own
# writers (fuzz_NAME by fuzz/seed_NAME.cpp): the four model loaders, the image decoders and the
# HTTP request parser of `mnv2 serve`.
#
# usage: fuzz/build.sh [--run SECONDS] [--only TARGET] [OUT_DIR]
#   OUT_DIR defaults to build-fuzz/ in the repository root. Per target, the corpus grows in
#   OUT_DIR/TARGET/corpus (seeds in OUT_DIR/TARGET/seeds); crashes go to
#   OUT_DIR/TARGET/crashes/. --run gives every target (or only TARGET) SECONDS, one after
#   the other; fuzz/TARGET.dict is passed as -dict when it exists, and the inputs in
#   fuzz/regressions/TARGET/ (each once found a bug) are replayed with the corpus.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=0
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) break ;;
  esac
done
out="${1:-$root/build-fuzz}"
mkdir -p "$out"

cxx="$(command -v clang++ || command -v clang++-14 || true)"
# Exit code 77 (ctest's "skipped") when the toolchain cannot build fuzzers at all.
[[ -n "$cxx" ]] || { echo "fuzz/build.sh: clang++ not found" >&2; exit 77; }
probe="$out/probe"
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  > "$probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe.cpp" -o "$probe" 2>"$probe.log"; then
  echo "fuzz/build.sh: $cxx cannot link -fsanitize=fuzzer (install libclang-rt-dev):" >&2
  cat "$probe.log" >&2
  exit 77
fi

cd "$root"
# The loaders (src/formats, one translation each), the graph layer they hand over to
# (src/graph, with the passes) and what the targets run on a loaded graph.
srcs=($(ls src/formats/*.cpp src/graph/*.cpp src/graph/passes/*.cpp)
      src/image/decode.cpp src/runtime/reference.cpp src/runtime/qreference.cpp
      src/quant/quantize.cpp src/quant/calibration.cpp src/image/preprocess.cpp
      src/server/http_message.cpp src/util/classify_json.cpp src/util/labels.cpp)
libs=(-lpugixml -ljpeg -lpng -lz)
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -I"$root/include" -I"$root/src")

targets=()
for f in fuzz/fuzz_*.cpp; do
  name=$(basename "$f" .cpp)
  [[ -z "$only" || "$only" == "$name" ]] && targets+=("$name")
done
((${#targets[@]})) || { echo "fuzz/build.sh: no target '$only'" >&2; exit 2; }
seeder() { echo "fuzz/seed_${1#fuzz_}.cpp"; }

# Every source is compiled once with coverage instrumentation and both sanitizers (object
# files are rebuilt only when the source or any header is newer), then linked with
# libFuzzer's main into each target and with each seed writer's own main.
newest_header=$(ls -t src/formats/*.h src/graph/*.h src/graph/passes/*.h src/runtime/*.h src/image/*.h src/quant/*.h src/kernels/qmath.h src/server/*.h src/util/*.h fuzz/*.h include/mnv2/*.h | head -1)
cflags=("${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
units=("${srcs[@]}")
for t in "${targets[@]}"; do units+=("fuzz/$t.cpp" "$(seeder "$t")"); done
pending=()
for f in "${units[@]}"; do
  o="$out/obj/${f//\//_}.o"
  if [[ ! -f "$o" || "$f" -nt "$o" || "$newest_header" -nt "$o" ]]; then pending+=("$f"); fi
done
mkdir -p "$out/obj"
if ((${#pending[@]})); then
  echo "compiling ${#pending[@]} file(s) into $out/obj"
  printf '%s\n' "${pending[@]}" | xargs -P 2 -I{} sh -c \
    'f="{}"; o="$0/obj/$(echo "$f" | tr / _).o"; exec "$@" -c "$f" -o "$o"' \
    "$out" "$cxx" "${cflags[@]}"
fi
lib_objs=()
for f in "${srcs[@]}"; do lib_objs+=("$out/obj/${f//\//_}.o"); done

for t in "${targets[@]}"; do
  s=$(seeder "$t")
  mkdir -p "$out/$t/seeds" "$out/$t/corpus" "$out/$t/crashes"
  "$cxx" -fsanitize=fuzzer,address,undefined "$out/obj/fuzz_$t.cpp.o" "${lib_objs[@]}" \
    "${libs[@]}" -o "$out/$t/$t"
  "$cxx" -fsanitize=address,undefined "$out/obj/${s//\//_}.o" "${lib_objs[@]}" "${libs[@]}" \
    -o "$out/$t/make_seeds"
  "$out/$t/make_seeds" "$out/$t/seeds" >/dev/null
done

if [[ "$seconds" != 0 ]]; then
  for t in "${targets[@]}"; do
    dict=()
    [[ -f "fuzz/$t.dict" ]] && dict=(-dict="fuzz/$t.dict")
    # Inputs that once found a bug are replayed first (read-only: libFuzzer adds new
    # inputs to the first directory only).
    regress=()
    [[ -d "fuzz/regressions/$t" ]] && regress=("fuzz/regressions/$t")
    # A single process (the machine is shared); 2 GiB RSS, a 1 GiB malloc and 10 s per
    # input are reported as bugs.
    echo "fuzzing $t for $seconds s"
    "$out/$t/$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -timeout=10 -max_len=65536 -print_final_stats=1 "${dict[@]}" \
      -artifact_prefix="$out/$t/crashes/" "$out/$t/corpus" "$out/$t/seeds" "${regress[@]}"
  done
fi
