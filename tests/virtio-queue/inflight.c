/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* inflight.c - the inflight region API: format and attach, and every check of a region handed back by the
 * front-end (untrusted): a malformed region is refused with -EBADMSG and one log line, the queue stays
 * stopped, and nothing outside the region is touched (it ends right at a PROT_NONE page). */
#include <stdlib.h>

#include "vq_fixture.h"

#define QS 256u
static uint8_t *page_base, *rgn;
static size_t rgn_bytes, map_bytes;

/* A region of @bytes whose last byte touches a PROT_NONE guard page. */
static void guarded_region(size_t bytes)
{
    size_t pages = (bytes + 4095) / 4096 + 1;
    map_bytes = pages * 4096;
    page_base = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(page_base, MAP_FAILED);
    cr_assert_eq(mprotect(page_base + map_bytes - 4096, 4096, PROT_NONE), 0);
    rgn = page_base + (map_bytes - 4096 - bytes);
    rgn_bytes = bytes;
}

static void setup_layout(enum vq_layout layout)
{
    fx_setup(layout, QS, false);
    cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    guarded_region((size_t)vq_inflight_bytes(layout, QS));
    cr_assert_eq(vq_inflight_format(rgn, rgn_bytes, layout, QS), 0);
}
static void setup_split(void) { setup_layout(VQ_LAYOUT_SPLIT); }
static void setup_packed(void) { setup_layout(VQ_LAYOUT_PACKED); }
static void teardown(void)
{
    fx_teardown();
    munmap(page_base, map_bytes);
}

static vq_inflight_split_hdr *sh(void) { return (vq_inflight_split_hdr *)(void *)rgn; }
static vq_inflight_split_desc *sd(unsigned i) { return (vq_inflight_split_desc *)(void *)(rgn + 16 + 16 * i); }
static vq_inflight_packed_hdr *ph(void) { return (vq_inflight_packed_hdr *)(void *)rgn; }
static vq_inflight_packed_desc *pd(unsigned i) { return (vq_inflight_packed_desc *)(void *)(rgn + 32 + 32 * i); }

/* Attach and start: the result, and on refusal exactly one new log line naming the region. */
static int start(void)
{
    cr_assert_eq(vq_inflight_attach(fx_q, rgn, rgn_bytes), 0);
    int before = fx_log_lines;
    int rc = vq_queue_set_ready(fx_q, true);
    if (rc != 0) {
        cr_assert_eq(rc, -EBADMSG);
        cr_assert_not(vq_queue_ready(fx_q));
        cr_assert_eq(fx_log_lines, before + 1);
        cr_assert(strstr(fx_last_line, "inflight region") != NULL, "%s", fx_last_line);
    }
    return rc;
}

static void refused(const char *what)
{
    cr_assert_eq(start(), -EBADMSG, "%s", what);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), -EPROTO, "the queue did not start");
}

/* A split region in which head @h (< QS) is in flight with @counter. */
static void split_in_flight(unsigned h, uint64_t counter)
{
    sd(h)->inflight = 1;
    sd(h)->counter = counter;
}

/* A packed list of @n entries from entry @first (consecutive), buffer id @id, taken off the free list's
 * front (the format's list is 0, 1, 2...: @first must be free_head). */
static void packed_in_flight(unsigned first, unsigned n, uint16_t id, uint64_t counter)
{
    pd(first)->inflight = 1;
    pd(first)->num = (uint16_t)n;
    pd(first)->counter = counter;
    pd(first)->last = (uint16_t)(first + n - 1);
    for (unsigned k = 0; k < n; k++) {
        pd(first + k)->addr = BUF_BASE + 0x100 * k;
        pd(first + k)->len = 16;
        pd(first + k)->flags = k + 1 < n ? VQ_DESC_F_NEXT : VQ_DESC_F_WRITE;
        pd(first + k)->id = id;
    }
    ph()->free_head = ph()->old_free_head = (uint16_t)(first + n);
}

TestSuite(inflight, .timeout = 120);

Test(inflight, format_refuses_bad_arguments)
{
    static uint64_t buf[2048];
    cr_assert_eq(vq_inflight_format(NULL, sizeof(buf), VQ_LAYOUT_SPLIT, 16), -EINVAL);
    cr_assert_eq(vq_inflight_format((uint8_t *)buf + 4, sizeof(buf) - 4, VQ_LAYOUT_SPLIT, 16), -EINVAL);
    cr_assert_eq(vq_inflight_format(buf, sizeof(buf), VQ_LAYOUT_SPLIT, 0), -EINVAL);
    cr_assert_eq(vq_inflight_format(buf, sizeof(buf), VQ_LAYOUT_SPLIT, 32769), -EINVAL);
    cr_assert_eq(vq_inflight_format(buf, sizeof(buf), (enum vq_layout)7, 16), -EINVAL);
    cr_assert_eq(vq_inflight_format(buf, 16 + 16 * 16 - 1, VQ_LAYOUT_SPLIT, 16), -EINVAL);
    cr_assert_eq(vq_inflight_format(buf, 32 + 32 * 16, VQ_LAYOUT_PACKED, 16), 0);
    const vq_inflight_packed_hdr *h = (const void *)buf;
    const vq_inflight_packed_desc *d = (const void *)((uint8_t *)buf + 32);
    cr_assert(h->version == 1 && h->desc_num == 16 && h->free_head == 0 && h->used_wrap_counter == 1 &&
              h->old_used_wrap_counter == 1);
    for (unsigned i = 0; i < 16; i++)
        cr_assert_eq(d[i].next, i + 1, "the free list runs through every entry");
    cr_assert_eq(vq_inflight_bytes(VQ_LAYOUT_SPLIT, 16), 16 + 16 * 16);
}

Test(inflight, attach_refuses_bad_arguments_and_a_running_queue, .init = fx_split, .fini = fx_teardown)
{
    static uint64_t buf[1024];
    cr_assert_eq(vq_inflight_attach(fx_q, (uint8_t *)buf + 1, 64), -EINVAL);
    cr_assert_eq(vq_inflight_attach(fx_q, buf, 31), -EINVAL);
    cr_assert_eq(vq_inflight_attach(fx_q, buf, sizeof(buf)), -EBUSY, "the queue is ready");
    cr_assert_eq(vq_inflight_attach(fx_q, NULL, 0), 0, "detaching is always allowed");
    cr_assert_eq(vq_inflight_pending(fx_q), 0);
}

Test(inflight, a_fresh_region_keeps_the_ring_position_and_records, .init = setup_split, .fini = teardown)
{
    cr_assert_eq(start(), 0);
    uint16_t h = fx_add(1, 16, 1, 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(sd(h)->inflight, 1);
    cr_assert_eq(sd(h)->counter, 1, "counters start at 1");
    cr_assert_eq(vq_add_used(fx_q, h, 0), 0);
    cr_assert_eq(sd(h)->inflight, 0);
    cr_assert_eq(sh()->used_idx, 1);
    cr_assert_eq(sh()->last_batch_head, h);
    cr_assert_eq(vq_add_used(fx_q, QS, 0), -EINVAL, "a head out of range changes nothing");
    cr_assert_eq(vq_add_used_batch(fx_q, NULL, 0), 0);
}

Test(inflight, version_0_is_formatted_and_used, .init = setup_split, .fini = teardown)
{
    memset(rgn, 0, rgn_bytes);
    cr_assert_eq(start(), 0);
    cr_assert_eq(sh()->version, 1);
    cr_assert_eq(sh()->desc_num, QS);
}

Test(inflight, version_0_too_small_for_the_ring, .init = setup_split, .fini = teardown)
{
    memset(rgn, 0, rgn_bytes);
    rgn += 16;
    rgn_bytes -= 16;
    refused("version 0, one entry short");
}

Test(inflight, unknown_version, .init = setup_split, .fini = teardown)
{
    sh()->version = 9;
    refused("version 9");
    cr_assert(strstr(fx_last_line, "version 9"));
}

Test(inflight, fewer_entries_than_the_ring, .init = setup_split, .fini = teardown)
{
    sh()->desc_num = QS / 2;
    refused("desc_num < size");
}

Test(inflight, more_entries_than_the_region_holds, .init = setup_split, .fini = teardown)
{
    sh()->desc_num = QS + 1;
    refused("desc_num beyond the region");
}

Test(inflight, split_bad_inflight_value, .init = setup_split, .fini = teardown)
{
    split_in_flight(3, 5);
    sd(3)->inflight = 2;
    refused("inflight 2");
}

Test(inflight, split_head_beyond_the_ring, .init = setup_split, .fini = teardown)
{
    cr_assert_eq(vq_queue_set_size(fx_q, QS / 2), 0);
    split_in_flight(QS / 2 + 1, 5);
    refused("head >= size");
}

Test(inflight, split_batch_longer_than_the_region, .init = setup_split, .fini = teardown)
{
    split_in_flight(3, 5);
    sh()->used_idx = (uint16_t)(0 - QS - 1); /* used->idx 0 is QS + 1 ahead */
    refused("batch > desc_num");
}

Test(inflight, split_batch_list_leaves_the_region, .init = setup_split, .fini = teardown)
{
    split_in_flight(3, 5);
    sh()->used_idx = (uint16_t)-2; /* a batch of 2 */
    sh()->last_batch_head = 3;
    sd(3)->next = QS + 7;
    refused("batch list link out of range");
}

Test(inflight, split_last_batch_is_settled_and_the_rest_resubmitted_oldest_first, .init = setup_split, .fini = teardown)
{
    /* the driver made 4 chains available; the device popped all 4 and was publishing two of them (heads of
     * the 2nd and 4th) when it died: used->idx says 2, the region's used_idx still 0 */
    uint16_t h[4];
    for (unsigned i = 0; i < 4; i++)
        h[i] = fx_add(1, 16, 1, i);
    cr_assert_eq(vmem_store_le16(fx_map, fx_device + VQ_SPLIT_USED_IDX, 2), 0);
    for (unsigned i = 0; i < 4; i++)
        split_in_flight(h[i], 10 + (i == 0 ? 5 : i)); /* counters: h0 15, h1 11, h2 12, h3 13 */
    sh()->last_batch_head = h[3];
    sd(h[3])->next = h[1];
    cr_assert_eq(start(), 0);
    cr_assert_eq(sh()->used_idx, 2);
    cr_assert_eq(sd(h[1])->inflight, 0);
    cr_assert_eq(sd(h[3])->inflight, 0);
    cr_assert_eq(vq_inflight_pending(fx_q), 2);
    cr_assert_eq(vq_enable_notification(fx_q), 1, "recovered chains are work");
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, h[2], "counter 12 before 15");
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, h[0]);
    cr_assert_eq(vq_pop(fx_q, &c), 0, "avail idx 4 = used 2 + 2 in flight: nothing new");
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    vq_state st;
    vq_queue_get_state(fx_q, &st);
    cr_assert_eq(st.next_avail, 4);
}

Test(inflight, detaching_a_running_queue_stops_recording, .init = setup_split, .fini = teardown)
{
    cr_assert_eq(start(), 0);
    cr_assert_eq(vq_inflight_attach(fx_q, NULL, 0), 0);
    uint16_t h = fx_add(1, 16, 1, 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(sd(h)->inflight, 0);
    cr_assert_eq(vq_add_used(fx_q, h, 0), 0);
}

/* ---- packed ---- */

static void packed_used_region(void)
{
    setup_packed();
    packed_in_flight(0, 1, 5, 3); /* something was recorded: the region is checked */
}

Test(inflight, packed_positions_out_of_range, .init = packed_used_region, .fini = teardown)
{
    ph()->used_idx = ph()->old_used_idx = QS;
    refused("used_idx >= size");
}

Test(inflight, packed_wrap_counter_not_a_bit, .init = packed_used_region, .fini = teardown)
{
    ph()->used_wrap_counter = ph()->old_used_wrap_counter = 2;
    refused("wrap 2");
}

Test(inflight, packed_free_head_beyond_the_region, .init = packed_used_region, .fini = teardown)
{
    ph()->free_head = ph()->old_free_head = QS + 1;
    refused("free_head > desc_num");
}

Test(inflight, packed_free_list_loops, .init = packed_used_region, .fini = teardown)
{
    pd(9)->next = 2;
    refused("free list loop");
    cr_assert(strstr(fx_last_line, "loops"));
}

Test(inflight, packed_free_list_leaves_the_region, .init = packed_used_region, .fini = teardown)
{
    pd(9)->next = QS + 3;
    refused("free list link out of range");
}

Test(inflight, packed_list_of_no_descriptors, .init = packed_used_region, .fini = teardown)
{
    pd(0)->num = 0;
    refused("num 0");
}

Test(inflight, packed_lists_hold_more_than_the_ring, .init = packed_used_region, .fini = teardown)
{
    pd(0)->num = QS + 1;
    refused("num > size");
}

Test(inflight, packed_list_link_out_of_range, .init = setup_packed, .fini = teardown)
{
    packed_in_flight(0, 3, 5, 3);
    pd(1)->next = QS + 9;
    refused("list link out of range");
}

Test(inflight, packed_list_that_does_not_end_at_its_last, .init = setup_packed, .fini = teardown)
{
    packed_in_flight(0, 3, 5, 3);
    pd(0)->last = 7;
    refused("last mismatch");
}

Test(inflight, packed_buffer_id_beyond_the_ring, .init = setup_packed, .fini = teardown)
{
    packed_in_flight(0, 2, QS, 3);
    refused("id >= size");
}

Test(inflight, packed_buffer_id_twice, .init = setup_packed, .fini = teardown)
{
    packed_in_flight(0, 1, 5, 3);
    packed_in_flight(1, 1, 5, 4);
    refused("id twice");
}

Test(inflight, packed_lists_in_flight_are_resubmitted_from_their_saved_descriptors, .init = setup_packed,
     .fini = teardown)
{
    /* two lists in flight at positions 0-2 (id 5, 3 descriptors) and 3 (id 6, one): the ring slots hold
     * garbage now (used descriptors written over them); the saved copies are what the device walks */
    packed_in_flight(0, 3, 5, 8);
    packed_in_flight(3, 1, 6, 7);
    cr_assert_eq(start(), 0);
    cr_assert_eq(vq_inflight_pending(fx_q), 2);
    vq_state st;
    vq_queue_get_state(fx_q, &st);
    cr_assert_eq(st.next_used, 0);
    cr_assert_eq(st.next_avail, 4, "used + the 4 descriptors in flight");
    vq_chain c;
    vq_snapshot_buf sb;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, 6, "counter 7 first");
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    cr_assert_eq(sb.snap.ndesc, 1);
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, 5);
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0, "a map change does not touch the saved table");
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    cr_assert_eq(sb.snap.ndesc, 3);
    cr_assert_eq(sb.snap.desc[1].gpa, BUF_BASE + 0x100);
    cr_assert(sb.snap.desc[2].write);
    cr_assert_eq(vq_add_used(fx_q, 5, 16), 0);
    cr_assert_eq(pd(0)->inflight, 0);
    cr_assert_eq(ph()->free_head, 0, "the list went back to the free list");
    cr_assert_eq(ph()->used_idx, 3);
    cr_assert_eq(ph()->old_used_idx, 3);
    cr_assert_eq(vq_add_used(fx_q, 5, 16), -EINVAL, "not in flight any more");
}

Test(inflight, packed_fresh_region_with_buffers_in_flight_warns, .init = setup_packed, .fini = teardown)
{
    cr_assert_eq(vq_queue_set_vring_base(fx_q, 3u | 1u << 15 | 0u << 16 | 1u << 31), 0);
    cr_assert_eq(start(), 0);
    cr_assert(strstr(fx_last_line, "not tracked"), "%s", fx_last_line);
}

Test(inflight, a_packed_region_whose_free_list_is_used_up_breaks_the_queue, .init = setup_packed, .fini = teardown)
{
    cr_assert_eq(start(), 0);
    cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    pd(0)->next = QS + 5; /* the front-end wrote into the region while we ran */
    cr_assert_eq(vq_queue_set_ready(fx_q, true), 0, "a fresh region is formatted again at start");
    (void)fx_add(2, 16, 1, 0);
    pd(0)->next = QS + 5;
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), -EIO);
    cr_assert(strstr(fx_last_line, "free list"), "%s", fx_last_line);
}

/* Random regions (version 1, a plausible desc_num): started or refused, never a crash or a read outside. */
static void fuzz(enum vq_layout layout)
{
    srand(1234);
    for (int it = 0; it < 3000; it++) {
        for (size_t i = 0; i < rgn_bytes; i++)
            rgn[i] = (uint8_t)(rand() % 5 == 0 ? rand() : (i & 7) == 0 ? rand() % 3 : 0);
        sh()->version = 1;
        sh()->desc_num = (uint16_t)(QS - 2 + rand() % 4);
        if (layout == VQ_LAYOUT_PACKED && rand() % 2) {
            cr_assert_eq(vq_inflight_format(rgn, rgn_bytes, layout, QS), 0);
            for (int k = 0; k < 4; k++)
                rgn[32 + rand() % (rgn_bytes - 32)] = (uint8_t)rand();
            pd((unsigned)rand() % QS)->counter = 1;
        }
        cr_assert_eq(vq_inflight_attach(fx_q, rgn, rgn_bytes), 0);
        int rc = vq_queue_set_ready(fx_q, true);
        cr_assert(rc == 0 || rc == -EBADMSG, "rc %d", rc);
        vq_chain c;
        vq_snapshot_buf sb;
        while (rc == 0 && vq_inflight_pending(fx_q) && vq_pop(fx_q, &c) == 1)
            (void)vq_snapshot_take_buf(fx_q, &c, &sb);
        vq_queue_reset(fx_q);
        cr_assert_eq(vq_mock_attach(fx_mk, fx_q), 0);
        cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    }
}

Test(inflight, random_split_regions, .init = setup_split, .fini = teardown) { fuzz(VQ_LAYOUT_SPLIT); }
Test(inflight, random_packed_regions, .init = setup_packed, .fini = teardown) { fuzz(VQ_LAYOUT_PACKED); }

/* The front-end rewrites the region under a running queue: the queue breaks, nothing outside is touched. */
Test(inflight, a_packed_free_list_that_ends_too_early_breaks_the_queue, .init = setup_packed, .fini = teardown)
{
    cr_assert_eq(start(), 0);
    pd(0)->next = QS; /* the end of the list after one entry */
    (void)fx_add(2, 16, 1, 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), -EIO);
    cr_assert(strstr(fx_last_line, "free list too short"), "%s", fx_last_line);
}

Test(inflight, a_packed_region_without_free_entries_breaks_the_queue, .init = setup_packed, .fini = teardown)
{
    cr_assert_eq(start(), 0);
    pd(0)->next = QS;
    (void)fx_add(1, 16, 1, 0);
    (void)fx_add(1, 16, 1, 1);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(vq_pop(fx_q, &c), -EIO);
    cr_assert(strstr(fx_last_line, "no free entry"), "%s", fx_last_line);
}

Test(inflight, a_packed_last_link_out_of_range_breaks_the_queue, .init = setup_packed, .fini = teardown)
{
    cr_assert_eq(start(), 0);
    uint16_t id = fx_add(1, 16, 1, 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    pd(0)->last = QS + 1;
    cr_assert_eq(vq_add_used(fx_q, id, 0), -EIO);
    cr_assert(strstr(fx_last_line, "last entry out of range"), "%s", fx_last_line);
    cr_assert_eq(vq_add_used_batch(fx_q, &(vq_used_elem){.head = QS, .len = 0}, 1), -EIO);
}

Test(inflight, packed_batches_are_checked_before_the_region_changes, .init = setup_packed, .fini = teardown)
{
    cr_assert_eq(start(), 0);
    uint16_t a = fx_add(1, 16, 1, 0), b = fx_add(1, 16, 1, 1);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    uint16_t fh = ph()->free_head;
    vq_used_elem dup[2] = {{.head = a}, {.head = a}};
    cr_assert_eq(vq_add_used_batch(fx_q, dup, 2), -EINVAL);
    cr_assert_eq(ph()->free_head, fh, "nothing changed");
    vq_used_elem both[2] = {{.head = b}, {.head = a}};
    cr_assert_eq(vq_add_used_batch(fx_q, both, 2), 0);
    cr_assert_eq(ph()->free_head, 0, "a's entry, then b's");
    cr_assert_eq(pd(0)->next, 1);
    cr_assert_eq(ph()->used_idx, 2);
    cr_assert_eq(ph()->old_used_idx, 2);
    cr_assert_eq(vq_add_used_batch(fx_q, NULL, 0), 0);
}

Test(inflight, a_resubmitted_packed_indirect_list_walks_its_table, .init = setup_packed, .fini = teardown)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 16, VQ_DESC_F_NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 1, BUF_BASE + 0x100, 32, VQ_DESC_F_WRITE, 0), 0);
    packed_in_flight(0, 1, 9, 2);
    pd(0)->addr = TABLE_BASE;
    pd(0)->len = 32;
    pd(0)->flags = VQ_DESC_F_INDIRECT;
    cr_assert_eq(start(), 0);
    vq_chain c;
    vq_snapshot_buf sb;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, 9);
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    cr_assert_eq(sb.snap.ndesc, 2);
    cr_assert_eq(sb.snap.writable, 32);
    cr_assert_eq(vq_add_used(fx_q, 9, 32), 0);
    uint16_t id;
    uint32_t len;
    cr_assert_eq(vq_mock_used(fx_mk, &id, &len), -EIO,
                 "the used descriptor names id 9, which this mock never made available");
}
