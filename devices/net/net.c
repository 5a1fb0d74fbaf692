/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-net's virtio-net device: the vub ops, rx (port -> guest) and tx (guest -> port or sink).  See net.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cvmm/vq/chain.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/rw.h"
#include "cvmm/vq/snapshot.h"
#include "cvmm/vub/queue.h"
#include "cvmm/vub/serve_inline.h"
#include "cvmm/vub/watch.h"
#include "net.h"
#include "source.h"
#include "tap.h"
#include "vnet_hdr.h"

/* One queue's device state; owned by the queue's worker (stats are read after the workers ended). */
struct net_q {
    net_dev *dev;
    vub_queue *q;   /* set at the first queue_started() */
    unsigned index; /* vring index */
    unsigned pair;
    bool rx;
    int fd; /* the pair's port (borrowed), -1 in sink mode */
    /* rx */
    vub_watch *watch;     /* the port on the queue's worker: made when first wanted, freed when stopped */
    bool attached;        /* multi-queue tap queue attached */
    uint8_t *buf;         /* frame buffer (rx: NET_FRAME_MAX; tx: for the copy path) */
    size_t pend;          /* rx: bytes of a frame waiting for buffers, 0 if none */
    vq_snapshot_buf *res; /* rx: NET_RX_CHAINS_MAX slots, a ring of chains popped and not used yet (each
                           * read once: its writable total is its capacity), nres of them from resfirst */
    unsigned resfirst;
    unsigned nres;
    uint64_t resbytes;
    unsigned hdr_len; /* negotiated header size, read at queue start */
    bool mrg;
    /* acked, read at queue start: what the headers may carry (vnet_hdr.h) */
    uint64_t features;
    bool bad_logged; /* one log line per queue for guest mistakes */
    bool err_logged; /* one log line per queue for port errors */
    uint64_t packets, bytes, dropped;
    uint64_t gso; /* GSO frames among the packets */
};

struct net_dev {
    net_config cfg;
    unsigned budget; /* cfg.budget or NET_BUDGET_DEFAULT */
    vub_device_info info;
    uint16_t qworker[VUB_MAX_QUEUES];
    struct net_config_space config;
    _Atomic uint64_t features; /* acked (control thread writes, workers read at queue start) */
    struct net_q *qs;          /* info.num_queues entries */
    net_source *src;           /* --source: one generator per pair (its rx queue), else NULL */
};

static const struct cvmm_log *dlog(const net_dev *n) { return n->cfg.log; }

static void bad_chain(struct net_q *nq, const char *what)
{
    if (!nq->bad_logged)
        cvmm_logf(dlog(nq->dev), CVMM_LOG_WARN, "net: vq%u: %s (dropped; logged once per queue)", nq->index, what);
    nq->bad_logged = true;
}

static void port_error(struct net_q *nq, const char *op, int err)
{
    if (!nq->err_logged)
        cvmm_logf(dlog(nq->dev), CVMM_LOG_WARN, "net: vq%u: port %s failed: %s (logged once per queue)", nq->index, op,
                  strerror(err));
    nq->err_logged = true;
}

/* ---------------------------------------------------------------------------------------------------- */
/* rx: port -> guest                                                                                     */

static void rx_ready(void *opaque, vub_queue *q, int fd, unsigned events);

/* Watch the port (level-triggered) or not.  Threads: the queue's worker. */
static void rx_watch(struct net_q *nq, bool on)
{
    if (nq->fd < 0 || (!on && !nq->watch))
        return;
    int rc = nq->watch ? 0 : vub_watch_new(nq->q, nq->fd, 0, rx_ready, nq, &nq->watch);
    if (rc < 0) {
        nq->watch = NULL;
        port_error(nq, "watch", -rc);
        return;
    }
    (void)vub_watch_set(nq->watch, on ? VUB_WATCH_READ : 0);
}

/* Multi-queue taps: the kernel steers frames only to attached queues, so a queue is attached while its
 * rx ring runs (started and enabled) and detached otherwise. */
static void rx_attach(struct net_q *nq, bool on)
{
    if (nq->fd < 0 || !nq->dev->cfg.tap_multi_queue || nq->attached == on)
        return;
    int rc = net_tap_attach(nq->fd, on);
    if (rc < 0)
        cvmm_logf(dlog(nq->dev), CVMM_LOG_WARN, "net: pair %u: tap queue %s failed: %s", nq->pair,
                  on ? "attach" : "detach", strerror(-rc));
    else
        nq->attached = on;
}

/* Reserved chain @i (0: the oldest).  A slot is never moved: its snapshot points into it. */
static vq_snapshot *rx_slot(struct net_q *nq, unsigned i)
{
    return &nq->res[(nq->resfirst + i) % NET_RX_CHAINS_MAX].snap;
}

static void rx_drop_reserve(struct net_q *nq, unsigned k)
{
    nq->resfirst = (nq->resfirst + k) % NET_RX_CHAINS_MAX;
    nq->nres -= k;
}

/* Copy the pending frame into reserved chains 0..k-1 and return them.  Return: 0; -EIO broken. */
static int rx_deliver(struct net_q *nq, vq_queue *vq, unsigned k)
{
    vq_used_elem el[NET_RX_CHAINS_MAX];
    const uint8_t *p = nq->buf;
    size_t left = nq->pend;
    /* num_buffers (12-byte header): the number of chains, 1 without MRG_RXBUF. */
    if (nq->hdr_len == NET_HDR_LEN) {
        nq->buf[NET_HDR_NUM_BUFFERS_OFF] = (uint8_t)(k & 0xff);
        nq->buf[NET_HDR_NUM_BUFFERS_OFF + 1] = (uint8_t)(k >> 8);
    }
    for (unsigned i = 0; i < k; i++) {
        const vq_snapshot *s = rx_slot(nq, i);
        vq_writer w;
        vq_writer_init(&w, s);
        size_t n = left < s->writable ? left : s->writable;
        int rc = vq_writer_write(&w, p, n); /* fits: the capacity is the snapshot's, not re-read */
        if (rc < 0)
            return rc;
        el[i] = (vq_used_elem){.head = s->head, .len = (uint32_t)n};
        p += n;
        left -= n;
    }
    int rc = vq_add_used_batch(vq, el, k);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < k; i++)
        nq->resbytes -= rx_slot(nq, i)->writable;
    rx_drop_reserve(nq, k);
    nq->packets++;
    nq->gso += nq->buf[offsetof(struct net_vnet_hdr, gso_type)] != NET_HDR_GSO_NONE;
    nq->bytes += nq->pend - nq->hdr_len;
    nq->pend = 0;
    return 0;
}

/* The port's header in front of the frame in nq->buf (@n bytes with it), made what this guest may see, in
 * place (vnet_hdr.h).  Return: false the frame cannot go to this guest (logged once per queue). */
static bool rx_header(struct net_q *nq, size_t n)
{
    struct net_vnet_hdr h = {0};
    const char *why;
    memcpy(&h, nq->buf, nq->hdr_len); /* 10 or 12 bytes */
    if (net_vnet_rx_check(&h, n - nq->hdr_len, nq->features, &why) < 0) {
        bad_chain(nq, why);
        return false;
    }
    memcpy(nq->buf, &h, nq->hdr_len);
    return true;
}

/* Read one frame from the port into nq->buf.  Return: 1 got one; 0 the port is empty; -errno. */
static int rx_read(struct net_q *nq)
{
    for (;;) {
        ssize_t n = read(nq->fd, nq->buf, NET_FRAME_MAX);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -errno;
        }
        if (n == 0) /* a socket port whose peer closed (a tap never reads 0) */
            return -EPIPE;
        if ((size_t)n <= nq->hdr_len) { /* no frame behind the header: nothing to deliver */
            nq->dropped++;
            continue;
        }
        if (!rx_header(nq, (size_t)n)) {
            nq->dropped++;
            continue;
        }
        nq->pend = (size_t)n;
        return 1;
    }
}

static void rx_release(struct net_q *nq);

/* Fill the reserve until it holds @need bytes (MRG_RXBUF) or one chain.  Return: 1 enough; 0 the ring
 * is empty (kicks are enabled again); -EIO broken. */
static int rx_reserve(struct net_q *nq, vq_queue *vq, uint64_t need)
{
    while (nq->mrg ? nq->resbytes < need : nq->nres == 0) {
        if (nq->nres == NET_RX_CHAINS_MAX)
            return 1; /* the caller sees the frame does not fit */
        vq_chain c;
        int rc = vq_pop(vq, &c);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            rc = vq_enable_notification(vq);
            if (rc < 0)
                return rc;
            if (rc == 1)
                continue;
            return 0;
        }
        vq_snapshot_buf *b = &nq->res[(nq->resfirst + nq->nres) % NET_RX_CHAINS_MAX];
        rc = vq_snapshot_take_buf(vq, &c, b);
        if (rc < 0 && rc != -ENOSPC)
            return rc;
        if (rc == -ENOSPC || b->snap.writable < nq->hdr_len) { /* give it back empty */
            bad_chain(nq, rc == -ENOSPC ? "rx chain of more than 64 descriptors"
                                        : "rx chain smaller than the virtio-net header");
            if (nq->features & (1ull << VUB_F_IN_ORDER))
                rx_release(nq); /* the chains popped before it go back first, empty as well */
            rc = vq_add_used(vq, c.head, 0);
            if (rc < 0)
                return rc;
            continue;
        }
        nq->nres++;
        nq->resbytes += b->snap.writable;
    }
    return 1;
}

static int rx_process(struct net_q *nq)
{
    vub_queue *q = nq->q;
    vq_queue *vq = vub_queue_vq(q);
    int rc = 0;
    unsigned budget = nq->dev->budget;
    if (nq->fd < 0 || !vub_queue_started(q) || !vub_queue_enabled(q))
        return 0;
    for (;;) {
        if (budget-- == 0) { /* let the other queues of this worker run; the watcher calls again */
            rx_watch(nq, true);
            break;
        }
        if (!nq->pend) {
            rc = rx_read(nq);
            if (rc < 0) { /* not EAGAIN: stop watching (level-triggered) until the next rx kick */
                port_error(nq, "read", -rc);
                rx_watch(nq, false);
                rc = 0;
                break;
            }
            if (rc == 0) { /* drained: wait for the port */
                rx_watch(nq, true);
                break;
            }
        }
        rc = rx_reserve(nq, vq, nq->pend);
        if (rc < 0)
            break;
        if (rc == 0) { /* no buffers: leave frames in the port until the guest kicks */
            rx_watch(nq, false);
            break;
        }
        unsigned k;
        if (!nq->mrg) {
            k = 1;
            if (rx_slot(nq, 0)->writable < nq->pend) {
                bad_chain(nq, "rx chain too small for the frame without MRG_RXBUF");
                nq->dropped++;
                nq->pend = 0;
                continue;
            }
        } else {
            uint64_t sum = 0;
            for (k = 0; k < nq->nres && sum < nq->pend; k++)
                sum += rx_slot(nq, k)->writable;
            if (sum < nq->pend) { /* NET_RX_CHAINS_MAX tiny buffers cannot hold it */
                bad_chain(nq, "rx buffers too small for the frame");
                nq->dropped++;
                nq->pend = 0;
                continue;
            }
        }
        rc = rx_deliver(nq, vq, k);
        if (rc < 0)
            break;
    }
    if (rc < 0) { /* broken ring: stop reading the port until the ring restarts */
        rx_watch(nq, false);
        return rc;
    }
    return vub_queue_notify(q) < 0 ? -EIO : 0;
}

static void rx_ready(void *opaque, vub_queue *q, int fd, unsigned events)
{
    (void)q, (void)fd, (void)events;
    (void)rx_process(opaque);
}

/* Give reserved chains back empty: the ring position (vring base) counts them as consumed and there is no
 * way to un-pop, so returning them is the only way the guest gets its buffers back. */
static void rx_release(struct net_q *nq)
{
    vq_queue *vq = vub_queue_vq(nq->q);
    for (unsigned i = 0; i < nq->nres; i++)
        if (vq_add_used(vq, rx_slot(nq, i)->head, 0) < 0)
            break;
    if (nq->nres)
        (void)vub_queue_signal(nq->q);
    nq->nres = 0;
    nq->resfirst = 0;
    nq->resbytes = 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* tx: guest -> port or sink                                                                             */

/* Sink: read the whole chain (header and frame) out of guest memory into the queue's buffer with the
 * snapshot's reader, as a real device does (DPDK's vhost copies every frame into an mbuf), then count and
 * drop it: benchmarks of 64 B and 1500 B frames then compare fairly.  Return: 0; -EIO broken. */
static int tx_sink(struct net_q *nq, const vq_snapshot *s)
{
    if (s->readable < nq->hdr_len || s->readable - nq->hdr_len > NET_FRAME_MAX - NET_HDR_LEN) {
        bad_chain(nq, s->readable < nq->hdr_len ? "tx chain shorter than the virtio-net header"
                                                : "tx frame longer than 64 KiB");
        nq->dropped++;
        return 0;
    }
    vq_reader r;
    vq_reader_init(&r, s);
    int rc = vq_reader_read(&r, nq->buf, s->readable); /* fits: readable <= NET_FRAME_MAX */
    if (rc < 0)
        return rc;
    nq->packets++;
    nq->bytes += s->readable - nq->hdr_len;
    return 0;
}

/* Port: one writev with the guest's header, checked (vnet_hdr.h), in front of the guest's frame.  The
 * header is read once into a local copy, which is what is checked and sent; the frame length checked is the
 * snapshot's, and the iovecs are the snapshot's buffers (they add up to it exactly): a guest that rewrites
 * its header or descriptors meanwhile changes neither.  Return: 0; -EIO broken. */
static int tx_port(struct net_q *nq, const vq_snapshot *s)
{
    struct net_vnet_hdr h = {0};
    const char *why;
    struct iovec iov[NET_TX_IOV_MAX + 1];
    vq_reader r;
    vq_reader_init(&r, s);
    uint64_t left = vq_reader_bytes_left(&r);
    int rc;
    if (left <= nq->hdr_len || left - nq->hdr_len > NET_FRAME_MAX - NET_HDR_LEN) {
        bad_chain(nq, left <= nq->hdr_len ? "tx chain without a frame behind the virtio-net header"
                                          : "tx frame longer than 64 KiB");
        nq->dropped++;
        return 0;
    }
    if ((rc = vq_reader_read(&r, &h, nq->hdr_len)) < 0) /* 10 or 12 bytes */
        return rc;
    size_t flen = (size_t)(left - nq->hdr_len);
    if (net_vnet_tx_check(&h, flen, nq->features, &why) < 0) {
        bad_chain(nq, why);
        nq->dropped++;
        return 0;
    }
    iov[0] = (struct iovec){.iov_base = &h, .iov_len = nq->hdr_len};
    int n = vq_reader_iovec(&r, iov + 1, NET_TX_IOV_MAX);
    if (n == -ENOSPC) { /* too many pieces: copy the frame */
        if ((rc = vq_reader_read(&r, nq->buf, flen)) < 0)
            return rc;
        iov[1] = (struct iovec){.iov_base = nq->buf, .iov_len = flen};
        n = 1;
    } else if (n < 0) {
        return n;
    }
    ssize_t w;
    do
        w = writev(nq->fd, iov, n + 1);
    while (w < 0 && errno == EINTR);
    if (w < 0) { /* EAGAIN (queue full), EIO (interface down), EBADFD (detached): drop */
        port_error(nq, "write", errno);
        nq->dropped++;
        return 0;
    }
    nq->packets++;
    nq->bytes += flen;
    nq->gso += net_vnet_is_gso(&h);
    return 0;
}

/* One tx chain (a vub_request_fn), read once by the library: send or count it; nothing is written into
 * it.  Return: 0; -EIO broken. */
static int tx_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    struct net_q *nq = ctx;
    (void)q;
    *used_len = 0;
    return nq->fd < 0 ? tx_sink(nq, s) : tx_port(nq, s);
}

/* tx is served by the library (cvmm/vub/serve.h): notifications off while chains come, the busy-poll of a
 * drained ring, chains taken in groups (their first buffers' misses overlap), used entries in batches, one
 * call at the end, at most the device's budget per call. */
static int tx_process(struct net_q *nq)
{
    int rc = vub_queue_serve_inline(nq->q, tx_request, nq, nq->dev->budget);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The ops                                                                                               */

static struct net_q *qstate(net_dev *n, vub_queue *q)
{
    struct net_q *nq = &n->qs[vub_queue_index(q)];
    nq->q = q;
    return nq;
}

static int net_features_acked(void *ctx, uint64_t features)
{
    net_dev *n = ctx;
    unsigned len = net_hdr_len(features);
    if (!n->cfg.sink && n->cfg.tap)
        for (unsigned i = 0; i < n->cfg.queue_pairs; i++) {
            int rc = net_tap_set_hdr_len(n->cfg.port_fds[i], (int)len);
            if (rc < 0) {
                cvmm_logf(dlog(n), CVMM_LOG_ERROR, "net: pair %u: TUNSETVNETHDRSZ %u failed: %s", i, len,
                          strerror(-rc));
                return rc;
            }
        }
    if (!n->cfg.sink && n->cfg.tap) { /* what the tap may hand over on rx: what the guest accepts (device-wide) */
        unsigned fl = net_tap_offload_flags(features);
        int rc = net_tap_set_offload(n->cfg.port_fds[0], fl);
        if (rc < 0) {
            cvmm_logf(dlog(n), CVMM_LOG_ERROR, "net: TUNSETOFFLOAD 0x%x failed: %s", fl, strerror(-rc));
            return rc;
        }
    }
    atomic_store_explicit(&n->features, features, memory_order_release);
    return 0;
}

static int net_get_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    net_dev *n = ctx;
    memcpy(buf, (const uint8_t *)&n->config + off, len); /* off + len <= config_size: checked by vub */
    return 0;
}

static int net_queue_started(void *ctx, vub_queue *q)
{
    net_dev *n = ctx;
    struct net_q *nq = qstate(n, q);
    uint64_t f = atomic_load_explicit(&n->features, memory_order_acquire);
    nq->hdr_len = net_hdr_len(f);
    nq->mrg = (f >> NET_F_MRG_RXBUF) & 1;
    nq->features = f;
    nq->pend = 0;
    nq->nres = 0;
    nq->resfirst = 0;
    nq->resbytes = 0;
    if (nq->rx && vub_queue_enabled(q)) {
        rx_attach(nq, true);
        rx_watch(nq, true);
    }
    return 0;
}

static int net_queue_stopped(void *ctx, vub_queue *q)
{
    net_dev *n = ctx;
    struct net_q *nq = qstate(n, q);
    if (!nq->rx)
        return 0;
    vub_watch_free(nq->watch);
    nq->watch = NULL;
    rx_attach(nq, false);
    rx_release(nq);
    if (nq->pend)
        nq->dropped++;
    nq->pend = 0;
    return 0;
}

static int net_queue_enabled(void *ctx, vub_queue *q, bool enabled)
{
    net_dev *n = ctx;
    struct net_q *nq = qstate(n, q);
    if (!vub_queue_started(q))
        return 0;
    if (nq->rx) {
        rx_attach(nq, enabled);
        rx_watch(nq, enabled);
    }
    if (enabled)
        (void)vub_queue_kick(q);
    return 0;
}

static int net_queue_kicked(void *ctx, vub_queue *q)
{
    net_dev *n = ctx;
    struct net_q *nq = qstate(n, q);
    if (nq->rx && n->src)
        return net_source_fill(&n->src[nq->pair], q, nq->hdr_len, n->budget, dlog(n));
    return nq->rx ? rx_process(nq) : tx_process(nq);
}

static void net_reset(void *ctx)
{
    net_dev *n = ctx;
    atomic_store_explicit(&n->features, 0, memory_order_release);
}

static const vub_device_ops net_ops = {
    .features_acked = net_features_acked,
    .get_config = net_get_config,
    .queue_started = net_queue_started,
    .queue_stopped = net_queue_stopped,
    .queue_enabled = net_queue_enabled,
    .queue_kicked = net_queue_kicked,
    .reset = net_reset,
};

const vub_device_ops *net_dev_ops(void) { return &net_ops; }

const vub_device_info *net_dev_info(const net_dev *n) { return &n->info; }

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

int net_dev_new(const net_config *cfg, net_dev **out)
{
    if (!cfg || !out || cfg->queue_pairs == 0 || cfg->queue_pairs > NET_MAX_PAIRS || (!cfg->sink && !cfg->port_fds) ||
        cfg->nworkers > VUB_MAX_WORKERS || cfg->budget > NET_BUDGET_MAX ||
        (cfg->source_size && (!cfg->sink || cfg->source_size < NET_SOURCE_MIN || cfg->source_size > NET_SOURCE_MAX)))
        return -EINVAL;
    net_dev *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->cfg = *cfg;
    n->budget = cfg->budget ? cfg->budget : NET_BUDGET_DEFAULT;
    unsigned nq = 2 * cfg->queue_pairs;
    unsigned nworkers = cfg->nworkers ? cfg->nworkers : 1;
    n->qs = calloc(nq, sizeof(*n->qs));
    if (!n->qs)
        goto fail;
    for (unsigned i = 0; i < nq; i++) {
        struct net_q *q = &n->qs[i];
        q->dev = n;
        q->index = i;
        q->pair = i / 2;
        q->rx = (i % 2) == 0;
        q->fd = cfg->sink ? -1 : cfg->port_fds[i / 2];
        q->attached = true;         /* a tap queue is attached when opened */
        if (!cfg->sink || !q->rx) { /* the sink reads each tx frame into buf */
            q->buf = malloc(NET_FRAME_MAX);
            if (!q->buf)
                goto fail;
        }
        if (q->rx) {
            q->res = calloc(NET_RX_CHAINS_MAX, sizeof(*q->res));
            if (!q->res)
                goto fail;
        }
        n->qworker[i] = (uint16_t)(q->pair % nworkers);
    }
    if (cfg->source_size) {
        static const uint8_t src_mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
        if (!(n->src = calloc(cfg->queue_pairs, sizeof(*n->src))))
            goto fail;
        for (unsigned i = 0; i < cfg->queue_pairs; i++)
            if (net_source_init(&n->src[i], cfg->source_size, cfg->has_mac ? cfg->mac : src_mac) < 0)
                goto fail;
    }
    /* Until a guest runs a pair, its tap queue is detached (frames go to running queues only). */
    for (unsigned i = 0; i < nq; i += 2)
        rx_attach(&n->qs[i], false);
    /* IN_ORDER: every path gives chains back in the order it popped them (tx and the source in one batch
     * per turn, rx through the reserve, rx_reserve() and rx_release() included). */
    uint64_t f = (1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_EVENT_IDX) | (1ull << VUB_F_RING_PACKED) |
                 (1ull << VUB_F_RING_INDIRECT_DESC) | (1ull << VUB_F_IN_ORDER) | (1ull << NET_F_MRG_RXBUF);
    if (cfg->queue_pairs > 1)
        f |= 1ull << NET_F_MQ;
    if (cfg->has_mac)
        f |= 1ull << NET_F_MAC;
    if (cfg->mtu)
        f |= 1ull << NET_F_MTU;
    if (cfg->offloads && !cfg->sink)
        f |= NET_OFFLOAD_FEATURES;
    n->info = (vub_device_info){
        .name = "net",
        .num_queues = nq,
        .max_queue_size = 1024,
        .features = f,
        .queue_worker = n->qworker,
        .config_size = sizeof(struct net_config_space),
    };
    memcpy(n->config.mac, cfg->mac, 6);
    put_le16(n->config.status, NET_S_LINK_UP);
    put_le16(n->config.max_virtqueue_pairs, (uint16_t)cfg->queue_pairs);
    put_le16(n->config.mtu, cfg->mtu);
    *out = n;
    return 0;
fail:
    net_dev_free(n);
    return -ENOMEM;
}

void net_dev_free(net_dev *n)
{
    if (!n)
        return;
    if (n->qs)
        for (unsigned i = 0; i < 2 * n->cfg.queue_pairs; i++) {
            free(n->qs[i].buf);
            free(n->qs[i].res);
        }
    free(n->qs);
    if (n->src)
        for (unsigned i = 0; i < n->cfg.queue_pairs; i++)
            net_source_fini(&n->src[i]);
    free(n->src);
    free(n);
}

void net_dev_stats(const net_dev *n, net_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < 2 * n->cfg.queue_pairs; i++) {
        const struct net_q *q = &n->qs[i];
        if (q->rx) {
            out->rx_packets += q->packets;
            out->rx_bytes += q->bytes;
            out->rx_dropped += q->dropped;
            out->rx_gso += q->gso;
        } else {
            out->tx_packets += q->packets;
            out->tx_bytes += q->bytes;
            out->tx_dropped += q->dropped;
            out->tx_gso += q->gso;
        }
    }
    for (unsigned i = 0; n->src && i < n->cfg.queue_pairs; i++) {
        out->rx_packets += n->src[i].packets;
        out->rx_bytes += n->src[i].bytes;
        out->rx_dropped += n->src[i].dropped;
    }
}
