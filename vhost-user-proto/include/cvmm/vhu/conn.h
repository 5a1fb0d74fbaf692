/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vhu/conn.h - vhost-user framing over a UNIX stream socket.
 *
 *  Sending: header + payload in one sendmsg() with the fds as SCM_RIGHTS on it (the spec: fds go with the
 *  first byte of the header), MSG_NOSIGNAL, EINTR retried, a partial write finished without fds.  A send
 *  never blocks inside sendmsg(), whatever the socket's mode: every call is MSG_DONTWAIT, and while the
 *  socket is full the sender polls for room against ONE deadline for the whole frame (timeout_ms, default
 *  5000 ms).  A peer that does not take the frame by then is treated as gone: the send fails with
 *  -ETIMEDOUT, one line is logged, and the connection is broken (nothing of a later frame may follow a
 *  half-sent one, and an unread reply cannot be taken back).  So a front-end that stops reading can hold
 *  the sending thread for at most timeout_ms per connection.
 *
 *  Receiving is resumable, for blocking and non-blocking sockets alike: the connection keeps the message
 *  it is assembling (header, then exactly hdr.size payload bytes, never a byte of the next message, so the
 *  next message's fds cannot arrive early).  Each vhu_conn_recv() reads what the socket has and returns 0
 *  with a complete message or -EAGAIN; call it again when the fd is readable.  fds are accepted with any
 *  recvmsg() of the message (at most VHU_MAX_FDS in all), with MSG_CMSG_CLOEXEC; MSG_CTRUNC (the peer
 *  sent more fds than fit) is detected, the fds that did arrive are closed and the message is reported
 *  as -EBADF once it is complete, so the stream stays in step.
 *
 *  A connection turns *broken* on an error it cannot recover from (a bad header, EOF inside a message, a
 *  socket error, a send the peer does not take within timeout_ms): it logs once and every later call
 *  returns -EIO.
 *
 *  No stale message: a receive that fails (any return but 0, -EAGAIN and -EBADF) overwrites the caller's
 *  vhu_msg with an empty one (header all zero, i.e. request VHU_REQ_NONE and size 0, payload zero, nfds 0,
 *  fds -1; fds it held are not closed: *m is output only), so a buffer that held the previous message can
 *  never be taken for the one that failed.  -EAGAIN leaves *m untouched.
 *
 *  Threads: owner per direction.  One thread may send while another receives (their state is separate);
 *  two threads must not send (or receive) on one connection at the same time. */
#ifndef CVMM_VHU_CONN_H
#define CVMM_VHU_CONN_H

#include <stdbool.h>

#include "cvmm/log.h"
#include "cvmm/vhu/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vhu_conn vhu_conn;

/** vhu_conn_config - what a connection is (transparent; zero means default). */
typedef struct vhu_conn_config {
    const struct cvmm_log *log; /* borrowed, must outlive the connection; NULL = stderr at WARN */
    const char *name;           /* log prefix, copied (up to 31 chars); NULL = "vhu" */
    int timeout_ms;             /* deadline of every send (the whole frame) and of vhu_conn_recv_wait()
                                   when given 0; 0 = 5000 ms, < 0 = forever (only for trusted peers) */
} vhu_conn_config;

/** vhu_conn_new() - wrap a connected UNIX stream socket.  Blocking or non-blocking, as the caller set it.
 *  Return: 0; -EINVAL NULL out or owned_fd < 0; -ENOMEM.  Ownership: takes @owned_fd (closed on failure
 *  too); @cfg copied (may be NULL); *out owned, free with vhu_conn_free().  Threads: any. */
int vhu_conn_new(const vhu_conn_config *cfg, int owned_fd, vhu_conn **out);

/** vhu_conn_free() - close the socket and any fds of a half-received message.  NULL is a no-op. */
void vhu_conn_free(vhu_conn *c);

/** vhu_conn_fd() - the socket, to poll (borrowed: valid until vhu_conn_free()). */
int vhu_conn_fd(const vhu_conn *c);

/** vhu_conn_broken() - has the connection failed for good? */
bool vhu_conn_broken(const vhu_conn *c);

/** vhu_conn_send() - send @m (12 + hdr.size bytes and fds[0..nfds)), waiting for room in the socket for
 *  at most timeout_ms in all (blocking and non-blocking sockets alike; it never blocks in sendmsg()).
 *  Return: 0 sent whole; -EINVAL hdr.size > VHU_PAYLOAD_MAX or nfds > VHU_MAX_FDS; -EBADF an fds[i]
 *  (i < nfds) is negative or not open (nothing sent, the connection stays usable); -EPIPE the peer
 *  closed; -ETIMEDOUT the peer did not take the whole frame within timeout_ms (none or part of it went
 *  out; broken, logged); -EIO broken; other -errno from sendmsg or poll (broken).  Ownership: borrows @m and its fds (the peer gets duplicates).  Threads: owner
 *  of the sending side. */
int vhu_conn_send(vhu_conn *c, const vhu_msg *m);

/** vhu_conn_recv() - continue receiving; on completion move the message into @m.
 *  A failure clears *m (see "No stale message" above).
 *  Return: 0 *m is a complete frame (framing checked, not validated: see validate.h) and owns its fds;
 *  -EAGAIN need more bytes (non-blocking socket; the partial message stays in @c; *m untouched);
 *  -ECONNRESET the peer closed the socket between messages;
 *  -EIO the peer closed inside a message, or @c is broken;
 *  -EBADMSG bad header (version, flag bits, size > VHU_PAYLOAD_MAX): the stream cannot be resynchronised,
 *   @c turns broken;
 *  -EBADF the message arrived whole but its fds did not (MSG_CTRUNC, more than VHU_MAX_FDS, other control
 *   data): m->hdr is filled so the caller can nack it, m holds no fds (they were closed), @c stays usable;
 *  other -errno from recvmsg (broken).
 *  Ownership: on 0, *m owns its fds (vhu_msg_close_fds() after dispatch).  Threads: owner of the
 *  receiving side. */
int vhu_conn_recv(vhu_conn *c, vhu_msg *m);

/** vhu_conn_recv_wait() - vhu_conn_recv() that polls while it gets -EAGAIN, for up to @timeout_ms
 *  (0 = the connection's timeout_ms, < 0 = forever).  It reads with MSG_DONTWAIT, so the timeout holds on
 *  a blocking socket too.  Return: as vhu_conn_recv(), or -ETIMEDOUT (the
 *  partial message, if any, is kept).  Threads: owner of the receiving side. */
int vhu_conn_recv_wait(vhu_conn *c, vhu_msg *m, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
