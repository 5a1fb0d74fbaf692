# shellcheck shell=bash
# lib-sandbox.sh - lib.sh's checks that our example devices run sandboxed (cvmm/vub/sandbox.h, docs/sandbox.md),
# sourced by lib.sh. They run by themselves for every back-end started with e2e_backend_start whose program is
# one of ours (cvmm-blk, cvmm-net, cvmm-rng, cvmm-shm) and not started with --no-sandbox:
# * once it is ready: within 10 s every thread's /proc/PID/task/TID/status shows NoNewPrivs 1 and Seccomp 2
#   (the filter is loaded just after the socket listens), and while no front-end is connected the fds are
#   exactly the declared ones: 0 /dev/null, 1 and 2 the log, the vhost-user socket, the device's own (blk:
#   the --blk-file; net: one /dev/net/tun per --queue-pairs with --tap; shm: the --control socket), plus the
#   daemon's own eventfds and epoll fd;
# * while it runs, every 0.3 s (a background sampler): every thread still has NoNewPrivs 1 and Seccomp 2,
#   and every fd is of a kind a serving daemon may hold: the above, the front-end's connection and back-end
#   channel (sockets), guest memory and log areas (memfds), kick/call/err eventfds;
# * when it is stopped (e2e_backend_stop): the samples are checked and summarized in one line, and a
#   "sandbox: forbidden system call" in its log fails the test.
# CVMM_E2E_SANDBOX_CHECK=0 turns the checks off (scripts/sandbox-trace.sh does: under strace the pid is not
# the device's).
declare -gA E2E_SB_ON=() E2E_SB_SAMPLER=() E2E_SB_FILE=() E2E_SB_FIXED=()

# e2e__sb_applies NAME: true if back-end NAME is one of our devices, sandboxed.
e2e__sb_applies() {
    [ "${CVMM_E2E_SANDBOX_CHECK:-1}" != 0 ] || return 1
    local cmdv
    eval "cmdv=(${E2E_BE_CMD[$1]})"
    [[ $(basename "${cmdv[0]}") =~ ^cvmm-(blk|net|rng|shm)$ ]] || return 1
    local a
    for a in "${cmdv[@]}"; do [ "$a" != --no-sandbox ] || return 1; done
}

# e2e__sb_fixed NAME: print the device's declared fd targets, one per line (what it opened in setup()):
# the --blk-file (resolved), /dev/net/tun once per queue pair with --tap, "socket" for the --control socket.
e2e__sb_fixed() {
    local cmdv a pairs=1 tap=0
    eval "cmdv=(${E2E_BE_CMD[$1]})"
    for a in "${cmdv[@]:1}"; do
        case $a in
            --blk-file=*) readlink -f -- "${a#--blk-file=}" ;;
            --control=*) echo socket ;;
            --tap=*) tap=1 ;;
            --queue-pairs=*) pairs=${a#--queue-pairs=} ;;
        esac
    done
    [ "$tap" = 0 ] || for _ in $(seq "$pairs"); do echo /dev/net/tun; done
}

# e2e__sb_snapshot PID: one sample: "task TID NNP SECCOMP" per thread, "fd N TARGET" per fd ("socket" for
# any socket). Prints nothing once PID is gone.
e2e__sb_snapshot() {
    local pid=$1 t f tgt
    for t in /proc/"$pid"/task/*; do
        awk -v t="${t##*/}" '$1 == "NoNewPrivs:" { n = $2 } $1 == "Seccomp:" { s = $2 }
                             END { if (n != "") print "task", t, n, s }' "$t/status" 2>/dev/null
    done
    for f in /proc/"$pid"/fd/*; do
        tgt=$(readlink "$f" 2>/dev/null) || continue
        case $tgt in socket:*) tgt=socket ;; esac
        echo "fd ${f##*/} $tgt"
    done
    return 0
}

# e2e__sb_kind TARGET: the kind of an fd target a serving device may hold, or "bad".
e2e__sb_kind() {
    case $1 in
        socket) echo socket ;;
        anon_inode:\[eventfd\]) echo eventfd ;;
        anon_inode:\[eventpoll\]) echo epoll ;;
        anon_inode:\[io_uring\]) echo io_uring ;; # cvmm-blk --aio=io_uring: one ring per started queue
        anon_inode:\[timerfd\] | anon_inode:\[signalfd\]) echo "${1//[^a-z]/}" ;;
        /memfd:*) echo memfd ;;
        *) echo bad ;;
    esac
}

# e2e__sb_start NAME: the checks at start (see the top) and the sampler; called by e2e_backend_start.
e2e__sb_start() {
    local name=$1 pid=${E2E_BE_PID[$1]} snap deadline
    e2e__sb_applies "$name" || return 0
    E2E_SB_ON[$name]=1
    deadline=$(( ${EPOCHREALTIME%.*} + 10 ))
    while :; do
        snap=$(e2e__sb_snapshot "$pid")
        [ -n "$snap" ] || e2e_fail "back-end $name (pid $pid) ended before its sandbox could be checked"
        awk '$1 == "task" && ($3 != 1 || $4 != 2) { bad = 1 } END { exit bad }' <<<"$snap" && break
        [ "${EPOCHREALTIME%.*}" -lt "$deadline" ] ||
            e2e_fail "back-end $name is not sandboxed after 10 s: $(grep '^task' <<<"$snap" | head -n 3 | tr '\n' ';')" \
                     "(expected NoNewPrivs 1 and Seccomp 2 on every thread)"
        sleep 0.05
    done
    # The fds: 0-2 as lib.sh opened them; declared ones exactly; otherwise only the daemon's own kinds.
    local logf=${E2E_BE_LOG[$name]} want got fd tgt kind
    while read -r _ fd tgt; do
        case $fd in
            0) [ "$tgt" = /dev/null ] || e2e_fail "back-end $name: fd 0 is $tgt, not /dev/null" ;;
            1|2) [ "$tgt" = "$(readlink -f "$logf")" ] || e2e_fail "back-end $name: fd $fd is $tgt, not its log" ;;
        esac
    done < <(grep '^fd [012] ' <<<"$snap")
    want=$(e2e__sb_fixed "$name" | sort)
    got=$(awk '$1 == "fd" && $2 > 2 { print $3 }' <<<"$snap" | while read -r tgt; do
              kind=$(e2e__sb_kind "$tgt")
              case $kind in
                  bad) echo "$tgt" ;;
                  socket) echo socket ;;
              esac
          done | sort)
    # the vhost-user socket: listening (or, as --client, connected); with a guest already running, a
    # front-end may have connected by now
    want=$(printf '%s\n%s\n' "$want" socket | sed '/^$/d' | sort)
    if [ -z "$E2E_RUNPID" ] && [ "$got" != "$want" ]; then
        e2e_fail "back-end $name: fds beyond the daemon's eventfds/epoll are [$(tr '\n' ' ' <<<"$got")]," \
                 "expected exactly the declared [$(tr '\n' ' ' <<<"$want")]" \
                 "($(awk '$1 == "fd" { printf "%s=%s ", $2, $3 }' <<<"$snap"))"
    fi
    if [ -n "$E2E_RUNPID" ] && [ "$(grep -v '^socket$' <<<"$got" | sed '/^$/d')" != "$(grep -v '^socket$' <<<"$want" | sed '/^$/d')" ]; then
        e2e_fail "back-end $name: files [$(grep -v '^socket$' <<<"$got" | tr '\n' ' ')], expected [$(grep -v '^socket$' <<<"$want" | tr '\n' ' ')]"
    fi
    E2E_SB_FIXED[$name]=$want
    E2E_SB_FILE[$name]=$logf.sandbox
    printf '%s\n' "$snap" >"${E2E_SB_FILE[$name]}"
    e2e_log "back-end $name sandboxed: NoNewPrivs 1, Seccomp 2 on $(grep -c '^task' <<<"$snap") thread(s);" \
            "fds $(awk '$1 == "fd" { printf "%s:%s ", $2, $3 }' <<<"$snap")"
    ( while kill -0 "$pid" 2>/dev/null; do
          e2e__sb_snapshot "$pid" >>"${E2E_SB_FILE[$name]}"
          echo "--" >>"${E2E_SB_FILE[$name]}"
          sleep 0.3
      done ) </dev/null >/dev/null 2>&1 &
    E2E_SB_SAMPLER[$name]=$!
}

# e2e__sb_stop NAME: end the sampler of back-end NAME (before it is stopped or killed).
e2e__sb_stop() {
    local s=${E2E_SB_SAMPLER[$1]:-}
    [ -n "$s" ] || return 0
    kill "$s" 2>/dev/null || true
    wait "$s" 2>/dev/null || true
    unset "E2E_SB_SAMPLER[$1]"
}

# e2e__sb_verify NAME: a last sample, then check all samples of back-end NAME (see the top); called by
# e2e_backend_stop while NAME still runs.
e2e__sb_verify() {
    local name=$1 f
    [ -n "${E2E_SB_ON[$name]:-}" ] || return 0
    f=${E2E_SB_FILE[$name]}
    e2e__sb_stop "$name"
    e2e__sb_snapshot "${E2E_BE_PID[$name]}" >>"$f"
    local bad
    bad=$(awk '$1 == "task" && ($3 != 1 || $4 != 2) { print "thread " $2 ": NoNewPrivs " $3 " Seccomp " $4; exit }' "$f")
    [ -z "$bad" ] || e2e_fail "back-end $name lost its sandbox while running: $bad"
    local tgt kinds=() maxfds
    while read -r tgt; do
        if [ "$(e2e__sb_kind "$tgt")" = bad ] && ! grep -qxF -- "$tgt" <<<"${E2E_SB_FIXED[$name]}"; then
            e2e_fail "back-end $name held an fd on $tgt while serving (not declared, not a kind the daemon makes)"
        fi
        kinds+=("$(e2e__sb_kind "$tgt")")
    done < <(awk '$1 == "fd" && $2 > 2 { print $3 }' "$f" | sort -u)
    maxfds=$(awk '$1 == "fd" { c++ } $1 == "--" { if (c > m) m = c; c = 0 } END { if (c > m) m = c; print m + 0 }' "$f")
    e2e_log "back-end $name stayed sandboxed in $(grep -c '^--' "$f") samples (NoNewPrivs 1, Seccomp 2 on every thread);" \
            "at most $maxfds fds; kinds above 2: $(printf '%s\n' ${kinds[@]+"${kinds[@]}"} | sort -u | tr '\n' ' ')"
}

# e2e__sb_log_check NAME: fail if back-end NAME's log reports a sandbox violation.
e2e__sb_log_check() {
    if grep -q 'sandbox: forbidden system call' "${E2E_BE_LOG[$1]}" 2>/dev/null; then
        e2e_fail "back-end $1 was killed by its sandbox: $(grep -m1 'sandbox: forbidden system call' "${E2E_BE_LOG[$1]}")"
    fi
}
