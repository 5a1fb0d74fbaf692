#!/bin/sh
# blk.sh - guest side of the vhost-user-blk end-to-end tests (busybox sh, inside the guest).
#
# Parameters come from the kernel command line as KEY=VALUE (run-guest.sh --append):
#   blk_dev=vda          disk to test (default vda)
#   blk_sectors=N        expected size in 512-byte sectors, from /sys/block/DEV/size (checked if set)
#   blk_queues=N         expected number of blk-mq hardware queues (checked if set; the guest uses at
#                        most one queue per vCPU, so boot with --smp N)
#   blk_packed=0|1       expected VIRTIO_F_RING_PACKED (feature bit 34) after negotiation (checked if set)
#   blk_marker=STR       bytes the host wrote at offset 0 (checked if set; no spaces)
#   blk_offset=BYTES     where the pattern is written (default 1048576; a multiple of 4096)
#   blk_len=BYTES        pattern length (default 65536; a multiple of 4096)
#   blk_ro=1             read-only disk: /sys/block/DEV/ro must be 1, the write must fail, and the
#                        region must read back unchanged
#   blk_pause=SECS       reconnect and hot-plug tests: after the first round print "E2E-PAUSE blk" and wait
#                        for the host's step, at most SECS (then fail): with blk_marker2 until that string
#                        reads back (O_DIRECT, every 0.5 s) at byte blk_marker2_off (the host restarts the
#                        back-end and writes it while the back-end is down); with blk_mem=1 until the host
#                        types "E2E-GO" on the console (it hot-plugged a DIMM and saw the back-end map it)
#                        and then until the guest has more memory blocks; else it sleeps SECS.  Then it
#                        writes a second pattern right after the first one.  (A wait on the host's step,
#                        not a fixed sleep: on a loaded machine the host may need many seconds for it.)
#   blk_go=1             with blk_marker2: read it only after the host typed "E2E-GO" (it restarted the
#                        back-end), so that no request is in flight across the restart
# Output: "BLK-SHA256 off=O len=L sha256=H" for each pattern written, which the host compares with the
# backing file; last "blk: PASS" or "blk: FAIL <why>", with a matching exit status.

DEV=${blk_dev:-vda}
OFF=${blk_offset:-1048576}
LEN=${blk_len:-65536}
B=/dev/$DEV

fail() { echo "blk: FAIL $*"; exit 1; }

# read_str OFFSET LEN: print LEN bytes at byte OFFSET, bypassing the page cache.
read_str() {
    dd if="$B" bs=512 skip=$(($1 / 512)) count=1 iflag=direct 2>/dev/null | head -c "$2"
}

# round OFFSET [CPU]: write LEN random bytes at OFFSET (from CPU, if given: blk-mq then submits on that
# CPU's queue), read them back with O_DIRECT, compare, report the hash.
round() {
    o=$1
    pin=""
    [ -z "$2" ] || pin="taskset -c $2"
    dd if=/dev/urandom of=/tmp/pat bs=4096 count=$((LEN / 4096)) 2>/dev/null || fail "no /dev/urandom"
    want=$(sha256sum </tmp/pat | cut -d' ' -f1)
    if ! $pin dd if=/tmp/pat of="$B" bs=4096 seek=$((o / 4096)) count=$((LEN / 4096)) oflag=direct conv=fsync,notrunc 2>/tmp/dd.err; then
        cat /tmp/dd.err
        fail "write of $LEN bytes at $o failed"
    fi
    got=$($pin dd if="$B" bs=4096 skip=$((o / 4096)) count=$((LEN / 4096)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "read back at $o: sha256 $got, wrote $want"
    echo "blk: wrote and read back $LEN bytes at $o${2:+ from CPU $2}"
    echo "BLK-SHA256 off=$o len=$LEN sha256=$want"
    NEXT=$((o + LEN))
}

# vq_irqs I: interrupts so far on the MSI-X vector of request queue I ("virtioN-req.I" in
# /proc/interrupts, summed over the CPUs); empty if the device has no per-queue vector.
vq_irqs() {
    awk -v q="$VDEV-req.$1" -v n="$(grep -c ^processor /proc/cpuinfo)" \
        '$NF == q { s = 0; for (k = 2; k <= n + 1; k++) s += $k; print s }' /proc/interrupts
}

wait-for "$B" 20 || fail "$B did not appear"
S=/sys/block/$DEV
sectors=$(cat "$S/size")
queues=$(ls "$S/mq" 2>/dev/null | wc -l)
ro=$(cat "$S/ro")
features=$(cat "$S/device/features" 2>/dev/null)
VDEV=$(basename "$(readlink "$S/device")")
packed=$(echo "$features" | cut -c35)
echo "blk: $DEV sectors=$sectors queues=$queues ro=$ro packed=${packed:-?} features=$features"

[ -z "$blk_sectors" ] || [ "$sectors" = "$blk_sectors" ] || fail "size $sectors sectors, expected $blk_sectors"
[ -z "$blk_queues" ] || [ "$queues" = "$blk_queues" ] || fail "$queues queues, expected $blk_queues"
[ -z "$blk_packed" ] || [ "$packed" = "$blk_packed" ] || fail "packed ring negotiated=$packed, expected $blk_packed"
[ $((OFF + (queues + 1) * LEN)) -le $((sectors * 512)) ] || fail "disk too small for the patterns at $OFF"

if [ -n "$blk_marker" ]; then
    m=$(read_str 0 ${#blk_marker})
    [ "$m" = "$blk_marker" ] || fail "marker at 0 is '$m', expected '$blk_marker'"
    echo "blk: host marker read: $m"
fi

if [ "${blk_ro:-0}" = 1 ]; then
    [ "$ro" = 1 ] || fail "disk is not read-only in the guest (ro=$ro)"
    before=$(dd if="$B" bs=4096 skip=$((OFF / 4096)) count=$((LEN / 4096)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
    dd if=/dev/urandom of=/tmp/pat bs=4096 count=$((LEN / 4096)) 2>/dev/null
    if dd if=/tmp/pat of="$B" bs=4096 seek=$((OFF / 4096)) count=$((LEN / 4096)) oflag=direct conv=fsync,notrunc 2>/tmp/dd.err; then
        fail "write to a read-only disk succeeded"
    fi
    echo "blk: write refused as expected: $(head -n 1 /tmp/dd.err)"
    after=$(dd if="$B" bs=4096 skip=$((OFF / 4096)) count=$((LEN / 4096)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
    [ "$before" = "$after" ] || fail "read-only region changed"
    echo "BLK-UNCHANGED off=$OFF len=$LEN sha256=$after"
    echo "blk: PASS"
    exit 0
fi

if [ "$queues" -gt 1 ]; then
    # One round per queue, each from the CPU that blk-mq maps to that queue; then every request queue
    # must have raised interrupts, i.e. carried requests.
    NEXT=$OFF
    i=0
    while [ $i -lt "$queues" ]; do
        eval "irq0_$i=\$(vq_irqs $i)"
        i=$((i + 1))
    done
    i=0
    while [ $i -lt "$queues" ]; do
        round "$NEXT" $i
        i=$((i + 1))
    done
    i=0
    while [ $i -lt "$queues" ]; do
        n=$(vq_irqs $i)
        eval "b=\$irq0_$i"
        if [ -z "$n" ] || [ -z "$b" ]; then echo "blk: no per-queue interrupt vector for $VDEV-req.$i, not checked"; break; fi
        echo "blk: queue $i: $((n - b)) interrupts during the rounds"
        [ "$((n - b))" -gt 0 ] || fail "request queue $i raised no interrupt during its round"
        i=$((i + 1))
    done
else
    round "$OFF"
fi
# mem_blocks: how many memory blocks the guest has (a hot-plugged DIMM adds some)
mem_blocks() { ls -d /sys/devices/system/memory/memory* 2>/dev/null | wc -l; }
# marker2_read: true when blk_marker2 reads back at blk_marker2_off (O_DIRECT); m gets what was read
marker2_read() { m=$(read_str "${blk_marker2_off:-0}" ${#blk_marker2}); [ "$m" = "$blk_marker2" ]; }
# more_mem_blocks: true when the guest has more memory blocks than mem0
more_mem_blocks() { [ "$(mem_blocks)" -gt "$mem0" ]; }
# poll_until WHY CMD...: run CMD every 0.5 s until it succeeds, at most blk_pause s (then fail WHY, in which
# \$VAR is expanded then, e.g. \$m: what the last look saw); tries gets the number of failed looks
poll_until() {
    why=$1
    shift
    tries=0
    until "$@"; do
        tries=$((tries + 1))
        [ "$tries" -le $((blk_pause * 2)) ] || eval "fail \"$why\""
        sleep 0.5
    done
}

if [ -n "$blk_pause" ]; then
    mem0=$(mem_blocks)
    echo "E2E-PAUSE blk $blk_pause"
    if [ -n "$blk_marker2" ]; then
        if [ "${blk_go:-0}" = 1 ]; then
            wait-host E2E-GO "$blk_pause" || fail "the host did not type E2E-GO within $blk_pause s"
        fi
        poll_until "marker2 at ${blk_marker2_off:-0} is '\$m' after $blk_pause s, expected '$blk_marker2'" marker2_read
        echo "blk: host marker2 read: $m (after $tries reads of the old contents)"
    elif [ "$blk_mem" = 1 ]; then
        wait-host E2E-GO "$blk_pause" || fail "the host did not type E2E-GO within $blk_pause s"
        poll_until "no memory block was added in $blk_pause s ($mem0 blocks)" more_mem_blocks
        echo "blk: memory blocks $mem0 -> $(mem_blocks)"
    else
        sleep "$blk_pause"
    fi
    echo "blk: resuming"
    round "$NEXT"
fi
sync
blockdev --flushbufs "$B" 2>/dev/null
echo "blk: PASS"
exit 0
