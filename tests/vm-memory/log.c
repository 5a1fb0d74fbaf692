/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/log.c - the dirty-page bitmap (cvmm/vmem/log.h) and logging writes (cvmm/vmem/access.h). */
#include <fcntl.h>
#include <pthread.h>

#include "helpers.h"

#define PG VMEM_LOG_PAGE
/* The log covers 8 * LOG_BYTES pages = 1 MiB of guest memory; the map has 2 MiB at gpa 0. */
#define LOG_BYTES 32u
#define LOG_OFFSET 4100u /* not page-aligned on purpose */

static vmem_map *plain, *logged;
static vmem_log *dlog;
static int log_fd;
static uint8_t *bitmap; /* the front-end's view of the log */

static void setup(void)
{
    fd_mark();
    log_fd = zero_memfd(3 * 4096);
    cr_assert_eq(vmem_log_new_fd(log_fd, LOG_OFFSET, LOG_BYTES, &test_log, &dlog), 0);
    bitmap = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, log_fd, 0);
    cr_assert_neq(bitmap, MAP_FAILED);
    bitmap += LOG_OFFSET;
    vmem_region *r = memfd_region(0, 2 * MiB, 0);
    plain = map_of(&r, 1, NULL);
    cr_assert_eq(vmem_map_with_log(plain, dlog, &logged), 0);
}

static void teardown(void)
{
    vmem_map_free(plain);
    vmem_map_free(logged);
    vmem_log_unref(dlog);
    munmap(bitmap - LOG_OFFSET, 3 * 4096);
    close(log_fd);
    no_fd_leaked();
}

TestSuite(vmem_log, .init = setup, .fini = teardown, .timeout = 120);

/* Exactly the pages in [first, last] are set. */
static void expect_pages(uint64_t first, uint64_t last)
{
    for (uint64_t p = 0; p < LOG_BYTES * 8; p++) {
        bool set = (bitmap[p / 8] >> (p % 8)) & 1;
        cr_assert_eq(set, p >= first && p <= last, "page %llu: %d (want [%llu, %llu])", (unsigned long long)p, set,
                     (unsigned long long)first, (unsigned long long)last);
    }
}

static void expect_clean(void)
{
    for (unsigned i = 0; i < LOG_BYTES; i++)
        cr_assert_eq(bitmap[i], 0, "byte %u", i);
}

Test(vmem_log, accessors)
{
    cr_assert_eq(vmem_log_size(dlog), LOG_BYTES);
    cr_assert_eq(vmem_log_bitmap(dlog), vmem_log_bitmap(vmem_map_dirty_log(logged)));
    /* The bitmap is the fd's bytes at LOG_OFFSET. */
    cr_assert_eq(vmem_log_mark(dlog, 0, 1), 0);
    cr_assert_eq(bitmap[0], 1);
    cr_assert_eq(vmem_log_bitmap(dlog)[0], 1);
}

Test(vmem_log, mark_sets_exactly_the_touched_pages)
{
    cr_assert_eq(vmem_log_mark(dlog, 5 * PG + 10, 1), 0);
    expect_pages(5, 5);
    memset(bitmap, 0, LOG_BYTES);
    cr_assert_eq(vmem_log_mark(dlog, 7 * PG - 1, 2), 0); /* straddles 6/7 */
    expect_pages(6, 7);
    memset(bitmap, 0, LOG_BYTES);
    cr_assert_eq(vmem_log_mark(dlog, 3 * PG, 20 * PG), 0); /* 3..22: head, full bytes, tail */
    expect_pages(3, 22);
    memset(bitmap, 0, LOG_BYTES);
    cr_assert_eq(vmem_log_mark(dlog, 8 * PG, 8 * PG), 0); /* exactly byte 1 */
    expect_pages(8, 15);
    cr_assert_eq(bitmap[1], 0xff);
}

Test(vmem_log, zero_length_marks_nothing)
{
    cr_assert_eq(vmem_log_mark(dlog, 4 * PG, 0), 0);
    cr_assert_eq(vmem_log_mark(dlog, UINT64_MAX, 0), 0);
    expect_clean();
}

Test(vmem_log, wrapping_mark_is_eoverflow)
{
    cr_assert_eq(vmem_log_mark(dlog, UINT64_MAX - 10, 20), -EOVERFLOW);
    expect_clean();
}

Test(vmem_log, beyond_the_log_sets_what_fits_logs_once_and_is_efault)
{
    uint64_t npages = LOG_BYTES * 8;
    cap.lines = 0;
    cr_assert_eq(vmem_log_mark(dlog, (npages - 2) * PG, 4 * PG), -EFAULT);
    expect_pages(npages - 2, npages - 1);
    cr_assert_eq(cap.lines, 1);
    cr_assert_eq(cap.last_level, CVMM_LOG_WARN);
    cr_assert(strstr(cap.last, "vmem: dirty log"), "line: %s", cap.last);
    cr_assert_eq(vmem_log_mark(dlog, npages * PG * 4, 1), -EFAULT, "entirely beyond");
    cr_assert_eq(vmem_log_mark(dlog, UINT64_MAX - 1, 2), -EFAULT, "at the very top");
    cr_assert_eq(cap.lines, 1, "logged once per log");
    expect_pages(npages - 2, npages - 1);
}

Test(vmem_log, writes_through_a_logging_map_mark_their_pages)
{
    uint8_t buf[3 * PG] = {0};
    cr_assert_eq(vmem_write(logged, 2 * PG + 100, buf, 10), 0);
    expect_pages(2, 2);
    memset(bitmap, 0, LOG_BYTES);
    cr_assert_eq(vmem_write(logged, 9 * PG - 1, buf, 2 * PG + 2), 0);
    expect_pages(8, 11);
    memset(bitmap, 0, LOG_BYTES);
    cr_assert_eq(vmem_store_le64(logged, 12 * PG + 8, 1), 0);
    expect_pages(12, 12);
    memset(bitmap, 0, LOG_BYTES);
    cr_assert_eq(vmem_store_le32(logged, 13 * PG, 1), 0);
    cr_assert_eq(vmem_store_le16(logged, 13 * PG + 4, 1), 0);
    cr_assert_eq(vmem_store_release_u16(logged, 13 * PG + 6, 1), 0);
    cr_assert_eq(vmem_store_release_u32(logged, 13 * PG + 8, 1), 0);
    expect_pages(13, 13);
}

Test(vmem_log, reads_and_failed_writes_mark_nothing)
{
    uint8_t buf[64];
    uint64_t v;
    cr_assert_eq(vmem_read(logged, 0, buf, sizeof(buf)), 0);
    cr_assert_eq(vmem_load_le64(logged, 8, &v), 0);
    cr_assert_eq(vmem_write(logged, 2 * MiB - 8, buf, 16), -EFAULT);
    cr_assert_eq(vmem_store_le64(logged, 2 * MiB, 1), -EFAULT);
    cr_assert_eq(vmem_store_le64(logged, 3, 1), -EINVAL);
    expect_clean();
}

Test(vmem_log, writes_without_a_log_mark_nothing)
{
    uint8_t buf[64] = {0};
    cr_assert_eq(vmem_write(plain, 0, buf, sizeof(buf)), 0);
    cr_assert_eq(vmem_store_le32(plain, 5 * PG, 1), 0);
    cr_assert_eq(vmem_map_mark_dirty(plain, 0, PG), 0);
    expect_clean();
    /* Logging off again: a map derived without the log stops marking. */
    vmem_map *off;
    cr_assert_eq(vmem_map_with_log(logged, NULL, &off), 0);
    cr_assert_eq(vmem_write(off, 0, buf, 1), 0);
    expect_clean();
    vmem_map_free(off);
}

Test(vmem_log, mark_dirty_through_the_map)
{
    cr_assert_eq(vmem_map_mark_dirty(logged, 30 * PG, 3 * PG), 0);
    expect_pages(30, 32);
    cr_assert_eq(vmem_map_mark_dirty(logged, UINT64_MAX, 2), -EOVERFLOW);
}

Test(vmem_log, write_beyond_a_short_log_still_succeeds)
{
    /* The region is 2 MiB but the log covers 1 MiB: the write lands, the log reports once. */
    uint8_t buf[8] = {1};
    cap.lines = 0;
    cr_assert_eq(vmem_write(logged, 1 * MiB + 16, buf, 8), 0);
    cr_assert_eq(cap.lines, 1);
    cr_assert_eq(vmem_store_le64(logged, 1 * MiB + 64, 3), 0);
    cr_assert_eq(cap.lines, 1);
    uint64_t v;
    cr_assert_eq(vmem_load_le64(logged, 1 * MiB + 16, &v), 0);
    cr_assert_eq(v, 1);
    expect_clean();
}

Test(vmem_log, new_fd_errors)
{
    vmem_log *l = NULL;
    int fd = zero_memfd(4096);
    cr_assert_eq(vmem_log_new_fd(fd, 0, 0, &test_log, &l), -EINVAL);
    cr_assert_eq(vmem_log_new_fd(fd, UINT64_MAX - 10, 100, &test_log, &l), -EINVAL);
    cr_assert_eq(vmem_log_new_fd(-1, 0, 64, &test_log, &l), -EBADF);
    cr_assert_eq(vmem_log_new_fd(999, 0, 64, &test_log, &l), -EBADF);
    cap.lines = 0;
    cr_assert_eq(vmem_log_new_fd(fd, 4000, 200, &test_log, &l), -EINVAL, "past the end of the file");
    cr_assert_eq(cap.lines, 1);
    cr_assert(strstr(cap.last, "vmem: dirty log: fd"), "line: %s", cap.last);
    int ro = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    cap.lines = 0;
    cr_assert_eq(vmem_log_new_fd(ro, 0, 64, &test_log, &l), -EACCES, "needs a writable fd");
    cr_assert_eq(cap.lines, 1);
    cr_assert_null(l);
    close(ro);
    close(fd);
}

Test(vmem_log, fd_is_borrowed_and_mapping_outlives_it)
{
    int fd = zero_memfd(4096);
    vmem_log *l;
    cr_assert_eq(vmem_log_new_fd(fd, 0, 16, &test_log, &l), 0);
    cr_assert_geq(fcntl(fd, F_GETFD), 0, "still open: borrowed");
    close(fd);
    cr_assert_eq(vmem_log_mark(l, 0, 1), 0);
    cr_assert_eq(vmem_log_ref(l), l);
    vmem_log_unref(l);
    cr_assert_eq(vmem_log_bitmap(l)[0], 1);
    vmem_log_unref(l);
    vmem_log_unref(NULL);
}

struct marker {
    vmem_log *l;
    uint64_t first;
};

static void *mark_every_other_page(void *arg)
{
    struct marker *mk = arg;
    for (uint64_t p = mk->first; p < LOG_BYTES * 8; p += 2)
        if (vmem_log_mark(mk->l, p * PG, 1) != 0)
            return (void *)1;
    return NULL;
}

Test(vmem_log, concurrent_marks_lose_no_bits)
{
    /* Two threads set interleaved pages of the same bytes: the atomic OR keeps all of them. */
    for (int round = 0; round < 200; round++) {
        memset(bitmap, 0, LOG_BYTES);
        struct marker a = {dlog, 0}, b = {dlog, 1};
        pthread_t ta, tb;
        void *ra, *rb;
        cr_assert_eq(pthread_create(&ta, NULL, mark_every_other_page, &a), 0);
        cr_assert_eq(pthread_create(&tb, NULL, mark_every_other_page, &b), 0);
        pthread_join(ta, &ra);
        pthread_join(tb, &rb);
        cr_assert_null(ra);
        cr_assert_null(rb);
        for (unsigned i = 0; i < LOG_BYTES; i++)
            cr_assert_eq(bitmap[i], 0xff, "round %d byte %u: 0x%02x", round, i, bitmap[i]);
    }
}

/* SET_LOG_FD support: the back-end signals the front-end once per batch of marks. */
Test(vmem_log, take_marked_reports_marks_once)
{
    uint8_t b = 1;
    cr_assert_not(vmem_log_take_marked(dlog), "a new log has nothing marked");
    cr_assert_eq(vmem_log_mark(dlog, 0, 0), 0);
    cr_assert_eq(vmem_log_mark(dlog, UINT64_MAX - 10, 20), -EOVERFLOW);
    cr_assert_not(vmem_log_take_marked(dlog), "nothing set: nothing to report");
    cr_assert_eq(vmem_log_mark(dlog, 3 * PG, 1), 0);
    cr_assert_eq(vmem_write(logged, 5 * PG, &b, 1), 0);
    cr_assert(vmem_log_take_marked(dlog));
    cr_assert_not(vmem_log_take_marked(dlog), "reported once");
    cr_assert_eq(vmem_write(plain, 5 * PG, &b, 1), 0);
    cr_assert_not(vmem_log_take_marked(dlog), "a map without the log marks nothing");
    cr_assert_eq(vmem_log_mark(dlog, (LOG_BYTES * 8 - 1) * PG, 4 * PG), -EFAULT);
    cr_assert(vmem_log_take_marked(dlog), "the bits that fit were set");
    cr_assert_eq(vmem_log_mark(dlog, LOG_BYTES * 8 * PG, 1), -EFAULT);
    cr_assert_not(vmem_log_take_marked(dlog), "entirely beyond the log: no bit set");
}
