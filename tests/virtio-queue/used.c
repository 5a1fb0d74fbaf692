/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* used.c - returning chains: add_used, batches, out-of-order completion, 16-bit index wrap. */
#include "vq_fixture.h"

TestSuite(used, .fini = fx_teardown, .timeout = 120);

static uint16_t used_idx(void)
{
    uint16_t v;
    cr_assert_eq(vmem_load_le16(fx_map, fx_device + VQ_SPLIT_USED_IDX, &v), 0);
    return v;
}

static void pop_n(vq_chain *c, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        FX_CHECK(fx_pop_walk(&c[i], NULL, NULL) == 0);
}

Test(used, split_add_used_writes_element_then_index, .init = fx_split)
{
    vq_chain c;
    fx_add(2, 32, 1, 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_add_used(fx_q, c.head, 32), 0);
    cr_assert_eq(used_idx(), 1);
    uint32_t id, len;
    cr_assert_eq(vmem_load_le32(fx_map, fx_device + VQ_SPLIT_USED_RING(0), &id), 0);
    cr_assert_eq(vmem_load_le32(fx_map, fx_device + VQ_SPLIT_USED_RING(0) + 4, &len), 0);
    cr_assert_eq(id, c.head);
    cr_assert_eq(len, 32);
    uint16_t h;
    uint32_t l;
    cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
    cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 0);
}

Test(used, split_head_out_of_range_is_einval_and_writes_nothing, .init = fx_split)
{
    cr_assert_eq(vq_add_used(fx_q, 256, 0), -EINVAL);
    vq_used_elem e[2] = {{0, 1}, {300, 2}};
    cr_assert_eq(vq_add_used_batch(fx_q, e, 2), -EINVAL);
    cr_assert_eq(used_idx(), 0);
    cr_assert_not(vq_queue_broken(fx_q), "a device bug is not a ring violation");
    cr_assert_eq(vq_add_used_batch(fx_q, e, 0), 0);
    cr_assert_eq(used_idx(), 0);
}

Test(used, split_batch_publishes_all_at_once, .init = fx_split)
{
    vq_chain c[8];
    for (int i = 0; i < 8; i++)
        fx_add(1, 16, 1, 0);
    pop_n(c, 8);
    vq_used_elem e[8];
    for (int i = 0; i < 8; i++)
        e[i] = (vq_used_elem){c[7 - i].head, (uint32_t)i};
    cr_assert_eq(vq_add_used_batch(fx_q, e, 8), 0);
    cr_assert_eq(used_idx(), 8);
    for (int i = 0; i < 8; i++) {
        uint16_t h;
        uint32_t l;
        cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
        cr_assert_eq(h, c[7 - i].head);
        cr_assert_eq(l, (uint32_t)i);
    }
}

Test(used, split_out_of_order_completion, .init = fx_split)
{
    vq_chain c[3];
    for (int i = 0; i < 3; i++)
        fx_add(2, 16, 1, 0);
    pop_n(c, 3);
    int order[3] = {2, 0, 1};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(vq_add_used(fx_q, c[order[i]].head, 5), 0);
    for (int i = 0; i < 3; i++) {
        uint16_t h;
        uint32_t l;
        cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
        cr_assert_eq(h, c[order[i]].head);
    }
    cr_assert_eq(vq_mock_free_descs(fx_mk), 256);
}

Test(used, packed_add_used_marks_descriptor_used, .init = fx_packed)
{
    vq_chain c;
    fx_add(3, 16, 1, 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_add_used(fx_q, c.head, 9), 0);
    uint16_t flags, id;
    uint32_t len;
    cr_assert_eq(vmem_load_le16(fx_map, fx_desc + 14, &flags), 0);
    cr_assert_eq(vmem_load_le16(fx_map, fx_desc + 12, &id), 0);
    cr_assert_eq(vmem_load_le32(fx_map, fx_desc + 8, &len), 0);
    cr_assert_eq(flags, VQ_DESC_F_AVAIL | VQ_DESC_F_USED | VQ_DESC_F_WRITE);
    cr_assert_eq(id, c.head);
    cr_assert_eq(len, 9);
    vq_state s;
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_used, 3, "the list's three descriptors are skipped");
    fx_add(1, 16, 0, 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0);
    cr_assert_eq(vmem_load_le16(fx_map, fx_desc + 3 * 16 + 14, &flags), 0);
    cr_assert_eq(flags, VQ_DESC_F_AVAIL | VQ_DESC_F_USED, "no WRITE flag when nothing was written");
}

Test(used, packed_unknown_id_is_einval_and_writes_nothing, .init = fx_packed)
{
    vq_chain c;
    cr_assert_eq(vq_add_used(fx_q, 3, 0), -EINVAL, "never popped");
    cr_assert_eq(vq_add_used(fx_q, 256, 0), -EINVAL, "out of range");
    fx_add(1, 16, 0, 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    vq_used_elem dup[2] = {{c.head, 0}, {c.head, 0}};
    cr_assert_eq(vq_add_used_batch(fx_q, dup, 2), -EINVAL, "the same id twice");
    uint16_t flags;
    cr_assert_eq(vmem_load_le16(fx_map, fx_desc + 14, &flags), 0);
    cr_assert_eq(flags, VQ_DESC_F_AVAIL, "nothing written");
    cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0, "the refused batch left the id in flight");
    cr_assert_eq(vq_add_used(fx_q, c.head, 0), -EINVAL, "and now it is not");
}

Test(used, packed_batch_with_lists_of_different_lengths, .init = fx_packed)
{
    vq_chain c[4];
    unsigned len[4] = {3, 1, 2, 4};
    for (int i = 0; i < 4; i++)
        fx_add(len[i], 16, 1, 0);
    pop_n(c, 4);
    /* complete in the order 1, 3, 0, 2 */
    int order[4] = {1, 3, 0, 2};
    vq_used_elem e[4];
    for (int i = 0; i < 4; i++)
        e[i] = (vq_used_elem){c[order[i]].head, 100u + (uint32_t)i};
    cr_assert_eq(vq_add_used_batch(fx_q, e, 4), 0);
    for (int i = 0; i < 4; i++) {
        uint16_t h;
        uint32_t l;
        cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
        cr_assert_eq(h, c[order[i]].head);
        cr_assert_eq(l, 100u + (uint32_t)i);
    }
    vq_state s;
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_used, 10);
    cr_assert_eq(vq_mock_free_descs(fx_mk), 256);
}

static void run_wrap(unsigned total)
{
    vq_chain c[16];
    uint16_t h;
    uint32_t l;
    for (unsigned done = 0; done < total; done += 16) {
        for (int i = 0; i < 16; i++)
            fx_add(1 + i % 3, 8, 1, 0);
        pop_n(c, 16);
        vq_used_elem e[16];
        for (int i = 0; i < 16; i++)
            e[i] = (vq_used_elem){c[i].head, done + (unsigned)i};
        if (done % 32)
            FX_CHECK((vq_add_used_batch(fx_q, e, 16)) == (0));
        else
            for (int i = 0; i < 16; i++)
                FX_CHECK((vq_add_used(fx_q, e[i].head, e[i].len)) == (0));
        for (int i = 0; i < 16; i++) {
            FX_CHECK((vq_mock_used(fx_mk, &h, &l)) == (1));
            FX_CHECK((h) == (c[i].head));
            FX_CHECK((l) == (done + (unsigned)i));
        }
    }
    FX_CHECK((vq_pop(fx_q, &c[0])) == (0));
    FX_CHECK(vq_mock_used(fx_mk, &h, &l) == 0);
    cr_assert_not(vq_queue_broken(fx_q));
}

Test(used, split_index_wraps_past_65535, .init = fx_split)
{
    run_wrap(70016);
    vq_state s;
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_avail, (uint16_t)70016);
    cr_assert_eq(s.next_used, (uint16_t)70016);
    cr_assert_eq(used_idx(), (uint16_t)70016);
}

Test(used, packed_wrap_counters_flip_over_many_laps, .init = fx_packed) { run_wrap(70016); }
