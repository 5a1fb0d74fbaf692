#!/usr/bin/env bash
# Installs everything cvmm needs to build and test on Debian 12 (as root). Safe to run again.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "install-deps: run as root (sudo bash $0)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config git ca-certificates \
  libcriterion-dev libev-dev libjansson-dev libseccomp-dev liburing-dev \
  binutils gcovr cppcheck clang-tidy clang-format python3 >/dev/null
# The API reference (the docs target, docs/) and the Debian packages (cpack, tests/packaging: dpkg-deb
# and dpkg-shlibdeps come with build-essential's dpkg-dev).
apt-get install -y -qq --no-install-recommends doxygen >/dev/null
# Fuzzing (scripts/fuzz.sh, fuzz/README.md): clang 14 and its libFuzzer runtime (-fsanitize=fuzzer).
apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
# End-to-end tests (tests/devices, tests/harness): QEMU 7.2 (qemu-storage-daemon is in
# qemu-system-common), the guest image (busybox-static initramfs, Debian kernel unpacked with kmod's
# depmod/modprobe), network namespaces and taps (iproute2), DPDK testpmd as a reference net peer.
apt-get install -y -qq --no-install-recommends \
  qemu-system-x86 qemu-system-common qemu-utils \
  busybox-static cpio gzip kmod xz-utils iproute2 iputils-ping util-linux procps \
  dpdk-dev librte-net-virtio23 librte-net-vhost23 librte-net-tap23 librte-mempool-ring23 >/dev/null
# Benchmark plots (benches/e2e/plot.sh, scripts/bench-all.sh): gnuplot without X11 (svg, pngcairo).
apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
# Profiling the data path (scripts/net-ab.sh, devices/net/README.md "Optimisation log"): perf, strace -c.
apt-get install -y -qq --no-install-recommends linux-perf strace >/dev/null
echo "install-deps: ok"
