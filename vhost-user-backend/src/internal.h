/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** vhost-user-backend private declarations (vub__ names). */
#ifndef VUB_INTERNAL_H
#define VUB_INTERNAL_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vhu/msg.h"
#include "cvmm/vmem/guest.h"
#include "cvmm/vq/queue.h"
#include "cvmm/vub/backend.h"
#include "cvmm/vub/daemon.h"
#include "cvmm/vub/device.h"
#include "cvmm/vub/queue.h"

typedef struct vub__worker vub__worker;

/* One queue.  Fields marked (W) belong to the queue's worker thread; the control thread changes them only
 * inside vub__worker_call() (the worker runs the change and the control thread waits for it).  (C) fields
 * belong to the control thread.  (A) fields are atomics. */
struct vub_queue {
    vub_daemon *d;
    vub__worker *w;
    unsigned index;
    vq_queue *vq;             /* (W) */
    bool started;             /* (W) ring state "started" */
    bool enabled;             /* (W) ring state "enabled" */
    bool polling;             /* (W) started without a kick fd: poll on the idle watcher */
    bool inband;              /* (W) in-band kicks negotiated: no kick fd means wait for VRING_KICK */
    bool kick_failed_logged;  /* (W) */
    bool long_logged;         /* (W) vub_queue_serve() met a chain longer than VUB_SERVE_DESCS_MAX */
    bool err_signalled;       /* (W) the err eventfd was written for the current breakage */
    bool full_logged;         /* (W) a saturated call or err eventfd was logged (once per fd) */
    int kick_fd;              /* (W) */
    int call_fd;              /* (W) */
    int err_fd;               /* (W) */
    ev_io kick_w;             /* (W) */
    ev_idle poll_w;           /* (W) */
    void *priv;               /* (W) the device's pointer */
    void *inflight;           /* (W) this queue's region of the inflight buffer, or NULL */
    size_t inflight_size;     /* (W) */
    atomic_bool kick_pending; /* (A) vub_queue_kick() / in-band VRING_KICK */
    /* (W) busy-poll (busypoll.c): budget in microseconds (0 off, VUB_BUSY_POLL_ALWAYS), its adaptive part,
     * and the loop-level poll (poll_w) with kicks off until bp_until_ns */
    uint32_t bp_max_us;
    uint32_t bp_cur_us;
    bool bp_looping;
    uint64_t bp_until_ns;
    /* (C) ring configuration as the front-end sent it */
    uint32_t num;      /* SET_VRING_NUM (0: not sent) */
    bool addr_set;     /* SET_VRING_ADDR seen */
    bool addr_applied; /* translated and given to the ring */
    bool addr_gpa;     /* the addresses are guest physical (GPA_ADDRESSES) */
    uint32_t addr_flags;
    uint64_t desc_addr, avail_addr, used_addr, log_addr; /* as sent (user or guest addresses) */
};

struct vub__call {
    void (*fn)(vub__worker *w, void *arg);
    void *arg;
    bool done;
    struct vub__call *next;
};

struct vub__worker {
    vub_daemon *d;
    unsigned index;
    pthread_t thread;
    bool thread_started;
    struct ev_loop *loop; /* ev_loop_new(), used by the worker thread only */
    ev_async async;       /* calls, kicks, quit */
    ev_prepare prepare;   /* before blocking: reader offline */
    ev_check check;       /* after waking: reader online, refresh the map */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct vub__call *calls; /* (mu) FIFO head */
    struct vub__call *calls_tail;
    bool quit;             /* (mu) */
    atomic_bool attention; /* (A) calls or kicks wait (set before ev_async_send): a busy-poll stops early */
    vmem_reader *reader;   /* (W) */
    const vmem_map *map;   /* (W) the map the worker's started queues use */
    uint64_t seen_gen;     /* (W) mem_gen when @map was read; odd: read during a publish */
    unsigned nqueues;      /* queues owned (fixed) */
    vub_queue **queues;    /* queues owned (fixed) */
    int log_call_fd;       /* (W) our copy of the SET_LOG_FD eventfd, -1 if none (mem.c) */
    bool log_call_failed;  /* (W) a failed write to it was logged */
};

/* The back-end channel handle: one per daemon. */
struct vub_backend {
    vub_daemon *d;
    pthread_mutex_t mu;             /* guards the fields below; held during a request */
    struct vhu_backend_channel *ch; /* (mu) NULL if none */
    uint64_t proto;                 /* (mu) protocol features of the connection that set the channel */
    bool shmem_valid;               /* (mu) @shmem holds the connection's validated shmem config */
    vhu_shmem_config shmem;         /* (mu) */
};

/* The daemon.  (C) fields belong to the control thread. */
struct vub_daemon {
    const vub_device_ops *ops;
    const vub_device_info *info;
    void *ctx;
    const struct cvmm_log *log;
    const char *name;
    int peer_timeout_ms; /* deadline of every send to the front-end and wait for its answer */
    int busy_poll_us;    /* each queue's busy-poll budget (< 0 off, VUB_BUSY_POLL_ALWAYS) */
    unsigned nqueues;
    uint32_t max_queue_size;
    unsigned nworkers;
    vub__worker *workers;
    vub_queue *queues;
    vmem_guest *guest;
    _Atomic uint64_t mem_gen;        /* odd while a map is being published (see worker.c) */
    _Atomic uint64_t proto_acked;    /* negotiated protocol features (any thread) */
    _Atomic uint64_t features_acked; /* negotiated virtio features (any thread) */
    struct vub_backend backend;
    struct vub__ctl *ctl; /* control loop, connection and protocol state (control.c) */
};

/* A region added more than once (see mem.c). */
struct vub__dup {
    uint64_t gpa, size, uva;
    unsigned extra; /* ADD_MEM_REGs beyond the first */
};

/* Control-thread state: the loop, the listening/connected sockets, the protocol state. */
struct vub__ctl {
    struct ev_loop *loop;
    bool own_loop;
    ev_async stop_w;
    ev_signal sigterm_w, sigint_w;
    bool handle_signals;
    bool serve_once;
    bool running; /* inside vub_daemon_run() */
    bool stopping;
    bool served; /* a connection was served (serve_once) */
    /* where front-ends come from */
    int listen_fd; /* -1 if not listening */
    ev_io listen_w;
    char path[108]; /* listening socket path (unlinked on free) or client mode target */
    bool unlink_path;
    bool client; /* connect to path, retrying */
    ev_timer retry_w;
    /* the connection */
    struct vhu_backend *conn;
    ev_io conn_w;
    bool conn_dead; /* close after the current message */
    vhu_msg msg;    /* the message being handled (4 KiB: not on the stack) */
    /* protocol state (reset on disconnect) */
    uint64_t offered;       /* virtio features offered */
    uint64_t offered_proto; /* protocol features offered */
    uint64_t features;      /* acked */
    bool features_set;
    uint64_t proto; /* acked protocol features */
    bool owner;
    uint64_t prev_proto; /* protocol features carried to the next connection (see control.c) */
    bool prev_valid;     /* prev_proto comes from a connection that delivered a message */
    bool inherited;      /* this connection runs on prev_proto until it negotiates */
    bool first_seen;     /* the connection's first message was looked at */
    uint64_t status;
    vmem_log *dlog;                         /* SET_LOG_BASE log, or NULL */
    struct vub__dup dups[VMEM_MAX_REGIONS]; /* regions added more than once */
    unsigned ndups;
    int log_fd; /* SET_LOG_FD eventfd */
    bool shmem_cached;
    vhu_shmem_config shmem; /* the device's config, asked once per connection */
    vmem_region *inflight;  /* GET/SET_INFLIGHT_FD buffer: sealed against shrinking, or fault-guarded */
    /* device state transfer: the device's op runs on xfer with our end of a pipe; relay copies between
     * that pipe and the front-end's fd and can be told to give up (cancel eventfd), so a front-end that
     * leaves the transfer hanging never blocks the device, or us, forever (migration.c) */
    pthread_t xfer, relay;
    bool xfer_running;
    bool xfer_joined; /* the device's thread is joined, the relay may still run */
    enum vub_state_dir xfer_dir;
    int xfer_rc;
    int xfer_dev_fd;          /* the device's end (xfer thread) */
    int relay_src, relay_dst; /* relay thread's ends */
    int xfer_cancel;          /* eventfd: relay gives up */
};

#define PBIT(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

/* ---- control.c: the protocol state machine ---- */
/* vub__reply() / vub__reply_u64() - explicit reply to @m; a send failure marks the connection dead. */
int vub__reply(vub_daemon *d, const vhu_msg *m, const void *p, uint32_t size, const int *fds, uint32_t nfds);
int vub__reply_u64(vub_daemon *d, const vhu_msg *m, uint64_t v);
/* vub__ctl_dispatch() - handle d->ctl->msg (valid) and reply as owed.  Sets conn_dead on send failure. */
void vub__ctl_dispatch(vub_daemon *d, vhu_msg *m);
/* vub__ctl_rejected() - the endpoint rejected a message with @rc: answer what it could not (zeroed
 *  GET_SHMEM_CONFIG); return true if the connection can go on. */
bool vub__ctl_rejected(vub_daemon *d, vhu_msg *m, int rc);
/* vub__ctl_reset() - stop every ring, reset queues and the device (RESET_DEVICE and disconnect). */
void vub__ctl_reset(vub_daemon *d);
/* vub__ctl_disconnected() - after the connection is gone: reset, forget memory, logs, back-end channel. */
void vub__ctl_disconnected(vub_daemon *d);
/* vub__ctl_connected() - a new connection: compute the offers, reset the per-connection state. */
void vub__ctl_connected(vub_daemon *d);
/* vub__ctl_inherit() - after the endpoint exists: carry the previous connection's protocol features over. */
void vub__ctl_inherit(vub_daemon *d);

/* ---- mem.c: guest memory messages ---- */
int vub__publish(vub_daemon *d, vmem_map *owned_map); /* to the workers; mem_gen odd meanwhile */
int vub__update_log(vub_daemon *d);                   /* re-publish if the dirty log to use changed */
int vub__h_set_mem_table(vub_daemon *d, vhu_msg *m);
int vub__h_add_mem_reg(vub_daemon *d, vhu_msg *m);
int vub__h_rem_mem_reg(vub_daemon *d, vhu_msg *m);
int vub__h_set_log_base(vub_daemon *d, vhu_msg *m); /* replies itself when LOG_SHMFD owes a reply */
int vub__h_set_log_fd(vub_daemon *d, vhu_msg *m);
/* vub__set_log_call() - give every worker a copy of SET_LOG_FD eventfd @fd (borrowed; -1: none).
 *  Return: 0; -errno dup failed (logged; then no worker has one).  Threads: control. */
int vub__set_log_call(vub_daemon *d, int fd);
/* vub__worker_log_kick() - signal the log eventfd if the log of @w's map was marked since the last signal
 *  (vmem_log_take_marked()).  Threads: @w's worker, with its map readable. */
void vub__worker_log_kick(vub__worker *w);
void vub__mem_forget_dups(vub_daemon *d);

/* ---- rings.c: ring messages (vub__h_get_vring_base replies itself) ---- */
int vub__h_set_vring_num(vub_daemon *d, vhu_msg *m);
int vub__h_set_vring_addr(vub_daemon *d, vhu_msg *m);
int vub__h_set_vring_base(vub_daemon *d, vhu_msg *m);
int vub__h_get_vring_base(vub_daemon *d, vhu_msg *m);
int vub__h_set_vring_kick(vub_daemon *d, vhu_msg *m);
int vub__h_set_vring_fd(vub_daemon *d, vhu_msg *m, void (*fn)(vub__worker *, void *));
void vub__w_set_call(vub__worker *w, void *arg);
void vub__w_set_err(vub__worker *w, void *arg);
int vub__h_set_vring_enable(vub_daemon *d, vhu_msg *m);
int vub__h_vring_kick(vub_daemon *d, vhu_msg *m);
int vub__h_reset_device(vub_daemon *d);
void vub__w_disable_all(vub__worker *w, void *arg); /* RESET_OWNER */
void vub__w_set_inband(vub__worker *w, void *arg);  /* arg: bool * */

/* ---- migration.c: inflight buffer and device state (the GET/SET/CHECK handlers reply themselves) ---- */
int vub__h_get_inflight_fd(vub_daemon *d, vhu_msg *m);
int vub__h_set_inflight_fd(vub_daemon *d, vhu_msg *m);
void vub__inflight_unmap(vub_daemon *d);
/** vub__inflight_queue_bytes() - one queue's region of the inflight buffer in the spec's layout, aligned. */
uint64_t vub__inflight_queue_bytes(bool packed, uint32_t queue_size);
/** vub__inflight_fits() - whether @q's inflight region holds that layout for its ring's current size and
 *  layout (queue.c; vub_queue_inflight() gives it to the device only then).  Threads: worker. */
bool vub__inflight_fits(const vub_queue *q);
int vub__h_set_device_state_fd(vub_daemon *d, vhu_msg *m);
int vub__h_check_device_state(vub_daemon *d, vhu_msg *m);
/* vub__xfer_join() - wait up to @timeout_ms for the transfer; then cut it off (@cancel: the device sees EOF
 * or EPIPE) or leave it running.  Return: the op's result; -EPROTO no transfer; -ETIMEDOUT (cut off, or
 * still running). */
int vub__xfer_join(vub_daemon *d, int timeout_ms, bool cancel);
/* vub__xfer_busy() - whether the device's state op is still running (no ring may start: device.h promises
 * state_save/state_load a suspended device).  Threads: control. */
bool vub__xfer_busy(vub_daemon *d);
/* vub__xfer_cut() - end a transfer before a reset: wait up to 1 s, then cut it off.  Threads: control. */
void vub__xfer_cut(vub_daemon *d);
/* vub__first_started_ring() - the lowest index of a started ring, or -1 when all are stopped (rings.c). */
int vub__first_started_ring(vub_daemon *d);

/* ---- device.c: one wrapper per op, defaults and result checks in one place ---- */
int vub__dev_features_acked(vub_daemon *d, uint64_t features);
int vub__dev_get_config(vub_daemon *d, uint32_t off, void *buf, uint32_t len);
int vub__dev_set_config(vub_daemon *d, uint32_t off, const void *buf, uint32_t len, uint32_t flags);
int vub__dev_mem_changed(vub_daemon *d, const vmem_map *map);
int vub__dev_queue_started(vub_daemon *d, vub_queue *q);
int vub__dev_queue_stopped(vub_daemon *d, vub_queue *q);
int vub__dev_queue_enabled(vub_daemon *d, vub_queue *q, bool enabled);
int vub__dev_queue_kicked(vub_daemon *d, vub_queue *q);
void vub__dev_reset(vub_daemon *d);
/* vub__dev_set_status() - SET_STATUS @status (previous @old): *accepted gets what GET_STATUS answers (device.h). */
int vub__dev_set_status(vub_daemon *d, uint8_t old, uint8_t status, uint8_t *accepted);
int vub__dev_get_shmem_config(vub_daemon *d, vhu_shmem_config *out);
int vub__dev_state_transfer(vub_daemon *d, enum vub_state_dir dir, int fd);
bool vub__dev_has_config(const vub_daemon *d);
bool vub__dev_has_shmem(const vub_daemon *d);
bool vub__dev_has_state(const vub_daemon *d);
/* vub__shmem_config_check() - nregions = number of non-zero sizes, sizes page multiples. 0 / -EINVAL. */
int vub__shmem_config_check(const vhu_shmem_config *c, uint64_t page);

/* ---- worker.c ---- */
int vub__worker_init(vub_daemon *d, vub__worker *w, unsigned index);
int vub__worker_start(vub__worker *w);
void vub__worker_fini(vub__worker *w); /* quit, join, free */
/* vub__worker_call() - run fn(w, arg) on the worker thread and wait for it.  Threads: control. */
void vub__worker_call(vub__worker *w, void (*fn)(vub__worker *w, void *arg), void *arg);
/* vub__worker_wake() - look at pending kicks soon.  Threads: any. */
void vub__worker_wake(vub__worker *w);
/* (W) helpers used by the calls in control.c */
void vub__worker_refresh(vub__worker *w);
void vub__queue_run(vub_queue *q); /* (W) call queue_kicked, signal err on breakage */
/* vub__queue_signal_fd() - add 1 to the call or err eventfd @fd of @q (@what names it); never blocks.  A full
 * counter (EAGAIN) counts as signalled: the peer has a notification pending.  Return: 1; -EIO (logged). (W) */
int vub__queue_signal_fd(vub_queue *q, int fd, const char *what);
int vub__queue_start(vub_queue *q);                   /* (W) */
void vub__queue_stop(vub_queue *q);                   /* (W) */
void vub__queue_set_kick(vub_queue *q, int owned_fd); /* (W) -1: poll */
void vub__queue_init_watchers(vub_queue *q);          /* at creation */

/* ---- busypoll.c ---- */
/* vub__busy_poll_init() - @q's budget: @busy_poll_us microseconds (< 0: off).  At creation. */
void vub__busy_poll_init(vub_queue *q, int busy_poll_us);
/* vub__busy_poll_tick() - the loop-level poll of @q (poll_w while bp_looping): run the device when the ring
 * has work, ask for kicks again when the budget is spent.  (W) */
void vub__busy_poll_tick(vub_queue *q);

/* ---- backend.c ---- */
int vub__backend_init(vub_daemon *d, struct vub_backend *b);
void vub__backend_fini(struct vub_backend *b);
/* vub__backend_set() - new channel fd (owned) for a connection with protocol features @proto; -1 closes. */
void vub__backend_set(struct vub_backend *b, int owned_fd, uint64_t proto);
void vub__backend_set_shmem(struct vub_backend *b, const vhu_shmem_config *c); /* NULL: none */
int vub__backend_vring_call(struct vub_backend *b, unsigned index);            /* in-band call; any thread */
/* vub__backend_vring_err() - in-band BACKEND_VRING_ERR for ring @index (INBAND_NOTIFICATIONS negotiated on the
 * channel's connection).  Return: 0; -ENOTCONN no channel or not negotiated; -EIO.  Logs a failure.  Any thread. */
int vub__backend_vring_err(struct vub_backend *b, unsigned index);

/* ---- capabilities.c ---- */
/* vub__write_all() - all of @s to @fd, retrying EINTR and short writes.  Return: 0; -EIO. */
int vub__write_all(int fd, const char *s, size_t n);

#endif
