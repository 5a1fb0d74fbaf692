/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* sandbox_landlock.c - the filesystem part of the sandbox (cvmm/vub/sandbox.h): a Landlock ruleset that
 * handles every access right the kernel's ABI knows (up to 7, what this file knows) and allows the
 * declared paths only.
 *
 * The constants and structures are this file's own (the kernel's UAPI, Documentation/userspace-api/
 * landlock.rst), so an older linux/landlock.h does not limit what a newer kernel enforces:
 *   ABI 1  filesystem rights bits 0-12        ABI 4  TCP bind/connect (handled_access_net)
 *   ABI 2  REFER (bit 13)                     ABI 5  IOCTL_DEV (bit 15)
 *   ABI 3  TRUNCATE (bit 14)                  ABI 6  scoped: abstract UNIX sockets, signals
 *   ABI 7  audit logging flags (no new right)
 * Landlock binds the calling thread and the threads it starts later: vub_sandbox_lock_fs() runs it while
 * the program has one thread, before the daemon starts its workers. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "sandbox_internal.h"

#ifndef SYS_landlock_create_ruleset /* the same numbers on every architecture */
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

enum {
    LL_CREATE_RULESET_VERSION = 1,
    LL_RULE_PATH_BENEATH = 1,
    LL_ABI_KNOWN = 7,
};

#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)
#define LL_FS_TRUNCATE (1ull << 14)
#define LL_FS_IOCTL_DEV (1ull << 15)
#define LL_NET_BIND_TCP (1ull << 0)
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)
/* Rights that make sense on a file (the kernel refuses the others in a rule for a file). */
#define LL_FS_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

struct ll_ruleset_attr {
    uint64_t handled_access_fs; /* ABI 1 */
    // cppcheck-suppress unusedStructMember ; read by the kernel (landlock_create_ruleset's size says how much)
    uint64_t handled_access_net; /* ABI 4 */
    // cppcheck-suppress unusedStructMember ; likewise
    uint64_t scoped; /* ABI 6 */
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int vub__sb_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi > 0 ? (int)abi : 0;
}

static uint64_t handled_fs(int abi)
{
    uint64_t fs = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0-12 */
    if (abi >= 2)
        fs |= LL_FS_REFER;
    if (abi >= 3)
        fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        fs |= LL_FS_IOCTL_DEV;
    return fs;
}

/* rights() - the Landlock rights of a declared path. */
static uint64_t rights(const struct vub__sb_path *p, uint64_t handled)
{
    uint64_t r = 0;
    if (p->access & VUB_SANDBOX_READ)
        r |= LL_FS_READ_FILE | LL_FS_READ_DIR;
    if (p->access & VUB_SANDBOX_WRITE)
        r |= LL_FS_WRITE_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
    if (p->access & VUB_SANDBOX_CREATE)
        r |= LL_FS_MAKE_REG | LL_FS_MAKE_DIR | LL_FS_MAKE_SOCK | LL_FS_REMOVE_FILE | LL_FS_REMOVE_DIR;
    if (!p->dir)
        r &= LL_FS_FILE_RIGHTS;
    return r & handled;
}

static int add_rule(vub_sandbox *sb, int ruleset, int fd, uint64_t access, const char *what)
{
    struct ll_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    if (access == 0)
        return 0;
    if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0) {
        int e = errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: landlock rule for %s refused: %s", what, strerror(e));
        return -e;
    }
    return 0;
}

/* add_path_rule() - a rule for @path, which the build (not the device) needs: the sanitizer runtime's view of
 * /, the coverage build's tree.  Return: 0; -errno (logged). */
static int add_path_rule(vub_sandbox *sb, int ruleset, const char *path, uint64_t access, const char *what)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot open %s for the %s rule: %s", path, what, strerror(e));
        return -e;
    }
    int rc = add_rule(sb, ruleset, fd, access, path);
    cvmm_close(&fd);
    return rc;
}

int vub__sb_landlock(vub_sandbox *sb)
{
    int abi = vub__sb_landlock_abi();
    sb->landlock_abi = abi;
    if (abi == 0) {
        int e = errno;
        cvmm_logf(sb->log, CVMM_LOG_WARN,
                  "sandbox: Landlock is not available (%s): the filesystem is not restricted (no new privileges, "
                  "the fd list and the system call filter still apply)",
                  e == EOPNOTSUPP ? "disabled at boot" : strerror(e));
        return 0;
    }
    if (abi > LL_ABI_KNOWN) {
        cvmm_logf(sb->log, CVMM_LOG_INFO, "sandbox: Landlock ABI %d, using what ABI %d knows", abi, LL_ABI_KNOWN);
        abi = LL_ABI_KNOWN;
    } else if (abi < 6) {
        cvmm_logf(sb->log, CVMM_LOG_WARN, "sandbox: Landlock ABI %d only: %s%s%s not restricted", abi,
                  abi < 3 ? "truncate, " : "", abi < 4 ? "TCP, " : "", abi < 5 ? "device ioctls, signals" : "signals");
    }
    struct ll_ruleset_attr attr = {
        .handled_access_fs = handled_fs(abi),
        .handled_access_net = abi >= 4 ? LL_NET_BIND_TCP | LL_NET_CONNECT_TCP : 0,
        .scoped = abi >= 6 ? LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL : 0,
    };
    size_t size = abi >= 6 ? sizeof(attr) : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) {
        int e = errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: cannot create the Landlock ruleset: %s", strerror(e));
        return -e;
    }
    int rc = 0;
    for (size_t i = 0; i < sb->npaths && rc == 0; i++)
        rc = add_rule(sb, ruleset, sb->paths[i].fd, rights(&sb->paths[i], attr.handled_access_fs), sb->paths[i].path);
    if (rc == 0 && vub__sandbox_sanitizer_name()[0]) /* the runtime reads /proc/self/maps, binaries, libraries */
        rc = add_path_rule(sb, ruleset, "/", LL_FS_READ_FILE | LL_FS_READ_DIR, "sanitizer");
    if (rc == 0 && vub__sandbox_gcov_dir()[0]) /* coverage builds: gcov merges into and makes the .gcda files */
        rc = add_path_rule(
            sb, ruleset, vub__sandbox_gcov_dir(),
            (LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_WRITE_FILE | LL_FS_TRUNCATE | LL_FS_MAKE_REG | LL_FS_MAKE_DIR) &
                attr.handled_access_fs,
            "coverage");
    if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
        rc = -errno;
        cvmm_logf(sb->log, CVMM_LOG_ERROR, "sandbox: landlock_restrict_self failed: %s", strerror(-rc));
    }
    cvmm_close(&ruleset);
    return rc;
}
