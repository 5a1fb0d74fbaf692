/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** net.h - cvmm-net's virtio-net device on cvmm::vhost-user-backend (private to devices/net and its tests).
 *
 *  Queues: rx of pair i is vring 2i, tx of pair i is vring 2i+1 (the front-end handles any control queue:
 *  QEMU's virtio-net and DPDK's virtio-user both do, so CTRL_VQ is not offered).  Both queues of a pair run
 *  on one worker (pair i -> worker i % nworkers).
 *
 *  Ports: each pair moves frames to and from one "port" fd that keeps packet boundaries and carries the
 *  virtio-net header in front of each frame: a tap queue (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, header size
 *  set with TUNSETVNETHDRSZ to the negotiated one), or, in tests, one end of a SOCK_SEQPACKET socketpair.
 *  Sink mode has no port: transmitted frames are read out of guest memory (every byte, as a device that
 *  forwards them would), counted and dropped; rx queues stay empty, or with source_size are filled with
 *  generated frames (source.h).
 *
 *  rx (port -> guest): the port fd is watched on the pair's worker loop.  A frame is read into a per-queue
 *  buffer, its header is made what the guest may see (vnet_hdr.h: zeros without GUEST_CSUM, the port's
 *  checksum/GSO fields with it) and copied into one chain (or, with MRG_RXBUF, as many as it takes;
 *  num_buffers says how many).  With no buffers the frame stays pending, the port fd is no longer watched
 *  (later frames wait in the tap) and the next rx kick resumes.
 *  tx (guest -> port): the guest's header is read once into a local copy, checked against the acked
 *  offloads (vnet_hdr.h; a bad one: the frame is dropped) and sent in its place, and the frame goes out
 *  with one writev() over the chain's buffers (zero copy; a copy only for chains of more than
 *  NET_TX_IOV_MAX pieces).  Malformed chains are dropped and logged once per queue.  Every chain is
 *  read once (a vq_snapshot): the lengths checked are the lengths used, whatever the guest rewrites.
 *  The library serves tx (vub_queue_serve_inline()): chains are taken in groups, so the first touch of
 *  each frame, a cache miss on a line the driver's CPU wrote, overlaps with the next ones'.
 *
 *  Threads: net_dev_new()/net_dev_free()/net_dev_stats() on one thread, outside vub_daemon_run(); the ops
 *  as cvmm/vub/device.h says. */
#ifndef CVMM_DEVICES_NET_H
#define CVMM_DEVICES_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vub/device.h"

/* virtio-net feature bits (virtio 1.2, 5.1.3). */
#define NET_F_MTU 3
#define NET_F_MAC 5
#define NET_F_MRG_RXBUF 15
#define NET_F_STATUS 16
#define NET_F_CTRL_VQ 17
#define NET_F_MQ 22
#define NET_S_LINK_UP 1u

/** Header sizes: struct virtio_net_hdr (legacy without MRG_RXBUF) and with num_buffers. */
#define NET_HDR_LEN_LEGACY 10u
#define NET_HDR_LEN 12u
/** Byte offset of num_buffers in the 12-byte header. */
#define NET_HDR_NUM_BUFFERS_OFF 10u

#define NET_MAX_PAIRS (VUB_MAX_QUEUES / 2)
/** Largest frame read from a port, virtio-net header included: a 64 KiB tap MTU or GSO frame (at most
 *  65589 bytes by the spec: Ethernet + IPv6 headers + 65535) + VLAN tag + header, rounded up. */
#define NET_FRAME_MAX (65536u + 128u)
/** Chains one rx frame may span with MRG_RXBUF (more: the frame is dropped). */
#define NET_RX_CHAINS_MAX 64u
/** iovecs for the zero-copy tx writev(). */
#define NET_TX_IOV_MAX 64
/* tx chains are read by the library's server (cvmm/vub/serve.h): one of more than VUB_SERVE_DESCS_MAX (1024)
 * descriptors is given back unread, logged by the library and not counted in tx_dropped.  rx chains,
 * reserved while a frame waits, get VQ_SNAPSHOT_BUF_DESCS each. */

/** The config space (virtio 1.2, 5.1.4), little-endian, 12 bytes. */
struct net_config_space {
    uint8_t mac[6];
    uint8_t status[2];
    uint8_t max_virtqueue_pairs[2];
    uint8_t mtu[2];
};
_Static_assert(sizeof(struct net_config_space) == 12, "virtio_net_config up to mtu");

#define NET_BUDGET_DEFAULT 256u
#define NET_BUDGET_MAX 65536u

/** net_config - what the device is (transparent). */
typedef struct net_config {
    unsigned queue_pairs; /* 1..NET_MAX_PAIRS */
    bool sink;            /* no ports: tx frames are read, counted and dropped; rx stays empty, unless: */
    unsigned source_size; /* sink only, non-zero: rx queues are filled with frames of this many bytes
                           * (NET_SOURCE_MIN..NET_SOURCE_MAX, source.h) as fast as the driver posts buffers */
    const int *port_fds;  /* queue_pairs fds (borrowed, must outlive the device); unused with sink */
    bool tap;             /* ports are tap queues: TUNSETVNETHDRSZ on feature negotiation */
    bool tap_multi_queue; /* tap queues opened with IFF_MULTI_QUEUE: attached while their rx runs */
    bool offloads;        /* offer CSUM, GUEST_CSUM, HOST/GUEST_TSO4/6 and ECN (vnet_hdr.h; not with sink):
                           * headers then pass through, checked; a tap gets TUNSETOFFLOAD on negotiation */
    bool has_mac;         /* offer VIRTIO_NET_F_MAC with @mac */
    uint8_t mac[6];
    uint16_t mtu;               /* non-zero: offer VIRTIO_NET_F_MTU */
    unsigned nworkers;          /* worker threads the daemon gets (queue_worker map); 0: 1 */
    unsigned budget;            /* chains (tx) or frames (rx) one call of a queue handles before the worker's
                                 * other queues and watchers run (each return costs the loop a system call);
                                 * 0: NET_BUDGET_DEFAULT; at most NET_BUDGET_MAX */
    const struct cvmm_log *log; /* borrowed; NULL: stderr at WARN */
} net_config;

/** Counters (per device, summed over queues). */
typedef struct net_stats {
    uint64_t tx_packets, tx_bytes, tx_dropped; /* guest -> port (or sink) */
    uint64_t rx_packets, rx_bytes, rx_dropped; /* port -> guest */
    uint64_t tx_gso, rx_gso;                   /* GSO frames among the packets (offloads) */
} net_stats;

typedef struct net_dev net_dev;

/** net_dev_new() - a device for @cfg.  Return: 0; -EINVAL bad config; -ENOMEM.
 *  Ownership: *out owned, net_dev_free(). */
int net_dev_new(const net_config *cfg, net_dev **out);

/** net_dev_free() - NULL no-op.  The daemon using it must be freed first. */
void net_dev_free(net_dev *n);

/** The daemon's view: ops table and static facts (borrowed from @n, valid while it lives). */
const vub_device_ops *net_dev_ops(void);
const vub_device_info *net_dev_info(const net_dev *n);

/** net_dev_stats() - the counters.  Threads: after the daemon was freed (no worker runs). */
void net_dev_stats(const net_dev *n, net_stats *out);

/** net_hdr_len() - the virtio-net header size for the negotiated @features (12 with VERSION_1 or
 *  MRG_RXBUF, else 10). */
static inline unsigned net_hdr_len(uint64_t features)
{
    return (features & ((1ull << VUB_F_VERSION_1) | (1ull << NET_F_MRG_RXBUF))) ? NET_HDR_LEN : NET_HDR_LEN_LEGACY;
}

#endif
