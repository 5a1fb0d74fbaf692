/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/conn.c - framing: fds with SCM_RIGHTS, a message fed byte by byte to a non-blocking
 * receiver, fds on a later byte, a peer closing in the middle of a message or between messages, bad headers,
 * truncated fds (MSG_CTRUNC), EAGAIN on a full socket, EPIPE, timeouts; no fd ever leaks. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "helpers.h"

static int fds_at_start;
static int sv[2] = {-1, -1};
static vhu_conn *rx;
static struct cap_log cap = {.lock = PTHREAD_MUTEX_INITIALIZER};
static const struct cvmm_log logger = CAP_LOG_INIT(&cap);

static void setup(void)
{
    fds_at_start = cvmm_test_count_fds();
    cr_assert_eq(sockpair(sv, true), 0);
    vhu_conn_config cfg = {.log = &logger, .name = "rx", .timeout_ms = 100};
    cr_assert_eq(vhu_conn_new(&cfg, sv[1], &rx), 0);
    sv[1] = -1;
}
static void teardown(void)
{
    vhu_conn_free(rx);
    if (sv[0] >= 0)
        close(sv[0]);
    cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "fd leaked");
}

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 120);

/* Raw sendmsg of @len bytes with @nfds fds. */
static ssize_t raw_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(int) * 16)];
    } ctl;
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

static void mem_table_msg(vhu_msg *m, int *fds)
{
    vhu_mem_region r[2] = {{0, 0x10000, 0x1000000, 0}, {0x100000, 0x10000, 0x2000000, 0}};
    cr_assert_eq(vhu_msg_build_mem_table(m, 0, r, fds, 2), 0);
}

Test(conn, message_fed_byte_by_byte_completes_once)
{
    int fds[2] = {make_memfd(4096, 0x11), make_memfd(4096, 0x22)};
    vhu_msg m, got;
    mem_table_msg(&m, fds);
    uint8_t buf[512];
    int len = vhu_msg_encode(&m, buf, sizeof(buf));
    cr_assert_eq(len, 12 + 8 + 64);
    for (int i = 0; i < len; i++) {
        /* the fds ride on the first byte, as the spec requires of the sender */
        cr_assert_eq(raw_send(sv[0], buf + i, 1, fds, i == 0 ? 2 : 0), 1);
        int rc = vhu_conn_recv(rx, &got);
        if (i < len - 1)
            cr_assert_eq(rc, -EAGAIN, "byte %d: %d", i, rc);
        else
            cr_assert_eq(rc, 0);
    }
    cr_assert_eq(vhu_conn_recv(rx, &got), -EAGAIN, "nothing more");
    close(fds[0]);
    close(fds[1]);
    /* (the second recv did not touch got: it still holds the message) */
    cr_assert_eq(got.hdr.request, VHU_REQ_SET_MEM_TABLE);
    cr_assert_eq(got.nfds, 2);
    cr_assert_eq(memcmp(got.payload.raw, m.payload.raw, m.hdr.size), 0);
    cr_assert_eq(first_byte(got.fds[0], 0, 4096), 0x11);
    cr_assert_eq(first_byte(got.fds[1], 0, 4096), 0x22);
    vhu_msg_close_fds(&got);
}

Test(conn, fds_sent_with_a_later_byte_are_kept)
{
    int fd = make_memfd(4096, 0x33);
    vhu_msg m, got;
    vhu_msg_build_u64(&m, VHU_REQ_SET_VRING_KICK, 0, 0);
    uint8_t buf[32];
    int len = vhu_msg_encode(&m, buf, sizeof(buf));
    cr_assert_eq(raw_send(sv[0], buf, 12, NULL, 0), 12);
    cr_assert_eq(vhu_conn_recv(rx, &got), -EAGAIN);
    cr_assert_eq(raw_send(sv[0], buf + 12, (size_t)len - 12, &fd, 1), len - 12);
    cr_assert_eq(vhu_conn_recv(rx, &got), 0);
    cr_assert_eq(got.nfds, 1);
    cr_assert_eq(first_byte(got.fds[0], 0, 4096), 0x33);
    vhu_msg_close_fds(&got);
    close(fd);
}

Test(conn, two_messages_in_one_read_stay_apart)
{
    int fd = make_memfd(4096, 0x44);
    vhu_msg a, b, got;
    vhu_msg_build_u64(&a, VHU_REQ_SET_FEATURES, 0, 7);
    vhu_msg_build_u64(&b, VHU_REQ_SET_VRING_CALL, 0, 1);
    vhu_msg_add_fd(&b, fd);
    vhu_conn *tx;
    cr_assert_eq(vhu_conn_new(NULL, dup(sv[0]), &tx), 0);
    cr_assert_eq(vhu_conn_send(tx, &a), 0);
    cr_assert_eq(vhu_conn_send(tx, &b), 0);
    cr_assert_eq(vhu_conn_recv(rx, &got), 0);
    cr_assert_eq(got.hdr.request, VHU_REQ_SET_FEATURES);
    cr_assert_eq(got.payload.u64, 7);
    cr_assert_eq(got.nfds, 0, "the next message's fd did not arrive early");
    cr_assert_eq(vhu_conn_recv(rx, &got), 0);
    cr_assert_eq(got.hdr.request, VHU_REQ_SET_VRING_CALL);
    cr_assert_eq(got.nfds, 1);
    vhu_msg_close_fds(&got);
    vhu_conn_free(tx);
    close(fd);
}

Test(conn, peer_closing_between_messages_is_econnreset)
{
    close(sv[0]);
    sv[0] = -1;
    vhu_msg got;
    cr_assert_eq(vhu_conn_recv(rx, &got), -ECONNRESET);
    cr_assert(vhu_conn_broken(rx));
    cr_assert_eq(vhu_conn_recv(rx, &got), -EIO);
}

Test(conn, peer_closing_inside_the_header_is_eio_and_closes_its_fds)
{
    int before = cvmm_test_count_fds();
    int fd = make_memfd(4096, 1);
    uint8_t buf[5] = {5, 0, 0, 0, 1};
    cr_assert_eq(raw_send(sv[0], buf, sizeof(buf), &fd, 1), 5);
    close(fd);
    vhu_msg got;
    cr_assert_eq(vhu_conn_recv(rx, &got), -EAGAIN);
    close(sv[0]);
    sv[0] = -1;
    cr_assert_eq(vhu_conn_recv(rx, &got), -EIO);
    cr_assert(vhu_conn_broken(rx));
    cr_assert(strstr(cap.last, "inside a message"));
    cr_assert_eq(cvmm_test_count_fds(), before - 1, "the received fd was closed (and sv[0])");
    cr_assert_eq(vhu_conn_recv(rx, &got), -EIO);
}

Test(conn, peer_closing_inside_the_payload_is_eio)
{
    int fds[2] = {make_memfd(4096, 1), make_memfd(4096, 2)};
    vhu_msg m;
    mem_table_msg(&m, fds);
    uint8_t buf[512];
    int len = vhu_msg_encode(&m, buf, sizeof(buf));
    cr_assert_eq(raw_send(sv[0], buf, (size_t)len - 10, fds, 2), len - 10);
    close(fds[0]);
    close(fds[1]);
    close(sv[0]);
    sv[0] = -1;
    vhu_msg got;
    cr_assert_eq(vhu_conn_recv(rx, &got), -EIO);
    cr_assert_eq(vhu_conn_send(rx, &m), -EIO, "broken both ways");
}

Test(conn, bad_header_breaks_the_connection_and_closes_fds)
{
    int fd = make_memfd(4096, 1);
    vhu_hdr h = {VHU_REQ_SET_FEATURES, 0x2 /* version 2 */, 8};
    cr_assert_eq(raw_send(sv[0], &h, sizeof(h), &fd, 1), 12);
    close(fd);
    vhu_msg got;
    cr_assert_eq(vhu_conn_recv(rx, &got), -EBADMSG);
    cr_assert(vhu_conn_broken(rx));
    cr_assert_eq(vhu_conn_recv(rx, &got), -EIO);
}

Test(conn, oversized_header_size_is_ebadmsg)
{
    vhu_hdr h = {VHU_REQ_SET_FEATURES, VHU_VERSION, VHU_PAYLOAD_MAX + 1};
    cr_assert_eq(raw_send(sv[0], &h, sizeof(h), NULL, 0), 12);
    vhu_msg got;
    cr_assert_eq(vhu_conn_recv(rx, &got), -EBADMSG);
    cr_assert(strstr(cap.last, "bad header") || strstr(cap.last, "resynchronise"));
}

Test(conn, too_many_fds_is_ebadf_and_the_stream_stays_in_step)
{
    int before = cvmm_test_count_fds();
    int fds[12];
    for (int i = 0; i < 12; i++)
        fds[i] = make_memfd(4096, (uint8_t)i);
    vhu_msg m, got;
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, 9);
    uint8_t buf[32];
    int len = vhu_msg_encode(&m, buf, sizeof(buf));
    cr_assert_eq(raw_send(sv[0], buf, (size_t)len, fds, 12), len);
    for (int i = 0; i < 12; i++)
        close(fds[i]);
    cr_assert_eq(vhu_conn_recv(rx, &got), -EBADF);
    cr_assert_eq(got.hdr.request, VHU_REQ_SET_FEATURES, "the header is there to nack");
    cr_assert_eq(got.hdr.flags, VHU_VERSION | VHU_FLAG_NEED_REPLY);
    cr_assert_eq(got.nfds, 0);
    cr_assert_eq(cvmm_test_count_fds(), before, "all 12 fds closed (8 by us, 4 by the kernel)");
    cr_assert_not(vhu_conn_broken(rx));
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, 0, 10);
    len = vhu_msg_encode(&m, buf, sizeof(buf));
    cr_assert_eq(raw_send(sv[0], buf, (size_t)len, NULL, 0), len);
    cr_assert_eq(vhu_conn_recv(rx, &got), 0);
    cr_assert_eq(got.payload.u64, 10);
}

/* A sender on @fd (taken) with a deadline of @ms. */
static vhu_conn *sender(int fd, int ms)
{
    vhu_conn *tx;
    vhu_conn_config cfg = {.log = &logger, .name = "tx", .timeout_ms = ms};
    cr_assert_eq(vhu_conn_new(&cfg, fd, &tx), 0);
    return tx;
}

static void crypto_msg(vhu_msg *m, uint32_t size)
{
    vhu_msg_init(m, VHU_REQ_CREATE_CRYPTO_SESSION, 0);
    memset(m->payload.raw, 0x77, size);
    m->hdr.size = size;
}

Test(conn, a_full_socket_times_out_whole_frames_only_and_breaks)
{
    vhu_conn *tx = sender(sv[0], 50);
    sv[0] = -1;
    vhu_msg m, got;
    crypto_msg(&m, 64);
    int sent = 0, rc;
    while ((rc = vhu_conn_send(tx, &m)) == 0)
        sent++;
    cr_assert_eq(rc, -ETIMEDOUT, "a reader that never comes: the deadline, not a hang and not -EAGAIN");
    cr_assert(vhu_conn_broken(tx), "a peer that does not read is gone");
    cr_assert(strstr(cap.last, "does not read"), "one line says why: %s", cap.last);
    cr_assert_eq(vhu_conn_send(tx, &m), -EIO);
    int got_n = 0;
    while ((rc = vhu_conn_recv(rx, &got)) == 0) {
        cr_assert_eq(got.hdr.size, 64);
        got_n++;
    }
    cr_assert_eq(rc, -EAGAIN, "no half frame was left behind");
    cr_assert_eq(got_n, sent);
    vhu_conn_free(tx);
}

struct slow_reader {
    vhu_conn *rx;
    int delay_ms, want, got;
};

/* Sleeps @delay_ms, then reads @want messages, each within 30 s (a sender descheduled on a loaded
 * machine is not a lost message). */
static void *slow_read(void *arg)
{
    struct slow_reader *r = arg;
    vhu_msg got;
    usleep((useconds_t)r->delay_ms * 1000);
    while (r->got < r->want && vhu_conn_recv_wait(r->rx, &got, 30000) == 0)
        r->got++;
    return NULL;
}

/* Before the fix a non-blocking socket that was full for an instant failed the send at once (-EAGAIN), and
 * the daemon dropped a front-end that was merely slow. */
Test(conn, a_reader_that_comes_back_before_the_deadline_loses_nothing)
{
    vhu_conn *tx = sender(sv[0], 30000);
    sv[0] = -1;
    vhu_msg m;
    crypto_msg(&m, 64);
    struct slow_reader r = {.rx = rx, .delay_ms = 100, .want = 5000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, slow_read, &r), 0);
    int sent = 0;
    for (; sent < 5000; sent++)
        if (vhu_conn_send(tx, &m) < 0)
            break;
    cr_assert_eq(sent, 5000, "every send waited for room");
    pthread_join(th, NULL);
    cr_assert_eq(r.got, sent);
    cr_assert_not(vhu_conn_broken(tx));
    vhu_conn_free(tx);
}

struct stuck_sender {
    vhu_conn *tx;
    vhu_msg m;
    atomic_int done;
    int rc, sent;
};

static void *send_until_failure(void *arg)
{
    struct stuck_sender *s = arg;
    while ((s->rc = vhu_conn_send(s->tx, &s->m)) == 0)
        s->sent++;
    atomic_store(&s->done, 1);
    return NULL;
}

/* Wait (bounded) for a thread that may hang in the old code; if it does, cut it loose through @peer. */
static bool finished(atomic_int *done, pthread_t th, int peer)
{
    for (int i = 0; i < 3000 && !atomic_load(done); i++) /* 30 s: only a hang takes this long */
        usleep(10000);
    bool ok = atomic_load(done);
    if (!ok)
        shutdown(peer, SHUT_RDWR); /* unblocks a sendmsg() stuck on the full socket */
    pthread_join(th, NULL);
    return ok;
}

Test(conn, a_blocking_socket_the_peer_never_reads_times_out)
{
    int bs[2];
    cr_assert_eq(sockpair(bs, false), 0);
    struct stuck_sender s = {.tx = sender(bs[0], 100)};
    crypto_msg(&s.m, 1000);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, send_until_failure, &s), 0);
    cr_assert(finished(&s.done, th, bs[1]), "the send blocked in sendmsg() forever");
    cr_assert_eq(s.rc, -ETIMEDOUT);
    cr_assert(vhu_conn_broken(s.tx));
    vhu_conn_free(s.tx);
    close(bs[1]);
}

struct frames_sender {
    vhu_conn *tx;
    vhu_msg m;
    int n, rc;
};

static void *send_frames(void *arg)
{
    struct frames_sender *s = arg;
    for (int i = 0; i < s->n && s->rc == 0; i++)
        s->rc = vhu_conn_send(s->tx, &s->m);
    return NULL;
}

/* Frames bigger than the socket buffer go out in pieces: each frame's fd with its first byte only, the rest
 * within the one deadline, frames never interleaved. */
Test(conn, partial_frames_are_finished_with_their_fds_on_the_first_byte)
{
    int small = 4096;
    cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    int fd = make_memfd(4096, 0x5a);
    struct frames_sender s = {.tx = sender(sv[0], 30000), .n = 8};
    sv[0] = -1;
    int peer = vhu_conn_fd(rx);
    crypto_msg(&s.m, 4000);
    cr_assert_eq(vhu_msg_add_fd(&s.m, fd), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, send_frames, &s), 0);
    const size_t frame = 12 + 4000;
    uint8_t buf[12 + 4000];
    for (int f = 0; f < s.n; f++) {
        size_t have = 0;
        int pieces = 0, fds_seen = 0;
        while (have < frame) {
            struct pollfd p = {.fd = peer, .events = POLLIN};
            cr_assert_eq(poll(&p, 1, 30000), 1);
            union {
                struct cmsghdr a;
                char b[CMSG_SPACE(sizeof(int) * 4)];
            } ctl;
            size_t chunk = frame - have < 700 ? frame - have : 700; /* never read into the next frame */
            struct iovec iov = {buf + have, chunk};
            struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
            ssize_t n = recvmsg(peer, &mh, MSG_CMSG_CLOEXEC);
            cr_assert_gt(n, 0);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            if (cm) {
                int got_fd;
                memcpy(&got_fd, CMSG_DATA(cm), sizeof(int));
                cr_assert_eq(have, 0, "frame %d: its fd came at byte %zu", f, have);
                cr_assert_eq(first_byte(got_fd, 0, 4096), 0x5a);
                close(got_fd);
                fds_seen++;
            }
            have += (size_t)n;
            pieces++;
            usleep(1000);
        }
        cr_assert_eq(fds_seen, 1, "frame %d", f);
        vhu_hdr h;
        memcpy(&h, buf, 12);
        cr_assert_eq(h.request, VHU_REQ_CREATE_CRYPTO_SESSION, "frame %d in step", f);
        cr_assert_eq(h.size, 4000);
        cr_assert_eq(buf[12 + 3999], 0x77);
    }
    pthread_join(th, NULL);
    cr_assert_eq(s.rc, 0);
    cr_assert_not(vhu_conn_broken(s.tx));
    vhu_conn_free(s.tx);
    close(fd);
}

Test(conn, a_peer_that_stops_reading_inside_a_frame_breaks_it_after_the_deadline)
{
    int small = 4096;
    cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    vhu_conn *tx = sender(sv[0], 100);
    sv[0] = -1;
    vhu_msg m;
    crypto_msg(&m, 4000);
    int rc, n = 0;
    while ((rc = vhu_conn_send(tx, &m)) == 0 && n < 1000)
        n++;
    cr_assert_eq(rc, -ETIMEDOUT);
    cr_assert(vhu_conn_broken(tx));
    vhu_conn_free(tx);
}

/* A failed receive must not leave the previous message in the caller's buffer: the daemon used to look at
 * it and act on it (defect 8). */
Test(conn, a_failed_receive_leaves_no_stale_message)
{
    vhu_msg m, got;
    vhu_msg_build_u64(&m, VHU_REQ_GET_FEATURES, VHU_FLAG_NEED_REPLY, 0);
    m.hdr.size = 0;
    cr_assert_eq(raw_send(sv[0], &m.hdr, 12, NULL, 0), 12);
    cr_assert_eq(vhu_conn_recv(rx, &got), 0);
    cr_assert_eq(got.hdr.request, VHU_REQ_GET_FEATURES);
    vhu_hdr bad = {VHU_REQ_SET_FEATURES, VHU_VERSION, VHU_PAYLOAD_MAX + 1};
    cr_assert_eq(raw_send(sv[0], &bad, 12, NULL, 0), 12);
    cr_assert_eq(vhu_conn_recv(rx, &got), -EBADMSG);
    cr_assert_eq(got.hdr.request, VHU_REQ_NONE, "still holds request %u", got.hdr.request);
    cr_assert_eq(got.hdr.flags, 0);
    cr_assert_eq(got.hdr.size, 0);
    cr_assert_eq(got.nfds, 0);
    got.hdr.request = VHU_REQ_GET_FEATURES;
    cr_assert_eq(vhu_conn_recv(rx, &got), -EIO);
    cr_assert_eq(got.hdr.request, VHU_REQ_NONE, "cleared on every failure");
}

Test(conn, eof_inside_a_message_leaves_no_stale_message)
{
    vhu_msg got;
    vhu_msg_build_u64(&got, VHU_REQ_SET_FEATURES, 0, 1);
    vhu_hdr h = {VHU_REQ_SET_VRING_NUM, VHU_VERSION, 8};
    cr_assert_eq(raw_send(sv[0], &h, 12, NULL, 0), 12);
    close(sv[0]);
    sv[0] = -1;
    cr_assert_eq(vhu_conn_recv(rx, &got), -EIO);
    cr_assert_eq(got.hdr.request, VHU_REQ_NONE);
    cr_assert_eq(got.payload.u64, 0);
}

Test(conn, sending_to_a_closed_peer_is_epipe)
{
    vhu_conn *tx;
    cr_assert_eq(vhu_conn_new(NULL, sv[0], &tx), 0);
    sv[0] = -1;
    vhu_conn_free(rx);
    rx = NULL;
    vhu_msg m;
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, 0, 1);
    cr_assert_eq(vhu_conn_send(tx, &m), -EPIPE);
    cr_assert(vhu_conn_broken(tx));
    cr_assert_eq(vhu_conn_send(tx, &m), -EIO);
    vhu_conn_free(tx);
}

Test(conn, invalid_sends_are_einval)
{
    vhu_msg m;
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, 0, 1);
    m.hdr.size = VHU_PAYLOAD_MAX + 1;
    cr_assert_eq(vhu_conn_send(rx, &m), -EINVAL);
    m.hdr.size = 8;
    m.nfds = VHU_MAX_FDS + 1;
    cr_assert_eq(vhu_conn_send(rx, &m), -EINVAL);
    m.nfds = 1;
    m.fds[0] = -1;
    cr_assert_eq(vhu_conn_send(rx, &m), -EBADF, "a hole in fds[]");
    int fd = dup(sv[0]);
    close(fd);
    m.fds[0] = fd; /* a closed fd: sendmsg() refuses it whole */
    cr_assert_eq(vhu_conn_send(rx, &m), -EBADF);
    cr_assert_not(vhu_conn_broken(rx));
    char b;
    cr_assert_eq(recv(sv[0], &b, 1, MSG_DONTWAIT), -1, "no byte reached the peer");
    cr_assert_eq(errno, EAGAIN);
}

Test(conn, waiting_for_a_message_times_out)
{
    vhu_msg got;
    cr_assert_eq(vhu_conn_recv_wait(rx, &got, 30), -ETIMEDOUT);
    cr_assert_eq(vhu_conn_recv_wait(rx, &got, 0), -ETIMEDOUT, "0: the connection's 100 ms");
    cr_assert_not(vhu_conn_broken(rx));
    uint8_t half[6] = {1, 0, 0, 0, 1, 0};
    cr_assert_eq(raw_send(sv[0], half, sizeof(half), NULL, 0), 6);
    cr_assert_eq(vhu_conn_recv_wait(rx, &got, 30), -ETIMEDOUT, "the partial header is kept");
    uint8_t rest[6] = {0, 0, 0, 0, 0, 0};
    cr_assert_eq(raw_send(sv[0], rest, sizeof(rest), NULL, 0), 6);
    cr_assert_eq(vhu_conn_recv_wait(rx, &got, 30), 0);
    cr_assert_eq(got.hdr.request, VHU_REQ_GET_FEATURES);
}

Test(conn, constructor_arguments)
{
    vhu_conn *c = NULL;
    cr_assert_eq(vhu_conn_new(NULL, -1, &c), -EINVAL);
    int fd = dup(sv[0]);
    cr_assert_eq(vhu_conn_new(NULL, fd, NULL), -EINVAL, "takes the fd even on failure");
    cr_assert_not(fd_is_open(fd));
    vhu_conn_free(NULL);
    cr_assert_eq(vhu_conn_fd(rx) >= 0, true);
}
