/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* conn.c - vhost-user framing over a UNIX stream socket (cvmm/vhu/conn.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "cvmm/fd.h"
#include "cvmm/log.h"
#include "internal.h"
#include "cvmm/vhu/conn.h"

struct vhu_conn {
    int fd;
    int timeout_ms;
    int broken; /* accessed with __atomic: the send and receive sides may run on two threads */
    const struct cvmm_log *log;
    char name[32];
    /* Receive side: the frame being assembled.  rx.fds[] are owned. */
    uint32_t rx_have; /* header + payload bytes received so far */
    bool rx_fds_lost; /* MSG_CTRUNC or too many fds: report -EBADF once the frame is complete */
    vhu_msg rx;
};

void vhu__name_copy(char *dst, size_t cap, const char *name, const char *dflt)
{
    snprintf(dst, cap, "%s", name ? name : dflt);
}

int vhu__timeout(int timeout_ms) { return timeout_ms == 0 ? 5000 : timeout_ms; }

int64_t vhu__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vhu__poll(int fd, short events, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : vhu__now_ms() + timeout_ms;
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - vhu__now_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, wait);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static void rx_reset(vhu_conn *c)
{
    c->rx_have = 0;
    c->rx_fds_lost = false;
    c->rx.nfds = 0;
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        c->rx.fds[i] = -1;
}

static int set_broken(vhu_conn *c, int err, const char *why)
{
    if (!__atomic_exchange_n(&c->broken, 1, __ATOMIC_RELAXED))
        cvmm_logf(c->log, CVMM_LOG_WARN, "%s: connection broken: %s (%s)", c->name, why, strerror(-err));
    return err;
}

int vhu__conn_break(vhu_conn *c, int err, const char *why) { return set_broken(c, err, why); }

int vhu_conn_new(const vhu_conn_config *cfg, int owned_fd, vhu_conn **out)
{
    if (owned_fd < 0 || !out) {
        cvmm_close(&owned_fd);
        return -EINVAL;
    }
    vhu_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        cvmm_close(&owned_fd);
        return -ENOMEM;
    }
    c->fd = owned_fd;
    c->timeout_ms = cfg ? cfg->timeout_ms : 0;
    c->log = cfg ? cfg->log : NULL;
    vhu__name_copy(c->name, sizeof(c->name), cfg ? cfg->name : NULL, "vhu");
    rx_reset(c);
    *out = c;
    return 0;
}

void vhu_conn_free(vhu_conn *c)
{
    if (!c)
        return;
    vhu_msg_close_fds(&c->rx);
    cvmm_close(&c->fd);
    free(c);
}

int vhu_conn_fd(const vhu_conn *c) { return c->fd; }

bool vhu_conn_broken(const vhu_conn *c) { return __atomic_load_n(&c->broken, __ATOMIC_RELAXED) != 0; }

/* Wait until @c's socket is ready for @events (POLLOUT: takes bytes again; POLLIN: has bytes) or @deadline
 * (vhu__now_ms() time, -1 = none) passes.  Return: 0 ready (or hung up: the next call reports it);
 * -ETIMEDOUT; -errno of poll(). */
static int wait_ready(vhu_conn *c, short events, int64_t deadline)
{
    int left = -1;
    if (deadline >= 0) {
        int64_t l = deadline - vhu__now_ms();
        if (l <= 0)
            return -ETIMEDOUT;
        left = (int)l;
    }
    return vhu__poll(c->fd, events, left);
}

int vhu_conn_send(vhu_conn *c, const vhu_msg *m)
{
    if (vhu_conn_broken(c))
        return -EIO;
    if (m->hdr.size > VHU_PAYLOAD_MAX || m->nfds > VHU_MAX_FDS) {
        cvmm_logf(c->log, CVMM_LOG_WARN, "%s: refusing to send id %u: size %u, %u fds", c->name, m->hdr.request,
                  m->hdr.size, m->nfds);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < m->nfds; i++) {
        if (m->fds[i] < 0) {
            cvmm_logf(c->log, CVMM_LOG_WARN, "%s: refusing to send id %u: fds[%u] is %d", c->name, m->hdr.request, i,
                      m->fds[i]);
            return -EBADF;
        }
    }
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
    } ctl;
    struct iovec iov[2] = {{(void *)&m->hdr, VHU_HDR_SIZE}, {(void *)m->payload.raw, m->hdr.size}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = m->hdr.size ? 2 : 1};
    if (m->nfds) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
        memcpy(CMSG_DATA(cm), m->fds, sizeof(int) * m->nfds);
    }
    /* Never block inside sendmsg(): MSG_DONTWAIT on every call (the socket may be blocking, and it may be
     * shared with a peer that flips O_NONBLOCK), and wait for room with poll() against one deadline for the
     * whole frame.  A peer that takes nothing, or part of the frame, for timeout_ms is treated as gone. */
    int t = vhu__timeout(c->timeout_ms);
    int64_t deadline = t < 0 ? -1 : vhu__now_ms() + t;
    size_t total = VHU_HDR_SIZE + m->hdr.size, sent = 0;
    for (;;) {
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            int err = -errno;
            if (err == -EINTR)
                continue;
            if (err == -EAGAIN || err == -EWOULDBLOCK) {
                int rc = wait_ready(c, POLLOUT, deadline);
                if (rc < 0) {
                    char why[96];
                    snprintf(why, sizeof(why), "%s id %u: the peer took %zu of %zu bytes in %d ms",
                             sent ? "partial write of" : "the peer does not read,", m->hdr.request, sent, total, t);
                    return set_broken(c, rc, why);
                }
                continue;
            }
            if (sent == 0 && err == -EBADF) { /* a closed fd in fds[]: nothing left, the stream is intact */
                cvmm_logf(c->log, CVMM_LOG_WARN, "%s: id %u: an fd to send is not open", c->name, m->hdr.request);
                return -EBADF;
            }
            return set_broken(c, err, "sendmsg failed");
        }
        sent += (size_t)n;
        if (sent >= total)
            return 0;
        /* Partial write: the fds went with the first byte; advance the iovecs and go on without them. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        size_t adv = (size_t)n;
        while (adv && mh.msg_iovlen) {
            if (adv >= mh.msg_iov[0].iov_len) {
                adv -= mh.msg_iov[0].iov_len;
                mh.msg_iov++;
                mh.msg_iovlen--;
            } else {
                mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + adv;
                mh.msg_iov[0].iov_len -= adv;
                adv = 0;
            }
        }
    }
}

/* Take the fds of one recvmsg into c->rx; anything that does not fit is closed and remembered. */
static void rx_take_fds(vhu_conn *c, struct msghdr *mh)
{
    if (mh->msg_flags & MSG_CTRUNC)
        c->rx_fds_lost = true;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            c->rx_fds_lost = true; /* unexpected control data: the message is not what it claims */
            continue;
        }
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(cm);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (c->rx.nfds < VHU_MAX_FDS) {
                c->rx.fds[c->rx.nfds++] = fd;
            } else {
                c->rx_fds_lost = true;
                cvmm_close(&fd);
            }
        }
    }
}

/* @dontwait: MSG_DONTWAIT, so that vhu_conn_recv_wait() never blocks inside recvmsg() on a blocking socket
 * (its timeout would not fire); vhu_conn_recv() keeps the socket's own mode. */
static int recv_impl(vhu_conn *c, vhu_msg *m, bool dontwait)
{
    if (vhu_conn_broken(c))
        return -EIO;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
    } ctl;
    for (;;) {
        uint32_t want;
        char *dst;
        if (c->rx_have < VHU_HDR_SIZE) {
            want = VHU_HDR_SIZE - c->rx_have;
            dst = (char *)&c->rx.hdr + c->rx_have;
        } else {
            want = VHU_HDR_SIZE + c->rx.hdr.size - c->rx_have;
            dst = (char *)c->rx.payload.raw + (c->rx_have - VHU_HDR_SIZE);
        }
        if (c->rx_have >= VHU_HDR_SIZE && want == 0)
            break; /* complete */
        struct iovec iov = {dst, want};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
        ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | (dontwait ? MSG_DONTWAIT : 0));
        if (n < 0) {
            int err = -errno;
            if (err == -EINTR)
                continue;
            if (err == -EAGAIN || err == -EWOULDBLOCK)
                return -EAGAIN;
            vhu_msg_close_fds(&c->rx);
            return set_broken(c, err, "recvmsg failed");
        }
        rx_take_fds(c, &mh);
        if (n == 0) {
            if (c->rx_have == 0 && c->rx.nfds == 0) {
                cvmm_logf(c->log, CVMM_LOG_DEBUG, "%s: peer closed the connection", c->name);
                __atomic_store_n(&c->broken, 1, __ATOMIC_RELAXED);
                return -ECONNRESET;
            }
            vhu_msg_close_fds(&c->rx);
            set_broken(c, -EIO, "peer closed inside a message");
            return -EIO;
        }
        bool had_hdr = c->rx_have >= VHU_HDR_SIZE;
        c->rx_have += (uint32_t)n;
        if (!had_hdr && c->rx_have == VHU_HDR_SIZE) {
            int rc = vhu_hdr_check(&c->rx.hdr);
            if (rc < 0) {
                cvmm_logf(c->log, CVMM_LOG_WARN, "%s: bad header: id %u flags 0x%x size %u", c->name, c->rx.hdr.request,
                          c->rx.hdr.flags, c->rx.hdr.size);
                vhu_msg_close_fds(&c->rx);
                return set_broken(c, rc, "cannot resynchronise after a bad header");
            }
        }
    }
    /* Complete: hand the frame over. */
    m->hdr = c->rx.hdr;
    memcpy(m->payload.raw, c->rx.payload.raw, c->rx.hdr.size);
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        m->fds[i] = c->rx.fds[i];
    m->nfds = c->rx.nfds;
    bool lost = c->rx_fds_lost;
    rx_reset(c);
    if (lost) {
        cvmm_logf(c->log, CVMM_LOG_WARN, "%s: id %u: file descriptors truncated or unexpected control data", c->name,
                  m->hdr.request);
        vhu_msg_close_fds(m);
        return -EBADF;
    }
    return 0;
}

/* No stale message: whatever @m held before (the previous message, say) must not be taken for the one that
 * failed to arrive.  The header reads as request 0 (VHU_REQ_NONE), size 0, no flags; no fds. */
static void msg_clear(vhu_msg *m)
{
    memset(&m->hdr, 0, sizeof(m->hdr));
    memset(m->payload.raw, 0, sizeof(m->payload.raw));
    m->nfds = 0;
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        m->fds[i] = -1;
}

static int recv_msg(vhu_conn *c, vhu_msg *m, bool dontwait)
{
    int rc = recv_impl(c, m, dontwait);
    if (rc < 0 && rc != -EBADF && rc != -EAGAIN)
        msg_clear(m);
    return rc;
}

int vhu_conn_recv(vhu_conn *c, vhu_msg *m) { return recv_msg(c, m, false); }

int vhu_conn_recv_wait(vhu_conn *c, vhu_msg *m, int timeout_ms)
{
    int t = timeout_ms == 0 ? vhu__timeout(c->timeout_ms) : timeout_ms;
    int64_t deadline = t < 0 ? -1 : vhu__now_ms() + t;
    for (;;) {
        int rc = recv_msg(c, m, true);
        if (rc != -EAGAIN)
            return rc;
        rc = wait_ready(c, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}
