/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** source.h - cvmm-net's frame generator (--source=SIZE, private to devices/net and its tests).
 *
 *  For benchmarks of the receive direction without a tap: each rx queue is filled with copies of one
 *  SIZE-byte Ethernet frame as fast as the driver posts buffers.  A kick fills every available buffer
 *  (notifications off meanwhile, used entries published in batches, one call per pass); a drained ring is
 *  busy-polled for the queue's budget and then asks for kicks again and re-checks (vub_queue_drained(), as
 *  tx does); an empty ring then waits for the next kick.  Each frame goes
 *  into one chain (virtio-net header with num_buffers 1, then the frame); a chain too small for both is
 *  returned with length 0 and counted as dropped (logged once per queue).
 *
 *  Threads: net_source_init()/net_source_fini() on one thread, outside vub_daemon_run();
 *  net_source_fill() on the queue's worker, one queue per net_source. */
#ifndef CVMM_DEVICES_NET_SOURCE_H
#define CVMM_DEVICES_NET_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vub/queue.h"

/** Frame sizes --source accepts: an Ethernet header at least, a 64 KiB frame at most. */
#define NET_SOURCE_MIN 14u
#define NET_SOURCE_MAX 65535u

/** net_source - one rx queue's generator (transparent; the counters are read after the workers ended). */
typedef struct net_source {
    uint8_t *frame; /* the frame (owned): broadcast destination, @mac as source, EtherType 0x88b5, pattern */
    uint32_t len;   /* its size, without the virtio-net header */
    bool bad_logged;
    uint64_t packets, bytes, dropped; /* frames delivered, their bytes (no header), chains returned empty */
} net_source;

/** net_source_init() - a generator of @len-byte frames (NET_SOURCE_MIN..NET_SOURCE_MAX) from @mac.
 *  Return: 0; -EINVAL @len out of range; -ENOMEM.  Ownership: s->frame owned, net_source_fini(). */
int net_source_init(net_source *s, uint32_t len, const uint8_t mac[6]);

/** net_source_fini() - free the frame (a zeroed or finished net_source is fine). */
void net_source_fini(net_source *s);

/** net_source_fill() - fill every buffer the driver posted on @q with a frame behind a @hdr_len-byte header
 *  (10 or 12; with 12, num_buffers is 1), at most @budget (>= 1) chains per call (more: the queue is kicked
 *  again, so the worker's other queues get their turn).  Does nothing on a stopped or disabled queue.
 *  Return: 0; -EIO broken ring or call fd (the library logged it).
 *  Ownership: borrows @q and @log.  Threads: @q's worker. */
int net_source_fill(net_source *s, vub_queue *q, unsigned hdr_len, unsigned budget, const struct cvmm_log *log);

#endif
