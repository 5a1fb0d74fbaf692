#!/usr/bin/env bash
# e2e-blk-crash.sh - the vhost-user-blk back-end is SIGKILLed and restarted again and again while a real
# Linux guest (QEMU 7.2, reconnect=1, TCG) writes a checksummed journal with O_DIRECT and flushes: no I/O
# error in the guest, no lost, torn or stale write, every record verified from the host afterwards.
#
# Usage: e2e-blk-crash.sh VARIANT (--bin PATH | --ref)
#   VARIANT    split1 | split2 | packed1 | packed2: the ring layout (vhost-user-blk-pci packed=on for
#              packed) and the number of queues (2: num-queues=2, 2 vCPUs, one guest writer per queue)
#   --bin PATH back-end: cvmm-blk (PATH --socket-path=SOCK --blk-file=FILE --num-queues=N)
#   --ref      back-end: qemu-storage-daemon's vhost-user-blk export (libvhost-user; split only, as it
#              offers no packed ring)
# Environment: CVMM_CRASH_KILLS (kills, default 12; at least 10 must happen), CVMM_CRASH_EVERY (guest
# records between a restart and the next kill, default 3), CVMM_CRASH_STALL (seconds without guest
# progress that count as hung I/O, default 60), CVMM_CRASH_BE_ARGS (more cvmm-blk options, e.g.
# --log-level=debug), CVMM_CRASH_MODES (the ways to kill, in turn, e.g. "notify"; default all six),
# CVMM_CRASH_TRACE=1 (diagnosis: every kill is "any", and strace records the vhost-user messages each
# back-end receives in $E2E_TMP/vhu.N.trace; keep them with CVMM_E2E_KEEP=1), and lib.sh's.
#
# Kills are paced by the guest, never by the clock: after each (re)start the host waits until the guest
# has reported CVMM_CRASH_EVERY more records (guest/blk-crash.sh prints one CRASH-PROGRESS line per
# record), then kills in one of six ways, in turn:
#   any         at once, wherever the back-end is
#   write       while a worker is inside pwritev(), before the data reaches the file
#   write-done  while a worker returns from pwritev(): the data is in the file, the request not yet used
#   flush       while a worker is inside fdatasync() (a FLUSH request is in flight)
#   read        while a worker is inside preadv() (the guest's read-back is in flight)
#   notify      while a worker is inside write(), in practice to a call eventfd: the request is used,
#               the guest not yet told
# For the last five, strace attaches to the back-end and holds the first such call (delay injection);
# the kill comes once strace has printed that call, so a request is in flight by construction.
# After the last kill and CVMM_CRASH_EVERY more records, the host writes "CVMMSTOP" into the backing
# file's stop block, which the writers read before each record. Then the host reads every record from
# the backing file: each must be where its sequence number puts it, with the header and checksums the
# guest printed, nothing past the last one, and each writer's head block (rewritten after every
# record) must name its last record.
# Exit status 0 pass, 1 fail, 77 skip. Prints "kills survived: N" (per variant) on success.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VARIANT=${1:-}
case "$VARIANT" in split1|split2|packed1|packed2) shift ;; *) echo "usage: $0 split1|split2|packed1|packed2 --bin PATH|--ref" >&2; exit 2 ;; esac
REF=0 BIN=""
case "${1:-}" in
    --ref) REF=1 ;;
    --bin) BIN=${2:?--bin PATH}; [ -x "$BIN" ] || { echo "$0: not executable: $BIN" >&2; exit 2; } ;;
    *) echo "usage: $0 $VARIANT --bin PATH|--ref" >&2; exit 2 ;;
esac
queues=${VARIANT: -1}
ring=${VARIANT%?}
KILLS=${CVMM_CRASH_KILLS:-12}
EVERY=${CVMM_CRASH_EVERY:-3}
STALL=${CVMM_CRASH_STALL:-60}
MIN_KILLS=10
RS=8192
# The guest writes until the host writes the stop block, at most this many records per writer.
MAXREC=1000
# The layout of guest/blk-crash.sh.
STOP=524288 HEAD0=1048576 LOG0=2097152 LOGSZ=16777216

if [ "$REF" = 1 ]; then e2e_init "ref-blk-crash-$VARIANT"; else e2e_init "blk-crash-$VARIANT"; fi
[ "$REF" = 0 ] || [ "$ring" = split ] || e2e_skip "qemu-storage-daemon 7.2 offers no packed ring"
command -v strace >/dev/null || e2e_need_pkgs strace
export CVMM_E2E_TIMEOUT=${CVMM_E2E_TIMEOUT:-400}

DISK=$E2E_TMP/disk.img
SOCK=$E2E_TMP/blk.sock
e2e_make_disk "$DISK" 64M
if [ "$REF" = 1 ]; then
    e2e_need_pkgs qemu-system-common
    be=(qemu-storage-daemon --blockdev "driver=file,node-name=disk0,filename=$DISK"
        --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$SOCK,writable=on,num-queues=$queues")
else
    be=("$BIN" "--socket-path=$SOCK" "--blk-file=$DISK" "--num-queues=$queues")
    # shellcheck disable=SC2206  # split on blanks on purpose
    [ -z "${CVMM_CRASH_BE_ARGS:-}" ] || be+=($CVMM_CRASH_BE_ARGS)
fi
# cvmm-blk submits reads, writes and flushes with io_uring_enter (its default --aio=io_uring): there the
# write, flush and read modes hold that submission (the requests are popped and recorded, not submitted
# yet), write-done its return (submitted: the kernel may have done them, none is used yet).
URING=0
[ "$REF" = 1 ] || [[ " ${CVMM_CRASH_BE_ARGS:-} " == *" --aio=sync "* ]] || URING=1

guest=(--blk "$SOCK" --blk-queues "$queues" --smp "$queues" --chardev-opts reconnect=1
       --script "$E2E_GUEST_SCRIPTS/blk-crash.sh")
append="crash_writers=$queues crash_records=$MAXREC crash_rs=$RS crash_queues=$queues"
if [ "$ring" = packed ]; then
    guest+=(--extra "-global vhost-user-blk-pci.packed=on")
    append+=" crash_packed=1"
else
    append+=" crash_packed=0"
fi
guest+=(--append "$append")

# progress: number of records the guest has reported so far.
progress() { grep -c '^CRASH-PROGRESS ' "$E2E_CONSOLE" || true; }
# done_writers: number of writers that have finished.
done_writers() { grep -c '^CRASH-DONE ' "$E2E_CONSOLE" || true; }

# stalled WHY: the guest's I/O made no progress: say what QEMU and the back-end said, and fail.
stalled() {
    echo "---- QEMU and guest kernel lines about the device ----"
    grep -E 'vhost|virtio|ring|I/O error|blk_|CRASH-(IOERR|MISMATCH)' "$E2E_CONSOLE" | tail -n 20 | sed 's/^/  qemu| /' || true
    e2e_fail "$*"
}

# guest_check: fail if the guest reported a failure or ended.
guest_check() {
    if grep -qE '^(CRASH-IOERR|CRASH-MISMATCH|blk-crash: FAIL)' "$E2E_CONSOLE"; then
        sleep 1
        stalled "the guest reports a failure after $kills kill(s): $(grep -m1 -E '^(CRASH-IOERR|CRASH-MISMATCH|blk-crash: FAIL)' "$E2E_CONSOLE")"
    fi
    kill -0 "$E2E_RUNPID" 2>/dev/null || { e2e_wait_guest; stalled "the guest ended (status $E2E_GUEST_RC) after $kills kill(s), $(progress) records"; }
}

# wait_progress N: wait until the guest has reported N records in all or every writer is done; 0 if
# N was reached, 1 if the guest finished first. Fails if the guest ends early or stalls for $STALL s.
wait_progress() {
    local want=$1 last n t
    last=$(progress)
    t=${EPOCHREALTIME%.*}
    while :; do
        n=$(progress)
        [ "$(done_writers)" -lt "$queues" ] || return 1
        [ "$n" -lt "$want" ] || return 0
        guest_check
        if [ "$n" != "$last" ]; then
            last=$n t=${EPOCHREALTIME%.*}
        elif [ $(( ${EPOCHREALTIME%.*} - t )) -ge "$STALL" ]; then
            stalled "guest I/O hung: no record for ${STALL}s after kill $kills (mode ${lastmode:-none}), $n records so far"
        fi
        sleep 0.05
    done
}

# crash MODE: SIGKILL the back-end in MODE (see the top of the file).
crash() {
    local mode=$1 pid sp="" slog="" call="" inj="" calls
    pid=$(e2e_backend_pid blk)
    case "$mode" in
        write) call=pwritev inj=delay_enter ;;
        write-done) call=pwritev inj=delay_exit ;;
        flush) call=fdatasync inj=delay_enter ;;
        read) call=preadv inj=delay_enter ;;
        notify) call=write inj=delay_enter ;;
    esac
    case "$URING:$mode" in
        1:write | 1:flush | 1:read) call=io_uring_enter ;;
        1:write-done) call=io_uring_enter inj=delay_exit ;;
    esac
    if [ -n "$call" ]; then
        slog=$E2E_TMP/strace.$kills.log
        : >"$slog"
        # Held for 60 s: the kill comes long before. -f: every thread of the back-end (its workers).
        calls=$call
        case $call in pwritev|preadv) calls="$call,${call}2" ;; esac
        strace -f -qq -p "$pid" -o "$slog" -e trace="$calls" -e inject="$calls:$inj=60000000" 2>"$slog.err" &
        sp=$!
        local deadline=$(( ${EPOCHREALTIME%.*} + STALL ))
        while ! grep -qE "(^|[^a-z])$call(2)?\\(" "$slog"; do
            if ! kill -0 "$sp" 2>/dev/null; then cat "$slog.err"; e2e_fail "strace -p $pid ended before the back-end called $call"; fi
            guest_check
            [ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || stalled "the back-end made no $call call for ${STALL}s (kill $((kills + 1)), mode $mode)"
            sleep 0.02
        done
    else
        sleep "0.0$((RANDOM % 10))"
    fi
    if ! kill -KILL "$pid" 2>/dev/null; then
        e2e__be_kill blk || true
        stalled "back-end blk (pid $pid) exited by itself, status $E2E__RC, before kill $((kills + 1))"
    fi
    if [ -n "$sp" ]; then
        # strace holds the back-end's exit until its 60 s delay ends: end strace before reaping.
        kill -KILL "$sp" 2>/dev/null || true
        wait "$sp" 2>/dev/null || true
    fi
    # lib.sh's stop of a back-end reaps it and ends its watchers. Its SIGTERM fails if bash has already
    # reaped the killed process (bash keeps the status for wait): "|| true" keeps errexit off inside.
    e2e__be_kill blk || true
    [ "$E2E__RC" = 137 ] || e2e_fail "back-end blk: exit status $E2E__RC after SIGKILL (expected 137)"
    if grep -qE 'ERROR: [A-Za-z]*Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$(e2e_backend_log blk)"; then
        e2e_fail "back-end blk printed a sanitizer report before it was killed"
    fi
    if [ -n "$sp" ]; then
        e2e_log "kill $((kills + 1)) ($mode) in $(grep -m1 -oE "$call(2)?\\(.{0,40}" "$slog" || echo "$call")..."
    else
        e2e_log "kill $((kills + 1)) ($mode) after $(progress) records"
    fi
}

modes=(any write write-done flush read notify)
# qemu-storage-daemon's thread pool runs fdatasync/preadv on threads strace cannot always hold (strace 6.1:
# "dispatch_event: ... has delayed wait data set already"): the reference gets the first three ways only.
[ "$REF" = 0 ] || modes=(any write write-done)
[ "${CVMM_CRASH_TRACE:-0}" = 0 ] || modes=(any)
# shellcheck disable=SC2206  # a list of words on purpose
[ -z "${CVMM_CRASH_MODES:-}" ] || modes=($CVMM_CRASH_MODES)
# trace_messages: strace the back-end's receives until it ends (CVMM_CRASH_TRACE=1).
trace_messages() {
    [ "${CVMM_CRASH_TRACE:-0}" != 0 ] || return 0
    strace -f -qq -p "$(e2e_backend_pid blk)" -o "$E2E_TMP/vhu.$kills.trace" -e trace=recvmsg,read -xx -s 128 &
    sleep 0.3
}
kills=0 lastmode=""
e2e_backend_start blk "$SOCK" "${be[@]}"
trace_messages
e2e_boot_bg "${guest[@]}"
e2e_wait_console '^E2E-CRASH-START' 180

while [ "$kills" -lt "$KILLS" ]; do
    wait_progress $(( $(progress) + EVERY )) || break
    lastmode=${modes[$((kills % ${#modes[@]}))]}
    crash "$lastmode"
    kills=$((kills + 1))
    e2e_backend_start blk "$SOCK" "${be[@]}"
    trace_messages
done
# Recovery after the last kill too, then the stop block; the writers finish their record and stop.
[ "$kills" -lt "$MIN_KILLS" ] || wait_progress $(( $(progress) + EVERY )) || true
e2e_log "$kills kills done after $(progress) records; telling the guest to stop"
e2e_write_marker "$DISK" "$STOP" CVMMSTOP
while [ "$(done_writers)" -lt "$queues" ]; do
    wait_progress $(( $(progress) + 1 )) || break
done
e2e_wait_guest
e2e_guest_ok
e2e_expect '^blk-crash: PASS'
[ "$kills" -ge "$MIN_KILLS" ] || e2e_fail "only $kills kills happened before the guest finished (need $MIN_KILLS)"

# Verify every record from outside. The guest's lines say what it wrote: seq and checksums per writer.
# QEMU's stderr shares the console file: its lines ("vhost VQ 0 ring restore failed") can land in the middle of a
# guest line; cut them out whole so the guest line joins up again before it is parsed.
perl -0pe 's/qemu-system-x86_64: [^\n]*\n//g' "$E2E_CONSOLE" |
    grep -oE 'CRASH-PROGRESS w=[0-9]+ seq=[0-9]+ sha256=[0-9a-f]{64} record=[0-9a-f]{64}' |
    sed 's/CRASH-PROGRESS w=\([0-9]*\) seq=\([0-9]*\) sha256=\([0-9a-f]*\) record=\(.*\)/\1 \2 \3 \4/' >"$E2E_TMP/records"
n=0
for ((w = 0; w < queues; w++)); do
    RECORDS=$(sed -n "s/^CRASH-DONE w=$w records=\([0-9]*\)\$/\1/p" "$E2E_CONSOLE")
    [ -n "$RECORDS" ] && [ "$RECORDS" -gt 0 ] || e2e_fail "writer $w reported no CRASH-DONE line with its record count"
    seqs=$(awk -v w="$w" '$1 == w { print $2 }' "$E2E_TMP/records" | tr '\n' ' ')
    want=$(seq -s ' ' 0 $((RECORDS - 1)))
    [ "${seqs% }" = "$want" ] || e2e_fail "writer $w reported records '${seqs% }', expected 0..$((RECORDS - 1)) once each in order"
    # The log cut into one file per record (rec.NNNN): its header line and its sha256, in two processes.
    log=$((LOG0 + w * LOGSZ))
    rm -rf "$E2E_TMP/log" && mkdir "$E2E_TMP/log"
    dd if="$DISK" bs=$RS skip=$((log / RS)) count="$RECORDS" status=none | split -a 4 -d -b $RS - "$E2E_TMP/log/rec."
    awk 'FNR == 1 { sub(/ +$/, ""); print substr(FILENAME, length(FILENAME) - 3) + 0, $0; nextfile }' "$E2E_TMP/log"/rec.* \
        >"$E2E_TMP/headers"
    (cd "$E2E_TMP/log" && sha256sum rec.*) | awk '{ sub(/^rec\./, "", $2); print $2 + 0, $1 }' >"$E2E_TMP/sums"
    # Each record the guest reported: the header it must carry and the sha256 of the whole record.
    bad=$(awk -v w="$w" -v len=$((RS - 128)) '
        FILENAME == ARGV[1] { s = $1; sub(/^[0-9]+ /, ""); hdr[s] = $0; next }
        FILENAME == ARGV[2] { sum[$1] = $2; next }
        $1 == w {
            want = "CVMMREC w=" w " seq=" $2 " len=" len " sha256=" $3
            if (hdr[$2] != want) { print "writer " w " record " $2 " has header \"" hdr[$2] "\""; exit }
            if (sum[$2] != $4) { print "writer " w " record " $2 " has sha256 " sum[$2] ", the guest wrote " $4; exit }
        }' "$E2E_TMP/headers" "$E2E_TMP/sums" "$E2E_TMP/records")
    [ -z "$bad" ] || e2e_fail "backing file: $bad"
    n=$((n + RECORDS))
    last=$(awk -v w="$w" '$1 == w { h = $3 } END { print h }' "$E2E_TMP/records")
    cmp -s -n $((LOGSZ - RECORDS * RS)) -i $((log + RECORDS * RS)):0 "$DISK" /dev/zero ||
        e2e_fail "backing file: non-zero bytes in writer $w's log past its last record"
    hdr=$(dd if="$DISK" bs=4096 skip=$((HEAD0 / 4096 + w)) count=1 status=none | head -n 1 | sed 's/ *$//')
    [ "$hdr" = "CVMMHEAD w=$w seq=$((RECORDS - 1)) sha256=$last" ] ||
        e2e_fail "backing file: writer $w head block is '$hdr', expected its last record $((RECORDS - 1))"
done
e2e_log "backing file checked from outside: $n records in place with their checksums, heads current, nothing past the end"
restore=$(grep -c 'ring restore failed' "$E2E_CONSOLE" || true)
e2e_log "QEMU logged 'ring restore failed' $restore time(s)"
echo "kills survived: $kills ($VARIANT, $n records)"
e2e_finish
