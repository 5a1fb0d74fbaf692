#!/usr/bin/env bash
# e2e-blk-discard.sh - the guest discards part of a cvmm-blk disk (blkdiscard -> VIRTIO_BLK_T_DISCARD):
# the range reads back as zeroes in the guest, is a hole in the image file afterwards (fewer blocks
# allocated), and the bytes after it are untouched. Then (with a C compiler on the host, for the static
# guest helper guest/blkzero.c) the guest zeroes two more ranges, BLKZEROOUT (VIRTIO_BLK_T_WRITE_ZEROES)
# and fallocate(PUNCH_HOLE) (WRITE_ZEROES with the unmap flag); the host checks the file.
# Usage: e2e-blk-discard.sh --bin PATH     Exit status 0 pass, 1 fail, 77 skip.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ "${1:-}" != --bin ] || [ ! -x "${2:-}" ]; then echo "usage: $0 --bin PATH" >&2; exit 2; fi
BIN=$2
e2e_init blk-discard
DISK=$E2E_TMP/disk.img
SOCK=$E2E_TMP/blk.sock
e2e_make_disk "$DISK" 64M
# 12 MiB of data at 4 MiB: the guest discards [4, 8) MiB and zeroes [12, 14) MiB.
dd if=/dev/urandom of="$DISK" bs=1M seek=4 count=12 conv=notrunc status=none
extra=()
append="disc_off=$((4 << 20)) disc_len=$((4 << 20)) keep_len=$((4 << 20))"
if gcc -static -O2 -o "$E2E_TMP/blkzero" "$E2E_GUEST_SCRIPTS/blkzero.c" 2>"$E2E_TMP/gcc.log"; then
    extra=(--file "$E2E_TMP/blkzero:/bin/blkzero")
    append+=" zero_off=$((12 << 20)) zero_len=$((1 << 20))"
else
    e2e_log "no static C toolchain (see $E2E_TMP/gcc.log): write zeroes not checked"
fi
blocks_before=$(stat -c %b "$DISK")
e2e_backend_start blk "$SOCK" "$BIN" "--socket-path=$SOCK" "--blk-file=$DISK"
e2e_boot --blk "$SOCK" --script "$E2E_GUEST_SCRIPTS/blk-discard.sh" ${extra[@]+"${extra[@]}"} --append "$append"
e2e_guest_ok
e2e_expect '^blk: PASS'
[ ${#extra[@]} = 0 ] || e2e_expect '^blk: write zeroes \(keep\)' '^blk: write zeroes \(unmap\)'
e2e_check_blk_file "$DISK"
blocks_after=$(stat -c %b "$DISK")
e2e_log "image blocks allocated: $blocks_before before, $blocks_after after the discard"
# The discard frees 4 MiB; write zeroes with unmap (a hole) 1 MiB more; without unmap (ZERO_RANGE) none.
freed=$(( (blocks_before - blocks_after) * 512 ))
want=$((4 << 20))
[ ${#extra[@]} = 0 ] || want=$((5 << 20))
[ "$freed" -ge "$want" ] || e2e_fail "the image file freed $freed bytes, expected at least $want"
e2e_finish
