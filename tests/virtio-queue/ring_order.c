/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* ring_order.c - random orderings of the configuration calls (size, addresses, features, vring base and
 * state, map, ready, reset) over small guarded guest memory.  Whenever the queue runs, every ring area
 * for its current size and layout lies inside one region of its map (writable where the device writes),
 * aligned, and packed positions are in range; and pops, used entries and notification calls on random
 * ring contents touch nothing outside the ring areas: the rest of guest memory is made inaccessible
 * meanwhile (mprotect), guard areas surround it, and its bytes are compared afterwards.
 * VQ_ORDER_SEED=<n> replays one seed; VQ_ORDER_SEQS=<n> changes the number of sequences. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guarded.h"

/* CHECK() - an assertion that costs nothing while it holds (ctest runs with --full-stats, where Criterion
 * reports every cr_assert to its runner). */
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            cr_assert_fail(__VA_ARGS__);                                                                               \
    } while (0)

TestSuite(ring_order, .init = gm_setup, .fini = gm_teardown, .timeout = 120);

static uint64_t rng_state;
static unsigned n_starts, n_runs, n_pops, n_used; /* how much each run exercised */

static uint32_t rnd(uint32_t n) /* xorshift64*, uniform enough below n */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

/* What the test knows the queue holds, from the documented effect of each call. */
struct model {
    bool addrs_set;
    uint64_t gpa[3];
    int map; /* index into maps[], -1 none */
};

/* Maps: every region; region A alone; region B alone (small, and areas crossing A/B fail there). */
static vmem_map *maps[3];
static const uint64_t map_regions[3] = {0x7, 0x1, 0x2};

static uint64_t area_len(enum vq_layout l, uint32_t size, int a)
{
    if (l == VQ_LAYOUT_SPLIT)
        return a == 0 ? vq_split_desc_bytes(size) : a == 1 ? vq_split_avail_bytes(size) : vq_split_used_bytes(size);
    return a == 0 ? vq_packed_desc_bytes(size) : 4;
}

/* The region (0 A, 1 B, 2 R) of map @m that holds all of [gpa, gpa+len), or -1. */
static int holder(int m, uint64_t gpa, uint64_t len)
{
    static const uint64_t start[3] = {GM_A, GM_B, GM_R};
    for (int r = 0; r < 3; r++)
        if ((map_regions[m] >> r & 1) && gpa >= start[r] && gpa - start[r] <= GM_SIZE &&
            len <= GM_SIZE - (gpa - start[r]))
            return r;
    return -1;
}

static uint8_t *host(int region, uint64_t gpa)
{
    static const uint64_t start[3] = {GM_A, GM_B, GM_R};
    return vq_mock_mem_hva(gm_mem[region]) + (gpa - start[region]);
}

/* Every invariant of a running queue, against the model. */
static void check_running(vq_queue *q, const struct model *md, unsigned seq)
{
    enum vq_layout l = vq_queue_layout(q);
    uint32_t size = vq_queue_size(q);
    CHECK(size >= 1 && size <= 256 && (l == VQ_LAYOUT_PACKED || (size & (size - 1)) == 0), "seq %u: size %u", seq,
          size);
    CHECK(md->addrs_set && md->map >= 0, "seq %u: running without addresses or map", seq);
    static const uint64_t al_split[3] = {16, 2, 4}, al_packed[3] = {16, 4, 4};
    for (int a = 0; a < 3; a++) {
        const uint64_t *al = l == VQ_LAYOUT_SPLIT ? al_split : al_packed;
        CHECK(md->gpa[a] % al[a] == 0, "seq %u: area %d misaligned", seq, a);
        int r = holder(md->map, md->gpa[a], area_len(l, size, a));
        CHECK(r >= 0, "seq %u: area %d 0x%llx+%llu outside one region", seq, a, (unsigned long long)md->gpa[a],
              (unsigned long long)area_len(l, size, a));
        bool written = a == 2 || (a == 0 && l == VQ_LAYOUT_PACKED);
        CHECK(!(written && r == 2), "seq %u: device-written area %d read-only", seq, a);
    }
    if (l == VQ_LAYOUT_PACKED) {
        vq_state s;
        vq_queue_get_state(q, &s);
        CHECK(s.next_avail < size && s.next_used < size, "seq %u: positions %u/%u, size %u", seq, s.next_avail,
              s.next_used, size);
    }
}

/* Random ring contents, biased towards what a driver would write so that pops get somewhere. */
static void scribble(vq_queue *q, const struct model *md)
{
    enum vq_layout l = vq_queue_layout(q);
    uint32_t size = vq_queue_size(q);
    for (int a = 0; a < 3; a++) {
        int r = holder(md->map, md->gpa[a], area_len(l, size, a));
        if (r == 2) /* read-only: the driver cannot write it either */
            continue;
        uint8_t *p = host(r, md->gpa[a]);
        uint64_t len = area_len(l, size, a);
        for (uint64_t i = 0; i < len; i++)
            p[i] = (uint8_t)rnd(256);
        if (l == VQ_LAYOUT_SPLIT && a == 1) {
            vq_state s;
            vq_queue_get_state(q, &s);
            uint16_t idx = (uint16_t)(s.next_avail + rnd(size + 2));
            memcpy(p + VQ_SPLIT_AVAIL_IDX, &idx, 2);
            for (uint32_t i = 0; i < size; i++) {
                uint16_t h = (uint16_t)rnd(size + 1);
                memcpy(p + VQ_SPLIT_AVAIL_RING(i), &h, 2);
            }
        } else if (l == VQ_LAYOUT_PACKED && a == 0) {
            for (uint32_t i = 0; i < size; i++) {
                uint16_t id = (uint16_t)rnd(size + 1), f = (uint16_t)(rnd(4) ? VQ_DESC_F_AVAIL : VQ_DESC_F_USED);
                f |= (uint16_t)(rnd(3) == 0 ? VQ_DESC_F_NEXT : 0);
                memcpy(p + 16 * i + 12, &id, 2);
                memcpy(p + 16 * i + 14, &f, 2);
            }
        }
    }
}

static uint8_t snapshot[3][GM_SIZE];

/* The ring areas of the running queue: region and offset in it. */
struct area {
    int r;
    uint64_t off, len;
};

static bool page_has_area(const struct area *ar, int r, uint64_t off, uint64_t page)
{
    for (int a = 0; a < 3; a++)
        if (ar[a].r == r && ar[a].off < off + page && off < ar[a].off + ar[a].len)
            return true;
    return false;
}

/* Make every page of guest memory that holds no ring byte inaccessible (@on), or accessible again. */
static void fence_pages(const struct area *ar, bool on)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    for (int r = 0; r < 3; r++) {
        int prot = on ? PROT_NONE : r == 2 ? PROT_READ : PROT_READ | PROT_WRITE;
        for (uint64_t off = 0; off < GM_SIZE;) {
            uint64_t end = off;
            while (end < GM_SIZE && !page_has_area(ar, r, end, page))
                end += page;
            if (end > off)
                CHECK(mprotect(vq_mock_mem_hva(gm_mem[r]) + off, (size_t)(end - off), prot) == 0, "mprotect");
            off = end == off ? off + page : end;
        }
    }
}

/* Run the hot path on random contents; nothing outside the ring areas may be read or written. */
static void exercise(vq_queue *q, const struct model *md, uint16_t *held, unsigned *nheld, unsigned seq)
{
    static const uint64_t start[3] = {GM_A, GM_B, GM_R};
    enum vq_layout l = vq_queue_layout(q);
    uint32_t size = vq_queue_size(q);
    struct area ar[3];
    for (int a = 0; a < 3; a++) {
        ar[a].len = area_len(l, size, a);
        ar[a].r = holder(md->map, md->gpa[a], ar[a].len);
        ar[a].off = md->gpa[a] - start[ar[a].r];
    }
    scribble(q, md);
    for (int r = 0; r < 3; r++)
        memcpy(snapshot[r], vq_mock_mem_hva(gm_mem[r]), GM_SIZE);
    fence_pages(ar, true);
    for (unsigned i = 0, n = rnd(12); i < n; i++) {
        vq_chain c;
        switch (rnd(5)) {
        case 0:
        case 1:
            if (vq_pop(q, &c) == 1) {
                n_pops++;
                if (*nheld < 64)
                    held[(*nheld)++] = c.head;
            }
            break;
        case 2:
            if (*nheld) {
                unsigned k = rnd(*nheld);
                n_used += vq_add_used(q, held[k], rnd(2) ? 0 : rnd(4096)) == 0;
                held[k] = held[--(*nheld)];
            } else {
                (void)vq_add_used(q, (uint16_t)rnd(size + 2), 1);
            }
            break;
        case 3: {
            vq_used_elem e[4];
            unsigned m = rnd(4) + 1;
            for (unsigned k = 0; k < m; k++)
                e[k] = (vq_used_elem){.head = *nheld ? held[rnd(*nheld)] : (uint16_t)rnd(size), .len = 8};
            (void)vq_add_used_batch(q, e, m);
            break;
        }
        default:
            (void)vq_enable_notification(q);
            (void)vq_needs_notify(q);
            (void)vq_disable_notification(q);
            break;
        }
    }
    fence_pages(ar, false);
    for (int a = 0; a < 3; a++) /* the device may write its areas */
        memcpy(snapshot[ar[a].r] + ar[a].off, vq_mock_mem_hva(gm_mem[ar[a].r]) + ar[a].off, ar[a].len);
    for (int r = 0; r < 3; r++) {
        const uint8_t *now = vq_mock_mem_hva(gm_mem[r]);
        if (memcmp(now, snapshot[r], GM_SIZE) == 0)
            continue;
        uint64_t off = 0;
        while (now[off] == snapshot[r][off])
            off++;
        cr_assert_fail("seq %u: byte 0x%llx of region %d outside the ring areas was written", seq,
                       (unsigned long long)off, r);
    }
    if (l == VQ_LAYOUT_PACKED && !vq_queue_broken(q)) {
        vq_state s;
        vq_queue_get_state(q, &s);
        CHECK(s.next_avail < size && s.next_used < size, "seq %u: positions %u/%u after use, size %u", seq,
              s.next_avail, s.next_used, size);
    }
}

static uint64_t rnd_gpa(void)
{
    static const uint64_t aligns[] = {16, 16, 16, 64, 4, 2, 1};
    switch (rnd(16)) {
    case 0: return UINT64_MAX - rnd(0x4000);                 /* wraps */
    case 1: return GM_B - 16 * (uint64_t)rnd(300);           /* near the A/B seam */
    case 2: return GM_B + GM_SIZE - 16 * (uint64_t)rnd(300); /* near the end of B: guard beyond */
    case 3: return GM_R + 16 * (uint64_t)rnd(0x1000);        /* read-only region (and past it) */
    case 4:
    case 5: {
        uint64_t a = aligns[rnd(sizeof(aligns) / sizeof(aligns[0]))];
        return ((uint64_t)rnd(2 * GM_SIZE)) & ~(a - 1);
    }
    default: { /* in A or B with room for most rings, mostly page-aligned */
        uint64_t a = aligns[rnd(sizeof(aligns) / sizeof(aligns[0]))];
        return (rnd(2) ? GM_A : GM_B) + 0x1000ull * rnd(15) + (rnd(4) ? 0 : 0x400 + (rnd(0x400) & ~(a - 1)));
    }
    }
}

static void one_sequence(unsigned seq)
{
    static const uint32_t sizes[] = {1, 2, 3, 4, 5, 8, 16, 17, 64, 100, 128, 255, 256, 0, 257, 1024};
    vq_queue *q = gm_queue(rnd(2) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT, 256);
    struct model md = {.map = -1};
    uint16_t held[64];
    unsigned nheld = 0;
    for (unsigned step = 0, n = 4 + rnd(20); step < n; step++) {
        int rc;
        switch (rnd(10)) {
        case 0: (void)vq_queue_set_size(q, sizes[rnd(sizeof(sizes) / sizeof(sizes[0]))]); break;
        case 1: {
            uint64_t d = rnd_gpa(), drv = rnd_gpa(), dev = rnd_gpa();
            rc = vq_queue_set_addrs(q, d, drv, dev);
            if (rc != -EINVAL) { /* misaligned: nothing changes; otherwise the addresses are kept */
                md.addrs_set = true;
                md.gpa[0] = d;
                md.gpa[1] = drv;
                md.gpa[2] = dev;
            }
            break;
        }
        case 2: (void)vq_queue_set_features(q, rnd(2) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT, rnd(2)); break;
        case 3: {
            vq_state s = {(uint16_t)rnd(300), (uint16_t)rnd(300), rnd(2), rnd(2)};
            (void)vq_queue_set_state(q, &s);
            break;
        }
        case 4: {
            uint32_t num =
                rnd(2) ? (uint32_t)rnd(300) | (uint32_t)rnd(2) << 15 | (uint32_t)rnd(300) << 16 | (uint32_t)rnd(2) << 31
                       : (uint32_t)rnd(0x10000) | (uint32_t)rnd(0x10000) << 16;
            (void)vq_queue_set_vring_base(q, num);
            break;
        }
        case 5:
            md.map = rnd(2) ? 0 : (int)rnd(4) - 1;
            (void)vq_queue_set_map(q, md.map < 0 ? NULL : maps[md.map]);
            break;
        case 6:
        case 7:
            if (vq_queue_set_ready(q, true) == 0 && !vq_queue_broken(q)) {
                n_starts++;
                check_running(q, &md, seq);
            }
            break;
        case 8: (void)vq_queue_set_ready(q, false); break;
        default:
            if (rnd(4) == 0) {
                vq_queue_reset(q);
                md = (struct model){.map = -1};
                nheld = 0;
            }
            break;
        }
        /* vq_disable_notification() succeeds exactly when the queue runs (it writes only the device area) */
        if (vq_disable_notification(q) == 0) {
            n_runs++;
            check_running(q, &md, seq);
            exercise(q, &md, held, &nheld, seq);
        }
    }
    vq_queue_free(q);
}

Test(ring_order, random_orderings_never_run_a_ring_outside_its_areas)
{
    for (int m = 0; m < 3; m++) {
        vmem_region *r[3];
        size_t n = 0;
        for (int i = 0; i < 3; i++)
            if (map_regions[m] >> i & 1)
                r[n++] = vq_mock_mem_region(gm_mem[i]);
        cr_assert_eq(vmem_map_new(r, n, NULL, &fx_log, &maps[m]), 0);
    }
    const char *e = getenv("VQ_ORDER_SEED");
    const char *ns = getenv("VQ_ORDER_SEQS");
    unsigned seqs = ns ? (unsigned)strtoul(ns, NULL, 0) : 2000;
    uint64_t first = e ? strtoull(e, NULL, 0) : 1;
    unsigned ran = 0;
    n_starts = n_runs = n_pops = n_used = 0;
    for (unsigned s = 0; s < (e ? 1u : seqs); s++) {
        rng_state = (first + s) * 0x9e3779b97f4a7c15ull | 1;
        one_sequence((unsigned)(first + s));
        ran++;
    }
    for (int m = 0; m < 3; m++)
        vmem_map_free(maps[m]);
    cr_log_info("ring_order: %u sequences, %u starts, %u running steps, %u pops, %u used", ran, n_starts, n_runs,
                n_pops, n_used);
    if (!e) /* the default run must reach the hot path often enough to mean something */
        cr_assert(n_starts > seqs / 10 && n_pops > seqs / 10 && n_used > seqs / 20,
                  "too little exercised: %u starts, %u pops, %u used", n_starts, n_pops, n_used);
}
