#!/usr/bin/env bash
# The README's test command: install dependencies, build, and run every test twice: a normal build and an
# ASan+UBSan build (and the threaded tests under TSan).  Prints ctest's summary for each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
run() { # preset, extra ctest args...
  local p=$1; shift
  echo "=== $p: configure + build"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j "$jobs" >/dev/null
  echo "=== $p: ctest"
  ctest --preset "$p" -j "$jobs" "$@"
}
run dev
run asan
run tsan -L tsan
echo "test-all: every build passed"
