#!/usr/bin/env bash
# The README's test command: install dependencies, build, and run every test twice: a normal build and an
# ASan+UBSan build (and the threaded tests under TSan).  Prints ctest's summary for each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
build() {
  echo "=== $1: configure + build"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j "$jobs" >/dev/null
}
run() { # preset: unit tests strictly, then the end-to-end tests (QEMU TCG guests, DPDK) that share the
        # two cores with a polling back-end: a timing failure there gets one more try, which ctest reports.
  build "$1"
  echo "=== $1: ctest (unit)"
  ctest --preset "$1" -j "$jobs" -LE e2e
  echo "=== $1: ctest (e2e)"
  ctest --preset "$1" -L e2e --repeat until-pass:2
}
run dev
run asan
build tsan
echo "=== tsan: ctest (threaded programs)"
ctest --preset tsan -j "$jobs" -L tsan
echo "test-all: every build passed"
