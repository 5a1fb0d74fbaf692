#!/usr/bin/env bash
# Static analysis gate: gcc -fanalyzer, cppcheck and clang-tidy over the four libraries and devices/.
# Exits 1 on any finding (each is printed), 2 if a tool is missing or the configure step fails.
#
#   scripts/static-analysis.sh [build-dir]       default build/static-analysis (a compile database only;
#                                                nothing is compiled there)
#   SA_TOOLS="gcc cppcheck clang-tidy"           the tools to run (default all three)
#   SA_JOBS=N                                    parallel jobs (default nproc)
#
# Configuration: .clang-tidy (checks, and why some are off), scripts/cppcheck-suppressions.txt, and the
# gcc flags below.  A false positive is suppressed where it happens, with a reason: `// NOLINT(check): why`,
# `// cppcheck-suppress id` or `#pragma GCC diagnostic ignored "-Wanalyzer-..."`.
#
# Scope: vm-memory/, virtio-queue/, vhost-user-proto/, vhost-user-backend/ (with base/ headers) and devices/.
# tests/, benches/ and fuzz/ are not analysed: Criterion's cr_assert() ends a test through a function the
# analysers cannot see as noreturn, so "assert not NULL, then use" reads as a NULL dereference and "assert,
# then free" as a leak on every fixture; the hostile-peer tests leak and misuse fds on purpose.  They are held
# to -Wall -Wextra -Werror and to ASan/UBSan in ctest instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build/static-analysis}
jobs=${SA_JOBS:-$(nproc)}
tools=${SA_TOOLS:-gcc cppcheck clang-tidy}
tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)

for t in $tools; do
  case $t in
    gcc) command -v gcc >/dev/null || { echo "static-analysis: gcc missing" >&2; exit 2; } ;;
    cppcheck) command -v cppcheck >/dev/null || { echo "static-analysis: cppcheck missing" >&2; exit 2; } ;;
    clang-tidy) [ -n "$tidy" ] || { echo "static-analysis: clang-tidy missing" >&2; exit 2; } ;;
    *) echo "static-analysis: unknown tool $t" >&2; exit 2 ;;
  esac
done

# The compile database of the real build (same flags and defines), without sanitizers or tests.
mkdir -p "$build"
if ! cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCVMM_SANITIZE= \
     -DCVMM_BUILD_TESTS=OFF -DCVMM_BUILD_BENCHES=OFF -DCVMM_BUILD_DEVICES=ON >"$build/sa-configure.log" 2>&1; then
  cat "$build/sa-configure.log" >&2
  exit 2
fi
db="$build/sa"
mkdir -p "$db"
python3 - "$build/compile_commands.json" "$db/compile_commands.json" "$root" <<'EOF'
import json, sys
src, dst, root = sys.argv[1], sys.argv[2], sys.argv[3].rstrip('/') + '/'
dirs = ('vm-memory/', 'virtio-queue/', 'vhost-user-proto/', 'vhost-user-backend/', 'devices/')
keep = [e for e in json.load(open(src)) if e['file'].startswith(root) and e['file'][len(root):].startswith(dirs)]
json.dump(keep, open(dst, 'w'), indent=1)
EOF
python3 -c 'import json,sys; [print(e["file"]) for e in json.load(open(sys.argv[1]))]' "$db/compile_commands.json" \
  >"$db/files"
echo "static-analysis: $(wc -l <"$db/files") files, tools: $tools, $jobs jobs"

status=0
summary=""
# report <tool> <findings file> <seconds>
report() {
  local n # a finding in a header is reported once per file that includes it: count it once
  n=$({ grep -E '^[^ ]+:[0-9]+:([0-9]+:)? (warning|error|style|performance|portability): ' "$2" || true; } |
      sort -u | wc -l)
  summary+=$(printf '%-11s %3d finding(s) %4ds\\n' "$1" "$n" "$3")
  if [ "$n" -gt 0 ]; then
    status=1
    echo "=== $1: $n finding(s)"
    grep -vE '^[0-9]+ (warning|error)s? (and [0-9]+ errors? )?generated|^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing|^Error: [0-9]+ warnings? treated as errors' "$2" || true
  fi
}

for t in $tools; do
  start=$SECONDS
  out="$db/$t.txt"
  case $t in
  gcc)
    # The analyser runs in the real compiler with the build's own flags; each file is compiled to /dev/null.
    python3 - "$db/compile_commands.json" >"$db/gcc.cmds" <<'EOF'
import json, shlex, sys
for e in json.load(open(sys.argv[1])):
    a = shlex.split(e['command'])
    i = a.index('-o'); del a[i:i + 2]
    a += ['-o', '/dev/null', '-fanalyzer', '-Wno-error', '-fdiagnostics-plain-output',
          '-fdiagnostics-path-format=separate-events']
    print('cd ' + shlex.quote(e['directory']) + ' && ' + shlex.join(a))
EOF
    tr '\n' '\0' <"$db/gcc.cmds" | xargs -0 -P "$jobs" -I{} sh -c '{}' >"$out" 2>&1 || true
    ;;
  cppcheck)
    cppcheck --project="$db/compile_commands.json" -j "$jobs" --std=c11 --platform=unix64 --library=posix \
      --enable=warning,style,performance,portability --inline-suppr --quiet \
      --suppressions-list=scripts/cppcheck-suppressions.txt \
      --template='{file}:{line}:{column}: {severity}: {message} [{id}]' 2>"$out" || true
    ;;
  clang-tidy)
    # .clang-tidy at the top holds the checks; -p gives each file its build flags.
    tr '\n' '\0' <"$db/files" | xargs -0 -P "$jobs" -n 1 "$tidy" -p "$db" --quiet >"$out" 2>&1 || true
    ;;
  esac
  report "$t" "$out" $((SECONDS - start))
done
printf '%b' "static-analysis summary (${SECONDS}s in all):\n$summary"
exit $status
