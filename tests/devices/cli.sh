#!/usr/bin/env bash
# cli.sh - the back-end program conventions of cvmm-blk and cvmm-rng, without a guest:
# --print-capabilities prints valid JSON and exits 0; --help exits 0; bad command lines and start-up
# failures print one clear message on stderr and exit non-zero; SIGTERM ends a listening back-end at once
# with status 0; --fd serves an inherited listening socket; the discovery files are valid JSON.
# Usage: cli.sh BLK_BIN RNG_BIN [BUILD_DIR]     Exit status 0 pass, 1 fail.
set -euo pipefail
BLK=${1:?cli.sh BLK_BIN RNG_BIN [BUILD_DIR]} RNG=${2:?} BUILD=${3:-}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0
fail() { echo "cli: FAIL $*"; exit 1; }
ok() { n=$((n + 1)); echo "cli: ok $*"; }

json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null; }

# expect_fail WHAT REGEX CMD...: CMD exits non-zero and its stderr matches REGEX (one line, no crash).
expect_fail() {
    local what=$1 re=$2 rc=0; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
    [ "$rc" != 0 ] || fail "$what: exit status 0"
    [ "$rc" -lt 128 ] || fail "$what: killed by a signal (status $rc): $(cat "$TMP/err")"
    grep -qE -- "$re" "$TMP/err" || fail "$what: stderr does not match /$re/: $(cat "$TMP/err")"
    ! grep -qE 'Sanitizer|runtime error' "$TMP/err" || fail "$what: sanitizer report"
    ok "$what -> status $rc: $(head -n 1 "$TMP/err")"
}

# start_and_term CMD...: the back-end listens on $TMP/s.sock; SIGTERM ends it with status 0 (bounds of 30 s
# catch a hang, not a slow start on a loaded machine).
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

truncate -s 1M "$TMP/disk.img"
truncate -s 100 "$TMP/tiny.img"

for b in "$BLK" "$RNG"; do
    "$b" --print-capabilities >"$TMP/caps" || fail "$b --print-capabilities: status $?"
    json_ok <"$TMP/caps" || fail "$b --print-capabilities: not JSON: $(cat "$TMP/caps")"
    ok "$(basename "$b") --print-capabilities: $(tr -d ' \n' <"$TMP/caps")"
    "$b" --print-capabilities --bogus-ignored >/dev/null || fail "$b: --print-capabilities must ignore other options"
    "$b" --help >/dev/null || fail "$b --help: status $?"
    expect_fail "$(basename "$b") unknown option" "unknown option" "$b" --bogus
    expect_fail "$(basename "$b") no socket" "socket-path" "$b"
    expect_fail "$(basename "$b") --socket-path with --fd" "incompatible" "$b" --socket-path="$TMP/x" --fd=3
    expect_fail "$(basename "$b") bad --fd" "fd" "$b" --fd=abc
done
grep -q '"block"' < <("$BLK" --print-capabilities) || fail "cvmm-blk type is not block"
grep -q '"read-only"' < <("$BLK" --print-capabilities) || fail "cvmm-blk does not list read-only"
grep -q '"rng"' < <("$RNG" --print-capabilities) || fail "cvmm-rng type is not rng"

expect_fail "cvmm-blk without --blk-file" "blk-file" "$BLK" --socket-path="$TMP/s.sock"
expect_fail "cvmm-blk missing file" "cannot open .*No such file" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/none"
expect_fail "cvmm-blk directory" "Is a directory|neither a regular file nor a block device" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP"
expect_fail "cvmm-blk tiny file" "smaller than one sector" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/tiny.img"
expect_fail "cvmm-blk --num-queues=0" "num-queues" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --num-queues=0
expect_fail "cvmm-blk --num-queues=x" "num-queues" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --num-queues=x
expect_fail "cvmm-blk --queue-size=100" "queue-size" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --queue-size=100
expect_fail "cvmm-blk --read-only=1" "takes no value" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --read-only=1
expect_fail "cvmm-blk socket in a missing dir" "cannot serve" "$BLK" --socket-path="$TMP/nodir/s.sock" --blk-file="$TMP/disk.img"
expect_fail "cvmm-blk --aio=posix" "aio" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --aio=posix
expect_fail "cvmm-blk --queue-depth=0" "queue-depth" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --queue-depth=0
expect_fail "cvmm-rng --fd not a socket" "cannot serve" "$RNG" --fd=0
[ "$(stat -c %s "$TMP/disk.img")" = 1048576 ] || fail "the disk image changed size"

start_and_term "cvmm-blk" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --num-queues=4
start_and_term "cvmm-blk --read-only" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --read-only
start_and_term "cvmm-blk --aio=sync" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --aio=sync
start_and_term "cvmm-blk --queue-depth=8" "$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --queue-depth=8
start_and_term "cvmm-rng" "$RNG" --socket-path="$TMP/s.sock"

# threads_of CMD...: how many threads the back-end has once it listens on $TMP/s.sock (its workers exist by
# then), then SIGTERM.
threads_of() {
    rm -f "$TMP/s.sock"
    "$@" </dev/null >"$TMP/be.log" 2>&1 &
    local pid=$! t
    for _ in $(seq 600); do [ -S "$TMP/s.sock" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    [ -S "$TMP/s.sock" ] || { cat "$TMP/be.log"; fail "$*: no socket"; }
    t=$(find /proc/"$pid"/task -mindepth 1 -maxdepth 1 | wc -l)
    kill -TERM "$pid"
    wait "$pid" || fail "$*: status $? after SIGTERM"
    echo "$t"
}
# cvmm-blk's default workers: one per queue, no more than the CPUs it may run on (taskset).
blk4=("$BLK" --socket-path="$TMP/s.sock" --blk-file="$TMP/disk.img" --num-queues=4)
one_cpu=$(taskset -pc $$ | sed 's/.*: //; s/[,-].*//')
pinned=$(threads_of taskset -c "$one_cpu" "${blk4[@]}")
pinned4=$(threads_of taskset -c "$one_cpu" "${blk4[@]}" --workers=4)
[ $((pinned4 - pinned)) = 3 ] || fail "cvmm-blk on one CPU: $pinned threads, $pinned4 with --workers=4 (want 3 fewer workers)"
ok "cvmm-blk with 4 queues pinned to one CPU runs 1 worker by default ($pinned threads; --workers=4: $pinned4)"
cpus=$(nproc)
if [ "$cpus" -ge 2 ]; then
    free=$(threads_of "${blk4[@]}")
    want=$((cpus < 4 ? cpus : 4))
    [ $((free - pinned)) = $((want - 1)) ] || fail "cvmm-blk on $cpus CPUs: $free threads, $pinned on one (want $want workers)"
    ok "cvmm-blk with 4 queues on $cpus CPUs runs $want workers by default ($free threads)"
fi
# --fd: a listening socket inherited as fd 3 (python makes it, then execs the back-end).
rm -f "$TMP/s.sock"
python3 - "$RNG" "$TMP/s.sock" <<'PY' >"$TMP/fd.log" 2>&1 &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[2]); s.listen(1)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.execv(sys.argv[1], [sys.argv[1], "--fd=3"])
PY
pid=$!
for _ in $(seq 600); do [ -S "$TMP/s.sock" ] && break; sleep 0.05; done
# The socket exists before python execs the back-end: a GET_FEATURES answered (30 s at most) says cvmm-rng
# serves it (a fixed sleep here let SIGTERM reach python on a loaded machine).
python3 - "$TMP/s.sock" <<'PY' || { cat "$TMP/fd.log"; fail "cvmm-rng --fd=3 does not serve the socket"; }
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 1, 1, 0))  # GET_FEATURES, version 1
r = b""
while len(r) < 20:
    c = s.recv(20 - len(r))
    assert c, "connection closed"
    r += c
req, flags, size = struct.unpack("<III", r[:12])
assert req == 1 and flags & 4 and size == 8, (req, flags, size)
s.close()
PY
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$TMP/fd.log"; fail "cvmm-rng --fd=3: status $rc after SIGTERM"; }
ok "cvmm-rng --fd=3 serves an inherited listening socket and exits 0 on SIGTERM"

if [ -n "$BUILD" ]; then
    for f in "$BUILD"/devices/blk/50-cvmm-blk.json "$BUILD"/devices/rng/50-cvmm-rng.json; do
        json_ok <"$f" || fail "$f is not JSON"
        python3 - "$f" <<'PY' || fail "$f does not follow vhost-user.json"
import json, sys, os
d = json.load(open(sys.argv[1]))
assert set(d) <= {"description", "type", "binary", "tags"}, d
assert d["type"] in ("block", "rng") and os.path.isabs(d["binary"]) and isinstance(d["description"], str)
PY
        ok "discovery file $(basename "$f"): $(tr -d '\n' <"$f" | tr -s ' ')"
    done
fi
echo "cli: PASS ($n checks)"
