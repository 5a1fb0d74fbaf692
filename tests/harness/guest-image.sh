#!/usr/bin/env bash
# guest-image.sh - the guest of cvmm's end-to-end tests: Debian's own amd64 kernel and a busybox initramfs
# whose /init loads the virtio drivers and runs one test script. See --help.
set -euo pipefail
H_NAME=guest-image
H_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$H_DIR/common.sh"

help() {
    cat <<'EOT'
usage: guest-image.sh OUTDIR [--script FILE] [--file SRC:DEST]... [--modules LIST] [--kernel-pkg PKG] [--no-vmlinux]
       guest-image.sh --overlay OUT.cpio.gz [--script FILE] [--file SRC:DEST]...

Writes into OUTDIR:
  vmlinuz            Debian's kernel (the package linux-image-amd64 points at, fetched with apt-get download
                     into OUTDIR/.cache and unpacked there with dpkg-deb: the host's kernel is not touched)
  vmlinux            the same kernel uncompressed (an ELF with a PVH entry note): QEMU boots it directly and
                     skips the decompression, about twice as fast under TCG; --no-vmlinux leaves it out
  initramfs.cpio.gz  busybox-static, the virtio modules with their dependencies, and /init
  kernel-version     the kernel release;   modules.txt   the modules /init loads, in order

/init mounts /dev /proc /sys /dev/pts /tmp /run, loads the modules, prints
  guest-init: Linux <release>, <n> cpu, <kB> kB, up <s> s
then runs /guest.sh (from --script, or from an overlay appended to the initramfs), else the shell command
in the kernel parameter guest_cmd="...", else a listing of the virtio devices, NICs, disks and hwrng. The
script's output is framed by "GUEST-SCRIPT-START <script> (up <s> s)" and "GUEST-EXIT=<status> (up <s> s)",
then the guest powers off. Kernel parameters KEY=VALUE that the kernel does not know reach the script as
environment variables; guest_shell=1 gives a console shell after the script. /bin/wait-for PATH [SECONDS]
waits for a path to appear (a NIC, a disk); /bin/wait-host WORD SECONDS waits for the host to type the line
WORD on the console (run-guest.sh --interactive), for tests whose host acts while the guest waits.

  --script FILE      FILE becomes /guest.sh
  --file SRC:DEST    host file SRC is copied to DEST in the guest (repeatable)
  --modules LIST     more modules (space or comma separated)
  --kernel-pkg PKG   another kernel package
  --overlay OUT      write only a small cpio with --script/--file: appended to an initramfs
                     (cat initramfs.cpio.gz OUT > new) it adds or replaces those files
Environment: CVMM_HARNESS_NO_APT=1 (never apt-get install), TMPDIR.
EOT
}

MODULES="virtio_pci virtio_mmio virtio_net virtio_blk virtio-rng virtio_console virtio_input virtio_scsi sd_mod
virtio_balloon virtiofs vmw_vsock_virtio_transport"
out="" overlay="" script="" kpkg="" vmlinux=1 files=()
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --script) script=${2:?--script FILE}; shift 2 ;;
        --file) files+=("${2:?--file SRC:DEST}"); shift 2 ;;
        --modules) MODULES="$MODULES ${2:?--modules LIST}"; shift 2 ;;
        --kernel-pkg) kpkg=${2:?--kernel-pkg PKG}; shift 2 ;;
        --no-vmlinux) vmlinux=0; shift ;;
        --overlay) overlay=${2:?--overlay OUT}; shift 2 ;;
        -*) help >&2; h_die "unknown option $1" ;;
        *) [ -z "$out" ] || h_die "one OUTDIR only"; out=$1; shift ;;
    esac
done
[ -n "$out$overlay" ] || { help >&2; exit 2; }
[ -z "$script" ] || [ -f "$script" ] || h_die "no script $script"
h_pkgs cpio gzip
work=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-guest-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# put_user_files DIR: the --script and --file entries into the tree DIR.
put_user_files() {
    local f src dst
    [ -z "$script" ] || install -m 0755 "$script" "$1/guest.sh"
    for f in ${files[@]+"${files[@]}"}; do
        src=${f%%:*} dst=${f#*:}
        [ "$src" != "$f" ] && [ -n "$dst" ] || h_die "--file takes SRC:DEST, not $f"
        [ -f "$src" ] || h_die "no file $src"
        mkdir -p "$1/$(dirname "$dst")"
        cp -L "$src" "$1/$dst"
        if [ -x "$src" ]; then chmod 0755 "$1/$dst"; fi
    done
}

# cpio_gz DIR OUT: DIR as a gzip'd newc archive, every file owned by root, in a stable order.
cpio_gz() {
    (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) |
        gzip -9 -n >"$2.part"
    mv -f "$2.part" "$2"
}

if [ -n "$overlay" ]; then
    [ -n "$script" ] || [ ${#files[@]} -gt 0 ] || h_die "--overlay needs --script or --file"
    mkdir -p "$work/overlay" "$(dirname "$overlay")"
    put_user_files "$work/overlay"
    cpio_gz "$work/overlay" "$overlay"
    h_say "overlay $overlay: $(stat -c %s "$overlay") bytes"
    [ -n "$out" ] || exit 0
fi

h_pkgs busybox-static kmod xz-utils
mkdir -p "$out/.cache"

# 1. The kernel package: the one Debian's linux-image-amd64 depends on, downloaded once.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'; }
if [ -z "$kpkg" ]; then
    kpkg=$(kernel_pkg || true)
    if [ -z "$kpkg" ]; then h_root apt-get update -qq >/dev/null 2>&1 || true; kpkg=$(kernel_pkg || true); fi
    [ -n "$kpkg" ] || h_die "apt-cache does not know linux-image-amd64 (run apt-get update)"
fi
deb=$(find "$out/.cache" -maxdepth 1 -name "${kpkg}_*.deb" | sort | tail -n 1)
if [ -z "$deb" ]; then
    h_say "downloading $kpkg"
    as=()
    [ "$(id -u)" != 0 ] || as=(-o APT::Sandbox::User=root)
    if ! (cd "$out/.cache" && apt-get download -qq ${as[@]+"${as[@]}"} "$kpkg" >/dev/null 2>&1); then
        h_root apt-get update -qq >/dev/null 2>&1 || true
        (cd "$out/.cache" && apt-get download -qq ${as[@]+"${as[@]}"} "$kpkg") || h_die "apt-get download $kpkg failed"
    fi
    deb=$(find "$out/.cache" -maxdepth 1 -name "${kpkg}_*.deb" | sort | tail -n 1)
fi
h_say "kernel package $(basename "$deb")"
kroot=$work/kernel
mkdir -p "$kroot"
dpkg-deb -x "$deb" "$kroot"
if [ ! -d "$kroot/lib/modules" ] && [ -d "$kroot/usr/lib/modules" ]; then
    mkdir -p "$kroot/lib" && ln -s ../usr/lib/modules "$kroot/lib/modules"
fi
kver=$(ls "$kroot/lib/modules" | head -n 1)
[ -n "$kver" ] || h_die "$deb holds no modules"
vmlinuz=$(ls "$kroot"/boot/vmlinuz-* | head -n 1)
depmod -b "$kroot" "$kver"

# 2. The initramfs tree: busybox and its applet links, the modules in load order, /init.
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root} "$root/lib/modules/$kver"
cp /bin/busybox "$root/bin/busybox"
/bin/busybox --list-full | while read -r a; do
    [ -z "$a" ] || [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
[ -e "$root/bin/sh" ] || ln -s busybox "$root/bin/sh"
[ "$(id -u)" != 0 ] || mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

: >"$work/load-order"
skipped=""
for m in $(echo "$MODULES" | tr ',\n' '  '); do
    if deps=$(modprobe --show-depends -d "$kroot" -S "$kver" "$m" 2>/dev/null); then
        awk '$1 == "insmod" { print $2 }' <<<"$deps" >>"$work/load-order"
    else
        skipped="$skipped $m"
    fi
done
[ -z "$skipped" ] || h_say "not modules of this kernel, left out:$skipped"
: >"$root/etc/guest-modules"
awk '!seen[$0]++' "$work/load-order" | while read -r path; do
    rel=${path#"$kroot/lib/modules/$kver/"}
    dst=$root/lib/modules/$kver/$rel
    mkdir -p "$(dirname "$dst")"
    case $rel in
        *.ko.xz) xz -dc "$path" >"${dst%.xz}"; rel=${rel%.xz} ;;
        *.ko.gz) gzip -dc "$path" >"${dst%.gz}"; rel=${rel%.gz} ;;
        *.ko.zst) h_pkgs zstd; zstd -qdc "$path" >"${dst%.zst}"; rel=${rel%.zst} ;;
        *) cp "$path" "$dst" ;;
    esac
    echo "$rel" >>"$root/etc/guest-modules"
done

cat >"$root/bin/wait-for" <<'EOT'
#!/bin/sh
# wait-for PATH [SECONDS]: until PATH exists (default 10 s); status 1 when it does not appear in time.
left=$(( ${2:-10} * 10 ))
until [ -e "$1" ]; do
    left=$((left - 1))
    if [ "$left" -le 0 ]; then echo "wait-for: no $1" >&2; exit 1; fi
    usleep 100000
done
EOT
cat >"$root/bin/wait-host" <<'EOT'
#!/bin/sh
# wait-host WORD SECONDS: until the host types the line WORD on the console (other lines are skipped);
# status 1 when no line comes within SECONDS.
line=""
while [ "$line" != "$1" ]; do
    read -r -t "$2" line || { echo "wait-host: the host did not type $1 within $2 s" >&2; exit 1; }
done
EOT
cat >"$root/etc/guest-default.sh" <<'EOT'
#!/bin/sh
# What the guest sees, when no test script was given.
for d in /sys/bus/virtio/devices/*; do
    [ -e "$d" ] || continue
    drv=$(readlink "$d/driver" 2>/dev/null); drv=${drv##*/}
    echo "virtio: ${d##*/} device=$(cat "$d/device") driver=${drv:-none}"
done
for n in /sys/class/net/*; do echo "net: ${n##*/} $(cat "$n/address")"; done
for b in /sys/class/block/*; do [ -e "$b" ] && echo "block: ${b##*/} $(cat "$b/size") sectors"; done
if [ -e /sys/class/misc/hw_random/rng_current ]; then echo "hwrng: $(cat /sys/class/misc/hw_random/rng_current)"; fi
exit 0
EOT
cat >"$root/init" <<'EOT'
#!/bin/sh
# /init of cvmm's test guest (tests/harness/guest-image.sh).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t devtmpfs devtmpfs /dev 2>/dev/null
if [ -c /dev/console ]; then exec </dev/console >/dev/console 2>&1; fi
mkdir -p /dev/pts /dev/shm
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /run
up() { cut -d' ' -f1 /proc/uptime; }
rel=$(uname -r)
echo "guest-init: Linux $rel, $(grep -c ^processor /proc/cpuinfo) cpu, $(awk '/^MemTotal/ { print $2 }' /proc/meminfo) kB, up $(up) s"
while read -r m; do
    [ -n "$m" ] || continue
    insmod "/lib/modules/$rel/$m" 2>/tmp/insmod.err || grep -q exists /tmp/insmod.err ||
        echo "guest-init: insmod $m: $(cat /tmp/insmod.err)"
done </etc/guest-modules
ip link set lo up
hostname guest
script=/etc/guest-default.sh
if [ -f /guest.sh ]; then
    script=/guest.sh
elif [ -n "${guest_cmd:-}" ]; then
    printf '%s\n' "$guest_cmd" >/tmp/guest-cmd.sh; script=/tmp/guest-cmd.sh
fi
echo "GUEST-SCRIPT-START $script (up $(up) s)"
cd /root
/bin/sh "$script"
rc=$?
echo "GUEST-EXIT=$rc (up $(up) s)"
if [ "${guest_shell:-0}" = 1 ]; then
    echo "guest-init: guest_shell=1: a shell; leave it to power off"
    setsid cttyhack /bin/sh -l
fi
sync
poweroff -f
echo o >/proc/sysrq-trigger
sleep 5
EOT
chmod 0755 "$root/init" "$root/bin/wait-for" "$root/bin/wait-host" "$root/etc/guest-default.sh"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
put_user_files "$root"
cpio_gz "$root" "$out/initramfs.cpio.gz"
cp "$vmlinuz" "$out/vmlinuz.part" && mv -f "$out/vmlinuz.part" "$out/vmlinuz"

# 3. vmlinux: Debian's bzImage carries the kernel as an xz stream; when the kernel has CONFIG_PVH, cut
# the stream out, unpack it, and keep it if it is an ELF file.
rm -f "$out/vmlinux"
if [ "$vmlinux" = 1 ] && grep -q '^CONFIG_PVH=y' "$kroot/boot/config-$kver" 2>/dev/null; then
    at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1 || true)
    if [ -n "$at" ]; then
        tail -c +$((at + 1)) "$vmlinuz" | xz -dc >"$work/vmlinux" 2>/dev/null || true
        if [ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
            mv "$work/vmlinux" "$out/vmlinux"
        fi
    fi
    [ -f "$out/vmlinux" ] || h_say "no ELF vmlinux could be unpacked: only vmlinuz"
fi
echo "$kver" >"$out/kernel-version"
cp "$root/etc/guest-modules" "$out/modules.txt"
h_say "kernel $kver, initramfs $(stat -c %s "$out/initramfs.cpio.gz") bytes with $(wc -l <"$out/modules.txt") modules${script:+, /guest.sh from $script}"
