/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Shared fixture of the vhost-user-backend suites: a test device, a daemon serving a UNIX socket on its own
 * control thread, our vhost-user-proto front-end on the test thread, memfd guest memory and mock drivers. */
#ifndef VUB_TEST_H
#define VUB_TEST_H

/* Each suite uses a part of the fixture. */
#pragma GCC diagnostic ignored "-Wunused-function"

#ifdef VT_MINI_CRITERION
#include "mini_criterion.h"
#else
#include <criterion/criterion.h>
#endif
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cvmm/vhu/frontend.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vub.h"
#include "cvmm_test_fds.h"

#define VT_QUEUES 4
#define VT_CONFIG_SIZE 16
#define VT_PATTERN 0xa5
/* Bound of every wait for something that must happen (a reply, a used entry, a signal, a log line): long
 * enough for a loaded two-core machine under TSan, so only a hang reaches it (CONTRIBUTING.md §12). */
#define VT_WAIT_MS 30000
#define VT_UVA_BASE 0x7f0000000000ull /* front-end virtual address of gpa 0 */

/* ---- the test device ---- */
struct tdev {
    atomic_uint kicks;
    atomic_uint chains;
    atomic_uint started[VT_QUEUES];
    atomic_uint stopped[VT_QUEUES];
    atomic_uint enabled_calls;
    atomic_uint resets;
    atomic_uint mem_changes;
    atomic_int last_enabled[VT_QUEUES];
    atomic_ullong acked;
    atomic_int kick_error;     /* returned by queue_kicked when non-zero (after processing nothing) */
    atomic_uint delay_us;      /* per chain, to keep the worker busy */
    atomic_int busy;           /* 1 while a chain is being processed (during the delay) */
    atomic_int start_error;    /* returned by queue_started */
    atomic_int features_error; /* returned by features_acked */
    pthread_mutex_t mu;
    uint8_t config[VT_CONFIG_SIZE];
    vhu_shmem_config shmem;
    _Atomic uint8_t state_byte; /* device state saved/loaded (a test may set it while a transfer thread runs) */
    atomic_int state_loaded;
    atomic_int state_big;
    vub_daemon *d;
};

static int tdev_kicked(void *ctx, vub_queue *q)
{
    struct tdev *t = ctx;
    vq_queue *vq = vub_queue_vq(q);
    vq_chain c;
    int rc;
    atomic_fetch_add(&t->kicks, 1);
    int err = atomic_load(&t->kick_error);
    if (err)
        return err;
    do {
        (void)vq_disable_notification(vq);
        while ((rc = vq_pop(vq, &c)) == 1) {
            vq_desc_info di, wr[16];
            unsigned nwr = 0;
            uint32_t written = 0;
            int w;
            while ((w = vq_chain_next(vq, &c, &di)) == 1)
                if (di.write && di.len && nwr < 16)
                    wr[nwr++] = di;
            if (w < 0)
                return w;
            unsigned us = atomic_load(&t->delay_us);
            if (us) { /* hold the buffers across a delay: memory must stay mapped meanwhile */
                atomic_store(&t->busy, 1);
                usleep(us);
            }
            for (unsigned i = 0; i < nwr; i++) {
                memset(wr[i].hva, VT_PATTERN, wr[i].len);
                (void)vmem_map_mark_dirty(vub_queue_map(q), wr[i].gpa, wr[i].len);
                written += wr[i].len;
            }
            atomic_store(&t->busy, 0);
            if (vq_add_used(vq, c.head, written) < 0)
                return -EIO;
            atomic_fetch_add(&t->chains, 1);
        }
        if (rc < 0)
            return rc;
    } while (vq_enable_notification(vq) == 1);
    return vub_queue_notify(q) < 0 ? -EIO : 0;
}

static int tdev_started(void *ctx, vub_queue *q)
{
    struct tdev *t = ctx;
    int err = atomic_load(&t->start_error);
    if (err)
        return err;
    atomic_fetch_add(&t->started[vub_queue_index(q)], 1);
    return 0;
}
static int tdev_stopped(void *ctx, vub_queue *q)
{
    struct tdev *t = ctx;
    atomic_fetch_add(&t->stopped[vub_queue_index(q)], 1);
    return 0;
}
static int tdev_enabled(void *ctx, vub_queue *q, bool en)
{
    struct tdev *t = ctx;
    atomic_fetch_add(&t->enabled_calls, 1);
    atomic_store(&t->last_enabled[vub_queue_index(q)], en);
    return 0;
}
static int tdev_features(void *ctx, uint64_t f)
{
    struct tdev *t = ctx;
    int err = atomic_load(&t->features_error);
    if (err)
        return err;
    atomic_store(&t->acked, f);
    return 0;
}
static void tdev_reset(void *ctx) { atomic_fetch_add(&((struct tdev *)ctx)->resets, 1); }
static int tdev_mem(void *ctx, const vmem_map *m)
{
    (void)m;
    atomic_fetch_add(&((struct tdev *)ctx)->mem_changes, 1);
    return 0;
}
static int tdev_get_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    struct tdev *t = ctx;
    pthread_mutex_lock(&t->mu);
    memcpy(buf, t->config + off, len);
    pthread_mutex_unlock(&t->mu);
    return 0;
}
static int tdev_set_config(void *ctx, uint32_t off, const void *buf, uint32_t len, uint32_t flags)
{
    struct tdev *t = ctx;
    (void)flags;
    if (off < 4) /* bytes 0-3 are read-only */
        return -EPERM;
    pthread_mutex_lock(&t->mu);
    memcpy(t->config + off, buf, len);
    pthread_mutex_unlock(&t->mu);
    return 0;
}
static int tdev_shmem(void *ctx, vhu_shmem_config *out)
{
    struct tdev *t = ctx;
    *out = t->shmem;
    return 0;
}
static int tdev_save(void *ctx, int fd)
{
    struct tdev *t = ctx;
    if (atomic_load(&t->state_big)) { /* 1 MiB: more than any pipe holds */
        static uint8_t chunk[65536];
        memset(chunk, atomic_load(&t->state_byte), sizeof(chunk));
        for (int i = 0; i < 16; i++)
            for (size_t done = 0; done < sizeof(chunk);) {
                ssize_t n = write(fd, chunk + done, sizeof(chunk) - done);
                if (n <= 0)
                    return -EIO;
                done += (size_t)n;
            }
        return 0;
    }
    uint8_t v = atomic_load(&t->state_byte);
    return write(fd, &v, 1) == 1 ? 0 : -EIO;
}
static int tdev_load(void *ctx, int fd)
{
    struct tdev *t = ctx;
    uint8_t b[8];
    ssize_t n = read(fd, b, sizeof(b));
    if (n != 1)
        return -EINVAL;
    atomic_store(&t->state_byte, b[0]);
    atomic_store(&t->state_loaded, 1);
    return 0;
}

static const vub_device_ops tdev_ops = {
    .features_acked = tdev_features,
    .get_config = tdev_get_config,
    .set_config = tdev_set_config,
    .mem_changed = tdev_mem,
    .queue_started = tdev_started,
    .queue_stopped = tdev_stopped,
    .queue_enabled = tdev_enabled,
    .queue_kicked = tdev_kicked,
    .reset = tdev_reset,
    .state_save = tdev_save,
    .state_load = tdev_load,
};
static const vub_device_ops tdev_ops_shmem = {
    .features_acked = tdev_features,
    .get_config = tdev_get_config,
    .set_config = tdev_set_config,
    .queue_started = tdev_started,
    .queue_stopped = tdev_stopped,
    .queue_kicked = tdev_kicked,
    .reset = tdev_reset,
    .get_shmem_config = tdev_shmem,
};
static const vub_device_ops tdev_ops_min = {.queue_kicked = tdev_kicked};

#define VT_DEV_FEATURES ((1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_EVENT_IDX) | (1ull << VUB_F_RING_PACKED))

/* ---- the fixture ---- */
struct vt {
    char dir[64];
    char path[108];
    struct tdev dev;
    vub_device_info info;
    uint16_t qw[VT_QUEUES];
    vub_daemon *d;
    pthread_t th;
    bool running;
    vhu_frontend *fe;
    vmem_region *regs[32];
    unsigned nregs;
    vmem_map *map; /* the driver's view of guest memory */
    int fds_at_start;
    struct cvmm_log log;
    pthread_mutex_t log_mu; /* the lines logged (WARN and up, or all with VT_VERBOSE), for vt_logged() */
    char logged[8192];
    size_t logged_len;
};

static struct vt vt;

static void vt_quiet(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    if (getenv("VT_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", (int)lvl, line);
    pthread_mutex_lock(&vt.log_mu);
    size_t n = strlen(line), room = sizeof(vt.logged) - vt.logged_len;
    if (n + 2 > room) { /* full: start over, the newest lines matter */
        vt.logged_len = 0;
        room = sizeof(vt.logged);
    }
    if (n + 2 <= room) {
        memcpy(vt.logged + vt.logged_len, line, n);
        vt.logged_len += n;
        vt.logged[vt.logged_len++] = '\n';
        vt.logged[vt.logged_len] = '\0';
    }
    pthread_mutex_unlock(&vt.log_mu);
}

/* vt_logged() - whether a line containing @needle was logged since the fixture started. */
static inline bool vt_logged(const char *needle)
{
    pthread_mutex_lock(&vt.log_mu);
    bool found = strstr(vt.logged, needle) != NULL;
    pthread_mutex_unlock(&vt.log_mu);
    return found;
}

/* vt_log_count() - how many logged lines contain @needle (since the fixture started; 8 KiB of lines kept). */
static inline unsigned vt_log_count(const char *needle)
{
    unsigned n = 0;
    pthread_mutex_lock(&vt.log_mu);
    for (const char *p = vt.logged; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    pthread_mutex_unlock(&vt.log_mu);
    return n;
}

/* vt_new_daemon() - a second daemon (device "d2", 2 queues, the test device's ops) on @loop (NULL: its own),
 * neither listening nor running: the caller frees it. */
static vub_daemon *vt_new_daemon(struct ev_loop *loop)
{
    static vub_device_info info2 = {.name = "d2", .num_queues = 2};
    vub_daemon *d = NULL;
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &info2, .ctx = &vt.dev, .log = &vt.log, .loop = loop};
    cr_assert_eq(vub_daemon_new(&cfg, &d), 0);
    return d;
}

/* vt_sun_of() - the AF_UNIX address of @path (asserted to fit). */
static struct sockaddr_un vt_sun_of(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    return sa;
}

static void *vt_run(void *arg)
{
    (void)vub_daemon_run(arg);
    return NULL;
}

struct vt_opts {
    const vub_device_ops *ops;
    unsigned nworkers;
    bool serve_once;
    uint64_t extra_proto;
    bool no_frontend;
    int peer_timeout_ms; /* vub_daemon_config.peer_timeout_ms */
    bool track_inflight; /* vub_device_info.track_inflight */
    int busy_poll_us;    /* vub_daemon_config.busy_poll_us */
    bool poll;           /* vub_daemon_config.poll */
};

static void vt_start_daemon(const struct vt_opts *o)
{
    vub_daemon_config cfg = {
        .ops = o->ops ? o->ops : &tdev_ops,
        .info = &vt.info,
        .ctx = &vt.dev,
        .nworkers = o->nworkers,
        .log = &vt.log,
        .serve_once = o->serve_once,
        .peer_timeout_ms = o->peer_timeout_ms,
        .busy_poll_us = o->busy_poll_us,
        .poll = o->poll,
    };
    vt.info = (vub_device_info){
        .name = "tdev",
        .num_queues = VT_QUEUES,
        .max_queue_size = 256,
        .features = VT_DEV_FEATURES,
        .protocol_features = o->extra_proto,
        .config_size = VT_CONFIG_SIZE,
        .queue_worker = o->nworkers > 1 ? vt.qw : NULL,
        .track_inflight = o->track_inflight,
    };
    for (unsigned i = 0; i < VT_QUEUES; i++)
        vt.qw[i] = o->nworkers > 1 ? (uint16_t)(i % o->nworkers) : 0;
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    vt.dev.d = vt.d;
    cr_assert_eq(vub_daemon_listen(vt.d, vt.path), 0);
    cr_assert_eq(pthread_create(&vt.th, NULL, vt_run, vt.d), 0);
    vt.running = true;
}

static void vt_connect(void)
{
    vhu_frontend_config fc = {.log = &vt.log, .name = "fe", .timeout_ms = VT_WAIT_MS};
    cr_assert_eq(vhu_frontend_connect(&fc, vt.path, &vt.fe), 0);
}

static void vt_setup(const struct vt_opts *o)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&vt, 0, sizeof(vt));
    vt.log = (struct cvmm_log){.fn = vt_quiet, .level = getenv("VT_VERBOSE") ? CVMM_LOG_DEBUG : CVMM_LOG_WARN};
    pthread_mutex_init(&vt.dev.mu, NULL);
    pthread_mutex_init(&vt.log_mu, NULL);
    for (unsigned i = 0; i < VT_CONFIG_SIZE; i++)
        vt.dev.config[i] = (uint8_t)(0x10 + i);
    vt.fds_at_start = cvmm_test_count_fds();
    snprintf(vt.dir, sizeof(vt.dir), "/tmp/vubtest.XXXXXX");
    cr_assert_not_null(mkdtemp(vt.dir));
    snprintf(vt.path, sizeof(vt.path), "%s/sock", vt.dir);
    vt_start_daemon(o);
    if (!o->no_frontend)
        vt_connect();
}

static void vt_init(void) { vt_setup(&(struct vt_opts){0}); }
static void vt_init_shmem(void) { vt_setup(&(struct vt_opts){.ops = &tdev_ops_shmem}); }
static void vt_init_min(void) { vt_setup(&(struct vt_opts){.ops = &tdev_ops_min}); }
static void vt_init_workers(void) { vt_setup(&(struct vt_opts){.nworkers = 2}); }

static void vt_stop_daemon(void)
{
    if (vt.running) {
        vub_daemon_stop(vt.d);
        pthread_join(vt.th, NULL);
        vt.running = false;
    }
    vub_daemon_free(vt.d);
    vt.d = NULL;
}

/* vt_start_signal_daemon() - replace the fixture's daemon with one that handles SIGTERM and SIGINT (on the
 * program's default loop), listens on vt.path and runs on *th: join it after the signal. */
static void vt_start_signal_daemon(pthread_t *th)
{
    vt_stop_daemon();
    vub_daemon_config cfg = {
        .ops = &tdev_ops, .info = &vt.info, .ctx = &vt.dev, .log = &vt.log, .handle_signals = true};
    cr_assert_eq(vub_daemon_new(&cfg, &vt.d), 0);
    cr_assert_eq(vub_daemon_listen(vt.d, vt.path), 0);
    cr_assert_eq(pthread_create(th, NULL, vt_run, vt.d), 0);
}

static void vt_fini(void)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_stop_daemon();
    vmem_map_free(vt.map);
    vt.map = NULL;
    for (unsigned i = 0; i < vt.nregs; i++)
        vmem_region_unref(vt.regs[i]);
    vt.nregs = 0;
    unlink(vt.path);
    rmdir(vt.dir);
    pthread_mutex_destroy(&vt.dev.mu);
    pthread_mutex_destroy(&vt.log_mu);
    cr_assert_eq(cvmm_test_count_fds(), vt.fds_at_start, "fd leak: %d open, %d at start", cvmm_test_count_fds(),
                 vt.fds_at_start);
}

#define VT_PROTO_DEFAULT                                                                                               \
    (VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK) |                                \
     VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG) |                  \
     VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_LOG_SHMFD) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_STATUS) |                            \
     VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_RESET_DEVICE))

/* Negotiate @features (device bits; PROTOCOL_FEATURES added) and the offered subset of @proto. */
static void vt_negotiate(uint64_t features, uint64_t proto)
{
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert(f & (1ull << VHU_F_PROTOCOL_FEATURES));
    cr_assert_eq(vhu_frontend_set_owner(vt.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(vt.fe, p & proto), 0);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, (features & f) | (1ull << VHU_F_PROTOCOL_FEATURES)), 0);
}

/* Guest memory: @n memfd regions of @size bytes at gpa i * @stride (stride 0: size), sent as one table. */
static void vt_memory(unsigned n, uint64_t size, uint64_t stride)
{
    vhu_mem_region wr[VHU_MEM_REGIONS_MAX];
    int fds[VHU_MEM_REGIONS_MAX];
    cr_assert(n <= VHU_MEM_REGIONS_MAX);
    if (!stride)
        stride = size;
    for (unsigned i = 0; i < n; i++) {
        vmem_region_desc rd = {.gpa = i * stride, .size = size, .user_addr = VT_UVA_BASE + i * stride};
        cr_assert_eq(vmem_region_new_memfd(&rd, &vt.log, &vt.regs[vt.nregs]), 0);
        wr[i] = (vhu_mem_region){.guest_addr = rd.gpa, .size = size, .user_addr = rd.user_addr};
        fds[i] = vmem_region_fd(vt.regs[vt.nregs]);
        vt.nregs++;
    }
    vmem_map_free(vt.map);
    cr_assert_eq(vmem_map_new(vt.regs, vt.nregs, NULL, &vt.log, &vt.map), 0);
    cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, wr, fds, n), 0);
}

/* One ring driven by a mock driver; rings of queue i live at gpa 0x10000 * (i + 1) of region 0. */
struct vt_ring {
    unsigned index;
    vq_mock *mk;
    int kick, call, err;
    uint64_t desc, driver, device;
};

static void vt_ring_addrs(struct vt_ring *r, unsigned index)
{
    r->index = index;
    r->desc = 0x10000ull * (index + 1);
    r->driver = r->desc + 0x4000;
    r->device = r->desc + 0x8000;
}

static void vt_ring_setup(struct vt_ring *r, unsigned index, enum vq_layout layout, uint32_t size, bool event_idx,
                          bool gpa_addresses)
{
    vt_ring_addrs(r, index);
    vq_mock_config mc = {.layout = layout,
                         .size = size,
                         .event_idx = event_idx,
                         .desc_gpa = r->desc,
                         .driver_gpa = r->driver,
                         .device_gpa = r->device};
    cr_assert_eq(vq_mock_new(vt.map, &mc, &r->mk), 0);
    r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uint64_t off = gpa_addresses ? 0 : VT_UVA_BASE;
    vhu_vring_addr a = {.index = index, .desc = r->desc + off, .avail = r->driver + off, .used = r->device + off};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, index, size), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, index, layout == VQ_LAYOUT_PACKED ? 0x80008000u : 0), 0);
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, index, r->call), 0);
    cr_assert_eq(vhu_frontend_set_vring_err(vt.fe, index, r->err), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, index, r->kick), 0);
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, index, true), 0);
}

static void vt_ring_free(struct vt_ring *r)
{
    vq_mock_free(r->mk);
    r->mk = NULL;
    close(r->kick);
    close(r->call);
    close(r->err);
}

static void vt_kick(struct vt_ring *r)
{
    uint64_t one = 1;
    cr_assert_eq(write(r->kick, &one, 8), 8);
}

/* Wait until @fd (an eventfd) is signalled; consume it.  Return: true signalled within @ms. */
static bool vt_wait_fd(int fd, int ms)
{
    uint64_t v;
    return cvmm_test_wait_readable(fd, ms) && read(fd, &v, 8) == 8;
}

/* Wait until ring 0's worker finished what it was doing (the kick callback, its notification): a request
 * that runs on the worker (SET_VRING_ENABLE of an enabled ring, which changes nothing) has been answered. */
static void vt_sync_worker(void) { cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, true), 0); }

/* Add one chain (2 readable 64-byte buffers + 1 writable of @wlen) at data gpa @data; kick if needed. */
static uint16_t vt_add_chain(struct vt_ring *r, uint64_t data, uint32_t wlen)
{
    vq_mock_buf b[3] = {{data, 64, false}, {data + 64, 64, false}, {data + 128, wlen, true}};
    uint16_t head;
    cr_assert_eq(vq_mock_add(r->mk, b, 3, &head), 0);
    return head;
}

static void vt_sleep_ms(int ms);

/* Wait for one used entry (polling the used ring: the call eventfd is left alone); returns its len. */
static uint32_t vt_wait_used(struct vt_ring *r, uint16_t want_head)
{
    uint16_t head;
    uint32_t len;
    for (int i = 0; i < VT_WAIT_MS; i++) {
        int rc = vq_mock_used(r->mk, &head, &len);
        cr_assert_geq(rc, 0);
        if (rc == 1) {
            cr_assert_eq(head, want_head);
            return len;
        }
        vt_sleep_ms(1);
    }
    cr_assert_fail("no used entry for head %u", want_head);
    return 0;
}

static void vt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* vt_wait_logged() - wait (VT_WAIT_MS at most) for a line containing @needle; whether it came. */
static bool vt_wait_logged(const char *needle)
{
    for (int i = 0; i < VT_WAIT_MS && !vt_logged(needle); i++)
        vt_sleep_ms(1);
    return vt_logged(needle);
}

#endif
