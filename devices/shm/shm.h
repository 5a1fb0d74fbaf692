/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** shm.h - cvmm-shm's device (private to devices/shm and its tests): VIRTIO Shared Memory Regions declared
 *  on the command line, answered with GET_SHMEM_CONFIG, and files mapped into them with BACKEND_SHMEM_MAP /
 *  BACKEND_SHMEM_UNMAP when a control request asks (the request format is in README.md).
 *
 *  The device has one virtqueue, because vhost-user needs at least one; chains put on it are returned
 *  unused.  Threads: parsing functions any; the ops as cvmm/vub/device.h says; shm_ctl_exec() on the
 *  daemon's control thread. */
#ifndef CVMM_DEVICES_SHM_H
#define CVMM_DEVICES_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vhu/msg.h"
#include "cvmm/vub/backend.h"
#include "cvmm/vub/device.h"

/** The virtio device ID we document for cvmm-shm (unassigned; see README.md). */
#define SHM_VIRTIO_ID 63u

/** shm_dev - transparent: the regions and the daemon's view of the device. */
typedef struct shm_dev {
    vhu_shmem_config regions; /* mem_size[shmid]; nregions counts the non-zero ones */
    vub_device_info info;
    const struct cvmm_log *log;
} shm_dev;

/** shm_dev_init() - a device without regions.  @log borrowed (NULL: stderr at WARN). */
void shm_dev_init(shm_dev *s, const struct cvmm_log *log);

/** shm_parse_size() - "4096", "64K", "2M", "1G" (binary suffixes, also lower case; "0x" hex allowed).
 *  Return: 0; -EINVAL empty, junk, or a suffix without a number; -EOVERFLOW does not fit 64 bits. */
int shm_parse_size(const char *s, uint64_t *out);

/** shm_add_region() - --shm=SHMID:SIZE.  SHMID 0..255, each once; SIZE non-zero and a multiple of the page
 *  size.  Return: 0; -EINVAL bad syntax, id > 255 or size 0 or not a page multiple; -EEXIST id declared
 *  already; -EOVERFLOW size too big.  Nothing changes on error. */
int shm_add_region(shm_dev *s, const char *arg);

/** shm_dev_ops() - the ops table (get_shmem_config, a queue_kicked that returns chains unused). */
const vub_device_ops *shm_dev_ops(void);

/** shm_ctl_exec() - run one control request (README.md: "map SHMID SHM_OFFSET LEN FD_OFFSET ro|rw PATH",
 *  "unmap SHMID SHM_OFFSET LEN", "config") against back-end channel @b, and write the one-line answer
 *  ("ok ..." or "error <errno> <text>") to @reply (NUL-terminated, truncated to @cap).
 *  Return: 0 done; -EINVAL malformed request; -ENOENT/-EACCES/... the file could not be opened; the errors of
 *  vub_backend_shmem_map() / _unmap() (-EINVAL outside the region, -ENOTCONN no front-end or no back-end
 *  channel, -EPROTO F_SHMEM not negotiated, -EIO the front-end refused).  Ownership: @req borrowed (@len
 *  bytes, need not be NUL-terminated). */
int shm_ctl_exec(shm_dev *s, vub_backend *b, const char *req, size_t len, char *reply, size_t cap);

#endif
