#!/bin/bash
# run.sh [BUILD_DIR] [meson setup options...] - the whole test suite (README's
# second command): installs what is missing, fetches the model corpus into
# the cache, builds, and runs every test verbosely.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
tests/install-deps.sh
corpus=$(tests/fetch_corpus.sh)
if [ -d "$build" ]; then
	meson configure "$build" -Dcorpus="$corpus" "$@" >/dev/null
else
	meson setup "$build" -Dcorpus="$corpus" "$@" >/dev/null
fi
ninja -C "$build" >/dev/null
meson test -C "$build" --print-errorlogs -v
