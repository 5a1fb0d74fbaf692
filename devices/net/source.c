/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-net's frame generator (--source=SIZE): rx rings filled as fast as the driver posts.  See source.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvmm/vq/rw.h"
#include "cvmm/vq/snapshot.h"
#include "cvmm/vub/serve_inline.h"
#include "net.h"
#include "source.h"

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

/* What one fill passes to source_request(). */
struct fill {
    net_source *s;
    const uint8_t *hdr;
    unsigned hdr_len;
    const struct cvmm_log *log;
};

/* One chain (a vub_request_fn), read once by the library: the header and the frame, or nothing if they do
 * not fit.  Return: 0 (*used_len: bytes written, 0 for a chain returned empty); -EIO broken. */
static int source_request(void *ctx, vub_queue *q, const vq_snapshot *sn, uint32_t *used_len)
{
    struct fill *f = ctx;
    net_source *s = f->s;
    *used_len = 0;
    if (sn->writable < f->hdr_len + s->len) {
        if (!s->bad_logged)
            cvmm_logf(f->log, CVMM_LOG_WARN,
                      "net: vq%u: rx chain too small for a %u-byte frame (returned empty; logged once)",
                      vub_queue_index(q), s->len);
        s->bad_logged = true;
        s->dropped++;
        return 0;
    }
    vq_writer w;
    vq_writer_init(&w, sn);
    int rc;
    if ((rc = vq_writer_write(&w, f->hdr, f->hdr_len)) < 0 || (rc = vq_writer_write(&w, s->frame, s->len)) < 0)
        return rc;
    s->packets++;
    s->bytes += s->len;
    *used_len = f->hdr_len + s->len;
    return 0;
}

/* The library serves the queue (cvmm/vub/serve.h), as it serves tx: notifications off while buffers come,
 * the busy-poll of a drained ring, chains read in groups, used entries in batches, one call at the end. */
int net_source_fill(net_source *s, vub_queue *q, unsigned hdr_len, unsigned budget, const struct cvmm_log *log)
{
    uint8_t hdr[NET_HDR_LEN] = {0}; /* no offloads: a clean header */
    if (hdr_len == NET_HDR_LEN)
        hdr[NET_HDR_NUM_BUFFERS_OFF] = 1; /* little-endian 1: one chain per frame */
    struct fill f = {.s = s, .hdr = hdr, .hdr_len = hdr_len, .log = log};
    int rc = vub_queue_serve_inline(q, source_request, &f, budget);
    return rc < 0 ? rc : 0;
}
