/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem/atomic.h - C11 atomic access to guest-shared little-endian fields through host pointers.
 *
 *  The virtqueue code translates its rings once (vmem_map_translate()) and then uses these inline helpers on
 *  the cached host pointers, so the hot path has no lookup.  This header is the only place in cvmm that
 *  casts guest memory to `_Atomic` types (STYLE §6); the static asserts below check that the atomic types
 *  have the plain types' size and alignment.  Pointers must be naturally aligned.  Threads: any. */
#ifndef CVMM_VMEM_ATOMIC_H
#define CVMM_VMEM_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

#include "cvmm/le.h"

#ifdef __cplusplus
extern "C" {
#endif

_Static_assert(sizeof(_Atomic uint16_t) == 2 && _Alignof(_Atomic uint16_t) == 2, "atomic u16 layout");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && _Alignof(_Atomic uint32_t) == 4, "atomic u32 layout");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && _Alignof(_Atomic uint64_t) == 8, "atomic u64 layout");
_Static_assert(sizeof(_Atomic uint8_t) == 1, "atomic u8 layout");

static inline uint16_t vmem_hva_load_acquire_le16(const void *p)
{
    return cvmm_le16_to_cpu(atomic_load_explicit((_Atomic uint16_t *)(uintptr_t)p, memory_order_acquire));
}
static inline uint32_t vmem_hva_load_acquire_le32(const void *p)
{
    return cvmm_le32_to_cpu(atomic_load_explicit((_Atomic uint32_t *)(uintptr_t)p, memory_order_acquire));
}
static inline uint16_t vmem_hva_load_relaxed_le16(const void *p)
{
    return cvmm_le16_to_cpu(atomic_load_explicit((_Atomic uint16_t *)(uintptr_t)p, memory_order_relaxed));
}
static inline uint32_t vmem_hva_load_relaxed_le32(const void *p)
{
    return cvmm_le32_to_cpu(atomic_load_explicit((_Atomic uint32_t *)(uintptr_t)p, memory_order_relaxed));
}
static inline uint64_t vmem_hva_load_relaxed_le64(const void *p)
{
    return cvmm_le64_to_cpu(atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)p, memory_order_relaxed));
}
static inline void vmem_hva_store_release_le16(void *p, uint16_t v)
{
    atomic_store_explicit((_Atomic uint16_t *)p, cvmm_cpu_to_le16(v), memory_order_release);
}
static inline void vmem_hva_store_release_le32(void *p, uint32_t v)
{
    atomic_store_explicit((_Atomic uint32_t *)p, cvmm_cpu_to_le32(v), memory_order_release);
}
static inline void vmem_hva_store_relaxed_le16(void *p, uint16_t v)
{
    atomic_store_explicit((_Atomic uint16_t *)p, cvmm_cpu_to_le16(v), memory_order_relaxed);
}
static inline void vmem_hva_store_relaxed_le32(void *p, uint32_t v)
{
    atomic_store_explicit((_Atomic uint32_t *)p, cvmm_cpu_to_le32(v), memory_order_relaxed);
}
static inline void vmem_hva_store_relaxed_le64(void *p, uint64_t v)
{
    atomic_store_explicit((_Atomic uint64_t *)p, cvmm_cpu_to_le64(v), memory_order_relaxed);
}
/** vmem_hva_or_u8() - atomic OR of a byte (dirty-log bits). */
static inline void vmem_hva_or_u8(void *p, uint8_t bits)
{
    atomic_fetch_or_explicit((_Atomic uint8_t *)p, bits, memory_order_relaxed);
}
/** vmem_fence_seq_cst() - full barrier between publishing used entries and reading the event index
 *  (QEMU's smp_mb(), the kernel's virtio_mb()). */
static inline void vmem_fence_seq_cst(void) { atomic_thread_fence(memory_order_seq_cst); }
static inline void vmem_fence_acquire(void) { atomic_thread_fence(memory_order_acquire); }
static inline void vmem_fence_release(void) { atomic_thread_fence(memory_order_release); }

#ifdef __cplusplus
}
#endif
#endif
