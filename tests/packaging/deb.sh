#!/usr/bin/env bash
# deb.sh SOURCE_DIR BUILD_DIR WORK_DIR - build the Debian packages of BUILD_DIR with cpack, check what each
# holds, unpack both into a scratch root (dpkg-deb -x: nothing is installed on this machine), then use them
# as a user would: run an installed device, read its discovery file, and build and run programs against the
# dev package with find_package and with pkg-config.
set -euo pipefail
src=${1:?} build=${2:?} work=${3:?}
fail() { echo "packaging: FAIL $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work/out" "$work/root"
cpack -G DEB -B "$work/out" --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; fail "cpack"; }
run=$(ls "$work"/out/cvmm_*.deb) && dev=$(ls "$work"/out/cvmm-dev_*.deb) || fail "cpack wrote no cvmm / cvmm-dev package"
echo "packaging: $(basename "$run") $(basename "$dev")"
dpkg-deb -c "$run" | awk '{ print $6 }' >"$work/run.list"
dpkg-deb -c "$dev" | awk '{ print $6 }' >"$work/dev.list"
for f in ./usr/bin/cvmm-blk ./usr/bin/cvmm-rng ./usr/bin/cvmm-net ./usr/bin/cvmm-shm \
         ./usr/share/qemu/vhost-user/50-cvmm-blk.json; do
    grep -qx -- "$f" "$work/run.list" || fail "cvmm lacks $f"
done
for f in ./usr/include/cvmm/vub.h ./usr/lib/libcvmm-vhost-user-backend.a ./usr/lib/cmake/cvmm/cvmmConfig.cmake \
         ./usr/lib/pkgconfig/cvmm-vhost-user-backend.pc; do
    grep -qx -- "$f" "$work/dev.list" || fail "cvmm-dev lacks $f"
done
! grep -q '\.a$\|/include/' "$work/run.list" || fail "the runtime package holds development files"
! grep -q '/bin/' "$work/dev.list" || fail "the dev package holds programs"
info=$(dpkg-deb -I "$run")
grep -q 'Depends:.*libev4' <<<"$info" || fail "cvmm does not depend on libev4"
dpkg-deb -x "$run" "$work/root"
dpkg-deb -x "$dev" "$work/root"
root=$work/root/usr
grep -q '"binary": "/usr/bin/cvmm-blk"' "$root/share/qemu/vhost-user/50-cvmm-blk.json" ||
    fail "the discovery file does not name /usr/bin/cvmm-blk: $(cat "$root/share/qemu/vhost-user/50-cvmm-blk.json")"
caps=$("$root/bin/cvmm-blk" --print-capabilities) || fail "the installed cvmm-blk does not run"
grep -q '"type": "block"' <<<"$caps" || fail "the installed cvmm-blk prints $caps"
for mode in package pkg-config; do
    bash "$src/tests/consumers/consume.sh" "$mode" vhost-user-backend "$src" "$work/app-$mode" "$root" "" ||
        fail "a program built against cvmm-dev ($mode)"
done
bash "$src/tests/consumers/consume.sh" quickstart - "$src" "$work/quickstart" "$root" "" ||
    fail "the README's quick-start device built against cvmm-dev"
echo "packaging: PASS"
