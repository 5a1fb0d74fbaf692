/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/vmem_layout.c - libFuzzer target: vm-memory region layouts against a reference model.
 *
 * The input builds up to 8 regions (anonymous or memfd, some read-only, at fuzzed addresses including the
 * top of the address space and misaligned ones) and a map of them, then runs operations: translate, uva
 * translation, find, read/write across regions, typed loads/stores, iovec export, adding and removing a
 * region.  A plain model (each region a byte array) predicts every result: the return code and the bytes.
 * Guard pages (CVMM_GUARD_PAGES, fuzz preset) make any access outside a mapping fault at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvmm/vmem.h"
#include "fuzz_input.h"

#define NREG_MAX 8
#define OPS_MAX 64
#define LEN_MAX 20000u

struct mreg {
    uint64_t gpa, size, uva;
    bool ro, live;
    uint8_t *bytes; /* model contents */
    vmem_region *r;
};

static struct mreg regs[NREG_MAX + 1];
static unsigned nregs;

/* rc == want, with the operands and the range in the message. */
#define CHECK_RC(rc, want, a, len)                                                                                     \
    do {                                                                                                               \
        if ((rc) != (want))                                                                                            \
            fuzz_fail("%s:%d: rc %d, model says %d (gpa 0x%llx len %llu)", __FILE__, __LINE__, (rc), (want),           \
                      (unsigned long long)(a), (unsigned long long)(len));                                             \
    } while (0)

/* The model region holding byte @a, or NULL. */
static struct mreg *model_find(uint64_t a)
{
    for (unsigned i = 0; i < nregs; i++)
        if (regs[i].live && a >= regs[i].gpa && a - regs[i].gpa < regs[i].size)
            return &regs[i];
    return NULL;
}
static struct mreg *model_find_uva(uint64_t a)
{
    for (unsigned i = 0; i < nregs; i++)
        if (regs[i].live && regs[i].uva && a >= regs[i].uva && a - regs[i].uva < regs[i].size)
            return &regs[i];
    return NULL;
}

static bool wraps(uint64_t a, uint64_t len) { return len && a + (len - 1) < a; }

/* Expected vmem_read/vmem_write result over [a, a+len) (crossing regions allowed): the first failure in
 * address order (an unmapped byte, or for a write a read-only region). */
static int model_range(uint64_t a, uint64_t len, bool write)
{
    if (!len)
        return 0;
    if (wraps(a, len))
        return -EOVERFLOW;
    for (uint64_t off = 0; off < len;) {
        struct mreg *r = model_find(a + off);
        if (!r)
            return -EFAULT;
        if (write && r->ro)
            return -EPERM;
        off += r->size - (a + off - r->gpa);
    }
    return 0;
}

/* Expected translate over one region. */
static int model_one(uint64_t a, uint64_t len, bool write, struct mreg **out)
{
    if (!len)
        return -EINVAL;
    if (wraps(a, len))
        return -EOVERFLOW;
    struct mreg *r = model_find(a);
    if (!r || len - 1 > r->size - 1 - (a - r->gpa))
        return -EFAULT;
    if (write && r->ro)
        return -EPERM;
    *out = r;
    return 0;
}

static uint64_t pick_gpa(fin *in, uint64_t size)
{
    uint8_t how = fin_u8(in);
    uint64_t base;
    switch (how % 6) {
    case 0: base = 0; break;
    case 1: base = (uint64_t)fin_u16(in) << 12; break;
    case 2: base = (uint64_t)fin_u16(in) << 8; break;
    case 3: base = (1ull << 32) - ((uint64_t)fin_u8(in) << 12); break;
    case 4: base = 0 - size; break; /* ends exactly at 2^64 */
    default: base = fin_u64(in); break;
    }
    if (how & 0x80) /* sometimes not 8-aligned: the map must refuse it */
        base += how & 7;
    return base;
}

static void model_free(void)
{
    for (unsigned i = 0; i < nregs; i++) {
        free(regs[i].bytes);
        vmem_region_unref(regs[i].r);
    }
    memset(regs, 0, sizeof(regs));
    nregs = 0;
}

static int new_region(fin *in, struct mreg *m)
{
    uint64_t size = 1 + fin_u16(in) % 0x5000;
    uint8_t kind = fin_u8(in);
    vmem_region_desc d = {.size = size, .gpa = pick_gpa(in, size), .flags = (kind & 2) ? VMEM_REGION_READ_ONLY : 0};
    if (kind & 4)
        d.user_addr = 0x7f0000000000ull + ((uint64_t)fin_u16(in) << 16);
    int rc = (kind & 1) ? vmem_region_new_memfd(&d, fuzz_log(), &m->r) : vmem_region_new_anon(&d, fuzz_log(), &m->r);
    bool bad = d.gpa + (size - 1) < d.gpa || (d.user_addr && d.user_addr + (size - 1) < d.user_addr);
    if (rc < 0) {
        CHECK(rc == -EINVAL || rc == -ENOMEM);
        return rc;
    }
    CHECK(!bad);
    CHECK(vmem_region_gpa(m->r) == d.gpa && vmem_region_size(m->r) == size);
    m->gpa = d.gpa;
    m->size = size;
    m->uva = d.user_addr;
    m->ro = d.flags & VMEM_REGION_READ_ONLY;
    m->bytes = calloc(1, size);
    CHECK(m->bytes != NULL);
    /* A fresh region reads as zeros. */
    CHECK(memcmp(vmem_region_hva(m->r), m->bytes, size) == 0);
    return 0;
}

static bool overlaps_live(const struct mreg *m)
{
    for (unsigned i = 0; i < nregs; i++)
        if (regs[i].live && &regs[i] != m && m->gpa <= regs[i].gpa + (regs[i].size - 1) &&
            regs[i].gpa <= m->gpa + (m->size - 1))
            return true;
    return false;
}

static void check_contents(const vmem_map *map)
{
    for (unsigned i = 0; i < nregs; i++) {
        if (!regs[i].live)
            continue;
        void *hva;
        CHECK(vmem_map_translate(map, regs[i].gpa, regs[i].size, &hva) == 0);
        CHECK(memcmp(hva, regs[i].bytes, regs[i].size) == 0);
    }
}

static uint64_t pick_addr(fin *in)
{
    uint8_t how = fin_u8(in);
    if (nregs && how % 4) {
        struct mreg *r = &regs[fin_u8(in) % nregs];
        int64_t delta = (int16_t)fin_u16(in);
        if (how & 0x40)
            return r->gpa + r->size + (uint64_t)delta; /* near the end */
        return r->gpa + (uint64_t)delta;
    }
    return fin_u64(in);
}

static void op(fin *in, vmem_map **mapp)
{
    static uint8_t buf[LEN_MAX], exp[LEN_MAX];
    const vmem_map *map = *mapp;
    uint8_t what = fin_u8(in);
    uint64_t a = pick_addr(in);
    uint64_t len = fin_u8(in) & 1 ? fin_u16(in) % LEN_MAX : fin_u8(in) % 17;
    struct mreg *r = NULL;
    void *hva;
    int rc, want;
    switch (what % 10) {
    case 0: /* translate, read side */
    case 1: /* translate, write side */
        want = model_one(a, len, what % 10 == 1, &r);
        rc = what % 10 ? vmem_map_translate_mut(map, a, len, &hva) : vmem_map_translate(map, a, len, &hva);
        CHECK_RC(rc, want, a, len);
        if (!rc)
            CHECK(memcmp(hva, r->bytes + (a - r->gpa), len) == 0);
        break;
    case 2: { /* find */
        const vmem_region *f;
        rc = vmem_map_find(map, a, &f);
        r = model_find(a);
        CHECK(r ? rc == 0 && f == r->r : rc == -EFAULT);
        break;
    }
    case 3: /* read across regions */
        want = model_range(a, len, false);
        rc = vmem_read(map, a, buf, len);
        CHECK_RC(rc, want, a, len);
        if (!rc) {
            for (uint64_t i = 0; i < len; i++) {
                struct mreg *m = model_find(a + i);
                exp[i] = m->bytes[a + i - m->gpa];
            }
            CHECK(memcmp(buf, exp, len) == 0);
        }
        break;
    case 4: /* write across regions */
        fin_bytes(in, buf, len);
        want = model_range(a, len, true);
        rc = vmem_write(map, a, buf, len);
        CHECK_RC(rc, want, a, len);
        if (!rc)
            for (uint64_t i = 0; i < len; i++) {
                struct mreg *m = model_find(a + i);
                m->bytes[a + i - m->gpa] = buf[i];
            }
        break;
    case 5: { /* typed loads and stores */
        unsigned w = 2u << (fin_u8(in) % 3), st = fin_u8(in) & 1;
        uint64_t v = fin_u64(in), got = 0;
        want = a % w ? -EINVAL : model_one(a, w, st, &r);
        if (w == 2)
            rc = st ? vmem_store_le16(map, a, (uint16_t)v) : vmem_load_le16(map, a, (uint16_t *)&got);
        else if (w == 4)
            rc = st ? vmem_store_le32(map, a, (uint32_t)v) : vmem_load_le32(map, a, (uint32_t *)&got);
        else
            rc = st ? vmem_store_le64(map, a, v) : vmem_load_le64(map, a, &got);
        if (want == -EFAULT && rc == -EINVAL)
            break; /* an unmapped, misaligned-in-host address: either errno is documented */
        CHECK_RC(rc, want, a, len);
        if (!rc && st)
            memcpy(r->bytes + (a - r->gpa), &v, w);
        else if (!rc)
            CHECK(memcmp(&got, r->bytes + (a - r->gpa), w) == 0);
        break;
    }
    case 6: { /* iovec export */
        struct iovec iov[NREG_MAX + 1];
        int max = 1 + fin_u8(in) % (NREG_MAX + 1);
        bool write = fin_u8(in) & 1;
        want = model_range(a, len, write);
        rc = vmem_map_iovec(map, a, len, write, iov, max);
        if (want == 0 && len) {
            int pieces = 0;
            for (uint64_t off = 0; off < len; pieces++) {
                struct mreg *m = model_find(a + off);
                off += m->size - (a + off - m->gpa);
            }
            if (pieces > max)
                want = -ENOSPC;
            else
                want = pieces;
        }
        CHECK_RC(rc, want, a, len);
        uint64_t off = 0;
        for (int i = 0; i < rc; i++) {
            struct mreg *m = model_find(a + off);
            CHECK(iov[i].iov_len && memcmp(iov[i].iov_base, m->bytes + (a + off - m->gpa), iov[i].iov_len) == 0);
            CHECK(iov[i].iov_base == (uint8_t *)vmem_region_hva(m->r) + (a + off - m->gpa));
            off += iov[i].iov_len;
        }
        CHECK(rc <= 0 || off == len);
        break;
    }
    case 7: { /* uva translation */
        uint64_t gpa = 0;
        struct mreg *m = nregs ? &regs[fin_u8(in) % nregs] : NULL;
        uint64_t uva = m && m->uva ? m->uva + (uint64_t)(int16_t)fin_u16(in) : fin_u64(in);
        rc = vmem_map_uva_to_gpa(map, uva, len, &gpa);
        struct mreg *u = len && !wraps(uva, len) ? model_find_uva(uva) : NULL;
        /* Front-end addresses may overlap (the map only refuses overlapping guest addresses): then any live
         * region holding the whole range is a right answer, and -EFAULT too. */
        unsigned holders = 0;
        bool right = false;
        for (unsigned k = 0; k < nregs && u; k++)
            if (regs[k].live && regs[k].uva && uva >= regs[k].uva && uva - regs[k].uva < regs[k].size) {
                holders++;
                right |= rc == 0 && len - 1 <= regs[k].size - 1 - (uva - regs[k].uva) &&
                         gpa == regs[k].gpa + (uva - regs[k].uva);
            }
        if (!len)
            CHECK(rc == -EINVAL);
        else if (wraps(uva, len))
            CHECK(rc == -EOVERFLOW);
        else if (holders > 1)
            CHECK(right || rc == -EFAULT);
        else if (!u || len - 1 > u->size - 1 - (uva - u->uva))
            CHECK(rc == -EFAULT);
        else
            CHECK(right);
        break;
    }
    case 8: { /* remove a region */
        if (!nregs)
            break;
        struct mreg *m = &regs[fin_u8(in) % nregs];
        vmem_map *nm = NULL;
        rc = vmem_map_without_region(map, m->gpa, m->size, 0, &nm);
        /* The map matches gpa and size: a live region of the same place is the one removed. */
        for (unsigned k = 0; k < nregs && !m->live; k++)
            if (regs[k].live && regs[k].gpa == m->gpa && regs[k].size == m->size)
                m = &regs[k];
        if (!m->live) {
            CHECK(rc == -ENOENT);
            break;
        }
        CHECK(rc == 0);
        m->live = false;
        vmem_map_free(*mapp);
        *mapp = nm;
        CHECK(vmem_map_find(nm, m->gpa, &(const vmem_region *){NULL}) == (model_find(m->gpa) ? 0 : -EFAULT));
        break;
    }
    default: { /* add a region */
        if (nregs == NREG_MAX + 1)
            break;
        struct mreg *m = &regs[nregs];
        if (new_region(in, m) < 0)
            break;
        nregs++;
        vmem_map *nm = NULL;
        rc = vmem_map_with_region(map, m->r, &nm);
        bool overlap = overlaps_live(m);
        if (rc == 0) {
            CHECK(!overlap);
            m->live = true;
            vmem_map_free(*mapp);
            *mapp = nm;
        } else {
            CHECK(rc == -EINVAL && overlap);
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fin in = {data, size};
    unsigned want = 1 + fin_u8(&in) % NREG_MAX;
    vmem_region *rs[NREG_MAX];
    unsigned n = 0;
    for (unsigned i = 0; i < want; i++)
        if (new_region(&in, &regs[nregs]) == 0) {
            rs[n++] = regs[nregs].r;
            nregs++;
        }
    vmem_map *map = NULL;
    int rc = vmem_map_new(rs, n, NULL, fuzz_log(), &map);
    bool overlap = false;
    for (unsigned i = 0; i < nregs; i++)
        regs[i].live = true;
    for (unsigned i = 0; i < nregs; i++)
        overlap |= overlaps_live(&regs[i]);
    if (rc < 0) {
        CHECK(rc == -EINVAL && overlap);
        model_free();
        return 0;
    }
    CHECK(!overlap && vmem_map_count(map) == n);
    for (unsigned k = 0; k < OPS_MAX && !fin_empty(&in); k++)
        op(&in, &map);
    check_contents(map);
    vmem_map_free(map);
    model_free();
    return 0;
}
