/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* queue_config.c - queue creation, size and address rules, maps, start/stop, reset, vring base. */
#include "vq_fixture.h"

TestSuite(queue_config, .timeout = 120);

static vq_queue *new_queue(enum vq_layout layout, uint32_t max)
{
    vq_queue_config c = {.max_size = max, .layout = layout, .log = &fx_log};
    vq_queue *q = NULL;
    cr_assert_eq(vq_queue_new(&c, &q), 0);
    return q;
}

Test(queue_config, new_refuses_bad_config)
{
    vq_queue *q = NULL;
    vq_queue_config c = {.max_size = 32769, .log = &fx_log};
    cr_assert_eq(vq_queue_new(&c, &q), -EINVAL);
    c.max_size = 100; /* split sizes are powers of two */
    cr_assert_eq(vq_queue_new(&c, &q), -EINVAL);
    c.layout = VQ_LAYOUT_PACKED; /* packed sizes need not be */
    cr_assert_eq(vq_queue_new(&c, &q), 0);
    cr_assert_eq(vq_queue_size(q), 100);
    vq_queue_free(q);
    c.layout = (enum vq_layout)7;
    cr_assert_eq(vq_queue_new(&c, &q), -EINVAL);
    cr_assert_eq(vq_queue_new(NULL, &q), -EINVAL);
    vq_queue_free(NULL);
}

Test(queue_config, default_size_is_256)
{
    vq_queue *q = new_queue(VQ_LAYOUT_SPLIT, 0);
    cr_assert_eq(vq_queue_size(q), 256);
    cr_assert_eq(vq_queue_index(q), 0);
    cr_assert_not(vq_queue_ready(q));
    vq_queue_free(q);
}

Test(queue_config, set_size_rules)
{
    vq_queue *q = new_queue(VQ_LAYOUT_SPLIT, 1024);
    cr_assert_eq(vq_queue_set_size(q, 0), -EINVAL);
    cr_assert_eq(vq_queue_set_size(q, 2048), -EINVAL);
    cr_assert_eq(vq_queue_set_size(q, 48), -EINVAL);
    cr_assert_eq(vq_queue_size(q), 1024, "a refused size changes nothing");
    cr_assert_eq(vq_queue_set_size(q, 64), 0);
    cr_assert_eq(vq_queue_size(q), 64);
    cr_assert_eq(vq_queue_set_features(q, VQ_LAYOUT_PACKED, false), 0);
    cr_assert_eq(vq_queue_set_size(q, 48), 0, "packed ring sizes need not be powers of two");
    cr_assert_eq(vq_queue_set_features(q, VQ_LAYOUT_SPLIT, false), -EINVAL, "split needs a power of two");
    cr_assert_eq(vq_queue_layout(q), VQ_LAYOUT_PACKED);
    cr_assert_eq(vq_queue_set_features(q, (enum vq_layout)3, false), -EINVAL);
    vq_queue_free(q);
}

Test(queue_config, max_size_32768_both_layouts)
{
    vq_queue *q = new_queue(VQ_LAYOUT_SPLIT, 32768);
    cr_assert_eq(vq_queue_set_size(q, 32768), 0);
    cr_assert_eq(vq_queue_set_features(q, VQ_LAYOUT_PACKED, true), 0);
    cr_assert_eq(vq_queue_set_size(q, 32767), 0);
    cr_assert(vq_queue_event_idx(q));
    vq_queue_free(q);
}

Test(queue_config, address_alignment_split)
{
    vq_queue *q = new_queue(VQ_LAYOUT_SPLIT, 256);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1008, 0x2000, 0x3000), -EINVAL);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x2001, 0x3000), -EINVAL);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x2000, 0x3002), -EINVAL);
    cr_assert_eq(vq_queue_set_ready(q, true), -EINVAL, "refused addresses are not kept");
    cr_assert_eq(vq_queue_set_addrs(q, 0x1010, 0x2002, 0x3004), 0);
    cr_assert_eq(vq_queue_set_ready(q, true), -EPROTO, "no map yet");
    vq_queue_free(q);
}

Test(queue_config, address_alignment_packed)
{
    vq_queue *q = new_queue(VQ_LAYOUT_PACKED, 256);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1008, 0x2000, 0x3000), -EINVAL);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x2002, 0x3000), -EINVAL);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x2000, 0x3002), -EINVAL);
    cr_assert_eq(vq_queue_set_addrs(q, 0x1010, 0x2004, 0x3004), 0);
    vq_queue_free(q);
}

Test(queue_config, map_refuses_rings_outside_memory, .init = fx_memory)
{
    vq_queue *q = new_queue(VQ_LAYOUT_SPLIT, 256);
    cr_assert_eq(vq_queue_set_map(q, fx_map), 0, "no addresses yet: nothing to translate");
    cr_assert_eq(vq_queue_set_addrs(q, 6 * MIB, 0x2000, 0x3000), -EFAULT, "descriptor table unmapped");
    cr_assert_eq(vq_queue_set_ready(q, true), -EPROTO);
    cr_assert_eq(vq_queue_set_addrs(q, R1_GPA - 0x800, 0x2000, 0x3000), -EFAULT, "table crosses regions");
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, 0x2000, RO_GPA), -EPERM, "used ring in read-only memory");
    cr_assert_eq(vq_queue_set_addrs(q, 0x1000, RO_GPA, 0x4000), 0, "the avail ring may be read-only");
    cr_assert_eq(vq_queue_set_ready(q, true), 0);
    cr_assert(vq_queue_ready(q));
    vq_queue_free(q);
    fx_teardown();
}

Test(queue_config, map_change_keeps_running_or_stops, .init = fx_split, .fini = fx_teardown)
{
    fx_add(1, 64, 0, 0);
    vq_chain c;
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    /* A map without region 0 (which holds the rings) stops the queue. */
    vmem_map *small;
    cr_assert_eq(vmem_map_new(&fx_reg[1], 1, NULL, &fx_log, &small), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, small), -EFAULT);
    cr_assert_eq(vq_pop(fx_q, &c), -EPROTO);
    cr_assert_not(vq_queue_broken(fx_q));
    cr_assert_eq(vq_queue_set_map(fx_q, NULL), 0);
    cr_assert_eq(vq_pop(fx_q, &c), -EPROTO);
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0);
    fx_add(1, 64, 0, 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    vmem_map_free(small);
}

Test(queue_config, walk_survives_map_swap, .init = fx_split, .fini = fx_teardown)
{
    fx_add(3, 64, 0, 0);
    vq_chain c;
    vq_desc_info d;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    vmem_map *copy;
    cr_assert_eq(vmem_map_new(fx_reg, 3, NULL, &fx_log, &copy), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, copy), 0);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    cr_assert_eq(d.gpa, BUF_BASE + 64);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 1);
    cr_assert_eq(vq_chain_next(fx_q, &c, &d), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    vmem_map_free(copy);
}

Test(queue_config, not_running_errors, .init = fx_memory)
{
    vq_queue *q = new_queue(VQ_LAYOUT_SPLIT, 256);
    vq_chain c;
    cr_assert_eq(vq_pop(q, &c), -EPROTO);
    cr_assert_eq(vq_add_used(q, 0, 0), -EPROTO);
    cr_assert_eq(vq_add_used_batch(q, NULL, 0), -EPROTO);
    cr_assert_eq(vq_enable_notification(q), -EPROTO);
    cr_assert_eq(vq_disable_notification(q), -EPROTO);
    cr_assert_not(vq_needs_notify(q));
    cr_assert_eq(vq_split_pop(q, &c), -EPROTO);
    cr_assert_eq(vq_packed_pop(q, &c), -EPROTO);
    vq_queue_free(q);
    fx_teardown();
}

Test(queue_config, layout_entry_points_check_the_layout, .init = fx_split, .fini = fx_teardown)
{
    vq_chain c;
    vq_used_elem e = {0, 0};
    cr_assert_eq(vq_packed_pop(fx_q, &c), -EINVAL);
    cr_assert_eq(vq_packed_add_used(fx_q, 0, 0), -EINVAL);
    cr_assert_eq(vq_packed_add_used_batch(fx_q, &e, 1), -EINVAL);
    cr_assert_eq(vq_packed_enable_notification(fx_q), -EINVAL);
    cr_assert_eq(vq_packed_disable_notification(fx_q), -EINVAL);
    cr_assert_not(vq_packed_needs_notify(fx_q));
    cr_assert_eq(vq_split_pop(fx_q, &c), 0);
    cr_assert_eq(vq_split_disable_notification(fx_q), 0);
    cr_assert_eq(vq_split_enable_notification(fx_q), 0);
}

Test(queue_config, packed_entry_points_on_split_queue_fail, .init = fx_packed, .fini = fx_teardown)
{
    vq_chain c;
    vq_used_elem e = {0, 0};
    cr_assert_eq(vq_split_pop(fx_q, &c), -EINVAL);
    cr_assert_eq(vq_split_add_used(fx_q, 0, 0), -EINVAL);
    cr_assert_eq(vq_split_add_used_batch(fx_q, &e, 1), -EINVAL);
    cr_assert_eq(vq_split_enable_notification(fx_q), -EINVAL);
    cr_assert_eq(vq_split_disable_notification(fx_q), -EINVAL);
    cr_assert_not(vq_split_needs_notify(fx_q));
    cr_assert_eq(vq_packed_pop(fx_q, &c), 0);
}

Test(queue_config, config_is_refused_while_ready, .init = fx_split, .fini = fx_teardown)
{
    cr_assert_eq(vq_queue_set_size(fx_q, 128), -EBUSY);
    cr_assert_eq(vq_queue_set_features(fx_q, VQ_LAYOUT_PACKED, false), -EBUSY);
    cr_assert_eq(vq_queue_set_vring_base(fx_q, 5), -EBUSY);
    vq_state s = {.next_avail = 5};
    cr_assert_eq(vq_queue_set_state(fx_q, &s), -EBUSY);
    cr_assert_eq(vq_queue_vring_base(fx_q), 0);
    cr_assert_eq(vq_queue_set_addrs(fx_q, fx_desc, fx_driver, fx_device), 0, "addresses may change live");
    vq_queue_set_enabled(fx_q, true);
    cr_assert(vq_queue_enabled(fx_q));
}

Test(queue_config, reset_clears_broken_and_everything, .init = fx_split, .fini = fx_teardown)
{
    cr_assert_eq(vq_mock_set_avail_idx(fx_mk, 1000), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), -EIO);
    cr_assert(vq_queue_broken(fx_q));
    vq_queue_reset(fx_q);
    cr_assert_not(vq_queue_broken(fx_q));
    cr_assert_not(vq_queue_ready(fx_q));
    cr_assert_not(vq_queue_enabled(fx_q));
    cr_assert_eq(vq_queue_size(fx_q), 32768);
    cr_assert_eq(vq_pop(fx_q, &c), -EPROTO);
    /* Configure afresh on a clean ring. */
    vq_mock_free(fx_mk);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 256, .desc_gpa = fx_desc, .driver_gpa = fx_driver, .device_gpa = fx_device};
    cr_assert_eq(vq_mock_new(fx_map, &mc, &fx_mk), 0);
    cr_assert_eq(vq_mock_attach(fx_mk, fx_q), 0);
    fx_add(1, 16, 0, 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
}

Test(queue_config, vring_base_split_roundtrip, .init = fx_split, .fini = fx_teardown)
{
    vq_chain c;
    for (int i = 0; i < 5; i++) {
        fx_add(1, 16, 0, 0);
        cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
        cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0);
    }
    fx_add(1, 16, 0, 0); /* one chain left for after the restart */
    cr_assert_eq(vq_queue_vring_base(fx_q), 5);
    vq_state s;
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_avail, 5);
    cr_assert_eq(s.next_used, 5);
    cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    /* A new back-end: SET_VRING_BASE 5, then start; next_used comes from guest memory. */
    vq_queue *q2 = new_queue(VQ_LAYOUT_SPLIT, 256);
    cr_assert_eq(vq_queue_set_vring_base(q2, 0x10000), -EINVAL);
    cr_assert_eq(vq_queue_set_vring_base(q2, 5), 0);
    cr_assert_eq(vq_queue_set_addrs(q2, fx_desc, fx_driver, fx_device), 0);
    cr_assert_eq(vq_queue_set_map(q2, fx_map), 0);
    cr_assert_eq(vq_queue_set_ready(q2, true), 0);
    vq_queue_get_state(q2, &s);
    cr_assert_eq(s.next_used, 5);
    cr_assert_eq(vq_pop(q2, &c), 1);
    cr_assert_eq(vq_pop(q2, &c), 0, "only the one unprocessed chain");
    cr_assert_eq(vq_add_used(q2, c.head, 0), 0);
    uint16_t h;
    uint32_t l;
    for (int i = 0; i < 6; i++)
        cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
    vq_queue_free(q2);
}

Test(queue_config, vring_base_packed_encoding, .init = fx_packed, .fini = fx_teardown)
{
    cr_assert_eq(vq_queue_vring_base(fx_q), 0x80008000u, "both wrap counters start at 1");
    vq_chain c;
    for (int i = 0; i < 300; i++) { /* past the end of the 256-entry ring */
        fx_add(1, 16, 0, 0);
        cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
        if (i < 299)
            cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0);
        uint16_t h;
        uint32_t l;
        while (vq_mock_used(fx_mk, &h, &l) == 1) {
        }
    }
    /* avail at 300 - 256 = 44 with wrap 0; used at 43 with wrap 0 */
    cr_assert_eq(vq_queue_vring_base(fx_q), 44u | (43u << 16));
    vq_state s;
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_avail, 44);
    cr_assert_not(s.avail_wrap);
    cr_assert_eq(s.next_used, 43);
    cr_assert_not(s.used_wrap);
    cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    cr_assert_eq(vq_queue_set_vring_base(fx_q, 256), -EINVAL, "position >= size");
    cr_assert_eq(vq_queue_set_vring_base(fx_q, 256u << 16), -EINVAL, "used position >= size");
    cr_assert_eq(vq_queue_vring_base(fx_q), 44u | (43u << 16), "a refused base changes nothing");
    cr_assert_eq(vq_queue_set_vring_base(fx_q, 0x80058007u), 0);
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_avail, 7);
    cr_assert(s.avail_wrap);
    cr_assert_eq(s.next_used, 5);
    cr_assert(s.used_wrap);
    cr_assert_eq(vq_queue_vring_base(fx_q), 0x80058007u);
}

Test(queue_config, packed_restore_continues_processing, .init = fx_packed, .fini = fx_teardown)
{
    vq_chain c;
    for (int i = 0; i < 3; i++) {
        fx_add(2, 16, 1, 0);
        cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
        cr_assert_eq(vq_add_used(fx_q, c.head, 1), 0);
    }
    fx_add(1, 16, 0, 0);
    uint32_t base = vq_queue_vring_base(fx_q);
    cr_assert_eq(base, 0x80068006u);
    cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    vq_queue *q2 = new_queue(VQ_LAYOUT_PACKED, 256);
    cr_assert_eq(vq_queue_set_vring_base(q2, base), 0);
    cr_assert_eq(vq_queue_set_addrs(q2, fx_desc, fx_driver, fx_device), 0);
    cr_assert_eq(vq_queue_set_map(q2, fx_map), 0);
    cr_assert_eq(vq_queue_set_ready(q2, true), 0);
    cr_assert_eq(vq_pop(q2, &c), 1);
    cr_assert_eq(c.ndesc, 1);
    cr_assert_eq(vq_add_used(q2, c.head, 0), 0);
    uint16_t h;
    uint32_t l;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
    cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 0);
    vq_queue_free(q2);
}

Test(queue_config, size_change_retranslates_rings, .init = fx_memory)
{
    vq_queue *q = new_queue(VQ_LAYOUT_SPLIT, 1024);
    cr_assert_eq(vq_queue_set_size(q, 64), 0);
    /* A 64-entry table fits in the last KiB of region 0; a 1024-entry one would cross into region 1. */
    cr_assert_eq(vq_queue_set_addrs(q, R1_GPA - 1024, 0x2000, 0x3000), 0);
    cr_assert_eq(vq_queue_set_map(q, fx_map), 0);
    cr_assert_eq(vq_queue_set_size(q, 1024), -EFAULT);
    cr_assert_eq(vq_queue_set_ready(q, true), -EPROTO);
    cr_assert_eq(vq_queue_set_size(q, 64), 0);
    cr_assert_eq(vq_queue_set_ready(q, true), 0);
    vq_queue_free(q);
    fx_teardown();
}

Test(queue_config, ring_address_wrapping_is_eoverflow, .init = fx_memory)
{
    vq_queue *q = new_queue(VQ_LAYOUT_PACKED, 256);
    cr_assert_eq(vq_queue_set_map(q, fx_map), 0);
    cr_assert_eq(vq_queue_set_addrs(q, UINT64_MAX - 0x7ff, 0x2000, 0x3000), -EOVERFLOW);
    cr_assert_eq(vq_queue_set_ready(q, true), -EPROTO);
    vq_queue_free(q);
    fx_teardown();
}

/* DPDK 22.11 virtio-user and QEMU 7.2 send only the avail half (bits 0-15) of a packed vring base. */
Test(queue_config, vring_base_packed_avail_only_means_used_equals_avail, .init = fx_packed, .fini = fx_teardown)
{
    cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    cr_assert_eq(vq_queue_set_vring_base(fx_q, 0x8000u), 0);
    vq_state s;
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_avail, 0);
    cr_assert(s.avail_wrap);
    cr_assert_eq(s.next_used, 0);
    cr_assert(s.used_wrap, "used wrap follows avail wrap, not the zero upper half");
    cr_assert_eq(vq_queue_set_vring_base(fx_q, 0x0000u | 17u), 0);
    vq_queue_get_state(fx_q, &s);
    cr_assert_eq(s.next_used, 17);
    cr_assert_not(s.used_wrap);
    cr_assert_eq(vq_queue_vring_base(fx_q), 17u | (17u << 16));
}
