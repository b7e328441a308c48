#!/usr/bin/env bash
# The installed tree works for a user: `cmake --install` into a temporary prefix, then a
# tiny program (classify_photo.cpp) is built against it twice, through find_package(mnv2)
# (shared and static) and through pkg-config (shared, -std=c++17), and each classifies a
# photo with the Coral MobileNetV2 (1001 classes), printing the built-in class names. The
# bash completion must be installed, the same as `mnv2 completion bash` prints.
# Also checks that the installed CMake and pkg-config interface of libmnv2 names none of the
# CLI's own dependencies (curl, archive, httplib, json, ssl/crypto).
#
#   tests/consumer/run.sh BUILD_DIR CXX
# Data: $MNV2_TEST_DATA, else $MNV2_DEFAULT_TEST_DATA (ctest sets it). Without the Coral
# data everything is still built and linked; the classification is skipped (exit 77).
set -euo pipefail
build=$(cd "$1" && pwd)
cxx=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mnv2-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
pc=$(find "$prefix" -name mnv2.pc)
config=$(find "$prefix" -name mnv2Config.cmake)
[[ -n "$pc" && -n "$config" ]] || fail "mnv2.pc / mnv2Config.cmake not installed"
for f in "$prefix/bin/mnv2" "$prefix/include/mnv2/mnv2.h"; do [[ -e "$f" ]] || fail "$f not installed"; done
completion=$prefix/share/bash-completion/completions/mnv2
[[ -f "$completion" ]] || fail "$completion (bash completion) not installed"
cmp -s "$completion" <("$prefix/bin/mnv2" completion bash) || fail "$completion differs from \`mnv2 completion bash\`"
ls "$(dirname "$pc")"/../libmnv2.so.* "$(dirname "$pc")"/../libmnv2.a >/dev/null || fail "libmnv2 (shared and static) not installed"
if grep -n -i -E 'curl|archive|httplib|json|ssl|crypto' "$pc" "$(dirname "$config")"/*.cmake; then
  fail "the installed libmnv2 interface names a dependency of the CLI only (above)"
fi
echo "installed into $prefix; libmnv2's interface: $(grep '^Libs' "$pc" | tr '\n' ' ')"

# 1. find_package(mnv2): mnv2::mnv2 (shared) and mnv2::mnv2_static.
cmake -S "$here" -B "$tmp/cmake" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "configure via find_package"; }
cmake --build "$tmp/cmake" -j2 >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build via find_package"; }
# 2. pkg-config, as a Makefile would (C++17: the header asks for no more).
export PKG_CONFIG_PATH=$(dirname "$pc")
read -r -a pcflags <<<"$(pkg-config --cflags --libs mnv2)"
libdir=$(pkg-config --variable=libdir mnv2)
"$cxx" -std=c++17 -O1 "$here/classify_photo.cpp" "${pcflags[@]}" -Wl,-rpath,"$libdir" \
  -o "$tmp/classify_photo_pc" || fail "build via pkg-config"

# The shared builds load the installed libmnv2, not the build tree's.
# (ldd's output is read whole before grep: `ldd | grep -q` under pipefail fails at random when
# grep stops at the first match and ldd dies of SIGPIPE.)
for exe in "$tmp/cmake/classify_photo" "$tmp/classify_photo_pc"; do
  libs=$(ldd "$exe")
  grep -q "$prefix/.*libmnv2\.so" <<<"$libs" || { echo "$libs"; fail "$exe does not load $prefix's libmnv2"; }
done
libs=$(ldd "$tmp/cmake/classify_photo_static")
grep -q libmnv2 <<<"$libs" && fail "the static build loads libmnv2.so"

data=${MNV2_TEST_DATA:-${MNV2_DEFAULT_TEST_DATA:-}}
model=$data/coral/mobilenet_v2_1.0_224_quant.tflite
photo=$data/coral/cat.bmp
if [[ -z "$data" || ! -f "$model" || ! -f "$photo" ]]; then
  echo "SKIP: built and linked against the installed tree; classification skipped: the Coral"
  echo "model and photos are not there (set MNV2_TEST_DATA to the shared data folder)"
  exit 77
fi
# No cache and no network are involved: the names are the library's own.
export MNV2_HOME=$tmp/no-cache
for exe in "$tmp/cmake/classify_photo" "$tmp/cmake/classify_photo_static" "$tmp/classify_photo_pc"; do
  out=$("$exe" "$model" "$photo") || fail "$exe exited with $?"
  echo "$(basename "$exe"): $(head -1 <<<"$out")"
  # cat.bmp: 286 Egyptian cat (libcoral's test expectation), named by the built-in table.
  [[ $(head -1 <<<"$out") == $'286\t'*$'\tEgyptian cat' ]] || { echo "$out"; fail "$exe: top-1 is not 286 Egyptian cat"; }
  grep -q $'^run: 286\tEgyptian cat$' <<<"$out" || { echo "$out"; fail "$exe: run() path disagrees"; }
done
echo "OK"
