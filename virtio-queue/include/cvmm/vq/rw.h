/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/rw.h - Reader and Writer: scatter-gather cursors over a chain snapshot's readable and writable parts.
 *
 *  A vq_reader covers the device-readable buffers at the start of a chain, a vq_writer the device-writable
 *  ones after them.  Both are caller-allocated values made from a vq_snapshot (cvmm/vq/snapshot.h): they
 *  never read a descriptor from guest memory, so the buffers they move bytes through, their totals and
 *  the iovecs they export are the ones the snapshot validated, whatever the guest writes into its
 *  descriptor table meanwhile.  A cursor may be copied (a copy is an independent cursor over the same
 *  snapshot).  Every operation either succeeds completely or leaves the cursor as it was (-ENOSPC), except
 *  -EIO, after which the queue is broken (and -EPROTO, returned when the queue was stopped meanwhile).
 *  After vq_queue_set_map() a cursor translates its validated buffers again (a buffer that left guest
 *  memory breaks the queue: -EIO).  Writes through a vq_writer, and ranges the caller writes through
 *  exported iovecs then passes to vq_writer_advance(), are marked in the dirty log when the queue's map
 *  has one.  Ownership: a cursor borrows its snapshot's storage and queue; it must not outlive either.
 *  Threads: owner (cvmm/vq/queue.h). */
#ifndef CVMM_VQ_RW_H
#define CVMM_VQ_RW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cvmm/vq/chain.h"
#include "cvmm/vq/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/** struct vq__cursor - private state shared by readers and writers (do not touch). */
struct vq__cursor {
    vq_queue *q;
    const vq_desc_info *next; /* next snapshot entry of this part */
    uint8_t *hva;             /* current segment */
    uint64_t gpa;             /* its guest address */
    uint64_t limit;           /* bytes this cursor may still move (<= seg + bytes of the entries left) */
    uint64_t done;            /* bytes moved so far */
    uint32_t nleft;           /* entries of this part not loaded yet */
    uint32_t seg;             /* bytes left in the current segment */
    uint32_t gen;             /* queue map generation of @hva */
    uint32_t sgen;            /* queue map generation of the snapshot's hva values */
    uint8_t write;            /* 1: writer */
};

/** vq_reader - a cursor over a snapshot's device-readable bytes (caller-allocated; vq_reader_init()). */
typedef struct vq_reader {
    struct vq__cursor priv; /* private */
} vq_reader;
/** vq_writer - a cursor over a snapshot's device-writable bytes (caller-allocated; vq_writer_init()). */
typedef struct vq_writer {
    struct vq__cursor priv; /* private */
} vq_writer;

/** vq_reader_init() / vq_writer_init() - cursors over @s's readable / writable part (at its start).
 *  Ownership: borrows @s's storage and queue.  Threads: owner. */
void vq_reader_init(vq_reader *r, const vq_snapshot *s);
void vq_writer_init(vq_writer *w, const vq_snapshot *s);

/** vq_reader_read() - copy the next @len bytes out, across descriptors.
 *  Return: 0; -ENOSPC fewer than @len bytes left (nothing consumed); -EIO broken. */
int vq_reader_read(vq_reader *r, void *buf, size_t len);
/** Little-endian objects, across descriptor boundaries.  Return: as vq_reader_read(). */
int vq_reader_read_le16(vq_reader *r, uint16_t *v);
int vq_reader_read_le32(vq_reader *r, uint32_t *v);
int vq_reader_read_le64(vq_reader *r, uint64_t *v);
/** vq_reader_skip() - consume @len bytes without copying.  Return: as vq_reader_read(). */
int vq_reader_skip(vq_reader *r, uint64_t len);
/** vq_reader_bytes_left() - bytes still readable (up to the split point, if any): from the snapshot,
 *  never from guest memory, so it only changes when this cursor moves. */
uint64_t vq_reader_bytes_left(const vq_reader *r);
/** vq_reader_bytes_read() - bytes consumed so far (not counting those of a split-off tail). */
uint64_t vq_reader_bytes_read(const vq_reader *r);
/** vq_reader_split_at() - *tail = the bytes after @off; @r keeps the first @off bytes only.
 *  Return: 0; -ENOSPC fewer than @off bytes left (nothing changed). */
int vq_reader_split_at(vq_reader *r, uint64_t off, vq_reader *tail);
/** vq_reader_iovec() - describe the remaining bytes (up to the limit) as host iovecs, one per descriptor
 *  piece, without consuming them (vq_reader_skip() after readv/pwritev).  Their lengths add up to
 *  vq_reader_bytes_left() exactly.
 *  Return: count (0 if nothing left); -ENOSPC more than @max needed; -EIO broken (also: a buffer left
 *  guest memory after vq_queue_set_map()); -EPROTO stopped.
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
/** vq_writer_bytes_left() - writable bytes left (up to the split point, if any), from the snapshot. */
uint64_t vq_writer_bytes_left(const vq_writer *w);
/** vq_writer_bytes_written() - bytes written so far through this cursor: the @len for vq_add_used() when
 *  a single writer filled the chain (add the tails' counts after a split). */
uint64_t vq_writer_bytes_written(const vq_writer *w);
/** vq_writer_split_at() / vq_writer_iovec() - as for readers. */
int vq_writer_split_at(vq_writer *w, uint64_t off, vq_writer *tail);
int vq_writer_iovec(vq_writer *w, struct iovec *iov, int max);

#ifdef __cplusplus
}
#endif
#endif
