/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* packed_chain.c - popping and walking packed-ring lists, wrap counters, and malformed lists. */
#include "vq_fixture.h"

TestSuite(packed_chain, .init = fx_packed, .fini = fx_teardown, .timeout = 120);

#define NEXT VQ_DESC_F_NEXT
#define WR VQ_DESC_F_WRITE
#define IND VQ_DESC_F_INDIRECT

/* Raw list of @n descriptors at the driver's position, first flags last; advances the mock. */
static void raw_list(unsigned n, const uint64_t *addr, const uint32_t *len, const uint16_t *flags, uint16_t id)
{
    uint32_t pos = vq_mock_avail_idx(fx_mk);
    uint16_t av = vq_mock_avail_flags(fx_mk);
    for (unsigned i = n; i-- > 0;)
        cr_assert_eq(vq_mock_write_desc(fx_mk, (pos + i) % 256, addr[i], len[i], flags[i] | av, id), 0);
    cr_assert_eq(vq_mock_advance(fx_mk, n), 0);
}

static void raw_one(uint64_t addr, uint32_t len, uint16_t flags, uint16_t id) { raw_list(1, &addr, &len, &flags, id); }

Test(packed_chain, empty_ring_pops_nothing)
{
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 0);
}

Test(packed_chain, direct_list_yields_buffers_and_id)
{
    uint16_t id = fx_add(4, 50, 2, 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, id);
    cr_assert_eq(c.ndesc, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
        cr_assert_eq(d.gpa, BUF_BASE + 50u * i);
        cr_assert_eq(d.len, 50);
        cr_assert_eq(d.write, i >= 2);
        cr_assert_eq(d.hva, (uint8_t *)vmem_region_hva(fx_reg[0]) + BUF_BASE + 50u * i);
    }
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 0);
    cr_assert_eq(vq_pop(fx_q, &c), 0);
}

Test(packed_chain, indirect_table_yields_entries)
{
    vq_mock_buf b[3] = {{BUF_BASE, 10, false}, {BUF_BASE + 10, 20, true}, {R1_GPA, 30, true}};
    uint16_t id;
    cr_assert_eq(vq_mock_add_indirect(fx_mk, TABLE_BASE, b, 3, &id), 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, id);
    cr_assert_eq(c.ndesc, 1);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
        cr_assert_eq(d.gpa, b[i].gpa);
        cr_assert_eq(d.write, b[i].write);
    }
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 0);
}

Test(packed_chain, list_across_ring_end_and_wrap_counter)
{
    vq_chain c;
    for (int i = 0; i < 254; i++) { /* move to position 254 */
        fx_add(1, 8, 0, 0);
        cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
        cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0);
        uint16_t h;
        uint32_t l;
        cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
    }
    fx_add(5, 8, 0, 0); /* positions 254, 255, 0, 1, 2 */
    unsigned n;
    cr_assert_eq(fx_pop_walk(&c, &n, NULL), 0);
    cr_assert_eq(n, 5);
    vq_state s;
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_avail, 3);
    cr_assert_not(s.avail_wrap);
    cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0);
    uint16_t h;
    uint32_t l;
    cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
    cr_assert_eq(h, c.head);
    fx_add(1, 8, 0, 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
}

Test(packed_chain, non_power_of_two_size_runs_many_laps)
{
    fx_teardown();
    fx_setup(VQ_LAYOUT_PACKED, 100, false);
    vq_chain c;
    for (int i = 0; i < 1000; i++) {
        unsigned n = 1 + i % 13, got; /* lengths past 4 take the four-at-a-time scan */
        uint16_t id = fx_add(n, 8, i % 2, 0);
        cr_assert_eq(fx_pop_walk(&c, &got, NULL), 0);
        cr_assert_eq(got, n);
        cr_assert_eq(c.head, id);
        cr_assert_eq(vq_add_used(fx_q, c.head, 3), 0);
        uint16_t h;
        uint32_t l;
        cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
        cr_assert_eq(h, id);
        cr_assert_eq(l, 3);
    }
}

Test(packed_chain, descriptor_with_equal_avail_used_bits_is_not_available)
{
    /* AVAIL == USED == 1 is a used descriptor of this lap, not an available one. */
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 8, VQ_DESC_F_AVAIL | VQ_DESC_F_USED, 0), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 8, VQ_DESC_F_USED, 0), 0);
    cr_assert_eq(vq_pop(fx_q, &c), 0, "available for the next lap only");
}

Test(packed_chain, list_longer_than_ring_breaks_queue)
{
    for (unsigned i = 0; i < 256; i++)
        cr_assert_eq(vq_mock_write_desc(fx_mk, i, BUF_BASE, 8, NEXT | vq_mock_avail_flags(fx_mk), 0), 0);
    fx_expect_broken("NEXT on every descriptor");
}

Test(packed_chain, buffer_id_out_of_range_breaks_queue)
{
    raw_one(BUF_BASE, 8, 0, 256);
    fx_expect_broken("id >= size");
}

Test(packed_chain, buffer_id_reused_while_in_flight_breaks_queue)
{
    raw_one(BUF_BASE, 8, 0, 4);
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    raw_one(BUF_BASE, 8, 0, 4);
    fx_expect_broken("id 4 twice");
}

/* A list of @n (<= 256) 8-byte descriptors with buffer id @id, published at the driver's position. */
static void publish_list(unsigned n, uint16_t id)
{
    uint64_t addr[256];
    uint32_t len[256];
    uint16_t flags[256];
    cr_assert(n <= 256);
    for (unsigned i = 0; i < n; i++)
        addr[i] = BUF_BASE, len[i] = 8, flags[i] = i + 1 < n ? NEXT : 0;
    raw_list(n, addr, len, flags, id);
}

/* publish_list(), then popped and kept in flight. */
static void take_list(unsigned n, uint16_t id)
{
    publish_list(n, id);
    vq_chain c;
    unsigned got;
    cr_assert_eq(fx_pop_walk(&c, &got, NULL), 0);
    cr_assert_eq(c.head, id);
    cr_assert_eq(got, n);
}

/* The driver makes descriptors available again that the device still holds (a list of 200 is in flight,
 * then 56 more fill the ring): the next one, at position 0 of the next lap, overruns descriptor 0 of the
 * first list.  Taking it would let the two lists' used writes overlap and the positions run more than a
 * ring apart (which the fuzzer found as a ring that no longer passes its own start check). */
Test(packed_chain, single_descriptor_over_descriptors_in_use_breaks_queue)
{
    take_list(200, 0);
    for (uint16_t id = 1; id <= 56; id++)
        take_list(1, id);
    raw_one(BUF_BASE, 8, 0, 100);
    fx_expect_broken("position 0 is still in use");
}

Test(packed_chain, list_over_descriptors_in_use_breaks_queue)
{
    take_list(200, 0);
    publish_list(100, 1); /* positions 200..43: 44 of them still in use */
    fx_expect_broken("200 + 100 descriptors in a ring of 256");
}

Test(packed_chain, ring_full_of_lists_then_returned_goes_on)
{
    take_list(200, 0);
    take_list(56, 1); /* every descriptor in flight: allowed */
    cr_assert_eq(vq_add_used(fx_q, 0, 0), 0);
    take_list(100, 2); /* positions 0..99 were returned with id 0 */
    cr_assert_not(vq_queue_broken(fx_q));
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 0);
}

Test(packed_chain, indirect_inside_list_breaks_queue)
{
    uint64_t a[2] = {BUF_BASE, TABLE_BASE};
    uint32_t l[2] = {8, 16};
    uint16_t f[2] = {NEXT, IND};
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 8, 0, 0), 0);
    raw_list(2, a, l, f, 0);
    fx_expect_broken("INDIRECT in a list");
}

Test(packed_chain, indirect_with_next_breaks_queue)
{
    uint64_t a[2] = {TABLE_BASE, BUF_BASE};
    uint32_t l[2] = {16, 8};
    uint16_t f[2] = {IND | NEXT, 0};
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 8, 0, 0), 0);
    raw_list(2, a, l, f, 0);
    fx_expect_broken("INDIRECT|NEXT");
}

Test(packed_chain, nested_indirect_breaks_queue)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, TABLE_BASE + 4096, 16, IND, 0), 0);
    raw_one(TABLE_BASE, 16, IND, 0);
    fx_expect_broken("nested indirect");
}

Test(packed_chain, zero_length_indirect_table_breaks_queue)
{
    raw_one(TABLE_BASE, 0, IND, 0);
    fx_expect_broken("indirect len 0");
}

Test(packed_chain, odd_sized_indirect_table_breaks_queue)
{
    raw_one(TABLE_BASE, 24, IND, 0);
    fx_expect_broken("indirect len 24");
}

Test(packed_chain, indirect_table_outside_memory_breaks_queue)
{
    raw_one(6 * MIB, 32, IND, 0);
    fx_expect_broken("unmapped table");
}

Test(packed_chain, buffer_outside_memory_breaks_queue)
{
    raw_one(6 * MIB, 8, 0, 0);
    fx_expect_broken("unmapped buffer");
}

Test(packed_chain, buffer_crossing_regions_breaks_queue)
{
    raw_one(R1_GPA - 4, 8, 0, 0);
    fx_expect_broken("buffer across regions");
}

Test(packed_chain, writable_buffer_in_read_only_region_breaks_queue)
{
    raw_one(RO_GPA, 8, WR, 0);
    fx_expect_broken("writable buffer in ROM");
}

Test(packed_chain, readable_after_writable_breaks_queue)
{
    uint64_t a[2] = {BUF_BASE, BUF_BASE};
    uint32_t l[2] = {8, 8};
    uint16_t f[2] = {WR | NEXT, 0};
    raw_list(2, a, l, f, 0);
    fx_expect_broken("readable after writable");
}

Test(packed_chain, total_length_overflow_breaks_queue)
{
    uint64_t a[2] = {0, 0};
    uint32_t l[2] = {(uint32_t)R0_SIZE, 0xffffffffu};
    uint16_t f[2] = {NEXT, 0};
    raw_list(2, a, l, f, 0);
    fx_expect_broken("total > 4 GiB");
}

Test(packed_chain, indirect_table_total_length_overflow_breaks_queue)
{
    /* 1025 overlapping 4 MiB buffers: every one is valid, their sum is not. */
    for (unsigned i = 0; i < 1025; i++)
        cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, i, 0, (uint32_t)R0_SIZE, 0, 0), 0);
    raw_one(TABLE_BASE, 16u * 1025u, IND, 0);
    fx_expect_broken("indirect total > 4 GiB");
}
