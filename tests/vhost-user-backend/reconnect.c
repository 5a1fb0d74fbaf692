/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* What a reconnect carries (defect 8 of issue 10; the rule is in cvmm/vub/daemon.h): only the protocol
 * features in effect when the last connection that delivered a whole message ended.  A connection that dies
 * on a framing error (partial header, bad header, oversized size, short payload, EOF inside a message with
 * fds) gets no reply, is decided on nothing older than itself, and leaves the carried set as it was.  The
 * probe: a raw front-end that does not negotiate sends SET_FEATURES with NEED_REPLY, then GET_FEATURES; an
 * ack comes first exactly when REPLY_ACK is carried. */
#include <sys/mman.h>

#include "vub_test.h"
#include "raw_peer.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

static void init(void) { vt_setup(&(struct vt_opts){.no_frontend = true}); }

TestSuite(reconnect, .init = init, .fini = vt_fini, .timeout = 120);

static uint64_t raw_get_u64(int fd, uint32_t req)
{
    vhu_hdr h;
    uint64_t v = 0;
    raw_send(fd, req, 0, 0, NULL, 0, NULL, 0);
    cr_assert_eq(raw_recv(fd, &h, &v, sizeof(v)), 8, "no reply to %u", req);
    cr_assert_eq(h.request, req, "reply to %u instead of %u", h.request, req);
    return v;
}

/* A front-end that negotiates @proto (of what is offered) and closes after a last GET_FEATURES, the
 * message a stale buffer used to hold when the next connection failed. */
static void session(uint64_t proto)
{
    int fd = raw_connect();
    uint64_t f = raw_get_u64(fd, VHU_REQ_GET_FEATURES);
    raw_send(fd, VHU_REQ_SET_OWNER, 0, 0, NULL, 0, NULL, 0);
    uint64_t offered = raw_get_u64(fd, VHU_REQ_GET_PROTOCOL_FEATURES);
    uint64_t p = proto & offered;
    raw_send(fd, VHU_REQ_SET_PROTOCOL_FEATURES, 0, 8, &p, 8, NULL, 0);
    uint64_t acked = (f & (1ull << VUB_F_VERSION_1)) | (1ull << VHU_F_PROTOCOL_FEATURES);
    raw_send(fd, VHU_REQ_SET_FEATURES, 0, 8, &acked, 8, NULL, 0);
    (void)raw_get_u64(fd, VHU_REQ_GET_FEATURES);
    close(fd);
}

/* A front-end that goes on without negotiating: does the daemon ack a NEED_REPLY (REPLY_ACK carried)? */
static void expect_carried_reply_ack(bool carried)
{
    int fd = raw_connect();
    uint64_t acked = (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES);
    raw_send(fd, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, 8, &acked, 8, NULL, 0);
    raw_send(fd, VHU_REQ_GET_FEATURES, 0, 0, NULL, 0, NULL, 0);
    vhu_hdr h;
    uint64_t v = 1;
    cr_assert_eq(raw_recv(fd, &h, &v, sizeof(v)), 8);
    if (carried) {
        cr_assert_eq(h.request, VHU_REQ_SET_FEATURES, "REPLY_ACK was carried: the ack comes first");
        cr_assert_eq(v, 0);
        cr_assert_eq(raw_recv(fd, &h, &v, sizeof(v)), 8);
    }
    cr_assert_eq(h.request, VHU_REQ_GET_FEATURES, "a reply (to %u) the front-end never asked for", h.request);
    close(fd);
}

/* The framing errors a front-end can end a connection with. */
enum bad_end { PARTIAL_HEADER, BAD_VERSION, OVERSIZED, SHORT_PAYLOAD, MID_MESSAGE_WITH_FDS, NBAD };

static void bad_connection(enum bad_end how)
{
    int fd = raw_connect();
    vhu_hdr h = {.request = VHU_REQ_GET_FEATURES, .flags = VHU_VERSION};
    switch (how) {
    case PARTIAL_HEADER: cr_assert_eq(send(fd, &h, 7, MSG_NOSIGNAL), 7); break;
    case BAD_VERSION:
        h.flags = 2;
        cr_assert_eq(send(fd, &h, 12, MSG_NOSIGNAL), 12);
        break;
    case OVERSIZED:
        h.request = VHU_REQ_SET_CONFIG;
        h.size = VHU_PAYLOAD_MAX + 1;
        cr_assert_eq(send(fd, &h, 12, MSG_NOSIGNAL), 12);
        break;
    case SHORT_PAYLOAD: {
        uint8_t three[3] = {0};
        raw_send(fd, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, 8, three, sizeof(three), NULL, 0);
        break;
    }
    case MID_MESSAGE_WITH_FDS: {
        int mfd = memfd_create("reconnect", MFD_CLOEXEC);
        cr_assert_geq(mfd, 0);
        cr_assert_eq(ftruncate(mfd, 1 << 20), 0);
        vhu_mem_region r = {.guest_addr = 0, .size = 1 << 20, .user_addr = VT_UVA_BASE};
        uint8_t p[8 + sizeof(r)] = {1}; /* nregions 1, then half of the region */
        memcpy(p + 8, &r, sizeof(r));
        raw_send(fd, VHU_REQ_SET_MEM_TABLE, VHU_FLAG_NEED_REPLY, sizeof(p), p, 8 + sizeof(r) / 2, &mfd, 1);
        close(mfd); /* the daemon's copy must be closed too (fd leak check in .fini) */
        break;
    }
    case NBAD: break;
    }
    if (how == PARTIAL_HEADER || how == SHORT_PAYLOAD || how == MID_MESSAGE_WITH_FDS) {
        shutdown(fd, SHUT_WR); /* the rest never comes */
    }
    cr_assert(raw_closed(fd), "case %d: the daemon closed without replying", how);
    close(fd);
}

/* The stale-buffer defect: the bad header of the second connection made the daemon look at the first
 * connection's last message (GET_FEATURES), drop the carried set to 0, and the third connection then ran
 * on the new-process default, REPLY_ACK included, and got an ack it never asked for. */
Test(reconnect, a_bad_header_first_is_not_decided_on_the_previous_connections_message)
{
    session(PB(MQ) | PB(CONFIG)); /* no REPLY_ACK */
    bad_connection(BAD_VERSION);
    expect_carried_reply_ack(false);
    cr_assert(vt_logged("bad header"));
}

/* A set negotiated as 0 is carried as 0, not taken for "nothing negotiated yet". */
Test(reconnect, protocol_features_negotiated_as_zero_are_carried_as_zero)
{
    session(0);
    expect_carried_reply_ack(false);
}

Test(reconnect, the_negotiated_set_is_carried_to_a_front_end_that_does_not_negotiate)
{
    session(PB(MQ) | PB(REPLY_ACK));
    expect_carried_reply_ack(true);
    expect_carried_reply_ack(true); /* and on: that connection did not change it */
}

Test(reconnect, no_framing_error_changes_what_is_carried)
{
    for (int with_ack = 0; with_ack < 2; with_ack++) {
        session(PB(MQ) | (with_ack ? PB(REPLY_ACK) : 0));
        for (int how = 0; how < NBAD; how++)
            bad_connection((enum bad_end)how);
        expect_carried_reply_ack(with_ack);
    }
}

Test(reconnect, a_front_end_that_negotiates_after_a_framing_error_starts_from_nothing)
{
    session(PB(MQ) | PB(REPLY_ACK));
    bad_connection(MID_MESSAGE_WITH_FDS);
    vt_connect();
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(vub_daemon_protocol_features(vt.d), 0, "GET_FEATURES first: a new negotiation");
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(vt.fe, p & PB(REPLY_ACK)), 0);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES)), 0);
    cr_assert_eq(vub_daemon_protocol_features(vt.d), PB(REPLY_ACK));
}
