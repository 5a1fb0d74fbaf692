/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk's device state (devices/blk/state.h): the record's checks one by one, and the whole transfer
 * through our front-end endpoint: a source cvmm-blk whose driver chose write-through saves its state, a
 * fresh destination on another file loads it with SET_DEVICE_STATE_FD + CHECK_DEVICE_STATE and then behaves
 * as the source did (config writeback 0, writes answered only once fdatasync() succeeded, the source's
 * GET_ID serial); corrupted, truncated and foreign state is refused with a clear error and changes nothing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_fixture.h"
#include "blk_test_aio.h"
#include "cvmm_test_fds.h"
#include "state.h"

#define SECTORS 64u
#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

/* One cvmm-blk in its daemon, driven by our front-end, with one ring. */
struct side {
    char sock[108], disk[108];
    struct bf_side s;
    struct bf_ring r;
};

static struct {
    char dir[64];
    struct side src, dst;
    struct cvmm_log log;
    pthread_mutex_t mu;
    char logged[8192];
    int fds_at_start;
} T;

static void keep_line(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    if (getenv("BLK_TEST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", (int)lvl, line);
    pthread_mutex_lock(&T.mu);
    size_t n = strlen(T.logged);
    if (n + strlen(line) + 2 >= sizeof(T.logged))
        n = T.logged[0] = 0; /* full: start over, the newest lines matter */
    if (n + strlen(line) + 2 < sizeof(T.logged))
        snprintf(T.logged + n, sizeof(T.logged) - n, "%s\n", line);
    pthread_mutex_unlock(&T.mu);
}
static bool logged(const char *needle)
{
    pthread_mutex_lock(&T.mu);
    bool found = strstr(T.logged, needle) != NULL;
    pthread_mutex_unlock(&T.mu);
    return found;
}

/* A disk file of SECTORS sectors at @s->disk, opened into s->dev (no daemon). */
static void open_disk(struct side *s, const char *name, bool ro)
{
    snprintf(s->disk, sizeof(s->disk), "%s/%s", T.dir, name);
    int fd = open(s->disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, SECTORS * 512), 0);
    close(fd);
    cr_assert_eq(blk_disk_open(&s->s.dev.disk, s->disk, ro, &T.log), 0);
    s->s.dev.aio = blk_test_aio(); /* test-devices-blk_state-sync: BLK_TEST_AIO=sync */
    cr_assert_eq(blk_dev_init(&s->s.dev, 1, 128), 0);
}

static void start_side(struct side *s, const char *name)
{
    open_disk(s, name, false);
    snprintf(s->sock, sizeof(s->sock), "%s/%s.sock", T.dir, name);
    bf_serve(&s->s, s->sock, 0, &T.log, name);
}

static void stop_side(struct side *s)
{
    bf_ring_free(&s->r);
    bf_stop(&s->s);
    blk_disk_close(&s->s.dev.disk);
    unlink(s->disk);
    if (s->sock[0])
        unlink(s->sock);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&T, 0, sizeof(T));
    pthread_mutex_init(&T.mu, NULL);
    T.log = (struct cvmm_log){.fn = keep_line, .level = CVMM_LOG_DEBUG};
    T.fds_at_start = cvmm_test_count_fds();
    snprintf(T.dir, sizeof(T.dir), "/tmp/blkstate.XXXXXX");
    cr_assert_not_null(mkdtemp(T.dir));
}
static void setup_disks(void)
{
    setup();
    open_disk(&T.src, "src", false);
    open_disk(&T.dst, "dst", false);
}
static void setup_daemons(void)
{
    setup();
    start_side(&T.src, "src");
    start_side(&T.dst, "dst");
}
static void teardown(void)
{
    stop_side(&T.src);
    stop_side(&T.dst);
    rmdir(T.dir);
    pthread_mutex_destroy(&T.mu);
    cr_expect_eq(cvmm_test_count_fds(), T.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 T.fds_at_start);
}

TestSuite(blk_state, .timeout = 120);

/* ---- the record ---- */

/* The test's own CRC-32 (table-driven), to build records with valid checksums and chosen fields. */
static uint32_t test_crc32(const uint8_t *p, size_t n)
{
    static uint32_t tab[256];
    if (!tab[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            tab[i] = c;
        }
    uint32_t c = 0xffffffffu;
    while (n--)
        c = tab[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}
static void reseal(uint8_t *rec)
{
    uint32_t c = test_crc32(rec, 52);
    for (int i = 0; i < 4; i++)
        rec[52 + i] = (uint8_t)(c >> (8 * i));
}

/* The source in write-through mode with an id of its own. */
static void source_record(uint8_t rec[BLK_STATE_SIZE])
{
    uint8_t zero = 0;
    cr_assert_eq(blk_config_write(&T.src.s.dev, BLK_CONFIG_WRITEBACK_OFF, &zero, 1, 0), 0);
    memcpy(T.src.s.dev.disk.id, "source-disk-serial-1", BLK_ID_BYTES);
    blk_state_encode(&T.src.s.dev, rec);
}

static void dst_unchanged(void)
{
    cr_assert_not(atomic_load(&T.dst.s.dev.disk.writethrough), "the destination's cache mode changed");
    cr_assert_neq(memcmp(T.dst.s.dev.disk.id, "source-disk-serial-1", BLK_ID_BYTES), 0, "the id changed");
}

Test(blk_state, record_moves_cache_mode_and_id, .init = setup_disks, .fini = teardown)
{
    uint8_t rec[BLK_STATE_SIZE];
    source_record(rec);
    cr_assert_arr_eq(rec, BLK_STATE_MAGIC, 8);
    cr_assert_eq(blk_state_apply(&T.dst.s.dev, rec, sizeof(rec)), 0);
    cr_assert(atomic_load(&T.dst.s.dev.disk.writethrough));
    cr_assert_arr_eq(T.dst.s.dev.disk.id, "source-disk-serial-1", BLK_ID_BYTES);
    uint8_t again[BLK_STATE_SIZE];
    blk_state_encode(&T.dst.s.dev, again);
    cr_assert_arr_eq(again, rec, sizeof(rec), "the destination now saves what the source saved");
}

Test(blk_state, every_truncation_and_extension_is_refused, .init = setup_disks, .fini = teardown)
{
    uint8_t rec[BLK_STATE_SIZE + 8] = {0};
    source_record(rec);
    for (size_t len = 0; len < sizeof(rec); len++) {
        if (len == BLK_STATE_SIZE)
            continue;
        cr_assert_eq(blk_state_apply(&T.dst.s.dev, rec, len), -EBADMSG, "%zu bytes", len);
        dst_unchanged();
    }
    cr_assert(logged("blk: device state refused: truncated: 55 bytes of 56"));
    cr_assert(logged("blk: device state refused: trailing data: 57 bytes of 56"));
}

Test(blk_state, every_single_bit_flip_is_refused, .init = setup_disks, .fini = teardown)
{
    uint8_t rec[BLK_STATE_SIZE];
    source_record(rec);
    for (unsigned bit = 0; bit < BLK_STATE_SIZE * 8; bit++) {
        rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = blk_state_apply(&T.dst.s.dev, rec, sizeof(rec));
        cr_assert(rc == -EBADMSG || (rc == -EPROTONOSUPPORT && bit / 8 >= 8 && bit / 8 < 12), "bit %u: rc %d", bit, rc);
        dst_unchanged();
        rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (bit == 63)
            cr_assert(logged("not a cvmm-blk state (bad magic)"));
    }
    cr_assert(logged("checksum mismatch"));
}

Test(blk_state, fields_with_a_valid_checksum_are_still_checked, .init = setup_disks, .fini = teardown)
{
    struct {
        unsigned off;
        uint8_t val;
        int rc;
        const char *log;
    } bad[] = {
        {8, 2, -EPROTONOSUPPORT, "version 2, this build reads version 1"},
        {12, 64, -EBADMSG, "size field 64"},
        {28, 2, -EBADMSG, "writeback 2"},
        {29, 7, -EBADMSG, "read_only 7"},
        {30, 1, -EBADMSG, "reserved 1 0"},
        {16, SECTORS + 1, -EINVAL, "another disk: 65 sectors of 512 bytes, this one has 64 of 512"},
        {25, 0x10, -EINVAL, "another disk: 64 sectors of 4096 bytes"},
        {29, 1, -EINVAL, "another disk: 64 sectors of 512 bytes read-only, this one has 64 of 512"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t rec[BLK_STATE_SIZE];
        source_record(rec);
        rec[bad[i].off] = bad[i].val;
        reseal(rec);
        cr_assert_eq(blk_state_apply(&T.dst.s.dev, rec, sizeof(rec)), bad[i].rc, "case %u", i);
        cr_assert(logged(bad[i].log), "case %u logs \"%s\"", i, bad[i].log);
        dst_unchanged();
    }
}

Test(blk_state, only_the_writeback_byte_is_writable, .init = setup_disks, .fini = teardown)
{
    uint8_t v = 0, two = 2, buf[2] = {0, 0};
    cr_assert_eq(blk_config_write(&T.dst.s.dev, 0, &v, 1, 0), -EPERM);                         /* capacity */
    cr_assert_eq(blk_config_write(&T.dst.s.dev, BLK_CONFIG_WRITEBACK_OFF, buf, 2, 0), -EPERM); /* + unused0 */
    cr_assert_eq(blk_config_write(&T.dst.s.dev, BLK_CONFIG_WRITEBACK_OFF, &two, 1, 0), -EINVAL);
    cr_assert(logged("only writeback (byte 32) is writable"));
    cr_assert(logged("config writeback 2 refused"));
    dst_unchanged();
    cr_assert_eq(blk_config_write(&T.dst.s.dev, BLK_CONFIG_WRITEBACK_OFF, &v, 1, 1), 0);
    cr_assert(atomic_load(&T.dst.s.dev.disk.writethrough));
}

Test(blk_state, pipe_failures_are_returned, .init = setup_disks, .fini = teardown)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    close(p[0]); /* nobody reads: the save gets EPIPE (SIGPIPE ignored) */
    cr_assert_eq(blk_state_save(&T.src.s.dev, p[1]), -EPIPE);
    cr_assert_eq(blk_state_load(&T.dst.s.dev, p[1]), -EBADF, "a write end cannot be read");
    close(p[1]);
    dst_unchanged();
}

/* ---- through the front-end ---- */

static void negotiate(struct side *s)
{
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(s->s.fe, &f), 0);
    cr_assert(f & (1ull << BLK_F_CONFIG_WCE));
    cr_assert_eq(vhu_frontend_set_owner(s->s.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(s->s.fe, &p), 0);
    uint64_t want = PB(CONFIG) | PB(REPLY_ACK) | PB(DEVICE_STATE);
    cr_assert_eq(p & want, want, "CONFIG, REPLY_ACK and DEVICE_STATE offered");
    cr_assert_eq(vhu_frontend_set_protocol_features(s->s.fe, want), 0);
    cr_assert_eq(vhu_frontend_set_features(s->s.fe, f & ~BF_SPLIT_ONLY), 0);
    bf_memory(&s->s, &T.log);
}

/* The data buffer of the ring's requests. */
static uint8_t *data_of(struct side *s, uint64_t len) { return bf_gp(&s->s, bf_data_gpa(&s->r), len); }

/* (Re)start ring 0: a fresh ring, as SET_VRING_BASE 0 says. */
static void start_ring(struct side *s) { bf_ring_start(&s->s, &s->r, 0, VQ_LAYOUT_SPLIT, 128, false); }

/* One request of @type with @dlen data bytes (device-writable for IN and GET_ID); its status byte. */
static uint8_t request(struct side *s, uint32_t type, uint32_t dlen)
{
    bf_wait_used(&s->r, bf_submit(&s->s, &s->r, type, 1, dlen));
    return bf_status(&s->s, &s->r);
}

static uint8_t config_writeback(struct side *s)
{
    uint8_t v = 0xee;
    cr_assert_eq(vhu_frontend_get_config(s->s.fe, BLK_CONFIG_WRITEBACK_OFF, &v, 1, 0), 0);
    return v;
}

/* A write that reaches a file whose fdatasync() fails (/dev/null: the write succeeds, the sync says EINVAL)
 * is answered OK in write-back mode and IOERR in write-through mode: the device's cache mode, observed. */
static uint8_t write_on_unsyncable_disk(struct side *s)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    cr_assert_geq(null, 0);
    int saved = dup(s->s.dev.disk.fd);
    cr_assert_geq(dup2(null, s->s.dev.disk.fd), 0); /* no request runs now */
    uint8_t st = request(s, BLK_T_OUT, 512);
    cr_assert_geq(dup2(saved, s->s.dev.disk.fd), 0);
    close(saved);
    close(null);
    return st;
}

/* GET_VRING_BASE stops the ring: the device is suspended for the transfer. */
static void stop_ring(struct side *s)
{
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(s->s.fe, 0, &base), 0);
}

static size_t save_state(struct side *s, uint8_t *buf, size_t cap)
{
    int p[2], bfd = -1;
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(vhu_frontend_set_device_state_fd(s->s.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, p[1], &bfd),
                 0);
    cr_assert_eq(bfd, -1);
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], buf + len, cap - len)) > 0) /* EOF when the relay is done */
        len += (size_t)n;
    close(p[0]);
    cr_assert_eq(vhu_frontend_check_device_state(s->s.fe), 0);
    return len;
}

/* Load @len bytes; the result of CHECK_DEVICE_STATE. */
static int load_state(struct side *s, const uint8_t *buf, size_t len)
{
    int p[2], bfd = -1;
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(vhu_frontend_set_device_state_fd(s->s.fe, VHU_TRANSFER_STATE_DIRECTION_LOAD,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, p[0], &bfd),
                 0);
    close(p[0]);
    cr_assert_eq(write(p[1], buf, len), (ssize_t)len); /* < 64 KiB: fits the pipe */
    close(p[1]);
    return vhu_frontend_check_device_state(s->s.fe);
}

Test(blk_state, destination_behaves_as_the_source_after_the_transfer, .init = setup_daemons, .fini = teardown)
{
    negotiate(&T.src);
    start_ring(&T.src);
    cr_assert_eq(config_writeback(&T.src), 1, "write-back by default");
    cr_assert_eq(write_on_unsyncable_disk(&T.src), BLK_S_OK, "write-back: no sync per write");
    uint8_t zero = 0;
    cr_assert_eq(vhu_frontend_set_config(T.src.s.fe, BLK_CONFIG_WRITEBACK_OFF, &zero, 1, 0), 0); /* the driver */
    cr_assert_eq(config_writeback(&T.src), 0);
    cr_assert_eq(write_on_unsyncable_disk(&T.src), BLK_S_IOERR, "write-through: the failed sync is reported");
    cr_assert_eq(request(&T.src, BLK_T_GET_ID, BLK_ID_BYTES), BLK_S_OK);
    char src_id[BLK_ID_BYTES];
    memcpy(src_id, data_of(&T.src, BLK_ID_BYTES), BLK_ID_BYTES);
    stop_ring(&T.src);
    uint8_t rec[4096];
    size_t len = save_state(&T.src, rec, sizeof(rec));
    cr_assert_eq(len, BLK_STATE_SIZE);

    negotiate(&T.dst);
    start_ring(&T.dst);
    cr_assert_eq(request(&T.dst, BLK_T_GET_ID, BLK_ID_BYTES), BLK_S_OK);
    cr_assert_neq(memcmp(data_of(&T.dst, BLK_ID_BYTES), src_id, BLK_ID_BYTES), 0, "another file, another id");
    stop_ring(&T.dst);
    cr_assert_eq(load_state(&T.dst, rec, len), 0);
    cr_assert(logged("blk: device state loaded: write-through cache"));
    start_ring(&T.dst); /* a second start: the mock restarts at 0, as SET_VRING_BASE 0 says */
    cr_assert_eq(config_writeback(&T.dst), 0, "the driver's cache mode survived the move");
    cr_assert_eq(write_on_unsyncable_disk(&T.dst), BLK_S_IOERR, "and so did write-through");
    cr_assert_eq(request(&T.dst, BLK_T_GET_ID, BLK_ID_BYTES), BLK_S_OK);
    cr_assert_arr_eq(data_of(&T.dst, BLK_ID_BYTES), src_id, BLK_ID_BYTES, "the source's serial");
}

Test(blk_state, corrupted_truncated_and_oversized_state_is_refused, .init = setup_daemons, .fini = teardown)
{
    negotiate(&T.src);
    uint8_t zero = 0;
    cr_assert_eq(vhu_frontend_set_config(T.src.s.fe, BLK_CONFIG_WRITEBACK_OFF, &zero, 1, 0), 0);
    uint8_t rec[8192];
    cr_assert_eq(save_state(&T.src, rec, sizeof(rec)), BLK_STATE_SIZE);
    negotiate(&T.dst);

    rec[40] ^= 0x20; /* one bit of the id */
    cr_assert_eq(load_state(&T.dst, rec, BLK_STATE_SIZE), -EREMOTEIO);
    cr_assert(logged("blk: device state refused: checksum mismatch (corrupted in transfer)"));
    rec[40] ^= 0x20;
    cr_assert_eq(load_state(&T.dst, rec, 30), -EREMOTEIO);
    cr_assert(logged("blk: device state refused: truncated: 30 bytes of 56"));
    cr_assert_eq(load_state(&T.dst, rec, 0), -EREMOTEIO);
    cr_assert(logged("truncated: 0 bytes, the header alone is 16"));
    memset(rec + BLK_STATE_SIZE, 0x55, sizeof(rec) - BLK_STATE_SIZE);
    cr_assert_eq(load_state(&T.dst, rec, sizeof(rec)), -EREMOTEIO);
    cr_assert(logged("trailing data: 57 bytes of 56"));
    cr_assert(logged("op state_load failed: Bad message"));
    cr_assert_eq(config_writeback(&T.dst), 1, "nothing changed");
    cr_assert_eq(load_state(&T.dst, rec, BLK_STATE_SIZE), 0, "the intact state still loads");
    cr_assert_eq(config_writeback(&T.dst), 0);
}
