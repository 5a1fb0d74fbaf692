/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/vq_rw.c - libFuzzer target: chain snapshots, Reader/Writer and iovec export (virtio-queue
 * snapshot.c, rw.c) against a model.
 *
 * The mock driver makes one chain (direct or indirect, split or packed) of up to 12 buffers of fuzzed
 * lengths and directions: readable ones in [0x8000, 0xc000) filled with fuzzed bytes, writable ones in
 * [0xc000, 0x10000).  The device pops it and takes a snapshot into storage of fuzzed capacity; then the
 * guest rewrites the descriptor table (the snapshot must not care), and the input runs cursor operations:
 * read / skip / typed reads / split / iovec on readers, write / typed writes / advance through iovecs /
 * split on writers, copies of cursors, a map change.
 * The model: the readable bytes are the concatenation of the readable buffers as they were when the
 * snapshot was taken; the writable space is the concatenation of the writable buffers.  Every result is
 * predicted: return codes (-ENOSPC exactly when fewer bytes are left), bytes read, bytes left and written,
 * iovec lengths and contents, and the final contents of guest memory. */
#include <errno.h>
#include <string.h>

#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vq/rw.h"
#include "cvmm/vq/snapshot.h"
#include "fuzz_input.h"

#define MEM 0x10000ull
#define RD_BASE 0x8000ull
#define WR_BASE 0xc000ull
#define AREA 0x4000ull
#define NBUF_MAX 12
#define STREAM_MAX (NBUF_MAX * 0x800)
#define OPS_MAX 48

static vmem_region *reg;
static vmem_map *map, *map2;

/* The model. */
static uint8_t rd_stream[STREAM_MAX]; /* readable bytes, in chain order */
static uint64_t rd_len;
static uint64_t wr_gpa[STREAM_MAX]; /* guest address of each writable byte, in chain order */
static uint64_t wr_len;
static uint8_t mem_model[AREA]; /* what [WR_BASE, WR_BASE + AREA) must hold */

struct rcur {
    vq_reader r;
    uint64_t pos, end; /* model position and limit in rd_stream */
    bool live;
};
struct wcur {
    vq_writer w;
    uint64_t pos, end, written;
    bool live;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vmem_region_desc d = {.gpa = 0, .size = MEM};
    if (vmem_region_new_memfd(&d, fuzz_log(), &reg) || vmem_map_new(&reg, 1, NULL, fuzz_log(), &map) ||
        vmem_map_new(&reg, 1, NULL, fuzz_log(), &map2))
        fuzz_fail("cannot set up guest memory");
    return 0;
}

static void model_write(uint64_t pos, const uint8_t *buf, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        mem_model[wr_gpa[pos + i] - WR_BASE] = buf[i];
}

static void reader_op(fin *in, struct rcur *rc, struct rcur *spare)
{
    static uint8_t buf[STREAM_MAX + 16];
    uint8_t what = fin_u8(in);
    uint64_t left = rc->end - rc->pos;
    uint64_t len = what & 0x80 ? fin_u16(in) % (STREAM_MAX + 8) : fin_u8(in) % 24;
    int r;
    CHECK(vq_reader_bytes_left(&rc->r) == left);
    switch (what % 6) {
    case 0:
        r = vq_reader_read(&rc->r, buf, len);
        CHECK(r == (len > left ? -ENOSPC : 0));
        if (!r) {
            CHECK(memcmp(buf, rd_stream + rc->pos, len) == 0);
            rc->pos += len;
        }
        break;
    case 1:
        r = vq_reader_skip(&rc->r, len);
        CHECK(r == (len > left ? -ENOSPC : 0));
        if (!r)
            rc->pos += len;
        break;
    case 2: {
        unsigned w = 2u << (what >> 3) % 3;
        uint64_t v = 0;
        r = w == 2   ? vq_reader_read_le16(&rc->r, (uint16_t *)&v)
            : w == 4 ? vq_reader_read_le32(&rc->r, (uint32_t *)&v)
                     : vq_reader_read_le64(&rc->r, &v);
        CHECK(r == (w > left ? -ENOSPC : 0));
        if (!r) {
            CHECK(memcmp(&v, rd_stream + rc->pos, w) == 0);
            rc->pos += w;
        }
        break;
    }
    case 3:
        if (spare->live)
            break;
        r = vq_reader_split_at(&rc->r, len, &spare->r);
        CHECK(r == (len > left ? -ENOSPC : 0));
        if (!r) {
            *spare = (struct rcur){.r = spare->r, .pos = rc->pos + len, .end = rc->end, .live = true};
            rc->end = rc->pos + len;
        }
        break;
    case 4: {
        struct iovec iov[NBUF_MAX + 1];
        int max = 1 + fin_u8(in) % (NBUF_MAX + 1);
        r = vq_reader_iovec(&rc->r, iov, max);
        CHECK(r >= 0 || r == -ENOSPC);
        if (r >= 0) {
            uint64_t off = 0;
            for (int i = 0; i < r; i++) {
                CHECK(iov[i].iov_len && off + iov[i].iov_len <= left);
                CHECK(memcmp(iov[i].iov_base, rd_stream + rc->pos + off, iov[i].iov_len) == 0);
                off += iov[i].iov_len;
            }
            CHECK(off == left);
            CHECK(vq_reader_bytes_left(&rc->r) == left); /* nothing consumed */
        }
        break;
    }
    default: /* a copy is an independent cursor */
        if (!spare->live) {
            *spare = *rc;
        }
        break;
    }
}

static void writer_op(fin *in, struct wcur *wc, struct wcur *spare)
{
    static uint8_t buf[STREAM_MAX + 16];
    uint8_t what = fin_u8(in);
    uint64_t left = wc->end - wc->pos;
    uint64_t len = what & 0x80 ? fin_u16(in) % (STREAM_MAX + 8) : fin_u8(in) % 24;
    int r;
    CHECK(vq_writer_bytes_left(&wc->w) == left);
    CHECK(vq_writer_bytes_written(&wc->w) == wc->written);
    switch (what % 5) {
    case 0:
        memset(buf, fin_u8(in), len);
        r = vq_writer_write(&wc->w, buf, len);
        CHECK(r == (len > left ? -ENOSPC : 0));
        if (!r) {
            model_write(wc->pos, buf, len);
            wc->pos += len, wc->written += len;
        }
        break;
    case 1: {
        unsigned w = 2u << (what >> 3) % 3;
        uint64_t v = fin_u64(in);
        r = w == 2   ? vq_writer_write_le16(&wc->w, (uint16_t)v)
            : w == 4 ? vq_writer_write_le32(&wc->w, (uint32_t)v)
                     : vq_writer_write_le64(&wc->w, v);
        CHECK(r == (w > left ? -ENOSPC : 0));
        if (!r) {
            model_write(wc->pos, (const uint8_t *)&v, w);
            wc->pos += w, wc->written += w;
        }
        break;
    }
    case 2:
        if (spare->live)
            break;
        r = vq_writer_split_at(&wc->w, len, &spare->w);
        CHECK(r == (len > left ? -ENOSPC : 0));
        if (!r) {
            *spare = (struct wcur){.w = spare->w, .pos = wc->pos + len, .end = wc->end, .live = true};
            wc->end = wc->pos + len;
        }
        break;
    case 3: { /* write through the exported iovecs, then advance */
        struct iovec iov[NBUF_MAX + 1];
        int max = 1 + fin_u8(in) % (NBUF_MAX + 1);
        r = vq_writer_iovec(&wc->w, iov, max);
        CHECK(r >= 0 || r == -ENOSPC);
        if (r < 0)
            break;
        uint64_t off = 0;
        uint8_t fill = fin_u8(in);
        for (int i = 0; i < r && off < len; i++) {
            uint64_t k = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
            memset(iov[i].iov_base, fill, k);
            memset(buf + off, fill, k);
            off += k;
        }
        uint64_t total = 0;
        for (int i = 0; i < r; i++)
            total += iov[i].iov_len;
        CHECK(total == left);
        CHECK(vq_writer_advance(&wc->w, off) == 0);
        model_write(wc->pos, buf, off);
        wc->pos += off, wc->written += off;
        break;
    }
    default:
        r = vq_writer_advance(&wc->w, len);
        CHECK(r == (len > left ? -ENOSPC : 0));
        if (!r) { /* advancing over bytes not written: guest memory keeps what it had */
            for (uint64_t i = 0; i < len; i++)
                mem_model[wr_gpa[wc->pos + i] - WR_BASE] = ((uint8_t *)vmem_region_hva(reg))[wr_gpa[wc->pos + i]];
            wc->pos += len, wc->written += len;
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fin in = {data, size};
    uint8_t mode = fin_u8(&in);
    uint8_t *hva = vmem_region_hva(reg);
    memset(hva, 0, MEM);
    vq_queue *q;
    vq_queue_config qc = {.max_size = 64, .log = fuzz_log()};
    CHECK(vq_queue_new(&qc, &q) == 0);
    vq_mock_config mc = {.layout = mode & 1 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
                         .size = 64,
                         .desc_gpa = 0x1000,
                         .driver_gpa = 0x2000,
                         .device_gpa = 0x3000};
    vq_mock *mk;
    CHECK(vq_mock_new(map, &mc, &mk) == 0 && vq_mock_attach(mk, q) == 0);

    /* The chain and the model. */
    vq_mock_buf b[NBUF_MAX];
    unsigned n = 1 + fin_u8(&in) % NBUF_MAX, nread = 0;
    rd_len = wr_len = 0;
    bool ordered = true, seen_write = false;
    for (unsigned k = 0; k < n; k++) {
        uint8_t how = fin_u8(&in);
        bool write = how & 1;
        uint32_t len = how & 2 ? fin_u16(&in) % 0x800 : fin_u8(&in) % 40;
        uint64_t gpa = (write ? WR_BASE : RD_BASE) + fin_u16(&in) % (AREA - len);
        b[k] = (vq_mock_buf){.gpa = gpa, .len = len, .write = write};
        ordered &= !(seen_write && !write);
        seen_write |= write;
        if (!write) {
            fin_bytes(&in, hva + gpa, len < 16 ? len : 16);
            nread++;
        }
    }
    for (unsigned k = 0; k < n; k++) {
        for (uint32_t i = 0; i < b[k].len && !b[k].write; i++)
            rd_stream[rd_len++] = hva[b[k].gpa + i];
        for (uint32_t i = 0; i < b[k].len && b[k].write; i++)
            wr_gpa[wr_len++] = b[k].gpa + i;
    }
    memcpy(mem_model, hva + WR_BASE, AREA);
    bool indirect = mode & 2;
    CHECK((indirect ? vq_mock_add_indirect(mk, 0x4000, b, n, NULL) : vq_mock_add(mk, b, n, NULL)) == 0);

    vq_chain c;
    CHECK(vq_pop(q, &c) == 1);
    vq_desc_info desc[NBUF_MAX];
    uint32_t cap = fin_u8(&in) % (NBUF_MAX + 2);
    vq_snapshot s;
    int rc = vq_snapshot_take(q, &c, cap ? desc : NULL, cap > NBUF_MAX ? NBUF_MAX : cap, &s);
    if (!ordered) {
        CHECK(rc == -EIO || rc == -ENOSPC || rc == -EINVAL);
        goto out;
    }
    if (!cap) {
        CHECK(rc == -ENOSPC || rc == -EINVAL);
        goto out;
    }
    if (n > (cap > NBUF_MAX ? NBUF_MAX : cap)) {
        CHECK(rc == -ENOSPC);
        goto out;
    }
    CHECK(rc == 0);
    CHECK(s.ndesc == n && s.nread == nread && s.readable == rd_len && s.writable == wr_len && s.head == c.head);

    /* The guest rewrites its descriptors now: nothing below may notice. */
    for (unsigned k = 0; k < 64; k++)
        (void)vq_mock_write_desc(mk, k, 0xdead0000, 0xffffffff, (uint16_t)fin_u8(&in), 0);
    if (indirect)
        memset(hva + 0x4000, 0xee, 16 * NBUF_MAX);

    struct rcur r[2] = {{.pos = 0, .end = rd_len, .live = true}, {.live = false}};
    struct wcur w[2] = {{.pos = 0, .end = wr_len, .live = true}, {.live = false}};
    vq_reader_init(&r[0].r, &s);
    vq_writer_init(&w[0].w, &s);
    for (int k = 0; k < OPS_MAX && !fin_empty(&in); k++) {
        uint8_t what = fin_u8(&in);
        unsigned i = (what >> 2) & 1;
        if (what % 8 == 7) { /* the back-end switches maps (same memory): cursors translate again */
            CHECK(vq_queue_set_map(q, (what >> 3) & 1 ? map2 : map) == 0);
            continue;
        }
        if (what & 1) {
            if (r[i].live)
                reader_op(&in, &r[i], &r[!i]);
        } else if (w[i].live) {
            writer_op(&in, &w[i], &w[!i]);
        }
    }
    if (memcmp(hva + WR_BASE, mem_model, AREA) != 0)
        fuzz_fail("guest memory differs from the model after the writes");
out:
    vq_mock_free(mk);
    vq_queue_free(q);
    return 0;
}
