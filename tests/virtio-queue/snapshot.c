/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* snapshot.c - vq_snapshot_take(): entries of direct and indirect chains in both layouts, the capacity
 * error, argument and state errors, cursors that keep the validated buffers after the guest rewrote its
 * descriptors, and a map change.  (Every chain rule is also checked through the snapshot by the
 * split_chain and packed_chain suites: fx_pop_walk() takes one before each walk.) */
#include "vq_fixture.h"

TestSuite(snapshot, .fini = fx_teardown, .timeout = 120);

static vq_desc_info ents[VQ_SNAPSHOT_BUF_DESCS + 8];

/* Buffers: 3 readable (the middle one empty), 2 writable. */
static const vq_mock_buf five[5] = {
    {BUF_BASE, 100, false},         {BUF_BASE + 0x1000, 0, false}, {R1_GPA + 0x100, 200, false},
    {BUF_BASE + 0x2000, 300, true}, {BUF_BASE + 0x3000, 1, true},
};

static void check_five(const vq_snapshot *s, uint16_t head)
{
    cr_assert_eq(s->head, head);
    cr_assert_eq(s->ndesc, 5);
    cr_assert_eq(s->nread, 3);
    cr_assert_eq(s->readable, 300);
    cr_assert_eq(s->writable, 301);
    for (unsigned i = 0; i < 5; i++) {
        cr_assert_eq(s->desc[i].gpa, five[i].gpa, "entry %u", i);
        cr_assert_eq(s->desc[i].len, five[i].len, "entry %u", i);
        cr_assert_eq(s->desc[i].write, five[i].write, "entry %u", i);
        void *p = NULL;
        if (five[i].len)
            cr_assert_eq(vmem_map_translate(fx_map, five[i].gpa, five[i].len, &p), 0);
        cr_assert_eq(s->desc[i].hva, p, "entry %u: translated (NULL when empty)", i);
    }
}

static void direct(void)
{
    uint16_t head;
    cr_assert_eq(vq_mock_add(fx_mk, five, 5, &head), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot s;
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, 5, &s), 0, "exactly as many entries as descriptors");
    cr_assert_eq(s.desc, ents);
    check_five(&s, head);
    cr_assert_eq(vq_add_used(fx_q, s.head, 0), 0);
    uint32_t len;
    cr_assert_eq(vq_mock_used(fx_mk, &head, &len), 1);
}

Test(snapshot, split_direct_chain_entries_totals_and_head, .init = fx_split) { direct(); }
Test(snapshot, packed_direct_list_entries_totals_and_id, .init = fx_packed) { direct(); }

static void indirect(void)
{
    uint16_t head;
    cr_assert_eq(vq_mock_add_indirect(fx_mk, TABLE_BASE, five, 5, &head), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot_buf b;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &b), 0);
    check_five(&b.snap, head); /* the table's entries; the INDIRECT descriptor is not one */
}

Test(snapshot, split_indirect_table_entries, .init = fx_split) { indirect(); }
Test(snapshot, packed_indirect_table_entries, .init = fx_packed) { indirect(); }

Test(snapshot, split_direct_descriptor_then_indirect_table, .init = fx_split)
{
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 0, BUF_BASE + 64, 8, VQ_DESC_F_NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_table(fx_mk, TABLE_BASE, 1, BUF_BASE + 128, 16, VQ_DESC_F_WRITE, 0), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 4, VQ_DESC_F_NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, TABLE_BASE, 32, VQ_DESC_F_INDIRECT, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot s;
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, 8, &s), 0);
    cr_assert_eq(s.ndesc, 3);
    cr_assert_eq(s.nread, 2);
    cr_assert_eq(s.desc[0].gpa, BUF_BASE);
    cr_assert_eq(s.desc[1].gpa, BUF_BASE + 64);
    cr_assert_eq(s.desc[2].gpa, BUF_BASE + 128);
    cr_assert_eq(s.readable, 12);
    cr_assert_eq(s.writable, 16);
}

/* One descriptor more than fits: -ENOSPC, the queue is not broken and nothing is logged, the chain is
 * unchanged, so a larger array then takes it. */
static void overflow(void)
{
    enum { N = VQ_SNAPSHOT_BUF_DESCS + 1 };
    vq_mock_buf b[N];
    for (unsigned i = 0; i < N; i++)
        b[i] = (vq_mock_buf){BUF_BASE + 64ull * i, 64, i >= N - 2};
    cr_assert_eq(vq_mock_add(fx_mk, b, N, NULL), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_chain before = c;
    int lines = fx_log_lines;
    vq_snapshot_buf sb;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), -ENOSPC);
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, N - 1, &sb.snap), -ENOSPC);
    cr_assert_eq(vq_snapshot_take(fx_q, &c, NULL, 0, &sb.snap), -ENOSPC, "a chain has at least one descriptor");
    cr_assert_not(vq_queue_broken(fx_q));
    cr_assert_eq(fx_log_lines, lines, "a capacity limit is the caller's, not a ring violation: no log");
    cr_assert_eq(memcmp(&c, &before, sizeof(c)), 0, "the chain is not walked");
    vq_snapshot s;
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, N, &s), 0);
    cr_assert_eq(s.ndesc, N);
    cr_assert_eq(s.nread, N - 2);
    cr_assert_eq(s.writable, 128);
    cr_assert_eq(vq_add_used(fx_q, c.head, 0), 0, "the queue goes on");
}

Test(snapshot, split_more_descriptors_than_room_is_enospc_and_retryable, .init = fx_split) { overflow(); }
Test(snapshot, packed_more_descriptors_than_room_is_enospc_and_retryable, .init = fx_packed) { overflow(); }

Test(snapshot, null_storage_with_room_is_einval, .init = fx_split)
{
    fx_add(1, 64, 0, 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot s;
    cr_assert_eq(vq_snapshot_take(fx_q, &c, NULL, 4, &s), -EINVAL);
    cr_assert_not(vq_queue_broken(fx_q));
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, 4, &s), 0);
}

Test(snapshot, stopped_queue_is_eproto, .init = fx_split)
{
    fx_add(1, 64, 0, 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    cr_assert_eq(vq_queue_set_ready(fx_q, false), 0);
    vq_snapshot s;
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, 4, &s), -EPROTO);
    cr_assert_not(vq_queue_broken(fx_q));
}

Test(snapshot, malformed_chain_breaks_the_queue_once, .init = fx_split)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 8, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, BUF_BASE, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot s;
    int lines = fx_log_lines;
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, 8, &s), -EIO, "readable after writable");
    cr_assert(vq_queue_broken(fx_q));
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, 8, &s), -EIO);
    cr_assert_eq(fx_log_lines, lines + 1, "logged once");
}

/* The guest rewrites every descriptor of the chain after the snapshot (longer, elsewhere, other flags, a
 * loop): totals, iovecs and the bytes moved stay those of the snapshot. */
static void rewritten(bool packed)
{
    vq_mock_buf b[3] = {{BUF_BASE, 512, false}, {BUF_BASE + 0x1000, 512, false}, {BUF_BASE + 0x2000, 64, true}};
    uint8_t *p;
    cr_assert_eq(vmem_map_translate(fx_map, BUF_BASE, 0x3000, (void **)&p), 0);
    for (unsigned i = 0; i < 0x3000; i++)
        p[i] = (uint8_t)(i * 7);
    uint16_t pos = vq_mock_avail_idx(fx_mk);
    cr_assert_eq(vq_mock_add(fx_mk, b, 3, NULL), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot_buf sb;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    for (unsigned i = 0; i < 3; i++) { /* the mock put them at 0, 1, 2 (split) or pos.. (packed) */
        uint32_t at = packed ? (pos + i) % 256u : i;
        uint64_t addr;
        cr_assert_eq(vmem_load_le64(fx_map, vq_mock_desc_gpa(fx_mk, at), &addr), 0);
        cr_assert_eq(addr, b[i].gpa, "descriptor %u of the chain is at %u", i, at);
        uint16_t f =
            packed ? (uint16_t)(vq_mock_avail_flags(fx_mk) | VQ_DESC_F_WRITE) : VQ_DESC_F_NEXT | VQ_DESC_F_WRITE;
        cr_assert_eq(vq_mock_write_desc(fx_mk, at, BUF_BASE + 0x8000, 0x40000, f, (uint16_t)(packed ? 0 : i)), 0);
    }
    cr_assert_eq(vq_mock_desc_gpa(fx_mk, 256), UINT64_MAX, "past the ring");
    vq_reader r;
    vq_writer w;
    vq_reader_init(&r, &sb.snap);
    vq_writer_init(&w, &sb.snap);
    cr_assert_eq(vq_reader_bytes_left(&r), 1024);
    cr_assert_eq(vq_writer_bytes_left(&w), 64);
    struct iovec iov[4];
    cr_assert_eq(vq_reader_iovec(&r, iov, 4), 2);
    cr_assert_eq(iov[0].iov_base, p);
    cr_assert_eq(iov[0].iov_len, 512);
    cr_assert_eq(iov[1].iov_base, p + 0x1000);
    cr_assert_eq(iov[1].iov_len, 512);
    static uint8_t buf[1024];
    cr_assert_eq(vq_reader_read(&r, buf, 1024), 0);
    cr_assert_eq(memcmp(buf, p, 512), 0);
    cr_assert_eq(memcmp(buf + 512, p + 0x1000, 512), 0);
    cr_assert_eq(vq_reader_read(&r, buf, 1), -ENOSPC);
    memset(buf, 0xee, 65);
    cr_assert_eq(vq_writer_write(&w, buf, 65), -ENOSPC);
    cr_assert_eq(vq_writer_write(&w, buf, 64), 0);
    cr_assert_eq(p[0x2000 + 63], 0xee);
    cr_assert_eq(p[0x2000 + 64], (uint8_t)((0x2000 + 64) * 7), "nothing past the validated buffer");
    cr_assert_eq(vq_writer_iovec(&w, iov, 4), 0);
    cr_assert_not(vq_queue_broken(fx_q));
}

Test(snapshot, split_cursors_ignore_descriptors_rewritten_after_it, .init = fx_split) { rewritten(false); }
Test(snapshot, packed_cursors_ignore_descriptors_rewritten_after_it, .init = fx_packed) { rewritten(true); }

Test(snapshot, cursors_translate_validated_buffers_again_after_a_map_change, .init = fx_split)
{
    fx_add(2, 64, 1, 0); /* one readable, one writable buffer of 64 bytes */
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot_buf sb;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    vmem_map *copy;
    cr_assert_eq(vmem_map_new(fx_reg, 3, NULL, &fx_log, &copy), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, copy), 0);
    vq_reader r;
    vq_writer w;
    vq_reader_init(&r, &sb.snap);
    vq_writer_init(&w, &sb.snap);
    void *want;
    cr_assert_eq(vmem_map_translate(copy, BUF_BASE + 64, 64, &want), 0);
    struct iovec iov[2];
    cr_assert_eq(vq_writer_iovec(&w, iov, 2), 1);
    cr_assert_eq(iov[0].iov_base, want, "the new map's address, not the snapshot's");
    uint8_t x = 0x42;
    cr_assert_eq(vq_writer_write(&w, &x, 1), 0);
    cr_assert_eq(*(uint8_t *)want, 0x42);
    uint8_t buf[64];
    cr_assert_eq(vq_reader_read(&r, buf, 64), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    vmem_map_free(copy);
}

/* A split chain fresh from the pop is rebuilt by the snapshot, not copied: it must walk the table of the
 * map set after the pop, as the copied chain did (it re-translated its table). */
Test(snapshot, split_chain_popped_before_a_map_change_is_read_through_the_new_map, .init = fx_split)
{
    uint16_t head;
    cr_assert_eq(vq_mock_add(fx_mk, five, 5, &head), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vmem_map *copy;
    cr_assert_eq(vmem_map_new(fx_reg, 3, NULL, &fx_log, &copy), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, copy), 0);
    vq_snapshot s;
    cr_assert_eq(vq_snapshot_take(fx_q, &c, ents, 5, &s), 0);
    cr_assert_eq(s.head, head);
    cr_assert_eq(s.ndesc, 5);
    for (unsigned i = 0; i < 5; i++) {
        void *p = NULL;
        if (five[i].len)
            cr_assert_eq(vmem_map_translate(copy, five[i].gpa, five[i].len, &p), 0);
        cr_assert_eq(s.desc[i].hva, p, "entry %u: the new map's address", i);
    }
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    vmem_map_free(copy);
}

Test(snapshot, a_buffer_gone_from_the_new_map_breaks_the_queue, .init = fx_split)
{
    vq_mock_buf b[2] = {{R1_GPA + 0x100, 64, false}, {R1_GPA + 0x1000, 64, true}}; /* both in region 1 */
    cr_assert_eq(vq_mock_add(fx_mk, b, 2, NULL), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot_buf sb;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    vmem_region *keep[2] = {fx_reg[0], fx_reg[2]};
    vmem_map *smaller;
    cr_assert_eq(vmem_map_new(keep, 2, NULL, &fx_log, &smaller), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, smaller), 0, "the rings are in region 0, still there");
    vq_reader r;
    vq_writer w;
    vq_reader_init(&r, &sb.snap);
    vq_writer_init(&w, &sb.snap);
    int lines = fx_log_lines;
    struct iovec iov[2];
    cr_assert_eq(vq_writer_iovec(&w, iov, 2), -EIO, "the validated buffer is not in guest memory any more");
    cr_assert(vq_queue_broken(fx_q));
    cr_assert_eq(fx_log_lines, lines + 1);
    uint8_t buf[8];
    cr_assert_eq(vq_reader_read(&r, buf, 8), -EIO);
    cr_assert_eq(vq_reader_bytes_left(&r), 64, "nothing moved");
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    vmem_map_free(smaller);
}

Test(snapshot, a_move_across_buffers_after_a_map_change_uses_the_new_map, .init = fx_split)
{
    vq_mock_buf b[2] = {{BUF_BASE, 8, false}, {R1_GPA + 0x100, 8, false}};
    cr_assert_eq(vq_mock_add(fx_mk, b, 2, NULL), 0);
    uint8_t want[16];
    for (unsigned i = 0; i < 16; i++)
        want[i] = (uint8_t)(0xa0 + i);
    cr_assert_eq(vmem_write(fx_map, BUF_BASE, want, 8), 0);
    cr_assert_eq(vmem_write(fx_map, R1_GPA + 0x100, want + 8, 8), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot_buf sb;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &sb), 0);
    vq_reader r;
    vq_reader_init(&r, &sb.snap);
    uint8_t got[16];
    cr_assert_eq(vq_reader_read(&r, got, 4), 0);
    vmem_map *copy;
    cr_assert_eq(vmem_map_new(fx_reg, 3, NULL, &fx_log, &copy), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, copy), 0);
    cr_assert_eq(vq_reader_read(&r, got + 4, 12), 0, "the rest of one buffer and the next, re-translated");
    cr_assert_eq(memcmp(got, want, 16), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    vmem_map_free(copy);
}
