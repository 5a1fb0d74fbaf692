/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk with io_uring in a real daemon (tests/devices/blk_fixture.h) while requests are in flight: a
 * GET_VRING_BASE waits for them and is answered only after their used entries are published (none
 * comes later), and a new memory table does not unmap the memory the kernel is still reading into.  The
 * disk's fd is the read end of a pipe: the reads complete when the test writes into it. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_fixture.h"
#include "cvmm_test_fds.h"
#include "blk_test_util.h"

#define NREAD 4u
#define REQ(k) (0x80000ull + (k)*0x1000ull) /* header; status at +0x100 */
#define DATA(k) (0x100000ull + (k)*0x1000ull)

static struct {
    char dir[64], sock[108], disk[108];
    struct bf_side s;
    struct bf_ring r;
    int pipe[2];
    struct cvmm_log log;
    int fds_at_start;
} T;

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&T, 0, sizeof(T));
    T.log = (struct cvmm_log){.fn = blk_test_quiet, .level = CVMM_LOG_DEBUG};
    T.fds_at_start = cvmm_test_count_fds();
    bf_tmpdir(T.dir, sizeof(T.dir), "/tmp/blkaiod.XXXXXX", T.sock, T.disk);
    int fd = open(T.disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 1 << 20), 0);
    close(fd);
    cr_assert_eq(blk_disk_open(&T.s.dev.disk, T.disk, false, &T.log), 0);
    T.s.dev.aio = BLK_AIO_IO_URING;
    cr_assert_eq(blk_dev_init(&T.s.dev, 1, 256), 0);
    cr_assert_eq(T.s.dev.aio, BLK_AIO_IO_URING, "io_uring is available");
    cr_assert_eq(pipe2(T.pipe, O_CLOEXEC), 0);
    cr_assert_geq(dup2(T.pipe[0], T.s.dev.disk.fd), 0); /* reads wait for the test */
    bf_serve(&T.s, T.sock, 1, &T.log, "fe");
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(T.s.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_owner(T.s.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(T.s.fe, &p), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(T.s.fe, p & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK)), 0);
    cr_assert_eq(vhu_frontend_set_features(T.s.fe, f & ~BF_SPLIT_ONLY), 0);
    bf_memory(&T.s, &T.log);
    bf_ring_start(&T.s, &T.r, 0, VQ_LAYOUT_SPLIT, 128, false);
}

static void teardown(void)
{
    bf_ring_free(&T.r);
    bf_stop(&T.s);
    blk_disk_close(&T.s.dev.disk);
    close(T.pipe[0]);
    close(T.pipe[1]);
    unlink(T.disk);
    unlink(T.sock);
    rmdir(T.dir);
    cr_expect_eq(cvmm_test_count_fds(), T.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 T.fds_at_start);
}

/* Request @k: @type with @dlen device-writable bytes. */
static uint16_t add(unsigned k, uint32_t type, uint32_t dlen)
{
    struct {
        cvmm_le32 type, res;
        cvmm_le64 sector;
    } h = {cvmm_le32_set(type), cvmm_le32_set(0), cvmm_le64_set(k)};
    memcpy(bf_gp(&T.s, REQ(k), 16), &h, 16);
    *bf_gp(&T.s, REQ(k) + 0x100, 1) = 0xee;
    memset(bf_gp(&T.s, DATA(k), dlen), 0xcc, dlen);
    vq_mock_buf b[3] = {{REQ(k), 16, false}, {DATA(k), dlen, true}, {REQ(k) + 0x100, 1, true}};
    uint16_t head;
    cr_assert_eq(vq_mock_add(T.r.mk, b, 3, &head), 0);
    return head;
}

/* NREAD reads, then a GET_ID: once the GET_ID is used, every read was popped before it and is in flight. */
static void reads_in_flight(void)
{
    for (unsigned k = 0; k < NREAD; k++)
        add(k, BLK_T_IN, 512);
    uint16_t id = add(NREAD, BLK_T_GET_ID, BLK_ID_BYTES);
    uint64_t one = 1;
    cr_assert_eq(write(T.r.kick, &one, 8), 8);
    cr_assert_eq(bf_wait_used(&T.r, id), BLK_ID_BYTES + 1);
}

static uint16_t used_idx(void)
{
    uint16_t v;
    cr_assert_eq(vmem_load_le16(T.s.map, 0x18000 + 2, &v), 0); /* ring 0's used->idx (blk_fixture.h) */
    return v;
}

static void feed_reads(void)
{
    uint8_t chunks[NREAD * 512];
    memset(chunks, 0x5a, sizeof(chunks));
    cr_assert_eq(write(T.pipe[1], chunks, sizeof(chunks)), (ssize_t)sizeof(chunks));
}

static void reads_answered(void)
{
    for (unsigned k = 0; k < NREAD; k++) {
        cr_assert_eq(*bf_gp(&T.s, REQ(k) + 0x100, 1), BLK_S_OK, "read %u", k);
        for (unsigned j = 0; j < 512; j++)
            cr_assert_eq(bf_gp(&T.s, DATA(k), 512)[j], 0x5a);
    }
}

static struct {
    pthread_t th;
    atomic_bool replied;
    int rc;
    uint32_t base;
    uint16_t used_at_reply;
} S;

static void *stop_ring(void *arg)
{
    (void)arg;
    S.rc = vhu_frontend_get_vring_base(T.s.fe, 0, &S.base);
    S.used_at_reply = used_idx();
    atomic_store(&S.replied, true);
    return NULL;
}

TestSuite(blk_aio_daemon, .timeout = 120);

Test(blk_aio_daemon, get_vring_base_waits_for_the_reads_in_flight, .init = setup, .fini = teardown)
{
    reads_in_flight();
    cr_assert_eq(used_idx(), 1);
    atomic_init(&S.replied, false);
    cr_assert_eq(pthread_create(&S.th, NULL, stop_ring, NULL), 0);
    /* No data yet: the reply must not come (a bound that only makes a broken device harder to catch). */
    for (int t = 0; t < 50 && !atomic_load(&S.replied); t++)
        usleep(10000);
    cr_assert_not(atomic_load(&S.replied), "GET_VRING_BASE answered while %u reads were in flight", NREAD);
    feed_reads();
    pthread_join(S.th, NULL);
    cr_assert_eq(S.rc, 0);
    cr_assert_eq(S.base, NREAD + 1, "every request was popped");
    cr_assert_eq(S.used_at_reply, NREAD + 1, "all used before the reply");
    reads_answered();
    usleep(100000);
    cr_assert_eq(used_idx(), NREAD + 1, "nothing used after the reply");
}

/* A new memory table (the same memfd, mapped again by the daemon, the old mapping dropped) while reads are
 * in flight: the kernel still writes into the old mapping, which the requests keep alive; the data reach
 * the guest (the same memory), the status bytes and used entries go through the new map. */
Test(blk_aio_daemon, memory_table_change_while_reads_are_in_flight, .init = setup, .fini = teardown)
{
    reads_in_flight();
    vhu_mem_region wr = {.guest_addr = 0, .size = BF_GUEST_SIZE, .user_addr = BF_UVA_BASE};
    int mfd = vmem_region_fd(T.s.reg);
    cr_assert_eq(vhu_frontend_set_mem_table(T.s.fe, &wr, &mfd, 1), 0); /* acked once published */
    feed_reads();
    for (int t = 0; t < 30000 && used_idx() != NREAD + 1; t++)
        usleep(1000);
    cr_assert_eq(used_idx(), NREAD + 1);
    reads_answered();
}
