/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** daemon_harness.h - a complete vhost-user daemon (vub_daemon on its own control thread, listening on a
 *  UNIX socket) and a raw front-end that can send any message, for the stateful fuzz targets.
 *
 *  dh_request() sends one message (any header, any payload bytes, any fds) and then checks what the daemon
 *  owes for it, with vhu_req_owed() and the protocol features the daemon reports:
 *    - a message with a framing error must make the daemon close the connection;
 *    - an owed reply or REPLY_ACK must arrive (or the daemon closes the connection) within DH_TIMEOUT_MS (30 s: a bound for a hang, not a speed test; 5 s failed under load);
 *    - no reply may arrive that was not owed (a reply with another request id, or one more).
 *  Where the owed answer depends on state the harness cannot see yet (the first message of a connection,
 *  SET_PROTOCOL_FEATURES itself), one reply is allowed and a GET_FEATURES round trip resynchronises.
 *  dh_stop() checks that the daemon still answers, frees it and checks that no fd leaked.  Any broken
 *  invariant aborts through fuzz_fail(). */
#ifndef CVMM_FUZZ_DAEMON_HARNESS_H
#define CVMM_FUZZ_DAEMON_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vhu.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vub.h"
#include "fuzz_fds.h"

#define DH_TIMEOUT_MS 30000
#define DH_UVA_BASE 0x7f0000000000ull /* front-end address of gpa 0 */
#define DH_MEM (1ull << 20)           /* guest memory: one memfd region at gpa 0 */
#define DH_RINGS_MAX 8

/* The driver side of one ring: a mock driver over the harness's guest memory and the kick fd sent. */
typedef struct dh_ring {
    vq_mock *mk;
    int kick; /* borrowed from dh.fds; -1 none */
} dh_ring;

typedef struct dh {
    vub_daemon *d;
    pthread_t th;
    vhu_conn *conn; /* our end of the control connection; NULL while disconnected */
    uint32_t num_queues;
    bool first;        /* the next message is the first of its connection */
    uint32_t maybe;    /* a reply to this request id may still come (UINT32_MAX: none) */
    uint64_t features; /* the last SET_FEATURES value sent */
    vmem_region *mem;  /* guest memory as the front-end (and the mock drivers) see it */
    vmem_map *map;
    fuzz_fds fds; /* fds made for this input */
    dh_ring rings[DH_RINGS_MAX];
    int fds_before;
} dh;

/* dh_init() - once per process: socket directory, guest memory. */
void dh_init(dh *h);
/* dh_start() - a daemon for @cfg (log set by the harness), listening and connected. */
void dh_start(dh *h, vub_daemon_config *cfg, uint32_t num_queues);
/* dh_request() - send @m (hdr as given; min(hdr.size, 4096) payload bytes; fds[0..nfds)) and check the
 * answer.  @reply (may be NULL) gets the reply when one came (its fds are closed).  Return: 1 a reply came,
 * 0 none was owed, -1 the daemon closed the connection. */
int dh_request(dh *h, vhu_msg *m, vhu_msg *reply);
/* dh_reconnect() - close our end and connect again. */
void dh_reconnect(dh *h);
/* Front-end steps built from the input, as a front-end does them but with fuzzed values here and there
 * (each goes through dh_request()). */
uint32_t dh_flags(fin *in);                     /* NEED_REPLY or not */
int dh_fd(dh *h, fin *in);                      /* an fd of any kind (owned by h->fds) */
void dh_negotiate(dh *h, fin *in);              /* GET_FEATURES .. SET_FEATURES */
void dh_mem_table(dh *h, fin *in, bool add);    /* SET_MEM_TABLE / ADD_MEM_REG of the guest memory memfd */
void dh_ring_setup(dh *h, fin *in, unsigned i); /* SET_VRING_NUM .. SET_VRING_ENABLE, and a mock driver */
void dh_add_chain(dh *h, fin *in, unsigned i);  /* a chain of up to 4 buffers, readable ones filled; kick */
void dh_kick(dh *h, unsigned i);
uint64_t dh_ring_gpa(unsigned i); /* where ring i lives (3 x 16 KiB) */

/* dh_stop() - check the daemon answers GET_FEATURES, stop and free it, check for fd leaks. */
void dh_stop(dh *h);

#endif
