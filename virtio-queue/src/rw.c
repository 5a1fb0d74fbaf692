/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* rw.c - Reader and Writer cursors over a chain snapshot's readable and writable parts (cvmm/vq/rw.h). */
#include "internal.h"
#include "cvmm/vq/rw.h"

enum op { OP_READ, OP_WRITE, OP_SKIP, OP_ADVANCE };

/* A cursor only ever looks at the snapshot's validated entries: no descriptor is read from guest memory
 * here, so limits and totals fixed at vq_snapshot_take() hold whatever the guest does meanwhile. */
static inline void cursor_init(struct vq__cursor *k, const vq_snapshot *s, bool write)
{
    k->q = s->priv.q;
    k->next = write ? s->desc + s->nread : s->desc;
    k->nleft = write ? s->ndesc - s->nread : s->nread;
    k->hva = NULL;
    k->gpa = 0;
    k->limit = write ? s->writable : s->readable;
    k->done = 0;
    k->seg = 0;
    k->gen = s->priv.gen;
    k->sgen = s->priv.gen;
    k->write = write;
}

void vq_reader_init(vq_reader *r, const vq_snapshot *s) { cursor_init(&r->priv, s, false); }
void vq_writer_init(vq_writer *w, const vq_snapshot *s) { cursor_init(&w->priv, s, true); }

/* Load the next non-empty entry of the cursor's part.  Return: true; false none left. */
static inline bool pull(struct vq__cursor *k)
{
    while (k->nleft) {
        const vq_desc_info *d = k->next++;
        k->nleft--;
        if (d->len == 0)
            continue;
        k->hva = d->hva;
        k->gpa = d->gpa;
        k->seg = d->len;
        k->gen = k->sgen;
        return true;
    }
    return false;
}

/* The map changed under the current segment: translate its validated gpa/len again. */
static int refresh(struct vq__cursor *k)
{
    uint8_t *p;
    if (vq__translate(k->q, k->gpa, k->seg, k->write, &p) != 0)
        return vq__fail(k->q, "buffer 0x%llx+%u left guest memory", (unsigned long long)k->gpa, k->seg);
    k->hva = p;
    k->gen = k->q->gen;
    return 0;
}

static inline void piece(struct vq__cursor *k, enum op op, uint8_t *buf, uint32_t n)
{
    if (n == 0)
        return; /* a zero-byte move may have no segment (hva NULL): memcpy must not see it */
    switch (op) {
    case OP_READ: memcpy(buf, k->hva, n); break;
    case OP_WRITE:
        memcpy(k->hva, buf, n);
        vq__mark(k->q, k->gpa, n);
        break;
    case OP_ADVANCE: vq__mark(k->q, k->gpa, n); break;
    case OP_SKIP: break;
    }
    k->hva += n;
    k->gpa += n;
    k->seg -= n;
}

/* Move @len (<= limit) bytes across segments.  Only a failed re-translation can stop it: then the cursor
 * is put back and the queue is broken.  The entries left always hold at least limit bytes, so the loops
 * here and below end by count, never by running out of entries (the pull() test only bounds them). */
static int move_slow(struct vq__cursor *k, enum op op, uint8_t *buf, uint64_t len)
{
    struct vq__cursor save = *k;
    uint64_t left = len;
    while (left && (k->seg != 0 || pull(k))) {
        if (CVMM_UNLIKELY(k->gen != k->q->gen)) {
            int rc = refresh(k);
            if (rc < 0) {
                *k = save;
                return rc;
            }
        }
        uint32_t n = left < k->seg ? (uint32_t)left : k->seg;
        piece(k, op, buf, n);
        if (buf)
            buf += n;
        left -= n;
    }
    k->limit -= len;
    k->done += len;
    return 0;
}

static inline int move(struct vq__cursor *k, enum op op, uint8_t *buf, uint64_t len)
{
    if (CVMM_UNLIKELY(k->q->run == VQ__RUN_NONE))
        return vq__not_running(k->q, VQ__RUN_NONE);
    if (len > k->limit)
        return -ENOSPC; /* known from the snapshot: nothing moved, nothing written */
    if (k->seg == 0 && len != 0)
        (void)pull(k); /* loading a segment consumes no byte */
    if (CVMM_LIKELY(len <= k->seg && k->gen == k->q->gen)) {
        piece(k, op, buf, (uint32_t)len);
        k->limit -= len;
        k->done += len;
        return 0;
    }
    return move_slow(k, op, buf, len);
}

static int split_at(struct vq__cursor *k, uint64_t off, struct vq__cursor *tail)
{
    if (off > k->limit)
        return -ENOSPC;
    struct vq__cursor t = *k;
    for (uint64_t left = off; left && (t.seg != 0 || pull(&t));) {
        uint32_t n = left < t.seg ? (uint32_t)left : t.seg;
        piece(&t, OP_SKIP, NULL, n);
        left -= n;
    }
    t.limit = k->limit - off;
    t.done = 0;
    *tail = t;
    k->limit = off;
    return 0;
}

static int export_iovec(const struct vq__cursor *k, struct iovec *iov, int max)
{
    if (CVMM_UNLIKELY(k->q->run == VQ__RUN_NONE))
        return vq__not_running(k->q, VQ__RUN_NONE);
    struct vq__cursor t = *k;
    uint64_t room = t.limit;
    int n = 0;
    while (room > 0 && (t.seg != 0 || pull(&t))) {
        if (CVMM_UNLIKELY(t.gen != t.q->gen)) {
            int rc = refresh(&t);
            if (rc < 0)
                return rc;
        }
        if (n == max)
            return -ENOSPC;
        uint32_t len = room < t.seg ? (uint32_t)room : t.seg;
        iov[n].iov_base = t.hva;
        iov[n].iov_len = len;
        n++;
        room -= len;
        t.seg = 0;
    }
    return n;
}

int vq_reader_read(vq_reader *r, void *buf, size_t len) { return move(&r->priv, OP_READ, buf, len); }
int vq_reader_skip(vq_reader *r, uint64_t len) { return move(&r->priv, OP_SKIP, NULL, len); }
uint64_t vq_reader_bytes_left(const vq_reader *r) { return r->priv.limit; }
uint64_t vq_reader_bytes_read(const vq_reader *r) { return r->priv.done; }
int vq_reader_split_at(vq_reader *r, uint64_t off, vq_reader *tail) { return split_at(&r->priv, off, &tail->priv); }
int vq_reader_iovec(vq_reader *r, struct iovec *iov, int max) { return export_iovec(&r->priv, iov, max); }

int vq_reader_read_le16(vq_reader *r, uint16_t *v)
{
    uint16_t x = 0;
    int rc = move(&r->priv, OP_READ, (uint8_t *)&x, sizeof(x));
    if (rc == 0)
        *v = cvmm_le16_to_cpu(x);
    return rc;
}
int vq_reader_read_le32(vq_reader *r, uint32_t *v)
{
    uint32_t x = 0;
    int rc = move(&r->priv, OP_READ, (uint8_t *)&x, sizeof(x));
    if (rc == 0)
        *v = cvmm_le32_to_cpu(x);
    return rc;
}
int vq_reader_read_le64(vq_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    int rc = move(&r->priv, OP_READ, (uint8_t *)&x, sizeof(x));
    if (rc == 0)
        *v = cvmm_le64_to_cpu(x);
    return rc;
}

int vq_writer_write(vq_writer *w, const void *buf, size_t len)
{
    return move(&w->priv, OP_WRITE, (uint8_t *)(uintptr_t)buf, len);
}
int vq_writer_advance(vq_writer *w, uint64_t len) { return move(&w->priv, OP_ADVANCE, NULL, len); }
uint64_t vq_writer_bytes_left(const vq_writer *w) { return w->priv.limit; }
uint64_t vq_writer_bytes_written(const vq_writer *w) { return w->priv.done; }
int vq_writer_split_at(vq_writer *w, uint64_t off, vq_writer *tail) { return split_at(&w->priv, off, &tail->priv); }
int vq_writer_iovec(vq_writer *w, struct iovec *iov, int max) { return export_iovec(&w->priv, iov, max); }

int vq_writer_write_le16(vq_writer *w, uint16_t v)
{
    uint16_t x = cvmm_cpu_to_le16(v);
    return move(&w->priv, OP_WRITE, (uint8_t *)&x, sizeof(x));
}
int vq_writer_write_le32(vq_writer *w, uint32_t v)
{
    uint32_t x = cvmm_cpu_to_le32(v);
    return move(&w->priv, OP_WRITE, (uint8_t *)&x, sizeof(x));
}
int vq_writer_write_le64(vq_writer *w, uint64_t v)
{
    uint64_t x = cvmm_cpu_to_le64(v);
    return move(&w->priv, OP_WRITE, (uint8_t *)&x, sizeof(x));
}
