#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (fuzz/README.md).  Builds the `fuzz` preset (clang, ASan+UBSan,
# guard pages) in build/fuzz, then:
#   scripts/fuzz.sh replay                       replay every target's fuzz/corpus/<t> and fuzz/regressions/<t>
#   scripts/fuzz.sh run <seconds> [target...]    fuzz each target (all by default) for <seconds>, one after the
#                                                other, from a copy of its corpus; print libFuzzer's final stats
#   scripts/fuzz.sh merge <target> <dir>...      minimise <dir>'s inputs into fuzz/corpus/<target> (-merge=1)
#   scripts/fuzz.sh list                         the targets
# Exit status: non-zero when a target crashed, leaked, hung (-timeout) or broke an invariant; the input is in
# build/fuzz/runs/<target>/ (artifact: crash-*, leak-*, timeout-*, oom-*).  CI: `scripts/fuzz.sh replay` and
# `scripts/fuzz.sh run 20` (8 targets: about 3 minutes plus the build).
# Env: FUZZ_JOBS (build parallelism, default nproc), FUZZ_NO_BUILD=1 (use the existing build/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/build/fuzz/fuzz
targets_all=(proto_msg vmem_layout vq_ring vq_rw dev_blk_rng vub_daemon dev_net blk_state)

# Per-target libFuzzer options (max input length: the stateful targets need room for sequences).
opts() {
  case $1 in
    vub_daemon|dev_net) echo "-max_len=4096 -timeout=60" ;;
    *) echo "-max_len=8192 -timeout=30" ;;
  esac
}

build() {
  [ "${FUZZ_NO_BUILD:-}" = 1 ] && return
  if ! command -v clang >/dev/null; then
    echo "fuzz.sh: clang is missing (bash scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
    exit 2
  fi
  echo "=== fuzz: configure + build (build/fuzz)"
  cmake --preset fuzz >/dev/null
  # Only the targets (and the libraries they link), not the device programs.
  cmake --build --preset fuzz -j "${FUZZ_JOBS:-$(nproc)}" --target "${targets_all[@]/#/fuzz-}" >/dev/null
}

present() { # the targets that were built (a component may be absent)
  for t in "$@"; do
    if [ -x "$bin/fuzz-$t" ]; then echo "$t"; else echo "fuzz.sh: no target $t in build/fuzz, skipped" >&2; fi
  done
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

replay() {
  local failed=0 t
  for t in $(present "${targets_all[@]}"); do
    local files=()
    for d in fuzz/corpus/$t fuzz/regressions/$t; do
      [ -d "$d" ] && while IFS= read -r f; do files+=("$f"); done < <(find "$d" -type f ! -name '*.md' | sort)
    done
    if [ ${#files[@]} -eq 0 ]; then echo "=== $t: no inputs"; continue; fi
    local log=$root/build/fuzz/replay-$t.log
    # libFuzzer runs file arguments once each (no fuzzing); xargs splits very long lists.
    if printf '%s\0' "${files[@]}" | xargs -0 "$bin/fuzz-$t" $(opts "$t") >"$log" 2>&1; then
      echo "=== $t: replayed ${#files[@]} inputs: ok"
    else
      echo "=== $t: replay FAILED (${#files[@]} inputs), log $log:"
      grep -E "invariant|ERROR|SUMMARY|Running:" "$log" | tail -20
      failed=1
    fi
  done
  return $failed
}

run() {
  local secs=$1; shift
  local list=("$@") failed=0 t
  [ ${#list[@]} -eq 0 ] && list=("${targets_all[@]}")
  for t in $(present "${list[@]}"); do
    local work=$root/build/fuzz/runs/$t
    mkdir -p "$work/corpus"
    [ -d fuzz/corpus/$t ] && cp -n fuzz/corpus/$t/* "$work/corpus/" 2>/dev/null || true
    local seeds=()
    [ -d fuzz/regressions/$t ] && seeds+=("$root/fuzz/regressions/$t")
    echo "=== $t: fuzzing for ${secs}s (corpus $work/corpus)"
    if (cd "$work" && "$bin/fuzz-$t" $(opts "$t") -max_total_time="$secs" -print_final_stats=1 \
          -artifact_prefix="$work/" corpus "${seeds[@]}" >"$work/log" 2>&1); then
      grep -E "^#[0-9]+.*(DONE|pulse)" "$work/log" | tail -1
      grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" "$work/log"
    else
      echo "=== $t: FAILED, log $work/log"
      grep -E "invariant|ERROR|SUMMARY|Test unit written|artifact" "$work/log" | tail -20
      failed=1
    fi
  done
  return $failed
}

merge() {
  local t=$1; shift
  mkdir -p fuzz/corpus/$t
  "$bin/fuzz-$t" $(opts "$t") -merge=1 fuzz/corpus/$t "$@"
}

case ${1:-} in
  replay) build; replay ;;
  run) [ $# -ge 2 ] || { echo "usage: $0 run <seconds> [target...]" >&2; exit 2; }
       secs=$2; shift 2; build; run "$secs" "$@" ;;
  merge) [ $# -ge 3 ] || { echo "usage: $0 merge <target> <dir>..." >&2; exit 2; }
         shift; build; merge "$@" ;;
  list) printf '%s\n' "${targets_all[@]}" ;;
  *) echo "usage: $0 replay | run <seconds> [target...] | merge <target> <dir>... | list" >&2; exit 2 ;;
esac
