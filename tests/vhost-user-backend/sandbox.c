/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The sandbox (cvmm/vub/sandbox.h) on its own: declarations and their errors, the fds left open, no new
 * privileges and seccomp mode on every thread, and forbidden things done after the lock (execve, fork,
 * socket, ptrace, files outside the rules), each denied or killed as the header's policy says.  Every lock
 * runs in a forked child (sandbox_child.h). */
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cvmm_test_json_nomem.h"
#include "sandbox_child.h"

TestSuite(sandbox, .timeout = 120);

static vub_sandbox *new_sandbox(void)
{
    vub_sandbox *sb = NULL;
    if (vub_sandbox_new(&(vub_sandbox_config){0}, &sb) < 0)
        cvmm_test_exit(90);
    return sb;
}

/* lock_all() - child: keep the handshake pipes, lock both parts.  Return: 0; 91/92 the lock failed. */
static int lock_all(vub_sandbox *sb, struct sbx_child *c)
{
    if (sbx_keep(sb, c) < 0)
        return 93;
    if (vub_sandbox_lock_fs(sb) < 0)
        return 91;
    if (vub_sandbox_lock_syscalls(sb) < 0)
        return 92;
    return 0;
}

/* ---- declarations ---- */

Test(sandbox, declaration_errors_are_refused_and_change_nothing)
{
    vub_sandbox *sb = NULL;
    cr_assert_eq(vub_sandbox_new(NULL, &sb), -EINVAL);
    cr_assert_eq(vub_sandbox_new(&(vub_sandbox_config){0}, NULL), -EINVAL);
    cr_assert_eq(vub_sandbox_new(&(vub_sandbox_config){0}, &sb), 0);
    int fd = eventfd(0, EFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(vub_sandbox_keep_fd(sb, -1), -EBADF);
    cr_assert_eq(vub_sandbox_keep_fd(sb, fd), -EBADF); /* closed */
    cr_assert_eq(vub_sandbox_allow_path(sb, "/nonexistent/cvmm-sandbox", VUB_SANDBOX_READ), -ENOENT);
    cr_assert_eq(vub_sandbox_allow_path(sb, "/etc/hostname", VUB_SANDBOX_CREATE), -EINVAL); /* a file */
    cr_assert_eq(vub_sandbox_allow_path(sb, "/tmp", 0), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_path(sb, "/tmp", 8), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_path(sb, "", VUB_SANDBOX_READ), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_path(sb, NULL, VUB_SANDBOX_READ), -EINVAL);
    static const char *const never[] = {"execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace", "socket"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        cr_assert_eq(vub_sandbox_allow_syscall(sb, never[i]), -EINVAL, "%s", never[i]);
    cr_assert_eq(vub_sandbox_allow_syscall(sb, "no_such_call"), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscall(sb, NULL), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(sb, "execve", 0, 0), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(sb, "socket", 6, AF_UNIX), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscalls(sb, (const char *const[]){"pread64", "execve", NULL}), -EINVAL);
    /* No sandbox; a condition declared twice is kept once. */
    cr_assert_eq(vub_sandbox_keep_fd(NULL, 0), -EBADF);
    cr_assert_eq(vub_sandbox_allow_path(NULL, "/tmp", VUB_SANDBOX_READ), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscall(NULL, "read"), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(NULL, "socket", 0, AF_UNIX), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscalls(NULL, NULL), -EINVAL);
    cr_assert_eq(vub_sandbox_lock_fs(NULL), -EINVAL);
    cr_assert_eq(vub_sandbox_lock_syscalls(NULL), -EINVAL);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(sb, "socket", 0, AF_UNIX), 0);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(sb, "socket", 0, AF_UNIX), 0);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(sb, "socket", 1, AF_UNIX), 0);
    /* What was refused is not in the policy; what came before the refusal is. */
    int pfd[2];
    cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
    cr_assert_eq(vub_sandbox_print(sb, pfd[1]), 0);
    close(pfd[1]);
    char text[65536];
    ssize_t n = read(pfd[0], text, sizeof(text) - 1);
    close(pfd[0]);
    cr_assert_gt(n, 0);
    text[n] = '\0';
    cr_assert_null(strstr(text, "\"execve\""));
    cr_assert_not_null(strstr(text, "\"pread64\""));
    cr_assert_null(strstr(text, "nonexistent"));
    const char *first = strstr(text, "{\"syscall\":\"socket\",\"arg\":0,");
    cr_assert_not_null(first, "%s", text);
    cr_assert_null(strstr(first + 1, "{\"syscall\":\"socket\",\"arg\":0,"), "once: %s", text);
    cr_assert_not_null(strstr(text, "{\"syscall\":\"socket\",\"arg\":1,"), "%s", text);
    cr_assert_eq(vub_sandbox_print(NULL, 1), -EINVAL);
    vub_sandbox_free(sb);
    vub_sandbox_free(NULL);
}

/* printed() - vub_sandbox_print() of @sb, parsed.  Return: owned, json_decref(). */
static json_t *printed(const vub_sandbox *sb)
{
    int pfd[2];
    cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
    cr_assert_eq(vub_sandbox_print(sb, pfd[1]), 0);
    close(pfd[1]);
    json_error_t je;
    json_t *o = json_loadfd(pfd[0], JSON_DISABLE_EOF_CHECK, &je);
    close(pfd[0]);
    cr_assert_not_null(o, "%s", je.text);
    return o;
}

Test(sandbox, print_is_json_with_every_declaration)
{
    vub_sandbox *sb = NULL;
    cr_assert_eq(vub_sandbox_new(&(vub_sandbox_config){0}, &sb), 0);
    int fd = eventfd(0, EFD_CLOEXEC);
    cr_assert_eq(vub_sandbox_keep_fd(sb, fd), 0);
    cr_assert_eq(vub_sandbox_keep_fd(sb, fd), 0); /* twice is once */
    cr_assert_eq(vub_sandbox_allow_path(sb, "/tmp", VUB_SANDBOX_READ | VUB_SANDBOX_CREATE), 0);
    cr_assert_eq(vub_sandbox_allow_syscall(sb, "fallocate"), 0);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(sb, "socket", 0, AF_UNIX), 0);
    json_t *o = printed(sb);
    cr_assert(json_is_true(json_object_get(o, "no_new_privs")));
    json_t *fds = json_object_get(o, "kept_fds");
    cr_assert_eq(json_array_size(fds), 4);
    cr_assert_eq(json_integer_value(json_array_get(fds, 3)), fd);
    json_t *paths = json_object_get(json_object_get(o, "landlock"), "paths");
    cr_assert_geq(json_array_size(paths), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(paths, 0), "path")), "/tmp");
    json_t *acc = json_object_get(json_array_get(paths, 0), "access");
    cr_assert_str_eq(json_string_value(json_array_get(acc, 0)), "read");
    cr_assert_str_eq(json_string_value(json_array_get(acc, 1)), "create");
    json_t *sc = json_object_get(o, "seccomp");
    json_t *allow = json_object_get(sc, "allow");
    bool fallocate = false, recvmsg = false, execve = false;
    for (size_t i = 0; i < json_array_size(allow); i++) {
        const char *s = json_string_value(json_array_get(allow, i));
        fallocate |= strcmp(s, "fallocate") == 0;
        recvmsg |= strcmp(s, "recvmsg") == 0;
        execve |= strcmp(s, "execve") == 0;
    }
    cr_assert(fallocate && recvmsg && !execve);
    json_t *c0 = json_array_get(json_object_get(sc, "allow_if"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c0, "syscall")), "socket");
    cr_assert_eq(json_integer_value(json_object_get(c0, "value")), AF_UNIX);
    cr_assert_eq(json_is_null(json_object_get(o, "sanitizer")), !SBX_SANITIZER);
    json_decref(o);
    close(fd);
    vub_sandbox_free(sb);
}

Test(sandbox, print_out_of_memory_at_any_step_is_enomem)
{
    vub_sandbox *sb = NULL;
    cr_assert_eq(vub_sandbox_new(&(vub_sandbox_config){.set_ids = true, .uid = 1, .gid = 1}, &sb), 0);
    int fd = eventfd(0, EFD_CLOEXEC), out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cr_assert_eq(vub_sandbox_keep_fd(sb, fd), 0);
    cr_assert_eq(vub_sandbox_allow_path(sb, "/tmp", VUB_SANDBOX_READ | VUB_SANDBOX_WRITE | VUB_SANDBOX_CREATE), 0);
    cr_assert_eq(vub_sandbox_allow_syscall(sb, "fallocate"), 0);
    cr_assert_eq(vub_sandbox_allow_syscall_arg(sb, "socket", 0, AF_UNIX), 0);
    int printed_at = -1;
    for (int k = 0; k < 5000 && printed_at < 0; k++) {
        cvmm_test_json_allow(k);
        int rc = vub_sandbox_print(sb, out);
        cvmm_test_json_allow(-1);
        cr_assert(rc == 0 || rc == -ENOMEM, "%d allocations: rc %d", k, rc);
        if (rc == 0)
            printed_at = k;
    }
    cr_assert_gt(printed_at, 20, "printed with %d allocations", printed_at);
    close(out);
    close(fd);
    vub_sandbox_free(sb);
}

/* ---- what is left open ---- */

struct fds_arg {
    int keep[3], drop[3];
};

static int fds_child(void *arg, struct sbx_child *c)
{
    struct fds_arg *a = arg;
    vub_sandbox *sb = new_sandbox();
    int p[2];
    if (pipe2(p, 0) < 0) /* not CLOEXEC: the sandbox closes what it was not told to keep, whatever the flag */
        return 80;
    a->keep[0] = p[0];
    a->drop[0] = p[1];
    a->keep[1] = eventfd(0, EFD_CLOEXEC);
    a->drop[1] = open("/dev/null", O_RDONLY);
    a->drop[2] = dup(a->keep[1]);
    a->keep[2] = memfd_create("sbx", MFD_CLOEXEC);
    for (int i = 0; i < 3; i++)
        if (a->keep[i] < 0 || a->drop[i] < 0 || vub_sandbox_keep_fd(sb, a->keep[i]) < 0)
            return 81;
    if (lock_all(sb, c))
        return 82;
    /* Every fd below 4096 that is open now must be 0-2, a kept one, or the handshake's. */
    for (int fd = 0; fd < 4096; fd++) {
        bool open_now = fcntl(fd, F_GETFD) >= 0;
        bool declared = fd <= 2 || fd == c->c_ready || fd == c->c_go;
        for (int i = 0; i < 3; i++)
            declared |= fd == a->keep[i];
        if (open_now != declared) {
            fprintf(stderr, "fd %d: open %d declared %d\n", fd, open_now, declared);
            return 83;
        }
    }
    vub_sandbox_free(sb);
    return 0;
}

Test(sandbox, the_fds_left_open_are_exactly_the_declared_ones)
{
    struct sbx_child c;
    struct fds_arg a;
    sbx_spawn(&c, fds_child, &a);
    sbx_finish(&c);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
}

/* ---- no new privileges, seccomp mode 2, on every thread ---- */

static void *idle_thread(void *arg)
{
    sbx_wait_go(arg);
    return NULL;
}

static int status_child(void *arg, struct sbx_child *c)
{
    (void)arg;
    vub_sandbox *sb = new_sandbox();
    if (sbx_keep(sb, c) < 0 || vub_sandbox_lock_fs(sb) < 0)
        return 91;
    pthread_t th; /* started before the filter: TSYNC must cover it */
    if (pthread_create(&th, NULL, idle_thread, c) != 0)
        return 94;
    if (vub_sandbox_lock_syscalls(sb) < 0)
        return 92;
    if (vub_sandbox_lock_syscalls(sb) != -EBUSY || vub_sandbox_lock_fs(sb) != -EBUSY)
        return 95;
    sbx_ready(c);
    pthread_join(th, NULL); /* the thread ends on the go byte */
    vub_sandbox_free(sb);
    return 0;
}

Test(sandbox, every_thread_shows_no_new_privs_1_and_seccomp_2)
{
    struct sbx_child c;
    sbx_spawn(&c, status_child, NULL);
    cr_assert(sbx_await_ready(&c));
    cr_assert_eq(sbx_proc_field(c.pid, 0, "NoNewPrivs"), 1);
    cr_assert_eq(sbx_proc_field(c.pid, 0, "Seccomp"), 2);
    int tasks = sbx_threads_with(c.pid, 1, 2);
    cr_assert_eq(tasks, 2);
    sbx_finish(&c);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
}

static long prctl_nnp(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }

static int two_threads_child(void *arg, struct sbx_child *c)
{
    (void)arg;
    vub_sandbox *sb = new_sandbox();
    pthread_t th;
    if (pthread_create(&th, NULL, idle_thread, c) != 0)
        return 94;
    int rc = vub_sandbox_lock_fs(sb);
    long nnp = prctl_nnp();
    sbx_ready(c);
    pthread_join(th, NULL);
    vub_sandbox_free(sb);
    return rc == -EBUSY && nnp == 0 ? 0 : 96;
}

Test(sandbox, the_filesystem_lock_refuses_a_second_thread_and_does_nothing)
{
    struct sbx_child c;
    sbx_spawn(&c, two_threads_child, NULL);
    cr_assert(sbx_await_ready(&c));
    sbx_finish(&c);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
    cr_assert_not_null(strstr(c.text, "the filesystem lock needs one thread"), "%s", c.text);
}

/* ---- forbidden things after the lock ---- */

enum try_what { TRY_EXECVE, TRY_SOCKET_INET, TRY_PTRACE, TRY_FORK, TRY_SOCKET_INET_IN_OLD_THREAD };

static void *socket_thread(void *arg)
{
    sbx_wait_go(arg);
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* killed here */
    return (void *)(intptr_t)fd;
}

static int try_child(void *arg, struct sbx_child *c)
{
    enum try_what w = *(enum try_what *)arg;
    vub_sandbox *sb = new_sandbox();
    pid_t parent = getppid();
    if (vub_sandbox_allow_syscall_arg(sb, "socket", 0, AF_UNIX) < 0)
        return 97;
    pthread_t th;
    if (w == TRY_SOCKET_INET_IN_OLD_THREAD) { /* the thread exists before the filter is loaded */
        if (sbx_keep(sb, c) < 0 || vub_sandbox_lock_fs(sb) < 0)
            return 91;
        if (pthread_create(&th, NULL, socket_thread, c) != 0 || vub_sandbox_lock_syscalls(sb) < 0)
            return 92;
        sbx_ready(c); /* the parent's go byte comes now, so the thread calls socket() under the filter */
        pthread_join(th, NULL);
        return 0;
    }
    int rc = lock_all(sb, c);
    if (rc)
        return rc;
    int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* allowed by its argument */
    if (u < 0)
        return 98;
    close(u);
    switch (w) {
    case TRY_EXECVE: execve("/bin/true", (char *[]){"true", NULL}, (char *[]){NULL}); return 10;
    case TRY_SOCKET_INET: return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 11 : 12;
    case TRY_PTRACE: /* the parent: outside the sandbox */
        return ptrace(PTRACE_ATTACH, parent, NULL, NULL) == 0 ? 13 : errno == EPERM ? 14 : 15;
    case TRY_FORK: {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        return p > 0 ? 16 : 17;
    }
    default: return 99;
    }
}

static void try_forbidden(enum try_what w, struct sbx_child *c)
{
    sbx_spawn(c, try_child, &w);
    if (w == TRY_SOCKET_INET_IN_OLD_THREAD)
        cr_assert(sbx_await_ready(c));
    sbx_finish(c);
}

/* assert_killed_for() - the child doing @w was killed by SIGSYS and its last line names @name (@nr). */
static void assert_killed_for(enum try_what w, const char *name, long nr)
{
    struct sbx_child c;
    try_forbidden(w, &c);
    cr_assert(sbx_killed_by_sigsys(&c), "status %#x: %s", c.status, c.text);
    cr_assert(sbx_logged_violation(&c, name, nr), "%s", c.text);
}

Test(sandbox, execve_kills_the_process_with_a_line_naming_it) { assert_killed_for(TRY_EXECVE, "execve", SYS_execve); }

Test(sandbox, socket_of_another_family_kills_the_process) { assert_killed_for(TRY_SOCKET_INET, "socket", SYS_socket); }

Test(sandbox, a_thread_started_before_the_filter_is_filtered_too)
{
    assert_killed_for(TRY_SOCKET_INET_IN_OLD_THREAD, "socket", SYS_socket);
}

Test(sandbox, ptrace_is_killed_or_denied_by_landlock_in_sanitizer_builds)
{
    if (!SBX_SANITIZER) {
        assert_killed_for(TRY_PTRACE, "ptrace", SYS_ptrace);
    } else { /* LeakSanitizer needs ptrace: seccomp lets it through, Landlock refuses the parent */
        struct sbx_child c;
        try_forbidden(TRY_PTRACE, &c);
        cr_assert_eq(sbx_exit_code(&c), 14, "status %#x: %s", c.status, c.text);
    }
}

Test(sandbox, fork_kills_the_process)
{
    if (SBX_SANITIZER)
        cr_skip_test("sanitizer builds allow clone whole (LeakSanitizer's tracer): cvmm/vub/sandbox.h");
    assert_killed_for(TRY_FORK, "clone", SYS_clone);
}

/* ---- files: Landlock ---- */

struct files_arg {
    char allowed[64], other[64];
};

static void *open_outside_thread(void *arg)
{
    struct files_arg *a = arg;
    char p[96];
    snprintf(p, sizeof(p), "%s/from-thread", a->other);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    intptr_t r = fd >= 0 ? 1 : errno == EACCES ? 0 : 2;
    if (fd >= 0)
        close(fd);
    return (void *)r;
}

static int files_child(void *arg, struct sbx_child *c)
{
    struct files_arg *a = arg;
    char p[96];
    vub_sandbox *sb = new_sandbox();
    if (vub_sandbox_allow_path(sb, a->allowed, VUB_SANDBOX_READ | VUB_SANDBOX_WRITE | VUB_SANDBOX_CREATE) < 0 ||
        vub_sandbox_allow_syscall(sb, "unlink") < 0)
        return 70;
    int rc = lock_all(sb, c);
    if (rc)
        return rc;
    snprintf(p, sizeof(p), "%s/inside", a->allowed);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) < 0 || unlink(p) < 0)
        return 71;
    snprintf(p, sizeof(p), "%s/outside", a->other);
    errno = 0;
    if (open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) >= 0 || errno != EACCES)
        return 72;
    errno = 0;
    int r = open("/etc/passwd", O_RDONLY | O_CLOEXEC); /* readable only through a sanitizer's allowance */
    if (SBX_SANITIZER ? r < 0 : (r >= 0 || errno != EACCES))
        return 73;
    pthread_t th; /* a thread started after the lock inherits it */
    void *res;
    if (pthread_create(&th, NULL, open_outside_thread, a) != 0 || pthread_join(th, &res) != 0)
        return 74;
    if ((intptr_t)res != 0)
        return 75;
    vub_sandbox_free(sb);
    return 0;
}

Test(sandbox, files_outside_the_declared_paths_get_eacces_in_every_thread)
{
    struct files_arg a;
    snprintf(a.allowed, sizeof(a.allowed), "/tmp/sbx-in.XXXXXX");
    snprintf(a.other, sizeof(a.other), "/tmp/sbx-out.XXXXXX");
    cr_assert_not_null(mkdtemp(a.allowed));
    cr_assert_not_null(mkdtemp(a.other));
    struct sbx_child c;
    sbx_spawn(&c, files_child, &a);
    sbx_finish(&c);
    char p[96];
    snprintf(p, sizeof(p), "%s/outside", a.other);
    bool created = access(p, F_OK) == 0;
    snprintf(p, sizeof(p), "%s/from-thread", a.other);
    created |= access(p, F_OK) == 0;
    unlink(p);
    snprintf(p, sizeof(p), "%s/outside", a.other);
    unlink(p);
    rmdir(a.allowed);
    rmdir(a.other);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
    cr_assert_not(created);
}

/* ---- the optional steps: another uid/gid, new namespaces ---- */

static int ids_ns_child(void *arg, struct sbx_child *c)
{
    const vub_sandbox_config *cfg = arg;
    vub_sandbox *sb = NULL;
    if (vub_sandbox_new(cfg, &sb) < 0)
        return 90;
    int rc = lock_all(sb, c);
    if (rc)
        return rc;
    sbx_ready(c);
    sbx_wait_go(c);
    vub_sandbox_free(sb);
    return 0;
}

static void ns_of(pid_t pid, const char *ns, char *buf, size_t len)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)pid, ns);
    ssize_t n = readlink(p, buf, len - 1);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
}

/* The ids and namespaces a child locked with @cfg runs with, seen from here. */
struct ids_seen {
    long uid, gid;
    bool net_differs, user_differs;
};

static struct ids_seen locked_with(const vub_sandbox_config *cfg)
{
    struct ids_seen r = {-1, -1, false, false};
    struct sbx_child c;
    sbx_spawn(&c, ids_ns_child, (void *)cfg);
    bool ready = sbx_await_ready(&c);
    char mine[64], its[64];
    if (ready) {
        r.uid = sbx_proc_field(c.pid, 0, "Uid");
        r.gid = sbx_proc_field(c.pid, 0, "Gid");
        ns_of(getpid(), "net", mine, sizeof(mine));
        ns_of(c.pid, "net", its, sizeof(its));
        r.net_differs = strcmp(mine, its) != 0;
        ns_of(getpid(), "user", mine, sizeof(mine));
        ns_of(c.pid, "user", its, sizeof(its));
        r.user_differs = strcmp(mine, its) != 0;
    }
    sbx_finish(&c);
    cr_assert(ready, "status %#x: %s", c.status, c.text);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
    return r;
}

Test(sandbox, namespaces_and_ids_are_switched_before_the_lock)
{
    if (geteuid() != 0)
        cr_skip_test("switching to another uid needs root");
    struct ids_seen r =
        locked_with(&(vub_sandbox_config){.set_ids = true, .uid = 65534, .gid = 65534, .namespaces = true});
    cr_assert_eq(r.uid, 65534);
    cr_assert_eq(r.gid, 65534);
    cr_assert(r.net_differs && r.user_differs);
}

/* New namespaces alone map the process's own ids: it keeps them (no privilege needed). */
Test(sandbox, namespaces_alone_keep_the_process_ids)
{
    struct ids_seen r = locked_with(&(vub_sandbox_config){.namespaces = true});
    cr_assert_eq(r.uid, (long)getuid());
    cr_assert_eq(r.gid, (long)getgid());
    cr_assert(r.net_differs && r.user_differs);
}

/* ---- the coverage preset: gcov's counts (docs/sandbox.md) ---- */

/* gcov_dir() - the path --print-sandbox lists for gcov's counts into @buf; false when it lists none. */
static bool gcov_dir(char *buf, size_t len)
{
    vub_sandbox *sb = NULL;
    cr_assert_eq(vub_sandbox_new(&(vub_sandbox_config){0}, &sb), 0);
    json_t *o = printed(sb);
    vub_sandbox_free(sb);
    json_t *paths = json_object_get(json_object_get(o, "landlock"), "paths");
    bool found = false;
    for (size_t i = 0; i < json_array_size(paths) && !found; i++) {
        const char *why = json_string_value(json_object_get(json_array_get(paths, i), "why"));
        if (why && strstr(why, "gcov")) {
            snprintf(buf, len, "%s", json_string_value(json_object_get(json_array_get(paths, i), "path")));
            found = true;
        }
    }
    json_decref(o);
    return found;
}

/* In the child: under the lock, the file @arg (in the build tree) made and written; one in /tmp is still
 * refused.  (Removing files is not gcov's business, nor allowed: the parent removes it.) */
static int gcov_child(void *arg, struct sbx_child *c)
{
    char outside[64];
    snprintf(outside, sizeof(outside), "/tmp/.sandbox-gcov-probe.%d", (int)getpid());
    vub_sandbox *sb = new_sandbox();
    if (lock_all(sb, c))
        return 70;
    int fd = open(arg, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return 71;
    bool written = write(fd, "counts", 6) == 6;
    close(fd);
    if (!written)
        return 72;
    if (open(outside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) >= 0 || errno != EACCES)
        return 73;
    vub_sandbox_free(sb);
    return 0;
}

Test(sandbox, only_the_coverage_build_lets_a_sandboxed_process_write_under_the_build_tree)
{
    char dir[4096];
    bool listed = gcov_dir(dir, sizeof(dir));
#ifdef CVMM_COVERAGE
    cr_assert(listed, "the coverage build lists the build tree for gcov's counts");
    char probe[4200], text[8] = {0};
    snprintf(probe, sizeof(probe), "%s/.sandbox-gcov-probe.%d", dir, (int)getpid());
    struct sbx_child c;
    sbx_spawn(&c, gcov_child, probe);
    sbx_finish(&c);
    int fd = open(probe, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
    if (fd >= 0)
        close(fd);
    unlink(probe);
    cr_assert_eq(sbx_exit_code(&c), 0, "status %#x: %s", c.status, c.text);
    cr_assert_eq(n, 6);
    cr_assert_str_eq(text, "counts");
#else
    cr_assert_not(listed, "only the coverage build allows gcov's writes: %s", dir);
#endif
}
