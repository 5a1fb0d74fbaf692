#!/usr/bin/env bash
# consume.sh MODE SOURCE_DIR WORK_DIR PREFIX SANITIZE - build and run tests/consumers/app one way:
#   subdir: add_subdirectory(vm-memory); package: find_package(cvmm) against PREFIX; pkg-config: cc + pkg-config.
set -euo pipefail
mode=$1 src=$2 work=$3 prefix=$4 san=${5:-}
rm -rf "$work" && mkdir -p "$work"
app=$src/tests/consumers/app
case $mode in
  subdir)
    cmake -S "$app" -B "$work" -DCVMM_MODE=subdir -DCVMM_SOURCE_DIR="$src" -DCVMM_SANITIZE="$san" >/dev/null
    cmake --build "$work" >/dev/null ;;
  package)
    cmake -S "$app" -B "$work" -DCVMM_MODE=package -DCMAKE_PREFIX_PATH="$prefix" -DCVMM_SANITIZE="$san" >/dev/null
    cmake --build "$work" >/dev/null ;;
  pkg-config)
    flags=()
    [ -n "$san" ] && flags=(-fsanitize="$san")
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Werror "${flags[@]}" -o "$work/app" "$app/app.c" \
      $(pkg-config --cflags --libs --static cvmm-vm-memory) ;;
  *) echo "consume.sh: unknown mode $mode" >&2; exit 2 ;;
esac
"$work/app"
