/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/map.c - immutable memory maps: build, derive, look up, translate (cvmm/vmem/map.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int vmem__map_fault(const vmem_map *m, const char *op, uint64_t gpa, uint64_t len, int rc)
{
    const char *what = rc == -EFAULT      ? "unmapped or leaves its region"
                       : rc == -EOVERFLOW ? "wraps"
                       : rc == -EPERM     ? "read-only"
                       : rc == -EINVAL    ? "misaligned or empty"
                       : rc == -ENOSPC    ? "needs too many iovecs"
                                          : "refused";
    cvmm_logf(m->log, CVMM_LOG_DEBUG, "vmem: %s gpa 0x%llx len %llu %s", op, (unsigned long long)gpa,
              (unsigned long long)len, what);
    return rc;
}

static int cmp_region_gpa(const void *a, const void *b)
{
    const vmem_region *x = *(vmem_region *const *)a, *y = *(vmem_region *const *)b;
    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static uint64_t region_last(const vmem_region *r) { return r->gpa + (r->size - 1); }

/* Buckets of the lookup table for @n regions: about 4 per region, a power of two, at least 8 (0 if n is 0). */
static uint32_t buckets_for(size_t n)
{
    uint32_t nb = 8;
    if (n == 0)
        return 0;
    while (nb < 4 * n && nb < VMEM__BUCKETS_MAX)
        nb <<= 1;
    return nb;
}

/* Fill @tab (m->nb buckets) from m's sorted slots; see vmem__slot_find(). */
static void build_table(vmem_map *m, struct vmem_bucket *tab)
{
    size_t n = m->n, i = 0, j = 0;
    uint64_t span = m->slots[n - 1].last - m->slots[0].gpa;
    uint32_t shift = 0;
    while (shift < 63 && (span >> shift) >= m->nb)
        shift++;
    m->base = m->slots[0].gpa;
    m->shift = shift;
    for (uint64_t b = 0; b < m->nb; b++) {
        if (b > (span >> shift)) { /* past the last byte: only misses land here */
            tab[b] = (struct vmem_bucket){.lo = (uint16_t)(n - 1), .extra = 0};
            continue;
        }
        uint64_t off = b << shift, end_off; /* off <= span: no wrap below */
        if (!cvmm_add_u64(off, (1ull << shift) - 1, &end_off) || end_off > span)
            end_off = span;
        uint64_t start = m->base + off, last = m->base + end_off;
        while (i + 1 < n && m->slots[i + 1].gpa <= start)
            i++;
        if (j < i)
            j = i;
        while (j + 1 < n && m->slots[j + 1].gpa <= last)
            j++;
        tab[b] = (struct vmem_bucket){.lo = (uint16_t)i, .extra = (uint16_t)(j - i)};
    }
    m->tab = tab;
}

/* Build a map of @n regions (copied, sorted, overlap-checked, referenced). */
static int map_build(vmem_region *const *regions, size_t n, vmem_log *dlog, const struct cvmm_log *log, vmem_map **out)
{
    if (n > VMEM_MAX_REGIONS) {
        cvmm_logf(log, CVMM_LOG_WARN, "vmem: map of %zu regions refused (at most %u)", n, VMEM_MAX_REGIONS);
        return -ENOSPC;
    }
    if (n && !regions) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: map of %zu regions from a NULL array", n);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!regions[i]) {
            cvmm_logf(log, CVMM_LOG_ERROR, "vmem: map region %zu is NULL", i);
            return -EINVAL;
        }
    }
    uint32_t nb = buckets_for(n);
    vmem_map *m =
        malloc(sizeof(*m) + n * (sizeof(struct vmem_slot) + sizeof(vmem_region *)) + nb * sizeof(struct vmem_bucket));
    if (!m) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: map of %zu regions: out of memory", n);
        return -ENOMEM;
    }
    m->n = n;
    m->regions = (vmem_region **)(void *)&m->slots[n];
    m->nb = nb;
    m->tab = NULL;
    m->log = log;
    m->dlog = NULL;
    m->base = 0;
    m->shift = 0;
    /* NOLINTBEGIN(bugprone-sizeof-expression): arrays of region pointers */
    if (n)
        memcpy(m->regions, regions, n * sizeof(*regions));
    if (n > 1)
        qsort(m->regions, n, sizeof(*m->regions), cmp_region_gpa);
    /* NOLINTEND(bugprone-sizeof-expression) */
    for (size_t i = 0; i + 1 < n; i++) {
        const vmem_region *a = m->regions[i], *b = m->regions[i + 1];
        if (region_last(a) >= b->gpa) {
            cvmm_logf(log, CVMM_LOG_WARN, "vmem: region gpa 0x%llx size 0x%llx overlaps region gpa 0x%llx size 0x%llx",
                      (unsigned long long)a->gpa, (unsigned long long)a->size, (unsigned long long)b->gpa,
                      (unsigned long long)b->size);
            free(m);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        vmem_region *r = vmem_region_ref(m->regions[i]);
        m->slots[i] = (struct vmem_slot){.gpa = r->gpa,
                                         .last = region_last(r),
                                         .hva = r->hva,
                                         .tag = (uintptr_t)r | ((r->flags & VMEM_REGION_READ_ONLY) ? 1u : 0u)};
    }
    if (nb)
        build_table(m, (struct vmem_bucket *)(void *)&m->regions[n]);
    if (dlog)
        m->dlog = vmem_log_ref(dlog);
    *out = m;
    return 0;
}

int vmem_map_new(vmem_region *const *regions, size_t n, vmem_log *dlog, const struct cvmm_log *log, vmem_map **out)
{
    return map_build(regions, n, dlog, log, out);
}

int vmem_map_with_region(const vmem_map *m, vmem_region *r, vmem_map **out)
{
    vmem_region *all[VMEM_MAX_REGIONS + 1];
    if (!r) {
        cvmm_logf(m->log, CVMM_LOG_ERROR, "vmem: cannot add a NULL region");
        return -EINVAL;
    }
    if (m->n >= VMEM_MAX_REGIONS) {
        cvmm_logf(m->log, CVMM_LOG_WARN, "vmem: region gpa 0x%llx refused: the map already has %u regions",
                  (unsigned long long)r->gpa, VMEM_MAX_REGIONS);
        return -ENOSPC;
    }
    if (m->n) /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of region pointers */
        memcpy(all, m->regions, m->n * sizeof(*all));
    all[m->n] = r;
    return map_build(all, m->n + 1, m->dlog, m->log, out);
}

int vmem_map_without_region(const vmem_map *m, uint64_t gpa, uint64_t size, uint64_t user_addr, vmem_map **out)
{
    vmem_region *all[VMEM_MAX_REGIONS];
    size_t k = 0;
    bool found = false;
    for (size_t i = 0; i < m->n; i++) {
        const vmem_region *r = m->regions[i];
        if (!found && r->gpa == gpa && r->size == size && (user_addr == 0 || r->user_addr == user_addr))
            found = true;
        else
            all[k++] = m->regions[i];
    }
    if (!found) {
        cvmm_logf(m->log, CVMM_LOG_WARN, "vmem: no region gpa 0x%llx size 0x%llx user_addr 0x%llx to remove",
                  (unsigned long long)gpa, (unsigned long long)size, (unsigned long long)user_addr);
        return -ENOENT;
    }
    return map_build(all, k, m->dlog, m->log, out);
}

int vmem_map_with_log(const vmem_map *m, vmem_log *dlog, vmem_map **out)
{
    return map_build(m->regions, m->n, dlog, m->log, out);
}

void vmem_map_free(vmem_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        vmem_region_unref(m->regions[i]);
    vmem_log_unref(m->dlog);
    free(m);
}

size_t vmem_map_count(const vmem_map *m) { return m->n; }
vmem_region *vmem_map_region(const vmem_map *m, size_t index) { return index < m->n ? m->regions[index] : NULL; }
vmem_log *vmem_map_dirty_log(const vmem_map *m) { return m->dlog; }
const struct cvmm_log *vmem_map_logger(const vmem_map *m) { return m->log; }

int vmem_map_find(const vmem_map *m, uint64_t gpa, const vmem_region **out)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    if (CVMM_UNLIKELY(!s))
        return vmem__map_fault(m, "find", gpa, 1, -EFAULT);
    *out = vmem__slot_region(s);
    return 0;
}

/* The exact errno of a failed translation. */
static __attribute__((noinline, cold)) int translate_fail(const vmem_map *m, uint64_t gpa, uint64_t len, bool write)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    int rc = len == 0                        ? -EINVAL
             : !cvmm_range_ok(gpa, len)      ? -EOVERFLOW
             : !s || len - 1 > s->last - gpa ? -EFAULT
             : write && vmem__slot_ro(s)     ? -EPERM
                                             : -EFAULT;
    return vmem__map_fault(m, write ? "translate_mut" : "translate", gpa, len, rc);
}

static CVMM_ALWAYS_INLINE int translate(const vmem_map *m, uint64_t gpa, uint64_t len, bool write, void **hva)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    /* len 0 makes len - 1 wrap, and a range that wraps cannot fit: both fail the one check. */
    if (CVMM_UNLIKELY(!s || len - 1 > s->last - gpa || (write && vmem__slot_ro(s))))
        return translate_fail(m, gpa, len, write);
    *hva = s->hva + (gpa - s->gpa);
    return 0;
}

int vmem_map_translate(const vmem_map *m, uint64_t gpa, uint64_t len, void **hva)
{
    return translate(m, gpa, len, false, hva);
}

int vmem_map_translate_mut(const vmem_map *m, uint64_t gpa, uint64_t len, void **hva)
{
    return translate(m, gpa, len, true, hva);
}

/* The region whose front-end range holds [uva, uva+len), checked as vmem_map_uva_to_gpa() documents. */
static int uva_find(const vmem_map *m, uint64_t uva, uint64_t len, const vmem_region **out)
{
    if (len == 0 || !cvmm_range_ok(uva, len)) {
        int rc = len == 0 ? -EINVAL : -EOVERFLOW;
        cvmm_logf(m->log, CVMM_LOG_DEBUG, "vmem: user address 0x%llx len %llu %s", (unsigned long long)uva,
                  (unsigned long long)len, len == 0 ? "is empty" : "wraps");
        return rc;
    }
    /* Control path (vring addresses): a linear scan over at most VMEM_MAX_REGIONS regions. */
    for (size_t i = 0; i < m->n; i++) {
        const vmem_region *r = m->regions[i];
        if (r->user_addr != 0 && cvmm_range_in(uva, len, r->user_addr, r->size)) {
            *out = r;
            return 0;
        }
    }
    cvmm_logf(m->log, CVMM_LOG_DEBUG, "vmem: user address 0x%llx len %llu unmapped or leaves its region",
              (unsigned long long)uva, (unsigned long long)len);
    return -EFAULT;
}

int vmem_map_uva_to_gpa(const vmem_map *m, uint64_t uva, uint64_t len, uint64_t *gpa)
{
    const vmem_region *r;
    int rc = uva_find(m, uva, len, &r);
    if (rc < 0)
        return rc;
    *gpa = r->gpa + (uva - r->user_addr);
    return 0;
}

int vmem_map_uva_translate(const vmem_map *m, uint64_t uva, uint64_t len, void **hva)
{
    const vmem_region *r;
    int rc = uva_find(m, uva, len, &r);
    if (rc < 0)
        return rc;
    *hva = r->hva + (uva - r->user_addr);
    return 0;
}

int vmem_map_mark_dirty(const vmem_map *m, uint64_t gpa, uint64_t len)
{
    return m->dlog ? vmem_log_mark(m->dlog, gpa, len) : 0;
}

int vmem_map_check(const vmem_map *m, size_t *index)
{
    if (CVMM_LIKELY(vmem__fault_count() == 0)) /* nothing in the process ever faulted */
        return 0;
    size_t i = 0;
    for (; i < m->n; i++)
        if (atomic_load_explicit(&m->regions[i]->faulted, memory_order_relaxed))
            break;
    if (i == m->n && !(m->dlog && atomic_load_explicit(&m->dlog->faulted, memory_order_relaxed)))
        return 0;
    if (index)
        *index = i;
    return -EIO;
}
