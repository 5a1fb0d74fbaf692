/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** blk.h - cvmm-blk's device logic: a virtio-blk disk over a file or block device, and the request
 *  handler that serves one virtqueue.  Linked into the cvmm-blk program (main.c) and its unit test
 *  (tests/devices/blk_requests.c); it knows nothing of vhost-user.
 *
 *  Requests (virtio 1.2, 5.2.6): a 16-byte header {le32 type, le32 reserved, le64 sector} at the start of
 *  the device-readable part, data, and a 1-byte status at the end of the device-writable part.  Every
 *  request is answered: IN / OUT / FLUSH / GET_ID / DISCARD / WRITE_ZEROES with VIRTIO_BLK_S_OK or
 *  VIRTIO_BLK_S_IOERR, anything else with VIRTIO_BLK_S_UNSUPP.  A malformed request (header shorter than 16
 *  bytes, data not a multiple of 512 bytes, a range past the end of the disk or that wraps, a write on a
 *  read-only disk) gets VIRTIO_BLK_S_IOERR; one without a writable byte for the status is returned as
 *  used with length 0.  IN and OUT move data with preadv/pwritev straight between the file and guest
 *  memory (the chain's buffers as iovecs), and mark what they wrote into guest memory dirty.  Each chain
 *  is read once into a snapshot (at most BLK_CHAIN_DESCS_MAX descriptors; longer ones are returned
 *  unanswered): the guest cannot change a request between its checks and its I/O.
 *
 *  Threads: a blk_disk is immutable after blk_disk_open() (but for a log-once flag and the cache mode,
 *  atomics, and the id, which only a device state load changes, with no queue running: state.h): the
 *  workers of all queues share it.  blk_request() / blk_queue_process() run on the thread that owns the queue. */
#ifndef CVMM_DEVICES_BLK_H
#define CVMM_DEVICES_BLK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cvmm/le.h"
#include "cvmm/log.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/queue.h"
#include "cvmm/vq/rw.h"
#include "cvmm/vq/snapshot.h"
#include "cvmm/vub/serve.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Feature bits (virtio 1.2, 5.2.3). */
/** Descriptors one request may have: as many as the library's queue server takes (longer chains are
 *  returned unanswered). */
#define BLK_CHAIN_DESCS_MAX VUB_SERVE_DESCS_MAX

#define BLK_F_SIZE_MAX 1
#define BLK_F_SEG_MAX 2
#define BLK_F_GEOMETRY 4
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_F_TOPOLOGY 10
#define BLK_F_CONFIG_WCE 11
#define BLK_F_MQ 12
#define BLK_F_DISCARD 13
#define BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u
#define BLK_T_GET_ID 8u
#define BLK_T_GET_LIFETIME 10u
#define BLK_T_DISCARD 11u
#define BLK_T_WRITE_ZEROES 13u
#define BLK_T_SECURE_ERASE 14u

#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

#define BLK_SECTOR 512u
#define BLK_ID_BYTES 20u
#define BLK_WRITE_ZEROES_FLAG_UNMAP 1u

/* Limits this device announces. */
#define BLK_SEG_MAX 254u               /* data segments per request (header and status come on top) */
#define BLK_IOV_MAX (BLK_SEG_MAX + 2u) /* iovecs for the zero-copy path; longer chains go through a bounce */
#define BLK_DWZ_SECTORS_MAX (1u << 22) /* max_discard_sectors / max_write_zeroes_sectors: 2 GiB */
#define BLK_DWZ_SEG_MAX 16u            /* max_discard_seg / max_write_zeroes_seg */

/** struct blk_config - the virtio-blk configuration space (little-endian, 5.2.4), through the zoned
 *  characteristics, so that any front-end's config size fits. */
struct blk_config {
    cvmm_le64 capacity; /* in 512-byte sectors */
    cvmm_le32 size_max;
    cvmm_le32 seg_max;
    cvmm_le16 cylinders;
    uint8_t heads;
    uint8_t sectors;
    cvmm_le32 blk_size;
    uint8_t physical_block_exp;
    uint8_t alignment_offset;
    cvmm_le16 min_io_size;
    cvmm_le32 opt_io_size;
    uint8_t writeback;
    uint8_t unused0;
    cvmm_le16 num_queues;
    cvmm_le32 max_discard_sectors;
    cvmm_le32 max_discard_seg;
    cvmm_le32 discard_sector_alignment;
    cvmm_le32 max_write_zeroes_sectors;
    cvmm_le32 max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
    cvmm_le32 max_secure_erase_sectors;
    cvmm_le32 max_secure_erase_seg;
    cvmm_le32 secure_erase_sector_alignment;
    cvmm_le32 zone_sectors;
    cvmm_le32 max_open_zones;
    cvmm_le32 max_active_zones;
    cvmm_le32 max_append_sectors;
    cvmm_le32 write_granularity;
    uint8_t model;
    uint8_t unused2[3];
};
_Static_assert(sizeof(struct blk_config) == 96, "virtio_blk_config layout");

/** Memory alignment of every buffer (address and length) of a request served with O_DIRECT (--direct);
 *  the disk offset and the total length must also be multiples of blk_size.  Other requests go through
 *  the page cache (fd_buffered). */
#define BLK_DIO_ALIGN 512u

/** blk_disk - the backing store (transparent, read-only after blk_disk_open()). */
typedef struct blk_disk {
    int fd;            /* owned: blk_disk_close(); opened with O_DIRECT when @direct */
    int fd_buffered;   /* owned: with @direct, the same file without O_DIRECT, for requests whose buffers are
                        * not aligned for O_DIRECT (blk_disk_io_fd()); -1 otherwise */
    bool direct;       /* --direct */
    bool blocking;     /* the file cannot do non-blocking reads (RWF_NOWAIT: EOPNOTSUPP, e.g. tmpfs): io_uring
                        * would hand each request to a kernel worker thread (aio.c serves a lone one inline) */
    uint64_t sectors;  /* capacity in 512-byte sectors (a partial last sector is not exposed) */
    uint32_t blk_size; /* logical block size: 512 for files, the device's for block devices */
    bool read_only;
    bool is_bdev;
    char id[BLK_ID_BYTES];      /* GET_ID answer, NUL-padded */
    const struct cvmm_log *log; /* borrowed */
    atomic_bool warned;         /* one WARN line for malformed requests, later ones at DEBUG */
    atomic_bool writethrough;   /* the driver cleared config writeback (CONFIG_WCE): writes are answered once
                                 * durable (fdatasync); false (the default) is write-back (state.h) */
} blk_disk;

/** blk_disk_open() - open @path (a regular file or a block device) for the disk.
 *  Return: 0; -EINVAL NULL argument, not a regular file or block device, smaller than one sector; open /
 *  fstat / ioctl errno (-ENOENT, -EACCES, -EROFS...).  Each failure logs one line naming @path.
 *  Ownership: @d->fd owned, blk_disk_close().  @log borrowed, must outlive @d.  Threads: any. */
int blk_disk_open(blk_disk *d, const char *path, bool read_only, const struct cvmm_log *log);

/** blk_disk_open_direct() - blk_disk_open(), and with @direct the file is opened twice: with O_DIRECT
 *  (d->fd) and without (d->fd_buffered, for misaligned requests).  Return: as blk_disk_open(); -EINVAL
 *  the file system refuses O_DIRECT (logged).  Threads: any. */
int blk_disk_open_direct(blk_disk *d, const char *path, bool read_only, bool direct, const struct cvmm_log *log);

/** blk_disk_io_fd() - the fd to move @len bytes at disk offset @off through the @n buffers @iov with: d->fd,
 *  but with --direct the buffered fd when any buffer's address or length is not a multiple of BLK_DIO_ALIGN
 *  or @off / @len not of blk_size (O_DIRECT would fail with EINVAL).  The kernel keeps the two coherent (a
 *  direct read writes the range's dirty cached pages back first, a direct write drops them).  Threads: any. */
int blk_disk_io_fd(const blk_disk *d, const struct iovec *iov, int n, uint64_t off, uint64_t len);

/** blk_disk_close() - close the file.  Safe to call twice.  Threads: any, not while requests run. */
void blk_disk_close(blk_disk *d);

/** blk_disk_features() - the virtio-blk feature bits to offer (device bits only). */
uint64_t blk_disk_features(const blk_disk *d, unsigned num_queues);

/** blk_disk_config() - fill @cfg for @num_queues queues (zeroed first).  Threads: any. */
void blk_disk_config(const blk_disk *d, unsigned num_queues, struct blk_config *cfg);

/** blk_request() - serve the chain just popped from @vq and read once into @s (cvmm/vq/snapshot.h): do
 *  the request, write the status byte.  Every length checked (the range against the capacity, whole
 *  sectors) is the snapshot's, and the data moved are exactly the snapshot's buffers, so a guest that
 *  rewrites its descriptors meanwhile cannot make the device write past the disk.  @s NULL (a chain of
 *  more than BLK_CHAIN_DESCS_MAX descriptors) is logged and returned unanswered.  *used_len gets the byte
 *  count for vq_add_used() (data written + 1 for the status, 0 if there was no room for a status).
 *  Return: 0 (the request was answered, whatever its status); -EIO / -EPROTO the queue is broken or
 *  stopped (nothing to add as used).  Threads: owner of @vq. */
int blk_request(blk_disk *d, vq_queue *vq, const vq_snapshot *s, uint32_t *used_len);

/** What a request needs once checked (blk_request_begin()). */
enum blk_op {
    BLK_OP_DONE = 0,  /* answered without file I/O: write @status */
    BLK_OP_NO_STATUS, /* no writable status byte: used with length 0, unanswered */
    BLK_OP_READ,      /* IN: @len bytes at @off into the writer @w */
    BLK_OP_WRITE,     /* OUT: @len bytes of the reader @r to @off */
    BLK_OP_FLUSH,     /* FLUSH on a writable disk: fdatasync */
};

/** blk_io - one request between blk_request_begin() and blk_request_end() (caller-allocated).  The cursors
 *  borrow the snapshot's storage: it must live until blk_request_end(). */
typedef struct blk_io {
    enum blk_op op;
    int status;        /* BLK_OP_DONE: the BLK_S_* to answer */
    uint32_t type;     /* BLK_T_* (UINT32_MAX: no header) */
    uint64_t off, len; /* READ / WRITE: disk byte range (checked against the capacity) */
    vq_reader r;       /* OUT data */
    vq_writer w;       /* IN data (GET_ID's answer) */
    vq_writer st;      /* the status byte */
} blk_io;

/** blk_request_begin() - read the header of the request in @s and check it: a malformed one, GET_ID,
 *  DISCARD and WRITE_ZEROES (done here, synchronously, with write-through's fdatasync), an unsupported
 *  type and a FLUSH of a read-only disk come back as BLK_OP_DONE; IN, OUT and FLUSH as the I/O to do.
 *  @s NULL (too many descriptors) is logged and BLK_OP_NO_STATUS.  Every length is the snapshot's.
 *  Return: 0; -EIO / -EPROTO the queue is broken or stopped.  Ownership: @io borrows @s's storage.
 *  Threads: owner of @vq. */
int blk_request_begin(blk_disk *d, vq_queue *vq, const vq_snapshot *s, blk_io *io);

/** blk_request_io_done() - the I/O of @io ended: @res bytes moved (>= 0; fewer than io->len is an error
 *  for the caller to retry or report) or -errno.  Marks what a read wrote into guest memory dirty, logs a
 *  failure, and sets io->status (BLK_S_OK / BLK_S_IOERR) and op BLK_OP_DONE.  Return: 0; -EIO / -EPROTO
 *  the queue broke.  Threads: owner of @vq. */
int blk_request_io_done(blk_disk *d, vq_queue *vq, blk_io *io, int64_t res);

/** blk_request_run() - do @io's I/O synchronously (preadv / pwritev / fdatasync, with a bounce buffer
 *  for chains of more than BLK_IOV_MAX pieces, and write-through's fdatasync).  Return: as
 *  blk_request_io_done().  Threads: owner of @vq. */
int blk_request_run(blk_disk *d, vq_queue *vq, blk_io *io);

/** blk_request_end() - answer @io (op BLK_OP_DONE or BLK_OP_NO_STATUS): write the status byte, and
 *  *used_len gets the length for vq_add_used().  Return: 0; -EIO / -EPROTO.  Threads: owner of @vq. */
int blk_request_end(blk_disk *d, vq_queue *vq, blk_io *io, uint32_t *used_len);

/** blk_queue_process() - pop and serve every available request, with notifications off meanwhile, until
 *  vq_enable_notification() says the ring is empty.  The caller then notifies the driver.
 *  Return: number of requests served (>= 0); -EIO / -EPROTO from the ring.  Threads: owner of @vq. */
int blk_queue_process(blk_disk *d, vq_queue *vq);

#ifdef __cplusplus
}
#endif
#endif
