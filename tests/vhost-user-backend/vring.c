/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Rings end to end: mock-driver chains over memfd memory, kicked through eventfds, completed by the test
 * device on a worker, used entries and call eventfds back; ring states per the spec. */
#include <ev.h>
#include <sys/socket.h>

#include "vub_test.h"

TestSuite(vring, .init = vt_init, .fini = vt_fini, .timeout = 120);

static void ready(struct vt_ring *r, enum vq_layout layout, bool event_idx)
{
    uint64_t f = (1ull << VUB_F_VERSION_1) | (event_idx ? 1ull << VUB_F_RING_EVENT_IDX : 0) |
                 (layout == VQ_LAYOUT_PACKED ? 1ull << VUB_F_RING_PACKED : 0);
    vt_negotiate(f, VT_PROTO_DEFAULT);
    vt_memory(2, 1 << 20, 0);
    vt_ring_setup(r, 0, layout, 64, event_idx, false);
}

Test(vring, split_chain_is_completed_and_call_signalled)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    uint64_t data = (1 << 20) + 0x1000; /* in region 1 */
    uint16_t h = vt_add_chain(&r, data, 100);
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.call, VT_WAIT_MS), "call eventfd not signalled");
    cr_assert_eq(vt_wait_used(&r, h), 100);
    uint8_t buf[100];
    cr_assert_eq(vmem_read(vt.map, data + 128, buf, sizeof(buf)), 0);
    for (unsigned i = 0; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], VT_PATTERN);
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 1);
    vt_ring_free(&r);
}

Test(vring, packed_chain_is_completed)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_PACKED, false);
    for (int i = 0; i < 100; i++) { /* wraps the 64-entry ring */
        uint16_t h = vt_add_chain(&r, 0x100000 + 0x1000, 8);
        vt_kick(&r);
        cr_assert_eq(vt_wait_used(&r, h), 8);
    }
    vt_ring_free(&r);
}

/* GET_VRING_BASE as DPDK 22.11's virtio-user sends it, with the reserved num set (our front-end would
 * never send that): straight onto the front-end's socket, the reply read back raw. */
static vhu_vring_state raw_get_vring_base(uint32_t index, uint32_t num)
{
    vhu_msg m;
    uint8_t buf[VHU_HDR_SIZE + sizeof(vhu_vring_state)];
    vhu_msg_build_state(&m, VHU_REQ_GET_VRING_BASE, 0, index, num);
    int fd = vhu_frontend_fd(vt.fe), n = vhu_msg_encode(&m, buf, sizeof(buf));
    cr_assert_eq(n, (int)sizeof(buf));
    cr_assert_eq(send(fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 30000), 1, "no reply to GET_VRING_BASE");
    ssize_t got = recv(fd, buf, sizeof(buf), MSG_WAITALL);
    cr_assert_eq(got, (ssize_t)sizeof(buf), "GET_VRING_BASE num 0x%x: the daemon closed the connection (%zd)", num,
                 got);
    cr_assert_eq(vhu_msg_decode(&m, buf, sizeof(buf)), 0);
    cr_assert_eq(m.hdr.request, VHU_REQ_GET_VRING_BASE);
    cr_assert(m.hdr.flags & VHU_FLAG_REPLY);
    cr_assert_eq(m.payload.state.index, index);
    return m.payload.state;
}

/* Stops ring 0 with GET_VRING_BASE and returns the base; @prev is the previous answer (or a first value). */
typedef uint32_t stop_ring_fn(uint32_t prev);
static uint32_t stop_ring(uint32_t prev)
{
    (void)prev;
    uint32_t base = 0;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    return base;
}
/* DPDK 22.11's virtio_user_stop_device() sets only the index of a vhost_vring_state that the previous
 * reply filled: num is the previous base (stack garbage the first time). */
static uint32_t stop_ring_like_dpdk(uint32_t prev) { return raw_get_vring_base(0, prev).num; }

/* 5 chains completed, ring 0 stopped by @stop (base 5); a chain made available while stopped is not
 * processed; SET_VRING_BASE + a new SET_VRING_KICK restart the ring and the pending chain is processed
 * without a kick; stopped again, the base is 6. */
static void stop_and_restart(stop_ring_fn *stop, uint32_t first)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    for (int i = 0; i < 5; i++) {
        uint16_t h = vt_add_chain(&r, 0x100000, 16);
        vt_kick(&r);
        vt_wait_used(&r, h);
    }
    uint32_t base = stop(first);
    cr_assert_eq(base, 5);
    cr_assert_eq(atomic_load(&vt.dev.stopped[0]), 1);
    uint16_t h = vt_add_chain(&r, 0x100000, 16);
    vt_kick(&r);
    vt_sleep_ms(50);
    uint16_t hh;
    uint32_t len;
    cr_assert_eq(vq_mock_used(r.mk, &hh, &len), 0, "a stopped ring processed a chain");
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, base), 0);
    int kick2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick2), 0);
    cr_assert_eq(vt_wait_used(&r, h), 16);
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 2);
    cr_assert_eq(stop(base), 6);
    cr_assert_eq(atomic_load(&vt.dev.stopped[0]), 2);
    close(kick2);
    vt_ring_free(&r);
}

Test(vring, get_vring_base_stops_the_ring_and_set_base_restarts_it) { stop_and_restart(stop_ring, 0); }

/* VUB_QUIRK_DPDK_GET_VRING_BASE_NUM: the reserved num is ignored, the ring stops, its base comes back and
 * the ring restarts after SET_VRING_BASE + SET_VRING_KICK, on the same connection. */
Test(vring, get_vring_base_with_reserved_num_set_stops_the_ring_and_answers)
{
    stop_and_restart(stop_ring_like_dpdk, 0x7f3a);
}

Test(vring, packed_vring_base_round_trips_positions_and_wrap_counters)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_PACKED, false);
    for (int i = 0; i < 70; i++) {
        uint16_t h = vt_add_chain(&r, 0x100000, 8); /* 3 descriptors each: wraps the 64 ring */
        vt_kick(&r);
        vt_wait_used(&r, h);
    }
    uint32_t base = 0;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    uint32_t pos = (70u * 3) % 64, wraps = (70u * 3) / 64;
    bool wrap = (wraps % 2) == 0; /* starts at 1, flips per pass */
    cr_assert_eq(base & 0x7fff, pos);
    cr_assert_eq((base >> 15) & 1, wrap);
    cr_assert_eq((base >> 16) & 0x7fff, pos);
    cr_assert_eq(base >> 31, wrap);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, base), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, r.kick), 0);
    uint16_t h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 8);
    vt_ring_free(&r);
}

Test(vring, event_idx_suppresses_the_call)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, true);
    uint16_t h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.call, VT_WAIT_MS)); /* the first used entry after start notifies */
    vt_wait_used(&r, h);
    vt_sync_worker(); /* start-up and the first entry may signal apart: both have by now */
    (void)vt_wait_fd(r.call, 0);
    cr_assert_eq(vq_mock_set_used_event(r.mk, 10), 0); /* driver: call me after used idx passes 10 */
    h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    vt_wait_used(&r, h); /* idx 2: no call */
    vt_sync_worker();    /* the callback that used it is over: it would have signalled by now */
    cr_assert_not(vt_wait_fd(r.call, 0));
    for (int i = 0; i < 9; i++) { /* idx 11 passes used_event 10: call */
        h = vt_add_chain(&r, 0x100000, 8);
        vt_kick(&r);
        vt_wait_used(&r, h);
    }
    cr_assert(vt_wait_fd(r.call, VT_WAIT_MS));
    vt_ring_free(&r);
}

Test(vring, no_interrupt_flag_suppresses_the_call)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    uint16_t h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    vt_wait_used(&r, h);
    vt_sync_worker(); /* the start-up look and the kick have both signalled by now */
    (void)vt_wait_fd(r.call, 0);
    cr_assert_eq(vq_mock_set_no_interrupt(r.mk, true), 0);
    h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    vt_wait_used(&r, h);
    vt_sync_worker();
    cr_assert_not(vt_wait_fd(r.call, 0));
    vt_ring_free(&r);
}

Test(vring, ring_without_kick_fd_is_polled)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, -1), 0); /* NOFD: poll */
    uint16_t h = vt_add_chain(&r, 0x100000, 8);                 /* no kick */
    cr_assert_eq(vt_wait_used(&r, h), 8);
    vt_ring_free(&r);
}

Test(vring, broken_ring_signals_the_err_eventfd_once)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    cr_assert_eq(vq_mock_publish_head(r.mk, 200), 0); /* head >= size */
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.err, VT_WAIT_MS), "err eventfd not signalled");
    vt_kick(&r);
    cr_assert_not(vt_wait_fd(r.err, 100));
    vt_ring_free(&r);
}

Test(vring, enable_and_disable_reach_the_device_while_started)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    cr_assert_eq(atomic_load(&vt.dev.last_enabled[0]), 1);
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, false), 0);
    cr_assert_eq(atomic_load(&vt.dev.last_enabled[0]), 0);
    /* started and disabled: still processed (the device decides about side effects) */
    uint16_t h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    vt_wait_used(&r, h);
    vt_ring_free(&r);
}

Test(vring, rings_use_guest_physical_addresses_with_gpa_addresses)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_GPA_ADDRESSES));
    cr_assert(vhu_frontend_protocol_features(vt.fe) & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_GPA_ADDRESSES));
    /* with GPA_ADDRESSES the user address duplicates the guest address */
    vmem_region_desc rd = {.gpa = 0, .size = 1 << 20, .user_addr = 0};
    cr_assert_eq(vmem_region_new_memfd(&rd, &vt.log, &vt.regs[0]), 0);
    vt.nregs = 1;
    cr_assert_eq(vmem_map_new(vt.regs, 1, NULL, &vt.log, &vt.map), 0);
    vhu_mem_region w = {.guest_addr = 0, .size = 1 << 20, .user_addr = 0};
    int fd = vmem_region_fd(vt.regs[0]);
    cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, &w, &fd, 1), 0);
    vt_ring_setup(&r, 1, VQ_LAYOUT_SPLIT, 64, false, true);
    uint16_t h = vt_add_chain(&r, 0x80000, 32);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 32);
    vt_ring_free(&r);
}

Test(vring, kick_before_memory_table_is_refused)
{
    uint64_t f;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    (void)f;
    vhu_vring_addr a = {.index = 0, .desc = VT_UVA_BASE, .avail = VT_UVA_BASE + 0x1000, .used = VT_UVA_BASE + 0x2000};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 64), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0); /* kept until memory arrives */
    int kick = eventfd(0, EFD_CLOEXEC);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick), -EREMOTEIO);
    close(kick);
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 0);
}

/* Issue 10, defect 1: SET_VRING_BASE fits the 256-entry ring, a later SET_VRING_NUM shrinks it to 8;
 * SET_VRING_KICK must not start a ring whose positions lie outside it.  It fails with a REPLY_ACK, logs the
 * invariant, leaves the ring stopped, and a fitting SET_VRING_BASE then starts it. */
Test(vring, kick_after_base_then_shrinking_num_is_refused)
{
    vt_negotiate((1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_PACKED), VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_addrs(&r, 0);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_PACKED, .size = 8, .desc_gpa = r.desc, .driver_gpa = r.driver, .device_gpa = r.device};
    cr_assert_eq(vq_mock_new(vt.map, &mc, &r.mk), 0);
    r.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r.err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vhu_vring_addr a = {
        .index = 0, .desc = r.desc + VT_UVA_BASE, .avail = r.driver + VT_UVA_BASE, .used = r.device + VT_UVA_BASE};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 256), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, 200u | 1u << 15 | 200u << 16 | 1u << 31), 0);
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 8), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, r.call), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, r.kick), -EREMOTEIO, "the kick must be refused");
    cr_assert(vt_logged("vq0: cannot start: packed position avail 200 / used 200 outside size 8"));
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 0);
    vt_kick(&r);
    vt_sleep_ms(50);
    cr_assert_eq(atomic_load(&vt.dev.kicks), 0, "a refused ring is not processed");
    /* the connection goes on: a base that fits, and the ring starts and serves */
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, 0x80008000u), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, r.kick), 0);
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 1);
    uint16_t h = vt_add_chain(&r, 0x80000, 16);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 16);
    vt_ring_free(&r);
}

TestSuite(vring_workers, .init = vt_init_workers, .fini = vt_fini, .timeout = 120);

Test(vring_workers, queues_on_two_workers_run_concurrently)
{
    struct vt_ring r[VT_QUEUES];
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(2, 1 << 20, 0);
    for (unsigned i = 0; i < VT_QUEUES; i++)
        vt_ring_setup(&r[i], i, VQ_LAYOUT_SPLIT, 64, false, false);
    for (int round = 0; round < 20; round++) {
        uint16_t h[VT_QUEUES];
        for (unsigned i = 0; i < VT_QUEUES; i++) {
            h[i] = vt_add_chain(&r[i], 0x100000 + 0x1000 * i, 16);
            vt_kick(&r[i]);
        }
        for (unsigned i = 0; i < VT_QUEUES; i++)
            cr_assert_eq(vt_wait_used(&r[i], h[i]), 16);
    }
    cr_assert_eq(atomic_load(&vt.dev.chains), 20 * VT_QUEUES);
    for (unsigned i = 0; i < VT_QUEUES; i++)
        vt_ring_free(&r[i]);
}

/* ---- device watchers on the worker loop ---- */
static ev_timer timers[VT_QUEUES];
static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    (void)tdev_kicked(&vt.dev, t->data);
}
static int timer_started(void *ctx, vub_queue *q)
{
    ev_timer *t = &timers[vub_queue_index(q)];
    ev_timer_init(t, timer_cb, 0.001, 0.001);
    t->data = q;
    ev_timer_start(vub_queue_loop(q), t);
    return tdev_started(ctx, q);
}
static int timer_stopped(void *ctx, vub_queue *q)
{
    ev_timer_stop(vub_queue_loop(q), &timers[vub_queue_index(q)]);
    return tdev_stopped(ctx, q);
}
static const vub_device_ops tdev_ops_timer = {
    .queue_kicked = tdev_kicked, .queue_started = timer_started, .queue_stopped = timer_stopped};
static void init_timer(void) { vt_setup(&(struct vt_opts){.ops = &tdev_ops_timer}); }

TestSuite(vring_timer, .init = init_timer, .fini = vt_fini, .timeout = 120);

Test(vring_timer, a_device_timer_on_the_worker_loop_processes_the_ring)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    for (int i = 0; i < 10; i++) {
        uint16_t h = vt_add_chain(&r, 0x100000, 8); /* no kick: the timer finds it */
        cr_assert_eq(vt_wait_used(&r, h), 8);
    }
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0); /* stops the timer */
    cr_assert_eq(base, 10);
    vt_add_chain(&r, 0x100000, 8);
    vt_sleep_ms(30);
    uint16_t hh;
    uint32_t len;
    cr_assert_eq(vq_mock_used(r.mk, &hh, &len), 0, "a stopped ring was processed");
    vt_ring_free(&r);
}

Test(vring, vub_queue_kick_from_another_thread_runs_the_handler)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    uint16_t h = vt_add_chain(&r, 0x100000, 8);
    cr_assert_eq(vub_queue_kick(vub_daemon_queue(vt.d, 0)), 0);
    cr_assert_eq(vt_wait_used(&r, h), 8);
    cr_assert_eq(vub_queue_index(vub_daemon_queue(vt.d, 3)), 3);
    vt_ring_free(&r);
}

Test(vring, a_new_call_fd_while_running_gets_the_next_signal)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    uint16_t h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    vt_wait_used(&r, h);
    vt_sync_worker(); /* every signal for the old call fd has been sent by now */
    (void)vt_wait_fd(r.call, 0);
    int call2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, call2), 0); /* QEMU does this when MSI-X changes */
    h = vt_add_chain(&r, 0x100000, 8);
    vt_kick(&r);
    vt_wait_used(&r, h);
    cr_assert(vt_wait_fd(call2, VT_WAIT_MS), "the new call fd was not signalled");
    cr_assert_not(vt_wait_fd(r.call, 0), "the old call fd was signalled");
    /* and a new kick fd while running */
    int kick2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick2), 0);
    h = vt_add_chain(&r, 0x100000, 8);
    uint64_t one = 1;
    cr_assert_eq(write(kick2, &one, 8), 8);
    cr_assert_eq(vt_wait_used(&r, h), 8);
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 1, "a new kick fd does not restart a running ring");
    close(call2);
    close(kick2);
    vt_ring_free(&r);
}

Test(vring, the_ring_error_fd_can_be_changed_and_removed)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    cr_assert_eq(vhu_frontend_set_vring_err(vt.fe, 0, -1), 0); /* no err fd */
    cr_assert_eq(vq_mock_publish_head(r.mk, 200), 0);
    vt_kick(&r);
    vt_sleep_ms(50);
    cr_assert_not(vt_wait_fd(r.err, 50));
    vt_ring_free(&r);
}
