/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* split_chain.c - popping and walking split-ring chains, and every malformed chain the walker refuses. */
#include "vq_fixture.h"

TestSuite(split_chain, .init = fx_split, .fini = fx_teardown, .timeout = 120);

#define NEXT VQ_DESC_F_NEXT
#define WR VQ_DESC_F_WRITE
#define IND VQ_DESC_F_INDIRECT

Test(split_chain, empty_ring_pops_nothing)
{
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 0);
    cr_assert_eq(vq_pop(fx_q, &c), 0);
}

Test(split_chain, direct_chain_yields_validated_buffers)
{
    uint16_t head = fx_add(3, 100, 1, 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, head);
    uint8_t *base = vmem_region_hva(fx_reg[0]);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
        cr_assert_eq(d.gpa, BUF_BASE + 100u * i);
        cr_assert_eq(d.len, 100);
        cr_assert_eq(d.write, i == 2);
        cr_assert_eq(d.hva, base + BUF_BASE + 100u * i);
    }
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 0);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 0, "a finished chain stays finished");
    cr_assert_eq(vq_pop(fx_q, &c), 0);
}

Test(split_chain, indirect_chain_yields_table_entries)
{
    vq_mock_buf b[4] = {
        {BUF_BASE, 10, false}, {BUF_BASE + 10, 20, false}, {BUF_BASE + 30, 30, true}, {R1_GPA + 8, 40, true}};
    uint16_t head;
    cr_assert_eq(vq_mock_add_indirect(fx_mk, TABLE_BASE, b, 4, &head), 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(c.head, head);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
        cr_assert_eq(d.gpa, b[i].gpa);
        cr_assert_eq(d.len, b[i].len);
        cr_assert_eq(d.write, b[i].write);
    }
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 0);
}

Test(split_chain, direct_descriptors_then_indirect_table_are_allowed)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE + 100, 8, WR, 0), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 5, BUF_BASE, 16, NEXT, 9), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 9, TABLE_BASE, 16, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 5), 0);
    unsigned n;
    uint64_t bytes;
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, &n, &bytes), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(bytes, 24);
}

Test(split_chain, zero_length_buffer_has_no_host_address)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, 6 * MIB, 0, 0, 0), 0); /* unmapped but empty: fine */
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    cr_assert_eq(d.len, 0);
    cr_assert_null(d.hva);
}

Test(split_chain, chain_of_queue_size_descriptors_is_fine)
{
    static vq_mock_buf b[256];
    for (int i = 0; i < 256; i++)
        b[i] = (vq_mock_buf){BUF_BASE + 16u * i, 16, i >= 128};
    cr_assert_eq(vq_mock_add(fx_mk, b, 256, NULL), 0);
    unsigned n;
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, &n, NULL), 0);
    cr_assert_eq(n, 256);
}

Test(split_chain, loop_in_descriptor_table_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 8, NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, BUF_BASE, 8, NEXT, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("loop");
    cr_assert(strstr(fx_last_line, "vq7:") == fx_last_line, "log line names the queue: %s", fx_last_line);
}

Test(split_chain, self_loop_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 3, BUF_BASE, 8, NEXT, 3), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 3), 0);
    fx_expect_broken("self loop");
}

Test(split_chain, next_out_of_range_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 8, NEXT, 256), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("next >= size");
}

Test(split_chain, head_out_of_range_breaks_queue)
{
    cr_assert_eq(vq_mock_publish_head(fx_mk, 256), 0);
    fx_expect_broken("head >= size");
}

/* The pop looks ahead two chains (prefetch, with more than 9 chains behind it: split.c PREFETCH_AHEAD): a
 * bad head or buffer there must neither touch the chains popped before it nor be taken for checked; its own
 * pop and walk find and report it. */
static void two_good_then_broken(const uint16_t good[2], const char *why)
{
    for (int i = 0; i < 2; i++) {
        vq_chain c;
        unsigned n;
        uint64_t bytes;
        cr_assert_eq(fx_pop_walk(&c, &n, &bytes), 0);
        cr_assert_eq(c.head, good[i]);
        cr_assert_eq(n, 1);
        cr_assert_eq(bytes, 64);
        cr_assert_not(vq_queue_broken(fx_q), "the look-ahead does not judge the entry it reads (pop %d)", i);
    }
    fx_expect_broken(why);
}

Test(split_chain, bad_head_published_behind_good_chains_breaks_only_its_own_pop)
{
    uint16_t good[2];
    good[0] = fx_add(1, 64, 0, 0); /* two statements: an initializer list does not order its calls */
    good[1] = fx_add(1, 64, 0, 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 256), 0);
    for (int i = 0; i < 9; i++) /* a backlog: the pop looks ahead only with one */
        fx_add(1, 64, 0, 1);
    two_good_then_broken(good, "head >= size, behind good chains");
}

Test(split_chain, buffer_outside_memory_behind_good_chains_breaks_only_its_walk)
{
    uint16_t good[2];
    good[0] = fx_add(1, 64, 0, 0); /* two statements: an initializer list does not order its calls */
    good[1] = fx_add(1, 64, 0, 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 200, 0xdead00000000ull, 64, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 200), 0); /* a descriptor the mock does not hand out here */
    for (int i = 0; i < 9; i++)
        fx_add(1, 64, 0, 1);
    two_good_then_broken(good, "buffer outside guest memory, behind good chains");
}

Test(split_chain, avail_index_jump_beyond_size_breaks_queue)
{
    cr_assert_eq(vq_mock_set_avail_idx(fx_mk, 257), 0);
    fx_expect_broken("avail idx 257 ahead");
}

Test(split_chain, avail_index_exactly_size_ahead_is_fine)
{
    for (int i = 0; i < 256; i++)
        fx_add(1, 8, 0, 0);
    vq_chain c;
    for (int i = 0; i < 256; i++)
        cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_pop(fx_q, &c), 0);
}

Test(split_chain, avail_index_going_backwards_breaks_queue)
{
    fx_add(1, 8, 0, 0);
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_mock_set_avail_idx(fx_mk, 0), 0); /* 0 - 1 = 65535 ahead */
    fx_expect_broken("avail idx decremented");
}

Test(split_chain, zero_length_indirect_table_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 0, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("indirect len 0");
}

Test(split_chain, odd_sized_indirect_table_breaks_queue)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 20, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("indirect len 20");
}

Test(split_chain, oversized_indirect_table_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, 0, 16u * 65537u, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("indirect table of 65537 entries");
}

Test(split_chain, nested_indirect_breaks_queue)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, TABLE_BASE + 4096, 16, IND, 0), 0);
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE + 4096, 0, BUF_BASE, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 16, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("nested indirect");
}

Test(split_chain, indirect_with_next_breaks_queue)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 16, IND | NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, BUF_BASE, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("INDIRECT|NEXT");
}

Test(split_chain, loop_inside_indirect_table_breaks_queue)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 8, NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 1, BUF_BASE, 8, NEXT, 0), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 32, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("loop in indirect table");
}

Test(split_chain, indirect_next_out_of_table_breaks_queue)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 8, NEXT, 2), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 32, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("next beyond a 2-entry table");
}

Test(split_chain, indirect_table_outside_memory_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, 6 * MIB, 32, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("unmapped table");
}

Test(split_chain, indirect_table_crossing_regions_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, R1_GPA - 16, 32, IND, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("table across regions");
}

Test(split_chain, buffer_outside_memory_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, 6 * MIB, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("unmapped buffer");
}

Test(split_chain, buffer_address_wrapping_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, UINT64_MAX - 4, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("gpa + len wraps");
}

Test(split_chain, buffer_crossing_regions_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, R1_GPA - 16, 32, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("buffer across regions");
}

Test(split_chain, huge_buffer_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 0xffffffffu, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("4 GiB buffer");
}

Test(split_chain, total_length_overflow_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, 0, (uint32_t)R0_SIZE, NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, 0, 0xffffffffu, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("total > 4 GiB");
}

Test(split_chain, writable_buffer_in_read_only_region_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, RO_GPA, 8, WR, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("writable buffer in ROM");
}

Test(split_chain, readable_buffer_in_read_only_region_is_fine)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, RO_GPA, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
}

Test(split_chain, buffers_in_second_region_are_translated)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, R1_GPA + 64, 8, NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, BUF_BASE, 8, NEXT, 2), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 2, R1_GPA + 128, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    cr_assert_eq(d.hva, (uint8_t *)vmem_region_hva(fx_reg[1]) + 64);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    cr_assert_eq(d.hva, (uint8_t *)vmem_region_hva(fx_reg[0]) + BUF_BASE);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    cr_assert_eq(d.hva, (uint8_t *)vmem_region_hva(fx_reg[1]) + 128);
}

Test(split_chain, readable_after_writable_breaks_queue)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 8, WR | NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, BUF_BASE, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    fx_expect_broken("readable after writable");
}

Test(split_chain, write_flag_on_indirect_descriptor_is_ignored)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 16, IND | WR, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    cr_assert_not(d.write);
}
