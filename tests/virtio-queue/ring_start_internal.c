/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* ring_start_internal.c - the start check does not rely on the setters: each row corrupts one field of a
 * configured queue behind the setters' back (what a setter bug or a future setter could leave) and the
 * start must refuse it with one line naming the invariant.  Derived fields are recomputed at start. */
#include "guarded.h"
#include "internal.h"

TestSuite(ring_start_internal, .init = gm_setup, .fini = gm_teardown, .timeout = 120);

/* A queue of 64 entries (max 128) that would start: areas in region A, the map set. */
static vq_queue *configured(enum vq_layout layout)
{
    vq_queue *q = gm_queue(layout, 128);
    cr_assert_eq(vq_queue_set_size(q, 64), 0);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x3000, 0x4000), 0);
    cr_assert_eq(vq_queue_set_map(q, gm_map), 0);
    return q;
}

static void unknown_layout(vq_queue *q) { q->layout = 7; }
static void size_zero(vq_queue *q) { q->size = 0; }
static void size_past_max(vq_queue *q) { q->size = 129; }
static void split_size_not_pow2(vq_queue *q) { q->size = 48; }
static void desc_misaligned(vq_queue *q) { q->desc_gpa = 0x1008; }
static void device_misaligned(vq_queue *q) { q->device_gpa = 0x4002; }
static void avail_past_size(vq_queue *q) { q->next_avail = 64; }
static void inflight_id_past_size(vq_queue *q)
{
    q->next_avail = 1;
    q->inflight[70] = VQ__INFLIGHT;
}
static void inflight_list_longer_than_ring(vq_queue *q)
{
    q->next_avail = 63;
    q->inflight[3] = VQ__INFLIGHT | 99;
}
static void inflight_entry_without_flag(vq_queue *q)
{
    q->next_avail = 3;
    q->inflight[3] = 2;
}
static void inflight_more_than_outstanding(vq_queue *q) { q->inflight[3] = VQ__INFLIGHT | 1; }
static void stale_translation(vq_queue *q)
{
    /* translated for 64 entries at the end of region A, then the size grows behind the setter's back:
     * the cached pointers and the mapped flag still say "fine" */
    cr_assert_eq(vq_queue_set_addrs(q, GM_B - 1024, 0x3000, 0x4000), 0);
    cr_assert(q->mapped);
    q->size = 128;
}
static void mapped_flag_lies(vq_queue *q)
{
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x3000, GM_R), -EPERM);
    q->mapped = true;
    q->desc = q->driver = q->device = vq_mock_mem_hva(gm_mem[0]);
}
static void addresses_flag_lies(vq_queue *q)
{
    vq_queue_reset(q);
    q->addrs_set = true; /* addresses 0/0/0 were never set, but translate fine */
    q->map = NULL;
}

static const struct row {
    const char *name;
    enum vq_layout layout;
    void (*poke)(vq_queue *q);
    int want;
    const char *needle;
} rows[] = {
    {"unknown layout", VQ_LAYOUT_SPLIT, unknown_layout, -EPROTO, "unknown layout 7"},
    {"size 0", VQ_LAYOUT_PACKED, size_zero, -EPROTO, "size 0 outside 1..128"},
    {"size past max", VQ_LAYOUT_PACKED, size_past_max, -EPROTO, "size 129 outside 1..128"},
    {"split size not a power of two", VQ_LAYOUT_SPLIT, split_size_not_pow2, -EPROTO,
     "split ring size 48 is not a power of two"},
    {"descriptor area misaligned", VQ_LAYOUT_SPLIT, desc_misaligned, -EPROTO,
     "descriptor area 0x1008 is not 16-aligned for a split ring"},
    {"device area misaligned", VQ_LAYOUT_PACKED, device_misaligned, -EPROTO,
     "device area 0x4002 is not 4-aligned for a packed ring"},
    {"avail position past size", VQ_LAYOUT_PACKED, avail_past_size, -EPROTO, "packed position avail 64 / used 0"},
    {"in-flight id past size", VQ_LAYOUT_PACKED, inflight_id_past_size, -EPROTO,
     "in-flight buffer id 70 (1 descriptors) does not fit size 64"},
    {"in-flight list longer than the ring", VQ_LAYOUT_PACKED, inflight_list_longer_than_ring, -EPROTO,
     "in-flight buffer id 3 (100 descriptors) does not fit size 64"},
    {"in-flight entry without its flag", VQ_LAYOUT_PACKED, inflight_entry_without_flag, -EPROTO,
     "in-flight buffer id 3 (3 descriptors)"},
    {"in-flight lists beyond the positions", VQ_LAYOUT_PACKED, inflight_more_than_outstanding, -EPROTO,
     "in-flight buffers hold 2 descriptors, only 0 are outstanding"},
    {"stale translation", VQ_LAYOUT_PACKED, stale_translation, -EPROTO, "descriptor area 0xfc00+2048"},
    {"mapped flag without a translation", VQ_LAYOUT_SPLIT, mapped_flag_lies, -EPROTO, "device area 0x40000+518"},
    {"no map behind an addresses flag", VQ_LAYOUT_SPLIT, addresses_flag_lies, -EPROTO, "no memory map"},
};

Test(ring_start_internal, the_start_check_finds_every_corrupted_field)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        vq_queue *q = configured(rows[i].layout);
        cr_assert_eq(vq_queue_set_ready(q, true), 0, "%s: the unpoked queue starts", rows[i].name);
        cr_assert_eq(vq_queue_set_ready(q, false), 0);
        rows[i].poke(q);
        int lines = fx_log_lines;
        int rc = vq_queue_set_ready(q, true);
        cr_assert_eq(rc, rows[i].want, "%s: start gave %d", rows[i].name, rc);
        cr_assert_eq(fx_log_lines, lines + 1, "%s: one line", rows[i].name);
        cr_assert(strstr(fx_last_line, "vq5: cannot start: ") == fx_last_line && strstr(fx_last_line, rows[i].needle),
                  "%s: %s", rows[i].name, fx_last_line);
        cr_assert_not(q->ready, "%s", rows[i].name);
        cr_assert_eq(q->run, VQ__RUN_NONE, "%s", rows[i].name);
        cr_assert(!q->mapped && !q->desc && !q->driver && !q->device, "%s: no area pointers", rows[i].name);
        vq_queue_free(q);
    }
}

Test(ring_start_internal, the_start_recomputes_derived_fields)
{
    vq_queue *q = configured(VQ_LAYOUT_PACKED);
    cr_assert_eq(vq_queue_set_vring_base(q, 5u | 0u << 15 | 5u << 16 | 0u << 31), 0);
    q->mask = 0;
    q->avail_expect = 0;
    q->used_bits = 0xffff;
    q->dlog = (vmem_log *)q; /* a stale dirty log would be written through */
    cr_assert_eq(vq_queue_set_ready(q, true), 0);
    cr_assert_eq(q->mask, 63);
    cr_assert_eq(q->avail_expect, VQ_DESC_F_USED, "wrap 0: AVAIL clear, USED set");
    cr_assert_eq(q->used_bits, 0);
    cr_assert_null(q->dlog, "the map has no dirty log");
    vq_queue_free(q);
}
