/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/log.c - the dirty-page bitmap shared with the front-end (cvmm/vmem/log.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cvmm/vmem/atomic.h"
#include "internal.h"

int vmem_log_new_fd(int fd, uint64_t offset, uint64_t size, const struct cvmm_log *log, vmem_log **out)
{
    uint64_t end;
    if (size == 0 || !cvmm_add_u64(offset, size, &end)) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: dirty log offset 0x%llx size 0x%llx refused (%s)",
                  (unsigned long long)offset, (unsigned long long)size, size == 0 ? "empty" : "wraps");
        return -EINVAL;
    }
    vmem_log *l = calloc(1, sizeof(*l));
    if (!l) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: dirty log: out of memory");
        return -ENOMEM;
    }
    int rc = vmem__mmap_fd(fd, offset, size, PROT_READ | PROT_WRITE, 0, log, "dirty log", &l->mp);
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->bits = l->mp.hva;
    /* The front-end may truncate the log's file too: marking must not kill us (see fault.c). */
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        rc =
            vmem__fault_watch(l->mp.start, l->mp.size, l->mp.page, PROT_READ | PROT_WRITE, &l->faulted, log, &l->guard);
        if (rc < 0) {
            vmem__munmap(&l->mp);
            free(l);
            return rc;
        }
    }
    atomic_init(&l->refs, 1);
    atomic_init(&l->warned, false);
    atomic_init(&l->marked, false);
    atomic_init(&l->faulted, 0);
    l->size = size;
    l->pages = size > UINT64_MAX / 8 ? UINT64_MAX : size * 8;
    l->log = log;
    *out = l;
    return 0;
}

vmem_log *vmem_log_ref(vmem_log *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    return l;
}

void vmem_log_unref(vmem_log *l)
{
    if (!l)
        return;
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    vmem__fault_unwatch(l->guard);
    vmem__munmap(&l->mp);
    free(l);
}

/* Note that bits were set (vmem_log_take_marked()).  Read first: while the flag stays set, marking does not
 * write the shared line again.  Release pairs with the acquire exchange in vmem_log_take_marked(). */
static CVMM_ALWAYS_INLINE void note_marked(vmem_log *l)
{
    if (!atomic_load_explicit(&l->marked, memory_order_relaxed))
        atomic_store_explicit(&l->marked, true, memory_order_release);
}

/* Set bits first..last (inclusive) of @bits. */
static void set_bits(uint8_t *bits, uint64_t first, uint64_t last)
{
    uint64_t fb = first / 8, lb = last / 8;
    uint8_t head = (uint8_t)(0xffu << (first % 8)), tail = (uint8_t)(0xffu >> (7 - last % 8));
    if (fb == lb) {
        vmem_hva_or_u8(bits + fb, head & tail);
        return;
    }
    vmem_hva_or_u8(bits + fb, head);
    for (uint64_t b = fb + 1; b < lb; b++)
        vmem_hva_or_u8(bits + b, 0xff);
    vmem_hva_or_u8(bits + lb, tail);
}

int vmem_log_mark(vmem_log *l, uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return 0;
    if (!cvmm_range_ok(gpa, len)) {
        cvmm_logf(l->log, CVMM_LOG_DEBUG, "vmem: dirty log mark gpa 0x%llx len %llu wraps", (unsigned long long)gpa,
                  (unsigned long long)len);
        return -EOVERFLOW;
    }
    uint64_t first = gpa / VMEM_LOG_PAGE, last = (gpa + (len - 1)) / VMEM_LOG_PAGE;
    if (CVMM_LIKELY(last < l->pages)) {
        set_bits(l->bits, first, last);
        note_marked(l);
        return 0;
    }
    if (first < l->pages) {
        set_bits(l->bits, first, l->pages - 1);
        note_marked(l);
    }
    if (!atomic_exchange_explicit(&l->warned, true, memory_order_relaxed))
        cvmm_logf(l->log, CVMM_LOG_WARN,
                  "vmem: dirty log of %llu bytes is too small for gpa 0x%llx len %llu (pages beyond %llu are "
                  "not logged; reported once)",
                  (unsigned long long)l->size, (unsigned long long)gpa, (unsigned long long)len,
                  (unsigned long long)l->pages);
    return -EFAULT;
}

bool vmem_log_take_marked(vmem_log *l)
{
    /* Acquire pairs with note_marked()'s release: the caller's signal follows the bits it reports. */
    return atomic_exchange_explicit(&l->marked, false, memory_order_acq_rel);
}

uint64_t vmem_log_size(const vmem_log *l) { return l->size; }
const uint8_t *vmem_log_bitmap(const vmem_log *l) { return l->bits; }
