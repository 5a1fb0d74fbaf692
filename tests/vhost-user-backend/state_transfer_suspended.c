/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm/vub/device.h promises state_save()/state_load() a suspended device ("no queue runs") on their own
 * thread.  Nothing enforced it against the front-end: SET_DEVICE_STATE_FD was accepted while rings ran,
 * a ring could be started (SET_VRING_KICK) while state_load() was still filling the device, and
 * RESET_DEVICE or a disconnect ran the reset op while the state op ran: the device's state was written by
 * two threads at once.  Now a transfer needs every ring stopped, no ring starts while the device's op runs,
 * and a reset or disconnect first cuts the transfer off (device.h's 1 s bound), then resets. */
#include <fcntl.h>

#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

static struct {
    atomic_int in_state_op; /* a state op is running */
    atomic_int state_ops;   /* state ops begun */
    atomic_int overlaps;    /* another op ran while a state op did */
    atomic_int resets;
} sx;

static void note_overlap(void)
{
    if (atomic_load(&sx.in_state_op))
        atomic_fetch_add(&sx.overlaps, 1);
}

/* LOAD reads until EOF (the front-end decides how long that takes). */
static int sx_load(void *ctx, int fd)
{
    (void)ctx;
    atomic_fetch_add(&sx.state_ops, 1);
    atomic_store(&sx.in_state_op, 1);
    uint8_t b[64];
    while (read(fd, b, sizeof(b)) > 0)
        ;
    atomic_store(&sx.in_state_op, 0);
    return 0;
}
static int sx_save(void *ctx, int fd)
{
    (void)ctx;
    atomic_fetch_add(&sx.state_ops, 1);
    uint8_t b = 0x5a;
    return write(fd, &b, 1) == 1 ? 0 : -EIO;
}
static int sx_started(void *ctx, vub_queue *q)
{
    (void)ctx, (void)q;
    note_overlap();
    return 0;
}
static int sx_kicked(void *ctx, vub_queue *q)
{
    note_overlap();
    return tdev_kicked(ctx, q);
}
static void sx_reset(void *ctx)
{
    (void)ctx;
    note_overlap();
    atomic_fetch_add(&sx.resets, 1);
}
static const vub_device_ops sx_ops = {.queue_kicked = sx_kicked,
                                      .queue_started = sx_started,
                                      .reset = sx_reset,
                                      .state_save = sx_save,
                                      .state_load = sx_load};
static void sx_init(void)
{
    memset(&sx, 0, sizeof(sx));
    vt_setup(&(struct vt_opts){.ops = &sx_ops});
}
TestSuite(vub_state_suspended, .init = sx_init, .fini = vt_fini, .timeout = 60);

static void ready(void)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(DEVICE_STATE));
    vt_memory(1, 1 << 20, 0);
}

/* Start a LOAD whose data never ends until the test closes @*wr. */
static void start_load(int *wr)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int bfd;
    cr_assert_eq(vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_LOAD,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, p[0], &bfd),
                 0);
    close(p[0]);
    *wr = p[1];
    for (int i = 0; i < VT_WAIT_MS && !atomic_load(&sx.in_state_op); i++)
        vt_sleep_ms(1);
    cr_assert(atomic_load(&sx.in_state_op), "state_load() runs");
}

Test(vub_state_suspended, a_transfer_while_a_ring_runs_is_refused)
{
    ready();
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int bfd;
    int rc = vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                              VHU_TRANSFER_STATE_PHASE_STOPPED, p[1], &bfd);
    close(p[1]);
    close(p[0]);
    cr_assert_eq(rc, -EREMOTEIO, "refused while ring 0 runs (rc %d)", rc);
    cr_assert(vt_logged("ring 0 is started"), "log: %s", vt.logged);
    vt_sleep_ms(20);
    cr_assert_eq(atomic_load(&sx.state_ops), 0, "the device's state op never ran");

    /* Once the ring is stopped the same transfer is accepted. */
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, p[1], &bfd),
                 0);
    close(p[1]);
    uint8_t b;
    cr_assert_eq(read(p[0], &b, 1), 1);
    close(p[0]);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
    vt_ring_free(&r);
}

Test(vub_state_suspended, no_ring_starts_while_state_load_runs)
{
    ready();
    int wr;
    start_load(&wr);
    /* A ring set up and kicked meanwhile must not start. */
    struct vt_ring r;
    vt_ring_addrs(&r, 0);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 64, .desc_gpa = r.desc, .driver_gpa = r.driver, .device_gpa = r.device};
    cr_assert_eq(vq_mock_new(vt.map, &mc, &r.mk), 0);
    r.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r.err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vhu_vring_addr a = {
        .index = 0, .desc = r.desc + VT_UVA_BASE, .avail = r.driver + VT_UVA_BASE, .used = r.device + VT_UVA_BASE};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 64), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, 0), 0);
    int rc = vhu_frontend_set_vring_kick(vt.fe, 0, r.kick);
    cr_assert_eq(rc, -EREMOTEIO, "SET_VRING_KICK during state_load() is refused (rc %d)", rc);
    cr_assert(vt_logged("a device state transfer is running"), "log: %s", vt.logged);
    close(wr); /* EOF: the load ends */
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
    cr_assert_eq(atomic_load(&sx.overlaps), 0, "no queue op ran during state_load()");
    /* Afterwards the ring starts and serves. */
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, r.kick), 0);
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, true), 0);
    uint16_t h = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    (void)vt_wait_used(&r, h);
    vt_ring_free(&r);
}

Test(vub_state_suspended, reset_device_cuts_the_transfer_before_the_reset_op)
{
    ready();
    int wr;
    start_load(&wr);
    cr_assert_eq(vhu_frontend_reset_device(vt.fe), 0);
    cr_assert_geq(atomic_load(&sx.resets), 1);
    cr_assert_eq(atomic_load(&sx.overlaps), 0, "reset() ran while state_load() did");
    cr_assert_eq(atomic_load(&sx.in_state_op), 0, "the transfer was cut off first");
    close(wr);
}

Test(vub_state_suspended, a_disconnect_cuts_the_transfer_before_the_reset_op)
{
    ready();
    int wr;
    start_load(&wr);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    for (int i = 0; i < VT_WAIT_MS && atomic_load(&sx.resets) == 0; i++)
        vt_sleep_ms(1);
    cr_assert_geq(atomic_load(&sx.resets), 1);
    cr_assert_eq(atomic_load(&sx.overlaps), 0, "reset() ran while state_load() did");
    close(wr);
}
