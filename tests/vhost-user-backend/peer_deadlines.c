/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* A front-end that stops reading (defect 5 of issue 10): the back-end channel it never reads, replies it never
 * reads.  The daemon runs with peer_timeout_ms = 1000: every send to the front-end and every wait for its
 * answer ends by then, the channel or the connection is dropped with a log line, and the daemon goes on
 * serving.  Waits in the tests are bounded, so the code before the fix (sendmsg() blocked for ever) fails
 * instead of hanging ctest. */
#include "vub_test.h"
#include "raw_peer.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)
#define PEER_TIMEOUT_MS 1000

static void init(void) { vt_setup(&(struct vt_opts){.peer_timeout_ms = PEER_TIMEOUT_MS}); }

TestSuite(peer_deadlines, .init = init, .fini = vt_fini, .timeout = 120);

static int fe_config_change(void *ctx)
{
    (void)ctx;
    return 0;
}
static const vhu_frontend_backend_ops fe_ops = {.config_change = fe_config_change};

/* A device thread sending back-end requests until one fails. */
struct spammer {
    pthread_t th;
    atomic_int done;
    int rc, sent;
};

static void *spam(void *arg)
{
    struct spammer *s = arg;
    vub_backend *b = vub_daemon_backend(vt.d);
    while (s->sent < 1000000 && (s->rc = vub_backend_config_change(b)) == 0)
        s->sent++;
    atomic_store(&s->done, 1);
    return NULL;
}

/* Wait up to VT_WAIT_MS for the spammer; if it hangs (the old code), free the front-end, whose end of the
 * channel closing unblocks it, and report the hang. */
static bool spammer_finished(struct spammer *s)
{
    for (int i = 0; i < VT_WAIT_MS / 10 && !atomic_load(&s->done); i++)
        vt_sleep_ms(10);
    bool ok = atomic_load(&s->done);
    if (!ok) {
        vhu_frontend_free(vt.fe);
        vt.fe = NULL;
    }
    pthread_join(s->th, NULL);
    return ok;
}

static void channel_never_read(uint64_t proto, const char *why)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, proto | PB(BACKEND_REQ) | PB(CONFIG));
    cr_assert_eq(vhu_frontend_set_backend_req_fd(vt.fe, &fe_ops, NULL), 0); /* and never served */
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0); /* SET_BACKEND_REQ_FD was handled */
    struct spammer s = {0};
    cr_assert_eq(pthread_create(&s.th, NULL, spam, &s), 0);
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0, "the main socket is served meanwhile");
    cr_assert(spammer_finished(&s), "a back-end request blocked for ever (%d sent)", s.sent);
    cr_assert_eq(s.rc, -EIO, "the request failed: %d", s.rc);
    cr_assert(vt_logged("backend-channel: connection broken"), "one line says the channel broke");
    cr_assert(vt_logged(why), "and why (%s)", why);
    cr_assert_eq(vub_backend_config_change(vub_daemon_backend(vt.d)), -ENOTCONN, "the channel was dropped");
    /* the main socket still works, and the next front-end is served */
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    uint8_t cfg[4];
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 4, cfg, sizeof(cfg), 0), 0);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_connect();
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
}

/* Without REPLY_ACK every request is fire and forget: the channel fills, and the send must give up. */
Test(peer_deadlines, a_back_end_channel_never_read_is_dropped_when_a_send_times_out)
{
    channel_never_read(PB(MQ), "does not read");
}

/* With REPLY_ACK the request goes out and the ack never comes. */
Test(peer_deadlines, a_back_end_channel_that_never_answers_is_dropped_after_the_deadline)
{
    channel_never_read(PB(MQ) | PB(REPLY_ACK), "no answer");
}

/* Fill the daemon's replies: GET_FEATURES until our socket is full.  Return: requests sent. */
static int fill_with_requests(int fd)
{
    vhu_hdr h = {.request = VHU_REQ_GET_FEATURES, .flags = VHU_VERSION};
    int sent = 0;
    for (int idle = 0; sent < 100000 && idle < 20;) {
        if (send(fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(h)) {
            sent++;
            idle = 0;
        } else {
            cr_assert(errno == EAGAIN, "%s", strerror(errno));
            idle++; /* let the daemon read some more until it stops reading too */
            vt_sleep_ms(5);
        }
    }
    return sent;
}

Test(peer_deadlines, a_front_end_that_never_reads_replies_is_closed_after_the_deadline)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    int fd = raw_connect();
    /* Requests, and never a reply read, until the daemon hangs up.  Our socket takes more only while the
     * daemon reads them, so the loop waits on events, not on a guess that the daemon stopped reading (20
     * idle rounds of 5 ms, which a daemon descheduled as long let through unblocked: 1 run in 6 failed). */
    vhu_hdr h = {.request = VHU_REQ_GET_FEATURES, .flags = VHU_VERSION};
    struct pollfd p = {.fd = fd, .events = POLLOUT | POLLRDHUP};
    for (int sent = 0;;) {
        cr_assert_eq(poll(&p, 1, 10000), 1, "the daemon kept the connection (%d requests sent)", sent);
        if (p.revents & (POLLHUP | POLLRDHUP | POLLERR))
            break;
        cr_assert(sent < 1000000, "the daemon never stopped reading");
        if (send(fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(h))
            sent++;
        else
            cr_assert_eq(errno, EAGAIN, "%s", strerror(errno));
    }
    cr_assert(vt_logged("does not read"), "one line says why");
    close(fd);
    vt_connect();
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0, "the next front-end is served");
}

/* Before the fix a reply that found the socket full for an instant closed the connection at once. */
Test(peer_deadlines, a_front_end_that_reads_late_but_within_the_deadline_gets_every_reply)
{
    /* A daemon whose deadline no scheduling delay reaches: filling the socket takes 20 idle rounds of 5 ms and
     * a sleep follows, which on a loaded machine can add up to more than PEER_TIMEOUT_MS. */
    vt_fini();
    vt_setup(&(struct vt_opts){.peer_timeout_ms = 60000, .no_frontend = true});
    int fd = raw_connect();
    int sent = fill_with_requests(fd);
    vt_sleep_ms(50); /* the daemon finds the socket full meanwhile */
    for (int i = 0; i < sent; i++) {
        vhu_hdr h;
        uint64_t v;
        cr_assert_eq(raw_recv(fd, &h, &v, sizeof(v)), 8, "reply %d of %d", i, sent);
        cr_assert_eq(h.request, VHU_REQ_GET_FEATURES);
    }
    cr_assert_not(vt_logged("does not read"));
    close(fd);
}
