/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* dirty.c - dirty-page logging of used-ring writes, used descriptors, notification fields, Writer data. */
#include "vq_fixture.h"

static vmem_log *dl;
static vmem_map *logmap;
static int log_fd = -1;
static uint8_t *bm; /* our own writable view of the bitmap, to clear it */

#define LOG_BYTES 4096u

static void with_log(enum vq_layout layout)
{
    fx_setup(layout, 256, true);
    log_fd = memfd_create("vq-dirty", MFD_CLOEXEC);
    cr_assert_geq(log_fd, 0);
    cr_assert_eq(ftruncate(log_fd, LOG_BYTES), 0);
    cr_assert_eq(vmem_log_new_fd(log_fd, 0, LOG_BYTES, &fx_log, &dl), 0);
    bm = mmap(NULL, LOG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, log_fd, 0);
    cr_assert_neq(bm, MAP_FAILED);
    cr_assert_eq(vmem_map_with_log(fx_map, dl, &logmap), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, logmap), 0, "the device logs; the mock driver does not");
}
static void split_log(void) { with_log(VQ_LAYOUT_SPLIT); }
static void packed_log(void) { with_log(VQ_LAYOUT_PACKED); }

static void fini(void)
{
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    vmem_map_free(logmap);
    vmem_log_unref(dl);
    munmap(bm, LOG_BYTES);
    close(log_fd);
    fx_teardown();
}

TestSuite(dirty, .fini = fini, .timeout = 120);

static bool dirty(uint64_t gpa)
{
    uint64_t p = gpa / 4096;
    return (bm[p / 8] >> (p % 8)) & 1;
}
static void clear(void) { memset(bm, 0, LOG_BYTES); }
static unsigned count(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < LOG_BYTES; i++)
        n += (unsigned)__builtin_popcount(bm[i]);
    return n;
}

Test(dirty, split_used_ring_writes_are_marked, .init = split_log)
{
    fx_add(2, 64, 1, 0);
    clear();
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(count(), 0, "popping and walking write nothing");
    cr_assert_eq(vq_add_used(fx_q, c.head, 64), 0);
    cr_assert(dirty(fx_device));
    cr_assert_eq(count(), 1);
}

Test(dirty, split_used_ring_uses_the_log_address, .init = split_log)
{
    vq_queue_set_log_addr(fx_q, 3 * MIB);
    fx_add(1, 64, 1, 0);
    fx_add(1, 64, 1, 0);
    vq_chain c[2];
    cr_assert_eq(fx_pop_walk(&c[0], NULL, NULL), 0);
    cr_assert_eq(fx_pop_walk(&c[1], NULL, NULL), 0);
    clear();
    vq_used_elem e[2] = {{c[0].head, 1}, {c[1].head, 2}};
    cr_assert_eq(vq_add_used_batch(fx_q, e, 2), 0);
    cr_assert(dirty(3 * MIB));
    cr_assert_not(dirty(fx_device));
    cr_assert_eq(count(), 1);
}

Test(dirty, split_batch_wrapping_the_ring_is_marked, .init = split_log)
{
    vq_queue_set_log_addr(fx_q, 3 * MIB - 8 * 200); /* used ring entries 200+ fall on the next page */
    vq_chain c;
    uint16_t h;
    uint32_t l;
    for (int i = 0; i < 250; i++) {
        fx_add(1, 8, 0, 0);
        FX_CHECK(fx_pop_walk(&c, NULL, NULL) == 0);
        FX_CHECK(vq_add_used(fx_q, c.head, 0) == 0);
        FX_CHECK(vq_mock_used(fx_mk, &h, &l) == 1);
    }
    vq_used_elem e[10];
    for (int i = 0; i < 10; i++) { /* slots 250 .. 259: wraps to 0 .. 3 */
        fx_add(1, 8, 0, 0);
        cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
        e[i] = (vq_used_elem){c.head, 0};
    }
    clear();
    cr_assert_eq(vq_add_used_batch(fx_q, e, 10), 0);
    cr_assert(dirty(3 * MIB), "entries 250..255");
    cr_assert(dirty(3 * MIB - 4096), "entries 0..3 and the index");
    cr_assert_eq(count(), 2);
}

Test(dirty, split_notification_fields_are_marked, .init = split_log)
{
    clear();
    cr_assert_eq(vq_enable_notification(fx_q), 0); /* avail_event */
    cr_assert(dirty(fx_device + VQ_SPLIT_AVAIL_EVENT(256)));
    cr_assert_eq(count(), 1);
}

Test(dirty, packed_used_descriptors_are_marked, .init = packed_log)
{
    vq_queue_set_log_addr(fx_q, 3 * MIB); /* packed rings log at the descriptor ring itself */
    fx_add(1, 64, 1, 0);
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    clear();
    cr_assert_eq(vq_add_used(fx_q, c.head, 64), 0);
    cr_assert(dirty(fx_desc));
    cr_assert_eq(count(), 1);
    clear();
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    cr_assert(dirty(fx_device));
    cr_assert_eq(count(), 1);
}

Test(dirty, writer_marks_the_pages_it_writes, .init = split_log)
{
    vq_mock_buf b[3] = {{BUF_BASE, 100, false}, {BUF_BASE + 4096 - 8, 16, true}, {BUF_BASE + 5 * 4096, 8192, true}};
    cr_assert_eq(vq_mock_add(fx_mk, b, 3, NULL), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    clear();
    vq_snapshot_buf sb;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    vq_reader r;
    vq_reader_init(&r, &sb.snap);
    uint8_t buf[100];
    cr_assert_eq(vq_reader_read(&r, buf, 100), 0);
    cr_assert_eq(count(), 0, "reading marks nothing");
    vq_writer w;
    vq_writer_init(&w, &sb.snap);
    static uint8_t data[16 + 4097];
    cr_assert_eq(vq_writer_write(&w, data, sizeof(data)), 0);
    cr_assert(dirty(BUF_BASE));
    cr_assert(dirty(BUF_BASE + 4096));
    cr_assert(dirty(BUF_BASE + 5 * 4096));
    cr_assert(dirty(BUF_BASE + 6 * 4096));
    cr_assert_eq(count(), 4);
    struct iovec iov[2];
    cr_assert_eq(vq_writer_iovec(&w, iov, 2), 1);
    clear();
    cr_assert_eq(vq_writer_advance(&w, iov[0].iov_len), 0);
    cr_assert(dirty(BUF_BASE + 6 * 4096));
    cr_assert_eq(count(), 1);
}
