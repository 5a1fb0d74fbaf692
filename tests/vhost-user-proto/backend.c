/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/backend.c - the back-end endpoint and the back-end channel, driven from a raw
 * connection on the other end of a socketpair (answers are queued in the socket before the call that
 * waits for them, so no thread is needed): receiving, rejecting with the right answer, closing the fds
 * of rejected messages, protocol feature tracking, REPLY_ACK, the channel's acks, nacks and timeouts. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "helpers.h"

static int fds_at_start;
static vhu_conn *peer; /* the front-end side, raw */
static vhu_backend *be;
static int memfd = -1;
static struct cap_log cap = {.lock = PTHREAD_MUTEX_INITIALIZER};
static const struct cvmm_log logger = CAP_LOG_INIT(&cap);
#define OFFERED (ALL_PF | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_GPA_ADDRESSES))

static void setup(void)
{
    fds_at_start = cvmm_test_count_fds();
    int sv[2];
    cr_assert_eq(sockpair(sv, true), 0);
    vhu_conn_config pc = {.log = &logger, .name = "peer", .timeout_ms = 200};
    cr_assert_eq(vhu_conn_new(&pc, sv[0], &peer), 0);
    vhu_backend_config bc = {
        .log = &logger, .name = "be", .protocol_features = OFFERED, .num_queues = 2, .timeout_ms = 200};
    cr_assert_eq(vhu_backend_new(&bc, sv[1], &be), 0);
    memfd = make_memfd(0x20000, 0x5a);
}
static void teardown(void)
{
    vhu_backend_free(be);
    vhu_conn_free(peer);
    be = NULL;
    peer = NULL;
    close(memfd);
    cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "fd leaked");
}

TestSuite(backend, .init = setup, .fini = teardown, .timeout = 120);

static void peer_send(vhu_msg *m) { cr_assert_eq(vhu_conn_send(peer, m), 0); }

static void negotiate(uint64_t pf)
{
    vhu_msg m;
    vhu_msg_build_u64(&m, VHU_REQ_SET_PROTOCOL_FEATURES, 0, pf);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &m), 0);
    cr_assert_eq(vhu_backend_ctx(be)->protocol_features, pf);
    cr_assert_eq(vhu_backend_ack(be, &m, 0), 0);
}

static uint64_t peer_ack(uint32_t id)
{
    vhu_msg r;
    cr_assert_eq(vhu_conn_recv(peer, &r), 0);
    cr_assert_eq(r.hdr.request, id);
    cr_assert_eq(r.hdr.flags, VHU_VERSION | VHU_FLAG_REPLY);
    cr_assert_eq(r.hdr.size, 8);
    return r.payload.u64;
}

static void peer_has_nothing(void)
{
    vhu_msg r;
    cr_assert_eq(vhu_conn_recv(peer, &r), -EAGAIN, "nothing was sent");
}

Test(backend, receives_a_valid_request_with_its_fds_and_acks_it)
{
    negotiate(ALL_PF);
    vhu_msg m;
    sample_req(VHU_REQ_SET_MEM_TABLE, &m, memfd);
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    peer_send(&m);
    vhu_msg got;
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert_eq(got.nfds, 2);
    cr_assert_eq(first_byte(got.fds[1], 0x1000, 4096), 0, "mmap offset of region 1 in our memfd");
    cr_assert_eq(first_byte(got.fds[0], 0, 4096), 0x5a);
    int kept = got.fds[0];
    got.fds[0] = -1; /* a handler moves the fd out */
    cr_assert_eq(vhu_req_owed(&got, vhu_backend_ctx(be)), VHU_OWED_ACK);
    cr_assert_eq(vhu_backend_ack(be, &got, 0), 0);
    vhu_msg_close_fds(&got);
    cr_assert(fd_is_open(kept));
    close(kept);
    cr_assert_eq(peer_ack(VHU_REQ_SET_MEM_TABLE), 0);
    /* a failing handler acks its errno */
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, 1);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert_eq(vhu_backend_ack(be, &got, -EINVAL), 0);
    cr_assert_eq(peer_ack(VHU_REQ_SET_FEATURES), EINVAL);
}

Test(backend, no_ack_without_need_reply_or_reply_ack)
{
    vhu_msg m, got;
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, 1);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert_eq(vhu_backend_ack(be, &got, 0), 0, "REPLY_ACK not negotiated");
    peer_has_nothing();
    negotiate(ALL_PF);
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, 0, 1);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert_eq(vhu_backend_ack(be, &got, 0), 0, "NEED_REPLY not set");
    peer_has_nothing();
}

Test(backend, rejected_message_fds_are_closed_and_nacked)
{
    negotiate(ALL_PF);
    int before = cvmm_test_count_fds();
    vhu_msg m, got;
    sample_req(VHU_REQ_SET_MEM_TABLE, &m, memfd);
    m.payload.mem.regions[1].size = 0;
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADMSG);
    cr_assert_eq(got.nfds, 0);
    cr_assert_eq(cvmm_test_count_fds(), before, "both received fds closed");
    cr_assert_eq(peer_ack(VHU_REQ_SET_MEM_TABLE), EBADMSG);
    /* wrong fd count: 3 fds for 2 regions */
    sample_req(VHU_REQ_SET_MEM_TABLE, &m, memfd);
    vhu_msg_add_fd(&m, memfd);
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADF);
    cr_assert_eq(cvmm_test_count_fds(), before);
    cr_assert_eq(peer_ack(VHU_REQ_SET_MEM_TABLE), EBADF);
    /* fd on a message that takes none */
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, 1);
    vhu_msg_add_fd(&m, memfd);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADF);
    cr_assert_eq(cvmm_test_count_fds(), before);
    cr_assert_eq(peer_ack(VHU_REQ_SET_FEATURES), EBADF);
    /* more fds than fit (MSG_CTRUNC) */
    vhu_msg_init(&m, VHU_REQ_SET_OWNER, VHU_FLAG_NEED_REPLY);
    for (int i = 0; i < 8; i++)
        vhu_msg_add_fd(&m, memfd);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADF);
    cr_assert_eq(cvmm_test_count_fds(), before);
    cr_assert_eq(peer_ack(VHU_REQ_SET_OWNER), EBADF);
}

Test(backend, unknown_ids_and_ungated_requests_are_nacked)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_STATUS));
    vhu_msg m, got;
    vhu_msg_init(&m, 77, VHU_FLAG_NEED_REPLY);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -ENOTSUP);
    cr_assert_eq(peer_ack(77), ENOTSUP);
    vhu_msg_build_u64(&m, VHU_REQ_SET_STATUS, VHU_FLAG_NEED_REPLY, 1);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EPROTO);
    cr_assert_eq(peer_ack(VHU_REQ_SET_STATUS), EPROTO);
    /* vring index beyond num_queues (2), checked centrally */
    vhu_msg_build_state(&m, VHU_REQ_SET_VRING_NUM, VHU_FLAG_NEED_REPLY, 2, 256);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADMSG);
    cr_assert_eq(peer_ack(VHU_REQ_SET_VRING_NUM), EBADMSG);
    vhu_backend_set_num_queues(be, 3);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert_eq(vhu_backend_ack(be, &got, 0), 0);
    cr_assert_eq(peer_ack(VHU_REQ_SET_VRING_NUM), 0);
}

Test(backend, rejected_requests_with_explicit_replies)
{
    negotiate(ALL_PF);
    vhu_msg m, got, r;
    sample_req(VHU_REQ_GET_CONFIG, &m, -1);
    m.payload.config.flags = 9;
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADMSG);
    cr_assert_eq(vhu_conn_recv(peer, &r), 0);
    cr_assert_eq(r.hdr.request, VHU_REQ_GET_CONFIG);
    cr_assert_eq(r.hdr.size, 0, "the spec's GET_CONFIG error: an empty payload");
    vhu_msg_init(&m, VHU_REQ_GET_FEATURES, 0);
    m.hdr.size = 8;
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADMSG);
    cr_assert(strstr(cap.last, "no error form"), "%s", cap.last);
    peer_has_nothing();
}

Test(backend, protocol_features_are_tracked_and_checked)
{
    vhu_msg m, got;
    vhu_msg_build_u64(&m, VHU_REQ_SET_PROTOCOL_FEATURES, 0, VHU_PROTOCOL_BIT(30));
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EPROTO, "bit 30 was not offered");
    cr_assert_eq(vhu_backend_ctx(be)->protocol_features, 0, "nothing changed");
    uint64_t inband = VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_INBAND_NOTIFICATIONS);
    vhu_msg_build_u64(&m, VHU_REQ_SET_PROTOCOL_FEATURES, 0, inband | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EPROTO, "INBAND_NOTIFICATIONS needs BACKEND_REQ too");
    cr_assert(strstr(cap.last, "INBAND_NOTIFICATIONS"));
    negotiate(inband | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_BACKEND_REQ));
    /* with REPLY_ACK now negotiated, a bad ack-requested SET_PROTOCOL_FEATURES is nacked */
    vhu_msg_build_u64(&m, VHU_REQ_SET_PROTOCOL_FEATURES, VHU_FLAG_NEED_REPLY, VHU_PROTOCOL_BIT(40));
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EPROTO);
    cr_assert_eq(peer_ack(VHU_REQ_SET_PROTOCOL_FEATURES), EPROTO);
}

Test(backend, old_shmem_bit_21_is_gpa_addresses_only)
{
    /* A front-end built on rust-vmm vhost 0.16 asks for "SHMEM" as bit 21. */
    negotiate(VHU_PROTOCOL_BIT(21) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    vhu_msg m, got;
    vhu_msg_init(&m, VHU_REQ_GET_SHMEM_CONFIG, 0);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EPROTO, "GET_SHMEM_CONFIG needs bit 22");
    peer_has_nothing();
    sample_req(VHU_REQ_SET_MEM_TABLE, &m, memfd);
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EBADMSG, "host virtual user addresses under GPA_ADDRESSES");
    cr_assert_eq(peer_ack(VHU_REQ_SET_MEM_TABLE), EBADMSG);
}

/* The spec defines GET_SHMEM_CONFIG only with F_SHMEM negotiated and gives its reply no error form: the
 * endpoint refuses the request and sends nothing, and the back-end may answer with an all-zero config
 * through the normal reply path, and with nothing else. */
Test(backend, get_shmem_config_without_shmem_accepts_only_a_zeroed_reply)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_SHMEM));
    vhu_msg m, got, r;
    vhu_msg_init(&m, VHU_REQ_GET_SHMEM_CONFIG, 0);
    peer_send(&m);
    int lines = cap.lines;
    cr_assert_eq(vhu_backend_recv(be, &got), -EPROTO);
    cr_assert_eq(cap.lines, lines + 1, "one log line: the validator's");
    cr_assert(strstr(cap.last, "GET_SHMEM_CONFIG") && strstr(cap.last, "not negotiated"), "%s", cap.last);
    cr_assert_eq(vhu_req_owed(&got, vhu_backend_ctx(be)), VHU_OWED_REPLY);
    peer_has_nothing();
    vhu_shmem_config *c = calloc(1, sizeof(*c));
    cr_assert_not_null(c);
    /* a real config, a short one, one with an fd, a u64: refused, nothing on the wire */
    c->nregions = 1;
    c->mem_size[0] = 4096;
    cr_assert_eq(vhu_backend_reply(be, &got, c, sizeof(*c), NULL, 0), -EINVAL);
    cr_assert(strstr(cap.last, "without SHMEM negotiated"), "%s", cap.last);
    memset(c, 0, sizeof(*c));
    c->mem_size[255] = 4096; /* nregions 0 but a size set: not all zero either */
    cr_assert_eq(vhu_backend_reply(be, &got, c, sizeof(*c), NULL, 0), -EINVAL);
    memset(c, 0, sizeof(*c));
    cr_assert_eq(vhu_backend_reply(be, &got, c, sizeof(*c) - 8, NULL, 0), -EINVAL);
    cr_assert_eq(vhu_backend_reply(be, &got, c, sizeof(*c), &memfd, 1), -EINVAL);
    cr_assert_eq(vhu_backend_reply_u64(be, &got, 0), -EINVAL);
    peer_has_nothing();
    /* the all-zero config goes out through the normal framing */
    cr_assert_eq(vhu_backend_reply(be, &got, c, sizeof(*c), NULL, 0), 0);
    memset(&r, 0xff, sizeof(r));
    cr_assert_eq(vhu_conn_recv(peer, &r), 0);
    cr_assert_eq(r.hdr.request, VHU_REQ_GET_SHMEM_CONFIG);
    cr_assert_eq(r.hdr.flags, VHU_VERSION | VHU_FLAG_REPLY);
    cr_assert_eq(r.hdr.size, 2056);
    cr_assert_eq(r.nfds, 0);
    cr_assert_eq(memcmp(&r.payload.shmem, c, sizeof(*c)), 0);
    free(c);
    /* the exception is for GET_SHMEM_CONFIG only: another ungated-feature request still gets nothing */
    vhu_msg_init(&m, VHU_REQ_GET_STATUS, 0);
    negotiate(VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), -EPROTO);
    peer_has_nothing();
    cr_assert_eq(vhu_backend_reply_u64(be, &got, 0), -EINVAL, "GET_STATUS still needs F_STATUS");
    peer_has_nothing();
}

Test(backend, replies_are_validated_before_sending)
{
    negotiate(ALL_PF);
    vhu_msg m, got, r;
    vhu_msg_init(&m, VHU_REQ_GET_SHMEM_CONFIG, 0);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    vhu_shmem_config c = {.nregions = 1, .mem_size = {[3] = 4096 + 100}};
    cr_assert_eq(vhu_backend_reply(be, &got, &c, sizeof(c), NULL, 0), -EINVAL);
    peer_has_nothing();
    c.mem_size[3] = 8192;
    cr_assert_eq(vhu_backend_reply(be, &got, &c, sizeof(c), NULL, 0), 0);
    cr_assert_eq(vhu_conn_recv(peer, &r), 0);
    cr_assert_eq(r.hdr.size, 2056);
    cr_assert_eq(r.payload.shmem.mem_size[3], 8192);
    cr_assert_eq(vhu_backend_reply(be, &got, &c, VHU_PAYLOAD_MAX + 1, NULL, 0), -EINVAL);
    cr_assert_eq(vhu_backend_reply(be, &got, &c, sizeof(c), NULL, VHU_MAX_FDS + 1), -EINVAL);
    /* an inflight reply with its fd */
    sample_req(VHU_REQ_GET_INFLIGHT_FD, &m, -1);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    vhu_inflight in = {.mmap_size = 0x2000, .num_queues = 2, .queue_size = 256};
    cr_assert_eq(vhu_backend_reply(be, &got, &in, sizeof(in), &memfd, 1), 0);
    cr_assert_eq(vhu_conn_recv(peer, &r), 0);
    cr_assert_eq(r.nfds, 1);
    vhu_msg_close_fds(&r);
    cr_assert_eq(vhu_backend_reply_u64(be, &got, 1), -EINVAL, "a u64 is not an inflight description");
}

Test(backend, postcopy_listening_makes_set_mem_table_reply)
{
    negotiate(ALL_PF);
    vhu_msg m, got;
    vhu_msg_init(&m, VHU_REQ_POSTCOPY_LISTEN, 0);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert(vhu_backend_ctx(be)->postcopy_listening);
    sample_req(VHU_REQ_SET_MEM_TABLE, &m, memfd);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert_eq(vhu_req_owed(&got, vhu_backend_ctx(be)), VHU_OWED_REPLY);
    vhu_msg_close_fds(&got);
    /* the back-end replies with its mappings, then waits for the front-end's acknowledgement */
    vhu_msg r;
    vhu_msg_build_u64(&r, VHU_REQ_SET_MEM_TABLE, VHU_FLAG_REPLY, 0); /* QEMU acks with the REPLY flag */
    peer_send(&r);
    cr_assert_eq(vhu_backend_recv_postcopy_ack(be, &got), 0);
    vhu_msg_build_u64(&r, VHU_REQ_SET_MEM_TABLE, 0, 0); /* our front-end: an empty table */
    peer_send(&r);
    cr_assert_eq(vhu_backend_recv_postcopy_ack(be, &got), 0);
    vhu_msg_build_u64(&r, VHU_REQ_SET_MEM_TABLE, 0, 1);
    peer_send(&r);
    cr_assert_eq(vhu_backend_recv_postcopy_ack(be, &got), -EREMOTEIO);
    int before = cvmm_test_count_fds();
    vhu_msg_build_u64(&r, VHU_REQ_SET_MEM_TABLE, 0, 0);
    vhu_msg_add_fd(&r, memfd);
    peer_send(&r);
    cr_assert_eq(vhu_backend_recv_postcopy_ack(be, &got), -EBADMSG);
    cr_assert_eq(cvmm_test_count_fds(), before);
    vhu_msg_build_u64(&r, VHU_REQ_SET_FEATURES, 0, 0);
    peer_send(&r);
    cr_assert_eq(vhu_backend_recv_postcopy_ack(be, &got), -EPROTO);
    cr_assert_eq(vhu_backend_recv_postcopy_ack(be, &got), -ETIMEDOUT);
    vhu_msg_init(&m, VHU_REQ_POSTCOPY_END, 0);
    peer_send(&m);
    cr_assert_eq(vhu_backend_recv(be, &got), 0);
    cr_assert_not(vhu_backend_ctx(be)->postcopy_listening);
}

Test(backend, peer_close_is_reported)
{
    vhu_conn_free(peer);
    peer = NULL;
    vhu_msg got;
    cr_assert_eq(vhu_backend_recv(be, &got), -ECONNRESET);
    cr_assert_eq(vhu_backend_recv(be, &got), -EIO);
}

Test(backend, constructor_arguments)
{
    vhu_backend *b;
    cr_assert_eq(vhu_backend_new(NULL, -1, &b), -EINVAL);
    int fd = dup(memfd);
    cr_assert_eq(vhu_backend_new(NULL, fd, NULL), -EINVAL);
    cr_assert_not(fd_is_open(fd), "the fd was taken");
    vhu_backend_free(NULL);
    cr_assert_geq(vhu_backend_fd(be), 0);
    cr_assert_eq(vhu_backend_recv(be, &(vhu_msg){0}), -EAGAIN);
}

/* ---- the back-end channel ---------------------------------------------------------------------------- */
static vhu_backend_channel *ch;
static vhu_conn *fe; /* the front-end's end of the channel, raw */

static void channel_with(uint64_t pf)
{
    int sv[2];
    cr_assert_eq(sockpair(sv, true), 0);
    vhu_backend_channel_config cc = {
        .log = &logger, .name = "ch", .protocol_features = pf, .num_queues = 2, .timeout_ms = 50};
    cr_assert_eq(vhu_backend_channel_new(&cc, sv[0], &ch), 0);
    cr_assert_eq(vhu_conn_new(NULL, sv[1], &fe), 0);
}

static void channel_down(void)
{
    vhu_backend_channel_free(ch);
    vhu_conn_free(fe);
    ch = NULL;
    fe = NULL;
}

static void queue_answer(uint32_t id, uint64_t v, int fd)
{
    vhu_msg a;
    vhu_msg_build_u64(&a, id, VHU_FLAG_REPLY, v);
    if (fd >= 0)
        vhu_msg_add_fd(&a, fd);
    cr_assert_eq(vhu_conn_send(fe, &a), 0);
}

static void fe_got(uint32_t id, uint32_t flags, uint32_t nfds, vhu_msg *out)
{
    vhu_msg m;
    cr_assert_eq(vhu_conn_recv(fe, &m), 0);
    cr_assert_eq(m.hdr.request, id, "%s", vhu_backend_req_name(m.hdr.request));
    cr_assert_eq(m.hdr.flags, VHU_VERSION | flags);
    cr_assert_eq(m.nfds, nfds);
    if (out)
        *out = m;
    else
        vhu_msg_close_fds(&m);
}

Test(backend, channel_without_reply_ack_fires_and_forgets, .fini = channel_down)
{
    channel_with(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    cr_assert_eq(vhu_backend_channel_config_change(ch), 0);
    fe_got(VHU_BACKEND_REQ_CONFIG_CHANGE_MSG, 0, 0, NULL);
    cr_assert_eq(vhu_backend_channel_vring_call(ch, 1), 0);
    cr_assert_eq(vhu_backend_channel_vring_err(ch, 0), 0);
    fe_got(VHU_BACKEND_REQ_VRING_CALL, 0, 0, NULL);
    fe_got(VHU_BACKEND_REQ_VRING_ERR, 0, 0, NULL);
    cr_assert_eq(vhu_backend_channel_vring_host_notifier(ch, 1, 4096, 0, memfd), 0);
    fe_got(VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, 0, 1, NULL);
    cr_assert_eq(vhu_backend_channel_vring_host_notifier(ch, 1, 0, 0, -1), 0);
    fe_got(VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, 0, 0, NULL);
    vhu_shared_object o = {{1, 2, 3}};
    cr_assert_eq(vhu_backend_channel_shared_object_add(ch, &o), 0);
    cr_assert_eq(vhu_backend_channel_shared_object_remove(ch, &o), 0);
    fe_got(VHU_BACKEND_REQ_SHARED_OBJECT_ADD, 0, 0, NULL);
    fe_got(VHU_BACKEND_REQ_SHARED_OBJECT_REMOVE, 0, 0, NULL);
    vhu_iotlb_msg t = {.iova = 0x1000, .perm = VHU_ACCESS_RO, .type = VHU_IOTLB_MISS};
    cr_assert_eq(vhu_backend_channel_iotlb_msg(ch, &t), 0);
    fe_got(VHU_BACKEND_REQ_IOTLB_MSG, 0, 0, NULL);
}

Test(backend, channel_shmem_map_and_unmap_wait_for_the_ack, .fini = channel_down)
{
    channel_with(ALL_PF);
    vhu_mmap map = {.shmid = 2, .fd_offset = 0, .shm_offset = 0x1000, .len = 0x1000, .flags = VHU_MMAP_F_WRITABLE};
    memset(map.padding, 0xee, sizeof(map.padding));
    queue_answer(VHU_BACKEND_REQ_SHMEM_MAP, 0, -1);
    cr_assert_eq(vhu_backend_channel_shmem_map(ch, &map, memfd), 0);
    vhu_msg got;
    fe_got(VHU_BACKEND_REQ_SHMEM_MAP, VHU_FLAG_NEED_REPLY, 1, &got);
    cr_assert_eq(got.hdr.size, 40);
    cr_assert_eq(got.payload.mmap.shmid, 2);
    cr_assert_eq(got.payload.mmap.padding[0], 0, "padding is zeroed on the wire");
    cr_assert_eq(first_byte(got.fds[0], 0, 4096), 0x5a);
    vhu_msg_close_fds(&got);
    queue_answer(VHU_BACKEND_REQ_SHMEM_UNMAP, ENOENT, -1);
    cr_assert_eq(vhu_backend_channel_shmem_unmap(ch, &map), -EREMOTEIO, "the front-end refused");
    fe_got(VHU_BACKEND_REQ_SHMEM_UNMAP, VHU_FLAG_NEED_REPLY, 0, NULL);
    cr_assert_eq(vhu_backend_channel_shmem_map(ch, &map, -1), -EBADF);
    map.len = 0;
    cr_assert_eq(vhu_backend_channel_shmem_map(ch, &map, memfd), -EINVAL, "invalid: nothing sent");
    vhu_msg r;
    cr_assert_eq(vhu_conn_recv(fe, &r), -EAGAIN);
}

Test(backend, channel_shared_object_lookup_returns_the_fd, .fini = channel_down)
{
    channel_with(ALL_PF);
    vhu_shared_object o = {{9}};
    int fd = -1;
    queue_answer(VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, 0, memfd);
    cr_assert_eq(vhu_backend_channel_shared_object_lookup(ch, &o, &fd), 0);
    cr_assert_eq(first_byte(fd, 0, 4096), 0x5a);
    close(fd);
    fe_got(VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, 0, 0, NULL);
    queue_answer(VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, 2, -1);
    cr_assert_eq(vhu_backend_channel_shared_object_lookup(ch, &o, &fd), -EREMOTEIO);
    cr_assert_eq(fd, -1);
    fe_got(VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, 0, 0, NULL);
}

Test(backend, channel_timeout_and_bad_answers_break_it, .fini = channel_down)
{
    channel_with(ALL_PF);
    cr_assert_eq(vhu_backend_channel_config_change(ch), -ETIMEDOUT);
    cr_assert_eq(vhu_backend_channel_config_change(ch), -EIO, "broken after a timeout");
    vhu_backend_channel_free(ch);
    vhu_conn_free(fe);
    channel_with(ALL_PF);
    queue_answer(VHU_BACKEND_REQ_VRING_CALL, 0, -1); /* answers another request */
    cr_assert_eq(vhu_backend_channel_config_change(ch), -EIO);
    vhu_backend_channel_free(ch);
    vhu_conn_free(fe);
    channel_with(ALL_PF);
    queue_answer(VHU_BACKEND_REQ_CONFIG_CHANGE_MSG, 0, memfd); /* an ack with an fd */
    cr_assert_eq(vhu_backend_channel_config_change(ch), -EIO);
}

Test(backend, channel_refuses_what_is_not_negotiated, .fini = channel_down)
{
    channel_with(VHU_PROTOCOL_BIT(21) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    vhu_mmap map = {.shmid = 0, .len = 0x1000};
    cr_assert_eq(vhu_backend_channel_shmem_map(ch, &map, memfd), -EPROTO, "bit 21 is not SHMEM");
    cr_assert_eq(vhu_backend_channel_vring_call(ch, 0), -EPROTO);
    cr_assert_eq(vhu_backend_channel_vring_host_notifier(ch, 300, 4096, 0, memfd), -EINVAL);
    vhu_msg r;
    cr_assert_eq(vhu_conn_recv(fe, &r), -EAGAIN);
}

Test(backend, channel_peer_gone_is_epipe, .fini = channel_down)
{
    channel_with(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    vhu_conn_free(fe);
    fe = NULL;
    cr_assert_eq(vhu_backend_channel_config_change(ch), -EPIPE);
}
