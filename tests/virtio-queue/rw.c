/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* rw.c - Reader and Writer cursors: boundaries, objects across descriptors, split, iovec, errors. */
#include "vq_fixture.h"

TestSuite(rw, .fini = fx_teardown, .timeout = 120);

static uint8_t pattern(uint64_t gpa) { return (uint8_t)(gpa * 7 + (gpa >> 8)); }

static void fill_pattern(uint64_t gpa, uint64_t len)
{
    uint8_t buf[4096];
    for (uint64_t off = 0; off < len; off += sizeof(buf)) {
        uint64_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
        for (uint64_t i = 0; i < n; i++)
            buf[i] = pattern(gpa + off + i);
        cr_assert_eq(vmem_write(fx_map, gpa + off, buf, n), 0);
    }
}

/* A chain: readable buffers of @rl[] bytes then writable ones of @wl[] bytes, laid out back to back. */
static void add_chain(const uint32_t *rl, unsigned nr, const uint32_t *wl, unsigned nw, vq_chain *c)
{
    vq_mock_buf b[16];
    uint64_t at = BUF_BASE;
    for (unsigned i = 0; i < nr + nw; i++) {
        b[i].len = i < nr ? rl[i] : wl[i - nr];
        b[i].gpa = at;
        b[i].write = i >= nr;
        at += b[i].len + 16; /* a gap so that pieces are not contiguous */
    }
    fill_pattern(BUF_BASE, at - BUF_BASE);
    cr_assert_eq(vq_mock_add(fx_mk, b, nr + nw, NULL), 0);
    cr_assert_eq(vq_pop(fx_q, c), 1);
}

static vq_snapshot_buf fx_sb;

/* The snapshot of @c (taken again at each call; the chain is not changed by it). */
static const vq_snapshot *snap(const vq_chain *c)
{
    cr_assert_eq(vq_snapshot_take_buf(fx_q, c, &fx_sb), 0);
    return &fx_sb.snap;
}

static void reader_basics(void)
{
    uint32_t rl[4] = {1024, 1024, 1024, 1024}, wl[1] = {64};
    vq_chain c;
    add_chain(rl, 4, wl, 1, &c);
    vq_reader r;
    vq_reader_init(&r, snap(&c));
    uint64_t left;
    left = vq_reader_bytes_left(&r);
    cr_assert_eq(left, 4096, "the writable part is not readable");
    static uint8_t buf[4096];
    cr_assert_eq(vq_reader_read(&r, buf, 4096), 0);
    for (unsigned i = 0; i < 4096; i++) {
        uint64_t gpa = BUF_BASE + (i / 1024) * (1024 + 16) + i % 1024;
        FX_CHECK(buf[i] == pattern(gpa));
    }
    cr_assert_eq(vq_reader_bytes_read(&r), 4096);
    left = vq_reader_bytes_left(&r);
    cr_assert_eq(left, 0);
    cr_assert_eq(vq_reader_read(&r, buf, 1), -ENOSPC);
    cr_assert_eq(vq_reader_read(&r, buf, 0), 0);
}

Test(rw, split_reader_reads_across_descriptors, .init = fx_split) { reader_basics(); }
Test(rw, packed_reader_reads_across_descriptors, .init = fx_packed) { reader_basics(); }

static void objects_across_boundaries(void)
{
    uint32_t rl[4] = {3, 5, 1, 9};
    vq_chain c;
    add_chain(rl, 4, NULL, 0, &c);
    vq_reader r;
    vq_reader_init(&r, snap(&c));
    uint8_t b0;
    cr_assert_eq(vq_reader_read(&r, &b0, 1), 0);
    uint32_t v32;
    cr_assert_eq(vq_reader_read_le32(&r, &v32), 0); /* bytes 1,2 | 3,4 of the second buffer */
    uint64_t d1 = BUF_BASE + 3 + 16;
    uint32_t want = pattern(BUF_BASE + 1) | (uint32_t)pattern(BUF_BASE + 2) << 8 | (uint32_t)pattern(d1) << 16 |
                    (uint32_t)pattern(d1 + 1) << 24;
    cr_assert_eq(v32, want);
    uint16_t v16;
    cr_assert_eq(vq_reader_read_le16(&r, &v16), 0);
    cr_assert_eq(v16, pattern(d1 + 2) | pattern(d1 + 3) << 8);
    uint64_t v64;
    cr_assert_eq(vq_reader_read_le64(&r, &v64), 0); /* 1 byte of d1, the 1-byte d2, 6 of d3 */
    uint64_t d2 = d1 + 5 + 16, d3 = d2 + 1 + 16;
    uint8_t exp[8] = {pattern(d1 + 4), pattern(d2),     pattern(d3),     pattern(d3 + 1),
                      pattern(d3 + 2), pattern(d3 + 3), pattern(d3 + 4), pattern(d3 + 5)};
    uint64_t w64 = 0;
    for (int i = 7; i >= 0; i--)
        w64 = w64 << 8 | exp[i];
    cr_assert_eq(v64, w64);
    uint64_t left;
    left = vq_reader_bytes_left(&r);
    cr_assert_eq(left, 3);
    cr_assert_eq(vq_reader_read_le64(&r, &v64), -ENOSPC);
    cr_assert_eq(vq_reader_bytes_read(&r), 15, "a failed read consumes nothing");
    cr_assert_eq(vq_reader_read_le16(&r, &v16), 0);
    cr_assert_eq(v16, pattern(d3 + 6) | pattern(d3 + 7) << 8);
}

Test(rw, split_objects_cross_descriptor_boundaries, .init = fx_split) { objects_across_boundaries(); }
Test(rw, packed_objects_cross_descriptor_boundaries, .init = fx_packed) { objects_across_boundaries(); }

Test(rw, reader_skip_and_split_at, .init = fx_split)
{
    uint32_t rl[3] = {16, 100, 100}, wl[1] = {1};
    vq_chain c;
    add_chain(rl, 3, wl, 1, &c);
    vq_reader r, data;
    vq_reader_init(&r, snap(&c));
    cr_assert_eq(vq_reader_split_at(&r, 217, &data), -ENOSPC);
    cr_assert_eq(vq_reader_split_at(&r, 16, &data), 0);
    uint64_t left;
    left = vq_reader_bytes_left(&r);
    cr_assert_eq(left, 16, "the head keeps the first 16 bytes");
    left = vq_reader_bytes_left(&data);
    cr_assert_eq(left, 200);
    uint8_t hdr[17];
    cr_assert_eq(vq_reader_read(&r, hdr, 17), -ENOSPC);
    cr_assert_eq(vq_reader_read(&r, hdr, 16), 0);
    cr_assert_eq(hdr[0], pattern(BUF_BASE));
    cr_assert_eq(vq_reader_skip(&data, 150), 0);
    uint8_t x;
    cr_assert_eq(vq_reader_read(&data, &x, 1), 0);
    cr_assert_eq(x, pattern(BUF_BASE + 16 + 16 + 100 + 16 + 50));
    cr_assert_eq(vq_reader_skip(&data, 50), -ENOSPC);
    cr_assert_eq(vq_reader_skip(&data, 49), 0);
}

Test(rw, reader_iovec_export, .init = fx_packed)
{
    uint32_t rl[3] = {10, 20, 30};
    vq_chain c;
    add_chain(rl, 3, NULL, 0, &c);
    vq_reader r, tail;
    vq_reader_init(&r, snap(&c));
    cr_assert_eq(vq_reader_skip(&r, 5), 0);
    struct iovec iov[3];
    cr_assert_eq(vq_reader_iovec(&r, iov, 2), -ENOSPC);
    cr_assert_eq(vq_reader_iovec(&r, iov, 3), 3);
    uint8_t *base = vmem_region_hva(fx_reg[0]);
    cr_assert_eq(iov[0].iov_base, base + BUF_BASE + 5);
    cr_assert_eq(iov[0].iov_len, 5);
    cr_assert_eq(iov[1].iov_len, 20);
    cr_assert_eq(iov[2].iov_len, 30);
    cr_assert_eq(vq_reader_split_at(&r, 15, &tail), 0);
    cr_assert_eq(vq_reader_iovec(&r, iov, 3), 2, "the limit ends the export");
    cr_assert_eq(iov[1].iov_len, 10);
    cr_assert_eq(vq_reader_iovec(&tail, iov, 3), 2);
    cr_assert_eq(iov[0].iov_len, 10);
    cr_assert_eq(vq_reader_skip(&r, 15), 0);
    cr_assert_eq(vq_reader_iovec(&r, iov, 3), 0);
}

static void writer_basics(void)
{
    uint32_t rl[1] = {16}, wl[3] = {5, 0, 11};
    vq_chain c;
    add_chain(rl, 1, wl, 3, &c);
    uint64_t w0 = BUF_BASE + 16 + 16, w2 = w0 + 5 + 16 + 16;
    cr_assert_eq(vmem_write(fx_map, w0, (uint8_t[5]){0}, 5), 0);
    cr_assert_eq(vmem_write(fx_map, w2, (uint8_t[11]){0}, 11), 0);
    vq_writer w;
    vq_writer_init(&w, snap(&c));
    uint64_t left;
    left = vq_writer_bytes_left(&w);
    cr_assert_eq(left, 16);
    uint8_t big[17];
    memset(big, 0xee, sizeof(big));
    cr_assert_eq(vq_writer_write(&w, big, 17), -ENOSPC);
    uint8_t g[11];
    cr_assert_eq(vmem_read(fx_map, w2, g, 11), 0);
    cr_assert_eq(g[0], 0, "a refused write leaves guest memory alone");
    cr_assert_eq(vq_writer_write_le32(&w, 0x11223344), 0);
    cr_assert_eq(vq_writer_write_le16(&w, 0x5566), 0); /* 1 byte in w0, 1 in w2 */
    cr_assert_eq(vq_writer_write_le64(&w, 0x0102030405060708ull), 0);
    cr_assert_eq(vq_writer_bytes_written(&w), 14);
    uint8_t a[5];
    cr_assert_eq(vmem_read(fx_map, w0, a, 5), 0);
    cr_assert_eq(a[0], 0x44);
    cr_assert_eq(a[3], 0x11);
    cr_assert_eq(a[4], 0x66);
    cr_assert_eq(vmem_read(fx_map, w2, g, 11), 0);
    cr_assert_eq(g[0], 0x55);
    cr_assert_eq(g[1], 0x08);
    cr_assert_eq(g[8], 0x01);
    struct iovec iov[2];
    cr_assert_eq(vq_writer_iovec(&w, iov, 2), 1);
    cr_assert_eq(iov[0].iov_len, 2);
    memset(iov[0].iov_base, 0x77, 2);
    cr_assert_eq(vq_writer_advance(&w, 3), -ENOSPC);
    cr_assert_eq(vq_writer_advance(&w, 2), 0);
    cr_assert_eq(vq_writer_bytes_written(&w), 16);
    cr_assert_eq(vq_add_used(fx_q, c.head, (uint32_t)vq_writer_bytes_written(&w)), 0);
    uint16_t h;
    uint32_t l;
    cr_assert_eq(vq_mock_used(fx_mk, &h, &l), 1);
    cr_assert_eq(l, 16);
}

Test(rw, split_writer_skips_readable_part_and_counts, .init = fx_split) { writer_basics(); }
Test(rw, packed_writer_skips_readable_part_and_counts, .init = fx_packed) { writer_basics(); }

Test(rw, writer_split_at_for_status_byte, .init = fx_split)
{
    uint32_t rl[1] = {16}, wl[2] = {512, 1};
    vq_chain c;
    add_chain(rl, 1, wl, 2, &c);
    vq_writer data, status;
    vq_writer_init(&data, snap(&c));
    uint64_t left;
    left = vq_writer_bytes_left(&data);
    cr_assert_eq(vq_writer_split_at(&data, left - 1, &status), 0);
    cr_assert_eq(vq_writer_write(&data, (uint8_t[512]){1}, 512), 0);
    cr_assert_eq(vq_writer_write(&data, "x", 1), -ENOSPC);
    cr_assert_eq(vq_writer_write(&status, "\0", 1), 0);
    cr_assert_eq(vq_writer_bytes_written(&data) + vq_writer_bytes_written(&status), 513);
}

Test(rw, malformed_chain_breaks_queue_at_snapshot, .init = fx_split)
{
    cr_assert_eq(vq_mock_write_desc(fx_mk, 0, BUF_BASE, 8, VQ_DESC_F_NEXT, 1), 0);
    cr_assert_eq(vq_mock_write_desc(fx_mk, 1, 6 * MIB, 8, 0, 0), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 0), 0);
    vq_chain c;
    cr_assert_eq(vq_pop(fx_q, &c), 1);
    vq_snapshot_buf b;
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &b), -EIO, "the second buffer is outside guest memory");
    cr_assert(vq_queue_broken(fx_q));
    cr_assert_eq(vq_snapshot_take_buf(fx_q, &c, &b), -EIO);
}

Test(rw, cursor_of_a_queue_broken_later_returns_eio, .init = fx_split)
{
    uint32_t rl[2] = {64, 64}, wl[1] = {64};
    vq_chain c;
    add_chain(rl, 2, wl, 1, &c);
    vq_reader r;
    vq_writer w;
    vq_reader_init(&r, snap(&c));
    vq_writer_init(&w, snap(&c));
    uint8_t buf[16];
    cr_assert_eq(vq_reader_read(&r, buf, 4), 0);
    cr_assert_eq(vq_mock_publish_head(fx_mk, 1000), 0); /* head out of range: the next pop breaks it */
    cr_assert_eq(vq_pop(fx_q, &c), -EIO);
    cr_assert_eq(vq_reader_read(&r, buf, 1), -EIO);
    cr_assert_eq(vq_writer_write(&w, buf, 1), -EIO);
    struct iovec iov[4];
    cr_assert_eq(vq_reader_iovec(&r, iov, 4), -EIO);
    cr_assert_eq(vq_reader_bytes_left(&r), 124, "the totals are the snapshot's");
}

Test(rw, reader_survives_map_swap, .init = fx_split)
{
    uint32_t rl[2] = {64, 64};
    vq_chain c;
    add_chain(rl, 2, NULL, 0, &c);
    vq_reader r;
    vq_reader_init(&r, snap(&c));
    uint8_t buf[64];
    cr_assert_eq(vq_reader_read(&r, buf, 32), 0);
    vmem_map *copy;
    cr_assert_eq(vmem_map_new(fx_reg, 3, NULL, &fx_log, &copy), 0);
    cr_assert_eq(vq_queue_set_map(fx_q, copy), 0);
    cr_assert_eq(vq_reader_read(&r, buf, 64), 0);
    cr_assert_eq(buf[0], pattern(BUF_BASE + 32));
    cr_assert_eq(buf[32], pattern(BUF_BASE + 64 + 16));
    cr_assert_eq(vq_queue_set_map(fx_q, fx_map), 0);
    vmem_map_free(copy);
}

Test(rw, zero_byte_moves_on_a_fresh_cursor, .init = fx_split)
{
    uint32_t rl[1] = {8}, wl[1] = {8};
    vq_chain c;
    add_chain(rl, 1, wl, 1, &c);
    vq_reader r;
    vq_writer w;
    vq_reader_init(&r, snap(&c));
    vq_writer_init(&w, snap(&c));
    uint8_t b[1];
    cr_assert_eq(vq_reader_read(&r, b, 0), 0, "no segment loaded yet: nothing is copied");
    cr_assert_eq(vq_writer_write(&w, b, 0), 0);
    cr_assert_eq(vq_reader_skip(&r, 0), 0);
    cr_assert_eq(vq_writer_advance(&w, 0), 0);
    cr_assert_eq(vq_reader_bytes_read(&r), 0);
    cr_assert_eq(vq_writer_bytes_written(&w), 0);
}
