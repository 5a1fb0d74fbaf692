/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Every fd a front-end sends is untrusted: before a handler sees it, it is checked for the kind its message
 * needs, and fds we will read or write are made non-blocking.  One table (fd_kind_of()) says which kind
 * each message's fds must be; vhost-user-proto's validator has checked their number already.
 *
 * Why the kind matters: an O_PATH descriptor armed as a libev watcher makes epoll_ctl() fail and libev
 * abort the process; a pipe or a regular file as a call fd can block a worker; a socket as guest memory
 * fails later and less clearly.  Why non-blocking: an eventfd whose counter the front-end set to 2^64 - 2
 * blocks a writer, an empty one a reader (the same eventfd sent for two rings), and a socket with a large
 * SO_RCVLOWAT a reader that poll() said could go on.
 *
 * O_NONBLOCK is a flag of the open file description, which the front-end shares: its own copy of the fd
 * turns non-blocking too.  That is what every front-end we know uses anyway: QEMU (event_notifier_init()),
 * DPDK's vhost and virtio-user, rust-vmm and cloud-hypervisor create their eventfds with EFD_NONBLOCK, and
 * QEMU closes its end of the device state pipe once it has sent it.  There is no per-call alternative that
 * covers every case: preadv2(RWF_NOWAIT) works for eventfd reads, but not for eventfd writes, nor for pipes
 * on every kernel, and poll() followed by read() races with any other reader of the same eventfd. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvmm/vhu/backend.h"
#include "fdcheck.h"
#include "internal.h"

static const char *const kind_name[] = {
    [VUB__FD_ANY] = "a usable fd",
    [VUB__FD_EVENTFD_RD] = "a readable eventfd",
    [VUB__FD_EVENTFD_WR] = "a writable eventfd",
    [VUB__FD_MEMORY] = "a regular or memfd file open read-write",
    [VUB__FD_STREAM_RD] = "a readable pipe or socket",
    [VUB__FD_STREAM_WR] = "a writable pipe or socket",
    [VUB__FD_CHANNEL] = "a connected UNIX stream socket",
    [VUB__FD_MAPPABLE] = "a regular file or character device open read-write",
};

/* What @fd is, for the log line and the eventfd test: the target of /proc/self/fd/N, or "" when /proc
 * cannot tell (not mounted in a sandbox). */
static void fd_target(int fd, char *buf, size_t cap)
{
    char path[40];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
}

static bool is_eventfd(const struct stat *st, const char *target)
{
    if (*target) /* eventfds are anonymous inodes: "anon_inode:[eventfd]" */
        return strcmp(target, "anon_inode:[eventfd]") == 0;
    /* No /proc: every anonymous inode has no file type bits.  A timerfd or an epoll fd would pass; it is
     * non-blocking and fails its first read or write, which the worker handles (it polls the ring). */
    return (st->st_mode & S_IFMT) == 0;
}

static bool is_unix_stream(int fd)
{
    int dom = 0, type = 0, acc = 0;
    socklen_t l1 = sizeof(dom), l2 = sizeof(type), l3 = sizeof(acc);
    return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l1) == 0 && dom == AF_UNIX &&
           getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) == 0 && type == SOCK_STREAM &&
           getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l3) == 0 && !acc;
}

static const char *type_name(const struct stat *st, const char *target)
{
    return S_ISDIR(st->st_mode)                           ? "a directory"
           : S_ISREG(st->st_mode)                         ? "a regular file"
           : S_ISFIFO(st->st_mode)                        ? "a pipe"
           : S_ISSOCK(st->st_mode)                        ? "a socket"
           : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device"
           : *target                                      ? target
                                                          : "an anonymous file";
}

/* Why @fd (flags @fl, stat @st) is not of @kind, or NULL if it is. */
static const char *kind_mismatch(int fd, int fl, const struct stat *st, const char *target, enum vub__fd_kind kind)
{
    bool type_ok = true, rd = false, wr = false;
    switch (kind) {
    case VUB__FD_ANY: break;
    case VUB__FD_EVENTFD_RD: type_ok = is_eventfd(st, target), rd = true; break;
    case VUB__FD_EVENTFD_WR: type_ok = is_eventfd(st, target), wr = true; break;
    case VUB__FD_MEMORY: type_ok = S_ISREG(st->st_mode), rd = wr = true; break; /* mapped shared, read-write */
    case VUB__FD_STREAM_RD: type_ok = S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode), rd = true; break;
    case VUB__FD_STREAM_WR: type_ok = S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode), wr = true; break;
    case VUB__FD_CHANNEL: type_ok = S_ISSOCK(st->st_mode) && is_unix_stream(fd); break;
    case VUB__FD_MAPPABLE: type_ok = S_ISREG(st->st_mode) || S_ISCHR(st->st_mode), rd = wr = true; break;
    }
    if (!type_ok)
        return type_name(st, target);
    int acc = fl & O_ACCMODE;
    if ((rd && acc != O_RDONLY && acc != O_RDWR) || (wr && acc != O_WRONLY && acc != O_RDWR))
        return rd && wr ? "not open read-write" : rd ? "not open for reading" : "not open for writing";
    return NULL;
}

static bool wants_nonblock(enum vub__fd_kind kind)
{
    return kind == VUB__FD_EVENTFD_RD || kind == VUB__FD_EVENTFD_WR || kind == VUB__FD_STREAM_RD ||
           kind == VUB__FD_STREAM_WR;
}

int vub__fd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return -errno;
    return 0;
}

int vub__fd_check(const vub_daemon *d, int fd, enum vub__fd_kind kind, const char *what)
{
    struct stat st;
    char target[64] = "";
    int fl = fcntl(fd, F_GETFL);
    const char *why = NULL;
    if (fl < 0 || fstat(fd, &st) < 0) {
        why = "not an open fd";
    } else if (fl & O_PATH) { /* fstat works on it, nothing else does (poll: POLLNVAL, epoll_ctl: EBADF) */
        why = "an O_PATH descriptor";
    } else {
        fd_target(fd, target, sizeof(target));
        why = kind_mismatch(fd, fl, &st, target, kind);
    }
    if (why) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: %s: fd is %s, expected %s", d->name, what, why, kind_name[kind]);
        return -EBADF;
    }
    if (wants_nonblock(kind)) {
        int rc = vub__fd_nonblock(fd);
        if (rc < 0) {
            cvmm_logf(d->log, CVMM_LOG_WARN, "%s: %s: cannot make the fd non-blocking: %s", d->name, what,
                      strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* The kind every fd of front-end request @m must be. */
static enum vub__fd_kind fd_kind_of(const vhu_msg *m)
{
    switch (m->hdr.request) {
    case VHU_REQ_SET_MEM_TABLE:
    case VHU_REQ_ADD_MEM_REG:
    case VHU_REQ_SET_LOG_BASE:
    case VHU_REQ_SET_INFLIGHT_FD: return VUB__FD_MEMORY;
    case VHU_REQ_SET_VRING_KICK: return VUB__FD_EVENTFD_RD;
    case VHU_REQ_SET_VRING_CALL:
    case VHU_REQ_SET_VRING_ERR:
    case VHU_REQ_SET_LOG_FD: return VUB__FD_EVENTFD_WR; /* signalled when the log changed (mem.c) */
    case VHU_REQ_SET_BACKEND_REQ_FD: return VUB__FD_CHANNEL;
    case VHU_REQ_SET_DEVICE_STATE_FD:
        return m->payload.transfer_state.direction == VHU_TRANSFER_STATE_DIRECTION_SAVE ? VUB__FD_STREAM_WR
                                                                                        : VUB__FD_STREAM_RD;
    default: return VUB__FD_ANY; /* REM_MEM_REG's optional fd and refused requests: closed unused */
    }
}

bool vub__msg_fds_ok(vub_daemon *d, const vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    enum vub__fd_kind kind = fd_kind_of(m);
    int rc = 0;
    for (uint32_t i = 0; i < m->nfds && rc == 0; i++)
        if (m->fds[i] >= 0)
            rc = vub__fd_check(d, m->fds[i], kind, vhu_req_name(m->hdr.request));
    if (rc == 0)
        return true;
    /* Answer in the form the request owes.  Of the requests with fds, SET_LOG_BASE (LOG_SHMFD) and
     * SET_DEVICE_STATE_FD reply with a u64 status; SET_MEM_TABLE/ADD_MEM_REG would owe a table while postcopy
     * listens (PAGEFAULT is never offered): no error form, close. */
    if (vhu_req_owed(m, vhu_backend_ctx(c->conn)) == VHU_OWED_REPLY) {
        if (m->hdr.request == VHU_REQ_SET_DEVICE_STATE_FD)
            (void)vub__reply_u64(d, m, VHU_DEVICE_STATE_NOFD_MASK | 1u);
        else if (m->hdr.request == VHU_REQ_SET_LOG_BASE)
            (void)vub__reply_u64(d, m, 1);
        else
            c->conn_dead = true;
    } else if (vhu_backend_ack(c->conn, m, rc) < 0) {
        c->conn_dead = true;
    }
    return false;
}
