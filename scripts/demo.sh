#!/usr/bin/env bash
# demo.sh - the README's main command: cvmm-blk serving a real Linux guest.
#
# On a fresh Debian 12 machine, as root, from a clone of cvmm (nothing else needed beside it):
#   1. installs the dependencies (scripts/install-deps.sh; skipped when not root),
#   2. builds cvmm-blk with the release preset (build/release),
#   3. creates a 64 MiB sparse disk image with a marker from the host at offset 0,
#   4. starts cvmm-blk on it (vhost-user socket in a temp dir),
#   5. builds the guest (Debian's kernel + a busybox initramfs, cached in build/release/guest),
#   6. boots it under QEMU with a vhost-user-blk-pci disk on cvmm-blk; the guest reads the host's marker,
#      writes a message and 1 MiB of random data to /dev/vda, reads both back and flushes,
#   7. checks from the host that the image file holds what the guest wrote, stops cvmm-blk (SIGTERM) and
#      cleans up.
# Exit status 0 when all of it worked.  Environment: CVMM_HARNESS (default tests/harness),
# CVMM_GUEST_DIR (default build/release/guest), CVMM_DEMO_KEEP=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
T0=$EPOCHREALTIME
step() { printf '[demo %6.2fs] %s\n' "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$*"; }
die() { step "FAILED: $*"; exit 1; }

HARNESS=${CVMM_HARNESS:-$ROOT/tests/harness}
[ -x "$HARNESS/run-guest.sh" ] ||
    die "the vhost-user test harness is missing (looked for $HARNESS/run-guest.sh): CVMM_HARNESS points elsewhere"
HARNESS=$(cd "$HARNESS" && pwd)
GUEST=${CVMM_GUEST_DIR:-$ROOT/build/release/guest}
BIN=$ROOT/build/release/devices/blk/cvmm-blk

WORK="" BLK_PID=""
cleanup() {
    local rc=$?
    set +e
    if [ -n "$BLK_PID" ] && kill -0 "$BLK_PID" 2>/dev/null; then
        kill -TERM "$BLK_PID" 2>/dev/null
        wait "$BLK_PID" 2>/dev/null
    fi
    if [ -n "$WORK" ]; then
        if [ "${CVMM_DEMO_KEEP:-0}" = 1 ]; then echo "demo: kept $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. dependencies --------------------------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
    step "1/7 installing dependencies (scripts/install-deps.sh: compiler, cmake, libev, jansson, QEMU...)"
    bash scripts/install-deps.sh
else
    step "1/7 not root: skipping scripts/install-deps.sh (run this as root on a fresh machine)"
fi

# ---- 2. build -----------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-demo.XXXXXX")
step "2/7 building cvmm-blk (cmake --preset release; log in $WORK/build.log)"
{ cmake --preset release && cmake --build --preset release -j "$(nproc)" --target cvmm-blk; } >"$WORK/build.log" 2>&1 ||
    { tail -n 30 "$WORK/build.log"; die "the build failed"; }
[ -x "$BIN" ] || die "no $BIN after the build"
step "     built $BIN"

# ---- 3. disk image ------------------------------------------------------------------------------------
DISK=$WORK/disk.img
SOCK=$WORK/blk.sock
MARKER="HELLO-FROM-THE-HOST"
truncate -s 64M "$DISK"
printf '%s' "$MARKER" | dd of="$DISK" conv=notrunc status=none
step "3/7 created $DISK: 64 MiB, sparse, with \"$MARKER\" at offset 0"

# ---- 4. the back-end ----------------------------------------------------------------------------------
step "4/7 starting: cvmm-blk --socket-path=$SOCK --blk-file=$DISK --log-level=info"
"$BIN" --socket-path="$SOCK" --blk-file="$DISK" --log-level=info </dev/null >"$WORK/cvmm-blk.log" 2>&1 &
BLK_PID=$!
for _ in $(seq 200); do
    [ -S "$SOCK" ] && break
    kill -0 "$BLK_PID" 2>/dev/null || { cat "$WORK/cvmm-blk.log"; die "cvmm-blk exited at start-up"; }
    sleep 0.05
done
[ -S "$SOCK" ] || die "cvmm-blk did not create $SOCK within 10 s"
sed 's/^/     cvmm-blk| /' "$WORK/cvmm-blk.log"
step "     cvmm-blk is listening (pid $BLK_PID)"

# ---- 5. the guest image -------------------------------------------------------------------------------
if [ -f "$GUEST/initramfs.cpio.gz" ] && [ -f "$GUEST/vmlinux" ]; then
    step "5/7 guest image already built in $GUEST ($(cat "$GUEST/kernel-version" 2>/dev/null || echo '?'))"
else
    step "5/7 building the guest image in $GUEST (Debian kernel, ~70 MB download the first time)"
    "$HARNESS/guest-image.sh" "$GUEST" >"$WORK/guest-image.log" 2>&1 ||
        { tail -n 30 "$WORK/guest-image.log"; die "guest-image.sh failed"; }
    step "     guest image ready ($(cat "$GUEST/kernel-version" 2>/dev/null || echo '?'))"
fi

# ---- 6. boot ------------------------------------------------------------------------------------------
# What runs inside the guest (busybox sh).  Parameters arrive as kernel KEY=VALUE arguments.
cat >"$WORK/guest.sh" <<'GUEST_EOF'
#!/bin/sh
fail() { echo "demo-guest: FAIL $*"; exit 1; }
wait-for /dev/vda 20 || fail "/dev/vda did not appear"
S=/sys/block/vda
sectors=$(cat $S/size)
echo "demo-guest: /dev/vda is $((sectors / 2048)) MiB ($sectors sectors), read-only=$(cat $S/ro), serial '$(cat $S/serial 2>/dev/null)'"
m=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -c ${#demo_marker})
echo "demo-guest: read at offset 0: '$m'"
[ "$m" = "$demo_marker" ] || fail "expected the host's marker '$demo_marker'"
MSG="Hello from the guest: written to /dev/vda through cvmm-blk (guest uptime $(cut -d' ' -f1 /proc/uptime) s)"
echo "$MSG" | dd of=/tmp/msg bs=512 count=1 conv=sync 2>/dev/null
dd if=/tmp/msg of=/dev/vda bs=512 seek=2048 count=1 oflag=direct conv=notrunc,fsync 2>/dev/null || fail "write at 1 MiB"
echo "demo-guest: wrote at offset 1 MiB: '$MSG'"
back=$(dd if=/dev/vda bs=512 skip=2048 count=1 iflag=direct 2>/dev/null | head -n 1)
echo "demo-guest: read back at 1 MiB:   '$back'"
[ "$back" = "$MSG" ] || fail "the message did not read back"
dd if=/dev/urandom of=/tmp/pat bs=65536 count=16 2>/dev/null
want=$(sha256sum </tmp/pat | cut -d' ' -f1)
dd if=/tmp/pat of=/dev/vda bs=65536 seek=32 count=16 oflag=direct conv=notrunc,fsync 2>/dev/null || fail "write at 2 MiB"
got=$(dd if=/dev/vda bs=65536 skip=32 count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
echo "demo-guest: wrote 1 MiB of random data at offset 2 MiB, sha256 $want"
echo "demo-guest: read it back,                         sha256 $got"
[ "$got" = "$want" ] || fail "the random data did not read back"
sync
echo "DEMO-SHA256 $want"
echo "demo-guest: PASS"
GUEST_EOF
step "6/7 booting QEMU ($(qemu-system-x86_64 --version | head -n 1 | sed 's/^QEMU emulator //')) with vhost-user-blk-pci on cvmm-blk"
step "     (the guest's console follows; under TCG the boot takes a few seconds)"
rc=0
"$HARNESS/run-guest.sh" --guest "$GUEST" --blk "$SOCK" --script "$WORK/guest.sh" --timeout 150 \
    --append "demo_marker=$MARKER" --log "$WORK/console.log" 2>"$WORK/run-guest.err" </dev/null |
    sed -u 's/^/     guest| /' || rc=$?
if [ "$rc" != 0 ]; then
    sed 's/^/     run-guest| /' "$WORK/run-guest.err"
    sed 's/^/     cvmm-blk| /' "$WORK/cvmm-blk.log"
    die "the guest failed (status $rc)"
fi
step "     guest finished: $(grep -E '^run-guest: accel=' "$WORK/run-guest.err" | tail -n 1 | sed 's/^run-guest: //')"

# ---- 7. the host's view, and stop ---------------------------------------------------------------------
msg=$(dd if="$DISK" bs=512 skip=2048 count=1 status=none | tr -d '\0' | head -n 1)
step "7/7 the host reads the image file $DISK:"
step "     at offset 1 MiB: '$msg'"
grep -qF -- "wrote at offset 1 MiB: '$msg'" "$WORK/console.log" || die "the image does not hold the guest's message"
want=$(sed -n 's/^DEMO-SHA256 \([0-9a-f]*\).*/\1/p' "$WORK/console.log" | head -n 1)
got=$(dd if="$DISK" bs=65536 skip=32 count=16 status=none | sha256sum | cut -d' ' -f1)
step "     1 MiB at offset 2 MiB: sha256 $got"
if [ -z "$want" ] || [ "$got" != "$want" ]; then
    die "the image does not hold the guest's random data (guest: ${want:-none})"
fi
step "     both match what the guest wrote; the image uses $(du -k "$DISK" | cut -f1) KiB of its 64 MiB (sparse)"
kill -TERM "$BLK_PID"
brc=0
wait "$BLK_PID" || brc=$?
BLK_PID=""
[ "$brc" = 0 ] || { sed 's/^/     cvmm-blk| /' "$WORK/cvmm-blk.log"; die "cvmm-blk exited with status $brc on SIGTERM"; }
step "     cvmm-blk stopped cleanly (exit 0 after SIGTERM)"
step "PASS: cvmm-blk served a real Linux guest; the guest's writes are in the image file"
