#!/usr/bin/env bash
# The README's test command: install dependencies, build, and run every test and gate:
#   dev    normal build: unit tests strictly, then the end-to-end tests (QEMU 7.2 guests, DPDK)
#   asan   ASan+UBSan build: the same
#   tsan   the threaded programs under ThreadSanitizer
#   docs   the Doxygen API reference, which must build without a warning
#   static gcc -fanalyzer, cppcheck and clang-tidy with zero findings (scripts/static-analysis.sh)
#   coverage  per-library line and branch coverage of the unit tests, gated (scripts/coverage.sh)
#   fuzz   every libFuzzer target replays its corpus and runs a short while (scripts/fuzz.sh)
# Prints ctest's summary for each build and a line per gate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
t0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - t0 ))s] $*"; }
build() {
  stamp "$1: configure + build"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j "$jobs" >/dev/null
}
run() { # preset [ctest args]: the unit tests, then the end-to-end tests (QEMU TCG guests, DPDK). No test is
        # retried: each must pass on its first run, also on a loaded machine (waits are bounded on events).
  local p=$1
  shift
  build "$p"
  stamp "$p: ctest (unit)"
  ctest --preset "$p" -j "$jobs" -LE e2e
  stamp "$p: ctest (e2e)"
  ctest --preset "$p" -L e2e "$@"
}
run dev -LE e2e-ref-long # the crash/migration flows against qemu-storage-daemon: by hand (ctest -L e2e-ref-long)
stamp "docs: Doxygen API reference"
cmake --build --preset dev --target docs
# The crash and migration tests (minutes each) run in the dev build only; the e2e-ref tests run third-party
# back-ends (qemu-storage-daemon, DPDK, QEMU's own) with no cvmm code in them: once, in the dev build, is enough.
run asan -LE 'e2e-long|e2e-ref'
build tsan
stamp "tsan: ctest (threaded programs)"
ctest --preset tsan -j "$jobs" -L tsan
stamp "static analysis"
bash scripts/static-analysis.sh
stamp "coverage gate"
bash scripts/coverage.sh
stamp "fuzz: replay the corpora, then 20 s per target"
bash scripts/fuzz.sh replay
FUZZ_NO_BUILD=1 bash scripts/fuzz.sh run 20
stamp "test-all: every build and gate passed"
