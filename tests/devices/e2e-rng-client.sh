#!/usr/bin/env bash
# e2e-rng-client.sh - cvmm-rng restarted while the guest runs, with QEMU as the vhost-user server.
#
# Usage: e2e-rng-client.sh --bin PATH
# QEMU 7.2's vhost-user-rng cannot use reconnect=1 (e2e-rng.sh reconnect): such a chardev connects
# asynchronously, after the device's realize already needed the back-end ("Failed to set msg fds", then an
# assertion). So here QEMU listens (server=on,wait=on: it waits for the back-end before realize) and
# cvmm-rng connects as the client (--client). The guest reads /dev/hwrng, the back-end is stopped and
# started again (it connects to QEMU's socket again), and the guest reads once more.
# QEMU 7.2's vhost-user-rng does not negotiate protocol features again on the new connection (it goes on
# with SET_VRING_CALL, SET_FEATURES, GET_STATUS): vhost-user-backend carries the previous ones over. It
# does not re-send memory regions it added with ADD_MEM_REG either, so cvmm-rng does not offer
# CONFIGURE_MEM_SLOTS and QEMU sends SET_MEM_TABLE each time (devices/rng/main.c).
# ctest: e2e-rng-client-reconnect.
# Exit status 0 pass, 1 fail, 77 skip.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" != --bin ] || [ ! -x "${2:-}" ]; then echo "usage: $0 --bin PATH" >&2; exit 2; fi
BIN=$2
e2e_init rng-client-reconnect
SOCK=$E2E_TMP/rng.sock
e2e_boot_bg --input --rng "$SOCK" --chardev-opts server=on,wait=on --script "$E2E_GUEST_SCRIPTS/rng.sh" \
            --append "rng_bytes=4096 rng_pause=120"
e2e_backend_start rng - "$BIN" --client "--socket-path=$SOCK"
e2e_wait_console '^E2E-PAUSE rng'
e2e_backend_restart rng
e2e_guest_send E2E-GO
e2e_wait_guest
e2e_guest_ok
e2e_expect '^rng: PASS' '^rng_current: virtio_rng' '^rng: resuming'
[ "$(grep -c '^rng: read 4096 bytes' "$E2E_CONSOLE")" = 2 ] || e2e_fail "the guest did not read twice"
e2e_finish
