#!/usr/bin/env bash
# e2e-blk-discard.sh - the guest discards part of a cvmm-blk disk (blkdiscard -> VIRTIO_BLK_T_DISCARD):
# the range reads back as zeroes in the guest, is a hole in the image file afterwards (fewer blocks
# allocated), and the bytes after it are untouched.
# Usage: e2e-blk-discard.sh --bin PATH     Exit status 0 pass, 1 fail, 77 skip.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ "${1:-}" != --bin ] || [ ! -x "${2:-}" ]; then echo "usage: $0 --bin PATH" >&2; exit 2; fi
BIN=$2
e2e_init blk-discard
DISK=$E2E_TMP/disk.img
SOCK=$E2E_TMP/blk.sock
e2e_make_disk "$DISK" 64M
# 8 MiB of data at 4 MiB: the guest discards the first 4 MiB of it.
dd if=/dev/urandom of="$DISK" bs=1M seek=4 count=8 conv=notrunc status=none
blocks_before=$(stat -c %b "$DISK")
e2e_backend_start blk "$SOCK" "$BIN" "--socket-path=$SOCK" "--blk-file=$DISK"
e2e_boot --blk "$SOCK" --script "$E2E_GUEST_SCRIPTS/blk-discard.sh" \
         --append "disc_off=$((4 << 20)) disc_len=$((4 << 20)) keep_len=$((4 << 20))"
e2e_guest_ok
e2e_expect '^blk: PASS'
e2e_check_blk_file "$DISK"
blocks_after=$(stat -c %b "$DISK")
e2e_log "image blocks allocated: $blocks_before before, $blocks_after after the discard"
[ "$blocks_after" -lt "$blocks_before" ] || e2e_fail "the discard deallocated nothing in the image file"
e2e_finish
