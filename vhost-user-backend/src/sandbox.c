/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* sandbox.c - the sandbox's declarations and its filesystem lock (cvmm/vub/sandbox.h): no new privileges,
 * the declared fds only, ids and namespaces.  Landlock is sandbox_landlock.c, seccomp sandbox_seccomp.c,
 * the JSON policy sandbox_print.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "internal.h" /* before seccomp.h: its <linux/elf.h> defines EV_NONE, an enumerator of libev's ev.h */
#include "sandbox_internal.h"

#include <seccomp.h>

int vub__sb_grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* add_unique() - @v into the set *@arr (@n used of @cap).  Return: 0 (also when there); -ENOMEM. */
static int add_unique(int **arr, size_t *n, size_t *cap, int v)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i] == v)
            return 0;
    if (vub__sb_grow((void **)arr, cap, *n, sizeof(**arr)) < 0)
        return -ENOMEM;
    (*arr)[(*n)++] = v;
    return 0;
}

int vub_sandbox_new(const vub_sandbox_config *cfg, vub_sandbox **out)
{
    if (!cfg || !out)
        return -EINVAL;
    vub_sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return -ENOMEM;
    sb->cfg = *cfg;
    sb->log = cfg->log;
    sb->landlock_abi = -1;
    *out = sb;
    return 0;
}

void vub_sandbox_free(vub_sandbox *sb)
{
    if (!sb)
        return;
    for (size_t i = 0; i < sb->npaths; i++) {
        cvmm_close(&sb->paths[i].fd);
        free(sb->paths[i].path);
    }
    free(sb->paths);
    free(sb->fds);
    free(sb->calls);
    free(sb->conds);
    free(sb);
}

int vub_sandbox_keep_fd(vub_sandbox *sb, int fd)
{
    if (!sb || fd < 0 || fcntl(fd, F_GETFD) < 0) {
        if (sb)
            cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot keep fd %d: not open", fd);
        return -EBADF;
    }
    return add_unique(&sb->fds, &sb->nfds, &sb->capfds, fd);
}

int vub_sandbox_allow_path(vub_sandbox *sb, const char *path, unsigned access)
{
    if (!sb || !path || !*path || !access || (access & ~(VUB_SANDBOX_READ | VUB_SANDBOX_WRITE | VUB_SANDBOX_CREATE)))
        return -EINVAL;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot allow %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && !S_ISDIR(st.st_mode) && (access & VUB_SANDBOX_CREATE)) {
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot allow creating files in %s: not a directory", path);
        rc = -EINVAL;
    }
    char *copy = rc == 0 ? strdup(path) : NULL;
    if (rc == 0 && (!copy || vub__sb_grow((void **)&sb->paths, &sb->cappaths, sb->npaths, sizeof(*sb->paths)) < 0))
        rc = -ENOMEM;
    if (rc < 0) {
        free(copy);
        cvmm_close(&fd);
        return rc;
    }
    sb->paths[sb->npaths++] =
        (struct vub__sb_path){.path = copy, .fd = fd, .dir = S_ISDIR(st.st_mode), .access = access};
    return 0;
}

/* resolve() - the native number of @name, or -EINVAL (logged) when unknown here or never allowed. */
static int resolve(vub_sandbox *sb, const char *name, bool conditional)
{
    static const char *const never[] = {"execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace", "socket"};
    if (!name) {
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: no system call name");
        return -EINVAL;
    }
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(never); i++)
        if (strcmp(name, never[i]) == 0 && !(conditional && strcmp(name, "socket") == 0)) {
            cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: the system call %s is never allowed%s", name,
                      strcmp(name, "socket") == 0 ? " whole (allow a family: vub_sandbox_allow_syscall_arg())" : "");
            return -EINVAL;
        }
    int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0) {
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: unknown system call %s", name);
        return -EINVAL;
    }
    return nr;
}

int vub_sandbox_allow_syscall(vub_sandbox *sb, const char *name)
{
    if (!sb)
        return -EINVAL;
    int nr = resolve(sb, name, false);
    if (nr < 0)
        return nr;
    return add_unique(&sb->calls, &sb->ncalls, &sb->capcalls, nr);
}

int vub_sandbox_allow_syscall_arg(vub_sandbox *sb, const char *name, unsigned arg, uint64_t value)
{
    if (!sb || arg > 5)
        return -EINVAL;
    int nr = resolve(sb, name, true);
    if (nr < 0)
        return nr;
    for (size_t i = 0; i < sb->nconds; i++)
        if (sb->conds[i].nr == nr && sb->conds[i].arg == arg && sb->conds[i].value == value)
            return 0;
    if (vub__sb_grow((void **)&sb->conds, &sb->capconds, sb->nconds, sizeof(*sb->conds)) < 0)
        return -ENOMEM;
    sb->conds[sb->nconds++] = (struct vub__sb_cond){.nr = nr, .arg = arg, .value = value};
    return 0;
}

int vub_sandbox_allow_syscalls(vub_sandbox *sb, const char *const *names)
{
    for (size_t i = 0; names && names[i]; i++) {
        int rc = vub_sandbox_allow_syscall(sb, names[i]);
        if (rc < 0)
            return rc;
    }
    return sb ? 0 : -EINVAL;
}

/* threads() - threads of this process: > 0; 0 when /proc cannot tell. */
static unsigned threads(void)
{
    DIR *d = opendir("/proc/self/task");
    unsigned n = 0;
    if (!d)
        return 0;
    /* Called while the process is meant to have one thread (the lock refuses otherwise). */
    // cppcheck-suppress readdirCalled
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* close_undeclared() - close every fd above 2 but the declared ones and the declared paths' O_PATH fds. */
static int close_undeclared(vub_sandbox *sb)
{
    size_t n = 0;
    int *keep = calloc(sb->nfds + sb->npaths + 1, sizeof(*keep));
    if (!keep)
        return -ENOMEM;
    for (size_t i = 0; i < sb->nfds; i++)
        keep[n++] = sb->fds[i];
    for (size_t i = 0; i < sb->npaths; i++)
        keep[n++] = sb->paths[i].fd;
    qsort(keep, n, sizeof(*keep), cmp_int);
    unsigned lo = 3; /* the lowest fd not known to be kept */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (keep[i] < (int)lo) /* 0-2, or a duplicate */
            continue;
        if ((unsigned)keep[i] > lo && close_range(lo, (unsigned)keep[i] - 1, 0) < 0)
            rc = -errno;
        lo = (unsigned)keep[i] + 1;
    }
    if (rc == 0 && close_range(lo, ~0u, 0) < 0)
        rc = -errno;
    free(keep);
    if (rc < 0)
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot close the undeclared fds: %s", strerror(-rc));
    return rc;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = vub__write_all(fd, text, strlen(text)) < 0 ? -EIO : 0;
    cvmm_close(&fd);
    return rc;
}

/* ids_and_namespaces() - the optional steps of the lock: the uid/gid switch, then new namespaces that map
 * the process's ids to the same ids outside (only its own ids: no privilege needed).  A switched process
 * is not dumpable, which makes its /proc/self/uid_map root's: dumpable again while it writes the maps. */
static int ids_and_namespaces(vub_sandbox *sb)
{
    const vub_sandbox_config *c = &sb->cfg;
    int rc = 0;
    const char *what = "";
    if (c->set_ids && ((getgroups(0, NULL) != 0 && setgroups(0, NULL) < 0) || setresgid(c->gid, c->gid, c->gid) < 0 ||
                       setresuid(c->uid, c->uid, c->uid) < 0))
        rc = -errno, what = "switch to the configured uid and gid";
    if (rc == 0 && c->namespaces) {
        unsigned uid = (unsigned)geteuid(), gid = (unsigned)getegid();
        int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
        char map[64];
        what = "enter new user, mount and network namespaces";
        rc = prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) < 0 ? -errno
                                                                                                               : 0;
        if (rc == 0) { /* the same ids inside, so files keep their owners */
            snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
            rc = write_file("/proc/self/uid_map", map);
        }
        if (rc == 0)
            rc = write_file("/proc/self/setgroups", "deny\n");
        if (rc == 0) {
            snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
            rc = write_file("/proc/self/gid_map", map);
        }
        if (dumpable >= 0)
            (void)prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
    }
    if (rc < 0)
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot %s (uid %u gid %u): %s", what, (unsigned)c->uid,
                  (unsigned)c->gid, strerror(-rc));
    return rc;
}

int vub_sandbox_lock_fs(vub_sandbox *sb)
{
    if (!sb)
        return -EINVAL;
    unsigned n = threads();
    if (sb->fs_locked || n > 1) {
        if (n > 1)
            cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: the filesystem lock needs one thread, this process has %u", n);
        return -EBUSY;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        int e = errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: PR_SET_NO_NEW_PRIVS failed: %s", strerror(e));
        return -e;
    }
    sb->fs_locked = true;
    int rc = close_undeclared(sb);
    if (rc == 0)
        rc = ids_and_namespaces(sb);
    if (rc == 0)
        rc = vub__sb_landlock(sb);
    for (size_t i = 0; i < sb->npaths; i++)
        cvmm_close(&sb->paths[i].fd);
    return rc;
}

int vub_sandbox_lock_syscalls(vub_sandbox *sb)
{
    if (!sb)
        return -EINVAL;
    if (sb->calls_locked)
        return -EBUSY;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        int e = errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: PR_SET_NO_NEW_PRIVS failed: %s", strerror(e));
        return -e;
    }
    int rc = vub__sb_seccomp(sb);
    if (rc == 0)
        sb->calls_locked = true;
    return rc;
}
