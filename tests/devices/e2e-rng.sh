#!/usr/bin/env bash
# e2e-rng.sh - a virtio-rng device serves a real Linux guest under QEMU (TCG): the guest reads
# /dev/hwrng through the virtio_rng driver.
#
# Usage: e2e-rng.sh VARIANT (--ref | --bin PATH)
#   VARIANT    plain      the guest reads 4096 bytes from /dev/hwrng (rng_current must be virtio_rng.N);
#                         they must not be all equal
#              reconnect  (--bin) QEMU with reconnect=1; the back-end is restarted between two reads
#   --ref      QEMU's built-in virtio-rng-pci fed by /dev/urandom. Debian 12 ships no vhost-user-rng
#              back-end, so this checks the guest side and the flow, not vhost-user.
#   --bin PATH back-end: cvmm-rng (PATH --socket-path=SOCK) behind vhost-user-rng-pci. QEMU 7.2's
#              vhost-user-rng needs its back-end at realize: the back-end is started first.
# Exit status 0 pass, 1 fail, 77 skip.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VARIANT=${1:-}
case "$VARIANT" in plain|reconnect) shift ;; *) echo "usage: $0 plain|reconnect --ref|--bin PATH" >&2; exit 2 ;; esac
REF=0 BIN=""
case "${1:-}" in
    --ref) REF=1 ;;
    --bin) BIN=${2:?--bin PATH}; [ -x "$BIN" ] || { echo "$0: not executable: $BIN" >&2; exit 2; } ;;
    *) echo "usage: $0 $VARIANT --ref|--bin PATH" >&2; exit 2 ;;
esac
[ "$VARIANT/$REF" != reconnect/1 ] || { echo "$0: reconnect needs --bin" >&2; exit 2; }

if [ "$REF" = 1 ]; then e2e_init "ref-rng-$VARIANT"; else e2e_init "rng-$VARIANT"; fi
SOCK=$E2E_TMP/rng.sock
guest=(--script "$E2E_GUEST_SCRIPTS/rng.sh")
append="rng_bytes=4096"
if [ "$REF" = 1 ]; then
    guest+=(--extra "-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0")
else
    e2e_backend_start rng "$SOCK" "$BIN" "--socket-path=$SOCK"
    guest+=(--rng "$SOCK")
fi
if [ "$VARIANT" = reconnect ]; then
    guest+=(--chardev-opts reconnect=1)
    append+=" rng_pause=120"
fi
guest+=(--append "$append")
if [ "$VARIANT" = reconnect ]; then
    e2e_boot_bg --input "${guest[@]}"
    e2e_wait_console '^E2E-PAUSE rng'
    e2e_backend_restart rng
    e2e_guest_send E2E-GO
    e2e_wait_guest
else
    e2e_boot "${guest[@]}"
fi
e2e_guest_ok
e2e_expect '^rng: PASS' '^rng_current: virtio_rng'
e2e_finish
