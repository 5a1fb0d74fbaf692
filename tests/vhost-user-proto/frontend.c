/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/frontend.c - the front-end client against a raw back-end on the other end of a
 * socketpair (replies are queued before the call that reads them): what each call sends, how replies are
 * checked, every error return, and serving the back-end channel, including bad requests on it. */
#include <criterion/criterion.h>
#include <sys/un.h>

#include "helpers.h"

static int fds_at_start;
static vhu_frontend *f;
static vhu_conn *be; /* the raw back-end */
static int memfd = -1;
static struct cap_log cap = {.lock = PTHREAD_MUTEX_INITIALIZER};
static const struct cvmm_log logger = CAP_LOG_INIT(&cap);

static void setup(void)
{
    fds_at_start = cvmm_test_count_fds();
    int sv[2];
    cr_assert_eq(sockpair(sv, false), 0);
    vhu_frontend_config fc = {.log = &logger, .name = "fe", .timeout_ms = 100};
    cr_assert_eq(vhu_frontend_new(&fc, sv[0], &f), 0);
    cr_assert_eq(vhu_conn_new(NULL, sv[1], &be), 0);
    int fl = fcntl(sv[1], F_GETFL);
    fcntl(sv[1], F_SETFL, fl | O_NONBLOCK);
    memfd = make_memfd(0x10000, 0x3c);
}
static void teardown(void)
{
    vhu_frontend_free(f);
    vhu_conn_free(be);
    f = NULL;
    be = NULL;
    close(memfd);
    cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "fd leaked");
}

TestSuite(frontend, .init = setup, .fini = teardown, .timeout = 120);

static void queue_reply(vhu_msg *r) { cr_assert_eq(vhu_conn_send(be, r), 0); }
static void queue_u64(uint32_t id, uint64_t v, int fd)
{
    vhu_msg r;
    vhu_msg_build_u64(&r, id, VHU_FLAG_REPLY, v);
    if (fd >= 0)
        vhu_msg_add_fd(&r, fd);
    queue_reply(&r);
}
/* Receive what the front-end sent; check id and flags. */
static void sent(uint32_t id, uint32_t flags, vhu_msg *out)
{
    vhu_msg m;
    cr_assert_eq(vhu_conn_recv(be, &m), 0);
    cr_assert_eq(m.hdr.request, id, "sent %s", vhu_req_name(m.hdr.request));
    cr_assert_eq(m.hdr.flags, VHU_VERSION | flags, "flags 0x%x", m.hdr.flags);
    if (out)
        *out = m;
    else
        vhu_msg_close_fds(&m);
}
static void sent_nothing(void)
{
    vhu_msg m;
    cr_assert_eq(vhu_conn_recv(be, &m), -EAGAIN);
}

static void negotiate(uint64_t pf)
{
    cr_assert_eq(vhu_frontend_set_protocol_features(f, pf), 0);
    sent(VHU_REQ_SET_PROTOCOL_FEATURES, 0, NULL); /* REPLY_ACK was not negotiated yet: no NEED_REPLY */
}

Test(frontend, get_and_set_features)
{
    uint64_t v = 0;
    queue_u64(VHU_REQ_GET_FEATURES, 0x1234, -1);
    cr_assert_eq(vhu_frontend_get_features(f, &v), 0);
    cr_assert_eq(v, 0x1234);
    vhu_msg m;
    sent(VHU_REQ_GET_FEATURES, 0, &m);
    cr_assert_eq(m.hdr.size, 0);
    cr_assert_eq(vhu_frontend_set_features(f, 0x99), 0);
    sent(VHU_REQ_SET_FEATURES, 0, &m);
    cr_assert_eq(m.payload.u64, 0x99);
    cr_assert_eq(vhu_frontend_get_features(f, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_protocol_features(f), 0);
}

Test(frontend, reply_ack_is_requested_and_checked)
{
    negotiate(ALL_PF);
    queue_u64(VHU_REQ_SET_FEATURES, 0, -1);
    cr_assert_eq(vhu_frontend_set_features(f, 1), 0);
    sent(VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, NULL);
    queue_u64(VHU_REQ_SET_OWNER, 5, -1);
    cr_assert_eq(vhu_frontend_set_owner(f), -EREMOTEIO, "a non-zero ack");
    sent(VHU_REQ_SET_OWNER, VHU_FLAG_NEED_REPLY, NULL);
    queue_u64(VHU_REQ_GET_FEATURES, 7, -1);
    uint64_t v;
    cr_assert_eq(vhu_frontend_get_features(f, &v), 0);
    sent(VHU_REQ_GET_FEATURES, 0, NULL); /* explicit replies are not doubled with NEED_REPLY */
}

Test(frontend, a_wrong_reply_breaks_the_connection)
{
    uint64_t v;
    queue_u64(VHU_REQ_GET_PROTOCOL_FEATURES, 1, -1);
    cr_assert_eq(vhu_frontend_get_features(f, &v), -EPROTO);
    cr_assert(strstr(cap.last, "malformed reply") || strstr(cap.last, "broken"), "%s", cap.last);
    cr_assert_eq(vhu_frontend_get_features(f, &v), -EIO);
}

Test(frontend, a_reply_with_an_unexpected_fd_is_ebadf_and_the_fd_is_closed)
{
    uint64_t v;
    int before = cvmm_test_count_fds();
    queue_u64(VHU_REQ_GET_FEATURES, 1, memfd);
    cr_assert_eq(vhu_frontend_get_features(f, &v), -EBADF);
    cr_assert_eq(cvmm_test_count_fds(), before);
}

Test(frontend, no_reply_times_out)
{
    uint64_t v;
    cr_assert_eq(vhu_frontend_get_features(f, &v), -ETIMEDOUT);
    cr_assert_eq(vhu_frontend_get_features(f, &v), -EIO);
}

Test(frontend, back_end_gone)
{
    vhu_conn_free(be);
    be = NULL;
    uint64_t v;
    int rc = vhu_frontend_get_features(f, &v);
    cr_assert(rc == -EPIPE || rc == -ECONNRESET, "%d", rc);
}

Test(frontend, requests_are_validated_before_sending)
{
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(f, &c), -EPROTO, "SHMEM (bit 22) not negotiated");
    negotiate(VHU_PROTOCOL_BIT(21));
    cr_assert_eq(vhu_frontend_get_shmem_config(f, &c), -EPROTO, "bit 21 is GPA_ADDRESSES, not SHMEM");
    cr_assert_eq(vhu_frontend_set_vring_num(f, 0, 0), -EINVAL);
    cr_assert_eq(vhu_frontend_set_vring_kick(f, 256, memfd), -EINVAL);
    cr_assert_eq(vhu_frontend_set_config(f, 0, "x", 0, 0), -EINVAL);
    cr_assert_eq(vhu_frontend_set_config(f, 0, "x", 1, 0), -EPROTO, "CONFIG not negotiated");
    cr_assert_eq(vhu_frontend_get_config(f, 0, NULL, 4, 0), -EINVAL);
    cr_assert_eq(vhu_frontend_add_mem_reg(f, NULL, memfd), -EINVAL);
    cr_assert_eq(vhu_frontend_add_mem_reg(f, &(vhu_mem_region){0, 4096, 0, 0}, -1), -EINVAL);
    cr_assert_eq(vhu_frontend_set_mem_table(f, NULL, NULL, 9), -EINVAL);
    vhu_mem_region hva = {0, 4096, 0x7f0000000000ull, 0};
    cr_assert_eq(vhu_frontend_set_mem_table(f, &hva, &memfd, 1), -EINVAL, "GPA_ADDRESSES needs user == guest");
    cr_assert_eq(vhu_frontend_set_log_base(f, NULL, -1), -EINVAL);
    cr_assert_eq(vhu_frontend_set_log_fd(f, -1), -EINVAL);
    cr_assert_eq(vhu_frontend_set_inflight_fd(f, NULL, memfd), -EINVAL);
    cr_assert_eq(vhu_frontend_gpu_set_socket(f, -1), -EINVAL);
    cr_assert_eq(vhu_frontend_send_rarp(f, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_set_backend_req_fd(f, NULL, NULL), -EINVAL);
    uint8_t session[16];
    uint32_t rs;
    cr_assert_eq(vhu_frontend_create_crypto_session(f, session, 0, 16, &rs), -EINVAL);
    sent_nothing();
}

Test(frontend, shmem_config_sparse_zero_and_invalid)
{
    negotiate(ALL_PF);
    vhu_msg r;
    vhu_msg_init(&r, VHU_REQ_GET_SHMEM_CONFIG, VHU_FLAG_REPLY);
    vhu_shmem_config c = {.nregions = 2, .mem_size = {[0] = 0x10000, [2] = 0x200000}};
    vhu_msg_set_payload(&r, &c, sizeof(c));
    queue_reply(&r);
    vhu_shmem_config got;
    cr_assert_eq(vhu_frontend_get_shmem_config(f, &got), 0);
    cr_assert_eq(memcmp(&got, &c, sizeof(c)), 0);
    sent(VHU_REQ_GET_SHMEM_CONFIG, 0, NULL);
    vhu_shmem_config zero = {0};
    vhu_msg_set_payload(&r, &zero, sizeof(zero));
    queue_reply(&r);
    memset(&got, 0xff, sizeof(got));
    cr_assert_eq(vhu_frontend_get_shmem_config(f, &got), -EPROTO, "the answer changed (sparse -> zero)");
    cr_assert_eq(got.nregions, UINT32_MAX, "*out untouched");
    sent(VHU_REQ_GET_SHMEM_CONFIG, 0, NULL);
    vhu_msg_set_payload(&r, &c, sizeof(c));
    queue_reply(&r);
    memset(&got, 0xff, sizeof(got));
    cr_assert_eq(vhu_frontend_get_shmem_config(f, &got), 0, "the same answer again");
    cr_assert_eq(got.mem_size[2], 0x200000);
    sent(VHU_REQ_GET_SHMEM_CONFIG, 0, NULL);
    c.mem_size[2] = 0x200001;
    vhu_msg_set_payload(&r, &c, sizeof(c));
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_get_shmem_config(f, &got), -EBADMSG, "a size that is not page aligned");
    cr_assert_eq(vhu_frontend_get_shmem_config(f, &got), -EIO);
}

Test(frontend, config_space)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    vhu_msg q, r;
    sample_req(VHU_REQ_GET_CONFIG, &q, -1);
    sample_reply(&q, &r, -1);
    queue_reply(&r);
    uint8_t buf[8];
    cr_assert_eq(vhu_frontend_get_config(f, 4, buf, 8, VHU_CONFIG_FLAG_WRITABLE), 0);
    cr_assert_eq(memcmp(buf, "replied!", 8), 0);
    sent(VHU_REQ_GET_CONFIG, 0, &q);
    cr_assert_eq(q.hdr.size, 20);
    vhu_msg_init(&r, VHU_REQ_GET_CONFIG, VHU_FLAG_REPLY);
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_get_config(f, 4, buf, 8, 0), -EREMOTEIO, "empty reply: the back-end's error");
    sent(VHU_REQ_GET_CONFIG, 0, NULL);
    cr_assert_eq(vhu_frontend_set_config(f, 2, "ab", 2, VHU_CONFIG_FLAG_MIGRATION), 0);
    sent(VHU_REQ_SET_CONFIG, 0, &q);
    cr_assert_eq(q.payload.config.offset, 2);
    cr_assert_eq(memcmp(q.payload.config.data, "ab", 2), 0);
}

Test(frontend, vrings_and_fds)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    vhu_msg q;
    cr_assert_eq(vhu_frontend_set_vring_kick(f, 3, memfd), 0);
    sent(VHU_REQ_SET_VRING_KICK, 0, &q);
    cr_assert_eq(q.payload.u64, 3);
    cr_assert_eq(q.nfds, 1);
    cr_assert_eq(first_byte(q.fds[0], 0, 4096), 0x3c);
    vhu_msg_close_fds(&q);
    cr_assert_eq(vhu_frontend_set_vring_call(f, 1, -1), 0);
    sent(VHU_REQ_SET_VRING_CALL, 0, &q);
    cr_assert_eq(q.payload.u64, 1 | VHU_VRING_NOFD_MASK);
    cr_assert_eq(q.nfds, 0);
    cr_assert_eq(vhu_frontend_set_vring_err(f, 0, memfd), 0);
    sent(VHU_REQ_SET_VRING_ERR, 0, NULL);
    cr_assert_eq(vhu_frontend_set_vring_enable(f, 1, true), 0);
    sent(VHU_REQ_SET_VRING_ENABLE, 0, &q);
    cr_assert_eq(q.payload.state.num, 1);
    cr_assert_eq(vhu_frontend_set_vring_endian(f, 1, 1), 0);
    sent(VHU_REQ_SET_VRING_ENDIAN, 0, NULL);
    cr_assert_eq(vhu_frontend_vring_kick(f, 1), 0);
    sent(VHU_REQ_VRING_KICK, 0, NULL);
    vhu_msg r;
    vhu_msg_build_state(&r, VHU_REQ_GET_VRING_BASE, VHU_FLAG_REPLY, 1, 42);
    queue_reply(&r);
    uint32_t base = 0;
    cr_assert_eq(vhu_frontend_get_vring_base(f, 1, &base), 0);
    cr_assert_eq(base, 42);
    sent(VHU_REQ_GET_VRING_BASE, 0, NULL);
    vhu_msg_build_state(&r, VHU_REQ_GET_VRING_BASE, VHU_FLAG_REPLY, 0, 42);
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_get_vring_base(f, 1, &base), -EBADMSG, "the reply names another vring");
}

Test(frontend, memory_log_and_misc_requests)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    vhu_msg q;
    vhu_mem_region r = {0x1000, 0x1000, 0x7f0000001000ull, 0};
    cr_assert_eq(vhu_frontend_set_mem_table(f, &r, &memfd, 1), 0);
    sent(VHU_REQ_SET_MEM_TABLE, 0, &q);
    cr_assert_eq(q.hdr.size, 40);
    cr_assert_eq(q.nfds, 1);
    vhu_msg_close_fds(&q);
    cr_assert_eq(vhu_frontend_add_mem_reg(f, &r, memfd), 0);
    sent(VHU_REQ_ADD_MEM_REG, 0, &q);
    cr_assert_eq(q.payload.mem_reg.region.guest_addr, 0x1000);
    vhu_msg_close_fds(&q);
    cr_assert_eq(vhu_frontend_rem_mem_reg(f, &r), 0);
    sent(VHU_REQ_REM_MEM_REG, 0, NULL);
    vhu_log lg = {0x1000, 0};
    queue_u64(VHU_REQ_SET_LOG_BASE, 0, -1);
    cr_assert_eq(vhu_frontend_set_log_base(f, &lg, memfd), 0, "LOG_SHMFD: waits for the reply");
    sent(VHU_REQ_SET_LOG_BASE, 0, &q);
    cr_assert_eq(q.hdr.size, 16);
    vhu_msg_close_fds(&q);
    cr_assert_eq(vhu_frontend_set_log_fd(f, memfd), 0);
    sent(VHU_REQ_SET_LOG_FD, 0, NULL);
    uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    cr_assert_eq(vhu_frontend_send_rarp(f, mac), 0);
    sent(VHU_REQ_SEND_RARP, 0, &q);
    cr_assert_eq(memcmp(&q.payload.u64, mac, 6), 0);
    cr_assert_eq(vhu_frontend_net_set_mtu(f, 1500), 0);
    sent(VHU_REQ_NET_SET_MTU, 0, NULL);
    cr_assert_eq(vhu_frontend_reset_owner(f), 0);
    sent(VHU_REQ_RESET_OWNER, 0, NULL);
    cr_assert_eq(vhu_frontend_reset_device(f), 0);
    sent(VHU_REQ_RESET_DEVICE, 0, NULL);
    cr_assert_eq(vhu_frontend_gpu_set_socket(f, memfd), 0);
    sent(VHU_REQ_GPU_SET_SOCKET, 0, NULL);
    cr_assert_eq(vhu_frontend_close_crypto_session(f, 3), 0);
    sent(VHU_REQ_CLOSE_CRYPTO_SESSION, 0, NULL);
    uint64_t v;
    queue_u64(VHU_REQ_GET_QUEUE_NUM, 4, -1);
    cr_assert_eq(vhu_frontend_get_queue_num(f, &v), 0);
    cr_assert_eq(v, 4);
    queue_u64(VHU_REQ_GET_MAX_MEM_SLOTS, 509, -1);
    cr_assert_eq(vhu_frontend_get_max_mem_slots(f, &v), 0);
    cr_assert_eq(v, 509);
    vhu_iotlb_msg t = {
        .iova = 0x1000, .size = 0x1000, .uaddr = 0x7f0000001000ull, .perm = VHU_ACCESS_RW, .type = VHU_IOTLB_UPDATE};
    queue_u64(VHU_REQ_IOTLB_MSG, 0, -1);
    cr_assert_eq(vhu_frontend_iotlb_msg(f, &t, &v), 0);
    cr_assert_eq(v, 0);
    uint8_t status = 0;
    queue_u64(VHU_REQ_GET_STATUS, 0x10f, -1);
    cr_assert_eq(vhu_frontend_get_status(f, &status), -EBADMSG, "wider than 8 bits");
    queue_u64(VHU_REQ_GET_STATUS, 0x0f, -1);
    cr_assert_eq(vhu_frontend_get_status(f, &status), 0);
    cr_assert_eq(status, 0x0f);
    cr_assert_eq(vhu_frontend_set_status(f, 0x0f), 0);
    queue_u64(VHU_REQ_CHECK_DEVICE_STATE, 1, -1);
    cr_assert_eq(vhu_frontend_check_device_state(f), -EREMOTEIO);
    uint64_t st;
    queue_u64(VHU_REQ_POSTCOPY_END, 0, -1);
    cr_assert_eq(vhu_frontend_postcopy_end(f, &st), 0);
}

Test(frontend, fds_coming_back_in_replies)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    vhu_msg r;
    int fd = -1;
    vhu_shared_object o = {{1}};
    queue_u64(VHU_REQ_GET_SHARED_OBJECT, 0, memfd);
    cr_assert_eq(vhu_frontend_get_shared_object(f, &o, &fd), 0);
    cr_assert_eq(first_byte(fd, 0, 4096), 0x3c);
    close(fd);
    vhu_msg_init(&r, VHU_REQ_GET_SHARED_OBJECT, VHU_FLAG_REPLY);
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_get_shared_object(f, &o, &fd), -ENOENT);
    cr_assert_eq(fd, -1);
    /* device state: the back-end returns its own channel */
    queue_u64(VHU_REQ_SET_DEVICE_STATE_FD, 0, memfd);
    cr_assert_eq(vhu_frontend_set_device_state_fd(f, 1, 0, memfd, &fd), 0);
    cr_assert(fd_is_open(fd));
    close(fd);
    queue_u64(VHU_REQ_SET_DEVICE_STATE_FD, 3 | VHU_DEVICE_STATE_NOFD_MASK, -1);
    cr_assert_eq(vhu_frontend_set_device_state_fd(f, 1, 0, memfd, &fd), -EREMOTEIO);
    cr_assert_eq(fd, -1);
    /* inflight: no area (size 0, no fd) */
    vhu_inflight in;
    vhu_msg_init(&r, VHU_REQ_GET_INFLIGHT_FD, VHU_FLAG_REPLY);
    vhu_inflight none = {.num_queues = 1, .queue_size = 8};
    vhu_msg_set_payload(&r, &none, 20);
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_get_inflight_fd(f, 1, 8, &in, &fd), 0);
    cr_assert_eq(fd, -1);
    cr_assert_eq(in.mmap_size, 0);
    cr_assert_eq(in.padding, 0);
    in.mmap_size = 4096;
    cr_assert_eq(vhu_frontend_set_inflight_fd(f, &in, memfd), 0);
    /* postcopy advise: the userfaultfd */
    int uffd = -1;
    vhu_msg_init(&r, VHU_REQ_POSTCOPY_ADVISE, VHU_FLAG_REPLY);
    vhu_msg_add_fd(&r, memfd);
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_postcopy_advise(f, &uffd), 0);
    cr_assert(fd_is_open(uffd));
    close(uffd);
    /* after POSTCOPY_LISTEN, SET_MEM_TABLE waits for the table to come back */
    cr_assert_eq(vhu_frontend_postcopy_listen(f), 0);
    vhu_mem_region reg = {0x1000, 0x1000, 0x7f0000001000ull, 0};
    cr_assert_eq(vhu_msg_build_mem_table(&r, VHU_FLAG_REPLY, &reg, &memfd, 1), 0);
    r.nfds = 0;
    r.fds[0] = -1;
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_set_mem_table(f, &reg, &memfd, 1), 0);
    vhu_msg q;
    for (;;) { /* skip the requests sent so far, up to the table */
        cr_assert_eq(vhu_conn_recv(be, &q), 0);
        vhu_msg_close_fds(&q);
        if (q.hdr.request == VHU_REQ_SET_MEM_TABLE)
            break;
    }
    cr_assert_eq(q.nfds, 0, "closed above");
    sent(VHU_REQ_SET_MEM_TABLE, 0, &q);
    cr_assert_eq(q.hdr.size, 8, "the postcopy acknowledgement: an empty table");
    cr_assert_eq(q.payload.u64, 0);
    cr_assert_eq(q.nfds, 0);
    /* crypto session: opaque bytes both ways */
    uint8_t session[64] = {1, 2, 3};
    uint32_t rs = 0;
    vhu_msg_init(&r, VHU_REQ_CREATE_CRYPTO_SESSION, VHU_FLAG_REPLY);
    vhu_msg_set_payload(&r, "\x09\x08", 2);
    queue_reply(&r);
    cr_assert_eq(vhu_frontend_create_crypto_session(f, session, 3, sizeof(session), &rs), 0);
    cr_assert_eq(rs, 2);
    cr_assert_eq(session[0], 9);
}

/* ---- serving the back-end channel ------------------------------------------------------------------- */
static int seen_maps, seen_unmaps;
static int op_map(void *ctx, const vhu_mmap *m, int *fd)
{
    (void)ctx;
    (void)m;
    seen_maps += first_byte(*fd, 0, 4096) == 0x3c;
    return 0;
}
static int op_unmap(void *ctx, const vhu_mmap *m)
{
    (void)ctx;
    seen_unmaps++;
    return m->shmid == 2 ? 0 : -ENOENT;
}
static int op_lookup_no_fd(void *ctx, const vhu_shared_object *o, int *out_fd)
{
    (void)ctx;
    (void)o;
    (void)out_fd;
    return 0; /* claims success without an fd: answered as EIO */
}
static const vhu_frontend_backend_ops ops = {
    .shmem_map = op_map, .shmem_unmap = op_unmap, .shared_object_lookup = op_lookup_no_fd};

static vhu_conn *open_channel(void)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    cr_assert_eq(vhu_frontend_backend_fd(f), -1);
    cr_assert_eq(vhu_frontend_set_backend_req_fd(f, &ops, NULL), 0);
    vhu_msg q;
    sent(VHU_REQ_SET_BACKEND_REQ_FD, 0, &q);
    cr_assert_eq(q.nfds, 1);
    vhu_conn *ch;
    cr_assert_eq(vhu_conn_new(NULL, vhu_msg_take_fd(&q, 0), &ch), 0);
    return ch;
}

static uint64_t channel_ack(vhu_conn *ch, uint32_t id, int *fd)
{
    vhu_msg a;
    cr_assert_eq(vhu_conn_recv(ch, &a), 0);
    cr_assert_eq(a.hdr.request, id);
    cr_assert_eq(a.hdr.flags, VHU_VERSION | VHU_FLAG_REPLY);
    if (fd)
        *fd = a.nfds ? vhu_msg_take_fd(&a, 0) : -1;
    vhu_msg_close_fds(&a);
    return a.payload.u64;
}

Test(frontend, serves_the_backend_channel)
{
    vhu_conn *ch = open_channel();
    cr_assert_eq(vhu_frontend_backend_serve(f, 0), -EAGAIN);
    cr_assert_eq(vhu_frontend_backend_serve(f, 20), -ETIMEDOUT);
    vhu_msg m;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &m, memfd);
    m.hdr.flags |= VHU_FLAG_NEED_REPLY; /* REPLY_ACK is not negotiated: ignored */
    cr_assert_eq(vhu_conn_send(ch, &m), 0);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), 0);
    cr_assert_eq(seen_maps, 1);
    vhu_msg a;
    cr_assert_eq(vhu_conn_recv_wait(ch, &a, 20), -ETIMEDOUT, "no ack without REPLY_ACK");
    /* a request without its op is answered ENOTSUP (here: not owed, so just dropped) */
    sample_backend_req(VHU_BACKEND_REQ_CONFIG_CHANGE_MSG, &m, -1);
    cr_assert_eq(vhu_conn_send(ch, &m), 0);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), 0);
    /* SHARED_OBJECT_LOOKUP always gets an answer: the op claimed success without an fd */
    sample_backend_req(VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, &m, -1);
    cr_assert_eq(vhu_conn_send(ch, &m), 0);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), 0);
    int fd;
    cr_assert_eq(channel_ack(ch, VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, &fd), EIO);
    cr_assert_eq(fd, -1);
    vhu_conn_free(ch);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), -ECONNRESET);
}

Test(frontend, bad_backend_requests_are_nacked_and_their_fds_closed)
{
    vhu_conn *ch = open_channel();
    /* REPLY_ACK on for the channel is decided at SET_BACKEND_REQ_FD time: re-open with it */
    vhu_conn_free(ch);
    vhu_frontend_free(f);
    vhu_conn_free(be);
    int sv[2];
    cr_assert_eq(sockpair(sv, false), 0);
    vhu_frontend_config fc = {.log = &logger, .name = "fe", .timeout_ms = 100};
    cr_assert_eq(vhu_frontend_new(&fc, sv[0], &f), 0);
    cr_assert_eq(vhu_conn_new(NULL, sv[1], &be), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(f, ALL_PF), 0);
    queue_u64(VHU_REQ_SET_BACKEND_REQ_FD, 0, -1);
    cr_assert_eq(vhu_frontend_set_backend_req_fd(f, &ops, NULL), 0);
    sent(VHU_REQ_SET_PROTOCOL_FEATURES, 0, NULL);
    vhu_msg q;
    sent(VHU_REQ_SET_BACKEND_REQ_FD, VHU_FLAG_NEED_REPLY, &q);
    cr_assert_eq(vhu_conn_new(NULL, vhu_msg_take_fd(&q, 0), &ch), 0);

    int before = cvmm_test_count_fds();
    vhu_msg m;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &m, memfd);
    m.payload.mmap.len = 0;
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    cr_assert_eq(vhu_conn_send(ch, &m), 0);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), -EBADMSG);
    cr_assert_eq(channel_ack(ch, VHU_BACKEND_REQ_SHMEM_MAP, NULL), EBADMSG);
    cr_assert_eq(cvmm_test_count_fds(), before, "the fd of the rejected request was closed");
    cr_assert_eq(seen_maps, 0);
    vhu_msg_init(&m, 42, VHU_FLAG_NEED_REPLY);
    cr_assert_eq(vhu_conn_send(ch, &m), 0);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), -ENOTSUP);
    cr_assert_eq(channel_ack(ch, 42, NULL), ENOTSUP);
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_UNMAP, &m, -1);
    m.payload.mmap.shmid = 1;
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    cr_assert_eq(vhu_conn_send(ch, &m), 0);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), 0);
    cr_assert_eq(channel_ack(ch, VHU_BACKEND_REQ_SHMEM_UNMAP, NULL), ENOENT, "the op's errno");
    sample_backend_req(VHU_BACKEND_REQ_VRING_CALL, &m, -1);
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    cr_assert_eq(vhu_conn_send(ch, &m), 0);
    cr_assert_eq(vhu_frontend_backend_serve(f, 100), 0);
    cr_assert_eq(channel_ack(ch, VHU_BACKEND_REQ_VRING_CALL, NULL), ENOTSUP, "no vring_call op");
    vhu_conn_free(ch);
}

Test(frontend, connect_to_a_path)
{
    vhu_frontend *c = NULL;
    cr_assert_eq(vhu_frontend_connect(NULL, NULL, &c), -EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    cr_assert_eq(vhu_frontend_connect(NULL, longp, &c), -ENAMETOOLONG);
    vhu_frontend_config fc = {.log = &logger};
    cr_assert_eq(vhu_frontend_connect(&fc, "/nonexistent/vhu.sock", &c), -ENOENT);
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vhu-test-%d.sock", getpid());
    unlink(path);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(ls, 1), 0);
    cr_assert_eq(vhu_frontend_connect(&fc, path, &c), 0);
    int a = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(a, 0);
    cr_assert_eq(vhu_frontend_set_owner(c), 0);
    vhu_hdr h;
    cr_assert_eq(read(a, &h, sizeof(h)), 12);
    cr_assert_eq(h.request, VHU_REQ_SET_OWNER);
    vhu_frontend_free(c);
    close(a);
    close(ls);
    unlink(path);
    cr_assert_eq(vhu_frontend_new(NULL, -1, &c), -EINVAL);
    vhu_frontend_free(NULL);
}

Test(frontend, bad_arguments_are_einval_and_send_nothing)
{
    negotiate(ALL_PF & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK));
    uint64_t v;
    int fd;
    vhu_inflight in = {0};
    vhu_shared_object o = {{0}};
    uint32_t rs;
    cr_assert_eq(vhu_frontend_get_vring_base(f, 0, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_set_vring_addr(f, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_get_config(f, 0, &v, 0, 0), -EINVAL);
    cr_assert_eq(vhu_frontend_get_config(f, 0, &v, VHU_CONFIG_DATA_MAX + 1, 0), -EINVAL);
    cr_assert_eq(vhu_frontend_set_config(f, 0, NULL, 4, 0), -EINVAL);
    cr_assert_eq(vhu_frontend_iotlb_msg(f, NULL, &v), -EINVAL);
    cr_assert_eq(vhu_frontend_create_crypto_session(f, NULL, 1, 1, &rs), -EINVAL);
    cr_assert_eq(vhu_frontend_create_crypto_session(f, &v, 9, 8, &rs), -EINVAL, "size > cap");
    cr_assert_eq(vhu_frontend_postcopy_advise(f, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_get_inflight_fd(f, 1, 1, NULL, &fd), -EINVAL);
    cr_assert_eq(vhu_frontend_set_inflight_fd(f, &in, -1), -EINVAL);
    cr_assert_eq(vhu_frontend_get_status(f, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_get_shared_object(f, NULL, &fd), -EINVAL);
    cr_assert_eq(vhu_frontend_get_shared_object(f, &o, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_set_device_state_fd(f, 0, 0, -1, &fd), -EINVAL);
    cr_assert_eq(vhu_frontend_get_shmem_config(f, NULL), -EINVAL);
    cr_assert_eq(vhu_frontend_rem_mem_reg(f, NULL), -EINVAL);
    sent_nothing();
    /* a crypto reply larger than the caller's buffer */
    vhu_msg r;
    vhu_msg_init(&r, VHU_REQ_CREATE_CRYPTO_SESSION, VHU_FLAG_REPLY);
    uint8_t big[32] = {0};
    vhu_msg_set_payload(&r, big, sizeof(big));
    queue_reply(&r);
    uint8_t session[16] = {1};
    cr_assert_eq(vhu_frontend_create_crypto_session(f, session, 4, sizeof(session), &rs), -ENOSPC);
    cr_assert_eq(session[0], 1, "untouched");
    /* channel constructor */
    vhu_backend_channel *ch;
    cr_assert_eq(vhu_backend_channel_new(NULL, -1, &ch), -EINVAL);
    int d = dup(memfd);
    cr_assert_eq(vhu_backend_channel_new(NULL, d, NULL), -EINVAL);
    cr_assert_not(fd_is_open(d), "taken on failure too");
    vhu_backend_channel_free(NULL);
}
