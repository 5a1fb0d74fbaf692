/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/backend.h - requests from the device to the front-end over the back-end channel
 *  (SET_BACKEND_REQ_FD, VHOST_USER_PROTOCOL_F_BACKEND_REQ).
 *
 *  When REPLY_ACK was negotiated every request is sent with NEED_REPLY and the call waits for the
 *  front-end's answer (a non-zero answer is -EIO); otherwise it returns once the request is written.
 *  Do not call these from an op the front-end is waiting on (QEMU handles the back-end channel in the same
 *  thread that waits for our reply, so SET_CONFIG -> CONFIG_CHANGE_MSG with an ack would deadlock).
 *  Threads: any; requests are serialised by a mutex in the daemon. */
#ifndef CVMM_VUB_BACKEND_H
#define CVMM_VUB_BACKEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vub_backend vub_backend;

/** SHMEM_MAP flags (VhostUserMMap.flags). */
#define VUB_SHMEM_MAP_RW 1u

/** vub_backend_config_change() - BACKEND_CONFIG_CHANGE_MSG (needs F_CONFIG).
 *  Return: 0; -ENOTCONN no front-end or no back-end channel; -EPROTO feature not negotiated; -EIO the
 *  front-end answered non-zero or the channel broke (it is closed then). */
int vub_backend_config_change(vub_backend *b);

/** vub_backend_shmem_map() - BACKEND_SHMEM_MAP: ask the front-end to map [fd_offset, +len) of @fd at
 *  @shm_offset of shared memory region @shmid (needs F_SHMEM; flags VUB_SHMEM_MAP_RW or 0).  The library
 *  checks the request against the device's shmem config (region exists, range inside it, len non-zero
 *  and page multiple) before sending.  Return: 0; -EINVAL bad request; as vub_backend_config_change().
 *  Ownership: @fd borrowed (sent as a copy). */
int vub_backend_shmem_map(vub_backend *b, uint8_t shmid, int fd, uint64_t fd_offset, uint64_t shm_offset, uint64_t len,
                          uint64_t flags);

/** vub_backend_shmem_unmap() - BACKEND_SHMEM_UNMAP of [shm_offset, +len) in region @shmid.
 *  Return: as vub_backend_shmem_map(). */
int vub_backend_shmem_unmap(vub_backend *b, uint8_t shmid, uint64_t shm_offset, uint64_t len);

/** vub_backend_vring_host_notifier() - BACKEND_VRING_HOST_NOTIFIER_MSG: ask the front-end to map
 *  [offset, +size) of @fd as the notify area of queue @index (the guest's notify writes for that queue then
 *  land in the page, for a device that polls it), or with @fd < 0 to drop the queue's notifier (offset and
 *  size are then ignored and sent as 0).  Needs VHOST_USER_PROTOCOL_F_HOST_NOTIFIER, which the library offers
 *  when the device asks for it (bit 11 in vub_device_info.protocol_features).  The library checks before
 *  sending: @index < num_queues; @size is one host page and @offset page-aligned (QEMU maps exactly one page
 *  and refuses other sizes); @fd is a regular file (memfd) or a character device (VFIO) open read-write,
 *  never O_PATH; a regular file holds [offset, +size).  The front-end drops the notifier on its own when the
 *  device stops (QEMU: on every vhost stop), so send it again after each start (queue_started) if you use it.
 *  Return: 0; -EINVAL bad request (logged, nothing sent); as vub_backend_config_change().
 *  Ownership: @fd borrowed (sent as a copy).  Threads: any (do not call it from an op the front-end waits on,
 *  see above). */
int vub_backend_vring_host_notifier(vub_backend *b, unsigned index, int fd, uint64_t offset, uint64_t size);

/** vub_backend_shared_object_add() / _remove() - BACKEND_SHARED_OBJECT_ADD / _REMOVE of @uuid (16 bytes,
 *  sent as given).  Needs F_SHARED_OBJECT.  Return: as vub_backend_config_change(). */
int vub_backend_shared_object_add(vub_backend *b, const uint8_t uuid[16]);
int vub_backend_shared_object_remove(vub_backend *b, const uint8_t uuid[16]);

/** vub_backend_shared_object_lookup() - BACKEND_SHARED_OBJECT_LOOKUP: the dma-buf fd of @uuid.
 *  Return: 0 (*owned_fd_out is yours); -ENOENT the front-end answered non-zero or sent no fd; -EBADF it
 *  sent an O_PATH descriptor (closed, logged; otherwise the fd is handed on unexamined: check that it is
 *  the dma-buf you expect before you map it); as above. */
int vub_backend_shared_object_lookup(vub_backend *b, const uint8_t uuid[16], int *owned_fd_out);

#ifdef __cplusplus
}
#endif
#endif
