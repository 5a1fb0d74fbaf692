#!/usr/bin/env bash
# check-lib.sh PREFIX LIB.a SRC_DIR - STYLE checks on one built library:
#  - every defined global symbol starts with PREFIX (or PREFIX with a double underscore for private ones)
#  - no .data/.bss symbols (no global mutable state; .data.rel.ro is fine), except the one documented
#    exception: vm-memory's SIGBUS fault guard registry `vmem__fault_registry` (vm-memory/src/fault.c: a
#    signal handler has no object to reach state through)
#  - no printf/fprintf/perror/puts in library sources (logging goes through cvmm/log.h)
set -euo pipefail
prefix=$1 lib=$2 src=$3
fail=0
bad=$(nm -g --defined-only "$lib" | awk 'NF==3 {print $3}' | grep -v "^${prefix}" || true)
if [ -n "$bad" ]; then echo "check-lib: $lib exports symbols without prefix $prefix:"; echo "$bad"; fail=1; fi
data=$(objdump -t "$lib" | awk '$0 ~ /[[:space:]]\.(data|bss)[[:space:]]/ && $0 !~ /\.data\.rel\.ro/ && $NF !~ /^\./ {print $NF}' \
       | grep -v -E '^(__odr_asan|__asan|__ubsan|__tsan|_sub_|\.L)' | grep -v -x 'vmem__fault_registry' || true)
if [ -n "$data" ]; then echo "check-lib: $lib has mutable global data:"; echo "$data"; fail=1; fi
if grep -rnE '\b(printf|fprintf|perror|puts|fputs)\s*\(' "$src" --include='*.c' --include='*.h' | grep -v 'snprintf'; then
  echo "check-lib: stdio output in library sources (use cvmm_logf)"; fail=1
fi
[ $fail = 0 ] && echo "check-lib: $lib ok"
exit $fail
