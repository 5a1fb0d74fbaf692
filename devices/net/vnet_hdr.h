/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** vnet_hdr.h - the virtio-net header's offload fields (virtio 1.2, 5.1.6): checksum and segmentation
 *  offload features, the checks of a guest's header before it reaches the port, and of the port's header
 *  before it reaches the guest.  Private to devices/net and its tests.
 *
 *  The port (a tap with IFF_VNET_HDR) speaks the same header: tx (guest -> tap) the kernel segments and
 *  checksums what the header asks for; rx (tap -> guest) it hands over GSO frames and partial checksums
 *  only as far as TUNSETOFFLOAD allowed (tap.h), which follows the GUEST_* features.
 *
 *  Threads: any (pure functions). */
#ifndef CVMM_DEVICES_NET_VNET_HDR_H
#define CVMM_DEVICES_NET_VNET_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvmm/le.h"

/* Offload feature bits (virtio 1.2, 5.1.3). */
#define NET_F_CSUM 0
#define NET_F_GUEST_CSUM 1
#define NET_F_GUEST_TSO4 7
#define NET_F_GUEST_TSO6 8
#define NET_F_GUEST_ECN 9
#define NET_F_HOST_TSO4 11
#define NET_F_HOST_TSO6 12
#define NET_F_HOST_ECN 13

/** The offload features cvmm-net offers with a tap (not UFO/USO: Linux guests do not need them). */
#define NET_OFFLOAD_FEATURES                                                                                           \
    ((1ull << NET_F_CSUM) | (1ull << NET_F_GUEST_CSUM) | (1ull << NET_F_GUEST_TSO4) | (1ull << NET_F_GUEST_TSO6) |     \
     (1ull << NET_F_GUEST_ECN) | (1ull << NET_F_HOST_TSO4) | (1ull << NET_F_HOST_TSO6) | (1ull << NET_F_HOST_ECN))

/* flags and gso_type values. */
#define NET_HDR_F_NEEDS_CSUM 1u
#define NET_HDR_F_DATA_VALID 2u
#define NET_HDR_GSO_NONE 0u
#define NET_HDR_GSO_TCPV4 1u
#define NET_HDR_GSO_TCPV6 4u
#define NET_HDR_GSO_ECN 0x80u

/** A TCP header's checksum field is this many bytes into it; a TCP header is at least this long. */
#define NET_TCP_CSUM_OFF 16u
#define NET_TCP_HDR_MIN 20u

/** struct virtio_net_hdr with num_buffers (the 10-byte legacy header is its first 10 bytes). */
struct net_vnet_hdr {
    uint8_t flags;
    uint8_t gso_type;
    cvmm_le16 hdr_len;
    cvmm_le16 gso_size;
    cvmm_le16 csum_start;
    cvmm_le16 csum_offset;
    cvmm_le16 num_buffers;
};
_Static_assert(sizeof(struct net_vnet_hdr) == 12, "virtio_net_hdr_mrg_rxbuf");

/** net_vnet_tx_check() - a guest's tx header, checked against the acked @features for a frame of @flen
 *  bytes (after the header), and rewritten into the header the port gets.
 *  The port gets: flags NEEDS_CSUM or 0 (DATA_VALID and unknown bits are ignored, as the spec says a device
 *  does), gso_type, gso_size and hdr_len only for a GSO frame, csum_start/csum_offset only with NEEDS_CSUM,
 *  num_buffers 0.  So with no offload negotiated and a header of zeros the port gets zeros.
 *  A header is refused when: NEEDS_CSUM without CSUM; csum_start + csum_offset + 2 > @flen; a gso_type other
 *  than NONE/TCPV4/TCPV6, or one whose HOST_TSO4/6 was not acked (or CSUM was not); the ECN bit without
 *  HOST_ECN or without a GSO type; a GSO frame without NEEDS_CSUM, with gso_size 0, with a checksum field that
 *  is not TCP's (csum_offset 16) or a TCP header that does not fit (csum_start + 20 > @flen), or hdr_len
 *  > @flen.
 *  Return: 0 (@h rewritten); -EINVAL refused (@h unchanged), *why says which rule in a few words.
 *  Ownership: @h is the caller's local copy (never guest memory: the guest may rewrite that meanwhile). */
int net_vnet_tx_check(struct net_vnet_hdr *h, size_t flen, uint64_t features, const char **why);

/** net_vnet_rx_check() - the port's rx header, made what the guest may see for its acked @features, for a
 *  frame of @flen bytes (after the header).  Without GUEST_CSUM the header becomes zeros (the tap sets
 *  DATA_VALID on its own); with it, flags keep NEEDS_CSUM and DATA_VALID and the other fields stay.
 *  num_buffers is left to the caller.
 *  Refused (the frame cannot be given to this guest as it is, e.g. queued in the tap under the offloads of
 *  a previous driver): NEEDS_CSUM without GUEST_CSUM or with csum_start + csum_offset + 2 > @flen; a GSO
 *  type whose GUEST_TSO4/6 was not acked; the ECN bit without GUEST_ECN.
 *  Return: 0 (@h rewritten); -EINVAL refused, *why set. */
int net_vnet_rx_check(struct net_vnet_hdr *h, size_t flen, uint64_t features, const char **why);

/** net_vnet_is_gso() - the header describes a GSO frame (a checked one: the gso_type is known). */
static inline bool net_vnet_is_gso(const struct net_vnet_hdr *h) { return h->gso_type != NET_HDR_GSO_NONE; }

#endif
