/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/mock.h - a mock virtio driver for tests, benchmarks and fuzzers (target cvmm::vq-mock).
 *
 *  vq_mock plays the driver side of one split or packed virtqueue over a vm-memory map, the way a guest
 *  would: it lays the rings out at the given guest addresses, adds direct and indirect chains (allocating
 *  descriptors and buffer ids itself), reads used entries back, decides whether it would kick, and sets the
 *  driver's event suppression (used_event, VRING_AVAIL_F_NO_INTERRUPT, packed driver event structure).
 *  Raw helpers write arbitrary descriptors and indices for malformed-ring tests.  Every guest access goes
 *  through vm-memory (cvmm/vmem/access.h), so the mock is slow but never touches memory outside the map.
 *  Threads: a vq_mock is used by one thread at a time; it may run concurrently with the device thread. */
#ifndef CVMM_VQ_MOCK_H
#define CVMM_VQ_MOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vmem/map.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vq_mock vq_mock;

/** vq_mock_config - the ring the mock drives (transparent; zero means default where noted). */
typedef struct vq_mock_config {
    enum vq_layout layout;
    uint32_t size;       /* 0: 256 */
    bool event_idx;      /* drive VIRTIO_F_EVENT_IDX semantics */
    uint64_t desc_gpa;   /* descriptor table / ring (16-aligned) */
    uint64_t driver_gpa; /* available ring / driver event suppression */
    uint64_t device_gpa; /* used ring / device event suppression */
} vq_mock_config;

/** vq_mock_buf - one buffer of a chain to add. */
typedef struct vq_mock_buf {
    uint64_t gpa;
    uint32_t len;
    bool write; /* device-writable */
} vq_mock_buf;

/** vq_mock_new() - zero the three ring areas in guest memory and start as a fresh driver.
 *  Return: 0; -EINVAL bad size or misaligned address; -ENOMEM; vm-memory errors (-EFAULT...).
 *  Ownership: @m borrowed, must outlive the mock; *out owned, vq_mock_free().  Threads: any. */
int vq_mock_new(const vmem_map *m, const vq_mock_config *cfg, vq_mock **out);
void vq_mock_free(vq_mock *mk);

/** vq_mock_attach() - configure @q as the device side of this ring (features, size, addresses, map) and
 *  start it.  Return: 0 or the first vq_queue_* error. */
int vq_mock_attach(vq_mock *mk, vq_queue *q);

/** vq_mock_add() - make a chain of @n direct buffers available (split: one avail entry and avail->idx
 *  store-release; packed: descriptors, the first one's flags last).  *head gets the split head index or
 *  the packed buffer id (may be NULL).  Return: 0; -EINVAL n 0; -ENOSPC not enough free descriptors. */
int vq_mock_add(vq_mock *mk, const vq_mock_buf *bufs, unsigned n, uint16_t *head);

/** vq_mock_add_indirect() - write an indirect table of @n buffers at @table_gpa and make one ring
 *  descriptor pointing to it available.  Return: as vq_mock_add(). */
int vq_mock_add_indirect(vq_mock *mk, uint64_t table_gpa, const vq_mock_buf *bufs, unsigned n, uint16_t *head);

/** vq_mock_used() - take the next used entry.  Return: 1 (*head, *len filled); 0 none; -EIO the device
 *  returned an id the mock has not made available. */
int vq_mock_used(vq_mock *mk, uint16_t *head, uint32_t *len);

/** vq_mock_kick_needed() - would the driver notify the device for what it added since the last call?
 *  (split: VRING_USED_F_NO_NOTIFY or avail_event with vring_need_event; packed: device event suppression.) */
bool vq_mock_kick_needed(vq_mock *mk);

/** Driver event suppression.  Split: used_event (EVENT_IDX) and VRING_AVAIL_F_NO_INTERRUPT.  Packed: the
 *  driver event suppression structure (flags VQ_RING_EVENT_FLAGS_*, offset, wrap counter).  Return: 0 or a
 *  vm-memory error. */
int vq_mock_set_used_event(vq_mock *mk, uint16_t idx);
int vq_mock_set_no_interrupt(vq_mock *mk, bool on);
int vq_mock_set_driver_event(vq_mock *mk, uint16_t flags, uint16_t off, bool wrap);

/** Driver-side positions.  split: avail idx (free-running); packed: next position and wrap counter. */
uint16_t vq_mock_avail_idx(const vq_mock *mk);
bool vq_mock_avail_wrap(const vq_mock *mk);
/** vq_mock_free_descs() - descriptors (split) or ring slots (packed) the driver can still use. */
uint32_t vq_mock_free_descs(const vq_mock *mk);

/** Raw access for malformed rings.  vq_mock_write_desc() writes entry @index of the descriptor table
 *  (split: flags and next) or ring (packed: id and flags exactly as given: see vq_mock_avail_flags()).
 *  vq_mock_write_table() writes entry @index of a table at @table_gpa in split layout.
 *  vq_mock_publish_head() (split) stores @head in the next avail slot and bumps avail->idx (release).
 *  vq_mock_set_avail_idx() (split) stores avail->idx.  vq_mock_advance() (packed) moves the driver's
 *  position by @n descriptors, flipping its wrap counter as it passes the end.
 *  Return: 0 or a vm-memory error; -EINVAL index out of range / wrong layout. */
int vq_mock_write_desc(vq_mock *mk, uint32_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next_or_id);
int vq_mock_write_table(vq_mock *mk, uint64_t table_gpa, uint32_t index, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next_or_id);
int vq_mock_publish_head(vq_mock *mk, uint16_t head);
int vq_mock_set_avail_idx(vq_mock *mk, uint16_t idx);
int vq_mock_advance(vq_mock *mk, uint32_t n);
/** vq_mock_avail_flags() - the AVAIL/USED bits that make a packed descriptor available now. */
uint16_t vq_mock_avail_flags(const vq_mock *mk);
/** vq_mock_desc_gpa() - guest address of entry @index of the descriptor table (split) or ring (packed),
 *  for a test thread that plays a second vCPU and rewrites descriptors in place while the device works
 *  (through cvmm/vmem/atomic.h: the mock's own writes are plain).  Return: the address; UINT64_MAX when
 *  @index >= size. */
uint64_t vq_mock_desc_gpa(const vq_mock *mk, uint32_t index);

/** vq_mock_mem - guest memory for tests that must fault on any access outside it: one memfd region
 *  [gpa, gpa + size) whose host mapping lies between two PROT_NONE guard areas of VQ_MOCK_GUARD_BYTES
 *  each, so a device access up to that far before or past the region raises SIGSEGV at once instead of
 *  landing in another mapping of the process.  (The guards are made here, around vm-memory's mapping:
 *  a reservation is cut open where the region is then mapped, and placement is verified.) */
typedef struct vq_mock_mem vq_mock_mem;
#define VQ_MOCK_GUARD_BYTES (1024u * 1024u)

/** vq_mock_mem_new() - @size bytes (a multiple of the page size) at guest address @gpa, flags
 *  VMEM_REGION_* (e.g. VMEM_REGION_READ_ONLY).  Return: 0; -EINVAL bad size; -EAGAIN no guarded
 *  placement found; mmap or vm-memory errors.  Ownership: *out owned, vq_mock_mem_free().  Threads: any. */
int vq_mock_mem_new(uint64_t gpa, uint64_t size, uint32_t flags, const struct cvmm_log *log, vq_mock_mem **out);
/** vq_mock_mem_free() - drop the region reference and the guards (maps built on the region keep their own
 *  reference; the guards go with this call).  NULL is a no-op. */
void vq_mock_mem_free(vq_mock_mem *mm);
/** vq_mock_mem_region() - the region, borrowed (vmem_map_new() takes its own reference). */
vmem_region *vq_mock_mem_region(const vq_mock_mem *mm);
/** vq_mock_mem_hva() - host address of the region's first byte (for byte-exact checks and mprotect()). */
uint8_t *vq_mock_mem_hva(const vq_mock_mem *mm);

#ifdef __cplusplus
}
#endif
#endif
