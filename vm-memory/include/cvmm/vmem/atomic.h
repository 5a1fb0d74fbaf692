/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem/atomic.h - C11 atomic access to guest-shared little-endian fields through host pointers.
 *
 *  The virtqueue code translates its rings once (vmem_map_translate()) and then uses these inline helpers on
 *  the cached host pointers, so the hot path has no lookup.  This header is the only place in cvmm that
 *  casts guest memory to `_Atomic` types (STYLE §6); the static asserts below check that the atomic types
 *  have the plain types' size and alignment.  Pointers must be naturally aligned.  Threads: any.
 *  C++ (which has no _Atomic qualifier before C++23) gets the same single accesses and orders through the
 *  GCC/Clang __atomic builtins, so the umbrella cvmm/vmem.h can be included from C++ too. */
#ifndef CVMM_VMEM_ATOMIC_H
#define CVMM_VMEM_ATOMIC_H

#ifndef __cplusplus
#include <stdatomic.h>
#endif
#include <stdint.h>

#include "cvmm/le.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef __cplusplus
_Static_assert(sizeof(_Atomic uint16_t) == 2, "atomic u16 size");
_Static_assert(_Alignof(_Atomic uint16_t) == 2, "atomic u16 alignment");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 size");
_Static_assert(_Alignof(_Atomic uint32_t) == 4, "atomic u32 alignment");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 size");
_Static_assert(_Alignof(_Atomic uint64_t) == 8, "atomic u64 alignment");
_Static_assert(sizeof(_Atomic uint8_t) == 1, "atomic u8 layout");
/* VMEM__LOAD/STORE/OR/FENCE(type, pointer, [value,] order): the single accesses below. */
/* NOLINTBEGIN(bugprone-macro-parentheses): T is a type name, which cannot be parenthesised. */
#define VMEM__LOAD(T, p, mo) atomic_load_explicit((_Atomic T *)(uintptr_t)(p), memory_order_##mo)
#define VMEM__STORE(T, p, v, mo) atomic_store_explicit((_Atomic T *)(p), (v), memory_order_##mo)
#define VMEM__OR(T, p, v, mo) ((void)atomic_fetch_or_explicit((_Atomic T *)(p), (v), memory_order_##mo))
#define VMEM__FENCE(mo) atomic_thread_fence(memory_order_##mo)
/* NOLINTEND(bugprone-macro-parentheses) */
#else
/* C++ before C++23 has no _Atomic qualifier: the same single accesses through the GCC/Clang builtins. */
#define VMEM__MO_relaxed __ATOMIC_RELAXED
#define VMEM__MO_acquire __ATOMIC_ACQUIRE
#define VMEM__MO_release __ATOMIC_RELEASE
#define VMEM__MO_seq_cst __ATOMIC_SEQ_CST
#define VMEM__LOAD(T, p, mo) __atomic_load_n((const T *)(p), VMEM__MO_##mo)
#define VMEM__STORE(T, p, v, mo) __atomic_store_n((T *)(p), (v), VMEM__MO_##mo)
#define VMEM__OR(T, p, v, mo) ((void)__atomic_fetch_or((T *)(p), (v), VMEM__MO_##mo))
#define VMEM__FENCE(mo) __atomic_thread_fence(VMEM__MO_##mo)
#endif

static inline uint16_t vmem_hva_load_acquire_le16(const void *p)
{
    return cvmm_le16_to_cpu(VMEM__LOAD(uint16_t, p, acquire));
}
static inline uint32_t vmem_hva_load_acquire_le32(const void *p)
{
    return cvmm_le32_to_cpu(VMEM__LOAD(uint32_t, p, acquire));
}
static inline uint16_t vmem_hva_load_relaxed_le16(const void *p)
{
    return cvmm_le16_to_cpu(VMEM__LOAD(uint16_t, p, relaxed));
}
static inline uint32_t vmem_hva_load_relaxed_le32(const void *p)
{
    return cvmm_le32_to_cpu(VMEM__LOAD(uint32_t, p, relaxed));
}
static inline uint64_t vmem_hva_load_relaxed_le64(const void *p)
{
    return cvmm_le64_to_cpu(VMEM__LOAD(uint64_t, p, relaxed));
}
static inline void vmem_hva_store_release_le16(void *p, uint16_t v)
{
    VMEM__STORE(uint16_t, p, cvmm_cpu_to_le16(v), release);
}
static inline void vmem_hva_store_release_le32(void *p, uint32_t v)
{
    VMEM__STORE(uint32_t, p, cvmm_cpu_to_le32(v), release);
}
static inline void vmem_hva_store_relaxed_le16(void *p, uint16_t v)
{
    VMEM__STORE(uint16_t, p, cvmm_cpu_to_le16(v), relaxed);
}
static inline void vmem_hva_store_relaxed_le32(void *p, uint32_t v)
{
    VMEM__STORE(uint32_t, p, cvmm_cpu_to_le32(v), relaxed);
}
static inline void vmem_hva_store_relaxed_le64(void *p, uint64_t v)
{
    VMEM__STORE(uint64_t, p, cvmm_cpu_to_le64(v), relaxed);
}
/** vmem_hva_or_u8() - atomic OR of a byte (dirty-log bits). */
static inline void vmem_hva_or_u8(void *p, uint8_t bits) { VMEM__OR(uint8_t, p, bits, relaxed); }
/** vmem_fence_seq_cst() - full barrier between publishing used entries and reading the event index
 *  (QEMU's smp_mb(), the kernel's virtio_mb()). */
static inline void vmem_fence_seq_cst(void) { VMEM__FENCE(seq_cst); }
static inline void vmem_fence_acquire(void) { VMEM__FENCE(acquire); }
static inline void vmem_fence_release(void) { VMEM__FENCE(release); }

#ifdef __cplusplus
}
#endif
#endif
