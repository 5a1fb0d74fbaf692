/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Hostile peers (issue 10): a front-end that disconnects in the middle of a message (inside the header, inside
 * the payload, with fds in flight, while a reply is owed), and 10,000 connect/disconnect cycles, some with a
 * partial negotiation, some with a memory table and started rings.  After each, the daemon, still running,
 * must hold exactly the fds and guest mappings it held before and serve the next front-end.
 *
 * Measuring: the daemon serves one connection at a time and accepts the next only once the last one is torn
 * down, so settle() connects a probe front-end and does one GET_FEATURES round trip: from then on every
 * earlier connection is gone.  Baselines are taken the same way, with the probe connected.  SIGPIPE is left
 * at its default here, so a reply written to a vanished peer without MSG_NOSIGNAL kills the test. */
#include <fcntl.h>
#include <sys/mman.h>

#include "vub_test.h"
#include "raw_peer.h"

#define HP_MEM_SIZE (1u << 20)

static void init(void)
{
    vt_setup(&(struct vt_opts){.no_frontend = true});
    signal(SIGPIPE, SIG_DFL);
}

TestSuite(hostile_peer, .init = init, .fini = vt_fini, .timeout = 60);

/* ---- measuring ---- */

/* Lines of /proc/self/maps naming @needle (all lines with NULL). */
static int maps_count(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    int n = 0;
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (!needle || strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long size = 0, resident = 0;
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Every earlier connection is torn down once a new front-end got a reply; the probe stays connected. */
static void settle(void)
{
    uint64_t f;
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_connect();
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0, "the daemon no longer serves");
    cr_assert(f & (1ull << VHU_F_PROTOCOL_FEATURES));
}

struct hp_usage {
    int fds, maps, memfd_maps;
};

static struct hp_usage usage(void)
{
    settle();
    return (struct hp_usage){cvmm_test_count_fds(), maps_count(NULL), maps_count("memfd:hp-")};
}

/* The same fds as @before, and no guest memory mapped.  (All mappings are compared in the cycle test only,
 * after a warm-up: the first memory table makes malloc, or ASan's allocator, map fresh pools.) */
static void same_usage(struct hp_usage before, const char *after_what)
{
    struct hp_usage now = usage();
    cr_assert_eq(now.fds, before.fds, "%s: %d fds open, %d before", after_what, now.fds, before.fds);
    cr_assert_eq(now.memfd_maps, 0, "%s: guest memory still mapped", after_what);
}

/* ---- a raw front-end ---- */

/* A raw connection, served at once: the probe front-end goes first (one connection at a time). */
static int hp_connect(void)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    return raw_connect();
}

/* A message: header, then @plen payload bytes of @p (the header says @size). */
struct hp_msg {
    vhu_hdr h;
    uint8_t payload[256];
} __attribute__((packed));

static size_t hp_msg(struct hp_msg *m, uint32_t req, uint32_t flags, uint32_t size, const void *p, size_t plen)
{
    cr_assert(plen <= sizeof(m->payload));
    m->h = (vhu_hdr){.request = req, .flags = VHU_VERSION | flags, .size = size};
    if (plen)
        memcpy(m->payload, p, plen);
    return sizeof(vhu_hdr) + plen;
}

/* A memfd of HP_MEM_SIZE named hp-<what> (so /proc/self/maps shows whether anyone still maps it). */
static int hp_memfd(const char *what)
{
    char name[32];
    snprintf(name, sizeof(name), "hp-%s", what);
    int fd = memfd_create(name, MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, HP_MEM_SIZE), 0);
    return fd;
}

/* A SET_MEM_TABLE payload for one region of HP_MEM_SIZE at gpa 0. */
static size_t mem_table_payload(uint8_t *p)
{
    uint32_t hdr[2] = {1, 0};
    vhu_mem_region r = {.guest_addr = 0, .size = HP_MEM_SIZE, .user_addr = VT_UVA_BASE};
    memcpy(p, hdr, 8);
    memcpy(p + 8, &r, sizeof(r));
    return 8 + sizeof(r);
}

/* ---- disconnects in the middle of a message ---- */

Test(hostile_peer, a_front_end_gone_inside_a_header_leaves_nothing_behind)
{
    struct hp_usage before = usage();
    static const size_t cuts[] = {1, 4, 8, 11};
    for (unsigned i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct hp_msg m;
        hp_msg(&m, VHU_REQ_GET_FEATURES, 0, 0, NULL, 0);
        int fd = hp_connect();
        raw_send_bytes(fd, &m, cuts[i], NULL, 0);
        close(fd);
        same_usage(before, "a header cut after a few bytes");
    }
}

Test(hostile_peer, a_front_end_gone_inside_a_payload_leaves_nothing_behind)
{
    struct hp_usage before = usage();
    struct hp_msg m;
    uint64_t v = 1ull << VUB_F_VERSION_1;
    size_t len = hp_msg(&m, VHU_REQ_SET_FEATURES, 0, 8, &v, 8);
    int fd = hp_connect();
    raw_send_bytes(fd, &m, len - 5, NULL, 0);
    close(fd);
    same_usage(before, "SET_FEATURES cut in its payload");

    uint8_t p[64];
    len = hp_msg(&m, VHU_REQ_SET_MEM_TABLE, 0, 8 + 32, p, mem_table_payload(p));
    fd = hp_connect();
    raw_send_bytes(fd, &m, len - 1, NULL, 0); /* the memory table without its last byte (and without its fd) */
    close(fd);
    same_usage(before, "SET_MEM_TABLE cut in its payload");
}

Test(hostile_peer, fds_in_flight_when_the_front_end_goes_are_closed)
{
    int ev = eventfd(0, EFD_CLOEXEC);
    cr_assert_geq(ev, 0);
    struct hp_usage before = usage();
    uint8_t p[64];
    struct hp_msg m;
    size_t len = hp_msg(&m, VHU_REQ_SET_MEM_TABLE, 0, 8 + 32, p, mem_table_payload(p));

    /* the fd rides on the first bytes of a header that never completes */
    int mem = hp_memfd("header"), fd = hp_connect();
    raw_send_bytes(fd, &m, 6, &mem, 1);
    close(fd);
    close(mem);
    same_usage(before, "a memfd sent with half a header");

    /* ... on a payload that never completes */
    mem = hp_memfd("payload");
    fd = hp_connect();
    raw_send_bytes(fd, &m, len - 8, &mem, 1);
    close(fd);
    close(mem);
    same_usage(before, "a memfd sent with part of a memory table");

    /* ... on a whole message that is never read: two kick fds queued behind a header the daemon waits on */
    struct hp_msg k;
    uint64_t idx = 0;
    size_t klen = hp_msg(&k, VHU_REQ_SET_VRING_KICK, 0, 8, &idx, 8);
    fd = hp_connect();
    raw_send_bytes(fd, &m, 3, NULL, 0);
    raw_send_bytes(fd, (const uint8_t *)&m + 3, len - 3, (int[]){ev}, 1); /* the table with an eventfd: wrong kind */
    raw_send_bytes(fd, &k, klen, &ev, 1);
    raw_send_bytes(fd, &k, klen, &ev, 1);
    close(fd);
    same_usage(before, "fds queued on a socket the front-end closed");

    /* ... and a memory table that was mapped, then the front-end went */
    mem = hp_memfd("mapped");
    fd = hp_connect();
    raw_send_bytes(fd, &m, len, &mem, 1);
    close(mem);
    for (int i = 0; i < VT_WAIT_MS && maps_count("memfd:hp-mapped") == 0; i++)
        vt_sleep_ms(1);
    cr_assert_gt(maps_count("memfd:hp-mapped"), 0, "the daemon maps a valid memory table");
    close(fd);
    same_usage(before, "a mapped memory table");
    close(ev);
}

/* Negotiate with REPLY_ACK, then write @req (owing a reply) on the front-end's socket and vanish. */
static void vanish_owing(uint32_t req, uint32_t flags, const void *p, size_t plen, const int *fds, unsigned nfds)
{
    struct hp_msg m;
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_connect();
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    size_t len = hp_msg(&m, req, flags, (uint32_t)plen, p, plen);
    raw_send_bytes(vhu_frontend_fd(vt.fe), &m, len, fds, nfds);
    vhu_frontend_free(vt.fe); /* closes the socket at once, before the reply can be read */
    vt.fe = NULL;
}

Test(hostile_peer, a_front_end_gone_while_a_reply_is_owed_leaves_nothing_behind)
{
    struct hp_usage before = usage();
    uint64_t zero = 0;
    vanish_owing(VHU_REQ_GET_FEATURES, 0, NULL, 0, NULL, 0);
    same_usage(before, "GET_FEATURES unanswered");
    vanish_owing(VHU_REQ_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0);
    same_usage(before, "GET_PROTOCOL_FEATURES unanswered");
    vanish_owing(VHU_REQ_SET_OWNER, VHU_FLAG_NEED_REPLY, NULL, 0, NULL, 0);
    same_usage(before, "an owed REPLY_ACK");
    uint8_t p[64];
    int mem = hp_memfd("owed");
    vanish_owing(VHU_REQ_SET_MEM_TABLE, VHU_FLAG_NEED_REPLY, p, mem_table_payload(p), &mem, 1);
    close(mem);
    same_usage(before, "SET_MEM_TABLE with an owed ack");
    uint32_t cfg[3 + VT_CONFIG_SIZE / 4] = {0, VT_CONFIG_SIZE, 0}; /* offset, size, flags, then the bytes */
    vanish_owing(VHU_REQ_GET_CONFIG, 0, cfg, sizeof(cfg), NULL, 0);
    same_usage(before, "GET_CONFIG unanswered");
    vanish_owing(VHU_REQ_GET_VRING_BASE, 0, &zero, 8, NULL, 0);
    same_usage(before, "GET_VRING_BASE unanswered");
}

Test(hostile_peer, a_front_end_gone_while_get_vring_base_of_a_running_ring_is_owed)
{
    struct hp_usage before = usage();
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, HP_MEM_SIZE, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    uint16_t head = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, head), 8);
    struct hp_msg m;
    uint64_t idx = 0;
    size_t len = hp_msg(&m, VHU_REQ_GET_VRING_BASE, 0, 8, &idx, 8);
    raw_send_bytes(vhu_frontend_fd(vt.fe), &m, len, NULL, 0);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_ring_free(&r);
    struct hp_usage now = usage();
    /* the driver's own view of guest memory (vt.map) is still there: compare fds without it */
    cr_assert_eq(now.fds, before.fds + 1, "%d fds open, %d before (+1: the driver's memfd)", now.fds, before.fds);
    cr_assert_eq(atomic_load(&vt.dev.stopped[0]), 1, "the ring was stopped when the front-end went");
}

/* ---- 10,000 connect/disconnect cycles ---- */

/* 10,000 cycles take about 10 s in the normal build and 35 s under ASan on 2 busy cores; the -tsan program
 * runs 1,000.  ASan's quarantine keeps freed memory resident by design (up to 256 MiB), so there the live
 * heap (__sanitizer_get_current_allocated_bytes) is compared instead of RSS, which is only printed;
 * LeakSanitizer also checks at exit.  Under TSan memory is printed only. */
#if defined(__SANITIZE_ADDRESS__)
#define HP_ASAN 1
size_t __sanitizer_get_current_allocated_bytes(void); /* <sanitizer/allocator_interface.h>, not in gcc 12 */
#endif
#if defined(__SANITIZE_THREAD__)
#define HP_CYCLES 1000u
#else
#define HP_CYCLES 10000u
#endif
#define HP_WARMUP 300u
/* RSS may move a little with no leak: malloc keeps freed chunks in its arenas (one per thread that
 * allocates: the test, the control thread, the worker) and page-granular heap tops move with the last live
 * chunk.  256 KiB is far below what a leak of even 32 bytes a cycle adds over 10,000 cycles (312 KiB). */
#define HP_RSS_SLACK_KIB 256
/* ASan's live-heap count is exact; 32 KiB allows a one-off lazy allocation after the warm-up, and a leak of
 * 4 bytes a cycle exceeds it over 10,000 cycles. */
#define HP_HEAP_SLACK_KIB 32

struct hp_cycles {
    vhu_mem_region wr;
    int memfd;
    int ev; /* an eventfd sent along with half a header */
};

static void cycle_ring(const struct hp_cycles *h, unsigned i, bool owe_vring_base)
{
    struct vt_ring r;
    bool packed = (i / 10) % 2;
    vt_negotiate(1ull << VUB_F_VERSION_1 | (uint64_t)packed << VUB_F_RING_PACKED, VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, &h->wr, &h->memfd, 1), 0);
    enum vq_layout layout = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
    vt_ring_setup(&r, i % VT_QUEUES, layout, 64, false, false);
    uint16_t head = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, head), 8);
    if (owe_vring_base) {
        struct hp_msg m;
        uint64_t idx = r.index;
        size_t len = hp_msg(&m, VHU_REQ_GET_VRING_BASE, 0, 8, &idx, 8);
        raw_send_bytes(vhu_frontend_fd(vt.fe), &m, len, NULL, 0);
    }
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_ring_free(&r);
}

/* One connection of kind @i % 10, and its end. */
static void cycle(const struct hp_cycles *h, unsigned i)
{
    uint64_t v;
    int fd;
    struct hp_msg m;
    switch (i % 10) {
    case 0:
    case 1:
    case 2: /* connect and go */ close(hp_connect()); return;
    case 3: /* half a header, with an fd */
        fd = hp_connect();
        raw_send_bytes(fd, &m, hp_msg(&m, VHU_REQ_SET_VRING_KICK, 0, 8, NULL, 0) - 5, &h->ev, 1);
        close(fd);
        return;
    case 4: /* one question */
        vt_connect();
        cr_assert_eq(vhu_frontend_get_features(vt.fe, &v), 0);
        break;
    case 5: /* a partial negotiation */
        vt_connect();
        cr_assert_eq(vhu_frontend_get_features(vt.fe, &v), 0);
        cr_assert_eq(vhu_frontend_set_owner(vt.fe), 0);
        cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &v), 0);
        break;
    case 6: /* negotiation and a memory table */
        vt_connect();
        vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
        cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, &h->wr, &h->memfd, 1), 0);
        break;
    case 7:
    case 8: /* a started ring that served a chain */
        vt_connect();
        cycle_ring(h, i, false);
        return;
    case 9: /* the same, gone while GET_VRING_BASE is owed */
        vt_connect();
        cycle_ring(h, i, true);
        return;
    }
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
}

Test(hostile_peer, ten_thousand_connect_disconnect_cycles_leak_no_fd_and_no_memory, .timeout = 600)
{
    struct hp_cycles h;
    vmem_region_desc rd = {.gpa = 0, .size = HP_MEM_SIZE, .user_addr = VT_UVA_BASE};
    cr_assert_eq(vmem_region_new_memfd(&rd, &vt.log, &vt.regs[0]), 0);
    vt.nregs = 1;
    cr_assert_eq(vmem_map_new(vt.regs, 1, NULL, &vt.log, &vt.map), 0);
    h.wr = (vhu_mem_region){.guest_addr = 0, .size = HP_MEM_SIZE, .user_addr = VT_UVA_BASE};
    h.memfd = vmem_region_fd(vt.regs[0]);
    h.ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_geq(h.ev, 0);

    for (unsigned i = 0; i < HP_WARMUP; i++)
        cycle(&h, i);
    struct hp_usage before = usage();
    long rss_before = rss_kib(), heap_before = 0, heap_after = 0;
#ifdef HP_ASAN
    heap_before = (long)(__sanitizer_get_current_allocated_bytes() / 1024);
#endif
    const char *env = getenv("HP_CYCLES"); /* a longer soak, or the full 10,000 under a sanitizer */
    unsigned cycles = env ? (unsigned)strtoul(env, NULL, 10) : HP_CYCLES;
    for (unsigned i = 0; i < cycles; i++)
        cycle(&h, i);
    struct hp_usage after = usage();
    long rss_after = rss_kib();
#ifdef HP_ASAN
    heap_after = (long)(__sanitizer_get_current_allocated_bytes() / 1024);
#endif
    fprintf(stderr,
            "hostile_peer: %u connect/disconnect cycles: fds %d -> %d, RSS %ld -> %ld KiB, "
            "mappings %d -> %d, live heap %ld -> %ld KiB (ASan only)\n",
            cycles, before.fds, after.fds, rss_before, rss_after, before.maps, after.maps, heap_before, heap_after);
    cr_assert_eq(after.fds, before.fds, "fds: %d after %u cycles, %d before", after.fds, cycles, before.fds);
    cr_assert_eq(after.memfd_maps, 0, "guest memory still mapped after %u cycles", cycles);
#if defined(HP_ASAN)
    cr_assert(heap_after <= heap_before + HP_HEAP_SLACK_KIB, "live heap: %ld KiB after %u cycles, %ld KiB before",
              heap_after, cycles, heap_before);
#elif !defined(__SANITIZE_THREAD__) /* TSan's shadow and history memory grow with every address touched */
    cr_assert_eq(after.maps, before.maps, "mappings: %d after, %d before", after.maps, before.maps);
    cr_assert(rss_after <= rss_before + HP_RSS_SLACK_KIB, "RSS: %ld KiB after %u cycles, %ld KiB before", rss_after,
              cycles, rss_before);
#endif
    close(h.ev);
}
