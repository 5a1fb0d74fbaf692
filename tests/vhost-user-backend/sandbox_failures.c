/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The sandbox (cvmm/vub/sandbox.h) when the kernel or libseccomp says no, or says something else than this
 * kernel does: Landlock absent, an older or a newer ABI, a rule, the ruleset or restrict_self refused, no
 * filter or a filter not loaded.  Each lock runs in a forked child (sandbox_child.h).  The test binary
 * interposes syscall() (the library reaches Landlock through it), seccomp_init() and seccomp_load(): a
 * child sets what they answer before it locks.  Also: a declared file, not a directory, gets file rights. */
#include <dlfcn.h>
#include <seccomp.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "sandbox_child.h"

TestSuite(sandbox_failures, .timeout = 120);

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

static int fake_abi = -1; /* >= 0: the ABI probe answers this (0: EOPNOTSUPP, Landlock disabled) */
static long fail_nr = -1; /* this Landlock call fails with fail_errno (the probe excepted) */
static int fail_errno;    /* for fail_nr */
static bool no_filter;    /* seccomp_init() returns NULL */
static int load_rc;       /* seccomp_load() returns this when non-zero */
static int rule_fails_at; /* > 0: the rule_fails_at-th seccomp_rule_add_array() returns -EEXIST */
static bool attr_fails;   /* seccomp_attr_set() returns -EINVAL */

long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    bool probe = nr == SYS_landlock_create_ruleset && a[0] == 0 && a[2] == 1;
    if (probe && fake_abi >= 0) {
        errno = EOPNOTSUPP;
        return fake_abi ? fake_abi : -1;
    }
    if (nr == fail_nr && !probe) {
        errno = fail_errno;
        return -1;
    }
    long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

scmp_filter_ctx seccomp_init(uint32_t def_action)
{
    scmp_filter_ctx (*real)(uint32_t) = (scmp_filter_ctx(*)(uint32_t))dlsym(RTLD_NEXT, "seccomp_init");
    return no_filter ? NULL : real(def_action);
}

int seccomp_load(const scmp_filter_ctx ctx)
{
    int (*real)(const scmp_filter_ctx) = (int (*)(const scmp_filter_ctx))dlsym(RTLD_NEXT, "seccomp_load");
    return load_rc ? load_rc : real(ctx);
}

int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned int n, const struct scmp_arg_cmp *cmp)
{
    int (*real)(scmp_filter_ctx, uint32_t, int, unsigned int, const struct scmp_arg_cmp *) =
        (int (*)(scmp_filter_ctx, uint32_t, int, unsigned int, const struct scmp_arg_cmp *))dlsym(
            RTLD_NEXT, "seccomp_rule_add_array");
    return rule_fails_at > 0 && --rule_fails_at == 0 ? -EEXIST : real(ctx, action, nr, n, cmp);
}

int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value)
{
    int (*real)(scmp_filter_ctx, enum scmp_filter_attr, uint32_t) =
        (int (*)(scmp_filter_ctx, enum scmp_filter_attr, uint32_t))dlsym(RTLD_NEXT, "seccomp_attr_set");
    return attr_fails ? -EINVAL : real(ctx, attr, value);
}

static void to_stderr(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    fprintf(stderr, "%s: %s\n", cvmm_log_level_name(lvl), line);
}
static const struct cvmm_log info_log = {.fn = to_stderr, .level = CVMM_LOG_INFO};

/* What a child does: fake what @fake says, declare /tmp (read) and @file (read, if any), lock both parts,
 * then try to read @file and to create a file in /tmp.  Exit: 0 locked; 1 lock_fs failed; 2 lock_syscalls
 * failed; + 10 when @file could not be read; + 20 when /tmp took a new file. */
struct fake {
    int abi;      /* 0: the kernel's; -1: Landlock disabled; else this ABI */
    long fail_nr; /* 0: none */
    int fail_errno;
    bool no_filter;
    int load_rc;
    int rule_fails_at;
    bool attr_fails;
    const char *file;
};

static int fake_child(void *arg, struct sbx_child *c)
{
    const struct fake *f = arg;
    fake_abi = f->abi == 0 ? -1 : f->abi < 0 ? 0 : f->abi;
    fail_nr = f->fail_nr ? f->fail_nr : -1;
    fail_errno = f->fail_errno;
    no_filter = f->no_filter;
    load_rc = f->load_rc;
    rule_fails_at = f->rule_fails_at;
    attr_fails = f->attr_fails;
    vub_sandbox *sb = NULL;
    if (vub_sandbox_new(&(vub_sandbox_config){.log = &info_log}, &sb) < 0 || sbx_keep(sb, c) < 0 ||
        vub_sandbox_allow_syscall(sb, "fallocate") < 0 || vub_sandbox_allow_syscall_arg(sb, "socket", 0, AF_UNIX) < 0 ||
        vub_sandbox_allow_path(sb, "/tmp", VUB_SANDBOX_READ) < 0 ||
        (f->file && vub_sandbox_allow_path(sb, f->file, VUB_SANDBOX_READ | VUB_SANDBOX_WRITE) < 0))
        return 90;
    int rc = vub_sandbox_lock_fs(sb);
    fprintf(stderr, "lock_fs %d\n", rc);
    if (rc < 0)
        return 1;
    rc = vub_sandbox_lock_syscalls(sb);
    fprintf(stderr, "lock_syscalls %d\n", rc);
    if (rc < 0)
        return 2;
    int status = 0;
    if (f->file) {
        int fd = open(f->file, O_RDONLY | O_CLOEXEC);
        status += fd < 0 ? 10 : 0;
        if (fd >= 0)
            close(fd);
    }
    char p[64];
    snprintf(p, sizeof(p), "/tmp/.sandbox-failures.%d", (int)getpid());
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) { /* the parent removes it: unlink is not allowed here */
        close(fd);
        status += 20;
    }
    vub_sandbox_free(sb);
    return status;
}

static void run(struct fake f, struct sbx_child *c)
{
    sbx_spawn(c, fake_child, &f);
    char p[64];
    snprintf(p, sizeof(p), "/tmp/.sandbox-failures.%d", (int)c->pid);
    sbx_finish(c);
    unlink(p);
}

#define FAKE(...) ((struct fake){__VA_ARGS__})

Test(sandbox_failures, landlock_disabled_is_said_and_the_filter_still_applies)
{
    struct sbx_child c;
    run(FAKE(.abi = -1), &c);
    cr_assert_eq(sbx_exit_code(&c), 20, "locked, and the filesystem is open: status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "warn: sandbox: Landlock is not available (disabled at boot): the filesystem is "
                                      "not restricted"),
                       "%s", c.text);
}

Test(sandbox_failures, an_older_abi_says_what_it_does_not_restrict)
{
    struct sbx_child c;
    run(FAKE(.abi = 3), &c);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "warn: sandbox: Landlock ABI 3 only: TCP, device ioctls, signals not restricted"),
                       "%s", c.text);
    run(FAKE(.abi = 1), &c);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "ABI 1 only: truncate, TCP, device ioctls, signals not restricted"), "%s",
                       c.text);
}

Test(sandbox_failures, a_newer_abi_is_used_as_far_as_this_library_knows_it)
{
    struct sbx_child c;
    run(FAKE(.abi = 9), &c);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "info: sandbox: Landlock ABI 9, using what ABI 7 knows"), "%s", c.text);
}

Test(sandbox_failures, a_refused_landlock_step_fails_the_lock_with_its_errno)
{
    static const struct {
        long nr;
        int err;
        const char *line;
    } steps[] = {
        {SYS_landlock_create_ruleset, ENOMEM, "error: sandbox: cannot create the Landlock ruleset: "},
        {SYS_landlock_add_rule, EINVAL, "error: sandbox: landlock rule for /tmp refused: "},
        {SYS_landlock_restrict_self, EPERM, "error: sandbox: landlock_restrict_self failed: "},
    };
    for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct sbx_child c;
        run(FAKE(.fail_nr = steps[i].nr, .fail_errno = steps[i].err), &c);
        cr_assert_eq(sbx_exit_code(&c), 1, "step %u: status %#x: %s", i, c.status, c.text);
        char want[64];
        snprintf(want, sizeof(want), "lock_fs %d\n", -steps[i].err);
        cr_assert_not_null(strstr(c.text, want), "step %u: %s", i, c.text);
        cr_assert_not_null(strstr(c.text, steps[i].line), "step %u: %s", i, c.text);
    }
}

Test(sandbox_failures, no_filter_or_a_filter_not_loaded_fails_the_syscall_lock)
{
    struct sbx_child c;
    run(FAKE(.no_filter = true), &c);
    cr_assert_eq(sbx_exit_code(&c), 2, "status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "lock_syscalls -12\n"), "%s", c.text);
    cr_assert_not_null(strstr(c.text, "error: sandbox: libseccomp cannot make a filter"), "%s", c.text);
    run(FAKE(.load_rc = -ESRCH), &c);
    cr_assert_eq(sbx_exit_code(&c), 2, "status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "error: sandbox: cannot load the seccomp filter: No such process (a thread could "
                                      "not be synchronised)"),
                       "%s", c.text);
}

/* A declared file is a rule for that file alone (file rights: no directory rights on a file). */
Test(sandbox_failures, a_declared_file_gets_the_rights_a_file_can_have)
{
    struct sbx_child c;
    run(FAKE(.file = "/etc/hostname"), &c);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
}

/* Every rule of the filter refused in turn (libseccomp's answer): the lock fails with it, and the line
 * names the call; with all rules added, the filter loads. */
Test(sandbox_failures, a_refused_seccomp_rule_or_attribute_fails_the_syscall_lock)
{
    struct sbx_child c;
    run(FAKE(.attr_fails = true), &c);
    cr_assert_eq(sbx_exit_code(&c), 2, "status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "error: sandbox: libseccomp cannot set the filter's attributes: "), "%s", c.text);
    int k = 1;
    for (; k < 1000; k++) {
        run(FAKE(.rule_fails_at = k), &c);
        if (sbx_exit_code(&c) == 0)
            break;
        cr_assert_eq(sbx_exit_code(&c), 2, "rule %d: status %#x: %s", k, c.status, c.text);
        cr_assert_not_null(strstr(c.text, "lock_syscalls -17\n"), "rule %d: %s", k, c.text);
        cr_assert_not_null(strstr(c.text, ") refused: File exists"), "rule %d: %s", k, c.text);
    }
    cr_assert_gt(k, 40, "the filter has the daemon's calls, the device's, and the conditional ones");
    cr_assert_lt(k, 1000);
}
