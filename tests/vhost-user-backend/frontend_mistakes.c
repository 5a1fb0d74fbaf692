/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Front-end mistakes the daemon answers and survives: a SET_FEATURES that would make a ring of an odd size
 * split, an ADD_MEM_REG whose area is not in its file, ring addresses given before any memory, a peer that
 * stopped reading before its answer, a ring polled without a kick fd that gets one or breaks, and a broken
 * ring of a request-op device kicked again. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "vub_test.h"
#include "raw_peer.h"

TestSuite(frontend_mistakes, .init = vt_init, .fini = vt_fini, .timeout = 120);

/* A raw peer instead of our front-end. */
static void init_no_frontend(void) { vt_setup(&(struct vt_opts){.no_frontend = true}); }
TestSuite(frontend_mistakes_raw, .init = init_no_frontend, .fini = vt_fini, .timeout = 120);

static void still_serving(void)
{
    uint64_t n = 0;
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0, "the connection goes on");
    cr_assert_eq(n, VT_QUEUES);
}

/* The daemon closed its end of @fd, a raw peer that shut its reading side (so only POLLHUP can wake us). */
static bool raw_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = 0};
    return poll(&p, 1, VT_WAIT_MS) == 1 && (p.revents & POLLHUP);
}

Test(frontend_mistakes, set_features_that_would_make_an_odd_sized_ring_split_is_refused)
{
    vt_negotiate((1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_PACKED), VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 100), 0, "a packed ring may have any size");
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 2, 48), 0);
    uint64_t split = (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, split), -EREMOTEIO);
    cr_assert(vt_logged("tdev: vq0: cannot change ring features: Invalid argument"));
    cr_assert(vt_logged("tdev: vq2: cannot change ring features: Invalid argument"), "each ring says so");
    still_serving();
}

Test(frontend_mistakes, add_mem_reg_of_an_area_outside_its_file_is_refused)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    int fd = memfd_create("small", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 4096), 0);
    vhu_mem_region w = {.guest_addr = 0, .size = 1 << 20, .user_addr = VT_UVA_BASE};
    cr_assert_eq(vhu_frontend_add_mem_reg(vt.fe, &w, fd), -EREMOTEIO);
    close(fd);
    cr_assert(vt_logged("tdev: cannot map region gpa 0x0 size 0x100000"));
    cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), -EREMOTEIO, "nothing was added");
    cr_assert(vt_logged("tdev: REM_MEM_REG of an unknown region gpa 0x0 size 0x100000"));
    still_serving();
}

/* SET_VRING_ADDR before any memory is kept for later; SET_VRING_KICK cannot start the ring without memory
 * (-EPROTO) nor with memory the addresses are not in (-EFAULT), and the kick fds are closed either way; once
 * the memory holds them, the kept addresses are applied and the ring starts. */
Test(frontend_mistakes, a_ring_starts_only_once_its_addresses_are_in_memory)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vhu_vring_addr a = {.index = 0,
                        .desc = VT_UVA_BASE + (2u << 20),
                        .avail = VT_UVA_BASE + (2u << 20) + 0x4000,
                        .used = VT_UVA_BASE + (2u << 20) + 0x8000};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 64), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0, "no memory yet: kept for SET_VRING_KICK");
    int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_geq(kick, 0);
    int fds = cvmm_test_count_fds();
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick), -EREMOTEIO, "no memory: not started");
    cr_assert_eq(cvmm_test_count_fds(), fds, "the back-end closed its copy of the kick fd");
    vt_memory(1, 1 << 20, 0); /* [0, 1 MiB): the rings at 2 MiB are outside */
    fds = cvmm_test_count_fds();
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick), -EREMOTEIO, "addresses outside memory");
    cr_assert(vt_logged("tdev: vq0: ring addresses are not in guest memory"));
    cr_assert_eq(cvmm_test_count_fds(), fds, "and closed it again");
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 0);
    vmem_region_desc rd = {.gpa = 2u << 20, .size = 1u << 20, .user_addr = VT_UVA_BASE + (2u << 20)};
    cr_assert_eq(vmem_region_new_memfd(&rd, &vt.log, &vt.regs[vt.nregs]), 0);
    vhu_mem_region w = {.guest_addr = rd.gpa, .size = rd.size, .user_addr = rd.user_addr};
    cr_assert_eq(vhu_frontend_add_mem_reg(vt.fe, &w, vmem_region_fd(vt.regs[vt.nregs++])), 0, "now they are inside");
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick), 0, "the addresses kept are applied now");
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 1);
    close(kick);
    still_serving();
}

/* A peer that shut its reading side before asking: the answer cannot be sent, so the daemon closes the
 * connection (and serves the next front-end) instead of leaving it half dead. */
Test(frontend_mistakes_raw, a_peer_that_stopped_reading_is_disconnected_at_its_answer)
{
    int fd = raw_connect();
    cr_assert_eq(shutdown(fd, SHUT_RD), 0);
    raw_send(fd, VHU_REQ_GET_SHMEM_CONFIG, 0, 0, NULL, 0, NULL, 0); /* not negotiated: a zeroed answer owed */
    cr_assert(raw_hung_up(fd), "the daemon closed the connection");
    cr_assert(vt_logged("GET_SHMEM_CONFIG without VHOST_USER_PROTOCOL_F_SHMEM negotiated"));
    close(fd);
    vt_connect(); /* served: the daemon closed the other connection */
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    still_serving();
}

/* The same with an fd of the wrong kind whose error ack (NEED_REPLY) cannot be sent. */
Test(frontend_mistakes_raw, a_peer_that_stopped_reading_is_disconnected_at_its_error_ack)
{
    int fd = raw_connect(), pp[2];
    cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
    cr_assert_eq(shutdown(fd, SHUT_RD), 0);
    uint64_t idx = 0;
    raw_send(fd, VHU_REQ_SET_VRING_CALL, VHU_FLAG_NEED_REPLY, 8, &idx, 8, &pp[1], 1);
    cr_assert(raw_hung_up(fd), "the daemon closed the connection");
    cr_assert(vt_logged("tdev: SET_VRING_CALL: fd is a pipe, expected a writable eventfd"));
    close(fd);
    close(pp[0]);
    close(pp[1]);
    vt_connect(); /* served: the daemon closed the other connection */
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    still_serving();
}

/* A ring started with the NOFD bit (no kick fd): polled. */
static void polled_ring(struct vt_ring *r)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_addrs(r, 0);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 64, .desc_gpa = r->desc, .driver_gpa = r->driver, .device_gpa = r->device};
    cr_assert_eq(vq_mock_new(vt.map, &mc, &r->mk), 0);
    r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vhu_vring_addr a = {
        .index = 0, .desc = r->desc + VT_UVA_BASE, .avail = r->driver + VT_UVA_BASE, .used = r->device + VT_UVA_BASE};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 64), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, 0), 0);
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, r->call), 0);
    cr_assert_eq(vhu_frontend_set_vring_err(vt.fe, 0, r->err), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, -1), 0); /* NOFD: the back-end polls */
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, true), 0);
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 1);
}

Test(frontend_mistakes, a_polled_ring_that_gets_a_kick_fd_is_kicked_from_then_on)
{
    struct vt_ring r;
    polled_ring(&r);
    uint16_t h = vt_add_chain(&r, 0x80000, 64); /* no kick: the worker polls */
    cr_assert_eq(vt_wait_used(&r, h), 64);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, r.kick), 0, "a kick fd for the running ring");
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 1, "not restarted");
    h = vt_add_chain(&r, 0x90000, 32);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 32);
    vt_ring_free(&r);
    still_serving();
}

Test(frontend_mistakes, a_polled_ring_that_breaks_signals_its_err_fd_once)
{
    struct vt_ring r;
    polled_ring(&r);
    cr_assert_eq(vq_mock_publish_head(r.mk, 200), 0); /* head >= size: the ring breaks at the next poll */
    cr_assert(vt_wait_fd(r.err, VT_WAIT_MS), "err eventfd not signalled");
    vt_sync_worker();
    cr_assert_not(vt_wait_fd(r.err, 0), "once");
    uint16_t head;
    uint32_t len;
    cr_assert_eq(vq_mock_used(r.mk, &head, &len), 0, "nothing used");
    vt_ring_free(&r);
    still_serving();
}

/* ---- a device with only a request op (vub_queue_serve()) ---- */

static atomic_uint requests;

static int count_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx, (void)q, (void)s;
    atomic_fetch_add(&requests, 1);
    *used_len = 0;
    return 0;
}

static const vub_device_ops request_ops = {.request = count_request};

static void init_request(void)
{
    atomic_store(&requests, 0);
    vt_setup(&(struct vt_opts){.ops = &request_ops});
}

TestSuite(frontend_mistakes_request, .init = init_request, .fini = vt_fini, .timeout = 120);

/* Wait until the worker has read @fd's kick (the eventfd is empty again) and finished with it. */
static void kick_consumed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int i = 0;
    while (poll(&p, 1, 0) == 1 && i++ < VT_WAIT_MS)
        vt_sleep_ms(1);
    cr_assert(i < VT_WAIT_MS, "the kick was never read");
    vt_sync_worker(); /* a call the worker runs after the kick callback that read it */
}

Test(frontend_mistakes_request, a_broken_ring_stays_broken_when_kicked_again)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    cr_assert_eq(vq_mock_publish_head(r.mk, 200), 0); /* head >= size */
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.err, VT_WAIT_MS), "err eventfd not signalled");
    cr_assert(vt_logged("tdev: vq0: op queue_kicked failed"));
    vt_kick(&r); /* the server finds the ring broken before it looks at it */
    kick_consumed(r.kick);
    cr_assert_not(vt_wait_fd(r.err, 0), "reported once");
    cr_assert_eq(atomic_load(&requests), 0, "no request served from a broken ring");
    vt_ring_free(&r);
    still_serving();
}
