/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* ring_start.c - a ring starts only when every invariant holds for its CURRENT configuration, whatever
 * order the setters came in (issue 10, defect 1): the shrink-after-base regressions over guarded memory,
 * one row per invariant a front-end can break through ordering, and every order of a valid configuration. */
#include "guarded.h"

TestSuite(ring_start, .init = gm_setup, .fini = gm_teardown, .timeout = 120);

/* The queue refused to start: @rc is what vq_queue_set_ready() said, one line naming the invariant was
 * logged, and nothing runs. */
static void expect_refused(vq_queue *q, const char *row, int rc, int want, const char *needle)
{
    cr_assert_eq(rc, want, "%s: start gave %d, want %d", row, rc, want);
    cr_assert_not(vq_queue_ready(q), "%s: not ready", row);
    cr_assert(strstr(fx_last_line, "vq5: cannot start: ") == fx_last_line, "%s: log line %s", row, fx_last_line);
    cr_assert(strstr(fx_last_line, needle), "%s: log line names the invariant (%s): %s", row, needle, fx_last_line);
    vq_chain c;
    cr_assert_eq(vq_pop(q, &c), -EPROTO, "%s: not running", row);
    cr_assert_eq(vq_add_used(q, 0, 0), -EPROTO, "%s", row);
    cr_assert_not(vq_needs_notify(q), "%s", row);
}

/* ---- the reproduced defect: SET_VRING_BASE, then a shrinking SET_VRING_NUM ---- */

/* The descriptor ring of one entry ends exactly where region B (and guest memory) ends: position 255 of
 * the old 256-entry ring lies 4 KiB past it, in the guard area. */
#define END_DESC (GM_B + GM_SIZE - 16)

static vq_queue *shrunk_packed_ring(uint32_t vring_base)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_PACKED, 256);
    cr_assert_eq(vq_queue_set_size(q, 256), 0);
    cr_assert_eq(vq_queue_set_vring_base(q, vring_base), 0, "positions fit the 256-entry ring");
    cr_assert_eq(vq_queue_set_size(q, 1), 0);
    cr_assert_eq(vq_queue_set_addrs(q, END_DESC, 0x2000, 0x2100), 0);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0, "a one-entry ring fits");
    return q;
}

Test(ring_start, shrink_after_vring_base_never_reads_past_the_ring)
{
    /* avail 255 (wrap 1), used 255 (wrap 1) */
    vq_queue *q = shrunk_packed_ring(255u | 1u << 15 | 255u << 16 | 1u << 31);
    int rc = vq_queue_set_ready(q, true);
    vq_chain c;
    int pop = vq_pop(q, &c); /* before the fix: reads the flags at END_DESC + 16 * 255, in the guard: SIGSEGV */
    cr_assert_eq(pop, -EPROTO);
    expect_refused(q, "avail past the shrunk ring", rc, -EPROTO, "packed position avail 255 / used 255 outside size 1");
    vq_queue_free(q);
}

Test(ring_start, shrink_after_vring_base_never_writes_past_the_ring)
{
    /* avail 0 (wrap 1), used 255 (wrap 1): the descriptor at 0 is fine, the used write goes to 255 */
    vq_queue *q = shrunk_packed_ring(0u | 1u << 15 | 255u << 16 | 1u << 31);
    gm_packed_desc(END_DESC, 0, 0x8000, 64, 0, VQ_DESC_F_AVAIL);
    int rc = vq_queue_set_ready(q, true);
    vq_chain c;
    if (vq_pop(q, &c) == 1)              /* before the fix: pops id 0 ... */
        (void)vq_add_used(q, c.head, 0); /* ... and writes its used descriptor in the guard: SIGSEGV */
    expect_refused(q, "used past the shrunk ring", rc, -EPROTO, "used 255 outside size 1");
    vq_queue_free(q);
}

Test(ring_start, a_new_vring_base_after_the_shrink_starts_the_ring)
{
    vq_queue *q = shrunk_packed_ring(200u | 1u << 15 | 200u << 16 | 1u << 31);
    cr_assert_eq(vq_queue_set_ready(q, true), -EPROTO);
    cr_assert_eq(vq_queue_set_vring_base(q, 0x80008000u), 0);
    cr_assert_eq(vq_queue_set_ready(q, true), 0);
    gm_packed_desc(END_DESC, 0, 0x8000, 64, 0, VQ_DESC_F_AVAIL);
    vq_chain c;
    cr_assert_eq(vq_pop(q, &c), 1);
    cr_assert_eq(vq_add_used(q, c.head, 0), 0);
    vq_state s;
    vq_queue_get_state(q, &s);
    cr_assert(s.next_avail == 0 && s.next_used == 0 && !s.avail_wrap && !s.used_wrap, "one lap of one entry");
    vq_queue_free(q);
}

/* ---- one row per invariant a front-end can break by ordering its messages ---- */

static void set_good_addrs(vq_queue *q) { cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x3000, 0x4000), 0); }

static vq_queue *started(enum vq_layout layout, uint32_t size)
{
    vq_queue *q = gm_queue(layout, size);
    set_good_addrs(q);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    cr_assert_eq(vq_queue_set_ready(q, true), 0);
    return q;
}

static vq_queue *r_avail_past_size(void)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_PACKED, 256);
    cr_assert_eq(vq_queue_set_vring_base(q, 200u | 1u << 15 | 1u << 31), 0);
    cr_assert_eq(vq_queue_set_size(q, 64), 0);
    set_good_addrs(q);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    return q;
}

static vq_queue *r_used_past_size(void)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_PACKED, 256);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    set_good_addrs(q);
    cr_assert_eq(vq_queue_set_vring_base(q, 1u << 15 | 200u << 16), 0); /* used 200 wrap 0: 56 outstanding */
    cr_assert_eq(vq_queue_set_size(q, 64), 0);
    return q;
}

static vq_queue *r_used_more_than_a_ring_behind(void)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_PACKED, 64);
    set_good_addrs(q);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    /* avail 5 on lap 1, used 3 on lap 0: 66 descriptors outstanding in a 64-entry ring */
    cr_assert_eq(vq_queue_set_vring_base(q, 5u | 1u << 15 | 3u << 16), 0);
    return q;
}

static vq_queue *r_no_addresses(void)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_SPLIT, 64);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    return q;
}

static vq_queue *r_no_map(void)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_SPLIT, 64);
    set_good_addrs(q);
    return q;
}

static vq_queue *r_split_alignment_then_packed(void)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_SPLIT, 64);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x3002, 0x4000), 0, "2-aligned avail ring: fine for split");
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    cr_assert_eq(vq_queue_set_features(q, VQ_LAYOUT_PACKED, false), 0);
    return q;
}

static vq_queue *addrs_then_map(enum vq_layout layout, uint32_t size, uint64_t d, uint64_t drv, uint64_t dev, int want)
{
    vq_queue *q = gm_queue(layout, size);
    cr_assert_eq(vq_queue_set_addrs(q, d, drv, dev), 0, "no map yet: nothing to translate");
    cr_assert_eq(vq_queue_set_map(q, gm_map), want);
    return q;
}

static vq_queue *r_desc_unmapped(void)
{
    return addrs_then_map(VQ_LAYOUT_SPLIT, 64, GM_B + GM_SIZE, 0x3000, 0x4000, -EFAULT);
}
static vq_queue *r_driver_unmapped(void)
{
    return addrs_then_map(VQ_LAYOUT_SPLIT, 64, 0x1000, 192 * GM_KIB, 0x4000, -EFAULT);
}
static vq_queue *r_device_unmapped(void)
{
    return addrs_then_map(VQ_LAYOUT_PACKED, 64, 0x1000, 0x3000, GM_R + GM_SIZE, -EFAULT);
}
static vq_queue *r_desc_crosses_regions(void)
{
    return addrs_then_map(VQ_LAYOUT_SPLIT, 64, GM_B - 512, 0x3000, 0x4000, -EFAULT);
}
static vq_queue *r_device_read_only(void) { return addrs_then_map(VQ_LAYOUT_SPLIT, 64, 0x1000, 0x3000, GM_R, -EPERM); }
static vq_queue *r_area_wraps(void)
{
    return addrs_then_map(VQ_LAYOUT_PACKED, 64, UINT64_MAX - 0x1ff, 0x3000, 0x4000, -EOVERFLOW);
}

static vq_queue *r_packed_desc_read_only_after_layout_change(void)
{
    vq_queue *q = addrs_then_map(VQ_LAYOUT_SPLIT, 64, GM_R, 0x3000, 0x4000, 0); /* split: the device reads it */
    cr_assert_eq(vq_queue_set_features(q, VQ_LAYOUT_PACKED, false), -EPERM);    /* packed: it writes it */
    return q;
}

static vq_queue *r_ring_grown_after_addresses(void)
{
    vq_queue *q = gm_queue(VQ_LAYOUT_SPLIT, 256);
    cr_assert_eq(vq_queue_set_size(q, 64), 0);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    cr_assert_eq(vq_queue_set_addrs(q, GM_B - 1024, 0x3000, 0x4000), 0, "64 entries end at region A's end");
    cr_assert_eq(vq_queue_set_size(q, 256), -EFAULT);
    return q;
}

static const struct row {
    const char *name;
    vq_queue *(*arrange)(void);
    int want;
    const char *needle;
} rows[] = {
    {"avail position past a shrunk ring", r_avail_past_size, -EPROTO, "packed position avail 200"},
    {"used position past a shrunk ring", r_used_past_size, -EPROTO, "used 200 outside size 64"},
    {"used more than a ring behind avail", r_used_more_than_a_ring_behind, -EPROTO, "wrap counters"},
    {"no ring addresses", r_no_addresses, -EINVAL, "no ring addresses"},
    {"no memory map", r_no_map, -EPROTO, "no memory map"},
    {"split alignment kept into a packed ring", r_split_alignment_then_packed, -EPROTO,
     "driver area 0x3002 is not 4-aligned for a packed ring"},
    {"descriptor area unmapped", r_desc_unmapped, -EPROTO, "descriptor area 0x20000+1024"},
    {"driver area unmapped", r_driver_unmapped, -EPROTO, "driver area 0x30000+134"},
    {"device area unmapped", r_device_unmapped, -EPROTO, "device area 0x50000+4"},
    {"descriptor area crosses two regions", r_desc_crosses_regions, -EPROTO, "descriptor area 0xfe00+1024"},
    {"device area read-only", r_device_read_only, -EPROTO,
     "device area 0x40000+518 is not usable guest memory (read-only"},
    {"descriptor area wraps", r_area_wraps, -EPROTO, "descriptor area 0xfffffffffffffe00+1024"},
    {"packed descriptor ring read-only", r_packed_desc_read_only_after_layout_change, -EPROTO,
     "descriptor area 0x40000+1024 is not usable guest memory (read-only"},
    {"ring grown past its memory", r_ring_grown_after_addresses, -EPROTO, "descriptor area 0xfc00+4096"},
};

Test(ring_start, every_broken_invariant_is_refused_at_start_with_one_line)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        vq_queue *q = rows[i].arrange();
        vq_state before, after;
        vq_queue_get_state(q, &before);
        uint32_t size = vq_queue_size(q);
        int lines = fx_log_lines;
        int rc = vq_queue_set_ready(q, true);
        cr_assert_eq(fx_log_lines, lines + 1, "%s: one log line, got %d", rows[i].name, fx_log_lines - lines);
        expect_refused(q, rows[i].name, rc, rows[i].want, rows[i].needle);
        vq_queue_get_state(q, &after);
        cr_assert(memcmp(&before, &after, sizeof(before)) == 0 && vq_queue_size(q) == size,
                  "%s: a refused start changes nothing", rows[i].name);
        vq_queue_free(q);
    }
}

/* ---- every order of the same valid settings starts the same ring ---- */

enum { S_SIZE, S_ADDRS, S_FEATURES, S_BASE, S_MAP, S_COUNT };

static void apply(vq_queue *q, int step)
{
    switch (step) {
    case S_SIZE: (void)vq_queue_set_size(q, 100); break;
    case S_ADDRS: (void)vq_queue_set_addrs(q, GM_B - 1600, 0x3000, 0x4000); break; /* 100 entries: fits */
    case S_FEATURES: (void)vq_queue_set_features(q, VQ_LAYOUT_PACKED, true); break;
    case S_BASE: (void)vq_queue_set_vring_base(q, 70u | 1u << 15 | 60u << 16 | 1u << 31); break;
    default: (void)vq_queue_set_map(q, gm_map); break;
    }
}

Test(ring_start, every_order_of_a_valid_configuration_starts)
{
    int order[S_COUNT] = {0, 1, 2, 3, 4}, n = 0;
    for (;;) {
        vq_queue *q = gm_queue(VQ_LAYOUT_PACKED, 256);
        for (int i = 0; i < S_COUNT; i++)
            apply(q, order[i]);
        cr_assert_eq(vq_queue_set_ready(q, true), 0, "order %d%d%d%d%d", order[0], order[1], order[2], order[3],
                     order[4]);
        vq_state s;
        vq_queue_get_state(q, &s);
        cr_assert(s.next_avail == 70 && s.next_used == 60 && s.avail_wrap && s.used_wrap);
        cr_assert_eq(vq_queue_size(q), 100);
        vq_queue_free(q);
        n++;
        /* next permutation */
        int i = S_COUNT - 2;
        while (i >= 0 && order[i] > order[i + 1])
            i--;
        if (i < 0)
            break;
        int j = S_COUNT - 1;
        while (order[j] < order[i])
            j--;
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
        for (int a = i + 1, b = S_COUNT - 1; a < b; a++, b--) {
            t = order[a];
            order[a] = order[b];
            order[b] = t;
        }
    }
    cr_assert_eq(n, 120);
}

/* ---- setters a front-end can reorder around a ring that is in use ---- */

Test(ring_start, a_size_change_forgets_the_packed_lists_in_flight)
{
    vq_queue *q = started(VQ_LAYOUT_PACKED, 64);
    for (uint32_t i = 0; i < 3; i++) /* one list of three descriptors, id 5 */
        gm_packed_desc(0x1000, i, 0x8000, 64, 5, (uint16_t)(VQ_DESC_F_AVAIL | (i < 2 ? VQ_DESC_F_NEXT : 0)));
    vq_chain c;
    cr_assert_eq(vq_pop(q, &c), 1);
    cr_assert_eq(c.head, 5);
    cr_assert_eq(vq_queue_set_ready(q, false), 0);
    cr_assert_eq(vq_queue_set_size(q, 8), 0);
    cr_assert_eq(vq_queue_set_ready(q, true), 0, "positions 3 / 0 fit 8 entries");
    cr_assert_eq(vq_add_used(q, 5, 0), -EINVAL, "id 5 was counted in the 64-entry ring");
    vq_state s;
    vq_queue_get_state(q, &s);
    cr_assert_eq(s.next_used, 0);
    vq_queue_free(q);
}

Test(ring_start, new_addresses_while_running_must_pass_the_whole_check)
{
    vq_queue *q = started(VQ_LAYOUT_SPLIT, 64);
    cr_assert_eq(vq_disable_notification(q), 0, "running");
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x3000, GM_R), -EPERM);
    cr_assert(strstr(fx_last_line, "vq5: ring stops: device area 0x40000+518"), "%s", fx_last_line);
    cr_assert(vq_queue_ready(q));
    cr_assert_eq(vq_disable_notification(q), -EPROTO, "not running with a read-only used ring");
    set_good_addrs(q);
    cr_assert_eq(vq_disable_notification(q), 0, "running again");
    cr_assert_eq(vq_queue_set_map(q, NULL), 0, "detaching is always allowed");
    cr_assert_eq(vq_disable_notification(q), -EPROTO);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    cr_assert_eq(vq_disable_notification(q), 0);
    vq_queue_free(q);
}

Test(ring_start, configuration_of_a_ready_ring_is_refused)
{
    vq_queue *q = started(VQ_LAYOUT_PACKED, 64);
    cr_assert_eq(vq_queue_set_size(q, 8), -EBUSY);
    cr_assert_eq(vq_queue_set_vring_base(q, 0), -EBUSY);
    cr_assert_eq(vq_queue_set_features(q, VQ_LAYOUT_SPLIT, false), -EBUSY);
    cr_assert_eq(vq_queue_size(q), 64);
    vq_queue_free(q);
}
