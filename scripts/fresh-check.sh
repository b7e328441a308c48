#!/usr/bin/env bash
# Runs the README's two commands, as a newcomer would, each in its own brand-new Debian 12
# root (the shared tools/fresh/run-in-fresh.sh: debootstrap minbase + chroot; needs root)
# and reports both results. Run it before calling a change to the set-up done.
#   scripts/fresh-check.sh [--shared DIR] [--logs DIR] [--only quickstart|test]
# --shared: the shared folder (default ../shared, next to the repository); --logs: where the
# two full logs go (default ${TMPDIR:-/tmp}/fresh-logs). The roots clone the committed HEAD,
# so uncommitted changes are not checked.
#
# The quick start passes when it classifies the sample photo, or, where the machine cannot
# reach the model's download site, when it built build/mnv2 and stopped with `mnv2 fetch`'s
# no-network message; either way it must not have installed a test reference. The test
# command passes when it exits 0. Exit status: 0 when both pass, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared
logs=${TMPDIR:-/tmp}/fresh-logs
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shared) shared=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "fresh-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$only" in ""|quickstart|test) ;; *) echo "fresh-check: --only quickstart|test" >&2; exit 2 ;; esac
runner="$shared/tools/fresh/run-in-fresh.sh"
[[ -x "$runner" ]] || { echo "fresh-check: $runner not found (--shared DIR)" >&2; exit 2; }
[[ -z "$(git status --porcelain --untracked-files=no)" ]] ||
  echo "fresh-check: warning: uncommitted changes are not part of the check (the roots clone HEAD)" >&2
mkdir -p "$logs"
stamp="$(date +%Y%m%d-%H%M%S)-$(git rev-parse --short HEAD)"

# run NAME COMMAND: runs COMMAND in a fresh root; its log is $logs/mnv2-NAME-$stamp.log.
# The root also counts its Debian packages before and after (a "fresh-check: packages" line).
run() {
  local log="$logs/mnv2-$1-$stamp.log" rc=0
  local count='n0=$(dpkg-query -W | wc -l); ' after='; rc=$?; echo "fresh-check: packages $n0 -> $(dpkg-query -W | wc -l)"; exit $rc'
  echo "fresh-check: $1: '$2' in a fresh Debian 12 root (log: $log)" >&2
  "$runner" --log "$log" . "$shared" -- "$count$2$after" >/dev/null 2>&1 || rc=$?
  echo "$log"
  return "$rc"
}
# packages LOG: "N -> M Debian packages" in the root before and after the command.
packages() {
  grep -o 'fresh-check: packages [0-9]* -> [0-9]*' "$1" | tail -n 1 | cut -d' ' -f3- | sed 's/$/ Debian packages/' || true
}
# took LOG: the command's time, from the runner's last line ("... command took Ns, ...").
took() {
  local s
  s=$(grep -o 'command took [0-9]*s' "$1" | tail -n 1 | tr -dc 0-9)
  [[ -n "$s" ]] && printf '%dm%02ds' $((s / 60)) $((s % 60)) || echo "?"
}

status=0
summary=()
if [[ -z "$only" || "$only" == quickstart ]]; then
  rc=0; log=$(run quickstart scripts/quickstart.sh) || rc=$?
  installed=$(grep -m1 '^installing: ' "$log" | cut -d' ' -f2- || true)
  # What only the test suite needs; the quick start must not install any of it.
  refs=$(tr ' ' '\n' <<<"$installed" |
         grep -xE 'python3-torch|python3-opencv|chromium|clang|nodejs|npm|libgtest-dev|python3-pytest|wrk' |
         tr '\n' ' ' || true)
  if [[ $rc -eq 0 ]]; then
    verdict="pass: classified the sample photo"
  elif grep -q 'needs network access' "$log" && grep -q 'Built target mnv2_cli' "$log"; then
    verdict="pass: built build/mnv2, then stopped at the fetch (no network):"
    verdict+=$'\n'"    $(grep 'needs network access' "$log" | tail -n 1)"
  else
    verdict="FAIL: $(grep -v '^fresh: ' "$log" | tail -n 1)"
    status=1
  fi
  if [[ -n "$refs" ]]; then
    verdict="FAIL: installed test references: $refs"
    status=1
  fi
  summary+=("quick start (scripts/quickstart.sh): exit $rc, $(took "$log")"
            "  asked apt for $(wc -w <<<"$installed") packages (${installed:-none}); $(packages "$log") in the root"
            "  $verdict" "  log: $log")
fi
if [[ -z "$only" || "$only" == test ]]; then
  rc=0; log=$(run test scripts/test.sh) || rc=$?
  counts=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -n 1 || true)
  ctest_time=$(grep -o 'Total Test time (real) = *[0-9.]* sec' "$log" | tail -n 1 | tr -s ' ' || true)
  skipped=$(grep -cE '\*\*\*Skipped|Skipped +[0-9.]+ sec' "$log" || true)
  if [[ $rc -eq 0 ]]; then verdict=pass; else verdict=FAIL; status=1; fi
  summary+=("tests (scripts/test.sh): exit $rc, $(took "$log"), $(packages "$log") in the root; $verdict"
            "  ${counts:-no ctest summary}; ${ctest_time:-}; skipped: ${skipped:-0}")
  if [[ $rc -ne 0 ]]; then
    summary+=("  $(grep -A40 'The following tests FAILED' "$log" | grep -E '^\s+[0-9]+ - ' | tr -s ' ' | tr '\n' ';' || true)")
  fi
  summary+=("  log: $log")
fi
echo "fresh-check of $(git rev-parse --short HEAD) on debian 12 minbase roots:"
printf '%s\n' "${summary[@]}"
exit "$status"
