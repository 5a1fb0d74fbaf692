#!/usr/bin/env bash
# sandbox-trace.sh - derive the example devices' system call allowlists from what they really do: run the
# device flows of the end-to-end tests (real guests under QEMU, DPDK virtio-user, reconnects, multiqueue,
# memory hot-plug) and the cvmm-shm suite with each device under strace, and print the union of the system
# calls each device made, per device and build. docs/sandbox.md explains the method and how to use it.
#
# Usage: scripts/sandbox-trace.sh [options] BUILD_DIR...
#   BUILD_DIR      a configured and built cvmm build tree (e.g. build/dev and build/asan): its ctest lists
#                  the flows (every e2e test that runs a device with --bin, and test-devices-shm)
#   --tests REGEX  only the ctest tests matching REGEX (default: all of them)
#   --exclude REGEX  not these (default '^e2e-blk-crash-': those attach strace to the back-end themselves,
#                  and a process can have one tracer only; they run the blk flows' calls, under the filter)
#   --guest DIR    the guest image (default: each build's CVMM_GUEST_DIR as ctest has it)
#   --out DIR      keep the traces and results in DIR (default: a temporary directory, deleted)
#   --sandbox      trace the devices sandboxed (default --no-sandbox: everything they would call unconfined)
#   --check        compare each device's traced calls with its --print-sandbox allowlist: exit 1 if it made a
#                  call the allowlist lacks (with --sandbox such a call would have killed it)
#   --jobs         ignored (flows run one at a time: each pins QEMU and the back-end to the two CPUs)
# Output, per build and device: "SYSCALLS <build> <device> <count>: name name ...", the calls made after the
# device's seccomp filter was loaded (with --sandbox), or else after it listened on (or, --client, connected)
# its vhost-user socket, just before the filter would be loaded: what the filter has to allow; then "SETUP-ONLY <build> <device> <count>: ..." (calls made only before
# that point), then per flow "FLOW <build> <test> <device> <count>". With --out DIR, DIR/<build>/<device>.serving
# and .setup list one call per line. Exit status: 0; 1 a flow failed or (--check) a call is missing; 2 usage.
# Needs strace (apt-get install strace); runs as the e2e tests do (root for the network namespaces).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
TESTS="" EXCLUDE='^e2e-blk-crash-' GUEST="" OUT="" SANDBOX=0 CHECK=0 BUILDS=()
while [ $# -gt 0 ]; do
    case $1 in
        --tests) TESTS=${2:?}; shift 2 ;;
        --exclude) EXCLUDE=${2:-}; shift 2 ;;
        --guest) GUEST=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --sandbox) SANDBOX=1; shift ;;
        --check) CHECK=1; shift ;;
        --jobs) shift 2 ;;
        -h|--help) usage ;;
        -*) echo "sandbox-trace: unknown option $1" >&2; usage ;;
        *) BUILDS+=("$(cd "$1" && pwd)"); shift ;;
    esac
done
[ ${#BUILDS[@]} -gt 0 ] || usage
command -v strace >/dev/null || { echo "sandbox-trace: needs strace (apt-get install strace)" >&2; exit 1; }
command -v jq >/dev/null || { echo "sandbox-trace: needs jq" >&2; exit 1; }
if [ -z "$OUT" ]; then
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-sandbox-trace.XXXXXX")
    trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
status=0

# make_wrapper REAL WRAPPER TRACEDIR: WRAPPER runs REAL under strace -f (one trace file per start), passes
# SIGTERM/SIGINT on to the device (strace itself blocks them) and exits with the device's status.
make_wrapper() {
    local real=$1 w=$2 dir=$3 opt=""
    # (a device from before the sandbox has no --no-sandbox and runs unconfined anyway)
    [ "$SANDBOX" = 1 ] || ! "$real" --help 2>&1 | grep -q -- --no-sandbox || opt=--no-sandbox
    cat >"$w" <<EOF
#!/usr/bin/env bash
# LeakSanitizer stops the world with ptrace, which fails under strace: leaks are the plain e2e tests' job.
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
strace -f -qq -s 256 -e trace=all -o "$dir/trace.\$\$.\$EPOCHREALTIME" -- "$real" $opt "\$@" &
sp=\$!
fwd() { kill -"\$1" \$(pgrep -P "\$sp") 2>/dev/null || true; }
trap 'fwd TERM' TERM
trap 'fwd INT' INT
# a wait interrupted by a forwarded signal returns 128+N: wait again until strace is gone, then its status
while kill -0 "\$sp" 2>/dev/null; do wait "\$sp"; done
wait "\$sp"
EOF
    chmod +x "$w"
}

# print_allowed BUILD DEVICE DIR: the system calls DEVICE's --print-sandbox allows (whole or on an argument), one
# per line, for a command line that declares everything it can: blk a disk image, shm a control socket and a
# map directory, net two tap queues in a scratch network namespace (root), else its sink.
print_allowed() {
    local real args=() ns=""
    real=$(find "$1/devices" -name "$2" -type f -perm -u+x | head -n 1)
    [ -n "$real" ] || return 1
    truncate -s 1M "$3/check-disk.img"
    case $2 in
        cvmm-blk) args=("--blk-file=$3/check-disk.img") ;;
        cvmm-shm) args=(--shm=0:4K "--control=$3/check-ctl.sock" "--map-dir=$3") ;;
        cvmm-net)
            args=(--sink)
            ns=cvmm-sbt-$$
            if ip netns add "$ns" 2>/dev/null; then
                ip netns exec "$ns" ip tuntap add dev tap0 mode tap multi_queue && args=(--tap=tap0 --queue-pairs=2)
            else
                ns=""
            fi ;;
    esac
    local run=("$real" "--socket-path=$3/check.sock" "${args[@]}" --print-sandbox)
    [ -z "$ns" ] || run=(ip netns exec "$ns" "${run[@]}")
    # as a server and as --client (which may also make sockets and connect again)
    { "${run[@]}"; "${run[@]}" --client; } 2>/dev/null | jq -r '.seccomp.allow[], .seccomp.allow_if[].syscall' | sort -u
    [ -z "$ns" ] || ip netns del "$ns"
}

# digest TRACE... : for the processes that executed a cvmm device (and their threads and children), print
# "serving NAME" / "setup NAME" for each system call, split at the device's first listen()/connect().
digest() {
    awk '
    FNR == 1 { f++ }
    # pass 1 (each file read twice: odd f): which pids are the device, and where serving starts
    f % 2 == 1 {
        pid = $1
        if ($2 ~ /^execve\(/ && $0 ~ /execve\("[^"]*\/cvmm-[a-z]+"/) {
            if (match($0, /"--socket-path=[^"]*"/)) sock[f, pid] = substr($0, RSTART + 15, RLENGTH - 16)
            if ($0 ~ /= 0$/) { dev[f, pid] = FNR; root[f, pid] = pid }
            else if ($0 ~ /<unfinished \.\.\.>$/) pending[f, pid] = FNR
        }
        if ((f, pid) in pending && $0 ~ /<\.\.\. execve resumed>.*= 0$/) {
            dev[f, pid] = pending[f, pid]; root[f, pid] = pid; delete pending[f, pid]
        }
        if ((f, pid) in dev && ($2 ~ /^(clone3?|fork|vfork)\(/ || $0 ~ /<\.\.\. (clone3?|fork|vfork) resumed>/) &&
            match($0, /= [0-9]+$/)) {
            c = substr($0, RSTART + 2) + 0
            dev[f, c] = 0; root[f, c] = root[f, pid]
        }
        # serving starts once the filter is loaded (a sandboxed run), else once the vhost-user socket is
        # bound (--socket-path) or connected (--client)
        if ((f, pid) in dev && $0 ~ /seccomp\(SECCOMP_SET_MODE_FILTER, [^,]*, \{len=/ && !((f, root[f, pid]) in filt))
            filt[f, root[f, pid]] = FNR
        r = root[f, pid]
        if ((f, pid) in dev && !((f, r) in cut) && $2 ~ /^(bind|connect)\(/ && (f, r) in sock &&
            index($0, "sun_path=\"" sock[f, r] "\"")) {
            if ($2 ~ /^connect/) cut[f, r] = FNR; else bound[f, r] = 1   # a server: its listen() next
        }
        if ((f, pid) in dev && (f, r) in bound && !((f, r) in cut) && $2 ~ /^listen\(/)
            cut[f, r] = FNR
        next
    }
    FNR == 1 && f % 2 == 0 { for (k in filt) cut[k] = filt[k] }
    {
        pf = f - 1; pid = $1
        if (!((pf, pid) in dev) || FNR < dev[pf, pid]) next
        if ($2 ~ /^<\.\.\./ || $2 ~ /^(\+\+\+|---)/) next
        if (!match($2, /^[a-z_0-9]+\(/)) next
        name = substr($2, 1, RLENGTH - 1)
        r = root[pf, pid]
        # one file, lines in time order: whatever any of its threads calls after the cut is served
        phase = ((pf, r) in cut && FNR > cut[pf, r]) ? "serving" : "setup"
        print phase, name
    }' "$@"
}

for b in "${BUILDS[@]}"; do
    bname=$(basename "$b")
    bout=$OUT/$bname
    mkdir -p "$bout/bin" "$bout/traces"
    json=$(ctest --test-dir "$b" -N --show-only=json-v1)
    # every e2e test that runs one of our devices (--bin PATH), and test-devices-shm (runs cvmm-shm itself)
    mapfile -t names < <(jq -r '.tests[] | select((.properties // []) | map(select(.name == "DISABLED" and .value == true)) | length == 0)
        | select(((.command // []) | index("--bin")) or .name == "test-devices-shm") | .name' <<<"$json")
    for t in "${names[@]}"; do
        [ -z "$TESTS" ] || [[ $t =~ $TESTS ]] || continue
        [ -z "$EXCLUDE" ] || ! [[ $t =~ $EXCLUDE ]] || continue
        mapfile -t cmd < <(jq -r --arg t "$t" '.tests[] | select(.name == $t) | .command[]' <<<"$json")
        mapfile -t envs < <(jq -r --arg t "$t" '.tests[] | select(.name == $t) | (.properties // [])[]
            | select(.name == "ENVIRONMENT") | .value[]' <<<"$json")
        tdir=$bout/traces/$t
        rm -rf "$tdir"; mkdir -p "$tdir"
        run=()
        if [ "$t" = test-devices-shm ]; then
            # the suite forks and executes cvmm-shm (as it chooses: sandboxed): trace all of it, digest keeps
            # the device's processes
            [ ${#cmd[@]} -gt 0 ] || { echo "sandbox-trace: $t is not built in $b" >&2; status=1; continue; }
            run=(strace -f -qq -s 256 -e trace=all -o "$tdir/trace.suite" -- "${cmd[@]}")
        else
            for i in "${!cmd[@]}"; do
                if [ "${cmd[$i]}" = --bin ]; then
                    real=${cmd[$((i + 1))]}
                    w=$bout/bin/$t/$(basename "$real")
                    mkdir -p "$(dirname "$w")"
                    make_wrapper "$real" "$w" "$tdir"
                    cmd[i + 1]=$w
                fi
            done
            run=("${cmd[@]}")
        fi
        [ -z "$GUEST" ] || envs+=("CVMM_GUEST_DIR=$GUEST")
        # the sandbox checks of tests/devices/lib.sh see strace, not the device: off while tracing
        envs+=(CVMM_E2E_SANDBOX_CHECK=0 "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0")
        echo "sandbox-trace: $bname $t"
        rc=0
        env "${envs[@]}" "${run[@]}" >"$tdir/output.log" 2>&1 || rc=$?
        if [ "$rc" != 0 ]; then
            echo "sandbox-trace: $bname $t FAILED (status $rc); last lines:" >&2
            tail -n 15 "$tdir/output.log" | sed 's/^/  | /' >&2
            status=1
            continue
        fi
        shopt -s nullglob
        traces=("$tdir"/trace.*)
        shopt -u nullglob
        [ ${#traces[@]} -gt 0 ] || { echo "sandbox-trace: $t left no trace" >&2; status=1; continue; }
        dev=$(grep -ho 'execve("[^"]*/cvmm-[a-z]*"' "${traces[@]}" | sed 's/.*\/\(cvmm-[a-z]*\)"/\1/' | sort -u | head -n 1)
        digest "${traces[0]}" "${traces[0]}" >"$tdir/calls"
        for tr in "${traces[@]:1}"; do digest "$tr" "$tr" >>"$tdir/calls"; done
        echo "$dev" >"$tdir/device"
        echo "FLOW $bname $t $dev $(awk '$1 == "serving" { print $2 }' "$tdir/calls" | sort -u | wc -l)"
    done
    # union per device
    mapfile -t devs < <(cat "$bout"/traces/*/device 2>/dev/null | sed '/^$/d' | sort -u)
    for dev in ${devs[@]+"${devs[@]}"}; do
        : >"$bout/$dev.all"
        for tdir in "$bout"/traces/*/; do
            [ "$(cat "$tdir/device" 2>/dev/null)" = "$dev" ] && cat "$tdir/calls" >>"$bout/$dev.all"
        done
        awk '$1 == "serving" { print $2 }' "$bout/$dev.all" | sort -u >"$bout/$dev.serving"
        awk '$1 == "setup" { print $2 }' "$bout/$dev.all" | sort -u | comm -23 - "$bout/$dev.serving" >"$bout/$dev.setup"
        echo "SYSCALLS $bname $dev $(wc -l <"$bout/$dev.serving"): $(tr '\n' ' ' <"$bout/$dev.serving")"
        echo "SETUP-ONLY $bname $dev $(wc -l <"$bout/$dev.setup"): $(tr '\n' ' ' <"$bout/$dev.setup")"
        if [ "$CHECK" = 1 ]; then
            print_allowed "$b" "$dev" "$bout" >"$bout/$dev.allowed" || true
            if [ ! -s "$bout/$dev.allowed" ]; then
                echo "CHECK $bname $dev: no allowlist from $dev --print-sandbox" >&2; status=1; continue
            fi
            missing=$(comm -23 "$bout/$dev.serving" "$bout/$dev.allowed" | tr '\n' ' ')
            unused=$(comm -13 "$bout/$dev.serving" "$bout/$dev.allowed" | tr '\n' ' ')
            echo "CHECK $bname $dev: missing from the allowlist: ${missing:-none}; allowed, never traced: ${unused:-none}"
            [ -z "$missing" ] || status=1
        fi
    done
done
exit "$status"
