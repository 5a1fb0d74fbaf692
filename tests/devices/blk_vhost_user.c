/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk's device (devices/blk/device.c) in a real vub_daemon, driven over a UNIX socket by our
 * vhost-user-proto front-end, with memfd guest memory and the mock driver: features and config space as a
 * front-end sees them, requests through kick and call eventfds on two queues, a request past the end of
 * the disk answered VIRTIO_BLK_S_IOERR, read-only mode, and a disabled ring left alone until enabled. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_fixture.h"
#include "blk_test_aio.h"
#include "cvmm_test_fds.h"

#define DISK_SECTORS 256u
#define NQ 2

static struct {
    char dir[64], sock[108], disk[108];
    struct bf_side s;
    struct bf_ring r[NQ];
    struct cvmm_log log;
    int fds_at_start;
} T;

static void quiet(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    if (getenv("BLK_TEST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", (int)lvl, line);
}

static void start(bool ro)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&T, 0, sizeof(T));
    T.log = (struct cvmm_log){.fn = quiet, .level = CVMM_LOG_DEBUG};
    T.fds_at_start = cvmm_test_count_fds();
    bf_tmpdir(T.dir, sizeof(T.dir), "/tmp/blkvu.XXXXXX", T.sock, T.disk);
    int fd = open(T.disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    uint8_t buf[DISK_SECTORS * 512];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i / 512 + 1); /* sector n holds n + 1 */
    cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    close(fd);
    cr_assert_eq(blk_disk_open(&T.s.dev.disk, T.disk, ro, &T.log), 0);
    T.s.dev.aio = blk_test_aio(); /* test-devices-blk_vhost_user-sync: BLK_TEST_AIO=sync */
    cr_assert_eq(blk_dev_init(&T.s.dev, NQ, 256), 0);
    bf_serve(&T.s, T.sock, NQ, &T.log, "fe");
}
static void start_rw(void) { start(false); }
static void start_ro(void) { start(true); }

static void stop(void)
{
    for (unsigned i = 0; i < NQ; i++)
        bf_ring_free(&T.r[i]);
    bf_stop(&T.s);
    blk_disk_close(&T.s.dev.disk);
    unlink(T.disk);
    unlink(T.sock);
    rmdir(T.dir);
    cr_expect_eq(cvmm_test_count_fds(), T.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 T.fds_at_start);
}

/* Negotiate everything offered minus @drop (BF_SPLIT_ONLY for split rings), map guest memory. */
static uint64_t negotiate(uint64_t drop)
{
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(T.s.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_owner(T.s.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(T.s.fe, &p), 0);
    cr_assert(p & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG));
    cr_assert(p & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ));
    cr_assert_eq(vhu_frontend_set_protocol_features(T.s.fe, p & (VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG) |
                                                                 VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ) |
                                                                 VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK))),
                 0);
    cr_assert_eq(vhu_frontend_set_features(T.s.fe, f & ~drop), 0);
    bf_memory(&T.s, &T.log);
    return f & ~drop;
}

/* Ring @i of 128 entries; enabled unless @disabled. */
static void ring(unsigned i, enum vq_layout layout, bool disabled)
{
    bf_ring_start(&T.s, &T.r[i], i, layout, 128, disabled);
}

static uint8_t *gp(uint64_t gpa, uint64_t len) { return bf_gp(&T.s, gpa, len); }

/* Add a request on ring @i and kick. */
static uint16_t submit(unsigned i, uint32_t type, uint64_t sector, uint32_t dlen)
{
    return bf_submit(&T.s, &T.r[i], type, sector, dlen);
}

/* Wait for the used entry (polling the used ring: the call eventfd may also carry the signal the library
 * gives when a ring starts), check that the driver was signalled, return the used length and, in *status,
 * the status byte. */
static uint32_t complete(unsigned i, uint16_t head, uint8_t *status)
{
    uint32_t len = bf_wait_used(&T.r[i], head);
    struct pollfd p = {.fd = T.r[i].call, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 30000), 1, "no call on ring %u", i);
    uint64_t v;
    cr_assert_eq(read(T.r[i].call, &v, 8), 8);
    *status = bf_status(&T.s, &T.r[i]);
    return len;
}

TestSuite(blk_vhost_user, .timeout = 120);

Test(blk_vhost_user, front_end_sees_features_config_and_queues, .init = start_rw, .fini = stop)
{
    uint64_t f, n;
    cr_assert_eq(vhu_frontend_get_features(T.s.fe, &f), 0);
    cr_assert(f & (1ull << BLK_F_MQ) && f & (1ull << BLK_F_DISCARD) && f & (1ull << BLK_F_WRITE_ZEROES));
    cr_assert(f & (1ull << BLK_F_FLUSH) && f & (1ull << BLK_F_SEG_MAX) && f & (1ull << BLK_F_BLK_SIZE));
    cr_assert(f & (1ull << VUB_F_RING_PACKED) && f & (1ull << VUB_F_RING_EVENT_IDX) && f & (1ull << VUB_F_VERSION_1));
    cr_assert_not(f & (1ull << BLK_F_RO));
    negotiate(0);
    cr_assert_eq(vhu_frontend_get_queue_num(T.s.fe, &n), 0);
    cr_assert_eq(n, NQ);
    struct blk_config c;
    cr_assert_eq(vhu_frontend_get_config(T.s.fe, 0, &c, sizeof(c), 0), 0);
    cr_assert_eq(cvmm_le64_get(c.capacity), DISK_SECTORS);
    cr_assert_eq(cvmm_le16_get(c.num_queues), NQ);
    cr_assert_eq(cvmm_le32_get(c.seg_max), BLK_SEG_MAX);
    /* the 60 bytes of an older front-end's struct, and a read past the end refused */
    uint8_t part[60];
    cr_assert_eq(vhu_frontend_get_config(T.s.fe, 0, part, sizeof(part), 0), 0);
    cr_assert_eq(memcmp(part, &c, sizeof(part)), 0);
    cr_assert_neq(vhu_frontend_get_config(T.s.fe, 90, part, 8, 0), 0);
}

Test(blk_vhost_user, requests_on_two_queues_and_past_the_end, .init = start_rw, .fini = stop)
{
    negotiate(BF_SPLIT_ONLY);
    ring(0, VQ_LAYOUT_SPLIT, false);
    ring(1, VQ_LAYOUT_SPLIT, false);
    uint8_t st;
    uint16_t h = submit(0, BLK_T_IN, 7, 1024);
    cr_assert_eq(complete(0, h, &st), 1025);
    cr_assert_eq(st, BLK_S_OK);
    cr_assert_eq(gp(0x100000, 1024)[0], 8);
    cr_assert_eq(gp(0x100000, 1024)[1023], 9);
    h = submit(1, BLK_T_IN, DISK_SECTORS - 1, 1024); /* straddles the end */
    cr_assert_eq(complete(1, h, &st), 1);
    cr_assert_eq(st, BLK_S_IOERR);
    cr_assert_eq(gp(0x110000, 1)[0], 0xcc); /* nothing written */
    h = submit(1, BLK_T_OUT, UINT64_MAX, 512);
    cr_assert_eq(complete(1, h, &st), 1);
    cr_assert_eq(st, BLK_S_IOERR);
    h = submit(0, BLK_T_OUT, 0, 512);
    cr_assert_eq(complete(0, h, &st), 1);
    cr_assert_eq(st, BLK_S_OK);
    uint8_t b[512];
    int fd = open(T.disk, O_RDONLY | O_CLOEXEC);
    cr_assert_eq(pread(fd, b, 512, 0), 512);
    close(fd);
    cr_assert_eq(b[0], 0xcc);
}

Test(blk_vhost_user, packed_ring_without_event_idx, .init = start_rw, .fini = stop)
{
    negotiate(1ull << VUB_F_RING_EVENT_IDX);
    ring(0, VQ_LAYOUT_PACKED, false);
    uint8_t st;
    for (unsigned k = 0; k < 200; k++) { /* wraps the 128-entry ring */
        uint16_t h = submit(0, BLK_T_IN, k % DISK_SECTORS, 512);
        cr_assert_eq(complete(0, h, &st), 513);
        cr_assert_eq(st, BLK_S_OK);
        cr_assert_eq(gp(0x100000, 1)[0], (uint8_t)(k % DISK_SECTORS + 1));
    }
}

Test(blk_vhost_user, read_only_refuses_writes, .init = start_ro, .fini = stop)
{
    uint64_t f = negotiate(BF_SPLIT_ONLY);
    cr_assert(f & (1ull << BLK_F_RO));
    cr_assert_not(f & (1ull << BLK_F_DISCARD));
    ring(0, VQ_LAYOUT_SPLIT, false);
    uint8_t st;
    uint16_t h = submit(0, BLK_T_OUT, 0, 512);
    cr_assert_eq(complete(0, h, &st), 1);
    cr_assert_eq(st, BLK_S_IOERR);
    uint8_t b[1];
    int fd = open(T.disk, O_RDONLY | O_CLOEXEC);
    cr_assert_eq(pread(fd, b, 1, 0), 1);
    close(fd);
    cr_assert_eq(b[0], 1);
}

Test(blk_vhost_user, disabled_ring_waits_for_enable, .init = start_rw, .fini = stop)
{
    negotiate(BF_SPLIT_ONLY);
    ring(0, VQ_LAYOUT_SPLIT, true);
    uint16_t h = submit(0, BLK_T_IN, 3, 512);
    struct pollfd p = {.fd = T.r[0].call, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 200), 0); /* nothing while disabled */
    uint16_t uh;
    uint32_t len;
    cr_assert_eq(vq_mock_used(T.r[0].mk, &uh, &len), 0);
    cr_assert_eq(vhu_frontend_set_vring_enable(T.s.fe, 0, true), 0);
    uint8_t st;
    cr_assert_eq(complete(0, h, &st), 513);
    cr_assert_eq(st, BLK_S_OK);
    cr_assert_eq(gp(0x100000, 1)[0], 4);
}
