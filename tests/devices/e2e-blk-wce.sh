#!/usr/bin/env bash
# e2e-blk-wce.sh - the guest's cache mode reaches cvmm-blk through QEMU 7.2: the Linux driver writes
# virtio-blk's config field writeback (VIRTIO_BLK_F_CONFIG_WCE), QEMU forwards it with SET_CONFIG, and the
# device switches to write-through (every write answered after fdatasync) and back; the data written in
# write-through mode is checked in the backing file. The cache mode is also what cvmm-blk's device state
# carries to a migration destination (devices/blk/state.h; tests/devices/blk_state.c).
# Usage: e2e-blk-wce.sh --bin PATH (cvmm-blk).  Exit status 0 pass, 1 fail, 77 skip (lib.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${1:-}" = --bin ] && [ -x "${2:-}" ] || { echo "usage: $0 --bin PATH" >&2; exit 2; }
BIN=$2
e2e_init blk-wce

DISK=$E2E_TMP/disk.img
SOCK=$E2E_TMP/blk.sock
e2e_make_disk "$DISK" 64M
e2e_backend_start blk "$SOCK" "$BIN" "--socket-path=$SOCK" "--blk-file=$DISK" --log-level=info
e2e_boot --blk "$SOCK" --script "$E2E_GUEST_SCRIPTS/blk-wce.sh"
e2e_guest_ok
e2e_expect '^BLK-WCE set write through' '^blk-wce: PASS'
log=$(e2e_backend_log blk)
grep -q 'the driver set the cache mode to write-through' "$log" ||
    e2e_fail "cvmm-blk never heard of write-through (log: $(tr '\n' ' ' <"$log"))"
grep -q 'the driver set the cache mode to write-back' "$log" || e2e_fail "cvmm-blk never went back to write-back"
e2e_log "cvmm-blk followed the driver: write-through, then write-back"
e2e_check_blk_file "$DISK"
e2e_finish
