/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* A raw front-end for the vhost-user-backend suites that must send what our vhu_frontend never would
 * (bad headers, half messages, unasked NEED_REPLY) and see every byte the daemon sends.  Include after
 * vub_test.h (it uses vt.path and Criterion's asserts). */
#ifndef VUB_RAW_PEER_H
#define VUB_RAW_PEER_H

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

static int raw_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, vt.path);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* One sendmsg of @len bytes of @buf with @nfds (<= 16) fds attached to the first byte, MSG_NOSIGNAL | @flags.
 * Return: what sendmsg() returned. */
static ssize_t raw_sendmsg(int fd, const void *buf, size_t len, const int *fds, unsigned nfds, int flags)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    char cbuf[CMSG_SPACE(sizeof(int) * 16)];
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    cr_assert(nfds <= 16);
    if (nfds) {
        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
}

/* Send @len bytes of @buf in one sendmsg, with @nfds fds attached to the first byte. */
static void raw_send_bytes(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    cr_assert_eq(raw_sendmsg(fd, buf, len, fds, nfds, 0), (ssize_t)len);
}

static void raw_send(int fd, uint32_t req, uint32_t flags, uint32_t size, const void *p, size_t plen, const int *fds,
                     unsigned nfds)
{
    char buf[12 + 8192];
    vhu_hdr h = {.request = req, .flags = VHU_VERSION | flags, .size = size};
    memcpy(buf, &h, 12);
    if (plen)
        memcpy(buf + 12, p, plen);
    raw_send_bytes(fd, buf, 12 + plen, fds, nfds);
}

/* Receive one reply: returns its payload size, or -1 on EOF/timeout. */
static int raw_recv(int fd, vhu_hdr *h, void *p, size_t cap)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, VT_WAIT_MS) != 1)
        return -1;
    if (recv(fd, h, 12, MSG_WAITALL) != 12)
        return -1;
    if (h->size > cap || (h->size && recv(fd, p, h->size, MSG_WAITALL) != (ssize_t)h->size))
        return -1;
    return (int)h->size;
}

/* The daemon closed @fd without sending a byte more (waits up to VT_WAIT_MS). */
static bool raw_closed(int fd)
{
    char c;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    return poll(&pf, 1, VT_WAIT_MS) == 1 && recv(fd, &c, 1, 0) == 0;
}

#endif
