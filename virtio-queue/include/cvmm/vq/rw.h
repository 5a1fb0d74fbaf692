/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/rw.h - Reader and Writer: scatter-gather cursors over a chain's readable and writable parts.
 *
 *  A vq_reader covers the device-readable buffers at the start of a chain, a vq_writer the device-writable
 *  ones after them.  Both are caller-allocated values that walk the chain lazily with vq_chain_next(): set
 *  up costs nothing, and each descriptor is translated when the cursor reaches it.  A cursor may be copied
 *  (a copy is an independent cursor).  Every operation either succeeds completely or leaves the cursor as
 *  it was (-ENOSPC), except -EIO, after which the queue is broken (and -EPROTO, returned when the queue
 *  was stopped meanwhile).  Writes through a vq_writer, and ranges
 *  the caller writes through exported iovecs then passes to vq_writer_advance(), are marked in the dirty
 *  log when the queue's map has one.  A cursor made from a chain must not outlive the queue.
 *  Threads: owner (cvmm/vq/queue.h). */
#ifndef CVMM_VQ_RW_H
#define CVMM_VQ_RW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cvmm/vq/chain.h"

#ifdef __cplusplus
extern "C" {
#endif

/** struct vq__cursor - private state shared by readers and writers (do not touch). */
struct vq__cursor {
    vq_queue *q;
    vq_chain chain;   /* walker positioned after the current segment */
    uint8_t *hva;     /* current segment */
    uint64_t gpa;     /* its guest address */
    uint64_t limit;   /* bytes this cursor may still move (UINT64_MAX: up to the end of its part) */
    uint64_t done;    /* bytes moved so far */
    uint32_t seg;     /* bytes left in the current segment */
    uint32_t gen;     /* queue map generation of @hva */
    uint8_t write;    /* 1: writer */
    uint8_t end;      /* the part has no more descriptors */
};

typedef struct vq_reader { struct vq__cursor priv; } vq_reader;
typedef struct vq_writer { struct vq__cursor priv; } vq_writer;

/** vq_reader_init() / vq_writer_init() - cursors over @c's readable / writable part.  @c must come
 *  straight from vq_pop() (not walked yet); it is copied.  Ownership: borrows @q.  Threads: owner. */
void vq_reader_init(vq_reader *r, vq_queue *q, const vq_chain *c);
void vq_writer_init(vq_writer *w, vq_queue *q, const vq_chain *c);

/** vq_reader_read() - copy the next @len bytes out, across descriptors.
 *  Return: 0; -ENOSPC fewer than @len bytes left (nothing consumed); -EIO broken. */
int vq_reader_read(vq_reader *r, void *buf, size_t len);
/** Little-endian objects, across descriptor boundaries.  Return: as vq_reader_read(). */
int vq_reader_read_le16(vq_reader *r, uint16_t *v);
int vq_reader_read_le32(vq_reader *r, uint32_t *v);
int vq_reader_read_le64(vq_reader *r, uint64_t *v);
/** vq_reader_skip() - consume @len bytes without copying.  Return: as vq_reader_read(). */
int vq_reader_skip(vq_reader *r, uint64_t len);
/** vq_reader_bytes_left() - bytes still readable (walks the rest of the part).  Return: 0; -EIO. */
int vq_reader_bytes_left(vq_reader *r, uint64_t *left);
/** vq_reader_bytes_read() - bytes consumed so far (not counting those of a split-off tail). */
uint64_t vq_reader_bytes_read(const vq_reader *r);
/** vq_reader_split_at() - *tail = the bytes after @off; @r keeps the first @off bytes only.
 *  Return: 0; -ENOSPC fewer than @off bytes left (nothing changed); -EIO. */
int vq_reader_split_at(vq_reader *r, uint64_t off, vq_reader *tail);
/** vq_reader_iovec() - describe the remaining bytes (up to the limit) as host iovecs, one per descriptor
 *  piece, without consuming them (vq_reader_skip() after readv/pwritev).
 *  Return: count (0 if nothing left); -ENOSPC more than @max needed; -EIO.
 *  Ownership: iov_base borrows guest memory until vq_queue_set_map(). */
int vq_reader_iovec(vq_reader *r, struct iovec *iov, int max);

/** vq_writer_write() - copy @len bytes into the next writable bytes, across descriptors; marks dirty.
 *  Return: 0; -ENOSPC fewer than @len bytes left (nothing written); -EIO broken. */
int vq_writer_write(vq_writer *w, const void *buf, size_t len);
int vq_writer_write_le16(vq_writer *w, uint16_t v);
int vq_writer_write_le32(vq_writer *w, uint32_t v);
int vq_writer_write_le64(vq_writer *w, uint64_t v);
/** vq_writer_advance() - count @len bytes the caller wrote through vq_writer_iovec() (marks them dirty).
 *  Return: as vq_writer_write(). */
int vq_writer_advance(vq_writer *w, uint64_t len);
int vq_writer_bytes_left(vq_writer *w, uint64_t *left);
/** vq_writer_bytes_written() - bytes written so far through this cursor: the @len for vq_add_used() when
 *  a single writer filled the chain (add the tails' counts after a split). */
uint64_t vq_writer_bytes_written(const vq_writer *w);
int vq_writer_split_at(vq_writer *w, uint64_t off, vq_writer *tail);
int vq_writer_iovec(vq_writer *w, struct iovec *iov, int max);

#ifdef __cplusplus
}
#endif
#endif
