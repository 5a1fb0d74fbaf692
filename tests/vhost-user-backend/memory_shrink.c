/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The front-end shrinks a guest memory file after SET_MEM_TABLE (issue 10, defect 4): the next ring access
 * used to raise SIGBUS and kill the daemon.  Now vm-memory's fault guard lets the access complete, the
 * queue breaks with one log line and its err eventfd, and the daemon serves a new memory table. */
#include <fcntl.h>
#include <sys/mman.h>

#include "vub_test.h"

TestSuite(vub_memory_shrink, .init = vt_init, .fini = vt_fini, .timeout = 60);

#define MEM_SIZE (1024u * 1024u)

/* One region of an unsealed memfd (as a front-end that does not seal would send), gpa 0; its fd. */
static int unsealed_memory(void)
{
    int fd = memfd_create("guest", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, MEM_SIZE), 0);
    vmem_region_desc rd = {.gpa = 0, .size = MEM_SIZE, .user_addr = VT_UVA_BASE};
    cr_assert_eq(vmem_region_new_fd(&rd, dup(fd), &vt.log, &vt.regs[vt.nregs]), 0);
    vt.nregs++;
    vmem_map_free(vt.map);
    cr_assert_eq(vmem_map_new(vt.regs, vt.nregs, NULL, &vt.log, &vt.map), 0);
    vhu_mem_region wr = {.guest_addr = 0, .size = MEM_SIZE, .user_addr = VT_UVA_BASE};
    cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, &wr, &fd, 1), 0);
    return fd;
}

/* The driver side forgets its memory (before a new table). */
static void drop_memory(void)
{
    vmem_map_free(vt.map);
    vt.map = NULL;
    for (unsigned i = 0; i < vt.nregs; i++)
        vmem_region_unref(vt.regs[i]);
    vt.nregs = 0;
}

static void serve_one(struct vt_ring *r)
{
    uint16_t h = vt_add_chain(r, 0x80000, 256);
    vt_kick(r);
    uint32_t len = vt_wait_used(r, h);
    cr_assert_eq(len, 256, "used len %u", len);
}

Test(vub_memory_shrink, truncated_memfd_breaks_the_queue_and_the_daemon_lives_on)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    int fd = unsealed_memory();
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    serve_one(&r);

    /* The front-end truncates the file under the daemon's mapping, then kicks. */
    cr_assert_eq(ftruncate(fd, 0), 0);
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.err, 10000), "the queue is broken: its err eventfd is signalled");
    cr_assert(vt_logged("guest memory region 0 shrank under us"), "log: %s", vt.logged);
    unsigned kicks = atomic_load(&vt.dev.kicks);
    vt_kick(&r); /* a broken queue stays broken: nothing more happens, and nothing dies */
    vt_sleep_ms(20);

    /* The daemon still serves: stop the ring, a new (sealed) memory table, another ring on it.  (The broken
     * ring itself stays broken until the device is reset, as after any ring violation.) */
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    vt_ring_free(&r);
    drop_memory();
    close(fd);
    vt_memory(1, MEM_SIZE, 0);
    struct vt_ring r1;
    vt_ring_setup(&r1, 1, VQ_LAYOUT_SPLIT, 64, false, false);
    serve_one(&r1);
    cr_assert_gt(atomic_load(&vt.dev.kicks), kicks);
    vt_ring_free(&r1);
}

/* A file that is already shorter than its region when a table arrives is refused up front (mapping it
 * would only fault), and accepted once it has its size again. */
Test(vub_memory_shrink, a_shrunk_file_is_refused_in_a_new_table)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    int fd = unsealed_memory();
    cr_assert_eq(ftruncate(fd, MEM_SIZE / 2), 0);
    vhu_mem_region wr = {.guest_addr = 0, .size = MEM_SIZE, .user_addr = VT_UVA_BASE};
    cr_assert_neq(vhu_frontend_set_mem_table(vt.fe, &wr, &fd, 1), 0, "shorter than the region: refused");
    cr_assert_eq(ftruncate(fd, MEM_SIZE), 0);
    cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, &wr, &fd, 1), 0);
    close(fd);
}
