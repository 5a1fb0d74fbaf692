/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem/guest.h - the current guest memory map, swapped safely under concurrent readers.
 *
 *  A vmem_guest holds the published vmem_map.  Reader threads (virtqueue workers) register a vmem_reader
 *  and use quiescent-state-based reclamation (QSBR, as liburcu-qsbr):
 *    - vmem_reader_map() is one load-acquire of the current pointer: no lock, no atomic read-modify-write.
 *      The map it returns stays valid until the same reader's next vmem_reader_quiescent() or
 *      vmem_reader_offline().
 *    - vmem_reader_quiescent() (two loads + one store-release, no RMW) says "I hold no map pointer now";
 *      call it between batches, e.g. once per event-loop iteration.  On an offline reader it acts as
 *      vmem_reader_online().
 *    - vmem_reader_offline()/online() bracket a blocking wait (epoll), so a sleeping worker never delays a
 *      writer.  online() is a seq_cst store and load (a full fence on x86): cheap, but not for every access.
 *  Cost: readers pay nothing per access and three plain atomic ops per quiescent point (x86: plain movs);
 *  the writer pays the wait for every online reader to pass a quiescent point (vmem_guest_publish() blocks
 *  until then, polling with sched_yield() and then short sleeps, and frees the old map afterwards).
 *  Registering and unregistering readers never waits for a grace period.
 *  Threads: vmem_guest_publish() from any thread, serialised internally, but never from a thread that owns
 *  an online reader of the same guest (it would wait for itself: -EDEADLK).  A vmem_reader belongs to the
 *  thread that registered it. */
#ifndef CVMM_VMEM_GUEST_H
#define CVMM_VMEM_GUEST_H

#include "cvmm/log.h"
#include "cvmm/vmem/map.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmem_guest vmem_guest;
typedef struct vmem_reader vmem_reader;

/** vmem_guest_new() - an empty guest (its current map has no region).
 *  Return: 0; -ENOMEM.  Ownership: *out owned, vmem_guest_free().  @log borrowed, outlives it. */
int vmem_guest_new(const struct cvmm_log *log, vmem_guest **out);

/** vmem_guest_free() - frees the current map too.  All readers must be unregistered first.  NULL no-op. */
void vmem_guest_free(vmem_guest *g);

/** vmem_guest_publish() - make @owned_map current, wait for a grace period, free the previous map.
 *  Return: 0; -EINVAL @owned_map is NULL; -EDEADLK called by the thread of an online reader (the map is
 *  not published, and is freed).
 *  Ownership: takes @owned_map on every path.  Threads: any (see above). */
int vmem_guest_publish(vmem_guest *g, vmem_map *owned_map);

/** vmem_guest_map() - the current map for the thread that publishes (the control thread): valid until
 *  that same thread publishes again.  Threads: control only (other threads use a vmem_reader). */
const vmem_map *vmem_guest_map(const vmem_guest *g);

/** vmem_reader_register() - a reader for the calling thread, initially online.
 *  Return: 0; -ENOMEM.  Ownership: *out owned, vmem_reader_unregister().  Threads: the reader's thread. */
int vmem_reader_register(vmem_guest *g, vmem_reader **out);
/** vmem_reader_unregister() - forget the reader (it must hold no map pointer).  NULL no-op. */
void vmem_reader_unregister(vmem_reader *r);

/** vmem_reader_map() - the current map; valid until this reader's next quiescent()/offline().
 *  A reader that is offline is brought online first.  Threads: the reader's thread. */
const vmem_map *vmem_reader_map(vmem_reader *r);
void vmem_reader_quiescent(vmem_reader *r);
void vmem_reader_offline(vmem_reader *r);
void vmem_reader_online(vmem_reader *r);

#ifdef __cplusplus
}
#endif
#endif
