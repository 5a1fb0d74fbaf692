/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/device.h - what a device is: the operations table (our `VhostUserBackend`) and its static facts.
 *
 *  A device is a `const vub_device_ops *`, a `const vub_device_info *` and a `void *ctx` handed to
 *  vub_daemon_new() (cvmm/vub/daemon.h).  Every op gets @ctx and returns 0 or -errno; a NULL op has the
 *  default written beside it.  The library validates everything an op returns before it reaches the wire,
 *  logs a failed op ("op get_config failed: ...") and still replies to the front-end.
 *
 *  Threads: ops marked `control` run on the thread that runs vub_daemon_run(); ops marked `worker` run on
 *  the worker thread that owns the queue (info.queue_worker); state_save/state_load run on a transfer
 *  thread of their own.  The control thread never runs an op while a worker runs an op for the same queue
 *  (queue_started / queue_stopped / queue_kicked are serialised on the queue's worker), but control ops and
 *  worker ops of different queues do run concurrently: the device locks what they share. */
#ifndef CVMM_VUB_DEVICE_H
#define CVMM_VUB_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vhu/msg.h"
#include "cvmm/vmem/map.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest number of queues (vhost-user encodes a vring index in 8 bits of SET_VRING_KICK/CALL/ERR). */
#define VUB_MAX_QUEUES 256u
/** Largest number of worker threads. */
#define VUB_MAX_WORKERS 64u

/* Virtio feature bits the library interprets (device features are the device's business). */
#define VUB_F_RING_INDIRECT_DESC 28
#define VUB_F_RING_EVENT_IDX 29
#define VUB_F_VERSION_1 32
#define VUB_F_ACCESS_PLATFORM 33
#define VUB_F_RING_PACKED 34
/** VIRTIO_F_IN_ORDER: a device offers it only if it uses every ring's buffers in the order they were made
 *  available (virtio 1.2 2.7.9 / 2.8.20), also the ones it gives back unused.  The library neither needs
 *  nor checks it: vq_add_used() publishes what the device hands it, in that order. */
#define VUB_F_IN_ORDER 35
#define VUB_F_LOG_ALL 26           /* VHOST_F_LOG_ALL: always offered, the library logs dirty pages */
#define VUB_F_PROTOCOL_FEATURES 30 /* VHOST_USER_F_PROTOCOL_FEATURES: always offered */

/** Protocol features a device may add in vub_device_info.protocol_features (bit numbers of the spec). */
#define VUB_PROTOCOL_OPTIONAL                                                                                          \
    ((1ull << 11) /* HOST_NOTIFIER */ | (1ull << 12) /* INFLIGHT_SHMFD */ | (1ull << 14) /* INBAND_NOTIFICATIONS */ |  \
     (1ull << 18) /* SHARED_OBJECT */)

typedef struct vub_queue vub_queue;
struct vq_snapshot;

/** Direction of a device state transfer (SET_DEVICE_STATE_FD). */
enum vub_state_dir {
    VUB_STATE_SAVE = 0, /* back-end -> front-end: write the state into the fd */
    VUB_STATE_LOAD = 1, /* front-end -> back-end: read the state from the fd until EOF */
};

/** vub_device_ops - the device's operations (our `VhostUserBackend` trait): every op gets the daemon's
 *  ctx and returns 0 or -errno; a NULL op has the default written beside it. */
typedef struct vub_device_ops {
    /** features_acked() - the front-end acked @features (SET_FEATURES: device bits plus the library's).
     *  NULL: accept.  Threads: control (all rings stopped or not yet started). */
    int (*features_acked)(void *ctx, uint64_t features);

    /** get_config() - copy config space [off, off+len) into @buf.  The library checked
     *  off + len <= info.config_size.  NULL: -ENOTSUP, error reply (and F_CONFIG is not offered).
     *  Threads: control. */
    int (*get_config)(void *ctx, uint32_t off, void *buf, uint32_t len);

    /** set_config() - the driver wrote [off, off+len) (@flags: 0 driver write, 1 live migration).  Bounds
     *  checked as get_config.  NULL: -ENOTSUP (read-only config space).  Threads: control. */
    int (*set_config)(void *ctx, uint32_t off, const void *buf, uint32_t len, uint32_t flags);

    /** mem_changed() - guest memory is now @map (SET_MEM_TABLE, ADD/REM_MEM_REG, logging on/off).  The
     *  map is borrowed and only valid during the call (workers get theirs through vub_queue_map()).
     *  The map is in use whatever the op returns: a failure is only logged.  NULL: nothing.
     *  Threads: control. */
    int (*mem_changed)(void *ctx, const vmem_map *map);

    /** queue_started() - @q was started (SET_VRING_KICK / in-band VRING_KICK): its ring is ready and
     *  mapped.  A failure stops the ring again and is reported to the front-end.  NULL: nothing.
     *  Threads: worker of @q. */
    int (*queue_started)(void *ctx, vub_queue *q);

    /** queue_stopped() - @q is being stopped (GET_VRING_BASE, reset, disconnect): complete or drop what
     *  is in flight now; after the call the ring must not be touched.  NULL: nothing.  Threads: worker of @q. */
    int (*queue_stopped)(void *ctx, vub_queue *q);

    /** queue_enabled() - SET_VRING_ENABLE changed @q's enable state (also called while stopped).
     *  NULL: nothing, or with the request op: a started queue that is enabled is served (requests may
     *  have come while it was disabled).  Threads: worker of @q. */
    int (*queue_enabled)(void *ctx, vub_queue *q, bool enabled);

    /** queue_kicked() - the driver made buffers available (kick eventfd, in-band VRING_KICK, or a poll
     *  tick for a ring without kick fd).  Process the ring (vub_queue_vq()), then vub_queue_notify().
     *  A started but disabled queue must be processed without side effects (vub_queue_enabled()).  A
     *  return < 0 is logged.  NULL: the queue is served with the request op (vub_queue_serve(),
     *  cvmm/vub/serve.h); one of the two is required.  Threads: worker of @q. */
    int (*queue_kicked)(void *ctx, vub_queue *q);

    /** request() - serve one request, for devices without a queue_kicked op: the chain @s was read once
     *  and validated (vub_request_fn in cvmm/vub/serve.h says the rest).  The library pops, snapshots,
     *  batches the used buffers, suppresses and re-enables notifications, leaves disabled rings alone and
     *  notifies the driver.  Ignored when queue_kicked is set.  Threads: worker of @q. */
    int (*request)(void *ctx, vub_queue *q, const struct vq_snapshot *s, uint32_t *used_len);

    /** reset() - back to the initial state (RESET_DEVICE, RESET_OWNER, front-end disconnect); every queue
     *  is stopped already.  NULL: nothing.  Threads: control. */
    void (*reset)(void *ctx);

    /** get_shmem_config() - fill @out (zeroed by the library): mem_size[shmid] for each VIRTIO Shared
     *  Memory Region (sparse ids allowed), nregions = the number of non-zero sizes, every size a multiple of
     *  the page size.  The library checks all three before replying (a bad config is logged and answered
     *  as zeroed) and asks once per connection: the answer is fixed for the connection, as the spec says.
     *  NULL: F_SHMEM is not offered and GET_SHMEM_CONFIG gets a zeroed reply.  Threads: control. */
    int (*get_shmem_config)(void *ctx, vhu_shmem_config *out);

    /** state_save() / state_load() - device state transfer (VHOST_USER_PROTOCOL_F_DEVICE_STATE): write
     *  the whole state into @fd, or read it until EOF.  @fd is the library's end of a pipe, borrowed (the
     *  library closes it after the call, which marks the end of the data for SAVE); the library relays
     *  between it and the front-end's channel.  Blocking I/O is fine.  The result is what
     *  CHECK_DEVICE_STATE reports (it waits up to 2 s for it).  If the front-end leaves a transfer
     *  hanging (disconnects, or starts another one, and 1 s passes), the library cuts the pipe: a LOAD
     *  sees EOF, a SAVE gets EPIPE (SIGPIPE is blocked on that thread).  The relay never blocks on the
     *  front-end's fd, whatever poll() says of it: the fd must be a pipe or socket open in the transfer's
     *  direction (anything else, O_PATH included, is refused before a transfer starts), the library
     *  makes it non-blocking (a socket with a large SO_RCVLOWAT is read as its bytes come), and POLLERR
     *  or POLLNVAL on it ends the transfer as a cut does, so the 1 s bound always holds.  Both NULL:
     *  F_DEVICE_STATE not offered; one NULL: that direction gets -ENOTSUP.  Threads: a transfer thread of the library (the
     *  device is suspended: no queue runs, whatever the front-end sends: SET_DEVICE_STATE_FD is refused while a
     *  ring is started, no ring starts while the op runs, and RESET_DEVICE or a disconnect cuts the transfer
     *  off before the reset op runs). */
    int (*state_save)(void *ctx, int fd);
    /** state_load() - the LOAD direction of the transfer described at state_save(). */
    int (*state_load)(void *ctx, int fd);

    /** set_status() - the front-end wrote the virtio device status byte (SET_STATUS, protocol feature
     *  STATUS, always offered): called on every SET_STATUS with the value as sent, e.g. 0x0b
     *  (ACKNOWLEDGE|DRIVER|FEATURES_OK) then 0x0f (+DRIVER_OK) when the driver starts the device, and 0 when
     *  the front-end resets or stops it (QEMU sends 0 on every vhost stop).  RESET_DEVICE and a disconnect do
     *  not call it: the reset op runs and the status is 0 again.  GET_STATUS answers what the device
     *  accepted: the value written when the op returns 0 (or is NULL); on failure the write is refused and
     *  acked with the error (REPLY_ACK), and GET_STATUS reports the value without FEATURES_OK (0x08) if this
     *  write set it (the device does not accept the features, virtio 1.2 3.1.1), else with
     *  DEVICE_NEEDS_RESET (0x40) added.  NULL: the value is stored and answered as written.
     *  Threads: control. */
    int (*set_status)(void *ctx, uint8_t status);
} vub_device_ops;

/** vub_device_info - static facts (transparent; zero means default where said). */
typedef struct vub_device_info {
    const char *name;               /* log prefix ("blk"); NULL: "vub" */
    uint32_t num_queues;            /* 1..VUB_MAX_QUEUES (GET_QUEUE_NUM) */
    uint32_t max_queue_size;        /* largest SET_VRING_NUM, <= 32768; 0: 1024 */
    uint64_t features;              /* virtio features offered (device bits, VERSION_1, EVENT_IDX, RING_PACKED..);
                                 * the library adds VUB_F_PROTOCOL_FEATURES and VUB_F_LOG_ALL */
    uint64_t protocol_features;     /* optional protocol features the device wants on top of the library's
                                 * (VUB_PROTOCOL_OPTIONAL bits: INBAND_NOTIFICATIONS, SHARED_OBJECT,
                                 * INFLIGHT_SHMFD); others are ignored */
    uint64_t protocol_features_off; /* protocol features the library must not offer although it could
                                     * (bit numbers of the spec).  E.g. CONFIGURE_MEM_SLOTS (bit 15): QEMU 7.2's
                                     * vhost-user-rng reconnects without re-sending memory it added with
                                     * ADD_MEM_REG, but re-sends a whole SET_MEM_TABLE */
    const uint16_t *queue_worker;   /* queue index -> worker index (< nworkers), num_queues entries;
                                   * NULL: queue i runs on worker i % nworkers */
    uint32_t config_size;           /* bytes of config space; 0 with get_config: F_CONFIG offered, every
                                 * access is out of range */
    bool track_inflight;            /* the library tracks every queue's requests in flight for reconnects
                                     * (INFLIGHT_SHMFD offered, cvmm/vq/inflight.h): each chain popped is
                                     * recorded in the front-end's inflight buffer until it is used, and a
                                     * ring started with a buffer from before a crash resubmits the requests
                                     * in flight, oldest first, before new ones (vq_pop() gives them out).
                                     * The device may only use vq_pop()/vq_add_used*() on its rings and
                                     * must not write the buffer itself (vub_queue_inflight()) */
} vub_device_info;

#ifdef __cplusplus
}
#endif
#endif
