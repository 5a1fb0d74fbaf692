#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# tests/benches/check-json.sh SRC - benches/check-json.py accepts good results files and rejects each kind
# of bad one with its own message: a BENCH line without a result and the reverse, figures that differ from
# the BENCH line, a case twice, min/median/max out of order, NaN, a date that is not UTC, a missing machine
# field, and (with --nonzero) a case that measured nothing.
set -euo pipefail
src=$1
py=${PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)} # Debian's, not a slow shim
chk=$src/benches/check-json.py fix=$src/tests/benches
t=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-check-json.XXXXXX")
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$py" "$chk" --bench-lines "$fix/micro.out" --nonzero "$fix/micro.json" || fail "micro.json was refused"
"$py" "$chk" --nonzero "$fix/e2e-two-units.json" || fail "e2e-two-units.json was refused"

# refused NAME PATTERN PYTHON [OUT-SED [FLAGS...]]: micro.json edited by the statement PYTHON (on d, its
# parsed form) and micro.out by OUT-SED must be refused with a message containing PATTERN.
refused() {
  local name=$1 pat=$2 stmt=$3 os=${4:-} rc=0
  shift $(($# < 4 ? $# : 4))
  "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
sys.stdout.write(json.dumps(d, indent=1))' "$fix/micro.json" "$stmt" >"$t/$name.json"
  sed "$os" "$fix/micro.out" >"$t/$name.out"
  "$py" "$chk" --bench-lines "$t/$name.out" "$@" "$t/$name.json" 2>"$t/$name.err" || rc=$?
  [ "$rc" = 1 ] || fail "$name: exit status $rc, not 1"
  grep -qF -- "$pat" "$t/$name.err" || fail "$name: no '$pat' in: $(cat "$t/$name.err")"
}
r0='d["results"][0]' r1='d["results"][1]'
refused missing-result 'BENCH line vq_reader_4k has no result in the JSON' 'd["results"].pop()'
refused missing-line 'JSON result vq_reader_4k has no BENCH line' 'pass' '/vq_reader_4k/d'
refused differs 'vq_split_chain128: JSON median/min/max' "$r0[\"median\"] = $r0[\"runs\"][0] = 598.25"
refused twice 'case and backend appear twice' "$r1[\"case\"] = \"vq_split_chain128\""
refused order 'not min <= median <= max' "$r1[\"median\"] = 61.5"
refused runs 'min/max do not match "runs"' "$r1[\"runs\"][0] = 59.0"
refused nan 'NaN is not a JSON number' "$r1[\"median\"] = float(\"nan\")"
refused date '"date" is missing or not UTC' 'd["date"] = "2026-12-03T22:13:43+01:00"'
refused machine '"machine.cores" is missing or not a positive integer' 'd["machine"]["cores"] = "2"'
refused unit 'vq_reader_4k: unit is' "$r1[\"unit\"] = \"us/op\""
refused no-runs '"runs" is missing, empty' "$r1[\"runs\"] = []"
refused zero 'median is 0, nothing was measured' "$r1.update(median=0, min=0, max=0, runs=[0, 0, 0])" \
  's/60.31 ns\/op min=59.90 max=60.40/0.00 ns\/op min=0.00 max=0.00/' --nonzero
echo "check-json.sh: ok"
