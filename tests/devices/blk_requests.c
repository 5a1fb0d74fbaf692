/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk's request handler (devices/blk/blk.c) driven by the mock driver over memfd guest memory and a
 * temporary disk file: every request type, both ring layouts, the zero-copy and bounce paths, dirty
 * marking, and malformed requests (short header, no status byte, ranges past the end or that wrap,
 * partial sectors, writes to a read-only disk) which must be answered, never crash. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aio.h"
#include "blk.h"
#include "blk_test_aio.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/mock.h"
#include "cvmm_test_fds.h"
#include "cvmm_test_flip.h"
#include "blk_test_util.h"

#define GUEST_SIZE (4u << 20)
#define DISK_SECTORS 2048u /* 1 MiB */
#define DISK_BYTES ((uint64_t)DISK_SECTORS * BLK_SECTOR)
#define HDR_GPA 0x8000u
#define STATUS_GPA 0x9000u
#define TABLE_GPA 0xa000u  /* indirect table, up to 1025 entries */
#define DATA_GPA 0x100000u /* data buffers from 1 MiB on */

static struct {
    char dir[64];
    char path[96];
    vmem_region *reg;
    vmem_log *dlog;
    int log_fd;
    vmem_map *map;
    vq_queue *q;
    vq_mock *mk;
    blk_disk disk;
    blk_aio *aio; /* io_uring mode (blk_test_aio.h); NULL: the synchronous blk_queue_process() */
    int fds_at_start;
    struct cvmm_log log;
} T;

/* The disk file: DISK_BYTES of a known pattern, or @size bytes. */
static void make_disk(uint64_t size)
{
    int fd = open(T.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    uint8_t *buf = malloc(size ? size : 1);
    for (uint64_t i = 0; i < size; i++)
        buf[i] = blk_test_disk_byte(i);
    cr_assert_eq(pwrite(fd, buf, size, 0), (ssize_t)size);
    free(buf);
    close(fd);
}

static void setup(enum vq_layout layout, bool ro)
{
    memset(&T, 0, sizeof(T));
    T.log = (struct cvmm_log){.fn = blk_test_quiet, .level = CVMM_LOG_DEBUG};
    T.fds_at_start = cvmm_test_count_fds();
    snprintf(T.dir, sizeof(T.dir), "/tmp/blktest.XXXXXX");
    cr_assert_not_null(mkdtemp(T.dir));
    snprintf(T.path, sizeof(T.path), "%s/disk.img", T.dir);
    make_disk(DISK_BYTES);
    cr_assert_eq(blk_disk_open(&T.disk, T.path, ro, &T.log), 0);

    vmem_region_desc rd = {.gpa = 0, .size = GUEST_SIZE};
    cr_assert_eq(vmem_region_new_memfd(&rd, &T.log, &T.reg), 0);
    T.log_fd = memfd_create("dirty", MFD_CLOEXEC);
    cr_assert_geq(T.log_fd, 0);
    cr_assert_eq(ftruncate(T.log_fd, 4096), 0);
    cr_assert_eq(vmem_log_new_fd(T.log_fd, 0, 4096, &T.log, &T.dlog), 0);
    cr_assert_eq(vmem_map_new(&T.reg, 1, T.dlog, &T.log, &T.map), 0);

    vq_queue_config qc = {.max_size = 256, .layout = layout, .log = &T.log};
    cr_assert_eq(vq_queue_new(&qc, &T.q), 0);
    vq_mock_config mc = {.layout = layout, .size = 256, .desc_gpa = 0, .driver_gpa = 0x1000, .device_gpa = 0x2000};
    cr_assert_eq(vq_mock_new(T.map, &mc, &T.mk), 0);
    cr_assert_eq(vq_mock_attach(T.mk, T.q), 0);
    if (blk_test_aio() == BLK_AIO_IO_URING)
        cr_assert_eq(blk_aio_new(&T.disk, 0, 128, &T.aio), 0);
}

static void split_rw(void) { setup(VQ_LAYOUT_SPLIT, false); }
static void split_ro(void) { setup(VQ_LAYOUT_SPLIT, true); }
static void packed_rw(void) { setup(VQ_LAYOUT_PACKED, false); }

static void teardown(void)
{
    blk_aio_free(T.aio);
    vq_mock_free(T.mk);
    vq_queue_free(T.q);
    vmem_map_free(T.map);
    vmem_log_unref(T.dlog);
    vmem_region_unref(T.reg);
    close(T.log_fd);
    blk_disk_close(&T.disk);
    unlink(T.path);
    rmdir(T.dir);
    cr_expect_eq(cvmm_test_count_fds(), T.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 T.fds_at_start);
}

/* ---- helpers ---- */

static uint8_t *gp(uint64_t gpa, uint64_t len)
{
    void *p;
    cr_assert_eq(vmem_map_translate(T.map, gpa, len, &p), 0);
    return p;
}

static void put_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
    struct {
        cvmm_le32 type, reserved;
        cvmm_le64 sector;
    } h = {cvmm_le32_set(type), cvmm_le32_set(0), cvmm_le64_set(sector)};
    memcpy(gp(gpa, 16), &h, 16);
}

static void put_seg(uint64_t gpa, uint64_t sector, uint32_t num, uint32_t flags)
{
    struct {
        cvmm_le64 sector;
        cvmm_le32 num, flags;
    } s = {cvmm_le64_set(sector), cvmm_le32_set(num), cvmm_le32_set(flags)};
    memcpy(gp(gpa, 16), &s, 16);
}

/* Serve the queue as the device does: synchronously, or through the engine until nothing is in flight.
 * Return: requests popped; -errno from the ring. */
static int serve(void)
{
    if (!T.aio)
        return blk_queue_process(&T.disk, T.q);
    int total = 0;
    bool more;
    do {
        int n = blk_aio_kick(T.aio, T.q, T.map, &more);
        if (n < 0)
            return n;
        total += n;
        if ((n = blk_aio_complete(T.aio, T.q, true, true)) < 0)
            return n;
    } while (more || blk_aio_wants_kick(T.aio));
    return total;
}

/* Make the chain available, let the device serve the queue, and return the used length. */
static uint32_t run_chain(const vq_mock_buf *b, unsigned n, bool indirect)
{
    uint16_t head, uhead;
    uint32_t len;
    if (indirect)
        cr_assert_eq(vq_mock_add_indirect(T.mk, TABLE_GPA, b, n, &head), 0);
    else
        cr_assert_eq(vq_mock_add(T.mk, b, n, &head), 0);
    cr_assert_eq(serve(), 1);
    cr_assert_eq(vq_mock_used(T.mk, &uhead, &len), 1);
    cr_assert_eq(uhead, head);
    cr_assert_not(vq_queue_broken(T.q));
    return len;
}

static uint8_t status(void) { return *gp(STATUS_GPA, 1); }

/* Simple request: header, one data buffer (readable for OUT-like, writable for IN-like), status. */
static uint32_t run_req(uint32_t type, uint64_t sector, uint32_t dlen, bool data_writable)
{
    put_hdr(HDR_GPA, type, sector);
    *gp(STATUS_GPA, 1) = 0xee;
    vq_mock_buf b[3] = {{HDR_GPA, 16, false}, {DATA_GPA, dlen, data_writable}, {STATUS_GPA, 1, true}};
    if (dlen == 0) {
        b[1] = b[2];
        return run_chain(b, 2, false);
    }
    return run_chain(b, 3, false);
}

static bool file_matches_pattern(uint64_t off, uint64_t len)
{
    uint8_t *buf = malloc(len);
    int fd = open(T.path, O_RDONLY | O_CLOEXEC);
    bool ok = pread(fd, buf, len, (off_t)off) == (ssize_t)len;
    for (uint64_t i = 0; ok && i < len; i++)
        ok = buf[i] == blk_test_disk_byte(off + i);
    close(fd);
    free(buf);
    return ok;
}

static bool file_equals(uint64_t off, const uint8_t *want, uint64_t len)
{
    uint8_t *buf = malloc(len);
    int fd = open(T.path, O_RDONLY | O_CLOEXEC);
    bool ok = pread(fd, buf, len, (off_t)off) == (ssize_t)len && memcmp(buf, want, len) == 0;
    close(fd);
    free(buf);
    return ok;
}

static bool file_zero(uint64_t off, uint64_t len)
{
    uint8_t *z = calloc(1, len);
    bool ok = file_equals(off, z, len);
    free(z);
    return ok;
}

static bool dirty(uint64_t gpa)
{
    const uint8_t *bm = vmem_log_bitmap(T.dlog);
    uint64_t page = gpa / VMEM_LOG_PAGE;
    return (bm[page / 8] >> (page % 8)) & 1;
}

static void fill_guest(uint64_t gpa, uint64_t len, uint8_t seed)
{
    uint8_t *p = gp(gpa, len);
    for (uint64_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 13);
}

TestSuite(blk_requests, .timeout = 120); /* hangs only (CONTRIBUTING §12) */

/* ---- configuration ---- */

Test(blk_requests, config_space_reports_capacity_limits_and_queues, .init = split_rw, .fini = teardown)
{
    struct blk_config c;
    blk_disk_config(&T.disk, 4, &c);
    cr_assert_eq(cvmm_le64_get(c.capacity), DISK_SECTORS);
    cr_assert_eq(cvmm_le32_get(c.seg_max), BLK_SEG_MAX);
    cr_assert_eq(cvmm_le32_get(c.blk_size), 512);
    cr_assert_eq(cvmm_le16_get(c.num_queues), 4);
    cr_assert_eq(cvmm_le32_get(c.max_discard_sectors), BLK_DWZ_SECTORS_MAX);
    cr_assert_eq(cvmm_le32_get(c.max_discard_seg), BLK_DWZ_SEG_MAX);
    cr_assert_eq(cvmm_le32_get(c.discard_sector_alignment), 1);
    cr_assert_eq(cvmm_le32_get(c.max_write_zeroes_sectors), BLK_DWZ_SECTORS_MAX);
    cr_assert_eq(cvmm_le32_get(c.max_write_zeroes_seg), BLK_DWZ_SEG_MAX);
    cr_assert_eq(c.write_zeroes_may_unmap, 1);
    /* the field offsets of the spec */
    cr_assert_eq(offsetof(struct blk_config, blk_size), 20);
    cr_assert_eq(offsetof(struct blk_config, num_queues), 34);
    cr_assert_eq(offsetof(struct blk_config, max_discard_sectors), 36);
    cr_assert_eq(offsetof(struct blk_config, write_zeroes_may_unmap), 56);
    cr_assert_eq(offsetof(struct blk_config, max_secure_erase_sectors), 60);
    uint64_t f = blk_disk_features(&T.disk, 4);
    cr_assert(f & (1ull << BLK_F_MQ));
    cr_assert(f & (1ull << BLK_F_DISCARD));
    cr_assert(f & (1ull << BLK_F_WRITE_ZEROES));
    cr_assert(f & (1ull << BLK_F_FLUSH));
    cr_assert_not(f & (1ull << BLK_F_RO));
    cr_assert_not(blk_disk_features(&T.disk, 1) & (1ull << BLK_F_MQ));
}

Test(blk_requests, read_only_disk_offers_ro_and_no_discard, .init = split_ro, .fini = teardown)
{
    struct blk_config c;
    uint64_t f = blk_disk_features(&T.disk, 1);
    cr_assert(f & (1ull << BLK_F_RO));
    cr_assert_not(f & ((1ull << BLK_F_DISCARD) | (1ull << BLK_F_WRITE_ZEROES)));
    blk_disk_config(&T.disk, 1, &c);
    cr_assert_eq(cvmm_le32_get(c.max_discard_sectors), 0);
    cr_assert_eq(c.write_zeroes_may_unmap, 0);
}

/* ---- IN / OUT ---- */

Test(blk_requests, read_spans_descriptors_and_marks_them_dirty, .init = split_rw, .fini = teardown)
{
    put_hdr(HDR_GPA, BLK_T_IN, 10);
    vq_mock_buf b[5] = {{HDR_GPA, 16, false},
                        {DATA_GPA, 512, true},
                        {DATA_GPA + 0x10000, 1024, true},
                        {DATA_GPA + 0x20000, 512, true},
                        {STATUS_GPA, 1, true}};
    uint32_t len = run_chain(b, 5, false);
    cr_assert_eq(len, 2048 + 1);
    cr_assert_eq(status(), BLK_S_OK);
    uint8_t *p0 = gp(DATA_GPA, 512), *p1 = gp(DATA_GPA + 0x10000, 1024), *p2 = gp(DATA_GPA + 0x20000, 512);
    for (unsigned i = 0; i < 512; i++) {
        cr_assert_eq(p0[i], blk_test_disk_byte(10 * 512 + i));
        cr_assert_eq(p2[i], blk_test_disk_byte(10 * 512 + 1536 + i));
    }
    for (unsigned i = 0; i < 1024; i++)
        cr_assert_eq(p1[i], blk_test_disk_byte(10 * 512 + 512 + i));
    cr_assert(dirty(DATA_GPA) && dirty(DATA_GPA + 0x10000) && dirty(DATA_GPA + 0x20000) && dirty(STATUS_GPA));
    cr_assert_not(dirty(DATA_GPA + 0x30000));
    cr_assert_not(dirty(HDR_GPA + 0x10000)); /* nothing else */
}

Test(blk_requests, write_with_header_and_data_in_one_descriptor, .init = split_rw, .fini = teardown)
{
    put_hdr(HDR_GPA, BLK_T_OUT, 100);
    fill_guest(HDR_GPA + 16, 1024, 3);
    *gp(STATUS_GPA, 1) = 0xee;
    vq_mock_buf b[2] = {{HDR_GPA, 16 + 1024, false}, {STATUS_GPA, 1, true}};
    cr_assert_eq(run_chain(b, 2, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert(file_equals(100 * 512, gp(HDR_GPA + 16, 1024), 1024));
    cr_assert(file_matches_pattern(99 * 512, 512));
    cr_assert(file_matches_pattern(102 * 512, 512));
}

Test(blk_requests, header_split_across_descriptors_is_read_whole, .init = split_rw, .fini = teardown)
{
    put_hdr(HDR_GPA, BLK_T_IN, 3);
    /* move the sector (bytes 8..15) to another page */
    memcpy(gp(HDR_GPA + 0x100, 8), gp(HDR_GPA + 8, 8), 8);
    memset(gp(HDR_GPA + 8, 8), 0xff, 8);
    vq_mock_buf b[4] = {{HDR_GPA, 8, false}, {HDR_GPA + 0x100, 8, false}, {DATA_GPA, 512, true}, {STATUS_GPA, 1, true}};
    cr_assert_eq(run_chain(b, 4, false), 513);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert_eq(gp(DATA_GPA, 1)[0], blk_test_disk_byte(3 * 512));
}

Test(blk_requests, status_is_the_last_byte_of_a_larger_writable_buffer, .init = split_rw, .fini = teardown)
{
    put_hdr(HDR_GPA, BLK_T_OUT, 0);
    fill_guest(DATA_GPA, 512, 9);
    memset(gp(STATUS_GPA, 4), 0xee, 4);
    vq_mock_buf b[3] = {{HDR_GPA, 16, false}, {DATA_GPA, 512, false}, {STATUS_GPA, 4, true}};
    cr_assert_eq(run_chain(b, 3, false), 1);
    cr_assert_eq(gp(STATUS_GPA, 4)[3], BLK_S_OK);
    cr_assert_eq(gp(STATUS_GPA, 4)[0], 0xee);
    cr_assert(file_equals(0, gp(DATA_GPA, 512), 512));
}

Test(blk_requests, read_and_write_through_indirect_table, .init = split_rw, .fini = teardown)
{
    put_hdr(HDR_GPA, BLK_T_OUT, 2040);
    fill_guest(DATA_GPA, 4096, 77);
    vq_mock_buf b[3] = {{HDR_GPA, 16, false}, {DATA_GPA, 4096, false}, {STATUS_GPA, 1, true}};
    cr_assert_eq(run_chain(b, 3, true), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert(file_equals(2040 * 512, gp(DATA_GPA, 4096), 4096)); /* the last 8 sectors */
    put_hdr(HDR_GPA, BLK_T_IN, 2040);
    vq_mock_buf r[3] = {{HDR_GPA, 16, false}, {DATA_GPA + 0x10000, 4096, true}, {STATUS_GPA, 1, true}};
    cr_assert_eq(run_chain(r, 3, true), 4097);
    cr_assert_eq(memcmp(gp(DATA_GPA, 4096), gp(DATA_GPA + 0x10000, 4096), 4096), 0);
}

/* More data descriptors than iovecs: the bounce-buffer path. */
Test(blk_requests, chains_longer_than_the_iovec_array_use_a_bounce_buffer, .init = split_rw, .fini = teardown)
{
    enum { N = BLK_IOV_MAX + 44 };
    static vq_mock_buf b[N + 2];
    b[0] = (vq_mock_buf){HDR_GPA, 16, false};
    for (unsigned i = 0; i < N; i++)
        b[1 + i] = (vq_mock_buf){DATA_GPA + i * 1024ull, 512, false}; /* every other half KiB */
    b[N + 1] = (vq_mock_buf){STATUS_GPA, 1, true};
    fill_guest(DATA_GPA, N * 1024ull, 5);
    put_hdr(HDR_GPA, BLK_T_OUT, 0);
    cr_assert_eq(run_chain(b, N + 2, true), 1);
    cr_assert_eq(status(), BLK_S_OK);
    for (unsigned i = 0; i < N; i++)
        cr_assert(file_equals(i * 512ull, gp(DATA_GPA + i * 1024ull, 512), 512), "segment %u", i);
    /* and back, into fresh buffers */
    for (unsigned i = 0; i < N; i++)
        b[1 + i] = (vq_mock_buf){DATA_GPA + 0x100000 + i * 512ull, 512, true};
    put_hdr(HDR_GPA, BLK_T_IN, 0);
    cr_assert_eq(run_chain(b, N + 2, true), N * 512u + 1);
    cr_assert_eq(status(), BLK_S_OK);
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(memcmp(gp(DATA_GPA + 0x100000 + i * 512ull, 512), gp(DATA_GPA + i * 1024ull, 512), 512), 0);
    cr_assert(dirty(DATA_GPA + 0x100000) && dirty(DATA_GPA + 0x100000 + (N - 1) * 512ull));
}

/* ---- a guest that rewrites a descriptor after the device checked it (issue 10, defect 2) ---- */

#if CVMM_TEST_FLIP_OK /* a second thread stores into the descriptor on purpose: not for TSan */
/* An OUT of one sector to the last sector, whose data descriptor's length another vCPU keeps flipping
 * between 512 and 64 KiB: the device checks the length it reads against the capacity, and must write
 * exactly that (512 bytes: OK, or 64 KiB: IOERR), never 64 KiB at the last sector (the image grew). */
static struct cvmm_test_flip flip;
static bool flipping;

static void teardown_flip(void) /* the thread stops before guest memory goes, also after a failure */
{
    if (flipping)
        (void)cvmm_test_flip_stop(&flip, 512);
    flipping = false;
    teardown();
}

Test(blk_requests, out_length_grown_after_the_check_never_writes_past_the_end, .init = split_rw, .fini = teardown_flip)
{
    put_hdr(HDR_GPA, BLK_T_OUT, DISK_SECTORS - 1);
    fill_guest(DATA_GPA, 65536, 3);
    vq_mock_buf b[3] = {{HDR_GPA, 16, false}, {DATA_GPA, 512, false}, {STATUS_GPA, 1, true}};
    unsigned ok = 0, ioerr = 0;
    uint64_t size = DISK_BYTES;
    uint16_t data_desc = 0;
    unsigned i;
    for (i = 0; i < 1000 && size == DISK_BYTES; i++) {
        uint16_t head, uhead, next;
        uint32_t len;
        *gp(STATUS_GPA, 1) = 0xee;
        cr_assert_eq(vq_mock_add(T.mk, b, 3, &head), 0);
        cr_assert_eq(vmem_load_le16(T.map, vq_mock_desc_gpa(T.mk, head) + 14, &next), 0);
        if (i == 0) {
            data_desc = next;
            /* another vCPU flips the data descriptor's len between 512 and 64 KiB from now on */
            cr_assert_eq(cvmm_test_flip_start(&flip, gp(vq_mock_desc_gpa(T.mk, data_desc) + 8, 4), 512, 65536), 0);
            flipping = true;
        }
        cr_assert_eq(next, data_desc, "the mock reuses the same descriptors");
        cvmm_test_flip_wait(&flip, 2); /* the other vCPU is running as the device starts */
        cr_assert_eq(serve(), 1);
        cr_assert_eq(vq_mock_used(T.mk, &uhead, &len), 1);
        cr_assert_eq(uhead, head);
        cr_assert_eq(len, 1);
        cr_assert(status() == BLK_S_OK || status() == BLK_S_IOERR);
        ok += status() == BLK_S_OK;
        ioerr += status() == BLK_S_IOERR;
        struct stat st;
        cr_assert_eq(fstat(T.disk.fd, &st), 0);
        size = (uint64_t)st.st_size;
    }
    unsigned long flips = cvmm_test_flip_stop(&flip, 512);
    flipping = false;
    cr_assert_eq(size, DISK_BYTES, "request %u: the image grew to %llu bytes: data past the capacity were written", i,
                 (unsigned long long)size);
    cr_assert_gt(flips, 0);
    cr_log_info("blk: %u written, %u refused, %lu length flips", ok, ioerr, flips);
    cr_assert(ok == 0 || file_equals((DISK_SECTORS - 1) * 512ull, gp(DATA_GPA, 512), 512));
}
#endif

/* More descriptors than a snapshot holds (BLK_CHAIN_DESCS_MAX): returned unanswered, the queue goes on. */
Test(blk_requests, chain_of_more_than_1024_descriptors_is_returned_unanswered, .init = split_rw, .fini = teardown)
{
    enum { N = BLK_CHAIN_DESCS_MAX + 1 };
    static vq_mock_buf b[N];
    b[0] = (vq_mock_buf){HDR_GPA, 16, false};
    for (unsigned i = 1; i < N - 1; i++)
        b[i] = (vq_mock_buf){DATA_GPA + i * 512ull, 512, false};
    b[N - 1] = (vq_mock_buf){STATUS_GPA, 1, true};
    put_hdr(HDR_GPA, BLK_T_OUT, 0);
    fill_guest(DATA_GPA, N * 512ull, 9);
    *gp(STATUS_GPA, 1) = 0xee;
    cr_assert_eq(run_chain(b, N, true), 0);
    cr_assert_eq(status(), 0xee, "no status written");
    cr_assert(file_matches_pattern(0, DISK_BYTES));
    cr_assert_eq(run_req(BLK_T_IN, 0, 512, true), 513, "the queue goes on");
    cr_assert_eq(status(), BLK_S_OK);
}

/* ---- ranges ---- */

Test(blk_requests, read_past_the_end_is_ioerr_and_writes_nothing, .init = split_rw, .fini = teardown)
{
    memset(gp(DATA_GPA, 1024), 0x5a, 1024);
    cr_assert_eq(run_req(BLK_T_IN, DISK_SECTORS, 512, true), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert_eq(run_req(BLK_T_IN, DISK_SECTORS - 1, 1024, true), 1); /* straddles the end */
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert_eq(gp(DATA_GPA, 1)[0], 0x5a);
    cr_assert_not(dirty(DATA_GPA));
    cr_assert_eq(run_req(BLK_T_IN, DISK_SECTORS - 2, 1024, true), 1025); /* exactly the last two */
    cr_assert_eq(status(), BLK_S_OK);
}

Test(blk_requests, sectors_that_would_wrap_are_ioerr, .init = split_rw, .fini = teardown)
{
    static const uint64_t bad[] = {UINT64_MAX, UINT64_MAX / 512 + 1, 1ull << 55, (UINT64_MAX / 512) - 1};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(run_req(BLK_T_IN, bad[i], 512, true), 1);
        cr_assert_eq(status(), BLK_S_IOERR, "sector %llu", (unsigned long long)bad[i]);
        cr_assert_eq(run_req(BLK_T_OUT, bad[i], 512, false), 1);
        cr_assert_eq(status(), BLK_S_IOERR, "sector %llu", (unsigned long long)bad[i]);
    }
    cr_assert(file_matches_pattern(0, DISK_BYTES));
}

Test(blk_requests, write_past_the_end_is_ioerr_and_leaves_the_file, .init = split_rw, .fini = teardown)
{
    fill_guest(DATA_GPA, 1024, 1);
    cr_assert_eq(run_req(BLK_T_OUT, DISK_SECTORS - 1, 1024, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert(file_matches_pattern(0, DISK_BYTES));
    struct stat st;
    cr_assert_eq(stat(T.path, &st), 0);
    cr_assert_eq((uint64_t)st.st_size, DISK_BYTES);
}

Test(blk_requests, partial_sectors_are_ioerr, .init = split_rw, .fini = teardown)
{
    cr_assert_eq(run_req(BLK_T_IN, 0, 100, true), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert_eq(run_req(BLK_T_OUT, 0, 513, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert(file_matches_pattern(0, 4096));
}

Test(blk_requests, empty_transfers_succeed, .init = split_rw, .fini = teardown)
{
    cr_assert_eq(run_req(BLK_T_IN, DISK_SECTORS, 0, true), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert_eq(run_req(BLK_T_OUT, 5, 0, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
}

/* ---- malformed requests ---- */

Test(blk_requests, short_header_is_ioerr, .init = split_rw, .fini = teardown)
{
    put_hdr(HDR_GPA, BLK_T_IN, 0);
    *gp(STATUS_GPA, 1) = 0xee;
    vq_mock_buf b[3] = {{HDR_GPA, 8, false}, {DATA_GPA, 512, true}, {STATUS_GPA, 1, true}};
    cr_assert_eq(run_chain(b, 3, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    vq_mock_buf w[1] = {{STATUS_GPA, 1, true}}; /* no readable part at all */
    *gp(STATUS_GPA, 1) = 0xee;
    cr_assert_eq(run_chain(w, 1, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
}

Test(blk_requests, request_without_status_byte_is_returned_unanswered, .init = split_rw, .fini = teardown)
{
    put_hdr(HDR_GPA, BLK_T_OUT, 0);
    fill_guest(DATA_GPA, 512, 4);
    vq_mock_buf b[2] = {{HDR_GPA, 16, false}, {DATA_GPA, 512, false}};
    cr_assert_eq(run_chain(b, 2, false), 0);
    cr_assert(file_matches_pattern(0, 512)); /* not carried out */
    /* the queue goes on */
    cr_assert_eq(run_req(BLK_T_IN, 1, 512, true), 513);
    cr_assert_eq(status(), BLK_S_OK);
}

Test(blk_requests, unknown_types_are_unsupp, .init = split_rw, .fini = teardown)
{
    static const uint32_t types[] = {2, 3, 7, BLK_T_GET_LIFETIME, BLK_T_SECURE_ERASE, 99, UINT32_MAX};
    for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        cr_assert_eq(run_req(types[i], 0, 512, true), 1);
        cr_assert_eq(status(), BLK_S_UNSUPP, "type %u", types[i]);
    }
}

Test(blk_requests, a_broken_ring_stops_processing, .init = split_rw, .fini = teardown)
{
    /* a chain whose buffer lies outside guest memory */
    put_hdr(HDR_GPA, BLK_T_IN, 0);
    vq_mock_buf b[3] = {{HDR_GPA, 16, false}, {GUEST_SIZE - 256, 512, true}, {STATUS_GPA, 1, true}};
    cr_assert_eq(vq_mock_add(T.mk, b, 3, NULL), 0);
    cr_assert_eq(serve(), -EIO);
    cr_assert(vq_queue_broken(T.q));
}

/* ---- FLUSH, GET_ID ---- */

Test(blk_requests, flush_is_ok, .init = split_rw, .fini = teardown)
{
    cr_assert_eq(run_req(BLK_T_FLUSH, 0, 0, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
}

Test(blk_requests, get_id_writes_the_serial, .init = split_rw, .fini = teardown)
{
    memset(gp(DATA_GPA, 20), 0xee, 20);
    cr_assert_eq(run_req(BLK_T_GET_ID, 0, 20, true), 21);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert_eq(strncmp((char *)gp(DATA_GPA, 5), "cvmm-", 5), 0);
    cr_assert_eq(memcmp(gp(DATA_GPA, 20), T.disk.id, 20), 0);
    cr_assert_eq(run_req(BLK_T_GET_ID, 0, 8, true), 9); /* a shorter buffer gets what fits */
}

/* ---- read-only ---- */

Test(blk_requests, read_only_refuses_writes_discards_and_zeroes, .init = split_ro, .fini = teardown)
{
    fill_guest(DATA_GPA, 512, 1);
    cr_assert_eq(run_req(BLK_T_OUT, 0, 512, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    put_seg(DATA_GPA, 0, 8, 0);
    cr_assert_eq(run_req(BLK_T_DISCARD, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert(file_matches_pattern(0, DISK_BYTES));
    cr_assert_eq(run_req(BLK_T_IN, 0, 512, true), 513);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert_eq(run_req(BLK_T_FLUSH, 0, 0, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
}

/* ---- DISCARD, WRITE_ZEROES ---- */

Test(blk_requests, write_zeroes_zeroes_the_ranges, .init = split_rw, .fini = teardown)
{
    put_seg(DATA_GPA, 8, 8, 0);
    put_seg(DATA_GPA + 16, 64, 16, BLK_WRITE_ZEROES_FLAG_UNMAP);
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 32, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert(file_zero(8 * 512, 8 * 512));
    cr_assert(file_zero(64 * 512, 16 * 512));
    cr_assert(file_matches_pattern(0, 8 * 512));
    cr_assert(file_matches_pattern(16 * 512, 48 * 512));
    cr_assert(file_matches_pattern(80 * 512, DISK_BYTES - 80 * 512));
}

Test(blk_requests, discard_deallocates_and_keeps_the_size, .init = split_rw, .fini = teardown)
{
    put_seg(DATA_GPA, 256, 256, 0);
    cr_assert_eq(run_req(BLK_T_DISCARD, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert(file_zero(256 * 512, 256 * 512)); /* punched (ext4/tmpfs/xfs) */
    cr_assert(file_matches_pattern(0, 256 * 512));
    struct stat st;
    cr_assert_eq(stat(T.path, &st), 0);
    cr_assert_eq((uint64_t)st.st_size, DISK_BYTES);
}

Test(blk_requests, discard_and_zeroes_flags_are_checked, .init = split_rw, .fini = teardown)
{
    put_seg(DATA_GPA, 0, 8, BLK_WRITE_ZEROES_FLAG_UNMAP); /* unmap is not a discard flag */
    cr_assert_eq(run_req(BLK_T_DISCARD, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_UNSUPP);
    put_seg(DATA_GPA, 0, 8, 2);
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_UNSUPP);
    cr_assert(file_matches_pattern(0, DISK_BYTES));
}

Test(blk_requests, bad_discard_and_zeroes_segments_are_ioerr, .init = split_rw, .fini = teardown)
{
    put_seg(DATA_GPA, DISK_SECTORS - 4, 8, 0); /* past the end */
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    put_seg(DATA_GPA, UINT64_MAX, 1, 0); /* wraps */
    cr_assert_eq(run_req(BLK_T_DISCARD, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    put_seg(DATA_GPA, 0, BLK_DWZ_SECTORS_MAX + 1, 0); /* over max_*_sectors */
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 16, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    put_seg(DATA_GPA, 0, 8, 0);
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 15, false), 1); /* not a whole segment */
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 0, false), 1); /* no segment */
    cr_assert_eq(status(), BLK_S_IOERR);
    for (unsigned i = 0; i <= BLK_DWZ_SEG_MAX; i++)
        put_seg(DATA_GPA + 16 * i, i, 1, 0);
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 16 * (BLK_DWZ_SEG_MAX + 1), false), 1); /* too many */
    cr_assert_eq(status(), BLK_S_IOERR);
    /* a bad segment after a good one: nothing is done */
    put_seg(DATA_GPA, 0, 8, 0);
    put_seg(DATA_GPA + 16, DISK_SECTORS, 1, 0);
    cr_assert_eq(run_req(BLK_T_WRITE_ZEROES, 0, 32, false), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    cr_assert(file_matches_pattern(0, DISK_BYTES));
}

/* ---- packed ring ---- */

Test(blk_requests, packed_ring_reads_writes_and_refuses_past_end, .init = packed_rw, .fini = teardown)
{
    fill_guest(DATA_GPA, 2048, 11);
    cr_assert_eq(run_req(BLK_T_OUT, 500, 2048, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert(file_equals(500 * 512, gp(DATA_GPA, 2048), 2048));
    put_hdr(HDR_GPA, BLK_T_IN, 500);
    vq_mock_buf b[3] = {{HDR_GPA, 16, false}, {DATA_GPA + 0x10000, 2048, true}, {STATUS_GPA, 1, true}};
    cr_assert_eq(run_chain(b, 3, true), 2049);
    cr_assert_eq(memcmp(gp(DATA_GPA, 2048), gp(DATA_GPA + 0x10000, 2048), 2048), 0);
    cr_assert(dirty(DATA_GPA + 0x10000));
    cr_assert_eq(run_req(BLK_T_IN, DISK_SECTORS, 512, true), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    /* many requests in a row wrap the ring */
    for (unsigned i = 0; i < 300; i++) {
        cr_assert_eq(run_req(BLK_T_IN, i, 512, true), 513);
        cr_assert_eq(status(), BLK_S_OK);
    }
}

/* ---- opening the disk ---- */

Test(blk_requests, open_refuses_missing_files_directories_and_tiny_files, .init = split_rw, .fini = teardown)
{
    blk_disk d;
    char p[128];
    snprintf(p, sizeof(p), "%s/missing", T.dir);
    cr_assert_eq(blk_disk_open(&d, p, false, &T.log), -ENOENT);
    cr_assert_eq(d.fd, -1);
    cr_assert_eq(blk_disk_open(&d, T.dir, true, &T.log), -EINVAL);
    cr_assert_eq(d.fd, -1);
    snprintf(p, sizeof(p), "%s/tiny", T.dir);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_eq(write(fd, "x", 1), 1);
    close(fd);
    cr_assert_eq(blk_disk_open(&d, p, false, &T.log), -EINVAL);
    cr_assert_eq(d.fd, -1);
    cr_assert_eq(blk_disk_open(NULL, p, false, &T.log), -EINVAL);
    cr_assert_eq(blk_disk_open(&d, NULL, false, &T.log), -EINVAL);
    unlink(p);
    blk_disk_close(&d); /* safe on a failed open */
}

Test(blk_requests, partial_last_sector_is_not_exposed, .init = split_rw, .fini = teardown)
{
    blk_disk_close(&T.disk);
    make_disk(DISK_BYTES + 300);
    cr_assert_eq(blk_disk_open(&T.disk, T.path, false, &T.log), 0);
    cr_assert_eq(T.disk.sectors, DISK_SECTORS);
}

/* ---- a block device (a loop device over the disk file; skipped without root or loop support) ---- */

static char loopdev[64];

static void loop_setup(void)
{
    split_rw();
    blk_disk_close(&T.disk);
    loopdev[0] = '\0';
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "losetup --find --show %s 2>/dev/null", T.path);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(loopdev, sizeof(loopdev), p))
            loopdev[0] = '\0';
        pclose(p);
    }
    loopdev[strcspn(loopdev, "\n")] = '\0';
}

static void loop_teardown(void)
{
    if (loopdev[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
        cr_expect_eq(system(cmd), 0);
    }
    teardown();
}

Test(blk_requests, block_device_size_requests_discard_and_zeroes, .init = loop_setup, .fini = loop_teardown)
{
    if (!loopdev[0])
        cr_skip_test("no loop device (needs root and losetup)");
    cr_assert_eq(blk_disk_open(&T.disk, loopdev, false, &T.log), 0);
    cr_assert(T.disk.is_bdev);
    cr_assert_eq(T.disk.sectors, DISK_SECTORS);
    cr_assert_eq(T.disk.blk_size, 512);
    cr_assert_eq(run_req(BLK_T_IN, 4, 512, true), 513);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert_eq(gp(DATA_GPA, 1)[0], blk_test_disk_byte(4 * 512));
    fill_guest(DATA_GPA, 1024, 42);
    cr_assert_eq(run_req(BLK_T_OUT, 10, 1024, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert_eq(run_req(BLK_T_FLUSH, 0, 0, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    put_seg(DATA_GPA + 0x10000, 64, 8, 0);
    put_seg(DATA_GPA + 0x10010, 80, 8, BLK_WRITE_ZEROES_FLAG_UNMAP);
    put_hdr(HDR_GPA, BLK_T_WRITE_ZEROES, 0);
    vq_mock_buf b[3] = {{HDR_GPA, 16, false}, {DATA_GPA + 0x10000, 32, false}, {STATUS_GPA, 1, true}};
    cr_assert_eq(run_chain(b, 3, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    put_seg(DATA_GPA + 0x10000, 128, 8, 0);
    put_hdr(HDR_GPA, BLK_T_DISCARD, 0);
    b[1].len = 16;
    cr_assert_eq(run_chain(b, 3, false), 1);
    cr_assert_eq(status(), BLK_S_OK);
    cr_assert_eq(run_req(BLK_T_IN, DISK_SECTORS, 512, true), 1);
    cr_assert_eq(status(), BLK_S_IOERR);
    blk_disk_close(&T.disk);
    /* what the file behind the loop device now holds */
    cr_assert(file_equals(10 * 512, gp(DATA_GPA, 1024), 1024));
    cr_assert(file_zero(64 * 512, 8 * 512));
    cr_assert(file_zero(80 * 512, 8 * 512));
    cr_assert(file_matches_pattern(0, 10 * 512));
    cr_assert(file_matches_pattern(88 * 512, 40 * 512));
}
