/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/vq_ring.c - libFuzzer target: split and packed ring walking from fuzzed ring images, and fuzzed
 * orderings of the SET_VRING_* calls (virtio-queue).
 *
 * Guest memory: a writable 64 KiB memfd region at gpa 0 and a read-only 16 KiB one at 0x20000.  The input
 * picks a starting image (zeros, or a split / packed ring laid out by the mock driver with a few direct and
 * indirect chains), then runs operations in any order: features, size, addresses, vring base, map, start,
 * stop, reset, pop + walk + used, raw pokes into guest memory, notification calls.
 * Invariants: every call returns a documented errno; a queue that starts has every ring area, for the
 * size it has then, inside guest memory (issue 10 defect 1); every buffer a walk yields lies inside one
 * region at the host address the map gives (writable buffers in a writable region); a walk ends within
 * size + 65536 descriptors; the vring base of a queue stopped while running restores. */
#include <errno.h>
#include <string.h>

#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"
#include "fuzz_input.h"

#define MEM0 0x10000ull
#define GPA1 0x20000ull
#define MEM1 0x4000ull
#define MAX_SIZE 256u
#define OPS_MAX 200

static vmem_region *reg[2];
static vmem_map *map;

/* What the harness knows of the queue's configuration (mirrors the calls that succeeded). */
struct ring_cfg {
    enum vq_layout layout;
    uint32_t size;
    uint64_t desc, driver, device;
    bool addrs;
};
static struct ring_cfg cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vmem_region_desc d0 = {.gpa = 0, .size = MEM0};
    vmem_region_desc d1 = {.gpa = GPA1, .size = MEM1, .flags = VMEM_REGION_READ_ONLY};
    if (vmem_region_new_memfd(&d0, fuzz_log(), &reg[0]) || vmem_region_new_memfd(&d1, fuzz_log(), &reg[1]) ||
        vmem_map_new(reg, 2, NULL, fuzz_log(), &map))
        fuzz_fail("cannot set up guest memory");
    return 0;
}

/* Does [gpa, gpa+len) lie in one region (a writable one if @write)? */
static bool in_memory(uint64_t gpa, uint64_t len, bool write)
{
    if (gpa + len < gpa)
        return false;
    if (gpa + len <= MEM0)
        return true;
    return !write && gpa >= GPA1 && gpa + len <= GPA1 + MEM1;
}

static void check_started(const vq_queue *q)
{
    uint64_t n = cfg.size;
    CHECK(cfg.addrs);
    if (cfg.layout == VQ_LAYOUT_SPLIT) {
        CHECK(in_memory(cfg.desc, 16 * n, false));
        CHECK(in_memory(cfg.driver, 6 + 2 * n, false));
        CHECK(in_memory(cfg.device, 6 + 8 * n, true));
    } else {
        vq_state st;
        vq_queue_get_state(q, &st);
        if (st.next_avail >= n || st.next_used >= n)
            fuzz_fail("packed queue started at positions %u/%u outside its size %u", st.next_avail, st.next_used,
                      cfg.size);
        CHECK(in_memory(cfg.desc, 16 * n, true));
        CHECK(in_memory(cfg.driver, 4, false));
        CHECK(in_memory(cfg.device, 4, true));
    }
}

static uint64_t pick_addr(fin *in, unsigned align)
{
    uint8_t how = fin_u8(in);
    uint64_t a;
    switch (how % 4) {
    case 0: a = (uint64_t)fin_u8(in) << 8; break;
    case 1: a = MEM0 - ((uint64_t)fin_u16(in) % 0x2000); break; /* near the end of region 0 */
    case 2: a = GPA1 + (uint64_t)fin_u16(in) % MEM1; break;
    default: a = fin_u64(in); break;
    }
    if (!(how & 0x80))
        a &= ~(uint64_t)(align - 1);
    return a;
}

static void walk(vq_queue *q, fin *in)
{
    vq_chain c;
    int rc = vq_pop(q, &c);
    CHECK(rc == 1 || rc == 0 || rc == -EIO || rc == -EPROTO);
    if (rc != 1)
        return;
    CHECK(c.head < cfg.size);
    vq_desc_info d;
    uint64_t total = 0, steps = 0;
    while ((rc = vq_chain_next(q, &c, &d)) == 1) {
        CHECK(++steps <= cfg.size + 65536u);
        total += d.len;
        if (!d.len) {
            CHECK(d.hva == NULL);
            continue;
        }
        CHECK(in_memory(d.gpa, d.len, d.write));
        void *hva;
        CHECK(vmem_map_translate(map, d.gpa, d.len, &hva) == 0 && hva == d.hva);
        if (d.write)
            memset(d.hva, 0x5a, d.len);
    }
    CHECK(rc == 0 || rc == -EIO);
    CHECK(total <= UINT32_MAX);
    if (rc == 0) {
        rc = vq_add_used(q, c.head, fin_u8(in) & 1 ? (uint32_t)total : fin_u32(in));
        CHECK(rc == 0 || rc == -EIO);
    }
}

static void op(vq_queue *q, fin *in)
{
    uint8_t what = fin_u8(in);
    int rc;
    switch (what % 16) {
    case 0: {
        enum vq_layout l = (what >> 4) & 1 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
        rc = vq_queue_set_features(q, l, (what >> 5) & 1);
        CHECK(rc == 0 || rc == -EINVAL || rc == -EBUSY || rc == -EFAULT || rc == -EPERM || rc == -EOVERFLOW);
        if (rc == 0 || rc == -EFAULT || rc == -EPERM || rc == -EOVERFLOW)
            cfg.layout = l;
        break;
    }
    case 1: {
        uint32_t n = (what >> 4) & 1 ? 1u << (fin_u8(in) % 10) : fin_u16(in);
        rc = vq_queue_set_size(q, n);
        CHECK(rc == 0 || rc == -EINVAL || rc == -EBUSY || rc == -EFAULT || rc == -EPERM || rc == -EOVERFLOW);
        if (rc == 0 || rc == -EFAULT || rc == -EPERM || rc == -EOVERFLOW)
            cfg.size = n;
        break;
    }
    case 2: {
        uint64_t de = pick_addr(in, 16), dr = pick_addr(in, 4), dv = pick_addr(in, 4);
        rc = vq_queue_set_addrs(q, de, dr, dv);
        CHECK(rc == 0 || rc == -EINVAL || rc == -EFAULT || rc == -EPERM || rc == -EOVERFLOW);
        if (rc != -EINVAL) {
            cfg.desc = de, cfg.driver = dr, cfg.device = dv;
            cfg.addrs = true;
        }
        break;
    }
    case 3:
        rc = vq_queue_set_vring_base(q, (what >> 4) & 1 ? fin_u16(in) | (uint32_t)fin_u16(in) << 16 : fin_u32(in));
        CHECK(rc == 0 || rc == -EINVAL || rc == -EBUSY);
        break;
    case 4:
        rc = vq_queue_set_map(q, (what >> 4) & 1 ? NULL : map);
        CHECK(rc == 0 || rc == -EFAULT || rc == -EPERM || rc == -EOVERFLOW);
        break;
    case 5:
    case 6:
        rc = vq_queue_set_ready(q, true);
        CHECK(rc == 0 || rc == -EINVAL || rc == -EPROTO);
        if (rc == 0)
            check_started(q);
        break;
    case 7: CHECK(vq_queue_set_ready(q, false) == 0); break;
    case 8:
        if ((what >> 4) == 0) { /* rarely: back to the start */
            vq_queue_reset(q);
            cfg.layout = VQ_LAYOUT_SPLIT, cfg.size = MAX_SIZE, cfg.addrs = false;
        }
        break;
    case 9:
    case 10:
    case 11: walk(q, in); break;
    case 12: { /* the guest changes its memory */
        uint64_t at = fin_u16(in) % MEM0;
        uint8_t buf[64];
        size_t len = fin_bytes(in, buf, 1 + (what >> 4) * 4);
        if (at + len > MEM0)
            len = MEM0 - at;
        memcpy((uint8_t *)vmem_region_hva(reg[0]) + at, buf, len);
        break;
    }
    case 13:
        rc = (what >> 4) & 1 ? vq_enable_notification(q) : vq_disable_notification(q);
        CHECK(rc >= 0 || rc == -EIO || rc == -EPROTO);
        (void)vq_needs_notify(q);
        break;
    case 14: {
        vq_used_elem e[4];
        unsigned n = fin_u8(in) % 5;
        for (unsigned i = 0; i < n; i++)
            e[i] = (vq_used_elem){fin_u16(in) % (cfg.size + 2), fin_u32(in)};
        rc = vq_add_used_batch(q, e, n);
        CHECK(rc == 0 || rc == -EINVAL || rc == -EIO || rc == -EPROTO);
        break;
    }
    default: { /* stop a running queue, read its base, restore it: it must be accepted */
        if (!vq_queue_ready(q))
            break;
        CHECK(vq_queue_set_ready(q, false) == 0);
        uint32_t base = vq_queue_vring_base(q);
        rc = vq_queue_set_vring_base(q, base);
        if (rc != 0)
            fuzz_fail("vring base 0x%x of a stopped queue (size %u, %s) not accepted back: %d", base, cfg.size,
                      cfg.layout == VQ_LAYOUT_PACKED ? "packed" : "split", rc);
        break;
    }
    }
}

/* A starting image: the mock driver lays out a ring of @size with a few chains. */
static void mock_image(fin *in, vq_queue *q, enum vq_layout layout)
{
    vq_mock_config mc = {.layout = layout,
                         .size = 1u << (1 + fin_u8(in) % 8),
                         .event_idx = fin_bool(in),
                         .desc_gpa = 0x1000,
                         .driver_gpa = 0x5000,
                         .device_gpa = 0x6000};
    vq_mock *mk;
    if (vq_mock_new(map, &mc, &mk) < 0)
        return;
    unsigned chains = fin_u8(in) % 6;
    for (unsigned i = 0; i < chains; i++) {
        vq_mock_buf b[4];
        unsigned n = 1 + fin_u8(in) % 4;
        for (unsigned k = 0; k < n; k++)
            b[k] = (vq_mock_buf){
                .gpa = 0x8000 + 0x400 * ((i * 4 + k) % 32), .len = 1 + fin_u16(in) % 0x400, .write = k >= n / 2};
        if (fin_u8(in) & 1)
            (void)vq_mock_add_indirect(mk, 0x7000 + 0x100 * i, b, n, NULL);
        else
            (void)vq_mock_add(mk, b, n, NULL);
    }
    if (fin_u8(in) & 1 && vq_mock_attach(mk, q) == 0) {
        cfg = (struct ring_cfg){.layout = layout,
                                .size = mc.size,
                                .desc = mc.desc_gpa,
                                .driver = mc.driver_gpa,
                                .device = mc.device_gpa,
                                .addrs = true};
        check_started(q);
    }
    vq_mock_free(mk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fin in = {data, size};
    memset(vmem_region_hva(reg[0]), 0, MEM0);
    vq_queue *q;
    vq_queue_config qc = {.max_size = MAX_SIZE, .log = fuzz_log()};
    CHECK(vq_queue_new(&qc, &q) == 0);
    cfg.layout = VQ_LAYOUT_SPLIT, cfg.size = MAX_SIZE, cfg.addrs = false;
    uint8_t image = fin_u8(&in) % 3;
    if (image)
        mock_image(&in, q, image == 1 ? VQ_LAYOUT_SPLIT : VQ_LAYOUT_PACKED);
    for (int k = 0; k < OPS_MAX && !fin_empty(&in); k++)
        op(q, &in);
    vq_queue_free(q);
    return 0;
}
