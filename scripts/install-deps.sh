#!/usr/bin/env bash
# Installs everything cvmm needs to build and test on Debian 12 (as root). Safe to run again.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "install-deps: run as root (sudo bash $0)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config git ca-certificates \
  libcriterion-dev libev-dev libjansson-dev \
  binutils >/dev/null
echo "install-deps: ok"
