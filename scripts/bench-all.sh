#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# bench-all.sh - every benchmark in one command: builds Release, runs the four micro benches pinned to one
# CPU with JSON output, then the end-to-end benches that exist (benches/e2e/net.sh, blk.sh), and draws a
# plot of each results file (benches/e2e/plot.sh) into OUTDIR.  benches/results/README.md says what comes out.
#
# usage: scripts/bench-all.sh [options] OUTDIR
#   --smoke          every case once, very briefly (CI): micro benches with a 2 ms budget and 3 repetitions,
#                    e2e benches with their own --smoke; fails only when a case measured nothing or a bench
#                    failed, never on speed
#   --build-dir DIR  the Release build to make and use (default: build/bench-all; an existing Release
#                    build such as build/release keeps its settings, only the benches' targets are built)
#   --no-build       use DIR as it is (it must hold the bench binaries)
#   --cpu N          the CPU the micro benches are pinned to (default 1; 0 on a one-CPU machine)
#   --note TEXT      appended to the micro benches' method sentence, e.g. "loaded machine (load1 ~6)"
#   --no-e2e         the micro benches only
# Writes OUTDIR/<bench>-<YYYY-MM-DD>.{json,svg} (and .txt, the micro benches' BENCH lines).
# Exit: 0; 1 a bench failed or measured nothing; 2 usage.  A skipped e2e bench (77: DPDK or
# qemu-storage-daemon missing) is reported, not a failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '7,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
py=${PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)} # Debian's, not a slow shim

smoke=0 build=$root/build/bench-all do_build=1 cpu="" note="" e2e=1 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) smoke=1; shift ;;
    --build-dir) build=${2:?}; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --cpu) cpu=${2:?}; shift 2 ;;
    --note) note=${2?}; shift 2 ;;
    --no-e2e) e2e=0; shift ;;
    -h|--help) usage ;;
    -*) echo "bench-all.sh: unknown option $1" >&2; usage ;;
    *) [ -z "$out" ] || usage; out=$1; shift ;;
  esac
done
[ -n "$out" ] || usage
if [ -z "$cpu" ]; then cpu=$([ "$(nproc)" -gt 1 ] && echo 1 || echo 0); fi
[[ $cpu =~ ^[0-9]+$ ]] || { echo "bench-all.sh: --cpu wants a CPU number: $cpu" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
t0=$(date +%s) day=$(date -u +%F)
stamp() { echo "=== bench-all [$(($(date +%s) - t0))s] $*"; }
failed=() skipped=() written=()

if [ "$do_build" = 1 ]; then
  stamp "Release build in $build"
  if [ -f "$build/CMakeCache.txt" ]; then # an existing build (e.g. build/release): keep its settings
    grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt" ||
      { echo "bench-all.sh: $build is not a Release build" >&2; exit 2; }
    grep -q '^CVMM_SANITIZE:STRING=.' "$build/CMakeCache.txt" &&
      { echo "bench-all.sh: $build has sanitizers on" >&2; exit 2; }
  else
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCVMM_SANITIZE= -DCVMM_BUILD_TESTS=OFF >/dev/null
  fi
  targets=(bench-vm-memory bench-virtio-queue bench-vhost-user-proto bench-vhost-user-backend)
  if [ "$e2e" = 1 ] && [ -f "$root/benches/e2e/net.sh" ]; then targets+=(cvmm-net); fi
  if [ "$e2e" = 1 ] && [ -f "$root/benches/e2e/blk.sh" ]; then targets+=(cvmm-blk bench-blk-driver); fi
  cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null
fi

# plot JSON: draw JSON's plot beside it (a missing gnuplot is reported, not a failure).
plot() {
  local rc=0
  "$root/benches/e2e/plot.sh" "$1" "${1%.json}.svg" || rc=$?
  case $rc in
    0) written+=("${1%.json}.svg") ;;
    3) skipped+=("plot of $(basename "$1") (no gnuplot)") ;;
    *) failed+=("plot of $(basename "$1")") ;;
  esac
}

for lib in vm-memory virtio-queue vhost-user-proto vhost-user-backend; do
  bin=$build/benches/bench-$lib base=$out/micro-$lib-$day
  [ -x "$bin" ] || { failed+=("bench-$lib (not built in $build)"); continue; }
  stamp "bench-$lib pinned to CPU $cpu"
  rc=0
  if [ "$smoke" = 1 ]; then
    CVMM_BENCH_MS=2 CVMM_BENCH_REPS=3 CVMM_BENCH_NOTE="$note" taskset -c "$cpu" "$bin" --json "$base.json" \
      >"$base.txt" || rc=$?
  else
    CVMM_BENCH_NOTE="$note" taskset -c "$cpu" "$bin" --json "$base.json" >"$base.txt" || rc=$?
  fi
  cat "$base.txt"
  if [ "$rc" != 0 ]; then
    failed+=("bench-$lib (exit $rc)")
  elif ! "$py" "$root/benches/check-json.py" --bench-lines "$base.txt" --nonzero "$base.json"; then
    failed+=("bench-$lib (results file)")
  else
    written+=("$base.json" "$base.txt")
    plot "$base.json"
  fi
done

# e2e NAME SCRIPT ARGS...: an end-to-end bench that exists, with --json/--plot (and --smoke).
e2e() {
  local name=$1 script=$2 rc=0
  shift 2
  [ -f "$script" ] || { skipped+=("$name (no $(basename "$script") yet)"); return; }
  local base=$out/$name-$day
  stamp "$name: $(basename "$script")"
  if [ "$smoke" = 1 ]; then set -- --smoke "$@"; fi
  bash "$script" "$@" --json "$base.json" --plot "$base.svg" || rc=$?
  case $rc in
    0) written+=("$base.json" "$base.svg") ;;
    77) skipped+=("$name (its dependencies are missing: exit 77)") ;;
    *) failed+=("$name (exit $rc)") ;;
  esac
}
if [ "$e2e" = 1 ]; then
  e2e net-e2e "$root/benches/e2e/net.sh" --bin "$build/devices/net/cvmm-net"
  e2e blk-e2e "$root/benches/e2e/blk.sh" --bin "$build/devices/blk/cvmm-blk" --driver "$build/benches/bench-blk-driver"
fi

stamp "done"
for f in ${written[@]+"${written[@]}"}; do echo "  wrote $f"; done
for s in ${skipped[@]+"${skipped[@]}"}; do echo "  skipped: $s"; done
for f in ${failed[@]+"${failed[@]}"}; do echo "  FAILED: $f" >&2; done
[ ${#failed[@]} -eq 0 ]
