#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# tests/benches/plot.sh SRC BENCH - benches/e2e/plot.sh draws a hand-written results file (two units, two
# backends, a missing bar) as SVG and PNG, and a micro bench's real --json output (BENCH, run with a tiny
# budget) as SVG naming every case; it refuses bad input with a message and no output file.
# Exit 77 (skip) without gnuplot.
set -euo pipefail
src=$1 bench=$2
py=${PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)} # Debian's, not a slow shim
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot not installed (apt-get install gnuplot-nox)"; exit 77; }
plot=$src/benches/e2e/plot.sh fix=$src/tests/benches
t=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-plot-test.XXXXXX")
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The hand-written file: SVG with the title, every case and backend, one panel per unit; PNG by extension.
"$plot" "$fix/e2e-two-units.json" "$t/e2e.svg" || fail "plot.sh failed on e2e-two-units.json"
grep -q '<svg' "$t/e2e.svg" || fail "e2e.svg is not SVG"
for s in 'net-e2e: AMD EPYC, 2 cores' '2026-12-03T23:10:00Z' 'tx 64B split' 'tx 1500B packed' 'rx 64B split' \
         'cvmm-net' 'dpdk-vhost' '>Mpps<' '>Gbit/s<' 'method: hand-written fixture'; do
  grep -qF -- "$s" "$t/e2e.svg" || fail "e2e.svg lacks '$s'"
done
"$plot" "$fix/e2e-two-units.json" "$t/e2e.png" || fail "plot.sh failed to write a PNG"
[ "$(head -c 4 "$t/e2e.png" | od -An -tx1 | tr -d ' \n')" = 89504e47 ] || fail "e2e.png is not a PNG"

# 2. A micro bench's real output: every case it measured is a labelled bar.
# The note has characters JSON and gnuplot strings must escape: it comes back intact in "method".
note=$'loaded "machine" \\ tab\there'
CVMM_BENCH_MS=2 CVMM_BENCH_REPS=3 CVMM_BENCH_NOTE=$note "$bench" --json "$t/micro.json" >"$t/micro.out" ||
  fail "$bench failed"
"$py" -c 'import json, sys; m = json.load(open(sys.argv[1]))["method"]; sys.exit(not m.endswith("; " + sys.argv[2]))' \
  "$t/micro.json" "$note" || fail "the method does not end in the note: $(grep method "$t/micro.json")"
"$plot" "$t/micro.json" "$t/micro.svg" || fail "plot.sh failed on $bench's output"
n=0
while read -r _ name _; do
  grep -qF ">$name<" "$t/micro.svg" || fail "micro.svg lacks case $name"
  n=$((n + 1))
done < <(grep '^BENCH ' "$t/micro.out")
[ "$n" -gt 0 ] || fail "$bench printed no BENCH line"
grep -qF '>ns/op' "$t/micro.svg" || fail "micro.svg has no ns/op axis"

# 3. Bad input: a clear message, a non-zero exit, no output file.
refuse() { # expected-status pattern in out
  local want=$1 pat=$2 rc=0
  shift 2
  "$plot" "$@" >"$t/err" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || fail "plot.sh $* exited $rc, not $want: $(cat "$t/err")"
  grep -q -- "$pat" "$t/err" || fail "plot.sh $* did not say '$pat': $(cat "$t/err")"
  [ ! -e "${*: -1}" ] || fail "plot.sh $* left ${*: -1} behind"
}
printf '{"bench": "x", "results": [' >"$t/cut.json"
refuse 1 'not readable JSON' "$t/cut.json" "$t/cut.svg"
refuse 1 '"results" is missing, not a list, or empty' "$fix/no-results.json" "$t/empty.svg"
refuse 1 'not a finite number' "$fix/bad-median.json" "$t/nan.svg"
refuse 2 'must end in .svg or .png' "$fix/e2e-two-units.json" "$t/e2e.pdf"
rc=0
"$plot" "$fix/e2e-two-units.json" >"$t/err" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q 'plot.sh IN.json OUT.svg' "$t/err" || fail "plot.sh with one argument: status $rc, no usage"
echo "plot.sh: ok ($n cases of $(basename "$bench"))"
