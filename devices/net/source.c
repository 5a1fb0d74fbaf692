/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-net's frame generator (--source=SIZE): rx rings filled as fast as the driver posts.  See source.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvmm/vq/chain.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/rw.h"
#include "cvmm/vq/snapshot.h"
#include "net.h"
#include "source.h"

/* Used entries per publication. */
#define SOURCE_BATCH 64u

int net_source_init(net_source *s, uint32_t len, const uint8_t mac[6])
{
    memset(s, 0, sizeof(*s));
    if (len < NET_SOURCE_MIN || len > NET_SOURCE_MAX)
        return -EINVAL;
    s->frame = malloc(len);
    if (!s->frame)
        return -ENOMEM;
    memset(s->frame, 0xff, 6); /* broadcast: any receiver takes it */
    memcpy(s->frame + 6, mac, 6);
    s->frame[12] = 0x88; /* EtherType 0x88b5: IEEE 802 local experimental */
    s->frame[13] = 0xb5;
    for (uint32_t i = 14; i < len; i++)
        s->frame[i] = (uint8_t)i;
    s->len = len;
    return 0;
}

void net_source_fini(net_source *s)
{
    free(s->frame);
    s->frame = NULL;
}

/* One chain: the header and the frame, or nothing if they do not fit.  Return: bytes written (the used
 * length, 0 for a chain returned empty); -EIO broken. */
static int source_chain(net_source *s, vq_queue *vq, const vq_chain *c, const uint8_t *hdr, unsigned hdr_len,
                        const struct cvmm_log *log, unsigned index)
{
    vq_snapshot_buf sb;
    int rc = vq_snapshot_take_buf(vq, c, &sb);
    if (rc < 0 && rc != -ENOSPC)
        return rc;
    if (rc == -ENOSPC || sb.snap.writable < hdr_len + s->len) {
        if (!s->bad_logged)
            cvmm_logf(log, CVMM_LOG_WARN, "net: vq%u: rx chain %s for a %u-byte frame (returned empty; logged once)",
                      index, rc == -ENOSPC ? "of more than 64 descriptors" : "too small", s->len);
        s->bad_logged = true;
        s->dropped++;
        return 0;
    }
    vq_writer w;
    vq_writer_init(&w, &sb.snap);
    if ((rc = vq_writer_write(&w, hdr, hdr_len)) < 0 || (rc = vq_writer_write(&w, s->frame, s->len)) < 0)
        return rc;
    s->packets++;
    s->bytes += s->len;
    return (int)(hdr_len + s->len);
}

int net_source_fill(net_source *s, vub_queue *q, unsigned hdr_len, unsigned budget, const struct cvmm_log *log)
{
    vq_queue *vq = vub_queue_vq(q);
    vq_used_elem el[SOURCE_BATCH];
    uint8_t hdr[NET_HDR_LEN] = {0}; /* no offloads: a clean header */
    unsigned ne = 0;
    vq_chain c;
    int rc;
    if (!vub_queue_started(q) || !vub_queue_enabled(q))
        return 0; /* a disabled ring is left alone */
    if (hdr_len == NET_HDR_LEN)
        hdr[NET_HDR_NUM_BUFFERS_OFF] = 1; /* little-endian 1: one chain per frame */
    do {
        if ((rc = vq_disable_notification(vq)) < 0)
            return rc;
        while ((rc = budget ? vq_pop(vq, &c) : 0) == 1) {
            budget--;
            int n = source_chain(s, vq, &c, hdr, hdr_len, log, vub_queue_index(q));
            if (n < 0)
                return n;
            el[ne++] = (vq_used_elem){.head = c.head, .len = (uint32_t)n};
            if (ne == SOURCE_BATCH) {
                if ((rc = vq_add_used_batch(vq, el, ne)) < 0)
                    return rc;
                ne = 0;
            }
        }
        if (ne) {
            int rc2 = vq_add_used_batch(vq, el, ne);
            if (rc2 < 0)
                return rc2;
            ne = 0;
        }
        if (rc < 0)
            return rc;
        if (budget == 0) { /* more may wait: come back after the worker's other queues (kicks stay off) */
            (void)vub_queue_kick(q);
            break;
        }
    } while ((rc = vub_queue_drained(q)) == 1); /* busy-poll, then kicks on (as tx) */
    if (rc < 0)
        return rc;
    return vub_queue_notify(q) < 0 ? -EIO : 0;
}
