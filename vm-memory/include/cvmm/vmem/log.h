/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem/log.h - the dirty-page log for live migration (vhost-user SET_LOG_BASE).
 *
 *  The log is a bitmap in shared memory: bit N (bit N%8 of byte N/8) stands for guest physical page N of
 *  VMEM_LOG_PAGE bytes.  Bits are set with an atomic OR (the front-end clears them concurrently).  A log is
 *  attached to a map (vmem_map_with_log()); while a map has a log, every write through the library marks the
 *  pages it touched, and callers that write guest memory directly (iovec path, cached ring pointers) call
 *  vmem_map_mark_dirty() or vmem_log_mark().  Threads: any; marking is lock-free. */
#ifndef CVMM_VMEM_LOG_H
#define CVMM_VMEM_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMEM_LOG_PAGE 4096u

typedef struct vmem_log vmem_log;

/** vmem_log_new_fd() - map @size bytes of the log at @offset of @fd (MAP_SHARED, read-write).
 *  Return: 0; -EINVAL size 0, offset + size wraps, or @fd is a regular file shorter than offset + size;
 *  -EBADF bad fd; mmap errno.
 *  Ownership: @fd is borrowed (the mapping stays valid after the caller closes it); *out owned, release with
 *  vmem_log_unref().  @log borrowed, must outlive the object.  Threads: any. */
int vmem_log_new_fd(int fd, uint64_t offset, uint64_t size, const struct cvmm_log *log, vmem_log **out);

/** vmem_log_ref() / vmem_log_unref() - reference counting (maps hold a reference).  unref(NULL) no-op. */
vmem_log *vmem_log_ref(vmem_log *l);
void vmem_log_unref(vmem_log *l);

/** vmem_log_mark() - set the bits of every page that [gpa, gpa+len) touches.  len 0 marks nothing.
 *  Return: 0; -EFAULT part of the range lies beyond the log (the bits that fit are set; logged once per log);
 *  -EOVERFLOW gpa + len wraps.  Threads: any. */
int vmem_log_mark(vmem_log *l, uint64_t gpa, uint64_t len);

/** vmem_log_take_marked() - whether any bit was set (by any thread) since the previous call, and forget it.
 *  A back-end uses it to tell the front-end that the log changed (vhost-user SET_LOG_FD) once per batch of
 *  writes instead of once per write.  Bits set before a call that returns true are visible to whoever
 *  the caller signals afterwards (acquire/release).
 *  Return: true if a mark set a bit since the previous call (a mark wholly beyond the log sets none).
 *  Ownership: @l borrowed.  Threads: any. */
bool vmem_log_take_marked(vmem_log *l);

/** vmem_log_size() - bytes of bitmap; vmem_log_bitmap() - the mapped bitmap (borrowed, for tests/tools). */
uint64_t vmem_log_size(const vmem_log *l);
const uint8_t *vmem_log_bitmap(const vmem_log *l);

#ifdef __cplusplus
}
#endif
#endif
