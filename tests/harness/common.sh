# shellcheck shell=bash
# common.sh - helpers sourced by every script of cvmm's test harness (tests/harness). Never run directly.
# A script sets H_NAME before sourcing this file; messages go to stderr as "H_NAME: ...".

h_say() { printf '%s: %s\n' "${H_NAME:-harness}" "$*" >&2; }
h_die() { h_say "error: $*"; exit 1; }

# h_root CMD...: CMD as root (sudo when we are not root).
h_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# h_pkgs PKG...: make sure the Debian packages are installed. Installs the missing ones quietly (one line
# says which), runs `apt-get update` once and retries when the first install fails (empty package lists on
# a fresh machine). CVMM_HARNESS_NO_APT=1 forbids installing: a missing package is then an error.
h_pkgs() {
    local want=() p out
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || want+=("$p")
    done
    [ ${#want[@]} = 0 ] && return 0
    [ "${CVMM_HARNESS_NO_APT:-0}" != 1 ] || h_die "packages missing and CVMM_HARNESS_NO_APT=1: ${want[*]}"
    h_say "installing ${want[*]}"
    out=$(mktemp)
    if h_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >"$out" 2>&1; then
        rm -f "$out"; return 0
    fi
    if h_root apt-get update -qq >>"$out" 2>&1 &&
       h_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >>"$out" 2>&1; then
        rm -f "$out"; return 0
    fi
    cat "$out" >&2; rm -f "$out"
    h_die "could not install ${want[*]}"
}

# h_kvm_problem: print why KVM cannot boot our (stock Debian) guest kernel and return 1, or print nothing
# and return 0 when it can. The checks go from cheap to costly: the device node and its permissions, a
# hardware KVM module (kvm_pvm alone runs only PVM-enabled kernels), QEMU's -accel kvm, a -cpu host vCPU
# (nested hosts can fail there with "failed to set MSR").
h_kvm_problem() {
    local qemu=${QEMU:-qemu-system-x86_64}
    [ -e /dev/kvm ] || { echo "no /dev/kvm"; return 1; }
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "/dev/kvm is not read-write for $(id -un)"; return 1; }
    if [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
        if [ -d /sys/module/kvm_pvm ]; then echo "only kvm_pvm is loaded (PVM boots PVM-enabled kernels only)"
        else echo "neither kvm_intel nor kvm_amd is loaded"; fi
        return 1
    fi
    echo quit | timeout 20 "$qemu" -accel kvm -machine none -nodefaults -display none -monitor stdio \
        >/dev/null 2>&1 || { echo "qemu -accel kvm does not start"; return 1; }
    echo quit | timeout 20 "$qemu" -accel kvm -machine q35 -cpu host -nodefaults -display none -S \
        -monitor stdio >/dev/null 2>&1 || { echo "qemu cannot create a -cpu host vCPU"; return 1; }
    return 0
}

# h_secs_since T0: seconds since $EPOCHREALTIME value T0, two decimals.
h_secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# H_AWK: an awk that handles its input line by line (Debian's default mawk buffers pipes in big blocks).
# shellcheck disable=SC2034  # used by the scripts that source this file
if awk -W version 2>&1 | grep -qi mawk; then H_AWK=(awk -W interactive); else H_AWK=(awk); fi
