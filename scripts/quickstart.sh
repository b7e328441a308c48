#!/usr/bin/env bash
# The main job on a fresh machine: install what building and running need (no test
# references), build the mnv2 command, fetch the official model and a sample photo
# (checksums pinned), and classify the photo. Without network it stops at the fetch with
# one message saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --cli
scripts/build.sh --cli
sample=$(build/mnv2 fetch --sample)
build/mnv2 classify "$sample" "$@"
