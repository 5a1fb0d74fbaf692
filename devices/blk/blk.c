/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* blk.c - the disk and the virtio-blk request handler (blk.h). */
#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/fd.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/rw.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/snapshot.h"

/* 4 KiB of zeroes for the write-zeroes fallback (read-only data). */
static const uint8_t blk_zero_page[4096];

int blk_disk_open(blk_disk *d, const char *path, bool read_only, const struct cvmm_log *log)
{
    return blk_disk_open_direct(d, path, read_only, false, log);
}

int blk_disk_open_direct(blk_disk *d, const char *path, bool read_only, bool direct, const struct cvmm_log *log)
{
    if (!d || !path)
        return -EINVAL;
    memset(d, 0, sizeof(*d));
    d->fd = d->fd_buffered = -1;
    d->log = log;
    d->read_only = read_only;
    d->direct = direct;
    atomic_init(&d->warned, false);
    atomic_init(&d->writethrough, false);
    int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    int fd = open(path, flags), fdb = -1;
    if (fd < 0) {
        int e = errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "blk: cannot open %s%s: %s", path, read_only ? " read-only" : "", strerror(e));
        return -e;
    }
    if (direct) { /* the same file twice: O_DIRECT for aligned requests, buffered for the others */
        fdb = fd;
        fd = open(path, flags | O_DIRECT);
        if (fd < 0) {
            int e = errno;
            cvmm_logf(log, CVMM_LOG_ERROR, "blk: cannot open %s with O_DIRECT (--direct): %s", path, strerror(e));
            cvmm_close(&fdb);
            return -e;
        }
    }
    struct stat st;
    int rc;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "blk: fstat %s: %s", path, strerror(-rc));
        goto fail;
    }
    uint64_t bytes;
    d->blk_size = BLK_SECTOR;
    if (S_ISREG(st.st_mode)) {
        bytes = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        int ssz = 0;
        d->is_bdev = true;
        if (ioctl(fd, BLKGETSIZE64, &bytes) < 0 || ioctl(fd, BLKSSZGET, &ssz) < 0) {
            rc = -errno;
            cvmm_logf(log, CVMM_LOG_ERROR, "blk: %s: cannot read the device size: %s", path, strerror(-rc));
            goto fail;
        }
        if (ssz >= (int)BLK_SECTOR && ssz <= 65536 && cvmm_is_pow2((uint64_t)ssz))
            d->blk_size = (uint32_t)ssz;
    } else {
        rc = -EINVAL;
        cvmm_logf(log, CVMM_LOG_ERROR, "blk: %s is neither a regular file nor a block device", path);
        goto fail;
    }
    d->sectors = bytes / BLK_SECTOR;
    if (d->sectors == 0) {
        rc = -EINVAL;
        cvmm_logf(log, CVMM_LOG_ERROR, "blk: %s is smaller than one sector (%llu bytes)", path,
                  (unsigned long long)bytes);
        goto fail;
    }
    /* A serial number the guest sees as /sys/block/vdX/serial: stable for the same file. */
    char id[BLK_ID_BYTES + 1];
    snprintf(id, sizeof(id), "cvmm-%llx-%llx", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    memcpy(d->id, id, BLK_ID_BYTES);
    /* tmpfs and other files without FMODE_NOWAIT refuse RWF_NOWAIT (aio.c); one byte: a read of none
     * returns before the flags are looked at */
    struct iovec one = {.iov_base = id, .iov_len = 1};
    d->blocking = preadv2(fd, &one, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP;
    d->fd = fd;
    d->fd_buffered = fdb;
    return 0;
fail:
    cvmm_close(&fd);
    cvmm_close(&fdb);
    return rc;
}

void blk_disk_close(blk_disk *d)
{
    if (d) {
        cvmm_close(&d->fd);
        cvmm_close(&d->fd_buffered);
    }
}

int blk_disk_io_fd(const blk_disk *d, const struct iovec *iov, int n, uint64_t off, uint64_t len)
{
    if (!d->direct)
        return d->fd;
    if (off % d->blk_size != 0 || len % d->blk_size != 0)
        return d->fd_buffered;
    for (int i = 0; i < n; i++)
        if ((uintptr_t)iov[i].iov_base % BLK_DIO_ALIGN != 0 || iov[i].iov_len % BLK_DIO_ALIGN != 0)
            return d->fd_buffered;
    return d->fd;
}

uint64_t blk_disk_features(const blk_disk *d, unsigned num_queues)
{
    uint64_t f = (1ull << BLK_F_SEG_MAX) | (1ull << BLK_F_BLK_SIZE) | (1ull << BLK_F_FLUSH);
    if (num_queues > 1)
        f |= 1ull << BLK_F_MQ;
    if (d->read_only)
        f |= 1ull << BLK_F_RO;
    else
        f |= (1ull << BLK_F_DISCARD) | (1ull << BLK_F_WRITE_ZEROES);
    return f;
}

void blk_disk_config(const blk_disk *d, unsigned num_queues, struct blk_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->capacity = cvmm_le64_set(d->sectors);
    cfg->seg_max = cvmm_le32_set(BLK_SEG_MAX);
    cfg->blk_size = cvmm_le32_set(d->blk_size);
    cfg->num_queues = cvmm_le16_set((uint16_t)num_queues);
    cfg->writeback = 1; /* data reaches the file at once, FLUSH makes it durable */
    if (!d->read_only) {
        cfg->max_discard_sectors = cvmm_le32_set(BLK_DWZ_SECTORS_MAX);
        cfg->max_discard_seg = cvmm_le32_set(BLK_DWZ_SEG_MAX);
        cfg->discard_sector_alignment = cvmm_le32_set(d->blk_size / BLK_SECTOR);
        cfg->max_write_zeroes_sectors = cvmm_le32_set(BLK_DWZ_SECTORS_MAX);
        cfg->max_write_zeroes_seg = cvmm_le32_set(BLK_DWZ_SEG_MAX);
        cfg->write_zeroes_may_unmap = 1;
    }
}

/* A malformed request: the first one is a WARN line, the rest DEBUG, so a guest cannot flood the log. */
static void blk_bad(blk_disk *d, vq_queue *vq, const char *fmt, ...) CVMM_PRINTF(3, 4);
static void blk_bad(blk_disk *d, vq_queue *vq, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bool first = !atomic_exchange(&d->warned, true);
    cvmm_logf(d->log, first ? CVMM_LOG_WARN : CVMM_LOG_DEBUG, "blk: vq%u: %s%s", vq_queue_index(vq), msg,
              first ? " (further malformed requests are logged at debug level)" : "");
}

/* [sector*512, +len) lies inside the disk.  Sets *off.  Cannot wrap. */
static bool blk_range(const blk_disk *d, uint64_t sector, uint64_t len, uint64_t *off)
{
    if (sector > d->sectors)
        return false;
    *off = sector * BLK_SECTOR;
    return len <= d->sectors * BLK_SECTOR - *off;
}

/* preadv/pwritev all of @iov at @off, across short transfers and EINTR.  *done gets the bytes moved.
 * Return: 0; -errno; -EIO end of file (the file shrank under us).  @iov is consumed. */
static int blk_io_vec(int fd, bool write, struct iovec *iov, int n, uint64_t off, uint64_t *done)
{
    *done = 0;
    while (n > 0) {
        ssize_t r = write ? pwritev(fd, iov, n, (off_t)(off + *done)) : preadv(fd, iov, n, (off_t)(off + *done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO;
        *done += (uint64_t)r;
        size_t k = (size_t)r;
        while (n > 0 && k >= iov->iov_len) {
            k -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + k;
            iov->iov_len -= k;
        }
    }
    return 0;
}

/* A zero-copy @what ("read"/"write") of @len bytes at @off failed with @rc: log it.  Return: BLK_S_IOERR. */
static int blk_io_failed(const blk_disk *d, const vq_queue *vq, const char *what, uint64_t off, uint64_t len, int rc)
{
    cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: %s of %llu bytes at %llu: %s", vq_queue_index(vq), what,
              (unsigned long long)len, (unsigned long long)off, strerror(-rc));
    return BLK_S_IOERR;
}

/* IN: file -> the writer's @len bytes, zero-copy; through a bounce buffer when the chain has more pieces
 * than BLK_IOV_MAX.  Marks what it wrote dirty (vq_writer_advance / vq_writer_write).
 * Return: BLK_S_*, or -EIO / -EPROTO for a broken queue. */
static int blk_do_read(blk_disk *d, vq_queue *vq, vq_writer *w, uint64_t off, uint64_t len)
{
    struct iovec iov[BLK_IOV_MAX];
    int n = vq_writer_iovec(w, iov, BLK_IOV_MAX);
    if (n >= 0) {
        uint64_t done = 0;
        int rc = blk_io_vec(blk_disk_io_fd(d, iov, n, off, len), false, iov, n, off, &done);
        int arc = vq_writer_advance(w, done); /* what preadv wrote into guest memory is dirty either way */
        if (arc < 0)
            return arc;
        return rc < 0 ? blk_io_failed(d, vq, "read", off, len, rc) : BLK_S_OK;
    }
    if (n != -ENOSPC)
        return n;
    int fd = d->direct ? d->fd_buffered : d->fd; /* the bounce buffer is on the stack, not aligned */
    uint8_t buf[16384];
    for (uint64_t pos = 0; pos < len;) {
        size_t chunk = len - pos < sizeof(buf) ? (size_t)(len - pos) : sizeof(buf);
        ssize_t r = pread(fd, buf, chunk, (off_t)(off + pos));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: read at %llu: %s", vq_queue_index(vq),
                      (unsigned long long)off + pos, r < 0 ? strerror(errno) : "end of file");
            return BLK_S_IOERR;
        }
        int wrc = vq_writer_write(w, buf, (size_t)r);
        if (wrc < 0)
            return wrc;
        pos += (uint64_t)r;
    }
    return BLK_S_OK;
}

/* OUT: the reader's @len bytes -> file, zero-copy or through a bounce buffer.  Return: as blk_do_read(). */
static int blk_do_write(blk_disk *d, vq_queue *vq, vq_reader *r, uint64_t off, uint64_t len)
{
    struct iovec iov[BLK_IOV_MAX];
    int n = vq_reader_iovec(r, iov, BLK_IOV_MAX);
    if (n >= 0) {
        uint64_t done = 0;
        int rc = blk_io_vec(blk_disk_io_fd(d, iov, n, off, len), true, iov, n, off, &done);
        return rc < 0 ? blk_io_failed(d, vq, "write", off, len, rc) : BLK_S_OK;
    }
    if (n != -ENOSPC)
        return n;
    int fd = d->direct ? d->fd_buffered : d->fd;
    uint8_t buf[16384];
    for (uint64_t pos = 0; pos < len;) {
        size_t chunk = len - pos < sizeof(buf) ? (size_t)(len - pos) : sizeof(buf);
        int rrc = vq_reader_read(r, buf, chunk);
        if (rrc < 0)
            return rrc;
        for (size_t k = 0; k < chunk;) {
            ssize_t w = pwrite(fd, buf + k, chunk - k, (off_t)(off + pos + k));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: write at %llu: %s", vq_queue_index(vq),
                          (unsigned long long)off + pos + k, w < 0 ? strerror(errno) : "no progress");
                return BLK_S_IOERR;
            }
            k += (size_t)w;
        }
        pos += chunk;
    }
    return BLK_S_OK;
}

/* Write zeroes with pwritev, 64 KiB at a time.  Return: 0 or -errno. */
static int blk_write_zeroes_slow(const blk_disk *d, uint64_t off, uint64_t len)
{
    struct iovec iov[16];
    while (len > 0) {
        int n = 0;
        uint64_t chunk = 0;
        while (n < 16 && chunk < len) {
            size_t piece = len - chunk < sizeof(blk_zero_page) ? (size_t)(len - chunk) : sizeof(blk_zero_page);
            iov[n].iov_base = (void *)(uintptr_t)blk_zero_page; /* pwritev only reads it */
            iov[n].iov_len = piece;
            chunk += piece;
            n++;
        }
        uint64_t done = 0;
        int rc = blk_io_vec(d->direct ? d->fd_buffered : d->fd, true, iov, n, off, &done);
        if (rc < 0)
            return rc;
        off += chunk;
        len -= chunk;
    }
    return 0;
}

/* One range of DISCARD (advisory: unsupported means done) or WRITE_ZEROES (reads must return zeroes
 * afterwards: fallocate, then the block device ioctl, then writing zeroes).  Return: 0 or -errno. */
static int blk_dwz_range(const blk_disk *d, bool zeroes, bool unmap, uint64_t off, uint64_t len)
{
    int mode = (!zeroes || unmap) ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
                                  : (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
    if (fallocate(d->fd, mode, (off_t)off, (off_t)len) == 0)
        return 0;
    int e = errno;
    if (e != EOPNOTSUPP && e != ENOSYS && e != EINVAL)
        return -e;
    if (d->is_bdev) {
        uint64_t range[2] = {off, len};
        if (ioctl(d->fd, zeroes ? BLKZEROOUT : BLKDISCARD, range) == 0)
            return 0;
    }
    if (!zeroes)
        return 0; /* a discard is only a hint */
    if (mode & FALLOC_FL_PUNCH_HOLE &&
        fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    return blk_write_zeroes_slow(d, off, len);
}

/* DISCARD / WRITE_ZEROES: the readable data is an array of {le64 sector, le32 num_sectors, le32 flags}.
 * Every segment is checked before any is carried out.  Return: BLK_S_*, or a ring error. */
static int blk_do_dwz(blk_disk *d, vq_queue *vq, vq_reader *r, bool zeroes)
{
    const char *what = zeroes ? "write-zeroes" : "discard";
    uint64_t left = vq_reader_bytes_left(r); /* from the snapshot: the guest cannot change it */
    int rc;
    if (left == 0 || left % 16 != 0 || left / 16 > BLK_DWZ_SEG_MAX) {
        blk_bad(d, vq, "%s with %llu bytes of segments (a multiple of 16, at most %u segments)", what,
                (unsigned long long)left, BLK_DWZ_SEG_MAX);
        return BLK_S_IOERR;
    }
    unsigned nseg = (unsigned)(left / 16);
    struct {
        uint64_t off, len;
        bool unmap;
    } seg[BLK_DWZ_SEG_MAX];
    for (unsigned i = 0; i < nseg; i++) {
        uint64_t sector;
        uint32_t num, flags;
        if ((rc = vq_reader_read_le64(r, &sector)) < 0 || (rc = vq_reader_read_le32(r, &num)) < 0 ||
            (rc = vq_reader_read_le32(r, &flags)) < 0)
            return rc == -ENOSPC ? BLK_S_IOERR : rc;
        uint32_t allowed = zeroes ? BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
        if (flags & ~allowed) {
            blk_bad(d, vq, "%s with flags 0x%x", what, flags);
            return BLK_S_UNSUPP;
        }
        if (num > BLK_DWZ_SECTORS_MAX || !blk_range(d, sector, (uint64_t)num * BLK_SECTOR, &seg[i].off)) {
            blk_bad(d, vq, "%s of %u sectors at sector %llu: past the end (%llu sectors) or over the limit", what, num,
                    (unsigned long long)sector, (unsigned long long)d->sectors);
            return BLK_S_IOERR;
        }
        seg[i].len = (uint64_t)num * BLK_SECTOR;
        seg[i].unmap = flags & BLK_WRITE_ZEROES_FLAG_UNMAP;
    }
    for (unsigned i = 0; i < nseg; i++) {
        if (seg[i].len == 0)
            continue;
        rc = blk_dwz_range(d, zeroes, seg[i].unmap, seg[i].off, seg[i].len);
        if (rc < 0) {
            cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: %s of %llu bytes at %llu: %s", vq_queue_index(vq), what,
                      (unsigned long long)seg[i].len, (unsigned long long)seg[i].off, strerror(-rc));
            return BLK_S_IOERR;
        }
    }
    return BLK_S_OK;
}

/* A write-through disk answers a change once it is durable.  Return: @status, or BLK_S_IOERR (logged). */
static int blk_writethrough_sync(blk_disk *d, vq_queue *vq, uint32_t type, int status)
{
    if (status == BLK_S_OK && (type == BLK_T_OUT || type == BLK_T_DISCARD || type == BLK_T_WRITE_ZEROES) &&
        atomic_load_explicit(&d->writethrough, memory_order_relaxed) && fdatasync(d->fd) < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: write-through fdatasync: %s", vq_queue_index(vq), strerror(errno));
        return BLK_S_IOERR;
    }
    return status;
}

int blk_request_begin(blk_disk *d, vq_queue *vq, const vq_snapshot *s, blk_io *io)
{
    int rc;
    io->op = BLK_OP_NO_STATUS;
    io->status = BLK_S_IOERR;
    io->type = UINT32_MAX;
    io->off = io->len = 0;
    if (!s) {
        blk_bad(d, vq, "request of more than %u descriptors: returned unanswered", BLK_CHAIN_DESCS_MAX);
        return 0;
    }
    /* Every length below comes from the snapshot (read once): what is checked is what is moved. */
    vq_reader_init(&io->r, s);
    vq_writer_init(&io->w, s);
    uint64_t wlen = vq_writer_bytes_left(&io->w);
    if (wlen == 0) {
        blk_bad(d, vq, "request without a writable status byte: returned unanswered");
        return 0;
    }
    /* The status is the last writable byte; the writable bytes before it are the IN data. */
    if ((rc = vq_writer_split_at(&io->w, wlen - 1, &io->st)) < 0)
        return rc;
    io->op = BLK_OP_DONE;
    uint64_t dlen = wlen - 1;
    uint32_t reserved;
    uint64_t sector = 0, rlen;
    rc = vq_reader_read_le32(&io->r, &io->type);
    if (rc == 0)
        rc = vq_reader_read_le32(&io->r, &reserved);
    if (rc == 0)
        rc = vq_reader_read_le64(&io->r, &sector);
    if (rc == -ENOSPC) {
        blk_bad(d, vq, "request header shorter than 16 bytes");
        return 0;
    }
    if (rc < 0)
        return rc;
    switch (io->type) {
    case BLK_T_IN:
        if (dlen % BLK_SECTOR != 0 || !blk_range(d, sector, dlen, &io->off)) {
            blk_bad(d, vq, "read of %llu bytes at sector %llu: not whole sectors or past the end (%llu sectors)",
                    (unsigned long long)dlen, (unsigned long long)sector, (unsigned long long)d->sectors);
            break;
        }
        io->len = dlen;
        io->status = BLK_S_OK;
        if (dlen)
            io->op = BLK_OP_READ;
        break;
    case BLK_T_OUT:
        rlen = vq_reader_bytes_left(&io->r); /* the iovecs exported later add up to exactly this */
        if (d->read_only) {
            blk_bad(d, vq, "write of %llu bytes to a read-only disk", (unsigned long long)rlen);
            break;
        }
        if (rlen % BLK_SECTOR != 0 || !blk_range(d, sector, rlen, &io->off)) {
            blk_bad(d, vq, "write of %llu bytes at sector %llu: not whole sectors or past the end (%llu sectors)",
                    (unsigned long long)rlen, (unsigned long long)sector, (unsigned long long)d->sectors);
            break;
        }
        io->len = rlen;
        io->status = BLK_S_OK;
        if (rlen)
            io->op = BLK_OP_WRITE;
        break;
    case BLK_T_FLUSH:
        io->status = BLK_S_OK;
        if (!d->read_only)
            io->op = BLK_OP_FLUSH;
        break;
    case BLK_T_GET_ID: {
        size_t n = dlen < BLK_ID_BYTES ? (size_t)dlen : BLK_ID_BYTES;
        if ((rc = vq_writer_write(&io->w, d->id, n)) < 0)
            return rc;
        io->status = BLK_S_OK;
        break;
    }
    case BLK_T_DISCARD:
    case BLK_T_WRITE_ZEROES:
        if (d->read_only) {
            blk_bad(d, vq, "%s on a read-only disk", io->type == BLK_T_DISCARD ? "discard" : "write-zeroes");
            break;
        }
        rc = blk_do_dwz(d, vq, &io->r, io->type == BLK_T_WRITE_ZEROES);
        if (rc < 0)
            return rc;
        io->status = blk_writethrough_sync(d, vq, io->type, rc);
        break;
    default:
        io->status = BLK_S_UNSUPP;
        cvmm_logf(d->log, CVMM_LOG_DEBUG, "blk: vq%u: request type %u not supported", vq_queue_index(vq), io->type);
        break;
    }
    return 0;
}

int blk_request_io_done(blk_disk *d, vq_queue *vq, blk_io *io, int64_t res)
{
    enum blk_op op = io->op;
    io->op = BLK_OP_DONE;
    io->status = BLK_S_OK;
    if (op == BLK_OP_READ && res > 0) {
        int rc = vq_writer_advance(&io->w, (uint64_t)res); /* what the kernel wrote into guest memory is dirty */
        if (rc < 0)
            return rc;
    }
    if (res < 0 || (op != BLK_OP_FLUSH && (uint64_t)res != io->len)) {
        int e = res < 0 ? (int)-res : EIO; /* a short transfer the caller did not finish: end of file */
        if (op == BLK_OP_FLUSH)
            cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: fdatasync: %s", vq_queue_index(vq), strerror(e));
        else
            (void)blk_io_failed(d, vq, op == BLK_OP_READ ? "read" : "write", io->off, io->len, -e);
        io->status = BLK_S_IOERR;
    }
    return 0;
}

int blk_request_run(blk_disk *d, vq_queue *vq, blk_io *io)
{
    int status = BLK_S_OK;
    switch (io->op) {
    case BLK_OP_READ: status = blk_do_read(d, vq, &io->w, io->off, io->len); break;
    case BLK_OP_WRITE: status = blk_do_write(d, vq, &io->r, io->off, io->len); break;
    case BLK_OP_FLUSH:
        if (fdatasync(d->fd) < 0) {
            cvmm_logf(d->log, CVMM_LOG_WARN, "blk: vq%u: fdatasync: %s", vq_queue_index(vq), strerror(errno));
            status = BLK_S_IOERR;
        }
        break;
    default: return 0;
    }
    if (status < 0)
        return status;
    io->op = BLK_OP_DONE;
    io->status = blk_writethrough_sync(d, vq, io->type, status);
    return 0;
}

int blk_request_end(blk_disk *d, vq_queue *vq, blk_io *io, uint32_t *used_len)
{
    (void)d, (void)vq;
    int rc;
    *used_len = 0;
    if (io->op == BLK_OP_NO_STATUS)
        return 0;
    uint8_t sb = (uint8_t)io->status;
    if ((rc = vq_writer_write(&io->st, &sb, 1)) < 0)
        return rc;
    uint64_t used = vq_writer_bytes_written(&io->w) + 1;
    *used_len = used > UINT32_MAX ? UINT32_MAX : (uint32_t)used;
    return 0;
}

int blk_request(blk_disk *d, vq_queue *vq, const vq_snapshot *s, uint32_t *used_len)
{
    blk_io io;
    int rc;
    *used_len = 0;
    if ((rc = blk_request_begin(d, vq, s, &io)) < 0 || (rc = blk_request_run(d, vq, &io)) < 0)
        return rc;
    return blk_request_end(d, vq, &io, used_len);
}

/* A simpler form of the loop vub_queue_serve() runs in the daemon (one chain at a time, no groups, no
 * budget), on a bare vq_queue: for the unit tests and the fuzz target, which have no daemon.  The caller
 * notifies the driver. */
int blk_queue_process(blk_disk *d, vq_queue *vq)
{
    vq_chain c;
    vq_desc_info desc[BLK_CHAIN_DESCS_MAX]; /* 24 KiB of stack: the hot path never allocates */
    vq_snapshot s;
    int rc, served = 0;
    do {
        if ((rc = vq_disable_notification(vq)) < 0)
            return rc;
        while ((rc = vq_pop(vq, &c)) == 1) {
            uint32_t used = 0;
            rc = vq_snapshot_take(vq, &c, desc, BLK_CHAIN_DESCS_MAX, &s);
            if (rc < 0 && rc != -ENOSPC)
                return rc;
            if ((rc = blk_request(d, vq, rc == 0 ? &s : NULL, &used)) < 0)
                return rc;
            if ((rc = vq_add_used(vq, c.head, used)) < 0)
                return rc;
            served++;
        }
        if (rc < 0)
            return rc;
    } while ((rc = vq_enable_notification(vq)) == 1);
    return rc < 0 ? rc : served;
}
