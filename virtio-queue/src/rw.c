/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* rw.c - Reader and Writer cursors over a chain's readable and writable parts. */
#include "internal.h"
#include "cvmm/vq/rw.h"

enum op { OP_READ, OP_WRITE, OP_SKIP, OP_ADVANCE };

static inline void cursor_init(struct vq__cursor *k, vq_queue *q, const vq_chain *c, bool write)
{
    k->q = q;
    k->chain = *c;
    k->hva = NULL;
    k->gpa = 0;
    k->limit = UINT64_MAX;
    k->done = 0;
    k->seg = 0;
    k->gen = q->gen;
    k->write = write;
    k->end = 0;
}

void vq_reader_init(vq_reader *r, vq_queue *q, const vq_chain *c) { cursor_init(&r->priv, q, c, false); }
void vq_writer_init(vq_writer *w, vq_queue *q, const vq_chain *c) { cursor_init(&w->priv, q, c, true); }

/* Load the next non-empty descriptor of the cursor's part.  Return: 1; 0 end of the part; -EIO/-EPROTO. */
static int pull(struct vq__cursor *k)
{
    vq_desc_info d;
    while (!k->end) {
        int rc = vq_chain_next(k->q, &k->chain, &d);
        if (rc < 0)
            return rc;
        if (rc == 0 || (!k->write && d.write)) {
            k->end = 1; /* a reader stops at the first writable descriptor */
            break;
        }
        if ((k->write && !d.write) || d.len == 0)
            continue; /* a writer passes the readable part */
        k->hva = d.hva;
        k->gpa = d.gpa;
        k->seg = d.len;
        k->gen = k->q->gen;
        return 1;
    }
    return 0;
}

/* The map changed under the current segment: translate it again. */
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

/* Move @len bytes across segments; on -ENOSPC (or with @dry) put the cursor back as it was.  Works in place
 * and keeps one saved copy, so a successful move copies the cursor once. */
static int move_slow(struct vq__cursor *k, enum op op, uint8_t *buf, uint64_t len, bool dry)
{
    if (len > k->limit)
        return -ENOSPC;
    struct vq__cursor save = *k;
    uint64_t left = len;
    int rc = 0;
    while (left) {
        if (k->seg == 0) {
            rc = pull(k);
            if (rc <= 0) {
                rc = rc < 0 ? rc : -ENOSPC;
                break;
            }
        } else if (CVMM_UNLIKELY(k->gen != k->q->gen)) {
            rc = refresh(k);
            if (rc < 0)
                break;
        }
        uint32_t n = left < k->seg ? (uint32_t)left : k->seg;
        piece(k, dry ? OP_SKIP : op, buf, n);
        if (buf)
            buf += n;
        left -= n;
    }
    if (rc < 0 || dry) {
        *k = save;
        return rc;
    }
    if (k->limit != UINT64_MAX)
        k->limit -= len;
    k->done += len;
    return 0;
}

static inline int move(struct vq__cursor *k, enum op op, uint8_t *buf, uint64_t len)
{
    if (k->seg == 0 && len != 0 && len <= k->limit && k->q->run != VQ__RUN_NONE) {
        /* Load the next segment in place: that consumes no byte, so a later -ENOSPC still leaves the
         * cursor's remaining bytes as they were, and one-segment moves skip the copy below. */
        int rc = pull(k);
        if (rc < 0)
            return rc;
    }
    if (CVMM_LIKELY(len <= k->seg && len <= k->limit && k->gen == k->q->gen && k->q->run != VQ__RUN_NONE)) {
        piece(k, op, buf, (uint32_t)len);
        if (k->limit != UINT64_MAX)
            k->limit -= len;
        k->done += len;
        return 0;
    }
    if (k->q->run == VQ__RUN_NONE)
        return vq__not_running(k->q, VQ__RUN_NONE);
    if (op == OP_WRITE || op == OP_ADVANCE) {
        /* Check the space first so that a failed write leaves guest memory untouched. */
        int rc = move_slow(k, op, NULL, len, true);
        if (rc < 0)
            return rc;
    }
    return move_slow(k, op, buf, len, false);
}

static int bytes_left(struct vq__cursor *k, uint64_t *left)
{
    struct vq__cursor t = *k;
    uint64_t sum = t.seg;
    while (sum < t.limit) {
        int rc = pull(&t);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        sum += t.seg;
    }
    *left = sum < t.limit ? sum : t.limit;
    return 0;
}

static int split_at(struct vq__cursor *k, uint64_t off, struct vq__cursor *tail)
{
    struct vq__cursor t = *k;
    int rc = move(&t, OP_SKIP, NULL, off);
    if (rc < 0)
        return rc;
    t.done = 0;
    *tail = t;
    k->limit = off;
    return 0;
}

static int export_iovec(struct vq__cursor *k, struct iovec *iov, int max)
{
    struct vq__cursor t = *k;
    uint64_t room = t.limit;
    int n = 0;
    if (t.seg && t.gen != t.q->gen) {
        int rc = refresh(&t);
        if (rc < 0)
            return rc;
    }
    while (room > 0) {
        if (t.seg == 0) {
            int rc = pull(&t);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
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
int vq_reader_bytes_left(vq_reader *r, uint64_t *left) { return bytes_left(&r->priv, left); }
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
int vq_writer_bytes_left(vq_writer *w, uint64_t *left) { return bytes_left(&w->priv, left); }
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
