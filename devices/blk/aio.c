/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* aio.c - one io_uring per queue: requests in flight, batched submission and completion (aio.h). */
#include "aio.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/notify.h"

/* Descriptors a slot's snapshot holds: seg_max data segments, the header and the status (a longer chain,
 * which breaks the announced seg_max, is served synchronously). */
#define SLOT_DESCS (BLK_SEG_MAX + 2u)
/* Guest memory regions one in-flight request may lie in (more: served synchronously). */
#define SLOT_REGIONS 4u
/* Used entries published with one release store while serving. */
#define USED_BATCH 64u
#define NO_SLOT UINT32_MAX
/* user_data of a write-through write, linked to the fdatasync that carries the slot's plain index. */
#define LINKED_WRITE (1ull << 32)

struct slot {
    blk_io io;                       /* the request (its cursors borrow @desc) */
    vq_snapshot snap;                /* the chain, read once */
    uint16_t head;                   /* for the used entry */
    int fd;                          /* the file the I/O goes to (blk_disk_io_fd()) */
    uint64_t done;                   /* bytes moved so far (a short transfer is resubmitted) */
    bool linked;                     /* write-through write: writev linked to an fdatasync */
    int wres;                        /* the linked writev's result */
    int niov, iov0;                  /* iovecs, and the first one not fully moved yet */
    unsigned nregs;                  /* references held on guest memory */
    vmem_region *regs[SLOT_REGIONS]; /* the regions its buffers lie in */
    uint32_t next_free;              /* free list link */
    struct iovec iov[BLK_IOV_MAX];   /* the buffers of the data, from the snapshot */
    vq_desc_info desc[SLOT_DESCS];   /* the snapshot's storage */
};

struct blk_aio {
    blk_disk *d;
    unsigned index; /* the ring's vring index, for log lines */
    unsigned depth;
    unsigned inflight;
    uint32_t free_head;
    bool full; /* the last kick stopped because every slot was busy */
    bool submit_logged;
    struct io_uring ring;
    int efd;
    struct slot *slots;
    vq_used_elem *used; /* answered, not published yet */
    unsigned nused, used_cap;
    vq_desc_info *big; /* a chain of more than SLOT_DESCS descriptors, served synchronously */
};

int blk_aio_probe(void)
{
    struct io_uring r;
    int rc = io_uring_queue_init(2, &r, 0);
    if (rc == 0)
        io_uring_queue_exit(&r);
    return rc;
}

int blk_aio_new(blk_disk *d, unsigned index, unsigned depth, blk_aio **out)
{
    if (!d || !out || depth == 0 || depth > VQ_MAX_SIZE)
        return -EINVAL;
    blk_aio *a = calloc(1, sizeof(*a));
    int rc = -ENOMEM;
    if (!a)
        goto fail_log;
    if (depth > VQ_MAX_SIZE / 2)
        depth = VQ_MAX_SIZE / 2; /* two submissions per slot must fit the kernel's 32768 */
    a->d = d;
    a->index = index;
    a->depth = depth;
    a->efd = -1;
    a->used_cap = depth + USED_BATCH;
    a->slots = calloc(depth, sizeof(*a->slots)); /* untouched pages cost nothing until used */
    a->used = calloc(a->used_cap, sizeof(*a->used));
    a->big = calloc(BLK_CHAIN_DESCS_MAX, sizeof(*a->big));
    if (!a->slots || !a->used || !a->big)
        goto fail;
    for (unsigned i = 0; i < depth; i++)
        a->slots[i].next_free = i + 1 < depth ? i + 1 : NO_SLOT;
    a->free_head = 0;
    unsigned entries = 1;
    while (entries < depth)
        entries <<= 1;
    entries <<= 1; /* the SQ holds two submissions for every slot (a write and its fdatasync) */
    if ((rc = io_uring_queue_init(entries, &a->ring, 0)) < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: io_uring_setup (%u entries): %s", index, entries, strerror(-rc));
        goto fail;
    }
    a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->efd < 0) {
        rc = -errno;
        cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: eventfd: %s", index, strerror(-rc));
        goto fail_ring;
    }
    /* Every completion signals (not _async: that signals only for io-wq's, never for those the task's own
     * task work posts); those done while submitting are also reaped right away, without the round trip. */
    if ((rc = io_uring_register_eventfd(&a->ring, a->efd)) < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: io_uring_register_eventfd: %s", index, strerror(-rc));
        goto fail_ring;
    }
    *out = a;
    return 0;
fail_ring:
    cvmm_close(&a->efd);
    io_uring_queue_exit(&a->ring);
fail:
    free(a->big);
    free(a->used);
    free(a->slots);
    free(a);
    return rc;
fail_log:
    cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: out of memory for %u requests in flight", index, depth);
    return rc;
}

int blk_aio_event_fd(const blk_aio *a) { return a->efd; }

unsigned blk_aio_inflight(const blk_aio *a) { return a->inflight; }

bool blk_aio_wants_kick(const blk_aio *a) { return a->full && a->free_head != NO_SLOT; }

static void unpin(struct slot *sl)
{
    for (unsigned i = 0; i < sl->nregs; i++)
        vmem_region_unref(sl->regs[i]);
    sl->nregs = 0;
}

/* Hold the regions of every buffer of @sl's snapshot.  Return: 0; -ENOSPC more than SLOT_REGIONS. */
static int pin(struct slot *sl, const vmem_map *map)
{
    sl->nregs = 0;
    for (uint32_t i = 0; i < sl->snap.ndesc; i++) {
        const vmem_region *r;
        if (sl->snap.desc[i].len == 0 || vmem_map_find(map, sl->snap.desc[i].gpa, &r) < 0)
            continue; /* the snapshot translated it in this map: found */
        unsigned k = 0;
        while (k < sl->nregs && sl->regs[k] != r)
            k++;
        if (k < sl->nregs)
            continue;
        if (sl->nregs == SLOT_REGIONS) {
            unpin(sl);
            return -ENOSPC;
        }
        /* A reference changes no region state the map relies on: the const is the map's view. */
        sl->regs[sl->nregs++] = vmem_region_ref((vmem_region *)(uintptr_t)r);
    }
    return 0;
}

static struct slot *slot_get(blk_aio *a)
{
    struct slot *sl = &a->slots[a->free_head];
    a->free_head = sl->next_free;
    return sl;
}

static void slot_put(blk_aio *a, struct slot *sl)
{
    unpin(sl);
    sl->next_free = a->free_head;
    a->free_head = (uint32_t)(sl - a->slots);
}

static int publish(blk_aio *a, vq_queue *vq)
{
    int rc = a->nused ? vq_add_used_batch(vq, a->used, a->nused) : 0;
    a->nused = 0; /* a broken queue takes no more used entries: they are dropped */
    return rc;
}

static void answered(blk_aio *a, uint16_t head, uint32_t len)
{
    a->used[a->nused].head = head;
    a->used[a->nused].len = len;
    a->nused++;
}

/* Queue @sl's read, write or flush (the SQ has room: it holds one entry per slot). */
static void prep(blk_aio *a, struct slot *sl)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
    uint64_t off = sl->io.off + sl->done;
    switch (sl->io.op) {
    case BLK_OP_READ: io_uring_prep_readv(sqe, sl->fd, sl->iov + sl->iov0, (unsigned)(sl->niov - sl->iov0), off); break;
    case BLK_OP_WRITE:
        io_uring_prep_writev(sqe, sl->fd, sl->iov + sl->iov0, (unsigned)(sl->niov - sl->iov0), off);
        sl->linked = atomic_load_explicit(&a->d->writethrough, memory_order_relaxed);
        if (sl->linked) { /* write-through: answered once durable, after an fdatasync linked to the write */
            sqe->flags |= IOSQE_IO_LINK;
            io_uring_sqe_set_data64(sqe, (uint64_t)(sl - a->slots) | LINKED_WRITE);
            sqe = io_uring_get_sqe(&a->ring);
            io_uring_prep_fsync(sqe, sl->fd, IORING_FSYNC_DATASYNC);
        }
        break;
    default: /* BLK_OP_FLUSH: after everything submitted before it, and before what comes after */
        io_uring_prep_fsync(sqe, a->d->fd, IORING_FSYNC_DATASYNC);
        sqe->flags |= IOSQE_IO_DRAIN;
        break;
    }
    io_uring_sqe_set_data64(sqe, (uint64_t)(sl - a->slots));
}

/* Submit what is queued; a full kernel queue (EAGAIN/EBUSY) waits for a completion first.  Return: 0 or
 * -errno (logged once; the entries stay queued and go with the next submission). */
static int submit(blk_aio *a)
{
    int rc;
    while ((rc = io_uring_submit(&a->ring)) == -EINTR || rc == -EAGAIN || rc == -EBUSY)
        if (rc != -EINTR)
            (void)io_uring_submit_and_wait(&a->ring, 1);
    if (rc < 0 && !a->submit_logged) {
        a->submit_logged = true;
        cvmm_logf(a->d->log, CVMM_LOG_WARN, "blk: vq%u: io_uring_enter: %s", a->index, strerror(-rc));
    }
    return rc < 0 ? rc : 0;
}

/* Serve the popped chain @c synchronously (too many descriptors or regions for a slot).  Return: 0;
 * -EIO / -EPROTO. */
static int serve_sync(blk_aio *a, vq_queue *vq, const vq_chain *c)
{
    vq_snapshot s;
    uint32_t used = 0;
    int rc = vq_snapshot_take(vq, c, a->big, BLK_CHAIN_DESCS_MAX, &s);
    if (rc < 0 && rc != -ENOSPC)
        return rc;
    if ((rc = blk_request(a->d, vq, rc == 0 ? &s : NULL, &used)) < 0)
        return rc;
    answered(a, c->head, used);
    return 0;
}

/* Take the popped chain @c into a free slot: answer it, or queue its I/O.  Return: 0; -EIO / -EPROTO. */
static int start(blk_aio *a, vq_queue *vq, const vmem_map *map, const vq_chain *c)
{
    struct slot *sl = slot_get(a);
    uint32_t used = 0;
    int rc = vq_snapshot_take(vq, c, sl->desc, SLOT_DESCS, &sl->snap);
    if (rc == -ENOSPC) {
        slot_put(a, sl);
        return serve_sync(a, vq, c);
    }
    if (rc < 0 || (rc = blk_request_begin(a->d, vq, &sl->snap, &sl->io)) < 0)
        goto out;
    sl->head = c->head;
    sl->done = 0;
    sl->iov0 = 0;
    sl->niov = 0;
    if (sl->io.op == BLK_OP_READ || sl->io.op == BLK_OP_WRITE) {
        rc = sl->io.op == BLK_OP_READ ? vq_writer_iovec(&sl->io.w, sl->iov, BLK_IOV_MAX)
                                      : vq_reader_iovec(&sl->io.r, sl->iov, BLK_IOV_MAX);
        /* A file that cannot do non-blocking I/O (tmpfs) would make io_uring hand the request to a kernel
         * worker thread, two context switches: a lone request (nothing in flight, nothing else available)
         * is served here and now instead, as --aio=sync would (page cache copies: they do not wait). */
        if (rc >= 0 && a->d->blocking && a->inflight == 0 && !vq_avail_ready(vq))
            rc = -ENOSPC;
        if (rc >= 0) {
            sl->niov = rc;
            rc = pin(sl, map);
        }
        if (rc == -ENOSPC) /* more pieces or regions than a slot holds, or the lone request above */
            rc = blk_request_run(a->d, vq, &sl->io);
        if (rc < 0)
            goto out;
    }
    if (sl->io.op == BLK_OP_DONE || sl->io.op == BLK_OP_NO_STATUS) {
        if ((rc = blk_request_end(a->d, vq, &sl->io, &used)) == 0)
            answered(a, c->head, used);
        goto out;
    }
    sl->fd = blk_disk_io_fd(a->d, sl->iov, sl->niov, sl->io.off, sl->io.len);
    prep(a, sl);
    a->inflight++;
    return 0;
out:
    slot_put(a, sl);
    return rc;
}

static int reap(blk_aio *a, vq_queue *vq, bool wait);

/* Pop while a slot is free and the budget lasts, starting each request; then kicks on again with a re-check,
 * unless every slot is busy (a->full) or the budget ran out (*more).  Return: 0; -EIO / -EPROTO. */
static int take(blk_aio *a, vq_queue *vq, const vmem_map *map, uint32_t budget, uint32_t *taken, bool *more)
{
    vq_chain c;
    int rc;
    a->full = false;
    do {
        if ((rc = vq_disable_notification(vq)) < 0)
            return rc;
        while (a->free_head != NO_SLOT && *taken < budget && (rc = vq_pop(vq, &c)) == 1) {
            ++*taken;
            if ((rc = start(a, vq, map, &c)) < 0)
                return rc;
            if (a->nused >= USED_BATCH && (rc = publish(a, vq)) < 0)
                return rc;
        }
        if (rc < 0)
            return rc;
        /* Publish before asking for kicks again, so the re-check cannot race with our own used entries. */
        if ((rc = publish(a, vq)) < 0)
            return rc;
        if (a->free_head == NO_SLOT) {
            a->full = true; /* kicks stay off: the completions come back for the rest */
            return 0;
        }
        if (*taken == budget) {
            *more = true;
            return 0;
        }
    } while ((rc = vq_enable_notification(vq)) == 1);
    return rc < 0 ? rc : 0;
}

int blk_aio_kick(blk_aio *a, vq_queue *vq, const vmem_map *map, bool *more)
{
    uint32_t budget = vq_queue_size(vq), taken = 0;
    int rc;
    *more = false;
    do {
        unsigned queued = a->inflight;
        rc = take(a, vq, map, budget, &taken, more);
        if (a->inflight != queued && submit(a) == 0) { /* one io_uring_enter for the whole batch */
            /* What the kernel did while submitting (page cache hits) is answered now, without a trip through
             * the worker's loop: the eventfd is read first, so a completion posted after it signals again. */
            uint64_t v;
            (void)!read(a->efd, &v, sizeof(v));
            (void)reap(a, vq, false);
        }
        /* Every slot was busy, kicks stayed off, and that reap freed slots: the completions it answered
         * will not signal the eventfd again (it was read), and the driver does not kick, so the requests
         * still in the ring are this call's to take, or nobody takes them when nothing is left in flight. */
    } while (rc == 0 && blk_aio_wants_kick(a) && !*more);
    int prc = publish(a, vq);
    if (rc < 0)
        return rc;
    return prc < 0 ? prc : (int)taken;
}

/* @sl's I/O ended with @res: resubmit the rest of a short transfer, or answer it.  Return: 1 resubmitted;
 * 0 answered; -EIO / -EPROTO the queue broke (the request is dropped). */
static int finish(blk_aio *a, vq_queue *vq, struct slot *sl, int res)
{
    uint32_t used = 0;
    int rc;
    if (sl->io.op != BLK_OP_FLUSH && res > 0 && sl->done + (uint64_t)res < sl->io.len) {
        sl->done += (uint64_t)res; /* short: move the iovecs on and go on from there */
        size_t k = (size_t)res;
        while (k >= sl->iov[sl->iov0].iov_len) {
            k -= sl->iov[sl->iov0].iov_len;
            sl->iov0++;
        }
        sl->iov[sl->iov0].iov_base = (uint8_t *)sl->iov[sl->iov0].iov_base + k;
        sl->iov[sl->iov0].iov_len -= k;
        prep(a, sl);
        return 1;
    }
    int64_t total = res < 0 ? res : (int64_t)(sl->done + (uint64_t)res);
    a->inflight--;
    if ((rc = blk_request_io_done(a->d, vq, &sl->io, total)) == 0 &&
        (rc = blk_request_end(a->d, vq, &sl->io, &used)) == 0)
        answered(a, sl->head, used);
    slot_put(a, sl);
    return rc;
}

/* Reap every completion in the CQ (@wait: until nothing is in flight).  Return: requests answered (their
 * used entries are queued, not published); -EIO / -EPROTO the ring broke. */
static int reap(blk_aio *a, vq_queue *vq, bool wait)
{
    int n = 0, rc = 0, resubmit = 0;
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&a->ring, head, cqe)
        {
            uint64_t i = io_uring_cqe_get_data64(cqe) & ~LINKED_WRITE;
            seen++;
            if (i >= a->depth)
                continue; /* not ours: cannot happen, every submission carries a slot index */
            struct slot *sl = &a->slots[i];
            int res = cqe->res;
            if (io_uring_cqe_get_data64(cqe) & LINKED_WRITE) {
                sl->wres = res; /* its fdatasync completes after it (cancelled if the write failed or was short) */
                continue;
            }
            if (sl->linked) /* the write's result, or the fdatasync's failure */
                res = sl->wres < 0 || sl->done + (uint64_t)sl->wres < sl->io.len || res >= 0 ? sl->wres : res;
            int frc = finish(a, vq, sl, res);
            if (frc == 1)
                resubmit++;
            else
                n++;
            if (frc < 0 && rc == 0)
                rc = frc;
        }
        io_uring_cq_advance(&a->ring, seen);
        if (resubmit) {
            (void)submit(a);
            resubmit = 0;
        }
        if (!wait || a->inflight == 0)
            break;
        int wrc = io_uring_wait_cqe(&a->ring, &cqe);
        if (wrc < 0 && wrc != -EINTR && wrc != -EAGAIN && wrc != -ETIME) {
            cvmm_logf(a->d->log, CVMM_LOG_WARN, "blk: vq%u: waiting for %u requests in flight: %s", a->index,
                      a->inflight, strerror(-wrc));
            break;
        }
    }
    return rc < 0 ? rc : n;
}

int blk_aio_complete(blk_aio *a, vq_queue *vq, bool wait, bool publish_now)
{
    uint64_t v;
    (void)!read(a->efd, &v, sizeof(v)); /* non-blocking; EAGAIN: nothing counted, the CQ says what is there */
    int rc = reap(a, vq, wait);
    if (publish_now) {
        int prc = publish(a, vq);
        if (rc >= 0 && prc < 0)
            rc = prc;
    }
    return rc;
}

void blk_aio_free(blk_aio *a)
{
    if (!a)
        return;
    if (a->inflight) { /* answered into nothing: the ring is gone or broken (inflight tracking keeps them) */
        uint64_t v;
        while (a->inflight) {
            struct io_uring_cqe *cqe;
            int rc = io_uring_wait_cqe(&a->ring, &cqe);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN)
                break;
            if (rc == 0) {
                uint64_t i = io_uring_cqe_get_data64(cqe);
                if (i < a->depth) { /* not a linked write's: its fdatasync ends the request */
                    slot_put(a, &a->slots[i]);
                    a->inflight--;
                }
                io_uring_cqe_seen(&a->ring, cqe);
            }
        }
        (void)!read(a->efd, &v, sizeof(v));
    }
    io_uring_queue_exit(&a->ring);
    cvmm_close(&a->efd);
    free(a->big);
    free(a->used);
    free(a->slots);
    free(a);
}
