#!/usr/bin/env bash
# What a machine without AVX-512 sees, run on any machine: the ISA-variant tests (test_util.h)
# with AVX-512 hidden by MNV2_MAX_ISA=avx2. Passes when nothing fails, every native AVX-512
# case skips saying why, and every emulated (SIMDe-built) case runs and passes.
# Usage: without_avx512.sh MNV2_TESTS_BINARY GTEST_FILTER
set -uo pipefail
out=$(MNV2_MAX_ISA=avx2 "$1" --gtest_filter="$2" 2>&1)
rc=$?
native_skipped=$(grep -cE '^\[  SKIPPED \] [^ ]+/(w[0-9]+_)?avx512(_vnni)? ' <<<"$out")
native_ran=$(grep -cE '^\[       OK \] [^ ]+/(w[0-9]+_)?avx512(_vnni)? ' <<<"$out")
emulated_ok=$(grep -cE '^\[       OK \] [^ ]+_emu ' <<<"$out")
emulated_skipped=$(grep -cE '^\[  SKIPPED \] [^ ]+_emu ' <<<"$out")
echo "MNV2_MAX_ISA=avx2: native AVX-512 cases skipped $native_skipped (ran $native_ran)," \
     "emulated cases passed $emulated_ok (skipped $emulated_skipped), gtest exit $rc"
echo "skip reason: $(grep -m1 -A1 ': Skipped$' <<<"$out" | tail -1)"
if ((rc != 0 || native_skipped == 0 || native_ran != 0 || emulated_ok == 0 || emulated_skipped != 0)); then
  grep -E '^\[  FAILED  \]|Failure' <<<"$out" | head -40
  exit 1
fi
