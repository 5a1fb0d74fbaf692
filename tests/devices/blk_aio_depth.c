/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk with io_uring in a real daemon (tests/devices/blk_fixture.h) and a small --queue-depth, driven
 * like a guest that keeps three times as many requests in the ring as the device takes at once: it adds
 * a request for each one used, and kicks only when the ring asks for kicks (VRING_USED_F_NO_NOTIFY).
 * Every request must complete, with the right status, length and data, on one queue and on two, reads and
 * writes, on a file whose page cache hits io_uring completes while submitting (/tmp) and on tmpfs (which
 * cannot do non-blocking I/O: io_uring's workers complete the requests).  A device that stops taking
 * requests once every slot was busy and the completions it reaped itself freed them (no kick comes, no
 * completion signals) leaves the rest in the ring: the driver then waits in vain (bounded, 30 s without
 * progress). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk_fixture.h"
#include "cvmm_test_fds.h"
#include "blk_test_util.h"

#define DEPTH 4u      /* --queue-depth */
#define INFLIGHT 12u  /* requests the driver keeps in the ring */
#define PER_QUEUE 96u /* requests per queue */
#define RING 64u      /* ring size */
#define SECTORS 2048u /* the disk: 1 MiB */
#define NQ_MAX 2u
#define STALL_MS 30000u /* without progress: the device lost the requests (a loaded machine is far faster) */

#define HDR(q, s) (0x80000ull + (q)*0x2000ull + (s)*0x200ull) /* header; the status byte at +0x100 */
#define DATA(q, s) (0x100000ull + (q)*0x10000ull + (s)*0x1000ull)
#define SECTOR(q, n) ((q)*1024ull + (n)*4ull)

struct drv {
    struct bf_ring r;
    unsigned next, done, inflight;
    unsigned req_of[INFLIGHT]; /* request number in each slot */
    unsigned slot_of[RING];    /* slot of each head */
};

static struct {
    char dir[64], sock[108], disk[108];
    struct bf_side s;
    struct drv q[NQ_MAX];
    unsigned nq;
    bool write;
    struct cvmm_log log;
    int fds_at_start;
} T;

static uint8_t write_byte(unsigned q, unsigned n) { return (uint8_t)(0x80u ^ (n * 3u + q * 101u)); }

/* A daemon serving a 1 MiB disk (blk_test_disk_byte() everywhere) in a fresh directory from @tmpl with @nq queues of
 * RING entries, --queue-depth DEPTH, started and enabled. */
static void start(const char *tmpl, unsigned nq, bool wr)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&T, 0, sizeof(T));
    T.nq = nq;
    T.write = wr;
    T.log = (struct cvmm_log){.fn = blk_test_quiet, .level = CVMM_LOG_DEBUG};
    T.fds_at_start = cvmm_test_count_fds();
    bf_tmpdir(T.dir, sizeof(T.dir), tmpl, T.sock, T.disk);
    int fd = open(T.disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    static uint8_t img[SECTORS * 512];
    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = blk_test_disk_byte(i);
    cr_assert_eq(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
    close(fd);
    cr_assert_eq(blk_disk_open(&T.s.dev.disk, T.disk, false, &T.log), 0);
    T.s.dev.aio = BLK_AIO_IO_URING;
    T.s.dev.queue_depth = DEPTH;
    cr_assert_eq(blk_dev_init(&T.s.dev, nq, 256), 0);
    cr_assert_eq(T.s.dev.aio, BLK_AIO_IO_URING, "io_uring is available");
    bf_serve(&T.s, T.sock, nq, &T.log, "fe");
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(T.s.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_owner(T.s.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(T.s.fe, &p), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(T.s.fe, p & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK)), 0);
    cr_assert_eq(vhu_frontend_set_features(T.s.fe, f & ~BF_SPLIT_ONLY), 0);
    bf_memory(&T.s, &T.log);
    for (unsigned q = 0; q < nq; q++)
        bf_ring_start(&T.s, &T.q[q].r, q, VQ_LAYOUT_SPLIT, RING, false);
}

static void teardown(void)
{
    for (unsigned q = 0; q < NQ_MAX; q++)
        bf_ring_free(&T.q[q].r);
    bf_stop(&T.s);
    blk_disk_close(&T.s.dev.disk);
    unlink(T.disk);
    unlink(T.sock);
    rmdir(T.dir);
    cr_expect_eq(cvmm_test_count_fds(), T.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 T.fds_at_start);
}

/* Add queue @q's next request into @slot (no kick). */
static void add(unsigned q, unsigned slot)
{
    struct drv *d = &T.q[q];
    unsigned n = d->next++;
    struct {
        cvmm_le32 type, res;
        cvmm_le64 sector;
    } h = {cvmm_le32_set(T.write ? BLK_T_OUT : BLK_T_IN), cvmm_le32_set(0), cvmm_le64_set(SECTOR(q, n))};
    memcpy(bf_gp(&T.s, HDR(q, slot), 16), &h, 16);
    *bf_gp(&T.s, HDR(q, slot) + 0x100, 1) = 0xee;
    memset(bf_gp(&T.s, DATA(q, slot), 512), T.write ? write_byte(q, n) : 0xcc, 512);
    vq_mock_buf b[3] = {{HDR(q, slot), 16, false}, {DATA(q, slot), 512, !T.write}, {HDR(q, slot) + 0x100, 1, true}};
    uint16_t head;
    cr_assert_eq(vq_mock_add(d->r.mk, b, 3, &head), 0);
    cr_assert_lt(head, RING);
    d->slot_of[head] = slot;
    d->req_of[slot] = n;
    d->inflight++;
}

/* Kick queue @q as a guest does: only when the device asks for kicks. */
static void kick(unsigned q)
{
    uint64_t one = 1;
    if (vq_mock_kick_needed(T.q[q].r.mk))
        cr_assert_eq(write(T.q[q].r.kick, &one, 8), 8);
}

/* Check queue @q's used entries, add a request for each while some are left, kick once.  Return: how many. */
static unsigned reap(unsigned q)
{
    struct drv *d = &T.q[q];
    unsigned got = 0;
    uint16_t head;
    uint32_t len;
    int rc;
    while ((rc = vq_mock_used(d->r.mk, &head, &len)) == 1) {
        unsigned slot = d->slot_of[head], n = d->req_of[slot];
        cr_assert_eq(len, T.write ? 1u : 513u, "queue %u request %u: used length", q, n);
        cr_assert_eq(*bf_gp(&T.s, HDR(q, slot) + 0x100, 1), BLK_S_OK, "queue %u request %u: status", q, n);
        if (!T.write) {
            const uint8_t *p = bf_gp(&T.s, DATA(q, slot), 512);
            unsigned j = 0; /* one assertion per request: Criterion's --full-stats reports each */
            while (j < 512 && p[j] == blk_test_disk_byte(SECTOR(q, n) * 512 + j))
                j++;
            cr_assert_eq(j, 512u, "queue %u request %u: byte %u read 0x%02x", q, n, j, j < 512 ? p[j] : 0);
        }
        d->done++;
        d->inflight--;
        got++;
        if (d->next < PER_QUEUE)
            add(q, slot);
    }
    cr_assert_eq(rc, 0, "queue %u: a used entry the driver did not make available", q);
    if (got)
        kick(q);
    return got;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool all_done(void)
{
    for (unsigned q = 0; q < T.nq; q++)
        if (T.q[q].done < PER_QUEUE)
            return false;
    return true;
}

/* Keep INFLIGHT requests in each ring until PER_QUEUE per queue completed, waiting on the call eventfds. */
static void drive(void)
{
    for (unsigned q = 0; q < T.nq; q++) {
        for (unsigned s = 0; s < INFLIGHT; s++)
            add(q, s);
        kick(q);
    }
    uint64_t progress = now_ms();
    while (!all_done() && now_ms() - progress < STALL_MS) {
        unsigned got = 0;
        for (unsigned q = 0; q < T.nq; q++)
            got += reap(q);
        if (got) {
            progress = now_ms();
            continue;
        }
        struct pollfd p[NQ_MAX];
        for (unsigned q = 0; q < T.nq; q++)
            p[q] = (struct pollfd){.fd = T.q[q].r.call, .events = POLLIN};
        cr_assert_geq(poll(p, T.nq, 100), 0);
        for (unsigned q = 0; q < T.nq; q++) {
            uint64_t v;
            if (p[q].revents & POLLIN)
                (void)!read(T.q[q].r.call, &v, 8);
        }
    }
    for (unsigned q = 0; q < T.nq; q++)
        cr_assert_eq(T.q[q].done, PER_QUEUE,
                     "queue %u: %u of %u requests completed, %u left in the ring (--queue-depth %u, %u kept in it)", q,
                     T.q[q].done, PER_QUEUE, T.q[q].inflight, DEPTH, INFLIGHT);
}

/* After writes: each written sector holds its request's byte, the others are untouched. */
static void writes_on_disk(void)
{
    static uint8_t img[SECTORS * 512];
    int fd = open(T.disk, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pread(fd, img, sizeof(img), 0), (ssize_t)sizeof(img));
    close(fd);
    size_t i = 0; /* the first wrong byte: one assertion (Criterion's --full-stats reports each) */
    for (; i < sizeof(img); i++) {
        uint64_t sector = i / 512, q = sector / 1024, n = sector % 1024 / 4;
        bool written = sector % 4 == 0 && q < T.nq && n < PER_QUEUE;
        if (img[i] != (written ? write_byte((unsigned)q, (unsigned)n) : blk_test_disk_byte(i)))
            break;
    }
    cr_assert_eq(i, sizeof(img), "byte %zu of the disk (sector %zu) is 0x%02x", i, i / 512,
                 i < sizeof(img) ? img[i] : 0);
}

static void run(const char *tmpl, unsigned nq, bool wr)
{
    if (strncmp(tmpl, "/dev/shm/", 9) == 0 && access("/dev/shm", W_OK) != 0)
        cr_skip_test("no writable /dev/shm");
    start(tmpl, nq, wr);
    drive();
    if (wr)
        writes_on_disk();
}

TestSuite(blk_aio_depth, .timeout = 120);

Test(blk_aio_depth, reads_beyond_queue_depth_one_queue, .fini = teardown) { run("/tmp/blkdepth.XXXXXX", 1, false); }
Test(blk_aio_depth, writes_beyond_queue_depth_one_queue, .fini = teardown) { run("/tmp/blkdepth.XXXXXX", 1, true); }
Test(blk_aio_depth, reads_beyond_queue_depth_two_queues, .fini = teardown) { run("/tmp/blkdepth.XXXXXX", 2, false); }
Test(blk_aio_depth, writes_beyond_queue_depth_two_queues, .fini = teardown) { run("/tmp/blkdepth.XXXXXX", 2, true); }
Test(blk_aio_depth, tmpfs_reads_beyond_queue_depth_one_queue, .fini = teardown)
{
    run("/dev/shm/blkdepth.XXXXXX", 1, false);
}
Test(blk_aio_depth, tmpfs_writes_beyond_queue_depth_one_queue, .fini = teardown)
{
    run("/dev/shm/blkdepth.XXXXXX", 1, true);
}
Test(blk_aio_depth, tmpfs_reads_beyond_queue_depth_two_queues, .fini = teardown)
{
    run("/dev/shm/blkdepth.XXXXXX", 2, false);
}
Test(blk_aio_depth, tmpfs_writes_beyond_queue_depth_two_queues, .fini = teardown)
{
    run("/dev/shm/blkdepth.XXXXXX", 2, true);
}
