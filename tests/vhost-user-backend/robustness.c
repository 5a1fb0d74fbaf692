/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Hostile and unlucky front-ends: malformed, truncated, oversized and wrong-fd-count messages, disconnects
 * in the middle of a message, reconnects, shutdown while connected, the other ways to get a front-end
 * (--fd, client mode) and signals.  Every test checks that no fd leaks (.fini). */
#include <ev.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "vub_test.h"
#include "raw_peer.h"

TestSuite(robustness, .init = vt_init, .fini = vt_fini, .timeout = 120);

/* A raw front-end that negotiated REPLY_ACK. */
static int raw_negotiated(void)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    int fd = raw_connect();
    uint64_t v = VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
    raw_send(fd, VHU_REQ_SET_PROTOCOL_FEATURES, 0, 8, &v, 8, NULL, 0);
    return fd;
}

static uint64_t raw_ack(int fd, uint32_t want_req)
{
    vhu_hdr h;
    uint64_t v = 0;
    cr_assert_eq(raw_recv(fd, &h, &v, sizeof(v)), 8, "no ack for request %u", want_req);
    cr_assert_eq(h.request, want_req);
    cr_assert(h.flags & VHU_FLAG_REPLY);
    return v;
}

static void still_serving(int fd)
{
    vhu_hdr h;
    uint64_t v;
    raw_send(fd, VHU_REQ_GET_FEATURES, 0, 0, NULL, 0, NULL, 0);
    cr_assert_eq(raw_recv(fd, &h, &v, sizeof(v)), 8);
    cr_assert_eq(h.request, VHU_REQ_GET_FEATURES);
    cr_assert(v & (1ull << VHU_F_PROTOCOL_FEATURES));
}

static void serves_a_new_front_end(void)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_connect();
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &n), 0);
    cr_assert(n & (1ull << VHU_F_PROTOCOL_FEATURES));
}

Test(robustness, unknown_request_gets_an_error_ack_and_the_connection_goes_on)
{
    int fd = raw_negotiated();
    raw_send(fd, 99, VHU_FLAG_NEED_REPLY, 0, NULL, 0, NULL, 0);
    cr_assert_neq(raw_ack(fd, 99), 0);
    raw_send(fd, VHU_REQ_GPU_SET_SOCKET, VHU_FLAG_NEED_REPLY, 0, NULL, 0, NULL, 0); /* fd missing as well */
    cr_assert_neq(raw_ack(fd, VHU_REQ_GPU_SET_SOCKET), 0);
    still_serving(fd);
    close(fd);
}

Test(robustness, wrong_payload_size_gets_an_error_ack)
{
    int fd = raw_negotiated();
    uint32_t half = 0;
    raw_send(fd, VHU_REQ_SET_VRING_NUM, VHU_FLAG_NEED_REPLY, 4, &half, 4, NULL, 0);
    cr_assert_eq(raw_ack(fd, VHU_REQ_SET_VRING_NUM), EBADMSG);
    uint64_t big[4] = {0};
    raw_send(fd, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY, 32, big, 32, NULL, 0);
    cr_assert_eq(raw_ack(fd, VHU_REQ_SET_FEATURES), EBADMSG);
    still_serving(fd);
    close(fd);
}

Test(robustness, wrong_fd_counts_get_an_error_ack_and_the_fds_are_closed)
{
    int fd = raw_negotiated();
    int e1 = eventfd(0, EFD_CLOEXEC), e2 = eventfd(0, EFD_CLOEXEC);
    uint64_t idx = 0; /* SET_VRING_KICK without NOFD bit and without fd */
    raw_send(fd, VHU_REQ_SET_VRING_KICK, VHU_FLAG_NEED_REPLY, 8, &idx, 8, NULL, 0);
    cr_assert_eq(raw_ack(fd, VHU_REQ_SET_VRING_KICK), EBADF);
    idx = VHU_VRING_NOFD_MASK; /* NOFD bit but an fd anyway */
    int one[1] = {e1};
    raw_send(fd, VHU_REQ_SET_VRING_CALL, VHU_FLAG_NEED_REPLY, 8, &idx, 8, one, 1);
    cr_assert_eq(raw_ack(fd, VHU_REQ_SET_VRING_CALL), EBADF);
    /* SET_MEM_TABLE announcing 2 regions with 1 fd */
    vhu_mem_table t = {.nregions = 2};
    t.regions[0] = (vhu_mem_region){.guest_addr = 0, .size = 4096, .user_addr = 0x1000};
    t.regions[1] = (vhu_mem_region){.guest_addr = 8192, .size = 4096, .user_addr = 0x3000};
    raw_send(fd, VHU_REQ_SET_MEM_TABLE, VHU_FLAG_NEED_REPLY, 8 + 64, &t, 8 + 64, one, 1);
    cr_assert_eq(raw_ack(fd, VHU_REQ_SET_MEM_TABLE), EBADF);
    /* more fds than any message may carry: the kernel truncates, the message is refused */
    int many[12];
    for (int i = 0; i < 12; i++)
        many[i] = i % 2 ? e1 : e2;
    raw_send(fd, VHU_REQ_SET_LOG_FD, VHU_FLAG_NEED_REPLY, 0, NULL, 0, many, 12);
    cr_assert_eq(raw_ack(fd, VHU_REQ_SET_LOG_FD), EBADF);
    still_serving(fd);
    close(e1);
    close(e2);
    close(fd);
}

Test(robustness, memory_table_with_an_unmappable_fd_is_refused)
{
    int fd = raw_negotiated();
    int e = eventfd(0, EFD_CLOEXEC);
    vhu_mem_table t = {.nregions = 1};
    t.regions[0] = (vhu_mem_region){.guest_addr = 0, .size = 1 << 20, .user_addr = 0x10000};
    raw_send(fd, VHU_REQ_SET_MEM_TABLE, VHU_FLAG_NEED_REPLY, 8 + 32, &t, 8 + 32, &e, 1);
    cr_assert_neq(raw_ack(fd, VHU_REQ_SET_MEM_TABLE), 0);
    still_serving(fd);
    close(e);
    close(fd);
}

Test(robustness, oversized_message_closes_the_connection_and_the_next_one_is_served)
{
    int fd = raw_negotiated();
    raw_send(fd, VHU_REQ_SET_CONFIG, 0, 1 << 20, NULL, 0, NULL, 0);
    cr_assert(raw_closed(fd));
    close(fd);
    serves_a_new_front_end();
}

Test(robustness, bad_version_closes_the_connection)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    int fd = raw_connect();
    char b[12] = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}; /* version 2 */
    cr_assert_eq(send(fd, b, 12, MSG_NOSIGNAL), 12);
    cr_assert(raw_closed(fd));
    close(fd);
    serves_a_new_front_end();
}

Test(robustness, reply_owed_without_error_form_closes_the_connection)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    int fd = raw_connect();
    uint64_t junk = 1;
    raw_send(fd, VHU_REQ_GET_FEATURES, 0, 8, &junk, 8, NULL, 0); /* GET_FEATURES has no payload */
    cr_assert(raw_closed(fd));
    close(fd);
    serves_a_new_front_end();
}

Test(robustness, disconnect_in_the_middle_of_a_message_then_reconnect)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    for (int i = 0; i < VT_WAIT_MS / 10 && atomic_load(&vt.dev.resets) == 0; i++)
        vt_sleep_ms(10);
    cr_assert_eq(atomic_load(&vt.dev.resets), 1, "the device is reset when the front-end goes");
    cr_assert_eq(atomic_load(&vt.dev.stopped[0]), 1);
    int fd = raw_connect();
    char part[12 + 3];
    vhu_hdr h = {.request = VHU_REQ_SET_FEATURES, .flags = VHU_VERSION, .size = 8};
    memcpy(part, &h, 12);
    memset(part + 12, 0, 3);
    cr_assert_eq(send(fd, part, sizeof(part), MSG_NOSIGNAL), (ssize_t)sizeof(part));
    vt_sleep_ms(20);
    close(fd); /* 5 payload bytes never come */
    vt_ring_free(&r);
    vmem_map_free(vt.map);
    vt.map = NULL;
    for (unsigned i = 0; i < vt.nregs; i++)
        vmem_region_unref(vt.regs[i]);
    vt.nregs = 0;
    /* a new front-end sets everything up again and rings work */
    vt_connect();
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    uint16_t hd = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, hd), 8);
    vt_ring_free(&r);
}

Test(robustness, shutdown_while_connected_with_running_rings)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    uint16_t hd = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    vt_wait_used(&r, hd);
    vt_stop_daemon(); /* vub_daemon_stop from this thread, run returns, free */
    cr_assert_eq(atomic_load(&vt.dev.stopped[0]), 1);
    cr_assert_eq(atomic_load(&vt.dev.resets), 1);
    uint64_t f;
    cr_assert_neq(vhu_frontend_get_features(vt.fe, &f), 0, "the connection is closed");
    vt_ring_free(&r);
}

Test(robustness, flood_of_kicks_and_messages_with_a_failing_device)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    atomic_store(&vt.dev.kick_error, -EIO); /* logged once, not per kick */
    for (int i = 0; i < 200; i++) {
        vt_kick(&r);
        uint64_t n;
        cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0);
    }
    atomic_store(&vt.dev.kick_error, 0);
    uint16_t hd = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, hd), 8);
    vt_ring_free(&r);
}

/* ---- other ways to get a front-end ---- */

static void init_none(void) { vt_setup(&(struct vt_opts){.no_frontend = true}); }
TestSuite(robustness_modes, .init = init_none, .fini = vt_fini, .timeout = 120);

static void *run_thread(void *arg)
{
    (void)vub_daemon_run(arg);
    return NULL;
}

Test(robustness_modes, serve_fd_with_a_connected_socket)
{
    vt_stop_daemon();
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &vt.info, .ctx = &vt.dev, .log = &vt.log};
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    cr_assert_eq(vub_daemon_serve_fd(vt.d, sv[1]), 0);
    cr_assert_eq(vub_daemon_serve_fd(vt.d, dup(sv[0])), -EBUSY);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_thread, vt.d), 0);
    vhu_frontend_config fc = {.log = &vt.log, .timeout_ms = VT_WAIT_MS};
    cr_assert_eq(vhu_frontend_new(&fc, sv[0], &vt.fe), 0);
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &n), 0);
    vhu_frontend_free(vt.fe); /* a connected --fd serves one front-end: run returns */
    vt.fe = NULL;
    pthread_join(th, NULL);
}

Test(robustness_modes, serve_fd_refuses_what_is_not_a_socket)
{
    vt_stop_daemon();
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &vt.info, .ctx = &vt.dev, .log = &vt.log};
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    int e = eventfd(0, EFD_CLOEXEC);
    cr_assert_eq(vub_daemon_serve_fd(vt.d, e), -EBADF); /* taken and closed */
    cr_assert_eq(vub_daemon_serve_fd(vt.d, -1), -EBADF);
}

Test(robustness_modes, client_mode_connects_to_a_listening_front_end_and_reconnects)
{
    vt_stop_daemon();
    char path[120];
    snprintf(path, sizeof(path), "%s/fe", vt.dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &vt.info, .ctx = &vt.dev, .log = &vt.log};
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    cr_assert_eq(vub_daemon_connect(vt.d, path), 0); /* nobody listens yet: it retries */
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_thread, vt.d), 0);
    vt_sleep_ms(150);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 1), 0);
    for (int round = 0; round < 2; round++) {
        struct pollfd pf = {.fd = lfd, .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, VT_WAIT_MS), 1);
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        cr_assert_geq(c, 0);
        vhu_frontend_config fc = {.log = &vt.log, .timeout_ms = VT_WAIT_MS};
        cr_assert_eq(vhu_frontend_new(&fc, c, &vt.fe), 0);
        uint64_t n;
        cr_assert_eq(vhu_frontend_get_features(vt.fe, &n), 0);
        vhu_frontend_free(vt.fe); /* the daemon connects again */
        vt.fe = NULL;
    }
    vub_daemon_stop(vt.d);
    pthread_join(th, NULL);
    close(lfd);
    unlink(path);
}

Test(robustness_modes, serve_once_returns_after_the_first_front_end)
{
    vt_stop_daemon();
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &vt.info, .ctx = &vt.dev, .log = &vt.log, .serve_once = true};
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    cr_assert_eq(vub_daemon_listen(vt.d, vt.path), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_thread, vt.d), 0);
    vt_connect();
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &n), 0);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    pthread_join(th, NULL); /* returns by itself */
}

Test(robustness_modes, sigterm_stops_a_daemon_that_handles_signals)
{
    pthread_t th;
    vt_start_signal_daemon(&th);
    vt_connect();
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &n), 0);
    kill(getpid(), SIGTERM);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&vt.dev.resets), 1);
    vt_stop_daemon();
    ev_loop_destroy(ev_default_loop(0)); /* the program's loop: the daemon borrowed it */
}

Test(robustness_modes, bad_configurations_are_refused)
{
    vub_daemon *d;
    vub_device_info info = {.num_queues = 2};
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &info, .log = &vt.log};
    cr_assert_eq(vub_daemon_new(NULL, &d), -EINVAL);
    cr_assert_eq(vub_daemon_new(&(vub_daemon_config){.ops = &tdev_ops, .log = &vt.log}, &d), -EINVAL);
    vub_device_ops noop = {0};
    cr_assert_eq(vub_daemon_new(&(vub_daemon_config){.ops = &noop, .info = &info, .log = &vt.log}, &d), -EINVAL);
    info.num_queues = 0;
    cr_assert_eq(vub_daemon_new(&cfg, &d), -EINVAL);
    info.num_queues = 257;
    cr_assert_eq(vub_daemon_new(&cfg, &d), -EINVAL);
    info.num_queues = 2;
    info.max_queue_size = 65536;
    cr_assert_eq(vub_daemon_new(&cfg, &d), -EINVAL);
    info.max_queue_size = 0;
    uint16_t map[2] = {0, 3};
    info.queue_worker = map;
    cfg.nworkers = 2;
    cr_assert_eq(vub_daemon_new(&cfg, &d), -EINVAL); /* worker 3 of 2 */
    cfg.nworkers = 65;
    cr_assert_eq(vub_daemon_new(&cfg, &d), -EINVAL);
    cfg.nworkers = 0; /* derived from the map: 4 workers */
    cr_assert_eq(vub_daemon_new(&cfg, &d), 0);
    cr_assert_eq(vub_daemon_run(d), -EPROTO); /* nothing to serve */
    cr_assert_eq(vub_daemon_listen(d, ""), -EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    cr_assert_eq(vub_daemon_listen(d, longp), -EINVAL);
    cr_assert_null(vub_daemon_queue(d, 2));
    cr_assert_not_null(vub_daemon_queue(d, 1));
    cr_assert_eq(vub_queue_worker(vub_daemon_queue(d, 1)), 3);
    vub_daemon_free(d);
    vub_daemon_free(NULL);
}

Test(robustness, vring_indices_out_of_range_never_reach_a_queue)
{
    int fd = raw_negotiated();
    uint64_t v = 200 | VHU_VRING_NOFD_MASK;
    raw_send(fd, VHU_REQ_SET_VRING_KICK, VHU_FLAG_NEED_REPLY, 8, &v, 8, NULL, 0);
    cr_assert_neq(raw_ack(fd, VHU_REQ_SET_VRING_KICK), 0);
    raw_send(fd, VHU_REQ_SET_VRING_CALL, VHU_FLAG_NEED_REPLY, 8, &v, 8, NULL, 0);
    cr_assert_neq(raw_ack(fd, VHU_REQ_SET_VRING_CALL), 0);
    vhu_vring_state st = {.index = VT_QUEUES, .num = 1};
    raw_send(fd, VHU_REQ_SET_VRING_ENABLE, VHU_FLAG_NEED_REPLY, 8, &st, 8, NULL, 0);
    cr_assert_neq(raw_ack(fd, VHU_REQ_SET_VRING_ENABLE), 0);
    vhu_vring_addr a = {.index = 1000};
    raw_send(fd, VHU_REQ_SET_VRING_ADDR, VHU_FLAG_NEED_REPLY, sizeof(a), &a, sizeof(a), NULL, 0);
    cr_assert_neq(raw_ack(fd, VHU_REQ_SET_VRING_ADDR), 0);
    still_serving(fd);
    /* GET_VRING_BASE owes a reply that has no error form: the connection is closed */
    raw_send(fd, VHU_REQ_GET_VRING_BASE, 0, 8, &st, 8, NULL, 0);
    cr_assert(raw_closed(fd));
    close(fd);
    serves_a_new_front_end();
}

/* ---- random messages ---- */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void drain(int fd)
{
    char buf[8192];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

static bool send_frame(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    return raw_sendmsg(fd, buf, len, fds, nfds, MSG_DONTWAIT) == (ssize_t)len;
}

/* A fresh raw connection that negotiated a random subset of what the daemon offers. */
static int fuzz_connect(uint64_t offered)
{
    int fd = raw_connect();
    uint64_t p = offered & (rnd() % 4 ? ~0ull : rnd()) & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_INBAND_NOTIFICATIONS);
    if (rnd() % 8) /* mostly front-end virtual addresses, as QEMU sends them */
        p &= ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_GPA_ADDRESSES);
    raw_send(fd, VHU_REQ_SET_PROTOCOL_FEATURES, 0, 8, &p, 8, NULL, 0);
    uint64_t f = (rnd() % 2 ? 1ull << VHU_F_PROTOCOL_FEATURES : 0) | (1ull << VUB_F_VERSION_1) |
                 (rnd() % 4 == 0 ? 1ull << VUB_F_RING_PACKED : 0) | (rnd() % 2 ? 1ull << VUB_F_RING_EVENT_IDX : 0);
    raw_send(fd, VHU_REQ_SET_FEATURES, 0, 8, &f, 8, NULL, 0);
    return fd;
}

static void fuzz_payload(uint32_t req, uint8_t *p, uint32_t size)
{
    for (uint32_t k = 0; k < size; k++)
        p[k] = (uint8_t)rnd();
    if (req == VHU_REQ_SET_LOG_BASE && size == 16) {
        vhu_log l = {.size = rnd() % 4 ? 4096 : rnd() % (1 << 22), .offset = rnd() % 2 ? 0 : rnd() % 8192};
        memcpy(p, &l, 16);
        return;
    }
    if (size >= 8 && rnd() % 4) { /* small indices and counts reach the handlers */
        uint32_t a = (uint32_t)(rnd() % 5), b = (uint32_t)(rnd() % 3 ? 64 : rnd() % 70000);
        memcpy(p, &a, 4);
        memcpy(p + 4, &b, 4);
    }
    if (req == VHU_REQ_SET_VRING_ENABLE && size == 8 && rnd() % 8) {
        uint32_t v = (uint32_t)(rnd() % 2);
        memcpy(p + 4, &v, 4);
    }
    if (req == VHU_REQ_GET_VRING_BASE && size == 8 && rnd() % 8)
        memset(p + 4, 0, 4);
    if ((req == VHU_REQ_GET_CONFIG || req == VHU_REQ_SET_CONFIG) && size >= 12 && rnd() % 4) {
        uint32_t off = (uint32_t)(rnd() % 20), len = size - 12, fl = (uint32_t)(rnd() % 2);
        memcpy(p, &off, 4);
        memcpy(p + 4, &len, 4);
        memcpy(p + 8, &fl, 4);
    }
    if ((req == VHU_REQ_SET_VRING_KICK || req == VHU_REQ_SET_VRING_CALL || req == VHU_REQ_SET_VRING_ERR) && size == 8) {
        uint64_t v = rnd() % 5 | (rnd() % 3 == 0 ? VHU_VRING_NOFD_MASK : 0);
        memcpy(p, &v, 8);
    }
    if (req == VHU_REQ_SET_MEM_TABLE && size >= 8 + 32) {
        uint32_t n = (size - 8) / 32;
        memcpy(p, &n, 4);
        for (uint32_t k = 0; k < n; k++) {
            vhu_mem_region r = {
                .guest_addr = (uint64_t)k << 20, .size = 1 << 20, .user_addr = VT_UVA_BASE + ((uint64_t)k << 20)};
            if (rnd() % 4 == 0)
                r.size = rnd() % (2 << 20);
            memcpy(p + 8 + 32 * k, &r, 32);
        }
    }
    if ((req == VHU_REQ_ADD_MEM_REG || req == VHU_REQ_REM_MEM_REG) && size >= 40) {
        uint64_t gpa = (rnd() % 4) << 20;
        vhu_mem_region r = {.guest_addr = gpa, .size = 1 << 20, .user_addr = VT_UVA_BASE + gpa};
        memcpy(p + 8, &r, 32);
    }
    if (req == VHU_REQ_SET_VRING_ADDR && size == 40 && rnd() % 2) {
        vhu_vring_addr a = {.index = (uint32_t)(rnd() % 5),
                            .desc = VT_UVA_BASE + 0x10000,
                            .avail = VT_UVA_BASE + 0x14000 + (rnd() % 2),
                            .used = VT_UVA_BASE + 0x18000};
        memcpy(p, &a, 40);
    }
}

Test(robustness, random_messages_never_crash_or_hang_the_daemon)
{
    uint64_t offered;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &offered), 0);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    int mfd = memfd_create("fuzz", MFD_CLOEXEC), efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(ftruncate(mfd, 4 << 20), 0);
    static uint8_t junk[256 << 10]; /* rings full of garbage for the device to pop */
    for (size_t k = 0; k < sizeof(junk); k++)
        junk[k] = (uint8_t)rnd();
    cr_assert_eq(pwrite(mfd, junk, sizeof(junk), 0x10000), (ssize_t)sizeof(junk));
    int fd = fuzz_connect(offered), reconnects = 0;
    static uint8_t frame[12 + 4096];
    for (int i = 0; i < 6000; i++) {
        static const uint32_t hot[] = {
            VHU_REQ_SET_MEM_TABLE,  VHU_REQ_ADD_MEM_REG,    VHU_REQ_REM_MEM_REG,      VHU_REQ_SET_VRING_NUM,
            VHU_REQ_SET_VRING_ADDR, VHU_REQ_SET_VRING_BASE, VHU_REQ_GET_VRING_BASE,   VHU_REQ_SET_VRING_KICK,
            VHU_REQ_SET_VRING_CALL, VHU_REQ_SET_VRING_ERR,  VHU_REQ_SET_VRING_ENABLE, VHU_REQ_SET_FEATURES,
            VHU_REQ_GET_CONFIG,     VHU_REQ_SET_CONFIG,     VHU_REQ_RESET_DEVICE,     VHU_REQ_SET_STATUS,
            VHU_REQ_SET_LOG_BASE,   VHU_REQ_SET_VRING_KICK, VHU_REQ_SET_VRING_ADDR,   VHU_REQ_SET_MEM_TABLE};
        uint32_t req = rnd() % 5 ? hot[rnd() % CVMM_ARRAY_SIZE(hot)] : (uint32_t)(rnd() % 46);
        if (rnd() % 100 == 0)
            req = (uint32_t)rnd();
        const vhu_msg_rule *rule = vhu_req_rule(req);
        uint32_t size = (uint32_t)(rnd() % 64);
        unsigned nfds = (unsigned)(rnd() % 3);
        if (rule && rnd() % 10) { /* mostly well-formed, so the handlers run */
            uint32_t hi = rule->size_max < 300 ? rule->size_max : 300;
            size = rule->size_min + (hi > rule->size_min ? (uint32_t)(rnd() % (hi - rule->size_min + 1)) : 0);
            if (req == VHU_REQ_SET_MEM_TABLE)
                size = 8 + 32 * (uint32_t)(1 + rnd() % 3);
            if (req == VHU_REQ_ADD_MEM_REG || req == VHU_REQ_REM_MEM_REG)
                size = 40;
            if (req == VHU_REQ_GET_CONFIG || req == VHU_REQ_SET_CONFIG)
                size = 12 + (uint32_t)(rnd() % 24);
            nfds = rule->fds_min + (rule->fds_max > rule->fds_min ? (unsigned)(rnd() % 2) : 0);
            if (req == VHU_REQ_SET_MEM_TABLE)
                nfds = (size - 8) / 32;
        }
        uint32_t flags = VHU_VERSION | ((rnd() % 2) ? VHU_FLAG_NEED_REPLY : 0);
        if (rnd() % 200 == 0)
            flags = (uint32_t)rnd();
        vhu_hdr h = {.request = req, .flags = flags, .size = size};
        memcpy(frame, &h, 12);
        fuzz_payload(req, frame + 12, size);
        int fds[3] = {rnd() % 4 ? mfd : efd, rnd() % 2 ? mfd : efd, efd};
        if (nfds > 3)
            nfds = 3;
        if (!send_frame(fd, frame, 12 + size, fds, nfds) || rnd() % 300 == 0) {
            close(fd);
            fd = fuzz_connect(offered);
            reconnects++;
            continue;
        }
        if (rnd() % 8 == 0) { /* kick whatever ring may run */
            vt_sleep_ms(1);
        }
        drain(fd);
        char c;
        if (recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0) { /* the daemon closed it */
            close(fd);
            fd = fuzz_connect(offered);
            reconnects++;
        }
    }
    close(fd);
    close(mfd);
    close(efd);
    cr_assert_gt(reconnects, 0);
    /* still a working back-end */
    vt_connect();
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    uint16_t hd = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, hd), 8);
    vt_ring_free(&r);
}

Test(robustness_modes, cmdline_serve_listens_or_adopts_the_fd)
{
    vt_stop_daemon();
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &vt.info, .ctx = &vt.dev, .log = &vt.log};
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    char sp[140];
    snprintf(sp, sizeof(sp), "--socket-path=%s", vt.path);
    char *argv[] = {"dev", sp};
    vub_cmdline cl;
    cr_assert_eq(vub_cmdline_parse(2, argv, NULL, 0, NULL, &cl, NULL, 0), 0);
    cr_assert_eq(vub_cmdline_serve(&cl, vt.d), 0);
    cr_assert_eq(vub_cmdline_serve(&cl, vt.d), -EBUSY);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_thread, vt.d), 0);
    vt_connect();
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vub_daemon_stop(vt.d);
    pthread_join(th, NULL);
    vub_daemon_free(vt.d);
    vt.d = NULL;
    /* --fd=N with a connected socket */
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char fdarg[32];
    snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[1]);
    char *argv2[] = {"dev", fdarg};
    cr_assert_eq(vub_cmdline_parse(2, argv2, NULL, 0, NULL, &cl, NULL, 0), 0);
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    cr_assert_eq(vub_cmdline_serve(&cl, vt.d), 0);
    cr_assert_eq(pthread_create(&th, NULL, run_thread, vt.d), 0);
    vhu_frontend_config fc = {.log = &vt.log, .timeout_ms = VT_WAIT_MS};
    cr_assert_eq(vhu_frontend_new(&fc, sv[0], &vt.fe), 0);
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    pthread_join(th, NULL);
}
