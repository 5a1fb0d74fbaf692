/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk's device (devices/blk/device.c) in a real vub_daemon, driven over a UNIX socket by our
 * vhost-user-proto front-end, with memfd guest memory and the mock driver: features and config space as a
 * front-end sees them, requests through kick and call eventfds on two queues, a request past the end of
 * the disk answered VIRTIO_BLK_S_IOERR, read-only mode, and a disabled ring left alone until enabled. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cvmm/vhu/frontend.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vub.h"
#include "device.h"
#include "cvmm_test_fds.h"

#define GUEST_SIZE (2u << 20)
#define UVA_BASE 0x7f0000000000ull
#define DISK_SECTORS 256u
#define NQ 2

struct ring {
    vq_mock *mk;
    int kick, call;
};

static struct {
    char dir[64], sock[108], disk[108];
    blk_dev dev;
    vub_daemon *d;
    pthread_t th;
    vhu_frontend *fe;
    vmem_region *reg;
    vmem_map *map;
    struct ring r[NQ];
    struct cvmm_log log;
    int fds_at_start;
} T;

static void quiet(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    if (getenv("BLK_TEST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", (int)lvl, line);
}

static void *run(void *arg)
{
    (void)vub_daemon_run(arg);
    return NULL;
}

static void start(bool ro)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&T, 0, sizeof(T));
    T.log = (struct cvmm_log){.fn = quiet, .level = CVMM_LOG_DEBUG};
    T.fds_at_start = cvmm_test_count_fds();
    snprintf(T.dir, sizeof(T.dir), "/tmp/blkvu.XXXXXX");
    cr_assert_not_null(mkdtemp(T.dir));
    snprintf(T.sock, sizeof(T.sock), "%s/s", T.dir);
    snprintf(T.disk, sizeof(T.disk), "%s/d", T.dir);
    int fd = open(T.disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    uint8_t buf[DISK_SECTORS * 512];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i / 512 + 1); /* sector n holds n + 1 */
    cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    close(fd);
    cr_assert_eq(blk_disk_open(&T.dev.disk, T.disk, ro, &T.log), 0);
    cr_assert_eq(blk_dev_init(&T.dev, NQ, 256), 0);
    vub_daemon_config dc = {.ops = &blk_dev_ops, .info = &T.dev.info, .ctx = &T.dev, .nworkers = NQ, .log = &T.log};
    cr_assert_eq(vub_daemon_new(&dc, &T.d), 0);
    cr_assert_eq(vub_daemon_listen(T.d, T.sock), 0);
    cr_assert_eq(pthread_create(&T.th, NULL, run, T.d), 0);
    vhu_frontend_config fc = {.log = &T.log, .name = "fe", .timeout_ms = 3000};
    cr_assert_eq(vhu_frontend_connect(&fc, T.sock, &T.fe), 0);
}
static void start_rw(void) { start(false); }
static void start_ro(void) { start(true); }

static void stop(void)
{
    vhu_frontend_free(T.fe);
    vub_daemon_stop(T.d);
    pthread_join(T.th, NULL);
    vub_daemon_free(T.d);
    for (unsigned i = 0; i < NQ; i++) {
        vq_mock_free(T.r[i].mk);
        if (T.r[i].mk) {
            close(T.r[i].kick);
            close(T.r[i].call);
        }
    }
    vmem_map_free(T.map);
    vmem_region_unref(T.reg);
    blk_disk_close(&T.dev.disk);
    unlink(T.disk);
    unlink(T.sock);
    rmdir(T.dir);
    cr_expect_eq(cvmm_test_count_fds(), T.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 T.fds_at_start);
}

/* Negotiate everything offered minus @drop (SPLIT_ONLY for split rings), map guest memory. */
static uint64_t negotiate(uint64_t drop)
{
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(T.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_owner(T.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(T.fe, &p), 0);
    cr_assert(p & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG));
    cr_assert(p & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ));
    cr_assert_eq(vhu_frontend_set_protocol_features(T.fe, p & (VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG) |
                                                               VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ) |
                                                               VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK))),
                 0);
    cr_assert_eq(vhu_frontend_set_features(T.fe, f & ~drop), 0);
    vmem_region_desc rd = {.gpa = 0, .size = GUEST_SIZE, .user_addr = UVA_BASE};
    cr_assert_eq(vmem_region_new_memfd(&rd, &T.log, &T.reg), 0);
    cr_assert_eq(vmem_map_new(&T.reg, 1, NULL, &T.log, &T.map), 0);
    vhu_mem_region wr = {.guest_addr = 0, .size = GUEST_SIZE, .user_addr = UVA_BASE};
    int mfd = vmem_region_fd(T.reg);
    cr_assert_eq(vhu_frontend_set_mem_table(T.fe, &wr, &mfd, 1), 0);
    return f & ~drop;
}

/* Ring @i at gpa 0x10000 * (i + 1); enabled unless @disabled. */
static void ring(unsigned i, enum vq_layout layout, bool disabled)
{
    uint64_t desc = 0x10000ull * (i + 1), drv = desc + 0x4000, dev = desc + 0x8000;
    vq_mock_config mc = {.layout = layout, .size = 128, .desc_gpa = desc, .driver_gpa = drv, .device_gpa = dev};
    cr_assert_eq(vq_mock_new(T.map, &mc, &T.r[i].mk), 0);
    T.r[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    T.r[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vhu_vring_addr a = {.index = i, .desc = desc + UVA_BASE, .avail = drv + UVA_BASE, .used = dev + UVA_BASE};
    cr_assert_eq(vhu_frontend_set_vring_num(T.fe, i, 128), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(T.fe, &a), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(T.fe, i, layout == VQ_LAYOUT_PACKED ? 0x80008000u : 0), 0);
    cr_assert_eq(vhu_frontend_set_vring_call(T.fe, i, T.r[i].call), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(T.fe, i, T.r[i].kick), 0);
    if (!disabled)
        cr_assert_eq(vhu_frontend_set_vring_enable(T.fe, i, true), 0);
}

static uint8_t *gp(uint64_t gpa, uint64_t len)
{
    void *p;
    cr_assert_eq(vmem_map_translate(T.map, gpa, len, &p), 0);
    return p;
}

/* Add a request on ring @i (header at 0x80000 + i * 0x1000, data at 0x100000 + i * 0x10000, status
 * after the header) and kick. */
static uint16_t submit(unsigned i, uint32_t type, uint64_t sector, uint32_t dlen)
{
    uint64_t hdr = 0x80000ull + i * 0x1000, st = hdr + 0x100, data = 0x100000ull + i * 0x10000;
    struct {
        cvmm_le32 type, res;
        cvmm_le64 sector;
    } h = {cvmm_le32_set(type), cvmm_le32_set(0), cvmm_le64_set(sector)};
    memcpy(gp(hdr, 16), &h, 16);
    *gp(st, 1) = 0xee;
    memset(gp(data, dlen), 0xcc, dlen);
    vq_mock_buf b[3] = {{hdr, 16, false}, {data, dlen, type == 0 /* IN */}, {st, 1, true}};
    uint16_t head;
    cr_assert_eq(vq_mock_add(T.r[i].mk, b, 3, &head), 0);
    uint64_t one = 1;
    cr_assert_eq(write(T.r[i].kick, &one, 8), 8);
    return head;
}

/* Wait for the used entry (polling the used ring: the call eventfd may also carry the signal the library
 * gives when a ring starts), check that the driver was signalled, return the used length and, in *status,
 * the status byte. */
static uint32_t complete(unsigned i, uint16_t head, uint8_t *status)
{
    uint16_t h;
    uint32_t len;
    int rc = 0;
    for (int t = 0; t < 30000 && (rc = vq_mock_used(T.r[i].mk, &h, &len)) == 0; t++)
        usleep(1000); /* 30 s at least: the worker thread may wait for a CPU on a loaded machine */
    cr_assert_eq(rc, 1, "no used entry on ring %u", i);
    cr_assert_eq(h, head);
    struct pollfd p = {.fd = T.r[i].call, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 30000), 1, "no call on ring %u", i);
    uint64_t v;
    cr_assert_eq(read(T.r[i].call, &v, 8), 8);
    *status = *gp(0x80000ull + i * 0x1000 + 0x100, 1);
    return len;
}

#define SPLIT_ONLY ((1ull << VUB_F_RING_PACKED) | (1ull << VUB_F_RING_EVENT_IDX)) /* as the mock drives it */

TestSuite(blk_vhost_user, .timeout = 120);

Test(blk_vhost_user, front_end_sees_features_config_and_queues, .init = start_rw, .fini = stop)
{
    uint64_t f, n;
    cr_assert_eq(vhu_frontend_get_features(T.fe, &f), 0);
    cr_assert(f & (1ull << BLK_F_MQ) && f & (1ull << BLK_F_DISCARD) && f & (1ull << BLK_F_WRITE_ZEROES));
    cr_assert(f & (1ull << BLK_F_FLUSH) && f & (1ull << BLK_F_SEG_MAX) && f & (1ull << BLK_F_BLK_SIZE));
    cr_assert(f & (1ull << VUB_F_RING_PACKED) && f & (1ull << VUB_F_RING_EVENT_IDX) && f & (1ull << VUB_F_VERSION_1));
    cr_assert_not(f & (1ull << BLK_F_RO));
    negotiate(0);
    cr_assert_eq(vhu_frontend_get_queue_num(T.fe, &n), 0);
    cr_assert_eq(n, NQ);
    struct blk_config c;
    cr_assert_eq(vhu_frontend_get_config(T.fe, 0, &c, sizeof(c), 0), 0);
    cr_assert_eq(cvmm_le64_get(c.capacity), DISK_SECTORS);
    cr_assert_eq(cvmm_le16_get(c.num_queues), NQ);
    cr_assert_eq(cvmm_le32_get(c.seg_max), BLK_SEG_MAX);
    /* the 60 bytes of an older front-end's struct, and a read past the end refused */
    uint8_t part[60];
    cr_assert_eq(vhu_frontend_get_config(T.fe, 0, part, sizeof(part), 0), 0);
    cr_assert_eq(memcmp(part, &c, sizeof(part)), 0);
    cr_assert_neq(vhu_frontend_get_config(T.fe, 90, part, 8, 0), 0);
}

Test(blk_vhost_user, requests_on_two_queues_and_past_the_end, .init = start_rw, .fini = stop)
{
    negotiate(SPLIT_ONLY);
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
    uint64_t f = negotiate(SPLIT_ONLY);
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
    negotiate(SPLIT_ONLY);
    ring(0, VQ_LAYOUT_SPLIT, true);
    uint16_t h = submit(0, BLK_T_IN, 3, 512);
    struct pollfd p = {.fd = T.r[0].call, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 200), 0); /* nothing while disabled */
    uint16_t uh;
    uint32_t len;
    cr_assert_eq(vq_mock_used(T.r[0].mk, &uh, &len), 0);
    cr_assert_eq(vhu_frontend_set_vring_enable(T.fe, 0, true), 0);
    uint8_t st;
    cr_assert_eq(complete(0, h, &st), 513);
    cr_assert_eq(st, BLK_S_OK);
    cr_assert_eq(gp(0x100000, 1)[0], 4);
}
