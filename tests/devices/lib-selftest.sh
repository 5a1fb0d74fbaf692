#!/usr/bin/env bash
# shellcheck disable=SC2016  # the case bodies are expanded by the case script, not here
# lib-selftest.sh - checks that lib.sh's helpers fail when they must and always clean up: each case is a
# tiny e2e script with a known outcome (exit status + a line it must print), run in its own process;
# afterwards its temp dir, its network namespaces and its processes must be gone.
# Back-ends used: qemu-storage-daemon (a real listening vhost-user socket) wrapped in bash to fake a
# bad exit status or a sanitizer report; one case boots the guest (the guest-image fixture).
# Prints "ok|FAIL CASE" per case and last "N passed, N failed". Exit 0 if all passed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H=${CVMM_HARNESS:-$HERE/../harness}
if [ ! -x "$H/run-guest.sh" ]; then
    echo "lib-selftest: SKIP the vhost-user test harness is absent ($H)"
    exit 77
fi
# shellcheck disable=SC2034,SC1091  # H_NAME is read by common.sh
( H_NAME=lib-selftest; . "$H/common.sh"; h_pkgs qemu-system-common )   # qemu-storage-daemon
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-e2e-selftest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
pass=0 fail=0

# A fake back-end: qemu-storage-daemon serving a scratch disk on SOCK (a real listening vhost-user
# socket), which prints MSG first and exits with status RC on SIGTERM.
cat >"$WORK/fakebe.sh" <<'FAKE'
# fakebe.sh SOCK RC [MSG]
[ -z "${3:-}" ] || echo "$3"
truncate -s 1M "$1.img"
qemu-storage-daemon --blockdev "driver=file,node-name=d,filename=$1.img" \
    --export "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=$1,writable=on" &
c=$!
trap 'kill $c; wait $c; exit '"$2" TERM
wait
FAKE
FAKEBE="bash $WORK/fakebe.sh"

# check NAME WANT_RC WANT_REGEX BODY: run BODY after sourcing lib.sh, expect exit status WANT_RC and a
# line matching WANT_REGEX, then no leftovers.
check() {
    local name=$1 want_rc=$2 want_re=$3 body=$4 rc=0 tmp ok=1 why=""
    printf '. %q\n%s\n' "$HERE/lib.sh" "$body" >"$WORK/case.sh"
    bash "$WORK/case.sh" >"$WORK/out" 2>&1 || rc=$?
    [ "$rc" = "$want_rc" ] || { ok=0; why="exit status $rc, expected $want_rc"; }
    grep -qE -- "$want_re" "$WORK/out" || { ok=0; why="$why; no line /$want_re/"; }
    tmp=$(sed -n 's/.*temp dir \([^,]*\),.*/\1/p' "$WORK/out" | head -n 1)
    if [ -n "$tmp" ]; then
        [ ! -e "$tmp" ] || { ok=0; why="$why; $tmp left behind"; }
        sleep 0.2
        ! pgrep -f -- "$tmp" >/dev/null || { ok=0; why="$why; processes left: $(pgrep -af -- "$tmp" | head -n 3)"; }
    fi
    if command -v ip >/dev/null && ip netns list 2>/dev/null | grep -q "^cvmm-e2e-"; then
        if ip netns list | grep -q "^cvmm-e2e-$(sed -n 's/.*network namespace cvmm-e2e-\([0-9]*\)-.*/\1/p' "$WORK/out" | head -n 1)-"; then
            ok=0; why="$why; network namespace left behind"
        fi
    fi
    if [ "$ok" = 1 ]; then
        echo "ok $name"; pass=$((pass + 1))
    else
        echo "FAIL $name: ${why#; }"; sed 's/^/    /' "$WORK/out"; fail=$((fail + 1))
    fi
}

check harness-absent 77 'SKIP the vhost-user test harness is absent' '
CVMM_HARNESS=/nonexistent e2e_init t'

check backend-exits-early 1 'FAIL back-end be exited with status 7 before it was ready' '
e2e_init t
e2e_backend_start be "$E2E_TMP/s.sock" bash -c "exit 7"'

check backend-never-ready 1 'FAIL back-end be not ready after 1s' '
e2e_init t
e2e_backend_start --ready-timeout 1 be "$E2E_TMP/s.sock" sleep 30'

check backend-bad-exit-on-sigterm 1 'FAIL back-end be exited with status 3 on SIGTERM' "
e2e_init t
e2e_backend_start be \"\$E2E_TMP/s.sock\" $FAKEBE \"\$E2E_TMP/s.sock\" 3
E2E_GUEST_RC=0
e2e_finish"

check backend-sanitizer-report 1 'FAIL back-end be printed a sanitizer report' "
e2e_init t
e2e_backend_start be \"\$E2E_TMP/s.sock\" $FAKEBE \"\$E2E_TMP/s.sock\" 0 '==1==ERROR: AddressSanitizer: heap-use-after-free'
E2E_GUEST_RC=0
e2e_finish"

check backend-restart 0 'PASS' "
e2e_init t
e2e_backend_start be \"\$E2E_TMP/s.sock\" $FAKEBE \"\$E2E_TMP/s.sock\" 0
p1=\$(e2e_backend_pid be)
e2e_backend_restart be --between true
[ \"\$(e2e_backend_pid be)\" != \"\$p1\" ] || e2e_fail 'same pid after restart'
E2E_GUEST_RC=0
e2e_finish"

check guest-fails 1 'FAIL guest script exit status 1 \(blk: FAIL size 2048 sectors, expected 4096\)' "
e2e_init t
e2e_backend_start be \"\$E2E_TMP/s.sock\" $FAKEBE \"\$E2E_TMP/s.sock\" 0
e2e_boot --blk \"\$E2E_TMP/s.sock\" --script \"\$E2E_GUEST_SCRIPTS/blk.sh\" --append blk_sectors=4096
e2e_expect '^blk: FAIL'
e2e_finish"

check console-missing-line 1 'FAIL the guest ended \(status 0\) before printing /NEVER-PRINTED/' "
e2e_init t
e2e_boot_bg --cmd 'echo hello'
e2e_wait_console NEVER-PRINTED 60"

if [ "$(id -u)" = 0 ] && ip netns add "cvmm-e2e-probe-$$" 2>/dev/null; then
    ip netns del "cvmm-e2e-probe-$$"
    check netns-removed-on-failure 1 'FAIL on purpose' '
e2e_init t
e2e_netns_create NS
e2e_netns_tap "$NS" tap0 192.0.2.1/24
e2e_netns_exec "$NS" ip -br addr show tap0
e2e_fail "on purpose"'
else
    echo "skip netns-removed-on-failure (needs root and ip netns)"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
