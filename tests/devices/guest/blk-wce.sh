#!/bin/sh
# blk-wce.sh - guest side of e2e-blk-wce (busybox sh): the driver switches the disk's cache mode through
# virtio-blk's config field writeback (VIRTIO_BLK_F_CONFIG_WCE, /sys/block/vda/cache_type), writes a pattern
# in write-through mode with O_DIRECT, and switches back.
# Output: "BLK-WCE <step> <mode>" lines, "BLK-SHA256 off=O len=L sha256=H" for the pattern, then
# "blk-wce: PASS" or "blk-wce: FAIL <why>" with a matching exit status.
fail() { echo "blk-wce: FAIL $*"; exit 1; }
wait-for /sys/block/vda 60 || fail "no /dev/vda"
ct=/sys/block/vda/cache_type
[ -w "$ct" ] || fail "$ct is not writable: CONFIG_WCE was not negotiated"
echo "BLK-WCE before $(cat $ct)"
[ "$(cat $ct)" = "write back" ] || fail "the disk does not start in write-back mode"
echo "write through" >"$ct" || fail "cannot set write through"
echo "BLK-WCE set $(cat $ct)"
[ "$(cat $ct)" = "write through" ] || fail "the cache mode did not change"
off=2097152 len=65536
dd if=/dev/urandom of=/tmp/pat bs=4096 count=$((len / 4096)) 2>/dev/null || fail "no random pattern"
dd if=/tmp/pat of=/dev/vda bs=4096 seek=$((off / 4096)) oflag=direct 2>/dev/null || fail "write-through write failed"
echo "BLK-SHA256 off=$off len=$len sha256=$(sha256sum /tmp/pat | cut -d' ' -f1)"
echo "write back" >"$ct" || fail "cannot set write back"
echo "BLK-WCE reset $(cat $ct)"
echo "blk-wce: PASS"
