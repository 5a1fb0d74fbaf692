#!/bin/sh
# blk-crash.sh - guest side of e2e-blk-crash.sh (busybox sh): a small journal written with O_DIRECT and
# flushes while the host SIGKILLs and restarts the vhost-user-blk back-end underneath it.
#
# Parameters (kernel KEY=VALUE, run-guest.sh --append):
#   crash_writers=N   writers running at once (default 1); writer W runs pinned to CPU W, so with N
#                     vCPUs and N blk-mq queues each writer's requests go through its own virtqueue
#   crash_records=N   at most N records per writer (default 1000); a writer stops earlier, before its
#                     next record, once the 4 KiB block at 512 KiB starts with "CVMMSTOP" (the host
#                     writes it into the backing file when it has killed the back-end often enough)
#   crash_rs=BYTES    record size (default 8192, a multiple of 4096)
#   crash_packed=0|1  expected VIRTIO_F_RING_PACKED after negotiation (checked if set)
#   crash_queues=N    expected number of blk-mq hardware queues (checked if set)
# Disk layout (device vda): writer W's head block (4 KiB) at 1 MiB + W * 4 KiB, its log at
# 2 MiB + W * 16 MiB, record S at log + S * RS. A record is a 128-byte text header
#   "CVMMREC w=W seq=S len=L sha256=H" (space-padded, newline-terminated)
# followed by L = RS - 128 random bytes whose sha256 is H. After each record the writer rewrites its
# head block, "CVMMHEAD w=W seq=S sha256=H" (space-padded to 4 KiB): the write that must win over any
# older one, so a stale write replayed after a newer one shows in the head. Every write is O_DIRECT with
# conv=fsync (a FLUSH request follows it) and is read back at once with O_DIRECT.
# Output: "CRASH-PROGRESS w=W seq=S sha256=H record=RH" after each record is written and read back (RH:
# sha256 of the whole record; the host paces its kills on these lines and checks the backing file
# against them), "CRASH-DONE w=W records=N" per
# writer (N: records written), and last "blk-crash: PASS" or "blk-crash: FAIL <why>" with a matching exit status. Any failed
# dd is reported as "CRASH-IOERR ...", and the kernel log is searched for I/O errors at the end.

DEV=vda
B=/dev/$DEV
W=${crash_writers:-1}
R=${crash_records:-1000}
RS=${crash_rs:-8192}
PL=$((RS - 128))
STOP=524288
HEAD0=1048576
LOG0=2097152
LOGSZ=16777216
T=/tmp/crash

fail() { echo "blk-crash: FAIL $*"; exit 1; }

# ioerr WRITER SEQ WHAT: report a failed request and end this writer with status 1.
ioerr() {
    echo "CRASH-IOERR w=$1 seq=$2 $3: $(head -n 1 "$T/$1.err" 2>/dev/null)"
    exit 1
}

# writer W: write, flush and read back records 0, 1, ... of writer W, then its head after each, until
# the host says stop (or R records).
writer() {
    w=$1
    log=$((LOG0 + w * LOGSZ))
    head=$((HEAD0 + w * 4096))
    d=$T/$w
    s=0
    while [ $s -lt "$R" ]; do
        dd if="$B" of="$d.stop" bs=4096 skip=$((STOP / 4096)) count=1 iflag=direct 2>"$T/$w.err" ||
            ioerr "$w" "$s" "stop block read"
        [ "$(head -c 8 "$d.stop")" != CVMMSTOP ] || break
        head -c "$PL" /dev/urandom >"$d.pay" || ioerr "$w" "$s" "urandom"
        h=$(sha256sum <"$d.pay" | cut -c1-64)
        { printf '%-127s\n' "CVMMREC w=$w seq=$s len=$PL sha256=$h"; cat "$d.pay"; } >"$d.rec"
        printf '%-4095s\n' "CVMMHEAD w=$w seq=$s sha256=$h" >"$d.head"
        dd if="$d.rec" of="$B" bs="$RS" seek=$((log / RS + s)) count=1 oflag=direct conv=notrunc,fsync \
            2>"$T/$w.err" || ioerr "$w" "$s" "record write"
        dd if="$B" of="$d.back" bs="$RS" skip=$((log / RS + s)) count=1 iflag=direct 2>"$T/$w.err" ||
            ioerr "$w" "$s" "record read"
        cmp -s "$d.rec" "$d.back" || { echo "CRASH-MISMATCH w=$w seq=$s record read back differs"; exit 1; }
        dd if="$d.head" of="$B" bs=4096 seek=$((head / 4096)) count=1 oflag=direct conv=notrunc,fsync \
            2>"$T/$w.err" || ioerr "$w" "$s" "head write"
        dd if="$B" of="$d.back" bs=4096 skip=$((head / 4096)) count=1 iflag=direct 2>"$T/$w.err" ||
            ioerr "$w" "$s" "head read"
        cmp -s "$d.head" "$d.back" || { echo "CRASH-MISMATCH w=$w seq=$s head read back differs"; exit 1; }
        cat "$d.rec" >>"$d.all"
        rh=$(sha256sum <"$d.rec" | cut -c1-64)
        echo "$s $h $rh" >>"$d.sums"
        echo "CRASH-PROGRESS w=$w seq=$s sha256=$h record=$rh"
        s=$((s + 1))
    done
    echo "CRASH-DONE w=$w records=$s"
}

# verify W: read writer W's whole log again (one O_DIRECT read) and compare it with every record it
# wrote, kept in order in $T/W.all.
verify() {
    w=$1
    n=$(wc -l <"$T/$w.sums")
    [ "$n" -gt 0 ] || fail "writer $w wrote no record"
    dd if="$B" of="$T/v.log" bs="$RS" skip=$(((LOG0 + w * LOGSZ) / RS)) count="$n" iflag=direct 2>"$T/$w.err" ||
        ioerr "$w" "$n" "final read"
    if ! diff=$(cmp "$T/$w.all" "$T/v.log" 2>&1); then
        at=$(echo "$diff" | sed -nE 's/.* (byte|char) ([0-9]+).*/\2/p')
        fail "writer $w: the log reads back different${at:+ in record $(((at - 1) / RS))}: $diff"
    fi
    rm -f "$T/v.log"
    echo "blk-crash: writer $w: all $n records read back intact"
}

# vq_irqs I: interrupts so far on request queue I's MSI-X vector ("virtioN-req.I" in /proc/interrupts,
# summed over the CPUs); empty if the queue has no vector of its own.
vq_irqs() {
    awk -v q="$VDEV-req.$1" -v n="$(grep -c ^processor /proc/cpuinfo)" \
        '$NF == q { s = 0; for (k = 2; k <= n + 1; k++) s += $k; print s }' /proc/interrupts
}

if [ "$1" = --writer ]; then
    writer "$2"
    exit 0
fi

wait-for "$B" 20 || fail "$B did not appear"
S=/sys/block/$DEV
queues=$(ls "$S/mq" 2>/dev/null | wc -l)
packed=$(cut -c35 "$S/device/features" 2>/dev/null)
echo "blk-crash: $DEV queues=$queues packed=${packed:-?} writers=$W max_records=$R record_size=$RS"
[ -z "$crash_queues" ] || [ "$queues" = "$crash_queues" ] || fail "$queues queues, expected $crash_queues"
[ -z "$crash_packed" ] || [ "$packed" = "$crash_packed" ] || fail "packed ring negotiated=$packed, expected $crash_packed"
[ $((RS % 4096)) = 0 ] && [ "$RS" -gt 128 ] || fail "crash_rs=$RS is not a multiple of 4096"
[ $((R * RS)) -le "$LOGSZ" ] || fail "$R records of $RS bytes do not fit in a writer's 16 MiB log"
[ $((LOG0 + W * LOGSZ)) -le $(($(cat "$S/size") * 512)) ] || fail "disk too small for $W writers"
mkdir -p "$T"
VDEV=$(basename "$(readlink "$S/device")")
q=0
while [ $q -lt "$queues" ]; do
    eval "irq0_$q=\$(vq_irqs $q)"
    q=$((q + 1))
done

echo "E2E-CRASH-START"
pids=""
w=0
while [ $w -lt "$W" ]; do
    : >"$T/$w.sums"
    : >"$T/$w.all"
    # Writer W runs on CPU W: blk-mq maps a CPU to its own queue when there are as many queues as CPUs.
    taskset -c "$w" sh "$0" --writer "$w" &
    pids="$pids $!"
    w=$((w + 1))
done
rc=0
for p in $pids; do
    wait "$p" || rc=1
done
[ "$rc" = 0 ] || fail "a writer failed (see CRASH-IOERR/CRASH-MISMATCH above)"

# With several queues each must have carried requests (interrupts on its own vector).
q=0
while [ "$queues" -gt 1 ] && [ $q -lt "$queues" ]; do
    n=$(vq_irqs $q)
    eval "b=\$irq0_$q"
    if [ -z "$n" ] || [ -z "$b" ]; then echo "blk-crash: no per-queue vector for $VDEV-req.$q, not checked"; break; fi
    echo "blk-crash: queue $q: $((n - b)) interrupts"
    [ $((n - b)) -gt 0 ] || fail "request queue $q raised no interrupt: its writer's requests went elsewhere"
    q=$((q + 1))
done
w=0
while [ $w -lt "$W" ]; do
    verify "$w"
    w=$((w + 1))
done
errs=$(dmesg | grep -iE 'I/O error|blk_update_request|critical (target|medium)|Buffer I/O|hung_task|blocked for more than' | head -n 5)
[ -z "$errs" ] || fail "kernel log: $errs"
echo "blk-crash: no I/O error in the kernel log"
echo "blk-crash: PASS"
exit 0
