#!/bin/sh
# blk-discard.sh - guest side of e2e-blk-discard.sh (busybox sh, inside the guest).
# Parameters (kernel KEY=VALUE): disc_off, disc_len (bytes to discard), keep_len (bytes after the range
# that must stay as they were), zero_off, zero_len (with /bin/blkzero: write zeroes without unmap on
# [zero_off, +zero_len), with unmap on the zero_len bytes after it).
# The disk must announce discard; blkdiscard on [disc_off, +disc_len) must succeed; the guest then reads
# the range and the bytes after it (O_DIRECT) and prints "BLK-SHA256 off=O len=L sha256=H" for both,
# which the host compares with the image file. Last line "blk: PASS" or "blk: FAIL <why>".
# shellcheck disable=SC2154  # disc_off, disc_len, keep_len come from the kernel command line
B=/dev/vda
fail() { echo "blk: FAIL $*"; exit 1; }
wait-for $B 20 || fail "$B did not appear"
Q=/sys/block/vda/queue
echo "blk: discard_max_bytes=$(cat $Q/discard_max_bytes) discard_granularity=$(cat $Q/discard_granularity) write_zeroes_max_bytes=$(cat $Q/write_zeroes_max_bytes 2>/dev/null)"
[ "$(cat $Q/discard_max_bytes)" -gt 0 ] || fail "the disk does not announce discard"
sha() { dd if=$B bs=65536 skip=$(($1 / 65536)) count=$(($2 / 65536)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1; }
before=$(sha "$disc_off" "$disc_len")
blkdiscard -o "$disc_off" -l "$disc_len" $B 2>/tmp/err || { cat /tmp/err; fail "blkdiscard failed"; }
after=$(sha "$disc_off" "$disc_len")
zero=$(dd if=/dev/zero bs=65536 count=$((disc_len / 65536)) 2>/dev/null | sha256sum | cut -d' ' -f1)
echo "blk: discarded $disc_len bytes at $disc_off: sha256 before $before, after $after"
[ "$after" = "$zero" ] || fail "the discarded range does not read as zeroes"
echo "BLK-SHA256 off=$disc_off len=$disc_len sha256=$after"
echo "BLK-UNCHANGED off=$((disc_off + disc_len)) len=$keep_len sha256=$(sha $((disc_off + disc_len)) "$keep_len")"
if [ -x /bin/blkzero ] && [ -n "$zero_off" ]; then
    [ "$(cat $Q/write_zeroes_max_bytes)" -gt 0 ] || fail "the disk does not announce write zeroes"
    zl=$(dd if=/dev/zero bs=65536 count=$((zero_len / 65536)) 2>/dev/null | sha256sum | cut -d' ' -f1)
    for mode in keep unmap; do
        o=$zero_off
        [ $mode = unmap ] && o=$((zero_off + zero_len))
        before=$(sha "$o" "$zero_len")
        if [ $mode = unmap ]; then /bin/blkzero $B "$o" "$zero_len" unmap; else /bin/blkzero $B "$o" "$zero_len"; fi ||
            fail "blkzero $mode at $o failed"
        after=$(sha "$o" "$zero_len")
        echo "blk: write zeroes ($mode) on $zero_len bytes at $o: sha256 before $before, after $after"
        [ "$after" = "$zl" ] || fail "the write-zeroes range ($mode) does not read as zeroes"
        echo "BLK-SHA256 off=$o len=$zero_len sha256=$after"
    done
fi
echo "blk: PASS"
