#!/bin/sh
# migrate-blk.sh - guest side of e2e-migrate.sh blk / blk-cancel (busybox sh, inside the guest).
#
# With /bin/migdma (guest/migdma.c, built static by the test) that program does the rounds; see there.
# Without it, round i writes record i (one 4 KiB block at mig_off + i * 4096: a line naming the record and this run,
# zero-padded) with O_DIRECT, then reads it back through the page cache: the device's DMA fills a page of
# guest memory, which live migration must carry (dirty logging). Every round also reads the host's marker
# block at byte 0 with O_DIRECT. After round mig_ready_after it prints "E2E-MIGRATE-READY" (the host then
# migrates the guest, or starts and cancels a migration); once the marker reads mig_marker it does
# mig_after more rounds and then checks every record twice: through the page cache (the pages the device
# wrote, never read from the device again) and with O_DIRECT (the device on whichever side runs now).
# Parameters (kernel KEY=VALUE): mig_marker (required), mig_off (1048576), mig_ready_after (5),
# mig_after (10), mig_max (4000 rounds without the marker: fail; migdma: mig_max_s, 240 s).
# Output: "MIG-RECORDS n=N run=R", "BLK-SHA256 off=O len=L sha256=H" of all records (the host compares
# the backing file), last "migrate-blk: PASS" or "migrate-blk: FAIL <why>".

B=/dev/vda
OFF=${mig_off:-1048576}
READY=${mig_ready_after:-5}
AFTER=${mig_after:-10}
MAX=${mig_max:-4000}
RUN=$(cat /proc/sys/kernel/random/uuid 2>/dev/null | cut -c1-8)
fail() { echo "migrate-blk: FAIL $*"; exit 1; }
[ -n "$mig_marker" ] || fail "no mig_marker"

blk() { echo $((OFF / 4096 + $1)); }
rec() { echo "CVMM-MIGRATE-RECORD $1 run=$RUN"; }
# first_line ARGS...: the first line of one 4 KiB block read with dd ARGS
first_line() { dd if="$B" bs=4096 count=1 "$@" 2>/dev/null | head -n 1; }

wait-for "$B" 20 || fail "$B did not appear"
echo "migrate-blk: $B $(cat /sys/block/vda/size) sectors, run $RUN"
if [ -x /bin/migdma ]; then
    # The helper (guest/migdma.c) checks a buffer only the device writes across the switch.
    migdma "$B" "$mig_marker" "$READY" "$AFTER" "${mig_max_s:-240}" | tee /tmp/migdma.out
    grep -q '^MIG-RECORDS' /tmp/migdma.out || fail "migdma failed"
    n=$(sed -n 's/^MIG-RECORDS n=//p' /tmp/migdma.out)
    sha=$(dd if="$B" bs=4096 skip=512 count="$n" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
    echo "BLK-SHA256 off=2097152 len=$((n * 4096)) sha256=$sha"
    echo "migrate-blk: PASS"
    exit 0
fi
i=0 seen=-1
while :; do
    rec "$i" | dd of="$B" bs=4096 seek="$(blk "$i")" count=1 conv=sync,notrunc oflag=direct 2>/dev/null ||
        fail "write of record $i failed"
    got=$(first_line skip="$(blk "$i")")
    [ "$got" = "$(rec "$i")" ] || fail "record $i read back as '$got'"
    i=$((i + 1))
    [ "$i" != "$READY" ] || echo "E2E-MIGRATE-READY after $i records"
    if [ "$seen" -lt 0 ]; then
        m=$(dd if="$B" bs=512 count=1 iflag=direct 2>/dev/null | head -c ${#mig_marker})
        if [ "$m" = "$mig_marker" ]; then
            seen=$i
            echo "migrate-blk: host marker '$m' read after $i records"
        fi
        [ "$i" -lt "$MAX" ] || fail "no host marker after $i records"
    elif [ "$i" -ge $((seen + AFTER)) ]; then
        break
    fi
done
n=$i
echo "MIG-RECORDS n=$n run=$RUN"
i=0
while [ "$i" -lt "$n" ]; do
    got=$(first_line skip="$(blk "$i")")
    [ "$got" = "$(rec "$i")" ] || fail "record $i in the page cache reads '$got'"
    got=$(first_line skip="$(blk "$i")" iflag=direct)
    [ "$got" = "$(rec "$i")" ] || fail "record $i on the disk reads '$got'"
    i=$((i + 1))
done
echo "migrate-blk: $n records verified through the page cache and with O_DIRECT"
sha=$(dd if="$B" bs=4096 skip="$(blk 0)" count="$n" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
echo "BLK-SHA256 off=$OFF len=$((n * 4096)) sha256=$sha"
echo "migrate-blk: PASS"
exit 0
