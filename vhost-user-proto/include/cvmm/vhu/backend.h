/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vhu/backend.h - the back-end endpoint: the socket on which a back-end receives the front-end's
 *  requests and sends its replies, and the back-end channel (SET_BACKEND_REQ_FD) on which it sends its own
 *  requests to the front-end.  vhost-user-backend's daemon is built on these; it owns the device logic.
 *
 *  A typical loop (the socket may be non-blocking, driven by an event loop):
 *
 *      vhu_msg m;
 *      int rc = vhu_backend_recv(b, &m);          // -EAGAIN: wait for readability and call again
 *      if (rc == 0) {
 *          int err = handle(&m);                  // may move fds out: int fd = m.fds[0]; m.fds[0] = -1;
 *          if (vhu_req_owed(&m, ...) == VHU_OWED_REPLY) vhu_backend_reply(b, &m, &payload, size, NULL, 0);
 *          else vhu_backend_ack(b, &m, err);        // sends a REPLY_ACK only if one is owed
 *          vhu_msg_close_fds(&m);
 *      }
 *
 *  The endpoint tracks what the protocol needs from the stream itself: the acked protocol features
 *  (from a valid SET_PROTOCOL_FEATURES) and postcopy listening (POSTCOPY_LISTEN .. POSTCOPY_END).
 *  Threads: a vhu_backend is owned by one thread (the control loop); vhu_backend_channel functions may be
 *  called from any thread (a mutex serialises each request with its reply). */
#ifndef CVMM_VHU_BACKEND_H
#define CVMM_VHU_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vhu/msg.h"
#include "cvmm/vhu/validate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vhu_backend vhu_backend;

/** vhu_backend_config - what a back-end endpoint is (transparent; zero means default). */
typedef struct vhu_backend_config {
    const struct cvmm_log *log; /* borrowed, must outlive the endpoint; NULL = stderr at WARN */
    const char *name;           /* log prefix, copied; NULL = "vhu-backend" */
    uint64_t protocol_features; /* what the back-end offers in GET_PROTOCOL_FEATURES: a SET_PROTOCOL_FEATURES
                                   with other bits is rejected (-EPROTO) */
    uint32_t num_queues;        /* vring indices are checked against it centrally; 0 = not checked */
    int timeout_ms;             /* deadline of each reply sent (the whole frame) and of the postcopy ack wait;
                                   0 = 5000 ms, < 0 = forever.  A front-end that does not read a reply
                                   within it breaks the connection (the send fails -ETIMEDOUT, logged) */
} vhu_backend_config;

/** vhu_backend_new() - an endpoint on a connected socket.  Return: 0; -EINVAL; -ENOMEM.
 *  Ownership: takes @owned_fd (closed on failure too); @cfg copied; *out owned, vhu_backend_free().
 *  Threads: any. */
int vhu_backend_new(const vhu_backend_config *cfg, int owned_fd, vhu_backend **out);

/** vhu_backend_free() - close the socket.  NULL is a no-op. */
void vhu_backend_free(vhu_backend *b);

/** vhu_backend_fd() - the socket, to poll.  Borrowed. */
int vhu_backend_fd(const vhu_backend *b);

/** vhu_backend_broken() - has the connection failed for good (framing error, EOF, socket error, a reply
 *  the front-end did not take within timeout_ms)?  Then every call fails with -EIO: close it.  After a
 *  failed vhu_backend_recv() this is how to tell a rejected request (the connection goes on, m->hdr is the
 *  request's) from a broken stream (m was cleared: there is no request to answer).  Threads: any. */
bool vhu_backend_broken(const vhu_backend *b);

/** vhu_backend_ctx() - the validator context the endpoint maintains (negotiated protocol features,
 *  num_queues, postcopy state).  Borrowed, valid until vhu_backend_free(). */
const vhu_validate_ctx *vhu_backend_ctx(const vhu_backend *b);

/** vhu_backend_set_num_queues() - change the queue count used by the central index check (0 = off). */
void vhu_backend_set_num_queues(vhu_backend *b, uint32_t num_queues);

/** vhu_backend_set_protocol_features() - act as if a valid SET_PROTOCOL_FEATURES with @features had been
 *  received (bits not offered are dropped).  For a back-end that carries the features of a previous
 *  connection over to a front-end that reconnects without negotiating again (QEMU 7.2's vhost-user-rng in
 *  server mode does).  Added for vhost-user-backend.  Threads: owner. */
void vhu_backend_set_protocol_features(vhu_backend *b, uint64_t features);

/** vhu_backend_recv() - receive one request and validate it (validate.h).
 *  Return: 0 *m is a valid request and owns its fds;
 *   -EAGAIN not complete yet (non-blocking socket);
 *   -ECONNRESET the front-end closed the socket; -EIO broken (closed mid-message, socket error);
 *   a rejection: -ENOTSUP, -EPROTO, -EBADMSG, -EBADF, -EOVERFLOW (see validate.h), also -EPROTO for a
 *   SET_PROTOCOL_FEATURES with bits the back-end did not offer or with INBAND_NOTIFICATIONS but not both
 *   BACKEND_REQ and REPLY_ACK (the spec says the back-end should then close the connection).
 *   On a rejection the message's fds are already closed, m->hdr holds its header, and the endpoint has
 *   already answered if the spec defines an error answer: a REPLY_ACK of the errno when an ack is owed,
 *   an empty GET_CONFIG reply.  When a reply without error form is owed (e.g. GET_FEATURES with a
 *   payload), nothing is sent: close the connection, the front-end waits for it.  One exception: a
 *   GET_SHMEM_CONFIG refused because VHU_PROTOCOL_F_SHMEM is not negotiated (-EPROTO) may instead be
 *   answered with an all-zero vhu_shmem_config through vhu_backend_reply().
 *  Ownership: see cvmm/vhu/msg.h.  Threads: owner. */
int vhu_backend_recv(vhu_backend *b, vhu_msg *m);

/** vhu_backend_reply() - send an explicit reply to @req: the same request id, VHU_FLAG_REPLY, @size bytes
 *  of @payload and @nfds fds.  The reply is validated against @req first (e.g. a GET_SHMEM_CONFIG with a
 *  size that is not page aligned never reaches the wire).
 *  GET_SHMEM_CONFIG without VHU_PROTOCOL_F_SHMEM negotiated (vhu_backend_recv() refused it with -EPROTO):
 *  the spec defines the message only once F_SHMEM is negotiated and gives its reply no error form.  So
 *  that a front-end that sends it anyway does not wait forever, exactly one reply is accepted then: an
 *  all-zero vhu_shmem_config (sizeof bytes, no fds: "no shared memory regions"); any other is -EINVAL.
 *  Return: 0; -EINVAL invalid reply (logged); vhu_conn_send() errors.  Ownership: borrows everything (the
 *  fds stay the caller's).  Threads: owner. */
int vhu_backend_reply(vhu_backend *b, const vhu_msg *req, const void *payload, uint32_t size, const int *fds,
                      uint32_t nfds);

/** vhu_backend_reply_u64() - vhu_backend_reply() with a u64 payload. */
int vhu_backend_reply_u64(vhu_backend *b, const vhu_msg *req, uint64_t v);

/** vhu_backend_ack() - answer @req with a REPLY_ACK if one is owed (vhu_req_owed() == VHU_OWED_ACK):
 *  u64 0 for @status 0, else the positive errno (-@status).  Return: 0 (also when nothing was owed);
 *  vhu_conn_send() errors.  Threads: owner. */
int vhu_backend_ack(vhu_backend *b, const vhu_msg *req, int status);

/** vhu_backend_recv_postcopy_ack() - after replying to SET_MEM_TABLE or ADD_MEM_REG while postcopy
 *  listening, wait (up to timeout_ms) for the front-end's acknowledgement: the same request id with an
 *  8-byte zero payload ("an empty VHOST_USER_SET_MEM_TABLE"; QEMU sends it with the REPLY flag set, which
 *  is accepted here and only here).  Only then may the guest fault on the regions.
 *  Return: 0; -EPROTO another message came (it is dropped, its fds closed); -EBADMSG wrong size or fds;
 *  -EREMOTEIO a non-zero value; -ETIMEDOUT; vhu_conn_recv() errors.  Threads: owner. */
int vhu_backend_recv_postcopy_ack(vhu_backend *b, const vhu_msg *req);

/* ------------------------------------------------------------------------------------------------------ */
/* The back-end channel (back-end -> front-end requests)                                                   */

typedef struct vhu_backend_channel vhu_backend_channel;

/** vhu_backend_channel_config - what a back-end channel is (transparent; zero means default). */
typedef struct vhu_backend_channel_config {
    const struct cvmm_log *log; /* borrowed; NULL = stderr at WARN */
    const char *name;           /* log prefix, copied; NULL = "vhu-backend-channel" */
    uint64_t protocol_features; /* negotiated protocol features (gates, REPLY_ACK) */
    uint32_t num_queues;        /* index check on VRING_CALL/ERR/HOST_NOTIFIER; 0 = off */
    int timeout_ms;             /* deadline of each send (the whole frame) and of each wait for the front-
                                   end's answer; 0 = 5000 ms, < 0 = forever (only for a trusted peer) */
    bool no_need_reply;         /* do not set NEED_REPLY even with REPLY_ACK (fire and forget) */
} vhu_backend_channel_config;

/** vhu_backend_channel_new() - wrap the fd received with SET_BACKEND_REQ_FD (move it out of the message).
 *  Return: 0; -EINVAL; -ENOMEM.  Ownership: takes @owned_fd; *out owned, vhu_backend_channel_free(). */
int vhu_backend_channel_new(const vhu_backend_channel_config *cfg, int owned_fd, vhu_backend_channel **out);

/** vhu_backend_channel_free() - close the channel.  NULL is a no-op.  Threads: no call may be running. */
void vhu_backend_channel_free(vhu_backend_channel *ch);

/** vhu_backend_channel_request() - validate and send @req (id = enum vhu_backend_req; NEED_REPLY is
 *  added when REPLY_ACK is negotiated unless no_need_reply), then wait for the answer if one is owed.
 *  @reply (may be NULL) receives the answer and owns its fds.
 *  The channel is a socket the front-end gave us and may never read: the send never blocks (it waits for
 *  room for at most timeout_ms, then fails), and the wait for an answer ends after timeout_ms too, so one
 *  request takes at most 2 x timeout_ms.
 *  Return: 0 the front-end acked 0 (or nothing was owed); -EREMOTEIO it answered non-zero;
 *  -EINVAL @req is invalid (validation errno logged); -EPROTO gating feature not negotiated;
 *  -ETIMEDOUT the front-end did not take the request, or did not answer, in time; -EPIPE/-ECONNRESET the
 *  front-end is gone; -EIO broken (after a timeout or a malformed answer the channel is broken and says so
 *  in one log line: a late answer would be taken for the next one, so drop the channel).
 *  Ownership: borrows @req and its fds.  Threads: any (serialised). */
int vhu_backend_channel_request(vhu_backend_channel *ch, vhu_msg *req, vhu_msg *reply);

/* Typed requests; each returns as vhu_backend_channel_request().  fds are borrowed. */
int vhu_backend_channel_iotlb_msg(vhu_backend_channel *ch, const vhu_iotlb_msg *msg);
int vhu_backend_channel_config_change(vhu_backend_channel *ch);
/** @fd < 0: unregister the host notifier (NOFD bit set). */
int vhu_backend_channel_vring_host_notifier(vhu_backend_channel *ch, uint32_t index, uint64_t size, uint64_t offset,
                                            int fd);
int vhu_backend_channel_vring_call(vhu_backend_channel *ch, uint32_t index);
int vhu_backend_channel_vring_err(vhu_backend_channel *ch, uint32_t index);
int vhu_backend_channel_shared_object_add(vhu_backend_channel *ch, const vhu_shared_object *obj);
int vhu_backend_channel_shared_object_remove(vhu_backend_channel *ch, const vhu_shared_object *obj);
/** *out_fd: the dma-buf fd (owned by the caller) on success, -1 otherwise. */
int vhu_backend_channel_shared_object_lookup(vhu_backend_channel *ch, const vhu_shared_object *obj, int *out_fd);
/** SHMEM_MAP: map [fd_offset, +len) of @fd (borrowed) at shm_offset of region shmid. */
int vhu_backend_channel_shmem_map(vhu_backend_channel *ch, const vhu_mmap *map, int fd);
int vhu_backend_channel_shmem_unmap(vhu_backend_channel *ch, const vhu_mmap *map);

#ifdef __cplusplus
}
#endif
#endif
