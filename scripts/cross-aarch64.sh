#!/usr/bin/env bash
# Cross-builds mnv2 for 64-bit ARM Linux (aarch64) on a Debian x86-64 host and runs tests
# under qemu-user, once per emulated CPU, so that each NEON int8 path runs:
#   max         ARMv8.x with the dot product (sdot), I8MM and BF16: the dot-product tables
#   cortex-a53  plain ARMv8.0 (Raspberry Pi 3): the smull/sadalp fallback
# Every test program enumerates the kernel tables the CPU it runs on supports (scalar and
# NEON), so one run per CPU covers the scalar and the NEON tables.
#
# Usage: scripts/cross-aarch64.sh [--no-install] [--no-test] [--all | --ci] [--cpus "max ..."]
#   --no-install  skip the package check (the cross compiler, qemu-user and the arm64 -dev
#                 packages through multiarch; installed with apt-get when missing)
#   --no-test     configure and build only
#   --all         run the whole suite on each CPU instead of the emulation subset (slow)
#   --ci          what scripts/test.sh runs: the subset without the exhaustive malformed-file
#                 tests and the fp32 network at widths above 0.35 on "max", and on
#                 "cortex-a53" only the tests whose path differs there (the int8 kernels
#                 and engine as the CPU detection picks them)
# Build folder: build-aarch64 (MNV2_CROSS_BUILD_DIR overrides). docs/arm64.md says which
# tests the subset holds and why the others do not run under emulation by default.
set -euo pipefail
cd "$(dirname "$0")/.."

install=1 test=1 all=0 ci=0
cpus="max cortex-a53"
while (($#)); do
  case "$1" in
    --no-install) install=0 ;;
    --no-test) test=0 ;;
    --all) all=1 ;;
    --ci) ci=1 ;;
    --cpus) cpus="$2"; shift ;;
    *) echo "cross-aarch64.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
build="${MNV2_CROSS_BUILD_DIR:-build-aarch64}"

if ((install)); then
  # The host tools, then the arm64 builds of the libraries libmnv2 and the tests link
  # (the architecture-free headers, nlohmann-json, come with scripts/install-deps.sh).
  host_packages=(g++-aarch64-linux-gnu qemu-user cmake pkg-config nlohmann-json3-dev)
  arm64_packages=(libjpeg-dev libpng-dev zlib1g-dev libcurl4-openssl-dev libarchive-dev libssl-dev
                  libpugixml-dev libcpp-httplib-dev libgtest-dev)
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  update=0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "cross-aarch64: enabling the arm64 architecture (multiarch)"
    $sudo dpkg --add-architecture arm64
    update=1
  fi
  missing=()
  for p in "${host_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  for p in "${arm64_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p:arm64")
  done
  if ((${#missing[@]})); then
    echo "cross-aarch64: installing ${missing[*]}"
    update=1
  fi
  if ((update)); then
    $sudo apt-get update -qq
    # Multiarch needs the amd64 and arm64 copies of a shared library at one version, so
    # this may also upgrade amd64 libraries to the archive's current version.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
  fi
fi

# The library, the CLI and the test program; the Python extension and the benchmarks are
# left out (they build natively on an ARM board, see docs/arm64.md).
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DMNV2_BUILD_PYTHON=OFF -DMNV2_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target mnv2_cli mnv2_tests
((test)) || exit 0

# The emulation subset: the kernels (fp32 and int8, every table against its scalar twin),
# the executors and their shared plan, the fused blocks, the int8 goldens and rounding
# modes, and the model formats. The x86 variants
# of the parameterized tests are left out: they would only start qemu to skip.
subset='^((Models|Isas|Widths)/)?(Kernel|QKernel|QMath|ExecutorOps|ExecutorIsas|ExecutorIsaOverride'
subset+='|ExecutorVsReference|FusedBlocks|Int8Golden|Int8Semantics|Tflite|Onnx|OpenVinoIr'
subset+='|TfGraphDef|Truncation|Plan|PlanInt8|QuantizeNativeEngines)'
x86_variants='[/_]avx(2|512)'
# The exhaustive malformed-file tests (every prefix of a file, random corruption) parse
# thousands of broken files: no kernel runs and nothing depends on the architecture (both
# are 64-bit little-endian), so CI leaves them to the native run, where they take seconds
# instead of minutes. The single malformed-file cases stay.
malformed='AtEveryLength|EveryTruncation|EveryPrefix|PrefixesOf|RandomCorruption|TruncationsFail'
malformed+='|TruncatedGraphInside'
# The OpenVINO IR fp16 round trip of the real weights (87 s on "max") runs the fp32 network
# twice over the golden photos; the half conversion is the same portable code on every
# architecture (formats/half.h), which OpenVinoIrHalf checks in a second.
malformed+='|OpenVinoIrRoundTrip[.]Fp16RealWeightsSameTop1'
# The whole fp32 network against the double reference at every width takes 1.5-3 minutes a
# width and table under emulation; the widths run the same kernels on other channel counts
# (all multiples of 8), so CI keeps the narrowest (0.35) and leaves 0.5-1.4 to the plain run.
wide='ExecutorVsReference[.].*/w(50|75|100|130|140)_'
# On "max" the neon variants run the ARMv8.0 int8 table through the tests' IsaScope and
# neon_dotprod the sdot one. On an ARMv8.0 CPU the detection itself is what differs: the
# default ISA's int8 table, and neon_dotprod skipping with the reason.
armv80='^((Models|Isas)/)?(QKernels[.].*/neon|Int8GoldenEngines[.].*_neon|Int8SemanticsEngines'
armv80+='[.].*/neon|PlanInt8[.].*/neon|Int8Golden[.]FastExecutorEqualsReference|ExecutorIsaOverride)'
run_tests() {  # CPU, then ctest filter arguments
  local cpu="$1"
  shift
  echo "cross-aarch64: tests under qemu-aarch64 -cpu $cpu"
  QEMU_CPU="$cpu" MNV2_NO_NETWORK=1 ctest --test-dir "$build" --output-on-failure \
    -j"$(nproc)" --timeout 1200 "$@"
}
if ((ci)); then
  run_tests max -R "$subset" -E "$x86_variants|$malformed|$wide"
  run_tests cortex-a53 -R "$armv80"
  exit 0
fi
filter=(-R "$subset" -E "$x86_variants")
((all)) && filter=()
for cpu in $cpus; do
  run_tests "$cpu" "${filter[@]}"
done
