#!/usr/bin/env bash
# Checks the .deb the way a user meets it: builds it (scripts/package-deb.sh), then, on a
# brand-new Debian 12 root (../shared/tools/fresh/run-in-fresh.sh: debootstrap minbase +
# chroot; no compiler, no -dev packages), runs `apt-get install ./mnv2_*.deb`, which pulls
# the dependencies from the archive, and then, with the network cut (a new, empty network
# namespace) and an empty cache, `mnv2 classify --model <Coral .tflite> <photos>`, which
# must print class NAMES (the built-in table) while `mnv2 fetch` fails for want of network.
#
# Usage (as root): scripts/deb-fresh-check.sh [SHARED_DIR]   (default ../shared)
# Needs the Coral model and photos under SHARED_DIR/data/coral. The fresh root clones the
# committed HEAD of this checkout; the .deb is built from the working tree here.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=$(cd "${1:-../shared}" && pwd)
fresh=$shared/tools/fresh/run-in-fresh.sh
coral=$shared/data/coral
[[ -x "$fresh" ]] || { echo "deb-fresh-check: $fresh not found" >&2; exit 2; }
[[ -f "$coral/mobilenet_v2_1.0_224_quant.tflite" ]] || { echo "deb-fresh-check: no Coral data in $coral" >&2; exit 2; }

deb=$(scripts/package-deb.sh | tail -1)
echo "deb-fresh-check: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb -f "$deb" Depends Recommends
stage=$(mktemp -d "${TMPDIR:-/tmp}/mnv2-deb-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/coral"
cp "$deb" "$stage/"
cp "$coral/mobilenet_v2_1.0_224_quant.tflite" "$coral/cat.bmp" "$coral/parrot.jpg" "$stage/coral/"

# Inside the fresh root: run-in-fresh.sh puts $stage at shared/ in the root's home.
inner='set -euo pipefail
shared="$HOME/shared"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $shared/mnv2_*.deb >/tmp/apt.log 2>&1 ||
  { cat /tmp/apt.log; exit 1; }
echo "installed: $(dpkg-query -W -f="\${Package} \${Version} \${Architecture}" mnv2)"
for f in /usr/bin/mnv2 /usr/include/mnv2/mnv2.h /usr/lib/*/pkgconfig/mnv2.pc /usr/lib/*/cmake/mnv2/mnv2Config.cmake \
         /usr/lib/*/libmnv2.a /usr/share/bash-completion/completions/mnv2; do
  test -e $f || { echo "missing: $f"; exit 1; }; done
bash -n /usr/share/bash-completion/completions/mnv2
ls /usr/lib/*/libmnv2.so.*
ldconfig -p | grep libmnv2.so >/dev/null || { echo "libmnv2 not in the ld.so cache"; exit 1; }
mkdir -p /tmp/empty-home
offline() { unshare --net env HOME=/tmp/empty-home MNV2_HOME=/tmp/empty-home/cache "$@"; }
if offline mnv2 fetch >/tmp/fetch.log 2>&1; then echo "mnv2 fetch worked: the network is not cut"; exit 1; fi
echo "offline: mnv2 fetch fails as expected: $(grep -m1 -i -o "network[^.]*" /tmp/fetch.log || head -c 200 /tmp/fetch.log)"
offline mnv2 classify --top 3 --model $shared/coral/mobilenet_v2_1.0_224_quant.tflite \
  $shared/coral/cat.bmp $shared/coral/parrot.jpg | tee /tmp/out.txt
grep -q "Egyptian cat" /tmp/out.txt && grep -q "macaw" /tmp/out.txt ||
  { echo "FAIL: no class names in the output"; exit 1; }
test ! -e /tmp/empty-home/cache/imagenet_labels.txt
echo "deb-fresh-check: OK"'
"$fresh" . "$stage" -- "$inner"
