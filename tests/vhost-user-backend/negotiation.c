/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Negotiation, NEED_REPLY everywhere, queue count, slots, status, config space, reset. */
#include <sys/socket.h>

#include "vub_test.h"

TestSuite(negotiation, .init = vt_init, .fini = vt_fini, .timeout = 120);

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

Test(negotiation, full_negotiation_with_need_reply)
{
    uint64_t f, p, n;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(f & VT_DEV_FEATURES, VT_DEV_FEATURES);
    cr_assert(f & (1ull << VHU_F_PROTOCOL_FEATURES));
    cr_assert(f & (1ull << VHU_F_LOG_ALL));
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    uint64_t must = PB(MQ) | PB(REPLY_ACK) | PB(CONFIG) | PB(BACKEND_REQ) | PB(CONFIGURE_MEM_SLOTS) | PB(STATUS) |
                    PB(RESET_DEVICE) | PB(LOG_SHMFD) | PB(DEVICE_STATE) | PB(GPA_ADDRESSES);
    cr_assert_eq(p & must, must);
    cr_assert_eq(p & PB(SHMEM), 0, "F_SHMEM offered by a device without get_shmem_config");
    cr_assert_eq(p & (PB(INFLIGHT_SHMFD) | PB(INBAND_NOTIFICATIONS) | PB(PAGEFAULT) | PB(CRYPTO_SESSION)), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(vt.fe, p), 0);
    /* from here on every request without a reply carries NEED_REPLY and waits for the ack */
    cr_assert_eq(vhu_frontend_set_owner(vt.fe), 0);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, f), 0);
    cr_assert_eq(atomic_load(&vt.dev.acked), f);
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0);
    cr_assert_eq(n, VT_QUEUES);
    cr_assert_eq(vhu_frontend_get_max_mem_slots(vt.fe, &n), 0);
    cr_assert_eq(n, 509);
    cr_assert_eq(vub_daemon_features(vt.d), f);
}

Test(negotiation, set_features_with_bits_not_offered_is_refused)
{
    uint64_t f;
    vt_negotiate(0, VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, f | (1ull << 50)), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, f), 0); /* the connection goes on */
}

Test(negotiation, protocol_features_not_offered_close_the_connection)
{
    uint64_t p;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    int rc = vhu_frontend_set_protocol_features(vt.fe, p | PB(PAGEFAULT));
    (void)rc; /* without REPLY_ACK known yet the call may succeed locally; the back-end closes */
    uint64_t f;
    cr_assert_neq(vhu_frontend_get_features(vt.fe, &f), 0);
    /* the daemon accepts the next front-end */
    vhu_frontend_free(vt.fe);
    vt_connect();
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
}

Test(negotiation, vring_enable_before_set_features_is_accepted)
{
    uint64_t p;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(vt.fe, p & VT_PROTO_DEFAULT), 0);
    /* QEMU 7.2 sends SET_VRING_ENABLE before SET_FEATURES */
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 1, true), 0);
    cr_assert_eq(atomic_load(&vt.dev.last_enabled[1]), 1);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, (1ull << VHU_F_PROTOCOL_FEATURES) | (1ull << VUB_F_VERSION_1)), 0);
    cr_assert_eq(atomic_load(&vt.dev.last_enabled[1]), 1);
    cr_assert_eq(atomic_load(&vt.dev.last_enabled[0]), 0); /* with PROTOCOL_FEATURES the others stay off */
}

Test(negotiation, set_features_without_protocol_features_enables_every_ring)
{
    cr_assert_eq(vhu_frontend_set_owner(vt.fe), 0);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, 1ull << VUB_F_VERSION_1), 0);
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0); /* a round trip: SET_FEATURES was handled */
    for (unsigned i = 0; i < VT_QUEUES; i++)
        cr_assert_eq(atomic_load(&vt.dev.last_enabled[i]), 1, "ring %u", i);
}

Test(negotiation, vring_index_out_of_range_is_refused)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, VT_QUEUES, 64), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 255, true), -EREMOTEIO);
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0);
}

Test(negotiation, bad_vring_sizes_are_refused)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 100), -EREMOTEIO); /* split: power of two */
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 512), -EREMOTEIO); /* > max_queue_size 256 */
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 256), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, 0x10000), -EREMOTEIO); /* split base is 16 bits */
}

Test(negotiation, status_is_stored_and_returned)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    uint8_t s = 0xff;
    cr_assert_eq(vhu_frontend_get_status(vt.fe, &s), 0);
    cr_assert_eq(s, 0);
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x0f), 0);
    cr_assert_eq(vhu_frontend_get_status(vt.fe, &s), 0);
    cr_assert_eq(s, 0x0f);
}

Test(negotiation, reset_device_resets_rings_features_and_device)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x0f), 0);
    cr_assert_eq(vhu_frontend_reset_device(vt.fe), 0);
    cr_assert_eq(atomic_load(&vt.dev.stopped[0]), 1);
    cr_assert_eq(atomic_load(&vt.dev.resets), 1);
    uint8_t s;
    cr_assert_eq(vhu_frontend_get_status(vt.fe, &s), 0);
    cr_assert_eq(s, 0);
    /* re-initialise: the ring works again */
    cr_assert_eq(vhu_frontend_set_features(vt.fe, (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES)), 0);
    vt_ring_free(&r);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    uint16_t h = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 8);
    vt_ring_free(&r);
}

Test(negotiation, reset_owner_disables_every_ring)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 2, true), 0);
    cr_assert_eq(vhu_frontend_reset_owner(vt.fe), 0);
    cr_assert_eq(atomic_load(&vt.dev.last_enabled[2]), 0);
}

Test(negotiation, get_config_reads_the_device_config_space)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    uint8_t buf[VT_CONFIG_SIZE];
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 0, buf, sizeof(buf), 0), 0);
    for (unsigned i = 0; i < VT_CONFIG_SIZE; i++)
        cr_assert_eq(buf[i], 0x10 + i);
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 12, buf, 4, 0), 0);
    cr_assert_eq(buf[0], 0x10 + 12);
}

Test(negotiation, config_access_out_of_range_gets_an_error_reply)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    uint8_t buf[32];
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 12, buf, 8, 0), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_get_config(vt.fe, VT_CONFIG_SIZE, buf, 1, 0), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 0, buf, 32, 0), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_set_config(vt.fe, 14, buf, 4, 0), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 0, buf, 4, 0), 0); /* still serving */
}

Test(negotiation, set_config_writes_and_the_device_may_refuse)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    uint8_t in[4] = {1, 2, 3, 4}, out[4];
    cr_assert_eq(vhu_frontend_set_config(vt.fe, 8, in, 4, 0), 0);
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 8, out, 4, 0), 0);
    cr_assert_arr_eq(in, out, 4);
    cr_assert_eq(vhu_frontend_set_config(vt.fe, 0, in, 4, 0), -EREMOTEIO); /* read-only bytes */
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 0, out, 1, 0), 0);
    cr_assert_eq(out[0], 0x10);
}

TestSuite(negotiation_min, .init = vt_init_min, .fini = vt_fini, .timeout = 120);

Test(negotiation_min, device_without_config_ops_offers_no_config_and_refuses_it)
{
    uint64_t p;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(p & (PB(CONFIG) | PB(SHMEM) | PB(DEVICE_STATE)), 0);
    vt_negotiate(0, VT_PROTO_DEFAULT);
    uint8_t buf[4];
    /* CONFIG not negotiated: refused before the handler, with the empty reply */
    cr_assert_neq(vhu_frontend_get_config(vt.fe, 0, buf, 4, 0), 0);
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0);
}

Test(negotiation, a_failing_features_acked_op_is_an_error_reply)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    atomic_store(&vt.dev.features_error, -ENOTSUP);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, 1ull << VUB_F_VERSION_1), -EREMOTEIO);
    atomic_store(&vt.dev.features_error, 0);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, 1ull << VUB_F_VERSION_1), 0);
}

Test(negotiation, a_failing_queue_started_op_leaves_the_ring_stopped)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    atomic_store(&vt.dev.start_error, -EIO);
    vt_ring_addrs(&r, 0);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 64, .desc_gpa = r.desc, .driver_gpa = r.driver, .device_gpa = r.device};
    cr_assert_eq(vq_mock_new(vt.map, &mc, &r.mk), 0);
    vhu_vring_addr a = {
        .index = 0, .desc = VT_UVA_BASE + r.desc, .avail = VT_UVA_BASE + r.driver, .used = VT_UVA_BASE + r.device};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 64), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
    int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick), -EREMOTEIO);
    uint16_t h;
    vq_mock_buf b = {.gpa = 0x80000, .len = 8, .write = true};
    cr_assert_eq(vq_mock_add(r.mk, &b, 1, &h), 0);
    uint64_t one = 1;
    cr_assert_eq(write(kick, &one, 8), 8);
    vt_sleep_ms(30);
    uint32_t len;
    cr_assert_eq(vq_mock_used(r.mk, &h, &len), 0, "a ring whose start failed was processed");
    atomic_store(&vt.dev.start_error, 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick), 0);
    cr_assert_eq(vt_wait_used(&r, h), 8);
    close(kick);
    vq_mock_free(r.mk);
}

static void init_off(void)
{
    vt_setup(&(struct vt_opts){.no_frontend = true});
    vt.info.protocol_features_off = PB(CONFIGURE_MEM_SLOTS) | PB(STATUS);
    vt_connect();
}
TestSuite(negotiation_off, .init = init_off, .fini = vt_fini, .timeout = 120);

Test(negotiation_off, a_device_can_withhold_library_protocol_features)
{
    uint64_t p;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(p & (PB(CONFIGURE_MEM_SLOTS) | PB(STATUS)), 0);
    cr_assert(p & PB(REPLY_ACK));
}

/* A front-end that reconnects and goes on as if the previous negotiation still held (QEMU 7.2's
 * vhost-user-rng in server mode): the previous connection's protocol features carry over ... */
Test(negotiation, a_front_end_that_does_not_renegotiate_keeps_the_previous_features)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    for (int i = 0; i < VT_WAIT_MS / 10 && atomic_load(&vt.dev.resets) == 0; i++)
        vt_sleep_ms(10);
    vt_connect();
    /* our front-end would refuse to send GET_STATUS unnegotiated: tell it what QEMU believes */
    vhu_msg m, rep;
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, 0, (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES));
    cr_assert_eq(vhu_frontend_request(vt.fe, &m, NULL), 0);
    vhu_msg_init(&m, VHU_REQ_GET_STATUS, 0);
    cr_assert_eq(vhu_frontend_request(vt.fe, &m, &rep), -EPROTO); /* the front-end's own check */
    int fd = vhu_frontend_fd(vt.fe);
    vhu_hdr h = {.request = VHU_REQ_GET_STATUS, .flags = VHU_VERSION};
    cr_assert_eq(send(fd, &h, 12, MSG_NOSIGNAL), 12);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, VT_WAIT_MS), 1);
    uint8_t buf[20];
    cr_assert_eq(recv(fd, buf, sizeof(buf), 0), 20, "GET_STATUS answered, the connection kept");
    cr_assert_eq(vub_daemon_protocol_features(vt.d) & PB(STATUS), PB(STATUS));
}

/* ... but a front-end that starts negotiating gets a clean slate. */
Test(negotiation, a_front_end_that_negotiates_again_starts_clean)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    for (int i = 0; i < VT_WAIT_MS / 10 && atomic_load(&vt.dev.resets) == 0; i++)
        vt_sleep_ms(10);
    vt_connect();
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(vub_daemon_protocol_features(vt.d), 0);
}
