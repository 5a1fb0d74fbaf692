#!/usr/bin/env bash
# e2e-migrate.sh - live migration of a guest between two QEMU 7.2 processes on this machine, each with its
# own back-end process (TCG).
#
# Usage: e2e-migrate.sh VARIANT (--ref | --bin PATH)
#   VARIANT    blk        the guest migrates from QEMU A (cvmm-blk A) to QEMU B (cvmm-blk B, same backing
#                         file) while it does I/O: guest/migdma.c (built static here) writes a pattern per
#                         round and reads it back with O_DIRECT into a buffer only the device writes, and
#                         checks that buffer at the start of the next round, so the first round on B
#                         fails unless the back-end logged its last writes on A; it also writes numbered
#                         records, all read back at the end; the host checks the backing file.  (Without
#                         a static toolchain: records read back through the page cache, a weaker check.)
#              blk-cancel the same, but the migration is throttled (max-bandwidth) and cancelled half way:
#                         the guest goes on running on A and verifies; B gives up
#              net        the guest pings a host network namespace through cvmm-net (A: tap0, B: tap1, one
#                         bridge) every 0.2 s across the switch; after it the host pings the guest; the
#                         guest reports its unanswered pings (no bound: informative) and must be answered
#                         again afterwards
#   --ref      (blk variants) back-end: qemu-storage-daemon's vhost-user-blk export (the reference, third
#              party; both share the file with locking=off), to tell QEMU's own behaviour from ours
#   --bin PATH back-end: cvmm-blk (blk variants) or cvmm-net (net)
# CVMM_E2E_MIGRATE_BW=BYTES/S throttles the migration (a longer first pass while the guest writes; still
# one live sync, see below; blk-cancel always runs at 1 MiB/s).
# Prints the migration's figures from QMP query-migrate on the source: total-time, downtime (ms).
# Exit status 0 pass, 1 fail, 77 skip (net needs root for the network namespace). See lib.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VARIANT=${1:-}
case "$VARIANT" in blk|blk-cancel|net) shift ;; *) echo "usage: $0 blk|blk-cancel|net --bin PATH" >&2; exit 2 ;; esac
REF=0 BIN=""
case "${1:-}" in
    --ref) REF=1; [ "$VARIANT" != net ] || { echo "$0: net has no --ref" >&2; exit 2; } ;;
    --bin) BIN=${2:-}; [ -x "$BIN" ] || { echo "$0: not executable: $BIN" >&2; exit 2; } ;;
    *) echo "usage: $0 $VARIANT --ref|--bin PATH" >&2; exit 2 ;;
esac

if [ "$REF" = 1 ]; then e2e_init "ref-migrate-$VARIANT"; else e2e_init "migrate-$VARIANT"; fi
[ "$VARIANT" != net ] || e2e_need_netns
QMP_PY=$E2E_HARNESS/qmp.py
PY=python3
[ ! -x /usr/bin/python3 ] || PY=/usr/bin/python3   # not a version-manager shim: ~1.5 s per start under load
SRC_QMP=$E2E_TMP/src.qmp DST_QMP=$E2E_TMP/dst.qmp MIG=unix:$E2E_TMP/migrate.sock
DST_PID="" DST_CONSOLE=$E2E_TMP/dst-console.log
MARKER=CVMM-MIGRATED
[ "$VARIANT" = blk-cancel ] && MARKER=CVMM-CANCELLED

# qmp SOCK STEP...: run QMP steps (qmp.py); their answers go into QMP_OUT. Fails the test on an error
# answer (called in the main shell, never in $(...), so that the FAIL line is seen).
QMP_OUT=""
qmp() { QMP_OUT=$("$PY" "$QMP_PY" "$@" 2>&1) || e2e_fail "QMP $*: $QMP_OUT"; }

# The destination: the same machine as the source, waiting for the migration on $MIG. Its console goes
# to $DST_CONSOLE (echoed with a "  dest| " prefix); it runs until the test ends or QEMU gives up.
start_destination() {
    e2e_log "starting the destination QEMU: run-guest.sh $* --incoming $MIG"
    "$E2E_HARNESS/run-guest.sh" --guest "$E2E_GUEST" --log "$DST_CONSOLE" \
        --qmp "$DST_QMP" --incoming "$MIG" "$@" 2>"$E2E_TMP/dst-run.err" </dev/null > >(sed -u 's/^/  dest| /') &
    DST_PID=$!
    e2e_on_exit '[ -z "$DST_PID" ] || { kill -TERM "$DST_PID" 2>/dev/null; wait "$DST_PID" 2>/dev/null; }'
    local st
    qmp "$DST_QMP" query-status
    case "$QMP_OUT" in *inmigrate*) ;; *) e2e_fail "the destination is not waiting for a migration: $QMP_OUT" ;; esac
    e2e_log "destination ready: $QMP_OUT"
}

# mig_field JSON KEY: a top-level number of a query-migrate answer ("" if absent).
mig_field() { "$PY" -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }
ram_field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get("ram",{}).get(sys.argv[2],0))' "$1" "$2"; }

read -r BECPU QCPU < <(e2e_tcg_cpus)
MEM_MB=256
common=(--mem ${MEM_MB}M --taskset "$QCPU" --timeout "${CVMM_E2E_TIMEOUT:-300}")  # two guests share one CPU
if [ "$VARIANT" = net ]; then
    e2e_netns_create NS
    ip -n "$NS" link add br0 type bridge forward_delay 0 stp_state 0
    ip -n "$NS" addr add 192.0.2.1/24 dev br0
    for t in tap0 tap1; do
        ip netns exec "$NS" ip tuntap add dev "$t" mode tap || e2e_fail "ip tuntap add $t failed"
        ip -n "$NS" link set "$t" master br0
        ip -n "$NS" link set "$t" up
    done
    ip -n "$NS" link set br0 up
    e2e_log "bridge br0 (192.0.2.1/24) in $NS with tap0 (source) and tap1 (destination)"
    e2e_backend_start --netns "$NS" net-a "$E2E_TMP/a.sock" "$BIN" "--socket-path=$E2E_TMP/a.sock" --tap=tap0
    e2e_backend_start --netns "$NS" net-b "$E2E_TMP/b.sock" "$BIN" "--socket-path=$E2E_TMP/b.sock" --tap=tap1
    common+=(--script "$E2E_GUEST_SCRIPTS/net.sh" --append "net_count=3 net_wait_echo=3 net_wait_s=150 net_bg_ping=1")
    src=(--net "$E2E_TMP/a.sock") dst=(--net "$E2E_TMP/b.sock")
else
    DISK=$E2E_TMP/disk.img
    e2e_make_disk "$DISK" 64M
    for s in a b; do
        if [ "$REF" = 1 ]; then
            e2e_need_pkgs qemu-system-common # qemu-storage-daemon
            e2e_backend_start "blk-$s" "$E2E_TMP/$s.sock" qemu-storage-daemon \
                --blockdev "driver=file,node-name=disk0,filename=$DISK,locking=off" \
                --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$E2E_TMP/$s.sock,writable=on"
        else
            e2e_backend_start "blk-$s" "$E2E_TMP/$s.sock" "$BIN" "--socket-path=$E2E_TMP/$s.sock" "--blk-file=$DISK"
        fi
    done
    common+=(--script "$E2E_GUEST_SCRIPTS/migrate-blk.sh" --append "mig_marker=$MARKER")
    if gcc -static -O2 -o "$E2E_TMP/migdma" "$E2E_GUEST_SCRIPTS/migdma.c" 2>"$E2E_TMP/gcc.log"; then
        common+=(--file "$E2E_TMP/migdma:/bin/migdma")
    else
        e2e_log "no static C toolchain (see $E2E_TMP/gcc.log): the guest checks records through its page cache only"
    fi
    src=(--blk "$E2E_TMP/a.sock") dst=(--blk "$E2E_TMP/b.sock")
fi

e2e_boot_bg "${src[@]}" --qmp "$SRC_QMP" "${common[@]}"
SRC_CONSOLE=$E2E_CONSOLE
e2e_wait_console '^E2E-(MIGRATE|NET)-READY' 150
start_destination "${dst[@]}" "${common[@]}"

BW=${CVMM_E2E_MIGRATE_BW:-}
# 1 MiB/s: the guest's non-zero memory (kernel, initramfs, page cache: ~70 MB) takes a minute to send.
[ "$VARIANT" != blk-cancel ] || BW=1048576
if [ -n "$BW" ]; then
    qmp "$SRC_QMP" migrate-set-parameters "{\"max-bandwidth\": $BW}"
    e2e_log "migration bandwidth limited to $BW bytes/s"
fi
# One live dirty-bitmap sync, then the switch-over (not for blk-cancel, which never switches over).
# Under TCG a guest store that checked its TLB entry before a sync cleared the page's dirty bit, and wrote
# after the page was sent, is lost on the destination (QEMU 7.2 accel/tcg/cputlb.c resets the entries from
# the migration thread without waiting for the vCPU; tests/devices/README.md): pages a live sync collects
# and QEMU then sends while the guest runs are exposed, pages it sends after stopping the guest are not.
# Seen: destination kernels crashed after 4-6 syncs, never after 3 (setup, one live, the final one).
# So the first pass runs with a 1 ms downtime limit (QEMU syncs again only when almost nothing is left),
# and once at most a quarter of the RAM is left the limit goes up to 60 s: the next sync is followed by
# the switch-over at once.  Three quarters of the RAM still go while the guest and the back-end run, so
# the back-end's dirty log is what keeps the buffers it writes afterwards right on the destination.
SWITCH_LEFT=$((MEM_MB * 1048576 / 4))
[ "$VARIANT" = blk-cancel ] || qmp "$SRC_QMP" migrate-set-parameters '{"downtime-limit": 1}'
e2e_log "migrating to $MIG"
qmp "$SRC_QMP" migrate "{\"uri\": \"$MIG\"}"
if [ "$VARIANT" != blk-cancel ]; then
    rc=0
    out=$("$PY" "$QMP_PY" "$SRC_QMP" --wait-remaining "$SWITCH_LEFT" 120 migrate-set-parameters '{"downtime-limit": 60000}' 2>&1) || rc=$?
    st=${out%%$'\n'*}
    case "$rc:$(mig_field "$st" status 2>/dev/null)" in
        0:*) e2e_log "switch-over allowed: $(ram_field "$st" remaining) bytes left, $(ram_field "$st" transferred) sent," \
                     "dirty-sync-count $(ram_field "$st" dirty-sync-count)" ;;
        1:completed) e2e_log "the migration completed before a quarter was left (a guest that wrote almost nothing)" ;;
        *) e2e_fail "QMP --wait-remaining $SWITCH_LEFT (status $rc): $out" ;;
    esac
fi

if [ "$VARIANT" = blk-cancel ]; then
    # Half way: once the migration is active and has sent 4 MiB, cancel it on the same QMP connection.
    qmp "$SRC_QMP" --wait-transferred 4194304 120 migrate_cancel
    st=${QMP_OUT%%$'\n'*}
    e2e_log "cancelled at $(ram_field "$st" transferred) bytes sent, $(ram_field "$st" remaining) remaining"
    rc=0
    st=$("$PY" "$QMP_PY" "$SRC_QMP" --wait-migration 60) || rc=$?
    [ "$(mig_field "$st" status)" = cancelled ] || e2e_fail "migration not cancelled (status $rc): $st"
    qmp "$SRC_QMP" query-status
    run=$QMP_OUT
    case "$run" in *'"running": true'*) ;; *) e2e_fail "the source is not running after the cancel: $run" ;; esac
    e2e_log "migration cancelled; the source runs: $run"
    # The destination's incoming migration failed: QEMU ends by itself.
    drc=0
    wait "$DST_PID" || drc=$?
    DST_PID=""
    e2e_log "destination QEMU ended (run-guest status $drc)"
    ! grep -q '^GUEST-EXIT' "$DST_CONSOLE" || e2e_fail "the guest ran on the destination"
    e2e_backend_alive blk-b
    e2e_write_marker "$DISK" 0 "$MARKER"
    e2e_log "host marker written: the guest finishes on the source"
    e2e_wait_guest
    e2e_guest_ok
    e2e_expect '^migrate-blk: PASS' '^(migrate-blk|migdma): [0-9]+ (records|rounds)'
    e2e_check_blk_file "$DISK"
    e2e_finish
fi

rc=0
st=$("$PY" "$QMP_PY" "$SRC_QMP" --wait-migration 120) || rc=$?
[ "$rc" = 0 ] || e2e_fail "migration did not complete (status $rc): $st"
e2e_log "MIGRATION total-time=$(mig_field "$st" total-time)ms downtime=$(mig_field "$st" downtime)ms" \
        "setup-time=$(mig_field "$st" setup-time)ms ram-transferred=$(ram_field "$st" transferred)" \
        "dirty-sync-count=$(ram_field "$st" dirty-sync-count)"
"$PY" "$QMP_PY" "$SRC_QMP" quit >/dev/null 2>&1 || true
e2e_wait_guest
[ "$E2E_GUEST_RC" = 125 ] || e2e_fail "the source's run-guest ended with $E2E_GUEST_RC (expected 125: quit after migrating)"
e2e_log "source QEMU quit after the migration"
# From here on lib.sh's guest is the destination.
mv "$E2E_TMP/run.err" "$E2E_TMP/src-run.err"
ln -s dst-run.err "$E2E_TMP/run.err"
E2E_CONSOLE=$DST_CONSOLE
E2E_RUNPID=$DST_PID DST_PID=""
# The guest may have ended already (a failed check powers it off): only report what QMP says. A QEMU that
# has ended took its socket away; it is not asked (qmp.py would wait for the socket to appear, 60 s).
st="its QMP socket is gone (QEMU has ended)"
[ ! -S "$DST_QMP" ] || st=$("$PY" "$QMP_PY" "$DST_QMP" query-status 2>&1) || true
e2e_log "destination: ${st:-no answer}"
if [ "$VARIANT" = net ]; then
    e2e_netns_exec "$NS" ping -c 5 -i 0.5 -W 3 192.0.2.2 || true
    e2e_wait_guest
    e2e_guest_ok
    e2e_expect '^net: PASS' '^MIG-NET '
    e2e_log "guest: $(grep -m1 '^MIG-NET' "$E2E_CONSOLE")"
    e2e_finish
fi
e2e_write_marker "$DISK" 0 "$MARKER"
e2e_log "host marker written: the guest finishes on the destination"
e2e_wait_guest
e2e_guest_ok
e2e_expect '^migrate-blk: PASS' '^(migrate-blk|migdma): [0-9]+ (records|rounds)'
grep -q "^GUEST-SCRIPT-START" "$SRC_CONSOLE" || e2e_fail "the source console has no script start"
e2e_check_blk_file "$DISK"
e2e_finish
