/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* guarded.h - guest memory between guard pages for the ring-start suites (ring_start*.c, ring_order.c):
 * any device access outside it faults at once (vq_mock_mem), so an out-of-bounds ring access crashes the
 * test instead of passing unnoticed.
 *
 * Region A [0, 64 KiB) and region B [64 KiB, 128 KiB) are adjacent and writable (an area may not cross
 * from one into the other); region R [256 KiB, 320 KiB) is read-only.  gm_map holds all three.  Queues
 * log to vq_fixture.h's catcher. */
#ifndef VQ_GUARDED_H
#define VQ_GUARDED_H

#include "vq_fixture.h" /* the log catcher: fx_log, fx_log_lines, fx_last_line */

#define GM_KIB 1024ull
#define GM_A 0ull
#define GM_B (64 * GM_KIB)
#define GM_R (256 * GM_KIB)
#define GM_SIZE (64 * GM_KIB)

static vq_mock_mem *gm_mem[3];
static vmem_map *gm_map;

CVMM_UNUSED static void gm_setup(void)
{
    static const uint64_t gpa[3] = {GM_A, GM_B, GM_R};
    vmem_region *r[3];
    fx_log_lines = 0;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(vq_mock_mem_new(gpa[i], GM_SIZE, i == 2 ? VMEM_REGION_READ_ONLY : 0, &fx_log, &gm_mem[i]), 0,
                     "no guarded placement for region %d", i);
        r[i] = vq_mock_mem_region(gm_mem[i]);
    }
    cr_assert_eq(vmem_map_new(r, 3, NULL, &fx_log, &gm_map), 0);
}

CVMM_UNUSED static void gm_teardown(void)
{
    vmem_map_free(gm_map);
    gm_map = NULL;
    for (int i = 0; i < 3; i++) {
        vq_mock_mem_free(gm_mem[i]);
        gm_mem[i] = NULL;
    }
}

CVMM_UNUSED static vq_queue *gm_queue(enum vq_layout layout, uint32_t max)
{
    vq_queue_config c = {.max_size = max, .layout = layout, .log = &fx_log, .index = 5};
    vq_queue *q = NULL;
    FX_CHECK(vq_queue_new(&c, &q) == 0);
    return q;
}

/* gm_packed_desc() - write packed descriptor @pos of the ring at @desc as the driver would (flags last). */
CVMM_UNUSED static void gm_packed_desc(uint64_t desc, uint32_t pos, uint64_t addr, uint32_t len, uint16_t id,
                                       uint16_t flags)
{
    struct vq_packed_desc d = {cvmm_le64_set(addr), cvmm_le32_set(len), cvmm_le16_set(id), cvmm_le16_set(flags)};
    cr_assert_eq(vmem_write(gm_map, desc + 16ull * pos, &d, sizeof(d)), 0);
}

#endif
