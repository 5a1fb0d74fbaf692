/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** state.h - cvmm-blk's guest-visible device state: the cache mode the driver chose (config field
 *  `writeback`, VIRTIO_BLK_F_CONFIG_WCE) and the disk's identity (GET_ID), and their transfer to another
 *  cvmm-blk (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE, the state_save / state_load ops).
 *
 *  Why this is the state worth moving: a driver that switched the disk to write-through (Linux:
 *  `echo "write through" > /sys/block/vda/queue/write_cache`) relies on every completed write being
 *  durable; a destination that came up in write-back mode would silently drop that promise, and a disk whose
 *  GET_ID serial changed under a running guest breaks /dev/disk/by-id.  cvmm-blk keeps nothing per queue:
 *  ring positions travel with GET/SET_VRING_BASE, and a queue is drained when the front-end stops it.
 *
 *  Wire format, version 1, BLK_STATE_SIZE bytes, little-endian:
 *    0  magic "cvmm-blk"        8 bytes
 *    8  le32 version            1
 *   12  le32 size               BLK_STATE_SIZE (the whole record)
 *   16  le64 capacity           in 512-byte sectors: must equal the destination disk's
 *   24  le32 blk_size           must equal the destination disk's
 *   28  u8   writeback          0 write-through, 1 write-back
 *   29  u8   read_only          0 or 1: must equal the destination disk's
 *   30  u8   reserved[2]        0
 *   32  id[20]                  the GET_ID answer (NUL-padded): the destination answers it from now on
 *   52  le32 crc32              IEEE CRC-32 of bytes 0..51
 *  The incoming state is untrusted: every field is checked before anything changes, and a refused state
 *  leaves the device as it was.
 *
 *  The cache mode is the disk's, as QEMU's write-cache setting is: a device reset or a reconnect keeps it.
 *  In write-through mode an OUT, DISCARD or WRITE_ZEROES request is answered only after fdatasync() (blk.c). */
#ifndef CVMM_DEVICES_BLK_STATE_H
#define CVMM_DEVICES_BLK_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BLK_STATE_MAGIC "cvmm-blk"
#define BLK_STATE_VERSION 1u
#define BLK_STATE_SIZE 56u
/** Offset of `writeback` in struct blk_config (the only byte a driver may write). */
#define BLK_CONFIG_WRITEBACK_OFF 32u

/** blk_state_encode() - @b's state in the version-1 layout.  Threads: any (reads atomics and the id,
 *  which only state_load changes, with no queue running). */
void blk_state_encode(const blk_dev *b, uint8_t out[BLK_STATE_SIZE]);

/** blk_state_seal() - write the CRC-32 of bytes 0..51 of @rec at offset 52 (encode does it; for tools and
 *  fuzzers that build records field by field).  Threads: any. */
void blk_state_seal(uint8_t rec[BLK_STATE_SIZE]);

/** blk_state_apply() - check @len bytes at @buf (untrusted) and, only if every check passes, make them
 *  @b's state (cache mode, id).  Return: 0; -EBADMSG truncated, too long, bad magic, size field, checksum or
 *  field value; -EPROTONOSUPPORT a version this build does not read; -EINVAL the state is of another disk
 *  (capacity, block size, read-only).  Each failure logs one line saying which.  Threads: the device is
 *  suspended (no queue runs). */
int blk_state_apply(blk_dev *b, const uint8_t *buf, size_t len);

/** The ops (cvmm/vub/device.h): state_save writes the record to @fd, state_load reads @fd to EOF (at most
 *  BLK_STATE_SIZE + 1 bytes: more is refused without reading on) and applies it.  Return: as
 *  blk_state_apply(); -EPIPE / -errno the pipe failed. */
int blk_state_save(void *ctx, int fd);
int blk_state_load(void *ctx, int fd);

/** blk_config_write() - the set_config op: only the writeback byte is writable (0 or 1).  Return: 0;
 *  -EPERM another field; -EINVAL another value.  Logs the refusal.  Threads: control. */
int blk_config_write(void *ctx, uint32_t off, const void *buf, uint32_t len, uint32_t flags);

#ifdef __cplusplus
}
#endif
#endif
