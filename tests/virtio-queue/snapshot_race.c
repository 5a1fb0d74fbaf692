/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* snapshot_race.c - a hostile guest vCPU rewrites a chain's descriptors (len, addr, flags, next; ring and
 * indirect table) in a loop while the device snapshots the chain and reads, writes and exports iovecs
 * through Reader/Writer.  Whatever the guest does, every byte the device reads or writes lies in the
 * buffers the snapshot validated, the data are those buffers' bytes in chain order, and the totals never
 * change after the snapshot.  (On the lazy Reader/Writer of before, which walked the descriptors again on
 * every call, the totals and the data change under the device and this suite fails.)
 *
 * Not for ThreadSanitizer: the guest thread stores into the descriptor table with atomics, but the device
 * reads guest memory with plain memcpy, as it must (guest memory is shared with an untrusted writer that
 * no C memory model covers); TSan would report exactly the race this test makes on purpose.  The TSan
 * build therefore does not build it (tests/virtio-queue/CMakeLists.txt). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "cvmm/vmem/atomic.h"
#include "vq_fixture.h"

#define AREA (128u * 1024u) /* buffers live in [BUF_BASE, BUF_BASE + AREA) */
#define MAXLEN 16384u       /* lengths the guest writes */
#define HOLE (6 * MIB)      /* unmapped: a buffer here breaks the queue */
#define ROUNDS 800u
#define NDESC 4u

static uint8_t pat(uint64_t gpa) { return (uint8_t)(((gpa ^ (gpa >> 8) ^ (gpa >> 16)) * 31u + 7u) & 0xff); }
static uint8_t wpat(uint64_t i) { return (uint8_t)((i * 13u + 0x5bu) & 0xff); }

/* ---- the guest's second vCPU ---- */

static struct {
    atomic_uint req;            /* odd: rewrite descriptors; even: park; QUIT: end */
    atomic_uint ack;            /* last even request the mutator parked for */
    uint8_t *target[NDESC + 1]; /* host addresses of the descriptors to rewrite (set while parked) */
    unsigned ntarget;
    int table_ptr; /* index in target[] of the ring descriptor pointing at the indirect table, or -1 */
    bool packed;
    bool any; /* this round: flags and next too (most rounds rewrite only len and addr, which never
                    * break the ring, so that most requests get through to Reader/Writer) */
    uint64_t rng;
    atomic_ulong writes;
} M;
#define QUIT 0xffffffffu

static uint64_t mrand(void)
{
    M.rng ^= M.rng << 13;
    M.rng ^= M.rng >> 7;
    M.rng ^= M.rng << 17;
    return M.rng;
}

static void mutate_once(void)
{
    uint64_t r = mrand();
    unsigned t = (unsigned)(r % M.ntarget);
    uint8_t *d = M.target[t];
    unsigned what = (unsigned)(r >> 8) % 20;
    if (!M.any)
        what %= 16;
    if ((int)t == M.table_ptr)
        what = 0;    /* only its length: with another address or without INDIRECT, data bytes would be read as
                   * descriptors or the table would become a buffer, both outside this test's pattern area */
    if (what < 10) { /* len: 0..16 KiB (a table: mostly whole entries, 1..8 of them) */
        uint32_t len = (uint32_t)((r >> 16) % (MAXLEN + 1));
        if ((int)t == M.table_ptr && !M.any)
            len = 16u * (1u + len % 8u);
        vmem_hva_store_relaxed_le32(d + 8, len);
    } else if (what < 16) { /* addr: inside the buffer area, now and then into the hole */
        uint64_t a = M.any && (r >> 20) % 64 == 0 ? HOLE : BUF_BASE + (r >> 24) % (AREA - MAXLEN);
        vmem_hva_store_relaxed_le64(d, a);
    } else if (what < 18) { /* flags: NEXT / WRITE / INDIRECT (packed keeps its AVAIL/USED bits) */
        uint16_t keep = M.packed ? (uint16_t)(vmem_hva_load_relaxed_le16(d + 14) & 0x8080u) : 0;
        vmem_hva_store_relaxed_le16(d + (M.packed ? 14 : 12), (uint16_t)(keep | ((r >> 32) & 7u)));
    } else { /* next (split) / id (packed) */
        vmem_hva_store_relaxed_le16(d + (M.packed ? 12 : 14), (uint16_t)((r >> 40) % 8));
    }
    atomic_fetch_add_explicit(&M.writes, 1, memory_order_relaxed);
}

static void *mutator(void *arg)
{
    (void)arg;
    for (;;) {
        unsigned r = atomic_load(&M.req);
        if (r == QUIT)
            return NULL;
        if (r & 1) {
            mutate_once();
            continue;
        }
        atomic_store(&M.ack, r); /* seq_cst: every rewrite above happens before the device sees the ack */
        sched_yield();
    }
}

static unsigned req_no;
static pthread_t mth;

/* Requests: req_no is even while parked; go makes it odd, park makes it even and waits for the ack. */
static void mutator_go(void)
{
    req_no++;
    atomic_store(&M.req, req_no);
}

static void mutator_park(void)
{
    req_no++;
    atomic_store(&M.req, req_no);
    for (unsigned long spins = 0; atomic_load(&M.ack) != req_no; spins++) {
        FX_CHECK(spins < 100000000ul); /* generous: a mutator that never parks is a hang */
        sched_yield();
    }
}

static void race_init(bool packed)
{
    memset(&M, 0, sizeof(M));
    M.packed = packed;
    M.rng = 0x9e3779b97f4a7c15ull;
    req_no = 0;
    atomic_store(&M.req, 0);
    atomic_store(&M.ack, 0);
    cr_assert_eq(pthread_create(&mth, NULL, mutator, NULL), 0);
}

static void race_fini(void)
{
    atomic_store(&M.req, QUIT);
    pthread_join(mth, NULL);
    fx_teardown();
}

/* ---- the driver side (raw descriptors, so that the test knows where they are) ---- */

static uint8_t *hva(uint64_t gpa, uint64_t len)
{
    void *p;
    FX_CHECK(vmem_map_translate(fx_map, gpa, len, &p) == 0);
    return p;
}

/* Lay out a chain of NDESC buffers (2 readable, 2 writable) at random places in the area, direct or
 * through an indirect table, make it available, and point the mutator at its descriptors. */
static void publish(bool packed, bool indirect, uint64_t seed)
{
    uint64_t gpa[NDESC];
    uint32_t len[NDESC];
    for (unsigned i = 0; i < NDESC; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        len[i] = (uint32_t)(1 + (seed >> 33) % 4096);
        gpa[i] = BUF_BASE + (seed >> 20) % (AREA - MAXLEN); /* room for any length the guest sets later */
    }
    M.ntarget = 0;
    M.table_ptr = -1;
    M.any = seed % 8 == 0;
    if (indirect) {
        for (unsigned i = 0; i < NDESC; i++) {
            uint16_t f = (uint16_t)((i >= 2 ? VQ_DESC_F_WRITE : 0) | (!packed && i + 1 < NDESC ? VQ_DESC_F_NEXT : 0));
            FX_CHECK(vq_mock_write_table(fx_mk, TABLE_BASE, i, gpa[i], len[i], f, (uint16_t)(i + 1)) == 0);
            M.target[M.ntarget++] = hva(TABLE_BASE + 16ull * i, 16);
        }
    }
    if (!packed) {
        if (indirect) {
            FX_CHECK(vq_mock_write_desc(fx_mk, 0, TABLE_BASE, 16 * NDESC, VQ_DESC_F_INDIRECT, 0) == 0);
            M.table_ptr = (int)M.ntarget;
            M.target[M.ntarget++] = hva(vq_mock_desc_gpa(fx_mk, 0), 16);
        } else {
            for (unsigned i = 0; i < NDESC; i++) {
                uint16_t f = (uint16_t)((i >= 2 ? VQ_DESC_F_WRITE : 0) | (i + 1 < NDESC ? VQ_DESC_F_NEXT : 0));
                FX_CHECK(vq_mock_write_desc(fx_mk, i, gpa[i], len[i], f, (uint16_t)(i + 1)) == 0);
                M.target[M.ntarget++] = hva(vq_mock_desc_gpa(fx_mk, i), 16);
            }
        }
        FX_CHECK(vq_mock_publish_head(fx_mk, 0) == 0);
        return;
    }
    /* packed: descriptors at the driver's position, the first one's flags (AVAIL/USED) written last */
    uint32_t pos = vq_mock_avail_idx(fx_mk), size = vq_queue_size(fx_q);
    bool wrap = vq_mock_avail_wrap(fx_mk);
    unsigned n = indirect ? 1 : NDESC;
    for (unsigned k = n; k-- > 0;) {
        uint32_t p = (pos + k) % size;
        bool w = (pos + k >= size) ? !wrap : wrap;
        uint16_t av = (uint16_t)(w ? (1u << 7) : (1u << 15));
        uint16_t f = indirect ? VQ_DESC_F_INDIRECT
                              : (uint16_t)((k >= 2 ? VQ_DESC_F_WRITE : 0) | (k + 1 < n ? VQ_DESC_F_NEXT : 0));
        uint64_t a = indirect ? TABLE_BASE : gpa[k];
        uint32_t l = indirect ? 16 * NDESC : len[k];
        FX_CHECK(vq_mock_write_desc(fx_mk, p, a, l, (uint16_t)(f | av), 0) == 0);
        if (indirect)
            M.table_ptr = (int)M.ntarget;
        M.target[M.ntarget++] = hva(vq_mock_desc_gpa(fx_mk, p), 16);
    }
    FX_CHECK(vq_mock_advance(fx_mk, n) == 0);
}

/* ---- the device side ---- */

#define SCAP 2048u /* a table of up to MAXLEN / 16 entries and the ring descriptors */
static vq_desc_info sdesc[SCAP];
static uint8_t rbuf[NDESC * (MAXLEN + 1)], wbuf[NDESC * (MAXLEN + 1)];

/* Does [p, p+len) lie inside entry @d? */
static bool inside(const vq_desc_info *d, const void *p, size_t len)
{
    const uint8_t *b = d->hva, *x = p;
    return d->len && x >= b && len <= d->len && (size_t)(x - b) <= d->len - len;
}

/* The iovecs of a cursor are the snapshot's entries of that part, in order, whole. */
static void check_iovecs(const struct iovec *iov, int n, const vq_snapshot *s, bool write, uint64_t total)
{
    unsigned first = write ? s->nread : 0, end = write ? s->ndesc : s->nread, k = 0;
    uint64_t sum = 0;
    for (unsigned i = first; i < end; i++) {
        if (s->desc[i].len == 0)
            continue;
        FX_CHECK((int)k < n);
        FX_CHECK(iov[k].iov_base == s->desc[i].hva && iov[k].iov_len == s->desc[i].len);
        FX_CHECK(inside(&s->desc[i], iov[k].iov_base, iov[k].iov_len));
        sum += iov[k].iov_len;
        k++;
    }
    FX_CHECK((int)k == n);
    FX_CHECK(sum == total);
}

/* One request under fire.  Return: false when the guest's rewriting broke the queue (a ring violation
 * caught at the snapshot: the queue must be set up again). */
static bool serve_one(void)
{
    vq_chain c;
    FX_CHECK(vq_pop(fx_q, &c) == 1);
    mutator_go();
    sched_yield(); /* let the guest's vCPU run while the device works */
    vq_snapshot s;
    int rc = vq_snapshot_take(fx_q, &c, sdesc, SCAP, &s);
    FX_CHECK(rc == 0 || rc == -EIO);
    if (rc < 0) {
        mutator_park();
        FX_CHECK(vq_queue_broken(fx_q));
        return false;
    }
    /* What was validated: entries in guest memory, readable before writable, totals adding up. */
    uint64_t rsum = 0, wsum = 0;
    for (unsigned i = 0; i < s.ndesc; i++) {
        const vq_desc_info *d = &s.desc[i];
        FX_CHECK(d->write == (i >= s.nread));
        if (!(d->len == 0 || (d->gpa >= BUF_BASE && d->gpa + d->len <= BUF_BASE + AREA)))
            cr_assert_fail("entry %u of %u: 0x%llx+%u", i, s.ndesc, (unsigned long long)d->gpa, d->len);
        FX_CHECK(d->len == 0 || d->hva == hva(d->gpa, d->len));
        *(d->write ? &wsum : &rsum) += d->len;
    }
    FX_CHECK(rsum == s.readable && wsum == s.writable);

    vq_reader r;
    vq_writer w;
    vq_reader_init(&r, &s);
    vq_writer_init(&w, &s);
    static struct iovec iov[SCAP];
    for (int rep = 0; rep < 3; rep++) { /* the guest keeps writing: nothing the device sees may change */
        FX_CHECK(vq_reader_bytes_left(&r) == s.readable);
        FX_CHECK(vq_writer_bytes_left(&w) == s.writable);
        int n = vq_reader_iovec(&r, iov, SCAP);
        FX_CHECK(n >= 0);
        check_iovecs(iov, n, &s, false, s.readable);
        n = vq_writer_iovec(&w, iov, SCAP);
        FX_CHECK(n >= 0);
        check_iovecs(iov, n, &s, true, s.writable);
        sched_yield();
    }
    /* Read everything: the bytes are the validated buffers' bytes, in chain order. */
    FX_CHECK(vq_reader_read(&r, rbuf, s.readable) == 0);
    uint64_t at = 0;
    for (unsigned i = 0; i < s.nread; i++)
        for (uint32_t j = 0; j < s.desc[i].len; j++)
            FX_CHECK(rbuf[at++] == pat(s.desc[i].gpa + j));
    FX_CHECK(vq_reader_bytes_left(&r) == 0 && vq_reader_read(&r, rbuf, 1) == -ENOSPC);
    sched_yield();
    /* Write everything, then one byte more (refused). */
    for (uint64_t i = 0; i < s.writable; i++)
        wbuf[i] = wpat(i);
    FX_CHECK(vq_writer_write(&w, wbuf, s.writable) == 0);
    FX_CHECK(vq_writer_bytes_left(&w) == 0 && vq_writer_write(&w, wbuf, 1) == -ENOSPC);
    FX_CHECK(vq_writer_bytes_written(&w) == s.writable);
    mutator_park();

    /* Every byte of the area outside the validated writable buffers is untouched. */
    uint8_t *area = hva(BUF_BASE, AREA);
    static uint8_t expect[AREA];
    for (uint32_t i = 0; i < AREA; i++)
        expect[i] = pat(BUF_BASE + i);
    at = 0;
    for (unsigned i = s.nread; i < s.ndesc; i++)
        for (uint32_t j = 0; j < s.desc[i].len; j++)
            expect[s.desc[i].gpa - BUF_BASE + j] = wpat(at++);
    FX_CHECK(memcmp(area, expect, AREA) == 0);
    for (unsigned i = s.nread; i < s.ndesc; i++) /* put the pattern back */
        for (uint32_t j = 0; j < s.desc[i].len; j++)
            area[s.desc[i].gpa - BUF_BASE + j] = pat(s.desc[i].gpa + j);
    FX_CHECK(vq_add_used(fx_q, s.head, s.writable) == 0);
    return true;
}

static void race(enum vq_layout layout)
{
    bool packed = layout == VQ_LAYOUT_PACKED;
    fx_setup(layout, 256, false);
    race_init(packed);
    unsigned served = 0, broke = 0;
    for (unsigned round = 0; round < ROUNDS; round++) {
        if (round == 0 || broke) {
            uint8_t *area = hva(BUF_BASE, AREA);
            for (uint32_t i = 0; i < AREA; i++)
                area[i] = pat(BUF_BASE + i);
        }
        publish(packed, round % 2 == 1, round + 1);
        if (serve_one()) {
            served++;
            continue;
        }
        broke++; /* a fresh ring (the mutator is parked and re-targeted at the next publish) */
        fx_teardown();
        fx_setup(layout, 256, false);
        uint8_t *area = hva(BUF_BASE, AREA);
        for (uint32_t i = 0; i < AREA; i++)
            area[i] = pat(BUF_BASE + i);
    }
    cr_log_info("%s: %u requests served, %u broke the ring, %lu descriptor rewrites", packed ? "packed" : "split",
                served, broke, (unsigned long)atomic_load(&M.writes));
    cr_assert_gt(served, ROUNDS / 4, "most requests survive the rewriting");
    cr_assert_gt(atomic_load(&M.writes), ROUNDS, "the guest rewrote descriptors while the device worked");
}

TestSuite(snapshot_race, .fini = race_fini, .timeout = 120);

Test(snapshot_race, split_rewritten_descriptors_never_reach_the_device) { race(VQ_LAYOUT_SPLIT); }
Test(snapshot_race, packed_rewritten_descriptors_never_reach_the_device) { race(VQ_LAYOUT_PACKED); }
