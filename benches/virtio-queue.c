/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* benches/virtio-queue.c - bench-virtio-queue: rust-vmm virtio-queue 0.18's scenarios, split and packed.
 *
 * Queue size 256, one 64 MiB memfd region at gpa 0.  The mock driver fills the ring once per case; each
 * round then rewinds the device side (stop, SET_VRING_BASE to the start, restart; packed rings also get
 * their descriptor bytes back, since used descriptors overwrite them) and times as many operations as the
 * filled ring holds.  From the device's point of view a rewound ring is the same as one the driver refilled,
 * and the refill stays outside the clock as the issue asks.  Buffers of the reader/writer cases all point at
 * the same 4 KiB (hot), like mem_read_4k.
 *   vq_<layout>_chain128[_indirect]   pop + walk one chain of 128 descriptors
 *   vq_<layout>_128x1[_indirect]      pop + walk 128 chains of 1 descriptor
 *   vq_<layout>_add_used128           128 add_used on an empty used ring (the pops are untimed)
 *   vq_<layout>_cycle_{1desc,4desc,indirect4}   pop + walk + add_used, per chain
 *   vq_<layout>_cycle_1desc_direct    the same through vq_split_* / vq_packed_* (no layout switch)
 *   vq_<layout>_snapshot128           pop + vq_snapshot_take() of one chain of 128 descriptors
 *   vq_[packed_]reader_{4k,4x1k}      pop + snapshot + Reader over 1x4 KiB / 4x1 KiB reads 4 KiB
 *   vq_[packed_]writer_4k             pop + snapshot + Writer writes 4 KiB + add_used */
#include <errno.h>
#include <string.h>

#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"
#include "harness.h"

#define QSIZE 256u
#define MEM (64ull << 20)
#define DESC_GPA 0x10000ull
#define DRIVER_GPA 0x20000ull
#define DEVICE_GPA 0x30000ull
#define BUF_GPA (1ull << 20)
#define TABLE_GPA (16ull << 20)

enum kind { K_WALK, K_SNAPSHOT, K_ADD_USED, K_CYCLE, K_CYCLE_DIRECT, K_READER, K_WRITER };

struct bcase {
    const char *name;
    enum vq_layout layout;
    enum kind kind;
    unsigned ndesc; /* descriptors per chain */
    bool indirect;
    uint32_t len;    /* bytes per descriptor */
    unsigned chains; /* chains per op (128 for 128x1 and add_used128, else 1) */
    unsigned ops;    /* ops per round (what the ring holds) */
    /* state */
    vmem_region *reg;
    vmem_map *map;
    vq_queue *q;
    vq_mock *mk;
    uint8_t *desc_hva;
    uint8_t snap[16 * QSIZE];
    uint32_t base;
    uint16_t popped[QSIZE]; /* heads popped (untimed) for add_used128 */
    unsigned npopped;
};

static uint8_t iobuf[4096];
static vq_snapshot_buf sbuf;
static vq_desc_info sdesc[QSIZE];

static int setup(struct bcase *b)
{
    vmem_region_desc d = {.gpa = 0, .size = MEM};
    vq_queue_config qc = {.max_size = QSIZE, .layout = b->layout};
    vq_mock_config mc = {
        .layout = b->layout, .size = QSIZE, .desc_gpa = DESC_GPA, .driver_gpa = DRIVER_GPA, .device_gpa = DEVICE_GPA};
    int rc = vmem_region_new_memfd(&d, NULL, &b->reg);
    if (rc == 0)
        rc = vmem_map_new(&b->reg, 1, NULL, NULL, &b->map);
    if (rc == 0)
        rc = vq_queue_new(&qc, &b->q);
    if (rc == 0)
        rc = vq_mock_new(b->map, &mc, &b->mk);
    if (rc == 0)
        rc = vq_mock_attach(b->mk, b->q);
    if (rc < 0)
        return rc;
    b->desc_hva = (uint8_t *)vmem_region_hva(b->reg) + DESC_GPA;
    unsigned slots = b->indirect ? 1 : b->ndesc;
    unsigned nchains = QSIZE / slots;
    if (b->kind == K_WALK || b->kind == K_ADD_USED)
        nchains = (nchains / b->chains) * b->chains;
    b->ops = nchains / b->chains;
    vq_mock_buf bufs[128];
    for (unsigned c = 0; c < nchains; c++) {
        for (unsigned i = 0; i < b->ndesc; i++) {
            bool rw = b->kind == K_READER || b->kind == K_WRITER;
            bufs[i].gpa = rw ? BUF_GPA + (uint64_t)i * b->len : BUF_GPA + ((uint64_t)c * b->ndesc + i) * 64;
            bufs[i].len = b->len;
            bufs[i].write = b->kind == K_WRITER || (!rw && i + 1 == b->ndesc && b->ndesc > 1);
        }
        rc = b->indirect ? vq_mock_add_indirect(b->mk, TABLE_GPA + (uint64_t)c * 16 * b->ndesc, bufs, b->ndesc, NULL)
                         : vq_mock_add(b->mk, bufs, b->ndesc, NULL);
        if (rc < 0)
            return rc;
    }
    memcpy(b->snap, b->desc_hva, sizeof(b->snap));
    b->base = vq_queue_vring_base(b->q);
    return 0;
}

static void teardown(struct bcase *b)
{
    vq_mock_free(b->mk);
    vq_queue_free(b->q);
    vmem_map_free(b->map);
    vmem_region_unref(b->reg);
}

static void rewind_ring(struct bcase *b)
{
    if (b->layout == VQ_LAYOUT_PACKED)
        memcpy(b->desc_hva, b->snap, sizeof(b->snap));
    (void)vq_queue_set_ready(b->q, false);
    (void)vq_queue_set_vring_base(b->q, b->base);
    (void)vq_queue_set_ready(b->q, true);
}

static inline uint64_t walk(vq_queue *q, vq_chain *c)
{
    vq_desc_info d;
    uint64_t sum = 0;
    while (vq_chain_next(q, c, &d) == 1)
        sum += d.len;
    return sum;
}

static void op(struct bcase *b)
{
    vq_chain c;
    uint64_t sink = 0;
    switch (b->kind) {
    case K_WALK:
        for (unsigned i = 0; i < b->chains; i++) {
            if (vq_pop(b->q, &c) == 1)
                sink += walk(b->q, &c);
        }
        break;
    case K_SNAPSHOT:
        if (vq_pop(b->q, &c) == 1) {
            vq_snapshot s;
            if (vq_snapshot_take(b->q, &c, sdesc, QSIZE, &s) == 0)
                sink += s.readable;
        }
        break;
    case K_ADD_USED:
        for (unsigned i = 0; i < b->chains; i++)
            (void)vq_add_used(b->q, b->popped[b->npopped++], 0);
        break;
    case K_CYCLE:
        if (vq_pop(b->q, &c) == 1) {
            sink += walk(b->q, &c);
            (void)vq_add_used(b->q, c.head, 0);
        }
        break;
    case K_CYCLE_DIRECT:
        if (b->layout == VQ_LAYOUT_SPLIT) {
            if (vq_split_pop(b->q, &c) == 1) {
                sink += walk(b->q, &c);
                (void)vq_split_add_used(b->q, c.head, 0);
            }
        } else if (vq_packed_pop(b->q, &c) == 1) {
            sink += walk(b->q, &c);
            (void)vq_packed_add_used(b->q, c.head, 0);
        }
        break;
    case K_READER:
        if (vq_pop(b->q, &c) == 1) {
            vq_reader r;
            if (vq_snapshot_take_buf(b->q, &c, &sbuf) != 0)
                break;
            vq_reader_init(&r, &sbuf.snap);
            if (vq_reader_read(&r, iobuf, sizeof(iobuf)) == 0)
                sink += iobuf[sizeof(iobuf) - 1];
        }
        break;
    case K_WRITER:
        if (vq_pop(b->q, &c) == 1) {
            vq_writer w;
            if (vq_snapshot_take_buf(b->q, &c, &sbuf) != 0)
                break;
            vq_writer_init(&w, &sbuf.snap);
            if (vq_writer_write(&w, iobuf, sizeof(iobuf)) == 0)
                (void)vq_add_used(b->q, c.head, (uint32_t)vq_writer_bytes_written(&w));
        }
        break;
    }
    bench_sink(sink);
}

static uint64_t run(void *arg, uint64_t iters)
{
    struct bcase *b = arg;
    uint64_t t = 0;
    for (uint64_t done = 0; done < iters;) {
        uint64_t k = iters - done < b->ops ? iters - done : b->ops;
        rewind_ring(b);
        if (b->kind == K_ADD_USED) { /* the pops are set-up, not measured */
            vq_chain c;
            b->npopped = 0;
            for (unsigned i = 0; i < k * b->chains && vq_pop(b->q, &c) == 1; i++) {
                walk(b->q, &c);
                b->popped[i] = c.head;
            }
        }
        uint64_t t0 = bench_now_ns();
        for (uint64_t i = 0; i < k; i++)
            op(b);
        t += bench_now_ns() - t0;
        done += k;
    }
    return t;
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    memset(iobuf, 0x5a, sizeof(iobuf));
    static const struct {
        const char *suffix;
        enum kind kind;
        unsigned ndesc;
        bool indirect;
        uint32_t len;
        unsigned chains;
        uint64_t bytes;
    } cases[] = {
        {"chain128", K_WALK, 128, false, 64, 1, 0},        {"chain128_indirect", K_WALK, 128, true, 64, 1, 0},
        {"snapshot128", K_SNAPSHOT, 128, false, 64, 1, 0}, {"128x1", K_WALK, 1, false, 64, 128, 0},
        {"128x1_indirect", K_WALK, 1, true, 64, 128, 0},   {"add_used128", K_ADD_USED, 1, false, 64, 128, 0},
        {"cycle_1desc", K_CYCLE, 1, false, 64, 1, 0},      {"cycle_1desc_direct", K_CYCLE_DIRECT, 1, false, 64, 1, 0},
        {"cycle_4desc", K_CYCLE, 4, false, 64, 1, 0},      {"cycle_indirect4", K_CYCLE, 4, true, 64, 1, 0},
        {"reader_4k", K_READER, 1, false, 4096, 1, 4096},  {"reader_4x1k", K_READER, 4, false, 1024, 1, 4096},
        {"writer_4k", K_WRITER, 1, false, 4096, 1, 4096},
    };
    int failed = 0;
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < CVMM_ARRAY_SIZE(cases); i++) {
            char name[64];
            bool rw = cases[i].kind == K_READER || cases[i].kind == K_WRITER;
            /* rust-vmm's names: vq_reader_4k for split, vq_packed_reader_4k for packed */
            snprintf(name, sizeof(name), "vq_%s%s", l == 0 ? (rw ? "" : "split_") : "packed_", cases[i].suffix);
            if (!bench_selected(name))
                continue;
            static struct bcase b;
            memset(&b, 0, sizeof(b));
            b.name = name;
            b.layout = l == 0 ? VQ_LAYOUT_SPLIT : VQ_LAYOUT_PACKED;
            b.kind = cases[i].kind;
            b.ndesc = cases[i].ndesc;
            b.indirect = cases[i].indirect;
            b.len = cases[i].len;
            b.chains = cases[i].chains;
            int rc = setup(&b);
            if (rc < 0) {
                fprintf(stderr, "%s: set-up failed: %s\n", name, strerror(-rc));
                failed = 1;
            } else {
                bench_run(name, run, &b, cases[i].bytes);
                if (vq_queue_broken(b.q)) {
                    fprintf(stderr, "%s: queue broke during the run\n", name);
                    failed = 1;
                }
            }
            teardown(&b);
        }
    }
    return failed;
}
