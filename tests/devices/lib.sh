# shellcheck shell=bash
# lib.sh - helpers for cvmm's end-to-end tests: a vhost-user back-end process serving a real Linux guest
# under QEMU, through the project's harness in tests/harness (guest-image.sh, run-guest.sh, dpdk-*.sh). Sourced by the
# tests/devices/e2e-*.sh scripts, never run directly.
#
# A test is a few lines:
#   . "$(dirname "$0")/lib.sh"
#   e2e_init rng                                     # temp dir, cleanup trap, harness + guest checks
#   e2e_backend_start rng "$E2E_TMP/rng.sock" "$CVMM_RNG" --socket-path="$E2E_TMP/rng.sock"
#   e2e_boot --rng "$E2E_TMP/rng.sock" --script "$E2E_GUEST_SCRIPTS/rng.sh" --append rng_bytes=4096
#   e2e_expect '^rng: PASS'
#   e2e_finish                                       # guest exit 0, back-ends exit 0 on SIGTERM -> PASS
#
# Conventions:
# * Every helper prints "[  1.23s] e2e NAME: ..." progress lines on stdout; the guest console is echoed
#   with a "  guest| " prefix. The last line is "e2e NAME: PASS (..s)" or "e2e NAME: FAIL <why> (..s)".
# * Exit status: 0 pass, 1 fail, 77 skip (ctest SKIP_RETURN_CODE 77). Any failing helper exits at once;
#   the EXIT trap then stops the guest and the back-ends (SIGTERM, then SIGKILL after 30 s), deletes the
#   network namespaces it made, and removes $E2E_TMP.
# * Environment: CVMM_HARNESS (default: <repo>/tests/harness), CVMM_GUEST_DIR (default:
#   $TMPDIR/cvmm-guest, built with guest-image.sh if missing; ctest points it at <build>/guest, made
#   once by the guest-image fixture), CVMM_E2E_TIMEOUT (QEMU time limit in s, default 150),
#   CVMM_E2E_KEEP=1 (keep $E2E_TMP for a post-mortem).
# * All addresses are TEST-NET-1 (RFC 5737, 192.0.2.0/24) inside network namespaces the test made, or a
#   vhost-user socket: no frame reaches a real network.
# Globals set for the caller: E2E_NAME, E2E_TMP (private temp dir), E2E_CONSOLE (console log of the last
# boot), E2E_GUEST_RC (exit status of the last boot: the guest script's; 124 timeout; 125 QEMU died),
# E2E_GUEST_SCRIPTS (tests/devices/guest), E2E_HARNESS, E2E_GUEST.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
E2E_GUEST_SCRIPTS=$E2E_DIR/guest
E2E_NAME=e2e
E2E_TMP=""
E2E_T0=$EPOCHREALTIME
E2E_GUEST_RC=""
E2E_CONSOLE=""
E2E_RUNPID=""          # run-guest.sh of the guest running in the background, if any
E2E__RC=0              # exit status from e2e__be_kill
E2E_NETNS=()           # namespaces to delete at exit
E2E_ATEXIT=()          # commands to run at exit (e2e_on_exit)
declare -gA E2E_BE_PID=() E2E_BE_SOCK=() E2E_BE_NS=() E2E_BE_CMD=() E2E_BE_LOG=() E2E_BE_READY=()
declare -gA E2E_BE_NRUN=()
# shellcheck source=lib-sandbox.sh
. "$E2E_DIR/lib-sandbox.sh"   # every device of ours runs sandboxed: checked at start, while serving, at stop

# ---- messages -------------------------------------------------------------------------------------

e2e__elapsed() { awk -v a="$E2E_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# e2e_log MSG...: one progress line.
e2e_log() { printf '[%7ss] e2e %s: %s\n' "$(e2e__elapsed)" "$E2E_NAME" "$*"; }

# e2e_fail WHY...: print the logs worth seeing, the FAIL line, and exit 1 (the trap cleans up).
e2e_fail() {
    local n
    for n in "${!E2E_BE_LOG[@]}"; do
        if [ -s "${E2E_BE_LOG[$n]}" ]; then
            echo "---- back-end $n: last lines of its output ----"
            tail -n 40 "${E2E_BE_LOG[$n]}" | sed 's/^/  be| /'
        fi
    done
    printf 'e2e %s: FAIL %s (%ss)\n' "$E2E_NAME" "$*" "$(e2e__elapsed)"
    exit 1
}

# e2e_skip WHY...: print the SKIP line and exit 77.
e2e_skip() {
    printf 'e2e %s: SKIP %s\n' "$E2E_NAME" "$*"
    exit 77
}

# ---- set-up and clean-up --------------------------------------------------------------------------

# e2e_init NAME: private temp dir, EXIT trap, harness and guest image. Skips (77) if the harness is
# absent; builds the guest image if CVMM_GUEST_DIR has none.
e2e_init() {
    E2E_NAME=${1:?e2e_init NAME}
    set -euo pipefail
    E2E_HARNESS=${CVMM_HARNESS:-$E2E_DIR/../harness}
    if [ ! -x "$E2E_HARNESS/run-guest.sh" ]; then
        e2e_skip "the vhost-user test harness is absent (looked for $E2E_HARNESS/run-guest.sh;" \
                 "CVMM_HARNESS points elsewhere)"
    fi
    E2E_HARNESS=$(cd "$E2E_HARNESS" && pwd)
    E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-e2e-$E2E_NAME.XXXXXX")
    trap e2e__cleanup EXIT
    trap 'printf "e2e %s: FAIL interrupted (SIGINT)\n" "$E2E_NAME"; exit 130' INT
    trap 'printf "e2e %s: FAIL interrupted (SIGTERM, e.g. the ctest timeout)\n" "$E2E_NAME"; exit 143' TERM
    E2E_GUEST=${CVMM_GUEST_DIR:-${TMPDIR:-/tmp}/cvmm-guest}
    if [ ! -f "$E2E_GUEST/initramfs.cpio.gz" ] || { [ ! -f "$E2E_GUEST/vmlinux" ] && [ ! -f "$E2E_GUEST/vmlinuz" ]; }; then
        e2e_log "building the guest image in $E2E_GUEST"
        "$E2E_HARNESS/guest-image.sh" "$E2E_GUEST" >"$E2E_TMP/guest-image.log" 2>&1 ||
            { cat "$E2E_TMP/guest-image.log"; e2e_fail "guest-image.sh failed"; }
    fi
    e2e_log "temp dir $E2E_TMP, guest $E2E_GUEST ($(cat "$E2E_GUEST/kernel-version" 2>/dev/null || echo '?'))"
}

e2e__cleanup() {
    local rc=$? n ns
    trap - EXIT INT TERM
    set +e
    if [ -n "$E2E_RUNPID" ] && kill -0 "$E2E_RUNPID" 2>/dev/null; then
        kill -TERM "$E2E_RUNPID" 2>/dev/null
        wait "$E2E_RUNPID" 2>/dev/null
    fi
    for n in "${!E2E_BE_PID[@]}"; do
        e2e__be_kill "$n"
    done
    for ns in ${E2E_NETNS[@]+"${E2E_NETNS[@]}"}; do
        ip netns del "$ns" 2>/dev/null
    done
    for n in ${E2E_ATEXIT[@]+"${E2E_ATEXIT[@]}"}; do
        eval "$n"
    done
    if [ -n "$E2E_TMP" ]; then
        if [ "${CVMM_E2E_KEEP:-0}" = 1 ]; then echo "e2e $E2E_NAME: kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
    fi
    exit "$rc"
}

# e2e_on_exit 'CMD': run shell command CMD at exit, after the guest and the back-ends are stopped.
e2e_on_exit() { E2E_ATEXIT+=("${1:?}"); }

# e2e_need_pkgs PKG...: install the Debian packages that are missing, quietly (the harness's h_pkgs;
# CVMM_HARNESS_NO_APT=1 turns installing off, and a missing package is then a failure).
e2e_need_pkgs() {
    # shellcheck disable=SC2034,SC1091  # H_NAME is read by common.sh
    ( H_NAME="e2e $E2E_NAME"; . "$E2E_HARNESS/common.sh"; h_pkgs "$@" ) ||
        e2e_fail "missing packages: $*"
}

# e2e_need_netns: skip (77) unless this process may create network namespaces and tap devices.
e2e_need_netns() {
    [ "$(id -u)" = 0 ] || e2e_skip "network namespaces and taps need root"
    command -v ip >/dev/null || e2e_skip "no ip (iproute2)"
    [ -c /dev/net/tun ] || e2e_skip "no /dev/net/tun"
    local probe=cvmm-e2e-probe-$$
    ip netns add "$probe" 2>/dev/null || e2e_skip "ip netns add is not permitted here"
    ip netns del "$probe"
}

# ---- back-ends ------------------------------------------------------------------------------------

# e2e_backend_start [--netns NS] [--ready REGEX] [--ready-timeout S] NAME SOCK CMD [ARGS...]
# Starts CMD in the background (stdin /dev/null, stdout+stderr to $E2E_TMP/NAME.log), in network
# namespace NS if given (`ip netns exec NS CMD`), and waits until it is ready: until SOCK is a unix socket
# that the process listens on (SOCK "-" when the back-end is the client and connects to QEMU), and until
# its output matches REGEX if given. Fails if the process exits first or is not ready after S seconds
# (default 30). The command is remembered for e2e_backend_restart.
e2e_backend_start() {
    local ns="" ready="" rto=30
    while [ $# -gt 0 ]; do
        case "$1" in
            --netns) ns=${2:?}; shift 2 ;;
            --ready) ready=${2:?}; shift 2 ;;
            --ready-timeout) rto=${2:?}; shift 2 ;;
            *) break ;;
        esac
    done
    local name=${1:?e2e_backend_start NAME SOCK CMD...} sock=${2:?} ; shift 2
    [ $# -gt 0 ] || e2e_fail "e2e_backend_start $name: no command"
    [ -z "${E2E_BE_PID[$name]:-}" ] || e2e_fail "back-end $name is already running"
    E2E_BE_SOCK[$name]=$sock
    E2E_BE_NS[$name]=$ns
    E2E_BE_READY[$name]=$ready
    E2E_BE_CMD[$name]=$(printf '%q ' "$@")
    E2E_BE_NRUN[$name]=$(( ${E2E_BE_NRUN[$name]:-0} + 1 ))
    local logf="$E2E_TMP/$name.log"
    [ "${E2E_BE_NRUN[$name]}" = 1 ] || logf="$E2E_TMP/$name.${E2E_BE_NRUN[$name]}.log"
    E2E_BE_LOG[$name]=$logf
    [ "$sock" = - ] || rm -f "$sock"
    e2e_log "starting back-end $name${ns:+ in netns $ns}: $*"
    if [ -n "$ns" ]; then
        ip netns exec "$ns" "$@" </dev/null >"$logf" 2>&1 &
    else
        "$@" </dev/null >"$logf" 2>&1 &
    fi
    E2E_BE_PID[$name]=$!
    local pid=${E2E_BE_PID[$name]} deadline ok=0
    deadline=$(awk -v t="$EPOCHREALTIME" -v d="$rto" 'BEGIN { printf "%d", t + d }')
    while [ "${EPOCHREALTIME%.*}" -lt "$deadline" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" 2>/dev/null || rc=$?
            unset "E2E_BE_PID[$name]"
            e2e_fail "back-end $name exited with status $rc before it was ready"
        fi
        if { [ "$sock" = - ] || e2e__listening "$pid" "$sock"; } &&
           { [ -z "$ready" ] || grep -qE -- "$ready" "$logf"; }; then
            ok=1; break
        fi
        sleep 0.05
    done
    [ "$ok" = 1 ] || e2e_fail "back-end $name not ready after ${rto}s (socket $sock${ready:+, output /$ready/})"
    e2e_log "back-end $name ready (pid $pid)"
    e2e__sb_start "$name"
}

# e2e__listening PID SOCK: true if SOCK is a unix socket in listening state, as seen from PID's network
# namespace (/proc/PID/net/unix lists the sockets of that namespace; flag 00010000 = listening).
e2e__listening() {
    [ -S "$2" ] || return 1
    awk -v p="$2" '$NF == p && $4 == "00010000" { f = 1 } END { exit !f }' "/proc/$1/net/unix" 2>/dev/null
}

# e2e__be_kill NAME: SIGTERM, wait up to 30 s (an ASan back-end on a loaded machine), then SIGKILL. Sets
# E2E__RC to the exit status (137 if it had to be killed). Runs in the main shell (not in $(...)): only the
# parent can wait for its child.
e2e__be_kill() {
    local name=$1 pid=${E2E_BE_PID[$1]:-}
    E2E__RC=0
    e2e__sb_stop "$name"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true   # it may be gone (and reaped by bash) already
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || E2E__RC=$?
    unset "E2E_BE_PID[$name]"
}

# e2e_backend_stop [--any-status] NAME: stop back-end NAME with SIGTERM (SIGKILL after 30 s) and check it
# exited with status 0 (any status with --any-status) and printed no sanitizer report.
e2e_backend_stop() {
    local any=0
    [ "${1:-}" = --any-status ] && { any=1; shift; }
    local name=${1:?e2e_backend_stop NAME} rc t0=$EPOCHREALTIME
    [ -n "${E2E_BE_PID[$name]:-}" ] || e2e_fail "back-end $name is not running"
    if ! kill -0 "${E2E_BE_PID[$name]}" 2>/dev/null; then
        e2e__be_kill "$name"
        e2e_fail "back-end $name had already exited (status $E2E__RC)"
    fi
    e2e__sb_verify "$name"
    e2e__be_kill "$name"
    rc=$E2E__RC
    e2e__sb_log_check "$name"
    e2e_log "back-end $name stopped: exit status $rc after SIGTERM ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s)"
    if grep -qE 'ERROR: [A-Za-z]*Sanitizer|WARNING: ThreadSanitizer|runtime error:' "${E2E_BE_LOG[$name]}"; then
        e2e_fail "back-end $name printed a sanitizer report"
    fi
    [ "$any" = 1 ] || [ "$rc" = 0 ] || e2e_fail "back-end $name exited with status $rc on SIGTERM (expected 0)"
}

# e2e_backend_restart [--any-status] NAME [--between CMD...]: stop back-end NAME (as e2e_backend_stop),
# run CMD if given (e.g. change the backing file while no back-end runs), and start it again with the
# same command, socket, namespace and readiness check. QEMU, started with --chardev-opts reconnect=1,
# connects again by itself within a second.
e2e_backend_restart() {
    local stopopt=()
    [ "${1:-}" = --any-status ] && { stopopt=(--any-status); shift; }
    local name=${1:?e2e_backend_restart NAME}; shift
    local cmd=${E2E_BE_CMD[$name]:?unknown back-end $name} ns=${E2E_BE_NS[$name]} ready=${E2E_BE_READY[$name]}
    local sock=${E2E_BE_SOCK[$name]}
    e2e_log "restarting back-end $name"
    e2e_backend_stop ${stopopt[@]+"${stopopt[@]}"} "$name"
    if [ "${1:-}" = --between ]; then
        shift
        e2e_log "while $name is down: $*"
        "$@" || e2e_fail "command between stop and start failed: $*"
    fi
    local args=()
    [ -n "$ns" ] && args+=(--netns "$ns")
    [ -n "$ready" ] && args+=(--ready "$ready")
    local cmdv
    eval "cmdv=($cmd)"
    e2e_backend_start ${args[@]+"${args[@]}"} "$name" "$sock" "${cmdv[@]}"
}

# e2e_backend_pid NAME: print the pid of back-end NAME.
e2e_backend_pid() { echo "${E2E_BE_PID[${1:?}]:?back-end $1 is not running}"; }

# e2e_backend_log NAME: print the path of back-end NAME's output (of its latest start).
e2e_backend_log() { echo "${E2E_BE_LOG[${1:?}]:?unknown back-end $1}"; }

# e2e_backend_alive NAME: fail unless back-end NAME is still running.
e2e_backend_alive() {
    kill -0 "${E2E_BE_PID[${1:?}]:-0}" 2>/dev/null || e2e_fail "back-end $1 is no longer running"
}

# ---- the guest ------------------------------------------------------------------------------------

# e2e_boot_bg [--input] [run-guest.sh options...]: boot the guest in the background with
# run-guest.sh --guest $E2E_GUEST --timeout $CVMM_E2E_TIMEOUT --log $E2E_CONSOLE plus the options given
# (--blk/--net/--rng SOCK, --script, --append, --chardev-opts, --extra, --smp, --taskset...). The console
# is echoed with a "  guest| " prefix. Use e2e_wait_console to act on guest output, then e2e_wait_guest.
# --input: the guest's console reads what e2e_guest_send writes (a fifo), so that a guest script can wait
# for the host's step ("read -r -t SECS") instead of sleeping for a time a loaded host may not keep.
E2E_GUEST_IN=""
e2e_boot_bg() {
    [ -z "$E2E_RUNPID" ] || e2e_fail "a guest is already running"
    local n=1 input=0
    if [ "${1:-}" = --input ]; then input=1; shift; fi
    while [ -e "$E2E_TMP/console.$n.log" ]; do n=$((n + 1)); done
    E2E_CONSOLE=$E2E_TMP/console.$n.log
    E2E_GUEST_RC=""
    : >"$E2E_CONSOLE"
    local args=("$E2E_HARNESS/run-guest.sh" --guest "$E2E_GUEST" --timeout "${CVMM_E2E_TIMEOUT:-150}"
                --log "$E2E_CONSOLE" "$@")
    e2e_log "booting the guest: run-guest.sh $*"
    if [ "$input" = 1 ]; then
        rm -f "$E2E_TMP/console.in"
        mkfifo "$E2E_TMP/console.in"
        exec {E2E_GUEST_IN}<>"$E2E_TMP/console.in" # read-write: never blocks, never sees EOF
        "${args[@]}" --interactive 2>"$E2E_TMP/run.err" <&"$E2E_GUEST_IN" > >(sed -u 's/^/  guest| /') &
    else
        "${args[@]}" 2>"$E2E_TMP/run.err" </dev/null > >(sed -u 's/^/  guest| /') &
    fi
    E2E_RUNPID=$!
}

# e2e_guest_send LINE: type LINE (and a newline) on the console of the guest booted with --input.
e2e_guest_send() {
    [ -n "$E2E_GUEST_IN" ] || e2e_fail "e2e_guest_send: the guest was not booted with --input"
    printf '%s\n' "${1:?e2e_guest_send LINE}" >&"$E2E_GUEST_IN"
    e2e_log "typed on the guest console: $1"
}

# e2e_wait_console REGEX [SECONDS]: wait until a console line of the running guest matches REGEX
# (grep -E; default 120 s). Fails if the guest ends or the time runs out first.
e2e_wait_console() {
    local re=${1:?e2e_wait_console REGEX} secs=${2:-120} deadline
    deadline=$(( ${EPOCHREALTIME%.*} + secs ))
    while ! grep -qE -- "$re" "$E2E_CONSOLE" 2>/dev/null; do
        if ! kill -0 "$E2E_RUNPID" 2>/dev/null; then
            grep -qE -- "$re" "$E2E_CONSOLE" 2>/dev/null && break
            e2e_wait_guest
            e2e_fail "the guest ended (status $E2E_GUEST_RC) before printing /$re/"
        fi
        [ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || e2e_fail "no console line /$re/ within ${secs}s"
        sleep 0.05
    done
    e2e_log "guest printed: $(grep -m1 -E -- "$re" "$E2E_CONSOLE")"
}

# e2e_wait_guest: wait for the background guest to power off; sets E2E_GUEST_RC and prints
# run-guest.sh's summary line (accel, exit, script_start, total).
e2e_wait_guest() {
    [ -n "$E2E_RUNPID" ] || e2e_fail "no guest is running"
    local rc=0
    wait "$E2E_RUNPID" || rc=$?
    E2E_RUNPID=""
    E2E_GUEST_RC=$rc
    local summary
    summary=$(grep -E '^run-guest: accel=' "$E2E_TMP/run.err" | tail -n 1 || true)
    if [ "$E2E_GUEST_RC" = 124 ] || [ "$E2E_GUEST_RC" = 125 ] || [ -z "$summary" ]; then
        sed 's/^/  run-guest| /' "$E2E_TMP/run.err"
    fi
    e2e_log "guest finished: status $E2E_GUEST_RC; ${summary#run-guest: }"
}

# e2e_boot [run-guest.sh options...]: e2e_boot_bg + e2e_wait_guest.
e2e_boot() { e2e_boot_bg "$@"; e2e_wait_guest; }

# e2e_expect REGEX...: fail unless each REGEX (grep -E) matches a line of the last console log.
e2e_expect() {
    local re
    for re in "$@"; do
        grep -qE -- "$re" "$E2E_CONSOLE" || e2e_fail "console has no line matching /$re/"
    done
}

# e2e_expect_not REGEX...: fail if any REGEX matches a line of the last console log.
e2e_expect_not() {
    local re
    for re in "$@"; do
        ! grep -qE -- "$re" "$E2E_CONSOLE" || e2e_fail "console has a line matching /$re/: $(grep -m1 -E -- "$re" "$E2E_CONSOLE")"
    done
}

# e2e_guest_ok: fail unless the last guest exited with status 0.
e2e_guest_ok() {
    [ "$E2E_GUEST_RC" = 0 ] || e2e_fail "guest script exit status $E2E_GUEST_RC ($(grep -m1 -E ': FAIL' "$E2E_CONSOLE" || true))"
}

# e2e_finish: check the guest exited 0, stop every back-end still running (each must exit 0 on SIGTERM,
# without a sanitizer report), print the PASS line and exit 0.
e2e_finish() {
    e2e_guest_ok
    local n
    for n in "${!E2E_BE_PID[@]}"; do
        e2e_backend_stop "$n"
    done
    printf 'e2e %s: PASS (%ss)\n' "$E2E_NAME" "$(e2e__elapsed)"
    exit 0
}

# ---- block devices --------------------------------------------------------------------------------

# e2e_sha256_range FILE OFFSET LEN: sha256 of LEN bytes at byte OFFSET of FILE.
e2e_sha256_range() {
    dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$(($3 / 4096)) status=none | sha256sum | cut -d' ' -f1
}

# e2e_check_blk_file FILE: for every "BLK-SHA256 off=O len=L sha256=H" (and "BLK-UNCHANGED ...") line
# the guest printed, check from outside that FILE holds those bytes. Fails if there is no such line.
e2e_check_blk_file() {
    local file=${1:?} n=0 off len sha got
    while read -r off len sha; do
        got=$(e2e_sha256_range "$file" "$off" "$len")
        [ "$got" = "$sha" ] || e2e_fail "backing file $file at $off+$len: sha256 $got, the guest wrote $sha"
        n=$((n + 1))
    done < <(sed -n 's/^BLK-[A-Z0-9]* off=\([0-9]*\) len=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2 \3/p' "$E2E_CONSOLE")
    [ "$n" -gt 0 ] || e2e_fail "the guest reported no BLK-SHA256 region to check"
    e2e_log "backing file checked from outside: $n region(s) match what the guest wrote"
}

# e2e_make_disk FILE SIZE [MARKER]: sparse disk image of SIZE (truncate syntax) with MARKER at offset 0.
e2e_make_disk() {
    rm -f "$1"
    truncate -s "$2" "$1"
    [ -z "${3:-}" ] || printf '%s' "$3" | dd of="$1" conv=notrunc status=none
}

# e2e_write_marker FILE OFFSET STRING: write STRING at byte OFFSET of FILE (e.g. between a back-end's
# stop and restart, so the guest can tell that the new process serves it).
e2e_write_marker() {
    printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- network namespaces and taps ------------------------------------------------------------------
# Design for a tap back-end (cvmm-net --tap): the test makes a namespace NS holding a persistent tap
# device with the host-side address (192.0.2.1/24), and starts the back-end inside NS
# (e2e_backend_start --netns NS ...), where it opens the tap by name. The vhost-user socket is a path
# in $E2E_TMP, which QEMU in the root namespace reaches (unix path sockets are not per namespace).
# The guest (192.0.2.2) pings 192.0.2.1; `e2e_netns_exec NS ping 192.0.2.2` pings back. Nothing
# leaves NS, and the root namespace never sees the tap.

# e2e_netns_create NAME-VAR: create a fresh namespace (cvmm-e2e-<pid>-N) with lo up and IPv6 off (no
# router solicitations in the counters), deleted at exit; its name goes into variable NAME-VAR.
e2e_netns_create() {
    local var=${1:?e2e_netns_create VAR} ns
    ns="cvmm-e2e-$$-$(( ${#E2E_NETNS[@]} + 1 ))"
    ip netns add "$ns" || e2e_fail "ip netns add $ns failed"
    E2E_NETNS+=("$ns")
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
    printf -v "$var" '%s' "$ns"
    e2e_log "network namespace $ns created"
}

# e2e_netns_tap NS TAP ADDR/PREFIX [multi_queue]: a persistent tap device TAP in NS with ADDR, set up.
# multi_queue makes an IFF_MULTI_QUEUE tap (needed by a back-end that opens one queue per queue pair,
# and by DPDK's net_tap). Its carrier comes up when a back-end opens it.
e2e_netns_tap() {
    local ns=${1:?} tap=${2:?} addr=${3:?} mq=()
    [ "${4:-}" = multi_queue ] && mq=(multi_queue)
    ip netns exec "$ns" ip tuntap add dev "$tap" mode tap ${mq[@]+"${mq[@]}"} ||
        e2e_fail "ip tuntap add $tap in $ns failed"
    ip -n "$ns" addr add "$addr" dev "$tap"
    ip -n "$ns" link set "$tap" up
    e2e_log "tap $tap in $ns with $addr${mq:+ (multi_queue)}"
}

# e2e_netns_exec NS CMD...: run CMD inside NS, its output indented.
e2e_netns_exec() {
    local ns=${1:?}; shift
    e2e_log "in $ns: $*"
    ip netns exec "$ns" "$@" 2>&1 | sed 's/^/  host| /'
    return "${PIPESTATUS[0]}"
}

# e2e_netns_ping NS ADDR [COUNT]: ping ADDR from NS (COUNT echo requests, default 3); fails unless all
# are answered. One request at a time, each given 30 s: `ping -c N` waits only two round trips for the
# last reply once one came back, which a TCG guest on a loaded machine can exceed without losing anything.
e2e_netns_ping() {
    local ns=${1:?} addr=${2:?} c=${3:-3} i
    local ping=(ping)
    command -v ping >/dev/null || ping=(busybox ping)
    for ((i = 1; i <= c; i++)); do
        e2e_netns_exec "$ns" "${ping[@]}" -c 1 -W 30 "$addr" >"$E2E_TMP/ping.out" || true
        cat "$E2E_TMP/ping.out"
        grep -qE ", 1 (packets )?received" "$E2E_TMP/ping.out" ||
            e2e_fail "ping $addr from $ns: request $i of $c not answered within 30 s"
    done
}

# e2e_tcg_cpus: print "BACKEND_CPU QEMU_CPU" to keep a polling back-end and QEMU's TCG thread on different
# host CPUs (e.g. "0 1"); both 0 on a one-CPU host.
e2e_tcg_cpus() {
    if [ "$(nproc)" -ge 2 ]; then echo "0 1"; else echo "0 0"; fi
}
