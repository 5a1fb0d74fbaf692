/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/daemon.h - a complete vhost-user back-end around one device.
 *
 *  The daemon owns the control connection (on a libev loop: the program's own, or one it creates), the
 *  protocol state machine, guest memory (a vmem_guest published to the workers), and the worker threads,
 *  each with its own ev_loop_new() loop reached only through ev_async_send().  Each worker watches the kick
 *  eventfds of its queues (any number of them) and runs the device's queue ops.
 *
 *  Life cycle: vub_daemon_new(); one of vub_daemon_listen() / vub_daemon_serve_fd() / vub_daemon_connect();
 *  vub_daemon_run() until vub_daemon_stop(), a signal (handle_signals), or the end of the connection with
 *  serve_once; vub_daemon_free().  When a front-end disconnects the daemon stops every ring, resets the
 *  device, forgets guest memory, and waits for the next connection (listen: accept; client mode: connect
 *  again every 100 ms), unless serve_once.
 *
 *  What a reconnect carries: the protocol features, and nothing else (virtio features, owner, status,
 *  memory, rings, dirty log, inflight area, back-end channel and shmem config are per connection).  The
 *  spec negotiates protocol features per connection, and QEMU with reconnect=1, libvhost-user and DPDK
 *  start each connection from nothing; QEMU 7.2's vhost-user-rng in server mode instead goes on after a
 *  reconnect as if the previous negotiation still held.  So a new connection starts with the carried set:
 *  the protocol features in effect when the last connection that delivered at least one whole message
 *  ended (a connection closed before its first whole message, e.g. on a bad or partial header, changes
 *  nothing; a set negotiated as 0 is carried as 0); in a new process, what the daemon offers but
 *  GPA_ADDRESSES, INBAND_NOTIFICATIONS and SHMEM.  The connection's first whole message decides:
 *  GET_FEATURES, GET_PROTOCOL_FEATURES, SET_OWNER or RESET_OWNER starts a negotiation (the set drops to
 *  0), SET_PROTOCOL_FEATURES replaces it, anything else goes on with it.
 *
 *  Peers are untrusted: the daemon never blocks on the front-end (see peer_timeout_ms), and a message
 *  that fails to arrive (framing error, EOF inside it) closes the connection without anything being
 *  decided from an older message.  Every fd a message carries is checked for the kind the message needs
 *  before anything uses it: an eventfd for SET_VRING_KICK/CALL/ERR and SET_LOG_FD; a regular file (memfd,
 *  shm, hugetlbfs) open read-write for SET_MEM_TABLE, ADD_MEM_REG, SET_LOG_BASE and SET_INFLIGHT_FD; a
 *  pipe or socket open in the transfer's direction for SET_DEVICE_STATE_FD; a connected UNIX stream
 *  socket for SET_BACKEND_REQ_FD; never an O_PATH descriptor.  A wrong one gets an error reply (REPLY_ACK
 *  or the request's own error form) and one log line.  The eventfds and the state transfer fd are made
 *  non-blocking: O_NONBLOCK is shared with the front-end's copy, which is how QEMU, DPDK and rust-vmm
 *  create their eventfds anyway.  So a kick read never blocks (one eventfd may kick several rings), and a
 *  call or err eventfd whose counter the front-end filled counts as signalled (logged once per fd).
 *
 *  Threads: every function is `control` (the thread that calls vub_daemon_run()) unless said otherwise. */
#ifndef CVMM_VUB_DAEMON_H
#define CVMM_VUB_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vub/backend.h"
#include "cvmm/vub/device.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;

/** The default of vub_daemon_config.peer_timeout_ms: the longest the control thread (or a device thread
 *  sending a back-end request) waits for the front-end to take one message or to answer one request. */
#define VUB_PEER_TIMEOUT_MS_DEFAULT 5000

/** The default busy-poll budget of a queue (vub_daemon_config.busy_poll_us, cvmm/vub/queue.h's
 *  vub_queue_drained()), in microseconds: long enough to bridge the gap between two bursts of a busy driver,
 *  short enough that an idle ring costs nothing measurable. */
#define VUB_BUSY_POLL_US_DEFAULT 50
/** A busy-poll budget that never ends: the rings are polled, kicks stay off (vub_daemon_config.poll). */
#define VUB_BUSY_POLL_ALWAYS 0x7fffffffu

typedef struct vub_daemon vub_daemon;

/** vub_daemon_config - transparent; zero means default. */
typedef struct vub_daemon_config {
    const vub_device_ops *ops;   /* borrowed, outlives the daemon; ops->queue_kicked or ops->request required */
    const vub_device_info *info; /* borrowed, outlives the daemon */
    void *ctx;                   /* passed to every op */
    unsigned nworkers;           /* worker threads, 1..VUB_MAX_WORKERS; 0: 1 + the largest queue_worker entry */
    const struct cvmm_log *log;  /* borrowed, outlives the daemon; NULL: stderr at WARN */
    struct ev_loop *loop;        /* control loop, borrowed; NULL: the daemon makes its own ev_loop_new() */
    bool serve_once;             /* return from vub_daemon_run() after the first connection ends */
    int peer_timeout_ms;         /* deadline of every send to the front-end (replies on the main socket,
                                  * requests on the back-end channel) and of every wait for its answer;
                                  * 0: VUB_PEER_TIMEOUT_MS_DEFAULT; < 0: forever (only for a trusted
                                  * front-end).  A front-end that does not read a reply in time loses its
                                  * connection; one that does not read the back-end channel loses the
                                  * channel (the request fails with -EIO); both are logged. */
    int busy_poll_us;            /* after a device found its ring empty (vub_queue_drained()), keep kicks off
                                  * and look at the ring for up to this many microseconds, adapting the
                                  * budget to what polling finds (cvmm/vub/queue.h); 0:
                                  * VUB_BUSY_POLL_US_DEFAULT; < 0: off (ask for kicks at once) */
    bool poll;                   /* poll every ring for ever, kicks off (a worker then uses its CPU fully,
                                  * also while the driver is idle); overrides busy_poll_us */
    bool handle_signals;         /* SIGTERM/SIGINT stop vub_daemon_run() (needs the default loop, or NULL loop
                                  * in a program that has no other default-loop user: then the daemon uses
                                  * ev_default_loop()) */
} vub_daemon_config;

/** vub_daemon_new() - check the device, start the workers (idle until a ring starts).
 *  Return: 0; -EINVAL NULL cfg/ops/info, neither queue_kicked nor request, num_queues 0 or > 256, max_queue_size > 32768,
 *  nworkers > 64, a queue_worker entry >= nworkers; -ENOMEM; -EAGAIN a thread could not start.
 *  Ownership: *out owned, vub_daemon_free().  Threads: any (the caller becomes the control thread). */
int vub_daemon_new(const vub_daemon_config *cfg, vub_daemon **out);

/** vub_daemon_free() - close the connection (the device is reset first), stop and join the workers,
 *  free everything.  NULL no-op.  Threads: control, not inside vub_daemon_run(). */
void vub_daemon_free(vub_daemon *d);

/** vub_daemon_listen() - bind a listening UNIX socket at @path (a stale socket file is replaced) and accept
 *  front-ends one at a time.  Return: 0; -EINVAL path too long; -EBUSY already serving; socket errno. */
int vub_daemon_listen(vub_daemon *d, const char *path);

/** vub_daemon_serve_fd() - serve @owned_fd: a listening socket (accept, as vub_daemon_listen()) or a
 *  connected one (--fd=FDNUM).  Return: 0; -EBADF not a socket; -EBUSY already serving (fd closed).
 *  Ownership: takes @owned_fd on every path. */
int vub_daemon_serve_fd(vub_daemon *d, int owned_fd);

/** vub_daemon_connect() - client mode: connect to a front-end listening at @path, retrying every 100 ms
 *  until it is there (and again after each disconnect unless serve_once).
 *  Return: 0 (connected or retrying); -EINVAL path too long; -EBUSY already serving. */
int vub_daemon_connect(vub_daemon *d, const char *path);

/** vub_daemon_run() - run the control loop until vub_daemon_stop(), a handled signal, or (serve_once) the
 *  end of the connection.  Return: 0; -EPROTO nothing to serve. */
int vub_daemon_run(vub_daemon *d);

/** vub_daemon_stop() - make vub_daemon_run() return soon; the connection is closed and the device reset
 *  first.  Threads: any (also from a signal handler's thread: it only does ev_async_send()). */
void vub_daemon_stop(vub_daemon *d);

/** vub_daemon_backend() - the handle for back-end requests (cvmm/vub/backend.h).  Borrowed, valid while
 *  the daemon lives.  Threads: any. */
vub_backend *vub_daemon_backend(vub_daemon *d);

/** vub_daemon_loop() - the control loop.  Borrowed.  Threads: any (using it: control). */
struct ev_loop *vub_daemon_loop(vub_daemon *d);

/** vub_daemon_queue() - queue @index (< num_queues), for vub_queue_kick() from device threads.
 *  Return: the queue, or NULL if out of range.  Threads: any. */
vub_queue *vub_daemon_queue(vub_daemon *d, unsigned index);

/** vub_daemon_connected() - a front-end is connected now.  Threads: control. */
bool vub_daemon_connected(const vub_daemon *d);

/** vub_daemon_features() / vub_daemon_protocol_features() - what the current front-end acked (0 if
 *  none).  Threads: any (atomic reads; a worker op sees the features acked before its ring started). */
uint64_t vub_daemon_features(const vub_daemon *d);
uint64_t vub_daemon_protocol_features(const vub_daemon *d);

#ifdef __cplusplus
}
#endif
#endif
