/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-net's device (devices/net/net.c) in a daemon on its own thread, driven by our vhost-user-proto
 * front-end with memfd guest memory and mock drivers; the port is a SOCK_SEQPACKET socketpair standing in
 * for the tap (it keeps frame boundaries, as a tap does).  Checks the virtio-net header handling both ways:
 * header sizes (10/12), num_buffers with MRG_RXBUF, zeroed headers, malformed tx chains, rx without
 * buffers, config space and the offered features. */
#ifdef NT_MINI_CRITERION /* the plain-program build for ThreadSanitizer (see tests/vhost-user-backend) */
#include "../vhost-user-backend/mini_criterion.h"
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
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cvmm/vhu/frontend.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vub.h"
#include "net.h"
#include "vnet_hdr.h"
#include "cvmm_test_fds.h"
#include "cvmm_test_flip.h"

#define UVA 0x7f0000000000ull
#define MEM (4u << 20)
#define DATA 0x100000ull /* guest buffers from here on */

/* Bound of every wait for something that must happen: generous, so a loaded two-core machine (TSan) passes;
 * only a hang takes this long. */
#define WAIT_MS 30000

static unsigned source_size; /* start(): the device's net_config.source_size (a sink's generator) */
static bool offloads;        /* start(): the device's net_config.offloads */
static unsigned budget;      /* start(): the device's net_config.budget (0: the default) */

struct ring {
    vq_mock *mk;
    int kick, call;
};

static struct {
    char dir[64], path[108];
    int sp[2]; /* sp[0]: the device's port; sp[1]: the test's end ("the network") */
    net_dev *dev;
    vub_daemon *d;
    pthread_t th;
    vhu_frontend *fe;
    vmem_region *reg;
    vmem_map *map;
    struct ring r[2]; /* 0 rx, 1 tx */
    struct cvmm_log log;
    int fds_at_start;
    net_stats stats;
    _Atomic unsigned hdr_logs; /* log lines about a refused header (vnet_hdr.c) */
    char hdr_log[200];         /* the first of them */
} t;

static void quiet(void *o, enum cvmm_log_level l, const char *line)
{
    (void)o, (void)l;
    if (strstr(line, "tx header:") || strstr(line, "rx frame from the port")) {
        if (atomic_load(&t.hdr_logs) == 0)
            snprintf(t.hdr_log, sizeof(t.hdr_log), "%s", line);
        atomic_fetch_add_explicit(&t.hdr_logs, 1, memory_order_release);
    }
    if (getenv("NT_VERBOSE"))
        fprintf(stderr, "%s\n", line);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *run(void *arg)
{
    (void)vub_daemon_run(arg);
    return NULL;
}

static void start(unsigned pairs, bool sink, bool mac, uint16_t mtu)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&t, 0, sizeof(t));
    t.log = (struct cvmm_log){.fn = quiet, .level = getenv("NT_VERBOSE") ? CVMM_LOG_DEBUG : CVMM_LOG_WARN};
    t.fds_at_start = cvmm_test_count_fds();
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, t.sp), 0);
    int ports[2] = {t.sp[0], t.sp[0]};
    net_config nc = {.queue_pairs = pairs,
                     .sink = sink,
                     .source_size = sink ? source_size : 0,
                     .offloads = offloads,
                     .budget = budget,
                     .port_fds = sink ? NULL : ports,
                     .has_mac = mac,
                     .mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56},
                     .mtu = mtu,
                     .log = &t.log};
    cr_assert_eq(net_dev_new(&nc, &t.dev), 0);
    vub_daemon_config dc = {.ops = net_dev_ops(), .info = net_dev_info(t.dev), .ctx = t.dev, .log = &t.log};
    cr_assert_eq(vub_daemon_new(&dc, &t.d), 0);
    snprintf(t.dir, sizeof(t.dir), "/tmp/nettest.XXXXXX");
    cr_assert_not_null(mkdtemp(t.dir));
    snprintf(t.path, sizeof(t.path), "%s/sock", t.dir);
    cr_assert_eq(vub_daemon_listen(t.d, t.path), 0);
    cr_assert_eq(pthread_create(&t.th, NULL, run, t.d), 0);
    vhu_frontend_config fc = {.log = &t.log, .name = "fe", .timeout_ms = WAIT_MS};
    cr_assert_eq(vhu_frontend_connect(&fc, t.path, &t.fe), 0);
}

static void init_tap(void) { start(1, false, false, 0); }
static void init_sink(void) { start(1, true, false, 0); }

static void fini(void)
{
    vhu_frontend_free(t.fe);
    if (t.d) {
        vub_daemon_stop(t.d);
        pthread_join(t.th, NULL);
        vub_daemon_free(t.d);
    }
    net_dev_stats(t.dev, &t.stats);
    net_dev_free(t.dev);
    for (int i = 0; i < 2; i++) {
        vq_mock_free(t.r[i].mk);
        if (t.r[i].kick > 0)
            close(t.r[i].kick);
        if (t.r[i].call > 0)
            close(t.r[i].call);
    }
    vmem_map_free(t.map);
    vmem_region_unref(t.reg);
    close(t.sp[0]);
    close(t.sp[1]);
    unlink(t.path);
    rmdir(t.dir);
    cr_expect_eq(cvmm_test_count_fds(), t.fds_at_start, "fd leak");
    source_size = 0;
}

/* Stop the front-end and the daemon, then read the device's counters into t.stats. */
static void stop_daemon(void)
{
    vhu_frontend_free(t.fe);
    t.fe = NULL;
    vub_daemon_stop(t.d);
    pthread_join(t.th, NULL);
    vub_daemon_free(t.d);
    t.d = NULL;
    net_dev_stats(t.dev, &t.stats);
}

/* Negotiate @features (device bits), memory, and both rings of pair 0. */
static void bring_up(uint64_t features, enum vq_layout layout)
{
    uint64_t f, p;
    if (layout == VQ_LAYOUT_PACKED)
        features |= 1ull << VUB_F_RING_PACKED;
    cr_assert_eq(vhu_frontend_get_features(t.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_owner(t.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(t.fe, &p), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(t.fe, p & (VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ) |
                                                               VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK) |
                                                               VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_LOG_SHMFD))),
                 0);
    cr_assert_eq(features & ~f, 0, "features 0x%llx not offered (0x%llx)", (unsigned long long)features,
                 (unsigned long long)f);
    cr_assert_eq(vhu_frontend_set_features(t.fe, features | (1ull << VHU_F_PROTOCOL_FEATURES)), 0);
    vmem_region_desc rd = {.gpa = 0, .size = MEM, .user_addr = UVA};
    cr_assert_eq(vmem_region_new_memfd(&rd, &t.log, &t.reg), 0);
    cr_assert_eq(vmem_map_new(&t.reg, 1, NULL, &t.log, &t.map), 0);
    vhu_mem_region wr = {.guest_addr = 0, .size = MEM, .user_addr = UVA};
    int fd = vmem_region_fd(t.reg);
    cr_assert_eq(vhu_frontend_set_mem_table(t.fe, &wr, &fd, 1), 0);
    for (unsigned i = 0; i < 2; i++) {
        uint64_t desc = 0x10000ull * (i + 1);
        vq_mock_config mc = {.layout = layout,
                             .size = 256,
                             .desc_gpa = desc,
                             .driver_gpa = desc + 0x4000,
                             .device_gpa = desc + 0x8000,
                             .event_idx = (features >> VUB_F_RING_EVENT_IDX) & 1};
        cr_assert_eq(vq_mock_new(t.map, &mc, &t.r[i].mk), 0);
        t.r[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        t.r[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        vhu_vring_addr a = {.index = i, .desc = UVA + desc, .avail = UVA + desc + 0x4000, .used = UVA + desc + 0x8000};
        cr_assert_eq(vhu_frontend_set_vring_num(t.fe, i, 256), 0);
        cr_assert_eq(vhu_frontend_set_vring_addr(t.fe, &a), 0);
        cr_assert_eq(vhu_frontend_set_vring_base(t.fe, i, layout == VQ_LAYOUT_PACKED ? 0x80008000u : 0), 0);
        cr_assert_eq(vhu_frontend_set_vring_call(t.fe, i, t.r[i].call), 0);
        cr_assert_eq(vhu_frontend_set_vring_kick(t.fe, i, t.r[i].kick), 0);
        cr_assert_eq(vhu_frontend_set_vring_enable(t.fe, i, true), 0);
    }
}

#define F(b) (1ull << (b))
#define MODERN (F(VUB_F_VERSION_1) | F(NET_F_MRG_RXBUF))

static void kick(unsigned i)
{
    uint64_t one = 1;
    cr_assert_eq(write(t.r[i].kick, &one, 8), 8);
}

/* Wait for a used entry on ring @i; return 1 with head/len, 0 after @ms. */
static int wait_used(unsigned i, uint16_t *head, uint32_t *len, int ms)
{
    for (int k = 0; k < ms; k++) {
        int rc = vq_mock_used(t.r[i].mk, head, len);
        cr_assert_geq(rc, 0);
        if (rc == 1)
            return 1;
        sleep_ms(1);
    }
    return 0;
}

/* Receive one frame from the port (the tap side), waiting up to @ms. */
static ssize_t port_recv(void *buf, size_t cap, int ms)
{
    struct pollfd p = {.fd = t.sp[1], .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    return recv(t.sp[1], buf, cap, 0);
}

static void port_send(const void *buf, size_t len) { cr_assert_eq(send(t.sp[1], buf, len, 0), (ssize_t)len); }

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

TestSuite(net_rxtx, .timeout = 120);

/* ---- tx ---- */

Test(net_rxtx, tx_header_is_zeroed_and_frame_sent_whole, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint8_t hdr[12], frame[100], got[256];
    memset(hdr, 0xff, sizeof(hdr)); /* garbage the device ignores (no offload acked): must not reach the tap */
    hdr[0] = 0xfe;                  /* flags: all but NEEDS_CSUM (refused without CSUM: net_vnet_hdr.c) */
    hdr[1] = 0;                     /* gso_type NONE (any other is refused) */
    fill(frame, sizeof(frame), 1);
    cr_assert_eq(vmem_write(t.map, DATA, hdr, 12), 0);
    cr_assert_eq(vmem_write(t.map, DATA + 12, frame, 30), 0); /* header + part of the frame, then the rest */
    cr_assert_eq(vmem_write(t.map, DATA + 0x1000, frame + 30, 70), 0);
    vq_mock_buf b[2] = {{DATA, 42, false}, {DATA + 0x1000, 70, false}};
    uint16_t head, h;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[1].mk, b, 2, &head), 0);
    kick(1);
    cr_assert_eq(port_recv(got, sizeof(got), WAIT_MS), 112);
    uint8_t zero[12] = {0};
    cr_assert_arr_eq(got, zero, 12);
    cr_assert_arr_eq(got + 12, frame, 100);
    cr_assert_eq(wait_used(1, &h, &len, WAIT_MS), 1);
    cr_assert_eq(h, head);
    cr_assert_eq(len, 0);
}

#if CVMM_TEST_FLIP_OK /* a second thread stores into a descriptor on purpose: not for TSan */
static struct cvmm_test_flip nflip;
static bool nflipping;

static void fini_flip(void) /* the thread stops before guest memory goes, also after a failure */
{
    if (nflipping)
        (void)cvmm_test_flip_stop(&nflip, 1000);
    nflipping = false;
    fini();
}

/* A tx chain of a 12-byte header and a frame descriptor whose len another vCPU keeps flipping between
 * 1000 and 100000 (more than any frame may be): the device checks the length it reads and sends exactly
 * that (1012 bytes on the port) or drops the chain; a frame of any other size means it measured one
 * chain and sent another. */
Test(net_rxtx, tx_frame_length_grown_after_the_check_is_never_sent, .init = init_tap, .fini = fini_flip)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    static uint8_t got[2 * NET_FRAME_MAX];
    /* raw descriptors 0 (header) and 1 (frame) of the tx ring at 0x20000; used->idx counts the chains */
    cr_assert_eq(vq_mock_write_desc(t.r[1].mk, 0, DATA, 12, VQ_DESC_F_NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(t.r[1].mk, 1, DATA + 0x1000, 1000, 0, 0), 0);
    void *field;
    cr_assert_eq(vmem_map_translate(t.map, vq_mock_desc_gpa(t.r[1].mk, 1) + 8, 4, &field), 0);
    cr_assert_eq(cvmm_test_flip_start(&nflip, field, 1000, 100000), 0);
    nflipping = true;
    unsigned sent = 0, wrong = 0;
    ssize_t wrong_len = 0;
    enum { ROUNDS = 250, PER_KICK = 8 }; /* the same chain 8 times per kick: a hostile guest may */
    uint16_t used = 0;
    for (unsigned i = 0; i < ROUNDS && !wrong; i++) {
        cvmm_test_flip_wait(&nflip, 2); /* the other vCPU is running as the device starts */
        for (unsigned k = 0; k < PER_KICK; k++)
            cr_assert_eq(vq_mock_publish_head(t.r[1].mk, 0), 0);
        kick(1);
        uint16_t want = (uint16_t)((i + 1) * PER_KICK);
        for (int waits = 0; used != want; waits++) { /* the device signals the call fd when it used them */
            cr_assert(waits < 100, "chains of round %u were not returned", i);
            struct pollfd pf = {.fd = t.r[1].call, .events = POLLIN};
            uint64_t cnt;
            if (poll(&pf, 1, 100) == 1)
                (void)!read(t.r[1].call, &cnt, sizeof(cnt));
            cr_assert_eq(vmem_load_acquire_u16(t.map, 0x20000ull + 0x8000 + 2, &used), 0);
        }
        for (ssize_t n; (n = port_recv(got, sizeof(got), 0)) >= 0;) {
            sent += n == 1012;
            if (n != 1012) {
                wrong++;
                wrong_len = n;
            }
        }
    }
    unsigned long flips = cvmm_test_flip_stop(&nflip, 1000);
    nflipping = false;
    cr_assert_eq(wrong, 0, "a frame of %zd bytes reached the port (validated: 1012)", wrong_len);
    cr_assert_gt(flips, 0);
}
#endif

Test(net_rxtx, tx_short_chain_is_dropped_and_the_queue_goes_on, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint8_t frame[60] = {0}, got[256];
    fill(frame + 12, 48, 9);
    cr_assert_eq(vmem_write(t.map, DATA + 0x1000, frame, sizeof(frame)), 0);
    vq_mock_buf shortb = {DATA, 8, false};      /* less than a header */
    vq_mock_buf hdronly = {DATA, 12, false};    /* a header and no frame */
    vq_mock_buf wr = {DATA + 0x2000, 64, true}; /* only device-writable: no frame at all */
    vq_mock_buf good = {DATA + 0x1000, 60, false};
    uint16_t h[4], uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[1].mk, &shortb, 1, &h[0]), 0);
    cr_assert_eq(vq_mock_add(t.r[1].mk, &hdronly, 1, &h[1]), 0);
    cr_assert_eq(vq_mock_add(t.r[1].mk, &wr, 1, &h[2]), 0);
    cr_assert_eq(vq_mock_add(t.r[1].mk, &good, 1, &h[3]), 0);
    kick(1);
    cr_assert_eq(port_recv(got, sizeof(got), WAIT_MS), 60, "only the good chain reaches the port");
    cr_assert_arr_eq(got + 12, frame + 12, 48);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1);
        cr_assert_eq(uh, h[i]);
    }
    cr_assert_eq(port_recv(got, sizeof(got), 50), -1);
    stop_daemon();
    cr_assert_eq(t.stats.tx_packets, 1);
    cr_assert_eq(t.stats.tx_bytes, 48);
    cr_assert_eq(t.stats.tx_dropped, 3);
}

Test(net_rxtx, tx_chain_of_many_pieces_is_copied, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    enum { N = 100 };
    vq_mock_buf b[N];
    uint8_t frame[N * 16], got[N * 16 + 64];
    fill(frame, sizeof(frame), 3);
    memset(frame, 0, 12);
    for (unsigned i = 0; i < N; i++) {
        b[i] = (vq_mock_buf){DATA + i * 32, 16, false};
        cr_assert_eq(vmem_write(t.map, DATA + i * 32, frame + i * 16, 16), 0);
    }
    uint16_t head, h;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[1].mk, b, N, &head), 0);
    kick(1);
    cr_assert_eq(port_recv(got, sizeof(got), WAIT_MS), (ssize_t)sizeof(frame));
    cr_assert_arr_eq(got, frame, sizeof(frame));
    cr_assert_eq(wait_used(1, &h, &len, WAIT_MS), 1);
    cr_assert_eq(h, head);
}

Test(net_rxtx, sink_counts_and_returns_every_chain, .init = init_sink, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_PACKED);
    uint16_t h, uh;
    uint32_t len;
    for (unsigned i = 0; i < 10; i++) {
        vq_mock_buf b = {DATA + i * 0x100, 12 + 64, false};
        cr_assert_eq(vq_mock_add(t.r[1].mk, &b, 1, &h), 0);
    }
    kick(1);
    for (unsigned i = 0; i < 10; i++)
        cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1);
    stop_daemon();
    cr_assert_eq(t.stats.tx_packets, 10);
    cr_assert_eq(t.stats.tx_bytes, 640);
}

Test(net_rxtx, tx_full_ring_goes_past_the_budget, .init = init_sink, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint16_t h, uh;
    uint32_t len;
    for (unsigned i = 0; i < 256; i++) { /* the whole ring: the worker yields once (budget 256) and resumes */
        vq_mock_buf b = {DATA + i * 0x100, 12 + 60, false};
        cr_assert_eq(vq_mock_add(t.r[1].mk, &b, 1, &h), 0);
    }
    kick(1);
    for (unsigned i = 0; i < 256; i++)
        cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1, "chain %u not returned", i);
    vq_mock_buf b = {DATA, 12 + 60, false}; /* and the queue still answers kicks */
    cr_assert_eq(vq_mock_add(t.r[1].mk, &b, 1, &h), 0);
    kick(1);
    cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h);
}

/* A budget of one chain per turn: every chain is one turn, the queue kicks itself again after each, and all
 * of them still come back, in order (packed, so the order is the ring's). */
static void init_sink_budget1(void)
{
    budget = 1;
    start(1, true, false, 0);
}

Test(net_rxtx, tx_budget_of_one_still_serves_every_chain, .init = init_sink_budget1, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_PACKED);
    uint16_t h[64], uh;
    uint32_t len;
    for (unsigned i = 0; i < 64; i++) {
        vq_mock_buf b = {DATA + i * 0x100, 12 + 60, false};
        cr_assert_eq(vq_mock_add(t.r[1].mk, &b, 1, &h[i]), 0);
    }
    kick(1);
    for (unsigned i = 0; i < 64; i++) {
        cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1, "chain %u not returned", i);
        cr_assert_eq(uh, h[i]);
    }
    stop_daemon();
    cr_assert_eq(t.stats.tx_packets, 64);
}

/* Is the page of guest address @gpa in memory?  The memfd's pages come into being when first touched, and
 * the test never touches the frames below, so a resident page means the device read it. */
static bool page_resident(uint64_t gpa)
{
    void *p;
    unsigned char v = 0;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    cr_assert_eq(vmem_map_translate(t.map, gpa, 1, &p), 0);
    cr_assert_eq(mincore((void *)((uintptr_t)p & ~(pg - 1)), 1, &v), 0);
    return v & 1;
}

/* A real device reads the frame it takes (DPDK's vhost copies it into an mbuf), so the sink must too, or
 * benchmarks of large frames measure nothing: a chain of a header and a frame spread over three pieces
 * and four pages that nothing else touched; after the sink took it, every one of those pages was read. */
Test(net_rxtx, sink_reads_every_byte_of_the_frame, .init = init_sink, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    const uint64_t base = 0x300000; /* far from the rings and DATA: nothing touched these pages yet */
    vq_mock_buf b[3] = {{base, 12, false}, {base + 0x1000, 4096, false}, {base + 0x2000 + 4000, 300, false}};
    const uint64_t pages[4] = {base, base + 0x1000, base + 0x2000, base + 0x3000};
    for (unsigned i = 0; i < 4; i++)
        cr_assert_not(page_resident(pages[i]), "page 0x%llx in memory before the device ran (shmem THP?)",
                      (unsigned long long)pages[i]);
    uint16_t h, uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[1].mk, b, 3, &h), 0);
    kick(1);
    cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h);
    for (unsigned i = 0; i < 4; i++)
        cr_assert(page_resident(pages[i]), "the sink never read page 0x%llx of the frame",
                  (unsigned long long)pages[i]);
    stop_daemon();
    cr_assert_eq(t.stats.tx_packets, 1);
    cr_assert_eq(t.stats.tx_bytes, 4096 + 300);
}

static void tx_rounds(enum vq_layout layout, bool event_idx)
{
    uint64_t f = MODERN | (event_idx ? 1ull << VUB_F_RING_EVENT_IDX : 0);
    bring_up(f, layout);
    uint16_t h, uh;
    uint32_t len;
    for (unsigned round = 0; round < 5; round++) { /* several wraps of the ring */
        for (unsigned i = 0; i < 200; i++) {
            vq_mock_buf b = {DATA + i * 0x100, 12 + 60, false};
            cr_assert_eq(vq_mock_add(t.r[1].mk, &b, 1, &h), 0);
        }
        if (vq_mock_kick_needed(t.r[1].mk))
            kick(1);
        for (unsigned i = 0; i < 200; i++)
            cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1, "round %u: chain %u not returned", round, i);
    }
}

Test(net_rxtx, tx_split_event_idx_wraps, .init = init_sink, .fini = fini) { tx_rounds(VQ_LAYOUT_SPLIT, true); }
Test(net_rxtx, tx_packed_wraps, .init = init_sink, .fini = fini) { tx_rounds(VQ_LAYOUT_PACKED, false); }
Test(net_rxtx, tx_packed_event_idx_wraps, .init = init_sink, .fini = fini) { tx_rounds(VQ_LAYOUT_PACKED, true); }

/* ---- rx ---- */

static void rx_frame(uint8_t *pkt, size_t flen, unsigned hdr)
{
    memset(pkt, 0xee, hdr); /* without GUEST_CSUM the tap's DATA_VALID and fields it does not use are replaced */
    pkt[0] = 2;             /* flags DATA_VALID (NEEDS_CSUM or a GSO type: refused, see the offload tests) */
    pkt[1] = 0;             /* gso_type NONE */
    fill(pkt + hdr, flen, 5);
    port_send(pkt, hdr + flen);
}

Test(net_rxtx, rx_mergeable_spans_buffers_and_sets_num_buffers, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint16_t h[3], uh;
    uint32_t len;
    for (unsigned i = 0; i < 3; i++) {
        vq_mock_buf b = {DATA + i * 0x1000, 1500, true};
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h[i]), 0);
    }
    kick(0);
    static uint8_t pkt[12 + 3000], got[3000];
    rx_frame(pkt, 3000 - 12, 12); /* 3000 bytes with the header: two buffers */
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h[0]);
    cr_assert_eq(len, 1500);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h[1]);
    cr_assert_eq(len, 1500);
    cr_assert_eq(vmem_read(t.map, DATA, got, 1500), 0);
    cr_assert_eq(vmem_read(t.map, DATA + 0x1000, got + 1500, 1500), 0);
    uint8_t want_hdr[12] = {0};
    want_hdr[10] = 2; /* num_buffers = 2, little-endian */
    cr_assert_arr_eq(got, want_hdr, 12);
    cr_assert_arr_eq(got + 12, pkt + 12, 3000 - 12);
    cr_assert_eq(wait_used(0, &uh, &len, 20), 0, "the third buffer stays with the device");
}

Test(net_rxtx, rx_without_mrg_uses_one_chain_num_buffers_1, .init = init_tap, .fini = fini)
{
    bring_up(F(VUB_F_VERSION_1), VQ_LAYOUT_PACKED);
    vq_mock_buf b[2] = {{DATA, 12, true}, {DATA + 0x1000, 2048, true}};
    uint16_t h, uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[0].mk, b, 2, &h), 0);
    kick(0);
    uint8_t pkt[12 + 100], got[112];
    rx_frame(pkt, 100, 12);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h);
    cr_assert_eq(len, 112);
    cr_assert_eq(vmem_read(t.map, DATA, got, 12), 0);
    cr_assert_eq(vmem_read(t.map, DATA + 0x1000, got + 12, 100), 0);
    uint8_t want_hdr[12] = {0};
    want_hdr[10] = 1;
    cr_assert_arr_eq(got, want_hdr, 12);
    cr_assert_arr_eq(got + 12, pkt + 12, 100);
}

/* Live migration: with LOG_ALL and SET_LOG_BASE, a received frame marks the pages it was written into
 * (only those) and the rx used ring; nothing else. */
Test(net_rxtx, rx_marks_the_pages_it_wrote_in_the_dirty_log, .init = init_tap, .fini = fini)
{
    bring_up(MODERN | F(VUB_F_LOG_ALL), VQ_LAYOUT_SPLIT);
    int lfd = memfd_create("dirty-log", MFD_CLOEXEC);
    cr_assert_geq(lfd, 0);
    cr_assert_eq(ftruncate(lfd, 4096), 0);
    uint8_t *bits = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
    cr_assert_neq(bits, MAP_FAILED);
    const uint64_t pages = MEM / 4096;
    /* tx's first look at its ring (kicks off, a busy-poll, kicks on: two stores to its used->flags) may
     * still be under way on a loaded machine, and once the log is set those stores are rightly logged.
     * This test is about rx: stop tx first; its answer means the worker is done with that ring. */
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(t.fe, 1, &base), 0);
    vhu_log l = {.size = pages / 8, .offset = 0};
    cr_assert_eq(vhu_frontend_set_log_base(t.fe, &l, lfd), 0);
    vq_mock_buf b = {DATA + 0x3000, 2 * 4096, true};
    uint16_t h, uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    kick(0);
    static uint8_t pkt[12 + 3000];
    rx_frame(pkt, 3000, 12); /* 3012 bytes: the buffer's first page only */
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(len, 3012);
    cr_assert_eq(vhu_frontend_get_vring_base(t.fe, 0, &base), 0); /* stopped: its writes are all logged */
    for (uint64_t p = 0; p < pages; p++) {
        bool want = p == (DATA + 0x3000) / 4096 || p == 0x18000 / 4096; /* the frame; rx's used ring */
        cr_assert_eq((bits[p / 8] >> (p % 8)) & 1, want, "page 0x%llx", (unsigned long long)p);
    }
    munmap(bits, 4096);
    close(lfd);
}

Test(net_rxtx, rx_legacy_header_is_10_bytes, .init = init_tap, .fini = fini)
{
    bring_up(0, VQ_LAYOUT_SPLIT);
    vq_mock_buf b = {DATA, 2048, true};
    uint16_t h, uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    kick(0);
    uint8_t pkt[10 + 64], got[74];
    rx_frame(pkt, 64, 10); /* the port carries 10-byte headers now (TUNSETVNETHDRSZ 10 on a tap) */
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(len, 74);
    cr_assert_eq(vmem_read(t.map, DATA, got, 74), 0);
    uint8_t zero[10] = {0};
    cr_assert_arr_eq(got, zero, 10);
    cr_assert_arr_eq(got + 10, pkt + 10, 64);
    /* tx the other way round: a 10-byte header is stripped */
    uint8_t f[10 + 50] = {0}, out[128];
    fill(f + 10, 50, 77);
    cr_assert_eq(vmem_write(t.map, DATA + 0x4000, f, sizeof(f)), 0);
    vq_mock_buf tb = {DATA + 0x4000, sizeof(f), false};
    cr_assert_eq(vq_mock_add(t.r[1].mk, &tb, 1, &h), 0);
    kick(1);
    cr_assert_eq(port_recv(out, sizeof(out), WAIT_MS), 60);
    cr_assert_arr_eq(out + 10, f + 10, 50);
}

Test(net_rxtx, rx_waits_for_buffers_then_delivers_in_order, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint8_t pkt[12 + 80], got[92];
    uint16_t h, uh;
    uint32_t len;
    rx_frame(pkt, 80, 12);
    pkt[12] = 0xaa;
    port_send(pkt, sizeof(pkt)); /* a second frame, told apart by its first byte */
    sleep_ms(50);
    cr_assert_eq(vq_mock_used(t.r[0].mk, &uh, &len), 0);
    for (unsigned i = 0; i < 2; i++) {
        vq_mock_buf b = {DATA + i * 0x1000, 2048, true};
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    }
    kick(0);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(len, 92);
    cr_assert_eq(vmem_read(t.map, DATA, got, 92), 0);
    cr_assert_eq(got[12], 5, "first frame first");
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(vmem_read(t.map, DATA + 0x1000, got, 92), 0);
    cr_assert_eq(got[12], 0xaa);
}

/* rx with a budget of one frame per turn: five frames waiting in the port reach the guest in order. */
static void init_tap_budget1(void)
{
    budget = 1;
    start(1, false, false, 0);
}

Test(net_rxtx, rx_budget_of_one_delivers_every_frame_in_order, .init = init_tap_budget1, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint8_t pkt[12 + 80], got[92];
    uint16_t h, uh;
    uint32_t len;
    for (unsigned i = 0; i < 5; i++) {
        memset(pkt, 0, 12);
        pkt[0] = 2; /* DATA_VALID, as rx_frame() */
        fill(pkt + 12, 80, 5);
        pkt[12] = (uint8_t)(0xa0 + i);
        port_send(pkt, sizeof(pkt));
    }
    for (unsigned i = 0; i < 5; i++) {
        vq_mock_buf b = {DATA + i * 0x1000, 2048, true};
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    }
    kick(0);
    for (unsigned i = 0; i < 5; i++) {
        cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1, "frame %u not delivered", i);
        cr_assert_eq(len, 92);
        cr_assert_eq(vmem_read(t.map, DATA + i * 0x1000, got, 92), 0);
        cr_assert_eq(got[12], 0xa0 + i, "frame %u out of order", i);
    }
}

Test(net_rxtx, rx_frame_too_big_without_mrg_is_dropped_chain_kept, .init = init_tap, .fini = fini)
{
    bring_up(F(VUB_F_VERSION_1), VQ_LAYOUT_SPLIT);
    vq_mock_buf b = {DATA, 128, true};
    uint16_t h, uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    kick(0);
    static uint8_t big[12 + 1000], small[12 + 40];
    rx_frame(big, 1000, 12);
    rx_frame(small, 40, 12);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h);
    cr_assert_eq(len, 52, "the small frame got the chain the big one could not use");
}

Test(net_rxtx, rx_chain_smaller_than_header_comes_back_empty, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    vq_mock_buf tiny = {DATA, 4, true}, ok = {DATA + 0x1000, 2048, true};
    uint16_t h1, h2, uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[0].mk, &tiny, 1, &h1), 0);
    cr_assert_eq(vq_mock_add(t.r[0].mk, &ok, 1, &h2), 0);
    kick(0);
    uint8_t pkt[12 + 64];
    rx_frame(pkt, 64, 12);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h1);
    cr_assert_eq(len, 0);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h2);
    cr_assert_eq(len, 76);
}

/* A chain too small for the header, popped while an earlier chain waits for the rest of a frame: without
 * IN_ORDER it comes back at once and the earlier chain keeps waiting; with IN_ORDER (the device must use
 * buffers in the order they were made available) the earlier chain comes back first, empty, and the frame
 * takes the two chains after the small one. */
static void rx_small_chain_behind_a_held_one(bool in_order)
{
    bring_up(MODERN | (in_order ? F(VUB_F_IN_ORDER) : 0), VQ_LAYOUT_SPLIT);
    vq_mock_buf b[4] = {
        {DATA, 1500, true}, {DATA + 0x1000, 4, true}, {DATA + 0x2000, 1500, true}, {DATA + 0x3000, 1500, true}};
    uint16_t h[4], uh;
    uint32_t len;
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b[i], 1, &h[i]), 0);
    kick(0);
    static uint8_t pkt[3000], got[3000];
    rx_frame(pkt, 3000 - 12, 12); /* 3000 bytes with the header: two buffers */
    /* in order: 0 and 1 empty, the frame in 2 and 3; else: 1 empty, the frame in 0 and 2, 3 stays */
    const unsigned want[2][4] = {{1, 0, 2, 0}, {0, 1, 2, 3}}; /* [in_order][used entry] */
    const uint32_t want_len[2][4] = {{0, 1500, 1500, 0}, {0, 0, 1500, 1500}};
    unsigned n = in_order ? 4 : 3;
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1, "used entry %u missing", i);
        cr_assert_eq(uh, h[want[in_order][i]], "used entry %u: head %u, expected %u", i, uh, h[want[in_order][i]]);
        cr_assert_eq(len, want_len[in_order][i], "used entry %u: len %u", i, len);
    }
    cr_assert_eq(wait_used(0, &uh, &len, 20), 0, "no more used entries");
    uint64_t first = in_order ? DATA + 0x2000 : DATA, second = in_order ? DATA + 0x3000 : DATA + 0x2000;
    cr_assert_eq(vmem_read(t.map, first, got, 1500), 0);
    cr_assert_eq(vmem_read(t.map, second, got + 1500, 1500), 0);
    cr_assert_eq(got[10], 2, "num_buffers");
    cr_assert_arr_eq(got + 12, pkt + 12, 3000 - 12);
}

Test(net_rxtx, rx_small_chain_comes_back_at_once_without_in_order, .init = init_tap, .fini = fini)
{
    rx_small_chain_behind_a_held_one(false);
}

Test(net_rxtx, rx_small_chain_keeps_the_order_with_in_order, .init = init_tap, .fini = fini)
{
    rx_small_chain_behind_a_held_one(true);
}

/* With EVENT_IDX the device's avail_event (rx's used ring) moves to @want once it popped that many chains
 * and found the ring empty: the guest-visible sign that it holds them.  Waits WAIT_MS at most. */
static void wait_rx_avail_event(uint16_t want)
{
    uint16_t ev = 0;
    for (int k = 0; k < WAIT_MS && ev != want; k++) {
        cr_assert_eq(vmem_load_acquire_u16(t.map, 0x18000ull + 4 + 8 * 256, &ev), 0);
        if (ev != want)
            sleep_ms(1);
    }
    cr_assert_eq(ev, want, "the device did not take the %u rx chain(s)", want);
}

Test(net_rxtx, rx_stop_returns_reserved_chains_empty, .init = init_tap, .fini = fini)
{
    bring_up(MODERN | F(VUB_F_RING_EVENT_IDX), VQ_LAYOUT_SPLIT);
    vq_mock_buf b = {DATA, 1500, true};
    uint16_t h, uh;
    uint32_t len, base;
    cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    kick(0);
    static uint8_t pkt[12 + 3000];
    rx_frame(pkt, 3000, 12); /* needs 3 buffers: the one chain is popped and held while the frame waits */
    wait_rx_avail_event(1);
    cr_assert_eq(vq_mock_used(t.r[0].mk, &uh, &len), 0);
    cr_assert_eq(vhu_frontend_get_vring_base(t.fe, 0, &base), 0);
    cr_assert_eq(base, 1, "the held chain counts as consumed");
    cr_assert_eq(vq_mock_used(t.r[0].mk, &uh, &len), 1, "the held chain was not given back");
    cr_assert_eq(uh, h);
    cr_assert_eq(len, 0);
}

Test(net_rxtx, tx_buffer_outside_memory_breaks_only_tx, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    vq_mock_buf evil = {MEM - 16, 4096, false}; /* runs off the end of guest memory */
    uint16_t h, uh;
    uint32_t len;
    uint8_t got[128];
    cr_assert_eq(vq_mock_add(t.r[1].mk, &evil, 1, &h), 0);
    kick(1);
    sleep_ms(50);
    cr_assert_eq(vq_mock_used(t.r[1].mk, &uh, &len), 0, "a broken ring returns nothing");
    cr_assert_eq(port_recv(got, sizeof(got), 20), -1, "nothing reached the port");
    /* rx of the same pair still works */
    vq_mock_buf b = {DATA, 2048, true};
    cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    kick(0);
    uint8_t pkt[12 + 64];
    rx_frame(pkt, 64, 12);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(len, 76);
}

Test(net_rxtx, rx_frame_needing_too_many_chains_is_dropped, .init = init_tap, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint16_t h, uh;
    uint32_t len;
    for (unsigned i = 0; i < 100; i++) { /* 100 buffers of 16 bytes: at most 64 per frame = 1024 bytes */
        vq_mock_buf b = {DATA + i * 0x100, 16, true};
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    }
    kick(0);
    static uint8_t big[12 + 1500], small[12 + 20];
    rx_frame(big, 1500, 12);
    rx_frame(small, 20, 12); /* 32 bytes: 2 of the held chains */
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(len, 16);
    uint8_t hdr[12];
    cr_assert_eq(vmem_read(t.map, DATA, hdr, 12), 0);
    cr_assert_eq(hdr[10], 2, "num_buffers of the small frame");
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(len, 16);
    cr_assert_eq(wait_used(0, &uh, &len, 20), 0);
}

/* ---- source (--source=SIZE): the rx rings filled with generated frames ---- */

static void init_source64(void)
{
    source_size = 64;
    start(1, true, false, 0);
}

static void init_source1500(void)
{
    source_size = 1500;
    start(1, true, false, 0);
}

/* The generated frame's bytes: broadcast destination, 52:54:00:12:34:57, EtherType 0x88b5, then i & 0xff. */
static void check_source_frame(uint64_t gpa, unsigned hdr_len, uint32_t size)
{
    static uint8_t got[12 + 1500];
    cr_assert(hdr_len + size <= sizeof(got));
    cr_assert_eq(vmem_read(t.map, gpa, got, hdr_len + size), 0);
    uint8_t want_hdr[12] = {0};
    if (hdr_len == 12)
        want_hdr[10] = 1; /* num_buffers */
    cr_assert_arr_eq(got, want_hdr, hdr_len);
    const uint8_t *f = got + hdr_len;
    static const uint8_t eth[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x88, 0xb5};
    cr_assert_arr_eq(f, eth, 14);
    for (uint32_t i = 14; i < size; i++)
        cr_assert_eq(f[i], (uint8_t)i, "frame byte %u", i);
}

/* Post rx buffers @first..@end-1 (2048 bytes each at DATA + i * 0x1000), kick, and expect each back in order
 * with a 64-byte frame behind a 12-byte header; @what names the buffers in a failure. */
static void source_post_and_expect(unsigned first, unsigned end, const char *what)
{
    uint16_t h[64], uh;
    uint32_t len;
    cr_assert(end - first <= 64);
    for (unsigned i = first; i < end; i++) {
        vq_mock_buf b = {DATA + i * 0x1000, 2048, true};
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h[i - first]), 0);
    }
    kick(0);
    for (unsigned i = first; i < end; i++) {
        cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1, "buffer %u %s not filled", i, what);
        cr_assert_eq(uh, h[i - first]);
        cr_assert_eq(len, 12 + 64);
        check_source_frame(DATA + i * 0x1000, 12, 64);
    }
}

/* Every posted buffer gets a frame (a too-small one comes back empty); an empty ring waits for the next
 * kick, which fills the new buffers. */
Test(net_rxtx, source_fills_every_posted_buffer_then_waits_for_a_kick, .init = init_source64, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_SPLIT);
    uint16_t h[10], uh;
    uint32_t len;
    for (unsigned i = 0; i < 10; i++) {
        vq_mock_buf b = {DATA + i * 0x1000, i == 3 ? 40 : 2048, true}; /* chain 3 cannot hold 12 + 64 */
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h[i]), 0);
    }
    kick(0);
    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1, "buffer %u not filled", i);
        cr_assert_eq(uh, h[i]);
        cr_assert_eq(len, i == 3 ? 0 : 12 + 64);
        if (i != 3)
            check_source_frame(DATA + i * 0x1000, 12, 64);
    }
    cr_assert_eq(wait_used(0, &uh, &len, 20), 0, "nothing posted, nothing used");
    source_post_and_expect(10, 15, "posted after the ring ran dry");
    stop_daemon();
    cr_assert_eq(t.stats.rx_packets, 14);
    cr_assert_eq(t.stats.rx_bytes, 14 * 64);
    cr_assert_eq(t.stats.rx_dropped, 1);
    cr_assert_eq(t.stats.tx_packets, 0);
}

/* A 10-byte header without MRG_RXBUF, a packed ring, and a frame written across two buffers of one chain. */
Test(net_rxtx, source_legacy_header_packed_across_buffers, .init = init_source1500, .fini = fini)
{
    bring_up(0, VQ_LAYOUT_PACKED);
    vq_mock_buf b[2] = {{DATA, 1000, true}, {DATA + 1000, 1000, true}};
    uint16_t h, uh;
    uint32_t len;
    cr_assert_eq(vq_mock_add(t.r[0].mk, b, 2, &h), 0);
    kick(0);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h);
    cr_assert_eq(len, 10 + 1500);
    check_source_frame(DATA, 10, 1500);
}

/* Rounds of 200 buffers on a ring of 256 with event idx (the driver kicks only when asked): the source
 * re-arms notifications and re-checks like tx, so no round is left waiting. */
static void source_rounds(enum vq_layout layout)
{
    bring_up(MODERN | F(VUB_F_RING_EVENT_IDX), layout);
    uint16_t h, uh;
    uint32_t len;
    for (unsigned round = 0; round < 5; round++) {
        for (unsigned i = 0; i < 200; i++) {
            vq_mock_buf b = {DATA + i * 0x100, 0x100, true};
            cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
        }
        if (vq_mock_kick_needed(t.r[0].mk))
            kick(0);
        for (unsigned i = 0; i < 200; i++) {
            cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1, "round %u: buffer %u not filled", round, i);
            cr_assert_eq(len, 12 + 64);
        }
    }
    stop_daemon();
    cr_assert_eq(t.stats.rx_packets, 1000);
}

Test(net_rxtx, source_split_event_idx_wraps, .init = init_source64, .fini = fini) { source_rounds(VQ_LAYOUT_SPLIT); }
Test(net_rxtx, source_packed_event_idx_wraps, .init = init_source64, .fini = fini) { source_rounds(VQ_LAYOUT_PACKED); }

/* The generator with a budget of three buffers per turn fills all 40 posted (packed ring). */
static void init_source_budget3(void)
{
    budget = 3;
    source_size = 64;
    start(1, true, false, 0);
}

Test(net_rxtx, source_budget_of_three_fills_every_buffer, .init = init_source_budget3, .fini = fini)
{
    bring_up(MODERN, VQ_LAYOUT_PACKED);
    source_post_and_expect(0, 40, "(budget 3)");
    stop_daemon();
    cr_assert_eq(t.stats.rx_packets, 40);
}

Test(net_rxtx, budget_above_the_maximum_is_refused)
{
    net_dev *n = NULL;
    net_config bad = {.queue_pairs = 1, .sink = true, .budget = NET_BUDGET_MAX + 1};
    cr_assert_eq(net_dev_new(&bad, &n), -EINVAL);
    cr_assert_null(n);
    net_config ok = {.queue_pairs = 1, .sink = true, .budget = NET_BUDGET_MAX};
    cr_assert_eq(net_dev_new(&ok, &n), 0);
    net_dev_free(n);
}

Test(net_rxtx, source_needs_a_sink_and_a_frame_size)
{
    net_config bad[] = {{.queue_pairs = 1, .sink = false, .port_fds = (const int[]){100}, .source_size = 64},
                        {.queue_pairs = 1, .sink = true, .source_size = 13},
                        {.queue_pairs = 1, .sink = true, .source_size = 65536}};
    for (unsigned i = 0; i < 3; i++) {
        net_dev *n = NULL;
        cr_assert_eq(net_dev_new(&bad[i], &n), -EINVAL, "config %u", i);
        cr_assert_null(n);
    }
    net_dev *n = NULL;
    net_config ok = {.queue_pairs = 2, .sink = true, .source_size = 14};
    cr_assert_eq(net_dev_new(&ok, &n), 0);
    net_dev_free(n);
}

/* ---- features and config space ---- */

Test(net_rxtx, offered_features_follow_the_config)
{
    static const struct {
        unsigned pairs;
        bool mac;
        uint16_t mtu;
    } cases[] = {{1, false, 0}, {4, true, 1400}};
    for (unsigned i = 0; i < 2; i++) {
        net_dev *n;
        int fds[4] = {100, 101, 102, 103}; /* never used: no daemon */
        net_config nc = {.queue_pairs = cases[i].pairs, .port_fds = fds, .has_mac = cases[i].mac, .mtu = cases[i].mtu};
        cr_assert_eq(net_dev_new(&nc, &n), 0);
        const vub_device_info *info = net_dev_info(n);
        cr_assert_eq(info->num_queues, 2 * cases[i].pairs);
        cr_assert_eq(!!(info->features & F(NET_F_MQ)), cases[i].pairs > 1);
        cr_assert_eq(!!(info->features & F(NET_F_MAC)), cases[i].mac);
        cr_assert_eq(!!(info->features & F(NET_F_MTU)), cases[i].mtu != 0);
        cr_assert(info->features & F(NET_F_MRG_RXBUF));
        cr_assert(info->features & F(VUB_F_RING_PACKED));
        cr_assert_eq(info->features & F(NET_F_CTRL_VQ), 0);
        for (unsigned q = 0; q < info->num_queues; q++)
            cr_assert_eq(info->queue_worker[q], 0);
        net_dev_free(n);
    }
    net_config bad[] = {{.queue_pairs = 0, .sink = true},
                        {.queue_pairs = 129, .sink = true},
                        {.queue_pairs = 1, .sink = false, .port_fds = NULL},
                        {.queue_pairs = 1, .sink = true, .nworkers = 65}};
    for (unsigned i = 0; i < 4; i++) {
        net_dev *n = NULL;
        cr_assert_eq(net_dev_new(&bad[i], &n), -EINVAL);
        cr_assert_null(n);
    }
}

Test(net_rxtx, pairs_spread_over_workers)
{
    net_dev *n;
    net_config nc = {.queue_pairs = 3, .sink = true, .nworkers = 2};
    cr_assert_eq(net_dev_new(&nc, &n), 0);
    const uint16_t *qw = net_dev_info(n)->queue_worker;
    uint16_t want[6] = {0, 0, 1, 1, 0, 0};
    cr_assert_arr_eq(qw, want, sizeof(want));
    net_dev_free(n);
}

static void init_mac_mtu(void) { start(2, true, true, 1400); }

Test(net_rxtx, config_space_has_mac_status_pairs_mtu, .init = init_mac_mtu, .fini = fini)
{
    uint64_t p;
    uint8_t cfg[12];
    cr_assert_eq(vhu_frontend_get_protocol_features(t.fe, &p), 0);
    cr_assert(p & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ));
    cr_assert_eq(vhu_frontend_set_protocol_features(
                     t.fe, p & (VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ))),
                 0);
    uint64_t nq;
    cr_assert_eq(vhu_frontend_get_queue_num(t.fe, &nq), 0);
    cr_assert_eq(nq, 4);
    cr_assert_eq(vhu_frontend_get_config(t.fe, 0, cfg, sizeof(cfg), 0), 0);
    uint8_t want[12] = {0x52, 0x54, 0, 0x12, 0x34, 0x56, NET_S_LINK_UP, 0, 2, 0, 1400 & 0xff, 1400 >> 8};
    cr_assert_arr_eq(cfg, want, 12);
}

/* ---- offloads (devices/net/vnet_hdr.c): headers pass through, checked ---- */

#define TX_OFF (F(NET_F_CSUM) | F(NET_F_HOST_TSO4) | F(NET_F_HOST_ECN))
#define RX_OFF (F(NET_F_GUEST_CSUM) | F(NET_F_GUEST_TSO4) | F(NET_F_GUEST_TSO6))

static void init_offloads(void)
{
    offloads = true;
    start(1, false, false, 0);
}

static struct net_vnet_hdr vhdr(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size, uint16_t cstart,
                                uint16_t coff, uint16_t nbuf)
{
    return (struct net_vnet_hdr){flags,
                                 gso,
                                 cvmm_le16_set(hdr_len),
                                 cvmm_le16_set(gso_size),
                                 cvmm_le16_set(cstart),
                                 cvmm_le16_set(coff),
                                 cvmm_le16_set(nbuf)};
}

/* A tx chain in slot @slot (128 KiB each): header @h, then @flen bytes of frame.  Return: its head. */
static uint16_t tx_with_header(unsigned slot, struct net_vnet_hdr h, size_t flen)
{
    static uint8_t buf[12 + 70000];
    uint64_t gpa = DATA + slot * 0x20000ull;
    uint16_t head;
    cr_assert(flen <= sizeof(buf) - 12);
    memcpy(buf, &h, 12);
    fill(buf + 12, flen, (uint8_t)slot);
    cr_assert_eq(vmem_write(t.map, gpa, buf, 12 + flen), 0);
    vq_mock_buf b = {gpa, (uint32_t)(12 + flen), false};
    cr_assert_eq(vq_mock_add(t.r[1].mk, &b, 1, &head), 0);
    return head;
}

Test(net_rxtx, offload_features_are_offered_with_a_port_and_the_option)
{
    int fds[1] = {100}; /* never used: no daemon */
    net_config on = {.queue_pairs = 1, .port_fds = fds, .offloads = true};
    net_config off = {.queue_pairs = 1, .port_fds = fds};
    net_config sink = {.queue_pairs = 1, .sink = true, .offloads = true};
    net_dev *n;
    cr_assert_eq(net_dev_new(&on, &n), 0);
    cr_assert_eq(net_dev_info(n)->features & NET_OFFLOAD_FEATURES, NET_OFFLOAD_FEATURES);
    cr_assert(net_dev_info(n)->features & F(NET_F_MRG_RXBUF));
    net_dev_free(n);
    cr_assert_eq(net_dev_new(&off, &n), 0);
    cr_assert_eq(net_dev_info(n)->features & NET_OFFLOAD_FEATURES, 0);
    net_dev_free(n);
    cr_assert_eq(net_dev_new(&sink, &n), 0);
    cr_assert_eq(net_dev_info(n)->features & NET_OFFLOAD_FEATURES, 0, "a sink has no header to pass on");
    net_dev_free(n);
}

/* tx with CSUM + HOST_TSO4 + HOST_ECN acked: a TSO frame's header reaches the port as the guest wrote it
 * (bar what the device ignores); headers breaking a rule are dropped, one log line for the queue, and the
 * frames after them still go out. */
Test(net_rxtx, tx_offload_header_passes_through_and_bad_ones_are_dropped, .init = init_offloads, .fini = fini)
{
    bring_up(MODERN | TX_OFF, VQ_LAYOUT_SPLIT);
    static uint8_t got[12 + 70000];
    uint16_t heads[7], uh;
    uint32_t len;
    heads[0] = tx_with_header(0, vhdr(NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID, 1, 66, 1448, 34, 16, 7), 20000);
    heads[1] = tx_with_header(1, vhdr(1, 4 /* TCPV6: HOST_TSO6 not acked */, 86, 1428, 54, 16, 0), 20000);
    heads[2] = tx_with_header(2, vhdr(1, 1, 66, 0 /* gso_size */, 34, 16, 0), 20000);
    heads[3] = tx_with_header(3, vhdr(1, 0, 0, 0, 90, 16 /* 90 + 16 + 2 > 100 */, 0), 100);
    heads[4] = tx_with_header(4, vhdr(1, 1, 20001 /* hdr_len */, 1448, 34, 16, 0), 20000);
    heads[5] = tx_with_header(5, vhdr(0, 0x80 /* ECN without a GSO type */, 0, 0, 0, 0, 0), 100);
    heads[6] = tx_with_header(6, vhdr(NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16, 0), 100);
    kick(1);
    for (unsigned i = 0; i < 7; i++) {
        cr_assert_eq(wait_used(1, &uh, &len, WAIT_MS), 1, "chain %u not returned", i);
        cr_assert_eq(uh, heads[i]);
    }
    struct net_vnet_hdr want = vhdr(NET_HDR_F_NEEDS_CSUM, 1, 66, 1448, 34, 16, 0);
    cr_assert_eq(port_recv(got, sizeof(got), WAIT_MS), 12 + 20000);
    cr_assert_arr_eq(got, &want, 12, "the TSO header as the guest wrote it (DATA_VALID, num_buffers cleared)");
    uint8_t frame[100];
    fill(frame, sizeof(frame), 0);
    cr_assert_arr_eq(got + 12, frame, sizeof(frame));
    want = vhdr(NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16, 0);
    cr_assert_eq(port_recv(got, sizeof(got), WAIT_MS), 12 + 100, "the frame after the bad ones");
    cr_assert_arr_eq(got, &want, 12);
    cr_assert_eq(port_recv(got, sizeof(got), 50), -1, "no bad header reached the port");
    stop_daemon();
    cr_assert_eq(t.stats.tx_packets, 2);
    cr_assert_eq(t.stats.tx_dropped, 5);
    cr_assert_eq(t.stats.tx_gso, 1);
    cr_assert_eq(atomic_load_explicit(&t.hdr_logs, memory_order_acquire), 1, "one log line for the queue");
    cr_assert_not_null(strstr(t.hdr_log, "vq1: tx header: GSO_TCPV6 without VIRTIO_NET_F_HOST_TSO6"), "%s", t.hdr_log);
}

/* A 12-byte header + 65549-byte GSO frame (an IPv4 packet of 65535 bytes behind Ethernet) from the port,
 * in 4 KiB merged buffers: 17 chains, the port's header in the first with num_buffers 17. */
Test(net_rxtx, rx_gso_frame_spans_17_buffers_with_its_header, .init = init_offloads, .fini = fini)
{
    bring_up(MODERN | RX_OFF, VQ_LAYOUT_SPLIT);
    enum { FLEN = 65549, NBUF = 17, BUF = 4096 };
    static uint8_t pkt[12 + FLEN], got[12 + FLEN];
    uint16_t h[NBUF + 2], uh;
    uint32_t len;
    for (unsigned i = 0; i < NBUF + 2; i++) {
        vq_mock_buf b = {DATA + i * (uint64_t)BUF, BUF, true};
        cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h[i]), 0);
    }
    kick(0);
    struct net_vnet_hdr ph = vhdr(NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID, 1, 66, 1448, 34, 16, 0xeeee);
    memcpy(pkt, &ph, 12);
    fill(pkt + 12, FLEN, 3);
    port_send(pkt, sizeof(pkt));
    for (unsigned i = 0; i < NBUF; i++) {
        cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1, "buffer %u", i);
        cr_assert_eq(uh, h[i]);
        cr_assert_eq(len, i + 1 < NBUF ? BUF : sizeof(pkt) - (NBUF - 1) * BUF);
    }
    cr_assert_eq(wait_used(0, &uh, &len, 20), 0, "17 buffers, no more");
    cr_assert_eq(vmem_read(t.map, DATA, got, sizeof(got)), 0); /* the buffers are contiguous */
    struct net_vnet_hdr want = vhdr(NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID, 1, 66, 1448, 34, 16, NBUF);
    cr_assert_arr_eq(got, &want, 12);
    cr_assert_arr_eq(got + 12, pkt + 12, FLEN);
    stop_daemon();
    cr_assert_eq(t.stats.rx_packets, 1);
    cr_assert_eq(t.stats.rx_gso, 1);
    cr_assert_eq(t.stats.rx_bytes, FLEN);
}

/* A guest that acked GUEST_CSUM but no GUEST_TSO must never see a GSO frame (e.g. one queued in the tap under
 * an earlier driver's offloads): dropped, logged once; DATA_VALID on a plain frame is passed on. */
Test(net_rxtx, rx_gso_frame_for_a_guest_without_guest_tso_is_dropped, .init = init_offloads, .fini = fini)
{
    bring_up(MODERN | F(NET_F_GUEST_CSUM), VQ_LAYOUT_SPLIT);
    static uint8_t pkt[12 + 3000], got[12 + 100];
    uint16_t h, uh;
    uint32_t len;
    vq_mock_buf b = {DATA, 4096, true};
    cr_assert_eq(vq_mock_add(t.r[0].mk, &b, 1, &h), 0);
    kick(0);
    struct net_vnet_hdr gso = vhdr(NET_HDR_F_NEEDS_CSUM, 1, 66, 1448, 34, 16, 0);
    memcpy(pkt, &gso, 12);
    fill(pkt + 12, 3000, 1);
    port_send(pkt, sizeof(pkt));
    port_send(pkt, sizeof(pkt));
    struct net_vnet_hdr plain = vhdr(NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, 0);
    memcpy(pkt, &plain, 12);
    port_send(pkt, 12 + 100);
    cr_assert_eq(wait_used(0, &uh, &len, WAIT_MS), 1);
    cr_assert_eq(uh, h);
    cr_assert_eq(len, 12 + 100, "the plain frame got the buffer");
    cr_assert_eq(vmem_read(t.map, DATA, got, sizeof(got)), 0);
    struct net_vnet_hdr want = vhdr(NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, 1);
    cr_assert_arr_eq(got, &want, 12);
    stop_daemon();
    cr_assert_eq(t.stats.rx_dropped, 2);
    cr_assert_eq(t.stats.rx_gso, 0);
    cr_assert_eq(atomic_load_explicit(&t.hdr_logs, memory_order_acquire), 1);
    cr_assert_not_null(strstr(t.hdr_log, "vq0: rx frame from the port: GSO type"), "%s", t.hdr_log);
}
