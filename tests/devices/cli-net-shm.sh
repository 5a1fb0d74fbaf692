#!/usr/bin/env bash
# cli-net-shm.sh - the back-end program conventions of cvmm-net and cvmm-shm, without a guest:
# --print-capabilities prints JSON and exits 0 (ignoring other options); --help exits 0; bad command lines
# and start-up failures print a clear message on stderr and exit 1; SIGTERM ends a serving back-end at once
# with status 0 (cvmm-net prints its counters); the net discovery file follows vhost-user.json.
# Usage: cli-net-shm.sh NET_BIN SHM_BIN [BUILD_DIR]     Exit status 0 pass, 1 fail.
set -euo pipefail
NET=${1:?cli-net-shm.sh NET_BIN SHM_BIN [BUILD_DIR]} SHM=${2:?} BUILD=${3:-}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-cli-ns.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0
fail() { echo "cli-net-shm: FAIL $*"; exit 1; }
ok() { n=$((n + 1)); echo "cli-net-shm: ok $*"; }
json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null; }

# expect_fail WHAT REGEX CMD...: CMD exits 1 and its stderr matches REGEX (no crash, no sanitizer report).
expect_fail() {
    local what=$1 re=$2 rc=0; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
    [ "$rc" = 1 ] || fail "$what: exit status $rc (expected 1): $(cat "$TMP/err")"
    grep -qE -- "$re" "$TMP/err" || fail "$what: stderr does not match /$re/: $(cat "$TMP/err")"
    ! grep -qE 'Sanitizer|runtime error' "$TMP/err" || fail "$what: sanitizer report"
    ok "$what -> $(tail -n 1 "$TMP/err")"
}

# start_and_term WHAT CMD...: the back-end listens on $TMP/s.sock; SIGTERM ends it with status 0 (bounds of
# 30 s catch a hang, not a slow start on a loaded machine).
start_and_term() {
    local what=$1; shift
    rm -f "$TMP/s.sock"
    "$@" </dev/null >"$TMP/be.log" 2>&1 &
    local pid=$!
    for _ in $(seq 600); do [ -S "$TMP/s.sock" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    [ -S "$TMP/s.sock" ] || { cat "$TMP/be.log"; fail "$what: no socket"; }
    kill -TERM "$pid"
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; fail "$what: still running 30 s after SIGTERM"; }
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || { cat "$TMP/be.log"; fail "$what: status $rc after SIGTERM"; }
    ! grep -qE 'Sanitizer|runtime error' "$TMP/be.log" || { cat "$TMP/be.log"; fail "$what: sanitizer report"; }
    ok "$what: exits 0 on SIGTERM"
}

for b in "$NET" "$SHM"; do
    name=$(basename "$b")
    "$b" --print-capabilities --bogus-ignored >"$TMP/caps" || fail "$name --print-capabilities: status $?"
    json_ok <"$TMP/caps" || fail "$name --print-capabilities: not JSON: $(cat "$TMP/caps")"
    ok "$name --print-capabilities: $(tr -d ' \n' <"$TMP/caps")"
    "$b" --help >/dev/null || fail "$name --help: status $?"
    expect_fail "$name unknown option" "unknown option" "$b" --bogus
    expect_fail "$name no socket" "socket-path" "$b"
done
caps=$("$NET" --print-capabilities)
grep -q '"type": "net"' <<<"$caps" || fail "cvmm-net type is not net: $caps"

S=--socket-path=$TMP/s.sock
expect_fail "cvmm-net without --tap or --sink" "exactly one of --tap=NAME or --sink" "$NET" "$S"
expect_fail "cvmm-net with --tap and --sink" "exactly one of --tap=NAME or --sink" "$NET" "$S" --tap=tap0 --sink
expect_fail "cvmm-net --tap=" "bad value for --tap" "$NET" "$S" --tap=
expect_fail "cvmm-net --queue-pairs=0" "bad value for --queue-pairs" "$NET" "$S" --sink --queue-pairs=0
expect_fail "cvmm-net --queue-pairs=129" "bad value for --queue-pairs" "$NET" "$S" --sink --queue-pairs=129
expect_fail "cvmm-net --queue-pairs=x" "bad value for --queue-pairs" "$NET" "$S" --sink --queue-pairs=x
expect_fail "cvmm-net --mac multicast" "bad value for --mac" "$NET" "$S" --sink --mac=01:00:5e:00:00:01
expect_fail "cvmm-net --mac short" "bad value for --mac" "$NET" "$S" --sink --mac=52:54:00:00:00
expect_fail "cvmm-net --mtu=10" "bad value for --mtu" "$NET" "$S" --sink --mtu=10
expect_fail "cvmm-net --sink=1" "takes no value" "$NET" "$S" --sink=1
expect_fail "cvmm-net --offloads=yes" "bad value for --offloads" "$NET" "$S" --sink --offloads=yes
expect_fail "cvmm-net --source=13" "bad value for --source" "$NET" "$S" --source=13
expect_fail "cvmm-net --source=65536" "bad value for --source" "$NET" "$S" --source=65536
expect_fail "cvmm-net with --tap and --source" "exactly one of --tap=NAME or --sink" "$NET" "$S" --tap=tap0 --source=64
expect_fail "cvmm-net tap name too long" "cannot open tap" "$NET" "$S" --tap=abcdefghijklmnopq
if [ -w /dev/net/tun ]; then
    # lo exists and is no tap: TUNSETIFF refuses it
    expect_fail "cvmm-net --tap=lo" "cannot open tap lo" "$NET" "$S" --tap=lo
fi
expect_fail "cvmm-net socket in a missing dir" "cannot serve" "$NET" --socket-path="$TMP/nodir/s.sock" --sink
expect_fail "cvmm-net --fd not a socket" "cannot serve" "$NET" --fd=0 --sink

expect_fail "cvmm-shm without --shm" "at least one --shm" "$SHM" "$S"
expect_fail "cvmm-shm odd size" "bad value for --shm" "$SHM" "$S" --shm=0:1000
expect_fail "cvmm-shm shmid 256" "bad value for --shm" "$SHM" "$S" --shm=256:4K
expect_fail "cvmm-shm region twice" "declared twice" "$SHM" "$S" --shm=3:4K --shm=3:8K
expect_fail "cvmm-shm control in a missing dir" "cannot listen on --control" "$SHM" "$S" --shm=0:4K \
    --control="$TMP/nodir/ctl"

start_and_term "cvmm-net --sink" "$NET" "$S" --sink
grep -q '^cvmm-net: sink tx_packets=0 ' "$TMP/be.log" || fail "cvmm-net --sink printed no counters: $(cat "$TMP/be.log")"
start_and_term "cvmm-net --sink --queue-pairs=4 --workers=2" "$NET" "$S" --sink --queue-pairs=4 --workers=2
start_and_term "cvmm-net --source=64" "$NET" "$S" --source=64
grep -q '^cvmm-net: source tx_packets=0 .* rx_packets=0 ' "$TMP/be.log" || fail "cvmm-net --source printed no counters: $(cat "$TMP/be.log")"
start_and_term "cvmm-shm" "$SHM" "$S" --shm=0:2M --shm=7:64K --control="$TMP/ctl"
[ ! -e "$TMP/ctl" ] || fail "cvmm-shm left its control socket behind"

if [ -n "$BUILD" ]; then
    f=$BUILD/devices/net/50-cvmm-net.json
    python3 - "$f" <<'PY' || fail "$f does not follow vhost-user.json"
import json, sys, os
d = json.load(open(sys.argv[1]))
assert set(d) <= {"description", "type", "binary", "tags"}, d
assert d["type"] == "net" and os.path.isabs(d["binary"]) and d["binary"].endswith("/cvmm-net"), d
PY
    ok "discovery file $(basename "$f"): $(tr -d '\n' <"$f" | tr -s ' ')"
fi
echo "cli-net-shm: PASS ($n checks)"
