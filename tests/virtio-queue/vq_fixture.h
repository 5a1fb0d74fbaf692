/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vq_fixture.h - shared set-up for the virtio-queue suites: guest memory, a queue, the mock driver.
 *
 * Guest memory: region 0 [0, 4 MiB) and region 1 [4 MiB, 5 MiB) are adjacent memfd regions (a buffer may
 * cross from one into the other), region 2 [8 MiB, 9 MiB) is read-only.  Rings live in region 0 from
 * RING_BASE; buffers from BUF_BASE. */
#ifndef VQ_FIXTURE_H
#define VQ_FIXTURE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"

#define MIB (1024ull * 1024ull)
#define R0_SIZE (4 * MIB)
#define R1_GPA (4 * MIB)
#define R1_SIZE (1 * MIB)
#define RO_GPA (8 * MIB)
#define RING_BASE 0x10000ull
#define BUF_BASE (2 * MIB)
#define TABLE_BASE (3 * MIB)

/* FX_CHECK() - an assertion that costs nothing when it holds (Criterion reports every cr_assert). */
#define FX_CHECK(cond)                                                                                                 \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            cr_assert_fail("%s (line %d)", #cond, __LINE__);                                                           \
    } while (0)

static vmem_region *fx_reg[3];
static vmem_map *fx_map;
static vq_queue *fx_q;
static vq_mock *fx_mk;
static int fx_log_lines;
static char fx_last_line[512];
static uint64_t fx_desc, fx_driver, fx_device;

static void fx_log_fn(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    (void)lvl;
    fx_log_lines++;
    snprintf(fx_last_line, sizeof(fx_last_line), "%s", line);
}
static const struct cvmm_log fx_log = {.fn = fx_log_fn, .level = CVMM_LOG_INFO};

static inline uint64_t fx_align(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* Guest memory only. */
CVMM_UNUSED static void fx_memory(void)
{
    vmem_region_desc d0 = {.gpa = 0, .size = R0_SIZE};
    vmem_region_desc d1 = {.gpa = R1_GPA, .size = R1_SIZE};
    vmem_region_desc d2 = {.gpa = RO_GPA, .size = MIB, .flags = VMEM_REGION_READ_ONLY};
    cr_assert_eq(vmem_region_new_memfd(&d0, &fx_log, &fx_reg[0]), 0);
    cr_assert_eq(vmem_region_new_memfd(&d1, &fx_log, &fx_reg[1]), 0);
    cr_assert_eq(vmem_region_new_memfd(&d2, &fx_log, &fx_reg[2]), 0);
    cr_assert_eq(vmem_map_new(fx_reg, 3, NULL, &fx_log, &fx_map), 0);
}

/* Memory, a queue of @size in @layout, a mock driver attached to it; the queue is ready. */
CVMM_UNUSED static void fx_setup(enum vq_layout layout, uint32_t size, bool event_idx)
{
    fx_log_lines = 0;
    fx_memory();
    fx_desc = RING_BASE;
    fx_driver = fx_align(fx_desc + 16ull * size, 64);
    fx_device = fx_align(fx_driver + 6 + 2ull * size, 64);
    vq_queue_config qc = {.max_size = layout == VQ_LAYOUT_SPLIT ? 32768 : size,
                          .layout = layout,
                          .event_idx = event_idx,
                          .log = &fx_log,
                          .index = 7};
    if (layout == VQ_LAYOUT_PACKED && size < 32768)
        qc.max_size = 32768;
    cr_assert_eq(vq_queue_new(&qc, &fx_q), 0);
    vq_mock_config mc = {.layout = layout,
                         .size = size,
                         .event_idx = event_idx,
                         .desc_gpa = fx_desc,
                         .driver_gpa = fx_driver,
                         .device_gpa = fx_device};
    cr_assert_eq(vq_mock_new(fx_map, &mc, &fx_mk), 0);
    cr_assert_eq(vq_mock_attach(fx_mk, fx_q), 0);
}

CVMM_UNUSED static void fx_teardown(void)
{
    vq_mock_free(fx_mk);
    vq_queue_free(fx_q);
    vmem_map_free(fx_map);
    for (int i = 0; i < 3; i++)
        vmem_region_unref(fx_reg[i]);
    fx_mk = NULL;
    fx_q = NULL;
    fx_map = NULL;
}

CVMM_UNUSED static void fx_split(void) { fx_setup(VQ_LAYOUT_SPLIT, 256, false); }
CVMM_UNUSED static void fx_split_ei(void) { fx_setup(VQ_LAYOUT_SPLIT, 256, true); }
CVMM_UNUSED static void fx_packed(void) { fx_setup(VQ_LAYOUT_PACKED, 256, false); }
CVMM_UNUSED static void fx_packed_ei(void) { fx_setup(VQ_LAYOUT_PACKED, 256, true); }

/* Add one chain of @n buffers of @len bytes each (the last @nw writable) at BUF_BASE + @slot * 64 KiB. */
CVMM_UNUSED static uint16_t fx_add(unsigned n, uint32_t len, unsigned nw, unsigned slot)
{
    vq_mock_buf b[64];
    FX_CHECK(n <= 64);
    for (unsigned i = 0; i < n; i++) {
        b[i].gpa = BUF_BASE + slot * 0x10000ull + i * (uint64_t)len;
        b[i].len = len;
        b[i].write = i >= n - nw;
    }
    uint16_t head;
    FX_CHECK(vq_mock_add(fx_mk, b, n, &head) == 0);
    return head;
}

/* Pop and walk one chain; returns the walk's final rc (0 good end, <0 error); counts descriptors.  The
 * chain is snapshot first (vq_snapshot_take() walks a copy): the snapshot must agree with the raw walk,
 * so every chain rule the suites check holds for snapshots too (a malformed chain breaks the queue at
 * the snapshot, and the walk after it gets -EIO). */
CVMM_UNUSED static int fx_pop_walk(vq_chain *c, unsigned *ndesc, uint64_t *bytes)
{
    int rc = vq_pop(fx_q, c);
    if (rc != 1)
        return rc == 0 ? -ENOENT : rc;
    static vq_desc_info sdesc[VQ_MAX_SIZE + 65536];
    vq_snapshot s;
    int src = vq_snapshot_take(fx_q, c, sdesc, VQ_MAX_SIZE + 65536, &s);
    vq_desc_info d;
    unsigned n = 0;
    uint64_t b = 0;
    while ((rc = vq_chain_next(fx_q, c, &d)) == 1) {
        n++;
        b += d.len;
    }
    if (ndesc)
        *ndesc = n;
    if (bytes)
        *bytes = b;
    FX_CHECK(rc == 0 ? src == 0 && s.ndesc == n && (uint64_t)s.readable + s.writable == b : src == rc);
    return rc;
}

/* fx_expect_broken() - the next walk (pop + chain) breaks the queue, logging exactly one line, and the
 * queue stays broken: pop, add_used and enable_notification all give -EIO without logging again. */
CVMM_UNUSED static void fx_expect_broken(const char *why)
{
    int before = fx_log_lines;
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), -EIO, "%s", why);
    cr_assert(vq_queue_broken(fx_q), "%s", why);
    cr_assert_eq(fx_log_lines, before + 1, "%s: one log line", why);
    cr_assert_eq(vq_pop(fx_q, &c), -EIO);
    cr_assert_eq(vq_add_used(fx_q, 0, 0), -EIO);
    cr_assert_eq(vq_enable_notification(fx_q), -EIO);
    cr_assert_eq(fx_log_lines, before + 1, "%s: logged once", why);
}

#endif
