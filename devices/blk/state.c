/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* state.c - cvmm-blk's cache mode and its device state record (state.h). */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* IEEE 802.3 CRC-32 (reflected, polynomial 0xedb88320), bit by bit: the record is 52 bytes. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

#define CRC_OFF 52u

void blk_state_encode(const blk_dev *b, uint8_t out[BLK_STATE_SIZE])
{
    memset(out, 0, BLK_STATE_SIZE);
    static const uint8_t magic[8] = BLK_STATE_MAGIC; /* 8 bytes, no NUL in the record */
    memcpy(out, magic, sizeof magic);
    put32(out + 8, BLK_STATE_VERSION);
    put32(out + 12, BLK_STATE_SIZE);
    put64(out + 16, b->disk.sectors);
    put32(out + 24, b->disk.blk_size);
    out[28] = atomic_load_explicit(&b->disk.writethrough, memory_order_relaxed) ? 0 : 1;
    out[29] = b->disk.read_only ? 1 : 0;
    memcpy(out + 32, b->disk.id, BLK_ID_BYTES);
    blk_state_seal(out);
}

void blk_state_seal(uint8_t rec[BLK_STATE_SIZE]) { put32(rec + CRC_OFF, crc32_ieee(rec, CRC_OFF)); }

static int refuse(const blk_dev *b, int rc, const char *why)
{
    cvmm_logf(b->disk.log, CVMM_LOG_WARN, "blk: device state refused: %s", why);
    return rc;
}

int blk_state_apply(blk_dev *b, const uint8_t *buf, size_t len)
{
    char why[160];
    if (len < 16) {
        snprintf(why, sizeof(why), "truncated: %zu bytes, the header alone is 16", len);
        return refuse(b, -EBADMSG, why);
    }
    if (memcmp(buf, BLK_STATE_MAGIC, 8) != 0)
        return refuse(b, -EBADMSG, "not a cvmm-blk state (bad magic)");
    uint32_t version = get32(buf + 8), size = get32(buf + 12);
    if (version != BLK_STATE_VERSION) {
        snprintf(why, sizeof(why), "version %u, this build reads version %u", version, BLK_STATE_VERSION);
        return refuse(b, -EPROTONOSUPPORT, why);
    }
    if (size != BLK_STATE_SIZE) {
        snprintf(why, sizeof(why), "size field %u, version 1 is %u bytes", size, BLK_STATE_SIZE);
        return refuse(b, -EBADMSG, why);
    }
    if (len != BLK_STATE_SIZE) {
        snprintf(why, sizeof(why), "%s: %zu bytes of %u", len < BLK_STATE_SIZE ? "truncated" : "trailing data", len,
                 BLK_STATE_SIZE);
        return refuse(b, -EBADMSG, why);
    }
    if (get32(buf + CRC_OFF) != crc32_ieee(buf, CRC_OFF))
        return refuse(b, -EBADMSG, "checksum mismatch (corrupted in transfer)");
    if (buf[28] > 1 || buf[29] > 1 || buf[30] || buf[31]) {
        snprintf(why, sizeof(why), "field out of range: writeback %u read_only %u reserved %u %u", buf[28], buf[29],
                 buf[30], buf[31]);
        return refuse(b, -EBADMSG, why);
    }
    uint64_t sectors = get64(buf + 16);
    uint32_t blk_size = get32(buf + 24);
    if (sectors != b->disk.sectors || blk_size != b->disk.blk_size || buf[29] != (b->disk.read_only ? 1 : 0)) {
        snprintf(why, sizeof(why), "it is of another disk: %llu sectors of %u bytes%s, this one has %llu of %u%s",
                 (unsigned long long)sectors, blk_size, buf[29] ? " read-only" : "",
                 (unsigned long long)b->disk.sectors, b->disk.blk_size, b->disk.read_only ? " read-only" : "");
        return refuse(b, -EINVAL, why);
    }
    /* every check passed: apply (no queue runs, device.h's state ops promise a suspended device) */
    memcpy(b->disk.id, buf + 32, BLK_ID_BYTES);
    atomic_store_explicit(&b->disk.writethrough, buf[28] == 0, memory_order_relaxed);
    cvmm_logf(b->disk.log, CVMM_LOG_INFO, "blk: device state loaded: %s cache",
              buf[28] ? "write-back" : "write-through");
    return 0;
}

int blk_state_save(void *ctx, int fd)
{
    uint8_t rec[BLK_STATE_SIZE];
    blk_state_encode(ctx, rec);
    for (size_t done = 0; done < sizeof(rec);) {
        ssize_t n = write(fd, rec + done, sizeof(rec) - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO; /* the library logs the op's failure */
        done += (size_t)n;
    }
    return 0;
}

int blk_state_load(void *ctx, int fd)
{
    uint8_t rec[BLK_STATE_SIZE + 1]; /* one more: a longer stream is refused, not read on */
    size_t len = 0;
    while (len < sizeof(rec)) {
        ssize_t n = read(fd, rec + len, sizeof(rec) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return blk_state_apply(ctx, rec, len);
}

int blk_config_write(void *ctx, uint32_t off, const void *buf, uint32_t len, uint32_t flags)
{
    blk_dev *b = ctx;
    (void)flags; /* a driver write or a migration's: the same byte either way */
    if (off != BLK_CONFIG_WRITEBACK_OFF || len != 1) {
        cvmm_logf(b->disk.log, CVMM_LOG_WARN,
                  "blk: config write [%u, +%u) refused: only writeback (byte %u) is writable", off, len,
                  BLK_CONFIG_WRITEBACK_OFF);
        return -EPERM;
    }
    uint8_t v = *(const uint8_t *)buf;
    if (v > 1) {
        cvmm_logf(b->disk.log, CVMM_LOG_WARN, "blk: config writeback %u refused (0 or 1)", v);
        return -EINVAL;
    }
    bool was = atomic_exchange_explicit(&b->disk.writethrough, v == 0, memory_order_relaxed);
    if (was != (v == 0))
        cvmm_logf(b->disk.log, CVMM_LOG_INFO, "blk: the driver set the cache mode to %s",
                  v ? "write-back" : "write-through");
    return 0;
}
