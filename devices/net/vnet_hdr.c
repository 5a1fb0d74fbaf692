/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The virtio-net header's offload fields, checked both ways (vnet_hdr.h). */
#include <errno.h>
#include <stdbool.h>

#include "vnet_hdr.h"

static bool acked(uint64_t features, unsigned bit) { return (features >> bit) & 1; }

/* The 16-bit checksum field lies inside the frame: csum_start + csum_offset + 2 <= flen (no wrap: the
 * sum of two 16-bit values and 2 fits a size_t). */
static bool csum_fits(const struct net_vnet_hdr *h, size_t flen)
{
    size_t end = (size_t)cvmm_le16_get(h->csum_start) + cvmm_le16_get(h->csum_offset) + 2u;
    return end <= flen;
}

/* The rule a tx header breaks, or NULL. */
static const char *tx_refusal(const struct net_vnet_hdr *h, size_t flen, uint64_t f)
{
    bool needs = h->flags & NET_HDR_F_NEEDS_CSUM;
    unsigned type = h->gso_type & ~NET_HDR_GSO_ECN;
    bool ecn = h->gso_type & NET_HDR_GSO_ECN;
    if (needs && !acked(f, NET_F_CSUM))
        return "tx header: NEEDS_CSUM without VIRTIO_NET_F_CSUM";
    if (needs && !csum_fits(h, flen))
        return "tx header: csum_start + csum_offset + 2 beyond the frame";
    if (type != NET_HDR_GSO_NONE && type != NET_HDR_GSO_TCPV4 && type != NET_HDR_GSO_TCPV6)
        return "tx header: gso_type not offered (only TCPV4, TCPV6)";
    if (type == NET_HDR_GSO_TCPV4 && !acked(f, NET_F_HOST_TSO4))
        return "tx header: GSO_TCPV4 without VIRTIO_NET_F_HOST_TSO4";
    if (type == NET_HDR_GSO_TCPV6 && !acked(f, NET_F_HOST_TSO6))
        return "tx header: GSO_TCPV6 without VIRTIO_NET_F_HOST_TSO6";
    if (ecn && type == NET_HDR_GSO_NONE)
        return "tx header: GSO_ECN without a GSO type";
    if (ecn && !acked(f, NET_F_HOST_ECN))
        return "tx header: GSO_ECN without VIRTIO_NET_F_HOST_ECN";
    if (type == NET_HDR_GSO_NONE)
        return NULL;
    if (!needs)
        return "tx header: GSO frame without NEEDS_CSUM";
    if (cvmm_le16_get(h->gso_size) == 0)
        return "tx header: GSO frame with gso_size 0";
    if (cvmm_le16_get(h->csum_offset) != NET_TCP_CSUM_OFF)
        return "tx header: GSO frame whose csum_offset is not TCP's (16)";
    if ((size_t)cvmm_le16_get(h->csum_start) + NET_TCP_HDR_MIN > flen)
        return "tx header: GSO frame without room for a TCP header at csum_start";
    if (cvmm_le16_get(h->hdr_len) > flen)
        return "tx header: hdr_len beyond the frame";
    return NULL;
}

int net_vnet_tx_check(struct net_vnet_hdr *h, size_t flen, uint64_t features, const char **why)
{
    *why = tx_refusal(h, flen, features);
    if (*why)
        return -EINVAL;
    struct net_vnet_hdr out = {0};
    if (h->flags & NET_HDR_F_NEEDS_CSUM) {
        out.flags = NET_HDR_F_NEEDS_CSUM;
        out.csum_start = h->csum_start;
        out.csum_offset = h->csum_offset;
    }
    if (net_vnet_is_gso(h)) {
        out.gso_type = h->gso_type;
        out.gso_size = h->gso_size;
        out.hdr_len = h->hdr_len;
    }
    *h = out;
    return 0;
}

/* The rule an rx header breaks for a driver that acked @f, or NULL. */
static const char *rx_refusal(const struct net_vnet_hdr *h, size_t flen, uint64_t f)
{
    bool needs = h->flags & NET_HDR_F_NEEDS_CSUM;
    unsigned type = h->gso_type & ~NET_HDR_GSO_ECN;
    bool ecn = h->gso_type & NET_HDR_GSO_ECN;
    if (!acked(f, NET_F_GUEST_CSUM) && (needs || h->gso_type != NET_HDR_GSO_NONE))
        return "rx frame from the port: partial checksum or GSO, but VIRTIO_NET_F_GUEST_CSUM was not acked";
    if (needs && !csum_fits(h, flen))
        return "rx frame from the port: csum_start + csum_offset + 2 beyond the frame";
    if (type != NET_HDR_GSO_NONE && type != NET_HDR_GSO_TCPV4 && type != NET_HDR_GSO_TCPV6)
        return "rx frame from the port: gso_type not offered (only TCPV4, TCPV6)";
    if ((type == NET_HDR_GSO_TCPV4 && !acked(f, NET_F_GUEST_TSO4)) ||
        (type == NET_HDR_GSO_TCPV6 && !acked(f, NET_F_GUEST_TSO6)))
        return "rx frame from the port: GSO type whose VIRTIO_NET_F_GUEST_TSO4/6 was not acked";
    if (ecn && (type == NET_HDR_GSO_NONE || !acked(f, NET_F_GUEST_ECN)))
        return "rx frame from the port: GSO_ECN without VIRTIO_NET_F_GUEST_ECN";
    return NULL;
}

int net_vnet_rx_check(struct net_vnet_hdr *h, size_t flen, uint64_t features, const char **why)
{
    *why = rx_refusal(h, flen, features);
    if (*why)
        return -EINVAL;
    if (!acked(features, NET_F_GUEST_CSUM))
        *h = (struct net_vnet_hdr){0};
    else
        h->flags &= NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID;
    return 0;
}
