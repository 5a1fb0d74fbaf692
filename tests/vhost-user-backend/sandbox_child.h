/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* sandbox_child.h - run a sandboxed child and look at it from the parent (the sandbox suites).  The
 * sandbox closes fds, installs seccomp and Landlock for good, so it always runs in a forked child: the
 * Criterion worker survives whatever the child does.  The child's stderr is a pipe the parent reads at
 * the end; "ready" and "go" pipes let the parent look at /proc/PID while the sandboxed child waits.  The
 * child never uses cr_assert (Criterion's messages from a forked child confuse the runner). */
#ifndef SANDBOX_CHILD_H
#define SANDBOX_CHILD_H

/* Each suite uses a part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvmm/vub/sandbox.h"
#include "cvmm_test_exit.h"
#include "cvmm_test_fds.h"

#if defined(VUB_TEST_SANITIZER) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SBX_SANITIZER 1 /* the build compiles in the sanitizer allowance (cvmm/vub/sandbox.h) */
#else
#define SBX_SANITIZER 0
#endif

struct sbx_child {
    pid_t pid;
    int err;           /* parent: read end of the child's stderr */
    int ready;         /* parent: read end; child: sbx_ready() writes one byte */
    int go;            /* parent: write end; child: sbx_wait_go() reads one byte */
    int c_ready, c_go; /* the child's ends (keep them: vub_sandbox_keep_fd) */
    int status;
    char text[8192]; /* the child's stderr */
};

/* sbx_spawn() - fork; the child runs @fn(@arg, c) with stderr on the pipe and _exit()s with its result
 * (cvmm_test_exit(): a coverage build writes the child's counts first, the sandbox lets it). */
static void sbx_spawn(struct sbx_child *c, int (*fn)(void *arg, struct sbx_child *c), void *arg)
{
    int e[2], r[2], g[2];
    memset(c, 0, sizeof(*c));
    signal(SIGPIPE, SIG_IGN); /* the go byte to a child that is gone already fails with EPIPE, no more */
    cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(r, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(g, O_CLOEXEC), 0);
    fflush(NULL);
    c->pid = fork();
    if (c->pid == 0) { /* no cr_assert here: with --full-stats even a passing one messages the runner */
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that times out leaves no sandboxed orphan */
        dup2(e[1], STDERR_FILENO);
        close(e[0]);
        close(e[1]);
        close(r[0]);
        close(g[1]);
        c->c_ready = r[1];
        c->c_go = g[0];
        cvmm_test_exit(fn(arg, c));
    }
    cr_assert_gt(c->pid, 0);
    close(e[1]);
    close(r[1]);
    close(g[0]);
    c->err = e[0];
    c->ready = r[0];
    c->go = g[1];
}

/* In the child: the fds sbx_ready()/sbx_wait_go() need kept through the lock. */
static int sbx_keep(vub_sandbox *sb, struct sbx_child *c)
{
    return vub_sandbox_keep_fd(sb, c->c_ready) || vub_sandbox_keep_fd(sb, c->c_go) ? -EBADF : 0;
}

static void sbx_ready(struct sbx_child *c)
{
    ssize_t n = write(c->c_ready, "r", 1);
    (void)n;
}

static void sbx_wait_go(struct sbx_child *c)
{
    char b;
    ssize_t n = read(c->c_go, &b, 1);
    (void)n;
}

/* Parent: wait (60 s at most) for the child's ready byte.  Return: true it came. */
static bool sbx_await_ready(struct sbx_child *c)
{
    char b;
    return cvmm_test_wait_readable(c->ready, 60000) && read(c->ready, &b, 1) == 1;
}

/* Parent: let the child go on, wait for its end, and read its stderr. */
static void sbx_finish(struct sbx_child *c)
{
    ssize_t n = write(c->go, "g", 1);
    (void)n;
    if (c->pid > 0) /* 0: the caller reaped it */
        cr_assert_eq(waitpid(c->pid, &c->status, 0), c->pid);
    c->pid = 0;
    size_t len = 0;
    while (len + 1 < sizeof(c->text) && (n = read(c->err, c->text + len, sizeof(c->text) - 1 - len)) > 0)
        len += (size_t)n;
    c->text[len] = '\0';
    close(c->err);
    close(c->ready);
    close(c->go);
}

static bool sbx_killed_by_sigsys(const struct sbx_child *c)
{
    return WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGSYS;
}

static int sbx_exit_code(const struct sbx_child *c) { return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1; }

/* The line the sandbox's SIGSYS handler writes for system call @nr. */
static bool sbx_logged_violation(const struct sbx_child *c, const char *name, long nr)
{
    char want[128];
    snprintf(want, sizeof(want), ": error: sandbox: forbidden system call %s (%ld): killed\n", name, nr);
    return strstr(c->text, want) != NULL;
}

/* sbx_proc_field() - the value of "@key:" in /proc/@pid/task/@tid/status (tid 0: /proc/@pid/status), or -1. */
static long sbx_proc_field(pid_t pid, pid_t tid, const char *key)
{
    char path[96], line[256];
    if (tid)
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
    else
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, k) == 0 && line[k] == ':')
            v = strtol(line + k + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* sbx_threads_with() - assert that every thread of @pid shows NoNewPrivs @nnp and Seccomp @mode.
 * Return: the number of threads. */
static int sbx_threads_with(pid_t pid, long nnp, long mode)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        cr_assert_eq(sbx_proc_field(pid, tid, "NoNewPrivs"), nnp, "thread %d", (int)tid);
        cr_assert_eq(sbx_proc_field(pid, tid, "Seccomp"), mode, "thread %d", (int)tid);
        n++;
    }
    closedir(d);
    return n;
}

#endif
