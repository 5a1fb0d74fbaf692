/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vhu/frontend.h - a small vhost-user front-end (client) that a VMM or a test uses to drive any
 *  back-end, plus the serving side of the back-end channel.
 *
 *  Every request is validated before it is sent and every reply is validated (validate.h) before it is
 *  returned.  When VHU_PROTOCOL_F_REPLY_ACK has been negotiated (vhu_frontend_set_protocol_features()),
 *  each request that has no explicit reply carries NEED_REPLY and the call waits for the ack; a non-zero
 *  ack returns -EREMOTEIO.
 *
 *  Common returns of the request functions: 0; -EINVAL bad argument (nothing sent); -EPROTO the gating
 *  protocol feature is not negotiated (nothing sent) or the reply answers another request;
 *  -EREMOTEIO the back-end answered with an error (non-zero ack, empty GET_CONFIG reply, non-zero
 *  status); -EBADMSG/-EBADF/-EOVERFLOW a malformed reply (the connection turns broken); -ETIMEDOUT the
 *  back-end did not take the request, or did not reply, within timeout_ms (broken); -EPIPE/-ECONNRESET
 *  the back-end is gone; -EIO broken.
 *
 *  Deadlines: no call waits for the back-end without one.  Every send (requests, the postcopy
 *  acknowledgement, answers on the back-end channel) is non-blocking with a deadline of timeout_ms for the
 *  whole frame (cvmm/vhu/conn.h), and every wait for a reply or an ack has its own timeout_ms.  A request
 *  therefore returns within 2 x timeout_ms whatever the back-end does.
 *  fd parameters are borrowed (the back-end receives duplicates); out fds are owned by the caller.
 *
 *  Threads: main-channel calls are owner (one thread at a time).  vhu_frontend_backend_serve() may run on
 *  another thread at the same time (it uses its own socket); its ops run on that thread. */
#ifndef CVMM_VHU_FRONTEND_H
#define CVMM_VHU_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vhu/msg.h"
#include "cvmm/vhu/validate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vhu_frontend vhu_frontend;

/** vhu_frontend_config - what a front-end endpoint is (transparent; zero means default). */
typedef struct vhu_frontend_config {
    const struct cvmm_log *log; /* borrowed, must outlive the front-end; NULL = stderr at WARN */
    const char *name;           /* log prefix, copied; NULL = "vhu-frontend" */
    int timeout_ms;             /* deadline of each send and of each wait for a reply, on both channels;
                                   0 = 5000 ms, < 0 = forever (only for a trusted back-end) */
} vhu_frontend_config;

/** vhu_frontend_connect() - connect to the back-end listening on UNIX socket @path.
 *  Return: 0; -EINVAL NULL argument; -ENAMETOOLONG path too long; connect()/socket() errors; -ENOMEM.
 *  Ownership: *out owned, vhu_frontend_free().  Threads: any. */
int vhu_frontend_connect(const vhu_frontend_config *cfg, const char *path, vhu_frontend **out);

/** vhu_frontend_new() - a front-end on an already connected socket (e.g. one end of a socketpair).
 *  Return: 0; -EINVAL; -ENOMEM.  Ownership: takes @owned_fd (closed on failure too). */
int vhu_frontend_new(const vhu_frontend_config *cfg, int owned_fd, vhu_frontend **out);

/** vhu_frontend_free() - close both channels.  NULL is a no-op.  Threads: nothing may be running on it. */
void vhu_frontend_free(vhu_frontend *f);

/** vhu_frontend_fd() - the main socket (borrowed). */
int vhu_frontend_fd(const vhu_frontend *f);

/** vhu_frontend_request() - the generic call under all the others: validate @req, add NEED_REPLY as
 *  described above, send, and receive the reply into @reply (may be NULL when no explicit reply is owed)
 *  if one is owed.  @reply owns its fds.  Return: the common returns.  Threads: owner. */
int vhu_frontend_request(vhu_frontend *f, vhu_msg *req, vhu_msg *reply);

/* Negotiation.  set_protocol_features() records the set for the validator and REPLY_ACK. */
int vhu_frontend_get_features(vhu_frontend *f, uint64_t *features);
int vhu_frontend_set_features(vhu_frontend *f, uint64_t features);
int vhu_frontend_get_protocol_features(vhu_frontend *f, uint64_t *features);
int vhu_frontend_set_protocol_features(vhu_frontend *f, uint64_t features);
/** vhu_frontend_protocol_features() - the protocol features set last (0 before). */
uint64_t vhu_frontend_protocol_features(const vhu_frontend *f);
int vhu_frontend_set_owner(vhu_frontend *f);
int vhu_frontend_reset_owner(vhu_frontend *f);
int vhu_frontend_get_queue_num(vhu_frontend *f, uint64_t *num);
int vhu_frontend_get_max_mem_slots(vhu_frontend *f, uint64_t *slots);

/* Memory.  fds[i] backs regions[i].  After vhu_frontend_postcopy_listen(), SET_MEM_TABLE and ADD_MEM_REG
 * wait for the back-end's mappings and acknowledge them with an empty SET_MEM_TABLE / ADD_MEM_REG. */
int vhu_frontend_set_mem_table(vhu_frontend *f, const vhu_mem_region *regions, const int *fds, uint32_t n);
int vhu_frontend_add_mem_reg(vhu_frontend *f, const vhu_mem_region *region, int fd);
int vhu_frontend_rem_mem_reg(vhu_frontend *f, const vhu_mem_region *region);
/** @fd < 0: legacy u64 form (no LOG_SHMFD), only log->size is sent. */
int vhu_frontend_set_log_base(vhu_frontend *f, const vhu_log *log, int fd);
int vhu_frontend_set_log_fd(vhu_frontend *f, int fd);

/* Vrings.  kick/call/err @fd < 0 sends the NOFD bit (polling). */
int vhu_frontend_set_vring_num(vhu_frontend *f, uint32_t index, uint32_t num);
int vhu_frontend_set_vring_addr(vhu_frontend *f, const vhu_vring_addr *addr);
int vhu_frontend_set_vring_base(vhu_frontend *f, uint32_t index, uint32_t base);
int vhu_frontend_get_vring_base(vhu_frontend *f, uint32_t index, uint32_t *base);
int vhu_frontend_set_vring_kick(vhu_frontend *f, uint32_t index, int fd);
int vhu_frontend_set_vring_call(vhu_frontend *f, uint32_t index, int fd);
int vhu_frontend_set_vring_err(vhu_frontend *f, uint32_t index, int fd);
int vhu_frontend_set_vring_enable(vhu_frontend *f, uint32_t index, bool enable);
int vhu_frontend_set_vring_endian(vhu_frontend *f, uint32_t index, uint32_t big_endian);
/** In-band kick (VRING_KICK, needs INBAND_NOTIFICATIONS). */
int vhu_frontend_vring_kick(vhu_frontend *f, uint32_t index);

/* Config space.  get_config(): -EREMOTEIO when the back-end answers with an empty payload. */
int vhu_frontend_get_config(vhu_frontend *f, uint32_t offset, void *buf, uint32_t size, uint32_t flags);
int vhu_frontend_set_config(vhu_frontend *f, uint32_t offset, const void *buf, uint32_t size, uint32_t flags);

/* Misc device requests. */
int vhu_frontend_send_rarp(vhu_frontend *f, const uint8_t mac[6]);
int vhu_frontend_net_set_mtu(vhu_frontend *f, uint64_t mtu);
/** @status: the u64 reply (0 = success). */
int vhu_frontend_iotlb_msg(vhu_frontend *f, const vhu_iotlb_msg *msg, uint64_t *status);
/** Opaque crypto session bytes (see msg.h); the reply overwrites @session (same capacity @cap). */
int vhu_frontend_create_crypto_session(vhu_frontend *f, void *session, uint32_t size, uint32_t cap,
                                       uint32_t *reply_size);
int vhu_frontend_close_crypto_session(vhu_frontend *f, uint64_t session_id);
/** *uffd: the back-end's userfaultfd (owned by the caller). */
int vhu_frontend_postcopy_advise(vhu_frontend *f, int *uffd);
int vhu_frontend_postcopy_listen(vhu_frontend *f);
int vhu_frontend_postcopy_end(vhu_frontend *f, uint64_t *status);
int vhu_frontend_get_inflight_fd(vhu_frontend *f, uint16_t num_queues, uint16_t queue_size, vhu_inflight *out, int *fd);
int vhu_frontend_set_inflight_fd(vhu_frontend *f, const vhu_inflight *inflight, int fd);
int vhu_frontend_gpu_set_socket(vhu_frontend *f, int fd);
int vhu_frontend_reset_device(vhu_frontend *f);
int vhu_frontend_set_status(vhu_frontend *f, uint8_t status);
int vhu_frontend_get_status(vhu_frontend *f, uint8_t *status);
/** *fd: the dma-buf fd (owned), -1 when the back-end sent none (then -ENOENT). */
int vhu_frontend_get_shared_object(vhu_frontend *f, const vhu_shared_object *obj, int *fd);
/** Device state: @fd our end of the channel; *backend_fd the back-end's own channel if it returned one
 *  (owned, else -1).  A non-zero status returns -EREMOTEIO. */
int vhu_frontend_set_device_state_fd(vhu_frontend *f, uint32_t direction, uint32_t phase, int fd, int *backend_fd);
int vhu_frontend_check_device_state(vhu_frontend *f);
/** GET_SHMEM_CONFIG (needs VHU_PROTOCOL_F_SHMEM, bit 22).  The reply is validated (nregions equals the
 *  number of non-zero sizes, page-aligned sizes) and kept to bound SHMEM_MAP/UNMAP requests (outside a
 *  region: nacked with EFAULT before any op runs).  The spec says the answer never changes during a
 *  connection: a different second answer returns -EPROTO and the first one stays in force. */
int vhu_frontend_get_shmem_config(vhu_frontend *f, vhu_shmem_config *out);

/* ------------------------------------------------------------------------------------------------------ */
/* The back-end channel                                                                                    */

/** Handlers for back-end requests.  NULL = not supported: the request is answered with ENOTSUP.
 *  Each returns 0 or -errno, which becomes the ack (0 or the positive errno) when the back-end asked for
 *  one.  They run on the thread that calls vhu_frontend_backend_serve(). */
typedef struct vhu_frontend_backend_ops {
    /** IOTLB_MSG from the back-end (a miss or an access failure). */
    int (*iotlb_msg)(void *ctx, const vhu_iotlb_msg *msg);
    /** CONFIG_CHANGE_MSG: the device's config space changed. */
    int (*config_change)(void *ctx);
    /** *fd: the notifier fd or -1 (unregister); take it by setting *fd = -1, else it is closed after. */
    int (*vring_host_notifier)(void *ctx, const vhu_vring_area *area, int *fd);
    /** VRING_CALL (in-band notifications): vring @index has used buffers. */
    int (*vring_call)(void *ctx, uint32_t index);
    /** VRING_ERR (in-band notifications): vring @index is broken. */
    int (*vring_err)(void *ctx, uint32_t index);
    /** SHARED_OBJECT_ADD: the back-end exports @obj. */
    int (*shared_object_add)(void *ctx, const vhu_shared_object *obj);
    /** SHARED_OBJECT_REMOVE: the back-end withdraws @obj. */
    int (*shared_object_remove)(void *ctx, const vhu_shared_object *obj);
    /** On 0, *out_fd must be an fd; it is sent to the back-end and then closed (the op gives it up). */
    int (*shared_object_lookup)(void *ctx, const vhu_shared_object *obj, int *out_fd);
    /** *fd: the fd to map; take it by setting *fd = -1, else it is closed after the op returns.  The range
     *  was checked against the GET_SHMEM_CONFIG answer if the front-end asked for one; refusing a map over
     *  an existing mapping (spec: "shall fail") is the op's job, it knows its mappings. */
    int (*shmem_map)(void *ctx, const vhu_mmap *map, int *fd);
    /** SHMEM_UNMAP: unmap [shm_offset, +len) of region shmid. */
    int (*shmem_unmap)(void *ctx, const vhu_mmap *map);
} vhu_frontend_backend_ops;

/** vhu_frontend_set_backend_req_fd() - create a socketpair, send one end with SET_BACKEND_REQ_FD (needs
 *  BACKEND_REQ) and keep the other (non-blocking) to serve with @ops/@ctx.  Call it after
 *  vhu_frontend_set_protocol_features(): the channel uses the features negotiated at this point.
 *  Return: the common returns; -EBUSY a channel exists.  Ownership: @ops and @ctx borrowed, must outlive
 *  the front-end.  Threads: owner. */
int vhu_frontend_set_backend_req_fd(vhu_frontend *f, const vhu_frontend_backend_ops *ops, void *ctx);

/** vhu_frontend_backend_fd() - our end of the back-end channel, to poll; -1 if none. */
int vhu_frontend_backend_fd(const vhu_frontend *f);

/** vhu_frontend_backend_serve() - receive, validate and dispatch one back-end request, answering it if an
 *  answer is owed.  Invalid requests are answered with their errno when an ack is owed, and their fds
 *  are closed.
 *  Return: 0 one request handled (whatever the op returned); -EAGAIN nothing complete yet;
 *  -ETIMEDOUT (when @timeout_ms != 0: waited that long, 0 = do not wait, < 0 = forever);
 *  -ENOTCONN no channel; -ECONNRESET the back-end closed it; a validation errno (the request was
 *  rejected and answered); -EIO broken.  Threads: one thread at a time (may differ from the owner). */
int vhu_frontend_backend_serve(vhu_frontend *f, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
