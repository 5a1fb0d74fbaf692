/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* blk-queue.c - one queue's thread of bench-blk-driver (blk-driver.h): 4 KiB random requests kept at the
 * queue depth, every completion checked (used id, used length, status, and for reads every byte against
 * the pattern), latencies from per-request timestamps into a histogram.
 *
 * Waiting: the thread sleeps on the call eventfd, as a guest's virtio-blk driver waits for its interrupt,
 * instead of polling the used ring.  So the back-end's notification suppression (event idx) takes part in
 * the figure as it does under a real guest, and on a two-core machine the driver's threads do not spin on
 * the CPU they share (with two queues they would starve each other and the back-end's peer).  Like Linux
 * (virtqueue_enable_cb_prepare), used_event is set to the next used index only before sleeping, then the
 * ring is looked at once more. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk-driver.h"
#include "cvmm/vmem/atomic.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bd_pattern_fill(uint64_t block, uint8_t *buf)
{
    for (unsigned w = 0; w < BD_WORDS; w++) {
        uint64_t v = bd_pattern_word(block, w);
        memcpy(buf + 8u * w, &v, 8);
    }
}

static unsigned hist_index(uint64_t v)
{
    if (v < BD_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v), shift = msb - BD_HIST_SUB_BITS;
    return (shift + 1u) * BD_HIST_SUB + (unsigned)((v >> shift) - BD_HIST_SUB);
}

void bd_hist_add(bd_hist *h, uint64_t ns)
{
    h->n[hist_index(ns)]++;
    h->count++;
}

void bd_hist_merge(bd_hist *into, const bd_hist *from)
{
    for (unsigned i = 0; i < BD_HIST_N; i++)
        into->n[i] += from->n[i];
    into->count += from->count;
}

double bd_hist_quantile(const bd_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)h->count + 0.5), seen = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < BD_HIST_N; i++) {
        seen += h->n[i];
        if (seen >= rank) {
            if (i < BD_HIST_SUB)
                return i;
            unsigned g = i / BD_HIST_SUB - 1u;
            double lo = (double)((uint64_t)(BD_HIST_SUB + i % BD_HIST_SUB) << g);
            return lo + (double)(1ull << g) / 2;
        }
    }
    return 0;
}

/* The first error wins; the other queues see abort and stop. */
__attribute__((format(printf, 2, 3))) static int qfail(bd_queue *q, const char *fmt, ...)
{
    if (!q->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(q->err, sizeof(q->err), fmt, ap);
        va_end(ap);
    }
    atomic_store(&q->s->abort, true);
    return -1;
}

static uint64_t next_rand(bd_queue *q)
{
    q->rng ^= q->rng >> 12;
    q->rng ^= q->rng << 25;
    q->rng ^= q->rng >> 27;
    return q->rng * 0x2545f4914f6cdd1dull;
}

static int submit(bd_queue *q, unsigned slot, uint64_t now)
{
    bool wr = q->o->write;
    uint64_t b = next_rand(q) % q->s->blocks;
    uint64_t mg = q->gpa + BD_Q_META + slot * BD_META_SLOT, dg = q->gpa + BD_Q_DATA + (uint64_t)slot * BD_BLOCK;
    uint8_t *m = q->hva + BD_Q_META + slot * BD_META_SLOT, *data = q->hva + BD_Q_DATA + (uint64_t)slot * BD_BLOCK;
    struct {
        cvmm_le32 type, reserved;
        cvmm_le64 sector;
    } h = {cvmm_le32_set(wr ? BD_BLK_T_OUT : BD_BLK_T_IN), cvmm_le32_set(0), cvmm_le64_set(b * (BD_BLOCK / 512))};
    memcpy(m, &h, sizeof(h));
    m[16] = 0xff; /* status: anything but OK until the back-end writes it */
    if (wr)
        bd_pattern_fill(b, data);
    else
        memset(data, 0xa5, BD_BLOCK); /* a read that writes nothing cannot pass on an earlier read's data */
    vq_mock_buf bufs[3] = {{mg, 16, false}, {dg, BD_BLOCK, !wr}, {mg + 16, 1, true}};
    uint16_t head;
    int rc = (q->s->features >> BD_F_RING_INDIRECT_DESC) & 1 ? vq_mock_add_indirect(q->mk, mg + 64, bufs, 3, &head)
                                                             : vq_mock_add(q->mk, bufs, 3, &head);
    if (rc < 0)
        return qfail(q, "queue %u: cannot add a request: %s", q->index, strerror(-rc));
    q->slot_of[head] = (uint16_t)slot;
    q->block[slot] = b;
    q->t_submit[slot] = now;
    q->inflight++;
    return 0;
}

static int check_data(bd_queue *q, unsigned slot)
{
    const uint8_t *data = q->hva + BD_Q_DATA + (uint64_t)slot * BD_BLOCK;
    uint64_t b = q->block[slot];
    for (unsigned w = 0; w < BD_WORDS; w++) {
        uint64_t got, want = bd_pattern_word(b, w);
        memcpy(&got, data + 8u * w, 8);
        if (got != want)
            return qfail(q,
                         "queue %u: wrong data: block %llu read back 0x%016llx at byte %u, expected 0x%016llx "
                         "(the bench's pattern: was the disk made with --make-file?)",
                         q->index, (unsigned long long)b, (unsigned long long)got, 8u * w, (unsigned long long)want);
    }
    return 0;
}

static int complete(bd_queue *q, uint16_t head, uint32_t len, uint64_t now)
{
    unsigned slot = q->slot_of[head];
    uint32_t want = q->o->write ? 1u : BD_BLOCK + 1u; /* bytes written into the writable buffers */
    const char *what = q->o->write ? "write" : "read";
    if (len != want)
        return qfail(q, "queue %u: wrong used length: %s of block %llu used with length %u, expected %u", q->index,
                     what, (unsigned long long)q->block[slot], len, want);
    uint8_t st = q->hva[BD_Q_META + slot * BD_META_SLOT + 16];
    if (st != 0)
        return qfail(q, "queue %u: %s of block %llu completed with status %u (expected 0, VIRTIO_BLK_S_OK)", q->index,
                     what, (unsigned long long)q->block[slot], st);
    if (!q->o->write && check_data(q, slot) < 0)
        return -1;
    q->inflight--;
    q->total++;
    if (now >= q->t_start && now < q->t_end) {
        q->done++;
        bd_hist_add(&q->hist, now - q->t_submit[slot]);
    }
    return 0;
}

/* vq_mock_used() failed: name the id the back-end put in the used ring. */
static int bad_used(bd_queue *q, int rc)
{
    if (rc != -EIO)
        return qfail(q, "queue %u: reading the used ring: %s", q->index, strerror(-rc));
    cvmm_le32 id, len;
    const uint8_t *e = q->hva + BD_Q_USED + 4u + 8u * (q->used_count & (q->o->queue_size - 1u));
    memcpy(&id, e, 4);
    memcpy(&len, e + 4, 4);
    return qfail(q, "queue %u: wrong used id: entry %u names descriptor %u (length %u), which is not in flight",
                 q->index, q->used_count, cvmm_le32_get(id), cvmm_le32_get(len));
}

static int kick(bd_queue *q)
{
    uint64_t one = 1;
    if (vq_mock_kick_needed(q->mk) && write(q->kick, &one, 8) != 8)
        return qfail(q, "queue %u: kick: %s", q->index, strerror(errno));
    return 0;
}

/* Take every used entry, check it, resubmit its slot unless the window is over; one kick for the batch. */
static int reap(bd_queue *q, bool *stopping)
{
    int n = 0, rc;
    uint16_t head;
    uint32_t len;
    while ((rc = vq_mock_used(q->mk, &head, &len)) == 1) {
        uint64_t now = now_ns();
        unsigned slot = q->slot_of[head];
        q->used_count++;
        if (complete(q, head, len, now) < 0)
            return -1;
        if (now >= q->t_end)
            *stopping = true;
        if (!*stopping && submit(q, slot, now) < 0)
            return -1;
        n++;
    }
    if (rc < 0)
        return bad_used(q, rc);
    if (n > 0 && kick(q) < 0)
        return -1;
    return n;
}

int bd_queue_run(bd_queue *q)
{
    const bd_opts *o = q->o;
    bool event_idx = (q->s->features >> BD_F_RING_EVENT_IDX) & 1, stopping = false;
    q->rng = 0x9e3779b97f4a7c15ull * (q->index + 1u) + now_ns();
    uint64_t now = now_ns(), progress = now;
    for (unsigned slot = 0; slot < o->qd; slot++)
        if (submit(q, slot, now) < 0)
            return -1;
    if (kick(q) < 0)
        return -1;
    while (!stopping || q->inflight > 0) {
        if (atomic_load(&q->s->abort))
            return qfail(q, "queue %u: stopped: another queue failed", q->index);
        int n = reap(q, &stopping);
        if (n == 0 && event_idx) {
            /* Ask for a call at the next used entry, then look once more (pairs with the back-end's fence
             * between publishing used entries and reading used_event). */
            int rc = vq_mock_set_used_event(q->mk, q->used_count);
            if (rc < 0)
                return qfail(q, "queue %u: used_event: %s", q->index, strerror(-rc));
            vmem_fence_seq_cst();
            n = reap(q, &stopping);
        }
        if (n < 0)
            return -1;
        now = now_ns();
        if (n > 0) {
            progress = now;
            continue;
        }
        if (now >= q->t_end)
            stopping = true;
        if (stopping && q->inflight == 0)
            break;
        struct pollfd p = {.fd = q->call, .events = POLLIN};
        int pr = poll(&p, 1, 200);
        uint64_t v;
        if (pr > 0 && read(q->call, &v, 8) < 0 && errno != EAGAIN)
            return qfail(q, "queue %u: call eventfd: %s", q->index, strerror(errno));
        if (pr < 0 && errno != EINTR)
            return qfail(q, "queue %u: poll: %s", q->index, strerror(errno));
        if (now_ns() - progress > o->stall_ns)
            return qfail(q, "queue %u: the back-end completed nothing for %.0f s (%u requests in flight)", q->index,
                         (double)o->stall_ns / 1e9, q->inflight);
    }
    return 0;
}
