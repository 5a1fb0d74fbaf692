/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* bench-blk-driver (benches/e2e/blk-driver.c) against a back-end that we can make misbehave: a RAM disk
 * device in a real vub_daemon, served over a UNIX socket.  A correct back-end gives a figure (reads check
 * every byte of the pattern, on one and two queues; writes leave the pattern on the disk); a back-end that
 * returns wrong data, a wrong used length, a failed status or a used id that is not in flight (from its
 * 50th request on, so the run is under way) makes the driver exit 2 naming the fault, with no figure. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvmm/le.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/rw.h"
#include "cvmm/vq/snapshot.h"
#include "cvmm/vub.h"

#define DISK_BYTES (4u << 20) /* 1024 blocks of 4 KiB */
#define FAULT_FROM 50u

enum fault { NONE, CORRUPT, BAD_LEN, BAD_STATUS, WRONG_ID };

static struct {
    char dir[64], sock[108], file[108], out[108];
    uint8_t *disk;
    enum fault fault;
    atomic_uint served;
    vub_daemon *d;
    pthread_t th;
    struct cvmm_log log;
} T;

static void quiet(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    if (getenv("BLK_TEST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", (int)lvl, line);
}

/* One virtio-blk IN or OUT request on the RAM disk, with the configured fault. */
static int ram_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx;
    (void)q;
    vq_reader r;
    vq_writer w;
    vq_reader_init(&r, s);
    vq_writer_init(&w, s);
    uint32_t type = 0, reserved;
    uint64_t sector = 0;
    uint8_t status = 0;
    bool faulty = atomic_fetch_add(&T.served, 1) >= FAULT_FROM;
    if (vq_reader_read_le32(&r, &type) < 0 || vq_reader_read_le32(&r, &reserved) < 0 ||
        vq_reader_read_le64(&r, &sector) < 0 || vq_writer_bytes_left(&w) < 1)
        return -EIO;
    uint64_t len = type == 0 ? vq_writer_bytes_left(&w) - 1 : vq_reader_bytes_left(&r), off = sector * 512;
    if (off > DISK_BYTES || len > DISK_BYTES - off)
        status = 1;
    else if (type == 0) {
        uint8_t buf[4096];
        if (len > sizeof(buf))
            return -EIO;
        memcpy(buf, T.disk + off, len);
        if (faulty && T.fault == CORRUPT)
            buf[len / 2] ^= 0x40;
        (void)vq_writer_write(&w, buf, len);
    } else if (type == 1)
        (void)vq_reader_read(&r, T.disk + off, len);
    else
        status = 2;
    if (faulty && T.fault == BAD_STATUS)
        status = 1;
    (void)vq_writer_write(&w, &status, 1);
    *used_len = (uint32_t)vq_writer_bytes_written(&w) + (faulty && T.fault == BAD_LEN);
    return 0;
}

/* WRONG_ID: the same requests, but used under the id of the next descriptor.  (A kick that came before
 * the ring was enabled is served when it is: queue_enabled = vub_queue_enabled_kick.) */
static int ram_kicked(void *ctx, vub_queue *q)
{
    vq_queue *vq = vub_queue_vq(q);
    vq_chain c;
    vq_snapshot_buf sb;
    int rc;
    do {
        (void)vq_disable_notification(vq);
        while ((rc = vq_pop(vq, &c)) == 1) {
            uint32_t len = 0;
            if ((rc = vq_snapshot_take_buf(vq, &c, &sb)) < 0 || (rc = ram_request(ctx, q, &sb.snap, &len)) < 0)
                return rc;
            uint16_t id = atomic_load(&T.served) > FAULT_FROM ? (uint16_t)((c.head + 1) % vq_queue_size(vq)) : c.head;
            if ((rc = vq_add_used(vq, id, len)) < 0)
                return rc;
        }
        (void)vub_queue_notify(q);
    } while (rc == 0 && vq_enable_notification(vq) == 1); /* avail_event moves on: the driver kicks again */
    return rc;
}

static int ram_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    (void)ctx;
    uint8_t cfg[60] = {0};
    cvmm_le64 cap = cvmm_le64_set(DISK_BYTES / 512);
    cvmm_le16 nq = cvmm_le16_set(2);
    memcpy(cfg, &cap, 8);
    memcpy(cfg + 34, &nq, 2);
    memcpy(buf, cfg + off, len);
    return 0;
}

static const vub_device_ops ram_ops = {.request = ram_request, .get_config = ram_config};
static const vub_device_ops ram_wrong_id_ops = {
    .queue_kicked = ram_kicked, .queue_enabled = vub_queue_enabled_kick, .get_config = ram_config};
static const vub_device_info ram_info = {
    .name = "ram",
    .num_queues = 2,
    .features = (1ull << 12 /* BLK_F_MQ */) | (1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_INDIRECT_DESC) |
                (1ull << VUB_F_RING_EVENT_IDX),
    .config_size = 60,
};

static void *serve(void *arg)
{
    (void)vub_daemon_run(arg);
    return NULL;
}

/* Run the driver with @args (after --socket); its stdout and stderr go to T.out.  Return: its exit status. */
static int driver(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s > '%s' 2>&1", CVMM_BLK_DRIVER_BIN, args, T.out);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "the driver did not exit: %#x", st);
    return WEXITSTATUS(st);
}

static char *output(void)
{
    static char buf[8192];
    FILE *f = fopen(T.out, "re");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* The disk holds the driver's pattern (written by the driver's --make-file into a file first). */
static void start(enum fault fault)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&T, 0, sizeof(T));
    T.fault = fault;
    T.log = (struct cvmm_log){.fn = quiet, .level = CVMM_LOG_DEBUG};
    snprintf(T.dir, sizeof(T.dir), "/tmp/blkdrv.XXXXXX");
    cr_assert_not_null(mkdtemp(T.dir));
    snprintf(T.sock, sizeof(T.sock), "%s/s", T.dir);
    snprintf(T.file, sizeof(T.file), "%s/disk", T.dir);
    snprintf(T.out, sizeof(T.out), "%s/out", T.dir);
    char args[256];
    snprintf(args, sizeof(args), "--make-file '%s' --size %u", T.file, DISK_BYTES);
    cr_assert_eq(driver(args), 0, "%s", output());
    T.disk = malloc(DISK_BYTES);
    cr_assert_not_null(T.disk);
    int fd = open(T.file, O_RDONLY | O_CLOEXEC);
    cr_assert_eq(read(fd, T.disk, DISK_BYTES), (ssize_t)DISK_BYTES);
    close(fd);
    vub_daemon_config dc = {
        .ops = fault == WRONG_ID ? &ram_wrong_id_ops : &ram_ops, .info = &ram_info, .nworkers = 2, .log = &T.log};
    cr_assert_eq(vub_daemon_new(&dc, &T.d), 0);
    cr_assert_eq(vub_daemon_listen(T.d, T.sock), 0);
    cr_assert_eq(pthread_create(&T.th, NULL, serve, T.d), 0);
}

static void stop(void)
{
    vub_daemon_stop(T.d);
    pthread_join(T.th, NULL);
    vub_daemon_free(T.d);
    free(T.disk);
    unlink(T.sock);
    unlink(T.file);
    unlink(T.out);
    rmdir(T.dir);
}

static void start_good(void) { start(NONE); }
static void start_corrupt(void) { start(CORRUPT); }
static void start_bad_len(void) { start(BAD_LEN); }
static void start_bad_status(void) { start(BAD_STATUS); }
static void start_wrong_id(void) { start(WRONG_ID); }

/* A short run: 0.5 s window, no warm-up, 10 s stall bound. */
static int run(const char *more)
{
    char args[512];
    snprintf(args, sizeof(args), "--socket '%s' --window 0.5 --warmup 0 --stall 10 --label ram %s", T.sock, more);
    return driver(args);
}

TestSuite(blk_driver, .timeout = 120);

Test(blk_driver, correct_back_end_gives_a_figure, .init = start_good, .fini = stop)
{
    cr_assert_eq(run("--rw read --qd 8"), 0, "%s", output());
    char *o = output();
    cr_assert_not_null(strstr(o, "RESULT label=ram rw=read qd=8 queues=1 iops="), "%s", o);
    unsigned long long checked = 0;
    char *c = strstr(o, "checked=");
    cr_assert_not_null(c, "%s", o);
    cr_assert_eq(sscanf(c, "checked=%llu", &checked), 1);
    cr_assert_gt(checked, 0, "%s", o);
    cr_assert_geq(atomic_load(&T.served), checked);
}

Test(blk_driver, two_queues_and_writes_keep_the_pattern, .init = start_good, .fini = stop)
{
    cr_assert_eq(run("--rw write --qd 4 --queues 2"), 0, "%s", output());
    cr_assert_not_null(strstr(output(), "rw=write qd=4 queues=2"), "%s", output());
    uint8_t *want = malloc(DISK_BYTES);
    int fd = open(T.file, O_RDONLY | O_CLOEXEC);
    cr_assert_eq(read(fd, want, DISK_BYTES), (ssize_t)DISK_BYTES);
    close(fd);
    cr_assert_eq(memcmp(want, T.disk, DISK_BYTES), 0, "the writes changed the pattern");
    free(want);
    cr_assert_eq(run("--rw read --qd 4 --queues 2"), 0, "%s", output());
}

Test(blk_driver, wrong_data_is_an_error_not_a_figure, .init = start_corrupt, .fini = stop)
{
    cr_assert_eq(run("--rw read --qd 8"), 2, "%s", output());
    cr_assert_not_null(strstr(output(), "error: queue 0: wrong data: block"), "%s", output());
    cr_assert_null(strstr(output(), "RESULT"), "%s", output());
}

Test(blk_driver, wrong_used_length_is_an_error, .init = start_bad_len, .fini = stop)
{
    cr_assert_eq(run("--rw read --qd 8"), 2, "%s", output());
    cr_assert_not_null(strstr(output(), "wrong used length: read of block"), "%s", output());
    cr_assert_not_null(strstr(output(), "used with length 4098, expected 4097"), "%s", output());
    cr_assert_null(strstr(output(), "RESULT"), "%s", output());
}

Test(blk_driver, failed_status_is_an_error, .init = start_bad_status, .fini = stop)
{
    cr_assert_eq(run("--rw write --qd 2"), 2, "%s", output());
    cr_assert_not_null(strstr(output(), "completed with status 1"), "%s", output());
    cr_assert_null(strstr(output(), "RESULT"), "%s", output());
}

Test(blk_driver, used_id_not_in_flight_is_an_error, .init = start_wrong_id, .fini = stop)
{
    cr_assert_eq(run("--rw read --qd 1"), 2, "%s", output());
    cr_assert_not_null(strstr(output(), "wrong used id: entry"), "%s", output());
    cr_assert_null(strstr(output(), "RESULT"), "%s", output());
}
