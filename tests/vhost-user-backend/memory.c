/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Guest memory: SET_MEM_TABLE with several memfd regions, ADD/REM_MEM_REG up to the slot limit, memory
 * changes while a worker holds buffers (it must never touch unmapped memory), the dirty log. */
#include <sys/mman.h>

#include "vub_test.h"

TestSuite(memory, .init = vt_init, .fini = vt_fini, .timeout = 120);

static void ready(struct vt_ring *r)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(8, 1 << 20, 4 << 20); /* 8 regions with holes between them */
    vt_ring_setup(r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
}

Test(memory, chains_reach_every_region_of_the_table)
{
    struct vt_ring r;
    ready(&r);
    cr_assert_geq(atomic_load(&vt.dev.mem_changes), 1);
    for (unsigned i = 1; i < 8; i++) {
        uint64_t data = (4ull << 20) * i + 0x800;
        uint16_t h = vt_add_chain(&r, data, 256);
        vt_kick(&r);
        cr_assert_eq(vt_wait_used(&r, h), 256);
        uint8_t b;
        cr_assert_eq(vmem_read(vt.map, data + 128 + 255, &b, 1), 0);
        cr_assert_eq(b, VT_PATTERN);
    }
    vt_ring_free(&r);
}

Test(memory, buffer_in_a_hole_breaks_the_ring_without_a_crash)
{
    struct vt_ring r;
    ready(&r);
    vq_mock_buf b = {.gpa = (1 << 20) + 0x100, .len = 64, .write = true}; /* between regions 0 and 1 */
    cr_assert_eq(vq_mock_add(r.mk, &b, 1, NULL), 0);
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.err, 2000));
    vt_ring_free(&r);
}

static void add_region(uint64_t gpa, uint64_t size, vmem_region **out)
{
    vmem_region_desc rd = {.gpa = gpa, .size = size, .user_addr = VT_UVA_BASE + gpa};
    cr_assert_eq(vmem_region_new_memfd(&rd, &vt.log, out), 0);
    vhu_mem_region w = {.guest_addr = gpa, .size = size, .user_addr = VT_UVA_BASE + gpa};
    cr_assert_eq(vhu_frontend_add_mem_reg(vt.fe, &w, vmem_region_fd(*out)), 0);
}

Test(memory, add_and_remove_regions)
{
    struct vt_ring r;
    ready(&r);
    vmem_region *x;
    unsigned before = atomic_load(&vt.dev.mem_changes);
    add_region(64 << 20, 1 << 20, &x);
    cr_assert_eq(atomic_load(&vt.dev.mem_changes), before + 1);
    /* overlapping another region: refused */
    vhu_mem_region ov = {.guest_addr = (64 << 20) + 4096, .size = 4096, .user_addr = VT_UVA_BASE + (80 << 20)};
    cr_assert_eq(vhu_frontend_add_mem_reg(vt.fe, &ov, vmem_region_fd(x)), -EREMOTEIO);
    vhu_mem_region w = {.guest_addr = 64 << 20, .size = 1 << 20, .user_addr = VT_UVA_BASE + (64 << 20)};
    cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), 0);
    cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), -EREMOTEIO); /* gone */
    w.size = 4096;
    cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), -EREMOTEIO); /* must match exactly */
    vmem_region_unref(x);
    uint16_t h = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 8);
    vt_ring_free(&r);
}

Test(memory, rem_mem_reg_with_an_fd_closes_it)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    vmem_region *x;
    add_region(0, 1 << 20, &x);
    vhu_msg m;
    vhu_msg_init(&m, VHU_REQ_REM_MEM_REG, 0);
    vhu_mem_reg mr = {.region = {.guest_addr = 0, .size = 1 << 20, .user_addr = VT_UVA_BASE}};
    cr_assert_eq(vhu_msg_set_payload(&m, &mr, sizeof(mr)), 0);
    cr_assert_eq(vhu_msg_add_fd(&m, vmem_region_fd(x)), 0);
    cr_assert_eq(vhu_frontend_request(vt.fe, &m, NULL), 0);
    vmem_region_unref(x); /* .fini checks no fd stayed open in the daemon */
}

Test(memory, max_mem_slots_regions_fit_and_one_more_is_refused)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    uint64_t slots;
    cr_assert_eq(vhu_frontend_get_max_mem_slots(vt.fe, &slots), 0);
    cr_assert_eq(slots, 509);
    static vmem_region *regs[510];
    for (unsigned i = 0; i < 510; i++) {
        vmem_region_desc rd = {.gpa = 0x10000ull * i, .size = 4096, .user_addr = VT_UVA_BASE + 0x10000ull * i};
        cr_assert_eq(vmem_region_new_memfd(&rd, &vt.log, &regs[i]), 0);
        vhu_mem_region w = {.guest_addr = rd.gpa, .size = 4096, .user_addr = rd.user_addr};
        int rc = vhu_frontend_add_mem_reg(vt.fe, &w, vmem_region_fd(regs[i]));
        cr_assert_eq(rc, i < 509 ? 0 : -EREMOTEIO, "region %u: %d", i, rc);
    }
    for (unsigned i = 0; i < 510; i++)
        vmem_region_unref(regs[i]);
}

/* The worker holds a chain's buffers (the device sleeps between walking the chain and writing); the
 * front-end removes the region meanwhile.  The removal must wait for the worker: it writes into memory
 * that is still mapped, completes the chain, and only then is the region unmapped.  A later chain into
 * the removed region breaks the ring instead of faulting. */
Test(memory, removal_waits_for_a_worker_that_holds_the_region)
{
    struct vt_ring r;
    ready(&r);
    uint64_t gpa = 64ull << 20;
    for (int round = 0; round < 4; round++) {
        vmem_region *x;
        vmem_map *xm;
        add_region(gpa, 1 << 20, &x);
        cr_assert_eq(vmem_map_new(&x, 1, NULL, &vt.log, &xm), 0);
        static uint8_t zero[4096], got[4096];
        cr_assert_eq(vmem_write(xm, gpa + 0x1000, zero, sizeof(zero)), 0);
        atomic_store(&vt.dev.delay_us, 100000);
        vq_mock_buf b = {.gpa = gpa + 0x1000, .len = 4096, .write = true};
        uint16_t h;
        cr_assert_eq(vq_mock_add(r.mk, &b, 1, &h), 0);
        vt_kick(&r);
        for (int i = 0; i < 2000 && !atomic_load(&vt.dev.busy); i++)
            vt_sleep_ms(1);
        cr_assert(atomic_load(&vt.dev.busy), "the device never started the chain");
        vhu_mem_region w = {.guest_addr = gpa, .size = 1 << 20, .user_addr = VT_UVA_BASE + gpa};
        cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), 0);
        /* the ack came after the grace period: the worker finished writing before the unmap */
        uint16_t hh;
        uint32_t len;
        cr_assert_eq(vq_mock_used(r.mk, &hh, &len), 1, "REM_MEM_REG completed before the worker let go");
        cr_assert_eq(hh, h);
        cr_assert_eq(len, 4096);
        cr_assert_eq(vmem_read(xm, gpa + 0x1000, got, sizeof(got)), 0);
        for (unsigned i = 0; i < sizeof(got); i++)
            cr_assert_eq(got[i], VT_PATTERN);
        atomic_store(&vt.dev.delay_us, 0);
        vmem_map_free(xm);
        vmem_region_unref(x);
    }
    /* a chain into the removed region: the ring breaks, nothing faults */
    vq_mock_buf b = {.gpa = gpa + 0x1000, .len = 64, .write = true};
    cr_assert_eq(vq_mock_add(r.mk, &b, 1, NULL), 0);
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.err, 2000));
    vt_ring_free(&r);
}

Test(memory, dirty_log_marks_written_buffers_and_the_used_ring)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(2, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    /* 2 MiB of guest memory = 512 pages = 64 bytes of bitmap; put it at offset 4096 of a memfd */
    int lfd = memfd_create("log", MFD_CLOEXEC);
    cr_assert_geq(lfd, 0);
    cr_assert_eq(ftruncate(lfd, 8192), 0);
    vhu_log lg = {.size = 64, .offset = 4096};
    cr_assert_eq(vhu_frontend_set_log_base(vt.fe, &lg, lfd), 0);
    uint64_t f = (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES) | (1ull << VHU_F_LOG_ALL);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, f), 0);
    /* start logging the used ring: SET_VRING_ADDR with VHOST_VRING_F_LOG and the log address */
    vhu_vring_addr a = {.index = 0,
                        .flags = VHU_VRING_F_LOG,
                        .desc = VT_UVA_BASE + r.desc,
                        .avail = VT_UVA_BASE + r.driver,
                        .used = VT_UVA_BASE + r.device,
                        .log = r.device};
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
    uint64_t data = (1 << 20) + 0x5000; /* written bytes at data + 128 .. + 128 + 100: page 0x105 */
    uint16_t h = vt_add_chain(&r, data, 100);
    vt_kick(&r);
    vt_wait_used(&r, h);
    uint8_t bm[64];
    cr_assert_eq(pread(lfd, bm, sizeof(bm), 4096), (ssize_t)sizeof(bm));
    uint64_t page = (data + 128) / 4096, used_page = r.device / 4096;
    cr_assert(bm[page / 8] & (1u << (page % 8)), "data page not marked");
    cr_assert(bm[used_page / 8] & (1u << (used_page % 8)), "used ring page not marked");
    cr_assert_eq(bm[(0x180000 / 4096) / 8], 0, "an untouched page is marked");
    /* logging off again: no new marks */
    memset(bm, 0, sizeof(bm));
    cr_assert_eq(pwrite(lfd, bm, sizeof(bm), 4096), (ssize_t)sizeof(bm));
    cr_assert_eq(vhu_frontend_set_features(vt.fe, f & ~(1ull << VHU_F_LOG_ALL)), 0);
    h = vt_add_chain(&r, data, 100);
    vt_kick(&r);
    vt_wait_used(&r, h);
    cr_assert_eq(pread(lfd, bm, sizeof(bm), 4096), (ssize_t)sizeof(bm));
    for (unsigned i = 0; i < sizeof(bm); i++)
        cr_assert_eq(bm[i], 0, "byte %u marked with logging off", i);
    close(lfd);
    vt_ring_free(&r);
}

Test(memory, set_log_base_with_a_bad_fd_is_refused)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    int efd = eventfd(0, EFD_CLOEXEC); /* cannot be mapped */
    vhu_log lg = {.size = 64, .offset = 0};
    vhu_msg m, rep;
    vhu_msg_init(&m, VHU_REQ_SET_LOG_BASE, 0);
    cr_assert_eq(vhu_msg_set_payload(&m, &lg, sizeof(lg)), 0);
    cr_assert_eq(vhu_msg_add_fd(&m, efd), 0);
    cr_assert_eq(vhu_frontend_request(vt.fe, &m, &rep), 0);
    cr_assert_neq(rep.payload.u64, 0, "SET_LOG_BASE reply must report the failure");
    vhu_msg_close_fds(&rep);
    close(efd);
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0);
}

struct pump {
    struct vt_ring *r;
    atomic_int stop;
    atomic_int done;
    atomic_int failed;
};

static void *pump_main(void *arg)
{
    struct pump *p = arg;
    while (!atomic_load(&p->stop)) {
        vq_mock_buf b[2] = {{0x80000, 64, false}, {0x81000, 512, true}};
        uint16_t h, hh;
        uint32_t len;
        if (vq_mock_add(p->r->mk, b, 2, &h) < 0) {
            atomic_store(&p->failed, 1);
            break;
        }
        uint64_t one = 1;
        if (write(p->r->kick, &one, 8) != 8) {
            atomic_store(&p->failed, 2);
            break;
        }
        int rc = 0;
        for (int i = 0; i < 30000 && (rc = vq_mock_used(p->r->mk, &hh, &len)) == 0; i++)
            vt_sleep_ms(1);
        if (rc != 1 || hh != h || len != 512) {
            atomic_store(&p->failed, 3);
            break;
        }
        atomic_fetch_add(&p->done, 1);
    }
    return NULL;
}

Test(memory, regions_come_and_go_under_traffic)
{
    struct vt_ring r;
    ready(&r);
    struct pump p = {.r = &r};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, pump_main, &p), 0);
    /* At least 40 changes, and go on until the pump has moved chains across them: on a loaded machine the
     * pump thread may not have run at all during the first 40 (bounded: ~100000 changes). */
    for (int i = 0; i < 40 || (atomic_load(&p.done) < 20 && !atomic_load(&p.failed) && i < 100000); i++) {
        vmem_region *x;
        uint64_t gpa = (64ull + (uint64_t)(i % 4)) << 20;
        add_region(gpa, 1 << 20, &x);
        vhu_mem_region w = {.guest_addr = gpa, .size = 1 << 20, .user_addr = VT_UVA_BASE + gpa};
        cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), 0);
        vmem_region_unref(x);
        if (i % 10 == 0) { /* and a whole new table now and then: the ring's region stays */
            vhu_mem_region t[8];
            int fds[8];
            for (unsigned k = 0; k < 8; k++) {
                t[k] = (vhu_mem_region){
                    .guest_addr = (4ull << 20) * k, .size = 1 << 20, .user_addr = VT_UVA_BASE + (4ull << 20) * k};
                fds[k] = vmem_region_fd(vt.regs[k]);
            }
            cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, t, fds, 8), 0);
        }
    }
    atomic_store(&p.stop, 1);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&p.failed), 0, "pump failed at step %d after %d chains", atomic_load(&p.failed),
                 atomic_load(&p.done));
    cr_assert_geq(atomic_load(&p.done), 20);
    vt_ring_free(&r);
}

/* QEMU 7.2's vhost-user-net with 2 queue pairs has 2 vhost devices on one connection; each one adds every
 * region (ADD_MEM_REG is not one of its "one time" requests) and removes it again. */
Test(memory, the_same_region_added_twice_is_counted_not_refused)
{
    struct vt_ring r;
    ready(&r);
    vmem_region *x;
    uint64_t gpa = 64ull << 20;
    add_region(gpa, 1 << 20, &x);
    vhu_mem_region w = {.guest_addr = gpa, .size = 1 << 20, .user_addr = VT_UVA_BASE + gpa};
    cr_assert_eq(vhu_frontend_add_mem_reg(vt.fe, &w, vmem_region_fd(x)), 0); /* the second device */
    cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), 0);                    /* one of them leaves */
    uint16_t h = vt_add_chain(&r, gpa + 0x1000, 8);                          /* still mapped */
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 8);
    cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), 0);          /* the last one: unmapped */
    cr_assert_eq(vhu_frontend_rem_mem_reg(vt.fe, &w), -EREMOTEIO); /* and gone */
    vmem_region_unref(x);
    vt_ring_free(&r);
}
