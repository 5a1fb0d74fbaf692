/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The front-end shrinks the inflight buffer's file (GET/SET_INFLIGHT_FD) under the daemon's mapping: the
 * device's next write to its inflight region used to raise SIGBUS and kill the daemon (issue 10, found
 * after defect 4: the guest memory had a fault guard, the inflight buffer had none).  Now the buffer the
 * daemon creates is sealed against shrinking, and a buffer the front-end sends is mapped through vm-memory
 * (sealed, or watched by its fault guard): the device writes, and the daemon lives on. */
#include <fcntl.h>
#include <sys/mman.h>

#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

/* A device that marks desc[0] of its split inflight region at every kick (every byte it touches is inside
 * the region vub_queue_inflight() gives). */
static atomic_int marked;
static int marking_kicked(void *ctx, vub_queue *q)
{
    void *region;
    size_t size;
    if (vub_queue_inflight(q, &region, &size) == 0) {
        uint8_t *r = region;
        memset(r + 16, 1, 16); /* desc[0] of the split layout */
        atomic_fetch_add(&marked, 1);
    }
    return tdev_kicked(ctx, q);
}
static const vub_device_ops ops_marking = {.queue_kicked = marking_kicked};
static void init_marking(void)
{
    atomic_store(&marked, 0);
    vt_setup(&(struct vt_opts){.ops = &ops_marking, .extra_proto = PB(INFLIGHT_SHMFD)});
}
TestSuite(vub_inflight_shrink, .init = init_marking, .fini = vt_fini, .timeout = 60);

static void serve_one(struct vt_ring *r)
{
    uint16_t h = vt_add_chain(r, 0x80000, 8);
    vt_kick(r);
    (void)vt_wait_used(r, h);
}

/* The daemon still answers on its main socket. */
static void assert_alive(void)
{
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0, "the daemon answers after the shrink");
}

Test(vub_inflight_shrink, the_buffer_the_daemon_creates_cannot_be_shrunk)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(INFLIGHT_SHMFD));
    vhu_inflight inf;
    int fd = -1;
    cr_assert_eq(vhu_frontend_get_inflight_fd(vt.fe, 1, 64, &inf, &fd), 0);
    cr_assert_geq(fd, 0);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    serve_one(&r);
    cr_assert_geq(atomic_load(&marked), 1);

    /* The hostile front-end truncates the buffer the daemon gave it, then kicks. */
    int trc = ftruncate(fd, 0);
    cr_assert_neq(trc, 0, "the daemon's inflight memfd is sealed against shrinking");
    cr_assert_eq(errno, EPERM);
    serve_one(&r);
    cr_assert_geq(atomic_load(&marked), 2);
    assert_alive();
    close(fd);
    vt_ring_free(&r);
}

Test(vub_inflight_shrink, a_front_end_buffer_that_shrinks_does_not_kill_the_daemon)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(INFLIGHT_SHMFD));
    uint64_t per = (16 + 16 * 64 + 63) & ~63ull;
    int fd = memfd_create("inflight", MFD_CLOEXEC); /* not sealed: nothing stops a shrink */
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)per), 0);
    vhu_inflight inf = {.mmap_size = per, .mmap_offset = 0, .num_queues = 1, .queue_size = 64};
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    serve_one(&r);
    cr_assert_geq(atomic_load(&marked), 1);

    cr_assert_eq(ftruncate(fd, 0), 0);
    serve_one(&r); /* the device writes its region again: past the end of the file now */
    cr_assert_geq(atomic_load(&marked), 2);
    assert_alive();
    close(fd);
    vt_ring_free(&r);
}
