/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* random_rings.c - garbage rings: random descriptors, indices, flags and tables, both layouts.  Nothing may
 * crash, hang or touch memory outside the map (run it under ASan); every call returns one of its documented
 * values, and a broken queue stays broken. */
#include "vq_fixture.h"

TestSuite(random_rings, .fini = fx_teardown, .timeout = 120);

static uint64_t rng;
static unsigned n_popped, n_walked, n_broken; /* the garbage must reach every outcome */
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Addresses that hit mapped memory, region edges, the read-only region, holes and the top of the space. */
static uint64_t rand_addr(void)
{
    static const uint64_t bases[] = {0,      BUF_BASE, TABLE_BASE,      R1_GPA - 8, R1_GPA + R1_SIZE - 16,
                                     RO_GPA, 6 * MIB,  UINT64_MAX - 15, RING_BASE};
    return bases[next_rand() % CVMM_ARRAY_SIZE(bases)] + (next_rand() % 64);
}

static uint32_t rand_len(void)
{
    static const uint32_t lens[] = {0, 1, 16, 17, 32, 4096, 0x10000, 0xffffffffu, 0x80000000u};
    return lens[next_rand() % CVMM_ARRAY_SIZE(lens)] + (uint32_t)(next_rand() % 3);
}

/* Three descriptors in four are plausible (a mapped buffer, NEXT/WRITE, now and then an indirect table, the
 * packed AVAIL bits of the current lap); the rest is garbage. */
static void scribble_table(uint64_t gpa, unsigned n, uint32_t size)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t r = next_rand();
        uint16_t flags;
        uint64_t addr;
        uint32_t len;
        if (r % 4) {
            addr = BUF_BASE + next_rand() % 0x10000;
            len = (uint32_t)(next_rand() % 512);
            flags = (uint16_t)((r & 0x10 ? VQ_DESC_F_NEXT : 0) | (r & 0x20 ? VQ_DESC_F_WRITE : 0) |
                               vq_mock_avail_flags(fx_mk));
            if (r % 16 == 1) {
                addr = TABLE_BASE + (next_rand() % 2) * 0x10000;
                len = 16u * (uint32_t)(1 + next_rand() % 64);
                flags = (uint16_t)(VQ_DESC_F_INDIRECT | vq_mock_avail_flags(fx_mk));
            }
        } else {
            addr = rand_addr();
            len = rand_len();
            flags = (uint16_t)(next_rand() & (VQ_DESC_F_NEXT | VQ_DESC_F_WRITE | VQ_DESC_F_INDIRECT | VQ_DESC_F_AVAIL |
                                              VQ_DESC_F_USED));
        }
        uint16_t nx = (uint16_t)(r % 8 ? (i + 1) % size : next_rand() % (size + 4));
        FX_CHECK(vq_mock_write_table(fx_mk, gpa, i, addr, len, flags, nx) == 0);
    }
}

static void drive(void)
{
    vq_chain c;
    vq_desc_info d;
    bool broke = false;
    for (int round = 0; round < 64; round++) {
        int rc = vq_pop(fx_q, &c);
        FX_CHECK(rc == 1 || rc == 0 || rc == -EIO);
        if (rc == 1) {
            n_popped++;
            static vq_desc_info sd[70000];
            vq_snapshot s;
            int sr = vq_snapshot_take(fx_q, &c, sd, 70000, &s);
            FX_CHECK(sr == 0 || sr == -EIO);
            if (sr == 0) {
                vq_reader r;
                vq_writer w;
                vq_reader_init(&r, &s);
                vq_writer_init(&w, &s);
                uint8_t buf[256];
                int rr = vq_reader_read(&r, buf, next_rand() % sizeof(buf));
                FX_CHECK(rr == 0 || rr == -ENOSPC);
                int wr = vq_writer_write(&w, buf, next_rand() % sizeof(buf));
                FX_CHECK(wr == 0 || wr == -ENOSPC);
                struct iovec iov[4];
                int ir = vq_reader_iovec(&r, iov, 4);
                FX_CHECK(ir >= 0 || ir == -ENOSPC);
            }
            int n = 0;
            uint64_t total = 0;
            while ((rc = vq_chain_next(fx_q, &c, &d)) == 1) {
                FX_CHECK(++n <= 70000);
                total += d.len;
            }
            FX_CHECK(rc == 0 || rc == -EIO);
            /* nobody rewrites this ring: the raw walk agrees with the snapshot */
            FX_CHECK(sr != 0 || (rc == 0 && (uint32_t)n == s.ndesc && total == (uint64_t)s.readable + s.writable));
            n_walked += rc == 0;
            int ur = vq_add_used(fx_q, c.head, (uint32_t)next_rand());
            FX_CHECK(ur == 0 || ur == -EINVAL || ur == -EIO);
            (void)vq_needs_notify(fx_q);
        }
        if (vq_queue_broken(fx_q))
            broke = true;
        if (broke)
            FX_CHECK(vq_pop(fx_q, &c) == -EIO);
        if (next_rand() % 8 == 0) {
            int er = vq_enable_notification(fx_q);
            FX_CHECK(er == 0 || er == 1 || er == -EIO);
        }
    }
}

static void run_seeds(enum vq_layout layout)
{
    for (unsigned seed = 1; seed <= 300; seed++) {
        rng = 0x9e3779b97f4a7c15ull * seed;
        vq_queue_reset(fx_q);
        cr_assert_eq(vq_mock_attach(fx_mk, fx_q), 0);
        scribble_table(fx_desc, 256, 256);
        scribble_table(TABLE_BASE, 64, 64);
        scribble_table(TABLE_BASE + 0x10000, 64, 64);
        if (layout == VQ_LAYOUT_SPLIT) {
            for (unsigned i = 0; i < 256; i++)
                FX_CHECK(vmem_store_le16(fx_map, fx_driver + VQ_SPLIT_AVAIL_RING(i),
                                         (uint16_t)(next_rand() % 8 ? next_rand() % 256 : next_rand())) == 0);
            FX_CHECK(vq_mock_set_avail_idx(fx_mk, (uint16_t)(next_rand() % 8 ? next_rand() % 65 : next_rand())) == 0);
            FX_CHECK(vmem_store_le16(fx_map, fx_driver + VQ_SPLIT_USED_EVENT(256), (uint16_t)next_rand()) == 0);
        } else {
            FX_CHECK(vq_mock_set_driver_event(fx_mk, (uint16_t)(next_rand() % 4), (uint16_t)next_rand(),
                                              next_rand() & 1) == 0);
        }
        drive();
        n_broken += vq_queue_broken(fx_q);
    }
    cr_log_info("%u chains popped, %u walked to the end, %u of 300 rings broken", n_popped, n_walked, n_broken);
    cr_assert_gt(n_popped, 300);
    cr_assert_gt(n_walked, 100);
    cr_assert_gt(n_broken, 100);
    cr_assert_lt(n_broken, 300);
}

Test(random_rings, split_garbage_never_crashes, .init = fx_split_ei) { run_seeds(VQ_LAYOUT_SPLIT); }
Test(random_rings, packed_garbage_never_crashes, .init = fx_packed_ei) { run_seeds(VQ_LAYOUT_PACKED); }
