/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk's io_uring engine (devices/blk/aio.c) on a bare ring driven by the mock driver: many requests in
 * flight completing out of pop order, each used exactly once; a FLUSH that waits for the writes before it;
 * a request whose descriptors the guest rewrites while it is in flight; and --direct with buffers that
 * O_DIRECT refuses.  The disk's fd is replaced by a pipe where a test must hold I/O in flight: a read
 * completes when the test writes into the pipe (a pipe ignores offsets). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aio.h"
#include "blk.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/mock.h"
#include "cvmm_test_fds.h"
#include "blk_test_util.h"

#define GUEST_SIZE (4u << 20)
#define DISK_SECTORS 2048u
#define NREQ 8u
#define REQ_GPA(k) (0x10000ull + (k)*0x1000ull) /* header; the status byte at +0x100 */
#define DATA_GPA(k) (0x100000ull + (k)*0x10000ull)

static struct {
    char dir[64], path[96];
    vmem_region *reg;
    vmem_map *map;
    vq_queue *q;
    vq_mock *mk;
    blk_disk disk;
    blk_aio *aio;
    int pipe[2];
    int fds_at_start;
    struct cvmm_log log;
} T;

static void setup_disk_in(const char *tmpl, bool direct)
{
    memset(&T, 0, sizeof(T));
    T.pipe[0] = T.pipe[1] = -1;
    T.log = (struct cvmm_log){.fn = blk_test_quiet, .level = CVMM_LOG_DEBUG};
    T.fds_at_start = cvmm_test_count_fds();
    snprintf(T.dir, sizeof(T.dir), "%s", tmpl);
    cr_assert_not_null(mkdtemp(T.dir));
    snprintf(T.path, sizeof(T.path), "%s/disk.img", T.dir);
    int fd = open(T.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    static uint8_t buf[DISK_SECTORS * 512];
    for (uint64_t i = 0; i < sizeof(buf); i++)
        buf[i] = blk_test_disk_byte(i);
    cr_assert_eq(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    close(fd);
    int rc = blk_disk_open_direct(&T.disk, T.path, false, direct, &T.log);
    if (direct && rc == -EINVAL)
        cr_skip_test("the file system of /var/tmp refuses O_DIRECT");
    cr_assert_eq(rc, 0);
    vmem_region_desc rd = {.gpa = 0, .size = GUEST_SIZE};
    cr_assert_eq(vmem_region_new_memfd(&rd, &T.log, &T.reg), 0);
    cr_assert_eq(vmem_map_new(&T.reg, 1, NULL, &T.log, &T.map), 0);
    vq_queue_config qc = {.max_size = 256, .layout = VQ_LAYOUT_SPLIT, .log = &T.log};
    cr_assert_eq(vq_queue_new(&qc, &T.q), 0);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 256, .desc_gpa = 0, .driver_gpa = 0x1000, .device_gpa = 0x2000};
    cr_assert_eq(vq_mock_new(T.map, &mc, &T.mk), 0);
    cr_assert_eq(vq_mock_attach(T.mk, T.q), 0);
    cr_assert_eq(blk_aio_new(&T.disk, 0, 64, &T.aio), 0);
}
/* /var/tmp: a disk file system (O_DIRECT, non-blocking reads of cached pages); /dev/shm: tmpfs. */
static void setup(void) { setup_disk_in("/var/tmp/blkaio.XXXXXX", false); }
static void setup_direct(void) { setup_disk_in("/var/tmp/blkaio.XXXXXX", true); }
static void setup_tmpfs(void) { setup_disk_in("/dev/shm/blkaio.XXXXXX", false); }

/* The disk's fd becomes the read end of a pipe. */
static void disk_on_pipe(void)
{
    cr_assert_eq(pipe2(T.pipe, O_CLOEXEC), 0);
    cr_assert_geq(dup2(T.pipe[0], T.disk.fd), 0);
}

static void teardown(void)
{
    blk_aio_free(T.aio);
    vq_mock_free(T.mk);
    vq_queue_free(T.q);
    vmem_map_free(T.map);
    vmem_region_unref(T.reg);
    blk_disk_close(&T.disk);
    if (T.pipe[0] >= 0) {
        close(T.pipe[0]);
        close(T.pipe[1]);
    }
    unlink(T.path);
    rmdir(T.dir);
    cr_expect_eq(cvmm_test_count_fds(), T.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 T.fds_at_start);
}

static uint8_t *gp(uint64_t gpa, uint64_t len)
{
    void *p;
    cr_assert_eq(vmem_map_translate(T.map, gpa, len, &p), 0);
    return p;
}

/* Request @k: header, @dlen bytes of data at DATA_GPA(k) + @misalign (device-writable for IN and GET_ID,
 * filled with 0xcc), status (0xee).  Return: its head. */
static uint16_t add_req(unsigned k, uint32_t type, uint64_t sector, uint32_t dlen, unsigned misalign)
{
    struct {
        cvmm_le32 type, res;
        cvmm_le64 sector;
    } h = {cvmm_le32_set(type), cvmm_le32_set(0), cvmm_le64_set(sector)};
    memcpy(gp(REQ_GPA(k), 16), &h, 16);
    *gp(REQ_GPA(k) + 0x100, 1) = 0xee;
    bool wr = type == BLK_T_IN || type == BLK_T_GET_ID;
    vq_mock_buf b[3] = {{REQ_GPA(k), 16, false}, {DATA_GPA(k) + misalign, dlen, wr}, {REQ_GPA(k) + 0x100, 1, true}};
    if (dlen == 0)
        b[1] = b[2];
    if (wr)
        memset(gp(DATA_GPA(k) + misalign, dlen), 0xcc, dlen);
    uint16_t head;
    cr_assert_eq(vq_mock_add(T.mk, b, dlen ? 3 : 2, &head), 0);
    return head;
}

static uint8_t status_of(unsigned k) { return *gp(REQ_GPA(k) + 0x100, 1); }

/* The next used entry: its head (and *len).  Fails the test if there is none. */
static uint16_t used(uint32_t *len)
{
    uint16_t h;
    uint32_t l;
    cr_assert_eq(vq_mock_used(T.mk, &h, &l), 1, "a used entry");
    if (len)
        *len = l;
    return h;
}

static void no_more_used(void)
{
    uint16_t h;
    uint32_t l;
    cr_assert_eq(vq_mock_used(T.mk, &h, &l), 0, "no other used entry (head %u)", h);
}

static int kick(void)
{
    bool more;
    int n = blk_aio_kick(T.aio, T.q, T.map, &more);
    cr_assert_not(more);
    return n;
}

TestSuite(blk_aio, .timeout = 120); /* hangs only (CONTRIBUTING §12) */

Test(blk_aio, reads_in_flight_complete_out_of_pop_order_each_once, .init = setup, .fini = teardown)
{
    disk_on_pipe();
    uint16_t head[NREQ + 1];
    for (unsigned k = 0; k < NREQ; k++)
        head[k] = add_req(k, BLK_T_IN, k, 512, 0);
    head[NREQ] = add_req(NREQ, BLK_T_GET_ID, 0, BLK_ID_BYTES, 0); /* popped last, answered at once */
    cr_assert_eq(kick(), NREQ + 1);
    cr_assert_eq(blk_aio_inflight(T.aio), NREQ, "every read is in flight at once");
    cr_assert_eq(used(NULL), head[NREQ], "GET_ID overtook the reads popped before it");
    no_more_used();
    cr_assert_eq(blk_aio_complete(T.aio, T.q, false, true), 0, "no read can complete before data comes");
    no_more_used();
    /* One chunk of 512 bytes per read, each a different byte: every read takes exactly one. */
    uint8_t chunks[NREQ * 512];
    for (unsigned k = 0; k < NREQ; k++)
        memset(chunks + k * 512, 0x10 + k, 512);
    cr_assert_eq(write(T.pipe[1], chunks, sizeof(chunks)), (ssize_t)sizeof(chunks));
    unsigned got = 0;
    while (got < NREQ) {
        int n = blk_aio_complete(T.aio, T.q, true, true);
        cr_assert_geq(n, 1);
        got += (unsigned)n;
    }
    cr_assert_eq(blk_aio_inflight(T.aio), 0);
    bool seen_head[NREQ] = {false}, seen_chunk[NREQ] = {false};
    for (unsigned i = 0; i < NREQ; i++) {
        uint32_t len;
        uint16_t h = used(&len);
        unsigned k = 0;
        while (k < NREQ && head[k] != h)
            k++;
        cr_assert_lt(k, NREQ, "used head %u is one of the reads", h);
        cr_assert_not(seen_head[k], "head %u used twice", h);
        seen_head[k] = true;
        cr_assert_eq(len, 513);
        cr_assert_eq(status_of(k), BLK_S_OK);
        uint8_t c = gp(DATA_GPA(k), 1)[0];
        cr_assert(c >= 0x10 && c < 0x10 + NREQ);
        for (unsigned j = 0; j < 512; j++)
            cr_assert_eq(gp(DATA_GPA(k), 512)[j], c, "read %u got one whole chunk", k);
        cr_assert_not(seen_chunk[c - 0x10]);
        seen_chunk[c - 0x10] = true;
    }
    no_more_used();
}

/* FLUSH is submitted with IOSQE_IO_DRAIN: it runs once every request popped before it has completed, writes
 * and reads alike (the drain is per request, not per type).  A read that waits on the pipe holds it here: a
 * write cannot be held in flight that way (io_uring refuses offsets on sockets, and orders blocked pipe
 * writes itself).  An fdatasync that did not wait would return at once (on a pipe it fails with EINVAL,
 * which the status reports: the order is what this test looks at). */
Test(blk_aio, flush_completes_after_the_requests_before_it, .init = setup, .fini = teardown)
{
    disk_on_pipe();
    uint16_t rd = add_req(0, BLK_T_IN, 0, 512, 0);
    uint16_t fl = add_req(1, BLK_T_FLUSH, 0, 0, 0);
    cr_assert_eq(kick(), 2);
    /* Give a flush that does not wait the time to complete (a bound that only makes a broken engine
     * harder to catch, never fails a good one). */
    for (int t = 0; t < 50; t++) {
        cr_assert_eq(blk_aio_complete(T.aio, T.q, false, true), 0, "nothing completes before the read");
        usleep(10000);
    }
    cr_assert_eq(blk_aio_inflight(T.aio), 2);
    no_more_used();
    uint8_t chunk[512];
    memset(chunk, 0x66, sizeof(chunk));
    cr_assert_eq(write(T.pipe[1], chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
    while (blk_aio_inflight(T.aio))
        cr_assert_geq(blk_aio_complete(T.aio, T.q, true, true), 0);
    cr_assert_eq(used(NULL), rd);
    cr_assert_eq(used(NULL), fl, "then the flush");
    cr_assert_eq(status_of(0), BLK_S_OK);
    cr_assert_eq(gp(DATA_GPA(0), 1)[0], 0x66);
    cr_assert_eq(status_of(1), BLK_S_IOERR, "fdatasync on a pipe: EINVAL");
    no_more_used();
}

/* The guest rewrites the data descriptor of a read in flight (another address, 8 times the length): the
 * read lands where and as long as the snapshot said, and the used length is the checked one. */
Test(blk_aio, descriptors_rewritten_while_in_flight_change_nothing, .init = setup, .fini = teardown)
{
    disk_on_pipe();
    uint16_t head = add_req(0, BLK_T_IN, 0, 512, 0);
    cr_assert_eq(kick(), 1);
    cr_assert_eq(blk_aio_inflight(T.aio), 1);
    uint64_t desc = vq_mock_desc_gpa(T.mk, head);
    uint16_t next;
    cr_assert_eq(vmem_load_le16(T.map, desc + 14, &next), 0);
    uint64_t data_desc = vq_mock_desc_gpa(T.mk, next);
    memset(gp(DATA_GPA(1), 4096), 0x77, 4096);
    cr_assert_eq(vmem_store_le64(T.map, data_desc, DATA_GPA(1)), 0);
    cr_assert_eq(vmem_store_le32(T.map, data_desc + 8, 4096), 0);
    uint8_t bytes[4096];
    memset(bytes, 0x5a, sizeof(bytes));
    cr_assert_eq(write(T.pipe[1], bytes, sizeof(bytes)), (ssize_t)sizeof(bytes));
    cr_assert_eq(blk_aio_complete(T.aio, T.q, true, true), 1);
    uint32_t len;
    cr_assert_eq(used(&len), head);
    cr_assert_eq(len, 513, "the length checked, not the rewritten one");
    cr_assert_eq(status_of(0), BLK_S_OK);
    for (unsigned j = 0; j < 512; j++)
        cr_assert_eq(gp(DATA_GPA(0), 512)[j], 0x5a);
    for (unsigned j = 0; j < 4096; j++)
        cr_assert_eq(gp(DATA_GPA(1), 4096)[j], 0x77, "nothing written at the rewritten address");
    cr_assert_eq(read(T.pipe[0], bytes, sizeof(bytes)), 4096 - 512, "the read took 512 bytes, no more");
}

/* --direct: a buffer that is not 512-byte aligned (address or length) cannot go through O_DIRECT (EINVAL);
 * such requests are served through the page cache, aligned ones directly, both in io_uring and sync mode. */
static void direct_requests(bool async)
{
    struct {
        uint32_t type;
        uint64_t sector;
        uint32_t len;
        unsigned misalign;
    } r[] = {
        {BLK_T_IN, 8, 4096, 0},      /* aligned: O_DIRECT */
        {BLK_T_IN, 16, 4096, 8},     /* address off by 8 */
        {BLK_T_OUT, 100, 1024, 24},  /* address off by 24 */
        {BLK_T_OUT, 200, 4096, 0},   /* aligned write */
        {BLK_T_IN, 100, 1024, 4095}, /* reads back the unaligned write */
    };
    for (unsigned i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        if (r[i].type == BLK_T_OUT)
            for (unsigned j = 0; j < r[i].len; j++)
                gp(DATA_GPA(i) + r[i].misalign, r[i].len)[j] = (uint8_t)(j * 3 + i);
        uint16_t head = add_req(i, r[i].type, r[i].sector, r[i].len, r[i].misalign), h;
        uint32_t len;
        if (async) {
            kick();
            while (blk_aio_inflight(T.aio))
                cr_assert_geq(blk_aio_complete(T.aio, T.q, true, true), 0);
        } else {
            cr_assert_eq(blk_queue_process(&T.disk, T.q), 1);
        }
        h = used(&len);
        cr_assert_eq(h, head);
        cr_assert_eq(status_of(i), BLK_S_OK, "request %u (%s, misaligned by %u)", i, async ? "io_uring" : "sync",
                     r[i].misalign);
        if (r[i].type == BLK_T_IN && i != 4)
            for (unsigned j = 0; j < r[i].len; j++)
                cr_assert_eq(gp(DATA_GPA(i) + r[i].misalign, r[i].len)[j], blk_test_disk_byte(r[i].sector * 512 + j));
    }
    for (unsigned j = 0; j < 1024; j++) /* what request 2 wrote, read back by request 4 */
        cr_assert_eq(gp(DATA_GPA(4) + 4095, 1024)[j], (uint8_t)(j * 3 + 2));
    uint8_t back[4096];
    int fd = open(T.path, O_RDONLY | O_CLOEXEC);
    cr_assert_eq(pread(fd, back, 4096, 200 * 512), 4096);
    close(fd);
    for (unsigned j = 0; j < 4096; j++)
        cr_assert_eq(back[j], (uint8_t)(j * 3 + 3));
}

Test(blk_aio, direct_serves_unaligned_buffers_through_the_page_cache, .init = setup_direct, .fini = teardown)
{
    cr_assert(T.disk.direct);
    cr_assert_eq(fcntl(T.disk.fd, F_GETFL) & O_DIRECT, O_DIRECT);
    cr_assert_eq(fcntl(T.disk.fd_buffered, F_GETFL) & O_DIRECT, 0);
    direct_requests(true);
}

Test(blk_aio, direct_serves_unaligned_buffers_synchronously_too, .init = setup_direct, .fini = teardown)
{
    direct_requests(false);
}

/* tmpfs cannot do non-blocking reads: io_uring would hand each request to a kernel worker thread.  A lone
 * request (nothing in flight, nothing else available) is served at once in the kick; two at once go to the
 * ring (which of them complete while the kick submits is up to the kernel: only the answers are checked). */
Test(blk_aio, lone_request_on_tmpfs_is_served_in_the_kick, .init = setup_tmpfs, .fini = teardown)
{
    if (!T.disk.blocking)
        cr_skip_test("/dev/shm does non-blocking reads on this kernel");
    uint16_t h = add_req(0, BLK_T_IN, 5, 4096, 0);
    cr_assert_eq(kick(), 1);
    cr_assert_eq(blk_aio_inflight(T.aio), 0, "served in the kick");
    cr_assert_eq(used(NULL), h);
    /* Not through the ring: its eventfd never signals a completion (a bound that only weakens the check). */
    struct pollfd p = {.fd = blk_aio_event_fd(T.aio), .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 200), 0, "the request went through io_uring");
    cr_assert_eq(status_of(0), BLK_S_OK);
    for (unsigned j = 0; j < 4096; j++)
        cr_assert_eq(gp(DATA_GPA(0), 4096)[j], blk_test_disk_byte(5 * 512 + j));
    uint16_t h1 = add_req(1, BLK_T_IN, 9, 512, 0), h2 = add_req(2, BLK_T_IN, 10, 512, 0);
    cr_assert_eq(kick(), 2);
    while (blk_aio_inflight(T.aio))
        cr_assert_geq(blk_aio_complete(T.aio, T.q, true, true), 0);
    uint16_t u1 = used(NULL), u2 = used(NULL);
    cr_assert((u1 == h1 && u2 == h2) || (u1 == h2 && u2 == h1));
    cr_assert_eq(status_of(1), BLK_S_OK);
    cr_assert_eq(status_of(2), BLK_S_OK);
    cr_assert_eq(gp(DATA_GPA(1), 1)[0], blk_test_disk_byte(9 * 512));
    cr_assert_eq(gp(DATA_GPA(2), 1)[0], blk_test_disk_byte(10 * 512));
    no_more_used();
}
