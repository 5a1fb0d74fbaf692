/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem/access.h - bounds-checked access to guest memory through a map.
 *
 *  vmem_read()/vmem_write() copy byte ranges and cross region boundaries; the typed loads and stores are
 *  little-endian, need natural alignment and are single accesses (never torn); the acquire/release
 *  variants order ring accesses as the virtio spec requires.  Every write through this header marks the
 *  pages it touched when the map has a dirty log.  Nothing here allocates.
 *  Threads: any (guest memory itself is shared with the guest: the caller's protocol orders accesses). */
#ifndef CVMM_VMEM_ACCESS_H
#define CVMM_VMEM_ACCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cvmm/vmem/map.h"

#ifdef __cplusplus
extern "C" {
#endif

/** vmem_read() / vmem_write() - copy @len bytes between guest [gpa, gpa+len) and @buf, across regions.
 *  Return: 0 (len 0 copies nothing); -EOVERFLOW gpa + len wraps; -EFAULT some byte is unmapped (nothing is
 *  copied: the range is checked before the copy starts); -EPERM (write) a region is read-only.
 *  A dirty log too small for the written pages does not fail a write (the data is in guest memory): the
 *  log reports it once (see vmem_log_mark()).  The same holds for the typed stores below. */
int vmem_read(const vmem_map *m, uint64_t gpa, void *buf, size_t len);
int vmem_write(const vmem_map *m, uint64_t gpa, const void *buf, size_t len);

/** Little-endian typed access, natural alignment required (a single load or store).
 *  Return: 0; -EINVAL misaligned; -EFAULT unmapped; -EPERM (store) read-only region. */
int vmem_load_le16(const vmem_map *m, uint64_t gpa, uint16_t *v);
int vmem_load_le32(const vmem_map *m, uint64_t gpa, uint32_t *v);
int vmem_load_le64(const vmem_map *m, uint64_t gpa, uint64_t *v);
int vmem_store_le16(const vmem_map *m, uint64_t gpa, uint16_t v);
int vmem_store_le32(const vmem_map *m, uint64_t gpa, uint32_t v);
int vmem_store_le64(const vmem_map *m, uint64_t gpa, uint64_t v);

/** Atomic load-acquire / store-release of little-endian ring indices and flags.
 *  Return: as the typed access above. */
int vmem_load_acquire_u16(const vmem_map *m, uint64_t gpa, uint16_t *v);
int vmem_load_acquire_u32(const vmem_map *m, uint64_t gpa, uint32_t *v);
int vmem_store_release_u16(const vmem_map *m, uint64_t gpa, uint16_t v);
int vmem_store_release_u32(const vmem_map *m, uint64_t gpa, uint32_t v);

/** vmem_map_iovec() - describe guest [gpa, gpa+len) as host iovecs (one per region crossed) for zero-copy
 *  readv/writev/preadv/pwritev.  @write: the caller will write guest memory (read-only regions refused);
 *  such a caller marks the range dirty with vmem_map_mark_dirty() once written.
 *  Return: number of iovecs filled (0 for len 0); -EOVERFLOW wraps; -EFAULT unmapped; -EPERM read-only;
 *  -ENOSPC more than @max entries needed (nothing useful is left in @iov).
 *  Ownership: iov_base pointers borrow the mapping while @m lives. */
int vmem_map_iovec(const vmem_map *m, uint64_t gpa, uint64_t len, bool write, struct iovec *iov, int max);

#ifdef __cplusplus
}
#endif
#endif
