/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/deadlines.c - every endpoint gives up on a peer that stops reading: the back-end
 * channel, the back-end's replies, the front-end's requests.  Each call returns within its deadline (100 ms
 * here) with -ETIMEDOUT, logs one line, and the connection is broken; on blocking sockets too.  The sending
 * threads are waited for with a bound, and cut loose if they hang (as they did before the fix). */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdatomic.h>

#include "helpers.h"

static int fds_at_start;
static int sv[2] = {-1, -1};
static struct cap_log cap = {.lock = PTHREAD_MUTEX_INITIALIZER};
static const struct cvmm_log logger = CAP_LOG_INIT(&cap);

static void setup(void)
{
    fds_at_start = cvmm_test_count_fds();
    cr_assert_eq(sockpair(sv, false), 0, "blocking, as a front-end may hand it over");
}
static void teardown(void)
{
    if (sv[1] >= 0)
        close(sv[1]);
    cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "fd leaked");
}

TestSuite(deadlines, .init = setup, .fini = teardown, .timeout = 120);

struct sender {
    int (*send)(void *obj);
    void *obj;
    atomic_int done;
    int rc, sent;
};

static void *send_until_failure(void *arg)
{
    struct sender *s = arg;
    while (s->sent < 1000000 && (s->rc = s->send(s->obj)) == 0)
        s->sent++;
    atomic_store(&s->done, 1);
    return NULL;
}

/* Run @s until a send fails; true if that happened within 30 s, which only a hang takes (else the peer end
 * is shut down so the old code's blocked sendmsg() returns, and false). */
static bool fails_in_time(struct sender *s)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, send_until_failure, s), 0);
    for (int i = 0; i < 3000 && !atomic_load(&s->done); i++)
        usleep(10000);
    bool ok = atomic_load(&s->done);
    if (!ok)
        shutdown(sv[1], SHUT_RDWR);
    pthread_join(th, NULL);
    return ok;
}

static int channel_config_change(void *ch) { return vhu_backend_channel_config_change(ch); }

Test(deadlines, a_back_end_channel_the_front_end_never_reads_fails_the_request)
{
    vhu_backend_channel_config cfg = {
        .log = &logger,
        .name = "chan",
        .protocol_features = VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_BACKEND_REQ) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG),
        .timeout_ms = 100,
    };
    vhu_backend_channel *ch;
    cr_assert_eq(vhu_backend_channel_new(&cfg, sv[0], &ch), 0);
    struct sender s = {.send = channel_config_change, .obj = ch};
    cr_assert(fails_in_time(&s), "a request blocked in sendmsg() (%d sent)", s.sent);
    cr_assert_eq(s.rc, -ETIMEDOUT);
    cr_assert(strstr(cap.last, "chan: connection broken") && strstr(cap.last, "does not read"), "%s", cap.last);
    cr_assert_eq(vhu_backend_channel_config_change(ch), -EIO, "the channel is broken: drop it");
    vhu_backend_channel_free(ch);
}

static int frontend_set_features(void *f) { return vhu_frontend_set_features(f, 1ull << 32); }

Test(deadlines, a_back_end_that_never_reads_fails_the_front_ends_request)
{
    vhu_frontend_config cfg = {.log = &logger, .name = "fe", .timeout_ms = 100};
    vhu_frontend *f;
    cr_assert_eq(vhu_frontend_new(&cfg, sv[0], &f), 0);
    struct sender s = {.send = frontend_set_features, .obj = f};
    cr_assert(fails_in_time(&s), "a request blocked in sendmsg() (%d sent)", s.sent);
    cr_assert_eq(s.rc, -ETIMEDOUT);
    cr_assert(strstr(cap.last, "fe: connection broken"), "%s", cap.last);
    vhu_frontend_free(f);
}

/* The back-end's replies: a front-end sends requests and never reads the answers. */
Test(deadlines, replies_the_front_end_never_reads_break_the_connection)
{
    vhu_backend_config cfg = {.log = &logger, .name = "be", .timeout_ms = 100};
    vhu_backend *b;
    cr_assert_eq(vhu_backend_new(&cfg, sv[0], &b), 0);
    vhu_hdr h = {.request = VHU_REQ_GET_FEATURES, .flags = VHU_VERSION};
    int rc = 0, replies = 0;
    for (; replies < 1000000; replies++) {
        /* one request in, one reply out: our socket never fills, the back-end's replies do */
        cr_assert_eq(send(sv[1], &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
        vhu_msg m;
        cr_assert_eq(vhu_backend_recv(b, &m), 0);
        rc = vhu_backend_reply_u64(b, &m, 1);
        if (rc < 0)
            break;
    }
    cr_assert_eq(rc, -ETIMEDOUT, "after %d replies: %d", replies, rc);
    cr_assert(vhu_backend_broken(b));
    cr_assert(strstr(cap.last, "be: connection broken"), "%s", cap.last);
    vhu_msg m;
    cr_assert_eq(vhu_backend_recv(b, &m), -EIO);
    cr_assert_eq(m.hdr.request, VHU_REQ_NONE, "no stale message");
    vhu_backend_free(b);
}
