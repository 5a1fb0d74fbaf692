#!/usr/bin/env bash
# run-guest.sh - boot the test guest (guest-image.sh) headless under QEMU with vhost-user devices attached
# by socket path, and report the guest script's exit status. See --help.
set -euo pipefail
H_NAME=run-guest
H_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$H_DIR/common.sh"

help() {
    cat <<'EOT'
usage: run-guest.sh [options]

QEMU (q35, -nodefaults: no NIC but ours, no user-mode network) with its RAM in a shared memfd, as
vhost-user needs, the serial console on stdout, KVM when it works here and TCG otherwise.
The guest                --guest DIR (default $GUEST_DIR or ./guest)   --kernel FILE   --initrd FILE
                         --script FILE   becomes /guest.sh (an overlay appended to the initramfs)
                         --file SRC:DEST (repeatable)   --cmd 'CMD' (kernel parameter guest_cmd)
                         --append 'ARGS' (KEY=VALUE reach the script as variables)   --verbose (no 'quiet')
                         --interactive (stdin goes to the console)
The machine              --mem SIZE (512M)   --smp N (1)   --accel auto|kvm|tcg (auto)   --cpu MODEL
                         --timeout SECS (120; then exit 124)   --taskset CPUS (pin QEMU)
vhost-user devices       --net SOCK: -netdev vhost-user + virtio-net-pci, MAC 52:54:00:00:00:0N (repeatable)
                         --net-queues N   --net-msix auto|on|off (auto: off under TCG, see below)
                         --blk SOCK: vhost-user-blk-pci   --blk-queues N
                         --rng SOCK: vhost-user-rng-pci
                         --chardev-opts S  added to every vhost-user chardev ('server=on,wait=on': QEMU listens;
                                           'reconnect=1': QEMU connects again when the back-end restarts)
                         --extra 'ARGS'  more QEMU arguments (split on blanks)
Migration                --qmp SOCK   a QMP monitor on unix socket SOCK (tests/harness/qmp.py talks to it)
                         --incoming URI   wait for an incoming migration (QEMU -incoming, e.g. unix:PATH);
                                          the guest's console continues here once the migration completed
Output                   --log FILE (a copy of the console)   --dry-run (print the QEMU command only)

stderr gets the accelerator and why, the QEMU command, and last a line like
  run-guest: accel=tcg exit=0 script_start=3.49s total=3.58s
(script_start: host seconds from starting QEMU to the guest's GUEST-SCRIPT-START line).
Exit status: the guest script's (its GUEST-EXIT=N line); 124 timeout; 125 QEMU ended without GUEST-EXIT
(also the source of a completed migration, which the test ends with QMP quit).
MSI-X: Debian's QEMU 7.2 under TCG can crash in vhost_net_start (msix_set_vector_notifiers) when the
guest starts a vhost-user NIC with MSI-X, so --net-msix auto gives the NIC vectors=0 under TCG.
Environment: GUEST_DIR, QEMU (default qemu-system-x86_64), CVMM_HARNESS_NO_APT=1, TMPDIR.
EOT
}

guest=${GUEST_DIR:-./guest} kernel="" initrd="" script="" cmd="" append="" verbose=0 interactive=0
mem=512M smp=1 accel=auto cpu="" timeout_s=120 taskset="" netq=1 netmsix=auto blkq=1 chopts="" log="" dry=0
qmp="" incoming=""
nets=() blks=() rngs=() files=() extra=()
QEMU=${QEMU:-qemu-system-x86_64}
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --guest) guest=${2:?}; shift 2 ;;            --kernel) kernel=${2:?}; shift 2 ;;
        --initrd) initrd=${2:?}; shift 2 ;;          --script) script=${2:?}; shift 2 ;;
        --file) files+=("${2:?}"); shift 2 ;;        --cmd) cmd=${2:?}; shift 2 ;;
        --append) append="$append ${2:?}"; shift 2 ;;
        --verbose) verbose=1; shift ;;               --interactive) interactive=1; shift ;;
        --mem) mem=${2:?}; shift 2 ;;                --smp) smp=${2:?}; shift 2 ;;
        --accel) accel=${2:?}; shift 2 ;;            --cpu) cpu=${2:?}; shift 2 ;;
        --timeout) timeout_s=${2:?}; shift 2 ;;      --taskset) taskset=${2:?}; shift 2 ;;
        --net) nets+=("${2:?}"); shift 2 ;;          --net-queues) netq=${2:?}; shift 2 ;;
        --net-msix) netmsix=${2:?}; shift 2 ;;
        --blk) blks+=("${2:?}"); shift 2 ;;          --blk-queues) blkq=${2:?}; shift 2 ;;
        --rng) rngs+=("${2:?}"); shift 2 ;;          --chardev-opts) chopts=${2:?}; shift 2 ;;
        --extra) read -r -a more <<<"${2:?}"; extra+=("${more[@]}"); shift 2 ;;
        --log) log=${2:?}; shift 2 ;;                --dry-run) dry=1; shift ;;
        --qmp) qmp=${2:?}; shift 2 ;;                --incoming) incoming=${2:?}; shift 2 ;;
        *) help >&2; h_die "unknown argument $1" ;;
    esac
done
if [ -z "$kernel" ]; then
    kernel=$guest/vmlinuz
    [ ! -f "$guest/vmlinux" ] || kernel=$guest/vmlinux
fi
initrd=${initrd:-$guest/initramfs.cpio.gz}
[ -f "$kernel" ] && [ -f "$initrd" ] || h_die "no guest in $guest (build it with guest-image.sh $guest)"
h_pkgs qemu-system-x86 cpio gzip

case $accel in
    auto) if why=$(h_kvm_problem); then accel=kvm why="KVM works here"; else accel=tcg; fi ;;
    kvm) why="asked for"; if w=$(h_kvm_problem); then :; else h_say "warning: KVM looks unusable ($w)"; fi ;;
    tcg) why="asked for" ;;
    *) h_die "--accel takes auto, kvm or tcg" ;;
esac
h_say "accelerator $accel ($why)"
if [ -z "$cpu" ]; then
    cpu=max
    [ "$accel" != kvm ] || cpu=host
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-run-guest.XXXXXX")
qpid=""
trap '[ -z "$qpid" ] || kill "$qpid" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
if [ -n "$script" ] || [ ${#files[@]} -gt 0 ]; then
    ov=(--overlay "$work/overlay.cpio.gz")
    [ -z "$script" ] || ov+=(--script "$script")
    for f in ${files[@]+"${files[@]}"}; do ov+=(--file "$f"); done
    "$H_DIR/guest-image.sh" "${ov[@]}" 2>/dev/null || "$H_DIR/guest-image.sh" "${ov[@]}"
    cat "$initrd" "$work/overlay.cpio.gz" >"$work/initrd.cpio.gz"
    initrd=$work/initrd.cpio.gz
fi

# no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can miss its ticks and panic
# ("IO-APIC + timer doesn't work!"); the check only guards against broken real hardware.
kargs="console=ttyS0 panic=-1 no_timer_check"
[ "$verbose" = 1 ] || kargs="$kargs quiet"
[ -z "$cmd" ] || kargs="$kargs guest_cmd=\"$cmd\""
kargs="$kargs$append"
q=("$QEMU" -machine q35 -accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem"
   -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem
   -nodefaults -no-user-config -display none -serial stdio -no-reboot
   -kernel "$kernel" -initrd "$initrd" -append "$kargs")
chardev() { echo "socket,id=$1,path=$2${chopts:+,$chopts}"; }
n=0
for s in ${nets[@]+"${nets[@]}"}; do
    dev="virtio-net-pci,netdev=net$n,mac=52:54:00:00:00:$(printf %02x $((n + 1)))"
    [ "$netq" -le 1 ] || dev="$dev,mq=on"
    # Quirk VUB_QUIRK_QEMU72_TCG_NET_MSIX (vhost-user-backend/include/cvmm/vub/quirks.h): see --help.
    if [ "$netmsix" = off ] || { [ "$netmsix" = auto ] && [ "$accel" = tcg ]; }; then
        dev="$dev,vectors=0"
    elif [ "$netq" -gt 1 ]; then
        dev="$dev,vectors=$((2 * netq + 2))"
    fi
    q+=(-chardev "$(chardev "vhu-net$n" "$s")" -netdev "vhost-user,id=net$n,chardev=vhu-net$n,queues=$netq"
        -device "$dev")
    n=$((n + 1))
done
n=0
for s in ${blks[@]+"${blks[@]}"}; do
    q+=(-chardev "$(chardev "vhu-blk$n" "$s")" -device "vhost-user-blk-pci,chardev=vhu-blk$n,num-queues=$blkq")
    n=$((n + 1))
done
if [ ${#rngs[@]} -gt 0 ] && ! "$QEMU" -device help 2>&1 | grep -q '"vhost-user-rng-pci"'; then
    h_die "$QEMU has no vhost-user-rng-pci"
fi
n=0
for s in ${rngs[@]+"${rngs[@]}"}; do
    q+=(-chardev "$(chardev "vhu-rng$n" "$s")" -device "vhost-user-rng-pci,chardev=vhu-rng$n")
    n=$((n + 1))
done
[ -z "$qmp" ] || q+=(-qmp "unix:$qmp,server=on,wait=off")
[ -z "$incoming" ] || q+=(-incoming "$incoming")
q+=(${extra[@]+"${extra[@]}"})
[ -z "$taskset" ] || q=(taskset -c "$taskset" "${q[@]}")
h_say "qemu: $(printf '%q ' "${q[@]}")"
[ "$dry" = 0 ] || exit 0

# QEMU's console goes through a fifo so that each line is shown, logged and scanned as it comes.
[ -z "$log" ] || : >"$log"
mkfifo "$work/console"
t0=$EPOCHREALTIME
if [ "$interactive" = 1 ]; then # <&0: a background job's stdin would be /dev/null otherwise
    timeout --foreground -k 5 "$timeout_s" "${q[@]}" >"$work/console" 2>&1 <&0 &
else
    timeout --foreground -k 5 "$timeout_s" "${q[@]}" >"$work/console" 2>&1 </dev/null &
fi
qpid=$!
t_script="" guest_rc=""
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    printf '%s\n' "$line"
    [ -z "$log" ] || printf '%s\n' "$line" >>"$log"
    case $line in
        GUEST-SCRIPT-START*) [ -n "$t_script" ] || t_script=$EPOCHREALTIME ;;
        GUEST-EXIT=*) guest_rc=${line#GUEST-EXIT=}; guest_rc=${guest_rc%% *} ;;
    esac
done <"$work/console"
qrc=0
wait "$qpid" || qrc=$?
qpid=""
st=n/a
[ -z "$t_script" ] || st=$(awk -v a="$t0" -v b="$t_script" 'BEGIN { printf "%.2fs", b - a }')
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    h_say "accel=$accel TIMEOUT after ${timeout_s}s script_start=$st"
    exit 124
fi
if [ -z "$guest_rc" ]; then
    h_say "accel=$accel qemu_exit=$qrc no GUEST-EXIT line script_start=$st total=$(h_secs_since "$t0")s"
    exit 125
fi
h_say "accel=$accel exit=$guest_rc script_start=$st total=$(h_secs_since "$t0")s"
exit "$guest_rc"
