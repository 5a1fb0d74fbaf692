/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* sandbox_syscalls.c - the daemon's own system call allowlist (cvmm/vub/sandbox.h), and the sanitizer
 * allowance.
 *
 * How the list was derived, and how to derive it again: run the vhost-user-backend suites that drive a
 * daemon through the protocol (vring, memory, reconnect, migration, backend_channel, inflight_shrink,
 * toolkit_serve) under "strace -f -qq -o FILE" on a build without
 * sanitizers, take the union of the system call names, and keep those a daemon thread makes after set-up
 * (control thread, workers, state-transfer threads), dropping the front-end's side of the tests (the
 * socket, bind, listen and connect of the test's own front-end; execve and the loader's calls).  Then
 * tests/vhost-user-backend/sandbox_program.c runs a sandboxed daemon through the protocol (memory table,
 * hot-plug, rings, kicks and calls, config, a reconnect, a --client reconnect), and the devices' e2e tests
 * run sandboxed (scripts/sandbox-trace.sh traces the devices): a call missing here kills the daemon with a
 * line naming the call.  Each entry says who needs it.  The calls with conditions on their arguments
 * (clone, clone3, kill, tgkill) are in sandbox_seccomp.c. */
#include "sandbox_internal.h"

static const char *const base_calls[] = {
    /* the vhost-user socket: messages with fds (vhost-user-proto conn.c), a reconnect (accept4), fd checks
     * (fdcheck.c: fstat, getsockopt of a back-end channel socket, readlink of /proc/self/fd/N) */
    "recvmsg",
    "sendmsg",
    "accept4",
    "getsockopt",
    "fstat",
    "newfstatat",
    "readlink",
    "readlinkat",
    /* fds: eventfds (kick, call, err), the log line (write to stderr), non-blocking and CLOEXEC copies */
    "read",
    "write",
    "readv",
    "writev",
    "close",
    "fcntl",
    /* libev: each loop's epoll, its ev_async eventfd; deadlines of sends and of the state relay (poll) */
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "poll",
    "ppoll",
    /* guest memory (SET_MEM_TABLE, ADD/REM_MEM_REG, the dirty log, the inflight buffer), malloc, thread
     * stacks; inflight and device-state buffers are memfds the daemon makes (vmem_region_new_memfd) */
    "mmap",
    "munmap",
    "mprotect",
    "madvise",
    "mremap",
    "brk",
    "memfd_create",
    "ftruncate",
    /* a region's fd: hugetlbfs or not (vm-memory mmap.c; scripts/sandbox-trace.sh found it) */
    "fstatfs",
    /* device state transfer (migration.c): the relay's cancel eventfd and pipe, made per transfer */
    "eventfd2",
    "pipe2",
    /* threads: the state-transfer threads start after the lock (clone: sandbox_seccomp.c), QSBR waits
     * (vm-memory guest.c), thread exit */
    "futex",
    "set_robust_list",
    "rseq",
    "sched_yield",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "gettimeofday",
    "exit",
    "exit_group",
    /* signals: SIGTERM/SIGINT through libev, the state threads' masks, vm-memory's SIGBUS guard re-raising
     * (raise: getpid, gettid, tgkill to this process) */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "restart_syscall",
    "getpid",
    "gettid",
    /* the filesystem is Landlock's: a device may open the paths it declared (shm's backing files) */
    "openat",
#ifdef CVMM_COVERAGE
    /* the coverage preset only: gcov's runtime at exit (and the SIGSYS handler's dump) looks for and makes
     * the .gcda directories, and merges into the files (Landlock: vub__sandbox_gcov_dir(), sandbox_internal.h) */
    "access",
    "faccessat",
    "faccessat2",
    "mkdir",
    "mkdirat",
    "lseek",
#endif
    NULL,
};

/* CMake defines VUB_SANDBOX_SANITIZER as CVMM_SANITIZE in a sanitizer build (a UBSan-only build has no
 * macro of its own); a build outside CMake is caught by the compilers' macros. */
#if !defined(VUB_SANDBOX_SANITIZER) && defined(__SANITIZE_ADDRESS__)
#define VUB_SANDBOX_SANITIZER "address"
#elif !defined(VUB_SANDBOX_SANITIZER) && defined(__SANITIZE_THREAD__)
#define VUB_SANDBOX_SANITIZER "thread"
#endif

#ifdef VUB_SANDBOX_SANITIZER
/* What ASan, UBSan and TSan need besides: reports (read /proc/self/maps and the binaries through the
 * read-only view of / that sandbox_landlock.c adds: openat, getdents64, lseek, pread64), their signal
 * stack (sigaltstack), their memory (mmap/munmap/madvise above, plus msync), and LeakSanitizer at exit,
 * which stops the world: a tracer made with clone without CLONE_THREAD (clone is allowed whole here) that
 * ptrace()s every thread and waits for it.  Derived by running the sandbox suites and e2e devices in the
 * asan and tsan builds; a missing call shows as the sandbox's SIGSYS line in the test's output.
 * open and getdents: sanitizer_common makes the legacy calls on x86-64, and LeakSanitizer's tracer lists
 * /proc/PID/task with them; that tracer is CLONE_UNTRACED (strace cannot follow it), found with perf trace -a. */
static const char *const sanitizer_calls[] = {
    "getdents64", "lseek",   "pread64",           "sigaltstack", "msync",     "ptrace",    "wait4",     "waitid",
    "prctl",      "getppid", "sched_getaffinity", "uname",       "getrlimit", "prlimit64", "setrlimit", "dup",
    "dup2",       "dup3",    "personality",       "open",        "getdents",  NULL,
};
#define SANITIZER_NAME VUB_SANDBOX_SANITIZER
#else
static const char *const sanitizer_calls[] = {NULL};
#define SANITIZER_NAME ""
#endif

/* Functions, not exported arrays: an ASan build would export __odr_asan.<array> symbols beside them. */
const char *const *vub__sandbox_base_calls(void) { return base_calls; }
const char *const *vub__sandbox_sanitizer_calls(void) { return sanitizer_calls; }
const char *vub__sandbox_sanitizer_name(void) { return SANITIZER_NAME; }
