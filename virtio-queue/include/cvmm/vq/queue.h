/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/queue.h - the device side of one virtqueue: configuration, guest memory, layout dispatch.
 *
 *  A vq_queue is created with vq_queue_new(), configured by the control thread as the vhost-user messages
 *  arrive (size, ring addresses, features, vring base, memory map), started with vq_queue_set_ready(), and
 *  then processed on the hot path with vq_pop() / vq_snapshot_take() (each chain read once,
 *  cvmm/vq/snapshot.h) or the raw vq_chain_next() / vq_add_used() (cvmm/vq/chain.h) and the
 *  notification helpers (cvmm/vq/notify.h).  The same calls serve both ring layouts: each is a switch on
 *  the layout followed by a tail call, and the layout-specific entry points (cvmm/vq/split.h,
 *  cvmm/vq/packed.h) exist for callers that know their layout.
 *
 *  Guest memory: vq_queue_set_map() translates the three ring areas once into host pointers; the hot path
 *  then touches ring fields through those cached pointers with the atomics of cvmm/vmem/atomic.h, and only
 *  descriptor buffers and indirect tables are looked up (a two-entry region cache in front of one binary
 *  search).  The map must stay valid until the next vq_queue_set_map() or vq_queue_free(): a back-end that
 *  reads its map from a vmem_reader calls vq_queue_set_map() after every vmem_reader_map() (pointer
 *  equality is not enough: a freed map's address can be reused, so the queue always re-translates).
 *
 *  A ring violation by the driver (a chain loop, an index jump, a buffer outside guest memory, ...) makes
 *  the queue broken: it logs one line and every ring operation returns -EIO until vq_queue_reset().
 *
 *  Threads: a vq_queue is owned by one thread at a time (`owner`): every function here and in the other
 *  cvmm/vq headers must be called by the thread that currently owns the queue; ownership is handed over
 *  with a mutex or a release/acquire pair (e.g. the control thread configures it, then passes it to a
 *  worker).  The queue never locks.  Nothing on the hot path allocates. */
#ifndef CVMM_VQ_QUEUE_H
#define CVMM_VQ_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vmem/map.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest queue of either layout (split rings are powers of two up to this, packed rings any size). */
#define VQ_MAX_SIZE 32768u
/** Queue size used when vq_queue_config.max_size is 0. */
#define VQ_DEFAULT_SIZE 256u

/** Ring layouts (VIRTIO_F_RING_PACKED selects VQ_LAYOUT_PACKED). */
enum vq_layout {
    VQ_LAYOUT_SPLIT = 0,
    VQ_LAYOUT_PACKED = 1,
};

typedef struct vq_queue vq_queue;

/** vq_queue_config - what a queue is when created (transparent; zero means default). */
typedef struct vq_queue_config {
    uint32_t max_size;          /* largest size vq_queue_set_size() accepts, <= VQ_MAX_SIZE; 0: 256.
                                    * It is also the initial size. */
    enum vq_layout layout;      /* initial layout (vq_queue_set_features() changes it) */
    bool event_idx;             /* VIRTIO_F_EVENT_IDX negotiated (vq_queue_set_features() changes it) */
    const struct cvmm_log *log; /* borrowed, must outlive the queue; NULL: stderr at WARN */
    unsigned index;             /* queue index, only used in log lines ("vq3: ...") */
} vq_queue_config;

/** vq_queue_new() - a stopped queue with no addresses and no memory map.
 *  Return: 0; -EINVAL NULL argument, max_size > 32768, or a split max_size that is not a power of two;
 *  -ENOMEM.  Ownership: *out owned, free with vq_queue_free().  Threads: any (the caller owns the result). */
int vq_queue_new(const vq_queue_config *cfg, vq_queue **out);

/** vq_queue_free() - NULL is a no-op.  Threads: owner. */
void vq_queue_free(vq_queue *q);

/** vq_queue_reset() - back to the state vq_queue_new() returned (size max_size, layout and event_idx of
 *  the config, no addresses, no map, vring base 0, not ready, not enabled, not broken).  Threads: owner. */
void vq_queue_reset(vq_queue *q);

/** vq_queue_set_features() - ring layout and VIRTIO_F_EVENT_IDX, as negotiated.
 *  Changing the layout resets the ring position (vq_state) and re-translates the areas.
 *  Return: 0; -EINVAL bad layout, or split with a size that is not a power of two; -EBUSY the queue is
 *  ready; translation errors as vq_queue_set_size().  Threads: owner. */
int vq_queue_set_features(vq_queue *q, enum vq_layout layout, bool event_idx);

/** vq_queue_set_size() - the queue size (vhost-user SET_VRING_NUM).  A new size drops the packed
 *  in-flight table (lists popped before it cannot be returned with vq_add_used() any more).  Positions set
 *  earlier are not checked against the new size here: vq_queue_set_ready() refuses to start until they fit.
 *  Return: 0; -EINVAL 0, > max_size, or not a power of two for a split ring (nothing changes); -EBUSY the
 *  queue is ready; -EFAULT/-EPERM/-EOVERFLOW as vq_queue_set_addrs() when the resized areas no longer
 *  translate (the size is kept; the queue cannot start until they do).  Threads: owner. */
int vq_queue_set_size(vq_queue *q, uint32_t size);

/** vq_queue_set_addrs() - guest physical addresses of the descriptor area (table or ring), the driver
 *  area (split: available ring; packed: driver event suppression) and the device area (split: used
 *  ring; packed: device event suppression).  Alignment: split 16/2/4, packed 16/4/4.  Also resets the
 *  used-ring log address (vq_queue_set_log_addr()) to @device.  If a map is set the areas are
 *  re-translated at once (allowed while ready, as vhost-user does when logging starts: a ready queue
 *  then goes through the whole start check of vq_queue_set_ready() again, logging "vq<n>: ring stops:
 *  <invariant>" and not running until a later call passes it).
 *  Return: 0; -EINVAL misaligned (nothing changes); -EOVERFLOW, -EFAULT (map set) an area wraps or is not
 *  inside one region; -EPERM (map set) an area the device writes lies in a read-only region.  After
 *  -EFAULT/-EPERM the addresses are kept but the queue cannot run until a later call (or a later
 *  vq_queue_set_map()) translates them.  Threads: owner. */
int vq_queue_set_addrs(vq_queue *q, uint64_t desc, uint64_t driver, uint64_t device);

/** vq_queue_set_log_addr() - guest physical address under which writes to the used ring are marked in
 *  the dirty log (vhost-user "log_guest_addr"; the default is the device area address).  Packed rings
 *  write used descriptors into the descriptor ring, which is always logged at its own address.
 *  Threads: owner. */
void vq_queue_set_log_addr(vq_queue *q, uint64_t log_gpa);

/** vq_queue_set_map() - use @m from now on: translate the ring areas into cached host pointers and drop
 *  the buffer-region cache (a ready queue goes through the whole start check again, as with
 *  vq_queue_set_addrs()).  NULL detaches the map (the queue cannot run until a map is set).  When @m has
 *  a dirty log (vmem_map_dirty_log()) every ring write and every Writer write is marked in it.
 *  Return: 0 (also when no addresses are set yet); -EOVERFLOW, -EFAULT an area wraps or is not inside one
 *  region; -EPERM an area the device writes is read-only.  On error the queue keeps @m (a later
 *  vq_queue_set_addrs() translates against it) but cannot run until a translation succeeds.
 *  Ownership: @m borrowed, must stay valid until the next vq_queue_set_map() or vq_queue_free(), also
 *  when this call fails.  Threads: owner. */
int vq_queue_set_map(vq_queue *q, const vmem_map *m);

/** vq_queue_set_ready() - start (true) or stop (false) the queue (vhost-user: SET_VRING_KICK starts,
 *  GET_VRING_BASE stops).
 *
 *  Starting checks, in one place, every invariant of the ring as it is configured NOW, whatever order the
 *  setters came in (their own early checks are conveniences; nothing relies on them): the size is 1..
 *  max_size (split: a power of two); packed positions are < size, the used position is at most one ring
 *  behind the avail position (wrap counters), and the in-flight table fits (buffer ids < size, at most
 *  the outstanding descriptors); all three addresses are set and aligned for the current layout (split
 *  16/2/4, packed 16/4/4); a map is set; each area, sized for the current size and layout, lies inside one
 *  region and, where the device writes it (split used ring, packed descriptor ring and device area), in
 *  writable memory.  The areas are translated again and the derived state recomputed.  A violated
 *  invariant logs one line, "vq<n>: cannot start: <invariant>", and the queue stays stopped.  Starting a
 *  split ring then reads the next used index from the used ring in guest memory, as vhost-user says.  With
 *  an inflight region attached (cvmm/vq/inflight.h) the region is validated and may set the ring position
 *  and the chains vq_pop() resubmits first.
 *  Return: 0; -EINVAL (start) no ring addresses were set; -EPROTO (start) any other invariant does not
 *  hold (the queue is stopped, nothing else changes: fix the configuration, e.g. a new vring base after a
 *  size change, and start again); -EBADMSG (start) the attached inflight region is malformed (logged, the
 *  queue stays stopped).  Stopping always returns 0.  Threads: owner. */
int vq_queue_set_ready(vq_queue *q, bool ready);

/** vq_queue_set_enabled() - record vhost-user SET_VRING_ENABLE.  The queue only stores it (a disabled
 *  ring is still processed, without side effects: that policy belongs to the device).  Threads: owner. */
void vq_queue_set_enabled(vq_queue *q, bool enabled);

/** Introspection.  Threads: owner. */
bool vq_queue_ready(const vq_queue *q);
bool vq_queue_enabled(const vq_queue *q);
bool vq_queue_broken(const vq_queue *q);

/** vq_queue_check_memory() - break the queue if a region of its map faulted because the front-end shrank
 *  the region's file under us (vmem_map_check(), cvmm/vmem/region.h): logs one line ("guest memory region
 *  N shrank under us"), and the queue stays broken until vq_queue_reset().  Call it after processing a
 *  kick (vhost-user-backend does); while nothing in the process ever faulted it costs one relaxed load.
 *  Return: 0 (no map, or healthy); -EIO broken.  Threads: owner. */
int vq_queue_check_memory(vq_queue *q);
uint32_t vq_queue_size(const vq_queue *q);
enum vq_layout vq_queue_layout(const vq_queue *q);
bool vq_queue_event_idx(const vq_queue *q);
unsigned vq_queue_index(const vq_queue *q);

#ifdef __cplusplus
}
#endif
#endif
