/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-rng's request handler (devices/rng/rng.c) driven by the mock driver over memfd guest memory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/snapshot.h"
#include "rng.h"

#define GUEST_SIZE (1u << 20)
#define DATA_GPA 0x10000u

static struct {
    vmem_region *reg;
    vmem_log *dlog;
    int log_fd;
    vmem_map *map;
    vq_queue *q;
    vq_mock *mk;
    struct cvmm_log log;
} T;

static void quiet(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    (void)lvl;
    (void)line;
}

static void setup(enum vq_layout layout)
{
    memset(&T, 0, sizeof(T));
    T.log = (struct cvmm_log){.fn = quiet, .level = CVMM_LOG_DEBUG};
    vmem_region_desc rd = {.gpa = 0, .size = GUEST_SIZE};
    cr_assert_eq(vmem_region_new_memfd(&rd, &T.log, &T.reg), 0);
    T.log_fd = memfd_create("dirty", MFD_CLOEXEC);
    cr_assert_eq(ftruncate(T.log_fd, 4096), 0);
    cr_assert_eq(vmem_log_new_fd(T.log_fd, 0, 4096, &T.log, &T.dlog), 0);
    cr_assert_eq(vmem_map_new(&T.reg, 1, T.dlog, &T.log, &T.map), 0);
    vq_queue_config qc = {.max_size = 256, .layout = layout, .log = &T.log};
    cr_assert_eq(vq_queue_new(&qc, &T.q), 0);
    vq_mock_config mc = {.layout = layout, .size = 256, .desc_gpa = 0, .driver_gpa = 0x1000, .device_gpa = 0x2000};
    cr_assert_eq(vq_mock_new(T.map, &mc, &T.mk), 0);
    cr_assert_eq(vq_mock_attach(T.mk, T.q), 0);
}
static void split(void) { setup(VQ_LAYOUT_SPLIT); }
static void packed(void) { setup(VQ_LAYOUT_PACKED); }
static void teardown(void)
{
    vq_mock_free(T.mk);
    vq_queue_free(T.q);
    vmem_map_free(T.map);
    vmem_log_unref(T.dlog);
    vmem_region_unref(T.reg);
    close(T.log_fd);
}

static uint8_t *gp(uint64_t gpa, uint64_t len)
{
    void *p;
    cr_assert_eq(vmem_map_translate(T.map, gpa, len, &p), 0);
    return p;
}

static bool dirty(uint64_t gpa)
{
    uint64_t page = gpa / VMEM_LOG_PAGE;
    return (vmem_log_bitmap(T.dlog)[page / 8] >> (page % 8)) & 1;
}

/* The device side of one kick: every available chain read once and served by rng_request(), as
 * vub_queue_serve() does in the daemon.  Return: chains served; a ring error. */
static int serve(void)
{
    vq_chain c;
    vq_desc_info desc[VUB_SERVE_DESCS_MAX];
    vq_snapshot sn;
    int rc, n = 0;
    while ((rc = vq_pop(T.q, &c)) == 1) {
        uint32_t len = 0;
        if ((rc = vq_snapshot_take(T.q, &c, desc, VUB_SERVE_DESCS_MAX, &sn)) < 0 ||
            (rc = rng_request(NULL, NULL, &sn, &len)) < 0 || (rc = vq_add_used(T.q, c.head, len)) < 0)
            return rc;
        n++;
    }
    return rc < 0 ? rc : n;
}

static uint32_t run(const vq_mock_buf *b, unsigned n, bool indirect)
{
    uint16_t head, uh;
    uint32_t len;
    if (indirect)
        cr_assert_eq(vq_mock_add_indirect(T.mk, 0x8000, b, n, &head), 0);
    else
        cr_assert_eq(vq_mock_add(T.mk, b, n, &head), 0);
    cr_assert_eq(serve(), 1);
    cr_assert_eq(vq_mock_used(T.mk, &uh, &len), 1);
    cr_assert_eq(uh, head);
    return len;
}

/* A buffer of random bytes has many distinct values (zero-filled memory has one). */
static bool looks_random(uint64_t gpa, uint32_t len)
{
    uint8_t *p = gp(gpa, len);
    bool seen[256] = {0};
    unsigned distinct = 0;
    for (uint32_t i = 0; i < len; i++)
        if (!seen[p[i]]) {
            seen[p[i]] = true;
            distinct++;
        }
    return distinct > (len >= 1024 ? 200u : len / 4);
}

TestSuite(rng_requests, .timeout = 120);

Test(rng_requests, fills_every_writable_buffer_and_marks_it_dirty, .init = split, .fini = teardown)
{
    vq_mock_buf b[3] = {{DATA_GPA, 1024, true}, {DATA_GPA + 0x4000, 2048, true}, {DATA_GPA + 0x8000, 1, true}};
    cr_assert_eq(run(b, 3, false), 3073);
    cr_assert(looks_random(DATA_GPA, 1024));
    cr_assert(looks_random(DATA_GPA + 0x4000, 2048));
    cr_assert(dirty(DATA_GPA) && dirty(DATA_GPA + 0x4000) && dirty(DATA_GPA + 0x8000));
    cr_assert_not(dirty(DATA_GPA + 0x10000));
}

Test(rng_requests, readable_buffers_are_ignored, .init = split, .fini = teardown)
{
    memset(gp(DATA_GPA, 64), 0, 64);
    vq_mock_buf b[2] = {{DATA_GPA, 64, false}, {DATA_GPA + 0x1000, 512, true}};
    cr_assert_eq(run(b, 2, false), 512);
    for (unsigned i = 0; i < 64; i++)
        cr_assert_eq(gp(DATA_GPA, 64)[i], 0);
    cr_assert_not(dirty(DATA_GPA));
}

Test(rng_requests, a_chain_without_writable_buffers_gets_zero, .init = split, .fini = teardown)
{
    vq_mock_buf b[1] = {{DATA_GPA, 64, false}};
    cr_assert_eq(run(b, 1, false), 0);
}

Test(rng_requests, huge_requests_get_at_most_the_cap, .init = packed, .fini = teardown)
{
    vq_mock_buf b[1] = {{DATA_GPA, 3 * RNG_CHAIN_MAX, true}};
    memset(gp(DATA_GPA, 3 * RNG_CHAIN_MAX), 0, 3 * RNG_CHAIN_MAX);
    cr_assert_eq(run(b, 1, false), RNG_CHAIN_MAX);
    cr_assert(looks_random(DATA_GPA + RNG_CHAIN_MAX - 1024, 1024));
    cr_assert_eq(gp(DATA_GPA + RNG_CHAIN_MAX, 1)[0], 0);
    cr_assert_not(dirty(DATA_GPA + RNG_CHAIN_MAX + 4096));
}

Test(rng_requests, many_small_buffers_are_each_filled, .init = split, .fini = teardown)
{
    enum { N = 100 };
    vq_mock_buf b[N];
    for (unsigned i = 0; i < N; i++)
        b[i] = (vq_mock_buf){DATA_GPA + i * 256ull, 128, true};
    cr_assert_eq(run(b, N, true), N * 128);
    cr_assert(looks_random(DATA_GPA + 50 * 256, 128));
    cr_assert(dirty(DATA_GPA + (N - 1) * 256ull));
}

Test(rng_requests, a_buffer_outside_memory_breaks_the_ring, .init = split, .fini = teardown)
{
    vq_mock_buf b[1] = {{GUEST_SIZE - 16, 64, true}};
    cr_assert_eq(vq_mock_add(T.mk, b, 1, NULL), 0);
    cr_assert_eq(serve(), -EIO);
}
