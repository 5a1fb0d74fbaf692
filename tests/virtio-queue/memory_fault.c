/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/virtio-queue/memory_fault.c - a queue whose guest memory file shrank under it breaks, naming the
 * cause (vq_queue_check_memory(), vm-memory's fault guard). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"

#define MEM (1024u * 1024u)

static char last[512];
static void log_fn(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque, (void)lvl;
    snprintf(last, sizeof(last), "%s", line);
}
static const struct cvmm_log qlog = {.fn = log_fn, .level = CVMM_LOG_INFO};

static int fd, lfd = -1;
static vmem_map *map;
static vq_queue *q;
static vq_mock *mk;

/* Guest memory from an unsealed memfd (and, with @dlog, a dirty log from another), a split queue on it. */
static void setup(bool dlog)
{
    fd = memfd_create("guest", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, MEM), 0);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = MEM};
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &qlog, &r), 0);
    vmem_log *l = NULL;
    if (dlog) {
        lfd = memfd_create("log", MFD_CLOEXEC);
        cr_assert_eq(ftruncate(lfd, 4096), 0);
        cr_assert_eq(vmem_log_new_fd(lfd, 0, 4096, &qlog, &l), 0);
    }
    cr_assert_eq(vmem_map_new(&r, 1, l, &qlog, &map), 0);
    vmem_region_unref(r);
    vmem_log_unref(l);
    vq_queue_config qc = {.max_size = 64, .layout = VQ_LAYOUT_SPLIT, .log = &qlog};
    cr_assert_eq(vq_queue_new(&qc, &q), 0);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 64, .desc_gpa = 0x1000, .driver_gpa = 0x2000, .device_gpa = 0x3000};
    cr_assert_eq(vq_mock_new(map, &mc, &mk), 0);
    cr_assert_eq(vq_mock_attach(mk, q), 0);
    if (dlog)
        vq_queue_set_log_addr(q, 0x3000);
}

static void teardown(void)
{
    vq_mock_free(mk);
    vq_queue_free(q);
    vmem_map_free(map);
    close(fd);
    if (lfd >= 0)
        close(lfd);
    lfd = -1;
}

TestSuite(vq_memory_fault, .fini = teardown, .timeout = 120);

Test(vq_memory_fault, a_shrunk_region_breaks_the_queue_and_names_it)
{
    setup(false);
    cr_assert_eq(vq_queue_check_memory(q), 0, "healthy");
    cr_assert_eq(ftruncate(fd, 0), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(q, &c), 0, "the ring reads zeros: nothing available, nothing dies");
    cr_assert_eq(vq_queue_check_memory(q), -EIO);
    cr_assert(vq_queue_broken(q));
    cr_assert(strstr(last, "guest memory region 0 shrank under us"), "logged: %s", last);
    cr_assert_eq(vq_pop(q, &c), -EIO, "broken until reset");
}

Test(vq_memory_fault, a_ring_rule_tripped_by_the_zeros_names_the_real_cause)
{
    setup(false);
    vq_mock_buf b = {0x10000, 64, true};
    uint16_t head;
    vq_chain c;
    for (int i = 0; i < 3; i++) { /* the queue's next avail index is 3 */
        cr_assert_eq(vq_mock_add(mk, &b, 1, &head), 0);
        cr_assert_eq(vq_pop(q, &c), 1);
        cr_assert_eq(vq_add_used(q, c.head, 0), 0);
    }
    cr_assert_eq(ftruncate(fd, 0), 0);
    cr_assert_eq(vq_pop(q, &c), -EIO, "avail idx 0 is 65533 ahead of 3");
    cr_assert(strstr(last, "guest memory region 0 shrank under us"), "logged: %s", last);
}

Test(vq_memory_fault, a_shrunk_dirty_log_breaks_the_queue)
{
    setup(true);
    vq_mock_buf b = {0x10000, 64, true};
    uint16_t head;
    vq_chain c;
    cr_assert_eq(vq_mock_add(mk, &b, 1, &head), 0);
    cr_assert_eq(vq_pop(q, &c), 1);
    cr_assert_eq(ftruncate(lfd, 0), 0);
    cr_assert_eq(vq_add_used(q, c.head, 0), 0, "the used ring write is logged into the lost page");
    cr_assert_eq(vq_queue_check_memory(q), -EIO);
    cr_assert(strstr(last, "the dirty log's file shrank under us"), "logged: %s", last);
}
