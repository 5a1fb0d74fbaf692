/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* sandbox_seccomp.c - the system call part of the sandbox (cvmm/vub/sandbox.h), built with libseccomp.
 *
 * The filter: the daemon's list (sandbox_syscalls.c), the device's and program's declarations, and a few
 * rules on arguments: clone only with CLONE_THREAD (threads, no fork), clone3 fails with ENOSYS (its flags
 * are behind a pointer; glibc falls back to clone), kill and tgkill only towards this process.  Anything
 * else traps: SIGSYS reaches on_sigsys() on the offending thread, which writes one line and makes the one
 * system call the filter answers with SECCOMP_RET_KILL_PROCESS, so the process dies of SIGSYS.  Why not
 * kill at once: the line names the call in the program's own log; the kernel's audit record of
 * SECCOMP_RET_KILL_PROCESS is often nowhere a user looks.  A device that replaces the SIGSYS handler gets
 * its own behaviour, but the forbidden call never runs.  Other architectures (and x32 numbers on x86_64)
 * kill at once (SCMP_FLTATR_ACT_BADARCH).  The filter is loaded with SECCOMP_FILTER_FLAG_TSYNC: every
 * thread of the process gets it, the daemon's workers too. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "cvmm/compiler.h"
#include "sandbox_internal.h"

/* The system call on_sigsys() makes to die: a number no kernel has used (they are below 500 today, and
 * x32's start at 0x40000000), answered by SECCOMP_RET_KILL_PROCESS. */
enum { DIE_NR = 0x3fff };

#ifdef CVMM_COVERAGE
void __gcov_dump(void); /* libgcov's, linked by --coverage */

static bool is_fork(long nr)
{
#ifdef SYS_fork
    if (nr == SYS_fork || nr == SYS_vfork)
        return true;
#endif
    return nr == SYS_clone;
}
#endif

/* The generated table of native system call names, "[59] = \"execve\"," lines from <sys/syscall.h>
 * (vhost-user-backend/CMakeLists.txt).  A table, not libseccomp: on_sigsys() cannot allocate. */
static const char *const syscall_names[] = {
#include "vub_syscall_names.inc"
};

const char *vub__sb_syscall_name(long nr)
{
    if (nr >= 0 && (size_t)nr < CVMM_ARRAY_SIZE(syscall_names) && syscall_names[nr])
        return syscall_names[nr];
    return "?";
}

static size_t put(char *buf, size_t n, size_t cap, const char *s)
{
    while (*s && n + 1 < cap)
        buf[n++] = *s++;
    return n;
}

static size_t put_num(char *buf, size_t n, size_t cap, long v)
{
    char d[24];
    size_t k = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do
        d[k++] = (char)('0' + u % 10);
    while ((u /= 10) && k < sizeof(d));
    if (v < 0 && n + 1 < cap)
        buf[n++] = '-';
    while (k && n + 1 < cap)
        buf[n++] = d[--k];
    return n;
}

/* on_sigsys() - a forbidden system call: one line, then die.  Async-signal-safe: no allocation, no stdio. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    char line[256];
    size_t n = 0;
    long nr = si->si_syscall;
    n = put(line, n, sizeof(line), program_invocation_short_name);
    n = put(line, n, sizeof(line), ": error: sandbox: forbidden system call ");
    n = put(line, n, sizeof(line), vub__sb_syscall_name(nr));
    n = put(line, n, sizeof(line), " (");
    n = put_num(line, n, sizeof(line), nr);
    n = put(line, n, sizeof(line), "): killed\n");
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
#ifdef CVMM_COVERAGE
    /* The coverage preset only: keep the counts of the code that ran (gcov writes them at exit, which this
     * process never reaches).  Not async-signal-safe: fine after most calls, which run without the C
     * library's locks, but not after fork's clone (glibc's fork() holds malloc's lock around it, which the
     * dump's stdio would wait for forever). */
    if (!is_fork(nr))
        __gcov_dump();
#endif
    syscall(DIE_NR);
    _exit(128 + SIGSYS); /* not reached: the filter kills on DIE_NR */
}

static int rule(vub_sandbox *sb, scmp_filter_ctx f, uint32_t action, int nr, unsigned ncmp,
                const struct scmp_arg_cmp *cmp)
{
    int rc = seccomp_rule_add_array(f, action, nr, ncmp, cmp);
    if (rc < 0)
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: seccomp rule for %s (%d) refused: %s", vub__sb_syscall_name(nr),
                  nr, strerror(-rc));
    return rc;
}

static bool allowed_whole(const vub_sandbox *sb, int nr)
{
    for (size_t i = 0; i < sb->ncalls; i++)
        if (sb->calls[i] == nr)
            return true;
    return false;
}

static int allow_names(vub_sandbox *sb, scmp_filter_ctx f, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr < 0 || allowed_whole(sb, nr)) /* not on this architecture (e.g. "poll" on arm64) */
            continue;
        int rc = rule(sb, f, SCMP_ACT_ALLOW, nr, 0, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int build(vub_sandbox *sb, scmp_filter_ctx f)
{
    bool sanitizer = vub__sandbox_sanitizer_name()[0] != '\0';
    int rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == 0)
        rc = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0) {
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: libseccomp cannot set the filter's attributes: %s", strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < sb->ncalls && rc == 0; i++)
        rc = rule(sb, f, SCMP_ACT_ALLOW, sb->calls[i], 0, NULL);
    if (rc == 0)
        rc = allow_names(sb, f, vub__sandbox_base_calls());
    if (rc == 0 && sanitizer)
        rc = allow_names(sb, f, vub__sandbox_sanitizer_calls());
    for (size_t i = 0; i < sb->nconds && rc == 0; i++) {
        const struct vub__sb_cond *c = &sb->conds[i];
        struct scmp_arg_cmp cmp = SCMP_CMP(c->arg, SCMP_CMP_EQ, c->value);
        if (!allowed_whole(sb, c->nr))
            rc = rule(sb, f, SCMP_ACT_ALLOW, c->nr, 1, &cmp);
    }
    pid_t pid = getpid();
    struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (uint64_t)pid);
    struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
    if (rc == 0) /* a sanitizer build allows clone whole (LeakSanitizer's tracer) */
        rc = rule(sb, f, SCMP_ACT_ALLOW, SCMP_SYS(clone), sanitizer ? 0 : 1, &thread);
    if (rc == 0)
        rc = rule(sb, f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
    if (rc == 0)
        rc = rule(sb, f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &self);
    if (rc == 0)
        rc = rule(sb, f, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &self);
    if (rc == 0)
        rc = rule(sb, f, SCMP_ACT_KILL_PROCESS, DIE_NR, 0, NULL);
    return rc;
}

int vub__sb_seccomp(vub_sandbox *sb)
{
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_TRAP);
    if (!f) {
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: libseccomp cannot make a filter");
        return -ENOMEM;
    }
    int rc = build(sb, f);
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    if (rc == 0 && sigaction(SIGSYS, &sa, NULL) < 0) {
        rc = -errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot install the SIGSYS handler: %s", strerror(-rc));
    }
    if (rc == 0 && (rc = seccomp_load(f)) < 0)
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot load the seccomp filter: %s%s", strerror(-rc),
                  rc == -ESRCH ? " (a thread could not be synchronised)" : "");
    seccomp_release(f);
    return rc;
}
