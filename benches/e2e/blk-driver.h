/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** blk-driver.h - bench-blk-driver's parts: a vhost-user-blk front-end with driver-side split rings that
 *  drives any back-end through its socket (blk-session.c), the per-queue request loop with its checks and
 *  latency histogram (blk-queue.c), and the program (blk-driver.c: options, pattern file, report).
 *
 *  Data check: every 4 KiB block b of the disk holds bd_pattern_word(b, w) in its 8-byte word w (written
 *  by --make-file, or by the bench's own writes).  Reads compare every word; a wrong used id, used length,
 *  status or datum stops the run with an error, never a figure.  Threads: each bd_queue is used by its own
 *  thread; the session is set up and torn down by the main thread. */
#ifndef CVMM_BENCH_BLK_DRIVER_H
#define CVMM_BENCH_BLK_DRIVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vhu/frontend.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/mock.h"

#define BD_BLOCK 4096u /* request size */
#define BD_WORDS (BD_BLOCK / 8u)
#define BD_MAX_QUEUES 16u
#define BD_MAX_QD 1024u
/* Latency histogram: log-linear, 32 sub-buckets per power of two (< 3.2 % error), in nanoseconds. */
#define BD_HIST_SUB_BITS 5u
#define BD_HIST_SUB (1u << BD_HIST_SUB_BITS)
#define BD_HIST_N ((64u - BD_HIST_SUB_BITS + 1u) * BD_HIST_SUB)

/* Virtio-blk (virtio 1.2, 5.2): the feature bits a front-end acks, request types, status. */
#define BD_BLK_F_SIZE_MAX 1
#define BD_BLK_F_SEG_MAX 2
#define BD_BLK_F_GEOMETRY 4
#define BD_BLK_F_RO 5
#define BD_BLK_F_BLK_SIZE 6
#define BD_BLK_F_FLUSH 9
#define BD_BLK_F_TOPOLOGY 10
#define BD_BLK_F_CONFIG_WCE 11
#define BD_BLK_F_MQ 12
#define BD_BLK_F_DISCARD 13
#define BD_BLK_F_WRITE_ZEROES 14
#define BD_F_RING_INDIRECT_DESC 28
#define BD_F_RING_EVENT_IDX 29
#define BD_F_VERSION_1 32
#define BD_BLK_T_IN 0u
#define BD_BLK_T_OUT 1u

/* Guest memory of one queue: rings in the first 32 KiB (desc, avail at +16K, used at +20K: up to 1024
 * entries), then BD_META_SLOT bytes of request metadata per slot (header at +0, status at +16, indirect
 * table at +64), then the 4 KiB data buffers (page-aligned, so an O_DIRECT back-end can use them as they are). */
#define BD_Q_AVAIL 0x4000u
#define BD_Q_USED 0x5000u
#define BD_Q_META 0x8000u
#define BD_META_SLOT 128u
#define BD_Q_DATA 0x40000u

typedef struct bd_hist {
    uint64_t n[BD_HIST_N];
    uint64_t count;
} bd_hist;

/** bd_opts - what to run (zero is not a default here: blk-driver.c fills every field). */
typedef struct bd_opts {
    const char *socket;
    bool write;          /* 4 KiB random writes (of the pattern), else reads (checked) */
    unsigned qd;         /* requests in flight per queue */
    unsigned queues;     /* one thread each */
    uint32_t queue_size; /* ring entries (>= qd: each request is one indirect descriptor) */
    uint64_t window_ns;  /* measured window */
    uint64_t warmup_ns;  /* before it */
    uint64_t blocks;     /* 4 KiB blocks addressed, 0 = the whole disk */
    uint64_t stall_ns;   /* no completion for this long = the back-end is stuck (an error, not a figure) */
    bool event_idx;      /* ack VIRTIO_F_RING_EVENT_IDX when offered */
    bool inflight;       /* set up INFLIGHT_SHMFD when offered (QEMU's vhost-user-blk does) */
    const struct cvmm_log *log;
} bd_opts;

struct bd_session;

/** bd_queue - one ring and its thread's state. */
typedef struct bd_queue {
    unsigned index;
    const bd_opts *o;
    struct bd_session *s;
    vq_mock *mk;
    int kick, call;
    uint64_t gpa;            /* the queue's area in guest memory */
    uint8_t *hva;            /* its host address */
    uint16_t *slot_of;       /* head -> slot (queue_size entries) */
    uint64_t *block;         /* slot -> block of the request in flight */
    uint64_t *t_submit;      /* slot -> submission time, ns */
    uint64_t rng;            /* xorshift64* state */
    uint64_t t_start, t_end; /* the measured window (CLOCK_MONOTONIC ns) */
    uint64_t done;           /* completions inside the window */
    uint64_t total;          /* every completion, checked */
    uint16_t used_count;     /* used entries taken (the split ring's driver-side used index) */
    unsigned inflight;
    bd_hist hist;
    char err[256]; /* the first error, "" if none */
} bd_queue;

typedef struct bd_session {
    vhu_frontend *fe;
    vmem_region *reg;
    vmem_map *map;
    uint8_t *hva;
    uint64_t mem_size;
    int inflight_fd;
    uint64_t features; /* acked */
    uint64_t protocol; /* acked protocol features */
    uint64_t capacity; /* sectors, from the config space */
    uint64_t blocks;   /* 4 KiB blocks used */
    bd_queue q[BD_MAX_QUEUES];
    unsigned nq;
    atomic_bool abort; /* a queue failed: the others stop */
} bd_session;

/** bd_session_open() - connect to o->socket (retrying while it does not exist yet, up to 30 s), negotiate
 *  like QEMU's vhost-user-blk (see blk-session.c), map memfd guest memory and start o->queues rings.
 *  Return: 0; -errno (one line on stderr says why).  On failure everything made is undone. */
int bd_session_open(bd_session *s, const bd_opts *o);
/** bd_session_close() - stop the rings (GET_VRING_BASE), disconnect, free.  Only after bd_session_open()
 *  succeeded (a failed open has closed everything itself). */
void bd_session_close(bd_session *s);

/** bd_queue_run() - the thread of one queue: fill it to o->qd, then complete, check and resubmit until
 *  the window ends, then drain.  Return: 0; -1 with q->err set (wrong id, length, status or data; a stall;
 *  another queue failed). */
int bd_queue_run(bd_queue *q);

/** The pattern: word @w (0..511) of block @b. */
static inline uint64_t bd_pattern_word(uint64_t b, unsigned w)
{
    uint64_t x = (b * BD_WORDS + w + 1) * 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29);
}
void bd_pattern_fill(uint64_t block, uint8_t *buf);

void bd_hist_add(bd_hist *h, uint64_t ns);
void bd_hist_merge(bd_hist *into, const bd_hist *from);
/** bd_hist_quantile() - the value (bucket middle, ns) at quantile @p in [0, 1]; 0 when empty. */
double bd_hist_quantile(const bd_hist *h, double p);

#endif
