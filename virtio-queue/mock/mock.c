/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* mock.c - a mock virtio driver for one split or packed ring (cvmm/vq/mock.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/vmem/access.h"
#include "cvmm/vmem/atomic.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vq/packed.h"
#include "cvmm/vq/split.h"
#include "cvmm/vq/state.h"

struct vq_mock {
    const vmem_map *map;
    vq_mock_config cfg;
    uint32_t size;
    /* split */
    uint16_t avail_idx, used_idx, kick_old;
    uint16_t *free_stack; /* split: free descriptors; packed: free buffer ids */
    uint32_t nfree;       /* entries on free_stack */
    uint16_t *chain_next; /* split: next descriptor of a chain, by descriptor */
    uint16_t *chain_len;  /* split: descriptors of a chain, by head; packed: slots, by id */
    uint8_t *inflight;    /* by head / id */
    uint16_t *scratch;    /* descriptors of the chain being added */
    /* packed */
    uint32_t pos, used_pos, free_slots;
    bool wrap, used_wrap;
};

int vq_mock_new(const vmem_map *m, const vq_mock_config *cfg, vq_mock **out)
{
    uint32_t size = cfg->size ? cfg->size : 256;
    bool split = cfg->layout == VQ_LAYOUT_SPLIT;
    if (size > VQ_MAX_SIZE || (split && !cvmm_is_pow2(size)) || (cfg->desc_gpa & 15) ||
        (cfg->driver_gpa & (split ? 1 : 3)) || (cfg->device_gpa & 3))
        return -EINVAL;
    vq_mock *mk = calloc(1, sizeof(*mk));
    if (!mk)
        return -ENOMEM;
    mk->map = m;
    mk->cfg = *cfg;
    mk->size = size;
    mk->free_stack = calloc(size, sizeof(uint16_t));
    mk->chain_next = calloc(size, sizeof(uint16_t));
    mk->chain_len = calloc(size, sizeof(uint16_t));
    mk->inflight = calloc(size, 1);
    mk->scratch = calloc(size, sizeof(uint16_t));
    if (!mk->free_stack || !mk->chain_next || !mk->chain_len || !mk->inflight || !mk->scratch) {
        vq_mock_free(mk);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < size; i++)
        mk->free_stack[i] = (uint16_t)(size - 1 - i); /* pop order 0, 1, 2, ... */
    mk->nfree = size;
    mk->free_slots = size;
    mk->wrap = mk->used_wrap = true;
    static const uint8_t zero[256];
    uint64_t dlen = 16ull * size;
    uint64_t drv = split ? vq_split_avail_bytes(size) : 4, dev = split ? vq_split_used_bytes(size) : 4;
    struct {
        uint64_t gpa, len;
    } areas[3] = {{cfg->desc_gpa, dlen}, {cfg->driver_gpa, drv}, {cfg->device_gpa, dev}};
    for (int a = 0; a < 3; a++) {
        for (uint64_t off = 0; off < areas[a].len; off += sizeof(zero)) {
            uint64_t n = areas[a].len - off < sizeof(zero) ? areas[a].len - off : sizeof(zero);
            int rc = vmem_write(m, areas[a].gpa + off, zero, n);
            if (rc < 0) {
                vq_mock_free(mk);
                return rc;
            }
        }
    }
    *out = mk;
    return 0;
}

void vq_mock_free(vq_mock *mk)
{
    if (!mk)
        return;
    free(mk->free_stack);
    free(mk->chain_next);
    free(mk->chain_len);
    free(mk->inflight);
    free(mk->scratch);
    free(mk);
}

int vq_mock_attach(vq_mock *mk, vq_queue *q)
{
    int rc = vq_queue_set_features(q, mk->cfg.layout, mk->cfg.event_idx);
    if (rc == 0)
        rc = vq_queue_set_size(q, mk->size);
    if (rc == 0)
        rc = vq_queue_set_addrs(q, mk->cfg.desc_gpa, mk->cfg.driver_gpa, mk->cfg.device_gpa);
    if (rc == 0)
        rc = vq_queue_set_map(q, mk->map);
    if (rc == 0)
        rc = vq_queue_set_ready(q, true);
    return rc;
}

/* ---- split ---- */

static int split_desc(vq_mock *mk, uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
                      uint16_t next)
{
    struct vq_split_desc d = {cvmm_le64_set(addr), cvmm_le32_set(len), cvmm_le16_set(flags), cvmm_le16_set(next)};
    return vmem_write(mk->map, table + 16ull * i, &d, sizeof(d));
}

static int split_publish(vq_mock *mk, uint16_t head)
{
    uint64_t slot = mk->cfg.driver_gpa + VQ_SPLIT_AVAIL_RING(mk->avail_idx & (mk->size - 1));
    int rc = vmem_store_le16(mk->map, slot, head);
    if (rc < 0)
        return rc;
    mk->avail_idx++;
    /* Release pairs with the device's acquire of avail->idx. */
    return vmem_store_release_u16(mk->map, mk->cfg.driver_gpa + VQ_SPLIT_AVAIL_IDX, mk->avail_idx);
}

static int split_add(vq_mock *mk, const vq_mock_buf *b, unsigned n, uint64_t table, uint16_t *head)
{
    unsigned need = table ? 1 : n;
    if (need == 0 || mk->nfree < need)
        return -ENOSPC;
    uint16_t *d = mk->scratch;
    for (unsigned i = 0; i < need; i++)
        d[i] = mk->free_stack[mk->nfree - 1 - i];
    int rc = 0;
    if (table) {
        for (unsigned i = 0; i < n && rc == 0; i++)
            rc = split_desc(mk, table, i, b[i].gpa, b[i].len,
                            (uint16_t)((b[i].write ? VQ_DESC_F_WRITE : 0) | (i + 1 < n ? VQ_DESC_F_NEXT : 0)),
                            (uint16_t)(i + 1 < n ? i + 1 : 0));
        if (rc == 0)
            rc = split_desc(mk, mk->cfg.desc_gpa, d[0], table, 16u * n, VQ_DESC_F_INDIRECT, 0);
    } else {
        for (unsigned i = 0; i < n && rc == 0; i++)
            rc = split_desc(mk, mk->cfg.desc_gpa, d[i], b[i].gpa, b[i].len,
                            (uint16_t)((b[i].write ? VQ_DESC_F_WRITE : 0) | (i + 1 < n ? VQ_DESC_F_NEXT : 0)),
                            i + 1 < n ? d[i + 1] : 0);
    }
    if (rc < 0)
        return rc;
    mk->nfree -= need;
    for (unsigned i = 0; i + 1 < need; i++)
        mk->chain_next[d[i]] = d[i + 1];
    mk->chain_len[d[0]] = (uint16_t)need;
    mk->inflight[d[0]] = 1;
    if (head)
        *head = d[0];
    return split_publish(mk, d[0]);
}

static int split_used(vq_mock *mk, uint16_t *head, uint32_t *len)
{
    uint16_t idx;
    int rc = vmem_load_acquire_u16(mk->map, mk->cfg.device_gpa + VQ_SPLIT_USED_IDX, &idx);
    if (rc < 0)
        return rc;
    if (idx == mk->used_idx)
        return 0;
    uint64_t e = mk->cfg.device_gpa + VQ_SPLIT_USED_RING(mk->used_idx & (mk->size - 1));
    uint32_t id, l;
    if ((rc = vmem_load_le32(mk->map, e, &id)) < 0 || (rc = vmem_load_le32(mk->map, e + 4, &l)) < 0)
        return rc;
    if (id >= mk->size || !mk->inflight[id])
        return -EIO;
    mk->inflight[id] = 0;
    uint16_t d = (uint16_t)id;
    for (unsigned i = 0; i < mk->chain_len[id]; i++) {
        mk->free_stack[mk->nfree++] = d;
        d = mk->chain_next[d];
    }
    mk->used_idx++;
    *head = (uint16_t)id;
    *len = l;
    return 1;
}

/* ---- packed ---- */

static uint16_t avail_bits(bool wrap) { return wrap ? VQ_DESC_F_AVAIL : VQ_DESC_F_USED; }

uint16_t vq_mock_avail_flags(const vq_mock *mk) { return avail_bits(mk->wrap); }

uint64_t vq_mock_desc_gpa(const vq_mock *mk, uint32_t index)
{
    return index < mk->size ? mk->cfg.desc_gpa + 16ull * index : UINT64_MAX;
}

static int packed_desc(vq_mock *mk, uint64_t at, uint64_t addr, uint32_t len, uint16_t id)
{
    int rc = vmem_store_le64(mk->map, at, addr);
    if (rc == 0)
        rc = vmem_store_le32(mk->map, at + 8, len);
    if (rc == 0)
        rc = vmem_store_le16(mk->map, at + 12, id);
    return rc;
}

static int packed_add(vq_mock *mk, const vq_mock_buf *b, unsigned n, uint64_t table, uint16_t *head)
{
    unsigned slots = table ? 1 : n;
    if (mk->free_slots < slots || mk->nfree == 0)
        return -ENOSPC;
    uint16_t id = mk->free_stack[mk->nfree - 1];
    int rc = 0;
    uint32_t p = mk->pos;
    bool w = mk->wrap;
    uint16_t first_flags = 0;
    if (table) {
        for (unsigned i = 0; i < n && rc == 0; i++) {
            rc = packed_desc(mk, table + 16ull * i, b[i].gpa, b[i].len, 0);
            if (rc == 0)
                rc = vmem_store_le16(mk->map, table + 16ull * i + 14, b[i].write ? VQ_DESC_F_WRITE : 0);
        }
        if (rc == 0)
            rc = packed_desc(mk, mk->cfg.desc_gpa + 16ull * p, table, 16u * n, id);
        first_flags = (uint16_t)(VQ_DESC_F_INDIRECT | avail_bits(w));
        if (++p == mk->size) {
            p = 0;
            w = !w;
        }
    } else {
        for (unsigned i = 0; i < n && rc == 0; i++) {
            uint16_t f =
                (uint16_t)((b[i].write ? VQ_DESC_F_WRITE : 0) | (i + 1 < n ? VQ_DESC_F_NEXT : 0) | avail_bits(w));
            uint64_t at = mk->cfg.desc_gpa + 16ull * p;
            rc = packed_desc(mk, at, b[i].gpa, b[i].len, id);
            if (rc == 0 && i > 0)
                rc = vmem_store_le16(mk->map, at + 14, f);
            if (i == 0)
                first_flags = f;
            if (++p == mk->size) {
                p = 0;
                w = !w;
            }
        }
    }
    if (rc < 0)
        return rc;
    /* The first descriptor's flags last, with release: pairs with the device's acquire. */
    rc = vmem_store_release_u16(mk->map, mk->cfg.desc_gpa + 16ull * mk->pos + 14, first_flags);
    if (rc < 0)
        return rc;
    mk->nfree--;
    mk->free_slots -= slots;
    mk->chain_len[id] = (uint16_t)slots;
    mk->inflight[id] = 1;
    mk->pos = p;
    mk->wrap = w;
    if (head)
        *head = id;
    return 0;
}

static int packed_used(vq_mock *mk, uint16_t *head, uint32_t *len)
{
    uint64_t at = mk->cfg.desc_gpa + 16ull * mk->used_pos;
    uint16_t f, id;
    uint32_t l;
    int rc = vmem_load_acquire_u16(mk->map, at + 14, &f);
    if (rc < 0)
        return rc;
    bool a = (f & VQ_DESC_F_AVAIL) != 0, u = (f & VQ_DESC_F_USED) != 0;
    if (a != mk->used_wrap || u != mk->used_wrap)
        return 0;
    if ((rc = vmem_load_le16(mk->map, at + 12, &id)) < 0 || (rc = vmem_load_le32(mk->map, at + 8, &l)) < 0)
        return rc;
    if (id >= mk->size || !mk->inflight[id])
        return -EIO;
    mk->inflight[id] = 0;
    mk->used_pos += mk->chain_len[id];
    if (mk->used_pos >= mk->size) {
        mk->used_pos -= mk->size;
        mk->used_wrap = !mk->used_wrap;
    }
    mk->free_slots += mk->chain_len[id];
    mk->free_stack[mk->nfree++] = id;
    *head = id;
    *len = l;
    return 1;
}

/* ---- public ---- */

int vq_mock_add(vq_mock *mk, const vq_mock_buf *bufs, unsigned n, uint16_t *head)
{
    if (n == 0 || n > mk->size)
        return n == 0 ? -EINVAL : -ENOSPC;
    return mk->cfg.layout == VQ_LAYOUT_SPLIT ? split_add(mk, bufs, n, 0, head) : packed_add(mk, bufs, n, 0, head);
}

int vq_mock_add_indirect(vq_mock *mk, uint64_t table_gpa, const vq_mock_buf *bufs, unsigned n, uint16_t *head)
{
    if (n == 0 || table_gpa == 0)
        return -EINVAL;
    return mk->cfg.layout == VQ_LAYOUT_SPLIT ? split_add(mk, bufs, n, table_gpa, head)
                                             : packed_add(mk, bufs, n, table_gpa, head);
}

int vq_mock_used(vq_mock *mk, uint16_t *head, uint32_t *len)
{
    return mk->cfg.layout == VQ_LAYOUT_SPLIT ? split_used(mk, head, len) : packed_used(mk, head, len);
}

static uint32_t lin(const vq_mock *mk, uint32_t pos, bool wrap) { return pos + (wrap ? 0 : mk->size); }

bool vq_mock_kick_needed(vq_mock *mk)
{
    /* Full fence between publishing buffers and reading the device's suppression state; pairs with the
     * device's fence in vq_enable_notification(). */
    vmem_fence_seq_cst();
    if (mk->cfg.layout == VQ_LAYOUT_SPLIT) {
        uint16_t new_idx = mk->avail_idx, old = mk->kick_old, v = 0;
        mk->kick_old = new_idx;
        if (new_idx == old)
            return false;
        if (mk->cfg.event_idx) {
            if (vmem_load_le16(mk->map, mk->cfg.device_gpa + VQ_SPLIT_AVAIL_EVENT(mk->size), &v) < 0)
                return true;
            return vq_need_event(v, new_idx, old);
        }
        if (vmem_load_le16(mk->map, mk->cfg.device_gpa + VQ_SPLIT_USED_FLAGS, &v) < 0)
            return true;
        return !(v & VQ_USED_F_NO_NOTIFY);
    }
    uint32_t s2 = 2 * mk->size, new_l = lin(mk, mk->pos, mk->wrap), old = mk->kick_old;
    mk->kick_old = (uint16_t)new_l;
    if (new_l == old)
        return false;
    uint32_t ev = 0;
    if (vmem_load_le32(mk->map, mk->cfg.device_gpa, &ev) < 0)
        return true;
    uint16_t flags = (uint16_t)(ev >> 16) & 3u, off = (uint16_t)ev & 0x7fffu;
    bool wrap = (ev >> 15) & 1u;
    if (flags == VQ_RING_EVENT_FLAGS_DISABLE)
        return false;
    if (flags != VQ_RING_EVENT_FLAGS_DESC || !mk->cfg.event_idx || off >= mk->size)
        return true;
    uint32_t e = lin(mk, off, wrap);
    uint32_t d_ev = (new_l + s2 - e) % s2, d_old = (new_l + s2 - old) % s2;
    d_ev = d_ev == 0 ? s2 - 1 : d_ev - 1;
    return d_ev < d_old;
}

int vq_mock_set_used_event(vq_mock *mk, uint16_t idx)
{
    if (mk->cfg.layout != VQ_LAYOUT_SPLIT)
        return -EINVAL;
    return vmem_store_le16(mk->map, mk->cfg.driver_gpa + VQ_SPLIT_USED_EVENT(mk->size), idx);
}

int vq_mock_set_no_interrupt(vq_mock *mk, bool on)
{
    if (mk->cfg.layout != VQ_LAYOUT_SPLIT)
        return -EINVAL;
    return vmem_store_le16(mk->map, mk->cfg.driver_gpa + VQ_SPLIT_AVAIL_FLAGS, on ? VQ_AVAIL_F_NO_INTERRUPT : 0);
}

int vq_mock_set_driver_event(vq_mock *mk, uint16_t flags, uint16_t off, bool wrap)
{
    if (mk->cfg.layout != VQ_LAYOUT_PACKED)
        return -EINVAL;
    int rc = vmem_store_le16(mk->map, mk->cfg.driver_gpa, (uint16_t)((off & 0x7fffu) | (wrap ? 0x8000u : 0)));
    if (rc == 0)
        rc = vmem_store_release_u16(mk->map, mk->cfg.driver_gpa + 2, flags);
    return rc;
}

uint16_t vq_mock_avail_idx(const vq_mock *mk)
{
    return mk->cfg.layout == VQ_LAYOUT_SPLIT ? mk->avail_idx : (uint16_t)mk->pos;
}
bool vq_mock_avail_wrap(const vq_mock *mk) { return mk->wrap; }
uint32_t vq_mock_free_descs(const vq_mock *mk)
{
    return mk->cfg.layout == VQ_LAYOUT_SPLIT ? mk->nfree : mk->free_slots;
}

int vq_mock_write_desc(vq_mock *mk, uint32_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next_or_id)
{
    if (index >= mk->size)
        return -EINVAL;
    if (mk->cfg.layout == VQ_LAYOUT_SPLIT)
        return split_desc(mk, mk->cfg.desc_gpa, index, addr, len, flags, next_or_id);
    uint64_t at = mk->cfg.desc_gpa + 16ull * index;
    int rc = packed_desc(mk, at, addr, len, next_or_id);
    if (rc == 0)
        rc = vmem_store_release_u16(mk->map, at + 14, flags);
    return rc;
}

int vq_mock_write_table(vq_mock *mk, uint64_t table_gpa, uint32_t index, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next_or_id)
{
    if (mk->cfg.layout == VQ_LAYOUT_SPLIT)
        return split_desc(mk, table_gpa, index, addr, len, flags, next_or_id);
    uint64_t at = table_gpa + 16ull * index;
    int rc = packed_desc(mk, at, addr, len, next_or_id);
    if (rc == 0)
        rc = vmem_store_le16(mk->map, at + 14, flags);
    return rc;
}

int vq_mock_publish_head(vq_mock *mk, uint16_t head)
{
    if (mk->cfg.layout != VQ_LAYOUT_SPLIT)
        return -EINVAL;
    return split_publish(mk, head);
}

int vq_mock_set_avail_idx(vq_mock *mk, uint16_t idx)
{
    if (mk->cfg.layout != VQ_LAYOUT_SPLIT)
        return -EINVAL;
    mk->avail_idx = idx;
    return vmem_store_release_u16(mk->map, mk->cfg.driver_gpa + VQ_SPLIT_AVAIL_IDX, idx);
}

int vq_mock_advance(vq_mock *mk, uint32_t n)
{
    if (mk->cfg.layout != VQ_LAYOUT_PACKED)
        return -EINVAL;
    mk->pos += n % mk->size;
    if ((n / mk->size) & 1)
        mk->wrap = !mk->wrap;
    if (mk->pos >= mk->size) {
        mk->pos -= mk->size;
        mk->wrap = !mk->wrap;
    }
    return 0;
}

/* ---- guarded guest memory ---- */

struct vq_mock_mem {
    vmem_region *r;
    uint8_t *guard[2]; /* PROT_NONE areas of VQ_MOCK_GUARD_BYTES we made below and above it, or NULL */
};

/* Is the page holding @addr mapped without any access (/proc/self/maps)? */
static bool no_access_at(const uint8_t *addr)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    bool none = false;
    while (f && fgets(line, sizeof(line), f)) {
        char *p = line, *end;
        uintptr_t lo = (uintptr_t)strtoull(p, &end, 16), hi = 0;
        if (*end == '-')
            hi = (uintptr_t)strtoull(end + 1, &end, 16);
        if (*end == ' ' && (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            none = strncmp(end + 1, "---", 3) == 0;
            break;
        }
    }
    if (f)
        fclose(f);
    return none;
}

/* An inaccessible reservation of address space (anonymous, PROT_NONE, no swap): at @addr exactly with
 * @fixed (MAP_FIXED_NOREPLACE), anywhere otherwise.  Return: the address; MAP_FAILED. */
static uint8_t *reserve(uint8_t *addr, size_t len, bool fixed)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (fixed ? MAP_FIXED_NOREPLACE : 0);
    // cppcheck-suppress invalidFunctionArg ; fd -1 is what MAP_ANONYMOUS takes
    return mmap(addr, len, PROT_NONE, flags, -1, 0);
}

/* One try.  A reservation of slack + size + guard is cut open below its top guard; mmap() places a new
 * mapping in the highest gap that fits (top-down), so PROT_NONE fillers of @size first take every higher
 * gap until one lands at the top of the opening; that one is released and the region mapped at once, so
 * it lands right under the guard (vm-memory's own mappings, guard pages included, fit the slack).  The
 * result is verified: no access right above the region and a guard made (or found) right below it.  A
 * region that lands elsewhere is returned in *stray (it fills that gap for the next try). */
static int guarded_try(const vmem_region_desc *d, const struct cvmm_log *log, vq_mock_mem *mm, vmem_region **stray)
{
    enum { MAX_FILLERS = 8192 };
    size_t g = VQ_MOCK_GUARD_BYTES, size = (size_t)d->size, hole = 8 * g + size;
    uint8_t *res = reserve(NULL, hole + g, false);
    if (res == MAP_FAILED)
        return -errno;
    uint8_t *top = res + hole;
    (void)munmap(res, hole);
    void **fill = calloc(MAX_FILLERS, sizeof(*fill));
    unsigned n = 0;
    int rc = fill ? -EAGAIN : -ENOMEM;
    vmem_region *r = NULL;
    while (fill && n < MAX_FILLERS) {
        uint8_t *f = reserve(NULL, size, false);
        if (f == MAP_FAILED)
            break;
        if (f + size == top) {
            (void)munmap(f, size);
            rc = vmem_region_new_memfd(d, log, &r);
            break;
        }
        fill[n++] = f;
    }
    while (n > 0)
        (void)munmap(fill[--n], size);
    free(fill);
    if (rc < 0) {
        (void)munmap(top, g);
        return rc;
    }
    uint8_t *x = vmem_region_hva(r);
    if (x >= res + g && x + size <= top && no_access_at(x + size)) {
        mm->guard[1] = top;
        mm->guard[0] = NULL;
        if (no_access_at(x - 1)) { /* vm-memory's own guard */
            mm->r = r;
            return 0;
        }
        uint8_t *lo = reserve(x - g, g, true);
        if (lo == x - g) {
            mm->guard[0] = lo;
            mm->r = r;
            return 0;
        }
        if (lo != MAP_FAILED) /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
            (void)munmap(lo, g);
        mm->guard[1] = NULL;
    }
    (void)munmap(top, g);
    *stray = r;
    return -EAGAIN;
}

int vq_mock_mem_new(uint64_t gpa, uint64_t size, uint32_t flags, const struct cvmm_log *log, vq_mock_mem **out)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (size == 0 || size % page || size > SIZE_MAX / 2)
        return -EINVAL;
    vq_mock_mem *mm = calloc(1, sizeof(*mm));
    if (!mm)
        return -ENOMEM;
    vmem_region_desc d = {.gpa = gpa, .size = size, .flags = flags};
    vmem_region *stray[8] = {0};
    int rc = -EAGAIN;
    for (unsigned i = 0; rc == -EAGAIN && i < 8; i++)
        rc = guarded_try(&d, log, mm, &stray[i]);
    for (unsigned i = 0; i < 8; i++) /* held until the end so that each try finds a new gap */
        vmem_region_unref(stray[i]);
    if (rc < 0) {
        free(mm);
        return rc;
    }
    *out = mm;
    return 0;
}

void vq_mock_mem_free(vq_mock_mem *mm)
{
    if (!mm)
        return;
    vmem_region_unref(mm->r);
    for (int i = 0; i < 2; i++)
        if (mm->guard[i])
            (void)munmap(mm->guard[i], VQ_MOCK_GUARD_BYTES);
    free(mm);
}

vmem_region *vq_mock_mem_region(const vq_mock_mem *mm) { return mm->r; }
uint8_t *vq_mock_mem_hva(const vq_mock_mem *mm) { return vmem_region_hva(mm->r); }
