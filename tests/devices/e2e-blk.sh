#!/usr/bin/env bash
# e2e-blk.sh - a vhost-user-blk back-end serves a real Linux guest under QEMU (TCG).
#
# Usage: e2e-blk.sh VARIANT (--ref | --bin PATH)
#   VARIANT    plain      the guest sees the right size, reads the host's marker, writes a random pattern
#                         at 1 MiB (O_DIRECT), reads it back, syncs; the test checks the backing file
#              packed     the same with vhost-user-blk-pci packed=on
#              mq         the same with 2 queues (num-queues=2, 2 vCPUs, 2 blk-mq queues in the guest)
#              ro         read-only export: the guest sees ro=1, its write fails, the file is unchanged
#              reconnect  QEMU with reconnect=1; the back-end is restarted while the guest runs, and the
#                         guest goes on (it reads a marker written while no back-end ran, then writes a
#                         second pattern)
#              hotplug    memory hot-plug: while the guest pauses between two patterns, QEMU's monitor adds
#                         a 128 MiB memfd DIMM (object_add + device_add pc-dimm); the back-end must map the
#                         new region (ADD_MEM_REG, or SET_MEM_TABLE) and go on serving
#   --ref      back-end: qemu-storage-daemon's vhost-user-blk export (the reference, third-party)
#   --bin PATH back-end: cvmm-blk (PATH --socket-path=SOCK --blk-file=FILE [--read-only] [--num-queues=N])
# Exit status 0 pass, 1 fail, 77 skip. See lib.sh for the environment.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VARIANT=${1:-}
case "$VARIANT" in plain|packed|mq|ro|reconnect|hotplug) shift ;; *) echo "usage: $0 plain|packed|mq|ro|reconnect|hotplug --ref|--bin PATH" >&2; exit 2 ;; esac
REF=0 BIN=""
case "${1:-}" in
    --ref) REF=1 ;;
    --bin) BIN=${2:?--bin PATH}; [ -x "$BIN" ] || { echo "$0: not executable: $BIN" >&2; exit 2; } ;;
    *) echo "usage: $0 $VARIANT --ref|--bin PATH" >&2; exit 2 ;;
esac

if [ "$REF" = 1 ]; then e2e_init "ref-blk-$VARIANT"; else e2e_init "blk-$VARIANT"; fi

DISK=$E2E_TMP/disk.img
SOCK=$E2E_TMP/blk.sock
MARKER=CVMM-HOST-MARKER
e2e_make_disk "$DISK" 64M "$MARKER"
SECTORS=$((64 * 1024 * 1024 / 512))

queues=1 ro=0
[ "$VARIANT" = mq ] && queues=2
[ "$VARIANT" = ro ] && ro=1

# The back-end command for this variant.
if [ "$REF" = 1 ]; then
    e2e_need_pkgs qemu-system-common    # qemu-storage-daemon
    writable=on
    [ "$ro" = 1 ] && writable=off
    be=(qemu-storage-daemon
        --blockdev "driver=file,node-name=disk0,filename=$DISK"
        --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$SOCK,writable=$writable,num-queues=$queues")
else
    be=("$BIN" "--socket-path=$SOCK" "--blk-file=$DISK")
    [ "$ro" = 1 ] && be+=(--read-only)
    [ "$queues" != 1 ] && be+=("--num-queues=$queues")
fi

guest=(--blk "$SOCK" --script "$E2E_GUEST_SCRIPTS/blk.sh")
append="blk_marker=$MARKER blk_sectors=$SECTORS"
case "$VARIANT" in
    packed)
        guest+=(--extra "-global vhost-user-blk-pci.packed=on")
        # qemu-storage-daemon 7.2 (libvhost-user) does not offer VIRTIO_F_RING_PACKED, so with it QEMU
        # accepts packed=on and the guest falls back to the split ring; cvmm-blk must negotiate packed.
        if [ "$REF" = 1 ]; then append+=" blk_packed=0"; else append+=" blk_packed=1"; fi ;;
    mq) guest+=(--blk-queues 2 --smp 2); append+=" blk_queues=2" ;;
    ro) append+=" blk_ro=1" ;;
    reconnect)
        guest+=(--chardev-opts reconnect=1)
        append+=" blk_pause=120 blk_marker2=CVMM-RESTARTED blk_marker2_off=4096"
        # qemu-storage-daemon 7.2 answers a request twice when it was in flight at its SIGTERM (the guest
        # logs "req.0:id 0 is not a head!" and its next write fails; one loaded run): the reference run
        # restarts with nothing in flight, the guest reads only after the host's E2E-GO.  cvmm-blk's run
        # keeps the guest reading across the restart.
        if [ "$REF" = 1 ]; then append+=" blk_go=1"; fi ;;
    hotplug)
        # QEMU merges the two -m options; its monitor is a pair of fifos (MON.in, MON.out)
        mkfifo "$E2E_TMP/mon.in" "$E2E_TMP/mon.out"
        guest+=(--extra "-m slots=2,maxmem=1G -chardev pipe,id=mon0,path=$E2E_TMP/mon -mon chardev=mon0,mode=readline")
        append+=" blk_pause=120 blk_mem=1" ;;
esac

# memfds PID: how many distinct memfd files PID (or a descendant: a wrapper's device, as
# scripts/sandbox-trace.sh runs it) has mapped: guest memory regions.
memfds() {
    local all=$1 p=$1 _
    for _ in 1 2 3; do
        p=$(pgrep -d, -P "$p") || break
        all+=",$p"
    done
    for p in ${all//,/ }; do awk '/\/memfd:/ { print $5 }' "/proc/$p/maps" 2>/dev/null; done | sort -u | wc -l
}
guest+=(--append "$append")

sum_before=$(sha256sum "$DISK" | cut -d' ' -f1)
e2e_backend_start blk "$SOCK" "${be[@]}"
if [ "$VARIANT" = reconnect ]; then
    e2e_boot_bg --input "${guest[@]}"
    e2e_wait_console '^E2E-PAUSE blk'
    e2e_backend_restart blk --between e2e_write_marker "$DISK" 4096 CVMM-RESTARTED
    if [ "$REF" = 1 ]; then e2e_guest_send E2E-GO; fi
    e2e_wait_guest
elif [ "$VARIANT" = hotplug ]; then
    e2e_boot_bg --input "${guest[@]}"
    cat "$E2E_TMP/mon.out" >"$E2E_TMP/monitor.log" &
    e2e_on_exit "kill $! 2>/dev/null"
    e2e_wait_console '^E2E-PAUSE blk'
    pid=$(e2e_backend_pid blk)
    n0=$(memfds "$pid")
    e2e_log "the back-end maps $n0 memfd(s); hot-plugging a 128 MiB DIMM"
    printf '%s\n' "object_add memory-backend-memfd,id=hp0,size=128M,share=on" "device_add pc-dimm,id=dimm0,memdev=hp0" \
        >"$E2E_TMP/mon.in"
    for _ in $(seq 600); do [ "$(memfds "$pid")" -gt "$n0" ] && break; e2e_backend_alive blk; sleep 0.05; done
    [ "$(memfds "$pid")" -gt "$n0" ] ||
        e2e_fail "the back-end did not map the hot-plugged memory within 30 s (monitor: $(tr '\n' ' ' <"$E2E_TMP/monitor.log"))"
    e2e_log "the back-end maps $(memfds "$pid") memfds after the hot-plug"
    e2e_guest_send E2E-GO
    e2e_wait_guest
else
    e2e_boot "${guest[@]}"
fi
e2e_guest_ok
e2e_expect '^blk: PASS'
e2e_check_blk_file "$DISK"
if [ "$ro" = 1 ]; then
    [ "$(sha256sum "$DISK" | cut -d' ' -f1)" = "$sum_before" ] || e2e_fail "the read-only disk image changed"
    e2e_log "read-only disk image unchanged"
fi
e2e_finish
