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
#   blk_pause=SECS       reconnect tests: after the first round print "E2E-PAUSE blk", sleep SECS (the
#                        host restarts the back-end meanwhile, with no request in flight), then check
#                        blk_marker2 at byte blk_marker2_off (if set) and write a second pattern right
#                        after the first one
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

# round OFFSET: write LEN random bytes at OFFSET, read them back with O_DIRECT, compare, report the hash.
round() {
    o=$1
    dd if=/dev/urandom of=/tmp/pat bs=4096 count=$((LEN / 4096)) 2>/dev/null || fail "no /dev/urandom"
    want=$(sha256sum </tmp/pat | cut -d' ' -f1)
    if ! dd if=/tmp/pat of="$B" bs=4096 seek=$((o / 4096)) count=$((LEN / 4096)) oflag=direct conv=fsync,notrunc 2>/tmp/dd.err; then
        cat /tmp/dd.err
        fail "write of $LEN bytes at $o failed"
    fi
    got=$(dd if="$B" bs=4096 skip=$((o / 4096)) count=$((LEN / 4096)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "read back at $o: sha256 $got, wrote $want"
    echo "blk: wrote and read back $LEN bytes at $o"
    echo "BLK-SHA256 off=$o len=$LEN sha256=$want"
}

wait-for "$B" 20 || fail "$B did not appear"
S=/sys/block/$DEV
sectors=$(cat "$S/size")
queues=$(ls "$S/mq" 2>/dev/null | wc -l)
ro=$(cat "$S/ro")
features=$(cat "$S/device/features" 2>/dev/null)
packed=$(echo "$features" | cut -c35)
echo "blk: $DEV sectors=$sectors queues=$queues ro=$ro packed=${packed:-?} features=$features"

[ -z "$blk_sectors" ] || [ "$sectors" = "$blk_sectors" ] || fail "size $sectors sectors, expected $blk_sectors"
[ -z "$blk_queues" ] || [ "$queues" = "$blk_queues" ] || fail "$queues queues, expected $blk_queues"
[ -z "$blk_packed" ] || [ "$packed" = "$blk_packed" ] || fail "packed ring negotiated=$packed, expected $blk_packed"
[ $((OFF + 2 * LEN)) -le $((sectors * 512)) ] || fail "disk too small for $LEN bytes at $OFF"

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

round "$OFF"
if [ -n "$blk_pause" ]; then
    echo "E2E-PAUSE blk $blk_pause"
    sleep "$blk_pause"
    echo "blk: resuming"
    if [ -n "$blk_marker2" ]; then
        m=$(read_str "${blk_marker2_off:-0}" ${#blk_marker2})
        [ "$m" = "$blk_marker2" ] || fail "marker2 at ${blk_marker2_off:-0} is '$m', expected '$blk_marker2'"
        echo "blk: host marker2 read: $m"
    fi
    round $((OFF + LEN))
fi
sync
blockdev --flushbufs "$B" 2>/dev/null
echo "blk: PASS"
exit 0
